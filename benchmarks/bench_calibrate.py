"""Benchmark: fit and apply a calibration profile on 10 hours of 50 Hz six-channel data.

Target (issue 4): fit < 10 s and apply < 10 s. The data are synthetic walking-like signals (sines plus
noise, a standing start for the gravity estimate), 10 recordings of 1 h each on both sides, with a 20 deg
tilt between the virtual and real frames so the alignment is fitted too. ``apply`` includes the
smartwatch device model (noise, bias, saturation, quantisation).

Usage: python benchmarks/bench_calibrate.py [--hours 10] [--rate 50] [--repeat 1]
Prints a table and writes benchmarks/results/bench_calibrate.json.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
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
