"""Delivered light per compartment and the laser-follow audit on engine sessions (prints
numbers, asserts nothing).

Closed-loop sessions are run by the real SessionRunner (synthetic arena with a tethered
mouse, mock board echoing on the media clock, speed max) under `neutral_band: hold` and
`off`; for each: gate-open seconds in the stimulated compartment, the neutral band and the
other compartment (their share of all light), stimulated-side time without light, the
entry -> first pulse latency, the audit on the session and on a tampered copy (light
added over 30 baseline frames), and the time the summary takes per 1000 frames.

    .venv/bin/python benchmarks/bench_delivered_light.py [--seconds 120]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

from rig.analysis.summary import compute_summary
from rig.clock import MediaClock
from rig.devices.mock_board import MockBoard
from rig.devices.synthetic import SyntheticArena
from rig.protocol.load import load_default_protocol
from rig.session.runner import SessionRunner
from rig.session.status import EndReason


def _variant(seconds: float, neutral: str):  # type: ignore[no-untyped-def]
    import dataclasses

    from rig.protocol.models import Protocol

    loaded = load_default_protocol()
    data = loaded.protocol.model_dump(mode="json")
    data["phases"] = [
        {"name": "baseline", "duration_s": 10, "mode": "off"},
        {"name": "test", "duration_s": seconds, "mode": "closed_loop"},
    ]
    data["decision"] = {"debounce_s": 0.066666, "neutral_band": neutral, "tracking_loss_grace_s": 0.166666}
    data["safety"].update(max_continuous_on_s=600, max_total_on_s=3600)
    data["tracking"]["background"] = {"source": "median", "duration_s": 20, "n_frames": 40}
    import hashlib

    import yaml

    raw = yaml.safe_dump(data, sort_keys=False).encode()  # the record copies these bytes
    return dataclasses.replace(
        loaded, protocol=Protocol.model_validate(data), raw=raw, sha256=hashlib.sha256(raw).hexdigest()
    )


def _tamper(session: Path, dst: Path) -> Path:
    shutil.copytree(session, dst)
    (dst / "summary.json").unlink(missing_ok=True)
    rows = list(csv.DictReader(open(dst / "frames.csv", newline="")))
    base = [r for r in rows if r["phase"] == "baseline"]
    t0, t1 = float(base[40]["t_s"]) - 0.005, float(base[70]["t_s"]) - 0.005
    events = list(csv.DictReader(open(dst / "events.csv", newline="")))
    opened = next(e for e in events if e["kind"] == "board_gate_opened")
    offset = float(opened["t_s"]) - json.loads(opened["detail"])["device_us"] / 1e6
    for t, kind in ((t0, "board_gate_opened"), (t1, "board_gate_closed")):
        events.append({"t_s": f"{t:.4f}", "frame": "", "kind": kind,
                       "detail": json.dumps({"device_us": int((t - offset) * 1e6), "pulses": 600})})
    events.sort(key=lambda e: float(e["t_s"]))
    with open(dst / "events.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["t_s", "frame", "kind", "detail"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(events)
    return dst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="closed-loop phase length")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for neutral in ("hold", "off"):
            out = Path(tmp) / neutral
            loaded = _variant(args.seconds, neutral)
            clock = MediaClock()
            source = SyntheticArena(loaded.calibration, fps=30.0, seed=11, noise=3.0, tether=True)
            runner = SessionRunner(loaded, source, MockBoard(clock=clock), out, "bench", speed=None,
                                   simulated=True, media_clock=clock, camera_timeout_s=120)
            assert runner.run() is EndReason.COMPLETED
            session = next(out.rglob("session.json")).parent
            started = time.perf_counter()
            summary = compute_summary(session)
            elapsed = time.perf_counter() - started
            d = summary["delivered_light"]
            test = next(p for p in d["phases"] if p["phase"] == "test")
            ls = test["light_s"]
            total = ls["total"] or 0.0
            lat = test["entry_to_first_pulse"]
            audit = d["audit"]
            print(f"neutral_band: {neutral} ({summary['frames']} frames, light from {d['light_source']})")
            print(f"  light in stim {ls['stim']:.2f} s, neutral {ls['neutral']:.2f} s "
                  f"({100 * ls['neutral'] / total:.1f} % of {total:.1f} s), other side {ls['other']:.2f} s "
                  f"({100 * ls['other'] / total:.1f} %), lost {ls['lost']:.2f} s")
            print(f"  stimulated side without light {test['stim_without_light_s']:.2f} s of {test['stim_s']:.1f} s; "
                  f"pulses {test['pulses_delivered']}")
            print(f"  entry -> first pulse: n {lat['n']}, p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, "
                  f"max {lat['max_ms']} ms, entries without a pulse {lat['entries_without_pulse']}")
            print(f"  audit: {audit['status']}, {audit['frames_judged']} judged, "
                  f"{audit['frames_not_judged']} not judged, mismatches on/off "
                  f"{audit['frames_light_on_rule_off']}/{audit['frames_light_off_rule_on']}")
            tampered = compute_summary(_tamper(session, Path(tmp) / f"{neutral}-tampered"))["delivered_light"]["audit"]
            print(f"  tampered copy (light added over 30 baseline frames): audit {tampered['status']}, "
                  f"light on where the positions say off: {tampered['frames_light_on_rule_off']} frames")
            print(f"  summary incl. delivered light and audit: "
                  f"{1e6 * elapsed / max(1, summary['frames']):.1f} ms per 1000 frames")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
