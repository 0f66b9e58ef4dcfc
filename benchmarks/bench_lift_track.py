"""CPU time per frame of the video job's PnP placement of a real track (issue 14), before and after batching.

:func:`imusynth.video.segments.lift_track` placed each detection with
:func:`imusynth.video.lift.pnp.lift_frame` (SQPnP, then a Levenberg-Marquardt in Python: ~0.8 ms a
frame); it now calls :func:`imusynth.video.lift.pnp_batch.lift_frames` (one vectorised pass). Measured
on the longest track of ``../shared/videos/sports2d/demo4_walking.mp4`` (the pose stage runs once, with
the job's default settings, and its tracks are cached in ``--cache``):

- ``lift_track`` with the sequential placement (``before``: ``lift_frames`` replaced by a loop over
  ``lift_frame``, each frame's ``prev`` the last one placed, as the job did) and as it is (``after``);
- the placement alone: the ``lift_frame`` loop and ``lift_frames``;
- the largest difference between the two placements (R, and t relative to its norm).

CPU time is the process's (``time.process_time``), the best of ``--repeat`` runs; the load average
is reported because the machine is shared. Target: lift_track under 0.25 ms of CPU per frame.

Run from the repository root::

    IMUSYNTH_MODEL_DIR=/work/shared/models .venv/bin/python benchmarks/bench_lift_track.py \\
        [--video PATH] [--cache /tmp/imusynth_bench_lift_track.pkl] [--repeat 7]

Prints a table and writes ``benchmarks/results/bench_lift_track.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from imusynth.video import segments
from imusynth.video.lift.pnp import lift_frame
from imusynth.video.lift.pnp_batch import LiftedFrames, lift_frames

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
VIDEO = ROOT.parent / "shared" / "videos" / "sports2d" / "demo4_walking.mp4"


def load_tracks(video: Path, cache: Path) -> dict[str, Any]:
    """The run's tracks, K and settings: from ``cache`` when it exists, else from the pose stage."""
    if cache.exists():
        with cache.open("rb") as f:
            data: dict[str, Any] = pickle.load(f)
        if data.get("video") == str(video):
            return data
    from imusynth.config import PipelineConfig
    from imusynth.video.stream import run_stages

    cfg = PipelineConfig()
    run = run_stages(video, cfg)
    data = {"video": str(video), "tracks": [run.track(tid) for tid in run.track_ids], "K": run.K,
            "min_visibility": cfg.pose.min_visibility, "size": (run.width, run.height)}
    tmp = cache.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(data, f)
    os.replace(tmp, cache)
    return data


def lift_in_sequence(world: np.ndarray, image: np.ndarray, weights: np.ndarray, K: np.ndarray,
                     **kwargs: Any) -> LiftedFrames:
    """The placement as it was: ``lift_frame`` per frame, ``prev`` the last frame placed."""
    prev = None
    frames = []
    for k in range(len(world)):
        fr = lift_frame(world[k], image[k], weights[k], K, prev=prev, **kwargs)
        frames.append(fr)
        prev = fr if fr.ok else prev
    n = world.shape[1]
    return LiftedFrames(points=np.array([f.points for f in frames]).reshape(-1, n, 3),
                        R=np.array([f.R for f in frames]).reshape(-1, 3, 3),
                        t=np.array([f.t for f in frames]).reshape(-1, 3),
                        rms_px=np.array([f.rms_px for f in frames]), ok=np.array([f.ok for f in frames]),
                        n_used=np.array([f.n_used for f in frames], dtype=np.int64),
                        reason=tuple(f.reason for f in frames))


def cpu_best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best process CPU time, s, of ``repeat`` calls, and the last result."""
    best, out = np.inf, None
    for _ in range(repeat):
        c0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - c0)
    return float(best), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=VIDEO)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/imusynth_bench_lift_track.pkl"))
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    data = load_tracks(args.video.resolve(), args.cache)
    track = max(data["tracks"], key=lambda tr: len(tr.time))
    K, mv = data["K"], data["min_visibility"]
    n = len(track.time)
    world = track.world_xyz.astype(np.float64)
    image = track.image_xy - 0.5
    vis = track.visibility

    def run_lift_track() -> Any:
        return segments.lift_track(track, K, min_visibility=mv, image_size=data["size"])

    load_before = os.getloadavg()
    segments.lift_frames = lift_in_sequence  # type: ignore[assignment]
    try:
        before_s, lt_before = cpu_best(run_lift_track, args.repeat)
    finally:
        segments.lift_frames = lift_frames
    after_s, lt_after = cpu_best(run_lift_track, args.repeat)
    seq_s, seq = cpu_best(lambda: lift_in_sequence(world, image, vis, K, min_weight=mv), args.repeat)
    batch_s, batch = cpu_best(lambda: lift_frames(world, image, vis, K, min_weight=mv), args.repeat)
    load_after = os.getloadavg()
    assert np.array_equal(seq.ok, batch.ok) and np.array_equal(lt_before.ok, lt_after.ok)
    scale = np.linalg.norm(seq.t[seq.ok], axis=1)
    out = {
        "video": str(args.video), "frames": n, "frames_placed": int(batch.ok.sum()),
        "lift_track_before_ms_per_frame": 1e3 * before_s / n,
        "lift_track_after_ms_per_frame": 1e3 * after_s / n,
        "placement_lift_frame_loop_ms_per_frame": 1e3 * seq_s / n,
        "placement_lift_frames_ms_per_frame": 1e3 * batch_s / n,
        "max_abs_diff_R": float(np.abs(seq.R[seq.ok] - batch.R[batch.ok]).max()),
        "max_rel_diff_t": float((np.abs(seq.t[seq.ok] - batch.t[batch.ok]).max(axis=1) / scale).max()),
        "max_abs_diff_lift_track_trans_m": float(np.nanmax(np.abs(lt_before.trans - lt_after.trans))),
        "repeat": args.repeat, "load_average_before": load_before, "load_average_after": load_after,
        "cpu_count": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
    }
    for key, value in out.items():
        print(f"{key:42s} {value:.4g}" if isinstance(value, float) else f"{key:42s} {value}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS / "bench_lift_track.json.tmp"
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    os.replace(tmp, RESULTS / "bench_lift_track.json")


if __name__ == "__main__":
    main()
