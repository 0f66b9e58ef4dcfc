#!/usr/bin/env bash
# Install imusynth, fetch the sample video (checked by sha256) and run the main job on it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# pose models: IMUSYNTH_MODEL_DIR if set, else the user's cache, else the official download
# (imusynth/video/pose/models.py). On an offline machine with the project's shared folder beside the
# repository, its models are copied into the cache first, so that every later `imusynth` command finds
# them too (the README's next command works as written, with nothing to set).
if [ -z "${IMUSYNTH_MODEL_DIR:-}" ] && [ -d ../shared/models ]; then
  cache="$(.venv/bin/python -c 'from imusynth.video.pose.models import default_cache_dir; print(default_cache_dir())')"
  mkdir -p "$cache"
  for f in ../shared/models/pose_landmarker_*.task; do
    name=$(basename "$f")
    if [ ! -e "$cache/$name" ]; then   # copy to a temporary name, then rename: never a half-written model
      cp "$f" "$cache/.$name.tmp" && mv "$cache/.$name.tmp" "$cache/$name"
    fi
  done
fi
video=$(.venv/bin/python -m imusynth.io.samples fetch demo)
# --force: a rerun replaces the demo's own outputs (without it imusynth refuses to overwrite a file)
.venv/bin/imusynth "$video" --placement wrist --placement thigh -o demo.h5 --plot demo.png --force
.venv/bin/imusynth inspect demo.h5
