"""A worker installs plain `optorig` (no Qt): the engine, analysis, index and re-score paths
must import and run with PyQt6 and pyqtgraph absent, and `rig gui` must say what to install.

Qt is made absent in a subprocess by a meta-path finder that refuses `PyQt6*`, `pyqtgraph*`
(and `PySide*`, `qtpy`): any import of them raises ModuleNotFoundError, as in a venv without
them. Before this change PyQt6 and pyqtgraph were core dependencies (the pyproject test
fails) and `rig gui` died with a traceback.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from .conftest import Archive

ROOT = Path(__file__).resolve().parents[2]

BLOCKER = """
import importlib.abc, sys
class NoQt(importlib.abc.MetaPathFinder):
    BLOCKED = ("PyQt6", "PyQt5", "PySide6", "PySide2", "pyqtgraph", "qtpy", "sip")
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: light install)", name=name)
        return None
sys.meta_path.insert(0, NoQt())
"""

IMPORTS = BLOCKER + """
import rig.session.runner, rig.cli, rig.index
import rig.analysis.summary, rig.analysis.metrics, rig.analysis.group, rig.analysis.report, rig.analysis.nwb
import rig.rescore.engine, rig.rescore.batch, rig.rescore.positions, rig.rescore.pose
rig.cli.build_parser()
from rig.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split('.')[0] in NoQt.BLOCKED)
print("LOADED:" + ",".join(loaded))
sys.exit(code)
"""

RUN_CLI = BLOCKER + """
from rig.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=240, cwd=ROOT
    )


def test_core_dependencies_have_no_qt_and_the_gui_is_an_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    assert "pyqt" not in core and "pyqtgraph" not in core and "pyside" not in core
    gui = " ".join(project["optional-dependencies"]["gui"]).lower()
    assert "pyqt6" in gui and "pyqtgraph" in gui
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    install = next(line for line in setup.splitlines() if "pip install -q -e" in line)
    extras = install.split("[", 1)[1].split("]", 1)[0].split(",")
    # the README's set-up still installs everything
    assert set(project["optional-dependencies"]) - {"all"} <= set(extras), extras


def test_engine_analysis_index_and_rescore_import_and_run_without_qt(archive: Archive, tmp_path: Path) -> None:
    """Import every core path, then re-score a session, all with Qt blocked."""
    out = tmp_path / "out"
    result = _run(IMPORTS, "rescore", str(archive.sessions["m002"]), "--out", str(out), "--workers", "0")
    assert result.returncode == 0, result.stderr
    assert "1 of 1 session(s) re-scored" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "LOADED:"
    assert len(list((out / "sessions").iterdir())) == 1


def test_rig_gui_without_qt_says_what_to_install() -> None:
    result = _run(RUN_CLI, "gui")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "pip install 'optorig[gui]'" in result.stderr
