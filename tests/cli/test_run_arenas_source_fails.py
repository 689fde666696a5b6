"""Fails on the code before its fix (found in a sceptical review of the merge): ``rig run --rig RIG --arena ...``
whose frame source cannot be opened (here a corrupt video file; on a rig: camera:0 absent
or busy).

1. ``--out`` does not exist yet (as for a first run): the command dies with a Python
   traceback (FileNotFoundError writing ``run_<id>.json`` in rig/session/multi.py
   ``_write_run_file``: nothing created the folder because no arena got as far as its own
   session folder), and the real cause (the camera) is never said.
2. ``--out`` exists: every arena prints ``error, 0 frames, record in None`` and nothing says
   why; the single-arena ``rig run`` says ``camera 0: cannot be opened ...``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.cli import main
from tests.cli.test_run_arenas import RIG, short_protocol


def _rig(tmp_path: Path) -> Path:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video\n")
    rig = tmp_path / "rig.yaml"
    rig.write_text(RIG.replace("source: synthetic", f"source: video:{bad}"))
    return rig


def test_arenas_run_with_a_failing_source_and_a_new_out_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = _rig(tmp_path)
    out = tmp_path / "new" / "out"
    code = main(["run", str(short_protocol(tmp_path)), "--rig", str(rig), "--arena", "left-box=m1",
                 "--out", str(out)])  # FileNotFoundError escapes here on the current code
    assert code != 0
    err = capsys.readouterr().err
    assert "bad.mp4" in err or "video" in err, err


def test_arenas_run_with_a_failing_source_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = _rig(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    code = main(["run", str(short_protocol(tmp_path)), "--rig", str(rig), "--arena", "left-box=m1",
                 "--out", str(out)])
    assert code != 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "record in None" not in text
    assert "bad.mp4" in text or "cannot" in text, text
