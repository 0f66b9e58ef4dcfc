"""Stage 5 numerics: gaps, regular resampling, zero-phase smoothing, splines and segment frames.

The method (see docs/physics.md for the frequency response):

1. Short gaps (at most ``max_gap_s`` of missing data) are bridged by cubic interpolation;
   longer gaps split the recording into runs that are processed separately and are marked invalid.
2. Irregular timestamps are resampled onto a regular grid at the source rate by a cubic spline.
3. Each run is low-passed by a zero-phase Butterworth filter (``sosfiltfilt``) whose cut-off is
   ``min(cutoff_hz, 0.25 * source_rate, 0.25 * output_rate)``: nothing above the source's Nyquist
   frequency (nor the output's) survives.
4. Quintic interpolating splines through the filtered samples give positions, velocities and
   accelerations at any output time; segment orientations and their exact time derivatives follow
   from the splined points (:func:`segment_frames`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import BSpline, CubicSpline, make_interp_spline
from scipy.signal import butter, sosfiltfilt

#: Fraction of a sampling rate used as the highest cut-off (0.25 x rate = half the Nyquist frequency):
#: content between it and Nyquist is attenuated before the quintic spline, whose imperfect
#: reconstruction would otherwise mirror it above the source's Nyquist frequency.
MAX_CUTOFF_FRACTION = 0.25
#: Samples needed in a run to filter and fit a quintic spline.
MIN_RUN_SAMPLES = 12


def effective_cutoff(cutoff_hz: float | None, source_rate_hz: float, output_rate_hz: float) -> float:
    """Cut-off actually used, Hz: ``min(cutoff_hz, 0.25 * source_rate_hz, 0.25 * output_rate_hz)``.

    ``cutoff_hz=None`` means no user limit (only the rate limits apply).
    """
    limit = MAX_CUTOFF_FRACTION * min(source_rate_hz, output_rate_hz)
    return float(limit if cutoff_hz is None else min(cutoff_hz, limit))


def runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Half-open index ranges ``[start, stop)`` of the True runs of a 1-D boolean mask."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def bridge_gaps(t: NDArray[np.float64], x: NDArray[np.float64], valid: NDArray[np.bool_], *,
                max_gap_s: float) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Fill gaps of at most ``max_gap_s`` by cubic interpolation.

    Parameters
    ----------
    t : ndarray, shape (T,), s
        Sample times.
    x : ndarray, shape (T, D)
        Samples (any unit); values where ``valid`` is False are ignored.
    valid : ndarray, shape (T,), bool
        Which samples hold data.
    max_gap_s : float, s
        Largest time between the last valid sample before a gap and the first after it that is bridged.

    Returns
    -------
    x_filled : ndarray, shape (T, D)
        Bridged samples interpolated; other invalid samples NaN.
    valid_filled : ndarray, shape (T,), bool
    """
    x = np.array(x, dtype=np.float64, copy=True)
    valid = np.asarray(valid, dtype=bool).copy()
    x[~valid] = np.nan
    idx = np.flatnonzero(valid)
    if idx.size < 2:
        return x, valid
    to_fill = []
    for a, b in runs(~valid):
        if a == 0 or b == len(t):
            continue  # leading/trailing gaps are never invented
        if t[b] - t[a - 1] <= max_gap_s + 1e-9:
            to_fill.append((a, b))
    if to_fill:
        spline = CubicSpline(t[idx], x[idx], axis=0) if idx.size >= 4 else None
        for a, b in to_fill:
            if spline is not None:
                x[a:b] = spline(t[a:b])
            else:
                for d in range(x.shape[1]):
                    x[a:b, d] = np.interp(t[a:b], t[idx], x[idx, d])
            valid[a:b] = True
    return x, valid


def is_regular(t: NDArray[np.float64], *, tolerance: float = 0.01) -> bool:
    """True when every interval is within ``tolerance`` (relative) of the median interval."""
    if t.size < 3:
        return True
    dt = np.diff(t)
    med = np.median(dt)
    return bool(np.max(np.abs(dt - med)) <= tolerance * med)


def regular_grid(t: NDArray[np.float64], x: NDArray[np.float64], *, rate_hz: float
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Resample one valid run onto a regular grid at ``rate_hz`` by a cubic spline.

    Parameters
    ----------
    t : ndarray, shape (T,), s, strictly increasing
    x : ndarray, shape (T, D)
    rate_hz : float, Hz

    Returns
    -------
    t_grid : ndarray, shape (G,), s
        ``t[0] + k / rate_hz`` up to ``t[-1]``.
    x_grid : ndarray, shape (G, D)
    """
    n = int(np.floor((t[-1] - t[0]) * rate_hz + 1e-9)) + 1
    tg = t[0] + np.arange(n) / rate_hz
    return tg, CubicSpline(t, x, axis=0)(tg)


def lowpass(x: NDArray[np.float64], *, rate_hz: float, cutoff_hz: float, order: int = 2) -> NDArray[np.float64]:
    """Zero-phase Butterworth low-pass along axis 0.

    Parameters
    ----------
    x : ndarray, shape (T, ...)
        Regularly sampled values.
    rate_hz : float, Hz
        Sample rate.
    cutoff_hz : float, Hz
        Cut-off of the single pass. The forward-backward response is real (zero phase) and equals
        ``|H(f)|^2 = 1 / (1 + (tan(pi f / fs) / tan(pi fc / fs))^(2 * order))`` (digital Butterworth by the
        bilinear transform; -6 dB at ``cutoff_hz``; close to ``1 / (1 + (f / fc)^(2 order))`` for f << fs).
    order : int
        Butterworth order of the single pass.
    """
    if cutoff_hz >= 0.5 * rate_hz:
        return np.asarray(x, dtype=np.float64)
    sos = butter(order, cutoff_hz, btype="low", fs=rate_hz, output="sos")
    padlen = min(x.shape[0] - 1, int(3 * rate_hz / cutoff_hz))
    return sosfiltfilt(sos, x, axis=0, padtype="odd", padlen=padlen)


@dataclass(frozen=True)
class Trajectory:
    """Quintic interpolating spline through regularly sampled, filtered values.

    Attributes
    ----------
    spline : scipy.interpolate.BSpline
        Degree-5 spline of the values (any trailing shape) over time in seconds.
    t_start, t_end : float, s
        Time span covered (evaluation outside is invalid).
    """

    spline: BSpline
    t_start: float
    t_end: float

    @classmethod
    def fit(cls, t: NDArray[np.float64], x: NDArray[np.float64]) -> Trajectory:
        """Fit through samples ``x`` of shape (T, ...) at times ``t`` (T,) s."""
        k = 5 if t.size >= 6 else max(1, t.size - 1)
        return cls(make_interp_spline(t, x, k=k, axis=0), float(t[0]), float(t[-1]))

    def __call__(self, t: NDArray[np.float64], nu: int = 0) -> NDArray[np.float64]:
        """Value (``nu=0``) or ``nu``-th time derivative (units per s^nu) at times ``t``."""
        return self.spline(t, nu)


def _unit_and_rate(u: NDArray[np.float64], du: NDArray[np.float64]
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    n = np.linalg.norm(u, axis=-1, keepdims=True)
    e = u / n
    de = (du - e * np.sum(e * du, axis=-1, keepdims=True)) / n
    return e, de, n[..., 0]


def segment_frames(u: NDArray[np.float64], du: NDArray[np.float64], w: NDArray[np.float64],
                   dw: NDArray[np.float64], *, min_norm: float = 1e-3
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Segment orientation and body-frame angular velocity from two direction vectors.

    The frame is ``x = u/|u|``, ``z = unit(x cross w)``, ``y = z cross x`` (right-handed).
    Its time derivative is exact given ``du`` and ``dw`` (the derivative of the normalisations and
    cross products), so ``omega = vee(R^T dR/dt)`` has no finite-difference error.

    Parameters
    ----------
    u, w : ndarray, shape (N, 3), m
        Primary and secondary vectors in the world frame.
    du, dw : ndarray, shape (N, 3), m/s
        Their time derivatives.
    min_norm : float, m
        Below this length of ``u`` or of ``x cross w`` the frame is degenerate (marked invalid).

    Returns
    -------
    R : ndarray, shape (N, 3, 3)
        Segment-to-world rotation (columns are the segment axes in the world frame).
    omega : ndarray, shape (N, 3), rad/s
        Angular velocity in the segment frame.
    ok : ndarray, shape (N,), bool
        False where the frame is degenerate.
    """
    x, dx, nu = _unit_and_rate(u, du)
    c = np.cross(x, w)
    dc = np.cross(dx, w) + np.cross(x, dw)
    z, dz, nc = _unit_and_rate(c, dc)
    y = np.cross(z, x)
    dy = np.cross(dz, x) + np.cross(z, dx)
    R = np.stack([x, y, z], axis=-1)

    def dot(p: NDArray[np.float64], q: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.sum(p * q, axis=-1)

    # omega = vee(R^T dR/dt); (R^T dR)_ik = col_i . dcol_k, antisymmetrised
    omega = 0.5 * np.stack([dot(z, dy) - dot(y, dz), dot(x, dz) - dot(z, dx), dot(y, dx) - dot(x, dy)], axis=-1)
    ok = np.isfinite(omega).all(axis=-1) & (nu > min_norm) & (nc > min_norm)
    return R, omega, ok
