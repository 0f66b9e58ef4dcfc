"""Stage 6: make virtual IMU data look like a real device (distribution mapping, alignment, device model).

A calibration *profile* (TOML, see :func:`profile_to_toml`) holds up to four steps, applied in this order
by :func:`apply_profile`:

1. **resample** to the real device's rate: zero-phase Butterworth low-pass below the new Nyquist frequency
   (anti-aliasing), then linear interpolation onto the new regular grid, one valid run at a time;
2. **axis alignment**: the smallest rotation taking the virtual set's mean gravity direction (mean specific
   force during quasi-static spans, in the sensor frame) onto the real set's; applied to acc and gyro;
3. **distribution mapping** per channel, ``x_real = G^-1(F(x_virtual))`` with ``F`` and ``G`` the empirical
   CDFs of the virtual and real sets, interpolated linearly between ``n_knots`` quantile knots (no
   quantisation: the map is continuous and piecewise linear, so distinct inputs stay distinct wherever the
   real quantiles are not tied), optionally one map per activity class;
4. **device model**: constant bias (fixed plus a per-clip random draw), white noise of a given noise density,
   range saturation and quantisation step (an ADC), all in SI.

Everything is SI inside: acc in m/s^2 (specific force, gravity included), gyro in rad/s.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import tomllib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage, signal, stats

from .conventions import ACC_UNIT, G0, GYRO_UNIT
from .errors import InputError

#: The six channels a profile maps, in this order: acc (m/s^2) then gyro (rad/s), sensor frame.
CHANNELS: tuple[str, ...] = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")

#: Schema name written into every profile.
PROFILE_SCHEMA = "imusynth-calibration/1"

#: Allowed tail behaviours of a quantile map.
TAILS = ("linear", "clamp")


class CalibrationError(InputError, ValueError):
    """Calibration input that cannot be used (too few samples, bad profile, unknown device preset)."""


# --------------------------------------------------------------------------------------------------
# The record that calibration works on.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImuSeries:
    """One IMU recording (or one clip's sensor) as calibration and HAR export see it.

    Attributes
    ----------
    time : ndarray, shape (N,), float64, s
        Strictly increasing timestamps.
    acc : ndarray, shape (N, 3), float64, m/s^2
        Specific force in the sensor frame (gravity included: +g0 on the up axis at rest).
    gyro : ndarray, shape (N, 3), float64, rad/s
        Angular velocity in the sensor frame.
    valid : ndarray, shape (N,), bool
        False where the sample is missing or unreliable (never used, never inside a window).
    labels : ndarray, shape (N,), str, or None
        Activity label of each sample, or None when the recording has none.
    group : str
        Group key for group-wise splits (subject, video).
    name : str
        Identifier (clip id or file name), for messages and per-clip seeds.
    """

    time: NDArray[np.float64]
    acc: NDArray[np.float64]
    gyro: NDArray[np.float64]
    valid: NDArray[np.bool_] = field(default=None)  # type: ignore[arg-type,assignment]
    labels: NDArray[np.str_] | None = None
    group: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        time = np.asarray(self.time, dtype=np.float64)
        acc = np.asarray(self.acc, dtype=np.float64)
        gyro = np.asarray(self.gyro, dtype=np.float64)
        n = time.shape[0] if time.ndim == 1 else -1
        if n < 0:
            raise CalibrationError(f"{self.name or 'series'}: time must be 1-D, got shape {time.shape}")
        for what, arr in (("acc", acc), ("gyro", gyro)):
            if arr.shape != (n, 3):
                raise CalibrationError(
                    f"{self.name or 'series'}: {what} must have shape ({n}, 3), got {arr.shape}"
                )
        if n > 1 and np.any(np.diff(time) <= 0):
            raise CalibrationError(f"{self.name or 'series'}: time must be strictly increasing")
        if self.valid is None:
            valid = np.ones(n, dtype=bool)
        else:
            valid = np.asarray(self.valid, dtype=bool)
            if valid.shape != (n,):
                raise CalibrationError(f"{self.name or 'series'}: valid must have shape ({n},)")
        valid = valid & np.isfinite(acc).all(axis=1) & np.isfinite(gyro).all(axis=1) & np.isfinite(time)
        labels = None
        if self.labels is not None:
            labels = np.asarray(self.labels).astype(str)
            if labels.shape != (n,):
                raise CalibrationError(f"{self.name or 'series'}: labels must have shape ({n},)")
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "acc", acc)
        object.__setattr__(self, "gyro", gyro)
        object.__setattr__(self, "valid", valid)
        object.__setattr__(self, "labels", labels)

    @property
    def n(self) -> int:
        """Number of samples N."""
        return int(self.time.shape[0])

    @property
    def rate_hz(self) -> float:
        """Median sample rate, Hz (NaN with fewer than 2 samples)."""
        if self.n < 2:
            return float("nan")
        return float(1.0 / np.median(np.diff(self.time)))

    @property
    def data(self) -> NDArray[np.float64]:
        """acc and gyro side by side, shape (N, 6), in :data:`CHANNELS` order."""
        return np.concatenate([self.acc, self.gyro], axis=1)

    def with_data(self, data: NDArray[np.float64]) -> ImuSeries:
        """A copy with acc and gyro replaced by the columns of ``data`` (N, 6)."""
        return replace(self, acc=data[:, :3], gyro=data[:, 3:6])


def dedupe_time(time: ArrayLike, *arrays: ArrayLike) -> tuple[NDArray[np.float64], ...]:
    """Drop samples whose timestamp does not increase (duplicates from phone logs).

    Parameters
    ----------
    time : array_like, shape (N,), s
        Timestamps in recording order.
    *arrays : array_like, shape (N, ...)
        Arrays indexed like ``time``.

    Returns
    -------
    tuple of ndarray
        ``time`` and each array, keeping the samples whose time exceeds every earlier time.
    """
    t = np.asarray(time, dtype=np.float64)
    keep = np.ones(t.shape[0], dtype=bool)
    if t.size > 1:
        running = np.maximum.accumulate(t)
        keep[1:] = t[1:] > running[:-1]
    return (t[keep], *(np.asarray(a)[keep] for a in arrays))


# --------------------------------------------------------------------------------------------------
# Quantile (distribution) mapping.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuantileMap:
    """A monotone, piecewise-linear map ``x -> G^-1(F(x))`` between two 1-D distributions.

    Attributes
    ----------
    source : ndarray, shape (K,), float64
        Strictly increasing knots on the virtual (input) axis: virtual quantiles, ties merged.
    target : ndarray, shape (K,), float64
        Non-decreasing real quantiles at the same probabilities (mean of the tied group where
        virtual quantiles tie).
    lower_slope, upper_slope : float
        Slopes (>= 0) used below ``source[0]`` and above ``source[-1]`` when ``tails == "linear"``.
    tails : {"linear", "clamp"}
        ``"linear"``: extrapolate with the slopes above (outputs may exceed the real range; the
        device model's saturation bounds them); ``"clamp"``: hold the end values.
    """

    source: NDArray[np.float64]
    target: NDArray[np.float64]
    lower_slope: float = 0.0
    upper_slope: float = 0.0
    tails: str = "linear"

    def __post_init__(self) -> None:
        src = np.asarray(self.source, dtype=np.float64)
        tgt = np.asarray(self.target, dtype=np.float64)
        if src.ndim != 1 or src.shape != tgt.shape or src.size < 1:
            raise CalibrationError(
                f"quantile map knots must be two equal 1-D arrays, got {src.shape} and {tgt.shape}"
            )
        if not (np.all(np.isfinite(src)) and np.all(np.isfinite(tgt))):
            raise CalibrationError("quantile map knots must be finite")
        if np.any(np.diff(src) <= 0):
            raise CalibrationError("quantile map source knots must be strictly increasing")
        if np.any(np.diff(tgt) < 0):
            raise CalibrationError("quantile map target knots must be non-decreasing")
        if self.tails not in TAILS:
            raise CalibrationError(f"unknown tails {self.tails!r}; allowed: {', '.join(TAILS)}")
        if not (self.lower_slope >= 0 and self.upper_slope >= 0):
            raise CalibrationError("quantile map tail slopes must be >= 0")
        object.__setattr__(self, "source", src)
        object.__setattr__(self, "target", tgt)

    def __call__(self, x: ArrayLike) -> NDArray[np.float64]:
        """Map values ``x`` (any shape); NaN stays NaN."""
        x = np.asarray(x, dtype=np.float64)
        if self.source.size == 1:
            return np.where(np.isnan(x), np.nan, self.target[0])
        y = np.interp(x, self.source, self.target)
        if self.tails == "linear":
            lo = x < self.source[0]
            if lo.any():
                y[lo] = self.target[0] + self.lower_slope * (x[lo] - self.source[0])
            hi = x > self.source[-1]
            if hi.any():
                y[hi] = self.target[-1] + self.upper_slope * (x[hi] - self.source[-1])
        return y


def sorted_quantiles(sorted_x: NDArray[np.float64], probs: NDArray[np.float64]) -> NDArray[np.float64]:
    """Quantiles of already sorted data, linear interpolation between order statistics.

    Same definition as ``numpy.quantile(method="linear")`` (Hyndman & Fan type 7), without re-sorting.

    Parameters
    ----------
    sorted_x : ndarray, shape (n,)
        Finite values in non-decreasing order, n >= 1.
    probs : ndarray, shape (K,)
        Probabilities in [0, 1].
    """
    n = sorted_x.shape[0]
    pos = np.clip(probs, 0.0, 1.0) * (n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac = pos - lo
    return sorted_x[lo] + frac * (sorted_x[hi] - sorted_x[lo])


def fit_quantile_map(
    virtual: ArrayLike,
    real: ArrayLike,
    *,
    n_knots: int = 1001,
    tails: str = "linear",
    tail_mass: float = 0.01,
) -> QuantileMap:
    """Fit ``x_real = G^-1(F(x_virtual))`` for one channel.

    Both empirical CDFs are represented by their quantiles at ``n_knots`` evenly spaced probabilities
    (0 and 1 included) and interpolated linearly in between, so the map is continuous, monotone and does
    not snap outputs to levels. Virtual quantiles that tie (a discrete or constant stretch of virtual data)
    are merged into one knot whose target is the mean of the tied real quantiles.

    Parameters
    ----------
    virtual, real : array_like, shape (n,) and (m,)
        Samples of one channel (any unit, the same for both); non-finite values are ignored.
    n_knots : int
        Number of quantile knots, >= 2 (1001 resolves 0.1 % of probability mass).
    tails : {"linear", "clamp"}
        Behaviour outside the virtual range seen during fitting (see :class:`QuantileMap`).
    tail_mass : float
        Probability mass over which each tail slope is measured: the slope is
        ``(G^-1(p) - G^-1(0)) / (F^-1(p) - F^-1(0))`` with ``p = tail_mass`` (and the mirror at the top);
        a wider span than one knot keeps the slope from following a single outlier.

    Raises
    ------
    CalibrationError
        With fewer than 2 finite samples on either side, or bad parameters.
    """
    if n_knots < 2:
        raise CalibrationError(f"n_knots must be >= 2, got {n_knots}")
    if not 0.0 < tail_mass < 0.5:
        raise CalibrationError(f"tail_mass must be in (0, 0.5), got {tail_mass}")
    if tails not in TAILS:
        raise CalibrationError(f"unknown tails {tails!r}; allowed: {', '.join(TAILS)}")
    v = np.asarray(virtual, dtype=np.float64).ravel()
    r = np.asarray(real, dtype=np.float64).ravel()
    v = np.sort(v[np.isfinite(v)])
    r = np.sort(r[np.isfinite(r)])
    if v.size < 2 or r.size < 2:
        raise CalibrationError(
            f"a quantile map needs >= 2 finite samples on each side, got {v.size} virtual and {r.size} real"
        )
    probs = np.linspace(0.0, 1.0, n_knots)
    qv = sorted_quantiles(v, probs)
    qr = sorted_quantiles(r, probs)
    # tail slopes on the raw (untied) quantiles, over `tail_mass` of probability
    j = max(1, int(math.ceil(tail_mass * (n_knots - 1))))
    lower = _slope(qv[0], qv[j], qr[0], qr[j])
    upper = _slope(qv[-1 - j], qv[-1], qr[-1 - j], qr[-1])
    # merge tied virtual knots (np.interp needs strictly increasing x)
    src, inverse = np.unique(qv, return_inverse=True)
    tgt = np.bincount(inverse, weights=qr) / np.bincount(inverse)
    tgt = np.maximum.accumulate(tgt)  # guard against round-off: means of sorted groups are sorted
    return QuantileMap(src, tgt, lower_slope=lower, upper_slope=upper, tails=tails)


def _slope(x0: float, x1: float, y0: float, y1: float) -> float:
    dx = x1 - x0
    if not dx > 0:
        return 0.0
    return float(max(0.0, (y1 - y0) / dx))


@dataclass(frozen=True)
class DistributionMapping:
    """Per-channel quantile maps, optionally one set per activity class.

    Attributes
    ----------
    channels : tuple of str, length C
        Channel names (normally :data:`CHANNELS`).
    maps : tuple of QuantileMap, length C
        Maps fitted on all samples (used for unlabelled data and for classes without their own maps).
    class_maps : dict of str to tuple of QuantileMap
        Per-class maps (empty unless fitted with ``per_class=True``).
    n_knots : int
        Number of quantile knots used in fitting.
    tails : str
        Tail behaviour used in fitting.
    """

    channels: tuple[str, ...]
    maps: tuple[QuantileMap, ...]
    class_maps: dict[str, tuple[QuantileMap, ...]] = field(default_factory=dict)
    n_knots: int = 1001
    tails: str = "linear"

    def __post_init__(self) -> None:
        if len(self.maps) != len(self.channels):
            raise CalibrationError(f"{len(self.maps)} maps for {len(self.channels)} channels")
        for cls, maps in self.class_maps.items():
            if len(maps) != len(self.channels):
                raise CalibrationError(f"class {cls!r}: {len(maps)} maps for {len(self.channels)} channels")

    def apply(self, data: ArrayLike, labels: ArrayLike | None = None) -> NDArray[np.float64]:
        """Map ``data`` (N, C); ``labels`` (N,) picks per-class maps where they exist."""
        x = np.asarray(data, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.channels):
            raise CalibrationError(f"data must have shape (N, {len(self.channels)}), got {x.shape}")
        if labels is None or not self.class_maps:
            cols = np.ascontiguousarray(x.T)  # np.interp is faster on contiguous columns
            return np.stack([m(cols[c]) for c, m in enumerate(self.maps)], axis=1)
        out = np.empty_like(x)
        lab = np.asarray(labels).astype(str)
        if lab.shape != (x.shape[0],):
            raise CalibrationError(f"labels must have shape ({x.shape[0]},), got {lab.shape}")
        done = np.zeros(x.shape[0], dtype=bool)
        for cls, maps in self.class_maps.items():
            sel = lab == cls
            if sel.any():
                for c, m in enumerate(maps):
                    out[sel, c] = m(x[sel, c])
                done |= sel
        rest = ~done
        if rest.any():
            for c, m in enumerate(self.maps):
                out[rest, c] = m(x[rest, c])
        return out


def fit_mapping(
    virtual: ArrayLike,
    real: ArrayLike,
    *,
    virtual_labels: ArrayLike | None = None,
    real_labels: ArrayLike | None = None,
    per_class: bool = False,
    channels: Sequence[str] = CHANNELS,
    n_knots: int = 1001,
    tails: str = "linear",
    min_class_samples: int = 200,
) -> DistributionMapping:
    """Fit one quantile map per channel (and per class when ``per_class``).

    Parameters
    ----------
    virtual : array_like, shape (N, C)
        Virtual samples (SI); rows with any NaN are ignored per channel.
    real : array_like, shape (M, C)
        Real samples in the same channels and units.
    virtual_labels, real_labels : array_like, shape (N,) and (M,), optional
        Activity labels; required when ``per_class``.
    per_class : bool
        Also fit maps per class present on both sides with at least ``min_class_samples`` samples each;
        other classes use the pooled maps.
    channels : sequence of str, length C
        Channel names stored with the maps.
    n_knots, tails
        See :func:`fit_quantile_map`.
    min_class_samples : int
        Minimum samples per side for a class to get its own maps.
    """
    v = np.asarray(virtual, dtype=np.float64)
    r = np.asarray(real, dtype=np.float64)
    nc = len(channels)
    if v.ndim != 2 or v.shape[1] != nc or r.ndim != 2 or r.shape[1] != nc:
        raise CalibrationError(f"virtual and real must have shape (N, {nc}); got {v.shape} and {r.shape}")
    maps = tuple(fit_quantile_map(v[:, c], r[:, c], n_knots=n_knots, tails=tails) for c in range(nc))
    class_maps: dict[str, tuple[QuantileMap, ...]] = {}
    if per_class:
        if virtual_labels is None or real_labels is None:
            raise CalibrationError("per-class mapping needs labels on both the virtual and the real data")
        vl = np.asarray(virtual_labels).astype(str)
        rl = np.asarray(real_labels).astype(str)
        if vl.shape != (v.shape[0],) or rl.shape != (r.shape[0],):
            raise CalibrationError("labels must have one entry per sample")
        for cls in sorted(set(vl.tolist()) & set(rl.tolist())):
            vs, rs = v[vl == cls], r[rl == cls]
            if min(vs.shape[0], rs.shape[0]) < min_class_samples:
                continue
            class_maps[cls] = tuple(
                fit_quantile_map(vs[:, c], rs[:, c], n_knots=n_knots, tails=tails) for c in range(nc)
            )
    return DistributionMapping(tuple(channels), maps, class_maps, n_knots=n_knots, tails=tails)


# --------------------------------------------------------------------------------------------------
# Resampling.
# --------------------------------------------------------------------------------------------------


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
    nyq = 0.5 * rate_hz
    if cutoff_hz >= nyq or x.shape[0] < 2:
        return x.copy()
    sos = signal.butter(order, cutoff_hz / nyq, btype="low", output="sos")
    padlen = min(3 * (2 * sos.shape[0] + 1), x.shape[0] - 1)
    return np.asarray(signal.sosfiltfilt(sos, x, axis=0, padlen=padlen))


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


# --------------------------------------------------------------------------------------------------
# Gravity direction and axis alignment.
# --------------------------------------------------------------------------------------------------


def quasi_static_mask(
    acc: ArrayLike,
    gyro: ArrayLike,
    *,
    rate_hz: float,
    window_s: float = 0.5,
    acc_std_max: float = 0.5,
    gyro_max: float = 0.3,
    norm_tol: float = 1.5,
) -> NDArray[np.bool_]:
    """Samples inside quasi-static spans: the sensor barely moves, so acc ~ gravity in the sensor frame.

    A sample is quasi-static when, over a centred window of ``window_s``, the standard deviation of each
    acc axis is below ``acc_std_max`` (m/s^2), the mean gyro norm is below ``gyro_max`` (rad/s), and the acc
    norm is within ``norm_tol`` (m/s^2) of g0.

    Parameters
    ----------
    acc : array_like, shape (N, 3), m/s^2
    gyro : array_like, shape (N, 3), rad/s
    rate_hz : float
        Sample rate, Hz.
    """
    a = np.asarray(acc, dtype=np.float64)
    g = np.asarray(gyro, dtype=np.float64)
    w = max(1, int(round(window_s * rate_hz)))
    a0 = np.nan_to_num(a)
    mean = _moving_mean(a0, w)
    sq = _moving_mean(a0**2, w)
    std = np.sqrt(np.maximum(sq - mean**2, 0.0))
    gnorm = _moving_mean(np.linalg.norm(np.nan_to_num(g), axis=1)[:, None], w)[:, 0]
    norm = np.linalg.norm(a, axis=1)
    ok = np.isfinite(a).all(axis=1) & np.isfinite(g).all(axis=1)
    return ok & (std.max(axis=1) < acc_std_max) & (gnorm < gyro_max) & (np.abs(norm - G0) < norm_tol)


def _moving_mean(x: NDArray[np.float64], w: int) -> NDArray[np.float64]:
    """Centred moving mean along axis 0 with window ``w`` (edge samples repeated at the ends)."""
    return np.asarray(ndimage.uniform_filter1d(x, size=w, axis=0, mode="nearest"))


@dataclass(frozen=True)
class GravityEstimate:
    """Mean gravity direction of a set of recordings, in the sensor frame.

    Attributes
    ----------
    direction : ndarray, shape (3,)
        Unit vector along the mean specific force (points up, like the accelerometer at rest).
    magnitude : float
        Norm of the mean specific force, m/s^2 (about g0 when gravity is present; near 0 for
        gravity-removed data, where no alignment is possible).
    n_samples : int
        Samples averaged.
    quasi_static : bool
        True when the mean was taken over quasi-static spans, False when over all samples.
    """

    direction: NDArray[np.float64]
    magnitude: float
    n_samples: int
    quasi_static: bool


def gravity_direction(series: Sequence[ImuSeries], *, min_static_s: float = 2.0) -> GravityEstimate:
    """Mean specific-force direction over quasi-static spans of ``series`` (all samples if too few).

    Parameters
    ----------
    series : sequence of ImuSeries
        Recordings of one placement.
    min_static_s : float
        Minimum total quasi-static duration, s, below which every valid sample is averaged instead.
    """
    total = np.zeros(3)
    count = 0
    all_total = np.zeros(3)
    all_count = 0
    static_s = 0.0
    for s in series:
        if s.n < 2:
            continue
        a = np.where(s.valid[:, None], s.acc, np.nan)
        m = quasi_static_mask(a, s.gyro, rate_hz=s.rate_hz) & s.valid
        total += s.acc[m].sum(axis=0)
        count += int(m.sum())
        static_s += m.sum() / s.rate_hz
        all_total += s.acc[s.valid].sum(axis=0)
        all_count += int(s.valid.sum())
    if all_count == 0:
        raise CalibrationError("no valid samples to estimate the gravity direction from")
    use_static = static_s >= min_static_s and count > 0
    mean = total / count if use_static else all_total / all_count
    mag = float(np.linalg.norm(mean))
    direction = mean / mag if mag > 0 else np.array([0.0, 0.0, 1.0])
    return GravityEstimate(direction, mag, count if use_static else all_count, bool(use_static))


def rotation_between(a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """The smallest rotation matrix R (3, 3) with ``R @ a_hat = b_hat`` (a, b: non-zero 3-vectors)."""
    a_hat = np.asarray(a, dtype=np.float64)
    b_hat = np.asarray(b, dtype=np.float64)
    a_hat = a_hat / np.linalg.norm(a_hat)
    b_hat = b_hat / np.linalg.norm(b_hat)
    v = np.cross(a_hat, b_hat)
    s = float(np.linalg.norm(v))
    c = float(np.dot(a_hat, b_hat))
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        # opposite vectors: half turn about any axis perpendicular to a
        perp = np.cross(a_hat, np.array([1.0, 0.0, 0.0]))
        if np.linalg.norm(perp) < 1e-6:
            perp = np.cross(a_hat, np.array([0.0, 1.0, 0.0]))
        k = perp / np.linalg.norm(perp)
        return 2.0 * np.outer(k, k) - np.eye(3)
    k = v / s
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    angle = math.atan2(s, c)
    return np.eye(3) + math.sin(angle) * K + (1.0 - math.cos(angle)) * (K @ K)


@dataclass(frozen=True)
class Alignment:
    """Rotation of virtual sensor axes onto the real device's axes.

    Attributes
    ----------
    rotation : ndarray, shape (3, 3)
        Proper rotation applied as ``x_real_frame = R @ x_virtual_frame`` to acc and gyro.
    virtual_gravity, real_gravity : ndarray, shape (3,)
        Unit mean gravity directions the rotation was fitted from (sensor frames).
    angle_deg : float
        Rotation angle, degrees.
    """

    rotation: NDArray[np.float64]
    virtual_gravity: NDArray[np.float64]
    real_gravity: NDArray[np.float64]
    angle_deg: float

    def apply(self, data: NDArray[np.float64]) -> NDArray[np.float64]:
        """Rotate acc and gyro columns of ``data`` (N, 6)."""
        out = np.array(data, dtype=np.float64, copy=True)
        R = self.rotation
        # (R @ x.T).T is several times faster than x @ R.T on these strided (N, 3) column slices
        out[:, :3] = (R @ data[:, :3].T).T
        out[:, 3:6] = (R @ data[:, 3:6].T).T
        return out


def fit_alignment(
    virtual: Sequence[ImuSeries],
    real: Sequence[ImuSeries],
    *,
    min_angle_deg: float = 5.0,
    min_gravity: float = 0.5 * G0,
) -> tuple[Alignment | None, str]:
    """Fit the axis alignment between virtual and real sensor frames from their mean gravity directions.

    Returns ``(None, reason)`` when no rotation is needed (angle below ``min_angle_deg``) or possible
    (either set's mean specific force is below ``min_gravity`` m/s^2, e.g. gravity-removed data).
    The rotation about the gravity direction itself is unobservable this way and left at zero.
    """
    gv = gravity_direction(virtual)
    gr = gravity_direction(real)
    if gv.magnitude < min_gravity or gr.magnitude < min_gravity:
        return None, (
            f"no alignment: mean specific force {gv.magnitude:.2f} (virtual) / {gr.magnitude:.2f} "
            f"(real) m/s^2 is below {min_gravity:.2f} m/s^2 (no gravity to align)"
        )
    R = rotation_between(gv.direction, gr.direction)
    angle = math.degrees(math.acos(float(np.clip(np.dot(gv.direction, gr.direction), -1.0, 1.0))))
    if angle < min_angle_deg:
        return None, f"no alignment: gravity directions differ by {angle:.1f} deg < {min_angle_deg} deg"
    return Alignment(R, gv.direction, gr.direction, angle), f"aligned: rotation of {angle:.1f} deg"


# --------------------------------------------------------------------------------------------------
# Device model.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceModel:
    """Sensor imperfections of a device, all in SI.

    White noise of one-sided noise density ``d`` sampled at ``fs`` has standard deviation
    ``d * sqrt(fs / 2)`` per sample (the device's bandwidth is taken as the Nyquist frequency).

    Attributes
    ----------
    name : str
        Preset or device name.
    acc_range : float
        Accelerometer full scale, m/s^2 (outputs saturate at +-acc_range); inf for none.
    gyro_range : float
        Gyroscope full scale, rad/s; inf for none.
    acc_noise_density : float
        m/s^2/sqrt(Hz).
    gyro_noise_density : float
        rad/s/sqrt(Hz).
    acc_bias, gyro_bias : ndarray, shape (3,)
        Fixed bias added to every sample, m/s^2 and rad/s.
    acc_bias_sd, gyro_bias_sd : float
        Standard deviation of an extra constant bias drawn per clip and axis, m/s^2 and rad/s.
    acc_step, gyro_step : float
        Quantisation step (one LSB), m/s^2 and rad/s; 0 for none.
    """

    name: str = "none"
    acc_range: float = math.inf
    gyro_range: float = math.inf
    acc_noise_density: float = 0.0
    gyro_noise_density: float = 0.0
    acc_bias: tuple[float, float, float] = (0.0, 0.0, 0.0)
    gyro_bias: tuple[float, float, float] = (0.0, 0.0, 0.0)
    acc_bias_sd: float = 0.0
    gyro_bias_sd: float = 0.0
    acc_step: float = 0.0
    gyro_step: float = 0.0

    def __post_init__(self) -> None:
        for name in ("acc_range", "gyro_range"):
            if not getattr(self, name) > 0:
                raise CalibrationError(f"device {name} must be > 0, got {getattr(self, name)}")
        for name in (
            "acc_noise_density",
            "gyro_noise_density",
            "acc_bias_sd",
            "gyro_bias_sd",
            "acc_step",
            "gyro_step",
        ):
            val = getattr(self, name)
            if not (val >= 0 and math.isfinite(val)):
                raise CalibrationError(f"device {name} must be finite and >= 0, got {val}")
        for name in ("acc_bias", "gyro_bias"):
            val = tuple(float(x) for x in getattr(self, name))
            if len(val) != 3 or not all(math.isfinite(x) for x in val):
                raise CalibrationError(f"device {name} must be 3 finite numbers")
            object.__setattr__(self, name, val)

    def apply(self, data: ArrayLike, *, rate_hz: float, rng: np.random.Generator) -> NDArray[np.float64]:
        """Add bias and noise, then saturate and quantise ``data`` (N, 6) sampled at ``rate_hz`` Hz.

        NaN rows (invalid samples) stay NaN.
        """
        x = np.array(data, dtype=np.float64, copy=True)
        n = x.shape[0]
        bw = math.sqrt(0.5 * rate_hz) if rate_hz > 0 else 0.0
        parts = (
            (
                slice(0, 3),
                self.acc_bias,
                self.acc_bias_sd,
                self.acc_noise_density,
                self.acc_range,
                self.acc_step,
            ),
            (
                slice(3, 6),
                self.gyro_bias,
                self.gyro_bias_sd,
                self.gyro_noise_density,
                self.gyro_range,
                self.gyro_step,
            ),
        )
        for sl, bias, bias_sd, density, rng_max, step in parts:
            block = x[:, sl]
            # draws happen even when a parameter is 0, so one seed gives the same noise for any setting
            drift = rng.normal(0.0, 1.0, size=3) * bias_sd
            noise = rng.standard_normal((n, 3)) * (density * bw)
            block = block + np.asarray(bias) + drift + noise
            block = np.clip(block, -rng_max, rng_max)
            if step > 0:
                block = np.clip(np.round(block / step) * step, -rng_max, rng_max)
            x[:, sl] = block
        return x


#: Datasheet-typical presets (orders of magnitude; see docs/calibration.md for the sources).
DEVICE_PRESETS: dict[str, DeviceModel] = {
    "none": DeviceModel(),
    # BMI160 / LSM6DSL-class wrist IMU: +-16 g, +-2000 dps, 16-bit
    "smartwatch": DeviceModel(
        name="smartwatch",
        acc_range=16 * G0,
        gyro_range=math.radians(2000.0),
        acc_noise_density=180e-6 * G0,
        gyro_noise_density=math.radians(0.007),
        acc_bias_sd=0.02 * G0,
        gyro_bias_sd=math.radians(1.0),
        acc_step=32 * G0 / 65536,
        gyro_step=math.radians(4000.0) / 65536,
    ),
    # LSM6DSO / BMI26x-class phone IMU: +-8 g, +-2000 dps, 16-bit
    "phone": DeviceModel(
        name="phone",
        acc_range=8 * G0,
        gyro_range=math.radians(2000.0),
        acc_noise_density=70e-6 * G0,
        gyro_noise_density=math.radians(0.0038),
        acc_bias_sd=0.02 * G0,
        gyro_bias_sd=math.radians(0.5),
        acc_step=16 * G0 / 65536,
        gyro_step=math.radians(4000.0) / 65536,
    ),
}


def device_preset(name: str) -> DeviceModel:
    """The device preset ``name`` (``none``, ``smartwatch``, ``phone``)."""
    try:
        return DEVICE_PRESETS[name]
    except KeyError:
        allowed = ", ".join(DEVICE_PRESETS)
        raise CalibrationError(f"unknown device preset {name!r}; allowed: {allowed}") from None


# --------------------------------------------------------------------------------------------------
# Profiles.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationProfile:
    """Everything :func:`apply_profile` needs, as stored in a profile TOML file.

    Attributes
    ----------
    name : str
        Profile name (normally the file stem).
    description : str
        What the profile was fitted on, in words.
    source : dict of str to str
        Provenance (virtual and real inputs, placement, sample counts, date).
    rate_hz : float or None
        Output rate, Hz (the real device's); None keeps the input rate.
    alignment : Alignment or None
        Axis rotation applied before the mapping.
    mapping : DistributionMapping or None
        Per-channel quantile maps (SI on both sides).
    device : DeviceModel
        Device imperfections applied last.
    seed : int
        Default seed of the noise generator (each clip's generator is seeded with it and the clip id).
    cutoff_ratio : float
        Anti-aliasing cutoff, fraction of the new Nyquist frequency.
    """

    name: str
    description: str = ""
    source: dict[str, str] = field(default_factory=dict)
    rate_hz: float | None = None
    alignment: Alignment | None = None
    mapping: DistributionMapping | None = None
    device: DeviceModel = field(default_factory=DeviceModel)
    seed: int = 0
    cutoff_ratio: float = 0.8


def fit_profile(
    virtual: Sequence[ImuSeries],
    real: Sequence[ImuSeries],
    *,
    name: str,
    description: str = "",
    source: dict[str, str] | None = None,
    rate_hz: float | None = None,
    per_class: bool = False,
    align: bool = True,
    min_angle_deg: float = 5.0,
    n_knots: int = 1001,
    tails: str = "linear",
    device: DeviceModel | None = None,
    seed: int = 0,
    cutoff_ratio: float = 0.8,
) -> tuple[CalibrationProfile, list[str]]:
    """Fit a profile that maps ``virtual`` recordings onto the distribution of ``real`` ones.

    Steps: both sides resampled to ``rate_hz`` (default: the real set's median rate, rounded to 0.01 Hz),
    the alignment fitted on the resampled data and applied to the virtual side, then the quantile maps
    fitted on the valid samples.

    Parameters
    ----------
    virtual, real : sequence of ImuSeries
        Virtual and real recordings of the same placement (labels needed when ``per_class``).
    name, description, source
        Stored in the profile.
    rate_hz : float, optional
        Output rate, Hz.
    per_class : bool
        Fit one map set per activity class as well.
    align : bool
        Fit the gravity-direction alignment (see :func:`fit_alignment`).
    min_angle_deg : float
        Smallest misalignment, degrees, that gets a rotation.
    n_knots, tails
        See :func:`fit_quantile_map`.
    device : DeviceModel, optional
        Device model stored in the profile (default: none; the fitted mapping already carries the real
        device's noise distribution, so adding a noise model on top counts the noise twice).
    seed : int
        Stored noise seed.
    cutoff_ratio : float
        Anti-aliasing cutoff (see :func:`resample`).

    Returns
    -------
    profile : CalibrationProfile
    notes : list of str
        What was decided (rate, alignment), for the log.
    """
    if not virtual or not real:
        raise CalibrationError("fitting needs at least one virtual and one real recording")
    notes: list[str] = []
    if rate_hz is None:
        rates = [s.rate_hz for s in real if s.n >= 2]
        if not rates:
            raise CalibrationError("real recordings are too short to know their rate")
        rate_hz = round(float(np.median(rates)), 2)
        notes.append(f"rate: {rate_hz:g} Hz (median rate of the real recordings)")
    rate = float(rate_hz)
    v_rs, r_rs = (
        [
            s if _is_regular_at(s, rate) else resample_series(s, rate_hz=rate, cutoff_ratio=cutoff_ratio)
            for s in side
        ]
        for side in (virtual, real)
    )
    alignment = None
    if align:
        alignment, why = fit_alignment(v_rs, r_rs, min_angle_deg=min_angle_deg)
        notes.append(why)
    v_data = [s.data[s.valid] for s in v_rs]
    if alignment is not None:
        v_data = [alignment.apply(d) for d in v_data]
    r_data = [s.data[s.valid] for s in r_rs]
    v_lab = r_lab = None
    if per_class:
        if any(s.labels is None for s in (*v_rs, *r_rs)):
            raise CalibrationError("--per-class needs activity labels on every virtual and real recording")
        v_lab = np.concatenate([s.labels[s.valid] for s in v_rs])  # type: ignore[index]
        r_lab = np.concatenate([s.labels[s.valid] for s in r_rs])  # type: ignore[index]
    mapping = fit_mapping(
        np.concatenate(v_data),
        np.concatenate(r_data),
        virtual_labels=v_lab,
        real_labels=r_lab,
        per_class=per_class,
        n_knots=n_knots,
        tails=tails,
    )
    if per_class:
        notes.append(f"per-class maps for: {', '.join(mapping.class_maps) or 'none (too few samples)'}")
    src = dict(source or {})
    src.setdefault("n_virtual_samples", str(sum(d.shape[0] for d in v_data)))
    src.setdefault("n_real_samples", str(sum(d.shape[0] for d in r_data)))
    src.setdefault("fitted_at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    profile = CalibrationProfile(
        name=name,
        description=description,
        source=src,
        rate_hz=rate_hz,
        alignment=alignment,
        mapping=mapping,
        device=device or DeviceModel(),
        seed=seed,
        cutoff_ratio=cutoff_ratio,
    )
    return profile, notes


def _is_regular_at(series: ImuSeries, rate_hz: float) -> bool:
    """Whether ``series`` is already sampled on a regular grid at ``rate_hz`` (steps within 0.1 %)."""
    if series.n < 2:
        return False
    dt = np.diff(series.time)
    return bool(np.all(np.abs(dt * rate_hz - 1.0) < 1e-3))


def clip_seed(seed: int, key: str) -> np.random.SeedSequence:
    """Seed sequence for one clip: the profile seed and a CRC-32 of the clip's id (order-independent)."""
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode("utf-8"))])


def apply_profile(
    series: ImuSeries,
    profile: CalibrationProfile,
    *,
    seed: int | None = None,
    labels: ArrayLike | None = None,
) -> ImuSeries:
    """Apply ``profile`` to one recording: resample, align, map, device model.

    Parameters
    ----------
    series : ImuSeries
        A virtual recording.
    profile : CalibrationProfile
        The profile.
    seed : int, optional
        Noise seed (default: the profile's); the generator is seeded with it and ``series.name``.
    labels : array_like, shape (N_out,), optional
        Labels used to pick per-class maps (default: the series' own labels after resampling).

    Returns
    -------
    ImuSeries
        The calibrated recording (invalid samples NaN).
    """
    out = series
    if profile.rate_hz is not None and not _is_regular_at(series, profile.rate_hz):
        out = resample_series(series, rate_hz=profile.rate_hz, cutoff_ratio=profile.cutoff_ratio)
    data = np.where(out.valid[:, None], out.data, np.nan)
    if profile.alignment is not None:
        data = profile.alignment.apply(data)
    if profile.mapping is not None:
        lab = out.labels if labels is None else np.asarray(labels).astype(str)
        data = profile.mapping.apply(data, lab)
    rate = profile.rate_hz if profile.rate_hz is not None else out.rate_hz
    rng = np.random.default_rng(clip_seed(profile.seed if seed is None else seed, series.name))
    data = profile.device.apply(data, rate_hz=rate if math.isfinite(rate) else 0.0, rng=rng)
    data = np.where(out.valid[:, None], data, np.nan)
    return out.with_data(data)


# --------------------------------------------------------------------------------------------------
# Metrics.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelDistance:
    """Distribution distance of one channel between two sample sets.

    Attributes
    ----------
    channel : str
    wasserstein : float
        1-D earth mover's distance, in the channel's unit.
    ks : float
        Two-sample Kolmogorov-Smirnov statistic (sup |F1 - F2|), in [0, 1].
    """

    channel: str
    wasserstein: float
    ks: float


def distribution_distances(
    a: ArrayLike, b: ArrayLike, *, channels: Sequence[str] = CHANNELS
) -> list[ChannelDistance]:
    """Per-channel Wasserstein distance and KS statistic between ``a`` (N, C) and ``b`` (M, C)."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    out = []
    for c, name in enumerate(channels):
        xc = x[:, c][np.isfinite(x[:, c])]
        yc = y[:, c][np.isfinite(y[:, c])]
        if xc.size == 0 or yc.size == 0:
            raise CalibrationError(f"channel {name}: no finite samples to compare")
        out.append(
            ChannelDistance(
                name, float(stats.wasserstein_distance(xc, yc)), float(stats.ks_2samp(xc, yc).statistic)
            )
        )
    return out


# --------------------------------------------------------------------------------------------------
# TOML (write by hand: tomllib only reads).
# --------------------------------------------------------------------------------------------------


def _toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=True)


def _toml_float(x: float) -> str:
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def _toml_floats(values: ArrayLike, per_line: int = 8) -> str:
    vals = [_toml_float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
    if len(vals) <= per_line:
        return "[" + ", ".join(vals) + "]"
    lines = [", ".join(vals[i : i + per_line]) for i in range(0, len(vals), per_line)]
    return "[\n  " + ",\n  ".join(lines) + ",\n]"


_DEVICE_UNITS = {
    "acc_range": "m/s^2, full scale (+-); inf = no saturation",
    "gyro_range": "rad/s, full scale (+-); inf = no saturation",
    "acc_noise_density": "m/s^2/sqrt(Hz), white noise",
    "gyro_noise_density": "rad/s/sqrt(Hz), white noise",
    "acc_bias": "m/s^2, fixed bias per axis",
    "gyro_bias": "rad/s, fixed bias per axis",
    "acc_bias_sd": "m/s^2, sd of a constant bias drawn per clip and axis",
    "gyro_bias_sd": "rad/s, sd of a constant bias drawn per clip and axis",
    "acc_step": "m/s^2, quantisation step (1 LSB); 0 = none",
    "gyro_step": "rad/s, quantisation step (1 LSB); 0 = none",
}


def _maps_toml(prefix: str, channels: Sequence[str], maps: Sequence[QuantileMap]) -> list[str]:
    lines: list[str] = []
    for ch, m in zip(channels, maps, strict=True):
        lines += [
            "",
            f"[{prefix}.{ch}]",
            f"lower_slope = {_toml_float(m.lower_slope)}",
            f"upper_slope = {_toml_float(m.upper_slope)}",
            f"virtual = {_toml_floats(m.source)}",
            f"real = {_toml_floats(m.target)}",
        ]
    return lines


def profile_to_toml(profile: CalibrationProfile) -> str:
    """The TOML text of ``profile`` (floats written with round-trip precision)."""
    p = profile
    lines = [
        "# imusynth calibration profile (SI units: acc m/s^2 specific force with gravity, gyro rad/s).",
        "# Applied in this order: resample -> alignment -> mapping -> device.",
        f"schema = {_toml_str(PROFILE_SCHEMA)}",
        f"name = {_toml_str(p.name)}",
        f"description = {_toml_str(p.description)}",
        f"seed = {int(p.seed)}  # noise seed; each clip uses (seed, crc32(clip id))",
        "",
        "[units]",
        f"acc = {_toml_str(ACC_UNIT)}",
        f"gyro = {_toml_str(GYRO_UNIT)}",
        "",
        "[source]",
        *(f"{_toml_str(k)} = {_toml_str(v)}" for k, v in p.source.items()),
        "",
        "[resample]",
        f"rate_hz = {_toml_float(p.rate_hz or 0.0)}  # Hz; 0 = keep the input rate",
        f"cutoff_ratio = {_toml_float(p.cutoff_ratio)}  # anti-alias cutoff / new Nyquist frequency",
    ]
    d = p.device
    lines += ["", "[device]", f"name = {_toml_str(d.name)}"]
    for key, unit in _DEVICE_UNITS.items():
        val = getattr(d, key)
        txt = _toml_floats(val) if isinstance(val, tuple) else _toml_float(val)
        lines.append(f"{key} = {txt}  # {unit}")
    if p.alignment is not None:
        a = p.alignment
        lines += [
            "",
            "[alignment]  # x_real_frame = rotation @ x_virtual_frame (acc and gyro)",
            f"rotation = [{', '.join(_toml_floats(row) for row in a.rotation)}]",
            f"virtual_gravity = {_toml_floats(a.virtual_gravity)}  # unit vector, virtual sensor frame",
            f"real_gravity = {_toml_floats(a.real_gravity)}  # unit vector, real sensor frame",
            f"angle_deg = {_toml_float(a.angle_deg)}  # degrees",
        ]
    if p.mapping is not None:
        m = p.mapping
        lines += [
            "",
            "[mapping]  # x_real = G^-1(F(x_virtual)), linear between quantile knots",
            f"n_knots = {int(m.n_knots)}  # evenly spaced probabilities 0..1 (tied knots merged)",
            f"tails = {_toml_str(m.tails)}  # 'linear' extrapolation or 'clamp' outside the knots",
            f"channels = [{', '.join(_toml_str(c) for c in m.channels)}]",
            f"classes = [{', '.join(_toml_str(c) for c in m.class_maps)}]",
        ]
        lines += _maps_toml("mapping.all", m.channels, m.maps)
        for cls, maps in m.class_maps.items():
            lines += _maps_toml(f"mapping.class.{_toml_str(cls)}", m.channels, maps)
    return "\n".join(lines) + "\n"


def profile_from_toml(text: str, *, where: str = "profile") -> CalibrationProfile:
    """Parse a profile written by :func:`profile_to_toml` (or by hand)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalibrationError(f"{where}: not valid TOML ({exc})") from None
    try:
        return _profile_from_dict(doc, where)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CalibrationError):
            raise
        raise CalibrationError(f"{where}: malformed profile ({type(exc).__name__}: {exc})") from None


def _profile_from_dict(doc: dict[str, Any], where: str) -> CalibrationProfile:
    schema = doc.get("schema", "")
    if schema != PROFILE_SCHEMA:
        raise CalibrationError(f"{where}: schema {schema!r} is not {PROFILE_SCHEMA!r}")
    units = doc.get("units", {})
    if units.get("acc", ACC_UNIT) != ACC_UNIT or units.get("gyro", GYRO_UNIT) != GYRO_UNIT:
        raise CalibrationError(f"{where}: units must be acc={ACC_UNIT!r}, gyro={GYRO_UNIT!r} (SI)")
    dev = dict(doc.get("device", {}))
    known = {"name", *_DEVICE_UNITS}
    unknown = set(dev) - known
    if unknown:
        raise CalibrationError(f"{where}: unknown device keys {sorted(unknown)}; allowed: {sorted(known)}")
    for k in ("acc_bias", "gyro_bias"):
        if k in dev:
            dev[k] = tuple(float(x) for x in dev[k])
    for k in _DEVICE_UNITS:
        if k in dev and not isinstance(dev[k], tuple):
            dev[k] = float(dev[k])
    device = DeviceModel(**dev)
    rs = doc.get("resample", {})
    rate = float(rs.get("rate_hz", 0.0))
    alignment = None
    if "alignment" in doc:
        a = doc["alignment"]
        R = np.asarray(a["rotation"], dtype=np.float64)
        if R.shape != (3, 3) or not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
            raise CalibrationError(f"{where}: alignment.rotation must be a 3x3 proper rotation matrix")
        alignment = Alignment(
            R,
            np.asarray(a.get("virtual_gravity", [0, 0, 1]), dtype=np.float64),
            np.asarray(a.get("real_gravity", [0, 0, 1]), dtype=np.float64),
            float(a.get("angle_deg", 0.0)),
        )
    mapping = None
    if "mapping" in doc:
        m = doc["mapping"]
        channels = tuple(str(c) for c in m.get("channels", CHANNELS))
        if channels != CHANNELS:
            raise CalibrationError(f"{where}: mapping.channels must be {list(CHANNELS)}")
        tails = str(m.get("tails", "linear"))

        def maps_of(table: dict[str, Any], label: str) -> tuple[QuantileMap, ...]:
            missing = [c for c in channels if c not in table]
            if missing:
                raise CalibrationError(f"{where}: {label} lacks channels {missing}")
            return tuple(
                QuantileMap(
                    np.asarray(table[c]["virtual"], dtype=np.float64),
                    np.asarray(table[c]["real"], dtype=np.float64),
                    float(table[c].get("lower_slope", 0.0)),
                    float(table[c].get("upper_slope", 0.0)),
                    tails,
                )
                for c in channels
            )

        class_maps = {
            str(cls): maps_of(tab, f"mapping.class.{cls}") for cls, tab in m.get("class", {}).items()
        }
        mapping = DistributionMapping(
            channels,
            maps_of(m["all"], "mapping.all"),
            class_maps,
            n_knots=int(m.get("n_knots", 0)),
            tails=tails,
        )
    return CalibrationProfile(
        name=str(doc.get("name", "")),
        description=str(doc.get("description", "")),
        source={str(k): str(v) for k, v in doc.get("source", {}).items()},
        rate_hz=rate if rate > 0 else None,
        alignment=alignment,
        mapping=mapping,
        device=device,
        seed=int(doc.get("seed", 0)),
        cutoff_ratio=float(rs.get("cutoff_ratio", 0.8)),
    )


def save_profile(profile: CalibrationProfile, path: str | os.PathLike[str]) -> Path:
    """Write ``profile`` as TOML to ``path`` atomically (temp file in the same folder, then rename)."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    text = profile_to_toml(profile)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_profile(path: str | os.PathLike[str]) -> tuple[CalibrationProfile, str]:
    """Read a profile TOML file; returns the profile and its exact text."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"cannot read profile {p}: {exc.strerror or exc}") from None
    return profile_from_toml(text, where=str(p)), text


# --------------------------------------------------------------------------------------------------
# Loading recordings from files (HDF5 clips, real-IMU CSV, sktime .ts).
# --------------------------------------------------------------------------------------------------

#: How group keys are made for files that carry none.
GROUP_BY = ("file", "parent")


def series_from_signals(
    sig: Any,
    *,
    label: str | None = None,
    group: str = "",
    name: str = "",
) -> ImuSeries:
    """An :class:`ImuSeries` from an :class:`imusynth.sensors.SensorSignals` (label broadcast to samples)."""
    n = np.asarray(sig.time).shape[0]
    labels = None if label is None else np.full(n, label)
    return ImuSeries(sig.time, sig.acc, sig.gyro, sig.valid, labels, group, name)


@dataclass(frozen=True)
class LoadedRecording:
    """One recording read from a file: its series per placement, and where it came from.

    Attributes
    ----------
    name : str
        Clip id, or file name (with the case number for ``.ts``).
    series : dict of str to ImuSeries
        Per placement (real files: one entry named after the sensor).
    source : str
        The file path.
    kind : {"clip", "real"}
        An ``imusynth/1`` clip or a real-IMU file.
    """

    name: str
    series: dict[str, ImuSeries]
    source: str
    kind: str


def load_recordings(
    paths: Sequence[str | os.PathLike[str]],
    *,
    placements: Sequence[str] | None = None,
    preset: str | None = None,
    sensor: str | None = None,
    rate_hz: float | None = None,
    acc_unit: str | None = None,
    gyro_unit: str | None = None,
    label: str | None = None,
    group_by: str = "file",
) -> list[LoadedRecording]:
    """Read recordings from ``imusynth/1`` HDF5 files, real-IMU CSV files or sktime ``.ts`` files.

    Parameters
    ----------
    paths : sequence of path
        Files; the format is chosen by extension (``.h5``/``.hdf5``: clips; ``.ts``: sktime; anything else:
        a delimited text file read by :func:`imusynth.readers.read_imu`).
    placements : sequence of str, optional
        HDF5: the sensors to keep (default all; a clip lacking one is an error). Text files: the
        placement name given to the file's single sensor (default ``sensor`` or ``"imu"``).
    preset, sensor, rate_hz, acc_unit, gyro_unit
        Options of :func:`imusynth.readers.read_imu` for text files (``rate_hz``, ``acc_unit``,
        ``gyro_unit`` also for ``.ts``: the format stores no rate and no units; SI assumed when omitted).
    label : str, optional
        Label for every sample of files without per-sample labels (overrides clip labels too).
    group_by : {"file", "parent"}
        Group key of text files: the file's stem, or its parent folder's name (e.g. a subject folder).
        HDF5 clips use their ``group`` attribute (else the clip id); ``.ts`` cases are their own group.
    """
    if group_by not in GROUP_BY:
        raise CalibrationError(f"unknown group_by {group_by!r}; allowed: {', '.join(GROUP_BY)}")
    out: list[LoadedRecording] = []
    for raw in paths:
        p = Path(raw)
        if not p.is_file():
            raise CalibrationError(f"{p}: no such file")
        suffix = p.suffix.lower()
        if suffix in (".h5", ".hdf5"):
            out += _load_clips(p, placements=placements, label=label)
        elif suffix == ".ts":
            from .readers.ts import read_ts, ts_to_series

            if rate_hz is None:
                raise CalibrationError(f"{p}: .ts files store no sample rate; give it (--source-rate)")
            ds = read_ts(p)
            names = placements or [sensor or "imu"]
            for s in ts_to_series(
                ds, rate_hz=rate_hz, acc_unit=acc_unit or ACC_UNIT, gyro_unit=gyro_unit or GYRO_UNIT
            ):
                if label is not None:
                    s = replace(s, labels=np.full(s.n, label))
                out.append(LoadedRecording(s.name, {names[0]: s}, str(p), "real"))
        else:
            from .readers import read_imu

            imu = read_imu(
                p, preset=preset, sensor=sensor, rate_hz=rate_hz, acc_unit=acc_unit, gyro_unit=gyro_unit
            )
            group = p.parent.name if group_by == "parent" else p.name.split(".")[0]
            labels = imu.labels if label is None else np.full(imu.n_samples, label)
            name = p.name.split(".")[0]
            ok = np.ones(imu.n_samples, dtype=bool)
            s = ImuSeries(imu.time, imu.acc, imu.gyro, ok, labels, group, name)
            names = placements or [sensor or "imu"]
            out.append(LoadedRecording(name, {names[0]: s}, str(p), "real"))
    if not out:
        raise CalibrationError("no recordings were read")
    return out


def _load_clips(path: Path, *, placements: Sequence[str] | None, label: str | None) -> list[LoadedRecording]:
    from .io_hdf5 import read_clips

    out = []
    for clip in read_clips(path, with_motion=False):
        wanted = list(placements) if placements else list(clip.sensors)
        missing = [w for w in wanted if w not in clip.sensors]
        if missing:
            raise CalibrationError(
                f"{path}: clip {clip.clip_id} has no sensor {missing[0]!r}; it has {', '.join(clip.sensors)}"
            )
        lab = label if label is not None else clip.label
        group = clip.group or clip.clip_id
        series = {
            w: series_from_signals(clip.sensors[w], label=lab, group=group, name=clip.clip_id) for w in wanted
        }
        out.append(LoadedRecording(clip.clip_id, series, str(path), "clip"))
    return out
