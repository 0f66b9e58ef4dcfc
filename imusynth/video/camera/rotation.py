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
    """

    Triad = tuple[NDArray[np.float64], NDArray[np.float64]]

    def triad(a: NDArray[np.float64], c: NDArray[np.float64]) -> Triad:
        n = _cross(a, c)
        norm = np.sqrt(np.sum(n * n, axis=1, keepdims=True))
        n = n / np.maximum(norm, 1e-12)
        return np.stack([a, n, _cross(a, n)], axis=2), norm[:, 0]

    T1, s1 = triad(a1, c1)
    T2, s2 = triad(a2, c2)
    ok = (s1 > 0.02) & (s2 > 0.02)  # pairs at least ~1 deg apart
    return np.einsum("hik,hjk->hij", T2, T1), ok  # T2 @ T1^T


def _reprojection_errors(
    R: NDArray[np.float64], b1: NDArray[np.float64], x2: NDArray[np.float64], K: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Pixel distances ``(H, N)`` between ``x2`` and the projections of ``R b1``, rotations ``(H, 3, 3)``."""
    # explicit products: a (possibly multi-threaded) BLAS call costs more than it saves on 3x3 blocks
    bx, by, bz = b1[:, 0], b1[:, 1], b1[:, 2]
    px, py, pz = (R[:, k, 0:1] * bx + R[:, k, 1:2] * by + R[:, k, 2:3] * bz for k in range(3))
    front = pz > 1e-9
    zs = np.where(front, pz, 1.0)
    u = K[0, 0] * (px / zs) + (K[0, 2] - x2[:, 0])
    v = K[1, 1] * (py / zs) + (K[1, 2] - x2[:, 1])
    return np.where(front, np.hypot(u, v), np.inf)


def estimate_rotation(
    x1: ArrayLike,
    x2: ArrayLike,
    K: ArrayLike,
    *,
    threshold_px: float = 1.0,
    iterations: int = 100,
    rng: np.random.Generator | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Robust rotation between two views of a scene at infinity (or a camera rotating about its centre).

    Finds ``R`` with ``x2 ~ K R K^-1 x1`` (``R`` takes camera-1 vectors into camera 2) by RANSAC over
    minimal 2-point hypotheses scored with a truncated squared reprojection error (MSAC), then refines
    it by Kabsch on the inlier bearings, twice.

    Parameters
    ----------
    x1, x2 : array_like, shape (N, 2), px
        Corresponding pixel positions in view 1 and view 2.
    K : array_like, shape (3, 3), px
        Camera matrix of both views.
    threshold_px : float, px
        Reprojection error below which a correspondence is an inlier.
    iterations : int
        Number of 2-point hypotheses.
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
    rng = np.random.default_rng(0) if rng is None else rng
    b1 = _bearings(x1, K)
    b2 = _bearings(x2, K)
    i = rng.integers(0, n, size=iterations)
    j = (i + rng.integers(1, n, size=iterations)) % n  # j != i
    hyps, ok = _two_point_rotations(b1[i], b1[j], b2[i], b2[j])
    hyps = hyps[ok]
    if len(hyps) == 0:
        return np.eye(3), np.zeros(n, dtype=bool)
    err = _reprojection_errors(hyps, b1, x2, K)
    cost = np.minimum(err, threshold_px) ** 2
    best = hyps[int(np.argmin(cost.sum(axis=1)))]
    inliers = err[int(np.argmin(cost.sum(axis=1)))] < threshold_px
    R = best
    for _ in range(2):
        if inliers.sum() < 2:
            break
        R = kabsch_rotation(b1[inliers], b2[inliers])
        inliers = _reprojection_errors(R[None], b1, x2, K)[0] < threshold_px
    return R, inliers
