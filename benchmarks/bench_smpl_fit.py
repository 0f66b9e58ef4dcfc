"""Benchmark: SMPL fitting of 30 s of 30 fps landmarks (900 frames) on the CPU.

Target (issue 6): under 60 s with 2 torch threads. Uses the synthetic SMPL-format model (same fitting
work per frame as SMPL itself: the fit skins the 24 joints and the 11 keypoint vertices only, whatever the
mesh size) and noisy landmarks made from a known motion, and reports the accuracy too.

    python benchmarks/bench_smpl_fit.py [--frames 900] [--threads 2] [--iters 15]

Prints a table and writes ``benchmarks/results/bench_smpl_fit.json``.
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

    from imusynth.body.smpl import fit as F
    from imusynth.body.smpl.synthetic import synthetic_model, synthetic_motion

    torch.set_num_threads(args.threads)
    model = synthetic_model()
    mot = synthetic_motion(args.frames, rate_hz=30.0, seed=11)
    truth_lm = F.landmarks_from_smpl(model, mot.betas, mot.pose, mot.transl)
    rng = np.random.default_rng(1)
    lm = truth_lm + rng.normal(0.0, args.noise_m, truth_lm.shape)

    t0, c0 = time.perf_counter(), time.process_time()
    fit = F.fit_clip(lm, None, None, None, model, n_iters=args.iters, torch_threads=args.threads)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0

    _, joints = F.posed_vertices(model, mot.betas, mot.pose, mot.transl)
    used = sorted({int(c.target) for c in F.MEDIAPIPE_TO_SMPL if c.kind == "joint"})
    err = np.linalg.norm(fit.joints[:, used] - joints[:, used], axis=-1)
    result = {
        "frames": args.frames,
        "torch_threads": args.threads,
        "iterations": fit.n_iterations,
        "evaluations": fit.n_evaluations,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "target_wall_s": 60.0,
        "landmark_noise_m": args.noise_m,
        "joint_rmse_m": float(np.sqrt(np.mean(err**2))),
        "landmark_residual_rms_m": float(np.sqrt(np.nanmean(fit.residual_3d_m**2))),
        "loss_per_frame": fit.loss,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}",
        "torch": torch.__version__,
        "smplx": F.smplx_version(),
    }
    width = max(len(k) for k in result)
    for k, v in result.items():
        print(f"{k:<{width}}  {v}")
    out_dir = Path(__file__).resolve().parent / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "bench_smpl_fit.json"
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(result, fh, indent=2)
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
