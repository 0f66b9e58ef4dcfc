"""Rotation between two views from pixel correspondences: 2-point RANSAC, MSAC score, Kabsch refinement.

For a camera rotating about its optical centre (or a scene at infinity) a pixel moves as
``x2 ~ K R K^-1 x1``, whatever its depth; see :mod:`imusynth.video.camera` for the frames.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.video.camera.geometry import kabsch_rotation

__all__ = ["estimate_rotation"]


def _bearings(points_px: NDArray[np.float64], K: NDArray[np.float64]) -> NDArray[np.float64]:
    """Unit ray directions ``(N, 3)`` in the camera frame for pixel points ``(N, 2)``."""
    x = (points_px[:, 0] - K[0, 2]) / K[0, 0]
    y = (points_px[:, 1] - K[1, 2]) / K[1, 1]
    b = np.stack([x, y, np.ones_like(x)], axis=1)
    return b / np.linalg.norm(b, axis=1, keepdims=True)


def _cross(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row-wise cross product of (N, 3) arrays (numpy.cross has a large per-call overhead)."""
    x = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    y = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    z = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return np.stack([x, y, z], axis=1)


def _two_point_rotations(
    a1: NDArray[np.float64], c1: NDArray[np.float64], a2: NDArray[np.float64], c2: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Rotations ``(H, 3, 3)`` taking ``a1 -> a2`` exactly and the plane ``(a1, c1)`` onto ``(a2, c2)``.

    Each input is ``(H, 3)`` unit vectors; returns the rotations and a mask of well-conditioned pairs.
    The triad ``[a, n, a x n]`` with ``n = normalised(a x c)`` of both views is built in one pass.
    """
    h = len(a1)
    a = np.concatenate([a1, a2])
    n = _cross(a, np.concatenate([c1, c2]))
    norm = np.sqrt(np.einsum("ij,ij->i", n, n))
    n /= np.maximum(norm, 1e-12)[:, None]
    T = np.stack([a, n, _cross(a, n)], axis=2)  # (2H, 3, 3): the triads as columns
    ok = (norm[:h] > 0.02) & (norm[h:] > 0.02)  # pairs at least ~1 deg apart
    return T[h:] @ T[:h].transpose(0, 2, 1), ok  # T2 @ T1^T


def _reprojection_sq_errors(
    R: NDArray[np.float64], b1_t: NDArray[np.float64], d2: NDArray[np.float64], f: tuple[float, float]
) -> NDArray[np.float64]:
    """Squared pixel distances, px^2, between view-2 points and the projections of ``R b1``.

    Parameters
    ----------
    R : ndarray, shape (H, 3, 3) or (3, 3)
        Rotations taking view-1 vectors into view 2.
    b1_t : ndarray, shape (3, N)
        View-1 bearings, components first.
    d2 : ndarray, shape (2, N), px
        View-2 points relative to the principal point, ``x2 - (cx, cy)``.
    f : (float, float), px
        Focal lengths ``fx, fy``.

    Returns
    -------
    ndarray, shape (H, N) or (N,)
        A ray that ``R`` turns behind the camera gets ``inf``.
    """
    P = R @ b1_t  # a stacked 3x3 product: one call, no BLAS threads worth starting
    px, py, pz = P[..., 0, :], P[..., 1, :], P[..., 2, :]
    behind = pz <= 1e-9
    any_behind = bool(behind.any())
    if any_behind:
        pz = np.where(behind, 1.0, pz)
    inv_z = 1.0 / pz
    u = f[0] * (px * inv_z) - d2[0]
    v = f[1] * (py * inv_z) - d2[1]
    e2 = u * u + v * v
    if any_behind:
        e2[behind] = np.inf
    return e2


def _hypotheses_needed(n_inliers: int, n: int, confidence: float) -> float:
    """2-point samples needed to draw one all-inlier sample with probability ``confidence``."""
    w2 = (n_inliers / n) ** 2
    if w2 >= 1.0:
        return 1.0
    if w2 <= 0.0:
        return np.inf
    return float(np.log1p(-confidence) / np.log1p(-w2))


def estimate_rotation(
    x1: ArrayLike,
    x2: ArrayLike,
    K: ArrayLike,
    *,
    threshold_px: float = 1.0,
    iterations: int = 100,
    confidence: float | None = 0.999999,
    batch: int = 16,
    rng: np.random.Generator | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Robust rotation between two views of a scene at infinity (or a camera rotating about its centre).

    Finds ``R`` with ``x2 ~ K R K^-1 x1`` (``R`` takes camera-1 vectors into camera 2) by RANSAC over
    minimal 2-point hypotheses scored with a truncated squared reprojection error (MSAC), then refines
    it by Kabsch on the inlier bearings, twice.

    Hypotheses are drawn ``batch`` at a time. After each batch the number still needed is the usual
    adaptive RANSAC bound ``log(1 - confidence) / log(1 - w^2)``, with ``w`` the inlier fraction of the
    best hypothesis so far (an underestimate of the true one, so the bound errs on the safe side); no
    more than ``iterations`` are drawn in all. With 90 % inliers one batch of 16 is enough, with 50 %
    three batches (48 hypotheses) are drawn.

    Parameters
    ----------
    x1, x2 : array_like, shape (N, 2), px
        Corresponding pixel positions in view 1 and view 2.
    K : array_like, shape (3, 3), px
        Camera matrix of both views.
    threshold_px : float, px
        Reprojection error below which a correspondence is an inlier.
    iterations : int
        Most 2-point hypotheses.
    confidence : float or None, in (0, 1)
        Probability of drawing at least one all-inlier sample before stopping early; None always draws
        ``iterations`` hypotheses.
    batch : int
        Hypotheses drawn and scored together.
    rng : numpy.random.Generator, optional
        Source of the random samples (seed 0 when omitted, so results are reproducible).

    Returns
    -------
    R : ndarray, shape (3, 3)
        The rotation; identity when fewer than 2 correspondences are given.
    inliers : ndarray, shape (N,), bool
        Correspondences within ``threshold_px`` of the refined rotation.
    """
    x1 = np.asarray(x1, dtype=np.float64).reshape(-1, 2)
    x2 = np.asarray(x2, dtype=np.float64).reshape(-1, 2)
    K = np.asarray(K, dtype=np.float64)
    n = len(x1)
    if n < 2:
        return np.eye(3), np.zeros(n, dtype=bool)
    if confidence is not None and not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1) or None, got {confidence}")
    rng = np.random.default_rng(0) if rng is None else rng
    b1, b2 = np.split(_bearings(np.concatenate([x1, x2]), K), 2)
    b1_t = np.ascontiguousarray(b1.T)
    d2 = np.ascontiguousarray((x2 - K[:2, 2]).T)
    f = (float(K[0, 0]), float(K[1, 1]))
    thr2 = float(threshold_px) ** 2
    step = max(int(batch), 1) if confidence is not None else int(iterations)
    best: NDArray[np.float64] | None = None
    best_inliers = np.zeros(n, dtype=bool)
    best_cost, best_count, drawn = np.inf, 0, 0
    while drawn < iterations:
        m = min(step, iterations - drawn)
        drawn += m
        i = rng.integers(0, n, size=m)
        j = (i + rng.integers(1, n, size=m)) % n  # j != i
        hyps, ok = _two_point_rotations(b1[i], b1[j], b2[i], b2[j])
        hyps = hyps[ok]
        if len(hyps):
            e2 = _reprojection_sq_errors(hyps, b1_t, d2, f)
            cost = np.minimum(e2, thr2).sum(axis=1)  # MSAC: truncated squared error
            k = int(np.argmin(cost))
            if cost[k] < best_cost:
                best, best_cost, best_inliers = hyps[k], float(cost[k]), e2[k] < thr2
                best_count = int(np.count_nonzero(best_inliers))
        if confidence is not None and drawn >= _hypotheses_needed(best_count, n, confidence):
            break
    if best is None:
        return np.eye(3), np.zeros(n, dtype=bool)
    R, inliers = best, best_inliers
    for _ in range(2):
        if np.count_nonzero(inliers) < 2:
            break
        R = kabsch_rotation(b1[inliers], b2[inliers])
        refined = _reprojection_sq_errors(R, b1_t, d2, f) < thr2
        if np.array_equal(refined, inliers):  # the same set again: the same rotation again
            break
        inliers = refined
    return R, inliers
