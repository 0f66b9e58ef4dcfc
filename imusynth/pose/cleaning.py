"""Cleaning of tracked landmarks before lifting: left/right swaps and isolated outliers.

Single-view pose models confuse the left and right limbs, most of all in side views: the two legs
overlap in the image and the model flips which one is nearer the camera, so a leg jumps by a hip
width in depth — an acceleration spike of hundreds of m/s^2.

* Legs: in the model's metric, hip-centred 3-D landmarks each leg hangs from its own hip. Projected
  on the hip axis (left hip -> right hip), the left leg's points must lie on the left of the right
  leg's; where the order is inverted the leg group is swapped back.
* Arms (which may cross the body): each arm group is checked in the image against a
  constant-velocity prediction from the previous two corrected frames and swapped back when the
  swapped assignment fits clearly better.

Outliers that remain (one- or two-frame jumps) are found with a Hampel filter and marked missing, so
the kinematics stage bridges them like any short gap instead of differentiating them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import median_filter

from ..skeletons import MEDIAPIPE_33


def _pairs(*joints: str) -> list[tuple[int, int]]:
    return [(MEDIAPIPE_33.index(f"left_{j}"), MEDIAPIPE_33.index(f"right_{j}")) for j in joints]


#: Limb groups swapped as a whole (MediaPipe 33 indices, left then right).
LIMB_GROUPS: tuple[list[tuple[int, int]], ...] = (
    _pairs("knee", "ankle", "heel", "foot_index"),
    _pairs("elbow", "wrist", "pinky", "index", "thumb"),
)


_LEFT_HIP, _RIGHT_HIP = MEDIAPIPE_33.index("left_hip"), MEDIAPIPE_33.index("right_hip")


def leg_swaps(world_xyz: NDArray[np.floating]) -> NDArray[np.bool_]:
    """Frames whose legs are swapped, from the hip-centred metric landmarks.

    Parameters
    ----------
    world_xyz : ndarray, shape (T, 33, 3), m
        MediaPipe world landmarks of one track.

    Returns
    -------
    ndarray, shape (T,), bool
        True where the left leg's points lie, on average, on the right of the right leg's along the
        hip axis.
    """
    w = np.asarray(world_xyz, dtype=np.float64)
    axis = w[:, _RIGHT_HIP] - w[:, _LEFT_HIP]
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    left = [a for a, _ in LIMB_GROUPS[0]]
    right = [b for _, b in LIMB_GROUPS[0]]
    s_left = np.einsum("tpk,tk->tp", w[:, left], axis).mean(axis=1)
    s_right = np.einsum("tpk,tk->tp", w[:, right], axis).mean(axis=1)
    with np.errstate(invalid="ignore"):
        return np.asarray(s_left > s_right)


def fix_left_right_swaps(image_xy: NDArray[np.floating], world_xyz: NDArray[np.floating], *,
                         ratio: float = 0.6) -> NDArray[np.bool_]:
    """Detect frames whose left and right limbs are swapped (legs: :func:`leg_swaps`; arms: in the image).

    Parameters
    ----------
    image_xy : ndarray, shape (T, 33, 2), px
        One track's 2-D landmarks over consecutive detections (NaN where missing).
    world_xyz : ndarray, shape (T, 33, 3), m
        The same detections' hip-centred metric landmarks.
    ratio : float
        An arm group is swapped when the swapped assignment's distance to the prediction is below
        ``ratio`` times the kept assignment's.

    Returns
    -------
    ndarray, shape (T, len(LIMB_GROUPS)), bool
        True where a limb group must be swapped back (apply with :func:`apply_swaps`).
    """
    xy = np.array(image_xy, dtype=np.float64, copy=True)
    n = xy.shape[0]
    swaps = np.zeros((n, len(LIMB_GROUPS)), dtype=bool)
    swaps[:, 0] = leg_swaps(world_xyz)
    for t in range(1, n):
        pred = xy[t - 1] if t < 2 else 2 * xy[t - 1] - xy[t - 2]
        if not np.isfinite(pred).all():
            pred = xy[t - 1]
        for g, pairs in enumerate(LIMB_GROUPS):
            if g == 0:
                continue
            left = [a for a, _ in pairs]
            right = [b for _, b in pairs]
            keep = np.nansum(np.linalg.norm(xy[t, left] - pred[left], axis=1)
                             + np.linalg.norm(xy[t, right] - pred[right], axis=1))
            swap = np.nansum(np.linalg.norm(xy[t, right] - pred[left], axis=1)
                             + np.linalg.norm(xy[t, left] - pred[right], axis=1))
            if np.isfinite(keep) and swap < ratio * keep:
                swaps[t, g] = True
                xy[t, left + right] = xy[t, right + left]
    return swaps


def apply_swaps(arr: NDArray[np.floating], swaps: NDArray[np.bool_]) -> NDArray[np.floating]:
    """Swap the left/right landmarks of ``arr`` (shape (T, 33, ...)) where ``swaps`` says so."""
    out = np.array(arr, copy=True)
    for g, pairs in enumerate(LIMB_GROUPS):
        left = [a for a, _ in pairs]
        right = [b for _, b in pairs]
        rows = np.flatnonzero(swaps[:, g])
        if rows.size:
            out[np.ix_(rows, np.array(left + right))] = arr[np.ix_(rows, np.array(right + left))]
    return out


def hampel_outliers(x: NDArray[np.floating], *, window: int = 7, n_sigma: float = 4.0,
                    min_scale: float = 0.0) -> NDArray[np.bool_]:
    """Samples further than ``n_sigma`` robust standard deviations from their running median.

    Parameters
    ----------
    x : ndarray, shape (T, ...)
        Samples along axis 0 (NaN allowed: never an outlier).
    window : int
        Odd length of the running median, samples.
    n_sigma : float
        Threshold in units of the running MAD scaled to a standard deviation (1.4826 x MAD).
    min_scale : float
        Floor on the scale (same unit as ``x``), so quiet spans do not flag tiny wiggles.

    Returns
    -------
    ndarray, shape (T, ...), bool
    """
    a = np.asarray(x, dtype=np.float64)
    size = (window,) + (1,) * (a.ndim - 1)
    filled = np.where(np.isfinite(a), a, np.nanmedian(a, axis=0, keepdims=True))
    med = median_filter(filled, size=size, mode="nearest")
    mad = median_filter(np.abs(filled - med), size=size, mode="nearest")
    scale = np.maximum(1.4826 * mad, min_scale)
    with np.errstate(invalid="ignore"):
        return np.isfinite(a) & (np.abs(a - med) > n_sigma * scale)
