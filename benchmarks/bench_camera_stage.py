"""CPU cost of stage 4 per step, and its accuracy (issue 14: cut the camera stage's CPU cost).

**Cost.** :meth:`imusynth.video.camera.CameraMotionEstimator.update` on every frame of real videos
(default ``demo4_walking.mp4`` 1280x720 and ``demo.mp4`` 1768x994 from ``../shared/videos/sports2d``),
RGB frames as the job passes them, with a person box in every frame (the job passes the pose boxes; a
fixed box of a standing person here). Each step's process CPU time (all threads, so OpenCV's own worker
threads count) is taken by wrapping the OpenCV functions and the RANSAC solver that the estimator calls:

``convert`` cvtColor to grey; ``downscale`` pyrDown/resize; ``histogram`` HSV conversion, calcHist,
compareHist; ``mask`` the person mask; ``detect`` goodFeaturesToTrack; ``lk_forward`` / ``lk_backward``
the two Lucas-Kanade passes; ``ransac`` :func:`estimate_rotation`; ``other`` the rest of ``update``
(NumPy glue, the step record). Decoding is not timed: frames are decoded in chunks of 32 before
they are processed, so that the decoder's threads do not run while a step is timed.

OpenCV's thread count matters: the job does not set it (OpenCV's default, one thread per core), the
estimator does not either. ``--threads 1`` measures one core; by default both 1 and OpenCV's default are run.

**Accuracy** (``--accuracy``), with the same estimator settings:

* ``synthetic``: the scenes of ``tests/test_camera.py`` (640x360 inside a textured sphere at infinity):
  20 deg/s pan with a moving person and its box (RMS rate error, drift after 2 s), 60 deg/s fast pan,
  ``shake`` (the 20 deg/s pan with a 2 deg roll at 4 Hz: 1260 deg/s^2, so the rotation of one frame
  predicts the next one's badly), a hard cut at frame 20;
* ``real+rotation``: 150 frames of each real (tripod) video, each warped by the homography of a known
  camera rotation (swings of 8, 4 and 3 deg in pan, tilt and roll at 0.4-0.7 Hz plus a 0.2-0.3 deg
  tremor at 3-4 Hz: rates up to 25 deg/s, accelerations up to 190 deg/s^2), so the truth is known while
  the texture, the noise and the compression are real, at full size: ``still`` warps the first frame
  only, ``video`` the video's own frames, whose walking person is given no box (RANSAC must reject it);
* ``tripod``: the unwarped real videos (the camera stands still): median measured rate (the noise
  floor), the reliable fraction, and the two videos joined end to end (the cut must be found at the join).

Run from the repository root::

    .venv/bin/python benchmarks/bench_camera_stage.py [--video PATH ...] [--max-frames 400] [--threads 1]
        [--repeat 1] [--accuracy] [--param lk_levels=2 ...]

Prints tables and writes ``benchmarks/results/bench_camera_stage.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

import imusynth.video.camera.estimator as estimator_module
from imusynth.video.camera import CameraIntrinsics, CameraMotionEstimator, CameraStep
from imusynth.video.decode import iter_frames, open_video

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
VIDEOS = ROOT.parent / "shared" / "videos" / "sports2d"
DEFAULT_VIDEOS = [VIDEOS / "demo4_walking.mp4", VIDEOS / "demo.mp4"]
STEPS = ("convert", "downscale", "histogram", "mask", "detect", "lk_forward", "lk_backward", "ransac",
         "other")
_CV2_STEP = {"pyrDown": "downscale", "resize": "downscale", "calcHist": "histogram",
             "compareHist": "histogram", "goodFeaturesToTrack": "detect", "circle": "detect",
             "dilate": "mask"}
_HSV_CODES = {cv2.COLOR_RGB2HSV, cv2.COLOR_BGR2HSV, cv2.COLOR_RGB2HSV_FULL, cv2.COLOR_BGR2HSV_FULL}


class StepClock:
    """Process CPU time per step; nested timed calls count only in the outermost one."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STEPS, 0.0)
        self._depth = 0
        self._lk_calls = 0

    def timed(self, fn: Callable[..., Any], step: str | Callable[..., str]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return fn(*args, **kwargs)
            name = step(*args, **kwargs) if callable(step) else step
            self._depth += 1
            c0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.process_time() - c0
                self._depth -= 1
        return wrapper

    def lk_step(self, *_: Any, **__: Any) -> str:
        self._lk_calls += 1
        return "lk_forward" if self._lk_calls % 2 == 1 else "lk_backward"

    def new_frame(self) -> None:
        self._lk_calls = 0


class _TimedCV2:
    """Stands in for the ``cv2`` module inside the estimator module, timing the calls it makes."""

    def __init__(self, clock: StepClock) -> None:
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(cv2, name)
        if name == "cvtColor":
            return self._clock.timed(attr, lambda img, code, *a, **k: "histogram" if code in _HSV_CODES
                                     else "convert")
        if name == "calcOpticalFlowPyrLK":
            return self._clock.timed(attr, self._clock.lk_step)
        if name == "resize":  # nearest: the histogram's thumbnail (or a person mask, timed as the mask)
            return self._clock.timed(attr, lambda *a, **k: "histogram" if k.get("interpolation")
                                     == cv2.INTER_NEAREST else "downscale")
        if name in _CV2_STEP:
            return self._clock.timed(attr, _CV2_STEP[name])
        return attr


def make_estimator(intrinsics: CameraIntrinsics, params: dict[str, Any]) -> CameraMotionEstimator:
    return CameraMotionEstimator(intrinsics, **params)


def standing_box(width: int, height: int) -> np.ndarray:
    """A fixed box of a standing person: a fifth of the width, most of the height, px."""
    return np.array([0.4 * width, 0.1 * height, 0.6 * width, 0.95 * height])


def cost(video: Path, params: dict[str, Any], max_frames: int, chunk_frames: int = 32) -> dict[str, Any]:
    """CPU ms per frame of each step of ``update`` on ``video``, and what the estimator measured."""
    info = open_video(video)
    est = make_estimator(CameraIntrinsics.from_fov(info.width, info.height), params)
    clock = StepClock()
    est._person_mask = clock.timed(est._person_mask, "mask")  # type: ignore[method-assign]
    saved = estimator_module.cv2, estimator_module.estimate_rotation
    estimator_module.cv2 = _TimedCV2(clock)  # type: ignore[assignment]
    estimator_module.estimate_rotation = clock.timed(saved[1], "ransac")  # type: ignore[assignment]
    box = standing_box(info.width, info.height)
    total = 0.0
    steps: list[CameraStep] = []
    reader = iter_frames(video)
    try:
        while len(steps) < max_frames:
            # decode a chunk first: the decoder's threads must not run while update is timed
            size = min(chunk_frames, max_frames - len(steps))
            chunk = [f for _, f in zip(range(size), reader, strict=False)]
            if not chunk:
                break
            for frame in chunk:
                clock.new_frame()
                c0 = time.process_time()
                steps.append(est.update(frame.time_s, frame.image, box))
                total += time.process_time() - c0
    finally:
        reader.close()
        estimator_module.cv2, estimator_module.estimate_rotation = saved  # type: ignore[assignment]
    n = len(steps)
    ms = {k: 1e3 * v / n for k, v in clock.seconds.items()}
    ms["other"] = 1e3 * total / n - sum(v for k, v in ms.items() if k != "other")
    rates = np.degrees([np.linalg.norm(s.angular_velocity) for s in steps[1:]])
    return {"video": video.name, "size": f"{info.width}x{info.height}", "frames": n,
            "opencv_threads": cv2.getNumThreads(), "ms_total": 1e3 * total / n, "ms": ms,
            "median_rate_deg_s": float(np.median(rates)), "p95_rate_deg_s": float(np.percentile(rates, 95)),
            "final_angle_deg": float(np.degrees(Rotation.from_matrix(
                steps[0].R_world_from_camera.T @ steps[-1].R_world_from_camera).magnitude())),
            "reliable_fraction": float(np.mean([s.reliable for s in steps])),
            "median_inliers": float(statistics.median(s.n_inliers for s in steps[1:])),
            "cuts": [s.index for s in steps if s.shot_cut],
            "retracked_frames": int(getattr(est, "retracked_frames", 0))}


# --------------------------------------------------------------------------------------------------
# accuracy
# --------------------------------------------------------------------------------------------------


def _rate_errors(steps: list[CameraStep], truth: list[np.ndarray], times: list[float]) -> tuple[float, float]:
    """RMS angular-rate error (deg/s) over the steps and the orientation error at the end (deg)."""
    true_rates = [Rotation.from_matrix(a.T @ b).as_rotvec() / (tb - ta)
                  for a, b, ta, tb in zip(truth[:-1], truth[1:], times[:-1], times[1:], strict=True)]
    err = np.linalg.norm(np.array([s.angular_velocity for s in steps[1:]]) - np.array(true_rates), axis=1)
    rel_est = steps[0].R_world_from_camera.T @ steps[-1].R_world_from_camera
    rel_true = truth[0].T @ truth[-1]
    drift = Rotation.from_matrix(rel_est.T @ rel_true).magnitude()
    return float(np.degrees(np.sqrt(np.mean(err**2)))), float(np.degrees(drift))


def synthetic_accuracy(params: dict[str, Any]) -> dict[str, Any]:
    from tests.synthetic_scene import CameraPath, Person, SphereRenderer, intrinsics_matrix, make_panorama
    from tests.synthetic_scene import render_sequence as render

    W, H, fps, deg = 640, 360, 30.0, np.pi / 180
    renderer = SphereRenderer(intrinsics_matrix(W, H, 60.0), W, H)
    intr = CameraIntrinsics.from_fov(W, H, 60.0)
    panos = [make_panorama(1, width=3000), make_panorama(2, width=3000, tint=(165.0, 105.0, 85.0))]
    out: dict[str, Any] = {}
    cases = {"pan20_person_box": (CameraPath(), 60, Person(), ()),
             "pan60_fast": (CameraPath(pan_rate=60 * deg, tilt_rate=-15 * deg, roll_amplitude=6 * deg,
                                       roll_freq=1.0), 30, None, ()),
             "shake": (CameraPath(roll_amplitude=2 * deg, roll_freq=4.0), 60, Person(), ()),
             "cut_at_20": (CameraPath(), 40, Person(), (20,))}
    for name, (path, n, person, cuts) in cases.items():
        frames = list(render(renderer, panos, path=path, n_frames=n, fps=fps, person=person, cut_frames=cuts))
        est = make_estimator(intr, params)
        steps = [est.update(f.time_s, f.image, f.person_box) for f in frames]
        first = cuts[0] if cuts else 0
        rms, drift = _rate_errors(steps[first:], [f.R_world_from_camera for f in frames[first:]],
                                  [f.time_s for f in frames[first:]])
        out[name] = {"rate_rms_deg_s": rms, "drift_deg": drift,
                     "cuts": [s.index for s in steps if s.shot_cut],
                     "reliable_fraction": float(np.mean([s.reliable for s in steps])),
                     "retracked_frames": int(getattr(est, "retracked_frames", 0))}
    return out


def _swing(t: float) -> tuple[float, float, float]:
    """Pan, tilt and roll (deg) of the warped real-video test at time ``t`` (s): slow swings that speed up
    and slow down (up to 25 deg/s and 80 deg/s^2), plus a hand-held tremor (0.3 deg at 4 Hz, 190 deg/s^2)."""
    w = 2 * np.pi
    return (8.0 * np.sin(w * 0.5 * t) + 0.3 * np.sin(w * 4.0 * t), 4.0 * np.sin(w * 0.7 * t),
            3.0 * np.sin(w * 0.4 * t) + 0.2 * np.sin(w * 3.0 * t + 1.0))


def _warped(
    video: Path, n: int, fps: float, *, still: bool
) -> Iterator[tuple[float, np.ndarray, np.ndarray, int, int]]:
    """Real frames warped by a known camera rotation: (time, RGB image, R_world_from_camera, width, height).

    ``still``: every frame is the video's first frame (nothing moves but the camera); otherwise each frame
    is the video's own frame, with its walking person (no box is given for it).
    """
    info = open_video(video)
    base: np.ndarray | None = None
    K = CameraIntrinsics.from_fov(info.width, info.height).K
    K_inv = np.linalg.inv(K)
    level = estimator_module.R_WORLD_FROM_LEVEL_CAMERA
    reader = iter_frames(video)
    for i, frame in enumerate(reader):
        t = i / fps
        pan, tilt, roll = np.radians(_swing(t))
        # as tests/synthetic_scene.CameraPath: pan about world up, then tilt and roll in the camera
        R = Rotation.from_euler("z", -pan).as_matrix() @ level
        R = R @ Rotation.from_euler("XZ", [tilt, roll]).as_matrix()
        # a background pixel of the level camera moves as x ~ K R_rel^T K^-1 x0, R_rel = level^T R
        Hm = K @ (level.T @ R).T @ K_inv
        base = frame.image if base is None or not still else base
        img = cv2.warpPerspective(base, Hm, (info.width, info.height), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT)
        yield t, np.ascontiguousarray(img), R, info.width, info.height
        if i + 1 >= n:
            reader.close()
            break


def real_rotation_accuracy(
    video: Path, params: dict[str, Any], *, still: bool, n: int = 150
) -> dict[str, Any]:
    est: CameraMotionEstimator | None = None
    steps, truth, times = [], [], []
    for t, img, R, w, h in _warped(video, n, 30.0, still=still):
        if est is None:
            est = make_estimator(CameraIntrinsics.from_fov(w, h), params)
        steps.append(est.update(t, img, None))
        truth.append(R)
        times.append(t)
    rms, drift = _rate_errors(steps, truth, times)
    return {"rate_rms_deg_s": rms, "drift_deg": drift, "cuts": [s.index for s in steps if s.shot_cut],
            "reliable_fraction": float(np.mean([s.reliable for s in steps])),
            "retracked_frames": int(getattr(est, "retracked_frames", 0))}


def joined_cut(params: dict[str, Any]) -> dict[str, Any]:
    """demo4_walking (30 frames) then demo.mp4 (20 frames, resized to 1280x720), as in test_camera.py."""
    frames = []
    for video, n in ((VIDEOS / "demo4_walking.mp4", 30), (VIDEOS / "demo.mp4", 20)):
        reader = iter_frames(video)
        for i, f in enumerate(reader):
            img = f.image if f.image.shape[1] == 1280 else cv2.resize(f.image, (1280, 720),
                                                                      interpolation=cv2.INTER_AREA)
            frames.append(np.ascontiguousarray(img))
            if i + 1 >= n:
                reader.close()
                break
    est = make_estimator(CameraIntrinsics.from_fov(1280, 720), params)
    steps = [est.update(i / 30.0, img) for i, img in enumerate(frames)]
    return {"cuts": [s.index for s in steps if s.shot_cut], "join": 30,
            "hist_distance_at_join": steps[30].hist_distance,
            "max_hist_distance_elsewhere": max(s.hist_distance for s in steps if s.index != 30)}


# --------------------------------------------------------------------------------------------------


def _param(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    parsed: Any = None if value == "None" else json.loads(value)
    return key, parsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, action="append", help="video(s) to time (default: demo4 and demo)")
    ap.add_argument("--max-frames", type=int, default=400)
    ap.add_argument("--threads", type=int, action="append",
                    help="OpenCV threads (cv2.setNumThreads); default: 1 and OpenCV's default")
    ap.add_argument("--repeat", type=int, default=1, help="runs per video; the cheapest is kept")
    ap.add_argument("--accuracy", action="store_true", help="also run the accuracy checks")
    ap.add_argument("--accuracy-only", action="store_true", help="run the accuracy checks only")
    ap.add_argument("--param", type=_param, action="append", default=[],
                    help="estimator parameter override, e.g. lk_levels=2 or fb_threshold_px=None")
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_camera_stage.json")
    args = ap.parse_args()
    videos = args.video or DEFAULT_VIDEOS
    for v in videos:
        if not v.exists():
            raise SystemExit(f"video not found: {v} (the default needs ../shared beside the repository)")
    params = dict(args.param)
    default_threads = cv2.getNumThreads()
    rows = []
    for threads in [] if args.accuracy_only else args.threads or [1, default_threads]:
        cv2.setNumThreads(threads)
        for v in videos:
            runs = [cost(v, params, args.max_frames) for _ in range(args.repeat)]
            rows.append(min(runs, key=lambda r: float(r["ms_total"])))
    cv2.setNumThreads(default_threads)
    load = os.getloadavg()
    print(f"CPU ms per frame of CameraMotionEstimator.update (params {params or 'default'}); "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    head = ["video", "thr", "total"] + list(STEPS) + ["med deg/s", "end deg", "reliable", "inliers", "twice"]
    print(" | ".join(f"{c:>10}" for c in head))
    for r in rows:
        cells = [r["video"][:10], str(r["opencv_threads"]), f"{r['ms_total']:.2f}"]
        cells += [f"{r['ms'][k]:.2f}" for k in STEPS]
        cells += [f"{r['median_rate_deg_s']:.3f}", f"{r['final_angle_deg']:.3f}",
                  f"{r['reliable_fraction']:.2f}", f"{r['median_inliers']:.0f}", str(r["retracked_frames"])]
        print(" | ".join(f"{c:>10}" for c in cells))
    payload: dict[str, Any] = {"params": params, "rows": rows, "load_average": load,
                               "machine": platform.platform(), "cpus": os.cpu_count(),
                               "opencv": cv2.__version__}
    if args.accuracy or args.accuracy_only:
        warped = {f"{v.stem}:{kind}": real_rotation_accuracy(v, params, still=still)
                  for v in videos for kind, still in (("still", True), ("video", False))}
        acc: dict[str, Any] = {"synthetic": synthetic_accuracy(params), "real+rotation": warped,
                               "joined_cut": joined_cut(params)}
        payload["accuracy"] = acc
        print("accuracy: RMS rate error deg/s, drift deg, cuts, reliable fraction")
        for group in ("synthetic", "real+rotation"):
            for name, a in acc[group].items():
                print(f"  {group:>13} {name:>18}: {a['rate_rms_deg_s']:.4f} deg/s, "
                      f"drift {a['drift_deg']:.4f} deg,"
                      f" cuts {a['cuts']}, reliable {a['reliable_fraction']:.2f}, "
                      f"tracked twice {a['retracked_frames']}")
        j = acc["joined_cut"]
        print(f"  joined tripod videos: cuts {j['cuts']} (join at {j['join']}), distance at the join "
              f"{j['hist_distance_at_join']:.3f}, largest elsewhere {j['max_hist_distance_elsewhere']:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float))
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
