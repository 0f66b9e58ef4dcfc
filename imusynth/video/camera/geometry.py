"""Camera geometry: pinhole intrinsics, the level-camera world reference, rotations, gravity.

Frames and rotation conventions are those of :mod:`imusynth.video.camera`: camera x right, y down,
z forward (OpenCV), pixel centres at integer coordinates; world z up. Nothing here keeps state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.core.conventions import UP_AXIS_TO_Z_UP
from imusynth.errors import InputError

__all__ = [
    "DEFAULT_HFOV_DEG",
    "R_WORLD_FROM_LEVEL_CAMERA",
    "CameraError",
    "CameraIntrinsics",
    "camera_to_world_points",
    "kabsch_rotation",
    "refine_up",
]

#: Horizontal field of view assumed when the camera is unknown, degrees: a phone main camera
#: (about 26 mm full-frame equivalent, ~67 deg across a 4:3 sensor) recording 16:9 video with the
#: small crop of electronic stabilisation. See ``docs/camera.md``.
DEFAULT_HFOV_DEG: float = 60.0

#: Rotation taking a level camera's vectors (x right, y down, z forward) into the z-up world frame:
#: ``(x, y, z) -> (x, z, -y)``.
R_WORLD_FROM_LEVEL_CAMERA: NDArray[np.float64] = UP_AXIS_TO_Z_UP["-y"].copy()


class CameraError(InputError, ValueError):
    """Bad input to the camera stage: image size, timestamps, boxes or masks, array shapes."""


# --------------------------------------------------------------------------------------------------
# Intrinsics
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole camera (no lens distortion) in pixels.

    Attributes
    ----------
    fx, fy : float, px
        Focal lengths.
    cx, cy : float, px
        Principal point, with pixel centres at integer coordinates (the image centre is
        ``((width - 1) / 2, (height - 1) / 2)``).
    width, height : int, px
        Image size the intrinsics refer to.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(np.isfinite(v) for v in values) or self.fx <= 0 or self.fy <= 0:
            raise CameraError(f"camera intrinsics must be finite with fx, fy > 0, got {values}")
        size = (self.width, self.height)
        if any(int(v) != v or v < 8 for v in size):
            raise CameraError(f"image size must be integers >= 8 px, got {self.width}x{self.height}")

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float = DEFAULT_HFOV_DEG) -> CameraIntrinsics:
        """Square-pixel intrinsics from the horizontal field of view, principal point at the image centre.

        Parameters
        ----------
        width, height : int, px
            Image size.
        fov_deg : float, deg
            Horizontal field of view, in (0, 180). ``fx = fy = (width / 2) / tan(fov / 2)``.
        """
        if not np.isfinite(fov_deg) or not 0.0 < fov_deg < 180.0:
            raise CameraError(f"horizontal field of view must be in (0, 180) deg, got {fov_deg}")
        f = (width / 2.0) / float(np.tan(np.radians(fov_deg) / 2.0))
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, int(width), int(height))

    @property
    def K(self) -> NDArray[np.float64]:
        """Camera matrix, shape (3, 3), px."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def hfov_deg(self) -> float:
        """Horizontal field of view, deg."""
        return float(np.degrees(2.0 * np.arctan(self.width / (2.0 * self.fx))))

    def mapped(self, ax: float, bx: float, ay: float, by: float, width: int, height: int) -> CameraIntrinsics:
        """Intrinsics of an image whose pixel coordinates are ``x' = ax x + bx``, ``y' = ay y + by``.

        With pixel centres at integer coordinates, a resize by a factor ``s`` is ``a = s``,
        ``b = (s - 1) / 2``, and a pyramid halving (:func:`cv2.pyrDown`) is ``a = 0.5``, ``b = 0``.
        """
        return CameraIntrinsics(
            self.fx * ax, self.fy * ay, self.cx * ax + bx, self.cy * ay + by, int(width), int(height)
        )


# --------------------------------------------------------------------------------------------------
# Rotations
# --------------------------------------------------------------------------------------------------


def kabsch_rotation(
    a: ArrayLike, b: ArrayLike, weights: ArrayLike | None = None
) -> NDArray[np.float64]:
    """The rotation ``R`` minimising ``sum_i w_i |b_i - R a_i|^2`` (Kabsch / orthogonal Procrustes).

    Parameters
    ----------
    a, b : array_like, shape (N, 3)
        Corresponding vectors (here unit bearings), N >= 2 and not all parallel.
    weights : array_like, shape (N,), optional
        Non-negative weights; uniform when omitted.

    Returns
    -------
    ndarray, shape (3, 3)
        A proper rotation (determinant +1).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    bw = b if weights is None else b * np.asarray(weights, dtype=np.float64)[:, None]
    M = np.einsum("ni,nj->ij", bw, a)  # sum_i w_i b_i a_i^T (einsum: no BLAS threads)
    U, _, Vt = np.linalg.svd(M)
    R = U @ Vt
    # a reflection (det -1): flip the axis of the smallest singular value
    (r00, r01, r02), (r10, r11, r12), (r20, r21, r22) = R.tolist()
    if r00 * (r11 * r22 - r12 * r21) - r01 * (r10 * r22 - r12 * r20) + r02 * (r10 * r21 - r11 * r20) < 0:
        U[:, 2] = -U[:, 2]
        R = U @ Vt
    return R


# --------------------------------------------------------------------------------------------------
# Gravity and frames
# --------------------------------------------------------------------------------------------------


def refine_up(
    camera_from_world_rotations: ArrayLike,
    body_up_vectors_in_camera: ArrayLike,
    *,
    min_samples: int = 10,
) -> NDArray[np.float64]:
    """World tilt that makes the body's median up-vector vertical.

    The level-camera assumption at the start of a shot is wrong by the camera's real initial tilt
    and roll, a constant rotation on the world side. If the person is upright on average (standing,
    walking, running), the median of their up-vector (e.g. pelvis -> neck) expressed in the world
    frame should be +z; this returns the smallest rotation (about a horizontal axis, no change of
    heading) that makes it so.

    Parameters
    ----------
    camera_from_world_rotations : array_like, shape (T, 3, 3)
        ``R_camera_from_world`` per frame (the transpose of ``CameraStep.R_world_from_camera``).
    body_up_vectors_in_camera : array_like, shape (T, 3)
        The body's up direction per frame in camera coordinates (any length; NaN rows are skipped).
    min_samples : int
        Fewest finite, non-zero vectors needed; with fewer, the identity is returned (no refinement).

    Returns
    -------
    ndarray, shape (3, 3)
        ``R_up`` to apply on the world side: ``R_world_from_camera_refined = R_up @ R_world_from_camera``.
    """
    R_cw = np.asarray(camera_from_world_rotations, dtype=np.float64)
    up_c = np.asarray(body_up_vectors_in_camera, dtype=np.float64)
    if R_cw.ndim != 3 or R_cw.shape[1:] != (3, 3):
        raise CameraError(f"camera_from_world_rotations must have shape (T, 3, 3), got {R_cw.shape}")
    if up_c.shape != (R_cw.shape[0], 3):
        raise CameraError(f"body_up_vectors_in_camera must have shape ({R_cw.shape[0]}, 3), got {up_c.shape}")
    up_w = np.einsum("tji,tj->ti", R_cw, up_c)  # R_world_from_camera @ up_c
    norm = np.linalg.norm(up_w, axis=1)
    ok = np.isfinite(norm) & (norm > 0)
    if ok.sum() < min_samples:
        return np.eye(3)
    u = up_w[ok] / norm[ok, None]
    m = np.median(u, axis=0)
    if np.linalg.norm(m) < 1e-9:
        return np.eye(3)
    m = m / np.linalg.norm(m)
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(m, z)
    s = np.linalg.norm(axis)
    c = float(np.dot(m, z))
    if s < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    k = axis / s
    Kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + s * Kx + (1.0 - c) * (Kx @ Kx)


def camera_to_world_points(points_cam: ArrayLike, R_world_from_cam: ArrayLike) -> NDArray[np.float64]:
    """Rotate camera-frame points into the z-up world frame (camera centre at the world origin).

    Parameters
    ----------
    points_cam : array_like, shape (T, P, 3), m
        Points in the OpenCV camera frame (x right, y down, z forward); NaN propagates.
    R_world_from_cam : array_like, shape (T, 3, 3) or (3, 3)
        Camera orientation per frame (e.g. ``CameraTrajectory.R_world_from_camera``), or one for all.

    Returns
    -------
    ndarray, shape (T, P, 3), m
        ``R_world_from_cam[t] @ points_cam[t, p]``.
    """
    p = np.asarray(points_cam, dtype=np.float64)
    R = np.asarray(R_world_from_cam, dtype=np.float64)
    if p.ndim != 3 or p.shape[2] != 3:
        raise CameraError(f"points_cam must have shape (T, P, 3), got {p.shape}")
    if R.shape == (3, 3):
        return p @ R.T
    if R.shape != (p.shape[0], 3, 3):
        raise CameraError(f"R_world_from_cam must have shape ({p.shape[0]}, 3, 3) or (3, 3), got {R.shape}")
    return np.einsum("tij,tpj->tpi", R, p)
