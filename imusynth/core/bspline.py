"""B-splines and the not-a-knot cubic interpolant in NumPy alone (SciPy's results and conventions).

The physics core needs four things from :mod:`scipy.interpolate`, and importing that package (with
:mod:`scipy.sparse`, which it loads) costs about 0.3 s; this module gives them with NumPy only:

* :func:`basis`, :func:`design_matrix`, :func:`evaluate` and :class:`Spline`: a B-spline of degree ``k``
  and its derivatives (vectorised Cox-de Boor recursion, de Boor's BSPLVD), with
  :class:`scipy.interpolate.BSpline`'s conventions: a point on a knot belongs to the interval on its
  right, the right end of the base interval ``t[n]`` to the last interval, points outside the base
  interval are extrapolated with the first or last polynomial piece, NaN gives NaN.
* :func:`make_interp`: the interpolating spline of :func:`scipy.interpolate.make_interp_spline` with its
  default (not-a-knot) knots, solved densely: meant for at most a few hundred sites.
* :func:`cubic_not_a_knot`: :class:`scipy.interpolate.CubicSpline` with its default not-a-knot end
  conditions, as :class:`CubicPieces`; the tridiagonal system for the slopes is solved by cyclic reduction
  (vectorised, O(n) work), so it stays fast for long inputs.

Units: the abscissa is in any unit (seconds in the package); a ``nu``-th derivative has the ordinate's
unit per abscissa unit to the ``nu``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]
Index = NDArray[np.intp]


def interval(knots: Array, k: int, x: Array) -> Index:
    """Index ``l`` of the knot interval ``[t[l], t[l+1])`` holding each point (SciPy's rule).

    Parameters
    ----------
    knots : ndarray, shape (n + k + 1,)
        Non-decreasing knots ``t``.
    k : int
        Degree.
    x : ndarray, shape (M,)
        Points.

    Returns
    -------
    ndarray, shape (M,), int
        ``l`` in ``[k, n - 1]``: ``t[l] <= x < t[l + 1]`` inside the base interval, ``n - 1`` at
        ``x = t[n]`` and beyond, ``k`` before ``t[k]`` (extrapolation by the end pieces).
    """
    n = knots.size - k - 1
    return np.clip(np.searchsorted(knots, x, side="right") - 1, k, n - 1)


def basis(knots: Array, k: int, x: ArrayLike, nu: int = 0) -> tuple[Index, Array]:
    """The ``k + 1`` B-splines (or their ``nu``-th derivatives) that are non-zero at each point.

    Parameters
    ----------
    knots : ndarray, shape (n + k + 1,)
        Non-decreasing knots.
    k : int
        Degree (>= 0).
    x : array_like, shape (M,)
        Points (see :func:`interval` for points on knots and outside the base interval).
    nu : int
        Derivative order (>= 0); above ``k`` every weight is 0.

    Returns
    -------
    first : ndarray, shape (M,), int
        Index of the first non-zero B-spline, ``l - k``.
    weights : ndarray, shape (M, k + 1)
        ``weights[i, j]`` is ``B_{first[i] + j}^{(nu)}(x[i])`` (per abscissa unit to the ``nu``).
    """
    if nu < 0:
        raise ValueError(f"derivative order must be >= 0, got {nu}")
    knots = np.asarray(knots, dtype=np.float64)
    xv = np.asarray(x, dtype=np.float64).reshape(-1)
    ell = interval(knots, k, xv)
    if nu > k:
        return ell - k, np.zeros((xv.size, k + 1))
    # local knots t[l - k + 1 .. l + k]: t[l + i] is column k - 1 + i
    T = knots[ell[:, None] + np.arange(1 - k, k + 1)] if k > 0 else np.empty((xv.size, 0))
    xc = xv[:, None]
    h = np.ones((xv.size, 1))
    for j in range(1, k + 1):
        xb = T[:, k:k + j]                       # t[l + 1 .. l + j]
        xa = T[:, k - j:k]                       # t[l + 1 - j .. l]
        d = xb - xa
        if np.all(d != 0.0):
            w = h / d
        else:                                    # repeated knots: that term is 0 (as in SciPy)
            with np.errstate(divide="ignore", invalid="ignore"):
                w = np.where(d != 0.0, h / np.where(d != 0.0, d, 1.0), 0.0)
        new = np.empty((xv.size, j + 1))
        if j <= k - nu:                          # values of the degree-j B-splines
            new[:, :j] = w * (xb - xc)
            new[:, j] = 0.0
            new[:, 1:] += w * (xc - xa)
        else:                                    # derivative steps
            w *= j
            new[:, :j] = -w
            new[:, j] = 0.0
            new[:, 1:] += w
        h = new
    return ell - k, h


def design_matrix(x: ArrayLike, knots: Array, k: int, nu: int = 0) -> Array:
    """Dense collocation matrix ``A[i, j] = B_j^{(nu)}(x[i])``, shape (M, n).

    As :meth:`scipy.interpolate.BSpline.design_matrix` (``.toarray()``), plus derivatives and
    extrapolation; dense, so meant for a few hundred rows and columns.
    """
    knots = np.asarray(knots, dtype=np.float64)
    first, w = basis(knots, k, x, nu)
    n = knots.size - k - 1
    A = np.zeros((first.size, n))
    rows = np.arange(first.size)[:, None]
    A[rows, first[:, None] + np.arange(k + 1)] = w
    return A


def combine(first: Index, weights: Array, coef: Array) -> Array:
    """``out[i] = sum_j weights[i, j] * coef[first[i] + j]``: a spline from its basis values.

    Parameters
    ----------
    first : ndarray, shape (M,), int
    weights : ndarray, shape (M, k + 1)
    coef : ndarray, shape (n, ...)

    Returns
    -------
    ndarray, shape (M, ...)
    """
    c = coef.reshape(coef.shape[0], -1)
    out = np.zeros((first.size, c.shape[1]))
    for j in range(weights.shape[1]):
        out += weights[:, j:j + 1] * c[first + j]
    return out.reshape((first.size,) + coef.shape[1:])


def evaluate(knots: Array, coef: Array, k: int, x: ArrayLike, nu: int = 0) -> Array:
    """Derivative ``nu`` of the spline ``sum_j coef[j] B_j`` at the points ``x``.

    Parameters
    ----------
    knots : ndarray, shape (n + k + 1,)
    coef : ndarray, shape (n, ...)
        Coefficients (any trailing shape, e.g. channels).
    k : int
        Degree.
    x : array_like, any shape
        Points (extrapolated outside the base interval, as SciPy's default).
    nu : int
        Derivative order.

    Returns
    -------
    ndarray, shape ``x.shape + coef.shape[1:]``
        Units of ``coef`` per abscissa unit to the ``nu``.
    """
    xa = np.asarray(x, dtype=np.float64)
    coef = np.asarray(coef, dtype=np.float64)
    first, w = basis(knots, k, xa.reshape(-1), nu)
    return combine(first, w, coef).reshape(xa.shape + coef.shape[1:])


@dataclass(frozen=True)
class Spline:
    """A B-spline curve: ``knots`` (n + k + 1,), ``coef`` (n, ...), ``degree`` k; callable as ``s(x, nu)``.

    The NumPy counterpart of :class:`scipy.interpolate.BSpline` with ``axis=0`` and extrapolation.
    """

    knots: Array
    coef: Array
    degree: int

    def __call__(self, x: ArrayLike, nu: int = 0) -> Array:
        """Derivative ``nu`` at ``x``, shape ``x.shape + coef.shape[1:]`` (see :func:`evaluate`)."""
        return evaluate(self.knots, self.coef, self.degree, x, nu)


def not_a_knot_knots(x: Array, k: int) -> Array:
    """Knots of :func:`scipy.interpolate.make_interp_spline`'s default spline of degree ``k`` through ``x``.

    Degree 0: ``x`` and its last point; degree 1: ``x`` with both ends doubled; odd ``k >= 3``: the sites
    without the first and last ``(k + 1) / 2`` interior ones (not-a-knot), ends repeated ``k + 1`` times;
    even ``k``: the midpoints between sites without the first and last ``k / 2``, likewise.
    """
    x = np.asarray(x, dtype=np.float64)
    if k == 0:
        return np.r_[x, x[-1]]
    if k == 1:
        return np.r_[x[0], x, x[-1]]
    if k % 2 == 1:
        k2, inner = (k + 1) // 2, x
    else:
        k2, inner = k // 2, (x[1:] + x[:-1]) / 2
    return np.r_[(x[0],) * (k + 1), inner[k2:-k2], (x[-1],) * (k + 1)]


def make_interp(x: ArrayLike, y: ArrayLike, k: int = 3) -> Spline:
    """Interpolating spline of degree ``k`` through ``(x, y)``: :func:`scipy.interpolate.make_interp_spline`.

    The knots are :func:`not_a_knot_knots`; the collocation system is solved densely (LU with partial
    pivoting), O(n**3): use it for up to a few hundred sites.

    Parameters
    ----------
    x : array_like, shape (n,)
        Strictly increasing sites; ``n >= k + 1``.
    y : array_like, shape (n, ...)
        Values (axis 0 along ``x``).
    k : int
        Degree (>= 0).

    Returns
    -------
    Spline
        Coefficients shape (n, ...).
    """
    xv = np.asarray(x, dtype=np.float64)
    yv = np.asarray(y, dtype=np.float64)
    if xv.ndim != 1 or yv.shape[:1] != xv.shape:
        raise ValueError(f"shapes of x {xv.shape} and y {yv.shape} do not match")
    if np.any(np.diff(xv) <= 0.0):
        raise ValueError("x must be strictly increasing")
    if k < 0 or xv.size < k + 1:
        raise ValueError(f"degree {k} needs at least {k + 1} sites, got {xv.size}")
    knots = not_a_knot_knots(xv, k)
    if k <= 1:                                   # the collocation matrix is the identity
        return Spline(knots, yv.copy(), k)
    A = design_matrix(xv, knots, k)
    c = np.linalg.solve(A, yv.reshape(xv.size, -1))
    return Spline(knots, np.asarray(c, dtype=np.float64).reshape(yv.shape), k)


# --------------------------------------------------------------------------------------------------
# The not-a-knot cubic interpolant (scipy.interpolate.CubicSpline with its default end conditions)
# --------------------------------------------------------------------------------------------------


def solve_tridiagonal(lower: Array, diag: Array, upper: Array, rhs: Array) -> Array:
    """Solve ``lower[i] x[i-1] + diag[i] x[i] + upper[i] x[i+1] = rhs[i]`` by cyclic reduction.

    No pivoting: the matrix must be diagonally dominant (cyclic reduction keeps that property, so the
    solve is then stable). O(m) work in ``log2(m)`` vectorised levels.

    Parameters
    ----------
    lower, diag, upper : ndarray, shape (m,)
        The three diagonals; ``lower[0]`` and ``upper[-1]`` are ignored.
    rhs : ndarray, shape (m, P)

    Returns
    -------
    ndarray, shape (m, P)
    """
    a = np.asarray(lower, dtype=np.float64).copy()
    c = np.asarray(upper, dtype=np.float64).copy()
    a[0] = 0.0
    c[-1] = 0.0
    return _reduce(a, np.asarray(diag, dtype=np.float64), c, np.asarray(rhs, dtype=np.float64))


def _reduce(a: Array, b: Array, c: Array, d: Array) -> Array:
    m = b.size
    if m == 1:
        return d / b[0]
    if m % 2 == 0:                               # pad to odd size with a decoupled row x = 0
        a, b, c = np.r_[a, 0.0], np.r_[b, 1.0], np.r_[c, 0.0]
        d = np.concatenate([d, np.zeros((1, d.shape[1]))])
    # eliminate the even rows from the odd ones: every odd row i has rows i - 1 and i + 1
    alpha = -a[1::2] / b[0:-1:2]
    gamma = -c[1::2] / b[2::2]
    x_odd = _reduce(alpha * a[0:-1:2], b[1::2] + alpha * c[0:-1:2] + gamma * a[2::2], gamma * c[2::2],
                    d[1::2] + alpha[:, None] * d[0:-1:2] + gamma[:, None] * d[2::2])
    zero = np.zeros((1, d.shape[1]))
    left = np.concatenate([zero, x_odd])         # x[i - 1] for the even rows i = 0, 2, ...
    right = np.concatenate([x_odd, zero])        # x[i + 1]
    x = np.empty_like(d)
    x[1::2] = x_odd
    x[0::2] = (d[0::2] - a[0::2, None] * left - c[0::2, None] * right) / b[0::2, None]
    return x[:m]


@dataclass(frozen=True)
class CubicPieces:
    """A piecewise cubic in local form (as :class:`scipy.interpolate.PPoly`), callable as ``p(x, nu)``.

    Attributes
    ----------
    x : ndarray, shape (n,)
        Breakpoints, increasing.
    c : ndarray, shape (4, n - 1, P)
        On ``[x[i], x[i+1]]`` the value is ``sum_p c[p, i] (x' - x[i])**(3 - p)``.
    axis : int
        Where the sample axis goes in the result (as the ``axis`` given to :func:`cubic_not_a_knot`).
    trailing : tuple of int
        The shape of one sample (the input's shape without its interpolation axis).
    """

    x: Array
    c: Array
    axis: int
    trailing: tuple[int, ...]

    def __call__(self, xs: ArrayLike, nu: int = 0) -> Array:
        """Derivative ``nu`` (0..3; 0 above) at the points ``xs`` (M,), as ``CubicSpline(...)(xs, nu)``.

        Points on a breakpoint take the piece on their right (the last piece at ``x[-1]``); points
        outside ``[x[0], x[-1]]`` are extrapolated with the end pieces.

        Returns
        -------
        ndarray
            ``trailing`` with the points' axis inserted at ``axis``.
        """
        xv = np.asarray(xs, dtype=np.float64).reshape(-1)
        i = np.clip(np.searchsorted(self.x, xv, side="right") - 1, 0, self.x.size - 2)
        s = (xv - self.x[i])[:, None]
        out = np.zeros((xv.size, self.c.shape[2]))
        z: Array | float = 1.0
        for p in range(nu, 4):                   # lowest power first, as SciPy's PPoly
            factor = float(np.prod(np.arange(p - nu + 1, p + 1)))
            out += self.c[3 - p, i] * z * factor
            if p < 3:
                z = z * s
        out = out.reshape((xv.size,) + self.trailing)
        return np.moveaxis(out, 0, self.axis)


def cubic_not_a_knot(x: ArrayLike, y: ArrayLike, axis: int = 0) -> CubicPieces:
    """The not-a-knot cubic spline through ``(x, y)``: :class:`scipy.interpolate.CubicSpline` (defaults).

    Two points give the straight line, three the parabola through them; from four on, the slopes solve
    SciPy's tridiagonal system, whose two not-a-knot rows are first combined with their neighbours so
    that the system left is diagonally dominant (solved by :func:`solve_tridiagonal`, O(n)).

    Parameters
    ----------
    x : array_like, shape (n,)
        Strictly increasing abscissae (n >= 2).
    y : array_like
        Values; ``y.shape[axis] == n``.
    axis : int
        The axis of ``y`` along ``x``.

    Returns
    -------
    CubicPieces
    """
    xv = np.asarray(x, dtype=np.float64)
    yv = np.moveaxis(np.asarray(y, dtype=np.float64), axis, 0)
    n = xv.size
    if xv.ndim != 1 or yv.shape[0] != n or n < 2:
        raise ValueError(f"need n >= 2 sites and matching values, got x {xv.shape}, y {yv.shape}")
    dx = np.diff(xv)
    if np.any(dx <= 0.0):
        raise ValueError("x must be strictly increasing")
    trailing = yv.shape[1:]
    Y = yv.reshape(n, -1)
    dxr = dx[:, None]
    slope = np.diff(Y, axis=0) / dxr
    if n == 2:
        s = np.concatenate([slope, slope])
    elif n == 3:
        A = np.array([[1.0, 1.0, 0.0], [dx[1], 2 * (dx[0] + dx[1]), dx[0]], [0.0, 1.0, 1.0]])
        b = np.stack([2 * slope[0], 3 * (dx[0] * slope[1] + dx[1] * slope[0]), 2 * slope[1]])
        s = np.linalg.solve(A, b)
    else:
        rhs = np.empty((n, Y.shape[1]))
        rhs[1:-1] = 3 * (dxr[1:] * slope[:-1] + dxr[:-1] * slope[1:])
        d0 = xv[2] - xv[0]
        rhs[0] = ((dxr[0] + 2 * d0) * dxr[1] * slope[0] + dxr[0] ** 2 * slope[1]) / d0
        d1 = xv[-1] - xv[-3]
        rhs[-1] = (dxr[-1] ** 2 * slope[-2] + (2 * d1 + dxr[-1]) * dxr[-2] * slope[-1]) / d1
        # rows i = 1..n-2: dx[i] s[i-1] + 2 (dx[i-1] + dx[i]) s[i] + dx[i-1] s[i+1]; row 0:
        # dx[1] s[0] + d0 s[1]; row n-1: d1 s[n-2] + dx[n-3] s[n-1]. Subtracting row 0 from row 1 and
        # row n-1 from row n-2 removes s[0] and s[n-1] and leaves a diagonally dominant system.
        diag = 2 * (dx[:-1] + dx[1:])
        lower, upper = dx[1:].copy(), dx[:-1].copy()
        b = rhs[1:-1].copy()
        diag[0] -= d0
        b[0] -= rhs[0]
        diag[-1] -= d1
        b[-1] -= rhs[-1]
        inner = solve_tridiagonal(lower, diag, upper, b)
        s = np.empty((n, Y.shape[1]))
        s[1:-1] = inner
        s[0] = (rhs[0] - d0 * inner[0]) / dx[1]
        s[-1] = (rhs[-1] - d1 * inner[-1]) / dx[-2]
    t = (s[:-1] + s[1:] - 2 * slope) / dxr
    c = np.empty((4, n - 1, Y.shape[1]))
    c[0] = t / dxr
    c[1] = (slope - s[:-1]) / dxr - t
    c[2] = s[:-1]
    c[3] = Y[:-1]
    return CubicPieces(xv, c, axis, trailing)


# --------------------------------------------------------------------------------------------------
# Quintic splines on uniform knots: fixed weights and their evaluation on many points
# --------------------------------------------------------------------------------------------------

#: Quintic B-spline weights on uniform knots: in knot interval i (local position u in [0, 1)), coefficient
#: c[i - 2 + j] has weight sum_p QUINTIC_UNIFORM[j, p] u**p (j = 0..5).
QUINTIC_UNIFORM = np.array([
    [1.0, -5.0, 10.0, -10.0, 5.0, -1.0],
    [26.0, -50.0, 20.0, 20.0, -20.0, 5.0],
    [66.0, 0.0, -60.0, 0.0, 30.0, -10.0],
    [26.0, 50.0, 20.0, -20.0, -20.0, 10.0],
    [1.0, 5.0, 10.0, 10.0, 5.0, -5.0],
    [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
]) / 120.0


def quintic_uniform_weights(u: Array, nu: int, h: float) -> Array:
    """Weights of the six coefficients ``c[i - 2 + j]`` for derivative ``nu`` at local positions ``u``.

    Parameters
    ----------
    u : ndarray, shape (M,)
        Positions in their knot interval, in [0, 1) (units of the knot spacing).
    nu : int
        Derivative order.
    h : float
        Knot spacing (abscissa units).

    Returns
    -------
    ndarray, shape (6, M)
        Per abscissa unit to the ``nu``.
    """
    if nu > 5:
        return np.zeros((6, u.size))
    poly = QUINTIC_UNIFORM
    for _ in range(nu):                          # d/du of the weight polynomials
        poly = poly[:, 1:] * np.arange(1, poly.shape[1])
    poly = poly * h ** -nu
    w = np.empty((6, u.size))
    for j in range(6):                           # Horner
        acc = np.full(u.size, poly[j, -1])
        for p in range(poly.shape[1] - 2, -1, -1):
            acc *= u
            acc += poly[j, p]
        w[j] = acc
    return w


def grid_period(s: Array, max_period: int = 64) -> int:
    """Period of the fractional parts of a regular grid of knot positions ``s``, or 0 when not periodic.

    ``s`` (M,) are positions in units of the knot spacing; the period is the denominator of the grid step
    as a fraction (at most ``max_period``) when the phase drift over the grid stays at rounding level.
    """
    m = s.size
    if m < 4 * max_period:
        return 0
    step = (s[-1] - s[0]) / (m - 1)
    if np.max(np.abs(np.diff(s) - step)) > 1e-9 * max(step, 1.0):
        return 0
    from fractions import Fraction

    frac = Fraction(float(step)).limit_denominator(max_period)
    if abs(float(frac) - step) * m > 1e-9:     # the phase drift over the grid must stay at rounding level
        return 0
    return int(frac.denominator)


#: Points per block of :func:`combine_cm`'s gathers (a few hundred KiB per buffer).
_BLOCK = 8192
#: Largest M * N * K of one matrix product in :func:`combine_cm`: OpenBLAS runs products up to
#: 65536 * GEMM_MULTITHREAD_THRESHOLD (4) on the calling thread.
_GEMM_ONE_THREAD = 1 << 18


def combine_cm(coef_cm: Array, first: Index, weights: Array, out: Array, *, stride: int = 0) -> None:
    """``out[:, i] = sum_j weights[j, i % P] * coef_cm[:, first[i] + j]``, written in place.

    The component-major form of :func:`combine` for many points. With ``stride > 0`` the points are a
    periodic grid: ``weights`` has one column per phase (P = ``weights.shape[1]``) and
    ``first[i + P] == first[i] + stride`` for every ``i`` (the caller checks it); each period of outputs is
    then the same small matrix applied to a window of the coefficients (one matrix product over all
    periods, no gather). Otherwise ``weights`` is (k + 1, M) and ``first`` (M,).

    Parameters
    ----------
    coef_cm : ndarray, shape (C, n)
        Coefficients, one row per channel.
    first : ndarray, shape (M,), int
    weights : ndarray, shape (k + 1, P) or (k + 1, M)
    out : ndarray, shape (C, M)
        Written (may be a view with strided rows).
    """
    k1, m = weights.shape[0], out.shape[1]
    if m == 0:
        return
    if stride:
        period = weights.shape[1]
        f0 = int(first[0])
        offs = first[:period] - f0                 # non-decreasing offsets of each phase in the window
        width = int(offs[-1]) + k1
        W = np.zeros((width, period))
        W[offs[None, :] + np.arange(k1)[:, None], np.arange(period)[None, :]] = weights
        blocks = -(-m // period)
        need = f0 + (blocks - 1) * stride + width
        src = coef_cm
        if need > src.shape[1]:                    # the last, partial period reads past the end: zeros
            src = np.concatenate([src, np.zeros((src.shape[0], need - src.shape[1]))], axis=1)
        windows = np.lib.stride_tricks.sliding_window_view(src[:, f0:need], width, axis=1)[:, ::stride]
        # products small enough for OpenBLAS to run them on one thread (its threads busy-wait after work)
        per = max(1, _GEMM_ONE_THREAD // (width * period))
        for b0 in range(0, blocks, per):
            b1 = min(b0 + per, blocks)
            a, z = b0 * period, min(b1 * period, m)
            out[:, a:z] = (windows[:, b0:b1] @ W).reshape(src.shape[0], -1)[:, :z - a]
        return
    # a gather per coefficient, in blocks that stay in cache, into two reused buffers
    coef_cm = np.ascontiguousarray(coef_cm)
    block = min(m, _BLOCK)
    acc, buf = np.empty((coef_cm.shape[0], block)), np.empty((coef_cm.shape[0], block))
    for a in range(0, m, block):
        b = min(a + block, m)
        f, sa, sb = first[a:b], acc[:, :b - a], buf[:, :b - a]
        np.take(coef_cm, f, axis=1, out=sa, mode="clip")
        sa *= weights[0, a:b]
        for j in range(1, k1):
            np.take(coef_cm, f + j, axis=1, out=sb, mode="clip")
            sb *= weights[j, a:b]
            sa += sb
        out[:, a:b] = sa
