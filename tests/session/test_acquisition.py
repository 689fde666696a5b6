from __future__ import annotations

import threading

import numpy as np

from rig.clock import ManualClock
from rig.devices.frames import Frame
from rig.errors import CameraLost
from rig.session.acquisition import AcquisitionThread, LatestFrameSlot
from tests.session.helpers import ScriptedSource

IMAGE = np.zeros((4, 4), np.uint8)


def _frame(i: int) -> Frame:
    return Frame(i, i / 30, 0, IMAGE)


def test_slot_keeps_newest_and_counts_drops() -> None:
    slot = LatestFrameSlot()
    for i in range(5):
        slot.put(_frame(i))
    taken = slot.take(0)
    assert taken is not None and taken.index == 4
    assert slot.dropped == 4
    assert slot.take(0) is None


def test_slot_close_with_error_wakes_taker() -> None:
    slot = LatestFrameSlot()
    slot.close(CameraLost("gone"))
    assert slot.take(10) is None
    assert slot.closed and isinstance(slot.error, CameraLost)


def test_put_wait_applies_back_pressure() -> None:
    slot = LatestFrameSlot()
    stop = threading.Event()
    assert slot.put_wait(_frame(0), stop)
    done = threading.Event()
    result: list[bool] = []

    def producer() -> None:
        result.append(slot.put_wait(_frame(1), stop))
        done.set()

    thread = threading.Thread(target=producer)
    thread.start()
    assert not done.wait(0.05)  # blocked while the slot is full
    first = slot.take(1)
    assert first is not None and first.index == 0
    thread.join(5)
    assert result == [True]
    second = slot.take(1)
    assert second is not None and second.index == 1
    assert slot.dropped == 0


def test_paced_acquisition_follows_source_time(manual_clock: ManualClock) -> None:
    source = ScriptedSource(fps=10.0, n_frames=5)
    slot = LatestFrameSlot()
    stop = threading.Event()
    thread = AcquisitionThread(source, slot, manual_clock, speed=2.0, stop=stop)
    thread.start()
    taken = [slot.take(5) for _ in range(5)]  # a recorded source waits for the loop
    thread.join(5)
    # 5 frames at 10 fps, twice real time: the last is due 0.2 s after the first
    assert manual_clock.now_ns() == 200_000_000
    assert slot.closed is False or slot.error is None
    assert slot.delivered == 5 and [f.index for f in taken if f is not None] == [0, 1, 2, 3, 4]
    assert slot.dropped == 0


def test_paced_recorded_source_late_is_slowed_not_dropped(manual_clock: ManualClock) -> None:
    """A paced replay whose loop is slow (busy machine): every frame is handed over, none
    dropped. The old code put late frames into the slot back to back (dropping them)."""
    source = ScriptedSource(fps=10.0, n_frames=20)
    slot = LatestFrameSlot()
    stop = threading.Event()
    thread = AcquisitionThread(source, slot, manual_clock, speed=1.0, stop=stop)
    thread.start()
    indices = []
    for _ in range(20):
        frame = slot.take(5)
        assert frame is not None
        indices.append(frame.index)
        manual_clock.advance_s(0.5)  # the loop takes 5 frame intervals per frame
    thread.join(5)
    assert indices == list(range(20)) and slot.dropped == 0


def test_max_speed_hands_over_every_frame() -> None:
    source = ScriptedSource(n_frames=50)
    slot = LatestFrameSlot()
    stop = threading.Event()
    thread = AcquisitionThread(source, slot, ManualClock(), speed=None, stop=stop)
    thread.start()
    seen = []
    while (frame := slot.take(5)) is not None:
        seen.append(frame.index)
    thread.join(5)
    assert seen == list(range(50)) and slot.dropped == 0


def test_source_error_is_handed_to_the_consumer() -> None:
    source = ScriptedSource(fail_after=3, error=CameraLost("unplugged"))
    slot = LatestFrameSlot()
    thread = AcquisitionThread(source, slot, ManualClock(), speed=None, stop=threading.Event())
    thread.start()
    indices = []
    while (frame := slot.take(5)) is not None:
        indices.append(frame.index)
    thread.join(5)
    assert indices == [0, 1, 2]
    assert isinstance(slot.error, CameraLost)
