"""Palette-compress a screenshot PNG (used by scripts/screenshot.sh): compress_png.py IN OUT."""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image


def main(source: str, target: str) -> int:
    image = Image.open(source).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
    size_kb = Path(target).stat().st_size / 1024
    print(f"{target}: {image.width}x{image.height}, {size_kb:.0f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))
