"""Tests for imusynth.compare: closed-form signals with known offset, rotation and lever arm."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from imusynth.compare import (
    AXES,
    CompareError,
    apply_lever_arm,
    axis_metrics,
    band_limit,
    compare_signals,
    default_cutoff_hz,
    estimate_time_offset,
    fit_lever_arm,
    fit_rotation,
    lowpass,
    resample,
)
from imusynth.core.conventions import G0
from imusynth.errors import InputError

OFFSET_S = 1.2345  # real clock minus virtual clock
ROTATION = Rotation.from_rotvec(np.radians(30.0) * np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0))  # oblique axis
LEVER_M = np.array([0.05, -0.03, 0.08])
RATE_V = 50.0
RATE_R = 204.8


@dataclass(frozen=True)
class Motion3:
    """A smooth 3-axis motion: each axis a sum of 5 sinusoids between 0.2 and 3 Hz (analytic derivatives)."""

    freq: NDArray[np.float64]  # (2, 3, 5) Hz: [gyro, acc] x axis x term
    phase: NDArray[np.float64]
    amp: NDArray[np.float64]

    def _sum(self, k: int, t: NDArray[np.float64], deriv: bool = False) -> NDArray[np.float64]:
        arg = 2 * np.pi * self.freq[k][None] * t[:, None, None] + self.phase[k][None]
        if deriv:
            return np.sum(self.amp[k][None] * 2 * np.pi * self.freq[k][None] * np.cos(arg), axis=2)
        return np.sum(self.amp[k][None] * np.sin(arg), axis=2)

    def gyro(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """Angular velocity, rad/s (amplitude up to ~4 rad/s)."""
        return self._sum(0, t)

    def alpha(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """Exact angular acceleration, rad/s^2."""
        return self._sum(0, t, deriv=True)

    def acc(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """Specific force, m/s^2: gravity on +z plus sinusoids up to ~10 m/s^2."""
        return 2.0 * self._sum(1, t) + np.array([0.0, 0.0, G0])


@pytest.fixture
def motion() -> Motion3:
    rng = np.random.default_rng(20240611)
    return Motion3(
        freq=rng.uniform(0.2, 3.0, (2, 3, 5)),
        phase=rng.uniform(0.0, 2 * np.pi, (2, 3, 5)),
        amp=rng.uniform(0.3, 1.0, (2, 3, 5)),
    )


def _cross(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.cross(a, b)


def make_real(
    m: Motion3,
    t_r: NDArray[np.float64],
    *,
    offset_s: float = OFFSET_S,
    rotation: Rotation = ROTATION,
    lever_m: NDArray[np.float64] | None = None,
    noise: tuple[float, float] = (0.0, 0.0),
    seed: int = 7,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Real (acc, gyro) at real-clock times t_r, built from the exact motion (independent of the module)."""
    tv = t_r - offset_s
    w = m.gyro(tv)
    a = m.acc(tv)
    if lever_m is not None:
        r = np.broadcast_to(lever_m, w.shape)
        a = a + _cross(m.alpha(tv), r) + _cross(w, _cross(w, r))
    rmat = rotation.as_matrix()
    rng = np.random.default_rng(seed)
    acc_r = a @ rmat.T + rng.normal(0.0, noise[0], a.shape)
    gyro_r = w @ rmat.T + rng.normal(0.0, noise[1], w.shape)
    return acc_r, gyro_r


def rotation_error_deg(quat_wxyz: NDArray[np.float64], truth: Rotation) -> float:
    est = Rotation.from_quat(quat_wxyz, scalar_first=True)
    return float(np.degrees((est * truth.inv()).magnitude()))


T_V = np.arange(0.0, 40.0, 1.0 / RATE_V)
T_R = np.arange(-1.0, 39.5, 1.0 / RATE_R)


# --------------------------------------------------------------------------------------------------
# Step 1
# --------------------------------------------------------------------------------------------------


def test_default_cutoff_is_point_eight_of_lowest_nyquist() -> None:
    assert default_cutoff_hz(50.0, 204.8) == pytest.approx(20.0)
    assert default_cutoff_hz(204.8, 50.0, rate_common_hz=30.0) == pytest.approx(12.0)
    assert default_cutoff_hz(50.0, 204.8, cap_hz=5.0) == pytest.approx(5.0)
    assert default_cutoff_hz(50.0, 204.8, cap_hz=100.0) == pytest.approx(20.0)  # a cap never raises it
    with pytest.raises(InputError):
        default_cutoff_hz(50.0, 0.0)


@pytest.mark.parametrize("f_hz", [2.0, 15.0, 30.0])
def test_lowpass_gain_matches_butterworth(f_hz: float) -> None:
    # filtfilt of an order-4 digital Butterworth: |H|^2 = 1 / (1 + (tan(pi f/fs) / tan(pi fc/fs))^8)
    fs, fc = RATE_R, 20.0
    t = np.arange(0.0, 20.0, 1.0 / fs)
    x = np.sin(2 * np.pi * f_hz * t)
    y = lowpass(t, x, cutoff_hz=fc)[:, 0]
    gain = 1.0 / (1.0 + (np.tan(np.pi * f_hz / fs) / np.tan(np.pi * fc / fs)) ** 8)
    mid = slice(len(t) // 4, 3 * len(t) // 4)  # away from the edge transients
    # 1e-3 of the unit amplitude: the steady-state response is exact up to edge-transient residue
    np.testing.assert_allclose(y[mid], gain * x[mid], atol=1e-3)


def test_lowpass_and_resample_never_cross_invalid_samples() -> None:
    t = np.arange(0.0, 10.0, 0.01)
    x = np.sin(2 * np.pi * 0.5 * t)
    valid = np.ones(t.size, dtype=bool)
    valid[300:400] = False
    x_bad = np.where(valid, x, 1e6)  # garbage where invalid: any leak would be obvious
    y = lowpass(t, x_bad, cutoff_hz=5.0, valid=valid)[:, 0]
    assert np.all(np.isnan(y[300:400]))
    # the filter restarts on each run: each run equals the clean run filtered alone (round-off only),
    # so nothing of the 1e6 garbage leaks
    np.testing.assert_allclose(y[:300], lowpass(t[:300], x[:300], cutoff_hz=5.0)[:, 0], atol=1e-9)
    np.testing.assert_allclose(y[400:], lowpass(t[400:], x[400:], cutoff_hz=5.0)[:, 0], atol=1e-9)
    # and a 0.5 Hz sine passes a 5 Hz low-pass unchanged away from the run edges (0.3 s of edge transient)
    interior = valid & (np.abs(t - 3.5) > 0.8) & (t > 0.3) & (t < 9.7)
    np.testing.assert_allclose(y[interior], x[interior], atol=1e-3)

    t_new = np.arange(0.0, 9.99, 0.013)
    z = resample(t, x_bad, t_new, valid=valid)[:, 0]
    inside_gap = (t_new > t[299]) & (t_new < t[400])
    assert np.all(np.isnan(z[inside_gap]))
    # not-a-knot cubic spline of a 0.5 Hz sine sampled at 100 Hz: error ~ (w h)^4 / 384 ~ 2.5e-9, below 1e-7
    np.testing.assert_allclose(z[~inside_gap], np.sin(2 * np.pi * 0.5 * t_new[~inside_gap]), atol=1e-7)


def test_resample_treats_time_gaps_as_breaks() -> None:
    t = np.concatenate([np.arange(0.0, 1.0, 0.01), np.arange(2.0, 3.0, 0.01)])
    x = t.copy()
    z = resample(t, x, np.array([0.5, 1.5, 2.5]))[:, 0]
    assert z[0] == pytest.approx(0.5) and np.isnan(z[1]) and z[2] == pytest.approx(2.5)


# --------------------------------------------------------------------------------------------------
# Steps 2-4
# --------------------------------------------------------------------------------------------------


def test_time_offset_from_norms_is_sub_sample(motion: Motion3) -> None:
    acc_r, gyro_r = make_real(motion, T_R)
    bl = band_limit(T_V, motion.acc(T_V), motion.gyro(T_V), None, T_R, acc_r, gyro_r)
    est = estimate_time_offset(bl, max_lag_s=10.0)
    # grid step 20 ms; parabolic refinement of a smooth, noise-free correlation peak: within 1 ms
    assert est.offset_s == pytest.approx(OFFSET_S, abs=1e-3)
    assert est.n_channels == 2 and est.score > 0.999


def test_offset_guess_centres_the_search(motion: Motion3) -> None:
    t_r = np.arange(23.0, 60.0, 1.0 / RATE_R)  # clocks 25 s apart: outside the default +-10 s window
    acc_r, gyro_r = make_real(motion, t_r, offset_s=25.0)
    res = compare_signals(T_V, motion.acc(T_V), motion.gyro(T_V), None, t_r, acc_r, gyro_r,
                          max_lag_s=3.0, offset_guess_s=24.0)
    assert res.offset_s == pytest.approx(25.0, abs=1e-3)  # noise-free: within 1 ms, as above


def test_fit_rotation_exact_and_proper() -> None:
    rng = np.random.default_rng(3)
    gv = rng.normal(size=(200, 3))
    gr = gv @ ROTATION.as_matrix().T
    r = fit_rotation(gv, gr)
    np.testing.assert_allclose(r, ROTATION.as_matrix(), atol=1e-12)  # exact data: round-off only
    # a reflection in the data must still give a proper rotation
    r2 = fit_rotation(gv, gv * np.array([1.0, 1.0, -1.0]))
    assert np.linalg.det(r2) == pytest.approx(1.0, abs=1e-12)


def test_fit_rotation_refuses_single_axis_motion() -> None:
    gv = np.outer(np.sin(np.linspace(0, 10, 300)), [0.0, 0.0, 1.0])
    with pytest.raises(CompareError, match="one axis"):
        fit_rotation(gv, gv)


def test_fit_lever_arm_direct(motion: Motion3) -> None:
    t = T_V
    w = motion.gyro(t)
    r = np.broadcast_to(LEVER_M, w.shape)
    acc_at_lever = motion.acc(t) + np.cross(motion.alpha(t), r) + np.cross(w, np.cross(w, r))
    acc_r = acc_at_lever @ ROTATION.as_matrix().T
    est = fit_lever_arm(motion.acc(t), w, acc_r, rotation=ROTATION.as_matrix(), rate_hz=RATE_V)
    # alpha by a 4th-order difference at 50 Hz: relative error (w dt)^4/30 < 1e-3 up to 3 Hz -> far below 1 mm
    np.testing.assert_allclose(est, LEVER_M, atol=1e-3)
    # and apply_lever_arm reproduces the exact lever-arm acceleration to the same order
    np.testing.assert_allclose(
        apply_lever_arm(motion.acc(t), w, LEVER_M, rate_hz=RATE_V)[2:-2], acc_at_lever[2:-2], atol=5e-3
    )


# --------------------------------------------------------------------------------------------------
# compare_signals end to end
# --------------------------------------------------------------------------------------------------


def test_compare_noise_free(motion: Motion3) -> None:
    acc_r, gyro_r = make_real(motion, T_R)
    res = compare_signals(T_V, motion.acc(T_V), motion.gyro(T_V), None, T_R, acc_r, gyro_r)
    assert res.offset_s == pytest.approx(OFFSET_S, abs=1e-3)  # 1 ms: 1/20 of the 50 Hz grid step
    assert rotation_error_deg(res.rotation_quat, ROTATION) < 0.5
    assert res.rotation_angle_deg == pytest.approx(30.0, abs=0.5)
    assert res.lever_arm_m is None
    assert res.cutoff_hz == pytest.approx(20.0) and res.rate_hz == pytest.approx(RATE_V)
    for sig in ("acc", "gyro"):
        for ax in AXES:
            m = res.metrics[sig][ax]
            assert m.r > 0.999
            assert m.n == res.n_samples
    # the real recording covers virtual times [-2.23, 38.27] s: the overlap is at least 36 s of the 40 s grid
    assert res.n_samples >= 36.0 * RATE_V


def test_compare_with_noise(motion: Motion3) -> None:
    noise = (0.2, 0.05)  # m/s^2, rad/s per axis: a typical MEMS IMU at 200 Hz
    acc_r, gyro_r = make_real(motion, T_R, noise=noise)
    res = compare_signals(T_V, motion.acc(T_V), motion.gyro(T_V), None, T_R, acc_r, gyro_r)
    # white noise low-passed at 20 Hz of the 102.4 Hz Nyquist keeps ~sqrt(20/102.4) of its std: RMSE of the
    # aligned signals ~0.44 * noise; allow 0.7 * noise for the filter's slightly wider noise bandwidth
    for sig, sd in zip(("acc", "gyro"), noise, strict=True):
        for ax in AXES:
            assert res.metrics[sig][ax].rmse < 0.7 * sd
    assert res.offset_s == pytest.approx(OFFSET_S, abs=1e-3)  # noise averages out over ~2000 samples
    assert rotation_error_deg(res.rotation_quat, ROTATION) < 0.5


def test_compare_lever_arm(motion: Motion3) -> None:
    acc_r, gyro_r = make_real(motion, T_R, lever_m=LEVER_M)
    res = compare_signals(T_V, motion.acc(T_V), motion.gyro(T_V), None, T_R, acc_r, gyro_r, lever_arm=True)
    assert res.lever_arm_m is not None
    assert np.max(np.abs(res.lever_arm_m - LEVER_M)) < 5e-3
    assert res.offset_s == pytest.approx(OFFSET_S, abs=1e-3)
    assert rotation_error_deg(res.rotation_quat, ROTATION) < 0.5
    assert min(res.metrics["acc"][ax].r for ax in AXES) > 0.999


def test_compare_video_rate_virtual(motion: Motion3) -> None:
    t_v = np.arange(0.0, 40.0, 1.0 / 30.0)  # 30 fps video -> cutoff 12 Hz, grid at 30 Hz
    acc_r, gyro_r = make_real(motion, T_R)
    res = compare_signals(t_v, motion.acc(t_v), motion.gyro(t_v), None, T_R, acc_r, gyro_r)
    assert res.cutoff_hz == pytest.approx(12.0)
    assert res.offset_s == pytest.approx(OFFSET_S, abs=1e-3)
    assert rotation_error_deg(res.rotation_quat, ROTATION) < 0.5


def test_invalid_and_nan_spans_are_excluded(motion: Motion3) -> None:
    acc_v, gyro_v = motion.acc(T_V), motion.gyro(T_V)
    valid = np.ones(T_V.size, dtype=bool)
    valid[500:700] = False  # 4 s invalid
    acc_v[~valid] = 1e6  # garbage that would ruin every metric if it leaked
    gyro_v[~valid] = -1e6
    acc_r, gyro_r = make_real(motion, T_R)
    acc_r[5000:5100] = np.nan  # a 0.49 s dropout in the real recording (virtual time ~22.2-22.7 s)
    res = compare_signals(T_V, acc_v, gyro_v, valid, T_R, acc_r, gyro_r)
    assert res.offset_s == pytest.approx(OFFSET_S, abs=1e-3)
    assert min(res.metrics[s][a].r for s in ("acc", "gyro") for a in AXES) > 0.999
    full = compare_signals(T_V, motion.acc(T_V), motion.gyro(T_V), None, T_R, *make_real(motion, T_R))
    # at least the 200 invalid virtual samples and the 24 grid samples inside the real dropout
    # (101 real steps = 0.493 s) are missing
    assert res.n_samples <= full.n_samples - 200 - 24


def test_metrics_against_numpy() -> None:
    v = np.array([1.0, 2.0, 3.0, 4.0, np.nan, 6.0])
    r = np.array([1.5, 1.0, 3.5, 5.0, 2.0, np.nan])
    m = axis_metrics(v, r)
    vv, rr = v[:4], r[:4]  # the NaN pairs are left out
    assert m.n == 4
    assert m.r == pytest.approx(np.corrcoef(vv, rr)[0, 1], rel=1e-12)
    assert m.rmse == pytest.approx(np.sqrt(np.mean((vv - rr) ** 2)), rel=1e-12)
    assert m.nrmse == pytest.approx(m.rmse / (5.0 - 1.0), rel=1e-12)
    assert m.nrmse_std == pytest.approx(m.rmse / np.std(rr), rel=1e-12)
    assert np.isnan(axis_metrics(v, np.full(6, 2.0)).r)  # a constant real signal has no correlation


def test_compare_trivial_case_against_numpy(motion: Motion3) -> None:
    # same clock and rate; the "real" axes are the virtual axes cyclically permuted (y, z, x), which keeps
    # the norms identical, so the offset is exactly 0 and, with the rotation left out, each metric is that
    # of two known low-passed virtual axes on the virtual grid
    t = np.arange(0.0, 20.0, 0.01)
    acc, gyro = motion.acc(t), motion.gyro(t)
    perm = [1, 2, 0]
    res = compare_signals(t, acc, gyro, None, t, acc[:, perm], gyro[:, perm], estimate_rotation=False,
                          refine_iterations=0, cutoff_hz=10.0)
    assert res.offset_s == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(res.rotation_quat, [1.0, 0.0, 0.0, 0.0])
    assert res.n_samples == t.size
    for name, x in (("acc", acc), ("gyro", gyro)):
        xf = lowpass(t, x, cutoff_hz=10.0)
        for i, ax in enumerate(AXES):
            v, r = xf[:, i], xf[:, perm[i]]
            m = res.metrics[name][ax]
            # round-off only: the grid equals t up to ~1e-15 s and the spline passes through the samples
            assert m.r == pytest.approx(np.corrcoef(v, r)[0, 1], abs=1e-9)
            assert m.rmse == pytest.approx(np.sqrt(np.mean((v - r) ** 2)), rel=1e-9)
            assert m.nrmse == pytest.approx(m.rmse / (r.max() - r.min()), rel=1e-9)
            assert m.n == t.size


def test_result_serialisation(motion: Motion3) -> None:
    acc_r, gyro_r = make_real(motion, T_R, lever_m=LEVER_M)
    res = compare_signals(T_V, motion.acc(T_V), motion.gyro(T_V), None, T_R, acc_r, gyro_r, lever_arm=True)
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["offset_s"] == pytest.approx(res.offset_s)
    assert len(d["rotation_quat_wxyz"]) == 4 and len(d["lever_arm_m"]) == 3
    assert set(d["metrics"]) == {"acc", "gyro"} and set(d["metrics"]["acc"]) == set(AXES)
    assert d["metrics"]["gyro"]["y"]["n"] == res.n_samples
    table = res.to_table()
    rows = [line for line in table.splitlines() if line.startswith(("acc ", "gyro "))]
    assert len(rows) == 8 and sum(" |.| " in line for line in rows) == 2     # 3 axes and the norm, each
    assert "lever arm" in table and "NRMSE" in table
    assert set(d["magnitude"]) == {"acc", "gyro"} and d["magnitude"]["gyro"]["n"] == res.n_samples


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


def test_short_overlap_is_an_input_error(motion: Motion3) -> None:
    t_r = np.arange(10.0, 11.5, 1.0 / RATE_R)  # 1.5 s of real data
    acc_r, gyro_r = make_real(motion, t_r, offset_s=0.0)
    with pytest.raises(InputError, match="overlap"):
        compare_signals(T_V, motion.acc(T_V), motion.gyro(T_V), None, t_r, acc_r, gyro_r)


def test_constant_signals_are_an_input_error(motion: Motion3) -> None:
    acc_v = np.tile([0.0, 0.0, G0], (T_V.size, 1))
    gyro_v = np.zeros((T_V.size, 3))
    acc_r, gyro_r = make_real(motion, T_R)
    with pytest.raises(InputError, match="constant"):
        compare_signals(T_V, acc_v, gyro_v, None, T_R, acc_r, gyro_r)


def test_bad_shapes_are_an_input_error(motion: Motion3) -> None:
    acc_r, gyro_r = make_real(motion, T_R)
    with pytest.raises(InputError, match="shape"):
        compare_signals(T_V, motion.acc(T_V)[:, :2], motion.gyro(T_V), None, T_R, acc_r, gyro_r)
    with pytest.raises(InputError, match="increasing"):
        compare_signals(T_V[::-1], motion.acc(T_V), motion.gyro(T_V), None, T_R, acc_r, gyro_r)


# --------------------------------------------------------------------------------------------------
# The `imusynth compare` command (files written here: an imusynth/1 file and an Xsens-DOT-style CSV)
# --------------------------------------------------------------------------------------------------


def _write_files(tmp_path, motion: Motion3, *, n_clips: int = 1):  # noqa: ANN001, ANN202 - test helper
    from imusynth.core.sensors import SensorSignals
    from imusynth.io.hdf5 import Clip, write_clips

    n = T_V.size
    valid = np.ones(n, dtype=bool)
    valid[100:150] = False
    acc_v, gyro_v = motion.acc(T_V), motion.gyro(T_V)
    acc_v[~valid] = np.nan
    gyro_v[~valid] = np.nan
    sensor = SensorSignals(placement="left_foot", time=T_V, acc=acc_v, gyro=gyro_v,
                           orientation=np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)), valid=valid, rate_hz=RATE_V,
                           cutoff_hz=12.0, frame="test", placement_toml="")
    clips = [Clip(clip_id=f"walk{i}", source="synthetic", source_sha256="", source_kind="motion",
                  source_rate_hz=RATE_V, duration_s=float(T_V[-1]), config="", sensors={"left_foot": sensor})
             for i in range(n_clips)]
    h5 = write_clips(tmp_path / "virtual.h5", clips)
    # real: 120 Hz, microsecond clock starting at an arbitrary count, deg/s gyro (the xsens_dot layout)
    t_r = np.arange(-1.0, 39.5, 1.0 / 120.0)
    acc_r, gyro_r = make_real(motion, t_r)
    us = np.rint((t_r + 1000.0) * 1e6).astype(np.int64)  # real clock = virtual clock + 1000 s + OFFSET_S
    lines = ["SampleTimeFine,Acc_X,Acc_Y,Acc_Z,Gyr_X,Gyr_Y,Gyr_Z"]
    lines += [f"{u},{a[0]:.6f},{a[1]:.6f},{a[2]:.6f},{g[0]:.5f},{g[1]:.5f},{g[2]:.5f}"
              for u, a, g in zip(us, acc_r, np.degrees(gyro_r), strict=True)]
    csv = tmp_path / "real.csv"
    csv.write_text("\n".join(lines) + "\n")
    return h5, csv


def _cli():  # noqa: ANN202 - test helper
    import typer

    from imusynth.cli.compare import compare_cmd

    app = typer.Typer()
    app.command("compare")(compare_cmd)
    app.command("noop")(lambda: None)  # two commands, so typer keeps the subcommand name
    return app


def test_compare_command_json_and_table(tmp_path, motion: Motion3) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    h5, csv = _write_files(tmp_path, motion)
    args = ["compare", str(h5), str(csv), "--placement", "left_foot", "--real-preset", "xsens_dot",
            "--offset-guess", "1000", "--max-lag", "5"]
    out = CliRunner().invoke(_cli(), [*args, "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    # the CSV stores microseconds and 6 decimals: the offset is recovered within 1 ms as in the array tests
    assert doc["offset_s"] == pytest.approx(1000.0 + OFFSET_S, abs=1e-3)
    assert rotation_error_deg(np.array(doc["rotation_quat_wxyz"]), ROTATION) < 0.5
    assert doc["placement"] == "left_foot" and doc["metrics"]["gyro"]["x"]["r"] > 0.999
    assert doc["cutoff_hz"] == pytest.approx(12.0)  # the virtual sensor's own cut-off caps the band
    table = CliRunner().invoke(_cli(), [*args, "--start", "5", "--end", "30"])
    assert table.exit_code == 0, table.output
    assert "time offset" in table.output and len([ln for ln in table.output.splitlines()
                                                  if ln.startswith("gyro ")]) == 4   # x, y, z, |.|


def test_compare_files_errors(tmp_path, motion: Motion3) -> None:  # noqa: ANN001
    from imusynth.cli.compare import compare_files

    h5, csv = _write_files(tmp_path, motion, n_clips=2)
    with pytest.raises(InputError, match="--clip"):
        compare_files(h5, csv, placement="left_foot", real_preset="xsens_dot")
    with pytest.raises(InputError, match="no clip"):
        compare_files(h5, csv, placement="left_foot", clip_id="nope", real_preset="xsens_dot")
    with pytest.raises(InputError, match="no sensor"):
        compare_files(h5, csv, placement="wrist", clip_id="walk1", real_preset="xsens_dot")
    with pytest.raises(InputError, match="starts differ by 999.000 s"):  # real starts at 999 s, virtual at 0
        compare_files(h5, csv, placement="left_foot", clip_id="walk1", real_preset="xsens_dot")


def test_compare_errors_name_the_flags_not_the_parameters(tmp_path, motion: Motion3, shared_dir) -> None:  # noqa: ANN001
    """Issue 10: `max_lag_s`, `sensor=`, `time_column`, `rate_hz`, `cutoff_hz` reach the user as flags."""
    from typer.testing import CliRunner

    h5, csv = _write_files(tmp_path, motion)

    def error(real, *extra: str) -> str:  # noqa: ANN001
        res = CliRunner().invoke(_cli(), ["compare", str(h5), str(real), "-p", "left_foot", *extra])
        assert res.exit_code != 0 and isinstance(res.exception, InputError), res.output
        return str(res.exception)

    xsens = ("--real-preset", "xsens_dot")
    msg = error(csv, *xsens)  # the real clock starts 999 s later: the peak is outside the search window
    assert "set --offset-guess or widen --max-lag" in msg and "max_lag_s" not in msg
    assert error(csv, *xsens, "--max-lag", "-1").startswith("--max-lag must be positive")
    synced = (*xsens, "--offset-guess", "1000")
    assert error(csv, *synced, "--cutoff", "-3").startswith("--cutoff must be positive")
    assert error(csv, *synced, "--rate", "-3").startswith("--rate must be positive")
    gaitmap = shared_dir / "imu" / "gaitmap" / "imu_sample.csv"  # two sensors in one file
    msg = error(gaitmap, "--real-preset", "gaitmap")
    assert msg.endswith("choose one with --real-sensor") and "sensor=" not in msg
    # a CSV with no time column: the reader asks for time_column or rate_hz, the user reads the flags
    rows = csv.read_text().splitlines()
    plain = tmp_path / "no_time.csv"
    plain.write_text("\n".join(["acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z"]
                               + [r.split(",", 1)[1] for r in rows[1:]]) + "\n")
    msg = error(plain, "--acc-unit", "m/s^2")
    assert "give --time-column" in msg and "or --real-rate" in msg and "time_column" not in msg
    assert error(plain, "--real-rate", "120", "--acc-unit", "furlong").endswith(
        "--acc-unit: unknown acc unit 'furlong'; allowed: ['g', 'm/s2', 'm/s^2', 'mg']")
    # --real-rate reads it: row k at k / 120 s is the real-clock time t_r + 1, so the offset is 1 + OFFSET_S
    res = CliRunner().invoke(_cli(), ["compare", str(h5), str(plain), "-p", "left_foot", "--real-rate", "120",
                                      "--gyro-unit", "deg/s", "--max-lag", "5", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["offset_s"] == pytest.approx(1.0 + OFFSET_S, abs=1e-3)


def test_rephrase_matches_whole_names_only() -> None:
    from imusynth.cli._flags import rephrase

    names = {"rate_hz": "--rate", "sensor=": "--sensor", "max_lag_s": "--max-lag"}
    assert rephrase("source_rate_hz and rate_hz; sensor= or max_lag_s.", names) == (
        "source_rate_hz and --rate; --sensor or --max-lag.")
    assert rephrase("--rate_hz stays", names) == "--rate_hz stays"


# --------------------------------------------------------------------------------------------------
# Real data: one gaitmap foot recording stored in two sensor frames (../shared, never copied)
# --------------------------------------------------------------------------------------------------


def test_gaitmap_recording_against_itself_in_another_frame(shared_dir) -> None:  # noqa: ANN001
    from imusynth.io.readers.imu import read_imu

    d = shared_dir / "imu" / "gaitmap"
    foot = read_imu(d / "imu_sample.csv", preset="gaitmap", sensor="left_sensor")  # gaitmap's foot frame
    raw = read_imu(d / "imu_sample_not_rotated.csv", preset="gaitmap", sensor="left_sensor")  # sensor frame
    # the files differ by a constant rotation and nothing else; give the "real" one a 0.5 s clock shift
    # and compare on a 51.2 Hz grid (20.48 Hz band): real walking with heel strikes, not a smooth sinusoid
    halves = []
    for sl in (slice(0, 4000), slice(3900, None)):  # two halves of the 38.7 s walk, fitted separately
        res = compare_signals(foot.time[sl], foot.acc[sl], foot.gyro[sl], None, raw.time + 0.5, raw.acc,
                              raw.gyro, rate_hz=51.2)
        assert res.offset_s == pytest.approx(0.5, abs=1e-3)  # same clock: 1 ms, as in the synthetic case
        assert min(res.metrics[s][a].r for s in ("acc", "gyro") for a in AXES) > 0.999
        halves.append(Rotation.from_quat(res.rotation_quat, scalar_first=True))
    # a constant rotation: both halves agree within the 0.5 deg asked of the synthetic case
    assert np.degrees((halves[0] * halves[1].inv()).magnitude()) < 0.5


# --------------------------------------------------------------------------------------------------
# Issue 17: every search bound a flag, fixed rotation, magnitude r, a CSV read with its columns
# --------------------------------------------------------------------------------------------------


def test_short_trials_offset_near_the_old_overlap_edge(motion: Motion3) -> None:
    """3-s trials 1.2 s apart overlap by 1.8 s: under the old fixed 2-s minimum the peak is unreachable."""
    t_v = np.arange(0.0, 3.0, 1.0 / RATE_V)
    t_r = np.arange(0.0, 3.0, 1.0 / RATE_R)
    acc_r, gyro_r = make_real(motion, t_r, offset_s=1.2)
    args = (t_v, motion.acc(t_v), motion.gyro(t_v), None, t_r, acc_r, gyro_r)
    with pytest.raises(CompareError, match="overlap by less than 2 s .*lower min_overlap_s"):
        compare_signals(*args)
    res = compare_signals(*args, min_overlap_s=1.0)
    assert res.offset_s == pytest.approx(1.2, abs=1e-3)          # within 1 ms, as the long noise-free case
    assert rotation_error_deg(res.rotation_quat, ROTATION) < 0.5


def test_refinement_edge_names_refine_lag(motion: Motion3) -> None:
    acc_r, gyro_r = make_real(motion, T_R)
    turned = [0.0, 1.0, 0.0, 0.0]   # a wrong mounting (180 deg about x) drags the per-axis peak away
    args = (T_V, motion.acc(T_V), motion.gyro(T_V), None, T_R, acc_r, gyro_r)
    with pytest.raises(CompareError, match=r"edge of its search window \(\+-0.5 s .*widen refine_lag_s"):
        compare_signals(*args, rotation=turned)
    kept = compare_signals(*args, rotation=turned, refine_iterations=0)   # the rotation-free estimate
    assert kept.offset_s == pytest.approx(OFFSET_S, abs=1e-3)


W_HZ = 1.0


def _spin_pair(theta: float) -> tuple[NDArray[np.float64], ...]:
    """gyro_v = (sin wt, cos wt, s(t)) and the real one turned by ``theta`` about z; the same clock."""
    t = np.arange(0.0, 30.0, 1.0 / RATE_V)
    s = 0.8 * np.sin(2 * np.pi * 0.37 * t) + 0.5 * np.sin(2 * np.pi * 1.73 * t + 1.0)
    gyro_v = np.stack([np.sin(2 * np.pi * W_HZ * t), np.cos(2 * np.pi * W_HZ * t), s], axis=1)
    acc_v = np.stack([s, 0.3 * s**2, G0 + 0.5 * np.cos(2 * np.pi * 0.61 * t)], axis=1)
    rz = Rotation.from_euler("z", theta).as_matrix()
    return t, acc_v, gyro_v, acc_v @ rz.T, gyro_v @ rz.T


@pytest.mark.parametrize("theta, phi", [(0.7, 0.0), (0.7, 0.7), (-1.1, 0.4)])
def test_fixed_rotation_scores_in_closed_form(theta: float, phi: float) -> None:
    """Scored with Rz(phi) against a real sensor turned by Rz(theta): on x and y,
    sin(wt - phi) against sin(wt - theta): r = cos(theta - phi), RMSE = sqrt(2) |sin((theta - phi) / 2)|."""
    t, acc_v, gyro_v, acc_r, gyro_r = _spin_pair(theta)
    q = Rotation.from_euler("z", phi).as_quat(scalar_first=True)
    res = compare_signals(t, acc_v, gyro_v, None, t, acc_r, gyro_r, rotation=q, refine_iterations=0)
    assert res.rotation_given and rotation_error_deg(res.rotation_quat, Rotation.from_euler("z", phi)) < 1e-9
    assert res.offset_s == pytest.approx(0.0, abs=1e-6)
    d = theta - phi
    for ax in ("x", "y"):
        m = res.metrics["gyro"][ax]
        # 30 whole periods; band-limiting at 20 Hz and the ends of the record: within 2e-3
        assert m.r == pytest.approx(np.cos(d), abs=2e-3)
        assert m.rmse == pytest.approx(np.sqrt(2.0) * abs(np.sin(d / 2)), abs=2e-3)
    assert res.metrics["gyro"]["z"].r == pytest.approx(1.0, abs=1e-9)
    # the rotation-free magnitude r does not care which rotation was given
    assert res.magnitude["gyro"].r == pytest.approx(1.0, abs=1e-9)
    assert res.magnitude["acc"].r == pytest.approx(1.0, abs=1e-9)
    assert res.magnitude["gyro"].rmse == pytest.approx(0.0, abs=1e-9)


def test_magnitude_r_of_a_rotated_copy_is_one(motion: Motion3) -> None:
    t = T_V
    rot = ROTATION.as_matrix()
    acc, gyro = motion.acc(t), motion.gyro(t)
    # fitted, or a wrong mounting taken as given: the norms are the same (with a wrong mounting the per-axis
    # refinement would move the offset, so it keeps the rotation-free estimate)
    for kwargs in ({}, {"estimate_rotation": False, "refine_iterations": 0},
                   {"rotation": [1.0, 0.0, 0.0, 0.0], "refine_iterations": 0}):
        res = compare_signals(t, acc, gyro, None, t, acc @ rot.T, gyro @ rot.T, **kwargs)
        assert res.magnitude["acc"].r == pytest.approx(1.0, abs=1e-9), kwargs
        assert res.magnitude["gyro"].r == pytest.approx(1.0, abs=1e-9), kwargs
        assert res.magnitude["acc"].n == res.n_samples


def test_bad_rotations_are_refused() -> None:
    from imusynth.cli.compare import parse_rotation
    from imusynth.compare import as_rotation

    np.testing.assert_allclose(as_rotation([0.7071, 0.0, 0.0, 0.7071]),
                               Rotation.from_euler("z", 90, degrees=True).as_matrix(), atol=1e-9)
    with pytest.raises(CompareError, match="norm 1"):
        as_rotation([1.0, 1.0, 0.0, 0.0])
    with pytest.raises(CompareError, match="determinant"):
        as_rotation(np.diag([1.0, 1.0, -1.0]))
    assert parse_rotation("identity").tolist() == [1.0, 0.0, 0.0, 0.0]
    assert parse_rotation("0.5, 0.5,0.5,0.5").tolist() == [0.5] * 4
    with pytest.raises(InputError, match="--rotation must be"):
        parse_rotation("1,0,0")


def _write_custom_csv(tmp_path, motion: Motion3):  # noqa: ANN001, ANN202 - test helper
    """The real recording of _write_files in g and deg/s, with its own column names, ms times and labels."""
    t_r = np.arange(-1.0, 39.5, 1.0 / 120.0)
    acc_r, gyro_r = make_real(motion, t_r)
    labels = np.where(t_r < 20.0, "walk", "run")
    lines = ["stamp_ms;AX;AY;AZ;GX;GY;GZ;activity"]
    lines += [";".join([repr(float(t * 1000.0)), *(repr(float(v)) for v in a / G0),
                        *(repr(float(v)) for v in np.degrees(g)), lab])
              for t, a, g, lab in zip(t_r, acc_r, gyro_r, labels, strict=True)]
    path = tmp_path / "custom.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, t_r, acc_r, gyro_r


def test_generic_csv_read_back_in_si(tmp_path, motion: Motion3) -> None:  # noqa: ANN001
    from imusynth.io.readers.imu import read_imu

    path, t_r, acc_r, gyro_r = _write_custom_csv(tmp_path, motion)
    real = read_imu(path, acc_columns=("AX", "AY", "AZ"), gyro_columns=("GX", "GY", "GZ"),
                    time_column="stamp_ms", time_unit="ms", acc_unit="g", gyro_unit="deg/s",
                    label_column="activity")
    np.testing.assert_allclose(real.time, t_r, rtol=0, atol=1e-12)
    np.testing.assert_allclose(real.acc, acc_r, rtol=1e-13, atol=1e-12)      # g -> m/s^2 by G0
    np.testing.assert_allclose(real.gyro, gyro_r, rtol=1e-13, atol=1e-12)    # deg/s -> rad/s
    assert real.labels is not None and set(real.labels) == {"walk", "run"}


def test_compare_command_reads_any_csv_and_takes_every_bound(tmp_path, motion: Motion3) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    h5, _ = _write_files(tmp_path, motion)
    path, _, _, _ = _write_custom_csv(tmp_path, motion)
    cols = ["--acc-columns", "AX,AY,AZ", "--gyro-columns", "GX,GY,GZ", "--time-column", "stamp_ms",
            "--time-unit", "ms", "--acc-unit", "g", "--gyro-unit", "deg/s", "--label-column", "activity"]
    base = ["compare", str(h5), str(path), "-p", "left_foot", *cols, "--max-lag", "3"]
    out = CliRunner().invoke(_cli(), [*base, "--json", "--refine-lag", "0.3", "--min-overlap", "5",
                                      "--refine-iterations", "2"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["offset_s"] == pytest.approx(OFFSET_S, abs=1e-3)
    assert doc["magnitude"]["gyro"]["r"] > 0.999 and not doc["rotation_given"]
    # the virtual clip spans 0..40 s, i.e. real times OFFSET_S..41.2 s; the real file ends at 39.5 s
    assert set(doc["real_labels"]) == {"walk", "run"}
    fixed = CliRunner().invoke(_cli(), [*base, "--json", "--rotation", ",".join(
        f"{v:.9f}" for v in ROTATION.as_quat(scalar_first=True))])
    assert fixed.exit_code == 0, fixed.output
    doc = json.loads(fixed.output)
    assert doc["rotation_given"] and min(doc["metrics"]["gyro"][a]["r"] for a in AXES) > 0.999

    def error(*extra: str) -> str:
        res = CliRunner().invoke(_cli(), [*base, *extra])
        assert res.exit_code != 0 and isinstance(res.exception, InputError), res.output
        return str(res.exception)

    msg = error("--min-overlap", "-1")
    assert "--min-overlap > 0" in msg and "min_overlap_s" not in msg, msg
    assert "widen --refine-lag" in error("--rotation", "0,1,0,0")
    assert "--rotation or --no-rotation, not both" in error("--rotation", "identity", "--no-rotation")
    assert error("--acc-columns", "AX,AY").startswith("--acc-columns must name 3 columns")
    assert "AQ" in error("--acc-columns", "AX,AY,AQ")
