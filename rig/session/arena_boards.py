"""One laser board per arena of a multi-box rig, from the rig file's arenas.

``arena_boards(board, arenas)`` is the only place that maps an arena to its laser channel:
a board with several channels (``ChannelBoard``: ``channel(k)`` gives a full ``LaserBoard``
view with its own gate, train, cap and watchdog bit) gives each arena the view of the
channel the rig file names: the optorig firmware's ``FirmataBoard`` and the ``MockBoard``
that models it (the simulated rig of ``rig demo --arenas N``, tests and benchmarks). A
board without channels (StandardFirmata) can serve one arena on channel 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rig.devices.board import LaserBoard
from rig.errors import ConfigError
from rig.rigfile.models import ArenaSection


def arena_boards(board: LaserBoard, arenas: Sequence[ArenaSection]) -> list[LaserBoard]:
    """The laser board of each arena, in ``arenas`` order (see the module docstring)."""
    channels = [a.channel for a in arenas]
    if len(set(channels)) != len(channels):
        raise ConfigError(f"arenas: each arena needs its own laser channel, got {channels}")
    channel = getattr(board, "channel", None)
    if callable(channel):
        views: list[Any] = [channel(a.channel) for a in arenas]
        return views
    if channels == [0]:
        return [board]
    raise ConfigError(
        f"arenas on laser channels {channels}: this board drives one laser channel (channel 0); "
        "several arenas need the multi-channel optorig firmware (docs/arenas.md)"
    )
