"""Benchmarks of the learned temporal lifter (``docs/lifter_training.md``).

Modes::

    python benchmarks/bench_lifter.py noise          # MediaPipe lite's 2-D error on the four Pose2Sim views
    python benchmarks/bench_lifter.py speed [FILE]   # CPU inference frames/s for a 10 s track
    python benchmarks/bench_lifter.py heldout FILE MOCAP...  # MPJPE on held-out takes, measured noise

``noise`` runs the whole video pipeline (lite model, defaults) on ``../shared/videos/pose2sim/
Demo_SinglePerson`` and compares each view's 2-D landmarks (after the pipeline's left/right repair) with the
triangulated TRC projected through that camera's calibration; the figures it prints are the constants of
:mod:`imusynth.video.lift.synth2d`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared"
CAMS = ("cam01", "cam02", "cam03", "cam04")
TRC = (SHARED / "videos/pose2sim/reference_pose3d_from_history"
       / "S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc")

#: joint group -> (MediaPipe index, TRC marker) pairs
GROUPS = {
    "shoulders": [(11, "LShoulder"), (12, "RShoulder")],
    "hips": [(23, "LHip"), (24, "RHip")],
    "elbows": [(13, "LElbow"), (14, "RElbow")],
    "wrists": [(15, "LWrist"), (16, "RWrist")],
    "knees": [(25, "LKnee"), (26, "RKnee")],
    "ankles": [(27, "LAnkle"), (28, "RAnkle")],
}


def measure_noise() -> dict[str, object]:
    """2-D error of MediaPipe lite against the reprojected triangulation, relative to body height in px."""
    from imusynth.config import load_pipeline_config
    from imusynth.io.hdf5 import read_clips
    from imusynth.video.job import process_video
    from tests.test_video_views import _camera, _in_camera, _project, _read_trc

    os.environ.setdefault("IMUSYNTH_MODEL_DIR", str(SHARED / "models"))
    calib = (SHARED / "videos/pose2sim/Demo_SinglePerson/calibration/Calib.qca.txt").read_text()
    names, xyz = _read_trc(TRC)
    # standing height proxy: median over frames of the vertical extent of the markers (world z up), m
    height_m = float(np.median(np.ptp(xyz[:, :, 2], axis=1)))
    cfg = load_pipeline_config()
    per_view: dict[str, dict[str, object]] = {}
    rel_err: dict[str, list[np.ndarray]] = {g: [] for g in GROUPS}
    rel_white: dict[str, list[np.ndarray]] = {g: [] for g in GROUPS}
    swaps: dict[str, list[np.ndarray]] = {g: [] for g in GROUPS}
    low_vis, swapped_frames, n_frames, n_video_frames = 0, 0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for cam in CAMS:
            t0 = time.perf_counter()
            h5 = process_video(SHARED / f"videos/pose2sim/Demo_SinglePerson/videos/{cam}.mp4",
                               Path(tmp) / f"{cam}.h5", config=cfg)
            (clip,) = read_clips(h5, with_pose=True)
            assert clip.pose is not None
            fi = clip.pose["frame_index"].astype(int)
            xy = clip.pose["image_xy"].astype(float) - 0.5
            vis = clip.pose["visibility"].astype(float)
            uv = _project(calib, cam, xyz)[fi]
            _, _, f, _ = _camera(calib, cam)
            hips = [names.index("LHip"), names.index("RHip")]
            depth = _in_camera(calib, cam, xyz)[fi][:, hips, 2].mean(axis=1)
            body_px = float(np.mean(f)) * height_m / depth                      # (F,)
            view: dict[str, object] = {"frames": int(len(fi)), "body_px_median": float(np.median(body_px))}
            for g, pairs in GROUPS.items():
                idx = [i for i, _ in pairs]
                ref = uv[:, [names.index(m) for _, m in pairs]]
                e = np.linalg.norm(xy[:, idx] - ref, axis=2) / body_px[:, None]          # (F, 2)
                d = (xy[:, idx] - ref) / body_px[:, None, None]
                white = np.diff(d, axis=0).reshape(-1, 2) / np.sqrt(2.0)               # frame-to-frame part
                rel_err[g].append(e.ravel())
                rel_white[g].append(np.linalg.norm(white, axis=1))
                # left/right confusion left after the pipeline's repair: exchanged labels fit clearly better
                swap = np.linalg.norm(xy[:, idx[::-1]] - ref, axis=2).sum(axis=1) / body_px
                keep = e.sum(axis=1)
                decided = np.minimum(keep, swap) < 0.7 * np.maximum(keep, swap)
                view[g] = {"median": float(np.nanmedian(e)), "rms": float(np.sqrt(np.nanmean(e ** 2))),
                           "swapped": float(np.mean(swap[decided] < keep[decided])) if decided.any() else 0.0}
                swaps[g].append(swap[decided] < keep[decided])
            low_vis += int((vis[:, [i for p in GROUPS.values() for i, _ in p]] < 0.3).sum())
            n_frames += len(fi)
            n_video_frames += 100
            swapped_frames += int(np.asarray(clip.pose["left_right_swapped"]).astype(bool).any(axis=-1).sum()
                                  if np.asarray(clip.pose["left_right_swapped"]).ndim > 1
                                  else np.asarray(clip.pose["left_right_swapped"]).astype(bool).sum())
            view["seconds"] = round(time.perf_counter() - t0, 1)
            per_view[cam] = view
            print(cam, json.dumps(view), flush=True)
    summary: dict[str, object] = {"height_m": height_m, "views": per_view}
    for g in GROUPS:
        e = np.concatenate(rel_err[g])
        w = np.concatenate(rel_white[g])
        summary[g] = {"median": float(np.nanmedian(e)), "rms": float(np.sqrt(np.nanmean(e ** 2))),
                      "p90": float(np.nanpercentile(e, 90)),
                      "white_rms": float(np.sqrt(np.nanmean(w ** 2))),
                      "swapped": float(np.mean(np.concatenate(swaps[g])))}
    n_kp = n_frames * sum(len(p) for p in GROUPS.values())
    summary["low_visibility_rate"] = low_vis / n_kp
    summary["frames_without_person"] = 1.0 - n_frames / n_video_frames
    summary["repaired_left_right_frames"] = swapped_frames / n_frames
    return summary


def measure_speed(path: str | None, *, seconds: float = 10.0, repeats: int = 5) -> dict[str, object]:
    """Frames/s of :func:`predict` on one track of ``seconds`` at the lifter's rate (CPU), median of repeats.

    Without a file, a lifter of the trainer's default shape (12 keypoints in, 14 joints out, 256 channels,
    widths 3,3,3,3) with random weights is timed (speed does not depend on the weights).
    """
    import torch

    from imusynth.video.lift.temporal import TemporalLifter, load_lifter_file, predict, save_lifter_file
    from imusynth.video.lift.train import DEFAULT_KEYPOINTS

    with tempfile.TemporaryDirectory() as tmp:
        if path is None:
            model = TemporalLifter(12, 3, 14, (3, 3, 3, 3), channels=256)
            path = str(Path(tmp) / "random.pt")
            save_lifter_file(path, model, keypoints_in=DEFAULT_KEYPOINTS,
                             joints_out=[*DEFAULT_KEYPOINTS, "neck", "head"], fps=30.0)
        t0 = time.perf_counter()
        lf = load_lifter_file(path)
        load_s = time.perf_counter() - t0
    t = int(round(seconds * lf.fps))
    rng = np.random.default_rng(0)
    xy = rng.uniform(300, 700, size=(t, lf.model.n_joints_in, 2))
    conf = np.ones((t, lf.model.n_joints_in))
    out: dict[str, object] = {"file": path, "frames": t, "load_s": round(load_s, 3),
                              "parameters": sum(p.numel() for p in lf.model.parameters()),
                              "receptive_field": lf.model.receptive_field}
    default_threads = torch.get_num_threads()
    for threads in sorted({default_threads, 1}):
        torch.set_num_threads(threads)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            predict(lf, xy, conf, image_size=(1280, 720))
            times.append(time.perf_counter() - t0)
        out[f"frames_per_s_{threads}_threads"] = round(t / float(np.median(times)), 1)
    torch.set_num_threads(default_threads)
    out["load_average"] = os.getloadavg()[0]
    return out


def measure_heldout(path: str, mocap: list[str], *, views: int = 4, seed: int = 0, imu: bool = False
                    ) -> dict[str, object]:
    """MPJPE (mm) through :func:`predict` on the file's held-out takes, each seen by ``views`` random cameras,
    with the measured MediaPipe noise (level 1) and without it (level 0); with ``imu``, also the median
    per-axis gyroscope r of :data:`IMU_PLACEMENTS` from lifted vs true joints (noisy input)."""
    from imusynth.cli.lifter import collect_motion_files
    from imusynth.video.lift.synth2d import corrupt
    from imusynth.video.lift.temporal import load_lifter_file, predict
    from imusynth.video.lift.train import camera_for, load_takes

    lf = load_lifter_file(path)
    held = set(lf.meta.get("val_takes", []))
    files = [f for f in collect_motion_files([Path(m) for m in mocap]) if f.name in held or not held]
    takes, _ = load_takes(files, lf.joints_out, fps=lf.fps)
    rng = np.random.default_rng(seed)
    result: dict[str, object] = {"file": path, "held_out_takes": len(takes),
                                 "frames": int(sum(len(t.xyz) for t in takes))}
    imu_r: list[float] = []
    for level in (1.0, 0.0):
        errs = []
        for take in takes:
            idx = {n: i for i, n in enumerate(take.names)}
            for _ in range(views):
                cam = camera_for(take, rng)
                pc = cam.to_camera(take.xyz)
                pelvis = pc[:, [idx["left_hip"], idx["right_hip"]]].mean(axis=1)
                xy = cam.project(take.xyz[:, [idx[n] for n in lf.keypoints_in]])
                body_px = cam.focal_px * take.height_m / np.maximum(pelvis[:, 2], 0.1)
                noisy, conf = corrupt(rng, xy, body_px, lf.keypoints_in, fps=take.fps, level=level)
                pred = predict(lf, noisy, conf, image_size=cam.image_size)
                truth = pc[:, [idx[n] for n in lf.joints_out]] - pelvis[:, None]
                errs.append(np.linalg.norm(pred - truth, axis=-1))
                if imu and level > 0:
                    world = (pred + pelvis[:, None]) @ cam.R_cam_world + cam.centre   # camera -> world
                    imu_r += gyro_agreement(take, world, lf.joints_out)
        e = 1000.0 * np.concatenate(errs)
        key = "with_noise" if level else "exact_2d"
        result[f"mpjpe_mm_{key}"] = round(float(e.mean()), 1)
        result[f"per_joint_mm_{key}"] = {n: round(float(v), 1) for n, v in zip(lf.joints_out, e.mean(axis=0),
                                                                             strict=True)}
    if imu_r:
        result["gyro_r_median"] = round(float(np.nanmedian(imu_r)), 3)
        result["gyro_r_placements"] = list(IMU_PLACEMENTS)
    return result


#: placements whose gyroscopes compare lifted and true mocap (need only the lifter's joints)
IMU_PLACEMENTS = ("left_forearm", "right_forearm", "left_thigh", "right_thigh", "left_upper_arm",
                  "right_upper_arm")


def gyro_agreement(take: object, lifted_world: np.ndarray, names: list[str]) -> list[float]:
    """Per-axis Pearson r of virtual gyroscopes from lifted vs true joints (both with the true root path)."""
    from imusynth.config import load_pipeline_config, with_overrides
    from imusynth.core.motion import Motion
    from imusynth.io.motion_job import sensors_for_motion

    cfg = with_overrides(load_pipeline_config(), {"output.placements": list(IMU_PLACEMENTS)})
    t = np.arange(len(lifted_world)) / take.fps  # type: ignore[attr-defined]
    idx = [take.names.index(n) for n in names]  # type: ignore[attr-defined]
    true = Motion(time=t, names=tuple(names), xyz=take.xyz[:, idx], skeleton="canonical")  # type: ignore[attr-defined]
    lifted = Motion(time=t, names=tuple(names), xyz=lifted_world, skeleton="canonical")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # implausible samples are NaN; counted below
        a = sensors_for_motion(true, cfg, require_valid=False)
        b = sensors_for_motion(lifted, cfg, require_valid=False)
    out = []
    for name in IMU_PLACEMENTS:
        if name in a and name in b:
            x, y = a[name].gyro, b[name].gyro
            ok = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)
            if ok.sum() > 10:
                out += [float(np.corrcoef(x[ok, k], y[ok, k])[0, 1]) for k in range(3)]
    return out


def procrustes_errors(est: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-joint errors (T, J) after aligning each frame of ``est`` to ``ref`` by rotation, scale and
    translation (P-MPJPE's alignment); frames with NaN are NaN."""
    out = np.full(est.shape[:2], np.nan)
    for k in range(len(est)):
        a, b = est[k], ref[k]
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            continue
        a0, b0 = a - a.mean(axis=0), b - b.mean(axis=0)
        u, sv, vt = np.linalg.svd(a0.T @ b0)
        d = np.sign(np.linalg.det(u @ vt))
        fix = np.diag([1.0, 1.0, d])
        rot = u @ fix @ vt
        scale = float((sv * np.diag(fix)).sum() / (a0 ** 2).sum())
        out[k] = np.linalg.norm(scale * a0 @ rot - b0, axis=1)
    return out


def measure_real(path: str) -> dict[str, object]:
    """Root-relative MPJPE (mm) on the four real Pose2Sim views: the lifter on MediaPipe lite's 2-D keypoints
    (the pipeline's, left/right repaired, every other frame: 30 fps) and MediaPipe's own 3-D (the pipeline's
    camera-frame landmarks), both against the triangulated TRC in each camera's frame, for the 12 limb joints
    (hip midpoint subtracted from all three)."""
    import cv2

    from imusynth.config import load_pipeline_config
    from imusynth.core.skeletons import MEDIAPIPE_33
    from imusynth.io.hdf5 import read_clips
    from imusynth.video.job import process_video
    from imusynth.video.lift.temporal import keypoints_from_mediapipe, load_lifter_file, predict
    from tests.test_video_views import _in_camera, _read_trc

    os.environ.setdefault("IMUSYNTH_MODEL_DIR", str(SHARED / "models"))
    lf = load_lifter_file(path)
    calib = (SHARED / "videos/pose2sim/Demo_SinglePerson/calibration/Calib.qca.txt").read_text()
    names, xyz = _read_trc(TRC)
    trc_of = {f"{side}_{j}": f"{side[0].upper()}{j.capitalize()}" for side in ("left", "right")
              for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")}
    limbs = [n for n in lf.joints_out if n in trc_of]
    out: dict[str, object] = {"file": path, "joints": limbs}
    with tempfile.TemporaryDirectory() as tmp:
        for cam in CAMS:
            h5 = process_video(SHARED / f"videos/pose2sim/Demo_SinglePerson/videos/{cam}.mp4",
                               Path(tmp) / f"{cam}.h5", config=load_pipeline_config())
            (clip,) = read_clips(h5, with_pose=True)
            assert clip.pose is not None
            fi = clip.pose["frame_index"].astype(int)[::2]
            xy2d = clip.pose["image_xy"].astype(float)[::2] - 0.5
            vis = clip.pose["visibility"].astype(float)[::2]
            kp, conf = keypoints_from_mediapipe(lf.keypoints_in, xy2d, vis)
            cap = cv2.VideoCapture(str(SHARED / f"videos/pose2sim/Demo_SinglePerson/videos/{cam}.mp4"))
            w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            cap.release()
            pred = predict(lf, kp, conf, image_size=(w, h))[:, [lf.joints_out.index(n) for n in limbs]]
            truth = _in_camera(calib, cam, xyz)[fi][:, [names.index(trc_of[n]) for n in limbs]]
            mp_idx = {n: i for i, n in enumerate(MEDIAPIPE_33)}
            mp = clip.pose["camera_points"].astype(float)[::2][:, [mp_idx[n] for n in limbs]]
            res = {}
            for label, est in (("lifter", pred), ("mediapipe", mp)):
                hips = [limbs.index("left_hip"), limbs.index("right_hip")]
                a = est - est[:, hips].mean(axis=1, keepdims=True)
                b = truth - truth[:, hips].mean(axis=1, keepdims=True)
                res[label] = round(float(1000 * np.nanmean(np.linalg.norm(a - b, axis=-1))), 1)
                res[label + "_depth"] = round(float(1000 * np.nanmean(np.abs(a[..., 2] - b[..., 2]))), 1)
                res[label + "_procrustes"] = round(float(1000 * np.nanmean(procrustes_errors(a, b))), 1)
            out[cam] = res
            print(cam, res, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    sub.add_parser("noise")
    sp = sub.add_parser("speed")
    sp.add_argument("file", nargs="?")
    hp = sub.add_parser("heldout")
    hp.add_argument("file")
    hp.add_argument("mocap", nargs="+")
    hp.add_argument("--views", type=int, default=4)
    hp.add_argument("--imu", action="store_true", help="also compare virtual gyroscopes (lifted vs true)")
    rp = sub.add_parser("real")
    rp.add_argument("file")
    args = ap.parse_args()
    if args.mode == "real":
        print(json.dumps(measure_real(args.file), indent=1))
    elif args.mode == "noise":
        print(json.dumps(measure_noise(), indent=1))
    elif args.mode == "speed":
        print(json.dumps(measure_speed(args.file), indent=1))
    else:
        print(json.dumps(measure_heldout(args.file, args.mocap, views=args.views, imu=args.imu), indent=1))


if __name__ == "__main__":
    main()
