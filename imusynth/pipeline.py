"""The video pipeline's thin orchestrator: video → pose → tracks → lift → camera → Motion → sensors → HDF5.

Frames are streamed one at a time and never kept; the compact rows each frame produces (every person's
landmarks, about 1.1 kB, and the camera's rotation, about 90 B) go to a
:class:`~imusynth.framestore.FrameStore` that spills them to an unnamed temporary file, so memory does not
grow with the video's length. After the stream, tracks are read back and processed one at a time (arrays
over the track's own span of frames).
Each stage lives in its own module; this one only wires them together, times them and writes the result.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import median_filter

from .camera import CameraIntrinsics, CameraMotionEstimator, camera_to_world_points, refine_up
from .config import PipelineConfig, to_toml
from .conventions import matrix_from_quat, quat_continuous, quat_from_matrix
from .errors import InputError, NoPersonError
from .framestore import FrameStore
from .io_hdf5 import Clip, sha256_file, write_clips
from .kinematics import lowpass, runs
from .lift import leg_length_outliers, lift_frame, smooth_depth
from .motion import Motion
from .motion_job import sensors_for_motion
from .placements import resolve_placements
from .pose.cleaning import LIMB_GROUPS, apply_swaps, hampel_outliers, identity_swaps, swap_in_camera
from .pose.detection import PoseDetection
from .pose.tracking import Track, Tracker, main_track_id, track_summary
from .skeletons import MEDIAPIPE_33
from .video import open_video

log = logging.getLogger(__name__)

_HIPS = [MEDIAPIPE_33.index("left_hip"), MEDIAPIPE_33.index("right_hip")]
_SHOULDERS = [MEDIAPIPE_33.index("left_shoulder"), MEDIAPIPE_33.index("right_shoulder")]


#: The run's table ``"frames"`` in its frame store: one row per processed frame (~90 B).
FRAME_SCHEMA: dict[str, tuple[tuple[int, ...], type]] = {
    "time": ((), np.float64),
    "frame_index": ((), np.int64),
    "R_world_from_camera": ((3, 3), np.float64),
    "segment": ((), np.int64),
    "reliable": ((), np.bool_),
}


@dataclass
class RunFrames:
    """The run's per-frame records over processed frames ``start:start + F``.

    Attributes
    ----------
    start : int
        Position of the first of these frames among the run's processed frames.
    time : ndarray, shape (F,), s
        Times of the frames.
    frame_index : ndarray, shape (F,), int
        Decoder indices of the frames.
    R_world_from_camera : ndarray, shape (F, 3, 3)
        Camera orientation per frame (level at the start of each shot).
    segment : ndarray, shape (F,), int
        Shot number per frame.
    reliable : ndarray, shape (F,), bool
        The camera rotation was measured (see :class:`imusynth.camera.CameraStep`).
    """

    start: int
    time: NDArray[np.float64]
    frame_index: NDArray[np.int64]
    R_world_from_camera: NDArray[np.float64]
    segment: NDArray[np.int64]
    reliable: NDArray[np.bool_]


@dataclass
class VideoRun:
    """What one pass over a video produced: a handle on its frame store, plus a few scalars.

    The per-frame records (:meth:`frames`) and the tracks (:meth:`track`) stay in ``store`` (on disk in
    :func:`process_video`) and are read back a span or a track at a time; the store must stay open while
    they are read.

    Attributes
    ----------
    n_frames : int
        Number of processed frames.
    n_shots : int
        Number of shots (segments between shot cuts).
    store : FrameStore
        Holds the table ``"frames"`` (:data:`FRAME_SCHEMA`) and the tracker's tables.
    tracker : Tracker
        The tracker after the last frame (reads its tracks from ``store``).
    corrupt_frames : list of int
    timings : dict of str to float, s
    width, height : int, px
    K : ndarray, shape (3, 3), px
    fps : float, frames/s
    """

    n_frames: int
    n_shots: int
    store: FrameStore
    tracker: Tracker
    corrupt_frames: list[int]
    timings: dict[str, float]
    width: int
    height: int
    K: NDArray[np.float64]
    fps: float

    def frames(self, start: int = 0, stop: int | None = None) -> RunFrames:
        """The per-frame records of processed frames ``start:stop`` (default: all)."""
        a = self.store.read("frames", start, stop)
        return RunFrames(start=int(start), time=a["time"], frame_index=a["frame_index"],
                         R_world_from_camera=a["R_world_from_camera"], segment=a["segment"],
                         reliable=a["reliable"])

    def positions(self, frame_index: ArrayLike) -> NDArray[np.int64]:
        """Positions among the processed frames of the frames with decoder indices ``frame_index``.

        Reads the run's frame indices one stored chunk at a time (memory independent of the length).

        Raises
        ------
        KeyError
            An index is not one of the run's processed frames.
        """
        fi = np.asarray(frame_index, dtype=np.int64).ravel()
        order = np.argsort(fi, kind="stable")
        sorted_fi = fi[order]
        pos = np.full(fi.shape, -1, dtype=np.int64)
        for r0, chunk in self.store.iter_chunks("frames", fields=["frame_index"]):
            c = chunk["frame_index"]               # increasing: decoder ordinals of processed frames
            lo = int(np.searchsorted(sorted_fi, c[0], side="left"))
            hi = int(np.searchsorted(sorted_fi, c[-1], side="right"))
            if lo == hi:
                continue
            j = np.searchsorted(c, sorted_fi[lo:hi])
            hit = c[np.minimum(j, len(c) - 1)] == sorted_fi[lo:hi]
            pos[order[lo:hi][hit]] = r0 + j[hit]
        if (pos < 0).any():
            raise KeyError(f"frame {int(fi[pos < 0][0])} is not among the run's processed frames")
        return pos.reshape(np.shape(frame_index))

    @property
    def track_ids(self) -> list[int]:
        """Ids of the tracks of at least ``tracking.min_track_s``, ascending."""
        return self.tracker.track_ids()

    def track(self, track_id: int) -> Track:
        """One track, read back from the store."""
        return self.tracker.track(track_id)


def intrinsics_for(info: Any, fov_deg: float) -> CameraIntrinsics:
    """The video's intrinsics from its metadata when present, else from the field of view (deg).

    The default field of view applies to the image's **long** side, so a portrait phone video (the same
    camera held upright) gets the same focal length in pixels as the landscape one.
    """
    w, h = info.width, info.height
    half_fov = np.radians(fov_deg) / 2.0
    f = float(info.focal_px) if info.focal_px else (max(w, h) / 2.0) / float(np.tan(half_fov))
    return CameraIntrinsics(f, f, (w - 1) / 2.0, (h - 1) / 2.0, w, h)


class Detector(Protocol):
    """What the pipeline needs of a pose backend: a context manager with ``detect(image, time_s)``."""

    def __enter__(self) -> Detector: ...

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any: ...

    def detect(self, image_rgb: NDArray[np.uint8], time_s: float) -> list[PoseDetection]: ...


def mediapipe_detector(cfg: PipelineConfig) -> Detector:
    """The default pose backend: MediaPipe PoseLandmarker configured from ``[pose]``."""
    from .pose.mediapipe_backend import PoseEstimator

    return PoseEstimator(cfg.pose.model, num_poses=cfg.pose.num_poses,
                         min_detection_confidence=cfg.pose.min_detection_confidence,
                         min_presence_confidence=cfg.pose.min_presence_confidence,
                         min_tracking_confidence=cfg.pose.min_tracking_confidence)


def run_stages(video: Path, cfg: PipelineConfig, *, progress: bool = False,
               detector_factory: Callable[[PipelineConfig], Detector] = mediapipe_detector,
               store: FrameStore | None = None) -> VideoRun:
    """One streaming pass: decode, detect, track and estimate the camera, frame by frame.

    ``detector_factory`` builds the pose backend (MediaPipe by default; tests pass synthetic detectors).
    Every frame's rows (its camera record, its people's landmarks) are appended to ``store`` (default: a
    store in memory; :func:`process_video` passes one that spills to a temporary file), which must stay
    open while the returned :class:`VideoRun` is used. Nothing else grows with the video's length.
    """
    from .video import iter_frames

    info = open_video(video)
    intr = intrinsics_for(info, cfg.lift.fov_deg)
    K = intr.K
    fps = info.fps_nominal
    store = store if store is not None else FrameStore(spill=False)
    store.create("frames", FRAME_SCHEMA)
    tracker = Tracker(min_duration_s=cfg.tracking.min_track_s,
                      max_missed=max(1, int(round(cfg.tracking.max_missed_s * fps))),
                      valid_threshold=cfg.pose.min_visibility, store=store)
    cam = CameraMotionEstimator(intr, static=cfg.camera.static, max_features=cfg.camera.max_features,
                                ransac_threshold_px=cfg.camera.ransac_threshold_px,
                                shot_cut_threshold=cfg.camera.shot_cut_threshold)
    end = None if cfg.video.end_s < 0 else cfg.video.end_s
    reader = iter_frames(video, start_s=cfg.video.start_s or None, end_s=end)
    n_segments = 0
    timings = {"decode": 0.0, "pose": 0.0, "track": 0.0, "camera": 0.0}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=info.n_frames_estimate, unit="frame", desc=video.name, dynamic_ncols=True)
    def camera_step(time_s: float, image: NDArray[np.uint8], boxes: NDArray[np.float64]) -> Any:
        t_cam = time.perf_counter()
        step = cam.update(time_s, image, boxes if len(boxes) else None)
        timings["camera"] += time.perf_counter() - t_cam
        return step

    def record(time_s: float, index: int, result: Future[Any]) -> None:
        nonlocal n_segments
        step = result.result()
        store.append("frames", {"time": time_s, "frame_index": index,
                                "R_world_from_camera": step.R_world_from_camera, "segment": step.segment,
                                "reliable": step.reliable})
        n_segments = max(n_segments, int(step.segment) + 1)

    # The camera stage of frame k runs on a second thread while the pose model works on frame k+1
    # (both release the GIL); results are collected in frame order, and only one frame is in flight.
    with detector_factory(cfg) as estimator, ThreadPoolExecutor(max_workers=1) as pool:
        pending: tuple[float, int, Future[Any]] | None = None
        t0 = time.perf_counter()
        for frame in reader:
            t1 = time.perf_counter()
            timings["decode"] += t1 - t0
            dets = estimator.detect(frame.image, frame.time_s)
            t2 = time.perf_counter()
            tracker.update(frame.time_s, dets, frame_index=frame.index)
            t3 = time.perf_counter()
            boxes = np.array([d.bbox for d in dets], dtype=np.float64).reshape(-1, 4)
            if pending is not None:
                record(*pending)
            pending = (frame.time_s, frame.index, pool.submit(camera_step, frame.time_s, frame.image, boxes))
            timings["pose"] += t2 - t1
            timings["track"] += t3 - t2
            if bar is not None:
                bar.update(1)
            t0 = time.perf_counter()
        if pending is not None:
            record(*pending)
    if bar is not None:
        bar.close()
    n_frames = store.n_rows("frames")
    if not n_frames:
        raise InputError(f"{video}: no frame could be decoded in the requested span")
    store.seal("frames")
    return VideoRun(
        n_frames=n_frames, n_shots=n_segments, store=store, tracker=tracker,
        corrupt_frames=list(reader.corrupt_indices), timings=timings, width=info.width, height=info.height,
        K=K, fps=fps,
    )


@dataclass
class PersonSegment:
    """One person within one shot: what is needed to make a clip (arrays over the shot's frames)."""

    track_id: int
    segment: int
    frames: NDArray[np.int64]            # positions among the run's processed frames, (F,)
    motion: Motion
    pose: dict[str, NDArray[Any]]


def track_scale_px(track: Track) -> NDArray[np.float64]:
    """The person's size in the image per detection: the box height, running median over 15 detections, px."""
    h = (track.bbox[:, 3] - track.bbox[:, 1]).astype(np.float64)
    return np.asarray(median_filter(h, size=min(15, max(1, len(h))), mode="nearest"), dtype=np.float64)


@dataclass
class LiftedTrack:
    """One track placed in the camera frame, detection by detection (arrays over the track's detections).

    Attributes
    ----------
    world : ndarray, shape (T, 33, 3), float32, m
        Identity-corrected body-frame landmarks (``camera = rot @ world + trans``).
    rot : ndarray, shape (T, 3, 3)
    trans : ndarray, shape (T, 3), m
        Placement of the body frame in the camera frame (NaN where the solve failed).
    ok : ndarray, shape (T,), bool
        The solve succeeded.
    swaps : ndarray, shape (T, 3), bool
        Where the labels of the torso, leg and arm pairs (:data:`imusynth.pose.cleaning.LIMB_GROUPS`)
        were exchanged; apply the same to the image landmarks and visibilities with
        :func:`imusynth.pose.cleaning.apply_swaps`.
    outliers : ndarray, shape (T, 3), bool
        Where a group's landmarks fit neither labelling (to be treated as missing).
    """

    world: NDArray[np.float32]
    rot: NDArray[np.float64]
    trans: NDArray[np.float64]
    ok: NDArray[np.bool_]
    swaps: NDArray[np.bool_]
    outliers: NDArray[np.bool_]


def lift_track(track: Track, K: NDArray[np.float64], *, min_visibility: float) -> LiftedTrack:
    """Place each detection of ``track`` in the camera frame (PnP), with left/right identities fixed.

    Each detection is solved as the model gave it (its 2-D and 3-D labels agree with each other);
    then the landmark groups whose labels :func:`imusynth.pose.cleaning.identity_swaps` finds
    exchanged are swapped in the camera frame (each landmark keeps its depth and takes its partner's
    image ray: :func:`imusynth.pose.cleaning.swap_in_camera`) and brought back into the body frame.
    """
    n = len(track.time)
    rot = np.full((n, 3, 3), np.nan)
    trans = np.full((n, 3), np.nan)
    ok = np.zeros(n, dtype=bool)
    prev = None
    for k in range(n):
        # detections measure pixels from the pixel corner; the intrinsics put pixel centres on integers
        lf = lift_frame(track.world_xyz[k], track.image_xy[k] - 0.5, track.visibility[k], K, prev=prev,
                        min_weight=min_visibility)
        if lf.ok:
            rot[k], trans[k], ok[k], prev = lf.R, lf.t, True, lf
    fix = identity_swaps(track.time, track.image_xy, track.world_xyz, scale_px=track_scale_px(track))
    world = track.world_xyz.astype(np.float64)
    rows = ok & fix.swaps.any(axis=1)
    if rows.any():
        cam = np.einsum("tij,tpj->tpi", rot[rows], world[rows]) + trans[rows][:, None, :]
        cam = swap_in_camera(cam, fix.swaps[rows])
        world[rows] = np.einsum("tji,tpj->tpi", rot[rows], cam - trans[rows][:, None, :])
    return LiftedTrack(world.astype(np.float32), rot, trans, ok, fix.swaps, fix.outliers)


def smooth_rigid_placement(t: NDArray[np.float64], rot: NDArray[np.float64], trans: NDArray[np.float64],
                           ok: NDArray[np.bool_], *, cutoff_hz: float, max_gap_s: float = 0.0
                           ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Low-pass the body's placement in the camera (rotation and depth) within each run of lifted frames.

    The per-frame PnP rotation is the small residual between MediaPipe's camera-aligned world frame and
    the camera; it jitters by ~2 deg from frame to frame, which moves the feet by several cm a metre away
    from the hips. The body's own motion is in the world landmarks, so the placement is smoothed:
    quaternion components (sign-continuous) and the depth by the zero-phase filter at ``cutoff_hz``
    (:func:`imusynth.lift.smooth_depth` for the translation, which joins runs across gaps of at most
    ``max_gap_s``: the kinematics stage bridges those), then renormalised.

    Parameters
    ----------
    t : (T,) s; rot : (T, 3, 3); trans : (T, 3) m; ok : (T,) bool; cutoff_hz : Hz; max_gap_s : s

    Returns
    -------
    rot_s : ndarray, shape (T, 3, 3)
    trans_s : ndarray, shape (T, 3), m
    """
    rot_s = np.full_like(rot, np.nan)
    for a, b in runs(ok):
        q = quat_continuous(quat_from_matrix(rot[a:b]))
        if b - a >= 12:
            rate = float(1.0 / np.median(np.diff(t[a:b])))
            q = lowpass(q, rate_hz=rate, cutoff_hz=min(cutoff_hz, 0.25 * rate))
        rot_s[a:b] = matrix_from_quat(q / np.linalg.norm(q, axis=1, keepdims=True))
    return rot_s, smooth_depth(t, trans, ok, cutoff_hz=cutoff_hz, max_gap_s=max_gap_s)


def person_segments(run: VideoRun, track: Track, *, depth_cutoff_hz: float, min_visibility: float,
                    max_gap_s: float = 0.2, leg_length_tolerance: float = 0.15) -> list[PersonSegment]:
    """Split a track at shot cuts and place it in the z-up world frame (camera rotation removed).

    Frames whose world skeleton has implausible legs (:func:`imusynth.lift.leg_length_outliers`,
    ``leg_length_tolerance``) count as not lifted; the depth is smoothed across gaps of at most
    ``max_gap_s`` s (the kinematics stage's ``max_gap_s``, which bridges them).
    """
    lt = lift_track(track, run.K, min_visibility=min_visibility)
    lt.ok &= ~leg_length_outliers(track.world_xyz, tolerance=leg_length_tolerance)   # collapsed skeletons
    pos = run.positions(track.frame_index)
    fr = run.frames(int(pos[0]), int(pos[-1]) + 1)   # the run's records over the track's span only
    pos -= fr.start
    n = len(fr.time)
    # arrays over the track's span of frames (NaN / 0 where the person was not detected)
    world = np.full((n, 33, 3), np.nan, dtype=np.float32)
    rot = np.full((n, 3, 3), np.nan)
    trans = np.full((n, 3), np.nan)
    ok = np.zeros(n, dtype=bool)
    swapped = np.zeros((n, 3), dtype=bool)
    world[pos], rot[pos], trans[pos], ok[pos], swapped[pos] = lt.world, lt.rot, lt.trans, lt.ok, lt.swaps
    conf = np.zeros((n, 33), dtype=np.float32)
    valid_frame = np.zeros(n, dtype=bool)
    valid_frame[pos] = track.valid
    t_conf = apply_swaps(np.minimum(track.visibility, track.presence), lt.swaps)
    for g, pairs in enumerate(LIMB_GROUPS):    # landmarks that fit neither labelling count as missing
        cols = np.array([i for pair in pairs for i in pair])
        t_conf[np.ix_(np.flatnonzero(lt.outliers[:, g]), cols)] = 0.0
    conf[pos] = t_conf
    conf[~(ok & valid_frame)] = 0.0
    image_xy = np.full((n, 33, 2), np.nan, dtype=np.float32)
    image_xy[pos] = apply_swaps(track.image_xy, lt.swaps)
    out = []
    for seg in np.unique(fr.segment[pos]):
        in_seg = np.flatnonzero((fr.segment == seg) & ok)
        if in_seg.size < 2:
            continue
        span = slice(int(in_seg[0]), int(in_seg[-1]) + 1)   # views, not copies, of the span arrays
        t = fr.time[span]
        rot_s, trans_s = smooth_rigid_placement(t, rot[span], trans[span], ok[span],
                                                cutoff_hz=depth_cutoff_hz, max_gap_s=max_gap_s)
        cam_pts = np.einsum("tij,tpj->tpi", rot_s, world[span].astype(np.float64)) + trans_s[:, None, :]
        R_wc = fr.R_world_from_camera[span]
        up_cam = cam_pts[:, _SHOULDERS].mean(axis=1) - cam_pts[:, _HIPS].mean(axis=1)
        R_up = refine_up(np.transpose(R_wc, (0, 2, 1)), up_cam)
        R_ref = R_up @ R_wc
        pose = {
            "time": t, "frame_index": fr.frame_index[span], "image_xy": image_xy[span],
            "world_landmarks": world[span], "visibility": conf[span], "left_right_swapped": swapped[span],
            "camera_points": cam_pts.astype(np.float32),
            "camera_rotation": R_ref.astype(np.float32), "camera_K": run.K, "lift_ok": ok[span],
            "camera_reliable": fr.reliable[span],
        }
        motion = motion_from_pose(pose, camera_points=cam_pts, camera_rotation=R_ref)
        out.append(PersonSegment(track.track_id, int(seg), fr.start + np.arange(span.start, span.stop),
                                 motion, pose))
    return out


def motion_from_pose(pose: dict[str, NDArray[Any]], *, camera_points: NDArray[np.float64] | None = None,
                     camera_rotation: NDArray[np.float64] | None = None) -> Motion:
    """The landmarks' motion in the z-up world frame from a clip's stored ``pose`` group.

    ``xyz = camera_rotation @ camera_points`` and ``confidence = visibility``, with the isolated 3-D
    jumps that :func:`imusynth.pose.cleaning.hampel_outliers` finds set to 0 (they become gaps). This is
    how the pipeline makes a video clip's motion, so sensors for other placements, rates or cut-offs can
    be recomputed from a file without running the pose model again (``read_clips(..., with_pose=True)``,
    then :func:`imusynth.motion_job.sensors_for_motion`).

    Parameters
    ----------
    pose : dict
        The ``/clips/<id>/pose`` arrays (``docs/video_and_pose.md``); uses ``time`` (F,) s,
        ``camera_points`` (F, 33, 3) m, ``camera_rotation`` (F, 3, 3) and ``visibility`` (F, 33).
    camera_points : ndarray, shape (F, 33, 3), m, optional
        Replaces ``pose["camera_points"]`` (e.g. landmarks with depth from another source; the pipeline
        passes its float64 arrays, the file holds float32 copies).
    camera_rotation : ndarray, shape (F, 3, 3), optional
        Replaces ``pose["camera_rotation"]``.

    Returns
    -------
    Motion
        MediaPipe-33 landmarks, metres, world frame z up.
    """
    pts = np.asarray(pose["camera_points"] if camera_points is None else camera_points, dtype=np.float64)
    rot = pose["camera_rotation"] if camera_rotation is None else camera_rotation
    world_pts = camera_to_world_points(pts, np.asarray(rot, dtype=np.float64))
    conf = np.asarray(pose["visibility"], dtype=np.float64).copy()
    conf[hampel_outliers(world_pts, min_scale=0.02).any(axis=2)] = 0.0   # isolated jumps -> gaps
    return Motion(time=np.asarray(pose["time"], dtype=np.float64), names=MEDIAPIPE_33, xyz=world_pts,
                  confidence=conf, skeleton="mediapipe")


def longest_run_s(time: NDArray[np.float64], *, max_gap_s: float) -> float:
    """Longest stretch of a track's detection times without a gap over ``max_gap_s``, s.

    Gaps longer than ``max_gap_s`` are never bridged, so a track is only as usable as its longest
    such stretch: one seen for 2 s in bits of 0.6 s (e.g. a pose the model hallucinates now and then
    around a real person) cannot make a clip of at least ``tracking.min_track_s``.
    """
    t = np.asarray(time, dtype=np.float64)
    if t.size < 2:
        return 0.0
    cuts = np.flatnonzero(np.diff(t) > max_gap_s + 1e-9)
    starts = np.concatenate([[0], cuts + 1])
    ends = np.concatenate([cuts, [t.size - 1]])
    return float(np.max(t[ends] - t[starts]))


def _clip_id(stem: str, person: PersonSegment, n_segments: int, all_persons: bool) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "video"
    if all_persons:
        base += f"_p{person.track_id}"
    if n_segments > 1:
        base += f"_s{person.segment}"
    return base


@dataclass
class _BodyModel:
    """The SMPL model and the mesh placements resolved on it (``[smpl] body_model = "smpl"``)."""

    model: Any
    placements: list[Any]


def _load_body_model(cfg: PipelineConfig) -> _BodyModel | None:
    """Load the SMPL model and its mesh placements, or None for the skeleton pipeline."""
    if cfg.smpl.body_model != "smpl":
        return None
    from .smpl import builtin_mesh_placements, load_model

    if not cfg.smpl.smpl_dir:
        raise InputError("--body-model smpl needs --smpl-dir DIR, the folder of your SMPL model files "
                         "(obtain them at https://smpl.is.tue.mpg.de; see docs/smpl.md)")
    model = load_model(cfg.smpl.smpl_dir, gender=cfg.smpl.gender)
    table = builtin_mesh_placements(model, list(cfg.output.placements),
                                    region_radius_m=cfg.smpl.region_radius_m)
    return _BodyModel(model, [table[n] for n in cfg.output.placements])


def _smpl_sensors(ps: PersonSegment, body: _BodyModel, K: NDArray[np.float64], cfg: PipelineConfig
                  ) -> tuple[dict[str, Any], Any]:
    """Fit SMPL to one person segment and compute its mesh sensors (see docs/smpl.md)."""
    from .sensors import simulate
    from .smpl.fit import clip_record, fit_clip, fit_sensor_motion

    s = cfg.smpl
    weights = ps.motion.confidence
    R_world_from_cam = ps.pose["camera_rotation"].astype(np.float64)
    fit = fit_clip(ps.motion.xyz, ps.pose["image_xy"].astype(np.float64) - 0.5, weights, K, body.model,
                   cam_rotation=np.transpose(R_world_from_cam, (0, 2, 1)), n_iters=s.n_iters,
                   smooth_weight=s.smooth_weight, reproj_weight=s.reproj_weight,
                   pose_prior_weight=s.pose_prior_weight, shape_prior_weight=s.shape_prior_weight,
                   num_betas=s.num_betas, torch_threads=s.torch_threads)
    motion, placements = fit_sensor_motion(body.model, fit, ps.motion.time, body.placements,
                                           source=ps.motion.source)
    k = cfg.kinematics
    sensors = simulate(motion, placements, rate_hz=cfg.output.rate_hz, cutoff_hz=k.video_cutoff_hz,
                       max_gap_s=k.max_gap_s, min_confidence=k.min_confidence, filter_order=k.filter_order,
                       require_valid=False)
    return sensors, clip_record(fit, body.model)


def resolve_video_input(video: str) -> tuple[Path, dict[str, str]]:
    """A local path as it is; a URL fetched once with yt-dlp into the user's cache (provenance attrs too)."""
    from .batch.ingest import DownloadOptions, FetchError, fetch, is_url

    if not is_url(video):
        return Path(video), {}
    import os

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "imusynth" / "videos"
    try:
        result = fetch(video, options=DownloadOptions(cache_dir=cache))
    except FetchError as exc:
        raise InputError(f"could not fetch {video}: {exc}") from None
    return Path(result.video_path), dict(result.provenance)


def process_video(video_path: Path, out_path: Path, *, config: PipelineConfig, label: str | None = None,
                  group: str | None = None, extra_attrs: dict[str, Any] | None = None, progress: bool = False,
                  overlay_path: Path | None = None, plot_path: Path | None = None,
                  detector_factory: Callable[[PipelineConfig], Detector] = mediapipe_detector) -> Path:
    """Run the whole video pipeline on one file and write one ``imusynth/1`` HDF5 file atomically.

    Raises
    ------
    InputError
        Not a video, an empty file, unknown placements, a missing model.
    NoPersonError
        Nobody tracked for at least ``tracking.min_track_s``.
    """
    cfg = config
    video = Path(video_path)
    placements = resolve_placements(list(cfg.output.placements), cfg.output.placements_file or None)
    body = _load_body_model(cfg)
    t_start = time.perf_counter()
    out_dir = Path(out_path).parent
    # the per-frame rows spill to an unnamed temporary file beside the output, gone when the block ends
    with FrameStore(out_dir if out_dir.is_dir() else None) as store:
        run = run_stages(video, cfg, progress=progress, detector_factory=detector_factory, store=store)
        summaries = []                                  # one track in memory at a time
        for track_id in run.track_ids:
            tr = run.track(track_id)
            if longest_run_s(tr.time, max_gap_s=cfg.kinematics.max_gap_s) >= cfg.tracking.min_track_s:
                summaries.append(track_summary(tr, (run.width, run.height)))
            del tr
        if not summaries:
            raise NoPersonError(f"{video}: no person tracked for at least {cfg.tracking.min_track_s} s")
        if cfg.tracking.person == "main":
            track_ids = [main_track_id(summaries)]
        else:
            track_ids = [s.track_id for s in summaries]
        segments = [ps for tid in track_ids
                    for ps in person_segments(run, run.track(tid), depth_cutoff_hz=cfg.lift.depth_cutoff_hz,
                                              min_visibility=cfg.pose.min_visibility,
                                              max_gap_s=cfg.kinematics.max_gap_s,
                                              leg_length_tolerance=cfg.lift.leg_length_tolerance)]
        if not segments:
            raise NoPersonError(f"{video}: no person could be placed in 3-D (too few visible landmarks)")
        n_shots = run.n_shots
        sha = sha256_file(video)
        config_text = to_toml(cfg)
        clips = []
        for ps in segments:
            if ps.motion.n_frames < 12:
                continue
            groups: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
            if body is None:
                sensors = sensors_for_motion(ps.motion, cfg, cutoff_hz=cfg.kinematics.video_cutoff_hz,
                                             require_valid=False)
            else:
                sensors, record = _smpl_sensors(ps, body, run.K, cfg)
                groups["smpl"] = (record.datasets, record.attrs)
            attrs: dict[str, Any] = {
                "track_id": ps.track_id, "shot": ps.segment, "n_shots": n_shots,
                "corrupt_frames": np.asarray(run.corrupt_frames, dtype=np.int64),
                "fov_deg_assumed": cfg.lift.fov_deg, "camera_static": cfg.camera.static,
                "pose_model": cfg.pose.model,
            }
            attrs.update(extra_attrs or {})
            clips.append(Clip(
                clip_id=_clip_id(video.stem, ps, n_shots, cfg.tracking.person == "all"),
                source=str(video), source_sha256=sha, source_kind="video", source_rate_hz=float(run.fps),
                duration_s=ps.motion.duration_s, config=config_text, sensors=sensors,
                motion=ps.motion if cfg.output.store_motion else None, label=label, group=group, attrs=attrs,
                pose=ps.pose, groups=groups,
            ))
        if not clips:
            raise NoPersonError(f"{video}: every tracked person segment is too short to differentiate")
        write_clips(out_path, clips)
        run.timings["total"] = time.perf_counter() - t_start
        log.info("%s: %d frames, %d clips, timings %s", video, run.n_frames, len(clips), run.timings)
        del segments, clips
        if plot_path is not None:
            from .inspect import plot_file

            plot_file(out_path, plot_path)
        if overlay_path is not None:
            from .overlay import write_overlay

            write_overlay(video, out_path, overlay_path, run, placements, start_s=cfg.video.start_s,
                          end_s=None if cfg.video.end_s < 0 else cfg.video.end_s)
    return Path(out_path)
