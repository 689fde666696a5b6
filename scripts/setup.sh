#!/usr/bin/env bash
# Set up optorig on a fresh Debian/Ubuntu machine: system packages (AVR toolchain and
# simavr for the firmware tests, Xvfb and the xcb libraries Qt needs), then a virtual
# environment in .venv with optorig and its test tools. Safe to run again.
# Prints one line per step; waits (up to 10 min) when another apt/dpkg holds the lock.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_LOCK_WAIT_S=600
step() { echo "setup: $*"; }

# apt-get that waits for the dpkg/apt lock held by another apt (unattended upgrades, a
# second setup) instead of failing at once: DPkg::Lock::Timeout covers the dpkg lock,
# the retry loop the lists lock of `apt-get update`.
apt_wait() {
  local start now log
  start=$(date +%s)
  log=$(mktemp)
  while true; do
    if DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=$APT_LOCK_WAIT_S "$@" >"$log" 2>&1; then
      rm -f "$log"
      return 0
    fi
    now=$(date +%s)
    if grep -qiE "could not get lock|unable to lock|is another process using it" "$log" \
        && [ $((now - start)) -lt $APT_LOCK_WAIT_S ]; then
      step "waiting for another apt/dpkg to finish ($((now - start)) s of $APT_LOCK_WAIT_S s)"
      sleep 10
      continue
    fi
    cat "$log" >&2
    rm -f "$log"
    return 1
  done
}
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

APT_PACKAGES=(
  gcc-avr avr-libc simavr libsimavr-dev make
  xvfb xauth libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libegl1 libgl1
  libfontconfig1 libdbus-1-3
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
step "[1/5] checking system packages"
if [ ${#missing[@]} -gt 0 ]; then
  step "[1/5] apt-get update"
  apt_wait update -qq
  step "[1/5] installing system packages: ${missing[*]}"
  apt_wait install -y -qq "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  # Debian's system Python ships venv/ensurepip separately; optorig needs Python >= 3.11.
  step "[2/5] installing python3-venv"
  apt_wait update -qq
  apt_wait install -y -qq python3 python3-venv
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "setup: optorig needs Python >= 3.11 (found $("$PYTHON" --version 2>&1)); set PYTHON=..." >&2
    exit 1
  }
fi
step "[3/5] virtual environment .venv"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
step "[4/5] upgrading pip"
.venv/bin/python -m pip install -q --upgrade pip
step "[5/5] installing optorig, all its extras (GUI, Dask, pose import, cameras) and test tools (pip, a few minutes the first time)"
# Everything: the GUI, the Dask cluster client, pose-track import, the camera SDKs and the
# test tools (a worker or analysis server can install plain `optorig`, which needs no Qt).
.venv/bin/python -m pip install -q -e ".[test,gui,cluster,pose,basler,genicam]"
echo "setup: done (.venv ready)"
