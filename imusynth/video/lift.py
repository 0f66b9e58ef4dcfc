"""Stage 3: place MediaPipe's metric world landmarks in the camera frame (monocular PnP).

MediaPipe's PoseLandmarker returns, per person and frame, 33 image landmarks and 33 *world
landmarks*: metric 3-D coordinates with the origin at the centre between the hips and axes
approximately aligned with the image (x right, y down, z away from the camera), but with no
translation relative to the camera. This module solves, frame by frame, for the rigid transform
``X_cam = R @ X_world + t`` whose perspective projection best matches the 2-D landmarks, and then
smooths the translation's depth, the least observable part of a monocular solve.

Frames
------
*camera frame* (the output): OpenCV convention, metres, origin at the optical centre, x right,
y down, z forward along the optical axis. Image coordinates are pixels in the convention of the
camera matrix ``K`` that is passed in: with :class:`imusynth.video.camera.CameraIntrinsics` pixel centres
sit at integer coordinates, so landmarks measured from the top-left pixel *corner*
(:class:`imusynth.video.pose.detection.PoseDetection`) are shifted by -0.5 px first (a half-pixel
mismatch would move a body 4 m away by 2 mm sideways: harmless, but easy to avoid).

See ``docs/lifting.md`` for the method, the default field of view and the failure modes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.core.kinematics import lowpass, sections_padlen
from imusynth.core.skeletons import MEDIAPIPE_33
from imusynth.errors import InputError

__all__ = [
    "DEFAULT_DEPTH_CUTOFF_HZ",
    "N_LANDMARKS",
    "LiftError",
    "LiftedFrame",
    "body_trajectory",
    "leg_length_outliers",
    "lift_frame",
    "smooth_depth",
    "stack_frames",
    "standing_pose",
]

#: Number of MediaPipe pose landmarks.
N_LANDMARKS = len(MEDIAPIPE_33)

#: Default low-pass cut-off of the translation's depth, Hz (see docs/lifting.md).
DEFAULT_DEPTH_CUTOFF_HZ = 1.0

#: Default tolerance of :func:`leg_length_outliers`, as a fraction of the track's median leg length.
DEFAULT_LEG_LENGTH_TOLERANCE = 0.15

#: The four leg segments (hip-knee, knee-ankle, both sides) as MediaPipe landmark index pairs.
_LEG_SEGMENTS = tuple(
    (MEDIAPIPE_33.index(f"{side}_{a}"), MEDIAPIPE_33.index(f"{side}_{b}"))
    for side in ("left", "right") for a, b in (("hip", "knee"), ("knee", "ankle"))
)

#: Fewest landmarks a solve accepts (6 unknowns, 2 equations per landmark: 6 leaves redundancy).
MIN_LANDMARKS = 6


class LiftError(InputError, ValueError):
    """Arrays given to the lifting stage have the wrong shape or impossible values."""


@dataclass(frozen=True)
class LiftedFrame:
    """One person in one frame, placed in the camera frame.

    Attributes
    ----------
    points : ndarray, shape (33, 3), float64, m
        Landmarks in the camera frame (OpenCV: x right, y down, z forward): ``R @ X_world + t``.
        All NaN when ``ok`` is False; a landmark whose world coordinates were NaN stays NaN.
    R : ndarray, shape (3, 3), float64
        Rotation from MediaPipe's hip-centred world frame into the camera frame (proper rotation).
        NaN when ``ok`` is False.
    t : ndarray, shape (3,), float64, m
        Position of the world frame's origin (mid-hip) in the camera frame. NaN when ``ok`` is False.
    rms_px : float, px
        Root-mean-square reprojection error over the landmarks used (unweighted). NaN when no solve ran.
    ok : bool
        True when the solve succeeded; False (never an exception) for too few landmarks or a
        degenerate or inconsistent solve.
    n_used : int
        Number of landmarks that took part in the solve.
    reason : str
        Empty when ``ok``; otherwise one line saying why the frame failed.
    """

    points: NDArray[np.float64]
    R: NDArray[np.float64]
    t: NDArray[np.float64]
    rms_px: float
    ok: bool
    n_used: int
    reason: str = ""


def standing_pose() -> NDArray[np.float64]:
    """A plausible 33-landmark standing pose in MediaPipe's world-landmark convention.

    The body (about 1.7 m tall) faces the camera with the arms hanging slightly away from the
    trunk; the origin is the centre between the hips, x points to the image right (the subject's
    left), y down and z away from the camera, in metres. Meant for tests, benchmarks and examples.

    Returns
    -------
    ndarray, shape (33, 3), float64, m
        Landmarks in :data:`imusynth.core.skeletons.MEDIAPIPE_33` order.
    """
    # (x, y, z) of the subject's left side; the right side mirrors x
    left = {
        "eye_inner": (0.015, -0.665, -0.085), "eye": (0.035, -0.665, -0.080),
        "eye_outer": (0.050, -0.665, -0.070),
        "ear": (0.075, -0.645, 0.000), "mouth": (0.025, -0.600, -0.080), "shoulder": (0.190, -0.500, 0.000),
        "elbow": (0.230, -0.230, 0.030), "wrist": (0.250, 0.020, -0.020), "pinky": (0.260, 0.100, -0.020),
        "index": (0.250, 0.110, -0.050), "thumb": (0.230, 0.070, -0.060), "hip": (0.100, 0.000, 0.000),
        "knee": (0.110, 0.430, -0.030), "ankle": (0.110, 0.850, 0.020), "heel": (0.110, 0.890, 0.070),
        "foot_index": (0.130, 0.910, -0.130),
    }
    out = np.empty((N_LANDMARKS, 3))
    for i, name in enumerate(MEDIAPIPE_33):
        if name == "nose":
            out[i] = (0.0, -0.630, -0.110)
            continue
        if name.startswith("mouth_"):
            side, part = name.split("_")[1], "mouth"
        else:
            side, part = name.split("_", 1)
        x, y, z = left[part]
        out[i] = (x if side == "left" else -x, y, z)
    return out


# --------------------------------------------------------------------------------------------------
# per-frame PnP
# --------------------------------------------------------------------------------------------------


#: (R, t, final cost, normal matrix J^T W J) of one Levenberg-Marquardt run
_Solution = tuple[NDArray[np.float64], NDArray[np.float64], float, NDArray[np.float64]]


def _huber_cost(err: NDArray[np.float64], w: NDArray[np.float64], k: float) -> float:
    """Weighted Huber cost of per-landmark reprojection distances ``err`` (n,), px."""
    rho = np.where(err <= k, 0.5 * err * err, k * err - 0.5 * k * k)
    return float(w @ rho)


def _project(K: NDArray[np.float64], Xc: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pixel coordinates (n, 2) of camera-frame points (n, 3)."""
    x = Xc[:, 0] / Xc[:, 2]
    y = Xc[:, 1] / Xc[:, 2]
    return np.stack([K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2]], axis=1)


def _refine(
    Xw: NDArray[np.float64],
    uv: NDArray[np.float64],
    w: NDArray[np.float64],
    K: NDArray[np.float64],
    R: NDArray[np.float64],
    t: NDArray[np.float64],
    *,
    huber_px: float,
    max_iter: int,
    min_depth_m: float,
) -> _Solution:
    """Weighted, Huber-robust Levenberg-Marquardt over (R, t); returns R, t, cost and the normal matrix.

    The rotation is updated on the left, ``R <- exp(hat(dw)) R``, so the camera-frame point
    ``P = R X`` moves by ``dw x P``; the translation adds. Steps that would put a landmark closer
    than ``min_depth_m`` to the camera plane (or behind it) are refused like any uphill step.
    """
    fx, s, fy, cx, cy = K[0, 0], K[0, 1], K[1, 1], K[0, 2], K[1, 2]
    n = len(Xw)
    XwT = np.ascontiguousarray(Xw.T)  # (3, n): rows are contiguous, which keeps the loop cheap
    u_obs, v_obs = uv[:, 0].copy(), uv[:, 1].copy()

    def residuals(Pc: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Camera-frame points (3, n) -> residuals (2, n), px, and per-landmark distances (n,)."""
        iz = 1.0 / Pc[2]
        res = np.empty((2, n))
        res[0] = (fx * Pc[0] + s * Pc[1]) * iz + cx - u_obs
        res[1] = fy * Pc[1] * iz + cy - v_obs
        return res, np.sqrt(res[0] * res[0] + res[1] * res[1])

    lam = 1e-3
    Xc = R @ XwT + t[:, None]
    r, err = residuals(Xc)
    cost = _huber_cost(err, w, huber_px)
    A = np.zeros((6, 6))
    JT = np.zeros((6, 2, n))  # transposed Jacobian: parameter, (u, v), landmark
    for _ in range(max_iter):
        # IRLS weights of the Huber loss at the current residuals
        omega = w * np.minimum(1.0, huber_px / np.maximum(err, 1e-12))
        P0, P1, P2 = Xc[0] - t[0], Xc[1] - t[1], Xc[2] - t[2]
        iz = 1.0 / Xc[2]
        # gradient rows of u and v with respect to Xc; the rotation columns are P x row
        gu0, gu1, gu2 = fx * iz, s * iz, -(fx * Xc[0] + s * Xc[1]) * iz * iz
        gv1, gv2 = fy * iz, -fy * Xc[1] * iz * iz
        JT[0, 0] = P1 * gu2 - P2 * gu1
        JT[1, 0] = P2 * gu0 - P0 * gu2
        JT[2, 0] = P0 * gu1 - P1 * gu0
        JT[3, 0], JT[4, 0], JT[5, 0] = gu0, gu1, gu2
        JT[0, 1] = P1 * gv2 - P2 * gv1
        JT[1, 1] = -P0 * gv2
        JT[2, 1] = P0 * gv1
        JT[4, 1], JT[5, 1] = gv1, gv2
        Jw = JT * omega
        A = Jw.reshape(6, 2 * n) @ JT.reshape(6, 2 * n).T
        g = Jw.reshape(6, 2 * n) @ r.reshape(2 * n)
        damp = np.maximum(A.diagonal(), 1e-12)
        accepted = False
        while lam < 1e12:
            A_damped = A.copy()
            A_damped[np.diag_indices(6)] += lam * damp
            try:
                step = np.linalg.solve(A_damped, -g)
            except np.linalg.LinAlgError:
                lam *= 10.0
                continue
            R_new = cv2.Rodrigues(step[:3])[0] @ R
            t_new = t + step[3:]
            Xc_new = R_new @ XwT + t_new[:, None]
            if Xc_new[2].min() > min_depth_m:
                r_new, err_new = residuals(Xc_new)
                cost_new = _huber_cost(err_new, w, huber_px)
                if cost_new <= cost:
                    accepted = True
                    break
            lam *= 10.0
        if not accepted:
            break
        # converged when the step moved the body by under 10 micrometres (rotation scaled by the
        # depth): near the minimum the next step is far smaller still (Gauss-Newton converges
        # quadratically for small residuals), or when the cost no longer drops by a relevant fraction
        moved = max(float(np.abs(step[:3]).max()) * abs(float(t[2])), float(np.abs(step[3:]).max()))
        small = moved < 1e-5 or cost - cost_new <= 1e-10 * cost
        R, t, Xc, r, err, cost = R_new, t_new, Xc_new, r_new, err_new, cost_new
        lam = max(lam / 10.0, 1e-9)
        if small or cost == 0.0:
            break
    return R, t, cost, A


def _check_inputs(
    world_xyz: ArrayLike, image_xy: ArrayLike, weights: ArrayLike, K: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    Xw = np.asarray(world_xyz, dtype=np.float64)
    uv = np.asarray(image_xy, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    Km = np.asarray(K, dtype=np.float64)
    n = Xw.shape[0] if Xw.ndim == 2 else -1
    if Xw.ndim != 2 or Xw.shape[1] != 3:
        raise LiftError(f"world_xyz must have shape (N, 3) in metres, got {Xw.shape}")
    if uv.shape != (n, 2):
        raise LiftError(f"image_xy must have shape ({n}, 2) in pixels, got {uv.shape}")
    if w.shape != (n,):
        raise LiftError(f"weights must have shape ({n},), got {w.shape}")
    if Km.shape != (3, 3) or not np.all(np.isfinite(Km)):
        raise LiftError(f"K must be a finite (3, 3) camera matrix, got shape {Km.shape}")
    if not (Km[0, 0] > 0 and Km[1, 1] > 0 and Km[1, 0] == 0 and np.array_equal(Km[2], [0.0, 0.0, 1.0])):
        raise LiftError("K must be upper-triangular [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0")
    return Xw, uv, w, Km


def _failed(n: int, reason: str, *, n_used: int = 0, rms_px: float = math.nan) -> LiftedFrame:
    return LiftedFrame(
        points=np.full((n, 3), np.nan),
        R=np.full((3, 3), np.nan),
        t=np.full(3, np.nan),
        rms_px=rms_px,
        ok=False,
        n_used=n_used,
        reason=reason,
    )


def _rms(K: NDArray[np.float64], Xw: NDArray[np.float64], uv: NDArray[np.float64], sol: _Solution) -> float:
    """Unweighted reprojection RMS, px, of a solution over the used landmarks."""
    res = _project(K, Xw @ sol[0].T + sol[1]) - uv
    return float(np.sqrt(np.mean(np.sum(res * res, axis=1))))


def _finish(
    Xw_all: NDArray[np.float64],
    Xw: NDArray[np.float64],
    uv: NDArray[np.float64],
    K: NDArray[np.float64],
    sol: _Solution,
    *,
    n_used: int,
    spread_px: float,
    max_rel_rms: float,
) -> LiftedFrame:
    """Check a converged solution (rank, residual) and build the frame's result."""
    n = Xw_all.shape[0]
    R, t, _, A = sol
    # rank of the normal matrix, scaled so rotation (rad) and translation (m) compare
    d = np.sqrt(np.maximum(np.diag(A), 1e-300))
    eig = np.linalg.eigvalsh(A / np.outer(d, d))
    if not (np.all(np.isfinite(eig)) and eig[0] > 1e-9 * eig[-1]):
        return _failed(n, "degenerate solve (pose not determined by the landmarks)", n_used=n_used)
    rms = _rms(K, Xw, uv, sol)
    if not np.isfinite(rms) or rms > max_rel_rms * spread_px:
        return _failed(
            n,
            f"reprojection RMS {rms:.3g} px exceeds {max_rel_rms:g} x landmark spread {spread_px:.3g} px",
            n_used=n_used,
            rms_px=rms,
        )
    return LiftedFrame(points=Xw_all @ R.T + t, R=R, t=t, rms_px=rms, ok=True, n_used=n_used)


def _weak_perspective_start(
    Xw: NDArray[np.float64], uv: NDArray[np.float64], K: NDArray[np.float64], *, min_depth_m: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fallback start ``(R, t)`` when neither the previous frame nor SQPnP gives one in front of the camera.

    MediaPipe's world axes are roughly camera-aligned, so ``R = I``; the body's centroid goes on the
    ray of the image centroid, at the depth where its lateral spread matches the image spread.
    """
    c = Xw.mean(axis=0)
    lateral_m = math.sqrt(float(np.mean(np.sum((Xw[:, :2] - c[:2]) ** 2, axis=1))))
    image_px = math.sqrt(float(np.mean(np.sum((uv - uv.mean(axis=0)) ** 2, axis=1))))
    f = 0.5 * (K[0, 0] + K[1, 1])
    depth = f * lateral_m / max(image_px, 1e-9)
    depth = max(depth, min_depth_m + float(np.max(c[2] - Xw[:, 2])) + 1e-3)
    ray = np.linalg.solve(K, np.array([*uv.mean(axis=0), 1.0]))
    return np.eye(3), depth * ray - c


def lift_frame(
    world_xyz: ArrayLike,
    image_xy: ArrayLike,
    weights: ArrayLike,
    K: ArrayLike,
    *,
    prev: LiftedFrame | None = None,
    min_weight: float = 0.5,
    huber_px: float = 10.0,
    max_rel_rms: float = 0.2,
    max_iter: int = 30,
    min_depth_m: float = 0.1,
    max_turn_deg: float = 30.0,
) -> LiftedFrame:
    """Place one person's metric world landmarks in the camera frame.

    Solves ``min over (R, t) of sum_i w_i * huber(|pi(K (R X_i + t)) - x_i|)`` with a weighted
    Levenberg-Marquardt on SO(3) x R^3, started from OpenCV's global SQPnP solution on the same
    landmarks. For temporal stability (a distant body has near-ambiguous mirror poses), when that
    solution turned the body by more than ``max_turn_deg`` since ``prev``, the minimum reached from
    ``prev`` is also computed and kept unless the global one costs 10 % less. If neither start puts
    the body in front of the camera, a camera-aligned weak-perspective start is used.

    Parameters
    ----------
    world_xyz : array_like, shape (N, 3), m
        MediaPipe world landmarks (hip-centred, metric; N = 33 for PoseLandmarker).
    image_xy : array_like, shape (N, 2), px
        Image landmarks in the pixel convention of ``K`` (see the module notes).
    weights : array_like, shape (N,), in [0, 1]
        Per-landmark confidence (MediaPipe visibility). Landmarks below ``min_weight`` (or with a
        NaN coordinate) are left out; the others are weighted by their weight.
    K : array_like, shape (3, 3)
        Camera matrix ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``, px (e.g.
        ``imusynth.video.camera.CameraIntrinsics.from_fov(width, height, fov_deg).K``).
        Lens distortion is not modelled: undistort the 2-D landmarks first if it matters.
    prev : LiftedFrame or None
        The same person's result in the previous frame; used (when ``prev.ok``) to keep the
        tracked pose among near-ambiguous ones and as a start when SQPnP gives none.
    min_weight : float
        Landmarks with a weight below this take no part (default 0.5).
    huber_px : float
        Huber threshold on each landmark's reprojection distance, px: residuals beyond it count
        linearly, so a few mislocated landmarks do not drag the body (default 10 px).
    max_rel_rms : float
        The frame fails when the reprojection RMS exceeds this fraction of the RMS spread of the used
        image landmarks about their centroid: the 3-D body then does not explain the 2-D one
        (default 0.2).
    max_iter : int
        Levenberg-Marquardt iterations per start (default 30; a warm start needs 3-6).
    min_depth_m : float
        Every used landmark must stay at least this far in front of the camera, m (default 0.1).
    max_turn_deg : float
        Rotation since ``prev``, degrees, above which the tracked minimum is compared with the
        global one (default 30: 900 deg/s at 30 frames/s, beyond any real turn).

    Returns
    -------
    LiftedFrame
        ``ok`` False, with a ``reason``, for fewer than 6 usable landmarks, collapsed image points,
        a rank-deficient solve (e.g. collinear world landmarks) or an inconsistent fit. Never raises
        for bad data in a frame; raises :class:`LiftError` only for wrong shapes or a malformed ``K``.
    """
    Xw_all, uv_all, w_all, Km = _check_inputs(world_xyz, image_xy, weights, K)
    n = Xw_all.shape[0]
    finite = np.isfinite(Xw_all).all(axis=1) & np.isfinite(uv_all).all(axis=1) & np.isfinite(w_all)
    use = finite & (np.nan_to_num(w_all, nan=0.0) >= min_weight) & (w_all > 0)
    n_used = int(use.sum())
    if n_used < MIN_LANDMARKS:
        return _failed(n, f"{n_used} usable landmarks, at least {MIN_LANDMARKS} needed", n_used=n_used)
    Xw = Xw_all[use]
    uv = uv_all[use]
    w = np.minimum(w_all[use], 1.0)
    spread_px = float(np.sqrt(np.mean(np.sum((uv - uv.mean(axis=0)) ** 2, axis=1))))
    if spread_px < 1.0:
        return _failed(n, f"image landmarks collapsed (spread {spread_px:.2g} px)", n_used=n_used)
    centred = Xw - Xw.mean(axis=0)
    ev = np.linalg.eigvalsh(centred.T @ centred)  # squared singular values, ascending
    if ev[2] < 1e-6 * n_used or ev[1] < 1e-6 * ev[2]:
        return _failed(n, "world landmarks collapsed onto a point or a line", n_used=n_used)

    def solve(R0: NDArray[np.float64], t0: NDArray[np.float64]) -> _Solution:
        return _refine(Xw, uv, w, Km, R0, t0, huber_px=huber_px, max_iter=max_iter, min_depth_m=min_depth_m)

    def finish(sol: _Solution) -> LiftedFrame:
        return _finish(Xw_all, Xw, uv, Km, sol, n_used=n_used, spread_px=spread_px, max_rel_rms=max_rel_rms)

    tracked = prev is not None and prev.ok and np.all(np.isfinite(prev.R)) and np.all(np.isfinite(prev.t))
    best: _Solution | None = None
    try:
        found, rvec, tvec = cv2.solvePnP(
            np.ascontiguousarray(Xw), np.ascontiguousarray(uv), Km, None, flags=cv2.SOLVEPNP_SQPNP
        )
    except cv2.error:
        found = False
    if found and np.all(np.isfinite(rvec)) and np.all(np.isfinite(tvec)):
        R0 = np.asarray(cv2.Rodrigues(rvec)[0], dtype=np.float64)
        t0 = tvec.reshape(3).astype(np.float64)
        if float((Xw @ R0[2] + t0[2]).min()) > min_depth_m:
            best = solve(R0, t0)
    if tracked and prev is not None:
        R_prev = np.asarray(prev.R, dtype=np.float64)
        t_prev = np.asarray(prev.t, dtype=np.float64)
        turned = math.inf
        if best is not None:
            cos_angle = 0.5 * (float(np.trace(best[0] @ R_prev.T)) - 1.0)
            turned = math.degrees(math.acos(min(1.0, max(-1.0, cos_angle))))
        if turned > max_turn_deg and float((Xw @ R_prev[2] + t_prev[2]).min()) > min_depth_m:
            # the global minimum turned the body implausibly far since the previous frame (e.g. the
            # mirror pose of a distant body): the minimum reached from the previous pose is kept
            # unless the global one fits clearly (10 %) better
            cand = solve(R_prev, t_prev)
            if best is None or not best[2] < 0.9 * cand[2]:
                best = cand
    if best is None:
        best = solve(*_weak_perspective_start(Xw, uv, Km, min_depth_m=min_depth_m))
    return finish(best)
    starts: list[tuple[NDArray[np.float64], NDArray[np.float64]]] = []
    try:
        found, rvec, tvec = cv2.solvePnP(
            np.ascontiguousarray(Xw), np.ascontiguousarray(uv), Km, None, flags=cv2.SOLVEPNP_SQPNP
        )
    except cv2.error:
        found = False
    if found and np.all(np.isfinite(rvec)) and np.all(np.isfinite(tvec)):
        R_sq = np.asarray(cv2.Rodrigues(rvec)[0], dtype=np.float64)
        starts.append((R_sq, tvec.reshape(3).astype(np.float64)))
    starts = [(R0, t0) for R0, t0 in starts if float((Xw @ R0[2] + t0[2]).min()) > min_depth_m]
    if not starts and best is None:
        starts.append(_weak_perspective_start(Xw, uv, Km, min_depth_m=min_depth_m))
    for R0, t0 in starts:
        cand = solve(R0, t0)
        # the tracked solution (when there is one) is kept unless the global start is clearly better
        if best is None or cand[2] < 0.9 * best[2]:
            best = cand
    if best is None:
        return _failed(n, "no solution in front of the camera", n_used=n_used)
    return finish(best)


# --------------------------------------------------------------------------------------------------
# trajectories
# --------------------------------------------------------------------------------------------------


def _segments(valid: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Half-open index ranges ``[a, b)`` of the runs of True in ``valid``."""
    v = np.concatenate([[False], valid, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(v))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _linked_segments(t: NDArray[np.float64], valid: NDArray[np.bool_], max_gap_s: float
                     ) -> list[tuple[int, int]]:
    """Runs of ``valid`` joined across gaps of at most ``max_gap_s`` (the kinematics stage's rule).

    A gap is the time from the last valid frame before it to the first valid frame after it, as in
    :func:`imusynth.core.kinematics.bridge_gaps`; ``max_gap_s <= 0`` joins nothing.
    """
    segs = _segments(valid)
    if max_gap_s <= 0 or len(segs) < 2:
        return segs
    out = [segs[0]]
    for a, b in segs[1:]:
        a0, b0 = out[-1]
        if t[a] - t[b0 - 1] <= max_gap_s + 1e-9:
            out[-1] = (a0, b)
        else:
            out.append((a, b))
    return out


def leg_length_outliers(
    world_xyz: ArrayLike,
    *,
    tolerance: float = DEFAULT_LEG_LENGTH_TOLERANCE,
) -> NDArray[np.bool_]:
    """Frames whose world skeleton's legs are much shorter or longer than the person's usual legs.

    Bones do not change length, and MediaPipe's world skeleton keeps its legs' length within a few
    per cent while the model follows the body (clean videos: 0.89-1.11 of the track's median in
    every frame). When it does not (while it locks onto a person who has just been detected, or on
    an upside-down or badly occluded body) the skeleton collapses: legs at 30-85 % of their usual
    length. Its metric size then no longer matches the image and the PnP depth, which scales with
    it, is wrong by up to a factor of two (``docs/lifting.md``, "Depth jumps"); such frames are to
    be treated as missing.

    Parameters
    ----------
    world_xyz : array_like, shape (T, 33, 3), m
        One person's MediaPipe world landmarks, frame by frame (NaN allowed: never an outlier).
    tolerance : float
        Accepted relative deviation, a fraction in (0, 1]: a frame is an outlier when its leg length
        (hip-knee plus knee-ankle, mean of both legs) is below ``1 - tolerance`` or above
        ``1 / (1 - tolerance)`` times the median over the frames (symmetric in log scale); 1 accepts
        everything. Default 0.15.

    Returns
    -------
    ndarray, shape (T,), bool
        True where the frame's leg length is implausible.

    Raises
    ------
    LiftError
        For a wrong shape or a tolerance outside (0, 1].
    """
    w = np.asarray(world_xyz, dtype=np.float64)
    if w.ndim != 3 or w.shape[1:] != (N_LANDMARKS, 3):
        raise LiftError(f"world_xyz must have shape (T, {N_LANDMARKS}, 3) in metres, got {w.shape}")
    if not 0.0 < tolerance <= 1.0:
        raise LiftError(f"tolerance must be in (0, 1], got {tolerance}")
    legs = sum(np.linalg.norm(w[:, a] - w[:, b], axis=1) for a, b in _LEG_SEGMENTS) / 2.0
    out = np.zeros(w.shape[0], dtype=bool)
    finite = np.isfinite(legs) & (legs > 0)
    if tolerance >= 1.0 or not finite.any():
        return out
    ratio = legs[finite] / float(np.median(legs[finite]))
    out[finite] = (ratio < 1.0 - tolerance) | (ratio > 1.0 / (1.0 - tolerance))
    return out


def smooth_depth(
    t: ArrayLike,
    trans: ArrayLike,
    valid: ArrayLike,
    *,
    cutoff_hz: float = DEFAULT_DEPTH_CUTOFF_HZ,
    order: int = 2,
    max_gap_s: float = 0.0,
) -> NDArray[np.float64]:
    """Low-pass the depth of the body translation along each viewing ray, bridging only short gaps.

    The image fixes the direction of the ray from the camera to the body origin well; the distance
    along that ray (the depth) rests on the body's apparent size and is noisy. Each run of valid
    frames (runs separated by gaps of at most ``max_gap_s`` count as one) is filtered separately
    with a zero-phase Butterworth low-pass (:func:`imusynth.core.kinematics.lowpass`, forward and backward)
    on ``z``; ``x`` and ``y`` are then rescaled by ``z_smooth / z`` so the body origin stays on its
    observed ray (its projection is unchanged). Lateral smoothing is left to the kinematics stage,
    which filters every point.

    Pass the kinematics stage's ``max_gap_s``: it bridges those gaps by a cubic spline through the
    points, so a depth step between two runs smoothed apart would reach the accelerometer as a
    step in position within a few frames (a 1 m step across a one-frame gap: hundreds of m/s^2).
    Inside a joined run the depth of the missing frames is interpolated linearly for filtering
    only; they stay NaN in the output.

    Parameters
    ----------
    t : array_like, shape (T,), s
        Frame timestamps, strictly increasing within each valid run; the sampling rate of a run is
        taken from its median interval.
    trans : array_like, shape (T, 3), m
        Per-frame translations ``LiftedFrame.t`` in the camera frame.
    valid : array_like of bool, shape (T,)
        Frames whose translation is usable (``LiftedFrame.ok``); others may hold NaN.
    cutoff_hz : float
        Low-pass cut-off for the depth, Hz (default 1 Hz). Runs whose Nyquist frequency is not above
        it are only checked, not filtered; runs no longer than one cut-off period (``fs / cutoff_hz``
        samples, and at least 3 filter lengths: 9 for order 2) are replaced by their least-squares
        straight line, the only part of them such a slow low-pass would keep.
    order : int
        Butterworth order of the single pass (the zero-phase response is its square); default 2.
    max_gap_s : float
        Longest gap that joins two runs, s: the time from the last valid frame before the gap to the
        first valid frame after it (:func:`imusynth.core.kinematics.bridge_gaps`'s rule). Default 0: no
        run is joined.

    Returns
    -------
    ndarray, shape (T, 3), float64, m
        Translations with smoothed depth; NaN on invalid frames.

    Raises
    ------
    LiftError
        For mismatched shapes, non-positive ``cutoff_hz``, non-increasing timestamps in a run
        (including the frames of a joined gap), or a valid frame with a non-finite or non-positive
        depth.
    """
    tt = np.asarray(t, dtype=np.float64)
    tr = np.asarray(trans, dtype=np.float64)
    ok = np.asarray(valid, dtype=bool)
    if tt.ndim != 1:
        raise LiftError(f"t must be 1-D (T,) in seconds, got shape {tt.shape}")
    if tr.shape != (tt.size, 3):
        raise LiftError(f"trans must have shape ({tt.size}, 3) in metres, got {tr.shape}")
    if ok.shape != tt.shape:
        raise LiftError(f"valid must have shape ({tt.size},), got {ok.shape}")
    if not cutoff_hz > 0:
        raise LiftError(f"cutoff_hz must be positive, got {cutoff_hz}")
    if order < 1:
        raise LiftError(f"order must be at least 1, got {order}")
    if ok.any() and not (np.all(np.isfinite(tr[ok])) and np.all(tr[ok, 2] > 0)):
        raise LiftError("valid frames must have finite translations in front of the camera (z > 0)")
    out = np.full_like(tr, np.nan)
    for a, b in _linked_segments(tt, ok, max_gap_s):
        seg = tr[a:b]
        m = ok[a:b]
        z = seg[:, 2]
        zs = z
        if b - a >= 2:
            dt = np.diff(tt[a:b])
            if not np.all(dt > 0):
                raise LiftError(f"timestamps must increase within a run of valid frames (frames {a}-{b - 1})")
            if not m.all():  # the depth of bridged frames, for filtering only (exact at the valid ones)
                z = zs = np.interp(tt[a:b], tt[a:b][m], z[m])
            fs = 1.0 / float(np.median(dt))
            # pad (odd extension, which keeps a linear trend) by about one cut-off period to tame the
            # edge transients; a run shorter than that (or than 3x the filter length) cannot be
            # filtered meaningfully: a low-pass that slow sees only its straight-line trend
            pad = max(sections_padlen(order), round(fs / cutoff_hz))
            if cutoff_hz >= 0.5 * fs:
                pass  # nothing to remove below the Nyquist frequency
            elif b - a <= pad:
                zs = np.polyval(np.polyfit(tt[a:b][m] - tt[a], z[m], 1), tt[a:b] - tt[a])
            else:
                zs = lowpass(z, rate_hz=fs, cutoff_hz=cutoff_hz, order=order, padlen=pad)
            # a filter overshoot must not put the body behind the camera
            zs = np.where(zs > 0, zs, z)
        out[a:b][m] = seg[m] * (zs[m] / z[m])[:, None]
    return out


def stack_frames(
    frames: Sequence[LiftedFrame], *, dtype: type[np.floating] = np.float32
) -> tuple[NDArray[np.floating], NDArray[np.float64], NDArray[np.bool_]]:
    """Stack per-frame results into compact arrays.

    Parameters
    ----------
    frames : sequence of LiftedFrame, length T
        One person's results in frame order.
    dtype : numpy floating type
        dtype of the stacked points (float32 by default: 400 bytes a frame).

    Returns
    -------
    points : ndarray, shape (T, N, 3), m
        Camera-frame landmarks (NaN on failed frames).
    trans : ndarray, shape (T, 3), float64, m
        Translations ``LiftedFrame.t``.
    valid : ndarray, shape (T,), bool
        ``LiftedFrame.ok``.
    """
    if len(frames) == 0:
        raise LiftError("no frames to stack")
    n = frames[0].points.shape[0]
    points = np.empty((len(frames), n, 3), dtype=dtype)
    trans = np.empty((len(frames), 3))
    valid = np.empty(len(frames), dtype=bool)
    for i, fr in enumerate(frames):
        if fr.points.shape != (n, 3):
            raise LiftError(f"frame {i} has {fr.points.shape[0]} landmarks, frame 0 has {n}")
        points[i] = fr.points
        trans[i] = fr.t
        valid[i] = fr.ok
    return points, trans, valid


def body_trajectory(
    t: ArrayLike,
    points: ArrayLike,
    trans: ArrayLike,
    valid: ArrayLike,
    *,
    depth_cutoff_hz: float = DEFAULT_DEPTH_CUTOFF_HZ,
) -> NDArray[np.floating]:
    """Camera-frame landmark trajectories with the body's depth smoothed.

    Each frame's body is shifted rigidly by the change that :func:`smooth_depth` makes to its
    translation, so its shape and orientation stay those of the per-frame solve.

    Parameters
    ----------
    t : array_like, shape (T,), s
        Frame timestamps.
    points : array_like, shape (T, N, 3), m
        Per-frame camera-frame landmarks (``LiftedFrame.points``, e.g. from :func:`stack_frames`).
    trans : array_like, shape (T, 3), m
        Per-frame translations (``LiftedFrame.t``).
    valid : array_like of bool, shape (T,)
        ``LiftedFrame.ok``.
    depth_cutoff_hz : float
        Depth low-pass cut-off, Hz (see :func:`smooth_depth`).

    Returns
    -------
    ndarray, shape (T, N, 3), m
        Points in the camera frame, NaN on invalid frames; float32 if ``points`` is float32,
        else float64.
    """
    pts = np.asarray(points)
    if pts.dtype != np.float32:
        pts = pts.astype(np.float64)
    tr = np.asarray(trans, dtype=np.float64)
    ok = np.asarray(valid, dtype=bool)
    if pts.ndim != 3 or pts.shape[2] != 3 or pts.shape[0] != tr.shape[0]:
        raise LiftError(f"points must have shape (T, N, 3) with T = {tr.shape[0]}, got {pts.shape}")
    smoothed = smooth_depth(t, tr, ok, cutoff_hz=depth_cutoff_hz)
    shift = np.where(ok[:, None], smoothed - np.where(ok[:, None], tr, 0.0), np.nan)
    return (pts + shift[:, None, :].astype(pts.dtype)).astype(pts.dtype, copy=False)
