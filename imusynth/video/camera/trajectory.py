"""What stage 4 hands on: the per-frame :class:`CameraStep` and the stacked :class:`CameraTrajectory`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from imusynth.core.conventions import quat_continuous, quat_from_matrix
from imusynth.video.camera.geometry import CameraError

__all__ = ["CameraStep", "CameraTrajectory"]


@dataclass(frozen=True)
class CameraStep:
    """What the camera did between the previous frame and this one.

    Attributes
    ----------
    index : int
        Frame index (0 for the first frame given to the estimator).
    time_s : float, s
        Timestamp of the frame.
    R_rel : ndarray, shape (3, 3)
        Previous camera from current camera (identity on the first frame of a shot).
    q_rel : ndarray, shape (4,)
        ``R_rel`` as a quaternion (w, x, y, z), ``w >= 0`` (computed when asked for).
    R_world_from_camera : ndarray, shape (3, 3)
        Accumulated orientation in the z-up world frame (level camera at the start of the shot).
    q_world_from_camera : ndarray, shape (4,)
        The same as a quaternion (w, x, y, z), ``w >= 0`` (computed when asked for).
    angular_velocity : ndarray, shape (3,), rad/s
        Camera angular velocity in the current camera frame, ``rotvec(R_rel) / dt``; zeros on the
        first frame of a shot.
    n_tracked : int
        Background features tracked from the previous frame (after the forward-backward check).
    n_inliers : int
        Features consistent with the estimated rotation.
    reliable : bool
        The relative rotation was measured from at least ``min_inliers`` inliers making at least
        ``min_inlier_fraction`` of the tracked features, or the frame starts a shot (its orientation
        is the reference by definition), or the estimator is in static mode. When False the step
        repeats the last reliable relative rotation (constant angular velocity) for at most
        ``max_hold_frames`` frames, then the identity.
    shot_cut : bool
        This frame is the first frame of a new shot (never True on frame 0).
    segment : int
        Shot number, 0 for the first shot; incremented at each cut.
    hist_distance : float
        Bhattacharyya distance in [0, 1] between this frame's colour histogram and the previous one.
    """

    index: int
    time_s: float
    R_rel: NDArray[np.float64]
    R_world_from_camera: NDArray[np.float64]
    angular_velocity: NDArray[np.float64]
    n_tracked: int
    n_inliers: int
    reliable: bool
    shot_cut: bool
    segment: int
    hist_distance: float

    # the quaternions are derived on demand: the streaming job stores the matrices only, and a
    # quaternion of one matrix costs more than the rest of the step's bookkeeping
    @property
    def q_rel(self) -> NDArray[np.float64]:
        return quat_from_matrix(self.R_rel)

    @property
    def q_world_from_camera(self) -> NDArray[np.float64]:
        return quat_from_matrix(self.R_world_from_camera)


@dataclass(frozen=True)
class CameraTrajectory:
    """Camera steps of a whole video stacked into arrays (small: 100 bytes per frame).

    Attributes
    ----------
    time : ndarray, shape (T,), s
    R_world_from_camera : ndarray, shape (T, 3, 3)
    q_world_from_camera : ndarray, shape (T, 4)
        (w, x, y, z), sign-continuous within each segment.
    angular_velocity : ndarray, shape (T, 3), rad/s, camera frame
    n_inliers : ndarray, shape (T,), int
    reliable : ndarray, shape (T,), bool
    shot_cut : ndarray, shape (T,), bool
    segment : ndarray, shape (T,), int
    """

    time: NDArray[np.float64]
    R_world_from_camera: NDArray[np.float64]
    q_world_from_camera: NDArray[np.float64]
    angular_velocity: NDArray[np.float64]
    n_inliers: NDArray[np.int64]
    reliable: NDArray[np.bool_]
    shot_cut: NDArray[np.bool_]
    segment: NDArray[np.int64]

    @classmethod
    def from_steps(cls, steps: Sequence[CameraStep]) -> CameraTrajectory:
        """Stack the steps returned by :meth:`CameraMotionEstimator.update`."""
        if len(steps) == 0:
            raise CameraError("no camera steps to stack (the video had no frames)")
        segment = np.array([s.segment for s in steps], dtype=np.int64)
        R = np.array([s.R_world_from_camera for s in steps])
        q = quat_from_matrix(R)
        for k in np.unique(segment):
            sel = segment == k
            q[sel] = quat_continuous(q[sel])
        return cls(
            time=np.array([s.time_s for s in steps], dtype=np.float64),
            R_world_from_camera=R,
            q_world_from_camera=q,
            angular_velocity=np.array([s.angular_velocity for s in steps]),
            n_inliers=np.array([s.n_inliers for s in steps], dtype=np.int64),
            reliable=np.array([s.reliable for s in steps], dtype=bool),
            shot_cut=np.array([s.shot_cut for s in steps], dtype=bool),
            segment=segment,
        )

    def segment_slices(self) -> list[slice]:
        """Index ranges of the shots, in order (the pipeline processes each as a separate clip)."""
        starts = [0, *np.flatnonzero(np.diff(self.segment) != 0) + 1]
        ends = [*starts[1:], len(self.segment)]
        return [slice(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]
