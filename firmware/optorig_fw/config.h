/* optorig firmware: shared constants.
 *
 * This header is the single source of truth for the firmware's pins, limits, sysex
 * command ids and version. tests/firmware/test_config_constants.py parses every
 * #define below and compares it with rig/devices/limits.py and
 * rig/devices/firmata_board.py, so change both sides together.
 */
#ifndef OPTORIG_CONFIG_H
#define OPTORIG_CONFIG_H

/* ---- identity ---------------------------------------------------------- */
#define OPTORIG_FW_NAME "optorig"
#define OPTORIG_FW_VERSION_MAJOR 1
#define OPTORIG_FW_VERSION_MINOR 2
#define OPTORIG_FW_VERSION_PATCH 0
/* Version of the sysex extension protocol (bumped on incompatible changes). */
#define OPTORIG_PROTOCOL_VERSION 3
/* Firmata protocol version reported (0xF9). */
#define FIRMATA_PROTOCOL_MAJOR 2
#define FIRMATA_PROTOCOL_MINOR 5

/* ---- clock and serial ---------------------------------------------------- */
#define OPTORIG_F_CPU_HZ 16000000UL
#define OPTORIG_BAUD 57600UL
/* Timer1, prescaler 8: one tick = 0.5 us. */
#define OPTORIG_TICKS_PER_US 2

/* ---- default pins (Arduino Uno digital pin numbers) ---------------------- */
#define LASER_PIN_DEFAULT 9       /* laser driver TTL input (active high) */
#define PWM_PIN_NONE 127          /* "no analog-modulation pin" */
#define INTERLOCK_PIN_NONE 127    /* "no interlock wired" */
#define INTERLOCK_PIN_DEFAULT 2   /* suggested door/key switch input */
#define PWM_PIN_DEFAULT 3         /* suggested analog-modulation output (Timer2 OC2B) */
#define SYNC_PIN_DEFAULT 7        /* camera-sync TTL output */
#define TRIGGER_PIN_DEFAULT 8     /* camera trigger TTL output (to the camera's opto-in line) */
#define SYNC_LED_PIN_DEFAULT 12   /* sync LED output (visible to the camera) */

/* ---- laser channels ------------------------------------------------------- */
/* Independent laser channels (gate, train, cap, watchdog, interlock each); indices 0..3. */
#define OPTORIG_CHANNELS 4
/* Channel byte of an event that belongs to the board, not a channel (READY, SYNC, acks). */
#define CHANNEL_BOARD 0x7F

/* ---- limits ------------------------------------------------------------- */
#define WATCHDOG_TIMEOUT_MS_DEFAULT 300
#define WATCHDOG_TIMEOUT_MS_MIN 50
#define WATCHDOG_TIMEOUT_MS_MAX 5000
#define HEARTBEAT_PERIOD_MS 100
#define MAX_FREQUENCY_HZ 500
#define MIN_PULSE_WIDTH_US 500
/* Shortest low time between two pulses of a train. */
#define MIN_PULSE_GAP_US 500
/* Camera trigger: 1..500 frames/s, pulse at least 100 us high and 100 us low. */
#define TRIGGER_MIN_PERIOD_US 2000UL
#define TRIGGER_MAX_PERIOD_US 1000000UL
#define TRIGGER_MIN_WIDTH_US 100
#define TRIGGER_MIN_GAP_US 100
/* Default firmware cap on one continuous gate-open window. */
#define MAX_ON_MS_DEFAULT 30000UL

/* ---- sysex command ids (user range 0x00-0x0F) ---------------------------- */
#define SYSEX_OPTORIG_IDENTIFY 0x01   /* host->fw query; fw->host identity reply */
#define SYSEX_OPTORIG_CONFIG 0x02     /* host->fw [channel, 24 bytes] laser channel configuration */
#define SYSEX_OPTORIG_GATE 0x03       /* host->fw [channel, 1 = open / 0 = closed] */
#define SYSEX_OPTORIG_HEARTBEAT 0x04  /* host->fw [channel_mask, token], every HEARTBEAT_PERIOD_MS */
#define SYSEX_OPTORIG_ARM 0x05        /* host->fw [channel]: (re-)arm after a watchdog trip */
#define SYSEX_OPTORIG_SYNC 0x06       /* host->fw camera-sync configuration */
#define SYSEX_OPTORIG_EVENT 0x07      /* fw->host event report */
#define SYSEX_OPTORIG_TRIGGER 0x08    /* host->fw camera-trigger configuration */

/* ---- event kinds (first byte of an EVENT sysex) -------------------------- */
#define EVENT_READY 0
#define EVENT_GATE_OPENED 1
#define EVENT_GATE_CLOSED 2
#define EVENT_WATCHDOG 3
#define EVENT_CAP 4
#define EVENT_INTERLOCK 5
#define EVENT_SYNC 6
#define EVENT_HEARTBEAT_ACK 7
#define EVENT_REFUSED 8
#define EVENT_CONFIG_ACK 9
#define EVENT_INTERLOCK_CLEARED 10
#define EVENT_ARMED 11
#define EVENT_TRIGGER 12   /* pulses = trigger count since enable, device_us = rising edge */

/* ---- reasons (last byte of an EVENT sysex) ------------------------------- */
#define REASON_HOST 0
#define REASON_WATCHDOG 1
#define REASON_CAP 2
#define REASON_INTERLOCK 3
#define REASON_CONFIG 4
#define REASON_NOT_ARMED 5
#define REASON_BAD_CONFIG 6
#define REASON_RESET 7
#define REASON_PIN_CONFLICT 8   /* CONFIG/SYNC/TRIGGER refused: two roles on one pin, or a bad pin */

/* ---- polarity of the laser TTL (last CONFIG byte) ----------------------- */
#define POLARITY_ACTIVE_HIGH 0
#define POLARITY_ACTIVE_LOW 1

/* ---- wire layout --------------------------------------------------------- */
/* CONFIG payload bytes (after the sysex id): the channel, then 24 bytes; docs/firmware.md
 * lists them one by one. */
#define CONFIG_PAYLOAD_BYTES 25
/* SYNC payload bytes (after the sysex id). */
#define SYNC_PAYLOAD_BYTES 9
/* TRIGGER payload bytes: enable, pin, period_us (4), width_us (3), report_every (2). */
#define TRIGGER_PAYLOAD_BYTES 11
/* EVENT: kind, device_us (7 x 7 bits = 49 bits, wraps after 17.8 years), pulses (3), level, reason,
 * channel (CHANNEL_BOARD for board events) */
#define EVENT_US_BYTES 7
#define EVENT_PULSES_BYTES 3
#define EVENT_PAYLOAD_BYTES 14
/* IDENTIFY reply: proto, major, minor, patch, armed (mask over channels), gate_open (mask),
 * channels, replies_dropped (3), events_dropped (3), then the build hash (ASCII). */
#define IDENTIFY_FIXED_BYTES 13
#define IDENTIFY_DROPPED_BYTES 3

/* ---- safety core timing -------------------------------------------------- */
/* The safety tick (Timer1 COMPB) runs every SAFETY_TICK_US; millis advances every 4 ticks. */
#define SAFETY_TICK_US 250
/* Received bytes the main loop parses per iteration (bounded iteration time). */
#define RX_BUDGET_PER_LOOP 16

/* ---- modes --------------------------------------------------------------- */
#define MODE_CONTINUOUS 0
#define MODE_PULSE_TRAIN 1

#endif
