"""session.log: the human-readable log kept in the session folder.

Only entry points (the CLI, the GUI) configure logging; the engine just logs. An entry
point calls ``attach_session_log(runner)`` before ``runner.run()``. From then on it keeps:

- the engine's lifecycle lines (session created, background, phases, end), which the
  runner logs at INFO on the ``optorig.session_record`` logger whatever the console's
  verbosity;
- the ``rig`` loggers' records at the console's level (warnings and errors by default).

Several sessions at once (one per arena) each keep their own log: the runner marks the
threads it runs on (``bind_session``), and a handler drops records logged on another
session's thread. Records from unmarked threads (a shared camera or board) go to every log.

Records logged before the session folder exists (opening the board and the source) are
held in memory and written first, so the log says what happened before the record was
created. The handler is removed when the session finishes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Protocol

from rig.session.observer import BaseObserver, SessionObserver
from rig.session.status import RunnerStatus

#: The engine's lifecycle logger (always at INFO into session.log, never to the console).
RECORD_LOGGER = "optorig.session_record"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The session whose thread is logging (set by the runner on each thread it runs; a new
#: thread starts with no session).
_CURRENT_SESSION: ContextVar[object | None] = ContextVar("optorig_current_session", default=None)
#: Records kept in memory before the session folder exists (then dropped oldest first).
_MAX_EARLY_RECORDS = 1000


class _HasSessionDir(Protocol):
    @property
    def session_dir(self) -> Path | None: ...

    def add_observer(self, observer: SessionObserver) -> None: ...


class _QuietFileHandler(logging.FileHandler):
    """session.log: on a full disk, stop logging to the file instead of printing a
    "--- Logging error ---" traceback for every line."""

    failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        self.failed = True

    def close(self) -> None:
        # Closed for good: logging.FileHandler.emit re-opens a closed file in append mode,
        # so a record from another thread (another arena's session) that is already on its
        # way to this handler would leak an open session.log after teardown.
        if self.lock is not None:
            with self.lock:  # Handler.handle holds it around emit: none is half-way through
                self.failed = True
        else:
            self.failed = True
        try:
            super().close()
        except OSError:
            pass


class SessionLogHandler(logging.Handler):
    """Writes to ``<session_dir>/session.log`` once the runner has created the folder."""

    def __init__(self, runner: _HasSessionDir) -> None:
        super().__init__(logging.INFO)
        self._runner = runner
        self._file: logging.FileHandler | None = None
        self._early: list[logging.LogRecord] = []
        self._failed = False
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        if self._failed:
            return
        owner = _CURRENT_SESSION.get()
        if owner is not None and owner is not self._runner:
            return  # another arena's session, logging on its own thread
        if self._file is None:
            session_dir = self._runner.session_dir
            if session_dir is None:
                if len(self._early) >= _MAX_EARLY_RECORDS:
                    del self._early[0]
                self._early.append(record)
                return
            try:
                self._file = _QuietFileHandler(session_dir / "session.log", encoding="utf-8")
            except OSError:  # a full disk or a vanished folder: the record says why elsewhere
                self._early.clear()
                self._failed = True
                return
            self._file.setFormatter(self.formatter)
            for early in self._early:
                self._file.emit(early)
            self._early.clear()
        self._file.emit(record)

    def close(self) -> None:
        self._failed = True  # closed for good: a late record from another thread is dropped
        if self._file is not None:
            self._file.close()
        super().close()


class _Detach(BaseObserver):
    def __init__(self, handler: SessionLogHandler) -> None:
        self._handler = handler

    def on_finished(self, status: RunnerStatus) -> None:
        detach_session_log(self._handler)


def bind_session(owner: object) -> None:
    """Mark the calling thread as running ``owner``'s session (for the whole thread)."""
    _CURRENT_SESSION.set(owner)


@contextmanager
def session_scope(owner: object) -> Iterator[None]:
    """Mark the calling thread as running ``owner``'s session until the block ends."""
    token = _CURRENT_SESSION.set(owner)
    try:
        yield
    finally:
        _CURRENT_SESSION.reset(token)


def attach_session_log(runner: _HasSessionDir) -> SessionLogHandler:
    """Keep session.log for ``runner`` (call before ``run()``); detached when it finishes."""
    handler = SessionLogHandler(runner)
    record_log = logging.getLogger(RECORD_LOGGER)
    record_log.setLevel(logging.INFO)
    record_log.propagate = False  # lifecycle lines go to the file, not the console
    record_log.addHandler(handler)
    logging.getLogger("rig").addHandler(handler)
    runner.add_observer(_Detach(handler))
    return handler


def detach_session_log(handler: SessionLogHandler) -> None:
    logging.getLogger("rig").removeHandler(handler)
    logging.getLogger(RECORD_LOGGER).removeHandler(handler)
    handler.close()
