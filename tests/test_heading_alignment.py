"""Unpaired heading alignment (calibrate.alignment.fit_heading): recovers a known sensor rotation from
recordings that are not paired sample by sample, and says when the heading is ambiguous."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from imusynth.calibrate.alignment import fit_alignment, fit_heading, horizontal_moments
from imusynth.core.imu_series import CalibrationError, ImuSeries
from imusynth.core.placements import builtin_placements
from imusynth.core.sensors import simulate


def _angle(A, B):
    return float(np.degrees(np.arccos(np.clip((np.trace(A.T @ B) - 1) / 2, -1, 1))))


@pytest.fixture(scope="module")
def walk():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_physics import walking_motion

    m = walking_motion(80.0, seed=3)
    table = builtin_placements()
    return simulate(m, [table["wrist"], table["thigh"]], rate_hz=50.0, require_valid=False)


def _series(s, lo, hi, R=np.eye(3)):
    n = s.time.size
    k = slice(int(lo * n), int(hi * n))
    return ImuSeries(s.time[k], s.acc[k] @ R.T, s.gyro[k] @ R.T, s.valid[k])


@pytest.mark.parametrize(("placement", "bound_deg"), [("wrist", 10.0), ("thigh", 1.0)])
def test_recovers_a_sensor_rotation_from_unpaired_halves(walk, placement, bound_deg):
    """Virtual = first half of a walk, real = the second half seen by a sensor turned by a random R: the
    full rotation is found within the bound (measured 6.6-6.8 degrees for the wrist, 0.4-0.5 for the
    thigh: the halves differ, the synthetic gait drifts), for any R; gravity alone is off by up to 105."""
    s = walk[placement]
    for seed in range(4):
        R = Rotation.random(random_state=seed).as_matrix()
        h = fit_heading([_series(s, 0.0, 0.5)], [_series(s, 0.5, 1.0, R)])
        assert _angle(h.rotation, R) < bound_deg
        assert h.margin > 1.3
        assert np.allclose(h.rotation @ h.rotation.T, np.eye(3), atol=1e-12)
    # the same recording: exact up to the grid step
    h = fit_heading([_series(s, 0.0, 1.0)], [_series(s, 0.0, 1.0, R)])
    assert _angle(h.rotation, R) < 0.2


def test_moments_turn_with_the_heading(walk):
    s = _series(walk["wrist"], 0.0, 1.0)
    up = np.array([0.3, -0.2, 0.9])
    up /= np.linalg.norm(up)
    psi = 0.7
    R = Rotation.from_rotvec(psi * up).as_matrix()
    m0 = horizontal_moments([s], up)
    m1 = horizontal_moments([s], up, rotation=R)
    for i, k in enumerate((1, 2, 3)):
        assert np.allclose(m1[:, i], np.exp(1j * k * psi) * m0[:, i], atol=1e-12)


def test_isotropic_motion_is_ambiguous_and_gravity_free_data_refused():
    rng = np.random.default_rng(0)
    n = 20000
    t = np.arange(n) / 50.0
    def noise():
        return ImuSeries(t, rng.normal(size=(n, 3)) + [0, 0, 9.8], rng.normal(size=(n, 3)))
    h = fit_heading([noise()], [noise()])
    assert h.margin < 1.5                      # no preferred horizontal direction: no clear minimum
    flat = ImuSeries(t, rng.normal(size=(n, 3)), rng.normal(size=(n, 3)))
    with pytest.raises(CalibrationError, match="no gravity"):
        fit_heading([flat], [flat])


def test_fit_alignment_with_heading(walk):
    s = walk["thigh"]
    from imusynth.calibrate.alignment import gravity_direction

    up = gravity_direction([_series(s, 0.0, 1.0)]).direction
    R = Rotation.from_rotvec(np.radians(70.0) * up).as_matrix()        # a pure heading turn
    a, why = fit_alignment([_series(s, 0.0, 0.5)], [_series(s, 0.5, 1.0, R)], heading=True)
    assert a is not None and "heading" in why and _angle(a.rotation, R) < 3.0
    g, _ = fit_alignment([_series(s, 0.0, 0.5)], [_series(s, 0.5, 1.0, R)])
    assert g is None or _angle(g.rotation, R) > 60.0                   # gravity alone cannot see it
