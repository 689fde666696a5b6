"""Fails on the code before its fix (found in a sceptical review of the merge): the record must never claim
more than happened. Once the board has reported its final trigger count (the trigger was
stopped after N edges), ``TriggerTimeline.edge_us`` still returns a board time for trigger
N+1, N+2, ... by extrapolating the grid, so a frame the camera delivered beyond the last
trigger (a free-running or noise-triggered camera, a spurious edge on the line) gets a
frames.csv ``board_t_s`` for an edge the board never made, and session.json says
``triggers_missed: 0``, ``triggers_after_last_frame: 0`` with no sign that
``frames_received > triggers_sent``. Suspected cause: rig/devices/trigger.py
``TriggerTimeline.edge_us`` (no bound by ``final_count``) and rig/session/runner.py
``_trigger_report`` (no frames-beyond-triggers count)."""

from __future__ import annotations

from rig.devices.board import BoardEvent, BoardEventKind
from rig.devices.trigger import TriggerTimeline


def _report(count: int, device_us: int | None, level: int = 1) -> BoardEvent:
    return BoardEvent(BoardEventKind.TRIGGER, 0, device_us, count, level, "" if level else "stopped")


def test_no_board_time_for_a_trigger_after_the_final_count() -> None:
    timeline = TriggerTimeline(period_us=16_667)
    for n in range(1, 11):
        timeline.add(_report(n, 2_000 + (n - 1) * 16_667))
    timeline.add(_report(10, 200_000, level=0))  # stopped: the board made 10 triggers
    assert timeline.sent == 10
    assert timeline.edge_us(10) == 2_000 + 9 * 16_667
    assert timeline.edge_us(11) is None, "board_t_s claimed for trigger 11, which the board never made"
