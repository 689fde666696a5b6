/* optorig firmware for Arduino Uno (ATmega328P, 16 MHz), plain avr-libc.
 *
 * Speaks Firmata 2.5 (version/firmware reports, capability, analog-mapping and pin-state
 * queries, pin modes, digital/analog write, digital/analog reporting, sampling interval)
 * plus the optorig sysex extensions in config.h: a device-timed laser gate with pulse
 * train, host watchdog, continuous-on cap, interlock and camera-sync output.
 *
 * Timing: Timer1 runs free at 0.5 us per tick (prescaler 8). Laser edges are produced in
 * the TIMER1_COMPA interrupt, sync edges in TIMER1_COMPB, so edge jitter is bounded by the
 * interrupt latency (a few us), never by the serial link.
 *
 * Safety: the laser pin is driven LOW in .init3, before the C runtime even clears memory.
 * The gate closes on: host command, host watchdog expiry, continuous-on cap, interlock,
 * configuration change, Firmata system reset. The AVR hardware watchdog resets the chip
 * (laser LOW again) if this program ever stalls.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/wdt.h>
#include <stdint.h>

#include "config.h"

#ifndef OPTORIG_BUILD_HASH
#define OPTORIG_BUILD_HASH "unknown"
#endif

/* ===================================================================== pins */

#define NUM_PINS 20 /* D0..D13, A0..A5 = D14..D19 */

static volatile uint8_t *pin_port(uint8_t pin) {
    if (pin < 8) return &PORTD;
    if (pin < 14) return &PORTB;
    return &PORTC;
}
static volatile uint8_t *pin_ddr(uint8_t pin) {
    if (pin < 8) return &DDRD;
    if (pin < 14) return &DDRB;
    return &DDRC;
}
static volatile uint8_t *pin_in(uint8_t pin) {
    if (pin < 8) return &PIND;
    if (pin < 14) return &PINB;
    return &PINC;
}
static uint8_t pin_mask(uint8_t pin) {
    if (pin < 8) return (uint8_t)(1u << pin);
    if (pin < 14) return (uint8_t)(1u << (pin - 8));
    return (uint8_t)(1u << (pin - 14));
}

/* The default laser pin (D9 = PB1) is forced LOW before anything else runs. */
void optorig_early_laser_off(void) __attribute__((naked, used, section(".init3")));
void optorig_early_laser_off(void) {
    PORTB &= (uint8_t)~_BV(1);
    DDRB |= _BV(1);
    MCUSR = 0;
    WDTCSR = _BV(WDCE) | _BV(WDE); /* a watchdog reset leaves the WDT on: turn it off */
    WDTCSR = 0;
}

/* ================================================================= the clock */

static volatile uint32_t timer1_overflows;

ISR(TIMER1_OVF_vect) { timer1_overflows++; }

/* Ticks (0.5 us) as a 48-bit value in a uint64; call with interrupts disabled. */
static uint64_t ticks64_locked(void) {
    uint16_t t = TCNT1;
    uint32_t o = timer1_overflows;
    if ((TIFR1 & _BV(TOV1)) && t < 0x8000u) o++;
    return ((uint64_t)o << 16) | t;
}
static uint32_t ticks32_locked(void) {
    uint16_t t = TCNT1;
    uint16_t o = (uint16_t)timer1_overflows;
    if ((TIFR1 & _BV(TOV1)) && t < 0x8000u) o++;
    return ((uint32_t)o << 16) | t;
}
static uint64_t micros64(void) {
    uint8_t s = SREG;
    cli();
    uint64_t t = ticks64_locked();
    SREG = s;
    return t >> 1;
}
static uint32_t ticks32(void) {
    uint8_t s = SREG;
    cli();
    uint32_t t = ticks32_locked();
    SREG = s;
    return t;
}

/* Millisecond counter advanced from the tick clock by the main loop. */
static uint32_t millis_now;
static uint32_t millis_last_ticks;
static void millis_update(void) {
    uint32_t t = ticks32();
    while ((uint32_t)(t - millis_last_ticks) >= 2000u) {
        millis_last_ticks += 2000u;
        millis_now++;
    }
}

/* ==================================================================== serial */

#define RX_SIZE 128
#define TX_SIZE 256
static volatile uint8_t rx_buf[RX_SIZE];
static volatile uint8_t rx_head, rx_tail;
static volatile uint8_t tx_buf[TX_SIZE];
static volatile uint8_t tx_head, tx_tail;

ISR(USART_RX_vect) {
    uint8_t c = UDR0;
    uint8_t next = (uint8_t)((rx_head + 1) % RX_SIZE);
    if (next != rx_tail) {
        rx_buf[rx_head] = c;
        rx_head = next;
    }
}

ISR(USART_UDRE_vect) {
    if (tx_head == tx_tail) {
        UCSR0B &= (uint8_t)~_BV(UDRIE0);
        return;
    }
    UDR0 = tx_buf[tx_tail];
    tx_tail = (uint8_t)(tx_tail + 1); /* TX_SIZE == 256 wraps naturally */
}

static void serial_init(void) {
    uint16_t ubrr = (uint16_t)((OPTORIG_F_CPU_HZ / 4 / OPTORIG_BAUD - 1) / 2);
    UCSR0A = _BV(U2X0);
    UBRR0H = (uint8_t)(ubrr >> 8);
    UBRR0L = (uint8_t)ubrr;
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);
    UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);
}

static int16_t serial_read(void) {
    if (rx_head == rx_tail) return -1;
    uint8_t c = rx_buf[rx_tail];
    rx_tail = (uint8_t)((rx_tail + 1) % RX_SIZE);
    return c;
}

static void serial_write(uint8_t c) {
    uint8_t next = (uint8_t)(tx_head + 1);
    while (next == tx_tail) {
        wdt_reset(); /* the UDRE interrupt drains the buffer */
    }
    tx_buf[tx_head] = c;
    tx_head = next;
    UCSR0B |= _BV(UDRIE0);
}

static void write7(uint32_t value, uint8_t nbytes) {
    for (uint8_t i = 0; i < nbytes; i++) {
        serial_write((uint8_t)(value & 0x7F));
        value >>= 7;
    }
}

static void write7_64(uint64_t value, uint8_t nbytes) {
    for (uint8_t i = 0; i < nbytes; i++) {
        serial_write((uint8_t)(value & 0x7F));
        value >>= 7;
    }
}

/* ================================================================ laser gate */

typedef struct {
    uint8_t mode;
    uint8_t ttl_pin;
    uint32_t period_ticks;
    uint32_t width_ticks;
    uint32_t max_on_ms;
    uint16_t watchdog_ms;
    uint8_t pwm_pin;
    uint8_t pwm_level;
    uint16_t ramp_down_ms;
    uint8_t interlock_pin;
    uint8_t interlock_trip_level;
} laser_config_t;

static laser_config_t cfg;

/* Shared with TIMER1_COMPA. */
static volatile uint8_t *volatile laser_port = &PORTB;
static volatile uint8_t laser_mask = _BV(1);
static volatile uint8_t train_running;
static volatile uint8_t laser_level;
static volatile uint32_t next_edge;
static volatile uint32_t rise_time;
static volatile uint32_t pulses_delivered;

static uint8_t gate_is_open;
static uint8_t armed;
static uint32_t gate_opened_ms;
static uint32_t last_heartbeat_ms;
static uint8_t interlock_tripped;
static uint8_t ramp_active;
static uint32_t ramp_start_ms;

ISR(TIMER1_COMPA_vect) {
    if (!train_running) return;
    uint32_t now = ticks32_locked();
    if ((int32_t)(next_edge - now) > 16) {
        OCR1A = (uint16_t)next_edge; /* edge is one or more timer wraps away */
        return;
    }
    if (laser_level) {
        *laser_port &= (uint8_t)~laser_mask;
        laser_level = 0;
        rise_time += cfg.period_ticks;
        next_edge = rise_time;
    } else {
        *laser_port |= laser_mask;
        laser_level = 1;
        pulses_delivered++;
        next_edge = rise_time + cfg.width_ticks;
    }
    OCR1A = (uint16_t)next_edge;
}

static uint8_t laser_pin_level(void) {
    return (*pin_in(cfg.ttl_pin) & pin_mask(cfg.ttl_pin)) ? 1 : 0;
}

static void pwm_set(uint8_t pin, uint8_t level) {
    /* Timer2 fast PWM: D3 = OC2B, D11 = OC2A. Timer0: D5 = OC0B, D6 = OC0A. */
    if (pin == 3) {
        if (level) { OCR2B = level; TCCR2A |= _BV(COM2B1); }
        else { TCCR2A &= (uint8_t)~_BV(COM2B1); PORTD &= (uint8_t)~_BV(3); }
    } else if (pin == 11) {
        if (level) { OCR2A = level; TCCR2A |= _BV(COM2A1); }
        else { TCCR2A &= (uint8_t)~_BV(COM2A1); PORTB &= (uint8_t)~_BV(3); }
    } else if (pin == 5) {
        if (level) { OCR0B = level; TCCR0A |= _BV(COM0B1); }
        else { TCCR0A &= (uint8_t)~_BV(COM0B1); PORTD &= (uint8_t)~_BV(5); }
    } else if (pin == 6) {
        if (level) { OCR0A = level; TCCR0A |= _BV(COM0A1); }
        else { TCCR0A &= (uint8_t)~_BV(COM0A1); PORTD &= (uint8_t)~_BV(6); }
    }
}

static void send_event(uint8_t kind, uint64_t us, uint32_t pulses, uint8_t level, uint8_t reason) {
    serial_write(0xF0);
    serial_write(SYSEX_OPTORIG_EVENT);
    serial_write(kind);
    write7_64(us, 6);
    write7(pulses, 3);
    serial_write(level & 0x7F);
    serial_write(reason & 0x7F);
    serial_write(0xF7);
}

static void send_event_now(uint8_t kind, uint8_t reason) {
    send_event(kind, micros64(), 0, laser_pin_level(), reason);
}

/* Drive the laser off: stop the train and pull the pin LOW (interrupts off inside). */
static void laser_force_low(void) {
    uint8_t s = SREG;
    cli();
    TIMSK1 &= (uint8_t)~_BV(OCIE1A);
    train_running = 0;
    *laser_port &= (uint8_t)~laser_mask;
    laser_level = 0;
    SREG = s;
}

static void gate_close(uint8_t reason) {
    if (!gate_is_open) return;
    laser_force_low();
    uint64_t us = micros64();
    gate_is_open = 0;
    if (cfg.pwm_pin != PWM_PIN_NONE) {
        if (reason == REASON_HOST && cfg.ramp_down_ms > 0) {
            ramp_active = 1;
            ramp_start_ms = millis_now;
        } else {
            ramp_active = 0;
            pwm_set(cfg.pwm_pin, 0);
        }
    }
    send_event(EVENT_GATE_CLOSED, us, pulses_delivered, laser_pin_level(), reason);
}

static void gate_open(void) {
    if (gate_is_open) return;
    if (!armed) { send_event_now(EVENT_REFUSED, REASON_NOT_ARMED); return; }
    if (interlock_tripped) { send_event_now(EVENT_REFUSED, REASON_INTERLOCK); return; }
    ramp_active = 0;
    if (cfg.pwm_pin != PWM_PIN_NONE) pwm_set(cfg.pwm_pin, cfg.pwm_level);
    uint8_t s = SREG;
    cli();
    uint32_t now = ticks32_locked();
    uint64_t now64 = ticks64_locked();
    *laser_port |= laser_mask;
    laser_level = 1;
    pulses_delivered = 1;
    if (cfg.mode == MODE_PULSE_TRAIN) {
        rise_time = now;
        next_edge = now + cfg.width_ticks;
        OCR1A = (uint16_t)next_edge;
        TIFR1 = _BV(OCF1A);
        train_running = 1;
        TIMSK1 |= _BV(OCIE1A);
    }
    SREG = s;
    gate_is_open = 1;
    gate_opened_ms = millis_now;
    send_event(EVENT_GATE_OPENED, now64 >> 1, 0, laser_pin_level(), REASON_HOST);
}

static uint8_t pin_reserved(uint8_t pin);

static void config_defaults(void) {
    cfg.mode = MODE_PULSE_TRAIN;
    cfg.ttl_pin = LASER_PIN_DEFAULT;
    cfg.period_ticks = 50000UL * OPTORIG_TICKS_PER_US;
    cfg.width_ticks = 15000UL * OPTORIG_TICKS_PER_US;
    cfg.max_on_ms = MAX_ON_MS_DEFAULT;
    cfg.watchdog_ms = WATCHDOG_TIMEOUT_MS_DEFAULT;
    cfg.pwm_pin = PWM_PIN_NONE;
    cfg.pwm_level = 255;
    cfg.ramp_down_ms = 0;
    cfg.interlock_pin = INTERLOCK_PIN_NONE;
    cfg.interlock_trip_level = 1;
}

static void apply_laser_pin(uint8_t pin) {
    laser_force_low();
    laser_port = pin_port(pin);
    laser_mask = pin_mask(pin);
    *pin_port(pin) &= (uint8_t)~pin_mask(pin);
    *pin_ddr(pin) |= pin_mask(pin);
}

static uint32_t read7(const uint8_t *data, uint8_t nbytes) {
    uint32_t v = 0;
    for (uint8_t i = nbytes; i > 0; i--) v = (v << 7) | (data[i - 1] & 0x7F);
    return v;
}

static uint8_t valid_pin(uint8_t pin) { return pin >= 2 && pin < NUM_PINS; }

/* CONFIG payload: mode, ttl_pin, period_us(4), width_us(4), max_on_ms(4), watchdog_ms(2),
 * pwm_pin, pwm_level(2), ramp_down_ms(2), interlock_pin, interlock_trip_level = 24 bytes */
static void handle_config(const uint8_t *d, uint8_t n) {
    if (n < 24) { send_event_now(EVENT_REFUSED, REASON_BAD_CONFIG); return; }
    laser_config_t c;
    c.mode = d[0];
    c.ttl_pin = d[1];
    uint32_t period_us = read7(d + 2, 4);
    uint32_t width_us = read7(d + 6, 4);
    c.max_on_ms = read7(d + 10, 4);
    c.watchdog_ms = (uint16_t)read7(d + 14, 2);
    c.pwm_pin = d[16];
    c.pwm_level = (uint8_t)read7(d + 17, 2);
    c.ramp_down_ms = (uint16_t)read7(d + 19, 2);
    c.interlock_pin = d[21];
    c.interlock_trip_level = d[22] ? 1 : 0;
    uint8_t ok = (c.mode == MODE_CONTINUOUS || c.mode == MODE_PULSE_TRAIN) && valid_pin(c.ttl_pin) &&
                 c.watchdog_ms >= WATCHDOG_TIMEOUT_MS_MIN && c.watchdog_ms <= WATCHDOG_TIMEOUT_MS_MAX &&
                 c.max_on_ms > 0 &&
                 (c.pwm_pin == PWM_PIN_NONE || c.pwm_pin == 3 || c.pwm_pin == 5 || c.pwm_pin == 6 ||
                  c.pwm_pin == 11) &&
                 (c.interlock_pin == INTERLOCK_PIN_NONE || valid_pin(c.interlock_pin)) &&
                 c.ttl_pin != c.pwm_pin && c.ttl_pin != c.interlock_pin;
    if (c.mode == MODE_PULSE_TRAIN) {
        ok = ok && width_us >= MIN_PULSE_WIDTH_US && period_us >= 1000000UL / MAX_FREQUENCY_HZ &&
             width_us + MIN_PULSE_GAP_US <= period_us && period_us <= 10000000UL;
    }
    gate_close(REASON_CONFIG);
    if (!ok) { send_event_now(EVENT_REFUSED, REASON_BAD_CONFIG); return; }
    if (cfg.pwm_pin != PWM_PIN_NONE) pwm_set(cfg.pwm_pin, 0);
    c.period_ticks = period_us * OPTORIG_TICKS_PER_US;
    c.width_ticks = width_us * OPTORIG_TICKS_PER_US;
    uint8_t old_pin = cfg.ttl_pin;
    cfg = c;
    apply_laser_pin(c.ttl_pin);
    if (old_pin != c.ttl_pin) {
        *pin_port(old_pin) &= (uint8_t)~pin_mask(old_pin); /* leave the old pin LOW */
    }
    if (c.pwm_pin != PWM_PIN_NONE) {
        *pin_port(c.pwm_pin) &= (uint8_t)~pin_mask(c.pwm_pin);
        *pin_ddr(c.pwm_pin) |= pin_mask(c.pwm_pin);
    }
    if (c.interlock_pin != INTERLOCK_PIN_NONE) {
        *pin_ddr(c.interlock_pin) &= (uint8_t)~pin_mask(c.interlock_pin);
        *pin_port(c.interlock_pin) |= pin_mask(c.interlock_pin); /* pull-up: open wire = HIGH */
    }
    interlock_tripped = 0;
    send_event_now(EVENT_CONFIG_ACK, REASON_CONFIG);
}

/* ============================================================ camera sync */

static uint8_t sync_enabled;
static uint8_t sync_pin = SYNC_PIN_DEFAULT;
static uint8_t sync_led_pin = SYNC_LED_PIN_DEFAULT;
static uint16_t sync_min_ms = 1000, sync_max_ms = 5000, sync_width_ms = 10;
static volatile uint8_t sync_level;
static volatile uint32_t sync_next_edge;
static volatile uint8_t sync_edge_pending;
static volatile uint64_t sync_edge_us;
static volatile uint32_t sync_count;
static uint32_t rng_state = 0x6F707469UL;

static uint32_t rng_next(void) {
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x;
}

static void sync_outputs(uint8_t level) {
    if (level) {
        *pin_port(sync_pin) |= pin_mask(sync_pin);
        if (sync_led_pin != PWM_PIN_NONE) *pin_port(sync_led_pin) |= pin_mask(sync_led_pin);
    } else {
        *pin_port(sync_pin) &= (uint8_t)~pin_mask(sync_pin);
        if (sync_led_pin != PWM_PIN_NONE) *pin_port(sync_led_pin) &= (uint8_t)~pin_mask(sync_led_pin);
    }
}

static uint32_t sync_interval_ticks;
ISR(TIMER1_COMPB_vect) {
    uint32_t now = ticks32_locked();
    if ((int32_t)(sync_next_edge - now) > 16) {
        OCR1B = (uint16_t)sync_next_edge;
        return;
    }
    if (sync_level) {
        sync_outputs(0);
        sync_level = 0;
        sync_next_edge += sync_interval_ticks;
    } else {
        sync_outputs(1);
        sync_level = 1;
        sync_edge_us = ticks64_locked() >> 1;
        sync_count++;
        sync_edge_pending = 1;
        sync_next_edge += (uint32_t)sync_width_ms * 2000UL;
    }
    OCR1B = (uint16_t)sync_next_edge;
}

/* SYNC payload: enable, sync_pin, led_pin, min_ms(2), max_ms(2), width_ms(2) */
static void handle_sync(const uint8_t *d, uint8_t n) {
    if (n < 9) { send_event_now(EVENT_REFUSED, REASON_BAD_CONFIG); return; }
    uint8_t s = SREG;
    cli();
    TIMSK1 &= (uint8_t)~_BV(OCIE1B);
    SREG = s;
    sync_outputs(0);
    uint16_t min_ms = (uint16_t)read7(d + 3, 2), max_ms = (uint16_t)read7(d + 5, 2);
    uint16_t width_ms = (uint16_t)read7(d + 7, 2);
    if (!valid_pin(d[1]) || (d[2] != PWM_PIN_NONE && !valid_pin(d[2])) || width_ms == 0 ||
        min_ms <= width_ms || max_ms < min_ms || d[1] == cfg.ttl_pin || d[2] == cfg.ttl_pin) {
        sync_enabled = 0;
        send_event_now(EVENT_REFUSED, REASON_BAD_CONFIG);
        return;
    }
    sync_pin = d[1];
    sync_led_pin = d[2];
    sync_min_ms = min_ms;
    sync_max_ms = max_ms;
    sync_width_ms = width_ms;
    sync_enabled = d[0] ? 1 : 0;
    *pin_ddr(sync_pin) |= pin_mask(sync_pin);
    if (sync_led_pin != PWM_PIN_NONE) *pin_ddr(sync_led_pin) |= pin_mask(sync_led_pin);
    sync_outputs(0);
    if (sync_enabled) {
        cli();
        sync_level = 0;
        sync_next_edge = ticks32_locked() + (uint32_t)sync_min_ms * 2000UL;
        OCR1B = (uint16_t)sync_next_edge;
        TIFR1 = _BV(OCF1B);
        TIMSK1 |= _BV(OCIE1B);
        SREG = s;
    }
    send_event_now(EVENT_CONFIG_ACK, REASON_CONFIG);
}

/* =================================================================== Firmata */

#define F_INPUT 0
#define F_OUTPUT 1
#define F_ANALOG 2
#define F_PWM 3
#define F_INPUT_PULLUP 11

static uint8_t pin_mode[NUM_PINS];
static uint8_t report_digital_ports; /* bit per port 0..2 */
static uint8_t last_port_value[3];
static uint8_t report_analog_mask;   /* bit per analog pin 0..5 */
static uint16_t sampling_interval_ms = 19;
static uint32_t last_sample_ms;

static uint8_t pin_is_pwm_capable(uint8_t pin) { return pin == 3 || pin == 5 || pin == 6 || pin == 11; }

static uint8_t pin_reserved(uint8_t pin) {
    if (pin < 2) return 1; /* serial */
    if (pin == cfg.ttl_pin) return 1;
    if (cfg.pwm_pin != PWM_PIN_NONE && pin == cfg.pwm_pin) return 1;
    if (cfg.interlock_pin != INTERLOCK_PIN_NONE && pin == cfg.interlock_pin) return 1;
    if (sync_enabled && (pin == sync_pin || pin == sync_led_pin)) return 1;
    return 0;
}

static void send_version(void) {
    serial_write(0xF9);
    serial_write(FIRMATA_PROTOCOL_MAJOR);
    serial_write(FIRMATA_PROTOCOL_MINOR);
}

static void send_firmware_name(void) {
    static const char name[] PROGMEM = OPTORIG_FW_NAME;
    serial_write(0xF0);
    serial_write(0x79);
    serial_write(OPTORIG_FW_VERSION_MAJOR);
    serial_write(OPTORIG_FW_VERSION_MINOR);
    for (uint8_t i = 0; pgm_read_byte(&name[i]); i++) {
        write7(pgm_read_byte(&name[i]), 2);
    }
    serial_write(0xF7);
}

static void send_identity(void) {
    static const char hash[] PROGMEM = OPTORIG_BUILD_HASH;
    serial_write(0xF0);
    serial_write(SYSEX_OPTORIG_IDENTIFY);
    serial_write(OPTORIG_PROTOCOL_VERSION);
    serial_write(OPTORIG_FW_VERSION_MAJOR);
    serial_write(OPTORIG_FW_VERSION_MINOR);
    serial_write(OPTORIG_FW_VERSION_PATCH);
    serial_write(armed);
    serial_write(gate_is_open);
    for (uint8_t i = 0; pgm_read_byte(&hash[i]) && i < 40; i++) {
        serial_write(pgm_read_byte(&hash[i]) & 0x7F);
    }
    serial_write(0xF7);
}

static void send_capabilities(void) {
    serial_write(0xF0);
    serial_write(0x6C);
    for (uint8_t pin = 0; pin < NUM_PINS; pin++) {
        if (pin >= 2) {
            serial_write(F_INPUT); serial_write(1);
            serial_write(F_OUTPUT); serial_write(1);
            serial_write(F_INPUT_PULLUP); serial_write(1);
            if (pin_is_pwm_capable(pin)) { serial_write(F_PWM); serial_write(8); }
            if (pin >= 14) { serial_write(F_ANALOG); serial_write(10); }
        }
        serial_write(0x7F);
    }
    serial_write(0xF7);
}

static void send_analog_mapping(void) {
    serial_write(0xF0);
    serial_write(0x6A);
    for (uint8_t pin = 0; pin < NUM_PINS; pin++) serial_write(pin >= 14 ? (uint8_t)(pin - 14) : 127);
    serial_write(0xF7);
}

static void send_pin_state(uint8_t pin) {
    if (pin >= NUM_PINS) return;
    serial_write(0xF0);
    serial_write(0x6E);
    serial_write(pin);
    serial_write(pin_mode[pin]);
    serial_write((*pin_in(pin) & pin_mask(pin)) ? 1 : 0);
    serial_write(0xF7);
}

static uint8_t read_port_inputs(uint8_t port) {
    uint8_t value = 0;
    for (uint8_t bit = 0; bit < 8; bit++) {
        uint8_t pin = (uint8_t)(port * 8 + bit);
        if (pin >= NUM_PINS) break;
        if ((pin_mode[pin] == F_INPUT || pin_mode[pin] == F_INPUT_PULLUP) &&
            (*pin_in(pin) & pin_mask(pin)))
            value |= (uint8_t)(1u << bit);
    }
    return value;
}

static void send_port(uint8_t port, uint8_t value) {
    serial_write((uint8_t)(0x90 | port));
    serial_write(value & 0x7F);
    serial_write(value >> 7);
}

static void set_pin_mode(uint8_t pin, uint8_t mode) {
    if (pin >= NUM_PINS || pin_reserved(pin)) return;
    if (pin_mode[pin] == F_PWM && mode != F_PWM) pwm_set(pin, 0);
    switch (mode) {
    case F_INPUT:
        *pin_ddr(pin) &= (uint8_t)~pin_mask(pin);
        *pin_port(pin) &= (uint8_t)~pin_mask(pin);
        break;
    case F_INPUT_PULLUP:
        *pin_ddr(pin) &= (uint8_t)~pin_mask(pin);
        *pin_port(pin) |= pin_mask(pin);
        break;
    case F_OUTPUT:
        *pin_port(pin) &= (uint8_t)~pin_mask(pin);
        *pin_ddr(pin) |= pin_mask(pin);
        break;
    case F_PWM:
        if (!pin_is_pwm_capable(pin)) return;
        *pin_port(pin) &= (uint8_t)~pin_mask(pin);
        *pin_ddr(pin) |= pin_mask(pin);
        break;
    case F_ANALOG:
        if (pin < 14) return;
        *pin_ddr(pin) &= (uint8_t)~pin_mask(pin);
        *pin_port(pin) &= (uint8_t)~pin_mask(pin);
        break;
    default:
        return;
    }
    pin_mode[pin] = mode;
}

static void digital_write_pin(uint8_t pin, uint8_t value) {
    if (pin >= NUM_PINS || pin_reserved(pin)) return;
    if (pin_mode[pin] != F_OUTPUT) return;
    if (value) *pin_port(pin) |= pin_mask(pin);
    else *pin_port(pin) &= (uint8_t)~pin_mask(pin);
}

static uint16_t adc_read(uint8_t channel) {
    ADMUX = (uint8_t)(_BV(REFS0) | (channel & 0x07));
    ADCSRA |= _BV(ADSC);
    while (ADCSRA & _BV(ADSC)) {
    }
    return ADC;
}

static void system_reset(void) {
    gate_close(REASON_RESET);
    for (uint8_t pin = 2; pin < NUM_PINS; pin++) {
        if (!pin_reserved(pin) && pin_mode[pin] != F_INPUT) set_pin_mode(pin, F_OUTPUT);
    }
    report_digital_ports = 0;
    report_analog_mask = 0;
}

/* ---- parser ---- */
#define SYSEX_MAX 64
static uint8_t sysex_buf[SYSEX_MAX];
static uint8_t sysex_len;
static uint8_t in_sysex;
static uint8_t cmd;        /* pending multi-byte command */
static uint8_t cmd_need;   /* data bytes still needed */
static uint8_t cmd_data[2];
static uint8_t cmd_have;

static void handle_sysex(void) {
    if (sysex_len == 0) return;
    uint8_t id = sysex_buf[0];
    const uint8_t *d = sysex_buf + 1;
    uint8_t n = (uint8_t)(sysex_len - 1);
    switch (id) {
    case 0x79: send_firmware_name(); break;
    case 0x6B: send_capabilities(); break;
    case 0x69: send_analog_mapping(); break;
    case 0x6D: if (n >= 1) send_pin_state(d[0]); break;
    case 0x7A:
        if (n >= 2) {
            uint16_t v = (uint16_t)read7(d, 2);
            sampling_interval_ms = v < 1 ? 1 : v;
        }
        break;
    case SYSEX_OPTORIG_IDENTIFY: send_identity(); break;
    case SYSEX_OPTORIG_CONFIG: handle_config(d, n); break;
    case SYSEX_OPTORIG_GATE:
        if (n >= 1 && d[0]) gate_open();
        else gate_close(REASON_HOST);
        break;
    case SYSEX_OPTORIG_HEARTBEAT:
        last_heartbeat_ms = millis_now;
        send_event(EVENT_HEARTBEAT_ACK, micros64(), 0, laser_pin_level(), n >= 1 ? d[0] : 0);
        break;
    case SYSEX_OPTORIG_ARM:
        armed = 1;
        last_heartbeat_ms = millis_now;
        send_event_now(EVENT_ARMED, REASON_HOST);
        break;
    case SYSEX_OPTORIG_SYNC: handle_sync(d, n); break;
    default: break;
    }
}

static void handle_command(void) {
    uint8_t base = cmd & 0xF0;
    if (base == 0x90) {
        uint8_t port = cmd & 0x0F;
        uint8_t value = (uint8_t)(cmd_data[0] | (cmd_data[1] << 7));
        for (uint8_t bit = 0; bit < 8; bit++) {
            uint8_t pin = (uint8_t)(port * 8 + bit);
            if (pin < NUM_PINS && pin_mode[pin] == F_OUTPUT)
                digital_write_pin(pin, (value >> bit) & 1);
        }
    } else if (base == 0xE0) {
        uint8_t pin = cmd & 0x0F;
        uint16_t value = (uint16_t)(cmd_data[0] | (cmd_data[1] << 7));
        if (pin < NUM_PINS && !pin_reserved(pin) && pin_mode[pin] == F_PWM)
            pwm_set(pin, value > 255 ? 255 : (uint8_t)value);
    } else if (base == 0xC0) {
        uint8_t ch = cmd & 0x0F;
        if (ch < 6) {
            if (cmd_data[0]) report_analog_mask |= (uint8_t)(1u << ch);
            else report_analog_mask &= (uint8_t)~(1u << ch);
        }
    } else if (base == 0xD0) {
        uint8_t port = cmd & 0x0F;
        if (port < 3) {
            if (cmd_data[0]) {
                report_digital_ports |= (uint8_t)(1u << port);
                last_port_value[port] = read_port_inputs(port);
                send_port(port, last_port_value[port]);
            } else {
                report_digital_ports &= (uint8_t)~(1u << port);
            }
        }
    } else if (cmd == 0xF4) {
        set_pin_mode(cmd_data[0], cmd_data[1]);
    } else if (cmd == 0xF5) {
        digital_write_pin(cmd_data[0], cmd_data[1]);
    }
}

static void parse_byte(uint8_t c) {
    if (in_sysex) {
        if (c == 0xF7) {
            in_sysex = 0;
            handle_sysex();
        } else if (c & 0x80) {
            in_sysex = 0; /* malformed: drop and re-parse as a command */
        } else {
            if (sysex_len < SYSEX_MAX) sysex_buf[sysex_len++] = c;
            return;
        }
        if (!(c & 0x80) || c == 0xF7) return;
    }
    if (c & 0x80) {
        cmd_need = 0;
        cmd_have = 0;
        if (c == 0xF0) { in_sysex = 1; sysex_len = 0; return; }
        if (c == 0xF9) { send_version(); return; }
        if (c == 0xFF) { system_reset(); return; }
        uint8_t base = c & 0xF0;
        if (base == 0x90 || base == 0xE0 || c == 0xF4 || c == 0xF5) { cmd = c; cmd_need = 2; }
        else if (base == 0xC0 || base == 0xD0) { cmd = c; cmd_need = 1; }
        return;
    }
    if (cmd_need) {
        cmd_data[cmd_have++] = c;
        if (--cmd_need == 0) handle_command();
    }
}

/* ================================================================ main loop */

static void check_safety(void) {
    if (armed && (uint32_t)(millis_now - last_heartbeat_ms) > cfg.watchdog_ms) {
        armed = 0;
        gate_close(REASON_WATCHDOG);
        send_event_now(EVENT_WATCHDOG, REASON_WATCHDOG);
    }
    if (gate_is_open && (uint32_t)(millis_now - gate_opened_ms) >= cfg.max_on_ms) {
        gate_close(REASON_CAP);
        send_event_now(EVENT_CAP, REASON_CAP);
    }
    if (cfg.interlock_pin != INTERLOCK_PIN_NONE) {
        uint8_t level = (*pin_in(cfg.interlock_pin) & pin_mask(cfg.interlock_pin)) ? 1 : 0;
        uint8_t tripped = level == cfg.interlock_trip_level;
        if (tripped && !interlock_tripped) {
            interlock_tripped = 1;
            gate_close(REASON_INTERLOCK);
            send_event_now(EVENT_INTERLOCK, REASON_INTERLOCK);
        } else if (!tripped && interlock_tripped) {
            interlock_tripped = 0;
            send_event_now(EVENT_INTERLOCK_CLEARED, REASON_INTERLOCK);
        }
    }
    if (ramp_active) {
        uint32_t elapsed = millis_now - ramp_start_ms;
        if (elapsed >= cfg.ramp_down_ms) {
            ramp_active = 0;
            pwm_set(cfg.pwm_pin, 0);
        } else {
            pwm_set(cfg.pwm_pin, (uint8_t)((uint32_t)cfg.pwm_level * (cfg.ramp_down_ms - elapsed) /
                                           cfg.ramp_down_ms));
        }
    }
}

static void report_inputs(void) {
    for (uint8_t port = 0; port < 3; port++) {
        if (!(report_digital_ports & (1u << port))) continue;
        uint8_t v = read_port_inputs(port);
        if (v != last_port_value[port]) {
            last_port_value[port] = v;
            send_port(port, v);
        }
    }
    if (report_analog_mask && (uint32_t)(millis_now - last_sample_ms) >= sampling_interval_ms) {
        last_sample_ms = millis_now;
        for (uint8_t ch = 0; ch < 6; ch++) {
            if (!(report_analog_mask & (1u << ch))) continue;
            uint16_t v = adc_read(ch);
            serial_write((uint8_t)(0xE0 | ch));
            serial_write(v & 0x7F);
            serial_write((uint8_t)(v >> 7));
        }
    }
    if (sync_edge_pending) {
        uint8_t s = SREG;
        cli();
        uint64_t us = sync_edge_us;
        uint32_t count = sync_count;
        sync_edge_pending = 0;
        /* choose the next random interval while the pulse is high */
        SREG = s;
        uint32_t span = (uint32_t)(sync_max_ms - sync_min_ms) + 1u;
        uint32_t interval_ms = sync_min_ms + rng_next() % span - sync_width_ms;
        cli();
        sync_interval_ticks = interval_ms * 2000UL;
        SREG = s;
        send_event(EVENT_SYNC, us, count, 1, 0);
    }
}

int main(void) {
    /* laser pin already LOW (init3); now the rest of the hardware */
    config_defaults();
    apply_laser_pin(cfg.ttl_pin);
    for (uint8_t pin = 0; pin < NUM_PINS; pin++) pin_mode[pin] = F_OUTPUT;
    pin_mode[0] = pin_mode[1] = F_INPUT;
    /* Timer1: normal mode, prescaler 8 (0.5 us ticks), overflow interrupt for the clock */
    TCCR1A = 0;
    TCCR1B = _BV(CS11);
    TIMSK1 = _BV(TOIE1);
    /* Timer0 and Timer2: fast PWM, prescaler 64 (~977 Hz), outputs disconnected */
    TCCR0A = _BV(WGM01) | _BV(WGM00);
    TCCR0B = _BV(CS01) | _BV(CS00);
    TCCR2A = _BV(WGM21) | _BV(WGM20);
    TCCR2B = _BV(CS22);
    /* ADC: AVcc reference, prescaler 128 */
    ADCSRA = _BV(ADEN) | _BV(ADPS2) | _BV(ADPS1) | _BV(ADPS0);
    serial_init();
    sync_interval_ticks = 2000UL * 1000;
    wdt_enable(WDTO_250MS);
    sei();
    send_version();
    send_firmware_name();
    send_event_now(EVENT_READY, REASON_RESET);
    for (;;) {
        wdt_reset();
        millis_update();
        int16_t c;
        while ((c = serial_read()) >= 0) parse_byte((uint8_t)c);
        millis_update();
        check_safety();
        report_inputs();
    }
}
