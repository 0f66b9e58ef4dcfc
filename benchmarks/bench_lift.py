"""Speed of stage 3 (imusynth.video.lift): frames per second of lift_frame, and the trajectory pass.

Target: lift_frame > 500 frames/s on one core, so that lifting costs < 10 % of the pose stage
(MediaPipe's PoseLandmarker runs at ~20-50 frames/s on a CPU core).

Run from the repository root::

    .venv/bin/python benchmarks/bench_lift.py [--frames 2000]

Prints a table and writes ``benchmarks/results/bench_lift.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from imusynth.video.camera import CameraIntrinsics
from imusynth.video.lift import body_trajectory, lift_frame, standing_pose

RESULTS = Path(__file__).resolve().parent / "results"


def synthetic_views(n: int, *, sigma_px: float, seed: int = 0):
    """A body turning and walking between 2 and 6 m, 1280x720 at 60 deg, 2 px noise, random occlusion."""
    K = CameraIntrinsics.from_fov(1280, 720, 60.0).K
    body = standing_pose()
    rng = np.random.default_rng(seed)
    views = []
    for k in range(n):
        s = k / max(n - 1, 1)
        R = Rotation.from_euler("yxz", [360.0 * s, 5.0 * np.sin(20 * s), 0.0], degrees=True).as_matrix()
        t = np.array([0.8 * np.sin(7 * s), 0.1, 4.0 + 2.0 * np.sin(3 * s)])
        Xc = body @ R.T + t
        uv = (K @ (Xc / Xc[:, 2:3]).T).T[:, :2] + rng.normal(0.0, sigma_px, (33, 2))
        w = np.where(rng.random(33) < 0.15, 0.0, rng.uniform(0.6, 1.0, 33))
        views.append((uv, w, Xc))
    return K, body, views


def _timed(fn) -> tuple[float, float]:
    """Wall-clock and CPU (this process) seconds of ``fn()``: on a shared machine the CPU time is
    what the stage itself costs, the wall-clock time also counts waiting for a core."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def bench_lift(n: int) -> dict[str, float]:
    K, body, views = synthetic_views(n, sigma_px=2.0)
    lift_frame(body, views[0][0], views[0][1], K)  # warm-up (imports, OpenCV)

    def cold() -> None:
        for uv, w, _ in views:
            lift_frame(body, uv, w, K)

    results: list = []

    def tracked() -> None:
        prev = None
        for uv, w, _ in views:
            prev = lift_frame(body, uv, w, K, prev=prev)
            results.append(prev)

    wall_cold, cpu_cold = _timed(cold)
    wall_warm, cpu_warm = _timed(tracked)
    e = np.asarray([fr.points - Xc for fr, (_, _, Xc) in zip(results, views, strict=True)])
    return {
        "frames": n,
        "fps_wall_no_prev": n / wall_cold,
        "fps_cpu_no_prev": n / cpu_cold,
        "fps_wall_prev": n / wall_warm,
        "fps_cpu_prev": n / cpu_warm,
        "us_cpu_per_frame": 1e6 * cpu_warm / n,
        "ok_fraction": sum(fr.ok for fr in results) / n,
        "rms_depth_error_m": float(np.sqrt(np.nanmean(e[..., 2] ** 2))),
        "rms_lateral_error_m": float(np.sqrt(np.nanmean(e[..., :2] ** 2))),
    }


def bench_trajectory(n_frames: int) -> dict[str, float]:
    """body_trajectory (smooth_depth inside) over a long clip (float32 points), time and peak memory."""
    rng = np.random.default_rng(1)
    t = np.arange(n_frames) / 30.0
    depth = 4.0 + np.sin(0.2 * t) + rng.normal(0, 0.05, n_frames)
    trans = np.stack([0.3 + 0 * t, 0.1 + 0 * t, depth], axis=1)
    points = (rng.normal(0, 0.4, (n_frames, 33, 3)) + trans[:, None, :]).astype(np.float32)
    valid = rng.random(n_frames) > 0.02
    wall, cpu = _timed(lambda: body_trajectory(t, points, trans, valid, depth_cutoff_hz=1.0))
    tracemalloc.start()  # slows allocation down, hence a separate, untimed run
    out = body_trajectory(t, points, trans, valid, depth_cutoff_hz=1.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "frames": n_frames,
        "seconds_wall": wall,
        "seconds_cpu": cpu,
        "peak_mib": peak / 2**20,
        "output_mib": out.nbytes / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=2000, help="frames for the lift_frame timing")
    ap.add_argument(
        "--trajectory-frames", type=int, default=108_000, help="frames of the trajectory pass (1 h, 30 fps)"
    )
    args = ap.parse_args()
    lift = bench_lift(args.frames)
    traj = bench_trajectory(args.trajectory_frames)
    print(f"{'measure':<40}{'value':>14}")
    print("-" * 54)
    print(f"{'lift_frame, no prev: wall (frames/s)':<40}{lift['fps_wall_no_prev']:>14.0f}")
    print(f"{'lift_frame, no prev: CPU (frames/s)':<40}{lift['fps_cpu_no_prev']:>14.0f}")
    print(f"{'lift_frame, prev chain: wall (frames/s)':<40}{lift['fps_wall_prev']:>14.0f}")
    print(f"{'lift_frame, prev chain: CPU (frames/s)':<40}{lift['fps_cpu_prev']:>14.0f}")
    print(f"{'  target (frames/s)':<40}{'> 500':>14}")
    print(f"{'ok fraction':<40}{lift['ok_fraction']:>14.3f}")
    print(f"{'RMS depth error, 2 px noise, 2-6 m (m)':<40}{lift['rms_depth_error_m']:>14.4f}")
    print(f"{'RMS lateral error (m)':<40}{lift['rms_lateral_error_m']:>14.4f}")
    print(f"{'body_trajectory, 1 h at 30 fps: wall (s)':<40}{traj['seconds_wall']:>14.3f}")
    print(f"{'body_trajectory, 1 h at 30 fps: CPU (s)':<40}{traj['seconds_cpu']:>14.3f}")
    print(f"{'  peak extra memory (MiB)':<40}{traj['peak_mib']:>14.1f}")
    print(f"{'  output float32 (MiB)':<40}{traj['output_mib']:>14.1f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": "bench_lift",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "lift_frame": lift,
        "trajectory": traj,
    }
    fd, tmp = tempfile.mkstemp(dir=RESULTS, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(record, fh, indent=2)
    os.replace(tmp, RESULTS / "bench_lift.json")
    print(f"wrote {RESULTS / 'bench_lift.json'}")


if __name__ == "__main__":
    main()
