#!/usr/bin/env bash
# Install imusynth, fetch the sample video (checked by sha256) and run the main job on it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# pose models: IMUSYNTH_MODEL_DIR if set, else the project's shared folder when it sits beside the
# repository (offline machines), else the cache / the official download (imusynth/pose/models.py)
if [ -z "${IMUSYNTH_MODEL_DIR:-}" ] && [ -d ../shared/models ]; then
  export IMUSYNTH_MODEL_DIR="$(cd ../shared/models && pwd)"
fi
video=$(.venv/bin/python -m imusynth.io.samples fetch demo)
# --force: a rerun replaces the demo's own outputs (without it imusynth refuses to overwrite a file)
.venv/bin/imusynth "$video" --placement wrist --placement thigh -o demo.h5 --plot demo.png --force
.venv/bin/imusynth inspect demo.h5
