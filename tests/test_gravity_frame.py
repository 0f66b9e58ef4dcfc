"""Gravity-frame export channels: invariant to the heading and to a fixed mounting rotation, to float
precision (float64 inside; the windows file stores float32), and close to the true vertical."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from imusynth.core.conventions import G0, matrix_from_quat
from imusynth.core.motion import Motion
from imusynth.core.mounting import Distribution, MountingSpec, draw_mountings
from imusynth.core.sensors import simulate
from imusynth.har.errors import HarError
from imusynth.har.gravity_frame import (
    ESTIMATORS,
    GRAVITY_CHANNELS,
    gravity_features,
    gravity_up,
    to_gravity_frame,
)
from tests.test_augment import _rigid_placement
from tests.test_physics import SOURCE_HZ, rigid_motion

RATE = 50.0
#: float64 rounding of sums and products of O(10) values over a few thousand filter steps
TOL = 1e-9


@pytest.fixture(scope="module")
def signals():
    t = np.arange(0.0, 20.0, 1 / SOURCE_HZ)
    return simulate(rigid_motion(t), [_rigid_placement()], rate_hz=RATE, cutoff_hz=None)["s"]


def _features(acc, gyro, valid, method):
    return gravity_features(acc, gyro, gravity_up(acc, gyro, valid, rate_hz=RATE, method=method))


@pytest.mark.parametrize("method", ESTIMATORS)
def test_invariant_to_a_fixed_mounting_rotation(signals, method):
    """Signals of a sensor turned by a constant random R (R^T acc, R^T gyro) give the same channels."""
    v = signals.valid
    base = _features(signals.acc, signals.gyro, v, method)
    for seed in range(5):
        R = Rotation.random(random_state=seed).as_matrix()
        turned = _features(signals.acc @ R, signals.gyro @ R, v, method)   # rows: (R^T x)^T = x^T R
        assert np.abs(turned[v] - base[v]).max() < TOL


@pytest.mark.parametrize("method", ESTIMATORS)
def test_invariant_to_a_heading_rotation(signals, method):
    """A rotation about the sensor's (mean) vertical - an unknown heading - changes nothing."""
    v = signals.valid
    up = gravity_up(signals.acc, signals.gyro, v, rate_hz=RATE, method=method)
    axis = np.nanmean(up, axis=0)
    base = gravity_features(signals.acc, signals.gyro, up)
    rng = np.random.default_rng(0)
    for angle in rng.uniform(-np.pi, np.pi, 4):
        R = Rotation.from_rotvec(angle * axis / np.linalg.norm(axis)).as_matrix()
        turned = _features(signals.acc @ R, signals.gyro @ R, v, method)
        assert np.abs(turned[v] - base[v]).max() < TOL
    # the sensor-frame signals themselves do change (the test is not vacuous)
    assert np.abs(signals.acc[v] @ R - signals.acc[v]).max() > 1.0


def test_invariant_to_the_subject_heading_in_the_world():
    """The whole motion turned about the world vertical: same channels (the sensor frame moves along)."""
    t = np.arange(0.0, 12.0, 1 / SOURCE_HZ)
    m = rigid_motion(t)
    Rz = Rotation.from_euler("z", 73.0, degrees=True).as_matrix()
    turned = Motion(m.time, m.names, m.xyz @ Rz.T)
    a = simulate(m, [_rigid_placement()], rate_hz=RATE, cutoff_hz=None)["s"]
    b = simulate(turned, [_rigid_placement()], rate_hz=RATE, cutoff_hz=None)["s"]
    v = a.valid
    fa, fb = (_features(s.acc, s.gyro, s.valid, "complementary") for s in (a, b))
    assert np.abs(fa[v] - fb[v]).max() < 1e-8      # the spline of rotated points: rounding only


def test_mounting_variants_give_the_base_channels():
    """Zero-offset augmentation variants (random rotations, flips included) export the base's channels."""
    t = np.arange(0.0, 12.0, 1 / SOURCE_HZ)
    spec = MountingSpec(Distribution("normal", 0.0, 60.0), Distribution("normal", 0.0, 20.0),
                        Distribution("fixed", 0.0), (0.25, 0.25, 0.25, 0.25))
    out = simulate(rigid_motion(t), [_rigid_placement()], rate_hz=RATE, cutoff_hz=None,
                   mountings={"s": draw_mountings(spec, 4, 11)})
    base = out["s"]
    v = base.valid
    chans = tuple(f"s.{c}" for c in ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"))
    fb, names = to_gravity_frame(np.hstack([base.acc, base.gyro]), v, chans, rate_hz=RATE)
    assert names == tuple(f"s.{c}" for c in GRAVITY_CHANNELS)
    for k in range(1, 5):
        var = out[f"s~aug{k}"]
        fv, _ = to_gravity_frame(np.hstack([var.acc, var.gyro]), v, chans, rate_hz=RATE)
        assert np.abs(fv[v] - fb[v]).max() < TOL


def test_at_rest_and_definitions():
    n = 400
    R = Rotation.random(random_state=3).as_matrix()
    acc = np.tile(R.T @ [0.0, 0.0, G0], (n, 1))            # a still sensor at an arbitrary attitude
    gyro = np.zeros((n, 3))
    valid = np.ones(n, dtype=bool)
    for method in ESTIMATORS:
        f = _features(acc, gyro, valid, method)
        assert np.allclose(f[:, 0], G0, atol=1e-12) and np.allclose(f[:, 1], 0.0, atol=1e-6)
        assert np.allclose(f[:, 2], G0, atol=1e-12) and np.allclose(f[:, 3:], 0.0)
    # vertical and horizontal parts recombine into the norm
    rng = np.random.default_rng(1)
    a, g = rng.normal(size=(50, 3)) * 5, rng.normal(size=(50, 3))
    up = rng.normal(size=(50, 3))
    up /= np.linalg.norm(up, axis=1, keepdims=True)
    f = gravity_features(a, g, up)
    assert np.allclose(f[:, 0] ** 2 + f[:, 1] ** 2, f[:, 2] ** 2)
    assert np.allclose(f[:, 3] ** 2 + f[:, 4] ** 2, f[:, 5] ** 2)
    assert np.allclose(f[:, 3], np.einsum("ij,ij->i", g, up))


def test_invalid_samples_split_the_estimate():
    n = 300
    acc = np.tile([0.0, 0.0, G0], (n, 1))
    acc[100:150] = np.nan
    valid = np.isfinite(acc).all(axis=1)
    up = gravity_up(acc, np.zeros((n, 3)), valid, rate_hz=RATE)
    assert np.isnan(up[100:150]).all() and np.allclose(up[valid], [0.0, 0.0, 1.0])


def test_complementary_filter_tracks_the_vertical(signals):
    """On the rigid test motion (centripetal acceleration as large as g, turning 1.2 rad/s) the estimate
    stays within a few degrees of the true vertical; the low-pass estimate does not (regression bounds,
    measured 1.7 / 7.0 degrees median / 95th percentile, and 39 degrees median for the low-pass)."""
    v = signals.valid
    true_up = matrix_from_quat(signals.orientation[v])[:, 2, :]          # R^T e_z
    err = {}
    for method in ESTIMATORS:
        up = gravity_up(signals.acc, signals.gyro, v, rate_hz=RATE, method=method)[v]
        err[method] = np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", up, true_up), -1.0, 1.0)))
    assert np.median(err["complementary"]) < 2.5 and np.percentile(err["complementary"], 95) < 10.0
    assert np.median(err["lowpass"]) > 20.0


def test_bad_channels_and_options():
    with pytest.raises(HarError, match="not sensor-frame"):
        to_gravity_frame(np.zeros((10, 6)), np.ones(10, bool), ["s.a", "s.b", "s.c", "s.d", "s.e", "s.f"],
                         rate_hz=RATE)
    with pytest.raises(HarError, match="6 channels"):
        to_gravity_frame(np.zeros((10, 5)), np.ones(10, bool), ["s.acc_x"] * 5, rate_hz=RATE)
    with pytest.raises(HarError, match="unknown gravity estimator"):
        gravity_up(np.zeros((10, 3)), np.zeros((10, 3)), np.ones(10, bool), rate_hz=RATE, method="kalman")


def test_export_frame_gravity(tmp_path):
    """``export --frame gravity``: six channels per sensor, variants' windows equal the base's."""
    from imusynth.cli.har import windows_from_files
    from imusynth.io.hdf5 import Clip, write_clips

    t = np.arange(0.0, 12.0, 1 / SOURCE_HZ)
    spec = MountingSpec(Distribution("normal", 0.0, 45.0), Distribution("normal", 0.0, 15.0),
                        Distribution("fixed", 0.0))
    sensors = simulate(rigid_motion(t), [_rigid_placement()], rate_hz=RATE, cutoff_hz=None,
                       mountings={"s": draw_mountings(spec, 2, 5)})
    clip = Clip(clip_id="c", source="synthetic", source_sha256="0" * 64, source_kind="motion",
                source_rate_hz=SOURCE_HZ, duration_s=float(t[-1]), config="", sensors=sensors, label="spin")
    path = tmp_path / "c.h5"
    write_clips(path, [clip])
    ws = windows_from_files([path], window_s=2.0, overlap=0.5, rate_hz=RATE, frame="gravity")
    assert ws.channels == tuple(f"s.{c}" for c in GRAVITY_CHANNELS)
    base = ws.X[ws.clip == "c"]
    for k in (1, 2):
        # the file stores float32 signals: agreement to float32 precision of O(10) values
        assert np.abs(ws.X[ws.clip == f"c~aug{k}"] - base).max() < 1e-4
    with pytest.raises(HarError, match="--frame"):
        windows_from_files([path], frame="world")
    # a windows file is used as it is, so its frame must be the one asked for
    from imusynth.har import save_windows

    wfile = tmp_path / "w.h5"
    save_windows(ws, wfile)
    assert len(windows_from_files([wfile], frame="gravity")) == len(ws)
    with pytest.raises(HarError, match="gravity-frame windows"):
        windows_from_files([wfile])
    sensor = tmp_path / "ws.h5"
    save_windows(windows_from_files([path], window_s=2.0, overlap=0.5, rate_hz=RATE), sensor)
    with pytest.raises(HarError, match="sensor-frame windows"):
        windows_from_files([sensor], frame="gravity")
