"""A closed-loop session on an emulated Basler camera (pypylon's PYLON_CAMEMU) playing the
real mouse images of tests/data, with frames dropped on purpose.

Fails on the code before issue 14: there was no pylon source, frames.csv had no
cam_frame_id/cam_t_s, session.json no camera read-back and the summary no camera section.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYLON_CAMEMU", "2")

import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from rig.devices.camera_settings import CameraSettings  # noqa: E402
from rig.devices.lab_camera import LabCamera  # noqa: E402
from rig.devices.mock_board import MockBoard  # noqa: E402
from rig.devices.pylon_camera import PylonDriver  # noqa: E402
from rig.session.runner import SessionRunner  # noqa: E402
from rig.session.status import EndReason  # noqa: E402
from tests.conftest import protocol_variant  # noqa: E402
from tests.session.helpers import read_csv, read_json  # noqa: E402

VIDEO = Path(__file__).resolve().parents[1] / "data" / "m4s1_labelled_frames.mp4"


@pytest.fixture(scope="module")
def mouse_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("basler_images")
    capture = cv2.VideoCapture(str(VIDEO))
    i = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        cv2.imwrite(str(folder / f"img{i:04d}.png"), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        i += 1
    capture.release()
    return folder


@pytest.mark.slow
def test_closed_loop_session_on_emulated_basler(mouse_images: Path, default_loaded: Any, tmp_path: Path) -> None:
    loaded = protocol_variant(
        default_loaded,
        phases=[
            {"name": "baseline", "duration_s": 2, "mode": "off"},
            {"name": "test", "duration_s": 5, "mode": "closed_loop"},
        ],
        tracking={"background": {"source": "median", "duration_s": 2, "n_frames": 30}},
    )
    stalled: list[int] = [0]

    def stall_once(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        # 3 s into the run the host stalls for 0.4 s: ~12 frames at 30 fps never reach it.
        stalled[0] += 1
        if stalled[0] == 150:
            time.sleep(0.4)
        return image

    settings = CameraSettings(width=640, height=480, fps=30.0, exposure_us=8000.0)
    camera = LabCamera(PylonDriver("0815-0000", mouse_images), settings, convert=stall_once)
    board = MockBoard()
    runner = SessionRunner(loaded, camera, board, tmp_path, "m-basler", speed=1.0,
                           source_info={"kind": "pylon", "detail": "0815-0000"})
    assert runner.run() is EndReason.COMPLETED
    session = runner.session_dir
    assert session is not None

    header = read_json(session / "session.json")
    applied = header["source"]["camera"]["applied"]
    assert applied["backend"] == "pylon" and applied["serial"] == "0815-0000"
    assert (applied["width"], applied["height"]) == (640, 480)
    assert applied["exposure_us"] == pytest.approx(8000.0) and applied["exposure_auto"] == "Off"
    assert applied["fps"] == pytest.approx(30.0)
    at_end = header["source"]["camera_at_end"]

    rows = read_csv(session / "frames.csv")
    assert len(rows) > 100
    ids = [int(r["cam_frame_id"]) for r in rows]
    cam_t = [float(r["cam_t_s"]) for r in rows]
    assert ids == sorted(set(ids)) and all(b > a for a, b in zip(cam_t, cam_t[1:]))
    index = [int(r["frame"]) for r in rows]
    id_gaps = sum(b - a - 1 for a, b in zip(ids, ids[1:]))
    engine_gaps = sum(b - a - 1 for a, b in zip(index, index[1:]))

    summary = read_json(session / "summary.json")
    cam = summary["camera"]
    assert cam["frame_ids"] and cam["clock"] == "camera"
    assert cam["engine_dropped"] == engine_gaps
    assert cam["camera_dropped"] == id_gaps - engine_gaps
    # The forced stall is among them (camera-level, separate from the engine's own drops).
    # How many frames the 0.4 s stall costs depends on how far pylon's emulator itself falls
    # behind on a loaded host (it then produces fewer frames): tests/devices/test_lab_cameras.py
    # counts stall drops exactly; here at least one must be seen.
    assert cam["camera_dropped"] >= 1
    assert at_end["camera_dropped"] >= cam["camera_dropped"]
    assert 10.0 <= cam["measured_fps"] <= 33.0
    # the loop ran closed: the tracker found the real mouse and the laser followed a side
    tracked = sum(r["tracked"] == "1" for r in rows)
    assert tracked > 0.5 * len(rows)  # a loaded CI host drops frames; most are still tracked
    assert {r["mode"] for r in rows} == {"off", "closed_loop"}
