"""Progress of a long step, reported to whoever shows it (CLI line, GUI, nothing).

A step that can take more than a couple of seconds (building the background, reading the
record, drawing figures, writing NWB) calls ``progress(step, done, total, unit)`` now and
then: ``step`` names it in plain words, ``done`` counts ``unit``s so far, ``total`` is the
number expected (None when unknown). The first call of a step has ``done == 0``; the last
has ``done == total``. Reporters return at once and never raise into the caller's work.
"""

from __future__ import annotations

from typing import Protocol


class ProgressFn(Protocol):
    def __call__(self, step: str, done: int, total: int | None, unit: str = "") -> None: ...


def no_progress(step: str, done: int, total: int | None, unit: str = "") -> None:
    """The default reporter: nothing."""
