/* optorig firmware for Arduino Uno (ATmega328P, 16 MHz), plain avr-libc.
 *
 * Speaks Firmata 2.5 (version/firmware reports, capability, analog-mapping and pin-state
 * queries, pin modes, digital/analog write, digital/analog reporting, sampling interval)
 * plus the optorig sysex extensions in config.h: a device-timed laser gate with pulse
 * train, host watchdog, continuous-on cap, interlock, camera-sync output and a periodic
 * camera trigger output.
 *
 * Structure (why: no serial traffic may delay a safety check):
 * - The SAFETY CORE runs in interrupts only. Timer1 runs free at 0.5 us per tick; its
 *   COMPB interrupt is the safety tick every SAFETY_TICK_US (and also produces the camera
 *   sync edges and the camera trigger edges, from absolute tick times). The tick advances millis and checks the host watchdog, the continuous-on
 *   cap, samples the interlock (backstop) and steps or aborts the PWM ramp. The interlock
 *   pin also has a pin-change interrupt, so a trip closes the gate within microseconds.
 *   Laser edges of a pulse train are produced in TIMER1_COMPA from absolute tick times.
 * - The MAIN LOOP only parses host bytes (at most RX_BUDGET_PER_LOOP per iteration) and
 *   queues replies. The transmit queue never blocks: a reply that does not fit is dropped
 *   and counted (reported by IDENTIFY); events wait in their own ring until they fit.
 * - Every read-modify-write of a port or timer register runs with interrupts off, so the
 *   main loop never undoes an edge the pulse interrupt just made on the same port.
 * - Pins have ROLES (laser, PWM, interlock, sync, LED, trigger). CONFIG, SYNC and TRIGGER
 *   refuse a pin that
 *   already has another role (REASON_PIN_CONFLICT); Firmata messages cannot touch role
 *   pins; a pin given the laser role loses any timer output and is driven to its off level.
 * - The laser pin is driven to its off level in .init3, before the C runtime clears memory,
 *   from the pin and polarity stored in EEPROM by the last accepted CONFIG (D9 active high
 *   on a fresh chip). The AVR hardware watchdog resets the chip if the main loop stalls or
 *   the safety tick stops.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/wdt.h>
#include <stdint.h>
#include <util/delay.h>

#include "config.h"

#ifndef OPTORIG_BUILD_HASH
#define OPTORIG_BUILD_HASH "unknown"
#endif
/* Polarity used before any CONFIG was stored in EEPROM (make OPTORIG_DEFAULT_ACTIVE_LOW=1). */
#ifndef OPTORIG_DEFAULT_ACTIVE_LOW
#define OPTORIG_DEFAULT_ACTIVE_LOW 0
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
static uint8_t pin_read(uint8_t pin) { return (*pin_in(pin) & pin_mask(pin)) ? 1 : 0; }

/* Restore the interrupt flag saved before a cli() section. The barrier keeps the compiler
 * from moving the section's memory accesses past the point where interrupts come back. */
static inline __attribute__((always_inline)) void sreg_restore(uint8_t s) {
    __asm__ __volatile__("" ::: "memory");
    SREG = s;
}

/* Atomic read-modify-write of an I/O register (interrupts off around it). */
static void reg_set(volatile uint8_t *reg, uint8_t mask) {
    uint8_t s = SREG;
    cli();
    *reg |= mask;
    sreg_restore(s);
}
static void reg_clear(volatile uint8_t *reg, uint8_t mask) {
    uint8_t s = SREG;
    cli();
    *reg &= (uint8_t)~mask;
    sreg_restore(s);
}
static void reg_write_bit(volatile uint8_t *reg, uint8_t mask, uint8_t level) {
    if (level) reg_set(reg, mask);
    else reg_clear(reg, mask);
}

/* ================================================================== EEPROM */
/* Per channel, the laser pin and polarity of its last accepted CONFIG, so .init3 can drive
 * every configured laser pin to its off level after a reset. One 4-byte record per channel
 * at EE_ADDR + 4 k (channel 0 keeps the protocol-2 address): magic, pin, polarity,
 * ~(pin ^ polarity). */
#define EE_MAGIC 0xA7
#define EE_ADDR 0x10
#define EE_RECORD_BYTES 4
#define LASER_PIN_NONE 127 /* a channel with no laser pin (not configured) */

static inline __attribute__((always_inline)) uint8_t ee_read(uint16_t addr) {
    while (EECR & _BV(EEPE)) {
    }
    EEAR = addr;
    EECR |= _BV(EERE);
    return EEDR;
}

/* Boot laser pin (bits 0-6, LASER_PIN_NONE = none) and polarity (bit 7) of channel ``ch``
 * from EEPROM, or the default (channel 0: D9; others: none). Inlined into .init3, which has
 * no stack frame of its own. */
static inline __attribute__((always_inline)) uint8_t ee_boot_laser(uint8_t ch) {
    uint8_t fallback = ch == 0 ? (uint8_t)(LASER_PIN_DEFAULT | (OPTORIG_DEFAULT_ACTIVE_LOW ? 0x80 : 0))
                               : LASER_PIN_NONE;
    uint16_t a = (uint16_t)(EE_ADDR + EE_RECORD_BYTES * ch);
    if (ee_read(a) != EE_MAGIC) return fallback;
    uint8_t p = ee_read(a + 1), pol = ee_read(a + 2), chk = ee_read(a + 3);
    if (p >= 2 && p < NUM_PINS && pol <= 1 && chk == (uint8_t)~(p ^ pol)) return (uint8_t)(p | (pol << 7));
    return fallback;
}

/* EEPROM writes take ~3.4 ms a byte: a channel whose pin or polarity changed is marked
 * dirty and the main loop writes its record one byte at a time, starting one whenever the
 * previous one finished, so no iteration waits for the EEPROM. Each byte's value is read
 * from the channel's configuration when it is written; a change half-way restarts the
 * record (marked invalid first, so a reset half-way falls back to the default). */
static uint8_t ee_dirty;      /* bit per channel */
static uint8_t ee_cur = 0xFF; /* channel being written, 0xFF = none */
static uint8_t ee_step;       /* 0 invalidate, 1 pin, 2 polarity, 3 check, 4 magic */

static void ee_mark_dirty(uint8_t ch) {
    ee_dirty |= (uint8_t)(1u << ch);
    if (ee_cur == ch) ee_step = 0;
}

static uint8_t ee_record_value(uint8_t ch, uint8_t step);

static void ee_poll(void) {
    if (EECR & _BV(EEPE)) return;
    if (ee_cur == 0xFF) {
        if (!ee_dirty) return;
        uint8_t ch = 0;
        while (!(ee_dirty & (1u << ch))) ch++;
        ee_dirty &= (uint8_t)~(1u << ch);
        ee_cur = ch;
        ee_step = 0;
    }
    uint8_t ch = ee_cur, step = ee_step;
    uint8_t addr = (uint8_t)(EE_ADDR + EE_RECORD_BYTES * ch + (step == 4 ? 0 : step));
    uint8_t value = ee_record_value(ch, step);
    if (++ee_step > 4) ee_cur = 0xFF;
    if (ee_read(addr) == value) return;
    EEAR = addr;
    EEDR = value;
    uint8_t s = SREG;
    cli();
    EECR |= _BV(EEMPE);
    EECR |= _BV(EEPE);
    sreg_restore(s);
}

/* Every recorded laser pin is forced to its off level before anything else runs (stack is
 * set up in .init2; .data/.bss are not yet initialised, so this uses locals only). */
void optorig_early_laser_off(void) __attribute__((naked, used, section(".init3")));
void optorig_early_laser_off(void) {
    MCUSR = 0;
    WDTCSR = _BV(WDCE) | _BV(WDE); /* a watchdog reset leaves the WDT on: turn it off */
    WDTCSR = 0;
    for (uint8_t ch = 0; ch < OPTORIG_CHANNELS; ch++) {
        uint8_t boot = ee_boot_laser(ch);
        uint8_t pin = boot & 0x7F, active_low = boot >> 7;
        if (pin >= NUM_PINS) continue;
        volatile uint8_t *port = pin < 8 ? &PORTD : pin < 14 ? &PORTB : &PORTC;
        volatile uint8_t *ddr = pin < 8 ? &DDRD : pin < 14 ? &DDRB : &DDRC;
        uint8_t mask = (uint8_t)(1u << (pin < 8 ? pin : pin < 14 ? pin - 8 : pin - 14));
        if (active_low) *port |= mask;
        else *port &= (uint8_t)~mask;
        *ddr |= mask;
    }
}

/* ================================================================= the clock */

static volatile uint32_t timer1_overflows;

ISR(TIMER1_OVF_vect) { timer1_overflows++; }

static uint32_t ticks32_locked(void) {
    uint16_t t = TCNT1;
    uint16_t o = (uint16_t)timer1_overflows;
    if ((TIFR1 & _BV(TOV1)) && t < 0x8000u) o++;
    return ((uint32_t)o << 16) | t;
}
static uint32_t ticks32(void) {
    uint8_t s = SREG;
    cli();
    uint32_t t = ticks32_locked();
    sreg_restore(s);
    return t;
}

/* Milliseconds, advanced by the safety tick only (no catch-up loop anywhere). */
static volatile uint32_t millis_now;
static uint32_t millis(void) {
    uint8_t s = SREG;
    cli();
    uint32_t m = millis_now;
    sreg_restore(s);
    return m;
}

/* ==================================================================== serial */

#define RX_SIZE 128
#define TX_SIZE 256
/* Room kept free in the transmit queue for events: replies may not use it. */
#define TX_EVENT_RESERVE 48
static volatile uint8_t rx_buf[RX_SIZE];
static volatile uint8_t rx_head, rx_tail;
static volatile uint8_t tx_buf[TX_SIZE];
static volatile uint8_t tx_head, tx_tail;
static uint32_t replies_dropped;
static volatile uint32_t events_dropped;

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

static uint8_t tx_free(void) { return (uint8_t)(tx_tail - tx_head - 1); }

/* Only after tx_begin()/event flush checked the room: never waits. */
static void tx_put(uint8_t c) {
    tx_buf[tx_head] = c;
    tx_head = (uint8_t)(tx_head + 1);
}
static void tx_kick(void) { reg_set(&UCSR0B, _BV(UDRIE0)); }

/* A reply of at most ``len`` bytes: 1 if it fits (then write it with tx_put), else it is
 * dropped and counted. Replies never wait for the UART. */
static uint8_t tx_begin(uint8_t len) {
    if (tx_free() < (uint16_t)len + TX_EVENT_RESERVE) {
        replies_dropped++;
        return 0;
    }
    return 1;
}

static void write7(uint32_t value, uint8_t nbytes) {
    for (uint8_t i = 0; i < nbytes; i++) {
        tx_put((uint8_t)(value & 0x7F));
        value >>= 7;
    }
}

/* ================================================================== events */
/* Events (gate opened/closed, faults, acks) are queued from interrupts and the main loop in
 * order, and the main loop moves them to the transmit queue as room allows. */

typedef struct {
    uint8_t kind, level, reason, channel;
    uint16_t tcnt;
    uint32_t overflows;
    uint32_t pulses;
} event_t;

#define EVENT_RING 16
#define EVENT_RING_REPLY_LIMIT 12 /* ordinary replies leave 4 slots for safety events */
#define EVENT_WIRE_BYTES (EVENT_PAYLOAD_BYTES + 3)
static event_t event_ring[EVENT_RING];
static volatile uint8_t ev_head, ev_count;

/* Call with interrupts off. ``safety`` events may use the last slots. ``ch`` is the laser
 * channel the event belongs to, or CHANNEL_BOARD. */
static void chan_event_push_locked(uint8_t ch, uint8_t kind, uint32_t pulses, uint8_t level, uint8_t reason,
                                   uint8_t safety) {
    if (ev_count >= (safety ? EVENT_RING : EVENT_RING_REPLY_LIMIT)) {
        events_dropped++;
        return;
    }
    event_t *e = &event_ring[(uint8_t)((ev_head + ev_count) % EVENT_RING)];
    /* the raw clock only: 64-bit arithmetic stays out of interrupts-off sections */
    uint16_t t = TCNT1;
    uint32_t o = timer1_overflows;
    if ((TIFR1 & _BV(TOV1)) && t < 0x8000u) o++;
    e->kind = kind;
    e->tcnt = t;
    e->overflows = o;
    e->pulses = pulses;
    e->level = level;
    e->reason = reason;
    e->channel = ch;
    ev_count++;
}

/* A board-level event (READY, SYNC, acks of board settings): channel CHANNEL_BOARD. */
static void event_push_locked(uint8_t kind, uint32_t pulses, uint8_t level, uint8_t reason, uint8_t safety) {
    chan_event_push_locked(CHANNEL_BOARD, kind, pulses, level, reason, safety);
}

static void events_flush(void) {
    while (ev_count && tx_free() >= EVENT_WIRE_BYTES) {
        event_t e;
        uint8_t s = SREG;
        cli();
        e = event_ring[ev_head];
        ev_head = (uint8_t)((ev_head + 1) % EVENT_RING);
        ev_count--;
        sreg_restore(s);
        uint64_t us = (((uint64_t)e.overflows << 16) | e.tcnt) >> 1;
        tx_put(0xF0);
        tx_put(SYSEX_OPTORIG_EVENT);
        tx_put(e.kind);
        for (uint8_t i = 0; i < EVENT_US_BYTES; i++) {
            tx_put((uint8_t)(us & 0x7F));
            us >>= 7;
        }
        write7(e.pulses, EVENT_PULSES_BYTES);
        tx_put(e.level & 0x7F);
        tx_put(e.reason & 0x7F);
        tx_put(e.channel & 0x7F);
        tx_put(0xF7);
        tx_kick();
    }
}

/* ================================================================ laser gate */

typedef struct {
    uint8_t mode;
    uint8_t ttl_pin; /* LASER_PIN_NONE: channel not configured */
    uint32_t period_ticks;
    uint32_t width_ticks;
    uint32_t max_on_ms;
    uint16_t watchdog_ms;
    uint8_t pwm_pin;
    uint8_t pwm_level;
    uint16_t ramp_down_ms;
    uint8_t interlock_pin;
    uint8_t interlock_trip_level;
    uint8_t active_low;
} laser_config_t;

/* One laser channel: its configuration (replaced only with interrupts off), its output and
 * its gate. Everything here is shared with the interrupts. */
typedef struct {
    laser_config_t cfg;
    uint8_t port_idx; /* 0 = PORTB, 1 = PORTC, 2 = PORTD (no pin: mask 0) */
    uint8_t mask;
    uint8_t train_running;
    uint8_t laser_level; /* 1 = on (polarity applied) */
    uint8_t gate_is_open;
    uint8_t armed;
    uint8_t interlock_tripped;
    uint8_t ramp_active;
    uint32_t next_edge;
    uint32_t rise_time;
    uint32_t pulses_delivered;
    uint32_t gate_opened_ms;
    uint32_t last_heartbeat_ms;
    uint32_t ramp_start_ms;
} channel_t;

static volatile channel_t chans[OPTORIG_CHANNELS];
#define CH(k) (*(channel_t *)&chans[(k)]) /* inside interrupts-off sections */

static volatile uint8_t *port_of_idx(uint8_t idx) { return idx == 0 ? &PORTB : idx == 1 ? &PORTC : &PORTD; }
static uint8_t port_idx_of_pin(uint8_t pin) { return pin < 8 ? 2 : pin < 14 ? 0 : 1; }

/* Call with interrupts off (ISR or cli section). */
static void laser_write_locked(uint8_t ch, uint8_t on) {
    channel_t *c = &CH(ch);
    volatile uint8_t *port = port_of_idx(c->port_idx);
    if (on ^ c->cfg.active_low) *port |= c->mask;
    else *port &= (uint8_t)~c->mask;
    c->laser_level = on;
}

/* An edge is written at most this many ticks before its time. */
#define EDGE_EARLY_TICKS 2
/* Edges closer than this to the previous one (or to the end of planning) are served in the
 * same interrupt run by waiting for them: leaving and re-entering the interrupt, or setting a
 * compare the timer may already have passed, would cost more than waiting. 200 ticks =
 * 100 us (planning takes up to ~70 us); one run waits at most 3 x this long (the UART keeps
 * 2 bytes = 350 us, the safety tick catches up). */
#define EDGE_MARGIN_TICKS 200

static inline __attribute__((always_inline)) uint32_t ticks32_inline_early(void) {
    uint16_t t = TCNT1;
    uint16_t o = (uint16_t)timer1_overflows;
    if ((TIFR1 & _BV(TOV1)) && t < 0x8000u) o++;
    return ((uint32_t)o << 16) | t;
}

/* The camera trigger (below) shares the timer: COMPA serves a trigger edge that falls due
 * while it waits for a laser edge or before it plans, so a laser train never holds a trigger
 * edge back; the main loop's interrupts-off sections keep clear of trigger edges too. */
static volatile uint8_t trig_enabled;
static volatile uint32_t trig_next_edge;
static void trig_edge_locked(void);
#define TRIG_SERVE_EARLY_TICKS 2
/* Planning takes up to ~70 us: a trigger edge due within this is served first. */
#define PLAN_TICKS 180

/* Serve the trigger edge if it is due within ``horizon`` ticks (waiting for it). Interrupts
 * off. */
static inline __attribute__((always_inline)) void trig_serve_locked(int32_t horizon) {
    if (!trig_enabled) return;
    int32_t dt = (int32_t)(trig_next_edge - ticks32_inline_early());
    if (dt > horizon) return;
    while ((int32_t)(trig_next_edge - ticks32_inline_early()) > TRIG_SERVE_EARLY_TICKS) {
    }
    trig_edge_locked();
}

/* The compare fires this long before an edge and COMPA waits for the edge itself: the
 * interrupt's entry (register saves, reading the clock) and any short interrupt running
 * at that moment are absorbed, so an edge leaves on time, not one entry latency late. */
#define EDGE_LEAD_TICKS 48 /* 24 us */

/* The upcoming edge of every running train, soonest first, with its port write (computed
 * ahead, so an edge costs a few cycles when it is due). Recomputed with interrupts off
 * whenever a train starts, stops or moves on. */
static volatile uint8_t sched_n;
static volatile uint8_t sched_ch[OPTORIG_CHANNELS], sched_port[OPTORIG_CHANNELS];
static volatile uint8_t sched_set[OPTORIG_CHANNELS], sched_keep[OPTORIG_CHANNELS];
static volatile uint32_t sched_time[OPTORIG_CHANNELS];

static inline __attribute__((always_inline)) uint32_t ticks32_inline(void) {
    uint16_t t = TCNT1;
    uint16_t o = (uint16_t)timer1_overflows;
    if ((TIFR1 & _BV(TOV1)) && t < 0x8000u) o++;
    return ((uint32_t)o << 16) | t;
}

/* Sort the running trains' next edges into sched_*. Interrupts off. Returns the time from
 * now to the soonest edge (ticks, may be negative); COMPA is switched off when none runs. */
static int32_t train_plan_locked(uint32_t now) {
    uint8_t n = 0;
    int32_t dts[OPTORIG_CHANNELS];
    uint8_t order[OPTORIG_CHANNELS];
    for (uint8_t k = 0; k < OPTORIG_CHANNELS; k++) {
        channel_t *c = &CH(k);
        if (!c->train_running) continue;
        int32_t dt = (int32_t)(c->next_edge - now);
        uint8_t i = n++;
        while (i > 0 && dts[i - 1] > dt) { /* insertion sort of at most 4 */
            dts[i] = dts[i - 1];
            order[i] = order[i - 1];
            i--;
        }
        dts[i] = dt;
        order[i] = k;
    }
    for (uint8_t i = 0; i < n; i++) {
        channel_t *c = &CH(order[i]);
        uint8_t high = (uint8_t)(!c->laser_level) ^ c->cfg.active_low;
        sched_ch[i] = order[i];
        sched_port[i] = c->port_idx;
        sched_set[i] = high ? c->mask : 0;
        sched_keep[i] = high ? 0xFF : (uint8_t)~c->mask;
        sched_time[i] = c->next_edge;
    }
    sched_n = n;
    if (!n) {
        TIMSK1 &= (uint8_t)~_BV(OCIE1A);
        return 0x7FFFFFFF;
    }
    return dts[0];
}

/* Plan from the main loop (a train started or stopped): the compare is set for the soonest
 * edge, or to fire at once when that edge is too close for a compare. Interrupts off. */
static void train_schedule_locked(void) {
    train_plan_locked(ticks32_locked());
    if (!sched_n) return;
    /* (the time is read again: planning itself took a while) */
    int32_t dt = (int32_t)(sched_time[0] - ticks32_locked());
    OCR1A = (uint16_t)(dt > EDGE_MARGIN_TICKS ? sched_time[0] - EDGE_LEAD_TICKS : ticks32_locked() + 32);
    /* (written only when it changes: simavr 1.6 can lose a raised compare on a rewrite) */
    if (!(TIMSK1 & _BV(OCIE1A))) TIMSK1 |= _BV(OCIE1A);
}

/* Interrupts off at a moment when no train edge is due for EDGE_GUARD_TICKS: the main loop
 * and the safety tick take their interrupts-off sections this way, so none of them (all
 * shorter than the guard) delays a train edge. With an edge about to come, interrupts stay
 * on until COMPA has served it. ``s`` is the SREG saved before; with interrupts already off
 * there is nothing to wait for. */
#define EDGE_GUARD_TICKS 200 /* 100 us */
static void cli_guarded(uint8_t s) {
    for (;;) {
        cli();
        if (!(s & _BV(SREG_I)) || (!sched_n && !trig_enabled)) return;
        uint32_t now = ticks32_locked();
        int32_t dt = (int32_t)(sched_time[0] - now);
        if (trig_enabled) {
            int32_t dtt = (int32_t)(trig_next_edge - now);
            if (dtt > -4 * EDGE_MARGIN_TICKS && dtt < dt) dt = dtt;
        }
        /* (an edge overdue by more than a few margins is not waited for: its interrupt had
         * its turn) */
        if (dt > EDGE_GUARD_TICKS || dt < -4 * EDGE_MARGIN_TICKS) return;
        sreg_restore(s);
        /* COMPA serves the edge now (an interrupt is taken only after the instruction that
         * follows the enabling one: these must not be a cli) */
        __asm__ __volatile__("nop\n\tnop" ::: "memory");
    }
}

static inline __attribute__((always_inline)) void sched_write(uint8_t i) {
    uint8_t p = sched_port[i], set = sched_set[i], keep = sched_keep[i];
    if (p == 0) PORTB = (uint8_t)((PORTB | set) & keep);
    else if (p == 1) PORTC = (uint8_t)((PORTC | set) & keep);
    else PORTD = (uint8_t)((PORTD | set) & keep);
}

/* Train edges of every running channel from absolute tick times: each planned edge is
 * written when due (edges of several channels that coincide leave within a few cycles of
 * each other), then the served channels move on and the next edges are planned. */
ISR(TIMER1_COMPA_vect) {
    for (;;) {
        uint8_t n = sched_n;
        if (!n) return;
        if ((int32_t)(sched_time[0] - ticks32_inline()) > EDGE_MARGIN_TICKS) {
            /* early (a wrap away, or a stale compare flag): the compare is set for it */
            return;
        }
        uint8_t served = 0;
        for (uint8_t i = 0; i < n; i++) {
            uint32_t due = sched_time[i];
            if (i > 0 && (int32_t)(due - sched_time[i - 1]) > EDGE_MARGIN_TICKS) break;
            while ((int32_t)(due - ticks32_inline()) > EDGE_EARLY_TICKS) {
            }
            sched_write(i);
            served |= (uint8_t)(1u << sched_ch[i]);
        }
        for (uint8_t k = 0; k < OPTORIG_CHANNELS; k++) {
            if (!(served & (1u << k))) continue;
            channel_t *c = &CH(k);
            if (c->laser_level) {
                c->laser_level = 0;
                c->rise_time += c->cfg.period_ticks;
                c->next_edge = c->rise_time;
            } else {
                c->laser_level = 1;
                c->pulses_delivered++;
                c->next_edge = c->rise_time + c->cfg.width_ticks;
            }
        }
        trig_serve_locked(TRIG_SERVE_EARLY_TICKS);
        train_plan_locked(ticks32_inline());
        if (!sched_n) return;
        /* the time is read again after planning (which takes a while), and again after the
         * compare is set: a compare set for a moment already past would fire a wrap late */
        if ((int32_t)(sched_time[0] - ticks32_inline()) > EDGE_MARGIN_TICKS) {
            OCR1A = (uint16_t)(sched_time[0] - EDGE_LEAD_TICKS);
            if ((int32_t)(sched_time[0] - ticks32_inline()) > EDGE_MARGIN_TICKS / 2) return;
        }
        /* the next edge is close: serve it in this run */
    }
}

/* Laser output of channel ``ch`` read back from the PIN register, 1 = on (polarity applied). */
static uint8_t laser_pin_on(uint8_t ch) {
    channel_t *c = &CH(ch);
    if (c->cfg.ttl_pin >= NUM_PINS) return 0;
    return (uint8_t)(pin_read(c->cfg.ttl_pin) ^ c->cfg.active_low);
}

/* Timer outputs: D3 = OC2B, D11 = OC2A (Timer2); D5 = OC0B, D6 = OC0A (Timer0). */
static uint8_t pin_is_pwm_capable(uint8_t pin) { return pin == 3 || pin == 5 || pin == 6 || pin == 11; }

/* Disconnect any timer output from ``pin`` (the port bit then drives it). Atomic. */
static void pwm_disconnect(uint8_t pin) {
    if (pin == 3) reg_clear(&TCCR2A, _BV(COM2B1) | _BV(COM2B0));
    else if (pin == 11) reg_clear(&TCCR2A, _BV(COM2A1) | _BV(COM2A0));
    else if (pin == 5) reg_clear(&TCCR0A, _BV(COM0B1) | _BV(COM0B0));
    else if (pin == 6) reg_clear(&TCCR0A, _BV(COM0A1) | _BV(COM0A0));
}

static void pwm_set(uint8_t pin, uint8_t level) {
    if (!pin_is_pwm_capable(pin)) return;
    if (!level) {
        pwm_disconnect(pin);
        reg_clear(pin_port(pin), pin_mask(pin));
        return;
    }
    if (pin == 3) { OCR2B = level; reg_set(&TCCR2A, _BV(COM2B1)); }
    else if (pin == 11) { OCR2A = level; reg_set(&TCCR2A, _BV(COM2A1)); }
    else if (pin == 5) { OCR0B = level; reg_set(&TCCR0A, _BV(COM0B1)); }
    else { OCR0A = level; reg_set(&TCCR0A, _BV(COM0A1)); }
}

/* Stop channel ``ch``'s train and drive its laser off. Call with interrupts off. */
static void laser_force_off_locked(uint8_t ch) {
    uint8_t was_running = CH(ch).train_running;
    CH(ch).train_running = 0;
    laser_write_locked(ch, 0);
    /* the planned port writes must not toggle this pin again */
    if (was_running) train_schedule_locked();
}

static void ramp_stop_locked(uint8_t ch) {
    CH(ch).ramp_active = 0;
    if (CH(ch).cfg.pwm_pin != PWM_PIN_NONE) pwm_set(CH(ch).cfg.pwm_pin, 0);
}

static void chan_event_push_locked(uint8_t ch, uint8_t kind, uint32_t pulses, uint8_t level, uint8_t reason,
                                   uint8_t safety);

/* Close channel ``ch``'s gate (if open) and queue GATE_CLOSED. Interrupts off. Host closes
 * may ramp. */
static void gate_close_locked(uint8_t ch, uint8_t reason) {
    channel_t *c = &CH(ch);
    if (c->gate_is_open) {
        laser_force_off_locked(ch);
        c->gate_is_open = 0;
        chan_event_push_locked(ch, EVENT_GATE_CLOSED, c->pulses_delivered, laser_pin_on(ch), reason, 1);
        if (c->cfg.pwm_pin != PWM_PIN_NONE && reason == REASON_HOST && c->cfg.ramp_down_ms > 0) {
            c->ramp_active = 1;
            c->ramp_start_ms = millis_now;
            return;
        }
    }
    if (reason != REASON_HOST) ramp_stop_locked(ch); /* any fault aborts a running ramp */
    else if (!c->ramp_active && c->cfg.pwm_pin != PWM_PIN_NONE) pwm_set(c->cfg.pwm_pin, 0);
}

/* A fault of channel ``ch``: its gate closed, ramp aborted, PWM 0 at once, the fault event
 * queued with its channel. Interrupts off. */
static void safety_trip_locked(uint8_t ch, uint8_t kind, uint8_t reason) {
    gate_close_locked(ch, reason);
    ramp_stop_locked(ch);
    chan_event_push_locked(ch, kind, 0, laser_pin_on(ch), reason, 1);
}

static uint8_t interlock_level_tripped(uint8_t ch) {
    channel_t *c = &CH(ch);
    return c->cfg.interlock_pin != INTERLOCK_PIN_NONE && pin_read(c->cfg.interlock_pin) == c->cfg.interlock_trip_level;
}

/* Compare every channel's interlock input with its latched state (a pin shared by several
 * channels trips all of them). Interrupts off. */
static void interlock_poll_locked(void) {
    for (uint8_t k = 0; k < OPTORIG_CHANNELS; k++) {
        channel_t *c = &CH(k);
        if (c->cfg.interlock_pin == INTERLOCK_PIN_NONE) continue;
        uint8_t tripped = interlock_level_tripped(k);
        if (tripped && !c->interlock_tripped) {
            c->interlock_tripped = 1;
            safety_trip_locked(k, EVENT_INTERLOCK, REASON_INTERLOCK);
        } else if (!tripped && c->interlock_tripped) {
            c->interlock_tripped = 0;
            chan_event_push_locked(k, EVENT_INTERLOCK_CLEARED, 0, laser_pin_on(k), REASON_INTERLOCK, 1);
        }
    }
}

/* Pin-change interrupts: only the channels' interlock pins are unmasked. */
ISR(PCINT0_vect) { interlock_poll_locked(); }
ISR(PCINT1_vect, ISR_ALIASOF(PCINT0_vect));
ISR(PCINT2_vect, ISR_ALIASOF(PCINT0_vect));

/* The pin-change mask: the union of every channel's interlock pin. Interrupts off. */
static void interlock_irq_setup_locked(void) {
    uint8_t m[3] = {0, 0, 0}; /* PCMSK0 (PORTB), PCMSK1 (PORTC), PCMSK2 (PORTD) */
    for (uint8_t k = 0; k < OPTORIG_CHANNELS; k++) {
        uint8_t pin = CH(k).cfg.interlock_pin;
        if (pin == INTERLOCK_PIN_NONE) continue;
        m[port_idx_of_pin(pin)] |= pin_mask(pin);
    }
    PCMSK0 = m[0];
    PCMSK1 = m[1];
    PCMSK2 = m[2];
    PCIFR = _BV(PCIF0) | _BV(PCIF1) | _BV(PCIF2);
    PCICR = (uint8_t)((m[0] ? _BV(PCIE0) : 0) | (m[1] ? _BV(PCIE1) : 0) | (m[2] ? _BV(PCIE2) : 0));
}

/* ============================================================ camera sync */

static volatile uint8_t sync_enabled;
static uint8_t sync_pin = SYNC_PIN_DEFAULT;
static uint8_t sync_led_pin = SYNC_LED_PIN_DEFAULT;
static uint16_t sync_min_ms = 1000, sync_max_ms = 5000, sync_width_ms = 10;
static volatile uint8_t sync_level;
static volatile uint32_t sync_next_edge;
static volatile uint8_t sync_edge_pending;
static volatile uint32_t sync_interval_ticks;
static uint32_t rng_state = 0x6F707469UL;

static uint32_t rng_next(void) {
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x;
}

/* Interrupts off. */
static void sync_outputs_locked(uint8_t level) {
    if (level) {
        *pin_port(sync_pin) |= pin_mask(sync_pin);
        if (sync_led_pin != PWM_PIN_NONE) *pin_port(sync_led_pin) |= pin_mask(sync_led_pin);
    } else {
        *pin_port(sync_pin) &= (uint8_t)~pin_mask(sync_pin);
        if (sync_led_pin != PWM_PIN_NONE) *pin_port(sync_led_pin) &= (uint8_t)~pin_mask(sync_led_pin);
    }
}

static volatile uint32_t sync_count;

static void sync_edge_locked(void) {
    if (sync_level) {
        sync_outputs_locked(0);
        sync_level = 0;
        sync_next_edge += sync_interval_ticks;
    } else {
        sync_outputs_locked(1);
        sync_level = 1;
        sync_count++;
        sync_edge_pending = 1;
        event_push_locked(EVENT_SYNC, sync_count, 1, 0, 0);
        sync_next_edge += (uint32_t)sync_width_ms * 2000UL;
    }
}

/* ========================================================== camera trigger */
/* A periodic TTL pulse for a hardware-triggered camera, device-timed like the laser train:
 * every rising edge is at trig_rise = enable time + k * period (absolute tick times, so the
 * period has no cumulative drift); the edges are made in TIMER1_COMPB together with the
 * safety tick and the sync edges. EVENT_TRIGGER carries the count since enable (from 1)
 * for every report_every-th trigger, stamped right after the rising edge was written. */

static volatile uint8_t trig_enabled;
static uint8_t trig_pin = TRIGGER_PIN_DEFAULT;
static volatile uint8_t *volatile trig_port = &PORTB;
static volatile uint8_t trig_mask = _BV(0);
static volatile uint8_t trig_level;
static volatile uint32_t trig_next_edge;
static volatile uint32_t trig_rise;
static volatile uint32_t trig_period_ticks, trig_width_ticks;
static volatile uint32_t trig_count;
static volatile uint16_t trig_report_every = 1;
static volatile uint16_t trig_report_phase;

/* Interrupts off. */
static void trig_edge_locked(void) {
    if (trig_level) {
        *trig_port &= (uint8_t)~trig_mask;
        trig_level = 0;
        trig_rise += trig_period_ticks;
        trig_next_edge = trig_rise;
    } else {
        *trig_port |= trig_mask;
        trig_level = 1;
        trig_count++;
        if (++trig_report_phase >= trig_report_every) {
            trig_report_phase = 0;
            event_push_locked(EVENT_TRIGGER, trig_count, 1, 0, 0);
        }
        trig_next_edge = trig_rise + trig_width_ticks;
    }
}

/* ============================================================== safety tick */

#define TICK_TICKS ((uint32_t)SAFETY_TICK_US * OPTORIG_TICKS_PER_US)
static volatile uint32_t tick_next;
static volatile uint8_t tick_phase; /* quarter milliseconds */
static volatile uint8_t tick_busy;
static volatile uint16_t tick_count;
/* Measurements (read by the simavr benchmark from RAM): worst lateness of the safety tick
 * and worst main-loop iteration, in 0.5 us ticks. */
volatile uint16_t stat_tick_late_max;
volatile uint16_t stat_loop_max;

static void safety_tick(void) {
    uint8_t s = SREG;
    cli_guarded(s);
    interlock_poll_locked(); /* backstop for a missed pin-change interrupt */
    uint32_t now_ms = millis_now;
    sreg_restore(s);
    /* each channel's own watchdog and cap: a trip closes that channel only. One short
     * interrupts-off section per channel, so train edges (COMPA) wait for one check at most. */
    for (uint8_t k = 0; k < OPTORIG_CHANNELS; k++) {
        cli_guarded(s);
        channel_t *c = &CH(k);
        if (c->armed && (uint32_t)(now_ms - c->last_heartbeat_ms) > c->cfg.watchdog_ms) {
            c->armed = 0;
            safety_trip_locked(k, EVENT_WATCHDOG, REASON_WATCHDOG);
        }
        if (c->gate_is_open && (uint32_t)(now_ms - c->gate_opened_ms) >= c->cfg.max_on_ms) {
            safety_trip_locked(k, EVENT_CAP, REASON_CAP);
        }
        sreg_restore(s);
    }
    if (tick_phase != 0) return;
    for (uint8_t k = 0; k < OPTORIG_CHANNELS; k++) {
        cli_guarded(s);
        channel_t *c = &CH(k);
        uint8_t ramping = c->ramp_active;
        uint32_t elapsed = now_ms - c->ramp_start_ms;
        uint16_t ramp_ms = c->cfg.ramp_down_ms;
        uint8_t level0 = c->cfg.pwm_level;
        sreg_restore(s);
        if (!ramping) continue;
        /* the division runs with interrupts on; a fault in between aborts the ramp first */
        uint8_t level = elapsed >= ramp_ms ? 0 : (uint8_t)((uint32_t)level0 * (ramp_ms - elapsed) / ramp_ms);
        cli_guarded(s);
        if (c->ramp_active) {
            if (level == 0) ramp_stop_locked(k);
            else pwm_set(c->cfg.pwm_pin, level);
        }
        sreg_restore(s);
    }
}

/* Trigger edge precision. The tick's own work plus the 12 us "never set a compare that already
 * passed" margin would make an edge due just after a safety tick or sync edge ~25 us late. So
 * an interrupt that finds a trigger edge due within TRIG_GUARD_TICKS defers its tick and sync
 * work to the trigger edge's interrupt (the tick is then at most ~35 us late; the watchdog,
 * cap and interlock bounds are in milliseconds) and comes back exactly at the edge; an edge
 * closer than TRIG_SPIN_TICKS (more than the ~30 cycles from reading the clock to writing
 * OCR1B) is waited for with interrupts off (at most 4 us). Edges are at most 2 us early. */
#define TRIG_EARLY_TICKS 4
#define TRIG_SPIN_TICKS 8
#define TRIG_GUARD_TICKS 64

/* Timer1 COMPB: the safety tick, the sync edges and the trigger edges share one compare
 * channel; OCR1B is set to whichever is due first. Interrupts are on once the trigger and
 * sync edges are out, except around the 16-bit timer register accesses (one shared TEMP
 * byte), so laser train edges (COMPA) never wait for the tick's bookkeeping or checks: only
 * COMPB touches the tick state. A nested COMPB cannot
 * happen: OCR1B is always set at least 12 us ahead of the end of the tick bookkeeping and the
 * checks that follow are guarded by tick_busy. */
ISR(TIMER1_COMPB_vect) {
    /* with no trigger edge to keep exact, laser edges (COMPA) may preempt from here on */
    uint8_t trig_on = trig_enabled;
    if (!trig_on) sei();
    uint32_t now = ticks32();
    if (trig_on) {
        int32_t due = (int32_t)(trig_next_edge - now);
        if (due > TRIG_EARLY_TICKS && due <= TRIG_GUARD_TICKS) {
            if (due > TRIG_SPIN_TICKS) {
                OCR1B = (uint16_t)trig_next_edge; /* the tick and sync wait for the edge */
                /* Return only if the compare is still ahead now that it is written; had the
                 * clock passed it meanwhile, the next match would be a 32 ms timer wrap away
                 * (then the edge is made below, a few us late). */
                if ((int32_t)(trig_next_edge - ticks32_locked()) > 2) return;
            }
            while ((int32_t)(trig_next_edge - ticks32_locked()) > 0) {
            }
            now = ticks32_locked();
        }
        if ((int32_t)(trig_next_edge - now) <= TRIG_EARLY_TICKS) trig_edge_locked();
    }
    if (sync_enabled && (int32_t)(sync_next_edge - now) <= 16) {
        cli();
        sync_edge_locked();
    }
    sei(); /* the edges are out: laser edges (COMPA) may preempt the rest */
    uint8_t run_tick = 0;
    int32_t late = (int32_t)(now - tick_next);
    if (late >= -16) {
        uint16_t quarters = 1;
        if (late > 0) {
            if ((uint32_t)late > 0xFFFFu) late = 0xFFFF;
            if ((uint16_t)late > stat_tick_late_max) stat_tick_late_max = (uint16_t)late;
            if ((uint32_t)late >= TICK_TICKS) quarters = (uint16_t)(1u + (uint32_t)late / TICK_TICKS); /* bounded */
        }
        tick_next += (uint32_t)quarters * TICK_TICKS;
        uint16_t q = (uint16_t)(tick_phase + quarters);
        uint8_t s = SREG;
        cli(); /* millis_now is read by the PCINT/COMPA side of the safety core */
        millis_now += q / 4u;
        sreg_restore(s);
        tick_phase = (uint8_t)(q % 4u);
        tick_count++;
        run_tick = 1;
    }
    uint32_t next = tick_next;
    if (sync_enabled && (int32_t)(sync_next_edge - next) < 0) next = sync_next_edge;
    {
        uint8_t s = SREG;
        cli();
        if (trig_enabled && (int32_t)(trig_next_edge - next) < 0) next = trig_next_edge;
        uint32_t again = ticks32_locked() + 24;
        if ((int32_t)(next - again) < 0) next = again; /* never set a compare that already passed */
        OCR1B = (uint16_t)next;
        sreg_restore(s);
    }
    if (run_tick && !tick_busy) {
        tick_busy = 1;
        safety_tick(); /* laser edges (COMPA), the interlock and the UART may preempt the checks */
        tick_busy = 0;
    }
}

/* ====================================================== gate (main loop side) */

static void event_now(uint8_t kind, uint8_t reason, uint8_t safety) {
    uint8_t s = SREG;
    cli_guarded(s);
    event_push_locked(kind, 0, 0, reason, safety);
    sreg_restore(s);
}

static void chan_event_now(uint8_t ch, uint8_t kind, uint8_t reason, uint8_t safety) {
    uint8_t s = SREG;
    cli_guarded(s);
    chan_event_push_locked(ch, kind, 0, laser_pin_on(ch), reason, safety);
    sreg_restore(s);
}

static void gate_open(uint8_t ch) {
    uint8_t s = SREG;
    cli_guarded(s);
    channel_t *c = &CH(ch);
    if (c->gate_is_open) { sreg_restore(s); return; }
    if (!c->armed || c->cfg.ttl_pin >= NUM_PINS) {
        chan_event_push_locked(ch, EVENT_REFUSED, 0, laser_pin_on(ch), REASON_NOT_ARMED, 1);
        sreg_restore(s);
        return;
    }
    /* the interlock input itself, not only the latched flag */
    interlock_poll_locked();
    if (c->interlock_tripped || interlock_level_tripped(ch)) {
        chan_event_push_locked(ch, EVENT_REFUSED, 0, laser_pin_on(ch), REASON_INTERLOCK, 1);
        sreg_restore(s);
        return;
    }
    c->ramp_active = 0;
    if (c->cfg.pwm_pin != PWM_PIN_NONE) pwm_set(c->cfg.pwm_pin, c->cfg.pwm_level);
    uint32_t now = ticks32_locked();
    laser_write_locked(ch, 1);
    c->pulses_delivered = 1;
    c->gate_is_open = 1;
    c->gate_opened_ms = millis_now;
    chan_event_push_locked(ch, EVENT_GATE_OPENED, 0, laser_pin_on(ch), REASON_HOST, 1);
    if (c->cfg.mode == MODE_PULSE_TRAIN) {
        c->rise_time = now;
        c->next_edge = now + c->cfg.width_ticks;
        c->train_running = 1;
        /* (no TIFR1 write: a stale OCF1A only makes COMPA run once early, which it checks;
         * simavr 1.6 also loses a pending COMPB when TIFR1 is written here). The first fall
         * is >= MIN_PULSE_WIDTH_US away, far beyond the margin. */
        train_schedule_locked();
    }
    sreg_restore(s);
}

static void gate_close(uint8_t ch, uint8_t reason) {
    uint8_t s = SREG;
    cli_guarded(s);
    gate_close_locked(ch, reason);
    sreg_restore(s);
}

static void gate_close_all(uint8_t reason) {
    for (uint8_t k = 0; k < OPTORIG_CHANNELS; k++) gate_close(k, reason);
}

/* ================================================================ pin roles */

#define ROLE_NONE 0
#define ROLE_SERIAL 1
#define ROLE_LASER 2
#define ROLE_PWM 3
#define ROLE_INTERLOCK 4
#define ROLE_SYNC 5
#define ROLE_LED 6
#define ROLE_TRIGGER 7

/* The role of ``pin``, ignoring channel ``skip`` (0xFF: none), whose pins a CONFIG replaces. */
static uint8_t pin_role_except(uint8_t pin, uint8_t skip) {
    if (pin < 2) return ROLE_SERIAL;
    for (uint8_t k = 0; k < OPTORIG_CHANNELS; k++) {
        if (k == skip) continue;
        channel_t *c = &CH(k);
        if (pin == c->cfg.ttl_pin) return ROLE_LASER;
        if (c->cfg.pwm_pin != PWM_PIN_NONE && pin == c->cfg.pwm_pin) return ROLE_PWM;
        if (c->cfg.interlock_pin != INTERLOCK_PIN_NONE && pin == c->cfg.interlock_pin) return ROLE_INTERLOCK;
    }
    if (sync_enabled && pin == sync_pin) return ROLE_SYNC;
    if (sync_enabled && sync_led_pin != PWM_PIN_NONE && pin == sync_led_pin) return ROLE_LED;
    if (trig_enabled && pin == trig_pin) return ROLE_TRIGGER;
    return ROLE_NONE;
}
static uint8_t pin_role(uint8_t pin) { return pin_role_except(pin, 0xFF); }
static uint8_t pin_reserved(uint8_t pin) { return pin >= NUM_PINS || pin_role(pin) != ROLE_NONE; }

static uint8_t valid_pin(uint8_t pin) { return pin >= 2 && pin < NUM_PINS; }

static uint8_t ee_record_value(uint8_t ch, uint8_t step) {
    uint8_t s = SREG;
    cli();
    uint8_t pin = CH(ch).cfg.ttl_pin, low = CH(ch).cfg.active_low;
    sreg_restore(s);
    switch (step) {
    case 0: return 0xFF;
    case 1: return pin;
    case 2: return low;
    case 3: return (uint8_t)~(pin ^ low);
    default: return EE_MAGIC;
    }
}

/* =================================================================== Firmata */

#define F_INPUT 0
#define F_OUTPUT 1
#define F_ANALOG 2
#define F_PWM 3
#define F_INPUT_PULLUP 11
#define F_RESERVED 0x7E /* shown for role pins (not a Firmata mode a client may set) */

static uint8_t pin_mode[NUM_PINS];

/* Give ``pin`` channel ``ch``'s laser role: no timer output, off level driven at once,
 * output. LASER_PIN_NONE: the channel has no pin. */
static void apply_laser_pin(uint8_t ch, uint8_t pin, uint8_t active_low) {
    uint8_t s = SREG;
    cli_guarded(s);
    channel_t *c = &CH(ch);
    laser_force_off_locked(ch); /* the old pin, with the old polarity */
    c->cfg.ttl_pin = pin;
    c->cfg.active_low = active_low;
    if (pin >= NUM_PINS) {
        c->mask = 0; /* writes to no pin */
        c->port_idx = 0;
        sreg_restore(s);
        return;
    }
    sreg_restore(s);
    pwm_disconnect(pin);
    cli_guarded(s);
    c->port_idx = port_idx_of_pin(pin);
    c->mask = pin_mask(pin);
    laser_write_locked(ch, 0);
    *pin_ddr(pin) |= pin_mask(pin);
    sreg_restore(s);
    pin_mode[pin] = F_OUTPUT;
}

static uint32_t read7(const uint8_t *data, uint8_t nbytes) {
    uint32_t v = 0;
    for (uint8_t i = nbytes; i > 0; i--) v = (v << 7) | (data[i - 1] & 0x7F);
    return v;
}

/* Boot configuration: channel 0 (and any channel with an EEPROM record) keeps its recorded
 * laser pin at its off level; the others have no pin. */
static void config_defaults(void) {
    for (uint8_t k = 0; k < OPTORIG_CHANNELS; k++) {
        channel_t *c = &CH(k);
        uint8_t boot = ee_boot_laser(k);
        uint8_t pin = boot & 0x7F;
        /* a stale record naming a pin an earlier channel holds is ignored (pin still off) */
        if (pin < NUM_PINS && pin_role(pin) != ROLE_NONE) pin = LASER_PIN_NONE;
        c->cfg.mode = MODE_PULSE_TRAIN;
        c->cfg.ttl_pin = LASER_PIN_NONE;
        c->cfg.period_ticks = 50000UL * OPTORIG_TICKS_PER_US;
        c->cfg.width_ticks = 15000UL * OPTORIG_TICKS_PER_US;
        c->cfg.max_on_ms = MAX_ON_MS_DEFAULT;
        c->cfg.watchdog_ms = WATCHDOG_TIMEOUT_MS_DEFAULT;
        c->cfg.pwm_pin = PWM_PIN_NONE;
        c->cfg.pwm_level = 255;
        c->cfg.ramp_down_ms = 0;
        c->cfg.interlock_pin = INTERLOCK_PIN_NONE;
        c->cfg.interlock_trip_level = 1;
        apply_laser_pin(k, pin, boot >> 7);
    }
}

/* Does ``pin`` collide with an enabled sync or trigger output? */
static uint8_t sync_uses(uint8_t pin) {
    return (sync_enabled && (pin == sync_pin || (sync_led_pin != PWM_PIN_NONE && pin == sync_led_pin))) ||
           (trig_enabled && pin == trig_pin);
}

/* May channel ``ch`` take ``pin`` as its laser or PWM output? Free of every other role. */
static uint8_t output_pin_free(uint8_t pin, uint8_t ch) {
    return valid_pin(pin) && pin_role_except(pin, ch) == ROLE_NONE && !sync_uses(pin);
}

/* May channel ``ch`` use ``pin`` as its interlock input (tripping at ``level``)? Another
 * channel's interlock on the same pin and level is allowed (shared); any output role is not. */
static uint8_t interlock_pin_ok(uint8_t pin, uint8_t level, uint8_t ch) {
    if (!valid_pin(pin) || sync_uses(pin)) return 0;
    uint8_t role = pin_role_except(pin, ch);
    if (role == ROLE_NONE) return 1;
    if (role != ROLE_INTERLOCK) return 0;
    for (uint8_t k = 0; k < OPTORIG_CHANNELS; k++) {
        if (k != ch && CH(k).cfg.interlock_pin == pin && CH(k).cfg.interlock_trip_level != level) return 0;
    }
    return 1;
}

/* CONFIG payload (CONFIG_PAYLOAD_BYTES = 25): channel, mode, ttl_pin, period_us(4),
 * width_us(4), max_on_ms(4), watchdog_ms(2), pwm_pin, pwm_level(2), ramp_down_ms(2),
 * interlock_pin, interlock_trip_level, polarity. */
static void handle_config(const uint8_t *d, uint8_t n) {
    uint8_t s = SREG;
    if (n == 0 || n == 0xFF || d[0] >= OPTORIG_CHANNELS) {
        /* no channel to blame: every gate closes (the safe reading of a garbled CONFIG) */
        gate_close_all(REASON_CONFIG);
        event_now(EVENT_REFUSED, REASON_BAD_CONFIG, 1);
        return;
    }
    uint8_t ch = d[0];
    /* any CONFIG of channel k, accepted or not, closes that channel's gate and ramp */
    cli_guarded(s);
    gate_close_locked(ch, REASON_CONFIG);
    ramp_stop_locked(ch);
    sreg_restore(s);
    if (n != CONFIG_PAYLOAD_BYTES) { chan_event_now(ch, EVENT_REFUSED, REASON_BAD_CONFIG, 1); return; }
    laser_config_t c;
    c.mode = d[1];
    c.ttl_pin = d[2];
    uint32_t period_us = read7(d + 3, 4);
    uint32_t width_us = read7(d + 7, 4);
    c.max_on_ms = read7(d + 11, 4);
    c.watchdog_ms = (uint16_t)read7(d + 15, 2);
    c.pwm_pin = d[17];
    uint16_t pwm_level = (uint16_t)read7(d + 18, 2);
    c.ramp_down_ms = (uint16_t)read7(d + 20, 2);
    c.interlock_pin = d[22];
    c.interlock_trip_level = d[23] ? 1 : 0;
    c.active_low = d[24];
    uint8_t ok = (c.mode == MODE_CONTINUOUS || c.mode == MODE_PULSE_TRAIN) &&
                 c.watchdog_ms >= WATCHDOG_TIMEOUT_MS_MIN && c.watchdog_ms <= WATCHDOG_TIMEOUT_MS_MAX &&
                 c.max_on_ms > 0 && pwm_level <= 255 && d[23] <= 1 && c.active_low <= 1 &&
                 c.ramp_down_ms <= 10000;
    if (c.mode == MODE_PULSE_TRAIN) {
        ok = ok && width_us >= MIN_PULSE_WIDTH_US && period_us >= 1000000UL / MAX_FREQUENCY_HZ &&
             width_us + MIN_PULSE_GAP_US <= period_us && period_us <= 10000000UL;
    }
    if (!ok) { chan_event_now(ch, EVENT_REFUSED, REASON_BAD_CONFIG, 1); return; }
    /* pin roles across all channels: laser and PWM pins distinct from every other role; an
     * interlock pin may be shared with another channel's interlock, never an output */
    uint8_t pins_ok = output_pin_free(c.ttl_pin, ch) &&
                      (c.pwm_pin == PWM_PIN_NONE ||
                       (pin_is_pwm_capable(c.pwm_pin) && c.pwm_pin != c.ttl_pin && output_pin_free(c.pwm_pin, ch))) &&
                      (c.interlock_pin == INTERLOCK_PIN_NONE ||
                       (c.interlock_pin != c.ttl_pin && c.interlock_pin != c.pwm_pin &&
                        interlock_pin_ok(c.interlock_pin, c.interlock_trip_level, ch)));
    if (!pins_ok) { chan_event_now(ch, EVENT_REFUSED, REASON_PIN_CONFLICT, 1); return; }
    c.pwm_level = (uint8_t)pwm_level;
    c.period_ticks = period_us * OPTORIG_TICKS_PER_US;
    c.width_ticks = width_us * OPTORIG_TICKS_PER_US;
    channel_t *chp = &CH(ch);
    uint8_t old_pin = chp->cfg.ttl_pin, old_low = chp->cfg.active_low;
    uint8_t old_pwm = chp->cfg.pwm_pin;
    cli_guarded(s);
    chp->cfg.interlock_pin = INTERLOCK_PIN_NONE;
    interlock_irq_setup_locked();
    chp->cfg.mode = c.mode;
    chp->cfg.period_ticks = c.period_ticks;
    chp->cfg.width_ticks = c.width_ticks;
    chp->cfg.max_on_ms = c.max_on_ms;
    chp->cfg.watchdog_ms = c.watchdog_ms;
    chp->cfg.pwm_pin = c.pwm_pin;
    chp->cfg.pwm_level = c.pwm_level;
    chp->cfg.ramp_down_ms = c.ramp_down_ms;
    chp->cfg.interlock_trip_level = c.interlock_trip_level;
    sreg_restore(s);
    apply_laser_pin(ch, c.ttl_pin, c.active_low);
    if (old_pin != c.ttl_pin && old_pin < NUM_PINS) {
        /* the old laser pin stays an output at its old off level */
        reg_write_bit(pin_port(old_pin), pin_mask(old_pin), old_low);
    }
    if (old_pwm != PWM_PIN_NONE && old_pwm != c.pwm_pin) pwm_set(old_pwm, 0);
    if (c.pwm_pin != PWM_PIN_NONE) {
        reg_clear(pin_port(c.pwm_pin), pin_mask(c.pwm_pin));
        reg_set(pin_ddr(c.pwm_pin), pin_mask(c.pwm_pin));
        pwm_set(c.pwm_pin, 0);
        pin_mode[c.pwm_pin] = F_PWM;
    }
    if (c.interlock_pin != INTERLOCK_PIN_NONE) {
        pwm_disconnect(c.interlock_pin);
        reg_clear(pin_ddr(c.interlock_pin), pin_mask(c.interlock_pin));
        reg_set(pin_port(c.interlock_pin), pin_mask(c.interlock_pin)); /* pull-up: open wire = HIGH */
        pin_mode[c.interlock_pin] = F_INPUT_PULLUP;
        _delay_us(20); /* let the pull-up charge the cable before the first read */
    }
    /* the interlock is read now, not assumed closed */
    cli_guarded(s);
    chp->cfg.interlock_pin = c.interlock_pin;
    chp->interlock_tripped = 0;
    interlock_irq_setup_locked();
    chan_event_push_locked(ch, EVENT_CONFIG_ACK, 0, laser_pin_on(ch), REASON_CONFIG, 1);
    interlock_poll_locked();
    sreg_restore(s);
    if (old_pin != c.ttl_pin || old_low != c.active_low) ee_mark_dirty(ch);
}

/* SYNC payload (SYNC_PAYLOAD_BYTES = 9): enable, sync_pin, led_pin, min_ms(2), max_ms(2),
 * width_ms(2) */
static void handle_sync(const uint8_t *d, uint8_t n) {
    uint8_t s = SREG;
    cli_guarded(s);
    if (sync_enabled) sync_outputs_locked(0);
    sync_enabled = 0;
    sreg_restore(s);
    if (n != SYNC_PAYLOAD_BYTES) { event_now(EVENT_REFUSED, REASON_BAD_CONFIG, 1); return; }
    uint16_t min_ms = (uint16_t)read7(d + 3, 2), max_ms = (uint16_t)read7(d + 5, 2);
    uint16_t width_ms = (uint16_t)read7(d + 7, 2);
    if (width_ms == 0 || min_ms <= width_ms || max_ms < min_ms) {
        event_now(EVENT_REFUSED, REASON_BAD_CONFIG, 1);
        return;
    }
    uint8_t sp = d[1], lp = d[2];
    if (d[0]) {
        /* sync is now disabled, so pin_role() shows only the laser, PWM and interlock roles */
        uint8_t pins_ok = valid_pin(sp) && pin_role(sp) == ROLE_NONE &&
                          (lp == PWM_PIN_NONE || (valid_pin(lp) && lp != sp && pin_role(lp) == ROLE_NONE));
        if (!pins_ok) { event_now(EVENT_REFUSED, REASON_PIN_CONFLICT, 1); return; }
    }
    sync_pin = sp;
    sync_led_pin = lp;
    sync_min_ms = min_ms;
    sync_max_ms = max_ms;
    sync_width_ms = width_ms;
    if (d[0]) {
        pwm_disconnect(sp);
        if (lp != PWM_PIN_NONE) pwm_disconnect(lp);
        cli_guarded(s);
        sync_outputs_locked(0);
        *pin_ddr(sp) |= pin_mask(sp);
        if (lp != PWM_PIN_NONE) *pin_ddr(lp) |= pin_mask(lp);
        sreg_restore(s);
        pin_mode[sp] = F_OUTPUT;
        if (lp != PWM_PIN_NONE) pin_mode[lp] = F_OUTPUT;
        cli_guarded(s);
        sync_level = 0;
        sync_next_edge = ticks32_locked() + (uint32_t)sync_min_ms * 2000UL;
        sync_enabled = 1;
        sreg_restore(s);
    }
    event_now(EVENT_CONFIG_ACK, REASON_CONFIG, 1);
}

/* TRIGGER payload (TRIGGER_PAYLOAD_BYTES = 11): enable, pin, period_us(4), width_us(3),
 * report_every(2). Any TRIGGER first stops a running trigger (pin low, final EVENT_TRIGGER
 * with the count so far, reason REASON_HOST); enable = 0 stops only. */
static void handle_trigger(const uint8_t *d, uint8_t n) {
    uint8_t s = SREG;
    cli_guarded(s);
    if (trig_enabled) {
        trig_enabled = 0;
        *trig_port &= (uint8_t)~trig_mask;
        trig_level = 0;
        event_push_locked(EVENT_TRIGGER, trig_count, 0, REASON_HOST, 1);
    }
    sreg_restore(s);
    if (n != TRIGGER_PAYLOAD_BYTES) { event_now(EVENT_REFUSED, REASON_BAD_CONFIG, 1); return; }
    if (!d[0]) { event_now(EVENT_CONFIG_ACK, REASON_CONFIG, 1); return; }
    uint8_t pin = d[1];
    uint32_t period_us = read7(d + 2, 4), width_us = read7(d + 6, 3);
    uint16_t every = (uint16_t)read7(d + 9, 2);
    uint8_t ok = d[0] == 1 && period_us >= TRIGGER_MIN_PERIOD_US && period_us <= TRIGGER_MAX_PERIOD_US &&
                 width_us >= TRIGGER_MIN_WIDTH_US && width_us + TRIGGER_MIN_GAP_US <= period_us && every >= 1;
    if (!ok) { event_now(EVENT_REFUSED, REASON_BAD_CONFIG, 1); return; }
    /* the trigger is now disabled, so pin_role() shows every other role */
    if (!valid_pin(pin) || pin_role(pin) != ROLE_NONE) { event_now(EVENT_REFUSED, REASON_PIN_CONFLICT, 1); return; }
    pwm_disconnect(pin);
    cli_guarded(s);
    trig_pin = pin;
    trig_port = pin_port(pin);
    trig_mask = pin_mask(pin);
    *trig_port &= (uint8_t)~trig_mask;
    *pin_ddr(pin) |= trig_mask;
    sreg_restore(s);
    pin_mode[pin] = F_OUTPUT;
    cli_guarded(s);
    trig_period_ticks = period_us * OPTORIG_TICKS_PER_US;
    trig_width_ticks = width_us * OPTORIG_TICKS_PER_US;
    trig_report_every = every;
    trig_report_phase = (uint16_t)(every - 1); /* the first trigger is always reported */
    trig_count = 0;
    trig_level = 0;
    /* the first edge 2 ms from now, so the acknowledgement goes out before it */
    trig_rise = ticks32_locked() + 2000UL * OPTORIG_TICKS_PER_US;
    trig_next_edge = trig_rise;
    trig_enabled = 1;
    event_push_locked(EVENT_CONFIG_ACK, 0, 0, REASON_CONFIG, 1);
    sreg_restore(s);
}

static uint8_t report_digital_ports; /* bit per port 0..2 */
static uint8_t last_port_value[3];
static uint8_t report_analog_mask;   /* bit per analog pin 0..5 */
static uint16_t sampling_interval_ms = 19;
static uint32_t last_sample_ms;
static uint8_t analog_pending; /* channels still to sample in this sampling interval */

static void send_version(void) {
    if (!tx_begin(3)) return;
    tx_put(0xF9);
    tx_put(FIRMATA_PROTOCOL_MAJOR);
    tx_put(FIRMATA_PROTOCOL_MINOR);
    tx_kick();
}

static void send_firmware_name(void) {
    static const char name[] PROGMEM = OPTORIG_FW_NAME;
    if (!tx_begin((uint8_t)(5 + 2 * (sizeof(name) - 1)))) return;
    tx_put(0xF0);
    tx_put(0x79);
    tx_put(OPTORIG_FW_VERSION_MAJOR);
    tx_put(OPTORIG_FW_VERSION_MINOR);
    for (uint8_t i = 0; pgm_read_byte(&name[i]); i++) write7(pgm_read_byte(&name[i]), 2);
    tx_put(0xF7);
    tx_kick();
}

static void send_identity(void) {
    static const char hash[] PROGMEM = OPTORIG_BUILD_HASH;
    if (!tx_begin(2 + IDENTIFY_FIXED_BYTES + 40 + 1)) return;
    uint8_t s = SREG;
    cli();
    uint8_t a = 0, g = 0;
    for (uint8_t k = 0; k < OPTORIG_CHANNELS; k++) {
        if (CH(k).armed) a |= (uint8_t)(1u << k);
        if (CH(k).gate_is_open) g |= (uint8_t)(1u << k);
    }
    uint32_t ev_dropped = events_dropped;
    sreg_restore(s);
    tx_put(0xF0);
    tx_put(SYSEX_OPTORIG_IDENTIFY);
    tx_put(OPTORIG_PROTOCOL_VERSION);
    tx_put(OPTORIG_FW_VERSION_MAJOR);
    tx_put(OPTORIG_FW_VERSION_MINOR);
    tx_put(OPTORIG_FW_VERSION_PATCH);
    tx_put(a);
    tx_put(g);
    tx_put(OPTORIG_CHANNELS);
    write7(replies_dropped, IDENTIFY_DROPPED_BYTES);
    write7(ev_dropped, IDENTIFY_DROPPED_BYTES);
    for (uint8_t i = 0; pgm_read_byte(&hash[i]) && i < 40; i++) tx_put(pgm_read_byte(&hash[i]) & 0x7F);
    tx_put(0xF7);
    tx_kick();
}

static void send_capabilities(void) {
    /* 2 + pins 0,1 (1 each) + 18 x (6 + 1) + 4 PWM x 2 + 6 analog x 2 + 1 = 151 */
    if (!tx_begin(151)) return;
    tx_put(0xF0);
    tx_put(0x6C);
    for (uint8_t pin = 0; pin < NUM_PINS; pin++) {
        if (pin >= 2) {
            tx_put(F_INPUT); tx_put(1);
            tx_put(F_OUTPUT); tx_put(1);
            tx_put(F_INPUT_PULLUP); tx_put(1);
            if (pin_is_pwm_capable(pin)) { tx_put(F_PWM); tx_put(8); }
            if (pin >= 14) { tx_put(F_ANALOG); tx_put(10); }
        }
        tx_put(0x7F);
    }
    tx_put(0xF7);
    tx_kick();
}

static void send_analog_mapping(void) {
    if (!tx_begin(3 + NUM_PINS)) return;
    tx_put(0xF0);
    tx_put(0x6A);
    for (uint8_t pin = 0; pin < NUM_PINS; pin++) tx_put(pin >= 14 ? (uint8_t)(pin - 14) : 127);
    tx_put(0xF7);
    tx_kick();
}

static void send_pin_state(uint8_t pin) {
    if (pin >= NUM_PINS) return;
    if (!tx_begin(6)) return;
    tx_put(0xF0);
    tx_put(0x6E);
    tx_put(pin);
    tx_put(pin_mode[pin] & 0x7F);
    tx_put(pin_read(pin));
    tx_put(0xF7);
    tx_kick();
}

static uint8_t read_port_inputs(uint8_t port) {
    uint8_t value = 0;
    for (uint8_t bit = 0; bit < 8; bit++) {
        uint8_t pin = (uint8_t)(port * 8 + bit);
        if (pin >= NUM_PINS) break;
        if ((pin_mode[pin] == F_INPUT || pin_mode[pin] == F_INPUT_PULLUP) && pin_read(pin))
            value |= (uint8_t)(1u << bit);
    }
    return value;
}

static uint8_t send_port(uint8_t port, uint8_t value) {
    if (!tx_begin(3)) return 0;
    tx_put((uint8_t)(0x90 | port));
    tx_put(value & 0x7F);
    tx_put(value >> 7);
    tx_kick();
    return 1;
}

static void set_pin_mode(uint8_t pin, uint8_t mode) {
    if (pin_reserved(pin)) return;
    if (pin_mode[pin] == F_PWM && mode != F_PWM) pwm_set(pin, 0);
    volatile uint8_t *ddr = pin_ddr(pin), *port = pin_port(pin);
    uint8_t m = pin_mask(pin);
    switch (mode) {
    case F_INPUT:
        reg_clear(ddr, m);
        reg_clear(port, m);
        break;
    case F_INPUT_PULLUP:
        reg_clear(ddr, m);
        reg_set(port, m);
        break;
    case F_OUTPUT:
        reg_clear(port, m);
        reg_set(ddr, m);
        break;
    case F_PWM:
        if (!pin_is_pwm_capable(pin)) return;
        reg_clear(port, m);
        reg_set(ddr, m);
        break;
    case F_ANALOG:
        if (pin < 14) return;
        reg_clear(ddr, m);
        reg_clear(port, m);
        break;
    default:
        return;
    }
    pin_mode[pin] = mode;
}

static void digital_write_pin(uint8_t pin, uint8_t value) {
    if (pin_reserved(pin)) return;
    if (pin_mode[pin] != F_OUTPUT) return;
    reg_write_bit(pin_port(pin), pin_mask(pin), value);
}

static uint16_t adc_read(uint8_t channel) {
    ADMUX = (uint8_t)(_BV(REFS0) | (channel & 0x07));
    ADCSRA |= _BV(ADSC);
    while (ADCSRA & _BV(ADSC)) { /* 13 ADC clocks = 104 us: bounded */
    }
    return ADC;
}

static void system_reset(void) {
    uint8_t s = SREG;
    cli_guarded(s);
    for (uint8_t k = 0; k < OPTORIG_CHANNELS; k++) {
        gate_close_locked(k, REASON_RESET);
        ramp_stop_locked(k);
    }
    sreg_restore(s);
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
static uint8_t sysex_overflow;
static uint8_t in_sysex;
static uint8_t cmd;        /* pending multi-byte command */
static uint8_t cmd_need;   /* data bytes still needed */
static uint8_t cmd_data[2];
static uint8_t cmd_have;

static void handle_sysex(void) {
    if (sysex_len == 0) return;
    uint8_t id = sysex_buf[0];
    const uint8_t *d = sysex_buf + 1;
    /* an over-long sysex reaches the handlers with a wrong length and is refused */
    uint8_t n = sysex_overflow ? 0xFF : (uint8_t)(sysex_len - 1);
    switch (id) {
    case 0x79: send_firmware_name(); break;
    case 0x6B: send_capabilities(); break;
    case 0x69: send_analog_mapping(); break;
    case 0x6D: if (n >= 1 && n != 0xFF) send_pin_state(d[0]); break;
    case 0x7A:
        if (n >= 2 && n != 0xFF) {
            uint16_t v = (uint16_t)read7(d, 2);
            sampling_interval_ms = v < 1 ? 1 : v;
        }
        break;
    case SYSEX_OPTORIG_IDENTIFY: send_identity(); break;
    case SYSEX_OPTORIG_CONFIG: handle_config(d, n); break;
    case SYSEX_OPTORIG_GATE:
        /* [channel, open]; anything malformed closes every gate (never opens one) */
        if (n == 2 && d[0] < OPTORIG_CHANNELS && d[1]) gate_open(d[0]);
        else if (n == 2 && d[0] < OPTORIG_CHANNELS) gate_close(d[0], REASON_HOST);
        else gate_close_all(REASON_HOST);
        break;
    case SYSEX_OPTORIG_HEARTBEAT: {
        /* [channel_mask, token]: bit k feeds channel k's watchdog; one ack for the board */
        uint8_t mask = (n == 2) ? d[0] : 0, token = (n == 2) ? d[1] : 0;
        uint8_t s = SREG;
        cli_guarded(s);
        for (uint8_t k = 0; k < OPTORIG_CHANNELS; k++) {
            if (mask & (1u << k)) CH(k).last_heartbeat_ms = millis_now;
        }
        event_push_locked(EVENT_HEARTBEAT_ACK, 0, mask, token, 0);
        sreg_restore(s);
        break;
    }
    case SYSEX_OPTORIG_ARM: {
        if (n != 1 || d[0] >= OPTORIG_CHANNELS) { event_now(EVENT_REFUSED, REASON_BAD_CONFIG, 1); break; }
        uint8_t ch = d[0];
        uint8_t s = SREG;
        cli_guarded(s);
        if (CH(ch).cfg.ttl_pin >= NUM_PINS) {
            /* a channel with no laser pin is never armed */
            chan_event_push_locked(ch, EVENT_REFUSED, 0, 0, REASON_BAD_CONFIG, 1);
            sreg_restore(s);
            break;
        }
        CH(ch).last_heartbeat_ms = millis_now;
        CH(ch).armed = 1;
        chan_event_push_locked(ch, EVENT_ARMED, 0, laser_pin_on(ch), REASON_HOST, 1);
        interlock_poll_locked(); /* read the interlock at ARM too */
        sreg_restore(s);
        break;
    }
    case SYSEX_OPTORIG_SYNC: handle_sync(d, n); break;
    case SYSEX_OPTORIG_TRIGGER: handle_trigger(d, n); break;
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
            if (pin < NUM_PINS && pin_mode[pin] == F_OUTPUT) digital_write_pin(pin, (value >> bit) & 1);
        }
    } else if (base == 0xE0) {
        uint8_t pin = cmd & 0x0F;
        uint16_t value = (uint16_t)(cmd_data[0] | (cmd_data[1] << 7));
        if (!pin_reserved(pin) && pin_mode[pin] == F_PWM) pwm_set(pin, value > 255 ? 255 : (uint8_t)value);
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
            return;
        }
        if (!(c & 0x80)) {
            if (sysex_len < SYSEX_MAX) sysex_buf[sysex_len++] = c;
            else sysex_overflow = 1;
            return;
        }
        in_sysex = 0; /* malformed: drop it and parse this byte as a command */
    }
    if (c & 0x80) {
        cmd_need = 0;
        cmd_have = 0;
        if (c == 0xF0) { in_sysex = 1; sysex_len = 0; sysex_overflow = 0; return; }
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

static void report_inputs(void) {
    for (uint8_t port = 0; port < 3; port++) {
        if (!(report_digital_ports & (1u << port))) continue;
        uint8_t v = read_port_inputs(port);
        if (v != last_port_value[port] && send_port(port, v)) last_port_value[port] = v;
    }
    uint32_t now_ms = millis();
    if (report_analog_mask && !analog_pending && (uint32_t)(now_ms - last_sample_ms) >= sampling_interval_ms) {
        last_sample_ms = now_ms;
        analog_pending = report_analog_mask;
    }
    analog_pending &= report_analog_mask; /* reporting switched off meanwhile */
    if (analog_pending) {
        /* one conversion (~104 us) per iteration keeps the iteration short */
        uint8_t ch = 0;
        while (!(analog_pending & (1u << ch))) ch++;
        analog_pending &= (uint8_t)~(1u << ch);
        if (tx_begin(3)) {
            uint16_t v = adc_read(ch);
            tx_put((uint8_t)(0xE0 | ch));
            tx_put(v & 0x7F);
            tx_put((uint8_t)(v >> 7));
            tx_kick();
        }
    }
    if (sync_edge_pending) {
        /* choose the next random interval while the pulse is high */
        uint8_t s = SREG;
        cli();
        sync_edge_pending = 0;
        sreg_restore(s);
        uint32_t span = (uint32_t)(sync_max_ms - sync_min_ms) + 1u;
        uint32_t interval_ms = sync_min_ms + rng_next() % span - sync_width_ms;
        cli();
        sync_interval_ticks = interval_ms * 2000UL;
        sreg_restore(s);
    }
}

int main(void) {
    /* laser pin already at its off level (.init3); now the rest of the hardware */
    for (uint8_t pin = 0; pin < NUM_PINS; pin++) pin_mode[pin] = F_INPUT; /* DDR reset value */
    config_defaults();
    /* Timer1: normal mode, prescaler 8 (0.5 us ticks), overflow interrupt for the clock and
     * COMPB for the safety tick */
    TCCR1A = 0;
    TCNT1 = 0; /* (a reset clears it; said explicitly so the first tick is never a wrap away) */
    TCCR1B = _BV(CS11);
    tick_next = TICK_TICKS;
    OCR1B = (uint16_t)TICK_TICKS;
    TIFR1 = _BV(TOV1) | _BV(OCF1A) | _BV(OCF1B);
    TIMSK1 = _BV(TOIE1) | _BV(OCIE1B);
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
    event_now(EVENT_READY, REASON_RESET, 1);
    uint16_t seen_tick = tick_count;
    uint32_t loop_start = ticks32();
    for (;;) {
        /* the hardware watchdog is fed only while both the main loop and the safety tick run */
        uint16_t t = tick_count;
        if (t != seen_tick) {
            seen_tick = t;
            wdt_reset();
        }
        for (uint8_t i = 0; i < RX_BUDGET_PER_LOOP; i++) {
            int16_t c = serial_read();
            if (c < 0) break;
            parse_byte((uint8_t)c);
        }
        events_flush();
        report_inputs();
        events_flush();
        ee_poll();
        uint32_t now = ticks32();
        uint32_t took = now - loop_start;
        loop_start = now;
        if (took > 0xFFFFu) took = 0xFFFFu;
        if ((uint16_t)took > stat_loop_max) stat_loop_max = (uint16_t)took;
    }
}
