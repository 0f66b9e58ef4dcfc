"""End-to-end speed and peak memory of the video job, against pose-only and decode-only on the same frames.

Each measurement runs in its own subprocess (so each peak-memory figure is that of one measurement
alone); on the short video, pose-only and e2e alternate ``--repeat`` times (default 3) and the run of
median frames/s is reported, because a shared machine's speed drifts by +-15 % between runs:

- ``decode``: :func:`imusynth.video.decode.iter_frames` over every frame (decode, colour conversion);
- ``pose``: decode + the pipeline's pose backend (``[pose]`` settings: by default the adaptive person
  detection, ``imusynth.video.pose.adaptive``, through ``push``/``flush``), model loading included;
- ``e2e``: :func:`imusynth.video.job.process_video` (decode, pose, tracking, camera motion, lifting,
  sensors for wrist and thigh, HDF5 write), model loading included;
- ``stages`` (unless ``--no-stages``; once per model): the job's streaming pass alone
  (:func:`imusynth.video.stream.run_stages`), importing only what it needs: its peak memory is the job's
  without the post-processing modules (scipy.signal, h5py: ~41 MiB) loaded during the pose stage;

on ``../shared/videos/sports2d/demo4_walking.mp4`` (1280x720, 401 frames) with the lite and full
models, and then ``e2e`` (lite) on the same video looped to ``--long-minutes`` minutes (made with
``ffmpeg -stream_loop -c copy`` in the temp folder, or re-encoded with OpenCV without ffmpeg; deleted
afterwards) to show that peak memory does not grow with the video's length. In the looped video the
walker crosses the frame again and again, so tracks stay short: that run measures the streaming stage.

- ``synth`` (unless ``--no-synth``): the job on a blank 480x270 video of 401 frames and of
  ``--long-minutes`` with the tests' synthetic pose backend (``tests/synthetic_body.py``: one person
  seen in every frame) and a static camera. No model is loaded; the difference between the two peaks
  is what post-processing and writing **one track that spans the whole video** cost per frame, the part
  of the job that is proportional to the length by nature (its output is).

Reported per measurement: frames, wall and CPU seconds, frames/s of wall-clock and of process CPU
time (on a shared machine CPU time is what the work costs; wall-clock is what a user waits on an
idle one), the same without the one-off model loading, peak resident memory (``VmHWM``), the size the
frame store's temporary file reached (``store_file_bytes``), and for ``e2e`` the pipeline's own stage
timings.
Ratios: e2e / pose-only throughput per model. Targets (issue 3, on 2 cores): e2e >= 0.9 x pose-only,
lite e2e >= 30 frames/s, peak memory < 1.5 GB and independent of the video's length.

Run from the repository root (the long run takes ~10-20 min of CPU per 10 minutes of video)::

    IMUSYNTH_MODEL_DIR=../shared/models .venv/bin/python benchmarks/bench_pipeline.py \
        [--models lite full] [--video PATH] [--long-minutes 10] [--tmp /tmp]

Prints a table and writes ``benchmarks/results/bench_pipeline.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_VIDEO = ROOT.parent / "shared" / "videos" / "sports2d" / "demo4_walking.mp4"
PLACEMENTS = ["wrist", "thigh"]
#: The blank video of the ``synth`` measurement: size (px), frame rate and field of view (deg).
SYNTH_SIZE, SYNTH_FPS, SYNTH_FOV_DEG = (480, 270), 30.0, 60.0
TARGETS = {"e2e_over_pose": 0.9, "lite_fps": 30.0, "peak_rss_mib": 1.5 * 1024}
#: Issue 14's targets (real time by default; wall-clock, what a user waits on an idle 2-core machine): end to
#: end frames/s per model, end to end / pose only, and the peak memory of the long run (MiB).
TARGETS_14 = {"e2e_fps_wall": {"lite": 35.0, "full": 30.0}, "e2e_over_pose_wall": 0.9,
              "long_peak_rss_mib": 400.0}


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


#: ``pose.num_poses`` of the measured runs (``--num-poses``; the configuration's default when None).
NUM_POSES: int | None = None
#: ``pose.detect_every`` of the measured runs (``--detect-every``; the configuration's default when None).
DETECT_EVERY: int | None = None


def _config(model: str) -> Any:
    from imusynth.config import load_pipeline_config, with_overrides

    over: dict[str, Any] = {"pose.model": model, "output.placements": PLACEMENTS}
    if NUM_POSES is not None:
        over["pose.num_poses"] = NUM_POSES
    if DETECT_EVERY is not None:
        over["pose.detect_every"] = DETECT_EVERY
    return with_overrides(load_pipeline_config(), over)


def _measure_decode(video: Path) -> dict[str, Any]:
    from imusynth.video.decode import iter_frames

    n = 0
    for _ in iter_frames(video):
        n += 1
    return {"frames": n}


def _measure_pose(video: Path, model: str) -> dict[str, Any]:
    from imusynth.video.decode import iter_frames
    from imusynth.video.job import mediapipe_detector

    n = 0
    n_det = 0
    w0, c0 = time.perf_counter(), time.process_time()
    with mediapipe_detector(_config(model)) as det:
        load = {"load_wall_s": time.perf_counter() - w0, "load_cpu_s": time.process_time() - c0}
        push = getattr(det, "push", None)       # the adaptive backend: frames come back a few frames late
        for frame in iter_frames(video):
            if push is None:
                n_det += len(det.detect(frame.image, frame.time_s))
            else:
                n_det += sum(len(d) for _, d in push(frame.image, frame.time_s, frame.index))
            n += 1
        if push is not None:
            n_det += sum(len(d) for _, d in det.flush())
    return {"frames": n, "detections": n_det, **load, "backend_stats": dict(getattr(det, "stats", {}))}


class _Counting:
    """Builds and wraps the pipeline's pose backend; counts the frames given to it and times the loading."""

    def __init__(self, cfg: Any) -> None:
        from imusynth.video.stream import mediapipe_detector

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

    def __getattr__(self, name: str) -> Any:
        # push/flush of the adaptive backend (run_stages looks them up with getattr)
        if name in ("push", "flush") and hasattr(self.inner, name):
            if name == "push":
                def push(image: Any, time_s: float, key: Any = None) -> Any:
                    self.frames += 1
                    return self.inner.push(image, time_s, key)
                return push
            return self.inner.flush
        raise AttributeError(name)


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


def _run_job(video: Path, out: Path, cfg: Any, factory: Callable[[Any], Any]) -> dict[str, Any]:
    """:func:`imusynth.video.job.process_video` into ``out`` (deleted afterwards), with its figures:
    clips, clip frames, output bytes, the frame store's file size and the pipeline's stage timings."""
    import h5py

    from imusynth.video.job import process_video

    handler = _Timings()
    log = logging.getLogger("imusynth.video.job")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with _store_bytes() as store_bytes:
            process_video(video, out, config=cfg, detector_factory=factory)
        size = out.stat().st_size
        with h5py.File(out, "r") as f:
            clip_frames = sum(int(g["pose"]["time"].shape[0]) for g in f["clips"].values())
    finally:
        out.unlink(missing_ok=True)
    return {"clips": handler.clips, "clip_frames": clip_frames, "h5_bytes": size,
            "store_file_bytes": store_bytes[0], "stage_s": handler.timings}


def _measure_e2e(video: Path, model: str, out_dir: Path) -> dict[str, Any]:
    counters: list[_Counting] = []

    def factory(cfg: Any) -> _Counting:
        counters.append(_Counting(cfg))
        return counters[-1]

    res = _run_job(video, out_dir / f"bench_{os.getpid()}.h5", _config(model), factory)
    return {"frames": sum(c.frames for c in counters), **res,
            "load_wall_s": sum(c.load_wall_s for c in counters),
            "load_cpu_s": sum(c.load_cpu_s for c in counters)}


@contextlib.contextmanager
def _store_bytes() -> Iterator[list[int]]:
    """Records the size the frame store's temporary file reached (bytes) when the job closes it."""
    from imusynth.video.framestore import FrameStore

    seen = [0]
    close = FrameStore.close

    def recording_close(self: FrameStore) -> None:
        seen[0] = max(seen[0], self.nbytes_file)
        close(self)

    FrameStore.close = recording_close  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        FrameStore.close = close  # type: ignore[method-assign]


def _measure_synth(video: Path, out_dir: Path) -> dict[str, Any]:
    """The video job on a blank video with the synthetic pose backend of the tests: one person all along.

    No pose model is loaded, so the peak memory is that of the rest of the job, and its growth with the
    video's length is the cost of post-processing (and writing) one track that spans the whole video.
    """
    sys.path.insert(0, str(ROOT))
    from imusynth.config import load_pipeline_config, with_overrides
    from tests.synthetic_body import BodyPath, SyntheticDetector, TrackingCamera
    from tests.synthetic_scene import intrinsics_matrix

    body = BodyPath()
    camera = TrackingCamera(body)
    K = intrinsics_matrix(SYNTH_SIZE[0], SYNTH_SIZE[1], SYNTH_FOV_DEG)
    detectors: list[Any] = []

    def factory(cfg: Any) -> Any:
        detectors.append(SyntheticDetector(body, camera, K, fps=SYNTH_FPS))
        return detectors[-1]

    cfg = with_overrides(load_pipeline_config(), {"output.placements": PLACEMENTS, "camera.static": True,
                                                  "lift.fov_deg": SYNTH_FOV_DEG})
    res = _run_job(video, out_dir / f"bench_synth_{os.getpid()}.h5", cfg, factory)
    return {"frames": sum(d.calls for d in detectors), **res}


def _measure_stages(video: Path, model: str, out_dir: Path) -> dict[str, Any]:
    """The job's streaming pass alone (:func:`imusynth.video.stream.run_stages`: decode, pose, tracking,
    camera; the frame store spilled as in the job), importing only ``imusynth.video.stream``: the peak the
    job would have if it imported its post-processing (HDF5, sensors: scipy.signal, h5py) after this pass."""
    from imusynth.video.framestore import FrameStore
    from imusynth.video.stream import run_stages

    counters: list[_Counting] = []

    def factory(cfg: Any) -> _Counting:
        counters.append(_Counting(cfg))
        return counters[-1]

    with FrameStore(out_dir) as store:
        run = run_stages(video, _config(model), detector_factory=factory, store=store)
        n = run.n_frames
    return {"frames": n, "load_wall_s": sum(c.load_wall_s for c in counters),
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
    elif kind == "stages":
        res = _measure_stages(video, model, out_dir)
    elif kind == "synth":
        res = _measure_synth(video, out_dir)
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
    if NUM_POSES is not None:
        cmd += ["--num-poses", str(NUM_POSES)]
    if DETECT_EVERY is not None:
        cmd += ["--detect-every", str(DETECT_EVERY)]
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


def make_blank_video(frames: int, folder: Path) -> Path:
    """A black mp4v video of ``frames`` frames at :data:`SYNTH_SIZE` and :data:`SYNTH_FPS` in ``folder``."""
    import cv2
    import numpy as np

    out = folder / f"blank_{frames}.mp4"
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), SYNTH_FPS, SYNTH_SIZE)
    black = np.zeros((SYNTH_SIZE[1], SYNTH_SIZE[0], 3), np.uint8)
    for _ in range(frames):
        writer.write(black)
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
    ap.add_argument("--synth", action=argparse.BooleanOptionalAction, default=True,
                    help="also run the job with the tests' synthetic pose backend on blank videos of 401 "
                         "frames and of --long-minutes (one person all along: the cost of post-processing "
                         "one long track)")
    ap.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()),
                    help="folder for the looped video and the temporary HDF5 outputs")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of pose-only and e2e per model on the short video (alternating); the median "
                         "run is reported")
    ap.add_argument("--num-poses", type=int, default=None,
                    help="pose.num_poses of the pose and e2e runs (default: the configuration's, 4; "
                         "1 as in pipelines/single_person_fast.toml)")
    ap.add_argument("--detect-every", type=int, default=None,
                    help="pose.detect_every of the pose and e2e runs (default: the configuration's, 8; "
                         "0: one landmarker with num_poses, its detector on every frame)")
    ap.add_argument("--out", type=Path, default=None,
                    help="result file (default: results/bench_pipeline*.json, named by the options)")
    ap.add_argument("--stages", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure the job's streaming pass alone (run_stages, once per model): its "
                         "peak memory without the job's post-processing imports")
    ap.add_argument("--worker", choices=["decode", "pose", "e2e", "stages", "synth"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    global NUM_POSES, DETECT_EVERY
    NUM_POSES = args.num_poses
    DETECT_EVERY = args.detect_every

    if args.worker:
        print(json.dumps(worker(args.worker, args.video, args.models[0], args.tmp)))
        return
    if not args.video.exists():
        raise SystemExit(f"video not found: {args.video} (../shared must sit beside the repository)")

    load_before = os.getloadavg()
    t_start = time.time()
    rows = [run_worker("decode", args.video, "-", args.tmp)]
    for model in args.models:
        # pose-only and e2e alternate, --repeat times each; the row kept is the run of median wall-clock
        # frames/s (the machine's speed drifts by +-15 % between runs a minute apart), with every run's
        # figures listed under "repeats"
        runs: dict[str, list[dict[str, Any]]] = {"pose": [], "e2e": []}
        for _ in range(args.repeat):
            for kind in ("pose", "e2e"):
                runs[kind].append(run_worker(kind, args.video, model, args.tmp))
        for rs in runs.values():
            ordered = sorted(rs, key=lambda r: r["fps_wall"])
            row = dict(ordered[len(ordered) // 2])
            row["repeats"] = [{k: r[k] for k in ("fps_wall", "fps_cpu", "peak_rss_mib")} for r in rs]
            rows.append(row)
        if args.stages:
            rows.append(run_worker("stages", args.video, model, args.tmp))
    long_row = None
    synth_rows: list[dict[str, Any]] = []
    if args.long_minutes > 0 or args.synth:
        work = Path(tempfile.mkdtemp(prefix="bench_pipeline_", dir=args.tmp))
        try:
            if args.long_minutes > 0:
                long_video = make_long_video(args.video, args.long_minutes, work)
                long_row = run_worker("e2e", long_video, args.models[0], work)
                long_row["video_minutes"] = args.long_minutes
                rows.append(long_row)
                long_video.unlink()
            if args.synth:
                lengths = [401] + ([int(round(args.long_minutes * 60 * SYNTH_FPS)) + 1]
                                   if args.long_minutes > 0 else [])
                for n in lengths:
                    blank = make_blank_video(n, work)
                    synth_rows.append(run_worker("synth", blank, "-", work))
                    blank.unlink()
                rows.extend(synth_rows)
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
    for model, v in ratios.items():
        e2e_row = find("e2e", model)
        if model in TARGETS_14["e2e_fps_wall"] and e2e_row:
            target = TARGETS_14["e2e_fps_wall"][model]
            checks[f"14:{model}_e2e_fps_wall>={target:g}"] = e2e_row["fps_wall"] >= target
        ratio_ok = v["e2e_over_pose_wall"] >= TARGETS_14["e2e_over_pose_wall"]
        checks[f"14:{model}_e2e_over_pose_wall>=0.9"] = ratio_ok
    if long_row:
        checks["14:long_peak_rss<400MiB"] = long_row["peak_rss_mib"] < TARGETS_14["long_peak_rss_mib"]
    short = find("e2e", args.models[0])                  # the long run's model on the short video
    if long_row and short:
        checks["long_over_short_peak_rss"] = long_row["peak_rss_mib"] / short["peak_rss_mib"]
        # growth of the peak per extra frame (the compact per-frame arrays the pipeline keeps), KiB
        extra = long_row["frames"] - short["frames"]
        if extra > 0:
            checks["peak_rss_growth_kib_per_frame"] = (
                1024.0 * (long_row["peak_rss_mib"] - short["peak_rss_mib"]) / extra)

    if len(synth_rows) == 2:
        a, b = synth_rows
        # one person all along: what post-processing and writing one track of the whole video cost
        checks["synth_peak_rss_growth_kib_per_frame"] = (
            1024.0 * (b["peak_rss_mib"] - a["peak_rss_mib"]) / (b["frames"] - a["frames"]))
        checks["synth_h5_bytes_per_clip_frame"] = (b["h5_bytes"] - a["h5_bytes"]) / (
            b["clip_frames"] - a["clip_frames"])
    for r in rows:
        if r.get("store_file_bytes"):
            r["store_file_bytes_per_frame"] = r["store_file_bytes"] / r["frames"]

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
        "rows": rows, "ratios": ratios, "targets": TARGETS, "targets_issue14": TARGETS_14, "checks": checks,
        "short_video_peak_rss_mib": short_peak,
        "machine": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "load_average_before": load_before, "load_average_after": load_after,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t_start)),
        "duration_s": time.time() - t_start, "num_poses": NUM_POSES, "detect_every": DETECT_EVERY,
    }
    name = "bench_pipeline" + (f"_num_poses{NUM_POSES}" if NUM_POSES is not None else "") + (
        f"_detect_every{DETECT_EVERY}" if DETECT_EVERY is not None else "") + ".json"
    out = args.out or RESULTS / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
