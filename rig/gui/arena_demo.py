"""A 4-arena demo in the arena grid: four synthetic chambers under one 1280x1024 camera,
four mock laser channels (``python -m rig.gui.arena_demo [N] [--rig FILE] [--screenshot FILE]``;
with ``--rig`` the arenas, regions and channels come from the rig file (the board is
simulated); the screenshot is taken 45 s in, during the closed-loop phase, and the demo
then stops)."""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import threading
from pathlib import Path

import yaml

from rig.devices.mock_board import MockBoard
from rig.devices.regions import TiledSynthetic, grid_regions, region_calibration
from rig.protocol.load import load_default_protocol
from rig.session.multi import ArenaSpec, MultiArenaRunner


def build_demo(
    n: int, out: Path, speed: float | None = 1.0, rig_path: Path | None = None
) -> MultiArenaRunner:
    """A MultiArenaRunner of ``n`` synthetic arenas running the demo protocol (the rig
    file's arenas when ``rig_path`` names one with arenas)."""
    loaded = load_default_protocol()
    if rig_path is not None:
        from rig.rigfile.load import load_rig
        from rig.session.arena_plan import plan_rig_arenas

        rig = load_rig(rig_path)
        if rig.config.arenas:
            cam = rig.config.camera
            assert cam.width is not None and cam.height is not None  # load_rig checks it
            k = len(rig.config.arenas)
            specs = plan_rig_arenas(
                rig, MockBoard("demo"), {}, loaded, synthetic=True, default_animal="demo",
                sides=["left" if i % 2 == 0 else "right" for i in range(k)], rig_protocols=False,
            )
            tiled = TiledSynthetic(
                (cam.width, cam.height), [a.region for a in specs], [a.loaded.calibration for a in specs],
                [7 + i for i in range(k)], fps=30.0,
            )
            return _attach_logs(MultiArenaRunner(tiled, specs, out, speed=speed, simulated=True, rig=rig))
    regions = grid_regions(n, (1280, 1024))
    arenas = []
    for i, region in enumerate(regions):
        cal = region_calibration(region)
        raw = yaml.safe_dump(cal.model_dump(mode="json"), sort_keys=False).encode()
        arena_loaded = dataclasses.replace(loaded, calibration=cal, calibration_raw=raw)
        side = "left" if i % 2 == 0 else "right"
        arenas.append(ArenaSpec(region, arena_loaded, MockBoard(f"demo-{region.name}"), f"demo-{region.name}", side))
    source = TiledSynthetic(
        (1280, 1024), regions, [a.loaded.calibration for a in arenas], [7 + i for i in range(n)], fps=30.0
    )
    return _attach_logs(MultiArenaRunner(source, arenas, out, speed=speed, simulated=True))


def _attach_logs(multi: MultiArenaRunner) -> MultiArenaRunner:
    from rig.session.logfile import attach_session_log

    for runner in multi.runners:
        attach_session_log(runner)
    return multi


def main(argv: list[str] | None = None) -> int:
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from rig.gui.widgets.arena_grid import ArenaGrid

    args = list(sys.argv[1:] if argv is None else argv)
    screenshot = None
    if "--screenshot" in args:
        k = args.index("--screenshot")
        screenshot = Path(args[k + 1])
        del args[k : k + 2]
    rig_path = None
    if "--rig" in args:
        k = args.index("--rig")
        rig_path = Path(args[k + 1])
        del args[k : k + 2]
    n = int(args[0]) if args else 4
    # 45 s: past arming and the 30 s baseline, into the closed-loop phase.
    shoot_after_ms = 45000
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        multi = build_demo(n, Path(tmp), rig_path=rig_path)
        grid = ArenaGrid(multi)
        grid.resize(1280, 900)
        grid.show()
        worker = threading.Thread(target=multi.run, daemon=True)
        worker.start()
        if screenshot is not None:
            def shoot() -> None:
                grid.refresh()
                grid.grab().save(str(screenshot))
                multi.request_stop()
                app.quit()

            QTimer.singleShot(shoot_after_ms, shoot)
        app.exec()
        multi.request_stop()
        worker.join(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
