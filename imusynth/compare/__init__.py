"""Compare a virtual IMU signal with a real IMU recording: band, rate, offset, rotation, lever arm, metrics.

The comparison runs in five steps, each a public function that takes plain arrays (SI units):

1. :func:`band_limit` -- zero-phase low-pass of both signals at their common band (:func:`default_cutoff_hz`,
   :func:`lowpass`), the virtual one resampled onto a uniform grid in its own clock (:func:`resample`);
   the real one stays at its native samples and is resampled onto the same grid once the offset is known.
   Invalid samples are NaN and are never interpolated across.
2. :func:`estimate_time_offset` -- masked, normalised cross-correlation of rotation-invariant signals
   (gyroscope norm, accelerometer norm), or of the axes once a rotation is known; parabolic refinement of
   the peak.
3. :func:`fit_rotation` -- the constant rotation between the two sensor frames from the gyroscopes
   (Kabsch / Wahba, SVD).
4. :func:`fit_lever_arm` -- the position of the real sensor relative to the virtual one, by linear least
   squares on the rigid-body acceleration terms.
5. :func:`axis_metrics` -- Pearson r, RMSE and normalised RMSE per axis.

:func:`compare_signals` runs them all and returns a :class:`CompareResult`.

Conventions (also in ``docs/compare.md``):

- time offset ``offset_s``: the real sample taken at real-clock time ``t + offset_s`` corresponds to
  the virtual sample at virtual-clock time ``t``;
- rotation ``R`` (3x3, quaternion ``(w, x, y, z)``): maps a vector written in the virtual sensor frame
  into the real sensor frame, ``gyro_r(t + offset_s) = R gyro_v(t)``;
- lever arm ``r`` (m): the position of the real sensor in the virtual sensor frame, relative to the
  virtual sensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import CubicSpline
from scipy.signal import correlate

from imusynth.core.conventions import quat_from_matrix
from imusynth.core.kinematics import lowpass as kinematics_lowpass
from imusynth.core.kinematics import sections_padlen
from imusynth.errors import InputError

__all__ = [
    "AXES",
    "AxisMetrics",
    "BandLimited",
    "CompareError",
    "CompareResult",
    "OffsetEstimate",
    "apply_lever_arm",
    "axis_metrics",
    "band_limit",
    "compare_signals",
    "default_cutoff_hz",
    "estimate_rate_hz",
    "estimate_time_offset",
    "fit_lever_arm",
    "fit_rotation",
    "lowpass",
    "resample",
]

#: Axis names, in order.
AXES: tuple[str, str, str] = ("x", "y", "z")

#: A step longer than this many median steps splits a signal into separate runs (a gap).
GAP_FACTOR = 2.0

#: Fraction of the lower Nyquist frequency used as the default cut-off.
CUTOFF_FRACTION = 0.8

Array = NDArray[np.float64]


class CompareError(InputError, ValueError):
    """Signals that cannot be compared (too short an overlap, constant signals, bad shapes)."""


# --------------------------------------------------------------------------------------------------
# Step 1: band limit and resample
# --------------------------------------------------------------------------------------------------


def _as_time(t: ArrayLike, name: str) -> Array:
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or t.size < 2:
        raise CompareError(f"{name} must be 1-D with at least 2 samples, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise CompareError(f"{name} contains NaN or infinite values")
    if np.any(np.diff(t) <= 0):
        raise CompareError(f"{name} must be strictly increasing")
    return t


def _as_signal(x: ArrayLike, n: int, name: str) -> Array:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] != n:
        raise CompareError(f"{name} must have shape ({n},) or ({n}, C), got {x.shape}")
    return x


def estimate_rate_hz(t: ArrayLike) -> float:
    """Sampling rate from timestamps: one over the median step.

    Parameters
    ----------
    t : array_like, shape (N,), s
        Strictly increasing timestamps, N >= 2.

    Returns
    -------
    float
        Rate in Hz.
    """
    t = _as_time(t, "time")
    return float(1.0 / np.median(np.diff(t)))


def default_cutoff_hz(
    rate_a_hz: float, rate_b_hz: float, *, rate_common_hz: float | None = None, cap_hz: float | None = None
) -> float:
    """Default low-pass cut-off: ``0.8 x`` the lowest Nyquist frequency, optionally capped.

    ``f_c = min(0.8 * min(f_a, f_b, f_common) / 2, cap_hz)``.

    Parameters
    ----------
    rate_a_hz, rate_b_hz : float
        Sampling rates of the two signals, Hz.
    rate_common_hz : float, optional
        Rate of the common grid, Hz; it bounds the band as well (no aliasing on resampling).
    cap_hz : float, optional
        A user cut-off, Hz; the result never exceeds it.

    Returns
    -------
    float
        Cut-off frequency, Hz.
    """
    rates = [rate_a_hz, rate_b_hz] + ([] if rate_common_hz is None else [rate_common_hz])
    if min(rates) <= 0:
        raise CompareError(f"sampling rates must be positive, got {rates}")
    cutoff = CUTOFF_FRACTION * min(rates) / 2.0
    if cap_hz is not None:
        if cap_hz <= 0:
            raise CompareError(f"cutoff_hz must be positive, got {cap_hz}")
        cutoff = min(cutoff, float(cap_hz))
    return float(cutoff)


def _runs(t: Array, ok: NDArray[np.bool_], max_gap_s: float) -> list[tuple[int, int]]:
    """Half-open index ranges ``[start, stop)`` of consecutive ``ok`` samples with no step > ``max_gap_s``."""
    cont = np.zeros(t.size, dtype=bool)  # cont[i]: sample i continues the run of sample i-1
    cont[1:] = ok[1:] & ok[:-1] & (np.diff(t) <= max_gap_s)
    starts = np.flatnonzero(ok & ~cont)
    stops = np.flatnonzero(ok & ~np.append(cont[1:], False)) + 1
    return [(int(s), int(e)) for s, e in zip(starts, stops, strict=True)]


def _ok_mask(x: Array, valid: ArrayLike | None) -> NDArray[np.bool_]:
    ok = np.all(np.isfinite(x), axis=1)
    if valid is not None:
        v = np.asarray(valid, dtype=bool)
        if v.shape != ok.shape:
            raise CompareError(f"valid must have shape {ok.shape}, got {v.shape}")
        ok &= v
    return ok


def _default_gap(t: Array, max_gap_s: float | None) -> float:
    return GAP_FACTOR * float(np.median(np.diff(t))) if max_gap_s is None else float(max_gap_s)


def lowpass(
    t: ArrayLike,
    x: ArrayLike,
    *,
    cutoff_hz: float,
    valid: ArrayLike | None = None,
    order: int = 4,
    max_gap_s: float | None = None,
) -> Array:
    """Zero-phase Butterworth low-pass, applied separately to each run of valid samples.

    A run is a stretch of consecutive samples that are valid, finite, and no more than ``max_gap_s``
    apart. The filter (:func:`imusynth.core.kinematics.lowpass`, order ``order`` forwards and backwards:
    -6 dB at ``cutoff_hz``, no phase shift) assumes the median sampling step inside each run. Runs too
    short for the filter's edge padding (``3 * (2 * n_sections + 1)`` samples or fewer) come back as NaN.

    Parameters
    ----------
    t : array_like, shape (N,), s
        Strictly increasing timestamps.
    x : array_like, shape (N,) or (N, C)
        Signal, any unit.
    cutoff_hz : float
        Cut-off frequency, Hz, below the Nyquist frequency of ``t``.
    valid : array_like of bool, shape (N,), optional
        False marks samples to exclude (they come back NaN).
    order : int
        Butterworth order of one pass.
    max_gap_s : float, optional
        A step longer than this is a gap; default ``2 x`` the median step.

    Returns
    -------
    ndarray, shape (N, C), float64
        The filtered signal, same unit; NaN where excluded.
    """
    t = _as_time(t, "time")
    x = _as_signal(x, t.size, "signal")
    rate = 1.0 / float(np.median(np.diff(t)))
    if not 0 < cutoff_hz < rate / 2:
        raise CompareError(
            f"cutoff_hz must be in (0, {rate / 2:g}) Hz for a {rate:g} Hz signal, got {cutoff_hz}"
        )
    padlen = sections_padlen(order)
    out = np.full_like(x, np.nan)
    for s, e in _runs(t, _ok_mask(x, valid), _default_gap(t, max_gap_s)):
        if e - s > padlen:
            out[s:e] = kinematics_lowpass(x[s:e], rate_hz=rate, cutoff_hz=cutoff_hz, order=order,
                                          padlen=padlen)
    return out


def resample(
    t: ArrayLike,
    x: ArrayLike,
    t_new: ArrayLike,
    *,
    valid: ArrayLike | None = None,
    max_gap_s: float | None = None,
) -> Array:
    """Cubic-spline resampling that never bridges invalid samples or gaps.

    Each run of valid samples (see :func:`lowpass`) with at least 4 samples gets its own not-a-knot cubic
    spline; times in ``t_new`` outside every run come back NaN.

    Parameters
    ----------
    t : array_like, shape (N,), s
        Strictly increasing timestamps of ``x``.
    x : array_like, shape (N,) or (N, C)
        Signal, any unit; NaN marks invalid samples.
    t_new : array_like, shape (K,), s
        Increasing times to sample at.
    valid : array_like of bool, shape (N,), optional
        False marks further samples to exclude.
    max_gap_s : float, optional
        A step longer than this is a gap; default ``2 x`` the median step.

    Returns
    -------
    ndarray, shape (K, C), float64
    """
    t = _as_time(t, "time")
    x = _as_signal(x, t.size, "signal")
    t_new = np.asarray(t_new, dtype=np.float64)
    out = np.full((t_new.size, x.shape[1]), np.nan)
    for s, e in _runs(t, _ok_mask(x, valid), _default_gap(t, max_gap_s)):
        if e - s < 4:
            continue
        lo = int(np.searchsorted(t_new, t[s], side="left"))
        hi = int(np.searchsorted(t_new, t[e - 1], side="right"))
        if hi > lo:
            out[lo:hi] = CubicSpline(t[s:e], x[s:e], axis=0)(t_new[lo:hi])
    return out


@dataclass(frozen=True)
class BandLimited:
    """Both signals in their common band (output of :func:`band_limit`).

    Attributes
    ----------
    t_grid : ndarray, shape (N,), s
        Uniform grid in the virtual clock, ``t_v[0] + k / rate_hz``.
    acc_v, gyro_v : ndarray, shape (N, 3)
        Virtual accelerometer (m/s^2) and gyroscope (rad/s) on the grid, low-passed; NaN where invalid.
    t_r : ndarray, shape (M,), s
        Real timestamps (real clock), unchanged.
    acc_r, gyro_r : ndarray, shape (M, 3)
        Real accelerometer (m/s^2) and gyroscope (rad/s) at their own samples, low-passed; NaN where invalid.
        Sample them anywhere with :meth:`real_at`.
    cutoff_hz : float
        Low-pass cut-off, Hz.
    rate_hz : float
        Rate of the grid, Hz.
    """

    t_grid: Array
    acc_v: Array
    gyro_v: Array
    t_r: Array
    acc_r: Array
    gyro_r: Array
    cutoff_hz: float
    rate_hz: float

    def real_at(self, t: ArrayLike) -> tuple[Array, Array]:
        """Real ``(acc, gyro)``, each ``(K, 3)``, resampled at real-clock times ``t`` ``(K,)`` s."""
        both = resample(self.t_r, np.hstack([self.acc_r, self.gyro_r]), t)
        return both[:, :3], both[:, 3:]


def band_limit(
    t_v: ArrayLike,
    acc_v: ArrayLike,
    gyro_v: ArrayLike,
    valid_v: ArrayLike | None,
    t_r: ArrayLike,
    acc_r: ArrayLike,
    gyro_r: ArrayLike,
    *,
    cutoff_hz: float | None = None,
    rate_hz: float | None = None,
    order: int = 4,
) -> BandLimited:
    """Low-pass both signals at their common band and put the virtual one on a uniform grid.

    Parameters
    ----------
    t_v : array_like, shape (N,), s
        Virtual timestamps (virtual clock), strictly increasing.
    acc_v, gyro_v : array_like, shape (N, 3)
        Virtual accelerometer (m/s^2) and gyroscope (rad/s).
    valid_v : array_like of bool, shape (N,), or None
        False marks invalid virtual samples; they stay excluded (NaN), never interpolated across.
    t_r : array_like, shape (M,), s
        Real timestamps (real clock), strictly increasing.
    acc_r, gyro_r : array_like, shape (M, 3)
        Real accelerometer (m/s^2) and gyroscope (rad/s); NaN marks invalid samples.
    cutoff_hz : float, optional
        Upper bound for the cut-off, Hz; the cut-off is :func:`default_cutoff_hz` capped by it.
    rate_hz : float, optional
        Rate of the common grid, Hz; default the virtual rate.
    order : int
        Butterworth order of one filter pass.

    Returns
    -------
    BandLimited
    """
    t_v = _as_time(t_v, "virtual time")
    t_r = _as_time(t_r, "real time")
    arrays = {}
    for name, arr, n in (("acc_v", acc_v, t_v.size), ("gyro_v", gyro_v, t_v.size),
                         ("acc_r", acc_r, t_r.size), ("gyro_r", gyro_r, t_r.size)):
        a = np.asarray(arr, dtype=np.float64)
        if a.shape != (n, 3):
            raise CompareError(f"{name} must have shape ({n}, 3), got {a.shape}")
        arrays[name] = a
    rate_v = estimate_rate_hz(t_v)
    rate_r = estimate_rate_hz(t_r)
    rate = rate_v if rate_hz is None else float(rate_hz)
    if rate <= 0:
        raise CompareError(f"rate_hz must be positive, got {rate_hz}")
    cutoff = default_cutoff_hz(rate_v, rate_r, rate_common_hz=rate, cap_hz=cutoff_hz)

    virt = lowpass(t_v, np.hstack([arrays["acc_v"], arrays["gyro_v"]]), cutoff_hz=cutoff, valid=valid_v,
                   order=order)
    real = lowpass(t_r, np.hstack([arrays["acc_r"], arrays["gyro_r"]]), cutoff_hz=cutoff, order=order)
    n_grid = int(math.floor((t_v[-1] - t_v[0]) * rate + 1e-9)) + 1
    t_grid = t_v[0] + np.arange(n_grid) / rate
    virt_grid = resample(t_v, virt, t_grid)
    return BandLimited(
        t_grid=t_grid,
        acc_v=virt_grid[:, :3],
        gyro_v=virt_grid[:, 3:],
        t_r=t_r,
        acc_r=real[:, :3],
        gyro_r=real[:, 3:],
        cutoff_hz=cutoff,
        rate_hz=rate,
    )


# --------------------------------------------------------------------------------------------------
# Step 2: time offset
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OffsetEstimate:
    """Result of :func:`estimate_time_offset`.

    Attributes
    ----------
    offset_s : float
        Real-clock time minus virtual-clock time of the same instant, s.
    score : float
        Correlation at the peak (mean Pearson r over the channels used, at the parabola's vertex), <= 1.
    n_channels : int
        Number of channel pairs that were correlated (constant channels are left out).
    """

    offset_s: float
    score: float
    n_channels: int


def _masked_xcorr(v: Array, r: Array, min_count: int) -> Array:
    """Pearson r of ``v`` (N,) against every length-N window of ``r`` (N + L - 1,), NaN-aware.

    Returns ``(L,)``; entry ``j`` correlates ``v[i]`` with ``r[i + j]`` over the pairs where both are finite,
    NaN where fewer than ``min_count`` pairs remain or either side is constant.
    """
    mv = np.isfinite(v).astype(np.float64)
    mr = np.isfinite(r).astype(np.float64)
    v0 = np.where(mv > 0, v - np.nanmean(v), 0.0)
    r0 = np.where(mr > 0, r - np.nanmean(r), 0.0)

    def xc(a: Array, b: Array) -> Array:
        return np.asarray(correlate(b, a, mode="valid", method="fft"))

    n = np.rint(xc(mv, mr))
    with np.errstate(invalid="ignore", divide="ignore"):
        sv, sr = xc(v0, mr), xc(mv, r0)
        cov = xc(v0, r0) - sv * sr / n
        var_v = xc(v0 * v0, mr) - sv * sv / n
        var_r = xc(mv, r0 * r0) - sr * sr / n
        # FFT round-off is ~1e-12 of the largest sums: a variance below that is a constant signal
        tiny_v = 1e-9 * float(np.sum(v0 * v0)) + 1e-300
        tiny_r = 1e-9 * float(np.sum(r0 * r0)) + 1e-300
        rho = cov / np.sqrt(var_v * var_r)
    bad = (n < min_count) | (var_v <= tiny_v) | (var_r <= tiny_r)
    return np.where(bad, np.nan, np.clip(rho, -1.0, 1.0))


def _is_constant(x: Array) -> bool:
    x = x[np.isfinite(x)]
    return x.size < 2 or float(np.ptp(x)) <= 1e-9 * max(1.0, float(np.max(np.abs(x))))


def estimate_time_offset(
    bl: BandLimited,
    *,
    max_lag_s: float = 10.0,
    offset_guess_s: float = 0.0,
    rotation: ArrayLike | None = None,
    lever_arm_m: ArrayLike | None = None,
    min_overlap_s: float = 2.0,
) -> OffsetEstimate:
    """Time offset between the two clocks by normalised cross-correlation, with sub-sample refinement.

    Without ``rotation``, the correlated channels are rotation-invariant: the gyroscope norm ``|w|`` and
    the accelerometer norm minus its mean ``|a| - mean|a|``. With ``rotation`` ``R``, they are the six
    axes of ``R gyro_v`` against ``gyro_r`` and ``R acc_v`` against ``acc_r`` (after the lever-arm
    correction, when ``lever_arm_m`` is given). For each lag ``L`` (grid steps) within ``+-max_lag_s`` of
    ``offset_guess_s`` the score is the mean over channels of the Pearson correlation over the samples
    valid in both; lags with less than ``min_overlap_s`` of overlap are not considered. The integer
    peak ``L*`` is refined by the vertex of the parabola through its neighbours,
    ``d = (s[L*-1] - s[L*+1]) / (2 (s[L*-1] - 2 s[L*] + s[L*+1]))``, and
    ``offset_s = offset_guess_s + (L* + d) / rate_hz``.

    Parameters
    ----------
    bl : BandLimited
        Output of :func:`band_limit`.
    max_lag_s : float
        Half-width of the search window, s.
    offset_guess_s : float
        Centre of the search window, s (real clock minus virtual clock).
    rotation : array_like, shape (3, 3), optional
        Virtual-to-real sensor rotation; switches to per-axis correlation.
    lever_arm_m : array_like, shape (3,), optional
        Lever arm (m) applied to the virtual accelerometer before per-axis correlation.
    min_overlap_s : float
        Least overlap of valid samples, s.

    Returns
    -------
    OffsetEstimate

    Raises
    ------
    CompareError
        If every channel is constant, or no lag leaves ``min_overlap_s`` of overlap, or the peak lies on
        the edge of the search window.
    """
    if max_lag_s <= 0:
        raise CompareError(f"max_lag_s must be positive, got {max_lag_s}")
    dt = 1.0 / bl.rate_hz
    n = bl.t_grid.size
    k = int(math.ceil(max_lag_s / dt))
    t_ext = bl.t_grid[0] + offset_guess_s + (np.arange(n + 2 * k) - k) * dt
    acc_r, gyro_r = bl.real_at(t_ext)
    acc_v, gyro_v = bl.acc_v, bl.gyro_v
    if rotation is None:
        pairs = [
            (np.linalg.norm(gyro_v, axis=1), np.linalg.norm(gyro_r, axis=1)),
            (np.linalg.norm(acc_v, axis=1), np.linalg.norm(acc_r, axis=1)),
        ]
    else:
        rot = np.asarray(rotation, dtype=np.float64)
        if lever_arm_m is not None:
            acc_v = apply_lever_arm(acc_v, gyro_v, lever_arm_m, rate_hz=bl.rate_hz)
        pairs = [(gv, gr) for gv, gr in zip((gyro_v @ rot.T).T, gyro_r.T, strict=True)]
        pairs += [(av, ar) for av, ar in zip((acc_v @ rot.T).T, acc_r.T, strict=True)]
    min_count = max(3, int(math.ceil(min_overlap_s * bl.rate_hz)))

    def no_overlap() -> CompareError:
        return CompareError(
            f"the signals overlap by less than {min_overlap_s:g} s at every lag within +-{max_lag_s:g} s of "
            f"{offset_guess_s:g} s (virtual {bl.t_grid[0]:.3f}..{bl.t_grid[-1]:.3f} s, "
            f"real {bl.t_r[0]:.3f}..{bl.t_r[-1]:.3f} s: the starts differ by "
            f"{bl.t_r[0] - bl.t_grid[0]:.3f} s); set the offset guess or widen max_lag_s"
        )

    if min(int(np.isfinite(x).sum()) for pair in pairs for x in pair) < min_count:
        raise no_overlap()
    pairs = [(v, r) for v, r in pairs if not (_is_constant(v) or _is_constant(r))]
    if not pairs:
        raise CompareError("the signals are constant (no motion): a time offset cannot be estimated")
    scores = np.array([_masked_xcorr(v, r, min_count) for v, r in pairs])
    score = np.mean(scores, axis=0)  # NaN where any channel lacks overlap
    if not np.any(np.isfinite(score)):
        raise no_overlap()
    j = int(np.nanargmax(score))
    if j == 0 or j == score.size - 1 or not (np.isfinite(score[j - 1]) and np.isfinite(score[j + 1])):
        raise CompareError(
            "the correlation peak lies at the edge of the search window "
            f"({offset_guess_s + (j - k) * dt:.3f} s); widen max_lag_s or set the offset guess"
        )
    a, b, c = score[j - 1], score[j], score[j + 1]
    denom = a - 2.0 * b + c
    frac, peak = (0.5 * (a - c) / denom, b - (a - c) ** 2 / (8.0 * denom)) if denom < 0 else (0.0, b)
    offset = offset_guess_s + (j - k + frac) * dt
    return OffsetEstimate(offset_s=float(offset), score=float(min(peak, 1.0)), n_channels=len(pairs))


# --------------------------------------------------------------------------------------------------
# Step 3: rotation
# --------------------------------------------------------------------------------------------------


def fit_rotation(gyro_v: ArrayLike, gyro_r: ArrayLike) -> Array:
    """Least-squares rotation ``R`` minimising ``sum_k |gyro_r[k] - R gyro_v[k]|^2`` (Kabsch / Wahba).

    With ``H = sum_k gyro_v[k] gyro_r[k]^T = U S V^T``, ``R = V diag(1, 1, det(V U^T)) U^T``.

    Parameters
    ----------
    gyro_v, gyro_r : array_like, shape (N, 3), rad/s
        Time-aligned angular velocities in the virtual and the real sensor frame; rows with a NaN are
        ignored.

    Returns
    -------
    ndarray, shape (3, 3)
        Proper rotation matrix (virtual frame -> real frame).

    Raises
    ------
    CompareError
        If fewer than 3 rows are usable, or the motion turns about a single axis only (the rotation
        about that axis is then undetermined).
    """
    gv = np.asarray(gyro_v, dtype=np.float64)
    gr = np.asarray(gyro_r, dtype=np.float64)
    if gv.shape != gr.shape or gv.ndim != 2 or gv.shape[1] != 3:
        raise CompareError(f"gyro_v and gyro_r must both have shape (N, 3), got {gv.shape} and {gr.shape}")
    ok = np.all(np.isfinite(gv), axis=1) & np.all(np.isfinite(gr), axis=1)
    if ok.sum() < 3:
        raise CompareError("fewer than 3 aligned gyroscope samples: the rotation cannot be estimated")
    h = gv[ok].T @ gr[ok]
    u, s, vt = np.linalg.svd(h)
    if s[0] <= 0 or s[1] <= 1e-6 * s[0]:
        raise CompareError(
            "the gyroscope turns about one axis only (or not at all): the sensor rotation is undetermined; "
            "compare without rotation estimation"
        )
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return np.asarray(vt.T @ np.diag([1.0, 1.0, d]) @ u.T)


# --------------------------------------------------------------------------------------------------
# Step 4: lever arm
# --------------------------------------------------------------------------------------------------


def _derivative(x: Array, dt: float) -> Array:
    """Fourth-order central difference along axis 0; the first and last two samples are NaN."""
    out = np.full_like(x, np.nan)
    out[2:-2] = (x[:-4] - 8.0 * x[1:-3] + 8.0 * x[3:-1] - x[4:]) / (12.0 * dt)
    return out


def _skew(w: Array) -> Array:
    """Cross-product matrices ``(N, 3, 3)`` of vectors ``(N, 3)``: ``skew(w) @ r = w x r``."""
    z = np.zeros(len(w))
    return np.stack(
        [np.stack([z, -w[:, 2], w[:, 1]], -1), np.stack([w[:, 2], z, -w[:, 0]], -1),
         np.stack([-w[:, 1], w[:, 0], z], -1)], axis=1,
    )


def _lever_matrix(gyro: Array, rate_hz: float) -> Array:
    """``(N, 3, 3)`` matrices ``M`` with ``M r = alpha x r + w x (w x r)``, alpha by differentiation."""
    alpha = _derivative(gyro, 1.0 / rate_hz)
    sw = _skew(gyro)
    return np.asarray(_skew(alpha) + sw @ sw)


def apply_lever_arm(acc_v: ArrayLike, gyro_v: ArrayLike, lever_arm_m: ArrayLike, *, rate_hz: float) -> Array:
    """Specific force at a point displaced by ``r`` on the same rigid body: ``a + alpha x r + w x (w x r)``.

    Parameters
    ----------
    acc_v : array_like, shape (N, 3), m/s^2
        Specific force at the virtual sensor, virtual sensor frame, uniform rate.
    gyro_v : array_like, shape (N, 3), rad/s
        Angular velocity, virtual sensor frame; ``alpha`` is its fourth-order central difference
        (the first and last two samples become NaN).
    lever_arm_m : array_like, shape (3,), m
        Displacement ``r`` in the virtual sensor frame.
    rate_hz : float
        Sampling rate, Hz.

    Returns
    -------
    ndarray, shape (N, 3), m/s^2
    """
    acc = np.asarray(acc_v, dtype=np.float64)
    m = _lever_matrix(np.asarray(gyro_v, dtype=np.float64), rate_hz)
    return np.asarray(acc + m @ np.asarray(lever_arm_m, dtype=np.float64))


def fit_lever_arm(
    acc_v: ArrayLike, gyro_v: ArrayLike, acc_r: ArrayLike, *, rotation: ArrayLike, rate_hz: float
) -> Array:
    """Lever arm ``r`` by linear least squares on ``R^T acc_r - acc_v = alpha x r + w x (w x r)``.

    The real accelerometer at ``p + R_s r`` (``R_s`` the body orientation) reads, in the virtual sensor
    frame, the virtual specific force plus ``alpha x r + w x (w x r)``; each aligned sample adds three
    linear equations in ``r``. ``alpha`` comes from differentiating ``gyro_v`` (fourth-order central
    difference).

    Parameters
    ----------
    acc_v : array_like, shape (N, 3), m/s^2
        Virtual specific force on a uniform grid.
    gyro_v : array_like, shape (N, 3), rad/s
        Virtual angular velocity on the same grid.
    acc_r : array_like, shape (N, 3), m/s^2
        Real specific force resampled on the same grid after the time offset (real sensor frame).
    rotation : array_like, shape (3, 3)
        Virtual-to-real sensor rotation ``R``.
    rate_hz : float
        Grid rate, Hz.

    Returns
    -------
    ndarray, shape (3,), m
        Lever arm in the virtual sensor frame.

    Raises
    ------
    CompareError
        If fewer than 3 usable samples remain or the rotation is too small to determine ``r``.
    """
    rot = np.asarray(rotation, dtype=np.float64)
    m = _lever_matrix(np.asarray(gyro_v, dtype=np.float64), rate_hz)
    y = np.asarray(acc_r, dtype=np.float64) @ rot - np.asarray(acc_v, dtype=np.float64)  # rows: R^T acc_r
    ok = np.all(np.isfinite(y), axis=1) & np.all(np.isfinite(m), axis=(1, 2))
    if ok.sum() < 3:
        raise CompareError("fewer than 3 aligned samples: the lever arm cannot be estimated")
    a = m[ok].reshape(-1, 3)
    sol, _, rank, _ = np.linalg.lstsq(a, y[ok].reshape(-1), rcond=None)
    if rank < 3:
        raise CompareError("the motion does not turn enough to determine the lever arm")
    return np.asarray(sol)


# --------------------------------------------------------------------------------------------------
# Step 5: metrics
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AxisMetrics:
    """Agreement of one axis of the virtual signal with the real one (over samples valid in both).

    Attributes
    ----------
    r : float
        Pearson correlation coefficient, in [-1, 1]; NaN if either side is constant.
    rmse : float
        Root-mean-square error, SI unit of the signal (m/s^2 or rad/s).
    nrmse : float
        ``rmse / (max(real) - min(real))``: RMSE normalised by the real signal's range; NaN if constant.
    nrmse_std : float
        ``rmse / std(real)`` (population std); NaN if constant.
    n : int
        Number of samples used.
    """

    r: float
    rmse: float
    nrmse: float
    nrmse_std: float
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-ready dict (NaN becomes None)."""
        return {"r": _num(self.r), "rmse": _num(self.rmse), "nrmse": _num(self.nrmse),
                "nrmse_std": _num(self.nrmse_std), "n": self.n}


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def axis_metrics(virtual: ArrayLike, real: ArrayLike) -> AxisMetrics:
    """Pearson r, RMSE, range-normalised RMSE and std-normalised RMSE of one axis.

    Parameters
    ----------
    virtual, real : array_like, shape (N,)
        Aligned samples of one axis, same unit; pairs with a NaN on either side are left out.

    Returns
    -------
    AxisMetrics
    """
    v = np.asarray(virtual, dtype=np.float64)
    r = np.asarray(real, dtype=np.float64)
    if v.shape != r.shape or v.ndim != 1:
        raise CompareError(f"virtual and real must both have shape (N,), got {v.shape} and {r.shape}")
    ok = np.isfinite(v) & np.isfinite(r)
    v, r = v[ok], r[ok]
    n = int(v.size)
    if n == 0:
        return AxisMetrics(r=math.nan, rmse=math.nan, nrmse=math.nan, nrmse_std=math.nan, n=0)
    rmse = float(np.sqrt(np.mean((v - r) ** 2)))
    dv, dr = v - v.mean(), r - r.mean()
    sv, sr = float(np.sqrt(np.mean(dv * dv))), float(np.sqrt(np.mean(dr * dr)))
    rng = float(np.ptp(r))
    rho = float(np.mean(dv * dr) / (sv * sr)) if sv > 0 and sr > 0 else math.nan
    return AxisMetrics(
        r=rho,
        rmse=rmse,
        nrmse=rmse / rng if rng > 0 else math.nan,
        nrmse_std=rmse / sr if sr > 0 else math.nan,
        n=n,
    )


# --------------------------------------------------------------------------------------------------
# All steps
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompareResult:
    """Outcome of :func:`compare_signals`.

    Attributes
    ----------
    offset_s : float
        Real-clock minus virtual-clock time of the same instant, s.
    offset_score : float
        Correlation score at the offset peak (see :class:`OffsetEstimate`).
    rotation_quat : ndarray, shape (4,)
        Virtual-to-real sensor rotation as a quaternion ``(w, x, y, z)``, ``w >= 0``; identity when not
        estimated.
    rotation_angle_deg : float
        Angle of that rotation, degrees.
    lever_arm_m : ndarray, shape (3,), or None
        Position of the real sensor in the virtual sensor frame, m; None when not estimated.
    cutoff_hz : float
        Low-pass cut-off, Hz.
    rate_hz : float
        Common rate, Hz.
    n_samples : int
        Grid samples where both signals are valid after alignment.
    metrics : dict
        ``metrics["acc" | "gyro"]["x" | "y" | "z"]`` -> :class:`AxisMetrics`, computed in the real sensor
        frame (``R`` applied to the virtual signal, lever arm included).
    """

    offset_s: float
    offset_score: float
    rotation_quat: Array
    rotation_angle_deg: float
    lever_arm_m: Array | None
    cutoff_hz: float
    rate_hz: float
    n_samples: int
    metrics: dict[str, dict[str, AxisMetrics]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists and floats; NaN becomes None)."""
        return {
            "offset_s": self.offset_s,
            "offset_score": _num(self.offset_score),
            "rotation_quat_wxyz": [float(q) for q in self.rotation_quat],
            "rotation_angle_deg": self.rotation_angle_deg,
            "lever_arm_m": None if self.lever_arm_m is None else [float(x) for x in self.lever_arm_m],
            "cutoff_hz": self.cutoff_hz,
            "rate_hz": self.rate_hz,
            "n_samples": self.n_samples,
            "metrics": {s: {a: m.to_dict() for a, m in axes.items()} for s, axes in self.metrics.items()},
        }

    def to_table(self) -> str:
        """A plain text summary: alignment lines, then one aligned row per signal and axis."""
        q = ", ".join(f"{x:+.4f}" for x in self.rotation_quat)
        lines = [
            f"time offset      {self.offset_s:+.4f} s (real - virtual; score {self.offset_score:.3f})",
            f"rotation         {self.rotation_angle_deg:.2f} deg (w, x, y, z = {q})",
        ]
        if self.lever_arm_m is not None:
            lever = ", ".join(f"{x * 1000:+.1f}" for x in self.lever_arm_m)
            lines.append(f"lever arm        ({lever}) mm")
        lines.append(f"band / rate      {self.cutoff_hz:.2f} Hz low-pass, {self.rate_hz:.2f} Hz, "
                     f"{self.n_samples} samples")
        lines.append("")
        header = (f"{'signal':<6} {'axis':<4} {'r':>7} {'RMSE':>9} {'unit':<6} {'NRMSE':>7} {'RMSE/std':>8} "
                  f"{'n':>7}")
        lines += [header, "-" * len(header)]
        units = {"acc": "m/s^2", "gyro": "rad/s"}
        for sig, axes in self.metrics.items():
            for ax, m in axes.items():
                lines.append(
                    f"{sig:<6} {ax:<4} {m.r:>7.4f} {m.rmse:>9.4f} {units.get(sig, ''):<6} {m.nrmse:>7.3f} "
                    f"{m.nrmse_std:>8.3f} {m.n:>7d}"
                )
        lines.append("NRMSE = RMSE / range of the real signal; r = Pearson correlation")
        return "\n".join(lines)


def compare_signals(
    t_v: ArrayLike,
    acc_v: ArrayLike,
    gyro_v: ArrayLike,
    valid_v: ArrayLike | None,
    t_r: ArrayLike,
    acc_r: ArrayLike,
    gyro_r: ArrayLike,
    *,
    cutoff_hz: float | None = None,
    rate_hz: float | None = None,
    max_lag_s: float = 10.0,
    offset_guess_s: float = 0.0,
    estimate_rotation: bool = True,
    lever_arm: bool = False,
    refine_iterations: int = 1,
    refine_lag_s: float = 0.5,
    min_overlap_s: float = 2.0,
) -> CompareResult:
    """Align a virtual IMU signal with a real recording and measure their agreement per axis.

    Steps: :func:`band_limit`; :func:`estimate_time_offset` on the norms (``+-max_lag_s`` around
    ``offset_guess_s``); :func:`fit_rotation` on the aligned gyroscopes; :func:`fit_lever_arm` if asked;
    then ``refine_iterations`` rounds of per-axis offset re-estimation (``+-refine_lag_s`` around the
    current offset, with the current rotation and lever arm) followed by a new rotation and lever-arm
    fit; finally :func:`axis_metrics` on ``R (acc_v + lever terms)`` vs ``acc_r`` and ``R gyro_v`` vs
    ``gyro_r`` in the real sensor frame.

    Parameters
    ----------
    t_v : array_like, shape (N,), s
        Virtual timestamps (virtual clock).
    acc_v : array_like, shape (N, 3), m/s^2
        Virtual specific force, virtual sensor frame.
    gyro_v : array_like, shape (N, 3), rad/s
        Virtual angular velocity, virtual sensor frame.
    valid_v : array_like of bool, shape (N,), or None
        False marks invalid virtual samples (excluded throughout).
    t_r : array_like, shape (M,), s
        Real timestamps (real clock).
    acc_r : array_like, shape (M, 3), m/s^2
        Real specific force, real sensor frame.
    gyro_r : array_like, shape (M, 3), rad/s
        Real angular velocity, real sensor frame.
    cutoff_hz : float, optional
        Cap on the low-pass cut-off, Hz (default cut-off: 0.8 x the lowest Nyquist frequency).
    rate_hz : float, optional
        Common rate, Hz; default the virtual rate.
    max_lag_s : float
        Half-width of the offset search, s.
    offset_guess_s : float
        Centre of the offset search, s.
    estimate_rotation : bool
        Fit the sensor rotation; otherwise the frames are taken as equal.
    lever_arm : bool
        Fit the lever arm.
    refine_iterations : int
        Rounds of per-axis offset refinement and refitting (0 to skip).
    refine_lag_s : float
        Half-width of the offset search during refinement, s.
    min_overlap_s : float
        Least overlap of valid samples after alignment, s.

    Returns
    -------
    CompareResult

    Raises
    ------
    CompareError
        Bad shapes, constant signals, an overlap under ``min_overlap_s``, or an undetermined rotation.
    """
    if refine_iterations < 0 or refine_lag_s <= 0 or min_overlap_s <= 0:
        raise CompareError(
            "refine_iterations must be >= 0 and refine_lag_s, min_overlap_s > 0; got "
            f"{refine_iterations}, {refine_lag_s}, {min_overlap_s}"
        )
    bl = band_limit(t_v, acc_v, gyro_v, valid_v, t_r, acc_r, gyro_r, cutoff_hz=cutoff_hz, rate_hz=rate_hz)
    est = estimate_time_offset(bl, max_lag_s=max_lag_s, offset_guess_s=offset_guess_s,
                               min_overlap_s=min_overlap_s)
    rot = np.eye(3)
    lever: Array | None = None
    for it in range(refine_iterations + 1):
        if it > 0:
            est = estimate_time_offset(bl, max_lag_s=refine_lag_s, offset_guess_s=est.offset_s, rotation=rot,
                                       lever_arm_m=lever, min_overlap_s=min_overlap_s)
        acc_ra, gyro_ra = bl.real_at(bl.t_grid + est.offset_s)
        if estimate_rotation:
            rot = fit_rotation(bl.gyro_v, gyro_ra)
        if lever_arm:
            lever = fit_lever_arm(bl.acc_v, bl.gyro_v, acc_ra, rotation=rot, rate_hz=bl.rate_hz)

    acc_vc = bl.acc_v if lever is None else apply_lever_arm(bl.acc_v, bl.gyro_v, lever, rate_hz=bl.rate_hz)
    acc_vr, gyro_vr = acc_vc @ rot.T, bl.gyro_v @ rot.T
    both = np.all(np.isfinite(np.hstack([acc_vr, gyro_vr, acc_ra, gyro_ra])), axis=1)
    n_samples = int(both.sum())
    if n_samples / bl.rate_hz < min_overlap_s:
        raise CompareError(
            f"after alignment (offset {est.offset_s:.3f} s) the signals overlap by "
            f"{n_samples / bl.rate_hz:.2f} s, less than {min_overlap_s:g} s"
        )
    metrics = {
        name: {ax: axis_metrics(v[both, i], r[both, i]) for i, ax in enumerate(AXES)}
        for name, v, r in (("acc", acc_vr, acc_ra), ("gyro", gyro_vr, gyro_ra))
    }
    quat = quat_from_matrix(rot)
    return CompareResult(
        offset_s=est.offset_s,
        offset_score=est.score,
        rotation_quat=quat,
        rotation_angle_deg=float(np.degrees(2.0 * np.arccos(np.clip(quat[0], -1.0, 1.0)))),
        lever_arm_m=lever,
        cutoff_hz=bl.cutoff_hz,
        rate_hz=bl.rate_hz,
        n_samples=n_samples,
        metrics=metrics,
    )
