"""One track → lifted, placed 3-D points → :class:`~imusynth.core.motion.Motion` (stages 3-4 per person).

A track is read back from the run's frame store, lifted frame by frame (:mod:`imusynth.video.lift`),
split at shot cuts and gaps into :class:`PersonSegment` records, rotated into the world frame with
the camera's rotation, and turned into a Motion.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imusynth.core.cleaning import running_median
from imusynth.core.conventions import matrix_from_quat, quat_continuous, quat_from_matrix
from imusynth.core.kinematics import lowpass, runs
from imusynth.core.motion import Motion
from imusynth.core.skeletons import MEDIAPIPE_33
from imusynth.video.camera import camera_to_world_points, refine_up
from imusynth.video.lift import leg_length_outliers, smooth_depth
from imusynth.video.lift.lifters import Lifter, LifterInput, MediaPipeLifter
from imusynth.video.lift.pnp_batch import lift_frames
from imusynth.video.pose.cleaning import (
    LIMB_GROUPS,
    apply_swaps,
    hampel_outliers,
    identity_swaps,
    swap_in_camera,
)
from imusynth.video.pose.tracking import Track
from imusynth.video.stream import VideoRun

log = logging.getLogger(__name__)


_HIPS = [MEDIAPIPE_33.index("left_hip"), MEDIAPIPE_33.index("right_hip")]
_SHOULDERS = [MEDIAPIPE_33.index("left_shoulder"), MEDIAPIPE_33.index("right_shoulder")]


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
    return running_median(h, min(15, max(1, len(h))))


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
        Where the labels of the torso, leg and arm pairs (:data:`imusynth.video.pose.cleaning.LIMB_GROUPS`)
        were exchanged; apply the same to the image landmarks and visibilities with
        :func:`imusynth.video.pose.cleaning.apply_swaps`.
    outliers : ndarray, shape (T, 3), bool
        Where a group's landmarks fit neither labelling (to be treated as missing).
    """

    world: NDArray[np.float32]
    rot: NDArray[np.float64]
    trans: NDArray[np.float64]
    ok: NDArray[np.bool_]
    swaps: NDArray[np.bool_]
    outliers: NDArray[np.bool_]


def lift_track(track: Track, K: NDArray[np.float64], *, min_visibility: float, lifter: Lifter | None = None,
               image_size: tuple[int, int] = (0, 0)) -> LiftedTrack:
    """Lift each detection of ``track``, place it in the camera frame (PnP), with left/right identities fixed.

    The body's shape comes from ``lifter`` (default :class:`~imusynth.video.lift.lifters.MediaPipeLifter`:
    MediaPipe's world landmarks). The left/right labels that
    :func:`imusynth.video.pose.cleaning.identity_swaps` finds exchanged are corrected either before lifting
    (a lifter with ``corrected_labels``: it lifts the corrected 2-D keypoints) or, for MediaPipe, after the
    placement: each detection is solved as the model gave it (its 2-D and 3-D labels agree with each other),
    then the exchanged groups are swapped in the camera frame (each landmark keeps its depth and takes its
    partner's image ray: :func:`imusynth.video.pose.cleaning.swap_in_camera`) and brought back into the body
    frame. ``image_size`` (width, height, px) is passed to the lifter.
    """
    lifter = lifter if lifter is not None else MediaPipeLifter()
    n = len(track.time)
    fix = identity_swaps(track.time, track.image_xy, track.world_xyz, scale_px=track_scale_px(track))
    first = lifter.corrected_labels
    inp = LifterInput.from_track(track, image_size=image_size, K=K, swaps=fix.swaps if first else None)
    body = np.asarray(lifter.lift(inp), dtype=np.float64)
    if body.shape != (n, 33, 3):
        raise ValueError(f"lifter {lifter.name} returned shape {body.shape}, expected ({n}, 33, 3)")
    image_xy = inp.image_xy
    visibility = apply_swaps(track.visibility, fix.swaps) if first else track.visibility
    # detections measure pixels from the pixel corner; the intrinsics put pixel centres on integers. All
    # frames at once: lift_frame in sequence, each frame's prev the last one placed (pnp_batch)
    placed = lift_frames(body, image_xy - 0.5, visibility, K, min_weight=min_visibility)
    rot, trans, ok = placed.R, placed.t, placed.ok
    world = body
    rows = ok & fix.swaps.any(axis=1)
    if rows.any() and not first:
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
    (:func:`imusynth.video.lift.smooth_depth` for the translation, which joins runs across gaps of at most
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
                    max_gap_s: float = 0.2, leg_length_tolerance: float = 0.15,
                    lifter: Lifter | None = None) -> list[PersonSegment]:
    """Split a track at shot cuts and place it in the z-up world frame (camera rotation removed).

    The body's shape comes from ``lifter`` (default: MediaPipe's world landmarks; see :func:`lift_track`).
    Frames whose skeleton has implausible legs (:func:`imusynth.video.lift.leg_length_outliers`,
    ``leg_length_tolerance``; MediaPipe's world landmarks as the model labelled them, or another lifter's
    body) count as not lifted; the depth is smoothed across gaps of at most ``max_gap_s`` s (the
    kinematics stage's ``max_gap_s``, which bridges them).
    """
    lt = lift_track(track, run.K, min_visibility=min_visibility, lifter=lifter,
                    image_size=(run.width, run.height))
    gated = lt.world if lifter is not None and lifter.corrected_labels else track.world_xyz
    lt.ok &= ~leg_length_outliers(gated, tolerance=leg_length_tolerance)   # collapsed skeletons
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
    jumps that :func:`imusynth.video.pose.cleaning.hampel_outliers` finds set to 0 (they become gaps). This is
    how the pipeline makes a video clip's motion, so sensors for other placements, rates or cut-offs can
    be recomputed from a file without running the pose model again (``read_clips(..., with_pose=True)``,
    then :func:`imusynth.io.motion_job.sensors_for_motion`).

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


