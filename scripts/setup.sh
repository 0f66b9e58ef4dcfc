#!/usr/bin/env bash
# Install imusynth and what it needs into ./.venv (idempotent). Usage: bash scripts/setup.sh [EXTRAS]
#   EXTRAS: pip extras, e.g. "dev,smpl,distributed" (default: none)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

# System package: ffmpeg (variable-frame-rate test clips, yt-dlp merges). Debian/Ubuntu only; optional.
if ! command -v ffmpeg >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null) \
      || echo "setup: could not install ffmpeg with apt-get (continuing without it)" >&2
  else
    echo "setup: ffmpeg not found; install it with your package manager for the full test suite" >&2
  fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [[ ",$extras," == *",smpl,"* ]]; then
  # PyTorch first, pinned: an unpinned torch pulls a multi-GB CUDA build
  .venv/bin/python -m pip install -q "torch==2.13.0"
fi
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install -q -e ".[$extras]"
else
  .venv/bin/python -m pip install -q -e .
fi
