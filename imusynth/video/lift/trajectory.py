"""Trajectories of the lifting stage: implausible skeletons, depth smoothing, stacking per-frame solves.

The per-frame PnP (:mod:`imusynth.video.lift.pnp`) fixes each frame's body well along the image rays but
its distance from the camera poorly; these functions treat a whole track: frames whose skeleton collapsed
(:func:`leg_length_outliers`), the depth's low-pass (:func:`smooth_depth`) and the rigid shift that
applies it to every landmark (:func:`body_trajectory`). See ``docs/lifting.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.core.cleaning import length_ratio_outliers
from imusynth.core.kinematics import lowpass, sections_padlen
from imusynth.core.skeletons import MEDIAPIPE_33
from imusynth.video.lift.base import (
    DEFAULT_DEPTH_CUTOFF_HZ,
    DEFAULT_LEG_LENGTH_TOLERANCE,
    N_LANDMARKS,
    LiftError,
)
from imusynth.video.lift.pnp import LiftedFrame

#: The four leg segments (hip-knee, knee-ankle, both sides) as MediaPipe landmark index pairs.
_LEG_SEGMENTS = tuple(
    (MEDIAPIPE_33.index(f"{side}_{a}"), MEDIAPIPE_33.index(f"{side}_{b}"))
    for side in ("left", "right") for a, b in (("hip", "knee"), ("knee", "ankle"))
)


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
    return length_ratio_outliers(legs, tolerance=tolerance)   # the rule shared with motion files' bones


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
