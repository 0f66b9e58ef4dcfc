"""End-to-end speed and peak memory of the video job, against pose-only and decode-only on the same frames.

One run of each measurement, each in its own subprocess (so each peak-memory figure is that of one
measurement alone):

- ``decode``: :func:`imusynth.video.iter_frames` over every frame (decode, colour conversion);
- ``pose``: decode + MediaPipe ``PoseLandmarker.detect`` (VIDEO mode, the pipeline's ``[pose]``
  settings), model loading included;
- ``e2e``: :func:`imusynth.pipeline.process_video` (decode, pose, tracking, camera motion, lifting,
  sensors for wrist and thigh, HDF5 write), model loading included;

on ``../shared/videos/sports2d/demo4_walking.mp4`` (1280x720, 401 frames) with the lite and full
models, and then ``e2e`` (lite) on the same video looped to ``--long-minutes`` minutes (made with
``ffmpeg -stream_loop -c copy`` in the temp folder, or re-encoded with OpenCV without ffmpeg; deleted
afterwards) to show that peak memory does not grow with the video's length.

Reported per measurement: frames, wall and CPU seconds, frames/s of wall-clock and of process CPU
time (on a shared machine CPU time is what the work costs; wall-clock is what a user waits on an
idle one), the same without the one-off model loading, peak resident memory (``VmHWM``), and for
``e2e`` the pipeline's own stage timings.
Ratios: e2e / pose-only throughput per model. Targets (issue 3, on 2 cores): e2e >= 0.9 x pose-only,
lite e2e >= 30 frames/s, peak memory < 1.5 GB and independent of the video's length.

Run from the repository root (the long run takes ~10-20 min of CPU per 10 minutes of video)::

    IMUSYNTH_MODEL_DIR=../shared/models .venv/bin/python benchmarks/bench_pipeline.py \
        [--models lite full] [--video PATH] [--long-minutes 10] [--tmp /tmp]

Prints a table and writes ``benchmarks/results/bench_pipeline.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_VIDEO = ROOT.parent / "shared" / "videos" / "sports2d" / "demo4_walking.mp4"
PLACEMENTS = ["wrist", "thigh"]
TARGETS = {"e2e_over_pose": 0.9, "lite_fps": 30.0, "peak_rss_mib": 1.5 * 1024}


# --------------------------------------------------------------------------------------------------
# worker side: one measurement per process
# --------------------------------------------------------------------------------------------------


def _peak_rss_mib() -> float:
    """High-water mark of this process's resident memory (VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _config(model: str) -> Any:
    from imusynth.config import load_pipeline_config, with_overrides

    return with_overrides(load_pipeline_config(), {"pose.model": model, "output.placements": PLACEMENTS})


def _measure_decode(video: Path) -> dict[str, Any]:
    from imusynth.video import iter_frames

    n = 0
    for _ in iter_frames(video):
        n += 1
    return {"frames": n}


def _measure_pose(video: Path, model: str) -> dict[str, Any]:
    from imusynth.pipeline import mediapipe_detector
    from imusynth.video import iter_frames

    n = 0
    n_det = 0
    w0, c0 = time.perf_counter(), time.process_time()
    with mediapipe_detector(_config(model)) as det:
        load = {"load_wall_s": time.perf_counter() - w0, "load_cpu_s": time.process_time() - c0}
        for frame in iter_frames(video):
            n_det += len(det.detect(frame.image, frame.time_s))
            n += 1
    return {"frames": n, "detections": n_det, **load}


class _Counting:
    """Builds and wraps the pipeline's pose backend; counts the frames given to it and times the loading."""

    def __init__(self, cfg: Any) -> None:
        from imusynth.pipeline import mediapipe_detector

        self._w0, self._c0 = time.perf_counter(), time.process_time()
        self.inner = mediapipe_detector(cfg)
        self.frames = 0
        self.load_wall_s = self.load_cpu_s = 0.0

    def __enter__(self) -> _Counting:
        self.inner.__enter__()
        self.load_wall_s = time.perf_counter() - self._w0
        self.load_cpu_s = time.process_time() - self._c0
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self.inner.__exit__(*exc)

    def detect(self, image: Any, time_s: float) -> Any:
        self.frames += 1
        return self.inner.detect(image, time_s)


class _Timings(logging.Handler):
    """Catches the orchestrator's closing log record (its stage timings)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.timings: dict[str, float] = {}
        self.clips = 0

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and len(args) == 4 and isinstance(args[3], dict):
            self.clips = int(str(args[2]))
            self.timings = {k: float(v) for k, v in args[3].items()}


def _measure_e2e(video: Path, model: str, out_dir: Path) -> dict[str, Any]:
    from imusynth.pipeline import process_video

    counters: list[_Counting] = []

    def factory(cfg: Any) -> _Counting:
        counters.append(_Counting(cfg))
        return counters[-1]

    handler = _Timings()
    log = logging.getLogger("imusynth.pipeline")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    out = out_dir / f"bench_{os.getpid()}.h5"
    try:
        process_video(video, out, config=_config(model), detector_factory=factory)
        size = out.stat().st_size
    finally:
        out.unlink(missing_ok=True)
    return {"frames": sum(c.frames for c in counters), "clips": handler.clips, "h5_bytes": size,
            "stage_s": handler.timings, "load_wall_s": sum(c.load_wall_s for c in counters),
            "load_cpu_s": sum(c.load_cpu_s for c in counters)}


def worker(kind: str, video: Path, model: str, out_dir: Path) -> dict[str, Any]:
    """Run one measurement in this process and return its figures."""
    w0, c0 = time.perf_counter(), time.process_time()
    if kind == "decode":
        res = _measure_decode(video)
    elif kind == "pose":
        res = _measure_pose(video, model)
    elif kind == "e2e":
        res = _measure_e2e(video, model, out_dir)
    else:
        raise SystemExit(f"unknown measurement {kind!r}")
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    n = res["frames"]
    res.update({"kind": kind, "model": model if kind != "decode" else "-", "video": video.name,
                "wall_s": wall, "cpu_s": cpu, "fps_wall": n / wall if wall > 0 else 0.0,
                "fps_cpu": n / cpu if cpu > 0 else 0.0, "peak_rss_mib": _peak_rss_mib()})
    # the same without the one-off model loading (what a long video approaches)
    lw, lc = wall - res.get("load_wall_s", 0.0), cpu - res.get("load_cpu_s", 0.0)
    res.update({"fps_wall_no_load": n / lw if lw > 0 else 0.0, "fps_cpu_no_load": n / lc if lc > 0 else 0.0})
    return res


# --------------------------------------------------------------------------------------------------
# driver side
# --------------------------------------------------------------------------------------------------


def run_worker(kind: str, video: Path, model: str, out_dir: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("IMUSYNTH_MODEL_DIR", str(ROOT.parent / "shared" / "models"))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--video", str(video),
           "--models", model, "--tmp", str(out_dir)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        raise RuntimeError(f"{kind}/{model} failed ({r.returncode}): {r.stderr[-2000:]}")
    return dict(json.loads(lines[-1]))


def make_long_video(src: Path, minutes: float, folder: Path) -> Path:
    """``src`` looped to ``minutes`` of video in ``folder`` (stream copy with ffmpeg, else OpenCV)."""
    out = folder / f"{src.stem}_loop_{minutes:g}min.mp4"
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", "-1",
                        "-i", str(src), "-an", "-c:v", "copy", "-t", f"{minutes * 60:.3f}", str(out)],
                       check=True)
        return out
    import cv2

    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    total = int(round(minutes * 60 * fps))
    n = 0
    while n < total:
        ok, img = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        writer.write(img)
        n += 1
    cap.release()
    writer.release()
    return out


def _fmt(v: Any) -> str:
    return f"{v:.1f}" if isinstance(v, float) else str(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["lite", "full"])
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--long-minutes", type=float, default=10.0,
                    help="length of the looped video for the memory check, minutes (0: skip)")
    ap.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()),
                    help="folder for the looped video and the temporary HDF5 outputs")
    ap.add_argument("--worker", choices=["decode", "pose", "e2e"], help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker, args.video, args.models[0], args.tmp)))
        return
    if not args.video.exists():
        raise SystemExit(f"video not found: {args.video} (../shared must sit beside the repository)")

    load_before = os.getloadavg()
    t_start = time.time()
    rows = [run_worker("decode", args.video, "-", args.tmp)]
    for model in args.models:
        rows.append(run_worker("pose", args.video, model, args.tmp))
        rows.append(run_worker("e2e", args.video, model, args.tmp))
    long_row = None
    if args.long_minutes > 0:
        work = Path(tempfile.mkdtemp(prefix="bench_pipeline_", dir=args.tmp))
        try:
            long_video = make_long_video(args.video, args.long_minutes, work)
            long_row = run_worker("e2e", long_video, args.models[0], work)
            long_row["video_minutes"] = args.long_minutes
            rows.append(long_row)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()

    def find(kind: str, model: str) -> dict[str, Any] | None:
        return next((r for r in rows if r["kind"] == kind and r["model"] == model
                     and r["video"] == args.video.name), None)

    ratios: dict[str, Any] = {}
    for model in args.models:
        pose, e2e = find("pose", model), find("e2e", model)
        if pose and e2e:
            ratios[model] = {"e2e_over_pose_wall": e2e["fps_wall"] / pose["fps_wall"],
                             "e2e_over_pose_cpu": e2e["fps_cpu"] / pose["fps_cpu"],
                             "e2e_over_pose_cpu_no_load": e2e["fps_cpu_no_load"] / pose["fps_cpu_no_load"],
                             "pose_over_decode_cpu": pose["fps_cpu"] / rows[0]["fps_cpu"]}
            stages = e2e.get("stage_s", {})
            if stages.get("pose"):
                ratios[model]["camera_over_pose_stage_wall"] = stages.get("camera", 0.0) / stages["pose"]
    short_peak = max(r["peak_rss_mib"] for r in rows if r["video"] == args.video.name)
    checks: dict[str, Any] = {
        "e2e_over_pose_cpu>=0.9": all(v["e2e_over_pose_cpu"] >= TARGETS["e2e_over_pose"]
                                      for v in ratios.values()),
        "peak_rss<1.5GB": max(r["peak_rss_mib"] for r in rows) < TARGETS["peak_rss_mib"],
    }
    lite = find("e2e", "lite")
    if lite:
        checks["lite_e2e_fps_cpu>=30"] = lite["fps_cpu"] >= TARGETS["lite_fps"]
        checks["lite_e2e_fps_wall>=30"] = lite["fps_wall"] >= TARGETS["lite_fps"]
    if long_row and lite:
        checks["long_over_short_peak_rss"] = long_row["peak_rss_mib"] / lite["peak_rss_mib"]
        # growth of the peak per extra frame (the compact per-frame arrays the pipeline keeps), KiB
        extra = long_row["frames"] - lite["frames"]
        if extra > 0:
            checks["peak_rss_growth_kib_per_frame"] = (
                1024.0 * (long_row["peak_rss_mib"] - lite["peak_rss_mib"]) / extra)

    cols = ["kind", "model", "video", "frames", "wall_s", "cpu_s", "fps_wall", "fps_cpu", "peak_rss_mib"]
    print(" | ".join(f"{c:>22}" for c in cols))
    for r in rows:
        print(" | ".join(f"{_fmt(r[c]):>22}" for c in cols))
    for model, v in ratios.items():
        print(f"{model}: e2e/pose {v['e2e_over_pose_cpu']:.2f} (CPU), {v['e2e_over_pose_wall']:.2f} (wall)")
    print("checks:", json.dumps(checks))
    print(f"load average before {load_before}, after {load_after} on {os.cpu_count()} CPUs")

    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "rows": rows, "ratios": ratios, "targets": TARGETS, "checks": checks,
        "short_video_peak_rss_mib": short_peak,
        "machine": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "load_average_before": load_before, "load_average_after": load_after,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t_start)),
        "duration_s": time.time() - t_start,
    }
    (RESULTS / "bench_pipeline.json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {RESULTS / 'bench_pipeline.json'}")


if __name__ == "__main__":
    main()
