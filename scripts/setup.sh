#!/usr/bin/env bash
# Install imusynth and what it needs into a virtual environment (idempotent), with the exact versions of
# requirements/lock.txt (pip constraints: the versions the tests passed with).
# Usage: bash scripts/setup.sh [EXTRAS]
#   EXTRAS: pip extras, e.g. "dev,smpl,body,distributed" (default: none)
# Environment:
#   IMUSYNTH_VENV  the virtual environment's folder (default: .venv in the repository)
#   IMUSYNTH_LOCK  the constraints file (default: requirements/lock.txt); "none": the newest versions that
#                  pyproject.toml allows (scripts/check_latest.sh), torch excepted (always 2.13.0, see below)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
venv="${IMUSYNTH_VENV:-.venv}"
lock="${IMUSYNTH_LOCK:-requirements/lock.txt}"

# System package: ffmpeg (variable-frame-rate test clips, yt-dlp merges). Debian/Ubuntu only; optional.
if ! command -v ffmpeg >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null) \
      || echo "setup: could not install ffmpeg with apt-get (continuing without it)" >&2
  else
    echo "setup: ffmpeg not found; install it with your package manager for the full test suite" >&2
  fi
fi

constraints=()
if [ "$lock" != "none" ]; then
  test -f "$lock" || { echo "setup: constraints file $lock not found" >&2; exit 1; }
  constraints=(-c "$lock")
fi
python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q "${constraints[@]}" --upgrade pip
if [[ ",$extras," == *",smpl,"* || ",$extras," == *",body,"* || ",$extras," == *",har,"* ]]; then
  # PyTorch first, pinned: an unpinned torch pulls a multi-GB CUDA build. Where pip is offered the CPU
  # wheel (2.13.0+cpu) it takes it; the lock's torch==2.13.0 admits that local version.
  "$py" -m pip install -q "${constraints[@]}" "torch==2.13.0"
fi
if [ -n "$extras" ]; then
  "$py" -m pip install -q "${constraints[@]}" -e ".[$extras]"
else
  "$py" -m pip install -q "${constraints[@]}" -e .
fi
"$py" -m pip check
