"""The board-generated camera trigger on the host side (issue 14): MockBoard and FirmataBoard
(over the firmware's protocol emulation, EmulatedUno) behave alike, the timeline places
every trigger edge on the board's clock, and bad configurations are refused before the
board is touched. Fails on the old code: no configure_trigger, no TRIGGER events."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from rig.clock import ManualClock
from rig.devices import firmata_codes as fc
from rig.devices.board import BoardEvent, BoardEventKind, TriggerConfig
from rig.devices.firmata_board import FirmataBoard
from rig.devices.firmware_emulator import EmulatedUno
from rig.devices.mock_board import MockBoard
from rig.devices.trigger import TriggerTimeline, validate_trigger_config
from rig.errors import ConfigError


def _drain_triggers(board: MockBoard | FirmataBoard, until: object, timeout_s: float = 10.0) -> list[BoardEvent]:
    seen: list[BoardEvent] = []
    pause = threading.Event()
    deadline = time.monotonic() + timeout_s
    while not until(seen):  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"saw only {seen}")
        seen += [e for e in board.events() if e.kind is BoardEventKind.TRIGGER]
        pause.wait(0.005)
    return seen


@pytest.fixture(params=["mock", "firmata_pty"])
def board(request: pytest.FixtureRequest) -> Iterator[MockBoard | FirmataBoard]:
    if request.param == "mock":
        with MockBoard() as mock:
            yield mock
    else:
        with EmulatedUno() as emu, FirmataBoard(emu.port, ready_timeout_s=3.0) as real:
            yield real


def test_trigger_events_count_from_one_on_an_exact_grid_and_stop_with_the_count(
    board: MockBoard | FirmataBoard,
) -> None:
    """50 fps: TRIGGER events count 1, 2, 3, ... with device times exactly one period apart;
    stopping reports the number sent (level 0, detail "stopped")."""
    board.configure_trigger(TriggerConfig(fps=50, width_ms=1.0, pin=8, report_every=1))
    periodic = _drain_triggers(board, lambda seen: len(seen) >= 5)
    board.configure_trigger(None)
    final = _drain_triggers(board, lambda seen: any(e.pin_level == 0 for e in seen))
    periodic += [e for e in final if e.pin_level == 1]
    stopped = [e for e in final if e.pin_level == 0]
    assert [e.pulses for e in periodic] == list(range(1, len(periodic) + 1))
    times = [e.device_us for e in periodic]
    assert all(b - a == 20_000 for a, b in zip(times, times[1:]))  # type: ignore[operator]
    assert len(stopped) == 1 and stopped[0].pulses == len(periodic) and stopped[0].detail == "stopped"


def test_trigger_on_the_laser_pin_is_refused(board: MockBoard | FirmataBoard) -> None:
    with pytest.raises(ConfigError):
        board.configure_trigger(TriggerConfig(fps=30, pin=9))
    time.sleep(0.05)
    assert not [e for e in board.events() if e.kind is BoardEventKind.TRIGGER]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (TriggerConfig(fps=0.5), "trigger.fps"),
        (TriggerConfig(fps=600), "trigger.fps"),
        (TriggerConfig(fps=30, width_ms=0.05), "trigger.width_ms"),
        (TriggerConfig(fps=500, width_ms=1.95), "trigger.width_ms"),
        (TriggerConfig(fps=30, pin=1), "trigger.pin"),
        (TriggerConfig(fps=30, report_every=0), "trigger.report_every"),
    ],
)
def test_bad_trigger_configs_are_refused_naming_the_field(config: TriggerConfig, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        validate_trigger_config(config)


def test_report_every_defaults_keep_the_link_light() -> None:
    """At most ~100 reports a second: 1 at <= 100 fps, 2 at 200 fps, 5 at 500 fps."""
    assert [TriggerConfig(fps=f).reports_every for f in (30, 100, 200, 500)] == [1, 1, 2, 5]


def test_mock_trigger_runs_on_its_clock_and_reports_every_nth() -> None:
    """On a manual clock: report_every 4 at 200 fps reports triggers 1, 5, 9 (exact times);
    the timeline places the unreported ones on the same grid."""
    clock = ManualClock()
    with MockBoard(clock=clock) as board:
        board.events()
        board.configure_trigger(TriggerConfig(fps=200, width_ms=1.0, pin=8, report_every=4))
        clock.advance_s(0.002 + 0.005 * 10 + 0.001)  # 11 triggers made
        events = [e for e in board.events() if e.kind is BoardEventKind.TRIGGER]
        assert [e.pulses for e in events] == [1, 5, 9]
        timeline = TriggerTimeline(5000)
        for e in events:
            timeline.add(e)
        first = events[0].device_us
        assert first is not None
        assert [timeline.edge_us(k) for k in range(1, 12)] == [first + 5000 * i for i in range(11)]
        board.configure_trigger(None)
        for e in board.events():
            timeline.add(e)
        assert timeline.final_count == 11 and timeline.sent == 11


def test_timeline_unwraps_the_21_bit_count() -> None:
    """The wire's count wraps at 2**21 (~19 h at 30 fps): the timeline keeps counting."""
    timeline = TriggerTimeline(1000)
    wrap = fc.TRIGGER_COUNT_MODULO
    for k in (wrap - 2, wrap - 1, wrap, wrap + 1):
        timeline.add(BoardEvent(BoardEventKind.TRIGGER, 0, device_us=k * 1000, pulses=k % wrap, pin_level=1))
    assert [r[0] for r in timeline.reports] == [wrap - 2, wrap - 1, wrap, wrap + 1]
    assert timeline.edge_us(wrap + 5) == (wrap + 5) * 1000
