"""The fast paths of the physics core give the plain method's results (SciPy splines, scipy Rotation).

The fast paths are exact reformulations (recursive B-spline prefilter with an exact edge correction, fixed
uniform B-spline weights, a windowed gap spline whose truncation error decays as 2**-64, Shepperd's
quaternion vectorised), so the only admissible difference is rounding error. The tolerances below are
rounding-error bounds for the data sizes used, not fitted numbers: ~1e-16 relative per operation,
amplified by the condition of the spline problems (1/h**nu for the nu-th derivative on unit-scale data).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.interpolate import CubicSpline, make_interp_spline
from scipy.spatial.transform import Rotation

from imusynth.core import sensors
from imusynth.core.conventions import quat_from_columns, quat_from_matrix
from imusynth.core.kinematics import (
    QuinticFit,
    Trajectory,
    bridge_gaps,
    regular_grid,
    regular_grid_cm,
    segment_frames,
)
from imusynth.core.motion import Motion
from imusynth.core.placements import resolve_placements
from imusynth.core.sensors import simulate


@pytest.mark.parametrize("n", [140, 1000, 20000])
@pytest.mark.parametrize("rate_out", [50.0, 47.3])      # commensurate with 30 Hz (periodic weights) or not
def test_uniform_quintic_matches_make_interp_spline(rng, n, rate_out):
    t = 12.5 + np.arange(n) / 30.0
    y = np.cumsum(rng.normal(size=(4, n)), axis=1) * 0.01 + np.sin(t)
    ref = make_interp_spline(t, y.T, k=5, axis=0)
    fit = QuinticFit.fit(t, y)
    assert fit.h > 0                                         # the uniform path was taken
    assert np.allclose(fit.coef, ref.c, rtol=0, atol=1e-11 * np.abs(ref.c).max())
    ts = t[0] + 0.004 + np.arange(int((t[-1] - t[0] - 0.01) * rate_out)) / rate_out
    for nu in (0, 1, 2):
        want = ref(ts, nu).T
        got = fit.evaluate(ts, nu)
        # derivative nu of rounding-level coefficient errors: ~1e-13 * 30**nu relative to the data scale
        assert np.abs(got - want).max() < 1e-12 * 30.0**nu * np.abs(y).max(), nu


def test_trajectory_fit_is_the_scipy_spline(rng):
    t = np.arange(300) / 25.0
    x = rng.normal(size=(300, 3, 2))
    ref = make_interp_spline(t, x, k=5, axis=0)
    traj = Trajectory.fit(t, x)
    ts = np.linspace(t[0], t[-1], 777)
    for nu in (0, 1, 2):
        assert np.allclose(traj(ts, nu), ref(ts, nu), rtol=0, atol=1e-10 * 25.0**nu)


def test_nonuniform_sites_fall_back_to_scipy(rng):
    t = np.sort(rng.uniform(0, 10, 400))
    y = rng.normal(size=(2, 400))
    fit = QuinticFit.fit(t, y)
    assert fit.h == 0.0
    ref = make_interp_spline(t, y.T, k=5, axis=0)
    ts = np.linspace(t[0], t[-1], 50)
    assert np.array_equal(fit.evaluate(ts, 1), ref(ts, 1).T)


def test_windowed_gap_bridging_equals_the_global_spline(rng):
    n = 6000
    t = np.cumsum(rng.uniform(0.02, 0.05, n))               # irregular sampling
    x = np.stack([np.sin(t), np.cos(0.3 * t), rng.normal(size=n)], axis=1)
    valid = np.ones(n, dtype=bool)
    for a in rng.choice(n - 10, 300, replace=False):        # many short gaps, some merged
        valid[a:a + rng.integers(1, 4)] = False
    valid[0] = valid[-1] = True
    filled, ok = bridge_gaps(t, x, valid, max_gap_s=10.0)
    assert ok.all()
    ref = CubicSpline(t[valid], x[valid], axis=0)(t[~valid])
    # the window of 64 valid samples each side truncates influences below 2**-64 of the data
    assert np.allclose(filled[~valid], ref, rtol=0, atol=1e-12 * np.abs(x).max())
    assert np.array_equal(filled[valid], x[valid])


def test_vectorised_quaternions_match_scipy_on_every_branch(rng):
    rot = Rotation.random(4000, random_state=1)
    # add rotations by ~180 deg about each axis (largest diagonal entry branches) and the identity
    extra = Rotation.from_rotvec(np.pi * np.eye(3) * (1 - 1e-9))
    R = np.concatenate([rot.as_matrix(), extra.as_matrix(), np.eye(3)[None]])
    want = np.concatenate([rot.as_quat(scalar_first=True), extra.as_quat(scalar_first=True),
                           [[1.0, 0, 0, 0]]])
    want = np.where(want[:, :1] < 0, -want, want)
    sx, sy, sz = ((R[:, 0, k], R[:, 1, k], R[:, 2, k]) for k in range(3))   # the columns of R
    got = quat_from_columns(sx, sy, sz).T
    # scipy's (Markley) and Shepperd's branch choice agree on proper rotations up to rounding
    # (w >= 0 fixes the sign; the near-180-degree cases keep w ~ 5e-10 > 0)
    assert np.abs(got - want).max() < 1e-14
    assert np.array_equal(quat_from_matrix(R), got)   # the (..., 3, 3) entry point is the same code


def test_segment_frames_rates_match_the_antisymmetric_form(rng):
    """omega from the single-product formulas equals vee(R^T dR/dt) antisymmetrised, to rounding."""
    u, w = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    du, dw = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    R, omega, ok = segment_frames(u, du, w, dw)
    h = 1e-7
    Rp, _, _ = segment_frames(u + h * du, du, w + h * dw, dw)
    Rm, _, _ = segment_frames(u - h * du, du, w - h * dw, dw)
    W = np.einsum("nji,njk->nik", R, (Rp - Rm) / (2 * h))
    vee = 0.5 * np.stack([W[:, 2, 1] - W[:, 1, 2], W[:, 0, 2] - W[:, 2, 0], W[:, 1, 0] - W[:, 0, 1]], axis=1)
    assert ok.all()
    # central difference error ~ h^2 |d3R| plus rounding eps/h ~ 1e-9 relative
    assert np.allclose(omega, vee, rtol=0, atol=1e-6 * np.abs(vee).max())


def test_placements_sharing_a_segment_get_the_same_results_as_alone(monkeypatch):
    """left_forearm and wrist share the forearm frame inside one simulate call; sharing changes nothing."""
    t = np.arange(0.0, 20.0, 1 / 30)
    names = ("left_elbow", "left_wrist", "left_pinky", "left_thumb")
    phase = 2 * np.pi * 0.7 * t
    elbow = np.stack([0 * t, 0 * t, 1.2 + 0 * t], axis=1)
    swing = 0.5 * np.sin(phase)
    wrist = elbow + 0.25 * np.stack([np.sin(swing), 0 * t, -np.cos(swing)], axis=1)
    pinky = wrist + np.stack([0.02 * np.cos(phase), 0.03 + 0 * t, -0.05 + 0 * t], axis=1)
    thumb = wrist + np.stack([0 * t, -0.03 + 0 * t, -0.04 + 0 * t], axis=1)
    xyz = np.stack([elbow, wrist, pinky, thumb], axis=1)
    xyz[200:203, 2] = np.nan                                 # a bridged gap in one point
    motion = Motion(t, names, xyz)
    calls = []
    run_frames = sensors._run_frames

    def counted(*args, **kwargs):
        calls.append(1)
        return run_frames(*args, **kwargs)

    monkeypatch.setattr(sensors, "_run_frames", counted)
    together = simulate(motion, resolve_placements(["left_forearm", "wrist"]), cutoff_hz=6.0)
    assert len(calls) == 1                                   # one run, one frame computation for both
    for name in ("left_forearm", "wrist"):
        alone = simulate(motion, resolve_placements([name]), cutoff_hz=6.0)[name]
        for field in ("acc", "gyro", "orientation"):
            assert np.array_equal(getattr(together[name], field), getattr(alone, field), equal_nan=True)
        assert np.array_equal(together[name].valid, alone.valid)


# --- issue 14: the splines are NumPy code (imusynth.core.bspline); SciPy is only the reference here ---


@pytest.mark.parametrize("irregular", [False, True])
def test_short_runs_are_the_make_interp_spline_quintic(rng, irregular):
    """Runs under 2 * _EDGE + 8 samples (and irregular ones) take the dense NumPy solve: same spline."""
    n = 100
    t = 3.0 + np.arange(n) / 30.0
    if irregular:
        t = t + rng.uniform(-0.005, 0.005, n)
    y = np.cumsum(rng.normal(size=(3, n)), axis=1) * 0.01 + np.sin(t)
    ref = make_interp_spline(t, y.T, k=5, axis=0)
    fit = QuinticFit.fit(t, y)
    assert fit.h == 0.0
    assert np.array_equal(fit.knots, ref.t)
    assert np.allclose(fit.coef, ref.c, rtol=0, atol=1e-11 * np.abs(ref.c).max())
    ts = np.r_[t[0], np.sort(rng.uniform(t[0], t[-1], 300)), t[3:-3], t[-1]]      # ends and knots too
    ts.sort()
    for nu in range(6):
        want = ref(ts, nu).T
        # as in the uniform test: rounding of the coefficients times 30**nu (1 / sample spacing)
        assert np.abs(fit.evaluate(ts, nu) - want).max() < 1e-12 * 30.0**nu * np.abs(y).max(), nu
        assert np.abs(fit.spline()(ts, nu).T - want).max() < 1e-12 * 30.0**nu * np.abs(y).max(), nu


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 137])
def test_trajectory_of_few_samples_is_the_scipy_interpolant(rng, n):
    t = np.sort(rng.uniform(0.0, 2.0, n))
    x = rng.normal(size=(n, 2))
    k = min(5, n - 1)
    ref = make_interp_spline(t, x, k=k, axis=0)
    traj = Trajectory.fit(t, x)
    ts = np.linspace(t[0], t[-1], 51)
    for nu in range(k + 1):
        want = ref(ts, nu)
        assert np.allclose(traj(ts, nu), want, rtol=0, atol=1e-10 * np.abs(want).max()), nu


def test_regular_grid_is_the_cubic_spline(rng):
    t = np.cumsum(rng.uniform(0.02, 0.05, 3000))
    x = np.stack([np.sin(t), np.cos(2 * t), rng.normal(size=t.size)], axis=1)
    tg, xg = regular_grid(t, x, rate_hz=40.0)
    assert np.allclose(xg, CubicSpline(t, x, axis=0)(tg), rtol=0, atol=1e-12 * np.abs(x).max())
    tg_cm, xg_cm = regular_grid_cm(t, np.ascontiguousarray(x.T), rate_hz=40.0)
    assert np.array_equal(tg_cm, tg) and np.allclose(xg_cm, xg.T, rtol=0, atol=1e-15)


def test_the_splines_load_neither_scipy_interpolate_nor_scipy_sparse():
    """Importing kinematics and using its splines (gap bridging, resampling, short and irregular quintic fits
    and their evaluation, trajectories) loads neither: they cost ~0.3 s to import (issue 14)."""
    code = """
import sys
import numpy as np
from imusynth.core.kinematics import QuinticFit, Trajectory, bridge_gaps, regular_grid
t = np.cumsum(np.full(90, 1 / 30) + np.linspace(0, 1e-3, 90))
x = np.stack([np.sin(t), np.cos(t)], axis=1)
valid = np.ones(90, dtype=bool)
valid[40:43] = False
bridge_gaps(t, x, valid, max_gap_s=0.5)
tg, xg = regular_grid(t, x, rate_hz=30.0)
QuinticFit.fit(t, x.T).evaluate(np.linspace(t[0], t[-1], 77), 2)
QuinticFit.fit(tg, xg.T).spline()(tg, 1)
Trajectory.fit(t[:40], x[:40])(t[:40], 3)
print(sorted(m for m in ("scipy.interpolate", "scipy.sparse") if m in sys.modules))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["[]"], r.stdout


def test_uniform_fit_evaluated_only_near_its_ends_and_through_a_shared_cache(rng):
    """Times that all fall where the knots are not uniform (the run's ends) use the general basis alone;
    a cache shared between fits and derivatives gives what fresh evaluations give."""
    t = np.arange(300) / 30.0
    y = rng.normal(size=(2, 300))
    ref = make_interp_spline(t, y.T, k=5, axis=0)
    fit = QuinticFit.fit(t, y)
    assert fit.h > 0
    for ts in (t[:5], t[-4:], np.array([t[0]]), np.array([t[-1]])):
        for nu in range(6):
            want = ref(ts, nu).T
            assert np.abs(fit.evaluate(ts, nu) - want).max() <= 1e-12 * 30.0**nu * np.abs(y).max(), nu
    ts = np.arange(1, 480) / 48.0                       # periodic on these knots: 8 outputs per 5 knots
    other = QuinticFit.fit(t, rng.normal(size=(3, 300)))
    cache: dict = {}
    for nu in (0, 1, 2):
        for f in (fit, other):
            assert np.array_equal(f.evaluate(ts, nu, cache=cache), f.evaluate(ts, nu)), nu
    assert len(cache) == 1 and next(iter(cache.values())).stride == 5      # the matrix-product path
