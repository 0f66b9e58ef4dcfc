#!/usr/bin/env bash
# Install imusynth, fetch the sample video (checked by sha256) and run the main job on it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
video=$(.venv/bin/python -m imusynth.samples fetch demo)
.venv/bin/imusynth "$video" --placement wrist --placement thigh -o demo.h5 --plot demo.png
.venv/bin/imusynth inspect demo.h5
