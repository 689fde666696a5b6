from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

import rig.session.writer as writer_module
from rig.errors import ConfigError, RecorderFault
from rig.session.writer import (
    EventRow,
    FrameRow,
    SessionWriter,
    create_session_dir,
    session_folder_name,
)
from rig.fileio import write_json_atomic

FIELDS = {"date": "2026-01-02", "time": "10-00-00", "animal": "m 1/x", "protocol": "rtpp"}


def _row(i: int) -> FrameRow:
    return FrameRow(i, i / 30, 1.0, 2.0, None, None, False, "lost", "p,1", False, 0.5, "left", "off", 0)


def test_folder_is_never_reused(tmp_path: Path) -> None:
    pattern = "sessions/{date}_{time}_{animal}_{protocol}"
    first = create_session_dir(tmp_path, pattern, FIELDS)
    second = create_session_dir(tmp_path, pattern, FIELDS)
    assert first.name == "2026-01-02_10-00-00_m-1-x_rtpp"
    assert second.name == first.name + "-2"
    with pytest.raises(ConfigError, match="unknown field"):
        session_folder_name("{nope}", FIELDS)
    with pytest.raises(ConfigError, match="relative"):
        create_session_dir(tmp_path, "../{animal}", FIELDS)


def test_json_is_atomic_and_leaves_no_temporary(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "a.json", {"x": 1})
    write_json_atomic(tmp_path / "a.json", {"x": 2})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_rows_and_events_are_written_and_quoted(tmp_path: Path) -> None:
    writer = SessionWriter(tmp_path)
    writer.start()
    writer.write_frame(_row(0))
    writer.write_event(EventRow(0.0, None, "session_start", {"animal": "m1"}))
    writer.sync()
    writer.close()
    frames = (tmp_path / "frames.csv").read_text().splitlines()
    assert frames[1].startswith('0,0.0000,1.00,2.00,,,0,lost,"p,1",0,0.500,left,off,0,,')
    events = (tmp_path / "events.csv").read_text().splitlines()
    assert events[0] == "t_s,frame,kind,detail,board_t_s"
    assert events[1] == '0.0000,,session_start,"{""animal"":""m1""}",'  # no board time
    writer_dir = tmp_path / "board"
    writer_dir.mkdir()
    board_writer = SessionWriter(writer_dir)
    board_writer.start()
    board_writer.write_event(EventRow(1.5, 3, "board_gate_opened", {"device_us": 2500000}, 2.5))
    board_writer.sync()
    board_writer.close()
    assert (writer_dir / "events.csv").read_text().splitlines()[1].endswith(",2.500000")
    with pytest.raises(RecorderFault, match="File exists"):  # never overwrites
        SessionWriter(tmp_path).start()


def test_full_queue_is_a_recorder_fault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    original = writer_module.format_frame_row

    def slow(row: Any) -> str:
        gate.wait(10)
        return original(row)

    monkeypatch.setattr(writer_module, "format_frame_row", slow)
    writer = SessionWriter(tmp_path, queue_size=3)
    writer.start()
    with pytest.raises(RecorderFault, match="cannot keep up"):
        for i in range(10):
            writer.write_frame(_row(i))
    gate.set()
    writer.close()
    assert (tmp_path / "frames.csv").read_text().count("\n") >= 4
