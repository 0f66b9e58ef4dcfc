"""Per-sensor alignment (issue 13): ``calibrate apply`` turns each augmentation variant by its mounting
relative to its base sensor (gravity direction, same clip) before the fitted rotation, so a variant mounted
differently from the base the profile was fitted on calibrates to the base's output when the mounting
differs by a rotation that gravity can see."""

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
    load_profile,
    mean_specific_force,
    profile_from_toml,
    profile_to_toml,
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
    """3 s standing still, then motion on all three axes."""
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
    per, _ = fit_profile([virt], real, name="per-sensor")
    assert per.alignment_mode == "per-sensor"          # the default
    return virt, {"per-sensor": per, "fixed": with_alignment_mode(per, "fixed")}


def _seen_tilt(up: np.ndarray, angle_deg: float) -> np.ndarray:
    """A rotation by ``angle_deg`` about an axis orthogonal to ``up`` (one that gravity alignment sees)."""
    axis = np.cross(up, [0.3, -0.5, 0.8])
    return Rotation.from_rotvec(math.radians(angle_deg) * axis / np.linalg.norm(axis)).as_matrix()


@pytest.mark.parametrize("angle_deg", [20.0, 50.0, 120.0])
def test_a_variant_tilted_by_a_seen_rotation_calibrates_like_its_base(fitted, angle_deg) -> None:  # noqa: ANN001
    """Closed form: the variant's mean specific force is ``Q^T m``, the smallest rotation back onto ``m``
    is ``Q`` exactly (axis orthogonal to it), so the aligned data, and hence the mapped output, equal the
    base's up to rounding (1e-9 m/s^2, rad/s). The fixed rotation leaves the variant tilted."""
    virt, profiles = fitted
    per = profiles["per-sensor"]
    assert per.alignment is not None
    Q = _seen_tilt(mean_specific_force([virt]).direction, angle_deg)
    base, R_base = apply_profile_rotation(virt, per)
    var, R_var = apply_profile_rotation(_turned(virt, Q), per, reference=virt)
    assert R_base is not None and R_var is not None
    np.testing.assert_allclose(R_base, per.alignment.rotation, atol=0)
    np.testing.assert_allclose(R_var, R_base @ Q, atol=1e-12)
    ok = base.valid
    np.testing.assert_array_equal(ok, var.valid)
    np.testing.assert_allclose(var.data[ok], base.data[ok], rtol=0, atol=1e-9)
    fixed = profiles["fixed"]
    f_base, _ = apply_profile_rotation(virt, fixed)
    f_var, _ = apply_profile_rotation(_turned(virt, Q), fixed, reference=virt)
    np.testing.assert_array_equal(f_base.data[ok], base.data[ok])   # the base: same in both modes
    assert np.max(np.abs(f_var.data[ok] - f_base.data[ok])) > 1.0   # m/s^2: the variant stays tilted


def test_any_mounting_lands_where_its_base_does(fitted) -> None:  # noqa: ANN001
    """Any rotation (a turn about gravity included): the variant's own mean specific force lands exactly
    (1e-9) where the base's does under the fitted rotation; only the part about gravity stays unknown."""
    virt, profiles = fitted
    per = profiles["per-sensor"]
    assert per.alignment is not None
    m_base = mean_specific_force([virt]).direction
    for seed in range(5):
        Q = Rotation.random(random_state=seed).as_matrix()
        s = _turned(virt, Q)
        _, R = apply_profile_rotation(s, per, reference=virt)
        assert R is not None
        np.testing.assert_allclose(R @ mean_specific_force([s]).direction, per.alignment.rotation @ m_base,
                                   atol=1e-9)


def test_per_sensor_without_an_alignment_still_follows_the_base(rng) -> None:  # noqa: ANN001
    """Under 5 degrees no rotation is fitted (alignment None); a variant is still turned onto its base."""
    small = Rotation.from_rotvec([math.radians(2.0), 0.0, 0.0]).as_matrix()
    v = _moving(rng, seconds=20, rate=50.0, gain=1.0, tilt=np.eye(3), name="v")
    r = _moving(rng, seconds=20, rate=50.0, gain=1.0, tilt=small, name="r")
    prof, notes = fit_profile([v], [r], name="p")
    assert prof.alignment is None and any("< 5.0 deg" in n for n in notes)
    Q = _seen_tilt(mean_specific_force([v]).direction, 30.0)
    _, R = apply_profile_rotation(_turned(v, Q), prof, reference=v)
    assert R is not None
    np.testing.assert_allclose(R, Q, atol=1e-12)
    _, R0 = apply_profile_rotation(v, prof)
    assert R0 is None


def _sig(name: str, s: ImuSeries, q: np.ndarray) -> SensorSignals:
    return SensorSignals(name, s.time, s.acc, s.gyro, q, s.valid, s.rate_hz, 12.0, "test frame", "")


def test_calibrate_clip_aligns_each_variant_like_its_base(fitted) -> None:  # noqa: ANN001
    """A clip with the base and a variant ``left_wrist~aug1`` (axes turned by a seen tilt Q): after
    ``calibrate_clip`` the variant's acc, gyro and orientation equal the base's (R_ws,new = R_ws R^T with
    the variant's R = R_base Q, so R_ws Q (R_base Q)^T = R_ws R_base^T)."""
    virt, profiles = fitted
    per = profiles["per-sensor"]
    Q = _seen_tilt(mean_specific_force([virt]).direction, 40.0)
    R_ws = Rotation.from_rotvec([0.2, -0.4, 1.1]).as_matrix()
    q_base = np.tile(quat_from_matrix(R_ws), (virt.n, 1))
    q_var = np.tile(quat_from_matrix(R_ws @ Q), (virt.n, 1))
    clip = Clip(clip_id="c", source="synthetic", source_sha256="", source_kind="motion", source_rate_hz=50.0,
                duration_s=float(virt.time[-1]), config="",
                sensors={"left_wrist": _sig("left_wrist", virt, q_base),
                         "left_wrist~aug1": _sig("left_wrist", _turned(virt, Q), q_var)})
    out = calibrate_clip(clip, per, profile_to_toml(per), placements=["left_wrist"])
    b, v = out.sensors["left_wrist"], out.sensors["left_wrist~aug1"]
    ok = b.valid
    np.testing.assert_allclose(v.acc[ok], b.acc[ok], atol=1e-9)
    np.testing.assert_allclose(v.gyro[ok], b.gyro[ok], atol=1e-9)
    np.testing.assert_allclose(matrix_from_quat(v.orientation[ok]), matrix_from_quat(b.orientation[ok]),
                               atol=1e-9)
    # the variant alone (-p left_wrist~aug1) still finds its base in the clip
    only = calibrate_clip(clip, per, profile_to_toml(per), placements=["left_wrist~aug1"])
    np.testing.assert_allclose(only.sensors["left_wrist~aug1"].acc[ok], b.acc[ok], atol=1e-9)
    # the fixed rotation does not: the variant keeps its tilt
    fixed = profiles["fixed"]
    out_f = calibrate_clip(clip, fixed, profile_to_toml(fixed), placements=["left_wrist"])
    assert np.max(np.abs(out_f.sensors["left_wrist~aug1"].acc[ok] - out_f.sensors["left_wrist"].acc[ok])) > 1


def test_mode_round_trips_and_bad_modes_are_refused(fitted) -> None:  # noqa: ANN001
    _, profiles = fitted
    for mode, p in profiles.items():
        assert profile_from_toml(profile_to_toml(p)).alignment_mode == mode
    text = profile_to_toml(profiles["fixed"]).replace('mode = "fixed"', 'mode = "sideways"')
    with pytest.raises(CalibrationError, match="alignment_mode"):
        profile_from_toml(text)
    # a profile written before the modes existed reads as fixed (what it was applied as)
    old = "\n".join(ln for ln in profile_to_toml(profiles["per-sensor"]).splitlines()
                    if not ln.startswith("alignment_mode"))
    assert profile_from_toml(old).alignment_mode == "fixed"
    one = [ImuSeries(np.arange(10.0), np.ones((10, 3)), np.zeros((10, 3)))]
    with pytest.raises(CalibrationError, match="alignment mode"):
        fit_profile(one, one, name="x", alignment_mode="sideways")


def _h5(path: Path, s: ImuSeries, sensors: dict[str, np.ndarray]) -> Path:
    q = np.tile([1.0, 0.0, 0.0, 0.0], (s.n, 1))
    sig = {name: _sig("left_wrist", _turned(s, Q), q) for name, Q in sensors.items()}
    clip = Clip(clip_id="c0", source="synthetic", source_sha256="", source_kind="motion", source_rate_hz=50.0,
                duration_s=float(s.time[-1]), config="", sensors=sig, label="walk", group="g")
    return write_clips(path, [clip])


def test_cli_alignment_flag_fit_and_apply(tmp_path, fitted) -> None:  # noqa: ANN001
    """``fit --alignment`` is stored in the profile (per-sensor by default); ``apply --alignment``
    overrides it (and the calibrated file stores the profile text that was used); with per-sensor a
    variant calibrates like its base."""
    virt, _ = fitted
    rng = np.random.default_rng(5)
    real = _moving(rng, seconds=40, rate=50.0, gain=1.6, tilt=REAL_TILT, name="r")
    Q = _seen_tilt(mean_specific_force([virt]).direction, 45.0)
    v = _h5(tmp_path / "v.h5", virt, {"left_wrist": np.eye(3), "left_wrist~aug1": Q})
    r = _h5(tmp_path / "r.h5", real, {"left_wrist": np.eye(3)})
    runner = CliRunner()
    for mode in ("fixed", "per-sensor", None):
        out = tmp_path / f"{mode}.toml"
        res = runner.invoke(calibrate_app, ["fit", "--virtual", str(v), "--real", str(r), "-p", "left_wrist",
                                            *(["--alignment", mode] if mode else []), "-o", str(out)])
        assert res.exit_code == 0, res.output
        assert load_profile(out)[0].alignment_mode == (mode or "per-sensor")
    for profile, override in (("fixed", "per-sensor"), ("per-sensor", None), ("per-sensor", "fixed")):
        c = tmp_path / f"c_{profile}_{override}.h5"
        res = runner.invoke(calibrate_app, ["apply", str(tmp_path / f"{profile}.toml"), str(v), "-o", str(c),
                                            *(["--alignment", override] if override else [])])
        assert res.exit_code == 0, res.output
        (clip,) = read_clips(c)
        used = override or profile
        assert f'alignment_mode = "{used}"' in clip.attrs["calibration_profile_toml"]
        b, va = clip.sensors["left_wrist"], clip.sensors["left_wrist~aug1"]
        gap = float(np.max(np.abs(va.acc[b.valid] - b.acc[b.valid])))
        # the file stores float32 (rounding ~1e-6 relative): measured gap ~1e-5 m/s^2 per-sensor
        assert gap < 1e-3 if used == "per-sensor" else gap > 1.0, (profile, override, gap)
    res = runner.invoke(calibrate_app, ["fit", "--virtual", str(v), "--real", str(r), "-p", "left_wrist",
                                        "--alignment", "sideways", "-o", str(tmp_path / "x.toml")])
    # an InputError: the main app prints its one line and exits 2
    assert isinstance(res.exception, CalibrationError) and "--alignment must be one of" in str(res.exception)
