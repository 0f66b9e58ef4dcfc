"""Step 1 of the comparison: sampling rate, common band, zero-phase low-pass and gap-aware resampling.

Both signals are low-passed at their common band (:func:`default_cutoff_hz`, :func:`lowpass`), the virtual
one resampled onto a uniform grid in its own clock (:func:`resample`); the real one stays at its native
samples (:class:`BandLimited`). Invalid samples are NaN and are never interpolated across.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import CubicSpline

from imusynth.compare.errors import CompareError
from imusynth.core.kinematics import lowpass as kinematics_lowpass
from imusynth.core.kinematics import sections_padlen

#: A step longer than this many median steps splits a signal into separate runs (a gap).
GAP_FACTOR = 2.0

#: Fraction of the lower Nyquist frequency used as the default cut-off.
CUTOFF_FRACTION = 0.8

Array = NDArray[np.float64]


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

