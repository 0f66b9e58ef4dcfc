"""The numbers and flags of the QA report, computed from what an ``imusynth/1`` clip stores.

Every function takes arrays and explicit thresholds (SI units: m/s^2, rad/s, m, s) and returns plain
numbers; :mod:`imusynth.report.collect` reads the file and calls them, :mod:`imusynth.report.svg` draws.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Flag names, in the order the page lists them, with their meaning (the page's legend).
FLAGS: dict[str, str] = {
    "acc_high": "|acc| above the threshold at a valid sample",
    "gyro_high": "|gyro| above the threshold at a valid sample",
    "low_valid": "a sensor's share of valid samples below the threshold",
    "depth_jump": "the body's distance from the camera changes faster than the threshold",
    "identity_switch": "more left/right identity switches than the threshold",
}


def valid_share(valid: ArrayLike) -> float:
    """Fraction of True samples of ``valid`` (N,), in [0, 1]; 0 for an empty array."""
    v = np.asarray(valid, dtype=bool)
    return float(v.mean()) if v.size else 0.0


def vector_norms(values: ArrayLike, valid: ArrayLike) -> NDArray[np.float64]:
    """Euclidean norms of the valid rows of ``values`` (N, 3): (M,) in the unit of ``values``."""
    v = np.asarray(values, dtype=np.float64)
    keep = np.asarray(valid, dtype=bool) & np.all(np.isfinite(v), axis=1)
    return np.linalg.norm(v[keep], axis=1)


def peak(norms: ArrayLike) -> float:
    """Largest value of ``norms`` (M,); NaN when empty."""
    n = np.asarray(norms, dtype=np.float64)
    return float(n.max()) if n.size else float("nan")


def camera_rotation_rate(rotations: ArrayLike, time: ArrayLike) -> float:
    """Mean rotation rate of a camera, rad/s: the frame-to-frame rotation angles summed over the time span.

    Parameters
    ----------
    rotations : array, shape (F, 3, 3)
        ``R_world_from_camera`` per frame.
    time : array, shape (F,), s
        Frame times.

    Returns
    -------
    float, rad/s
        NaN for fewer than two frames or a zero time span.
    """
    R = np.asarray(rotations, dtype=np.float64)
    t = np.asarray(time, dtype=np.float64)
    if R.shape[0] < 2 or not t[-1] > t[0]:
        return float("nan")
    rel = np.einsum("fji,fjk->fik", R[:-1], R[1:])  # R_k^T R_{k+1}
    cos = np.clip((np.trace(rel, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)
    angles = np.arccos(cos)
    angles = angles[np.isfinite(angles)]
    return float(angles.sum() / (t[-1] - t[0]))


def body_depth(camera_points: ArrayLike, hips: tuple[int, int] | None = None) -> NDArray[np.float64]:
    """The body's distance from the camera per frame, m: the hip midpoint's z, else the points' median z.

    Parameters
    ----------
    camera_points : array, shape (F, P, 3), m
        Landmarks in the camera frame (z forward); NaN where not placed.
    hips : (int, int), optional
        Indices of the left and right hip among the P points.

    Returns
    -------
    ndarray, shape (F,), m
        NaN where no point is placed.
    """
    pts = np.asarray(camera_points, dtype=np.float64)
    depth = pts[..., 2]
    z = np.full(pts.shape[0], np.nan)
    placed = np.isfinite(depth).any(axis=1)
    z[placed] = np.nanmedian(depth[placed], axis=1)
    if hips is not None:
        mid = 0.5 * (depth[:, hips[0]] + depth[:, hips[1]])
        z = np.where(np.isfinite(mid), mid, z)
    return z


def depth_jumps(depth: ArrayLike, time: ArrayLike, *, max_speed_m_s: float) -> int:
    """Number of depth jumps: runs of frames where the body's distance from the camera changes too fast.

    Parameters
    ----------
    depth : array, shape (F,), m
        The body's distance from the camera (:func:`body_depth`); NaN where unknown (skipped).
    time : array, shape (F,), s
    max_speed_m_s : float, m/s
        Largest plausible speed of the depth between consecutive known frames.

    Returns
    -------
    int
        Maximal runs of consecutive steps whose depth speed exceeds ``max_speed_m_s``.
    """
    z = np.asarray(depth, dtype=np.float64)
    t = np.asarray(time, dtype=np.float64)
    keep = np.isfinite(z)
    z, t = z[keep], t[keep]
    if z.size < 2:
        return 0
    speed = np.abs(np.diff(z)) / np.maximum(np.diff(t), 1e-9)
    fast = speed > max_speed_m_s
    return int(np.count_nonzero(fast[1:] & ~fast[:-1]) + int(fast[0]))


def identity_switches(swapped: ArrayLike) -> int:
    """Number of left/right identity switches: changes of the swap state, summed over the limb groups.

    Parameters
    ----------
    swapped : array, shape (F, G) or (F,), bool
        Where the identity correction exchanged the left/right labels (``pose/left_right_swapped``).
    """
    s = np.asarray(swapped, dtype=bool)
    if s.ndim == 1:
        s = s[:, None]
    if s.shape[0] < 2:
        return 0
    return int(np.count_nonzero(s[1:] != s[:-1]))


def clip_flags(
    *,
    peak_acc: float,
    peak_gyro: float,
    shares: dict[str, float],
    depth_jump_count: int,
    switch_count: int,
    max_acc: float,
    max_gyro: float,
    min_valid_share: float,
    max_identity_switches: int,
) -> list[str]:
    """The flags of one clip (names of :data:`FLAGS`, in that order).

    Parameters
    ----------
    peak_acc : float, m/s^2
        Largest |acc| over every valid sample of the clip's sensors (NaN when none).
    peak_gyro : float, rad/s
        The same for |gyro|.
    shares : dict of str to float
        Valid share in [0, 1] per sensor.
    depth_jump_count, switch_count : int
        From :func:`depth_jumps` and :func:`identity_switches` (0 for motion clips).
    max_acc : float, m/s^2
    max_gyro : float, rad/s
    min_valid_share : float, in [0, 1]
    max_identity_switches : int
    """
    flags = []
    if peak_acc > max_acc:
        flags.append("acc_high")
    if peak_gyro > max_gyro:
        flags.append("gyro_high")
    if any(s < min_valid_share for s in shares.values()):
        flags.append("low_valid")
    if depth_jump_count > 0:
        flags.append("depth_jump")
    if switch_count > max_identity_switches:
        flags.append("identity_switch")
    return flags


def invalid_spans(time: ArrayLike, valid: ArrayLike) -> list[tuple[float, float]]:
    """Time spans ``[t0, t1]`` (s) of the maximal runs of invalid samples, each widened by half a sample."""
    t = np.asarray(time, dtype=np.float64)
    v = np.asarray(valid, dtype=bool)
    if t.size == 0:
        return []
    half = 0.5 * float(np.median(np.diff(t))) if t.size > 1 else 0.0
    bad = np.concatenate([[False], ~v, [False]])
    edges = np.flatnonzero(bad[1:] != bad[:-1])
    return [
        (float(t[a]) - half, float(t[b - 1]) + half) for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]


def decimate_minmax(
    time: ArrayLike, values: ArrayLike, bins: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Keep the smallest and largest sample of each of ``bins`` equal time bins, in time order.

    The envelope a plot of ``bins`` pixel columns would show: every peak survives. NaN samples are
    dropped; a bin without finite samples gives a NaN row that breaks the line there.

    Parameters
    ----------
    time : array, shape (N,), s
    values : array, shape (N,)
    bins : int

    Returns
    -------
    t, y : ndarray, shape (M,)
        ``M <= 2 * bins`` (``M = N`` when ``N <= 2 * bins``).
    """
    t = np.asarray(time, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if t.size <= 2 * bins:
        return t, y
    idx = np.minimum(((t - t[0]) / max(t[-1] - t[0], 1e-12) * bins).astype(np.int64), bins - 1)
    finite = np.isfinite(y)
    lo = np.where(finite, y, np.inf)
    hi = np.where(finite, y, -np.inf)
    order = np.arange(t.size)
    starts = np.searchsorted(idx, np.arange(bins))
    stops = np.append(starts[1:], t.size)
    out_t, out_y = [], []
    for a, b in zip(starts, stops, strict=True):
        if b <= a:
            continue
        if not finite[a:b].any():
            out_t.append(t[a])
            out_y.append(np.nan)
            continue
        i, j = a + int(np.argmin(lo[a:b])), a + int(np.argmax(hi[a:b]))
        for k in sorted({int(order[i]), int(order[j])}):
            out_t.append(t[k])
            out_y.append(y[k])
    return np.asarray(out_t), np.asarray(out_y)


def nice_step(span: float, target: int = 4) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``target`` ticks over ``span``."""
    if not span > 0 or not np.isfinite(span):
        return 1.0
    raw = span / target
    power = 10.0 ** np.floor(np.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * power >= raw:
            return float(m * power)
    return float(10.0 * power)  # pragma: no cover - the loop always returns


def density(values: ArrayLike, edges: ArrayLike) -> NDArray[np.float64]:
    """Histogram of ``values`` over ``edges`` (B+1,) normalised to unit area (1/unit); values beyond the
    last edge count in the last bin. Zeros when ``values`` is empty."""
    e = np.asarray(edges, dtype=np.float64)
    v = np.clip(np.asarray(values, dtype=np.float64), e[0], e[-1])
    counts, _ = np.histogram(v, bins=e)
    total = counts.sum()
    if total == 0:
        return np.zeros(e.size - 1)
    return counts / (total * np.diff(e))
