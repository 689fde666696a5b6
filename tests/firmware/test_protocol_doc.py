"""docs/firmware.md's byte-by-byte protocol tables agree with config.h, firmata_codes.py and the
offsets the C source reads. (Before issue 11 the docs listed 23 CONFIG bytes while the
firmware needed 24.)"""

from __future__ import annotations

import re
from pathlib import Path

from rig.devices import firmata_codes as fc
from tests.firmware.test_config_constants import number, parse_defines

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "firmware.md"
SOURCE = ROOT / "firmware" / "optorig_fw" / "optorig_fw.c"
HEADING = re.compile(r"^### (\w+) \((0x[0-9A-Fa-f]+)\) (host -> firmware|firmware -> host), (\d+) payload bytes?", re.M)


def sections() -> dict[tuple[str, str], tuple[int, int, list[tuple[int, int, str]]]]:
    """(name, direction) -> (sysex id, payload bytes, [(first byte, count, field)])."""
    text = DOC.read_text()
    found = {}
    matches = list(HEADING.finditer(text))
    for i, match in enumerate(matches):
        body = text[match.end() : matches[i + 1].start() if i + 1 < len(matches) else len(text)]
        body = body.split("\n## ")[0].split("\nEvent kinds:")[0]
        rows = []
        for row in re.finditer(r"^\| (\d+)(?:-(\d+)?)? \| (\w[\w ]*?) \|", body, re.M):
            first = int(row.group(1))
            if row.group(0).split("|")[1].strip().endswith("-"):
                continue  # open-ended trailer (build hash)
            last = int(row.group(2)) if row.group(2) else first
            rows.append((first, last - first + 1, row.group(3).strip()))
        found[(match.group(1), match.group(3))] = (int(match.group(2), 16), int(match.group(4)), rows)
    return found


def test_every_sysex_is_documented_with_contiguous_bytes_matching_config_h() -> None:
    defines = parse_defines()
    docs = sections()
    names = {name for name, _ in docs}
    assert names == {k.removeprefix("SYSEX_OPTORIG_") for k in defines if k.startswith("SYSEX_OPTORIG_")}
    for (name, direction), (sysex_id, count, rows) in docs.items():
        assert sysex_id == number(defines[f"SYSEX_OPTORIG_{name}"]) == getattr(fc, f"SYSEX_OPTORIG_{name}"), name
        offset = 0
        for first, size, field in rows:
            assert first == offset, (name, field)
            offset += size
        assert offset == count, (name, direction)
        if f"{name}_PAYLOAD_BYTES" in defines:
            assert count == number(defines[f"{name}_PAYLOAD_BYTES"]) == getattr(fc, f"{name}_PAYLOAD_BYTES"), name
    assert docs[("IDENTIFY", "firmware -> host")][1] == number(defines["IDENTIFY_FIXED_BYTES"]) == fc.IDENTIFY_FIXED_BYTES
    event_rows = {field: size for _, size, field in docs[("EVENT", "firmware -> host")][2]}
    assert event_rows["device_us"] == number(defines["EVENT_US_BYTES"]) == fc.EVENT_US_BYTES
    assert event_rows["pulses"] == number(defines["EVENT_PULSES_BYTES"]) == fc.EVENT_PULSES_BYTES
    identity_rows = {field: size for _, size, field in docs[("IDENTIFY", "firmware -> host")][2]}
    assert identity_rows["replies_dropped"] == number(defines["IDENTIFY_DROPPED_BYTES"]) == fc.IDENTIFY_DROPPED_BYTES


def test_event_kinds_and_reasons_tables_match_config_h() -> None:
    defines = parse_defines()
    text = DOC.read_text()
    for title, prefix in (("Event kinds:", "EVENT_"), ("Reasons:", "REASON_")):
        table = text.split(title, 1)[1].split("\n\n", 1)[0]
        documented = {int(code): name for code, name in re.findall(r"^\| (\d+) \| (\w+) \|", table, re.M)}
        expected = {
            number(value): key.removeprefix(prefix)
            for key, value in defines.items()
            if key.startswith(prefix) and not key.endswith("_BYTES")
        }
        assert documented == expected, title
        for code, name in documented.items():
            assert getattr(fc, prefix + name) == code


def _offsets_read(function: str) -> set[tuple[int, int]]:
    """(offset, byte count) of every payload byte the C handler reads: d[k], read7(d + k, n)."""
    source = SOURCE.read_text()
    body = source.split(f"static void {function}(const uint8_t *d, uint8_t n) {{", 1)[1].split("\n}\n", 1)[0]
    offsets = {(int(k), 1) for k in re.findall(r"\bd\[(\d+)\]", body)}
    offsets |= {(int(k), int(n)) for k, n in re.findall(r"read7\(d \+ (\d+), (\d+)\)", body)}
    return offsets


def test_the_c_source_reads_the_documented_offsets() -> None:
    docs = sections()
    for name, function in (("CONFIG", "handle_config"), ("SYNC", "handle_sync"), ("TRIGGER", "handle_trigger")):
        documented = {(first, size) for first, size, _ in docs[(name, "host -> firmware")][2]}
        assert _offsets_read(function) == documented, name
