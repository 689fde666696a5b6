"""What the project's firmware can generate. Checked against firmware/*.h by a test."""

from __future__ import annotations

#: Highest pulse-train frequency the firmware's timer generates.
FIRMWARE_MAX_FREQUENCY_HZ = 500.0
#: Shortest pulse the firmware generates.
FIRMWARE_MIN_PULSE_WIDTH_MS = 0.5
#: Host heartbeat period and firmware watchdog default.
HEARTBEAT_PERIOD_MS = 100
WATCHDOG_TIMEOUT_MS = 300
