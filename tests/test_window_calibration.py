"""Calibration on windows files (``imusynth.har.window_calibration``; ``calibrate fit/apply`` on windows)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy import stats

from imusynth.calibrate import (
    CalibrationError,
    apply_profile,
    fit_quantile_map,
    load_profile,
    profile_from_toml,
    profile_to_toml,
)
from imusynth.cli.main import run
from imusynth.core.imu_series import ImuSeries
from imusynth.har import WindowSet, load_windows, save_windows
from imusynth.har.window_calibration import apply_window_profile, fit_window_profile

T = 50  # samples per window
RATE = 50.0
KINDS = ("acc_vert", "acc_horiz", "acc_norm", "gyro_vert", "gyro_horiz", "gyro_norm")


def _windows(X: np.ndarray, labels: list[str], *, placement: str = "left_wrist", rate: float = RATE,
             acc_unit: str = "m/s^2", kinds: tuple[str, ...] = KINDS, groups: int = 1) -> WindowSet:
    names = tuple(sorted(set(labels)))
    n = X.shape[0]
    return WindowSet(X.astype(np.float32), np.array([names.index(c) for c in labels]), names,
                     np.array([f"{placement}{i % groups}" for i in range(n)]),
                     np.array([f"c{i // 10}" for i in range(n)]), np.arange(n) * 0.5,
                     tuple(f"{placement}.{k}" for k in kinds), rate, T / rate, 0.5, "synthetic",
                     acc_unit=acc_unit)


#: Real channel c = transform c of a standard normal: the maps must recover each transform.
TRANSFORMS = (
    (lambda x: 3.0 * x + 2.0, stats.norm(loc=2.0, scale=3.0).cdf),
    (lambda x: np.exp(0.5 * x), stats.lognorm(s=0.5).cdf),
    (stats.norm.cdf, stats.uniform().cdf),
)


def _real(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    X = np.empty((n, T, len(KINDS)))
    for c in range(len(KINDS)):
        f = TRANSFORMS[c % 3][0]
        X[:, :, c] = f(rng.standard_normal((n, T))) + shift
    return X


def test_maps_move_each_channel_onto_the_real_distribution(rng) -> None:  # noqa: ANN001
    n = 2000  # 100 000 samples per channel and side
    virtual = _windows(rng.standard_normal((n, T, len(KINDS))), ["walk"] * n)
    real = _windows(_real(rng, n), ["walk"] * n, placement="imu")
    profile, notes = fit_window_profile(virtual, real, name="w")
    assert profile.applies_to == "windows" and profile.rate_hz == RATE and profile.alignment is None
    assert profile.mapping is not None and profile.mapping.channels == virtual.channels
    assert "maps on 6 channels" in notes[0]
    fresh = _windows(rng.standard_normal((n, T, len(KINDS))), ["walk"] * n)  # not the windows fitted on
    out = apply_window_profile(fresh, profile)
    assert out.X.dtype == np.float32 and out.X.shape == fresh.X.shape
    for c in range(len(KINDS)):
        # the 99.9 % critical value of two 100k samples from one distribution is 0.0087
        assert stats.kstest(out.X[:, :, c].ravel(), TRANSFORMS[c % 3][1]).statistic < 0.02, KINDS[c]
    # labels, groups, clips and starts are the input's
    for name in ("y", "group", "clip", "start_s"):
        np.testing.assert_array_equal(getattr(out, name), getattr(fresh, name))
    assert out.class_names == fresh.class_names and out.channels == fresh.channels


def test_each_sample_goes_through_its_channels_map(rng) -> None:  # noqa: ANN001
    """Memoryless and per channel: the output is exactly the channel's quantile map of each value."""
    virtual = _windows(rng.standard_normal((300, T, 6)), ["walk"] * 300)
    real = _windows(_real(rng, 300), ["walk"] * 300)
    profile, _ = fit_window_profile(virtual, real, name="w", n_knots=201)
    out = apply_window_profile(virtual, profile)
    for c in range(6):
        m = fit_quantile_map(virtual.X[:, :, c].astype(np.float64), real.X[:, :, c].astype(np.float64),
                             n_knots=201)
        expected = m(virtual.X[:, :, c].astype(np.float64)).astype(np.float32)
        np.testing.assert_allclose(out.X[:, :, c], expected, rtol=0, atol=1e-6)


def test_per_class_maps_fit_each_class_and_real_only_classes_are_pooled(rng) -> None:  # noqa: ANN001
    n = 1000
    labels_v = ["walk"] * n + ["turn"] * n
    virtual = _windows(rng.standard_normal((2 * n, T, 6)), labels_v)
    # real: walk shifted by +4, turn by -4, and a class only the real side has ("sit", shifted by +10)
    real_X = np.concatenate([_real(rng, n, 4.0), _real(rng, n, -4.0), _real(rng, 200, 10.0)])
    real = _windows(real_X, ["walk"] * n + ["turn"] * n + ["sit"] * 200, placement="imu")
    per_class, notes = fit_window_profile(virtual, real, name="pc", per_class=True)
    assert per_class.mapping is not None and sorted(per_class.mapping.class_maps) == ["turn", "walk"]
    assert notes[-1] == "per-class maps for: turn, walk"
    pooled, _ = fit_window_profile(virtual, real, name="one")
    assert pooled.mapping is not None and not pooled.mapping.class_maps
    fresh = _windows(rng.standard_normal((2 * n, T, 6)), labels_v)
    a, b = apply_window_profile(fresh, per_class), apply_window_profile(fresh, pooled)
    for cls, shift in (("walk", 4.0), ("turn", -4.0)):
        sel = fresh.labels == cls
        target = stats.norm(loc=2.0 + shift, scale=3.0).cdf  # channel 0: 3 x + 2, shifted
        assert stats.kstest(a.X[sel][:, :, 0].ravel(), target).statistic < 0.02, cls
        assert stats.kstest(b.X[sel][:, :, 0].ravel(), target).statistic > 0.2, cls  # pooled cannot
    # the pooled maps use every real window, the real-only class too, and never the labels
    shuffled = _windows(real_X, list(rng.permutation(real.labels.tolist())), placement="imu")
    again, _ = fit_window_profile(virtual, shuffled, name="one")
    for m1, m2 in zip(pooled.mapping.maps, again.mapping.maps, strict=True):
        np.testing.assert_array_equal(m1.target, m2.target)
    all_real = real_X[:, :, 0].ravel()
    assert pooled.mapping.maps[0].target[-1] == pytest.approx(all_real.max(), rel=1e-6)


def test_profile_file_round_trip_with_dotted_channel_names(rng) -> None:  # noqa: ANN001
    virtual = _windows(rng.standard_normal((100, T, 6)), ["walk"] * 50 + ["turn"] * 50)
    real = _windows(_real(rng, 100), ["walk"] * 50 + ["turn"] * 50)
    profile, _ = fit_window_profile(virtual, real, name="w", per_class=True)
    text = profile_to_toml(profile)
    assert 'applies_to = "windows"' in text and '[mapping.all."left_wrist.acc_vert"]' in text
    back = profile_from_toml(text)
    assert back.applies_to == "windows" and back.mapping is not None and back.rate_hz == RATE
    assert back.mapping.channels == profile.mapping.channels  # type: ignore[union-attr]
    np.testing.assert_array_equal(apply_window_profile(virtual, back).X,
                                  apply_window_profile(virtual, profile).X)
    # a recordings profile keeps its channels fixed; a windows profile may not carry an alignment
    with pytest.raises(CalibrationError, match="mapping.channels must be"):
        profile_from_toml(text.replace('applies_to = "windows"', 'applies_to = "recordings"'))
    with pytest.raises(CalibrationError, match="applies_to must be one of"):
        profile_from_toml(text.replace('applies_to = "windows"', 'applies_to = "clips"'))


def test_mismatches_are_refused_with_one_line(rng) -> None:  # noqa: ANN001
    X = rng.standard_normal((20, T, 6))
    virtual = _windows(X, ["walk"] * 20)
    sensor = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
    with pytest.raises(CalibrationError, match="channels differ"):
        fit_window_profile(virtual, _windows(X, ["walk"] * 20, kinds=sensor), name="w")
    with pytest.raises(CalibrationError, match="windows differ"):
        fit_window_profile(virtual, _windows(X, ["walk"] * 20, rate=100.0), name="w")
    with pytest.raises(CalibrationError, match="calibration works in SI"):
        fit_window_profile(virtual, _windows(X, ["walk"] * 20, acc_unit="g"), name="w")
    profile, _ = fit_window_profile(virtual, virtual, name="w")
    with pytest.raises(CalibrationError, match="are not the profile's"):
        apply_window_profile(_windows(X, ["walk"] * 20, kinds=sensor), profile)
    with pytest.raises(CalibrationError, match="fitted on windows files"):
        apply_profile(ImuSeries(np.arange(10) / RATE, np.zeros((10, 3)), np.zeros((10, 3))), profile)


def test_cli_fit_and_apply_on_windows_files(tmp_path: Path, rng, capsys) -> None:  # noqa: ANN001
    n = 400
    v_path, r_path = tmp_path / "virtual.h5", tmp_path / "real.h5"
    save_windows(_windows(rng.standard_normal((n, T, 6)), ["walk"] * 300 + ["turn"] * 100), v_path)
    save_windows(_windows(_real(rng, n, 1.0), ["walk"] * 200 + ["turn"] * 100 + ["sit"] * 100,
                          placement="imu", groups=4), r_path)
    prof, out = tmp_path / "w.toml", tmp_path / "v_cal.h5"
    assert run(["calibrate", "fit", "--virtual", str(v_path), "--real", str(r_path), "--per-class",
                "-o", str(prof)]) == 0
    assert run(["calibrate", "apply", str(prof), str(v_path), "-o", str(out)]) == 0
    profile, text = load_profile(prof)
    cal, raw = load_windows(out), load_windows(v_path)
    np.testing.assert_array_equal(cal.X, apply_window_profile(raw, profile).X)
    np.testing.assert_array_equal(cal.y, raw.y)
    assert cal.calibration == text
    with h5py.File(out, "r") as f:
        assert f.attrs["calibration_profile"] == "w"
        assert f.attrs["calibration_profile_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    capsys.readouterr()
    assert run(["inspect", str(out)]) == 0
    assert "calibrated profile 'w' (sha256 " in capsys.readouterr().out
    # the calibrated windows are what har-eval reads
    assert run(["har-eval", "--train", str(out), "--test", str(r_path), "--protocol", "v2r",
                "--classes", "walk,turn", "--folds", "2", "--trees", "10", "--frame", "gravity"]) == 0


def test_cli_refuses_mixed_inputs_and_recording_flags(tmp_path: Path, rng, capsys) -> None:  # noqa: ANN001
    v_path = tmp_path / "virtual.h5"
    save_windows(_windows(rng.standard_normal((40, T, 6)), ["walk"] * 40), v_path)
    csv = tmp_path / "real.csv"
    csv.write_text("time,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z\n0,0,0,9.8,0,0,0\n")
    prof = tmp_path / "w.toml"
    assert run(["calibrate", "fit", "--virtual", str(v_path), "--real", str(csv), "-o", str(prof)]) == 2
    assert "windows files on both sides or recordings on both sides" in capsys.readouterr().err
    assert run(["calibrate", "fit", "--virtual", str(v_path), "--real", str(v_path), "-p", "wrist",
                "--heading", "-o", str(prof)]) == 2
    assert "--placement, --heading: not for windows files" in capsys.readouterr().err
    assert not prof.exists()
    # recordings still need their placement
    assert run(["calibrate", "fit", "--virtual", str(csv), "--real", str(csv), "-o", str(prof)]) == 2
    assert "--placement (-p) is required" in capsys.readouterr().err
    # a windows profile is applied to one windows file, never over its input, never to a recording
    assert run(["calibrate", "fit", "--virtual", str(v_path), "--real", str(v_path), "-o", str(prof)]) == 0
    assert run(["calibrate", "apply", str(prof), str(v_path), "-o", str(v_path)]) == 2
    assert run(["calibrate", "apply", str(prof), str(csv), "-o", str(tmp_path / "x.h5")]) == 2
    assert "not a windows file" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()
