"""Per-sensor alignment (issue 13): ``calibrate apply`` turns each sensor by its own gravity direction, so a
sensor mounted differently from the one the profile was fitted on (an augmentation variant) calibrates to
the same output when the mounting differs by a rotation that gravity can see."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from imusynth.calibrate import (
    CalibrationError,
    ImuSeries,
    fit_profile,
    gravity_direction,
    load_profile,
    mean_specific_force,
    profile_from_toml,
    profile_to_toml,
    resample_series,
)
from imusynth.calibrate.clips import calibrate_clip
from imusynth.calibrate.profiles import apply_profile_rotation, with_alignment_mode
from imusynth.cli.calibrate import calibrate_app
from imusynth.core.conventions import G0, matrix_from_quat, quat_from_matrix
from imusynth.core.sensors import SensorSignals
from imusynth.io.hdf5 import Clip, read_clips, write_clips

REAL_TILT = Rotation.from_rotvec([0.0, math.radians(35.0), math.radians(20.0)]).as_matrix()
VIRT_TILT = Rotation.from_rotvec([math.radians(-15.0), 0.0, 0.0]).as_matrix()


def _moving(rng: np.random.Generator, *, seconds: float, rate: float, gain: float, tilt: np.ndarray,
            name: str) -> ImuSeries:
    """3 s standing still, then motion on all three axes (every 0.5 s window of every axis, in any
    rotated frame, varies by far more than the quasi-static threshold, so the quasi-static spans are the
    same whatever the sensor's rotation and the gravity estimate turns exactly with the sensor)."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f = (2.1, 2.9, 3.7)
    acc = np.stack([3.0 * gain * np.sin(2 * np.pi * f[k] * t + k) for k in range(3)], axis=1)
    acc[:, 2] += G0
    gyro = np.stack([1.5 * gain * np.sin(2 * np.pi * f[2 - k] * t + 0.5 * k) for k in range(3)], axis=1)
    still = t < 3.0
    acc[still] = [0.0, 0.0, G0]
    gyro[still] = 0.0
    acc += 0.05 * rng.standard_normal((n, 3))
    gyro += 0.01 * rng.standard_normal((n, 3))
    return ImuSeries(t, acc @ tilt.T, gyro @ tilt.T, name=name)


def _turned(s: ImuSeries, Q: np.ndarray, name: str = "turned") -> ImuSeries:
    """The recording of a sensor whose axes are the base's turned by ``Q``: ``x_variant = Q^T x_base``."""
    return ImuSeries(s.time, s.acc @ Q, s.gyro @ Q, s.valid, name=name)


@pytest.fixture(scope="module")
def fitted() -> tuple[ImuSeries, dict[str, object]]:
    rng = np.random.default_rng(13)
    virt = _moving(rng, seconds=40, rate=50.0, gain=1.0, tilt=VIRT_TILT, name="v")
    real = [_moving(rng, seconds=40, rate=100.0, gain=1.6, tilt=REAL_TILT, name=f"r{i}") for i in range(2)]
    profiles = {mode: fit_profile([virt], real, name=mode, alignment_mode=mode)[0]
                for mode in ("fixed", "per-sensor")}
    return virt, profiles


def _seen_tilt(up: np.ndarray, angle_deg: float) -> np.ndarray:
    """A rotation by ``angle_deg`` about an axis orthogonal to ``up`` (one that gravity alignment sees)."""
    axis = np.cross(up, [0.3, -0.5, 0.8])
    return Rotation.from_rotvec(math.radians(angle_deg) * axis / np.linalg.norm(axis)).as_matrix()


@pytest.mark.parametrize("angle_deg", [20.0, 50.0, 120.0])
def test_a_sensor_tilted_by_a_seen_rotation_calibrates_like_the_base(fitted, angle_deg) -> None:  # noqa: ANN001
    """Closed form: the variant's gravity is ``Q^T g``, the smallest rotation back onto ``g`` is ``Q``
    exactly (axis orthogonal to gravity), so the aligned data, and hence the mapped output, equal the
    base's up to rounding (1e-9 m/s^2, rad/s). The fixed rotation leaves the variant tilted."""
    virt, profiles = fitted
    per = profiles["per-sensor"]
    assert per.alignment is not None and per.alignment.mode == "per-sensor"
    Q = _seen_tilt(per.alignment.sensor_reference, angle_deg)
    base, R_base = apply_profile_rotation(virt, per)
    var, R_var = apply_profile_rotation(_turned(virt, Q), per)
    assert R_base is not None and R_var is not None
    np.testing.assert_allclose(R_var, R_base @ Q, atol=1e-12)
    ok = base.valid
    np.testing.assert_array_equal(ok, var.valid)
    np.testing.assert_allclose(var.data[ok], base.data[ok], rtol=0, atol=1e-9)
    fixed = profiles["fixed"]
    f_base, _ = apply_profile_rotation(virt, fixed)
    f_var, _ = apply_profile_rotation(_turned(virt, Q), fixed)
    assert np.max(np.abs(f_var.data[ok] - f_base.data[ok])) > 1.0   # m/s^2: the variant stays tilted


def test_per_sensor_equals_fixed_on_the_recording_it_was_fitted_on(fitted) -> None:  # noqa: ANN001
    virt, profiles = fitted
    a, Ra = apply_profile_rotation(virt, profiles["fixed"])
    b, Rb = apply_profile_rotation(virt, profiles["per-sensor"])
    np.testing.assert_allclose(Rb, Ra, atol=1e-12)
    np.testing.assert_allclose(b.data[b.valid], a.data[a.valid], rtol=0, atol=1e-9)


def test_any_mounting_lands_its_gravity_on_the_real_gravity(fitted) -> None:  # noqa: ANN001
    """Any rotation (a turn about gravity included): the sensor's own mean specific force lands exactly
    (1e-9) where the fit set's did, ``rotation @ sensor_reference``, and its quasi-static gravity within
    0.5 degrees of the profile's real gravity (the offset between the two estimators on this motion);
    only the part about gravity stays unknown."""
    virt, profiles = fitted
    per = profiles["per-sensor"]
    a = per.alignment
    assert a is not None and a.sensor_reference is not None
    for seed in range(5):
        Q = Rotation.random(random_state=seed).as_matrix()
        s = _turned(virt, Q)
        _, R = apply_profile_rotation(s, per)
        rs = resample_series(s, rate_hz=float(per.rate_hz or 0))       # as applied
        m = mean_specific_force([rs]).direction
        np.testing.assert_allclose(R @ m, a.rotation @ a.sensor_reference, atol=1e-9)
        g = gravity_direction([rs]).direction
        assert math.degrees(math.acos(min(1.0, float(np.dot(R @ g, a.real_gravity))))) < 0.5


def _sig(name: str, s: ImuSeries, q: np.ndarray) -> SensorSignals:
    return SensorSignals(name, s.time, s.acc, s.gyro, q, s.valid, s.rate_hz, 12.0, "test frame", "")


def test_calibrate_clip_turns_each_variant_by_its_own_gravity(fitted) -> None:  # noqa: ANN001
    """A clip with the base and a variant ``left_wrist~aug1`` (axes turned by a seen tilt Q): after
    ``calibrate_clip`` the variant's acc, gyro and orientation equal the base's (R_ws,new = R_ws R^T with
    the variant's own R = R_base Q, so R_ws Q (R_base Q)^T = R_ws R_base^T)."""
    virt, profiles = fitted
    per = profiles["per-sensor"]
    assert per.alignment is not None
    Q = _seen_tilt(per.alignment.sensor_reference, 40.0)
    R_ws = Rotation.from_rotvec([0.2, -0.4, 1.1]).as_matrix()
    q_base = np.tile(quat_from_matrix(R_ws), (virt.n, 1))
    q_var = np.tile(quat_from_matrix(R_ws @ Q), (virt.n, 1))
    clip = Clip(clip_id="c", source="synthetic", source_sha256="", source_kind="motion", source_rate_hz=50.0,
                duration_s=float(virt.time[-1]), config="",
                sensors={"left_wrist": _sig("left_wrist", virt, q_base),
                         "left_wrist~aug1": _sig("left_wrist", _turned(virt, Q), q_var)})
    prof = with_alignment_mode(per, "per-sensor")
    out = calibrate_clip(clip, prof, profile_to_toml(prof), placements=["left_wrist"])
    b, v = out.sensors["left_wrist"], out.sensors["left_wrist~aug1"]
    ok = b.valid
    np.testing.assert_allclose(v.acc[ok], b.acc[ok], atol=1e-9)
    np.testing.assert_allclose(v.gyro[ok], b.gyro[ok], atol=1e-9)
    np.testing.assert_allclose(matrix_from_quat(v.orientation[ok]), matrix_from_quat(b.orientation[ok]),
                               atol=1e-9)
    # the fixed rotation does not: the variant keeps its tilt
    fixed = profiles["fixed"]
    out_f = calibrate_clip(clip, fixed, profile_to_toml(fixed), placements=["left_wrist"])
    assert np.max(np.abs(out_f.sensors["left_wrist~aug1"].acc[ok] - out_f.sensors["left_wrist"].acc[ok])) > 1


def test_mode_round_trips_and_bad_modes_are_refused(fitted) -> None:  # noqa: ANN001
    _, profiles = fitted
    for mode, p in profiles.items():
        back = profile_from_toml(profile_to_toml(p))
        assert back.alignment is not None and back.alignment.mode == mode
        np.testing.assert_array_equal(back.alignment.virtual_gravity, p.alignment.virtual_gravity)
    text = profile_to_toml(profiles["fixed"]).replace('mode = "fixed"', 'mode = "sideways"')
    with pytest.raises(CalibrationError, match="alignment.mode"):
        profile_from_toml(text)
    # a profile written before modes existed reads as fixed
    old = "\n".join(ln for ln in profile_to_toml(profiles["fixed"]).splitlines() if not ln.startswith("mode"))
    assert profile_from_toml(old).alignment.mode == "fixed"  # type: ignore[union-attr]
    with pytest.raises(CalibrationError, match="alignment mode"):
        fit_profile([ImuSeries(np.arange(10.0), np.ones((10, 3)), np.zeros((10, 3)))] * 1,
                    [ImuSeries(np.arange(10.0), np.ones((10, 3)), np.zeros((10, 3)))], name="x",
                    alignment_mode="sideways")


def test_per_sensor_mode_always_stores_the_gravity_directions(rng) -> None:  # noqa: ANN001
    """Fixed mode skips a rotation under 5 degrees; per-sensor (the default) keeps the (small) rotation and
    the direction that each sensor is turned onto."""
    small = Rotation.from_rotvec([math.radians(2.0), 0.0, 0.0]).as_matrix()
    v = _moving(rng, seconds=20, rate=50.0, gain=1.0, tilt=np.eye(3), name="v")
    r = _moving(rng, seconds=20, rate=50.0, gain=1.0, tilt=small, name="r")
    fixed, notes = fit_profile([v], [r], name="f", alignment_mode="fixed")
    assert fixed.alignment is None and any("< 5.0 deg" in n for n in notes)
    per, notes = fit_profile([v], [r], name="p")
    assert per.alignment is not None and per.alignment.mode == "per-sensor"
    assert per.alignment.angle_deg == pytest.approx(2.0, abs=0.3)
    assert per.alignment.sensor_reference is not None
    with pytest.raises(CalibrationError, match="no \\[alignment\\]"):
        with_alignment_mode(fixed, "per-sensor")


def _h5(path: Path, s: ImuSeries, sensors: dict[str, np.ndarray]) -> Path:
    q = np.tile([1.0, 0.0, 0.0, 0.0], (s.n, 1))
    sig = {name: _sig("left_wrist", _turned(s, Q), q) for name, Q in sensors.items()}
    clip = Clip(clip_id="c0", source="synthetic", source_sha256="", source_kind="motion", source_rate_hz=50.0,
                duration_s=float(s.time[-1]), config="", sensors=sig, label="walk", group="g")
    return write_clips(path, [clip])


def test_cli_alignment_flag_fit_and_apply(tmp_path, fitted) -> None:  # noqa: ANN001
    """``fit --alignment per-sensor`` is stored in the profile; ``apply --alignment`` overrides it (and the
    calibrated file stores the profile text that was used); a variant calibrates like its base."""
    virt, profiles = fitted
    rng = np.random.default_rng(5)
    real = _moving(rng, seconds=40, rate=50.0, gain=1.6, tilt=REAL_TILT, name="r")
    per = profiles["per-sensor"]
    assert per.alignment is not None
    Q = _seen_tilt(per.alignment.sensor_reference, 45.0)
    v = _h5(tmp_path / "v.h5", virt, {"left_wrist": np.eye(3), "left_wrist~aug1": Q})
    r = _h5(tmp_path / "r.h5", real, {"left_wrist": np.eye(3)})
    runner = CliRunner()
    for mode in ("fixed", "per-sensor"):
        res = runner.invoke(calibrate_app, ["fit", "--virtual", str(v), "--real", str(r), "-p", "left_wrist",
                                            "--alignment", mode, "-o", str(tmp_path / f"{mode}.toml")])
        assert res.exit_code == 0, res.output
        prof, _ = load_profile(tmp_path / f"{mode}.toml")
        assert prof.alignment is not None and prof.alignment.mode == mode
    res = runner.invoke(calibrate_app, ["apply", str(tmp_path / "fixed.toml"), str(v), "--alignment",
                                        "per-sensor", "-o", str(tmp_path / "c.h5")])
    assert res.exit_code == 0, res.output
    (clip,) = read_clips(tmp_path / "c.h5")
    assert 'mode = "per-sensor"' in clip.attrs["calibration_profile_toml"]
    b, va = clip.sensors["left_wrist"], clip.sensors["left_wrist~aug1"]
    # the file stores float32 (rounding ~1e-6 relative), which moves the variant's gravity estimate by
    # ~1e-5 rad: measured up to 3e-3 m/s^2 after the maps; a fixed rotation leaves metres per second squared
    np.testing.assert_allclose(va.acc[b.valid], b.acc[b.valid], atol=1e-2)
    res = runner.invoke(calibrate_app, ["fit", "--virtual", str(v), "--real", str(r), "-p", "left_wrist",
                                        "--alignment", "sideways", "-o", str(tmp_path / "x.toml")])
    # an InputError: the main app prints its one line and exits 2
    assert isinstance(res.exception, CalibrationError) and "--alignment must be one of" in str(res.exception)
