"""``rig bench``: measure the engine on this machine (latency, replay throughput)."""

from __future__ import annotations

import argparse
import json

from rig.cli._common import add_command

ORDER = 90


def _cmd_bench(args: argparse.Namespace) -> int:
    from rig.session.bench import run_all

    result = run_all(quick=args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for size, tracker in result["tracker"].items():
        ms = tracker["ms_per_frame"]
        print(f"tracker {size}: p50 {ms['p50']:.2f} ms, p99 {ms['p99']:.2f} ms per frame "
              f"({tracker['found']}/{tracker['frames']} found)")
    loop = result["loop_latency"]
    lat = loop["latency_ms"]
    print(f"machine: {loop['machine']['cpu_count']} CPUs, {loop['machine']['platform']}")
    print(
        f"closed-loop latency (30 fps real time, {loop['frames']} frames): p50 {lat['p50']:.2f} ms, "
        f"p95 {lat['p95']:.2f} ms, p99 {lat['p99']:.2f} ms, max {lat['max']:.2f} ms; "
        f"dropped {loop['dropped_frames']}"
    )
    for name in ("video", "synthetic"):
        replay = result["replay"][name]
        print(f"replay at speed max ({name}): {replay['fps']:.0f} frames/s over {replay['frames']} frames")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(
        subparsers,
        "bench",
        "measure tracker speed, loop latency and replay speed on this machine",
        "Run the engine benchmarks: tracker ms per frame at 640x480 and 1280x1024, closed-loop latency (frame capture -> laser command) on "
        "the synthetic arena at 30 fps in real time, and re-score throughput at speed max. "
        "Prints numbers; asserts nothing.",
        "  rig bench\n  rig bench --json > bench.json\n",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="shorter runs (about 40 s in all)")
    parser.set_defaults(func=_cmd_bench)
