"""Start-up time of the command line (issue 17): ``imusynth --help``, ``--version`` and a tiny ``motion`` job.

Each command runs ``--runs`` times (default 11) in a fresh process of this interpreter (``python -m
imusynth``); the table gives the median wall time and the median CPU time of the child (user + system,
less sensitive to other work on a shared machine), and the heavy packages each one loads. The tiny job is
a 2 s, 3-marker TRC file with one placement (its work is a few milliseconds: what it costs is start-up).
A bare ``python -c pass`` is the floor. Usage::

    .venv/bin/python benchmarks/bench_startup.py [--runs 11]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_cli_motion import write_trc  # noqa: E402

HEAVY = ("numpy", "scipy", "h5py", "cv2", "torch", "mediapipe", "sklearn", "matplotlib", "rich")
PROBE = ("import sys, json, runpy, atexit\n"
         "atexit.register(lambda: print('\\nLOADED ' + json.dumps(sorted("
         f"{{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))), file=sys.stderr))\n"
         "sys.argv = ['imusynth'] + sys.argv[1:]\n"
         "runpy.run_module('imusynth', run_name='__main__')\n")


def run_once(args: list[str], probe: bool) -> tuple[float, float, list[str]]:
    cmd = [sys.executable, "-c", PROBE, *args] if probe else [sys.executable, "-m", "imusynth", *args]
    if args and args[0] == "-c":
        cmd = [sys.executable, *args]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"failed: {cmd}\n{res.stderr[-1500:]}")
    loaded = [json.loads(ln[7:]) for ln in res.stderr.splitlines() if ln.startswith("LOADED ")]
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), loaded[0] if loaded else []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=11)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_startup_"))
    t = np.arange(0, 2, 0.01)
    o = np.stack([0 * t, 1000 + 0 * t, 0 * t], -1)
    write_trc(tmp / "spin.trc", t, ["O", "PX", "PY"], np.stack([
        o, o + 300 * np.stack([np.cos(t), 0 * t, -np.sin(t)], -1),
        o + 300 * np.stack([np.sin(t), 0 * t, np.cos(t)], -1)], 1))
    (tmp / "m.toml").write_text('[placements.body]\norigin = "O"\nprimary = "PX"\nsecondary = "PY"\n'
                                'axes = ["+x", "+y", "+z"]\n')
    job = ["motion", str(tmp / "spin.trc"), "-p", "body", "--placements-file", str(tmp / "m.toml"),
           "-o", str(tmp / "out.h5"), "--force"]
    cases = [("python -c pass (the floor)", ["-c", "pass"]), ("imusynth --help", ["--help"]),
             ("imusynth --version", ["--version"]), ("imusynth motion (tiny job)", job)]
    print(f"{'command':<32}{'wall s':>9}{'cpu s':>9}  heavy packages loaded   ({args.runs} runs, medians)")
    for name, argv in cases:
        runs = [run_once(argv, probe=False) for _ in range(args.runs)]
        loaded = run_once(argv, probe=True)[2] if argv[0] != "-c" else []
        print(f"{name:<32}{statistics.median(r[0] for r in runs):>9.3f}"
              f"{statistics.median(r[1] for r in runs):>9.3f}  {', '.join(loaded) or '-'}")


if __name__ == "__main__":
    main()
