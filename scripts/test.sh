#!/usr/bin/env bash
# Install everything the tests need, then run them, ruff and mypy. Needs ../shared beside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,smpl,distributed
export IMUSYNTH_MODEL_DIR="${IMUSYNTH_MODEL_DIR:-$(cd .. && pwd)/shared/models}"
.venv/bin/python -m pytest -q -p no:cacheprovider
.venv/bin/ruff check imusynth tests benchmarks
.venv/bin/mypy imusynth
