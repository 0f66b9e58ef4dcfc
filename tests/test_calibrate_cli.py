"""``calibrate fit`` / ``calibrate apply`` / ``calibrate device`` on files (synthetic imusynth/1 and CSV)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from imusynth.calibrate import CalibrationError, distribution_distances, load_profile, profile_from_toml
from imusynth.cli.calibrate import apply_file, calibrate_app, fit_files
from imusynth.core.conventions import G0
from imusynth.core.sensors import SensorSignals
from imusynth.io.hdf5 import Clip, read_clips, validate_file, write_clips

TILT = Rotation.from_rotvec([math.radians(30.0), 0.0, 0.0]).as_matrix()


def _signals(
    rng: np.random.Generator, *, seconds: float, rate: float, gain: float, tilt: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = int(seconds * rate)
    t = np.arange(n) / rate
    acc = np.stack(
        [
            gain * np.sin(2 * np.pi * 1.7 * t),
            gain * 0.5 * np.sin(2 * np.pi * 0.8 * t),
            G0 + gain * np.sin(2 * np.pi * 3.4 * t),
        ],
        axis=1,
    )
    acc[: int(3 * rate)] = [0.0, 0.0, G0]  # standing still for 3 s
    acc += 0.05 * rng.standard_normal((n, 3))
    gyro = np.stack([0.4 * gain * np.sin(2 * np.pi * 0.8 * t + k) for k in range(3)], axis=1)
    gyro[: int(3 * rate)] = 0.0
    gyro += 0.01 * rng.standard_normal((n, 3))
    if tilt is not None:
        acc, gyro = acc @ tilt.T, gyro @ tilt.T
    return t, acc, gyro


def _virtual_file(path: Path, rng: np.random.Generator, *, n_clips: int = 2) -> Path:
    clips = []
    for i in range(n_clips):
        t, acc, gyro = _signals(rng, seconds=40, rate=60.0, gain=1.0)
        q = np.tile([1.0, 0.0, 0.0, 0.0], (t.size, 1))
        valid = np.ones(t.size, dtype=bool)
        valid[700:730] = False
        acc[~valid] = np.nan
        gyro[~valid] = np.nan
        sig = SensorSignals("left_wrist", t, acc, gyro, q, valid, 60.0, 12.0, "test frame", "[placements.x]")
        clips.append(
            Clip(
                clip_id=f"clip{i}",
                source="synthetic",
                source_sha256="",
                source_kind="motion",
                source_rate_hz=60.0,
                duration_s=float(t[-1]),
                config="",
                sensors={"left_wrist": sig},
                label="walk",
                group=f"g{i}",
            )
        )
    return write_clips(path, clips)


def _real_csv(path: Path, rng: np.random.Generator) -> Path:
    t, acc, gyro = _signals(rng, seconds=80, rate=100.0, gain=2.0, tilt=TILT)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("x_acc,y_acc,z_acc,x_gyro,y_gyro,z_gyro,timestamp,label\n")
        for k in range(t.size):
            row = [*acc[k], *gyro[k]]
            fh.write(",".join(f"{v:.6f}" for v in row) + f",{int(1.6e12 + 1000 * t[k])},walk\n")
    return path


def test_fit_and_apply_files(tmp_path, rng) -> None:  # noqa: ANN001
    virt = _virtual_file(tmp_path / "v.h5", rng)
    real = _real_csv(tmp_path / "real.csv", rng)
    prof_path = tmp_path / "profiles" / "watch.toml"
    prof, notes = fit_files([virt], [real], prof_path, placement="left_wrist", preset="spsw_har")
    assert prof_path.is_file() and prof.name == "watch"
    assert prof.rate_hz == pytest.approx(100.0)
    assert prof.alignment is not None and prof.alignment.angle_deg == pytest.approx(30.0, abs=1.0)
    assert prof.source["placement"] == "left_wrist"
    assert any("aligned" in n for n in notes)
    assert prof.alignment_mode == "per-sensor"      # the default

    held = _virtual_file(tmp_path / "held.h5", rng, n_clips=1)
    out, n = apply_file(prof_path, held, tmp_path / "cal.h5")
    assert n == 1 and validate_file(out) == []
    (clip,) = read_clips(out)
    assert clip.attrs["calibration_profile"] == "watch"
    assert clip.attrs["calibration_profile_toml"] == prof_path.read_text(encoding="utf-8")
    assert profile_from_toml(clip.attrs["calibration_profile_toml"]).name == "watch"
    assert clip.attrs["calibration_seed"] == 0
    sig = clip.sensors["left_wrist"]
    assert sig.rate_hz == pytest.approx(100.0)
    np.testing.assert_allclose(np.diff(sig.time), 0.01, atol=1e-9)
    # the invalid stretch stays invalid (NaN) after resampling
    gap = (sig.time > 700 / 60 + 0.02) & (sig.time < 729 / 60 - 0.02)
    assert gap.any() and not sig.valid[gap].any() and np.isnan(sig.acc[gap]).all()
    # orientation: identity virtual frame, rotated by the alignment: R_ws_new = R^T
    q = sig.orientation[sig.valid][0]
    expected = Rotation.from_matrix(prof.alignment.rotation.T).as_quat(scalar_first=True)
    assert abs(abs(float(np.dot(q, expected))) - 1.0) < 1e-6
    # distributions: the calibrated held-out clip is closer to real than the raw one, every channel
    _, ra, rg = _signals(rng, seconds=80, rate=100.0, gain=2.0, tilt=TILT)
    real_data = np.concatenate([ra, rg], axis=1)
    (raw,) = read_clips(held)
    raw_data = np.concatenate([raw.sensors["left_wrist"].acc, raw.sensors["left_wrist"].gyro], axis=1)
    cal_data = np.concatenate([sig.acc, sig.gyro], axis=1)
    before = distribution_distances(raw_data, real_data)
    after = distribution_distances(cal_data, real_data)
    for b, a in zip(before, after, strict=True):
        assert a.ks < b.ks and a.wasserstein < b.wasserstein, (b, a)


def test_apply_refuses_a_missing_sensor(tmp_path, rng) -> None:  # noqa: ANN001
    virt = _virtual_file(tmp_path / "v.h5", rng, n_clips=1)
    runner = CliRunner()
    res = runner.invoke(calibrate_app, ["device", "phone", "-o", str(tmp_path / "phone.toml")])
    assert res.exit_code == 0, res.output
    with pytest.raises(CalibrationError, match="has no sensor 'chest'"):
        apply_file(tmp_path / "phone.toml", virt, tmp_path / "o.h5", placements=["chest"])
    assert not (tmp_path / "o.h5").exists()


def test_cli_fit_apply_device(tmp_path, rng) -> None:  # noqa: ANN001
    virt = _virtual_file(tmp_path / "v.h5", rng, n_clips=1)
    real = _real_csv(tmp_path / "real.csv", rng)
    runner = CliRunner()
    res = runner.invoke(
        calibrate_app,
        [
            "fit",
            "--virtual",
            str(virt),
            "--real",
            str(real),
            "-p",
            "left_wrist",
            "--preset",
            "spsw_har",
            "--per-class",
            "--device",
            "smartwatch",
            "--rate",
            "50",
            "-o",
            str(tmp_path / "w.toml"),
            "--description",
            "unit test",
        ],
    )
    assert res.exit_code == 0, res.output
    prof, _ = load_profile(tmp_path / "w.toml")
    assert prof.rate_hz == 50.0 and prof.device.name == "smartwatch" and prof.description == "unit test"
    assert prof.mapping is not None and list(prof.mapping.class_maps) == ["walk"]
    res = runner.invoke(
        calibrate_app,
        ["apply", str(tmp_path / "w.toml"), str(virt), "-o", str(tmp_path / "c.h5"), "--seed", "5"],
    )
    assert res.exit_code == 0, res.output
    (clip,) = read_clips(tmp_path / "c.h5")
    assert clip.attrs["calibration_seed"] == 5 and clip.sensors["left_wrist"].rate_hz == 50.0
    # quantisation of the smartwatch preset: every valid acc value is a whole number of LSBs
    acc = clip.sensors["left_wrist"].acc[clip.sensors["left_wrist"].valid]
    step = prof.device.acc_step
    # stored as float32: a value of ~20 m/s^2 is exact to 2e-6, i.e. 4e-4 LSB
    np.testing.assert_allclose(acc / step, np.round(acc / step), atol=1e-3)
