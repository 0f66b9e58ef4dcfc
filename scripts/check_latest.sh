#!/usr/bin/env bash
# Drift check, not part of CI: install the newest versions that pyproject.toml allows (no lock; torch
# excepted, always 2.13.0, the CPU build) into a fresh temporary virtual environment, list how they differ
# from requirements/lock.txt, and run the tests, ruff and mypy there. Run it now and then, so that a new
# release that breaks imusynth is found before users find it.
# Usage: bash scripts/check_latest.sh [--full] [--write-lock FILE]
#   default tests: pytest -m "not slow", then the real-video tests (tests/test_video_real.py,
#                  tests/test_pose_real.py: pose model, tracking and identities on ../shared videos)
#   --full         the whole pytest suite instead (as CI runs it, but with the newest versions)
#   --write-lock   write the installed versions to FILE in the lock's format (to review, then copy over
#                  requirements/lock.txt once everything passes)
# Exit status: 0 when every step passed, 1 otherwise (every step runs; a summary ends the output).
set -uo pipefail
cd "$(dirname "$0")/.."
full=0
write_lock=""
while [ $# -gt 0 ]; do
  case "$1" in
    --full) full=1 ;;
    --write-lock) write_lock="$2"; shift ;;
    *) echo "check_latest: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export IMUSYNTH_VENV="$work/venv" IMUSYNTH_LOCK=none
export IMUSYNTH_MODEL_DIR="${IMUSYNTH_MODEL_DIR:-$(cd .. && pwd)/shared/models}"
py="$IMUSYNTH_VENV/bin/python"
start=$SECONDS
bash scripts/setup.sh dev,smpl,body,distributed || { echo "check_latest: installing the newest versions failed" >&2; exit 1; }
echo "check_latest: installed in $((SECONDS - start)) s"

"$py" -m pip freeze --all --exclude-editable 2>/dev/null | grep -v -i -E '^(imusynth|setuptools|wheel)==' \
  | sed 's/+cpu$//' | sort -f > "$work/latest.txt"
grep -v '^#' requirements/lock.txt | grep -v '^$' | sort -f > "$work/lock.txt"
echo "== versions that differ from requirements/lock.txt ('<' locked, '>' newest allowed):"
diff "$work/lock.txt" "$work/latest.txt" | grep '^[<>]' || echo "(none)"
if [ -n "$write_lock" ]; then
  { grep '^#' requirements/lock.txt; cat "$work/latest.txt"; } > "$write_lock"
  echo "check_latest: wrote $write_lock"
fi

declare -a failed=()
step() {  # step NAME COMMAND...: run, remember a failure (pytest's exit 5, no test collected, is one)
  local name="$1"; shift
  echo "== $name"
  "$@"
  local rc=$?
  [ "$rc" = 0 ] || failed+=("$name (exit $rc)")
}
if [ "$full" = 1 ]; then
  step "pytest (all)" "$py" -m pytest -q -p no:cacheprovider
else
  step "pytest -m 'not slow'" "$py" -m pytest -q -p no:cacheprovider -m "not slow"
  step "pytest real videos" "$py" -m pytest -q -p no:cacheprovider tests/test_video_real.py tests/test_pose_real.py
fi
step "ruff" "$IMUSYNTH_VENV/bin/ruff" check imusynth tests benchmarks
step "mypy" "$IMUSYNTH_VENV/bin/mypy" imusynth

echo "== check_latest summary ($((SECONDS - start)) s)"
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all steps passed with the newest allowed versions"
