"""session.log is kept by the entry points (``attach_session_log``), not by the engine.

Issue 18: rig/session/runner.py configured the ``optorig.session_record`` logger at import
time and the runner added (and removed) its own handlers on the ``rig`` logger.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from rig.devices.mock_board import MockBoard
from rig.session.logfile import RECORD_LOGGER, attach_session_log
from rig.session.runner import EndReason, SessionRunner
from tests.conftest import protocol_variant
from tests.session.helpers import ScriptedSource, ScriptedTracker


def _runner(default_loaded: Any, out: Path) -> SessionRunner:
    loaded = protocol_variant(
        default_loaded,
        phases=[{"name": "only", "duration_s": 0.5, "mode": "off"}],
        tracking={"background": {"source": "median", "duration_s": 0.2, "n_frames": 4}},
    )
    return SessionRunner(
        loaded, ScriptedSource(), MockBoard(), out, "m1", speed=None,
        tracker_factory=lambda _loaded, _size: ScriptedTracker([(100.0, 100.0)]),
    )


def test_importing_the_engine_configures_no_logging() -> None:
    """Old code: importing runner.py set the record logger's level and propagation."""
    code = (
        "import logging, rig.session.runner\n"
        f"r = logging.getLogger({RECORD_LOGGER!r})\n"
        "print(r.level, r.propagate, len(r.handlers), len(logging.getLogger('rig').handlers),"
        " len(logging.getLogger().handlers))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "True", "0", "0", "0"]


def test_runner_adds_no_handlers_of_its_own(default_loaded: Any, tmp_path: Path) -> None:
    """Old code: the runner attached a FileHandler to the ``rig`` logger during run()."""
    seen: list[int] = []
    runner = _runner(default_loaded, tmp_path)

    class Spy:
        def on_state(self, status: Any) -> None:
            seen.append(len(logging.getLogger("rig").handlers))

        def on_frame(self, update: Any) -> None:
            pass

        def on_event(self, kind: str, t_s: float, detail: dict[str, object]) -> None:
            pass

        def on_finished(self, status: Any) -> None:
            pass

    before = len(logging.getLogger("rig").handlers)
    runner.add_observer(Spy())
    assert runner.run() is EndReason.COMPLETED
    assert seen and set(seen) == {before}
    assert runner.session_dir is not None
    assert not (runner.session_dir / "session.log").exists()


def test_attached_log_keeps_lifecycle_lines_and_is_detached(
    default_loaded: Any, tmp_path: Path
) -> None:
    runner = _runner(default_loaded, tmp_path)
    before = list(logging.getLogger("rig").handlers)
    record_before = list(logging.getLogger(RECORD_LOGGER).handlers)
    attach_session_log(runner)
    logging.getLogger("rig.test").warning("before the record exists")
    assert runner.run() is EndReason.COMPLETED
    assert runner.session_dir is not None
    text = (runner.session_dir / "session.log").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert "before the record exists" in lines[0]  # held, then written first
    assert any("animal m1" in line for line in lines)
    assert "session ended: completed" in lines[-1]
    assert logging.getLogger("rig").handlers == before
    assert logging.getLogger(RECORD_LOGGER).handlers == record_before
