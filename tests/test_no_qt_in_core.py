"""The engine and the CLI run without Qt: importing them must load neither PyQt6 nor pyqtgraph."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import rig.session, rig.session.runner, rig.cli, rig.zones, rig.policy, rig.devices.registry
rig.cli.build_parser()
bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PyQt6', 'pyqtgraph'))
print(','.join(bad))
"""


def test_core_and_cli_do_not_import_qt() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "", f"Qt modules loaded: {result.stdout.strip()}"
