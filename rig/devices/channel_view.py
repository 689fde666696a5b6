"""One laser channel of a multi-channel board, as a ``LaserBoard`` of its own.

``FirmataBoard`` and ``MockBoard`` hold every channel's state; a view only names its
channel and forwards each call to the board's ``_channel_*`` methods, so the real board and
its mock share this code (and its reference counting of the shared link) line for line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from rig.devices.board import BoardEvent, BoardInfo, LaserConfig
from rig.devices.lifecycle import OpenedByWith


class ChannelHost(Protocol):
    """What a board offers its channel views (the channel index comes first)."""

    @property
    def info(self) -> BoardInfo: ...

    @property
    def is_open(self) -> bool: ...

    def _open_view(self, k: int) -> None: ...

    def _release_view(self, k: int) -> None: ...

    def _channel_gate_open(self, k: int) -> bool: ...

    def _channel_set_liveness(self, k: int, check: Callable[[], bool] | None) -> None: ...

    def _channel_configure(self, k: int, config: LaserConfig) -> None: ...

    def _channel_set_gate(self, k: int, open_: bool) -> None: ...

    def _channel_laser_off(self, k: int) -> None: ...

    def _channel_events(self, k: int) -> list[BoardEvent]: ...


HostT = TypeVar("HostT", bound=ChannelHost)


class ChannelView(OpenedByWith, Generic[HostT]):
    """Laser channel ``index`` of ``board``. Opening it opens the shared link if needed (and
    configures the channel); closing it closes its gate and releases the link, which closes
    when the last holder lets go."""

    def __init__(self, board: HostT, index: int) -> None:
        self._board = board
        self._index = index
        self._open = False

    @property
    def index(self) -> int:
        return self._index

    @property
    def board(self) -> HostT:
        return self._board

    @property
    def info(self) -> BoardInfo:
        return self._board.info

    @property
    def is_open(self) -> bool:
        return self._open and self._board.is_open

    @property
    def gate_open(self) -> bool:
        return self._board._channel_gate_open(self._index)

    def open(self) -> None:
        if self._open:
            return
        self._board._open_view(self._index)
        self._open = True

    def set_liveness(self, check: Callable[[], bool] | None) -> None:
        self._board._channel_set_liveness(self._index, check)

    def configure(self, config: LaserConfig) -> None:
        self._board._channel_configure(self._index, config)

    def set_gate(self, open_: bool) -> None:
        self._board._channel_set_gate(self._index, open_)

    def laser_off(self) -> None:
        self._board._channel_laser_off(self._index)

    def events(self) -> list[BoardEvent]:
        return self._board._channel_events(self._index)

    def close(self) -> None:
        if not self._open:
            self.laser_off()
            return
        self._open = False
        self._board._release_view(self._index)
