"""Stage 3, batched: place a whole track's world landmarks in the camera frame in one vectorised pass.

:func:`lift_frames` gives the results of calling :func:`imusynth.video.lift.pnp.lift_frame` frame
after frame, each with ``prev`` the last frame that succeeded, at a fraction of the cost. Its main
solve starts from the frame's own SQPnP solution and does not depend on the previous frame, so

1. the per-frame checks (usable landmarks, image spread, world rank) run on all frames at once;
2. OpenCV's SQPnP runs per frame (compiled, cheap);
3. one Levenberg-Marquardt runs on all frames at once (:func:`_refine_batch`: per-frame damping,
   accept/reject and convergence masks; frames with fewer usable landmarks are padded with copies
   of a used landmark at weight zero, which changes no sum), and the rank and residual checks of
   the solutions run on all frames at once;
4. a sequential pass compares each frame's rotation with the last successful frame's and, only where
   the body turned by more than ``max_turn_deg`` (a distant body's mirror pose) or SQPnP gave no start,
   runs the single-frame solves of :func:`~imusynth.video.lift.pnp.lift_frame` from the previous pose
   or the weak-perspective start.

Frames go through steps 1-4 in blocks of 1024 (the previous pose carries from block to block), so
the solver's temporaries (~2 kB a frame) stay bounded for a track of any length.

Frames, units and pixel conventions are those of :mod:`imusynth.video.lift.pnp`. The results agree
with the sequential ones to rounding: the sums of the batched solve run in another order
(``tests/test_lift.py`` checks 1e-9 relative on ``t`` and 1e-9 on ``R``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.video.lift.base import MIN_LANDMARKS, LiftError
from imusynth.video.lift.pnp import (
    LiftedFrame,
    _check_inputs,
    _finish,
    _huber_rho,
    _settle,
    _Solution,
    _tracked_pose,
)


@dataclass(frozen=True)
class LiftedFrames:
    """A sequence of frames of one person placed in the camera frame (the fields of
    :class:`~imusynth.video.lift.pnp.LiftedFrame`, stacked over T frames).

    Attributes
    ----------
    points : ndarray, shape (T, N, 3), float64, m
        Landmarks in the camera frame, ``R @ X_world + t``; NaN in frames that failed.
    R : ndarray, shape (T, 3, 3), float64
        Rotation from the hip-centred world frame into the camera frame; NaN in frames that failed.
    t : ndarray, shape (T, 3), float64, m
        Mid-hip in the camera frame; NaN in frames that failed.
    rms_px : ndarray, shape (T,), float64, px
        Unweighted reprojection RMS over the used landmarks; NaN where no solve ran.
    ok : ndarray, shape (T,), bool
    n_used : ndarray, shape (T,), int64
        Landmarks that took part in each solve.
    reason : tuple of str, length T
        Empty where ``ok``; otherwise why the frame failed.
    """

    points: NDArray[np.float64]
    R: NDArray[np.float64]
    t: NDArray[np.float64]
    rms_px: NDArray[np.float64]
    ok: NDArray[np.bool_]
    n_used: NDArray[np.int64]
    reason: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.ok)

    def frame(self, k: int) -> LiftedFrame:
        """Frame ``k`` as a :class:`~imusynth.video.lift.pnp.LiftedFrame`."""
        return LiftedFrame(points=self.points[k], R=self.R[k], t=self.t[k], rms_px=float(self.rms_px[k]),
                           ok=bool(self.ok[k]), n_used=int(self.n_used[k]), reason=self.reason[k])


def _rodrigues(v: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rotation matrices (m, 3, 3) of rotation vectors (m, 3), rad, by the formula of ``cv2.Rodrigues``."""
    theta = np.sqrt(np.einsum("mi,mi->m", v, v))
    small = theta < np.finfo(np.float64).eps
    r = v / np.where(small, 1.0, theta)[:, None]
    c, s = np.cos(theta), np.sin(theta)
    R = (1.0 - c)[:, None, None] * (r[:, :, None] * r[:, None, :])
    R[:, 0, 0] += c
    R[:, 1, 1] += c
    R[:, 2, 2] += c
    sr = s[:, None] * r
    R[:, 0, 1] -= sr[:, 2]
    R[:, 0, 2] += sr[:, 1]
    R[:, 1, 0] += sr[:, 2]
    R[:, 1, 2] -= sr[:, 0]
    R[:, 2, 0] -= sr[:, 1]
    R[:, 2, 1] += sr[:, 0]
    R[small] = np.eye(3)
    return R


def _refine_batch(
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
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """:func:`~imusynth.video.lift.pnp._refine` on m frames at once.

    Parameters
    ----------
    Xw : ndarray, shape (m, n, 3), m
        Used world landmarks per frame (padding: copies of a used landmark).
    uv : ndarray, shape (m, n, 2), px
        Their image landmarks.
    w : ndarray, shape (m, n)
        Their weights in (0, 1]; 0 for padding.
    K : ndarray, shape (3, 3), px
    R : ndarray, shape (m, 3, 3); t : ndarray, shape (m, 3), m
        Starts.
    huber_px, max_iter, min_depth_m
        As for ``_refine``.

    Returns
    -------
    R : ndarray, shape (m, 3, 3)
    t : ndarray, shape (m, 3), m
    cost : ndarray, shape (m,), px^2
        Final weighted Huber cost.
    A : ndarray, shape (m, 6, 6)
        Normal matrix ``J^T W J`` of each frame's last iteration (zero if none ran).
    """
    fx, s, fy, cx, cy = K[0, 0], K[0, 1], K[1, 1], K[0, 2], K[1, 2]
    m, n = w.shape
    XwT = np.ascontiguousarray(Xw.transpose(0, 2, 1))  # (m, 3, n)
    u_obs, v_obs = uv[:, :, 0].copy(), uv[:, :, 1].copy()
    R, t = R.copy(), t.copy()

    def residuals(Pc: NDArray[np.float64],
                  idx: NDArray[np.intp]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Camera-frame points (k, 3, n) of frames ``idx`` -> residuals (k, 2, n), px, distances (k, n)."""
        iz = 1.0 / Pc[:, 2]
        res = np.empty((len(idx), 2, n))
        res[:, 0] = (fx * Pc[:, 0] + s * Pc[:, 1]) * iz + cx - u_obs[idx]
        res[:, 1] = fy * Pc[:, 1] * iz + cy - v_obs[idx]
        return res, np.sqrt(res[:, 0] * res[:, 0] + res[:, 1] * res[:, 1])

    def huber(err: NDArray[np.float64], ww: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(np.einsum("kn,kn->k", ww, _huber_rho(err, huber_px)), dtype=np.float64)

    everyone = np.arange(m)
    lam = np.full(m, 1e-3)
    Xc = R @ XwT + t[:, :, None]
    r, err = residuals(Xc, everyone)
    cost = huber(err, w)
    A = np.zeros((m, 6, 6))
    act = everyone
    diag = np.arange(6)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(max_iter):
            if act.size == 0:
                break
            k = act.size
            Xa, ta = Xc[act], t[act]
            omega = w[act] * np.minimum(1.0, huber_px / np.maximum(err[act], 1e-12))
            P0, P1, P2 = Xa[:, 0] - ta[:, 0:1], Xa[:, 1] - ta[:, 1:2], Xa[:, 2] - ta[:, 2:3]
            iz = 1.0 / Xa[:, 2]
            gu0, gu1, gu2 = fx * iz, s * iz, -(fx * Xa[:, 0] + s * Xa[:, 1]) * iz * iz
            gv1, gv2 = fy * iz, -fy * Xa[:, 1] * iz * iz
            JT = np.zeros((k, 6, 2, n))
            JT[:, 0, 0] = P1 * gu2 - P2 * gu1
            JT[:, 1, 0] = P2 * gu0 - P0 * gu2
            JT[:, 2, 0] = P0 * gu1 - P1 * gu0
            JT[:, 3, 0], JT[:, 4, 0], JT[:, 5, 0] = gu0, gu1, gu2
            JT[:, 0, 1] = P1 * gv2 - P2 * gv1
            JT[:, 1, 1] = -P0 * gv2
            JT[:, 2, 1] = P0 * gv1
            JT[:, 4, 1], JT[:, 5, 1] = gv1, gv2
            JT2 = JT.reshape(k, 6, 2 * n)
            Jw = JT2 * np.concatenate([omega, omega], axis=1)[:, None, :]
            Aa = Jw @ JT2.transpose(0, 2, 1)
            ga = np.einsum("kpj,kj->kp", Jw, r[act].reshape(k, 2 * n))
            A[act] = Aa
            damp = np.maximum(Aa[:, diag, diag], 1e-12)
            lam_a = lam[act]
            accepted = np.zeros(k, dtype=bool)
            step = np.empty((k, 6))
            R_new, t_new = np.empty((k, 3, 3)), np.empty((k, 3))
            Xc_new, r_new = np.empty((k, 3, n)), np.empty((k, 2, n))
            err_new, cost_new = np.empty((k, n)), np.empty(k)
            pending = np.arange(k)
            while True:
                pending = pending[lam_a[pending] < 1e12]
                if pending.size == 0:
                    break
                Ad = Aa[pending].copy()
                Ad[:, diag, diag] += lam_a[pending, None] * damp[pending]
                st = _solve_each(Ad, -ga[pending])
                idx = act[pending]
                Rn = _rodrigues(st[:, :3]) @ R[idx]
                tn = t[idx] + st[:, 3:]
                Xn = Rn @ XwT[idx] + tn[:, :, None]
                rn, en = residuals(Xn, idx)
                cn = huber(en, w[idx])
                good = (Xn[:, 2].min(axis=1) > min_depth_m) & (cn <= cost[idx])
                g = pending[good]
                step[g], R_new[g], t_new[g], Xc_new[g] = st[good], Rn[good], tn[good], Xn[good]
                r_new[g], err_new[g], cost_new[g] = rn[good], en[good], cn[good]
                accepted[g] = True
                pending = pending[~good]
                lam_a[pending] *= 10.0
            acc = np.flatnonzero(accepted)
            idx = act[acc]
            st = step[acc]
            moved = np.maximum(np.abs(st[:, :3]).max(axis=1) * np.abs(t[idx, 2]),
                               np.abs(st[:, 3:]).max(axis=1))
            small = (moved < 1e-5) | (cost[idx] - cost_new[acc] <= 1e-10 * cost[idx])
            R[idx], t[idx], Xc[idx], r[idx] = R_new[acc], t_new[acc], Xc_new[acc], r_new[acc]
            err[idx], cost[idx] = err_new[acc], cost_new[acc]
            lam[idx] = np.maximum(lam_a[acc] / 10.0, 1e-9)
            act = idx[~(small | (cost_new[acc] == 0.0))]
    return R, t, cost, A


def _solve_each(A: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Solutions (k, 6) of the systems ``A x = b`` (k, 6, 6), (k, 6); NaN rows for singular ones."""
    try:
        x = np.asarray(np.linalg.solve(A, b[:, :, None])[:, :, 0], dtype=np.float64)
        return x
    except np.linalg.LinAlgError:
        out = np.full(b.shape, np.nan)
        for i in range(len(b)):
            try:
                out[i] = np.linalg.solve(A[i], b[i])
            except np.linalg.LinAlgError:
                pass
        return out


def lift_frames(
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
) -> LiftedFrames:
    """Place one person's world landmarks in the camera frame in T consecutive frames.

    Gives what :func:`~imusynth.video.lift.pnp.lift_frame` gives when called on the frames in order,
    each with ``prev`` the result of the last frame that succeeded (``prev`` for the first), to
    rounding, several times faster (see the module notes).

    Parameters
    ----------
    world_xyz : array_like, shape (T, N, 3), m
        World landmarks per frame (hip-centred, metric).
    image_xy : array_like, shape (T, N, 2), px
        Image landmarks in the pixel convention of ``K``.
    weights : array_like, shape (T, N), in [0, 1]
        Per-landmark confidence.
    K : array_like, shape (3, 3), px
        Camera matrix ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``.
    prev : LiftedFrame or None
        The person's result in the frame before the first one.
    min_weight, huber_px, max_rel_rms, max_iter, min_depth_m, max_turn_deg
        As for :func:`~imusynth.video.lift.pnp.lift_frame` (px, m, degrees).

    Returns
    -------
    LiftedFrames
        T frames; a frame that fails has ``ok`` False and a ``reason``.

    Raises
    ------
    LiftError
        Wrong shapes or a malformed ``K``.
    """
    Km = _check_inputs(np.zeros((0, 3)), np.zeros((0, 2)), np.zeros(0), K)[3]
    Xw_all = np.asarray(world_xyz, dtype=np.float64)
    uv_all = np.asarray(image_xy, dtype=np.float64)
    w_all = np.asarray(weights, dtype=np.float64)
    if Xw_all.ndim != 3 or Xw_all.shape[2] != 3:
        raise LiftError(f"world_xyz must have shape (T, N, 3) in metres, got {Xw_all.shape}")
    T, N = Xw_all.shape[:2]
    if uv_all.shape != (T, N, 2):
        raise LiftError(f"image_xy must have shape ({T}, {N}, 2) in pixels, got {uv_all.shape}")
    if w_all.shape != (T, N):
        raise LiftError(f"weights must have shape ({T}, {N}), got {w_all.shape}")

    R_prev, t_prev = _tracked_pose(prev)
    R_out = np.full((T, 3, 3), np.nan)
    t_out = np.full((T, 3), np.nan)
    rms = np.full(T, np.nan)
    ok = np.zeros(T, dtype=bool)
    n_used = np.zeros(T, dtype=np.int64)
    reason: list[str] = []
    # in blocks of frames, so that the solver's temporaries (~2 kB a frame) do not grow with the track
    for a in range(0, T, _BLOCK):
        b = min(T, a + _BLOCK)
        blk = _Block(R_out[a:b], t_out[a:b], rms[a:b], ok[a:b], n_used[a:b], [""] * (b - a))
        R_prev, t_prev = _lift_block(
            Xw_all[a:b], uv_all[a:b], w_all[a:b], Km, blk, R_prev, t_prev, min_weight=min_weight,
            huber_px=huber_px, max_rel_rms=max_rel_rms, max_iter=max_iter, min_depth_m=min_depth_m,
            max_turn_deg=max_turn_deg)
        reason += blk.reason
    points = np.einsum("tij,tnj->tni", R_out, Xw_all) + t_out[:, None, :]
    points[~ok] = np.nan
    return LiftedFrames(points=points, R=R_out, t=t_out, rms_px=rms, ok=ok, n_used=n_used,
                        reason=tuple(reason))


#: frames per block of :func:`lift_frames`
_BLOCK = 1024


@dataclass
class _Block:
    """Views of :func:`lift_frames`' outputs for one block of frames, filled by :func:`_lift_block`."""

    R: NDArray[np.float64]
    t: NDArray[np.float64]
    rms_px: NDArray[np.float64]
    ok: NDArray[np.bool_]
    n_used: NDArray[np.int64]
    reason: list[str]


def _lift_block(
    Xw_all: NDArray[np.float64],
    uv_all: NDArray[np.float64],
    w_all: NDArray[np.float64],
    Km: NDArray[np.float64],
    out: _Block,
    R_prev: NDArray[np.float64] | None,
    t_prev: NDArray[np.float64] | None,
    *,
    min_weight: float,
    huber_px: float,
    max_rel_rms: float,
    max_iter: int,
    min_depth_m: float,
    max_turn_deg: float,
) -> tuple[NDArray[np.float64] | None, NDArray[np.float64] | None]:
    """:func:`lift_frames` on one block of T frames (arrays (T, N, 3) m, (T, N, 2) px, (T, N)).

    Fills ``out``; ``R_prev`` (3, 3), ``t_prev`` (3,) m: the last placed frame before the block (None:
    none). Returns the last placed frame's ``R, t`` after the block.
    """
    T, N = Xw_all.shape[:2]
    # ---- per-frame checks, all frames at once
    finite = np.isfinite(Xw_all).all(axis=2) & np.isfinite(uv_all).all(axis=2) & np.isfinite(w_all)
    use = finite & (np.nan_to_num(w_all, nan=0.0) >= min_weight) & (w_all > 0)
    n_used = use.sum(axis=1)
    out.n_used[:] = n_used
    reason = out.reason
    cand = n_used >= MIN_LANDMARKS
    for k in np.flatnonzero(~cand):
        reason[k] = f"{n_used[k]} usable landmarks, at least {MIN_LANDMARKS} needed"
    nn = np.maximum(n_used, 1)[:, None]
    uvz = np.where(use[:, :, None], uv_all, 0.0)
    duv = np.where(use[:, :, None], uvz - (uvz.sum(axis=1) / nn)[:, None, :], 0.0)
    spread = np.sqrt(np.einsum("tni,tni->t", duv, duv) / nn[:, 0])
    for k in np.flatnonzero(cand & (spread < 1.0)):
        reason[k] = f"image landmarks collapsed (spread {spread[k]:.2g} px)"
    cand &= spread >= 1.0
    Xz = np.where(use[:, :, None], Xw_all, 0.0)
    cen = np.where(use[:, :, None], Xz - (Xz.sum(axis=1) / nn)[:, None, :], 0.0)
    ev = np.linalg.eigvalsh(np.einsum("tni,tnj->tij", cen, cen))
    flat = (ev[:, 2] < 1e-6 * n_used) | (ev[:, 1] < 1e-6 * ev[:, 2])
    for k in np.flatnonzero(cand & flat):
        reason[k] = "world landmarks collapsed onto a point or a line"
    cand &= ~flat

    # ---- used landmarks first (in order), padded with copies of the first at weight zero
    order = np.argsort(~use, axis=1, kind="stable")
    pad = np.arange(N)[None, :] >= n_used[:, None]
    order = np.where(pad, order[:, :1], order)
    Xw_p = np.take_along_axis(Xw_all, order[:, :, None], axis=1)
    uv_p = np.take_along_axis(uv_all, order[:, :, None], axis=1)
    w_p = np.where(pad, 0.0, np.minimum(np.take_along_axis(w_all, order, axis=1), 1.0))

    # ---- SQPnP starts, frame by frame
    R0 = np.full((T, 3, 3), np.nan)
    t0 = np.full((T, 3), np.nan)
    for k in np.flatnonzero(cand):
        nk = n_used[k]
        try:
            found, rvec, tvec = cv2.solvePnP(Xw_p[k, :nk], uv_p[k, :nk], Km, None, flags=cv2.SOLVEPNP_SQPNP)
        except cv2.error:
            continue
        if found and np.all(np.isfinite(rvec)) and np.all(np.isfinite(tvec)):
            R0[k] = cv2.Rodrigues(rvec)[0]
            t0[k] = tvec.reshape(3)
    started = np.isfinite(t0[:, 0])
    with np.errstate(invalid="ignore"):
        depth0 = np.einsum("tnj,tj->tn", Xw_p, R0[:, 2]) + t0[:, 2:3]
    started &= depth0.min(axis=1) > min_depth_m

    # ---- one Levenberg-Marquardt over all started frames, then their rank and residual checks
    gi = np.flatnonzero(started)
    Rb, tb, cb, Ab = _refine_batch(Xw_p[gi], uv_p[gi], w_p[gi], Km, R0[gi], t0[gi],
                                   huber_px=huber_px, max_iter=max_iter, min_depth_m=min_depth_m)
    R_out, t_out, rms, ok = out.R, out.t, out.rms_px, out.ok
    best_R, best_t, best_cost = np.full((T, 3, 3), np.nan), np.full((T, 3), np.nan), np.full(T, np.nan)
    best_R[gi], best_t[gi], best_cost[gi] = Rb, tb, cb
    g_ok, g_rms, g_reason = _finish_batch(Xw_p[gi], uv_p[gi], ~pad[gi], Km, Rb, tb, Ab,
                                          spread_px=spread[gi], max_rel_rms=max_rel_rms)
    R_out[gi[g_ok]], t_out[gi[g_ok]], ok[gi], rms[gi] = Rb[g_ok], tb[g_ok], g_ok, g_rms
    for k, why in zip(gi, g_reason, strict=True):
        reason[k] = why

    # ---- in order: the turn check against the last frame that succeeded, and the rare other starts
    for k in np.flatnonzero(cand):
        nk = n_used[k]
        Xw, uv, w = Xw_p[k, :nk], uv_p[k, :nk], w_p[k, :nk]
        best: _Solution | None = None
        if started[k]:
            best = (best_R[k], best_t[k], float(best_cost[k]), np.empty(0))
        best, changed = _settle(best, Xw, uv, w, Km, R_prev, t_prev, huber_px=huber_px, max_iter=max_iter,
                                min_depth_m=min_depth_m, max_turn_deg=max_turn_deg)
        if changed:
            fr = _finish(Xw_all[k], Xw, uv, Km, best, n_used=int(nk), spread_px=float(spread[k]),
                         max_rel_rms=max_rel_rms)
            R_out[k], t_out[k], rms[k], ok[k], reason[k] = fr.R, fr.t, fr.rms_px, fr.ok, fr.reason
        if ok[k]:
            R_prev, t_prev = R_out[k].copy(), t_out[k].copy()
    return R_prev, t_prev


def _finish_batch(
    Xw: NDArray[np.float64],
    uv: NDArray[np.float64],
    used: NDArray[np.bool_],
    K: NDArray[np.float64],
    R: NDArray[np.float64],
    t: NDArray[np.float64],
    A: NDArray[np.float64],
    *,
    spread_px: NDArray[np.float64],
    max_rel_rms: float,
) -> tuple[NDArray[np.bool_], NDArray[np.float64], list[str]]:
    """:func:`~imusynth.video.lift.pnp._finish`'s checks on m solutions at once.

    Parameters
    ----------
    Xw : (m, n, 3) m; uv : (m, n, 2) px; used : (m, n) bool (False for padding); K : (3, 3) px;
    R : (m, 3, 3); t : (m, 3) m; A : (m, 6, 6) normal matrices; spread_px : (m,) px

    Returns
    -------
    ok : ndarray, shape (m,), bool
    rms_px : ndarray, shape (m,), px
        Unweighted reprojection RMS over the used landmarks; NaN where the solve is degenerate.
    reason : list of str, length m
    """
    m = len(R)
    d = np.sqrt(np.maximum(A[:, np.arange(6), np.arange(6)], 1e-300))
    An = A / (d[:, :, None] * d[:, None, :])
    fin = np.isfinite(An).all(axis=(1, 2))
    ranked = np.zeros(m, dtype=bool)
    if fin.any():
        eig = np.linalg.eigvalsh(An[fin])
        ranked[fin] = np.isfinite(eig).all(axis=1) & (eig[:, 0] > 1e-9 * eig[:, -1])
    Xc = np.einsum("mij,mnj->mni", R, Xw) + t[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        x, y = Xc[:, :, 0] / Xc[:, :, 2], Xc[:, :, 1] / Xc[:, :, 2]
        du = K[0, 0] * x + K[0, 1] * y + K[0, 2] - uv[:, :, 0]
        dv = K[1, 1] * y + K[1, 2] - uv[:, :, 1]
        rms = np.sqrt(np.where(used, du * du + dv * dv, 0.0).sum(axis=1) / used.sum(axis=1))
    fits = np.isfinite(rms) & (rms <= max_rel_rms * spread_px)
    ok = ranked & fits
    rms = np.where(ranked, rms, np.nan)
    reason = [""] * m
    for i in np.flatnonzero(~ok):
        if not ranked[i]:
            reason[i] = "degenerate solve (pose not determined by the landmarks)"
        else:
            reason[i] = (f"reprojection RMS {rms[i]:.3g} px exceeds {max_rel_rms:g} x landmark spread "
                         f"{spread_px[i]:.3g} px")
    return ok, rms, reason
