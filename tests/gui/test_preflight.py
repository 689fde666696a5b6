"""Pre-flight checks, red and green per check, through the real MockBoard, SyntheticArena and
VideoReplay (issue 15: a resolution mismatch was caught only at Start as "An unexpected
error"; no check ran before Start; these fail on the old code, which had no pre-flight)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rig.devices.frames import Frame
from rig.devices.mock_board import MockBoard
from rig.devices.synthetic import SyntheticArena
from rig.devices.video_replay import VideoReplay
from rig.gui import preflight
from rig.gui.preflight import CheckState, Check, PreflightResult, run_preflight
from rig.protocol.load import load_default_protocol

VIDEO = Path(__file__).parents[1] / "data" / "m4s1_labelled_frames.mp4"


@pytest.fixture(scope="module")
def loaded() -> Any:
    return load_default_protocol()


def _run(loaded: Any, tmp_path: Path, source: Any = None, board: Any = None, **kw: Any) -> PreflightResult:
    calibration = kw.pop("calibration", loaded.calibration)
    return run_preflight(
        lambda: source if source is not None else SyntheticArena(loaded.calibration, duration_s=5.0),
        lambda: board if board is not None else MockBoard(),
        calibration, 30.0, tmp_path, 2400.0, **kw,
    )


def test_all_green_on_the_synthetic_arena_and_mock_board(loaded: Any, tmp_path: Path) -> None:
    result = _run(loaded, tmp_path)
    states = {c.key: c.state for c in result.checks}
    assert states["firmware"] is CheckState.OK
    assert states["test_pulse"] is CheckState.OK
    assert states["resolution"] is CheckState.OK
    assert states["fps"] is CheckState.OK
    assert states["arena"] is CheckState.OK
    assert states["disk"] is CheckState.OK
    assert states["interlock"] is CheckState.SKIPPED  # no interlock given: grey
    assert result.ok and result.frame is not None


def test_firmware_name_and_version_red(loaded: Any, tmp_path: Path) -> None:
    result = _run(loaded, tmp_path, required_firmware=("optorig", "1.1.0"))
    check = result.get("firmware")
    assert check is not None and check.state is CheckState.FAILED
    assert "optorig-mock" in check.reason and "optorig" in check.reason
    assert not result.ok


class _SilentBoard(MockBoard):
    """Never echoes the gate (a board that does not report what it delivered)."""

    def events(self) -> list[Any]:
        super().events()
        return []


def test_test_pulse_not_echoed_is_red(loaded: Any, tmp_path: Path) -> None:
    board = _SilentBoard()
    result = _run(loaded, tmp_path, board=board)
    check = result.get("test_pulse")
    assert check is not None and check.state is CheckState.FAILED and not result.ok
    assert not board.gate_open  # the pulse ended with the gate closed


def _interlock(required: bool = True) -> Any:
    from rig.rigfile.models import InterlockSection

    return InterlockSection(pin=2, required=required)


def _interlocked_board(open_: bool) -> MockBoard:
    """The real MockBoard emulating the firmware's interlock input (open = at trip level)."""
    board = MockBoard(interlock=True)
    board.set_interlock(open_)
    return board


@pytest.mark.parametrize("open_", [False, True])
def test_interlock_read_from_the_board_events(loaded: Any, tmp_path: Path, open_: bool) -> None:
    """Issue 15: the interlock check was always grey (boards have no ``interlock_closed``);
    now the board configured as the session configures it reports INTERLOCK events and the
    check reads them: green when closed, red naming the pin when open, and Start blocked.
    Fails on the old code (SKIPPED in both cases, Start allowed with the door open)."""
    board = _interlocked_board(open_)
    result = _run(loaded, tmp_path, board=board, interlock=_interlock())
    check = result.get("interlock")
    assert check is not None
    if open_:
        assert check.state is CheckState.FAILED and "pin 2" in check.reason and "OPEN" in check.reason
        assert not result.ok
        assert any("pin 2" in p for p in result.problems)
        pulse = result.get("test_pulse")
        assert pulse is not None and pulse.state is CheckState.SKIPPED
    else:
        assert check.state is CheckState.OK and "pin 2" in check.reason
        assert result.ok
    assert not board.gate_open


def test_interlock_open_but_not_required_warns_and_does_not_block(loaded: Any, tmp_path: Path) -> None:
    result = _run(loaded, tmp_path, board=_interlocked_board(True), interlock=_interlock(required=False))
    check = result.get("interlock")
    assert check is not None and check.state is CheckState.WARNING and "pin 2" in check.reason
    assert result.ok


def test_interlock_closing_after_a_red_check_turns_green(loaded: Any, tmp_path: Path) -> None:
    board = _interlocked_board(True)
    red = _run(loaded, tmp_path, board=board, interlock=_interlock())
    board.set_interlock(False)  # the technician closes the door and runs the checks again
    green = _run(loaded, tmp_path, board=board, interlock=_interlock())
    assert not red.ok and green.ok
    check = green.get("interlock")
    assert check is not None and check.state is CheckState.OK


def test_no_interlock_in_the_rig_is_grey(loaded: Any, tmp_path: Path) -> None:
    result = _run(loaded, tmp_path, board=MockBoard(), interlock=None)
    check = result.get("interlock")
    assert check is not None and check.state is CheckState.SKIPPED and not check.required
    assert "rig file" in check.reason


def test_setup_panel_interlock_from_the_rig_file(qtbot: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """The production pre-flight builds the board from the rig file (``make_rig_board``):
    a rig with an interlock gets a board whose open interlock keeps Start disabled with the
    pin named. Fails on the old code (the board came from the picker, interlock grey)."""
    from rig.devices import registry
    from rig.gui.widgets.setup_panel import DEMO_PROTOCOL, SetupPanel

    rig_file = tmp_path / "rig.yaml"
    rig_file.write_text("schema_version: 1\nname: bench\nboard:\n  kind: mock\n"
                        "interlock:\n  pin: 4\n  required: true\n", encoding="utf-8")
    boards: list[MockBoard] = []
    real = registry.make_rig_board

    def make(config: Any, clock: Any = None) -> Any:
        board = real(config, clock)
        assert isinstance(board, MockBoard)
        board.set_interlock(door_open[0])
        boards.append(board)
        return board

    door_open = [True]
    monkeypatch.setattr(registry, "make_rig_board", make)
    panel = SetupPanel()
    qtbot.addWidget(panel)
    panel.set_protocol_path(DEMO_PROTOCOL)
    panel.animal_edit.setText("m1")
    panel.output_edit.setText(str(tmp_path / "out"))
    panel.rig_edit.setText(str(rig_file))
    assert panel.rig is not None and not panel.rig_error
    result = panel.run_preflight()
    assert result is not None and boards
    check = result.get("interlock")
    assert check is not None and check.state is CheckState.FAILED and "pin 4" in check.reason
    assert not panel.start_button.isEnabled() and "pin 4" in panel.start_reason.text()
    door_open[0] = False
    result = panel.run_preflight()
    assert result is not None
    check = result.get("interlock")
    assert check is not None and check.state is CheckState.OK
    assert panel.start_button.isEnabled()


def test_resolution_mismatch_is_red_in_plain_words(loaded: Any, tmp_path: Path) -> None:
    from rig.calibration import CameraResolution

    other = loaded.calibration.model_copy(update={"camera": CameraResolution(width_px=1280, height_px=1024)})
    result = _run(loaded, tmp_path, calibration=other)
    check = result.get("resolution")
    assert check is not None and check.state is CheckState.FAILED
    assert "1280x1024" in check.reason and "640x480" in check.reason
    assert "unexpected" not in check.reason.lower()


class _SlowSource:
    """Delivers 10 fps where 30 are configured (timestamps as a camera's)."""

    name, fps, frame_size, is_live = "slowcam", 30.0, (640, 480), True

    def __init__(self) -> None:
        import numpy as np

        self._i = 0
        self._image = np.zeros((480, 640), np.uint8)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def read(self) -> Frame:
        self._i += 1
        return SimpleNamespace(image=self._image, t_s=self._i / 10.0)  # type: ignore[return-value]


def test_camera_below_configured_fps_is_red(loaded: Any, tmp_path: Path) -> None:
    result = _run(loaded, tmp_path, source=_SlowSource())
    check = result.get("fps")
    assert check is not None and check.state is CheckState.FAILED
    assert "10.0 fps delivered" in check.reason


def test_disk_space_red_when_too_little(loaded: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda p: SimpleNamespace(free=100e6))
    result = _run(loaded, tmp_path)
    check = result.get("disk")
    assert check is not None and check.state is CheckState.FAILED and "100 MB free" in check.reason


def test_arena_not_matching_a_real_video_warns(loaded: Any, tmp_path: Path) -> None:
    """The real m4s1 video with the synthetic arena's calibration (the issue's case)."""
    result = _run(loaded, tmp_path, source=VideoReplay(VIDEO))
    check = result.get("arena")
    assert check is not None and check.state is CheckState.WARNING
    assert result.ok  # a warning, not a block


def test_start_stays_disabled_while_a_required_check_is_red(qtbot: Any, tmp_path: Path) -> None:
    from rig.gui.widgets.setup_panel import DEMO_PROTOCOL, SetupPanel

    red = PreflightResult((Check("disk", "Disk space for the session", CheckState.FAILED, "5 MB free"),))
    green = PreflightResult((Check("disk", "Disk space for the session", CheckState.OK, "9 GB free"),))
    results = [red, green]
    panel = SetupPanel(preflight=lambda c, l: results.pop(0))
    qtbot.addWidget(panel)
    panel.set_protocol_path(DEMO_PROTOCOL)
    panel.animal_edit.setText("m1")
    panel.output_edit.setText(str(tmp_path))
    started: list[Any] = []
    panel.start_requested.connect(lambda *a: started.append(a))
    panel.start_button.click()  # runs the checks first: red, so no start
    assert not started
    assert not panel.start_button.isEnabled()
    assert "5 MB free" in panel.start_reason.text()
    assert "✗" in panel.preflight_label.text()
    panel.run_preflight()  # fixed: green
    assert panel.start_button.isEnabled()
    panel.start_button.click()
    assert started
