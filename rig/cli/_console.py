"""Console output of the long-running commands (run, replay, demo, report, export-nwb).

One updating status line on stderr. On a terminal it is redrawn in place (``\\r``) a few
times a second; on anything else (a pipe, a file, a CI log) there are no carriage
returns: one plain line every ``plain_interval_s`` and the final state, so a log shows
the same facts without thousands of overwritten lines.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

#: Redraw period on a terminal (s).
TTY_INTERVAL_S = 0.25
#: A single-action step that took at least this long keeps a line saying so (s).
SLOW_STEP_S = 1.0
#: Period of plain progress lines on a non-terminal (s).
PLAIN_INTERVAL_S = 10.0


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def format_duration(seconds: float) -> str:
    """``75`` -> ``1:15``; ``3725`` -> ``1:02:05``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class StatusLine:
    """The one updating line; ``print`` writes a permanent line above it."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        terminal: bool | None = None,
        plain_interval_s: float = PLAIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = is_terminal(self.stream) if terminal is None else terminal
        self._interval_s = TTY_INTERVAL_S if self.terminal else plain_interval_s
        self._clock = clock
        self._next = 0.0
        self._shown = ""  # text on the terminal's current line ("" = none)
        self._pending = ""  # newest text not yet shown (non-terminal)

    def print(self, text: str) -> None:
        """A permanent line. On a terminal it goes above the status line, which is drawn
        again below it; elsewhere the status's pending text waits for its next turn."""
        if self.terminal and self._shown:
            shown = self._shown
            self.stream.write("\r" + text + " " * max(0, len(shown) - len(text)) + "\n")
            self.stream.write(shown)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def update(self, text: str, *, force: bool = False) -> None:
        """New status text; drawn now if due (or ``force``), else kept for later."""
        now = self._clock()
        if not force and now < self._next:
            self._pending = text
            return
        self._next = now + self._interval_s
        self._pending = ""
        if self.terminal:
            pad = max(0, len(self._shown) - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._shown = text
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def clear(self) -> None:
        """Remove the updating line (terminal) and forget pending text."""
        if self.terminal and self._shown:
            self.stream.write("\r" + " " * len(self._shown) + "\r")
            self.stream.flush()
        self._shown = ""
        self._pending = ""
        self._next = 0.0

    def end(self, text: str | None = None) -> None:
        """Finish the updating line: ``text`` (or the newest pending one) stays visible."""
        final = text if text is not None else self._pending
        if final:
            self.update(final, force=True)
        if self.terminal and self._shown:
            self.stream.write("\n")
            self.stream.flush()
        self._shown = ""
        self._pending = ""
        self._next = 0.0


class StepProgress:
    """A ``rig.progress.ProgressFn`` drawing ``step: done/total unit (pct), rate, time left``
    on a StatusLine; each step ends with one line saying what it took."""

    def __init__(self, line: StatusLine, clock: Callable[[], float] = time.monotonic) -> None:
        self._line = line
        self._clock = clock
        self._step: str | None = None
        self._t0 = 0.0

    def __call__(self, step: str, done: int, total: int | None, unit: str = "") -> None:
        try:
            self._draw(step, done, total, unit)
        except Exception:  # noqa: BLE001 - showing progress must never break the work
            pass

    def _draw(self, step: str, done: int, total: int | None, unit_name: str) -> None:
        now = self._clock()
        new_step = step != self._step
        if new_step:
            # A step without a total (e.g. "opening the board ...") is simply replaced on a
            # terminal; a finished step has already ended its line.
            self._step, self._t0 = step, now
        elapsed = now - self._t0
        unit = f" {unit_name}" if unit_name else ""
        if total == 1 and not unit_name:
            # A single action ("opening the laser board"): a line while it runs; kept only
            # when it took long enough to matter.
            if done == 0:
                self._line.update(f"{step} ...", force=True)
            else:
                self._step = None
                if elapsed >= SLOW_STEP_S:
                    self._line.end(f"{step}: done in {elapsed:.1f} s")
                else:
                    self._line.clear()
            return
        if total is None:
            text = f"{step} ..." if done == 0 else f"{step}: {done}{unit}"
        else:
            text = f"{step}: {done}/{total}{unit}"
            if total > 0:
                text += f" ({100 * done / total:.0f} %)"
        if elapsed > 0.5 and done > 0 and unit_name != "steps":
            rate = done / elapsed
            per = f"{unit}/s" if unit else "/s"
            text += f", {rate:.1f}{per}" if rate < 100 else f", {rate:.0f}{per}"
            if total is not None and 0 < done < total:
                text += f", {format_duration((total - done) / rate)} left"
        finished = total is not None and done >= total
        if finished:
            self._line.end(text + f" in {elapsed:.1f} s")
            self._step = None
        else:
            self._line.update(text, force=new_step)
