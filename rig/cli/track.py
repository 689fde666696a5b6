"""``rig track VIDEO --out CSV``: run the tracker on a recorded video (tracking only).

Writes ``frame,t_s,x_px,y_px,tracked`` per frame (``x_px``/``y_px`` empty when the animal
was not found). Settings come from a protocol (cm, through its arena calibration) or
directly in pixels. An existing CSV is never overwritten.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from rig.cli._common import add_command
from rig.errors import ConfigError

ORDER = 60

CSV_HEADER = "frame,t_s,x_px,y_px,tracked\n"

_PIXEL_OPTIONS = ("threshold", "animal", "min_area_px", "max_area_px", "max_jump_px", "open_px",
                  "blur_px")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(
        subparsers,
        "track",
        help_text="track the animal in a recorded video (positions to CSV)",
        description=(
            "Run the tracker on every frame of a recorded video and write one CSV row per "
            "frame: frame,t_s,x_px,y_px,tracked (x_px and y_px empty when the animal was not "
            "found). The background is the per-pixel median of frames spread over the whole "
            "video. Settings come from a protocol's `tracking` section (converted from cm "
            "with its arena calibration, which also masks everything outside the arena) or "
            "are given in pixels. Progress is shown on stderr. An existing CSV is never "
            "overwritten."
        ),
        examples=(
            "  rig track session.mp4 --out positions.csv --protocol protocols/rtpp_redondo2014.yaml\n"
            "  rig track clip.avi --out clip.csv --animal dark --threshold 40 --min-area-px 500\n"
            "  rig track labelled_frames.mp4 --out t.csv --independent-frames\n"
        ),
    )
    parser.add_argument("video", type=Path, metavar="VIDEO", help="recorded video file")
    parser.add_argument("--out", type=Path, required=True, metavar="CSV",
                        help="output CSV (must not exist)")
    parser.add_argument("--protocol", metavar="P",
                        help="take tracking settings (cm) and the arena mask from this protocol")
    pixels = parser.add_argument_group("pixel settings (without --protocol)")
    pixels.add_argument("--animal", choices=("dark", "light"),
                        help="animal darker or lighter than the floor (default dark)")
    pixels.add_argument("--threshold", metavar="N|auto",
                        help="grey-level difference threshold 1-254 (grey levels), or auto (default auto)")
    pixels.add_argument("--min-area-px", type=float, metavar="PX",
                        help="smallest animal blob in px² (default 200)")
    pixels.add_argument("--max-area-px", type=float, metavar="PX",
                        help="largest animal blob in px² (default a quarter of the frame)")
    pixels.add_argument("--max-jump-px", type=float, metavar="PX",
                        help="largest move between consecutive frames, px (default: no limit)")
    pixels.add_argument("--open-px", type=int, metavar="PX",
                        help="size of the opening that erases a thin tether cable, px (default 5)")
    pixels.add_argument("--blur-px", type=int, metavar="PX", help="blur kernel size, px (default 5)")
    parser.add_argument("--background-frames", type=int, default=None, metavar="N",
                        help="number of frames in the median background (default: protocol's, or 60)")
    parser.add_argument("--independent-frames", action="store_true",
                        help="frames are not consecutive in time: forget the last position "
                        "before every frame (no jump check)")
    parser.set_defaults(func=run)


def _pixel_settings(args: argparse.Namespace, frame_size: tuple[int, int]) -> Any:
    from rig.tracking.detect import TrackerSettings

    threshold: int | None = None
    if args.threshold is not None and args.threshold != "auto":
        try:
            threshold = int(args.threshold)
        except ValueError:
            threshold = -1
        if not 1 <= threshold <= 254:
            raise ConfigError(f"--threshold: must be 1-254 or auto, got {args.threshold!r}")
    width_px, height_px = frame_size
    min_area_px = 200.0 if args.min_area_px is None else args.min_area_px
    max_area_px = width_px * height_px / 4 if args.max_area_px is None else args.max_area_px
    max_jump_px = math.inf if args.max_jump_px is None else args.max_jump_px
    try:
        return TrackerSettings(
            animal_dark=(args.animal or "dark") == "dark",
            threshold=threshold,
            min_area_px=min_area_px,
            max_area_px=max_area_px,
            max_jump_px=max_jump_px,
            open_kernel_px=5 if args.open_px is None else args.open_px,
            blur_px=5 if args.blur_px is None else args.blur_px,
        )
    except ValueError as err:
        raise ConfigError(f"pixel settings: {err}") from err


def _progress(done: int, total: int, started: float, final: bool = False) -> None:
    elapsed = time.monotonic() - started
    fps = done / elapsed if elapsed > 0 else 0.0
    share = f" ({100.0 * done / total:.0f} %)" if total > 0 else ""
    end = "\n" if final or not sys.stderr.isatty() else "\r"
    print(f"tracking: frame {done}/{total or '?'}{share}, {fps:.0f} frames/s", end=end,
          file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from rig.devices.video_replay import VideoReplay
    from rig.tracking.background import median_background
    from rig.tracking.detect import Tracker, arena_mask

    out: Path = args.out
    # Validate everything before reading the video or creating the CSV.
    if out.exists():
        raise ConfigError(f"{out}: already exists; refusing to overwrite (choose another --out)")
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: folder {out.parent} does not exist")
    given_pixels = [name for name in _PIXEL_OPTIONS if getattr(args, name) is not None]
    if args.protocol and given_pixels:
        options = ", ".join("--" + name.replace("_", "-") for name in given_pixels)
        raise ConfigError(f"give either --protocol or pixel settings, not both ({options})")
    if args.background_frames is not None and args.background_frames < 1:
        raise ConfigError(f"--background-frames: must be >= 1, got {args.background_frames}")
    loaded = None
    if args.protocol:
        from rig.protocol.load import load_protocol

        loaded = load_protocol(args.protocol)

    replay = VideoReplay(args.video)
    with replay:
        frame_size = replay.frame_size
        mask = None
        if loaded is not None:
            from rig.calibration import PixelMapper
            from rig.tracking.detect import TrackerSettings

            settings = TrackerSettings.from_protocol(
                loaded.protocol.tracking, PixelMapper(loaded.calibration)
            )
            mask = arena_mask(loaded.calibration, frame_size)
            n_background = loaded.protocol.tracking.background.n_frames
        else:
            settings = _pixel_settings(args, frame_size)
            n_background = 60
        if args.independent_frames:
            settings = _replace(settings, max_jump_px=math.inf)
        if args.background_frames is not None:
            n_background = args.background_frames
        print(f"background: median of {n_background} frames of {args.video}", file=sys.stderr)
        tracker = Tracker(settings, mask=mask)
        tracker.set_background(median_background(replay.sample_frames(n_background)))

        total = replay.frame_count
        started = time.monotonic()
        last_report = started
        found = 0
        done = 0
        with out.open("x", newline="", encoding="utf-8") as handle:
            handle.write(CSV_HEADER)
            while (frame := replay.read()) is not None:
                if args.independent_frames:
                    tracker.reset()
                result = tracker.track(frame.image)
                if result.found:
                    found += 1
                    handle.write(
                        f"{frame.index},{frame.t_s:.6f},{result.x_px:.2f},{result.y_px:.2f},1\n"
                    )
                else:
                    handle.write(f"{frame.index},{frame.t_s:.6f},,,0\n")
                done += 1
                now = time.monotonic()
                if now - last_report >= 1.0:
                    handle.flush()
                    _progress(done, total, started)
                    last_report = now
        _progress(done, total, started, final=True)
    share = 100.0 * found / done if done else 0.0
    print(f"tracked {found}/{done} frames ({share:.1f} %); wrote {out}", file=sys.stderr)
    return 0


def _replace(settings: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(settings, **changes)
