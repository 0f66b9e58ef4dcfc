#!/usr/bin/env bash
# Install everything the tests need (scripts/setup.sh: the versions of requirements/lock.txt), then run
# pytest, ruff and mypy. Needs ../shared beside the repository. Arguments go to pytest.
# Environment: IMUSYNTH_VENV (default .venv) and IMUSYNTH_LOCK, as in scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${IMUSYNTH_VENV:-.venv}"
start=$SECONDS
bash scripts/setup.sh dev,smpl,body,har,distributed
echo "test: installed in $((SECONDS - start)) s"
export IMUSYNTH_MODEL_DIR="${IMUSYNTH_MODEL_DIR:-$(cd .. && pwd)/shared/models}"
rc=0
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" || rc=$?
if [ "$rc" = 5 ]; then
  echo "test: pytest collected no test (exit 5): counted as a failure" >&2
fi
[ "$rc" = 0 ] || exit "$rc"
echo "test: pytest done after $((SECONDS - start)) s"
"$venv/bin/ruff" check imusynth tests benchmarks
"$venv/bin/mypy" imusynth
