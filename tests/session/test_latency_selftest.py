"""Camera-to-light latency self-test: the mock board blinks the sync LED (the firmware's
SYNC command), the synthetic camera shows it with a known delay, and the engine recovers
that delay from the record. Time is the media clock's, so the bounds hold on a loaded
machine. All of these fail on the code before the self-test (no ``configure_sync`` on
MockBoard, no LED in the synthetic arena, no ``latency_test`` in the runner/summary)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rig.clock import ManualClock, MediaClock
from rig.devices.board import BoardEventKind
from rig.devices.mock_board import MockBoard
from rig.devices.synthetic import DEFAULT_LED_ROI, SyntheticArena
from rig.errors import ConfigError
from rig.session.latency import LatencyProbe, LatencyTestSettings, parse_roi
from rig.session.runner import EndReason, SessionRunner
from tests.conftest import protocol_variant
from tests.session.helpers import read_csv

FPS = 30.0
VIDEO = str(Path(__file__).resolve().parents[1] / "data" / "m4s1_labelled_frames.mp4")
SETTINGS = LatencyTestSettings(
    led_roi=DEFAULT_LED_ROI, min_interval_s=0.5, max_interval_s=1.0, pulse_s=0.1, timeout_s=0.5
)


def test_mock_board_sync_reports_each_edge_with_its_device_time() -> None:
    clock = ManualClock()
    board = MockBoard(clock=clock)
    board.open()
    board.configure_sync(True, min_interval_ms=500, max_interval_ms=1000, width_ms=100)
    board.events()
    clock.advance_s(10.0)
    edges = [e for e in board.events() if e.kind is BoardEventKind.SYNC]
    assert 9 <= len(edges) <= 20
    times_us = [e.device_us for e in edges]
    assert times_us[0] == 500_000  # first edge min_interval after the command, as the firmware
    gaps = np.diff(np.asarray(times_us, dtype=np.int64))
    assert gaps.min() >= 500_000 and gaps.max() <= 1_000_000
    assert [e.pulses for e in edges] == list(range(1, len(edges) + 1))
    # the LED is lit for width_ms after each edge and dark between
    first_ns = times_us[0] * 1000
    assert board.sync_led_lit(first_ns + 50_000_000, first_ns + 60_000_000)
    assert not board.sync_led_lit(first_ns + 150_000_000, first_ns + 160_000_000)
    board.configure_sync(False)
    clock.advance_s(5.0)
    assert not [e for e in board.events() if e.kind is BoardEventKind.SYNC]


def test_mock_board_refuses_the_sync_payloads_the_firmware_refuses() -> None:
    board = MockBoard(clock=ManualClock())
    board.open()
    with pytest.raises(ConfigError, match="refused the sync"):
        board.configure_sync(True, min_interval_ms=50, max_interval_ms=100, width_ms=100)
    with pytest.raises(ConfigError):
        board.configure_sync(True, min_interval_ms=500, max_interval_ms=400, width_ms=10)


def test_settings_reject_a_bad_roi_and_intervals() -> None:
    with pytest.raises(ValueError):
        LatencyTestSettings(led_roi=(0, 0, 0, 5))
    with pytest.raises(ValueError):
        LatencyTestSettings(led_roi=(0, 0, 5, 5), pulse_s=2.0)
    with pytest.raises(ValueError, match="outside"):
        LatencyTestSettings(led_roi=(630, 0, 20, 20)).check_frame_size(640, 480)
    assert parse_roi("6, 6,20,20") == (6, 6, 20, 20)
    with pytest.raises(ValueError):
        parse_roi("1,2,3")


def test_probe_pairs_an_edge_reported_after_the_frame_that_shows_it() -> None:
    """A SYNC report may reach the host after the frame with the LED: still one sample."""
    probe = LatencyProbe(SETTINGS)
    dark = np.zeros((40, 40), dtype=np.uint8)
    lit = dark.copy()
    lit[6:26, 6:26] = 250
    probe.on_frame(0, dark, 0, 1_000_000)
    probe.on_frame(1, lit, 100_000_000, 101_000_000)
    assert probe.match(100_000_000) == []
    probe.on_edge(device_us=60_000, host_ns=62_000_000)  # arrives late, 2 ms transit
    probe.on_board_time(device_us=10_000, host_ns=10_500_000)  # shortest transit seen
    (outcome,) = probe.match(133_000_000)
    assert outcome.kind == "led_latency" and outcome.sample is not None
    assert outcome.sample.led_to_frame_ms == pytest.approx(100 - 60.5)
    assert outcome.sample.frame_to_decision_ms == pytest.approx(1.0)


def _run(default_loaded: Any, tmp_path: Path, delay_s: float) -> dict[str, Any]:
    loaded = protocol_variant(
        default_loaded,
        phases=[{"name": "test", "duration_s": 12.0, "mode": "closed_loop"}],
        tracking={"background": {"duration_s": 1.0}},
    )
    clock = MediaClock()
    board = MockBoard("mock", clock=clock)
    source = SyntheticArena(
        loaded.calibration, fps=FPS, seed=3, sync_led=board, camera_delay_s=delay_s
    )
    runner = SessionRunner(
        loaded, source, board, tmp_path, "m1", speed=None, media_clock=clock,
        simulated=True, latency_test=SETTINGS,
    )
    assert runner.run() is EndReason.COMPLETED
    session = runner.session_dir
    assert session is not None
    summary = json.loads((session / "summary.json").read_text())
    events = read_csv(session / "events.csv")
    summary["_dir"] = session
    summary["_samples"] = [json.loads(e["detail"]) for e in events if e["kind"] == "led_latency"]
    return summary


@pytest.mark.parametrize("delay_ms", [33.0, 66.0])
def test_self_test_recovers_a_known_camera_delay_within_one_frame(
    default_loaded: Any, tmp_path: Path, delay_ms: float
) -> None:
    summary = _run(default_loaded, tmp_path, delay_ms / 1000)
    test = summary["latency_test"]
    period_ms = 1000 / FPS
    assert test["clock"] == "media"
    assert test["seen"] >= 10 and test["missed"] == 0 and test["unexpected"] == 0
    samples = [s["led_to_frame_ms"] for s in summary["_samples"]]
    assert len(samples) == test["seen"]
    # every flash is seen in the first frame exposed after it reached the sensor
    assert min(samples) >= delay_ms - 0.01
    assert max(samples) < delay_ms + period_ms + 0.01
    for key in ("p50", "p99"):
        assert abs(test["led_to_frame_ms"][key] - delay_ms) < period_ms
    # the decision comes after the frame; the sum is consistent
    assert test["frame_to_decision_ms"]["p50"] >= 0
    assert test["led_to_decision_ms"]["p50"] >= test["led_to_frame_ms"]["p50"]


def test_no_self_test_no_section_and_no_led(default_loaded: Any, tmp_path: Path) -> None:
    loaded = protocol_variant(
        default_loaded, phases=[{"name": "test", "duration_s": 2.0, "mode": "off"}],
        tracking={"background": {"duration_s": 1.0}},
    )
    clock = MediaClock()
    board = MockBoard("mock", clock=clock)
    runner = SessionRunner(
        loaded, SyntheticArena(loaded.calibration, fps=FPS), board, tmp_path, "m1",
        speed=None, media_clock=clock, simulated=True,
    )
    assert runner.run() is EndReason.COMPLETED
    summary = json.loads((runner.session_dir / "summary.json").read_text())  # type: ignore[operator]
    assert summary["latency_test"] is None


def test_self_test_refuses_an_roi_outside_the_image(default_loaded: Any, tmp_path: Path) -> None:
    clock = MediaClock()
    board = MockBoard("mock", clock=clock)
    runner = SessionRunner(
        default_loaded, SyntheticArena(default_loaded.calibration, fps=FPS), board, tmp_path,
        "m1", speed=None, media_clock=clock, simulated=True,
        latency_test=LatencyTestSettings(led_roi=(630, 470, 20, 20)),
    )
    assert runner.run() is EndReason.ERROR
    assert "led_roi" in (runner.status.fault or "")


def test_rig_report_keeps_and_shows_the_camera_and_latency_sections(
    default_loaded: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``rig report`` rewrote summary.json without the camera section and its text never
    showed it (fails on the old code: no 'camera:' line, 'camera' key gone after report)."""
    from rig.cli import main

    session = _run(default_loaded, tmp_path, 0.033)["_dir"]
    capsys.readouterr()
    assert main(["report", str(session), "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert "camera: 30.00 fps measured (source time)" in out
    assert "frames lost by the camera/link unknown (no frame IDs)" in out
    assert "skipped by the engine 0" in out
    assert "LED latency test: 15 of 15 flashes seen" in out
    summary = json.loads((session / "summary.json").read_text())
    assert summary["camera"]["measured_fps"] == pytest.approx(30.0)
    assert summary["latency_test"]["seen"] == 15
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "<h2>Camera</h2>" in page and "Camera-to-light latency self-test" in page


def test_rig_camera_latency_on_the_synthetic_camera(capsys: pytest.CaptureFixture[str]) -> None:
    """The stand-alone command recovers the simulated 66 ms delay within one frame."""
    from rig.cli import main

    code = main(["camera", "latency", "--source", "synthetic", "--board", "mock",
                 "--camera-delay-ms", "66", "--seconds", "12", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["seen"] >= 4 and result["missed"] == 0 and result["clock"] == "media"
    assert all(66 - 0.01 <= v < 66 + 1000 / 30 + 0.01 for v in result["samples_ms"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--source", f"video:{VIDEO}", "--board", "mock"], "cannot see the board's LED"),
        (["--source", "synthetic", "--board", "firmata:/dev/null"], "only visible to the synthetic"),
        (["--source", "camera:0", "--board", "firmata:/dev/null"], "--roi"),
        (["--source", "synthetic", "--board", "mock", "--roi", "1,2,3"], "X,Y,W,H"),
    ],
)
def test_rig_camera_latency_refuses_what_cannot_work(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from rig.cli import main

    assert main(["camera", "latency", *argv]) != 0
    assert message in capsys.readouterr().err


def test_rig_run_latency_test_needs_a_box_on_a_real_camera(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rig.cli import main

    protocol = Path(__file__).resolve().parents[2] / "protocols" / "rtpp_redondo2014.yaml"
    code = main(["run", str(protocol), "--animal", "m1", "--source", "camera:0", "--board",
                 "firmata:/dev/null", "--out", str(tmp_path), "--latency-test"])
    assert code != 0
    assert "--latency-test: give the LED's box" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing created


def test_clock_map_follows_a_drifting_board_clock() -> None:
    """A board resonator 0.5 % fast and 1 ms + an exponential tail (mean 1.5 ms) of report
    transit: flashes are mapped to the host clock within -0.5..+3 ms over 10 minutes (a
    constant offset would be 3 s off by then). Fails on a constant minimum offset."""
    from rig.session.latency import DeviceClockMap

    rng = np.random.default_rng(10)
    clock_map = DeviceClockMap()
    true_offset_ns = 123_456_789_000
    drift = 1.005  # device microseconds per host microsecond
    errors = []
    host_us = 0.0
    while host_us < 600e6:
        host_us += float(rng.uniform(0.2e6, 3e6))
        device_us = int(host_us * drift)
        transit_ns = int(1e6 + rng.exponential(1.5e6))
        true_host_ns = int(host_us * 1000) + true_offset_ns
        clock_map.add(device_us, true_host_ns + transit_ns)
        mapped = clock_map.to_host_ns(device_us)
        errors.append((mapped - true_host_ns) / 1e6)
    late = errors[60:]  # once the fit has a minute or two of reports
    assert max(late) < 3.0 and min(late) > -0.5, (min(late), max(late))
    # the board resets: its clock restarts and the map starts afresh
    clock_map.add(1000, true_offset_ns + 700_000_000_000)
    assert clock_map.to_host_ns(1000) == true_offset_ns + 700_000_000_000


def test_an_led_box_inside_the_arena_is_warned_about(default_loaded: Any, tmp_path: Path) -> None:
    loaded = protocol_variant(
        default_loaded, phases=[{"name": "test", "duration_s": 2.0, "mode": "off"}],
        tracking={"background": {"duration_s": 1.0}},
    )
    clock = MediaClock()
    board = MockBoard("mock", clock=clock)
    runner = SessionRunner(
        loaded, SyntheticArena(loaded.calibration, fps=FPS), board, tmp_path, "m1",
        speed=None, media_clock=clock, simulated=True,
        latency_test=LatencyTestSettings(led_roi=(300, 200, 20, 20)),
    )
    assert runner.run() is EndReason.COMPLETED
    events = read_csv(runner.session_dir / "events.csv")  # type: ignore[operator]
    assert [e["kind"] for e in events].count("latency_test_warning") == 1
