"""Speed and memory of stages 1-2: decoding (imusynth.video.decode), MediaPipe pose, tracking.

For each video (default: the Sports2D clips in ../shared/videos/sports2d) and each model variant,
the script measures, frame by frame:

- decode: :func:`imusynth.video.decode.iter_frames` alone (decode, colour conversion, rotation);
- pose: the pipeline's default, :class:`imusynth.video.pose.adaptive.AdaptivePoseEstimator` (``push``;
  ``--backend adaptive``, max 4 people, a detector pass every 8 frames), or one
  :class:`imusynth.video.pose.mediapipe_backend.PoseEstimator` with num_poses 4 (``--backend fixed``: its
  detector on every frame while it follows fewer than 4 people);
- track: :meth:`imusynth.video.pose.tracking.Tracker.update`;

as frames per second of wall-clock and of process CPU time (on a shared machine CPU time is
what the work costs), plus the peak resident memory of the process (ru_maxrss; decoding holds one
frame at a time, so it must not grow with the video's length).

Run from the repository root::

    IMUSYNTH_MODEL_DIR=../shared/models .venv/bin/python benchmarks/bench_video_pose.py \
        [--models lite full] [--videos PATH ...] [--max-frames 300] [--detector-cost]

``--detector-cost``: CPU per frame of one person followed (VIDEO mode, num_poses 1) and of the same frames
in IMAGE mode (person detector + landmarks on every frame): the difference is the detector's cost.

Prints a table and writes ``benchmarks/results/bench_video_pose.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

from imusynth.video.decode import iter_frames, open_video
from imusynth.video.pose.adaptive import mediapipe_adaptive
from imusynth.video.pose.mediapipe_backend import PoseEstimator
from imusynth.video.pose.tracking import Tracker

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_VIDEOS = [ROOT.parent / "shared" / "videos" / "sports2d" / n
                  for n in ("demo3_running.mp4", "demo.mp4", "demo4_walking.mp4")]


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def bench(video: Path, model: str, max_frames: int, backend: str = "adaptive") -> dict[str, object]:
    info = open_video(video)
    wall = {"decode": 0.0, "pose": 0.0, "track": 0.0}
    cpu = dict(wall)
    n = 0
    n_tracks = 0
    est = mediapipe_adaptive(model) if backend == "adaptive" else PoseEstimator(model, num_poses=4)
    with est:
        tracker = Tracker()
        reader = iter_frames(video)
        w0, c0 = _clock()
        for frame in reader:
            w1, c1 = _clock()
            wall["decode"] += w1 - w0
            cpu["decode"] += c1 - c0
            ready = (est.push(frame.image, frame.time_s, frame) if backend == "adaptive"
                     else [(frame, est.detect(frame.image, frame.time_s))])
            w2, c2 = _clock()
            wall["pose"] += w2 - w1
            cpu["pose"] += c2 - c1
            for done, dets in ready:
                tracker.update(done.time_s, dets, frame_index=done.index)
            w0, c0 = _clock()
            wall["track"] += w0 - w2
            cpu["track"] += c0 - c2
            n += 1
            if n >= max_frames:
                reader.close()
                break
        if backend == "adaptive":                 # the frames still held back (no model work left)
            for done, dets in est.flush():
                tracker.update(done.time_s, dets, frame_index=done.index)
        n_tracks = len(tracker.tracks())
    out: dict[str, object] = {
        "video": video.name, "size": f"{info.width}x{info.height}", "model": model, "backend": backend,
        "frames": n,
        "tracks": n_tracks,
    }
    for k in wall:
        out[f"{k}_fps_wall"] = n / wall[k] if wall[k] > 0 else float("inf")
        out[f"{k}_fps_cpu"] = n / cpu[k] if cpu[k] > 0 else float("inf")
    total = sum(wall.values())
    out["total_fps_wall"] = n / total if total > 0 else float("inf")
    return out


def detector_cost(video: Path, model: str, max_frames: int) -> dict[str, object]:
    """CPU ms per frame of the landmarker following one person (VIDEO mode, num_poses 1: landmarks only,
    once the person is found) and of the same frames in IMAGE mode (person detector + landmarks on every
    frame); the difference is the person detector's cost."""
    frames = []
    for frame in iter_frames(video):
        frames.append(frame)
        if len(frames) >= max_frames:
            break
    out: dict[str, object] = {"video": video.name, "model": model, "frames": len(frames)}
    for mode in ("video", "image"):
        with PoseEstimator(model, num_poses=1, running_mode=mode) as est:
            c0 = time.process_time()
            for f in frames:
                est.detect(f.image, f.time_s)
            out[f"{mode}_cpu_ms"] = 1000.0 * (time.process_time() - c0) / len(frames)
    out["detector_cpu_ms"] = float(out["image_cpu_ms"]) - float(out["video_cpu_ms"])  # type: ignore[arg-type]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["lite"])
    ap.add_argument("--videos", nargs="+", type=Path, default=DEFAULT_VIDEOS)
    ap.add_argument("--max-frames", type=int, default=300)
    ap.add_argument("--backend", nargs="+", default=["adaptive", "fixed"], choices=["adaptive", "fixed"])
    ap.add_argument("--detector-cost", action="store_true",
                    help="only measure the person detector's cost (VIDEO vs IMAGE mode, one person)")
    args = ap.parse_args()
    if args.detector_cost:
        costs = [detector_cost(v, m, args.max_frames) for v in args.videos if v.exists() for m in args.models]
        for c in costs:
            print(json.dumps(c))
        return
    rows = [bench(v, m, args.max_frames, b) for v in args.videos if v.exists() for m in args.models
            for b in args.backend]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    cols = ["video", "size", "model", "backend", "frames", "tracks", "decode_fps_cpu", "pose_fps_cpu",
            "track_fps_cpu", "total_fps_wall"]
    print(" | ".join(f"{c:>16}" for c in cols))
    for r in rows:
        print(" | ".join(f"{r[c]:>16.1f}" if isinstance(r[c], float) else f"{r[c]!s:>16}" for c in cols))
    print(f"peak resident memory: {peak_mib:.0f} MiB")
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"rows": rows, "peak_rss_mib": peak_mib, "machine": platform.platform(),
               "cpus": os.cpu_count(), "python": platform.python_version()}
    (RESULTS / "bench_video_pose.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
