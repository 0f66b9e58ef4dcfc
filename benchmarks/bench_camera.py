"""Speed of stage 4: :meth:`imusynth.video.camera.CameraMotionEstimator.update` on real 1280x720 frames.

Target: at least 60 frames/s on one core, so that adding the camera stage keeps the whole video
pipeline at >= 0.9x the pose-only throughput. Frames are decoded with
:func:`imusynth.video.decode.iter_frames`
(RGB, as the pipeline passes them); only ``update`` is timed. OpenCV runs single-threaded
(``cv2.setNumThreads(1)``) to measure one core; both wall-clock and process-CPU frames/s are reported
(on a shared machine the CPU time is what the work costs).

Modes: ``rotation`` (the default estimator: 480-px working image, 150 features, forward-backward
Lucas-Kanade, 100 RANSAC hypotheses), ``rotation+box`` (the same with a person box in every frame, as the
pose stage gives one), ``fast`` (100 features, no backward tracking pass) and ``static``
(``--static-camera``: histogram shot-cut detection only).

When ``benchmarks/results/bench_video_pose.json`` exists (from ``bench_video_pose.py``), the script also
prints the throughput of decode + pose with and without the camera stage for the same video, from CPU
time per frame: ``ratio = t_pose / (t_pose + t_camera)``.

Run from the repository root::

    .venv/bin/python benchmarks/bench_camera.py [--video PATH] [--max-frames 400] [--repeat 1]

Prints a table and writes ``benchmarks/results/bench_camera.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from imusynth.video.camera import CameraIntrinsics, CameraMotionEstimator
from imusynth.video.decode import iter_frames, open_video

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_VIDEO = ROOT.parent / "shared" / "videos" / "sports2d" / "demo4_walking.mp4"
TARGET_FPS = 60.0


def bench(video: Path, mode: str, max_frames: int) -> dict[str, object]:
    info = open_video(video)
    intrinsics = CameraIntrinsics.from_fov(info.width, info.height)
    if mode == "fast":
        est = CameraMotionEstimator(intrinsics, max_features=100, fb_threshold_px=None)
    else:
        est = CameraMotionEstimator(intrinsics, static=(mode == "static"))
    # a fixed box of a standing person (a fifth of the width, most of the height) for "rotation+box"
    box = np.array([0.4 * info.width, 0.1 * info.height, 0.6 * info.width, 0.95 * info.height])
    wall = cpu = 0.0
    n = 0
    inliers, rates = [], []
    reader = iter_frames(video)
    for frame in reader:
        w0, c0 = time.perf_counter(), time.process_time()
        step = est.update(frame.time_s, frame.image, box if mode == "rotation+box" else None)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        inliers.append(step.n_inliers)
        rates.append(float(np.degrees(np.linalg.norm(step.angular_velocity))))
        n += 1
        if n >= max_frames:
            reader.close()
            break
    return {
        "video": video.name,
        "size": f"{info.width}x{info.height}",
        "mode": mode,
        "frames": n,
        "fps_wall": n / wall if wall > 0 else float("inf"),
        "fps_cpu": n / cpu if cpu > 0 else float("inf"),
        "ms_cpu_per_frame": 1e3 * cpu / max(n, 1),
        "median_inliers": float(statistics.median(inliers[1:])) if n > 1 else 0.0,
        "median_rate_deg_s": float(statistics.median(rates[1:])) if n > 1 else 0.0,
    }


def pipeline_ratios(video: str, rows: list[dict[str, object]]) -> list[str]:
    """Throughput of decode + pose with the camera stage relative to without it (CPU time per frame)."""
    path = RESULTS / "bench_video_pose.json"
    if not path.exists():
        return []
    lines = []
    for pose in json.loads(path.read_text()).get("rows", []):
        if pose.get("video") != video:
            continue
        t_pose = 1.0 / float(pose["pose_fps_cpu"]) + 1.0 / float(pose["decode_fps_cpu"])
        for r in rows:
            if r["mode"] == "rotation+box":
                continue
            t_cam = float(r["ms_cpu_per_frame"]) / 1e3  # type: ignore[arg-type]
            lines.append(
                f"decode+pose ({pose['model']}) {1 / t_pose:.1f} frames/s -> with camera '{r['mode']}' "
                f"{1 / (t_pose + t_cam):.1f} frames/s: {t_pose / (t_pose + t_cam):.2f}x"
            )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--max-frames", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=1, help="runs per mode; the best is kept")
    args = ap.parse_args()
    if not args.video.exists():
        raise SystemExit(f"video not found: {args.video} (the default needs ../shared beside the repository)")
    cv2.setNumThreads(1)
    rows = []
    for mode in ("rotation", "rotation+box", "fast", "static"):
        runs = [bench(args.video, mode, args.max_frames) for _ in range(args.repeat)]
        rows.append(max(runs, key=lambda r: float(r["fps_cpu"])))  # type: ignore[arg-type]
    cols = ["video", "size", "mode", "frames", "fps_wall", "fps_cpu", "ms_cpu_per_frame", "median_inliers",
            "median_rate_deg_s"]
    print(" | ".join(f"{c:>17}" for c in cols))
    for r in rows:
        print(" | ".join(f"{r[c]:>17.2f}" if isinstance(r[c], float) else f"{r[c]!s:>17}" for c in cols))
    main_fps = float(rows[0]["fps_cpu"])  # type: ignore[arg-type]
    verdict = "meets" if main_fps >= TARGET_FPS else "MISSES"
    print(f"rotation mode: {main_fps:.0f} frames/s per core (CPU time) {verdict} the "
          f"{TARGET_FPS:.0f} frames/s target")
    ratios = pipeline_ratios(args.video.name, rows)
    for line in ratios:
        print(line)
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"rows": rows, "pipeline_ratios": ratios, "target_fps": TARGET_FPS, "opencv_threads": 1,
               "machine": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
               "opencv": cv2.__version__}
    out = RESULTS / "bench_camera.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
