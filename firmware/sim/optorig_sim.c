/* optorig_sim: run the optorig firmware in simavr, with its UART0 on a pseudo-terminal.
 *
 *   optorig_sim FIRMWARE.elf LOGFILE
 *
 * - Prints "PTY <slave path>" on stdout once the emulated Uno runs; open that path with
 *   pyfirmata2 / FirmataBoard exactly as a real /dev/ttyACM0.
 * - Paces the emulation to real time (never runs ahead of the wall clock; when the host is
 *   slower the emulation simply lags, so tests assert on emulated cycles).
 * - LOGFILE gets one line per event, with the emulated cycle count (16 MHz):
 *     P <cycle> <arduino_pin> <level>    output pin level change (ports B, C, D)
 *     D <cycle> <port> <ddr>             data-direction register change
 *     R <cycle> <hex bytes>              bytes the host wrote, when read from the pty
 *     M <cycle> <text>                   harness marks
 * - Commands on stdin, one per line:
 *     pin <arduino_pin> <0|1>   drive an input pin (e.g. the interlock switch)
 *     reset                     reset the MCU (as the DTR line of a real Uno does)
 *     mark <text>               write "M <cycle> <text>" to the log
 *     cycle                     answer "C <cycle>" on stdout
 *     quit                      stop
 *
 *   optorig_sim --script SCRIPT [--watch ADDR]... [--dump NAME:ADDR:SIZE]... FIRMWARE.elf LOGFILE
 *
 * Script mode (fuzzing, benchmarks): no pty and no pacing, the emulation runs as fast as it
 * can. SCRIPT has one action per line, sorted by cycle:
 *     <cycle> tx <hex bytes>    queue bytes for the UART (fed one at a time, each only once the
 *                               UART's receive FIFO is empty, so "U" below is when it arrives)
 *     <cycle> pin <pin> <0|1>   drive an input pin
 *     <cycle> reset             reset the MCU
 *     <cycle> end               stop
 * Extra log lines: "U <cycle> <byte hex>" per byte fed, "O <cycle> <hex>" bytes the firmware
 * sent, "G <cycle> <index> <value>" whenever a watched RAM byte (--watch, data-space address
 * as printed by avr-nm) changes, sampled every 160 cycles (10 us), and at the end
 * "V <cycle> <name> <value>" for every --dump (little-endian, SIZE bytes).
 * UART timing: simavr 1.6 counts a parity bit even with parity off, so each byte would
 * take 11 bit times instead of 10; the harness corrects cycles_per_byte to 10 bits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "avr_ioport.h"
#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_interrupts.h"
#include "sim_irq.h"

/* simavr 1.6 bug: avr_service_interrupts() serves the highest-priority pending vector and
 * moves the FIFO's front entry into its slot with
 *     buffer[(read + mini) % size] = avr_int_pending_read(...)
 * where the pop may run before the index is computed: the entry after the served one is
 * overwritten and lost while its "pending" bit stays set, so that interrupt is never raised
 * again (a real AVR never loses a flagged interrupt). Fixed upstream later; with several
 * interrupts pending at once (train edges + safety tick + UART) the firmware hits it. The
 * harness repairs the FIFO after every interrupt entry: any vector marked pending but absent
 * from the FIFO is queued again. */
DEFINE_FIFO(avr_int_vector_p, avr_int_pending);

static void repair_pending_interrupts(avr_t *a) {
    avr_int_table_p t = &a->interrupts;
    for (int i = 0; i < t->vector_count; i++) {
        avr_int_vector_t *v = t->vector[i];
        if (!v || !v->pending) continue;
        int found = 0;
        for (unsigned r = t->pending.read; r != t->pending.write; r = (r + 1) & (avr_int_pending_fifo_size - 1)) {
            if (t->pending.buffer[r] == v) { found = 1; break; }
        }
        if (!found) {
            avr_int_pending_write(&t->pending, v);
            a->interrupt_state = 1;
        }
    }
}

/* One instruction; after an interrupt entry (the PC lands in the vector table) the pending
 * FIFO is repaired. */
static int run_one(avr_t *a) {
    int state = avr_run(a);
    if (a->pc < 26 * 4) repair_pending_interrupts(a);
    return state;
}

static FILE *logf_;
static avr_t *avr;
static int master_fd = -1;
static int uart_xon = 1;
static unsigned char outbuf[1 << 16];
static size_t out_len;
static unsigned char inbuf[1 << 16];
static size_t in_head, in_len;
static volatile sig_atomic_t quit_requested;

static void on_uart_output(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq; (void)param;
    if (out_len < sizeof(outbuf)) outbuf[out_len++] = (unsigned char)value;
}
static void on_xon(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq; (void)value; (void)param;
    uart_xon = 1;
}
static void on_xoff(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq; (void)value; (void)param;
    uart_xon = 0;
}

typedef struct { char port; int base; } port_param_t;
static port_param_t ports[3] = {{'B', 8}, {'C', 14}, {'D', 0}};

static void on_pin(struct avr_irq_t *irq, uint32_t value, void *param) {
    port_param_t *p = param;
    int bit = (int)irq->irq;
    fprintf(logf_, "P %llu %d %u\n", (unsigned long long)avr->cycle, p->base + bit, value ? 1u : 0u);
}
static void on_ddr(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    port_param_t *p = param;
    fprintf(logf_, "D %llu %c %u\n", (unsigned long long)avr->cycle, p->port, value & 0xFF);
}

static avr_uart_t *find_uart0(void) {
    for (avr_io_t *io = avr->io_port; io; io = io->next) {
        if (io->kind && strcmp(io->kind, "uart") == 0) {
            avr_uart_t *u = (avr_uart_t *)io;
            if (u->name == '0') return u;
        }
    }
    return NULL;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Levels the harness drives from outside (-1 = not driven), re-applied after a reset. */
static int driven[20] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};

static void drive_pin(int pin, int level) {
    if (pin < 0 || pin >= 20) return;
    char port = pin < 8 ? 'D' : pin < 14 ? 'B' : 'C';
    int bit = pin < 8 ? pin : pin < 14 ? pin - 8 : pin - 14;
    avr_irq_t *irq = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(port), bit);
    driven[pin] = level ? 1 : 0;
    if (irq) avr_raise_irq(irq, level ? 1 : 0);
}

/* avr_reset() clears the PIN registers but not the irq values, so raising the same level
 * again would be filtered out: force every externally driven pin back onto the port. */
static void reset_mcu(void) {
    avr_reset(avr);
    for (int pin = 0; pin < 20; pin++) {
        if (driven[pin] < 0) continue;
        char port = pin < 8 ? 'D' : pin < 14 ? 'B' : 'C';
        int bit = pin < 8 ? pin : pin < 14 ? pin - 8 : pin - 14;
        avr_irq_t *irq = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(port), bit);
        if (irq) {
            irq->value = (uint32_t)!driven[pin];
            avr_raise_irq(irq, (uint32_t)driven[pin]);
        }
    }
}

static char cmdline[256];
static size_t cmd_len;

static void handle_command(char *line) {
    int pin, level;
    if (sscanf(line, "pin %d %d", &pin, &level) == 2) {
        drive_pin(pin, level);
        fprintf(logf_, "M %llu pin %d %d\n", (unsigned long long)avr->cycle, pin, level);
    } else if (strncmp(line, "reset", 5) == 0) {
        fprintf(logf_, "M %llu reset\n", (unsigned long long)avr->cycle);
        reset_mcu();
    } else if (strncmp(line, "mark ", 5) == 0) {
        fprintf(logf_, "M %llu %s\n", (unsigned long long)avr->cycle, line + 5);
    } else if (strncmp(line, "cycle", 5) == 0) {
        printf("C %llu\n", (unsigned long long)avr->cycle);
        fflush(stdout);
    } else if (strncmp(line, "quit", 4) == 0) {
        quit_requested = 1;
    }
}

static void poll_stdin(void) {
    char buf[256];
    ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n == 0) { quit_requested = 1; return; }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            cmdline[cmd_len] = 0;
            handle_command(cmdline);
            cmd_len = 0;
        } else if (cmd_len < sizeof(cmdline) - 1) {
            cmdline[cmd_len++] = buf[i];
        }
    }
}

static void on_signal(int sig) { (void)sig; quit_requested = 1; }

#define MAX_WATCH 8
static int run_script(const char *script_path, unsigned *watch, int n_watch, char **dumps, int n_dump,
                      avr_irq_t *uart_in, avr_uart_t *uart0) {
    FILE *script = fopen(script_path, "r");
    if (!script) { perror(script_path); return 2; }
    char line[8192];
    unsigned long long next_cycle = 0;
    char action[16] = "";
    char arg[8000] = "";
    int have = 0, done = 0;
    unsigned char watched[MAX_WATCH];
    for (int i = 0; i < n_watch; i++) watched[i] = avr->data[watch[i]];
    avr_cycle_count_t next_sample = 0, patched_cpb = 0;
    while (!done) {
        if (!have) {
            if (!fgets(line, sizeof(line), script)) break;
            arg[0] = 0;
            if (sscanf(line, "%llu %15s %7999[^\n]", &next_cycle, action, arg) < 2) continue;
            have = 1;
        }
        while (have && avr->cycle >= next_cycle) {
            if (strcmp(action, "tx") == 0) {
                for (char *h = arg; h[0] && h[1]; h += 2) {
                    unsigned b;
                    if (sscanf(h, "%2x", &b) == 1 && in_len < sizeof(inbuf)) {
                        inbuf[(in_head + in_len) % sizeof(inbuf)] = (unsigned char)b;
                        in_len++;
                    }
                }
            } else if (strcmp(action, "pin") == 0) {
                int pin, level;
                if (sscanf(arg, "%d %d", &pin, &level) == 2) {
                    drive_pin(pin, level);
                    fprintf(logf_, "M %llu pin %d %d\n", (unsigned long long)avr->cycle, pin, level);
                }
            } else if (strcmp(action, "reset") == 0) {
                fprintf(logf_, "M %llu reset\n", (unsigned long long)avr->cycle);
                reset_mcu();
            } else if (strcmp(action, "end") == 0) {
                done = 1;
            }
            have = 0;
            if (!done) {
                if (!fgets(line, sizeof(line), script)) break;
                arg[0] = 0;
                if (sscanf(line, "%llu %15s %7999[^\n]", &next_cycle, action, arg) >= 2) have = 1;
            }
        }
        /* run until the next action, sampling watched bytes every 160 cycles */
        avr_cycle_count_t stop = have ? next_cycle : avr->cycle + 160;
        if (stop > avr->cycle + 400) stop = avr->cycle + 400;
        while (avr->cycle < stop) {
            int state = run_one(avr);
            if (state == cpu_Done || state == cpu_Crashed) {
                fprintf(logf_, "M %llu cpu stopped state=%d\n", (unsigned long long)avr->cycle, state);
                done = 1;
                break;
            }
            if (avr->cycle >= next_sample) {
                next_sample = avr->cycle + 160;
                for (int i = 0; i < n_watch; i++) {
                    unsigned char v = avr->data[watch[i]];
                    if (v != watched[i]) {
                        watched[i] = v;
                        fprintf(logf_, "G %llu %d %u\n", (unsigned long long)avr->cycle, i, v);
                    }
                }
            }
        }
        if (uart0 && uart0->cycles_per_byte != patched_cpb) {
            uart0->cycles_per_byte = uart0->cycles_per_byte * 10 / 11;
            patched_cpb = uart0->cycles_per_byte;
        }
        if (in_len && uart_xon && (!uart0 || ((uart0->input.write - uart0->input.read) & (uart_fifo_fifo_size - 1)) < 2)) {
            fprintf(logf_, "U %llu %02x\n", (unsigned long long)avr->cycle, inbuf[in_head]);
            avr_raise_irq(uart_in, inbuf[in_head]);
            in_head = (in_head + 1) % sizeof(inbuf);
            in_len--;
        }
        if (out_len) {
            fprintf(logf_, "O %llu ", (unsigned long long)avr->cycle);
            for (size_t i = 0; i < out_len; i++) fprintf(logf_, "%02x", outbuf[i]);
            fputc('\n', logf_);
            out_len = 0;
        }
    }
    for (int i = 0; i < n_dump; i++) {
        char name[64];
        unsigned addr, size;
        if (sscanf(dumps[i], "%63[^:]:%x:%u", name, &addr, &size) != 3 || size > 8) continue;
        unsigned long long v = 0;
        for (unsigned k = 0; k < size; k++) v |= (unsigned long long)avr->data[addr + k] << (8 * k);
        fprintf(logf_, "V %llu %s %llu\n", (unsigned long long)avr->cycle, name, v);
    }
    fprintf(logf_, "M %llu quit\n", (unsigned long long)avr->cycle);
    fclose(script);
    fclose(logf_);
    return 0;
}

int main(int argc, char **argv) {
    const char *script_path = NULL;
    unsigned watch[MAX_WATCH];
    int n_watch = 0, n_dump = 0;
    char *dumps[16];
    int a = 1;
    while (a + 1 < argc && strncmp(argv[a], "--", 2) == 0) {
        if (strcmp(argv[a], "--script") == 0) script_path = argv[a + 1];
        else if (strcmp(argv[a], "--watch") == 0 && n_watch < MAX_WATCH) watch[n_watch++] = (unsigned)strtoul(argv[a + 1], NULL, 0) & 0xFFFF;
        else if (strcmp(argv[a], "--dump") == 0 && n_dump < 16) dumps[n_dump++] = argv[a + 1];
        a += 2;
    }
    argv += a - 1;
    argc -= a - 1;
    if (argc < 3) {
        fprintf(stderr, "usage: optorig_sim [--script S [--watch ADDR]... [--dump N:ADDR:SIZE]...] FIRMWARE.elf LOGFILE\n");
        return 2;
    }
    logf_ = fopen(argv[2], "w");
    if (!logf_) { perror(argv[2]); return 2; }
    setvbuf(logf_, NULL, script_path ? _IOFBF : _IOLBF, script_path ? 1 << 20 : 0);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);

    elf_firmware_t fw;
    memset(&fw, 0, sizeof(fw));
    if (elf_read_firmware(argv[1], &fw) != 0) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    avr = avr_make_mcu_by_name("atmega328p");
    if (!avr) { fprintf(stderr, "no atmega328p in simavr\n"); return 2; }
    avr_init(avr);
    fw.frequency = 16000000;
    avr_load_firmware(avr, &fw);
    avr->frequency = 16000000;
    avr->log = 0;

    /* UART0 <-> pty, without the stdio echo */
    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~AVR_UART_FLAG_STDIO;
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), on_uart_output, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), on_xon, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), on_xoff, NULL);
    avr_irq_t *uart_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_uart_t *uart0 = find_uart0();

    for (int p = 0; p < 3; p++) {
        for (int bit = 0; bit < 8; bit++) {
            avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(ports[p].port), bit), on_pin, &ports[p]);
        }
        avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(ports[p].port), IOPORT_IRQ_DIRECTION_ALL), on_ddr, &ports[p]);
    }

    if (script_path) return run_script(script_path, watch, n_watch, dumps, n_dump, uart_in, uart0);

    int slave_fd;
    char slave_name[256];
    if (openpty(&master_fd, &slave_fd, slave_name, NULL, NULL) != 0) { perror("openpty"); return 2; }
    struct termios tio;
    tcgetattr(slave_fd, &tio);
    cfmakeraw(&tio);
    tcsetattr(slave_fd, TCSANOW, &tio);
    /* slave_fd stays open so the master never sees EIO while the host reconnects */
    fcntl(master_fd, F_SETFL, fcntl(master_fd, F_GETFL) | O_NONBLOCK);
    fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
    printf("PTY %s\n", slave_name);
    fflush(stdout);
    fprintf(logf_, "M 0 start %s\n", slave_name);

    int64_t start_ns = now_ns();
    avr_cycle_count_t patched_cpb = 0;
    int state = cpu_Running;
    while (!quit_requested) {
        for (int i = 0; i < 1000; i++) {
            state = run_one(avr);
            if (state == cpu_Done || state == cpu_Crashed) break;
        }
        if (state == cpu_Done || state == cpu_Crashed) {
            fprintf(logf_, "M %llu cpu stopped state=%d\n", (unsigned long long)avr->cycle, state);
            break;
        }
        if (uart0 && uart0->cycles_per_byte != patched_cpb) {
            uart0->cycles_per_byte = uart0->cycles_per_byte * 10 / 11;
            patched_cpb = uart0->cycles_per_byte;
        }
        /* host -> AVR */
        if (in_len < sizeof(inbuf) / 2) {
            unsigned char buf[512];
            ssize_t n = read(master_fd, buf, sizeof(buf));
            if (n > 0) {
                fprintf(logf_, "R %llu ", (unsigned long long)avr->cycle);
                for (ssize_t i = 0; i < n; i++) {
                    fprintf(logf_, "%02x", buf[i]);
                    inbuf[(in_head + in_len) % sizeof(inbuf)] = buf[i];
                    in_len++;
                }
                fputc('\n', logf_);
            }
        }
        while (in_len && uart_xon) {
            avr_raise_irq(uart_in, inbuf[in_head]);
            in_head = (in_head + 1) % sizeof(inbuf);
            in_len--;
        }
        /* AVR -> host */
        if (out_len) {
            ssize_t n = write(master_fd, outbuf, out_len);
            if (n > 0) {
                memmove(outbuf, outbuf + n, out_len - (size_t)n);
                out_len -= (size_t)n;
            } else if (n < 0 && errno != EAGAIN) {
                out_len = 0;
            }
        }
        poll_stdin();
        /* pace to real time, never faster: when the emulation lagged (a busy machine) it
         * does not race to catch up, or bytes the host sent 100 ms apart would arrive
         * further apart in emulated time (a false watchdog trip); the lag is forgiven. */
        int64_t emu_ns = (int64_t)((double)avr->cycle * 1e9 / 16e6);
        int64_t wall_ns = now_ns() - start_ns;
        if (emu_ns < wall_ns - 2000000) {
            start_ns += wall_ns - emu_ns;
            wall_ns = emu_ns;
        }
        if (emu_ns > wall_ns + 1000000) {
            struct timespec ts = {0, (long)(emu_ns - wall_ns)};
            if (ts.tv_nsec >= 1000000000L) { ts.tv_sec = ts.tv_nsec / 1000000000L; ts.tv_nsec %= 1000000000L; }
            nanosleep(&ts, NULL);
        }
    }
    fprintf(logf_, "M %llu quit\n", (unsigned long long)avr->cycle);
    fclose(logf_);
    close(master_fd);
    close(slave_fd);
    return 0;
}
