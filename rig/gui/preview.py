"""Live preview of a frame source before a session (e.g. to aim the camera).

A background thread reads the source and keeps only the newest frame; the GUI shows it on
a timer. No tracking, no record, no board.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)


class SourcePreview:
    def __init__(self, source: Any) -> None:
        self._source = source
        self._stop = threading.Event()
        self.latest: NDArray[np.uint8] | None = None
        self.frames = 0
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="source-preview", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            with self._source:
                while not self._stop.is_set():
                    frame = self._source.read()
                    if frame is None:
                        break
                    self.latest = frame.image
                    self.frames += 1
                    if not self._source.is_live:
                        self._stop.wait(1.0 / max(self._source.fps, 1.0))
        except Exception as err:
            log.exception("preview of %s failed", getattr(self._source, "name", self._source))
            self.error = f"{type(err).__name__}: {err}"
