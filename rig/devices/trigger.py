"""The board-generated camera trigger: limits, the wire payload, and the timeline that turns
the board's TRIGGER reports into the device time of every trigger edge.

The firmware makes trigger k's rising edge at ``first + (k - 1) * period`` on its own clock
(absolute tick times, no drift) and reports every ``report_every``-th one, so the time of
an unreported edge is exact from the nearest report before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rig.devices import firmata_codes as fc
from rig.devices.board import BoardEvent, BoardEventKind, TriggerConfig
from rig.devices.limits import TRIGGER_MAX_FPS, TRIGGER_MIN_FPS, TRIGGER_MIN_GAP_MS, TRIGGER_MIN_WIDTH_MS
from rig.errors import ConfigError


def validate_trigger_config(config: TriggerConfig) -> None:
    """Raise ConfigError (naming the field) if the firmware cannot generate ``config``."""
    if not TRIGGER_MIN_FPS <= config.fps <= TRIGGER_MAX_FPS:
        raise ConfigError(f"trigger.fps: must be in [{TRIGGER_MIN_FPS:g}, {TRIGGER_MAX_FPS:g}], got {config.fps}")
    period_ms = config.period_us / 1000.0
    if config.width_ms < TRIGGER_MIN_WIDTH_MS or config.width_ms + TRIGGER_MIN_GAP_MS > period_ms:
        raise ConfigError(
            f"trigger.width_ms: must be >= {TRIGGER_MIN_WIDTH_MS} ms and leave {TRIGGER_MIN_GAP_MS} ms "
            f"low in the {period_ms:.3f} ms frame period, got {config.width_ms}"
        )
    if not 2 <= config.pin <= 19:
        raise ConfigError(f"trigger.pin: must be an Uno digital pin 2..19, got {config.pin}")
    if not 1 <= config.reports_every < 1 << 14:
        raise ConfigError(f"trigger.report_every: must be in [1, 16383], got {config.report_every}")


def trigger_payload(config: TriggerConfig | None) -> bytes:
    """SYSEX TRIGGER payload: enable, pin, period_us (4 x 7 bits), width_us (3), report_every (2)."""
    if config is None:
        return bytes([0, fc.TRIGGER_PIN_DEFAULT]) + fc.to7(0, 4) + fc.to7(0, 3) + fc.to7(1, 2)
    return (
        bytes([1, config.pin])
        + fc.to7(config.period_us, 4)
        + fc.to7(config.width_us, 3)
        + fc.to7(config.reports_every, 2)
    )


@dataclass
class TriggerTimeline:
    """Device time of every trigger edge of one enable, from the board's TRIGGER events.

    Counts arrive modulo 2**21 (the event's 3 x 7-bit field) and are unwrapped here.
    """

    period_us: int
    #: (trigger index from 1, device_us of its rising edge), in order
    reports: list[tuple[int, int]] = field(default_factory=list)
    #: triggers sent, from the final report when the trigger was stopped
    final_count: int | None = None

    def _unwrap(self, count: int) -> int:
        last = self.reports[-1][0] if self.reports else 0
        base = last - last % fc.TRIGGER_COUNT_MODULO
        value = base + count
        if value < last:
            value += fc.TRIGGER_COUNT_MODULO
        return value

    def add(self, event: BoardEvent) -> None:
        if event.kind is not BoardEventKind.TRIGGER or event.pulses is None:
            return
        count = self._unwrap(event.pulses)
        if event.pin_level == 0:
            self.final_count = count
        elif event.device_us is not None:
            self.reports.append((count, event.device_us))

    @property
    def sent(self) -> int:
        """Triggers the board reports as made (the final count once stopped)."""
        if self.final_count is not None:
            return self.final_count
        return self.reports[-1][0] if self.reports else 0

    def edge_us(self, index: int) -> int | None:
        """Device time (us) of trigger ``index`` (from 1), or None before the first report or
        past the final count."""
        if not self.reports or index < 1:
            return None
        if self.final_count is not None and index > self.final_count:
            return None  # the board stopped after final_count edges: no time for one it never made
        # the nearest report at or before ``index`` (reports are in order)
        lo, hi = 0, len(self.reports) - 1
        if index < self.reports[0][0]:
            ref_index, ref_us = self.reports[0]
        else:
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self.reports[mid][0] <= index:
                    lo = mid
                else:
                    hi = mid - 1
            ref_index, ref_us = self.reports[lo]
        return ref_us + (index - ref_index) * self.period_us
