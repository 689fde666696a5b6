"""One camera, several arena regions: every frame is read once and each arena gets its
crop; a closed arena never holds the others back; regions are checked. Fails on the old
code (no region views)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from rig.devices.frames import Frame
from rig.devices.regions import Region, SharedFrames, check_regions, grid_regions


class _Counter:
    """A 200x100 source whose pixel values encode the frame index; counts reads."""

    def __init__(self, n: int = 50) -> None:
        self.n = n
        self.reads = 0
        self.opened = self.closed = 0

    name = "counter"
    fps = 30.0
    frame_size = (200, 100)
    is_live = False

    def open(self) -> None:
        self.opened += 1

    def read(self) -> Frame | None:
        if self.reads >= self.n:
            return None
        self.reads += 1
        i = self.reads - 1
        image = np.full((100, 200), i % 256, dtype=np.uint8)
        image[:, 100:] += 1
        return Frame(index=i, t_s=i / 30.0, captured_ns=1000 + i, image=image)

    def close(self) -> None:
        self.closed += 1


def test_each_frame_is_read_once_and_cut_into_every_region() -> None:
    source = _Counter()
    regions = grid_regions(2, (200, 100))
    shared = SharedFrames(source, regions)
    got: dict[str, list[Frame]] = {r.name: [] for r in regions}

    def consume(view: object, name: str) -> None:
        with view:  # type: ignore[attr-defined]
            while (frame := view.read()) is not None:  # type: ignore[attr-defined]
                got[name].append(frame)

    threads = [threading.Thread(target=consume, args=(v, r.name)) for v, r in zip(shared.views, regions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert source.reads == 50 and shared.frames_read == 50
    assert source.opened == 1 and source.closed == 1
    for name, offset in (("A", 0), ("B", 1)):
        frames = got[name]
        assert [f.index for f in frames] == list(range(50))
        assert all(f.image.shape == (100, 100) for f in frames)
        assert all(int(f.image[0, 0]) == f.index + offset for f in frames)
        assert [f.captured_ns for f in frames] == [1000 + i for i in range(50)]


def test_a_closed_view_does_not_hold_the_others_back() -> None:
    source = _Counter(n=40)
    shared = SharedFrames(source, grid_regions(2, (200, 100)), max_lead=3)
    a, b = shared.views
    a.open()
    b.open()
    assert b.read() is not None
    b.close()  # arena B ended (e.g. on a fault) after one frame
    frames = []
    while (frame := a.read()) is not None:
        frames.append(frame)
    assert len(frames) == 40


def test_regions_are_checked() -> None:
    with pytest.raises(ValueError, match="not inside"):
        check_regions([Region("A", 150, 0, 100, 100)], (200, 100))
    with pytest.raises(ValueError, match="overlap"):
        check_regions([Region("A", 0, 0, 120, 100), Region("B", 100, 0, 100, 100)], (200, 100))
    with pytest.raises(ValueError, match="unique"):
        check_regions([Region("A", 0, 0, 50, 50), Region("A", 100, 0, 50, 50)], (200, 100))
    assert [(r.x_px, r.y_px, r.width_px, r.height_px) for r in grid_regions(4, (1280, 1024))] == [
        (0, 0, 640, 512), (640, 0, 640, 512), (0, 512, 640, 512), (640, 512, 640, 512)
    ]
