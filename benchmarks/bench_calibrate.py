"""Benchmark: fit and apply a calibration profile on 10 hours of 50 Hz six-channel data.

Target (issue 4): fit < 10 s and apply < 10 s. The data are synthetic walking-like signals (sines plus
noise, a standing start for the gravity estimate), 10 recordings of 1 h each on both sides, with a 20 deg
tilt between the virtual and real frames so the alignment is fitted too. ``apply`` includes the
smartwatch device model (noise, bias, saturation, quantisation).

``--windows``: the same amount of data as windows files hold it (2.56 s windows at 50 % overlap, so each
sample counts twice; six gravity-frame channels, six classes), fitted and applied by
:mod:`imusynth.har.window_calibration` (``calibrate fit/apply`` on windows files), with one map per channel
and per class; no target (the issue states none), CPU time and the process's peak memory reported.

Usage: python benchmarks/bench_calibrate.py [--hours 10] [--rate 50] [--repeat 1] [--windows]
Prints a table and writes benchmarks/results/bench_calibrate[_windows].json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

from imusynth.calibrate import ImuSeries, apply_profile, device_preset, fit_profile
from imusynth.core.conventions import G0


def recording(
    rng: np.random.Generator, *, seconds: float, rate: float, gain: float, tilt_deg: float, name: str
) -> ImuSeries:
    n = int(seconds * rate)
    t = np.arange(n) / rate
    acc = np.empty((n, 3))
    acc[:, 0] = gain * np.sin(2 * np.pi * 1.8 * t)
    acc[:, 1] = 0.5 * gain * np.cos(2 * np.pi * 0.9 * t)
    acc[:, 2] = G0 + gain * np.sin(2 * np.pi * 3.6 * t)
    acc[: int(10 * rate)] = (0.0, 0.0, G0)
    acc += 0.05 * rng.standard_normal((n, 3))
    gyro = 0.3 * gain * np.sin(2 * np.pi * 0.9 * t[:, None] + np.arange(3)) + 0.01 * rng.standard_normal(
        (n, 3)
    )
    gyro[: int(10 * rate)] = 0.0
    c, s = math.cos(math.radians(tilt_deg)), math.sin(math.radians(tilt_deg))
    R = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return ImuSeries(t, acc @ R.T, gyro @ R.T, name=name)


def bench_windows(rng: np.random.Generator, args: argparse.Namespace) -> None:
    """Fit (one map, per class) and apply a windows profile on ``--hours`` of data per side."""
    import resource

    from imusynth.har import WindowSet
    from imusynth.har.window_calibration import apply_window_profile, fit_window_profile

    T = round(2.56 * args.rate)
    n = int(args.hours * 3600 * args.rate / (T // 2))
    kinds = ("acc_vert", "acc_horiz", "acc_norm", "gyro_vert", "gyro_horiz", "gyro_norm")

    def windows(gain: float) -> WindowSet:
        t = np.arange(T) / args.rate
        X = np.empty((n, T, 6), dtype=np.float32)
        for c in range(6):
            X[:, :, c] = gain * np.sin(2 * np.pi * (0.9 + 0.3 * c) * t + rng.uniform(0, 6.3, (n, 1)))
            X[:, :, c] += rng.standard_normal((n, T)).astype(np.float32) * 0.2
        y = rng.integers(0, 6, n)
        groups = np.array([f"g{i % 40}" for i in range(n)])
        clips = np.array([f"c{i}" for i in range(n)])
        return WindowSet(X, y, tuple(f"class{k}" for k in range(6)), groups, clips, np.zeros(n),
                         tuple(f"wrist.{k}" for k in kinds), args.rate, T / args.rate, 0.5)

    virtual, real = windows(1.0), windows(2.0)
    result: dict = {"windows_per_side": n, "samples_per_window": T, "hours": args.hours, "rate_hz": args.rate}
    for per_class in (False, True):
        c0 = time.process_time()
        prof, _ = fit_window_profile(virtual, real, name="bench", per_class=per_class)
        c1 = time.process_time()
        apply_window_profile(virtual, prof)
        c2 = time.process_time()
        key = "per_class" if per_class else "one_map"
        result[f"{key}_fit_cpu_s"], result[f"{key}_apply_cpu_s"] = c1 - c0, c2 - c1
        print(f"windows, {key.replace('_', ' ')}: {n} windows x {T} samples x 6 channels per side: "
              f"fit {c1 - c0:.2f} CPU-s, apply {c2 - c1:.2f} CPU-s")
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["input_mib_per_side"] = virtual.X.nbytes / 2**20
    print(f"peak memory of the process {result['peak_rss_mib']:.0f} MiB "
          f"(each side's windows {result['input_mib_per_side']:.0f} MiB as float32)")
    out = Path(__file__).resolve().parent / "results" / "bench_calibrate_windows.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--windows", action="store_true", help="windows calibration instead (see above)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    if args.windows:
        bench_windows(rng, args)
        return
    per = args.hours * 3600 / 10
    virtual = [
        recording(rng, seconds=per, rate=args.rate, gain=1.0, tilt_deg=0.0, name=f"v{i}") for i in range(10)
    ]
    real = [
        recording(rng, seconds=per, rate=args.rate, gain=2.0, tilt_deg=20.0, name=f"r{i}") for i in range(10)
    ]
    n = sum(s.n for s in virtual)
    fit_times, apply_times, fit_cpu, apply_cpu = [], [], [], []
    prof = None
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        prof, _ = fit_profile(virtual, real, name="bench", rate_hz=args.rate)
        fit_times.append(time.perf_counter() - t0)
        fit_cpu.append(time.process_time() - c0)
    assert prof is not None
    prof = type(prof)(**{**prof.__dict__, "device": device_preset("smartwatch")})
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        for s in virtual:
            apply_profile(s, prof)
        apply_times.append(time.perf_counter() - t0)
        apply_cpu.append(time.process_time() - c0)
    result = {
        "samples_per_side": n,
        "hours": args.hours,
        "rate_hz": args.rate,
        "fit_s": min(fit_times),
        "apply_s": min(apply_times),
        "fit_cpu_s": min(fit_cpu),
        "apply_cpu_s": min(apply_cpu),
        "load_avg_1min": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        "target_s": 10.0,
        "alignment_deg": prof.alignment.angle_deg if prof.alignment else None,
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}",
    }
    print(f"{'step':<8} {'samples':>12} {'wall s':>9} {'CPU s':>9} {'target':>7}")
    print(f"{'fit':<8} {n:>12d} {result['fit_s']:>9.2f} {result['fit_cpu_s']:>9.2f} {'< 10':>7}")
    print(f"{'apply':<8} {n:>12d} {result['apply_s']:>9.2f} {result['apply_cpu_s']:>9.2f} {'< 10':>7}")
    print(f"load average {result['load_avg_1min']:.1f} on {result['cpu_count']} cores (wall incl. waiting)")
    out = Path(__file__).resolve().parent / "results" / "bench_calibrate.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
