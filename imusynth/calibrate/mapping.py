"""Distribution (quantile) mapping: ``x_real = G^-1(F(x_virtual))`` per channel, optionally per class.

Holds :class:`QuantileMap` (one monotone piecewise-linear map between quantile knots, with linear or
clamped tails), :func:`sorted_quantiles`, :func:`fit_quantile_map`, :class:`DistributionMapping` (one map
per channel of an (N, C) array, plus per-class maps) and :func:`fit_mapping`. Values keep their unit
(SI for calibration data: m/s^2, rad/s).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.core.imu_series import CHANNELS, CalibrationError

#: Allowed tail behaviours of a quantile map.
TAILS = ("linear", "clamp")


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
