"""What the project's firmware can generate. Checked against firmware/optorig_fw/config.h
by tests/firmware/test_config_constants.py."""

from __future__ import annotations

#: Highest pulse-train frequency the firmware's timer generates.
FIRMWARE_MAX_FREQUENCY_HZ = 500.0
#: Shortest pulse the firmware generates.
FIRMWARE_MIN_PULSE_WIDTH_MS = 0.5
#: Shortest low time between two pulses of a train.
FIRMWARE_MIN_PULSE_GAP_MS = 0.5
#: Host heartbeat period and firmware watchdog default.
HEARTBEAT_PERIOD_MS = 100
WATCHDOG_TIMEOUT_MS = 300
#: Range of watchdog timeouts the firmware accepts.
WATCHDOG_TIMEOUT_MS_MIN = 50
WATCHDOG_TIMEOUT_MS_MAX = 5000
#: Default Uno pins (Arduino digital numbering).
LASER_PIN_DEFAULT = 9
INTERLOCK_PIN_DEFAULT = 2
PWM_PIN_DEFAULT = 3
SYNC_PIN_DEFAULT = 7
SYNC_LED_PIN_DEFAULT = 12
TRIGGER_PIN_DEFAULT = 8
#: Camera trigger the firmware generates: frame rates and pulse limits.
TRIGGER_MIN_FPS = 1.0
TRIGGER_MAX_FPS = 500.0
TRIGGER_MIN_WIDTH_MS = 0.1
TRIGGER_MIN_GAP_MS = 0.1
#: Pins that can carry the analog-modulation PWM (Timer0/Timer2 outputs).
PWM_CAPABLE_PINS = (3, 5, 6, 11)
#: Laser channels of one board (firmware protocol 3) and their default laser pins: channel 0
#: keeps LASER_PIN_DEFAULT; the others avoid the default interlock (D2), PWM (D3), sync (D7),
#: trigger (D8) and LED (D12) pins, the other PWM-capable pins and D13 (the bootloader blinks
#: it at reset).
LASER_CHANNELS = 4
CHANNEL_LASER_PINS_DEFAULT = (9, 10, 4, 14)
