"""Stop signals, handled alike by every entry point that can open the laser.

SIGINT (Ctrl-C), SIGTERM (kill, systemd), SIGHUP (the terminal or SSH session closed) and
SIGQUIT (Ctrl-\\) all call the same ``on_signal(signum)``: the caller closes the laser
gate and stops. The handler never raises, so no signal can interrupt a teardown that has
started; every signal after the first is only counted. Exit codes: a session stopped by
SIGINT exits 0 (an operator's stop); by SIGTERM, SIGHUP or SIGQUIT it exits 128 + the
signal number (143, 129, 131), as shells and service managers expect. Once a stop signal
has arrived, later ones are ignored until the process exits.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

#: The signals that stop a session (those that exist on this platform).
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name)
)


@dataclass
class SignalLog:
    """What arrived: the first stop signal and how many in all."""

    first: int | None = None
    count: int = 0
    names: list[str] = field(default_factory=list)

    def exit_code(self, default: int) -> int:
        """``default`` for no signal or SIGINT; 128 + signum for the others."""
        if self.first is None or self.first == signal.SIGINT:
            return default
        return 128 + int(self.first)


@contextmanager
def stop_signals(on_signal: Callable[[int], None]) -> Iterator[SignalLog]:
    """Route every stop signal to ``on_signal`` (main thread only; a no-op elsewhere).

    ``on_signal`` is called twice per signal at most, and must be idempotent and
    thread-safe: at once from the thread ``optorig-signal-watcher``, woken by the
    interpreter's C-level handler through ``signal.set_wakeup_fd`` (so a main thread busy
    in a long C call does not delay the light going off), and from the Python handler on
    the main thread when it next runs bytecode.
    """
    record = SignalLog()
    if threading.current_thread() is not threading.main_thread():
        yield record
        return

    def call(signum: int) -> None:
        try:
            on_signal(signum)
        except BaseException:  # noqa: BLE001 - a handler must never raise into a teardown
            pass

    def handler(signum: int, frame: FrameType | None) -> None:
        record.count += 1
        if record.first is None:
            record.first = signum
        call(signum)

    previous: dict[signal.Signals, Any] = {}
    for sig in STOP_SIGNALS:
        try:
            previous[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):
            pass
    watcher = _WakeupWatcher(call)
    try:
        yield record
    finally:
        watcher.stop()
        # After a stop signal the process is on its way out: later signals (the rest of
        # a burst of Ctrl-C) are ignored rather than killing it mid-report. SIG_IGN, not a
        # Python handler: the interpreter resets Python handlers to the default (death)
        # while it shuts down, but leaves an ignored signal ignored.
        for sig, old in previous.items():
            try:
                if record.first is not None:
                    signal.signal(sig, signal.SIG_IGN)
                else:
                    signal.signal(sig, old if old is not None else signal.SIG_DFL)
            except (ValueError, OSError, TypeError):
                pass


class _WakeupWatcher:
    """Reads the signal numbers the interpreter writes to its wakeup fd and passes them
    on from its own thread (POSIX; elsewhere it does nothing)."""

    def __init__(self, call: Callable[[int], None]) -> None:
        import os

        self._call = call
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous_fd = -1
        self._fds: tuple[int, int] | None = None
        if os.name != "posix":
            return
        try:
            read_fd, write_fd = os.pipe()
            os.set_blocking(read_fd, False)
            os.set_blocking(write_fd, False)
            self._previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        except (ValueError, OSError):
            return
        self._fds = (read_fd, write_fd)
        self._thread = threading.Thread(target=self._run, name="optorig-signal-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import os
        import select

        assert self._fds is not None
        read_fd = self._fds[0]
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([read_fd], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(read_fd, 64)
            except (OSError, ValueError):
                return
            for signum in data:
                if signum in {int(s) for s in STOP_SIGNALS}:
                    self._call(signum)

    def stop(self) -> None:
        import os

        self._stop.set()
        if self._fds is None:
            return
        try:
            signal.set_wakeup_fd(self._previous_fd)
        except (ValueError, OSError):
            pass
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
