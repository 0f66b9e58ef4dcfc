"""Cleaning of 3-D point trajectories before the physics, and outputs that no body can produce.

Skeleton trackers (Kinect, video lifting) produce two kinds of glitch that differentiation turns into
huge, spurious accelerations and angular velocities (one 30 cm jump of a wrist for one frame at 19 Hz is
a 0.3 / 0.053^2 ~ 100 m/s^2 spike at the least, and a forearm that flips for a frame spins at hundreds
of rad/s):

* **jumps**: a point that leaves its path for one or two frames. :func:`hampel_outliers` finds samples
  far (in robust standard deviations) from their running median; the video path uses it on lifted
  landmarks, :func:`clean_motion` on every point of a motion file.
* **bone-length outliers**: frames where a bone (upper arm, forearm, thigh, shank, ...) is much shorter
  or longer than the same bone's median length, a glitch that can last several frames.
  :func:`length_ratio_outliers` is the rule (shared with the video path's collapsed-leg gate),
  :func:`bone_length_outliers` applies it per bone and blames the joint that moved.

Flagged samples get confidence 0, so the kinematics stage treats them as missing and bridges them
like any short gap (``max_gap_s``) instead of differentiating them.

Whatever is left, :func:`implausible_samples` flags output samples beyond what a human body can do
(see :data:`MAX_GYRO_RAD_S`, :data:`MAX_ACC_G`). See ``docs/physics.md``, "Glitch cleaning".
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.core.conventions import G0
from imusynth.core.motion import Motion
from imusynth.core.skeletons import SKELETONS

#: Samples per block of :func:`hampel_outliers` (bounds its temporaries on long tracks).
_HAMPEL_BLOCK = 1024

#: Largest angular velocity a body segment is taken to reach, rad/s (~2000 deg/s): the full-scale range
#: of the wearable gyroscopes the virtual data stands in for, so a virtual value above it can match no
#: real recording. Locomotion and everyday activities stay far below (under ~20 rad/s even sprinting);
#: throws and racket strokes can pass it (raise ``[clean] max_gyro_rad_s`` for them).
MAX_GYRO_RAD_S = 35.0
#: Largest specific force, in g (g0 = 9.80665 m/s^2), taken as possible at a body-worn sensor: the
#: full-scale range of wearable accelerometers (+-16 g); running and jump landings reach 5-12 g at the
#: shank, less at the wrist, thigh and trunk.
MAX_ACC_G = 16.0

#: Bones (pairs of canonical points) whose length :func:`clean_motion` checks. Each end must map to one
#: joint of the motion's skeleton (points averaged from several joints are left out).
CANONICAL_BONES: tuple[tuple[str, str], ...] = (
    ("neck", "head"),
    *(("neck", f"{s}_shoulder") for s in ("left", "right")),
    *((f"{s}_shoulder", f"{s}_elbow") for s in ("left", "right")),
    *((f"{s}_elbow", f"{s}_wrist") for s in ("left", "right")),
    *(("pelvis", f"{s}_hip") for s in ("left", "right")),
    *((f"{s}_hip", f"{s}_knee") for s in ("left", "right")),
    *((f"{s}_knee", f"{s}_ankle") for s in ("left", "right")),
)


def running_median(x: ArrayLike, size: int) -> NDArray[np.float64]:
    """Running median along axis 0 over ``size`` samples, the ends extended by their edge value.

    The same values as ``scipy.ndimage.median_filter(x, size=(size, 1, ...), mode="nearest")`` (its
    window and rank conventions: the window of sample ``i`` is ``[i - size // 2, i + (size - 1) // 2]``,
    and for an even ``size`` the upper of the two middle values), in NumPy only: SciPy's ``ndimage`` stays
    off the video job's path (~0.07 s of import).

    Parameters
    ----------
    x : array_like, shape (T, ...)
        Samples (any unit), time along axis 0; no NaN (NaNs sort last, as in a sort).
    size : int
        Window length, samples (>= 1).

    Returns
    -------
    ndarray, shape (T, ...), float64
    """
    a = np.asarray(x, dtype=np.float64)
    size = int(size)
    if size < 1:
        raise ValueError(f"running_median: size must be >= 1, got {size}")
    if a.shape[0] == 0 or size == 1:
        return a.copy()
    before, after = size // 2, (size - 1) // 2
    padded = np.concatenate([np.repeat(a[:1], before, axis=0), a, np.repeat(a[-1:], after, axis=0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, size, axis=0)   # (T, ..., size), a view
    return np.partition(windows, before, axis=-1)[..., before]


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
    a = np.asarray(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)          # all-NaN columns: their fill is NaN
        fill = np.nanmedian(np.asarray(a, dtype=np.float64), axis=0, keepdims=True)   # no copy if float64
    # Blocks of _HAMPEL_BLOCK samples, each read with 2 * (window // 2) samples of context on each side
    # (the median of the deviations needs the medians of its whole window): the flags are those of one
    # pass over the whole array, while the float64 temporaries stay those of one block.
    h = 2 * (window // 2)
    out = np.zeros(a.shape, dtype=bool)
    for s in range(0, a.shape[0], _HAMPEL_BLOCK):
        e = min(a.shape[0], s + _HAMPEL_BLOCK)
        lo, hi = max(0, s - h), min(a.shape[0], e + h)
        blk = a[lo:hi].astype(np.float64)
        filled = np.where(np.isfinite(blk), blk, fill)
        med = running_median(filled, window)
        mad = running_median(np.abs(filled - med), window)
        scale = np.maximum(1.4826 * mad, min_scale)
        with np.errstate(invalid="ignore"):
            flags = np.isfinite(blk) & (np.abs(blk - med) > n_sigma * scale)
        out[s:e] = flags[s - lo: s - lo + (e - s)]
    return out


def length_ratio_outliers(lengths: ArrayLike, *, tolerance: float) -> NDArray[np.bool_]:
    """Lengths far from their median: below ``1 - tolerance`` or above ``1 / (1 - tolerance)`` times it.

    Parameters
    ----------
    lengths : array_like, shape (T,) or (T, B)
        Lengths over time (one column per bone); NaN or <= 0 is never an outlier.
    tolerance : float
        Accepted relative deviation, in (0, 1] (symmetric in log scale); 1 accepts everything.

    Returns
    -------
    ndarray, same shape as ``lengths``, bool

    Raises
    ------
    ValueError
        For a tolerance outside (0, 1].
    """
    if not 0.0 < tolerance <= 1.0:
        raise ValueError(f"tolerance must be in (0, 1], got {tolerance}")
    x = np.asarray(lengths, dtype=np.float64)
    col = x.reshape(x.shape[0], -1)
    out = np.zeros(col.shape, dtype=bool)
    if tolerance >= 1.0:
        return out.reshape(x.shape)
    for b in range(col.shape[1]):
        finite = np.isfinite(col[:, b]) & (col[:, b] > 0)
        if finite.any():
            ratio = col[finite, b] / float(np.median(col[finite, b]))
            out[finite, b] = (ratio < 1.0 - tolerance) | (ratio > 1.0 / (1.0 - tolerance))
    return out.reshape(x.shape)


def skeleton_bones(names: Sequence[str], skeleton: str | None) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)`` into ``names`` of the :data:`CANONICAL_BONES` the motion has.

    A canonical end is the point of that name, or the one joint that ``skeleton``'s map gives for it;
    a bone is left out when an end is missing or averaged from several joints. Free marker sets
    (``skeleton`` None or unknown) have no bones.
    """
    index = {n: i for i, n in enumerate(names)}
    mapping = SKELETONS[skeleton][1] if skeleton in SKELETONS else {}

    def joint(canon: str) -> int | None:
        if canon in index:
            return index[canon]
        src = mapping.get(canon, [])
        return index.get(src[0]) if len(set(src)) == 1 else None

    if skeleton not in SKELETONS and skeleton != "canonical":
        return []
    bones = []
    for a, b in CANONICAL_BONES:
        i, j = joint(a), joint(b)
        if i is not None and j is not None and i != j:
            bones.append((i, j))
    return bones


def bone_length_outliers(xyz: ArrayLike, bones: Sequence[tuple[int, int]], *,
                         tolerance: float) -> NDArray[np.bool_]:
    """Joint samples to discard because a bone through them has an implausible length.

    Each bone's length is checked with :func:`length_ratio_outliers` against its own median. In a frame
    where a bone is an outlier, the joint that moved is blamed: first every joint with at least two bones
    that are all outliers (an elbow whose upper arm and forearm are both wrong); then, for an outlier bone
    with neither end blamed yet, its end with fewer bones (a wrist at the end of a forearm), or both ends
    when they have as many.

    Parameters
    ----------
    xyz : array_like, shape (T, P, 3), m
        Positions (NaN where missing).
    bones : sequence of (int, int)
        Index pairs into the P points (:func:`skeleton_bones`).
    tolerance : float
        As in :func:`length_ratio_outliers`.

    Returns
    -------
    ndarray, shape (T, P), bool
    """
    p = np.asarray(xyz, dtype=np.float64)
    out = np.zeros(p.shape[:2], dtype=bool)
    if not bones:
        return out
    pairs = np.asarray(bones, dtype=np.int64)
    lengths = np.linalg.norm(p[:, pairs[:, 0]] - p[:, pairs[:, 1]], axis=2)       # (T, B)
    bad = length_ratio_outliers(lengths, tolerance=tolerance)
    if not bad.any():
        return out
    degree = np.bincount(pairs.ravel(), minlength=p.shape[1])
    n_bad = np.zeros(out.shape, dtype=np.int64)
    for b, (i, j) in enumerate(pairs):
        n_bad[:, i] += bad[:, b]
        n_bad[:, j] += bad[:, b]
    out |= (degree[None, :] >= 2) & (n_bad == degree[None, :]) & (n_bad > 0)
    for b, (i, j) in enumerate(pairs):
        rows = bad[:, b] & ~out[:, i] & ~out[:, j]
        if not rows.any():
            continue
        if degree[i] <= degree[j]:
            out[rows, i] = True
        if degree[j] <= degree[i]:
            out[rows, j] = True
    return out


@dataclass(frozen=True)
class CleaningReport:
    """What :func:`clean_motion` removed.

    Attributes
    ----------
    jumps : ndarray, shape (T, P), bool
        Samples removed as jumps (:func:`hampel_outliers` on any coordinate).
    bones : ndarray, shape (T, P), bool
        Samples removed for an implausible bone length (:func:`bone_length_outliers`).
    names : tuple of str
        The point names, length P.
    """

    jumps: NDArray[np.bool_]
    bones: NDArray[np.bool_]
    names: tuple[str, ...]

    @property
    def removed(self) -> NDArray[np.bool_]:
        """Samples removed for either reason, shape (T, P)."""
        return self.jumps | self.bones

    def summary(self) -> str:
        """One line: how many samples of how many points were removed, and why."""
        worst = np.argsort(-self.removed.sum(axis=0))[:3]
        top = ", ".join(f"{self.names[i]} {int(self.removed[:, i].sum())}" for i in worst
                        if self.removed[:, i].any())
        return (f"glitch cleaning removed {int(self.jumps.sum())} jump sample(s) and {int(self.bones.sum())} "
                f"bone-length outlier sample(s) ({top}); they are bridged as gaps (--no-clean keeps them)")


def clean_motion(motion: Motion, *, jump_window: int = 5, jump_sigmas: float = 4.0,
                 min_jump_m: float = 0.03, bone_tolerance: float = 0.3) -> tuple[Motion, CleaningReport]:
    """Remove jumps and bone-length outliers from a motion (their confidence becomes 0).

    Parameters
    ----------
    motion : Motion
        Positions in m.
    jump_window : int
        Odd length of the running median of :func:`hampel_outliers`, samples (>= 3). 5 is robust to jumps
        of one or two frames and short enough that fast, smooth motion stays close to its running median
        (no sample of 147 Bandai-Namco and 5 CMU BVH takes, running and waving included, is flagged).
    jump_sigmas : float
        Its threshold, in robust standard deviations of the running MAD.
    min_jump_m : float, m
        Floor on that scale: a sample is a jump only if it lies more than ``jump_sigmas * min_jump_m`` from
        its running median in some coordinate (0.12 m by default), so quiet spans keep their small jitter.
    bone_tolerance : float
        Relative bone-length tolerance of :func:`bone_length_outliers`, in (0, 1]; 1 turns the check off.

    Returns
    -------
    (Motion, CleaningReport)
        The motion with confidence 0 at removed samples (positions kept), and what was removed.
    """
    if motion.n_frames < 3:
        none = np.zeros(motion.xyz.shape[:2], dtype=bool)
        return motion, CleaningReport(none, none.copy(), motion.names)
    if jump_window < 3 or jump_window % 2 == 0:
        raise ValueError(f"jump_window must be an odd number of samples >= 3, got {jump_window}")
    ok = motion.confidence > 0
    xyz = np.where(ok[..., None], motion.xyz, np.nan)
    jumps: NDArray[np.bool_] = np.any(
        hampel_outliers(xyz, window=jump_window, n_sigma=jump_sigmas, min_scale=min_jump_m), axis=2)
    kept = np.where(jumps[..., None], np.nan, xyz)
    bones = bone_length_outliers(kept, skeleton_bones(motion.names, motion.skeleton),
                                 tolerance=bone_tolerance) & ~jumps
    removed = jumps | bones
    cleaned = motion if not removed.any() else dataclasses.replace(
        motion, confidence=np.where(removed, 0.0, motion.confidence))
    return cleaned, CleaningReport(jumps, bones, motion.names)


def implausible_samples(acc: ArrayLike, gyro: ArrayLike, *, max_acc: float = MAX_ACC_G * G0,
                        max_gyro: float = MAX_GYRO_RAD_S) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Samples whose specific force or angular velocity exceeds what a body can do.

    Parameters
    ----------
    acc : array_like, shape (N, 3), m/s^2
        Specific force (NaN where invalid: never flagged).
    gyro : array_like, shape (N, 3), rad/s
        Angular velocity.
    max_acc : float, m/s^2
        Bound on ``|acc|`` (default :data:`MAX_ACC_G` g); ``inf`` turns the check off.
    max_gyro : float, rad/s
        Bound on ``|gyro|`` (default :data:`MAX_GYRO_RAD_S`).

    Returns
    -------
    (acc_high, gyro_high) : ndarrays, shape (N,), bool
    """
    with np.errstate(invalid="ignore"):
        a = np.linalg.norm(np.asarray(acc, dtype=np.float64), axis=1) > max_acc
        g = np.linalg.norm(np.asarray(gyro, dtype=np.float64), axis=1) > max_gyro
    return a, g
