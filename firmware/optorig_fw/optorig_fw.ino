// optorig firmware: Arduino IDE / arduino-cli entry point.
//
// The firmware is plain C against avr-libc in optorig_fw.c (which defines main() and its
// own interrupt handlers), so this sketch is intentionally empty: the IDE compiles every
// .c file in this folder and, because main() is defined there, links none of the Arduino
// core. Build: arduino-cli compile --fqbn arduino:avr:uno firmware/optorig_fw
// See docs/firmware.md.
