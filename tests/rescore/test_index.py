"""The session index (rig/index.py, `rig index`, `rig sessions list`, `rig group --query`).

None of this existed before (no rig.index module; the commands did not parse): every test
fails on the old code.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from rig.cli import main
from rig.errors import ConfigError
from rig.index import INDEX_FILENAME, Query, SessionIndex, parse_query

from .conftest import Archive


@pytest.fixture
def data(archive: Archive, tmp_path: Path) -> Path:
    """A copy of the archive (3 completed sessions m001-m003) plus one cut-short session
    (m004: no summary, no end) with a group written in its session.json."""
    root = tmp_path / "data"
    shutil.copytree(archive.root, root)
    cut = root / "sessions" / "2026-12-02_09-00-00_m004_rs-test"
    shutil.copytree(archive.sessions["m001"], cut)
    (cut / "summary.json").unlink()
    header = json.loads((cut / "session.json").read_text())
    header.update(animal_id="m004", end_reason=None, ended_at=None, started_at="2026-12-02T09:00:00.000+00:00")
    header["cohort"] = {"group": "eYFP"}
    (cut / "session.json").write_text(json.dumps(header))
    return root


def _ids(rows: list) -> list[str]:  # type: ignore[type-arg]
    return sorted(str(r.animal_id) for r in rows)


def test_build_query_and_incremental_update(data: Path) -> None:
    groups = data.parent / "groups.csv"
    groups.write_text("animal,group\nm001,ChR2\nm002,ChR2\nm003,eYFP\nm004,ChR2\n")
    with SessionIndex(data) as index:
        assert index.set_groups(groups) == 4
        stats = index.update()
        assert (stats.added, stats.updated, stats.unchanged, stats.removed) == (4, 0, 0, 0)
        assert _ids(index.query(Query())) == ["m001", "m002", "m003", "m004"]
        assert _ids(index.query(Query(animal="m002"))) == ["m002"]
        assert _ids(index.query(Query(protocol="rs-test", complete=True))) == ["m001", "m002", "m003"]
        assert _ids(index.query(Query(complete=False))) == ["m004"]
        assert _ids(index.query(Query(since="2026-12-01"))) == ["m004"]
        assert _ids(index.query(Query(until="2026-12-01"))) == ["m001", "m002", "m003"]
        assert _ids(index.query(Query(until="2026-12-02"))) == ["m001", "m002", "m003", "m004"]
        # session.json's own group wins over the groups table (m004 says eYFP)
        assert _ids(index.query(Query(group="ChR2"))) == ["m001", "m002"]
        assert _ids(index.query(Query(group="eYFP"))) == ["m003", "m004"]
        row = index.query(Query(animal="m001"))[0]
        assert row.frames == 150 and row.end_reason == "completed" and row.complete
        assert set(row.stim_pct_by_phase) == {"baseline", "test"}

        # nothing changed: nothing is read again
        assert (index.update().unchanged, index.update().added) == (4, 0)

        # a new session, one changed (its summary rewritten), one deleted
        sessions = sorted((data / "sessions").iterdir())
        added = shutil.copytree(sessions[0], data / "sessions" / "2026-12-03_10-00-00_m005_rs-test")
        header = json.loads((added / "session.json").read_text())
        header["animal_id"] = "m005"
        (added / "session.json").write_text(json.dumps(header))
        summary_path = sessions[1] / "summary.json"
        summary = json.loads(summary_path.read_text())
        summary["difference_score_pct"] = 99.0
        summary_path.write_text(json.dumps(summary))
        stat = summary_path.stat()
        os.utime(summary_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        shutil.rmtree(sessions[2])
        stats = index.update()
        assert (stats.added, stats.updated, stats.removed, stats.unchanged) == (1, 1, 1, 2)
        assert len(index.query(Query())) == 4
        changed = [r for r in index.query(Query()) if r.path == sessions[1]]
        assert changed[0].difference_score_pct == 99.0


def test_unreadable_session_json_is_reported_not_fatal(data: Path) -> None:
    broken = sorted((data / "sessions").iterdir())[0]
    (broken / "session.json").write_text("{not json")
    with SessionIndex(data) as index:
        stats = index.update()
    assert stats.added == 3 and len(stats.errors) == 1 and broken.name in stats.errors[0]


def test_query_text() -> None:
    q = parse_query("animal=m017 protocol=rtpp, since=2026-11-01 complete original")
    assert q == Query(animal="m017", protocol="rtpp", since="2026-11-01", complete=True, rescored=False)
    with pytest.raises(ConfigError, match="unknown key 'animl'"):
        parse_query("animl=m017")
    with pytest.raises(ConfigError, match="since: use a date"):
        parse_query("since=yesterday")


def test_cli_index_sessions_list_and_group_query(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions", "list", "--index", str(data)]) == 2  # no index yet: says how to build it
    assert "rig index" in capsys.readouterr().err
    assert main(["index", str(data)]) == 0
    assert "4 added" in capsys.readouterr().out
    assert (data / INDEX_FILENAME).is_file()
    assert main(["index", str(data)]) == 0
    assert "0 added, 0 updated, 4 unchanged" in capsys.readouterr().out

    assert main(["sessions", "list", "--index", str(data), "--animal", "m002", "--complete"]) == 0
    out = capsys.readouterr().out
    assert "m002" in out and "m001" not in out and "1 session(s)" in out
    assert main(["sessions", "list", "--index", str(data), "--protocol", "rs-test", "--complete", "--paths"]) == 0
    paths = capsys.readouterr().out.split()
    assert len(paths) == 3 and all(Path(p).is_dir() for p in paths)

    groups = data.parent / "groups.csv"
    groups.write_text("animal,group\nm001,ChR2\nm002,ChR2\nm003,eYFP\n")
    # 5-s simulated sessions: a 2-s baseline is always side-biased, so the bias exclusion is
    # lifted; this test is about which sessions the query hands to `rig group`.
    declared = data.parent / "group.yaml"
    declared.write_text("exclusions: {baseline_bias_max_pct: 100}\n")
    code = main([
        "group", "--index", str(data), "--query", "protocol=rs-test complete",
        "--groups", str(groups), "--include-simulated", "--declare", str(declared),
        "--out", str(data.parent / "group"),
    ])
    assert code == 0
    assert (data.parent / "group").is_dir()
    tidy = (data.parent / "group" / "sessions_phases.csv").read_text()
    assert all(animal in tidy for animal in ("m001", "m002", "m003")) and "m004" not in tidy


def test_rescore_from_an_index_query(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rig rescore --index --query`: only the matching originals, never earlier re-scores."""
    assert main(["index", str(data)]) == 0
    out = data / "rescored"
    assert main(["rescore", "--index", str(data), "--query", "animal=m003", "--positions", "--out", str(out), "--workers", "0"]) == 0
    assert main(["index", str(data)]) == 0
    capsys.readouterr()
    with SessionIndex(data) as index:
        rescored = index.query(Query(rescored=True))
        assert _ids(rescored) == ["m003"] and rescored[0].rescore_of is not None
        assert _ids(index.query(parse_query("animal=m003"))) == ["m003", "m003"]
    # a second query-driven re-score does not pick up the first re-score
    assert main(["rescore", "--index", str(data), "--query", "animal=m003", "--positions", "--out", str(tmp_path / "o2"), "--workers", "0"]) == 0
    assert "1 of 1 session(s) re-scored" in capsys.readouterr().out
