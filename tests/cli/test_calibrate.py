"""`rig calibrate arena` writes a new calibration file (never overwrites); `show` prints it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rig.calibration import PixelMapper
from rig.calibration_io import load_arena_calibration
from rig.cli import main

CORNERS = "20,90,620,90,620,390,20,390"


@pytest.fixture
def frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    image = np.full((480, 640, 3), 200, dtype=np.uint8)
    path = tmp_path / "frame.png"
    assert cv2.imwrite(str(path), image)
    return path


def calibrate(frame: Path, *extra: str) -> int:
    return main(
        ["calibrate", "arena", "--image", str(frame), "--corners", CORNERS,
         "--width-cm", "50", "--length-cm", "25", "--name", "box1", *extra]
    )


def test_writes_calibration_and_reference_image(
    frame: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert calibrate(frame) == 0
    out = capsys.readouterr().out
    assert "wrote calibration/box1.yaml (12.00 px/cm, 640x480 px image)" in out
    cal = load_arena_calibration("calibration/box1.yaml")
    assert (cal.camera.width_px, cal.camera.height_px) == (640, 480)
    assert cal.name == "box1" and cal.measured_on is not None
    assert cal.reference_image == "box1_reference.png"
    assert Path("calibration/box1_reference.png").read_bytes() == frame.read_bytes()
    assert PixelMapper(cal).to_cm(620, 390) == pytest.approx((50, 25))


def test_refuses_to_overwrite(frame: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert calibrate(frame, "--out", "calibration/box.yaml") == 0
    before = Path("calibration/box.yaml").read_bytes()
    assert calibrate(frame, "--out", "calibration/box.yaml") == 2
    err = capsys.readouterr().err
    assert "calibration/box.yaml: already exists" in err and "never overwritten" in err
    assert Path("calibration/box.yaml").read_bytes() == before


def test_corner_outside_image_names_the_option(
    frame: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["calibrate", "arena", "--image", str(frame), "--corners", "20,90,700,90,620,390,20,390",
         "--width-cm", "50", "--length-cm", "25", "--name", "b"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "--corners (corners_px[1]): (700, 90) is outside the 640x480 camera image" in err
    assert not Path("calibration").exists()


@pytest.mark.parametrize(
    ("corners", "message"),
    [("1,2,3", "expected 8 numbers (4 corners x, y), got 3"), ("a,b,c,d,e,f,g,h", "expected 8 numbers")],
)
def test_bad_corners_text(
    frame: Path, capsys: pytest.CaptureFixture[str], corners: str, message: str
) -> None:
    code = main(
        ["calibrate", "arena", "--image", str(frame), "--corners", corners,
         "--width-cm", "50", "--length-cm", "25", "--name", "b"]
    )
    assert code == 2
    assert message in capsys.readouterr().err


def test_bad_width_and_missing_image(frame: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["calibrate", "arena", "--image", str(frame), "--corners", CORNERS,
         "--width-cm", "-50", "--length-cm", "25", "--name", "b"]
    )
    assert code == 2
    assert "--width-cm (width_cm): must be greater than 0, got -50" in capsys.readouterr().err
    assert calibrate(Path("missing.png")) == 2
    assert "--image: missing.png: file not found" in capsys.readouterr().err


def test_show(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).resolve().parents[2] / "calibration" / "synthetic_arena.yaml"
    assert main(["calibrate", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "12.000 px/cm" in out
    assert "bottom-right  (620, 390) px -> (50.00, 25.00) cm" in out


def test_arena_writes_overlay_png(frame: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 18: `rig calibrate arena` leaves an image to check the corners by eye (the old
    code wrote none)."""
    assert calibrate(frame) == 0
    out = capsys.readouterr().out
    overlay = Path("calibration/box1_overlay.png")
    assert f"check image:     {overlay}" in out
    image = cv2.imread(str(overlay))
    assert image is not None and image.shape == (480, 640, 3)
    blank = np.full((480, 640, 3), 200, dtype=np.uint8)
    # Corner markers are drawn at the clicked pixels; the interior is tinted by compartments.
    assert not np.array_equal(image[90, 20], blank[90, 20])
    left, right = image[240, 150].astype(int), image[240, 500].astype(int)
    assert not np.array_equal(left, right)  # the two compartments differ in colour
    # The 25 cm grid line (the middle, x = 20 + 25 * 12 = 320 px) is drawn.
    assert not np.array_equal(image[300, 320], image[300, 330])


def test_overlay_existing_refuses_before_writing(
    frame: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("calibration").mkdir()
    Path("calibration/box1_overlay.png").write_bytes(b"mine")
    assert calibrate(frame) == 2
    assert "box1_overlay.png: already exists" in capsys.readouterr().err
    assert not Path("calibration/box1.yaml").exists()
    assert Path("calibration/box1_overlay.png").read_bytes() == b"mine"


def test_show_prints_no_negative_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 18: the top-left corner maps to (-8.9e-16, -4.4e-16) cm here; the old `show`
    printed (-0.00, -0.00)."""
    path = tmp_path / "tilted.yaml"
    path.write_text(
        "schema_version: 1\nkind: arena\nname: tilted\n"
        "camera: {width_px: 1280, height_px: 720}\n"
        "corners_px: [[101.5, 83.2], [1190.4, 95.7], [1175.1, 660.3], [88.9, 642.8]]\n"
        "width_cm: 45\nlength_cm: 22.5\n",
        encoding="utf-8",
    )
    assert main(["calibrate", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "-0.00" not in out and "-0)" not in out
    assert "top-left      (101.5, 83.2) px -> (0.00, 0.00) cm" in out


def test_show_overlay_of_existing_calibration(
    frame: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert calibrate(frame) == 0
    assert main(["calibrate", "show", "calibration/box1.yaml", "--overlay", "check.png"]) == 0
    assert cv2.imread("check.png") is not None
    assert main(["calibrate", "show", "calibration/box1.yaml", "--overlay", "check.png"]) == 2
    assert "check.png: already exists" in capsys.readouterr().err
