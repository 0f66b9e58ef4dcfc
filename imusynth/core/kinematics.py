"""Stage 5 numerics: gaps, regular resampling, zero-phase smoothing, splines and segment frames.

The method (see docs/physics.md for the frequency response):

1. Short gaps (at most ``max_gap_s`` of missing data) are bridged by cubic interpolation;
   longer gaps split the recording into runs that are processed separately and are marked invalid.
2. Irregular timestamps are resampled onto a regular grid at the source rate by a cubic spline.
3. Each run is low-passed by a zero-phase Butterworth filter (run forwards and backwards: ``filtfilt`` for
   one second-order section, ``sosfiltfilt`` for higher orders) whose cut-off is
   ``min(cutoff_hz, 0.25 * source_rate, 0.25 * output_rate)``: nothing above the source's Nyquist
   frequency (nor the output's) survives.
4. Quintic interpolating splines through the filtered samples give positions, velocities and
   accelerations at any output time; segment orientations and their exact time derivatives follow
   from the splined points (:func:`segment_frames`).

Implementation notes (speed; the results are those of the plain method to rounding error):

* Inside the package the numerics run on component-major arrays (``(D, T)``, one contiguous row per
  coordinate), so that every operation is a long vectorised pass; the public functions keep the
  ``(T, D)`` layout.
* The cubic spline that bridges a gap is fitted to the valid samples within :data:`BRIDGE_WINDOW` valid
  samples of the gap, not to the whole recording: a cubic spline's dependence on data ``k`` knots away
  decays at least as ``2**-k``, so the window changes nothing above rounding error.
* On a uniform time grid the quintic interpolating spline (the same not-a-knot spline as
  :func:`scipy.interpolate.make_interp_spline` with ``k=5``) is fitted by the exact recursive B-spline
  prefilter (two first-order poles, forwards and backwards) plus a dense correction of the first and last
  :data:`_EDGE` coefficients, and evaluated through the fixed quintic B-spline weights; shorter or
  non-uniform runs are solved densely (:func:`imusynth.core.bspline.make_interp`), and only long
  non-uniform ones load SciPy's banded solver. The splines are NumPy code (:mod:`imusynth.core.bspline`):
  ``scipy.interpolate`` takes ~0.3 s to import.
* :func:`imusynth.core.sensors.simulate` evaluates each distinct run grid once and shares it, and shares the
  segment frame between placements built on the same two vectors over the same valid samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from imusynth.core.bspline import (
    Spline,
    basis,
    combine,
    combine_cm,
    cubic_not_a_knot,
    design_matrix,
    grid_period,
    make_interp,
    not_a_knot_knots,
    quintic_uniform_weights,
)
from imusynth.core.iir import butter_lowpass_ba, butter_lowpass_sos, filtfilt, lfilter, sosfiltfilt

#: Fraction of a sampling rate used as the highest cut-off (0.25 x rate = half the Nyquist frequency):
#: content between it and Nyquist is attenuated before the quintic spline, whose imperfect
#: reconstruction would otherwise mirror it above the source's Nyquist frequency.
MAX_CUTOFF_FRACTION = 0.25
#: Samples needed in a run to filter and fit a quintic spline.
MIN_RUN_SAMPLES = 12
#: Valid samples on each side of a gap that the bridging cubic spline is fitted to (see the module notes).
BRIDGE_WINDOW = 64

Array = NDArray[np.float64]


def effective_cutoff(cutoff_hz: float | None, source_rate_hz: float, output_rate_hz: float) -> float:
    """Cut-off actually used, Hz: ``min(cutoff_hz, 0.25 * source_rate_hz, 0.25 * output_rate_hz)``.

    ``cutoff_hz=None`` means no user limit (only the rate limits apply).
    """
    limit = MAX_CUTOFF_FRACTION * min(source_rate_hz, output_rate_hz)
    return float(limit if cutoff_hz is None else min(cutoff_hz, limit))


def runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Half-open index ranges ``[start, stop)`` of the True runs of a 1-D boolean mask."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def bridge_gaps_cm(t: Array, x: Array, valid: NDArray[np.bool_], *, max_gap_s: float
                   ) -> tuple[Array, NDArray[np.bool_]]:
    """:func:`bridge_gaps` on component-major samples ``x`` of shape (D, T)."""
    x = np.array(x, dtype=np.float64, copy=True)
    valid = np.asarray(valid, dtype=bool).copy()
    x[:, ~valid] = np.nan
    idx = np.flatnonzero(valid)
    if idx.size < 2:
        return x, valid
    to_fill = []
    for a, b in runs(~valid):
        if a == 0 or b == len(t):
            continue  # leading/trailing gaps are never invented
        if t[b] - t[a - 1] <= max_gap_s + 1e-9:
            to_fill.append((a, b))
    if not to_fill:
        return x, valid
    if idx.size < 4:
        for a, b in to_fill:
            for d in range(x.shape[0]):
                x[d, a:b] = np.interp(t[a:b], t[idx], x[d, idx])
            valid[a:b] = True
        return x, valid
    # one spline through the valid samples within BRIDGE_WINDOW of any bridged gap (see the module notes)
    after = np.searchsorted(idx, [a for a, _ in to_fill])        # position in idx of the first valid after
    near = np.zeros(idx.size + 1, dtype=np.int32)
    np.add.at(near, np.maximum(after - BRIDGE_WINDOW, 0), 1)
    np.add.at(near, np.minimum(after + BRIDGE_WINDOW, idx.size), -1)
    win = idx[np.cumsum(near[:-1]) > 0]
    fill = np.concatenate([np.arange(a, b) for a, b in to_fill])
    x[:, fill] = cubic_not_a_knot(t[win], x[:, win], axis=1)(t[fill])
    valid[fill] = True
    return x, valid


def bridge_gaps(t: NDArray[np.float64], x: NDArray[np.float64], valid: NDArray[np.bool_], *,
                max_gap_s: float) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Fill gaps of at most ``max_gap_s`` by cubic interpolation.

    The interpolant is the not-a-knot cubic spline through the valid samples (those within
    :data:`BRIDGE_WINDOW` valid samples of the gap, which gives the same values to rounding error).

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
    x = np.asarray(x, dtype=np.float64)
    filled, ok = bridge_gaps_cm(np.asarray(t, dtype=np.float64), x.reshape(x.shape[0], -1).T, valid,
                                max_gap_s=max_gap_s)
    return np.ascontiguousarray(filled.T).reshape(x.shape), ok


def is_regular(t: NDArray[np.float64], *, tolerance: float = 0.01) -> bool:
    """True when every interval is within ``tolerance`` (relative) of the median interval."""
    if t.size < 3:
        return True
    dt = np.diff(t)
    med = np.median(dt)
    return bool(np.max(np.abs(dt - med)) <= tolerance * med)


def regular_grid_cm(t: Array, x: Array, *, rate_hz: float) -> tuple[Array, Array]:
    """:func:`regular_grid` on component-major samples ``x`` of shape (D, T)."""
    n = int(np.floor((t[-1] - t[0]) * rate_hz + 1e-9)) + 1
    tg = t[0] + np.arange(n) / rate_hz
    return tg, cubic_not_a_knot(t, x, axis=1)(tg)


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
    return tg, cubic_not_a_knot(t, x, axis=0)(tg)


@lru_cache(maxsize=32)
def _butter_ba(order: int, cutoff_hz: float, rate_hz: float) -> tuple[Array, Array]:
    return butter_lowpass_ba(order, cutoff_hz, rate_hz)


@lru_cache(maxsize=32)
def _butter_sos(order: int, cutoff_hz: float, rate_hz: float) -> Array:
    return butter_lowpass_sos(order, cutoff_hz, rate_hz)


def sections_padlen(order: int) -> int:
    """scipy's default edge padding of a zero-phase filter of ``order`` in second-order sections, samples.

    ``3 * (2 * n_sections + 1)`` with ``n_sections = ceil(order / 2)`` (``sosfiltfilt``'s default): the
    ``padlen`` of :func:`lowpass` for the calibration's and compare's filters, and the lifting's minimum.
    """
    return 3 * (2 * ((int(order) + 1) // 2) + 1)


def lowpass(x: NDArray[np.float64], *, rate_hz: float, cutoff_hz: float, order: int = 2,
            axis: int = 0, padlen: int | None = None) -> NDArray[np.float64]:
    """Zero-phase Butterworth low-pass along ``axis`` (the time axis, 0 by default).

    The one implementation of the project's zero-phase low-pass: the calibration's anti-aliasing,
    ``compare``'s gap-aware filter and the lifting's depth smoothing call it with their own padding.

    Parameters
    ----------
    x : ndarray, shape (T, ...)
        Regularly sampled values (time along ``axis``).
    rate_hz : float, Hz
        Sample rate.
    cutoff_hz : float, Hz
        Cut-off of the single pass. The forward-backward response is real (zero phase) and equals
        ``|H(f)|^2 = 1 / (1 + (tan(pi f / fs) / tan(pi fc / fs))^(2 * order))`` (digital Butterworth by the
        bilinear transform; -6 dB at ``cutoff_hz``; close to ``1 / (1 + (f / fc)^(2 order))`` for f << fs).
    order : int
        Butterworth order of the single pass.
    axis : int
        The time axis.
    padlen : int, optional
        Samples of odd (point-reflected) extension at each end; default ``3 * rate_hz / cutoff_hz``
        (about three time constants of the filter), at most the signal's length - 1.
    """
    if cutoff_hz >= 0.5 * rate_hz:
        return np.asarray(x, dtype=np.float64)
    padlen = min(x.shape[axis] - 1, int(3 * rate_hz / cutoff_hz) if padlen is None else int(padlen))
    if order <= 2:
        # one second-order section: the transfer-function form runs the same recursion, faster
        b, a = _butter_ba(int(order), float(cutoff_hz), float(rate_hz))
        return filtfilt(b, a, x, axis=axis, padtype="odd", padlen=padlen)
    sos = _butter_sos(int(order), float(cutoff_hz), float(rate_hz))
    return sosfiltfilt(sos, x, axis=axis, padtype="odd", padlen=padlen)


# --------------------------------------------------------------------------------------------------
# Quintic interpolating splines (not-a-knot, as make_interp_spline(k=5)) on uniform grids
# --------------------------------------------------------------------------------------------------

#: Coefficients affected by the ends of a uniform run (corrected by a dense solve).
_EDGE = 64
#: Relative tolerance on the time steps of a run treated as uniform.
_UNIFORM_RTOL = 1e-9


@lru_cache(maxsize=1)
def _uniform_system() -> tuple[Array, Array, Array, Array, float, float]:
    """Collocation rows at the ends of a uniform run and the pieces of the exact fast solve.

    Returns the first and last ``_EDGE`` rows of the collocation matrix (restricted to the first / last
    ``_EDGE + 2`` columns), the inverses of the ``_EDGE x _EDGE`` corner blocks, and the two poles of the
    quintic B-spline interpolation filter.
    """
    m = 2 * _EDGE + 8
    x = np.arange(m, dtype=np.float64)
    A = design_matrix(x, not_a_knot_knots(x, 5), 5)
    head = A[:_EDGE, :_EDGE + 2]
    tail = A[m - _EDGE:, m - _EDGE - 2:]
    inv_head = np.asarray(np.linalg.inv(A[:_EDGE, :_EDGE]), dtype=np.float64)
    inv_tail = np.asarray(np.linalg.inv(A[m - _EDGE:, m - _EDGE:]), dtype=np.float64)
    roots = np.roots([1.0, 26.0, 66.0, 26.0, 1.0]).real
    z1, z2 = np.sort(roots[np.abs(roots) < 1.0])
    return head, tail, inv_head, inv_tail, float(z1), float(z2)


def _is_uniform(t: Array) -> bool:
    if t.size < 2 * _EDGE + 8:
        return False
    dt = np.diff(t)
    h = (t[-1] - t[0]) / (t.size - 1)
    return bool(np.max(np.abs(dt - h)) <= _UNIFORM_RTOL * h)


def _solve_uniform(y: Array) -> Array:
    """Quintic not-a-knot interpolation coefficients on a uniform grid.

    Parameters
    ----------
    y : ndarray, shape (C, n)
        Samples, component-major; ``n >= 2 * _EDGE + 8``.

    Returns
    -------
    ndarray, shape (n, C)
        B-spline coefficients (the knots are :func:`imusynth.core.bspline.not_a_knot_knots` of the sites).
    """
    head, tail, inv_head, inv_tail, z1, z2 = _uniform_system()
    den = [1.0, -(z1 + z2), z1 * z2]
    # interior rows: Toeplitz (1, 26, 66, 26, 1) / 120 = K (1 - z1/q)(1 - z2/q)(1 - z1 q)(1 - z2 q)
    gain = 120.0 * z1 * z2
    d = lfilter([gain], den, y, axis=-1)
    c = lfilter([1.0], den, d[:, ::-1], axis=-1)[:, ::-1]
    # c now satisfies every Toeplitz row; the residual of the true end rows is confined to them
    e, n = _EDGE, y.shape[1]
    r_head = y[:, :e] - c[:, :e + 2] @ head.T
    r_tail = y[:, n - e:] - c[:, n - e - 2:] @ tail.T
    c[:, :e] += r_head @ inv_head.T
    c[:, n - e:] += r_tail @ inv_tail.T
    return np.ascontiguousarray(c.T)


@dataclass
class _Grid:
    """Output times among uniform knots, shared by every derivative and every fit on the same sites.

    ``inner`` (a slice of the times) lies where the knots are uniform: time ``i`` there uses coefficients
    ``first[i] .. first[i] + 5`` with weights from its fractional position ``u``; with ``stride > 0`` the
    inner times are a periodic grid (``u`` holds one period; ``first`` advances by ``stride`` per period).
    The times at the run's ends (``edges``) take the general B-spline basis. ``weights`` caches, per
    derivative, the inner weights and the edges' first coefficients and weights.
    """

    inner: slice
    u: Array
    first: NDArray[np.intp]
    stride: int
    edges: NDArray[np.intp]
    weights: dict[int, tuple[Array, NDArray[np.intp], Array]] = field(default_factory=dict)


#: Cache of evaluation grids shared between fits on the same knots: see :meth:`QuinticFit.evaluate`.
EvalCache = dict[tuple[float, float, int, float, float, int], _Grid]


@dataclass(frozen=True)
class QuinticFit:
    """A quintic interpolating spline of several channels, with fast evaluation on uniform grids.

    Attributes
    ----------
    knots : ndarray, shape (n + 6,), s
    coef : ndarray, shape (n, C)
        B-spline coefficients, one column per channel.
    t0, h : float, s
        First site and the uniform step (``h = 0`` when the sites are not uniform).
    n : int
        Number of data sites.
    """

    knots: Array
    coef: Array
    t0: float
    h: float
    n: int

    @classmethod
    def fit(cls, t: Array, y: Array) -> QuinticFit:
        """Fit the not-a-knot quintic spline through ``y`` of shape (C, n) at sites ``t`` (n,) s (n >= 6)."""
        t = np.asarray(t, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if _is_uniform(t):
            coef = _solve_uniform(y)
            h = float((t[-1] - t[0]) / (t.size - 1))
            return cls(not_a_knot_knots(t, 5), coef, float(t[0]), h, int(t.size))
        if t.size < 2 * _EDGE + 8:
            spline = make_interp(t, y.T, 5)
            return cls(spline.knots, np.ascontiguousarray(spline.coef), float(t[0]), 0.0, int(t.size))
        from scipy.interpolate import make_interp_spline  # long irregular runs only: a banded solve

        fitted = make_interp_spline(t, y.T, k=5, axis=0)
        return cls(fitted.t, np.ascontiguousarray(fitted.c), float(t[0]), 0.0, int(t.size))

    def spline(self) -> Spline:
        """The same spline as a callable :class:`imusynth.core.bspline.Spline` (axis 0 = time)."""
        return Spline(self.knots, self.coef, 5)

    def _grid(self, ts: Array) -> _Grid:
        """Where the sorted times ``ts`` fall among the uniform knots (shared by every derivative)."""
        s = (ts - self.t0) / self.h
        lo, hi = (int(v) for v in np.searchsorted(s, [8.0, self.n - 9.0]))
        inner = slice(lo, max(lo, hi))
        m = inner.stop - inner.start
        si = s[inner]
        period = grid_period(si)
        stride = 0
        if period:
            # a regular grid commensurate with the knots: the fractional positions repeat every `period`
            u = si[:period] - np.floor(si[:period])
            reps = -(-m // period)
            first = np.rint(si - np.tile(u, reps)[:m]).astype(np.intp) - 2
            step = int(first[period] - first[0])
            if np.array_equal(first[period:], first[:-period] + step):
                stride = step
        else:
            i = np.floor(si)
            u = si - i
            first = i.astype(np.intp) - 2
        return _Grid(inner, u, first, stride, np.r_[0:inner.start, inner.stop:ts.size])

    def _weights(self, grid: _Grid, ts: Array, nu: int) -> tuple[Array, NDArray[np.intp], Array]:
        """Inner weights (6, period or M), edge first coefficients (E,) and edge weights (E, 6) for ``nu``."""
        got = grid.weights.get(nu)
        if got is None:
            w = quintic_uniform_weights(grid.u, nu, self.h)
            m = grid.inner.stop - grid.inner.start
            if not grid.stride and w.shape[1] != m:
                w = np.tile(w, (1, -(-m // w.shape[1])))[:, :m]
            got = grid.weights[nu] = (w, *basis(self.knots, 5, ts[grid.edges], nu))
        return got

    def evaluate(self, ts: Array, nu: int, channels: slice = slice(None), *,
                 cache: EvalCache | None = None) -> Array:
        """Derivative ``nu`` of the channels ``channels`` at sorted times ``ts`` inside the fitted span.

        Parameters
        ----------
        ts : ndarray, shape (N,), s
        nu : int
            Derivative order (0, 1, 2, ...).
        channels : slice
            Columns of :attr:`coef` to evaluate.
        cache : dict, optional
            Evaluation weights by grid: fits on the same uniform sites, evaluated at the same times,
            share them.

        Returns
        -------
        ndarray, shape (C', N)
            Component-major values, units of the data per s**nu.
        """
        coef = self.coef[:, channels]
        if self.h == 0.0:
            if self.n >= 2 * _EDGE + 8:              # fitted by SciPy (see fit), already loaded
                from scipy.interpolate import BSpline

                return np.ascontiguousarray(BSpline.construct_fast(self.knots, coef, 5, axis=0)(ts, nu).T)
            return np.ascontiguousarray(combine(*basis(self.knots, 5, ts, nu), coef).T)
        key = (self.t0, self.h, self.n, float(ts[0]), float(ts[-1]), int(ts.size))
        if cache is None:
            cache = {}
        grid = cache.get(key)
        if grid is None:
            grid = cache[key] = self._grid(ts)
        w, edge_first, edge_w = self._weights(grid, ts, nu)
        out = np.empty((coef.shape[1], ts.size))
        if grid.inner.stop > grid.inner.start:
            combine_cm(np.ascontiguousarray(coef.T), grid.first, w, out[:, grid.inner], stride=grid.stride)
        if grid.edges.size:
            out[:, grid.edges] = combine(edge_first, edge_w, coef).T
        return out


@dataclass(frozen=True)
class Trajectory:
    """Quintic interpolating spline through regularly sampled, filtered values.

    Attributes
    ----------
    spline : imusynth.core.bspline.Spline
        Degree-5 spline of the values (any trailing shape) over time in seconds (degree ``T - 1`` for
        ``T < 6`` samples), callable as ``spline(t, nu)``.
    t_start, t_end : float, s
        Time span covered (evaluation outside is invalid).
    """

    spline: Spline
    t_start: float
    t_end: float

    @classmethod
    def fit(cls, t: NDArray[np.float64], x: NDArray[np.float64]) -> Trajectory:
        """Fit through samples ``x`` of shape (T, ...) at times ``t`` (T,) s."""
        x = np.asarray(x, dtype=np.float64)
        if t.size >= 6:
            q = QuinticFit.fit(t, x.reshape(x.shape[0], -1).T)
            return cls(Spline(q.knots, q.coef.reshape((q.n,) + x.shape[1:]), 5), float(t[0]), float(t[-1]))
        return cls(make_interp(t, x, max(1, t.size - 1)), float(t[0]), float(t[-1]))

    def __call__(self, t: NDArray[np.float64], nu: int = 0) -> NDArray[np.float64]:
        """Value (``nu=0``) or ``nu``-th time derivative (units per s^nu) at times ``t``."""
        return self.spline(t, nu)


# --------------------------------------------------------------------------------------------------
# Segment frames
# --------------------------------------------------------------------------------------------------


#: A vector field as its three components, each shape (N,) (a (3, N) array unpacks into one).
Vec3 = tuple[Array, Array, Array]


def _cross(a: Vec3, b: Vec3) -> Vec3:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _dot(a: Vec3, b: Vec3) -> Array:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _scale(a: Vec3, f: Array) -> Vec3:
    return (a[0] * f, a[1] * f, a[2] * f)


def segment_axes_cm(u: Array | Vec3, w: Array | Vec3) -> tuple[Vec3, Vec3, Vec3]:
    """Segment axes x, y, z (components, world frame) from component-major vectors ``u``, ``w`` (3, N)."""
    u3: Vec3 = (u[0], u[1], u[2])
    x = _scale(u3, 1.0 / np.sqrt(_dot(u3, u3)))
    c = _cross(x, (w[0], w[1], w[2]))
    z = _scale(c, 1.0 / np.sqrt(_dot(c, c)))
    return x, _cross(z, x), z


def segment_frames_cm(u: Array | Vec3, du: Array | Vec3, w: Array | Vec3, dw: Array | Vec3, *,
                      min_norm: float = 1e-3) -> tuple[tuple[Vec3, Vec3, Vec3], Vec3, NDArray[np.bool_]]:
    """:func:`segment_frames` on component-major vectors (3, N).

    Returns
    -------
    axes : tuple of three vectors
        Segment x, y, z axes in the world frame (the columns of R), each as its components (N,).
    omega : tuple of three ndarrays, shape (N,), rad/s
        Angular velocity in the segment frame.
    ok : ndarray, shape (N,), bool
    """
    u3: Vec3 = (u[0], u[1], u[2])
    du3: Vec3 = (du[0], du[1], du[2])
    w3: Vec3 = (w[0], w[1], w[2])
    nu = np.sqrt(_dot(u3, u3))
    inv_nu = 1.0 / nu
    x = _scale(u3, inv_nu)
    xdu = _dot(x, du3)
    dx = ((du3[0] - x[0] * xdu) * inv_nu, (du3[1] - x[1] * xdu) * inv_nu, (du3[2] - x[2] * xdu) * inv_nu)
    c = _cross(x, w3)
    dc1 = _cross(dx, w3)
    dc2 = _cross(x, (dw[0], dw[1], dw[2]))
    dc = (dc1[0] + dc2[0], dc1[1] + dc2[1], dc1[2] + dc2[2])
    nc = np.sqrt(_dot(c, c))
    inv_nc = 1.0 / nc
    z = _scale(c, inv_nc)
    y = _cross(z, x)
    # body rates of R = [x y z]: omega_x = z . dy = -(dc . y) / |c|, omega_y = -dx . z, omega_z = dx . y
    omega = (-_dot(dc, y) * inv_nc, -_dot(dx, z), _dot(dx, y))
    ok = np.isfinite(omega[0] + omega[1] + omega[2]) & (nu > min_norm) & (nc > min_norm)
    return (x, y, z), omega, ok


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
    def cm(a: NDArray[np.float64]) -> Array:
        return np.ascontiguousarray(np.asarray(a, dtype=np.float64).T)

    axes, omega, ok = segment_frames_cm(cm(u), cm(du), cm(w), cm(dw), min_norm=min_norm)
    R = np.stack([np.stack(a, axis=-1) for a in axes], axis=-1)
    return R, np.stack(omega, axis=-1), ok
