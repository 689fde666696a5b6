"""Camera-to-light latency self-test on the synthetic camera (prints numbers, asserts
nothing): for simulated camera delays of 0, 33 and 66 ms at 30 fps, the LED command ->
first frame showing it, over 120 s of media time (~60 flashes each).

Time is the media clock (mock board and synthetic camera share it), so the numbers do not
depend on the machine's load. Expected: every sample in [delay, delay + 33.3 ms), p50
about delay + half a frame period.
"""

from __future__ import annotations

from rig.clock import MediaClock
from rig.devices.mock_board import MockBoard
from rig.devices.synthetic import DEFAULT_LED_ROI, SyntheticArena
from rig.protocol.load import load_default_protocol
from rig.session.latency import LatencyTestSettings, measure_latency

FPS = 30.0
SECONDS = 120.0


def main() -> None:
    calibration = load_default_protocol().calibration
    settings = LatencyTestSettings(led_roi=DEFAULT_LED_ROI)
    print(f"camera-to-light self-test, synthetic camera at {FPS:g} fps, {SECONDS:g} s media time each")
    print(f"{'delay ms':>9} {'flashes':>8} {'seen':>5} {'missed':>7} {'min':>7} {'p50':>7} {'p99':>7} {'max':>7}  error vs delay (ms)")
    for delay_ms in (0.0, 33.0, 66.0):
        clock = MediaClock()
        board = MockBoard("mock", clock=clock)
        source = SyntheticArena(
            calibration, fps=FPS, seed=1, noise=2.0, sync_led=board, camera_delay_s=delay_ms / 1000
        )
        result = measure_latency(source, board, settings, SECONDS, media_clock=clock)
        values = [s.led_to_frame_ms for s in result.samples]
        stats = result.led_to_frame_ms
        low, high = min(values) - delay_ms, max(values) - delay_ms
        print(
            f"{delay_ms:9.1f} {len(values) + result.missed:8d} {len(values):5d} {result.missed:7d} "
            f"{min(values):7.2f} {stats['p50']:7.2f} {stats['p99']:7.2f} {max(values):7.2f}  "
            f"[{low:+.2f}, {high:+.2f}] (frame period {1000 / FPS:.2f})"
        )


if __name__ == "__main__":
    main()
