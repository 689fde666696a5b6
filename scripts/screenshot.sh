#!/usr/bin/env bash
# Take a real screenshot of the GUI mid-session (synthetic arena + mock board) under Xvfb.
#
#   scripts/screenshot.sh [OUT.png] [SECONDS_AFTER_START]
#
# Runs the real window (QT_QPA_PLATFORM=xcb) in a virtual 1600x1000 X server, starts the
# embedded demo protocol at 2x speed, grabs the window once the closed-loop phase is on
# (laser on), and writes OUT.png (default docs/screenshot.png), palette-compressed to stay
# small. The session record goes to a temporary folder that is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-docs/screenshot.png}"
AFTER_S="${2:-24}"
PY="${PYTHON:-.venv/bin/python}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
xvfb-run -a -s "-screen 0 1600x1000x24" \
  env QT_QPA_PLATFORM=xcb "$PY" -m rig.gui.app \
    --protocol demo --simulate synthetic --animal m017 --out "$TMP/sessions" \
    --speed 2 --settings-dir "$TMP/settings" \
    --screenshot "$TMP/raw.png" --screenshot-after-s "$AFTER_S"
"$PY" scripts/compress_png.py "$TMP/raw.png" "$OUT"
