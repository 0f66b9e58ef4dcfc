"""Calibration: quantile mapping, resampling, gravity alignment, device model, profiles (synthetic data)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.transform import Rotation

from imusynth.calibrate import (
    CHANNELS,
    CalibrationError,
    CalibrationProfile,
    DeviceModel,
    ImuSeries,
    QuantileMap,
    apply_profile,
    device_preset,
    distribution_distances,
    fit_alignment,
    fit_mapping,
    fit_profile,
    fit_quantile_map,
    gravity_direction,
    load_profile,
    profile_from_toml,
    profile_to_toml,
    resample,
    resample_series,
    rotation_between,
    save_profile,
)
from imusynth.core.conventions import G0

N = 100_000


# --------------------------------------------------------------------------------------------------
# Quantile mapping (acceptance 1)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "transform", "target_cdf"),
    [
        # x ~ N(0, 1) -> exp(0.5 x): lognormal with s = 0.5
        ("lognormal", lambda x: np.exp(0.5 * x), stats.lognorm(s=0.5).cdf),
        # x ~ N(0, 1) -> 3 x + 2: affine
        ("affine", lambda x: 3.0 * x + 2.0, stats.norm(loc=2.0, scale=3.0).cdf),
        # x ~ N(0, 1) -> Phi(x): uniform on [0, 1] (bounded target)
        ("uniform", stats.norm.cdf, stats.uniform().cdf),
    ],
)
def test_mapping_matches_target_distribution(rng, name, transform, target_cdf) -> None:  # noqa: ANN001
    fit_v = rng.standard_normal(N)
    fit_r = transform(rng.standard_normal(N))
    m = fit_quantile_map(fit_v, fit_r)
    fresh = rng.standard_normal(N)  # independent virtual samples, not the ones fitted on
    out = m(fresh)
    # acceptance: two-sample KS against fresh real samples < 0.02 on 100k samples (the 99.9 % critical
    # value of two 100k samples from one distribution is 1.95 sqrt(2/1e5) = 0.0087)
    assert stats.ks_2samp(out, transform(rng.standard_normal(N))).statistic < 0.02
    # and against the exact target CDF
    assert stats.kstest(out, target_cdf).statistic < 0.02


def test_mapping_recovers_the_known_transform_pointwise(rng) -> None:  # noqa: ANN001
    m = fit_quantile_map(rng.standard_normal(N), np.exp(0.5 * rng.standard_normal(N)))
    x = np.linspace(-2.5, 2.5, 101)
    # quantile estimates between the 0.6 % and 99.4 % points: standard error of a sample quantile is
    # sqrt(p(1-p)/N)/f(q) <= 0.02 in x; through the map's slope (<= 1.75 here) that is < 0.035
    np.testing.assert_allclose(m(x), np.exp(0.5 * x), atol=0.05)


def test_mapping_is_monotone_everywhere_including_tails(rng) -> None:  # noqa: ANN001
    m = fit_quantile_map(rng.standard_normal(10_000), rng.gamma(2.0, size=10_000) - 3.0)
    x = np.linspace(-20, 20, 200_001)  # far beyond the fitted range on both sides
    assert np.all(np.diff(m(x)) >= 0)
    clamp = fit_quantile_map(rng.standard_normal(10_000), rng.gamma(2.0, size=10_000), tails="clamp")
    assert np.all(np.diff(clamp(x)) >= 0)


def test_distinct_outputs_are_not_capped(rng) -> None:  # noqa: ANN001
    m = fit_quantile_map(rng.standard_normal(N), rng.laplace(size=N))
    x = rng.standard_normal(N)
    out = m(x)
    # every distinct input gives a distinct output: no snapping to levels (IMUTube's code has 100)
    assert np.unique(out).size == np.unique(x).size == N


def test_tails_linear_and_clamp() -> None:
    # exact quantiles: virtual uniform grid 0..1, real = 2 x + 1 -> slopes exactly 2
    v = np.linspace(0.0, 1.0, 10_001)
    r = 2.0 * v + 1.0
    lin = fit_quantile_map(v, r, n_knots=101)
    assert lin.lower_slope == pytest.approx(2.0, rel=1e-9)
    assert lin.upper_slope == pytest.approx(2.0, rel=1e-9)
    np.testing.assert_allclose(lin(np.array([-1.0, 0.5, 2.0])), [-1.0, 2.0, 5.0], rtol=1e-9)
    clamp = fit_quantile_map(v, r, n_knots=101, tails="clamp")
    np.testing.assert_allclose(clamp(np.array([-1.0, 0.5, 2.0])), [1.0, 2.0, 3.0], rtol=1e-9)
    assert np.isnan(lin(np.array([np.nan]))[0])


def test_tied_virtual_values_give_strictly_increasing_knots(rng) -> None:  # noqa: ANN001
    v = rng.integers(0, 5, size=10_000).astype(float)  # only 5 distinct virtual values
    m = fit_quantile_map(v, rng.standard_normal(10_000))
    # ties merged: each of the 5 values is one knot (plus at most one interpolated knot per step between them)
    assert set(range(5)) <= set(m.source.tolist()) and m.source.size <= 9
    assert np.all(np.diff(m.source) > 0) and np.all(np.diff(m.target) >= 0)
    const = fit_quantile_map(np.zeros(100), rng.standard_normal(100))  # a constant channel
    assert np.all(const(np.array([-1.0, 0.0, 3.0])) == const.target[0])


def test_bad_inputs_raise_calibration_error(rng) -> None:  # noqa: ANN001
    with pytest.raises(CalibrationError, match="needs >= 2 finite samples"):
        fit_quantile_map([1.0], rng.standard_normal(10))
    with pytest.raises(CalibrationError, match="n_knots"):
        fit_quantile_map(rng.standard_normal(10), rng.standard_normal(10), n_knots=1)
    with pytest.raises(CalibrationError, match="unknown tails"):
        fit_quantile_map(rng.standard_normal(10), rng.standard_normal(10), tails="cubic")
    with pytest.raises(CalibrationError, match="strictly increasing"):
        QuantileMap(np.array([0.0, 0.0]), np.array([0.0, 1.0]))
    with pytest.raises(CalibrationError, match="per-class mapping needs labels"):
        fit_mapping(rng.standard_normal((10, 6)), rng.standard_normal((10, 6)), per_class=True)


def test_per_class_maps_fit_each_class(rng) -> None:  # noqa: ANN001
    n = 50_000
    v = rng.standard_normal((2 * n, 6))
    lab = np.repeat(["walk", "sit"], n)
    # class-specific transforms: walk scaled by 3, sit shifted by +5
    r = np.concatenate([3.0 * rng.standard_normal((n, 6)), rng.standard_normal((n, 6)) + 5.0])
    per = fit_mapping(v, r, virtual_labels=lab, real_labels=lab, per_class=True)
    pooled = fit_mapping(v, r)
    fresh = rng.standard_normal((2 * n, 6))
    out_per = per.apply(fresh, lab)
    out_pooled = pooled.apply(fresh, lab)
    for c in range(6):
        for k, cls in enumerate(("walk", "sit")):
            sel = lab == cls
            target = r[k * n : (k + 1) * n, c]
            assert stats.ks_2samp(out_per[sel, c], target).statistic < 0.02
            # the pooled map cannot tell the classes apart: far from each class's distribution
            assert stats.ks_2samp(out_pooled[sel, c], target).statistic > 0.2
    assert sorted(per.class_maps) == ["sit", "walk"]


# --------------------------------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------------------------------


def test_resample_keeps_in_band_signal_and_removes_aliases() -> None:
    t = np.arange(0, 10, 1 / 200)
    x = np.sin(2 * np.pi * 2.0 * t) + np.sin(2 * np.pi * 80.0 * t)  # 80 Hz would alias to 20 Hz at 50 Hz
    to, y, v = resample(t, x[:, None], rate_hz=50.0)
    assert v.all()
    inner = (to > 1) & (to < 9)  # away from the filter's edge transients
    # 2 Hz passes (Butterworth 4 x 2 passes at 20 Hz: gain 1 - 1e-8) and linear interpolation of a 2 Hz sine
    # sampled at 200 Hz errs by at most (dt^2 / 8) w^2 = 5e-4; the 80 Hz part is attenuated by (20/80)^16
    np.testing.assert_allclose(y[inner, 0], np.sin(2 * np.pi * 2.0 * to[inner]), atol=2e-3)


def test_resample_never_interpolates_across_gaps() -> None:
    t = np.arange(0, 4, 0.01)
    t = np.concatenate([t[t < 1.5], t[t >= 2.5]])  # a 1 s hole in the timestamps
    x = np.ones((t.size, 1))
    valid = np.ones(t.size, dtype=bool)
    valid[(t > 3.0) & (t < 3.2)] = False  # and an invalid stretch
    to, y, v = resample(t, x, rate_hz=20.0, valid=valid)
    hole = (to > 1.5) & (to < 2.5)
    bad = (to > 3.0) & (to < 3.2)
    assert not v[hole].any() and np.isnan(y[hole]).all()
    assert not v[bad].any()
    assert v[(to < 1.45) | ((to > 2.55) & (to < 2.95))].all()


def test_resample_series_marks_label_changes_invalid() -> None:
    t = np.arange(0, 2, 0.01)
    labels = np.where(t < 1.0, "a", "b")
    s = ImuSeries(t, np.zeros((t.size, 3)), np.zeros((t.size, 3)), labels=labels)
    out = resample_series(s, rate_hz=30.0)
    assert out.labels is not None
    # each valid grid point's label equals the label of both of its neighbours in the source
    assert set(out.labels[out.valid & (out.time < 0.99)].tolist()) == {"a"}
    assert set(out.labels[out.valid & (out.time > 1.0)].tolist()) == {"b"}


# --------------------------------------------------------------------------------------------------
# Gravity alignment
# --------------------------------------------------------------------------------------------------


def test_rotation_between_is_exact() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        a, b = rng.standard_normal(3), rng.standard_normal(3)
        R = rotation_between(a, b)
        np.testing.assert_allclose(R @ (a / np.linalg.norm(a)), b / np.linalg.norm(b), atol=1e-12)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-12)
    R = rotation_between([0, 0, 1.0], [0, 0, -1.0])  # opposite vectors
    np.testing.assert_allclose(R @ [0, 0, 1.0], [0, 0, -1.0], atol=1e-12)


def _static_series(
    acc_dir: np.ndarray,
    rng: np.random.Generator,
    *,
    seconds: float = 20.0,
    rate: float = 50.0,
    name: str = "s",
) -> ImuSeries:
    n = int(seconds * rate)
    acc = G0 * acc_dir / np.linalg.norm(acc_dir) + 0.02 * rng.standard_normal((n, 3))
    gyro = 0.01 * rng.standard_normal((n, 3))
    return ImuSeries(np.arange(n) / rate, acc, gyro, name=name)


def test_alignment_recovers_a_tilt(rng) -> None:  # noqa: ANN001
    R0 = Rotation.from_rotvec([math.radians(40.0), 0.0, 0.0]).as_matrix()  # axis x, perpendicular to gravity
    virt = _static_series(np.array([0.0, 0.0, 1.0]), rng)
    real = _static_series(R0 @ np.array([0.0, 0.0, 1.0]), rng)
    g = gravity_direction([virt])
    assert g.quasi_static and g.magnitude == pytest.approx(G0, abs=0.01)
    al, why = fit_alignment([virt], [real])
    assert al is not None, why
    # noise 0.02 m/s^2 per sample over 1000 samples: direction error ~ 0.02/9.8/sqrt(1000) rad = 0.004 deg
    assert al.angle_deg == pytest.approx(40.0, abs=0.05)
    np.testing.assert_allclose(al.rotation, R0, atol=1e-3)


def test_alignment_skipped_without_gravity_or_when_small(rng) -> None:  # noqa: ANN001
    n = 1000
    no_g = ImuSeries(np.arange(n) / 50, rng.standard_normal((n, 3)), rng.standard_normal((n, 3)))
    al, why = fit_alignment([no_g], [no_g])
    assert al is None and "no gravity" in why
    virt = _static_series(np.array([0.0, 0.0, 1.0]), rng)
    real = _static_series(np.array([0.0, math.sin(0.02), math.cos(0.02)]), rng)  # 1.1 deg
    al, why = fit_alignment([virt], [real], min_angle_deg=5.0)
    assert al is None and "< 5.0 deg" in why


# --------------------------------------------------------------------------------------------------
# Device model
# --------------------------------------------------------------------------------------------------


def test_device_noise_bias_saturation_quantisation() -> None:
    n, fs = 200_000, 100.0
    dev = DeviceModel(acc_noise_density=0.002, gyro_noise_density=0.0001, acc_bias=(0.1, 0.0, -0.1))
    out = dev.apply(np.zeros((n, 6)), rate_hz=fs, rng=np.random.default_rng(0))
    # white noise of density d sampled at fs: sd = d sqrt(fs/2); sd estimated within 1 % (its relative
    # standard error is 1/sqrt(2n) = 0.16 %)
    np.testing.assert_allclose(out[:, :3].std(axis=0), 0.002 * math.sqrt(fs / 2), rtol=0.01)
    np.testing.assert_allclose(out[:, 3:].std(axis=0), 0.0001 * math.sqrt(fs / 2), rtol=0.01)
    # the mean recovers the bias within 5 standard errors of the mean (0.014/sqrt(2e5) = 3e-5)
    np.testing.assert_allclose(out[:, :3].mean(axis=0), [0.1, 0.0, -0.1], atol=2e-4)

    sat = DeviceModel(acc_range=2 * G0, gyro_range=1.0, acc_step=0.01, gyro_step=0.001)
    x = np.array([[100.0, -100.0, 1.2345, 5.0, -5.0, 0.12345]])
    y = sat.apply(x, rate_hz=fs, rng=np.random.default_rng(0))
    assert y[0, 0] <= 2 * G0 and y[0, 1] >= -2 * G0 and abs(y[0, 0]) > 2 * G0 - 0.01
    assert y[0, 2] == pytest.approx(1.23, abs=1e-12)
    assert y[0, 3] == pytest.approx(1.0) and y[0, 4] == pytest.approx(-1.0)
    assert y[0, 5] == pytest.approx(0.123, abs=1e-12)


def test_presets_are_datasheet_orders_of_magnitude() -> None:
    watch, phone = device_preset("smartwatch"), device_preset("phone")
    # BMI160 / LSM6DS-class: tens to a few hundred ug/sqrt(Hz); a few mdps/sqrt(Hz)
    for d in (watch, phone):
        assert 30e-6 * G0 < d.acc_noise_density < 300e-6 * G0
        assert math.radians(0.002) < d.gyro_noise_density < math.radians(0.02)
        assert d.gyro_range == pytest.approx(math.radians(2000.0))
    with pytest.raises(CalibrationError, match="unknown device preset"):
        device_preset("fridge")


def test_noise_is_seeded_per_clip(rng) -> None:  # noqa: ANN001
    n = 500
    s = ImuSeries(np.arange(n) / 50, rng.standard_normal((n, 3)), rng.standard_normal((n, 3)), name="clip_a")
    prof = CalibrationProfile(name="p", device=device_preset("smartwatch"), seed=7)
    a1, a2 = apply_profile(s, prof), apply_profile(s, prof)
    np.testing.assert_array_equal(a1.data, a2.data)
    other = apply_profile(ImuSeries(s.time, s.acc, s.gyro, name="clip_b"), prof)
    assert not np.array_equal(other.data, a1.data)
    assert not np.array_equal(apply_profile(s, prof, seed=8).data, a1.data)


# --------------------------------------------------------------------------------------------------
# Profiles: fit, TOML round trip, apply
# --------------------------------------------------------------------------------------------------


def _walk_like(
    rng: np.random.Generator, *, seconds: float, rate: float, gain: float, name: str, tilt_deg: float = 0.0
) -> ImuSeries:
    n = int(seconds * rate)
    t = np.arange(n) / rate
    acc = np.stack(
        [
            gain * np.sin(2 * np.pi * 1.8 * t),
            0.5 * gain * np.cos(2 * np.pi * 0.9 * t),
            G0 + gain * np.sin(2 * np.pi * 3.6 * t),
        ],
        axis=1,
    )
    acc[: int(4 * rate)] = [0.0, 0.0, G0]  # 4 s standing still first
    acc += 0.05 * rng.standard_normal((n, 3))
    gyro = np.stack([gain * 0.3 * np.sin(2 * np.pi * 0.9 * t + k) for k in range(3)], axis=1)
    gyro[: int(4 * rate)] = 0.0
    gyro += 0.01 * rng.standard_normal((n, 3))
    R = Rotation.from_rotvec([0.0, math.radians(tilt_deg), 0.0]).as_matrix()
    return ImuSeries(t, acc @ R.T, gyro @ R.T, name=name)


def test_fit_and_apply_profile_moves_virtual_onto_real(rng) -> None:  # noqa: ANN001
    virt = [_walk_like(rng, seconds=60, rate=60.0, gain=1.0, name=f"v{i}") for i in range(2)]
    real = [_walk_like(rng, seconds=60, rate=100.0, gain=2.5, name=f"r{i}", tilt_deg=25.0) for i in range(2)]
    prof, notes = fit_profile(virt, real, name="test")
    assert prof.rate_hz == pytest.approx(100.0)
    assert prof.alignment is not None and prof.alignment.angle_deg == pytest.approx(25.0, abs=0.5)
    held_v = _walk_like(rng, seconds=60, rate=60.0, gain=1.0, name="hv")
    held_r = _walk_like(rng, seconds=60, rate=100.0, gain=2.5, name="hr", tilt_deg=25.0)
    out = apply_profile(held_v, prof)
    assert out.rate_hz == pytest.approx(100.0)
    before = distribution_distances(resample_series(held_v, rate_hz=100.0).data, held_r.data)
    after = distribution_distances(out.data, held_r.data)
    for b, a in zip(before, after, strict=True):
        assert a.ks < b.ks and a.wasserstein < b.wasserstein, (b, a)
        assert a.ks < 0.05  # same generator on both sides: only sampling differences remain


def test_profile_toml_round_trip_is_exact(tmp_path, rng) -> None:  # noqa: ANN001
    v = rng.standard_normal((5000, 6))
    lab = np.where(np.arange(5000) < 2500, "a", 'b "quoted"')
    mapping = fit_mapping(v, 2 * v + 1, virtual_labels=lab, real_labels=lab, per_class=True, n_knots=1001)
    prof = CalibrationProfile(
        name="round",
        description="unit test \u00e9",
        source={"real": "x.csv"},
        rate_hz=50.0,
        mapping=mapping,
        device=device_preset("phone"),
        seed=3,
    )
    path = save_profile(prof, tmp_path / "round.toml")
    back, text = load_profile(path)
    assert text == profile_to_toml(prof)
    assert back.device == prof.device and back.seed == 3 and back.rate_hz == 50.0
    assert back.mapping is not None
    for c in range(len(CHANNELS)):
        np.testing.assert_array_equal(back.mapping.maps[c].source, mapping.maps[c].source)
        np.testing.assert_array_equal(back.mapping.maps[c].target, mapping.maps[c].target)
    assert sorted(back.mapping.class_maps) == sorted(mapping.class_maps)
    x = rng.standard_normal((100, 6))
    np.testing.assert_array_equal(back.mapping.apply(x, lab[:100]), mapping.apply(x, lab[:100]))
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_bad_profiles_are_refused() -> None:
    with pytest.raises(CalibrationError, match="not valid TOML"):
        profile_from_toml("schema = ")
    with pytest.raises(CalibrationError, match="schema"):
        profile_from_toml('schema = "other/1"')
    with pytest.raises(CalibrationError, match="unknown device keys"):
        profile_from_toml('schema = "imusynth-calibration/1"\n[device]\nvolume = 3.0\n')
    with pytest.raises(CalibrationError, match="must be > 0"):
        profile_from_toml('schema = "imusynth-calibration/1"\n[device]\nacc_range = -1.0\n')
    with pytest.raises(CalibrationError, match="units must be"):
        profile_from_toml('schema = "imusynth-calibration/1"\n[units]\nacc = "g"\n')


def test_shipped_profiles_load() -> None:
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "calibration" / "profiles"
    paths = sorted(folder.glob("*.toml"))
    assert paths, "calibration/profiles/ holds no profile"
    for p in paths:
        prof, _ = load_profile(p)
        assert prof.name == p.stem
