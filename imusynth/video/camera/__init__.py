"""Stage 4: camera rotation from background optical flow, shot cuts, and the gravity direction.

A hand-held or tripod camera that pans, tilts or rolls makes a still body appear to move. This
stage measures the camera's rotation frame by frame from the background (everything outside the
people) so that body points measured in the camera frame can be expressed in a world frame with
gravity along -z. The camera is modelled as rotating about its optical centre; its translation is
ignored (see ``docs/camera.md`` for the limits of that model).

Frames
------
camera
    OpenCV convention: x right, y down, z forward (along the optical axis); pixel centres at integer
    coordinates.
world
    The internal z-up frame of :mod:`imusynth.core.conventions`. At the first frame of every shot the
    camera is assumed level and looking horizontally: camera x = world x, camera z = world y,
    camera y = world -z (:data:`R_WORLD_FROM_LEVEL_CAMERA`). :func:`refine_up` can later correct the
    tilt of that assumption from the body's long-run vertical.

Rotations
---------
``R_world_from_camera(t)`` takes camera-frame vectors at frame ``t`` into the world frame; the
relative rotation of a step is ``R_rel(t) = R_world_from_camera(t-1)^T R_world_from_camera(t)``
(previous camera from current camera), so that ``R_world_from_camera(t) = R_world_from_camera(t-1)
R_rel(t)`` and the camera's angular velocity in its own frame is ``rotvec(R_rel) / dt``. For a pure
rotation a background pixel moves as ``x_t ~ K R_rel^T K^-1 x_{t-1}``.

Algorithm (per frame, bounded memory: the previous working grey image, its features and histogram)
---------------------------------------------------------------------------------------------------
1. Grey image downscaled to ``work_width`` pixels (pyramid halving, then a linear resize), the
   intrinsics mapped exactly to the working image.
2. Background features: Shi-Tomasi corners outside the (dilated) person boxes or masks, tracked by
   pyramidal Lucas-Kanade with a forward-backward check, from where the last measured rotation
   moves them (1 pyramid level; the full pyramid when nothing is known or that fails); new corners
   are added when too few remain.
3. Rotation by RANSAC over minimal 2-point hypotheses on unit bearing vectors, scored by a truncated
   (MSAC) reprojection error in pixels, then refined by weighted Kabsch (SVD) on the inliers.
4. Shot cuts from the colour-histogram distance between consecutive frames together with the
   collapse of the tracked features; the accumulated rotation restarts at a cut.

Modules
-------
:mod:`~imusynth.video.camera.geometry`
    Intrinsics, the level-camera reference, Kabsch rotation, :func:`refine_up` (gravity) and
    :func:`camera_to_world_points`.
:mod:`~imusynth.video.camera.rotation`
    The robust two-view rotation: 2-point RANSAC on bearings, MSAC score, Kabsch refinement.
:mod:`~imusynth.video.camera.trajectory`
    The per-frame record :class:`CameraStep` and the stacked :class:`CameraTrajectory`.
:mod:`~imusynth.video.camera.estimator`
    :class:`CameraMotionEstimator`: background flow, rotation per frame, shot cuts (streaming).

The public names below import from ``imusynth.video.camera`` as before.
"""

from __future__ import annotations

from imusynth.video.camera.estimator import CameraMotionEstimator
from imusynth.video.camera.geometry import (
    DEFAULT_HFOV_DEG,
    R_WORLD_FROM_LEVEL_CAMERA,
    CameraError,
    CameraIntrinsics,
    camera_to_world_points,
    kabsch_rotation,
    refine_up,
)
from imusynth.video.camera.rotation import estimate_rotation
from imusynth.video.camera.trajectory import CameraStep, CameraTrajectory

__all__ = [
    "DEFAULT_HFOV_DEG",
    "R_WORLD_FROM_LEVEL_CAMERA",
    "CameraError",
    "CameraIntrinsics",
    "CameraMotionEstimator",
    "CameraStep",
    "CameraTrajectory",
    "camera_to_world_points",
    "estimate_rotation",
    "kabsch_rotation",
    "refine_up",
]
