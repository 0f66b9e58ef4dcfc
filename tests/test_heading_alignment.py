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


# --------------------------------------------------------------------------------------------------
# The heading in calibration profiles: fit_profile(heading=True), calibrate fit --heading
# --------------------------------------------------------------------------------------------------


def _turn_about_gravity(s, deg):
    from imusynth.calibrate.alignment import gravity_direction

    up = gravity_direction([_series(s, 0.0, 1.0)]).direction
    return Rotation.from_rotvec(np.radians(deg) * up).as_matrix()


@pytest.mark.parametrize("mode", ["fixed", "per-sensor"])
def test_profile_heading_recovers_a_turn_about_gravity(walk, mode):
    """Virtual = first half of a thigh walk, real = the second half seen by a sensor turned by 70 degrees
    about gravity: the profile's rotation is within 3 degrees of the turn with ``heading=True`` (measured
    0.5), while gravity alone leaves it at 60+ degrees; applied, the calibrated horizontal acc then follows
    the real axes (per-axis KS against the real half below 0.1)."""
    from imusynth.calibrate import apply_profile, distribution_distances, fit_profile

    s = walk["thigh"]
    R = _turn_about_gravity(s, 70.0)
    virt, real = [_series(s, 0.0, 0.5)], [_series(s, 0.5, 1.0, R)]
    prof, notes = fit_profile(virt, real, name="h", heading=True, alignment_mode=mode)
    a = prof.alignment
    assert a is not None and a.heading_deg is not None and a.heading_margin is not None
    assert _angle(a.rotation, R) < 3.0 and abs(a.heading_deg - 70.0) < 3.0 and a.heading_margin > 1.3
    assert any("heading" in n for n in notes)
    plain, _ = fit_profile(virt, real, name="g", alignment_mode=mode)
    assert plain.alignment is None or _angle(plain.alignment.rotation, R) > 60.0
    held = _series(s, 0.5, 1.0)           # the virtual second half: calibrated, it should look like `real`
    d_h = distribution_distances(apply_profile(held, prof).data, real[0].data)
    assert max(d.ks for d in d_h) < 0.1


def test_heading_combines_with_per_sensor_alignment(walk):
    """Per-sensor + heading: a variant tilted by a rotation orthogonal to gravity calibrates to its base's
    output (the heading is the profile's, the tilt relative to the base the variant's own), to 1e-9."""
    from imusynth.calibrate import mean_specific_force
    from imusynth.calibrate.profiles import apply_profile_rotation, fit_profile

    s = walk["wrist"]
    R = _turn_about_gravity(s, -40.0)
    base = _series(s, 0.0, 0.5)
    prof, _ = fit_profile([base], [_series(s, 0.5, 1.0, R)], name="h", heading=True)
    assert prof.alignment is not None and prof.alignment.heading_deg is not None
    assert prof.alignment_mode == "per-sensor"
    axis = np.cross(mean_specific_force([base]).direction, [0.0, 0.0, 1.0])
    Q = Rotation.from_rotvec(np.radians(35.0) * axis / np.linalg.norm(axis)).as_matrix()
    variant = ImuSeries(base.time, base.acc @ Q, base.gyro @ Q, base.valid)     # x_variant = Q^T x_base
    out_b, R_b = apply_profile_rotation(base, prof)
    out_v, R_v = apply_profile_rotation(variant, prof, reference=base)
    assert R_b is not None and R_v is not None
    np.testing.assert_allclose(R_b, prof.alignment.rotation, atol=0)
    np.testing.assert_allclose(R_v, R_b @ Q, atol=1e-12)
    np.testing.assert_allclose(out_v.data[out_b.valid], out_b.data[out_b.valid], rtol=0, atol=1e-9)


def test_cli_heading_flag_round_trips_through_the_profile(walk, tmp_path):
    """``calibrate fit --heading`` writes heading_deg / heading_margin into [alignment]; the file reads
    back to the same rotation (exactly) and ``calibrate apply`` turns the clip by it."""
    from typer.testing import CliRunner

    from imusynth.calibrate import load_profile, profile_from_toml, profile_to_toml
    from imusynth.cli.calibrate import calibrate_app
    from imusynth.core.sensors import SensorSignals
    from imusynth.io.hdf5 import Clip, read_clips, write_clips

    s = walk["thigh"]
    R = _turn_about_gravity(s, 70.0)

    def h5(path, lo, hi, rot):
        x = _series(s, lo, hi, rot)
        q = np.tile([1.0, 0.0, 0.0, 0.0], (x.n, 1))
        sig = SensorSignals("thigh", x.time, x.acc, x.gyro, q, x.valid, 50.0, 6.0, "test", "")
        clip = Clip(clip_id="c", source="synthetic", source_sha256="", source_kind="motion",
                    source_rate_hz=50.0, duration_s=float(x.time[-1] - x.time[0]), config="",
                    sensors={"thigh": sig}, label="walk", group="g")
        return write_clips(path, [clip])

    v = h5(tmp_path / "v.h5", 0.0, 0.5, np.eye(3))
    r = h5(tmp_path / "r.h5", 0.5, 1.0, R)
    runner = CliRunner()
    res = runner.invoke(calibrate_app, ["fit", "--virtual", str(v), "--real", str(r), "-p", "thigh",
                                        "--heading", "--rate", "50", "-o", str(tmp_path / "h.toml")])
    assert res.exit_code == 0, res.output
    assert "heading" in res.output
    prof, text = load_profile(tmp_path / "h.toml")
    a = prof.alignment
    assert a is not None and a.heading_deg is not None and "heading_deg = " in text
    assert _angle(a.rotation, R) < 3.0
    back = profile_from_toml(profile_to_toml(prof)).alignment
    assert back is not None and back.heading_deg == a.heading_deg and back.heading_margin == a.heading_margin
    np.testing.assert_array_equal(back.rotation, a.rotation)
    res = runner.invoke(calibrate_app, ["apply", str(tmp_path / "h.toml"), str(v), "-o",
                                        str(tmp_path / "c.h5")])
    assert res.exit_code == 0, res.output
    (clip,) = read_clips(tmp_path / "c.h5")
    # orientation turned by the profile's rotation: R_ws,new = R_ws R^T with R_ws = I
    from imusynth.core.conventions import matrix_from_quat

    got = matrix_from_quat(clip.sensors["thigh"].orientation[clip.sensors["thigh"].valid][:1])[0]
    np.testing.assert_allclose(got, a.rotation.T, atol=1e-6)
    res = runner.invoke(calibrate_app, ["fit", "--virtual", str(v), "--real", str(r), "-p", "thigh",
                                        "--heading", "--no-align", "-o", str(tmp_path / "x.toml")])
    assert res.exception is not None and "--heading needs the alignment" in str(res.exception)
