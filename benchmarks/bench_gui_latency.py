"""Control-loop latency with the GUI displaying at full rate vs the headless engine.

Runs the same short closed-loop protocol on this machine, in one process, alternating
``--rounds`` times between the SessionRunner alone and the SessionRunner driven by the real
MainWindow (offscreen Qt, display timer at 30 Hz pulling frames, live plots, status bar),
so that load from other processes hits both alike; latencies of each kind are pooled. Synthetic arena at 30 fps real time, mock
board. Latency = frame capture -> laser command (frames.csv ``latency_ms``). Prints p50,
p95, p99 and max of both, and the difference of the p99s; asserts nothing.

    .venv/bin/python benchmarks/bench_gui_latency.py [--duration-s 20]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import yaml


def write_protocol(folder: Path, duration_s: float) -> Path:
    from rig.protocol.load import default_protocol_path

    data = yaml.safe_load(default_protocol_path().read_text(encoding="utf-8"))
    data["metadata"]["name"] = "bench-gui"
    data["phases"] = [{"name": "test", "duration_s": duration_s, "mode": "closed_loop"}]
    data.setdefault("tracking", {})["background"] = {"source": "median", "duration_s": 2.0, "n_frames": 20}
    path = folder / "bench_gui.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def latencies(session_dir: Path) -> np.ndarray:
    with (session_dir / "frames.csv").open(newline="") as handle:
        return np.array([float(row["latency_ms"]) for row in csv.DictReader(handle)])


def describe(name: str, values: np.ndarray) -> dict[str, float]:
    stats = {
        "frames": float(values.size),
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "p99": float(np.percentile(values, 99)),
        "max": float(values.max()),
    }
    print(
        f"{name:<22} frames {values.size:5d}  p50 {stats['p50']:6.2f} ms  p95 {stats['p95']:6.2f} ms  "
        f"p99 {stats['p99']:6.2f} ms  max {stats['max']:6.2f} ms"
    )
    return stats


def run_headless(protocol: Path, out: Path) -> Path:
    from rig.devices.mock_board import MockBoard
    from rig.devices.synthetic import SyntheticArena
    from rig.protocol.load import load_protocol
    from rig.session.runner import SessionRunner

    loaded = load_protocol(protocol)
    runner = SessionRunner(
        loaded, SyntheticArena(loaded.calibration, fps=30.0), MockBoard(), out, "bench1",
        speed=1.0, simulated=True,
    )
    runner.run()
    assert runner.session_dir is not None
    return runner.session_dir


def run_with_gui(protocol: Path, out: Path) -> tuple[Path, int]:
    from PyQt6.QtCore import QEventLoop, QTimer
    from PyQt6.QtWidgets import QApplication

    from rig.gui import settings
    from rig.gui.app import set_gui_switch_interval
    from rig.gui.main_window import MainWindow

    set_gui_switch_interval()  # as `rig gui` does
    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings.use_settings_dir(out / "qsettings")
    window = MainWindow(confirm=lambda *a: True, opener=lambda p: None, show_summary=False)
    window.resize(1600, 960)
    panel = window.setup_panel
    panel.set_protocol_path(str(protocol))
    panel.animal_edit.setText("bench2")
    panel.output_edit.setText(str(out))
    window.live_view.sim_controls.set_speed("1")
    window.show()
    draws = [0]
    original = window.live_view.video.show_frame

    def counting(*args: object) -> None:
        draws[0] += 1
        original(*args)  # type: ignore[arg-type]

    window.live_view.video.show_frame = counting  # type: ignore[method-assign]
    loop = QEventLoop()
    result: list[object] = []
    window.session_finished.connect(lambda status: (result.append(status), loop.quit()))
    QTimer.singleShot(0, panel.start_button.click)
    loop.exec()
    window.close()
    app.processEvents()
    status = result[0]
    return Path(status.session_dir), draws[0]  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=20.0, help="per kind, all rounds")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {platform.system()} {platform.release()}, "
          f"{os.cpu_count()} cpus, python {platform.python_version()}, "
          f"QT_QPA_PLATFORM={os.environ['QT_QPA_PLATFORM']}")
    print(f"synthetic arena 640x480 at 30 fps real time, mock board, {args.duration_s:g} s closed loop each")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        protocol = write_protocol(folder, args.duration_s / args.rounds)
        headless_ms, gui_ms, draws = [], [], 0
        for round_index in range(args.rounds):
            headless_ms.append(latencies(run_headless(protocol, folder / f"headless{round_index}")))
            session_dir, drawn = run_with_gui(protocol, folder / f"gui{round_index}")
            gui_ms.append(latencies(session_dir))
            draws += drawn
        headless = describe("headless engine", np.concatenate(headless_ms))
        gui = describe("engine + GUI", np.concatenate(gui_ms))
        print(f"GUI drew {draws} video frames ({draws / args.duration_s:.1f} per s of session)")
        print(f"p50 difference {gui['p50'] - headless['p50']:+.2f} ms, "
              f"p99 difference {gui['p99'] - headless['p99']:+.2f} ms (target: within 1 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
