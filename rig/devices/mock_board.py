"""MockBoard: an in-process laser board that records every command with its time.

It is production code: the simulated session (``rig demo``, ``rig replay``) runs on it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from rig.devices.board import BoardEvent, BoardEventKind, BoardInfo, LaserConfig
from rig.errors import BoardLost

CommandKind = Literal["open", "configure", "gate_open", "gate_close", "close"]


@dataclass(frozen=True, slots=True)
class MockCommand:
    """One command the host sent, with ``perf_counter_ns()`` at the time."""

    t_ns: int
    kind: CommandKind
    config: LaserConfig | None = None


class MockBoard:
    """Records every command; can be told to fail (``fail_next_write``)."""

    def __init__(self, port: str = "mock") -> None:
        self._port = port
        self._lock = threading.Lock()
        self._is_open = False
        self._gate_open = False
        self._config = LaserConfig()
        self._events: list[BoardEvent] = []
        self.commands: list[MockCommand] = []
        #: When True, the next set_gate(True) raises BoardLost (as a pulled cable would).
        self.fail_next_write = False

    @property
    def info(self) -> BoardInfo:
        return BoardInfo(
            kind="mock", port=self._port, firmware_name="optorig-mock", firmware_version="0"
        )

    @property
    def is_open(self) -> bool:
        return self._is_open

    @property
    def gate_open(self) -> bool:
        return self._gate_open

    @property
    def last_gate_command(self) -> MockCommand | None:
        for command in reversed(self.commands):
            if command.kind in ("gate_open", "gate_close"):
                return command
        return None

    def _record(self, kind: CommandKind, config: LaserConfig | None = None) -> int:
        t_ns = time.perf_counter_ns()
        self.commands.append(MockCommand(t_ns, kind, config))
        return t_ns

    def open(self) -> None:
        with self._lock:
            self._record("open")
            self._is_open = True
            self._gate_open = False
            self._events.append(BoardEvent(BoardEventKind.READY, time.perf_counter_ns()))

    def configure(self, config: LaserConfig) -> None:
        with self._lock:
            self._require_open()
            self._close_gate_locked()
            self._config = config
            self._record("configure", config)

    def set_gate(self, open_: bool) -> None:
        with self._lock:
            self._require_open()
            if open_:
                if self.fail_next_write:
                    self.fail_next_write = False
                    self._is_open = False
                    self._close_gate_locked()
                    raise BoardLost("mock board: write failed (simulated unplug)")
                if not self._gate_open:
                    t_ns = self._record("gate_open")
                    self._gate_open = True
                    self._events.append(BoardEvent(BoardEventKind.GATE_OPENED, t_ns, pin_level=1))
            else:
                self._close_gate_locked()

    def _close_gate_locked(self) -> None:
        if self._gate_open:
            t_ns = self._record("gate_close")
            self._gate_open = False
            self._events.append(BoardEvent(BoardEventKind.GATE_CLOSED, t_ns, pin_level=0))

    def laser_off(self) -> None:
        with self._lock:
            self._close_gate_locked()

    def events(self) -> list[BoardEvent]:
        with self._lock:
            drained, self._events = self._events, []
            return drained

    def close(self) -> None:
        self.laser_off()
        with self._lock:
            if self._is_open:
                self._record("close")
            self._is_open = False

    def _require_open(self) -> None:
        if not self._is_open:
            raise BoardLost("mock board is not open")

    def __enter__(self) -> MockBoard:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
