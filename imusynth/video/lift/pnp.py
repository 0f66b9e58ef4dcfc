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
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.video.lift.base import MIN_LANDMARKS, LiftError


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



# --------------------------------------------------------------------------------------------------
# per-frame PnP
# --------------------------------------------------------------------------------------------------


#: (R, t, final cost, normal matrix J^T W J) of one Levenberg-Marquardt run
_Solution = tuple[NDArray[np.float64], NDArray[np.float64], float, NDArray[np.float64]]


def _huber_rho(err: NDArray[np.float64], k: float) -> NDArray[np.float64]:
    """Huber loss of reprojection distances ``err`` (any shape), px, with threshold ``k`` px; px^2."""
    return np.where(err <= k, 0.5 * err * err, k * err - 0.5 * k * k)


def _huber_cost(err: NDArray[np.float64], w: NDArray[np.float64], k: float) -> float:
    """Weighted Huber cost of per-landmark reprojection distances ``err`` (n,), px."""
    return float(w @ _huber_rho(err, k))


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


def _tracked_pose(prev: LiftedFrame | None
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | tuple[None, None]:
    """``(R, t)`` of the previous frame when it succeeded with a finite pose, else ``(None, None)``."""
    if prev is not None and prev.ok and np.all(np.isfinite(prev.R)) and np.all(np.isfinite(prev.t)):
        return np.asarray(prev.R, dtype=np.float64), np.asarray(prev.t, dtype=np.float64)
    return None, None


def _settle(
    best: _Solution | None,
    Xw: NDArray[np.float64],
    uv: NDArray[np.float64],
    w: NDArray[np.float64],
    K: NDArray[np.float64],
    R_prev: NDArray[np.float64] | None,
    t_prev: NDArray[np.float64] | None,
    *,
    huber_px: float,
    max_iter: int,
    min_depth_m: float,
    max_turn_deg: float,
) -> tuple[_Solution, bool]:
    """The frame's solution given the one from SQPnP's start (``best``, None without one) and the
    previous frame's pose (None when untracked): the rule of :func:`lift_frame`, shared with the batched
    :func:`imusynth.video.lift.pnp_batch.lift_frames`. Returns it and whether it is another than ``best``.

    When ``best`` turned the body by more than ``max_turn_deg`` since the previous pose (e.g. the mirror
    pose of a distant body), the minimum reached from the previous pose is kept unless ``best`` fits
    clearly (10 %) better; with no solution at all, the weak-perspective start is solved.
    """
    changed = False
    if R_prev is not None and t_prev is not None:
        turned = math.inf
        if best is not None:
            cos_angle = 0.5 * (float(np.trace(best[0] @ R_prev.T)) - 1.0)
            turned = math.degrees(math.acos(min(1.0, max(-1.0, cos_angle))))
        if turned > max_turn_deg and float((Xw @ R_prev[2] + t_prev[2]).min()) > min_depth_m:
            cand = _refine(Xw, uv, w, K, R_prev, t_prev, huber_px=huber_px, max_iter=max_iter,
                           min_depth_m=min_depth_m)
            if best is None or not best[2] < 0.9 * cand[2]:
                best, changed = cand, True
    if best is None:
        R_w, t_w = _weak_perspective_start(Xw, uv, K, min_depth_m=min_depth_m)
        best = _refine(Xw, uv, w, K, R_w, t_w, huber_px=huber_px, max_iter=max_iter, min_depth_m=min_depth_m)
        changed = True
    return best, changed


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

    def finish(sol: _Solution) -> LiftedFrame:
        return _finish(Xw_all, Xw, uv, Km, sol, n_used=n_used, spread_px=spread_px, max_rel_rms=max_rel_rms)

    R_prev, t_prev = _tracked_pose(prev)
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
            best = _refine(Xw, uv, w, Km, R0, t0, huber_px=huber_px, max_iter=max_iter,
                           min_depth_m=min_depth_m)
    best, _ = _settle(best, Xw, uv, w, Km, R_prev, t_prev, huber_px=huber_px, max_iter=max_iter,
                      min_depth_m=min_depth_m, max_turn_deg=max_turn_deg)
    return finish(best)
