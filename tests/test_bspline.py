"""imusynth.core.bspline gives SciPy's splines (the reference here) to rounding error, and exact polynomials.

Tolerances: the functions compute the same quantities as SciPy by recurrences of a few dozen operations
(or a well-conditioned solve), so they agree to ~1e-15 relative per value; the bounds below are 1e-10 of
the largest reference value of each derivative, far above that rounding level and far below any
algorithmic error (a wrong knot, interval or end condition changes values at the 1e-2 level).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.polynomial import Polynomial
from scipy.interpolate import BSpline, CubicSpline, make_interp_spline

from imusynth.core.bspline import (
    Spline,
    basis,
    combine,
    combine_cm,
    cubic_not_a_knot,
    design_matrix,
    evaluate,
    interval,
    make_interp,
    not_a_knot_knots,
    quintic_uniform_weights,
    solve_tridiagonal,
)

RTOL = 1e-10


def close(got, want, rtol=RTOL):
    """|got - want| <= rtol * max |want| (max 1 when want is all zero), same shape."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(float(np.abs(want).max(initial=0.0)), 1.0 if not np.any(want) else 0.0)
    err = float(np.abs(got - want).max(initial=0.0))
    assert err <= rtol * scale, (err, scale)


def random_knots(rng, n, k, repeated=False):
    """Clamped knots for n coefficients of degree k on [-1, 3], optionally with a double interior knot."""
    inner = np.sort(rng.uniform(-1.0, 3.0, n - k - 1))
    if repeated and inner.size >= 3:
        inner[inner.size // 2] = inner[inner.size // 2 - 1]
    return np.r_[[-1.0] * (k + 1), inner, [3.0] * (k + 1)]


def probe_points(rng, t, k):
    """Random points inside, every knot (interior knots, both ends of the base interval), outside."""
    return np.r_[rng.uniform(t[k], t[-k - 1], 200), t, t[k] - 0.3, t[-k - 1] + 0.25]


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("repeated", [False, True])
def test_evaluate_matches_scipy_bspline_every_derivative(rng, k, repeated):
    n = 17
    t = random_knots(rng, n, k, repeated)
    c = rng.normal(size=(n, 2, 3))
    ref = BSpline(t, c, k)                               # extrapolate=True, as ours
    x = probe_points(rng, t, k)
    for nu in range(0, k + 2):                            # k + 1: the zero derivative
        close(evaluate(t, c, k, x, nu), ref(x, nu))
        close(Spline(t, c, k)(x, nu), ref(x, nu))


def test_points_on_knots_take_the_right_interval_and_the_end_the_last():
    t = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0])   # cubic, n = 6
    ell = interval(t, 3, np.array([-0.5, 0.0, 0.5, 1.0, 2.0, 2.9, 3.0, 3.5, np.nan]))
    assert ell.tolist() == [3, 3, 3, 4, 5, 5, 5, 5, 5]
    # the third derivative jumps at a knot: the value there is the right piece's (SciPy's convention)
    c = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    ref = BSpline(t, c, 3)
    for x in (1.0, 2.0):
        on, right, left = evaluate(t, c, 3, [x, x + 1e-9, x - 1e-9], 3)
        assert on == ref(x, 3) == right != left
    assert evaluate(t, c, 3, [3.0], 3)[0] == ref(3.0, 3) == evaluate(t, c, 3, [3.0 - 1e-9], 3)[0]
    assert np.isnan(evaluate(t, c, 3, [np.nan])[0])


@pytest.mark.parametrize("k", [1, 3, 5])
def test_design_matrix_matches_scipy_and_its_derivatives_the_spline(rng, k):
    n = 30
    t = random_knots(rng, n, k)
    x = np.r_[rng.uniform(t[k], t[-k - 1], 60), t[k:-k]]            # SciPy's design_matrix: inside only
    close(design_matrix(x, t, k), BSpline.design_matrix(x, t, k).toarray())
    c = rng.normal(size=n)
    for nu in range(k + 1):
        close(design_matrix(x, t, k, nu) @ c, BSpline(t, c, k)(x, nu))
    first, w = basis(t, k, x, 1)
    close(combine(first, w, c), BSpline(t, c, k)(x, 1))


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("n_extra", [0, 1, 2, 40, 150])
def test_make_interp_matches_make_interp_spline(rng, k, n_extra):
    n = k + 1 + n_extra
    x = np.cumsum(rng.uniform(0.02, 0.1, n))             # irregular, spacings within a factor 5
    y = rng.normal(size=(n, 3))
    ref = make_interp_spline(x, y, k=k)
    got = make_interp(x, y, k)
    assert np.array_equal(got.knots, ref.t)
    assert np.array_equal(not_a_knot_knots(x, k), ref.t)
    close(got.coef, ref.c)
    xs = np.r_[x, rng.uniform(x[0] - 0.5, x[-1] + 0.5, 100)]
    for nu in range(0, k + 2):
        close(got(xs, nu), ref(xs, nu))
    close(got(x), y)                                      # it interpolates


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_interpolating_spline_reproduces_polynomials_of_its_degree(rng, k):
    """A polynomial of degree <= k is in the spline space: the interpolant is the polynomial itself.

    Irregular sites about 0.17 apart: rounding errors of the values grow by ~1/spacing per derivative,
    hence 1e-12 * 10**nu.
    """
    x = np.linspace(-2.0, 2.0, 25) + rng.uniform(-0.05, 0.05, 25)
    p = Polynomial(rng.normal(size=k + 1))
    s = make_interp(x, p(x), k)
    xs = np.r_[x, np.linspace(-2.5, 2.5, 101)]
    for nu in range(k + 2):
        close(s(xs, nu), p.deriv(nu)(xs) if nu else p(xs), rtol=1e-12 * 10.0**nu)


def test_spline_keeps_the_shape_of_the_points():
    x = np.linspace(0.0, 1.0, 8)
    s = make_interp(x, np.stack([x, x ** 2], axis=1), 3)
    got = s(np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]), 1)
    assert got.shape == (2, 3, 2)
    close(got[..., 1], 2 * np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]))
    with pytest.raises(ValueError):
        make_interp(x[:3], x[:3], 3)                       # too few sites for the degree
    with pytest.raises(ValueError):
        make_interp(x[::-1], x, 3)                         # not increasing


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7, 50, 5001])
def test_cubic_not_a_knot_matches_cubic_spline(rng, n):
    x = np.cumsum(rng.uniform(0.01, 1.0, n))
    y = rng.normal(size=(3, n))
    ref = CubicSpline(x, y, axis=1)
    got = cubic_not_a_knot(x, y, axis=1)
    xs = np.r_[x, rng.uniform(x[0] - 1.0, x[-1] + 1.0, 300)]      # breakpoints, inside, both sides out
    for nu in range(5):                                            # 4: zero
        close(got(xs, nu), ref(xs, nu))
    close(got.c, ref.c.reshape(4, n - 1, 3))
    y3 = rng.normal(size=(n, 2, 2))                                # axis 0, trailing shape kept
    close(cubic_not_a_knot(x, y3)(xs), CubicSpline(x, y3)(xs))


def test_cubic_not_a_knot_is_exact_on_cubics_and_the_three_point_parabola(rng):
    x = np.linspace(-1.0, 2.0, 40) + rng.uniform(-0.02, 0.02, 40)        # ~0.08 apart
    p = Polynomial(rng.normal(size=4))
    s = cubic_not_a_knot(x, p(x))
    xs = np.linspace(-1.5, 2.5, 77)
    for nu in range(4):
        close(s(xs, nu), p.deriv(nu)(xs) if nu else p(xs), rtol=1e-12 * 10.0**nu)
    q = Polynomial([0.5, -1.0, 2.0])
    x3 = np.array([0.0, 0.3, 1.0])
    close(cubic_not_a_knot(x3, q(x3))(xs), q(xs), rtol=1e-12)
    close(cubic_not_a_knot(x3[:2], q(x3[:2]))(xs), q(0.0) + (q(0.3) - q(0.0)) / 0.3 * xs, rtol=1e-12)


@pytest.mark.parametrize("m", [1, 2, 3, 4, 7, 8, 33, 64, 1000])
def test_solve_tridiagonal_matches_a_dense_solve(rng, m):
    lower, upper = rng.uniform(-1.0, 1.0, m), rng.uniform(-1.0, 1.0, m)
    diag = (np.abs(lower) + np.abs(upper) + rng.uniform(0.1, 1.0, m)) * rng.choice([-1.0, 1.0], m)
    A = np.diag(diag) + np.diag(lower[1:], -1) + np.diag(upper[:-1], 1)
    rhs = rng.normal(size=(m, 3))
    close(solve_tridiagonal(lower, diag, upper, rhs), np.linalg.solve(A, rhs), rtol=1e-12)


@pytest.mark.parametrize("nu", [0, 1, 2, 3, 4, 5, 6])
def test_uniform_quintic_weights_are_the_bspline_basis(rng, nu):
    h = 0.04
    t = np.arange(-5, 12) * h                                       # uniform knots
    u = rng.uniform(0.0, 1.0, 50)
    x = 3 * h + u * h                                               # in the interval [t[8], t[9])
    first, w = basis(t, 5, x, nu)
    assert np.all(first == 3)                                       # c[i - 2 + j] with i = 5
    close(quintic_uniform_weights(u, nu, h).T, w)


@pytest.mark.parametrize("period, stride, m", [(5, 3, 1003), (1, 2, 500), (7, 4, 71), (5, 3, 20000)])
def test_combine_cm_periodic_and_gathered_agree_with_the_plain_sum(rng, period, stride, m):
    """The matrix-product path (periodic grids, last period read past the end too) and the gather."""
    offs = np.sort(rng.integers(0, stride + 1, period))
    offs -= offs[0]
    first = (np.arange(m) // period) * stride + np.tile(offs, -(-m // period))[:m] + 2
    n = int(first[-1]) + 6
    coef = rng.normal(size=(4, n))
    wp = rng.normal(size=(6, period))
    w = np.tile(wp, (1, -(-m // period)))[:, :m]
    want = sum(w[j] * coef[:, first + j] for j in range(6))
    out = np.full((4, m + 3), np.nan)
    combine_cm(coef, first, wp, out[:, 2:m + 2], stride=stride)
    close(out[:, 2:m + 2], want, rtol=1e-13)
    assert np.isnan(out[:, :2]).all() and np.isnan(out[:, m + 2:]).all()
    combine_cm(coef, first, w, out[:, 1:m + 1])
    close(out[:, 1:m + 1], want, rtol=1e-13)
