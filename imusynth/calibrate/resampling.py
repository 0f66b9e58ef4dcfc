"""Anti-aliased resampling onto a regular grid, one valid run at a time.

Holds :func:`valid_runs`, :func:`lowpass` (zero-phase Butterworth, forward-backward), :func:`resample`
(low-pass below the new Nyquist frequency, then linear interpolation; never across invalid gaps) and
:func:`resample_series` (the same for an :class:`~imusynth.core.imu_series.ImuSeries`, labels
included). Times in s, rates in Hz.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.core import kinematics
from imusynth.core.imu_series import CalibrationError, ImuSeries


def valid_runs(valid: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Half-open index ranges ``[start, stop)`` of consecutive True values in ``valid`` (N,)."""
    v = np.asarray(valid, dtype=bool)
    if v.size == 0:
        return []
    edges = np.diff(np.concatenate([[0], v.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _split_runs(runs: list[tuple[int, int]], breaks: NDArray[np.int64]) -> list[tuple[int, int]]:
    """Split half-open runs at the indices in ``breaks`` (a break index starts a new run)."""
    if breaks.size == 0:
        return runs
    out = []
    for a, b in runs:
        inner = breaks[(breaks > a) & (breaks < b)].tolist()
        edges = [a, *inner, b]
        out += list(zip(edges[:-1], edges[1:], strict=True))
    return out


def lowpass(values: ArrayLike, *, rate_hz: float, cutoff_hz: float, order: int = 4) -> NDArray[np.float64]:
    """Zero-phase Butterworth low-pass along axis 0.

    Parameters
    ----------
    values : array_like, shape (N, ...)
        Regularly sampled signal, no NaN.
    rate_hz : float
        Sample rate, Hz.
    cutoff_hz : float
        -6 dB frequency of the forward-backward filter (each pass is -3 dB there), Hz.
    order : int
        Order of each pass.
    """
    x = np.asarray(values, dtype=np.float64)
    if cutoff_hz >= 0.5 * rate_hz or x.shape[0] < 2:
        return x.copy()
    return kinematics.lowpass(x, rate_hz=rate_hz, cutoff_hz=cutoff_hz, order=order,
                              padlen=kinematics.sections_padlen(order))


def resample(
    time: ArrayLike,
    values: ArrayLike,
    *,
    rate_hz: float,
    valid: ArrayLike | None = None,
    cutoff_ratio: float = 0.8,
    t0: float | None = None,
    max_gap_s: float | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Resample to a regular grid at ``rate_hz``, anti-aliased, one valid run at a time.

    When the new rate is below the source's median rate, each valid run is low-pass filtered first
    (:func:`lowpass`, cutoff ``cutoff_ratio`` x the new Nyquist frequency); then values are interpolated
    linearly at the grid times. Grid points outside every valid run are NaN and invalid; no value is
    interpolated across an invalid gap.

    Parameters
    ----------
    time : array_like, shape (N,), s
        Strictly increasing timestamps (regular or not).
    values : array_like, shape (N, C)
        Signal.
    rate_hz : float
        Output rate, Hz (> 0).
    valid : array_like, shape (N,), bool, optional
        Usable samples (default: all finite rows).
    cutoff_ratio : float
        Low-pass cutoff as a fraction of the output Nyquist frequency, in (0, 1].
    t0 : float, optional
        First grid time (default ``time[0]``), s.
    max_gap_s : float, optional
        A step between consecutive source samples longer than this, s, is a gap: runs are split there
        and nothing is interpolated across it. Default ``max(4 / source rate, 0.1 s)``.

    Returns
    -------
    time_out : ndarray, shape (M,), s
    values_out : ndarray, shape (M, C)
    valid_out : ndarray, shape (M,), bool
    """
    t = np.asarray(time, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if not rate_hz > 0:
        raise CalibrationError(f"rate_hz must be > 0, got {rate_hz}")
    if not 0 < cutoff_ratio <= 1:
        raise CalibrationError(f"cutoff_ratio must be in (0, 1], got {cutoff_ratio}")
    ok = np.isfinite(x).all(axis=1) & np.isfinite(t)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)
    if t.size == 0:
        return np.empty(0), np.empty((0, x.shape[1])), np.zeros(0, dtype=bool)
    if t.size > 1:
        dt = np.diff(t)
        gap = max(4.0 * float(np.median(dt)), 0.1) if max_gap_s is None else float(max_gap_s)
        # the sample after a gap starts a new run
        breaks = np.flatnonzero(dt > gap) + 1
    else:
        breaks = np.empty(0, dtype=np.int64)
    start = float(t[0]) if t0 is None else float(t0)
    n_out = int(math.floor((t[-1] - start) * rate_hz + 1e-9)) + 1
    t_out = start + np.arange(max(n_out, 0)) / rate_hz
    y = np.full((t_out.size, x.shape[1]), np.nan)
    v_out = np.zeros(t_out.size, dtype=bool)
    for a, b in _split_runs(valid_runs(ok), breaks):
        seg_t = t[a:b]
        seg = x[a:b]
        lo = int(np.searchsorted(t_out, seg_t[0], side="left"))
        hi = int(np.searchsorted(t_out, seg_t[-1], side="right"))
        if hi <= lo:
            continue
        if b - a >= 2:
            src_rate = 1.0 / float(np.median(np.diff(seg_t)))
            if rate_hz < src_rate:
                seg = lowpass(seg, rate_hz=src_rate, cutoff_hz=cutoff_ratio * 0.5 * rate_hz)
        tq = t_out[lo:hi]
        for c in range(x.shape[1]):
            y[lo:hi, c] = np.interp(tq, seg_t, seg[:, c])
        v_out[lo:hi] = True
    return t_out, y, v_out


def resample_series(
    series: ImuSeries,
    *,
    rate_hz: float,
    cutoff_ratio: float = 0.8,
    t0: float | None = None,
    max_gap_s: float | None = None,
) -> ImuSeries:
    """:func:`resample` applied to an :class:`ImuSeries`; labels follow the nearest earlier sample."""
    t, y, v = resample(
        series.time,
        series.data,
        rate_hz=rate_hz,
        valid=series.valid,
        cutoff_ratio=cutoff_ratio,
        t0=t0,
        max_gap_s=max_gap_s,
    )
    labels = None
    if series.labels is not None and t.size:
        idx = np.clip(np.searchsorted(series.time, t + 1e-9, side="right") - 1, 0, series.n - 1)
        labels = series.labels[idx]
        # a grid point whose neighbours carry different labels sits on a label change: keep it out
        nxt = np.clip(idx + 1, 0, series.n - 1)
        exact = np.isclose(series.time[idx], t, rtol=0, atol=1e-9)
        v = v & (exact | (series.labels[nxt] == labels))
    return ImuSeries(t, y[:, :3], y[:, 3:6], v, labels, series.group, series.name)
