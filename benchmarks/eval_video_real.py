"""Real-video figures of the video pipeline (issue 3, acceptance 2 and 3), reproducibly.

1. **Four views** (``../shared/videos/pose2sim/Demo_SinglePerson``): each view through
   :func:`imusynth.video.job.process_video`; pairwise per-axis Pearson r and RMSE between views for the
   forearm, wrist and thigh sensors, and r / RMSE against the ``imusynth motion`` job on Pose2Sim's
   triangulated TRC, with forearm and wrist frames built the same way on both sides (elbow -> wrist and
   the shoulder line, as in ``tests/test_video_views.py``).
2. **Walking** (``../shared/videos/sports2d/demo4_walking.mp4``): cadence of the thigh and foot sensors
   per pass (autocorrelation of the gyroscope, ``tests/test_video_real.py``), |acc| and |gyro|
   statistics, quasi-static spans and each sensor's gyroscope floor.
3. **Standing** (``../shared/videos/pose2sim/Demo_MultiPerson``, ``--person all``): the woman in the
   foreground stands still for ~0.5 s at the start and the end of the take; per view and sensor, the
   gyroscope floor, the mean |acc| on that quietest 0.3 s window, and the quasi-static spans.

Run from the repository root (the pose model, the video cut-off and the 3-D lifter can be varied)::

    .venv/bin/python benchmarks/eval_video_real.py [--model lite|full|heavy] [--cutoff HZ] [--skip-views]
                                                   [--skip-walking] [--skip-standing]
                                                   [--lifter mediapipe|oracle|PATH ...] [--flip]
                                                   [--cache DIR]

``--lifter`` may be given several times: the pose model runs once per video (its detections recorded, with
the first lifter) and the later lifters replay them (:mod:`imusynth.video.detectors`), so every lifter sees
the same 2-D. ``oracle``: the triangulated reference as a lifter (views only; ``tests/test_video_views.py``).
``--flip``: horizontal-flip test-time averaging of the world landmarks (two pose passes per frame).
``--cache DIR`` keeps the recorded detections on disk for later invocations. The walking video also
reports each lifter's inference speed (frames/s) and what it adds to the time of a run.

Prints tables (medians over the 6 view pairs per axis), a summary row per lifter, and writes every pair's
figures to ``benchmarks/results/eval_video_real_<model>_<cutoff>[_flip].json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
RESULTS = REPO / "benchmarks" / "results"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from imusynth.config import PipelineConfig, load_pipeline_config, with_overrides  # noqa: E402
from imusynth.core.sensors import SensorSignals  # noqa: E402
from imusynth.errors import NoPersonError  # noqa: E402
from imusynth.io.hdf5 import read_clips  # noqa: E402
from imusynth.io.motion_job import run_motion_job  # noqa: E402
from imusynth.video.detectors import flip_averaged_detector, recording_detector, replay_detector  # noqa: E402
from imusynth.video.job import process_video  # noqa: E402
from imusynth.video.lift.lifters import Lifter, LifterInput, lifter_from_spec  # noqa: E402
from imusynth.video.stream import mediapipe_detector  # noqa: E402
from tests.test_video_real import (  # noqa: E402
    QS_MIN_S,
    STAND_PLACEMENTS,
    WALK_PLACEMENTS,
    quasi_static_spans,
    stride_period_s,
)
from tests.test_video_views import (  # noqa: E402
    _CMP_PLACEMENTS,
    CAMS,
    CMP_PLACEMENTS,
    VIEW_PLACEMENTS,
    _pair_stats,
    oracle_lifter,
)


class TimedLifter:
    """A lifter that adds up the time spent in ``lift`` and the detections it lifted."""

    def __init__(self, inner: Lifter) -> None:
        self.inner, self.seconds, self.frames = inner, 0.0, 0
        self.name, self.sha256, self.corrected_labels = inner.name, inner.sha256, inner.corrected_labels

    def lift(self, keypoints: LifterInput) -> np.ndarray:
        t0 = time.perf_counter()
        out = self.inner.lift(keypoints)
        self.seconds += time.perf_counter() - t0
        self.frames += len(keypoints.time)
        return out


class PoseRuns:
    """Per video: the first run records the pose model's detections, later runs replay them.

    With a ``cache`` folder the recordings are also kept on disk (pickles named by model, flip and video),
    so a later invocation (e.g. with a new lifter file) replays them instead of running the model again.
    """

    def __init__(self, model: str, flip: bool, cache: Path | None) -> None:
        self.model, self.flip, self.cache = model, flip, cache
        self.recorded: dict[str, dict[float, Any]] = {}
        self.run_s: dict[str, float] = {}      # time of the run that recorded each video's detections, s

    def _file(self, key: str) -> Path | None:
        if self.cache is None:
            return None
        return self.cache / f"{self.model}{'_flip' if self.flip else ''}_{key.replace('/', '_')}.pkl"

    def factory(self, key: str) -> Any:
        f = self._file(key)
        if key not in self.recorded and f is not None and f.is_file():
            kept = pickle.loads(f.read_bytes())
            if "detections" not in kept:                 # an older cache: the detections alone
                kept = {"detections": kept, "run_s": float("nan")}
            self.recorded[key], self.run_s[key] = kept["detections"], kept["run_s"]
        if key in self.recorded:
            return replay_detector(self.recorded[key])
        self.recorded[key] = {}
        base = flip_averaged_detector() if self.flip else mediapipe_detector
        return recording_detector(self.recorded[key], base)

    def save(self, key: str, run_s: float) -> None:
        """Keep the recording of ``key`` and the time of the run that made it (``run_s``, s)."""
        self.run_s.setdefault(key, run_s)
        f = self._file(key)
        if f is not None and not f.is_file():
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(pickle.dumps({"detections": self.recorded[key], "run_s": self.run_s[key]}))


def make_lifter(spec: str, cam: str | None = None) -> Lifter:
    """``mediapipe``, ``oracle`` (the triangulation of view ``cam``) or the path of a lifter file."""
    if spec == "oracle":
        if cam is None:
            raise SystemExit("the oracle lifter exists only for the four Pose2Sim views")
        return oracle_lifter(cam)
    return lifter_from_spec(spec)


def gyro_floor(sig: SensorSignals, *, window_s: float = QS_MIN_S) -> tuple[float, float, float]:
    """The quietest window of a sensor: (lowest running mean of |gyro| over ``window_s``, rad/s; its
    start time, s; mean |acc| over that window, m/s^2). NaN when no window is wholly valid."""
    n = int(round(window_s * sig.rate_hz))
    g = np.where(sig.valid, np.linalg.norm(sig.gyro, axis=1), np.nan)
    if len(g) < n:
        return float("nan"), float("nan"), float("nan")
    rm = np.convolve(g, np.ones(n) / n, "valid")
    if not np.isfinite(rm).any():
        return float("nan"), float("nan"), float("nan")
    k = int(np.nanargmin(rm))
    return float(rm[k]), float(sig.time[k]), float(np.linalg.norm(sig.acc[k:k + n], axis=1).mean())


def _cfg(model: str, cutoff: float | None, extra: dict[str, Any]) -> PipelineConfig:
    over: dict[str, Any] = {"pose.model": model, **extra}
    if cutoff is not None:
        over["kinematics.video_cutoff_hz"] = cutoff
    return with_overrides(load_pipeline_config(), over)


def _stats_table(out: dict[str, Any], placements: tuple[str, ...],
                 pairs: Callable[[str], dict[str, tuple[SensorSignals, SensorSignals]]]
                 ) -> dict[str, list[np.ndarray]]:
    """Print a markdown table of per-axis r and RMSE (median over the pairs) for each placement.

    ``pairs(p)`` names the signal pairs to compare for placement ``p``; every pair's figures go into
    ``out[p][kind][name]``. Returns, per kind (gyro, acc), the r of every pair, one (n_pairs, 3) array per
    placement.
    """
    print("| sensor | gyro r | gyro RMSE | acc r | acc RMSE |\n|---|---|---|---|---|")
    rs: dict[str, list[np.ndarray]] = {"gyro": [], "acc": []}
    for p in placements:
        row = []
        for kind in ("gyro", "acc"):
            st = {name: _pair_stats(a, b, kind) for name, (a, b) in pairs(p).items()}
            out.setdefault(p, {})[kind] = {k: {"r": v[0].tolist(), "rmse": v[1].tolist()}
                                           for k, v in st.items()}
            r = np.array([v[0] for v in st.values()])
            e = np.array([v[1] for v in st.values()])
            rs[kind].append(r)
            row += [" / ".join(f"{x:+.2f}" for x in np.nanmedian(r, axis=0)),
                    " / ".join(f"{x:.2f}" for x in np.nanmedian(e, axis=0))]
        print(f"| {p} | " + " | ".join(row) + " |")
    return rs


Pairs = Callable[[str], dict[str, tuple[SensorSignals, SensorSignals]]]


def _view_pairs(views: dict[str, Any]) -> Pairs:
    """Placement -> the signals of every pair of views."""
    return lambda p: {f"{a}-{b}": (views[a].sensors[p], views[b].sensors[p])
                      for a, b in itertools.combinations(sorted(views), 2)}


def _ref_pairs(views: dict[str, Any], ref: Any) -> Pairs:
    """Placement -> each view's signals with the reference's."""
    return lambda p: {cam: (views[cam].sensors[p], ref.sensors[p]) for cam in sorted(views)}


def four_views(model: str, cutoff: float | None, work: Path, lifters: list[str], poses: PoseRuns
               ) -> dict[str, Any]:
    root = SHARED / "videos" / "pose2sim"
    (work / "cmp.toml").write_text(_CMP_PLACEMENTS)
    cfg = _cfg(model, cutoff, {"output.placements": list(VIEW_PLACEMENTS + CMP_PLACEMENTS),
                               "output.placements_file": str(work / "cmp.toml")})
    ref_cfg = with_overrides(load_pipeline_config(), {"output.placements": list(CMP_PLACEMENTS),
                                                      "output.placements_file": str(work / "cmp.toml")})
    trc = root / "reference_pose3d_from_history" / "S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc"
    (ref,) = read_clips(run_motion_job(trc, work / "ref.h5", cfg=ref_cfg))
    result: dict[str, Any] = {}
    for spec in lifters:
        views = {}
        for cam in CAMS:
            t0 = time.perf_counter()
            try:
                (views[cam],) = read_clips(process_video(
                    root / "Demo_SinglePerson" / "videos" / f"{cam}.mp4", work / f"{cam}.h5", config=cfg,
                    detector_factory=poses.factory(f"views/{cam}"), lifter=make_lifter(spec, cam)))
            except NoPersonError as exc:             # e.g. a lifter whose bodies fit no frame's 2-D
                print(f"  {cam} ({spec}): no clip ({exc})")
            poses.save(f"views/{cam}", time.perf_counter() - t0)
            print(f"  {cam} ({spec}): {time.perf_counter() - t0:.1f} s")
        out: dict[str, Any] = {"views_with_clip": sorted(views)}
        result[spec] = out
        if len(views) < 2:
            continue
        print(f"\nlifter {spec}: view vs view (median over the pairs): r x/y/z | RMSE x/y/z "
              "(gyro rad/s, acc m/s^2)")
        pair_r = _stats_table(out.setdefault("pairwise", {}), VIEW_PLACEMENTS,
                              _view_pairs(views))
        print(f"\nlifter {spec}: view vs view, hand-free forearm/wrist frames (as vs the reference)")
        free_r = _stats_table(out.setdefault("pairwise_handfree", {}), CMP_PLACEMENTS, _view_pairs(views))
        print(f"\nlifter {spec}: view vs triangulated reference (median over the 4 views)")
        ref_r = _stats_table(out.setdefault("vs_reference", {}), CMP_PLACEMENTS,
                             _ref_pairs(views, ref))
        for kind in ("gyro", "acc"):
            # NaN: a pair without common valid samples (e.g. a view whose sensor is invalid throughout)
            out[f"median_pairwise_{kind}_r"] = float(np.nanmedian(pair_r[kind]))
            out[f"median_pairwise_handfree_{kind}_r"] = float(np.nanmedian(free_r[kind]))
            out[f"median_{kind}_r_vs_reference"] = float(np.nanmedian(ref_r[kind]))
            out[f"nan_pairs_{kind}"] = int(sum(np.isnan(r).any(axis=1).sum()
                                               for r in pair_r[kind] + ref_r[kind]))
        print(f"\nlifter {spec}: median pairwise gyro r {out['median_pairwise_gyro_r']:.2f} / acc r "
              f"{out['median_pairwise_acc_r']:.2f} (hand-free: "
              f"{out['median_pairwise_handfree_gyro_r']:.2f} / {out['median_pairwise_handfree_acc_r']:.2f}); "
              "vs reference gyro r "
              f"{out['median_gyro_r_vs_reference']:.2f} / acc r {out['median_acc_r_vs_reference']:.2f}")
    return result


def _walk_table(clip: Any, out: dict[str, Any]) -> None:
    """Cadence per pass, |acc| and |gyro| statistics, gyro floor and quasi-static spans of a walking clip."""
    print("\n| sensor | cadence pass 1 | cadence pass 2 | mean |acc| | p99 |acc| | p99 |gyro| | gyro floor |")
    print("|---|---|---|---|---|---|---|")
    for p in WALK_PLACEMENTS:
        sig = clip.sensors[p]
        cad = []
        for lo, hi in ((0.0, 6.5), (6.5, 14.0)):       # the two passes (she turns round at 5.4-6.1 s)
            m = (sig.time >= lo) & (sig.time < hi)
            sub = replace(sig, time=sig.time[m], acc=sig.acc[m], gyro=sig.gyro[m],
                          orientation=sig.orientation[m], valid=sig.valid[m])
            try:
                cad.append(2.0 / stride_period_s(sub))
            except (AssertionError, ValueError):       # no valid run long enough
                cad.append(float("nan"))
        a = np.linalg.norm(sig.acc, axis=1)
        g = np.linalg.norm(sig.gyro, axis=1)
        out["cadence_steps_per_s"][p] = cad
        out["acc_norm"][p] = {"mean": float(np.nanmean(a)), "p99": float(np.nanpercentile(a, 99)),
                              "gyro_p99": float(np.nanpercentile(g, 99))}
        floor = gyro_floor(sig)
        out["gyro_floor"][p] = {"gyro": floor[0], "t0": floor[1], "mean_acc_norm": floor[2]}
        print(f"| {p} | {cad[0]:.2f} | {cad[1]:.2f} | {np.nanmean(a):.1f} | {np.nanpercentile(a, 99):.0f} "
              f"| {np.nanpercentile(g, 99):.1f} | {floor[0]:.2f} |")
        for s0, s1 in quasi_static_spans(sig):
            span = {"placement": p, "t0": float(sig.time[s0]), "t1": float(sig.time[s1 - 1]),
                    "mean_acc_norm": float(a[s0:s1].mean())}
            out["quasi_static"].append(span)
    print(f"\nquasi-static spans: {out['quasi_static'] or 'none'}")


def reference_2d(spec: str) -> dict[str, float]:
    """A lifter file on ideal 2-D: the triangulated joints projected through each view's calibration.

    MPJPE (mm) over the joints the file both takes and gives, hip-centred, per view: the lifter's own error
    on this motion, without the pose model's 2-D error.
    """
    from imusynth.video.lift.lifters import resample_keypoints
    from imusynth.video.lift.temporal import load_lifter_file, predict
    from tests.test_video_views import TRIANGULATED, _camera, _in_camera, _read_trc

    lf = load_lifter_file(spec)
    root = SHARED / "videos" / "pose2sim"
    calib = (root / "Demo_SinglePerson" / "calibration" / "Calib.qca.txt").read_text()
    names, xyz = _read_trc(root / "reference_pose3d_from_history"
                           / "S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc")
    marker = {v: k for k, v in TRIANGULATED.items()}
    joints = [n for n in lf.keypoints_in if n in marker and n in lf.joints_out]
    hips = [joints.index("left_hip"), joints.index("right_hip")]
    out = {}
    for cam in CAMS:
        _, _, f, c = _camera(calib, cam)
        P = _in_camera(calib, cam, xyz[:, [names.index(marker[n]) for n in joints]])
        uv = P[..., :2] / P[..., 2:3] * f + c
        t = np.arange(len(P)) / 60.0
        grid, g_uv, g_c = resample_keypoints(t, uv, np.ones(uv.shape[:2]), lf.fps)
        kp = np.stack([g_uv[:, joints.index(n)] if n in joints else np.full((len(grid), 2), np.nan)
                       for n in lf.keypoints_in], axis=1)
        conf = np.where(np.isfinite(kp).all(axis=2), 1.0, 0.0)
        pred = predict(lf, kp, conf, image_size=(1088, 1920))
        pred = np.stack([pred[:, lf.joints_out.index(n)] for n in joints], axis=1)
        ref = np.stack([np.interp(grid, t, P[:, j, k]) for j in range(len(joints)) for k in range(3)],
                       axis=1).reshape(len(grid), len(joints), 3)
        err = ((pred - pred[:, hips].mean(axis=1, keepdims=True))
               - (ref - ref[:, hips].mean(axis=1, keepdims=True)))
        out[cam] = float(np.linalg.norm(err, axis=2).mean() * 1000.0)
    print(f"\nlifter {spec} on the triangulation's 2-D: MPJPE (mm, hip-centred, {len(joints)} joints) "
          + ", ".join(f"{k} {v:.0f}" for k, v in out.items()))
    return out


def walking(model: str, cutoff: float | None, work: Path, lifters: list[str], poses: PoseRuns
            ) -> dict[str, Any]:
    cfg = _cfg(model, cutoff, {"output.placements": list(WALK_PLACEMENTS)})
    result: dict[str, Any] = {}
    for spec in lifters:
        if spec == "oracle":
            continue
        lifter = TimedLifter(make_lifter(spec))
        t0 = time.perf_counter()
        try:
            (clip,) = read_clips(process_video(SHARED / "videos" / "sports2d" / "demo4_walking.mp4",
                                               work / "walk.h5", config=cfg,
                                               detector_factory=poses.factory("walking"), lifter=lifter))
        except NoPersonError as exc:
            print(f"  demo4_walking ({spec}): no clip ({exc})")
            continue
        elapsed = time.perf_counter() - t0
        poses.save("walking", elapsed)
        first_s = poses.run_s["walking"]       # the run with the pose model (this one or a cached one)
        fps = lifter.frames / lifter.seconds if lifter.seconds > 0 else float("inf")
        print(f"  demo4_walking ({spec}): {elapsed:.1f} s; lifter {lifter.frames} frames in "
              f"{lifter.seconds:.2f} s ({fps:.0f} frames/s, {100 * lifter.seconds / first_s:.1f} % of the "
              "time of the run with the pose model)")
        out: dict[str, Any] = {"cadence_steps_per_s": {}, "acc_norm": {}, "quasi_static": [],
                               "gyro_floor": {}, "lifter_s": lifter.seconds, "lifter_frames": lifter.frames,
                               "run_s": elapsed, "first_run_s": first_s}
        _walk_table(clip, out)
        result[spec] = out
    return result


def standing(model: str, cutoff: float | None, work: Path) -> dict[str, Any]:
    cfg = _cfg(model, cutoff, {"output.placements": list(STAND_PLACEMENTS), "tracking.person": "all"})
    root = SHARED / "videos" / "pose2sim" / "Demo_MultiPerson" / "videos"
    out: dict[str, Any] = {}
    print("\nper clip and sensor: gyro floor (lowest 0.3 s mean |gyro|, rad/s) @ start s, mean |acc| there"
          " (m/s^2), quasi-static spans")
    print("| clip | frames | centroid px | " + " | ".join(STAND_PLACEMENTS) + " |")
    print("|---|---|---|" + "---|" * len(STAND_PLACEMENTS))
    for cam in CAMS:
        for clip in read_clips(process_video(root / f"{cam}.mp4", work / f"multi_{cam}.h5", config=cfg),
                               with_pose=True):
            assert clip.pose is not None
            fi = clip.pose["frame_index"]
            cen = np.nanmean(clip.pose["image_xy"].astype(float), axis=(0, 1))
            row, rec = [], {"frames": [int(fi[0]), int(fi[-1])], "centroid_px": cen.tolist(), "sensors": {}}
            for p in STAND_PLACEMENTS:
                sig = clip.sensors[p]
                floor = gyro_floor(sig)
                a = np.linalg.norm(sig.acc, axis=1)
                spans = [(float(sig.time[s0]), float(a[s0:s1].mean())) for s0, s1 in quasi_static_spans(sig)]
                rec["sensors"][p] = {"gyro_floor": floor[0], "t0": floor[1], "mean_acc_norm": floor[2],
                                     "quasi_static": spans}
                row.append(f"{floor[0]:.2f} @ {floor[1]:.2f}, {floor[2]:.1f}, {len(spans)}")
            out[clip.clip_id] = rec
            print(f"| {clip.clip_id} | {fi[0]}-{fi[-1]} | {cen[0]:.0f}, {cen[1]:.0f} | "
                  + " | ".join(row) + " |")
    return out


def summary(result: dict[str, Any]) -> None:
    """One markdown row per lifter: the four views' medians and the walking cadence range."""
    print("\n| pose model | lifter | pairwise gyro r | pairwise acc r | pairwise gyro r, hand-free "
          "| pairwise acc r, hand-free | gyro r vs ref | acc r vs ref | cadence thigh/foot, steps/s "
          "| lifter frames/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    views = result.get("four_views", {})
    walk = result.get("walking", {})
    for spec in result["lifters"]:
        v = views.get(spec, {})
        w = walk.get(spec, {})
        cad = [c for p in ("left_thigh", "right_thigh", "left_foot", "right_foot")
               for c in w.get("cadence_steps_per_s", {}).get(p, [])]
        cad_s = f"{np.nanmin(cad):.2f}-{np.nanmax(cad):.2f}" if cad else "-"
        timed = w.get("lifter_s") and spec != "mediapipe"
        fps = f"{w['lifter_frames'] / w['lifter_s']:.0f}" if timed else "-"
        keys = ("median_pairwise_gyro_r", "median_pairwise_acc_r", "median_pairwise_handfree_gyro_r",
                "median_pairwise_handfree_acc_r", "median_gyro_r_vs_reference", "median_acc_r_vs_reference")
        cells = [f"{v[k]:.2f}" if k in v else "-" for k in keys]
        name = result["model"] + (" + flip" if result.get("flip") else "")
        print(f"| {name} | {spec} | " + " | ".join(cells) + f" | {cad_s} | {fps} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lite")
    ap.add_argument("--cutoff", type=float, default=None, help="kinematics.video_cutoff_hz (default: config)")
    ap.add_argument("--lifter", action="append", default=None,
                    help="mediapipe | oracle | PATH of a lifter file; repeat for several (default mediapipe)")
    ap.add_argument("--flip", action="store_true", help="horizontal-flip averaging of the world landmarks")
    ap.add_argument("--cache", type=Path, default=None,
                    help="folder keeping the pose model's detections between invocations (replayed if there)")
    ap.add_argument("--skip-views", action="store_true")
    ap.add_argument("--skip-walking", action="store_true")
    ap.add_argument("--skip-standing", action="store_true")
    args = ap.parse_args()
    lifters = args.lifter or ["mediapipe"]
    os.environ.setdefault("IMUSYNTH_MODEL_DIR", str(SHARED / "models"))
    result: dict[str, Any] = {"model": args.model, "cutoff_hz": args.cutoff, "lifters": lifters,
                              "flip": args.flip}
    poses = PoseRuns(args.model, args.flip, args.cache)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_views:
            print(f"four views, model {args.model}, cut-off {args.cutoff or 'default'}, lifters {lifters}")
            result["four_views"] = four_views(args.model, args.cutoff, Path(tmp), lifters, poses)
            for spec in lifters:
                if spec not in ("mediapipe", "oracle"):
                    result["four_views"][spec]["mpjpe_mm_on_reference_2d"] = reference_2d(spec)
        if not args.skip_walking:
            print(f"\nwalking, model {args.model}, cut-off {args.cutoff or 'default'}, lifters {lifters}")
            result["walking"] = walking(args.model, args.cutoff, Path(tmp), lifters, poses)
        if not args.skip_standing:
            print(f"\nstanding (Demo_MultiPerson, --person all), model {args.model}, "
                  f"cut-off {args.cutoff or 'default'}")
            result["standing"] = standing(args.model, args.cutoff, Path(tmp))
    summary(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    flip = "_flip" if args.flip else ""
    name = RESULTS / f"eval_video_real_{args.model}_{args.cutoff or 'default'}{flip}.json"
    name.write_text(json.dumps(result, indent=1))
    print(f"\nwrote {name}")


if __name__ == "__main__":
    main()
