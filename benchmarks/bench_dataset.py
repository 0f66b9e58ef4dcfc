"""A skeleton dataset in one process vs one process per file: ``motion`` and ``calibrate apply`` (issue 17).

The benchmark makes its own dataset: ``--n`` trials (default 800) of a synthetic walker
(tests/synthetic_walker, 15 canonical joints, ``--seconds`` s at 30 Hz, z up, metres) written as CSV
files in subject folders, and a calibration profile with ``--knots`` quantile knots per channel (5001
knots: about 1.3 MB of TOML; a per-class profile of a real dataset is 5 MB). Then, each timed in fresh
processes of the installed command:

1. ``imusynth motion DATASET/ -p left_wrist -p right_thigh -o dataset.h5``: every trial in one process;
2. ``imusynth motion TRIAL.csv ... -o TRIAL.h5`` for a sample of ``--sample`` trials (default 40), one
   process each, extrapolated to all trials (sample mean x n; the sample is spread over the dataset);
3. ``imusynth calibrate apply PROFILE PERFILE/ --out-dir cal/``: every per-trial file in one process;
4. ``imusynth calibrate apply PROFILE TRIAL.h5 -o ...`` for the same sample, extrapolated.

Each line gives wall time and the CPU time of the child processes (user + system; less sensitive to other
work on a shared machine). Usage::

    .venv/bin/python benchmarks/bench_dataset.py [--n 800] [--sample 40] [--workdir /tmp/bench_dataset]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.synthetic_walker import walker  # noqa: E402

IMUSYNTH = [sys.executable, "-m", "imusynth"]


def write_trial(path: Path, seed: int, seconds: float) -> None:
    """One trial as CSV: time (s) and ``<joint>_x/_y/_z`` (m, z up)."""
    m = walker(seed, seconds=seconds, rate_hz=30.0)
    cols = ["time"] + [f"{n}_{a}" for n in m.names for a in "xyz"]
    data = np.concatenate([m.time[:, None], m.xyz.reshape(len(m.time), -1)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, data, delimiter=",", header=",".join(cols), comments="", fmt="%.5f")


def make_profile(path: Path, knots: int) -> None:
    from imusynth.calibrate import CalibrationProfile, fit_mapping, save_profile

    rng = np.random.default_rng(0)
    v, r = rng.normal(0, 1, (100_000, 6)), rng.normal(0, 1.5, (100_000, 6)) + 0.1
    save_profile(CalibrationProfile(name="bench", mapping=fit_mapping(v, r, n_knots=knots)), path)


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall and child CPU time of one command, s (a failure stops the benchmark)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr[-2000:]}")
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=800, help="trials in the dataset")
    ap.add_argument("--sample", type=int, default=40, help="single-file calls timed (then extrapolated)")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of a trial, s")
    ap.add_argument("--knots", type=int, default=5001, help="quantile knots per channel of the profile")
    ap.add_argument("--workdir", type=Path, default=None, help="working folder (default: a temporary one)")
    args = ap.parse_args()
    if args.workdir is not None and args.workdir.exists():
        raise SystemExit(f"--workdir {args.workdir} exists: give a new folder")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_dataset_"))
    data = work / "dataset"
    t0 = time.perf_counter()
    trials = []
    for k in range(args.n):
        trials.append(data / f"s{k % 20:02d}" / f"trial{k:04d}.csv")
        write_trial(trials[-1], k, args.seconds)
    profile = work / "bench.toml"
    make_profile(profile, args.knots)
    print(f"dataset: {args.n} trials of {args.seconds:g} s at 30 Hz (15 joints, CSV, "
          f"{sum(p.stat().st_size for p in trials) / 1e6:.1f} MB) and a profile of "
          f"{profile.stat().st_size / 1e6:.2f} MB, made in {time.perf_counter() - t0:.0f} s")
    place = ["-p", "left_wrist", "-p", "right_thigh"]
    sample = [trials[i] for i in np.linspace(0, args.n - 1, min(args.sample, args.n)).round().astype(int)]
    rows = []

    wall, cpu = timed([*IMUSYNTH, "motion", str(data), *place, "-o", str(work / "dataset.h5")])
    rows.append(("motion, one process", wall, cpu))
    per = [timed([*IMUSYNTH, "motion", str(p), *place, "-o", str(work / "single" / f"{p.stem}.h5")])
           for p in sample]
    rows.append((f"motion, one process per file ({len(sample)} timed, x {args.n / len(sample):g})",
                 args.n * float(np.mean([w for w, _ in per])), args.n * float(np.mean([c for _, c in per]))))

    perfile = work / "perfile"      # the per-trial inputs of calibrate apply
    timed([*IMUSYNTH, "motion", str(data), *place, "--out-dir", str(perfile)])
    wall, cpu = timed([*IMUSYNTH, "calibrate", "apply", str(profile), str(perfile), "--out-dir",
                       str(work / "cal")])
    rows.append(("calibrate apply, one process", wall, cpu))
    per = [timed([*IMUSYNTH, "calibrate", "apply", str(profile), str(perfile / f"{p.stem}.h5"), "-o",
                  str(work / "cal_single" / f"{p.stem}.h5")]) for p in sample]
    rows.append((f"calibrate apply, one process per file ({len(sample)} timed, x {args.n / len(sample):g})",
                 args.n * float(np.mean([w for w, _ in per])), args.n * float(np.mean([c for _, c in per]))))

    print(f"{'':<64}{'wall s':>9}{'cpu s':>9}")
    for name, wall, cpu in rows:
        print(f"{name:<64}{wall:>9.1f}{cpu:>9.1f}")
    for k in (0, 2):
        print(f"{rows[k][0].split(',')[0]}: one process is {rows[k + 1][1] / rows[k][1]:.1f}x faster (wall), "
              f"{rows[k + 1][2] / rows[k][2]:.1f}x (cpu)")
    if args.workdir is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
