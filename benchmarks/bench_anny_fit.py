"""Benchmark: Anny fitting of 30 s of 30 fps landmarks (900 frames) on the CPU (issue 16).

Target: under 60 s with 2 torch threads. Uses the real Anny model (extra ``imusynth[body]``) and noisy
landmarks made from a known smooth motion (every fitted bone swinging by up to 0.3 rad at 1 Hz, a
walk-speed translation, a non-default phenotype), and reports the accuracy too. The machine is shared:
the CPU time of the process and the load average are reported beside the wall time.

    python benchmarks/bench_anny_fit.py [--frames 900] [--threads 2] [--iters 15]

Prints a table and writes ``benchmarks/results/bench_anny_fit.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=900)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=15)
    ap.add_argument("--noise-m", type=float, default=0.01, help="landmark noise (m, per axis)")
    args = ap.parse_args()

    import torch

    from imusynth.body.anny import fit as A
    from imusynth.body.anny.model import FITTED_BONES, load_anny

    torch.set_num_threads(args.threads)
    t_load = time.perf_counter()
    model = load_anny()
    load_s = time.perf_counter() - t_load
    T, F = args.frames, len(FITTED_BONES)
    rng = np.random.default_rng(11)
    t = np.arange(T) / 30.0
    pose = np.zeros((T, 3 * F))
    phase, amp = rng.uniform(0, 6, 3 * F - 3), rng.uniform(0, 1, 3 * F - 3)
    pose[:, 3:] = 0.3 * amp * np.sin(2 * np.pi * t[:, None] + phase)
    pose[:, 2] = 0.2 * t                                     # slow turn about the vertical
    transl = np.stack([1.2 * np.cos(0.2 * t), 1.2 * np.sin(0.2 * t), 0.9 + 0 * t], 1)
    betas = np.array([0.1, -0.1, 0.0, 0.05, 0.2, -0.1])
    truth = A.landmarks_from_anny(model, betas, pose, transl)
    lm = truth + rng.normal(0.0, args.noise_m, truth.shape)

    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    fit = A.fit_anny(lm, None, None, None, model, n_iters=args.iters, torch_threads=args.threads)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    again = A.landmarks_from_anny(model, fit.betas, fit.pose, fit.transl)
    err = np.linalg.norm(again - truth, axis=-1)
    result = {
        "frames": T,
        "torch_threads": args.threads,
        "iterations": fit.n_iterations,
        "evaluations": fit.n_evaluations,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "target_wall_s": 60.0,
        "model_load_s": round(load_s, 2),
        "landmark_noise_m": args.noise_m,
        "keypoint_rmse_vs_truth_m": float(np.sqrt(np.nanmean(err**2))),
        "landmark_residual_rms_m": float(np.sqrt(np.nanmean(fit.residual_3d_m**2))),
        "betas_true": betas.tolist(),
        "betas_fit": np.round(fit.betas, 3).tolist(),
        "loss_per_frame": fit.loss,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, load {load0:.1f} -> "
                   f"{os.getloadavg()[0]:.1f}",
        "torch": torch.__version__,
        "anny": model.version,
    }
    width = max(len(k) for k in result)
    for k, v in result.items():
        print(f"{k:<{width}}  {v}")
    out_dir = Path(__file__).resolve().parent / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "bench_anny_fit.json"
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(result, fh, indent=2)
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
