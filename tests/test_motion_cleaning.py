"""Glitch cleaning on the motion path (:mod:`imusynth.core.cleaning`) and outputs no body can produce.

A synthetic Kinect v1 body (20 joints, z up) stands and swings its left forearm about the elbow; glitches
are planted into it: a one-frame jump of the wrist (removed by the Hampel test, the output near it stays
within a stated bound of the clean output), a four-frame bone-length outlier (too long for the Hampel
test; removed by the bone check, blaming the joint that moved), and a spin faster than a body can turn
(flagged: invalid samples and a warning that names the sensor and the count).
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

from imusynth.config import load_pipeline_config, with_overrides
from imusynth.core.cleaning import (
    MAX_ACC_G,
    MAX_GYRO_RAD_S,
    bone_length_outliers,
    clean_motion,
    hampel_outliers,
    implausible_samples,
    length_ratio_outliers,
    skeleton_bones,
)
from imusynth.core.conventions import G0
from imusynth.core.motion import Motion
from imusynth.core.skeletons import KINECT_V1_20
from imusynth.io.motion_job import sensors_for_motion

#: A standing body, z up, metres (the Kinect v1 joints; y is forward).
STANDING = {
    "HipCenter": (0.0, 0.0, 0.95), "Spine": (0.0, 0.0, 1.15), "ShoulderCenter": (0.0, 0.0, 1.42),
    "Head": (0.0, 0.0, 1.62),
    "ShoulderLeft": (0.18, 0, 1.42), "ElbowLeft": (0.2, 0, 1.15), "WristLeft": (0.2, 0, 0.9),
    "HandLeft": (0.2, 0, 0.82), "ShoulderRight": (-0.18, 0, 1.42), "ElbowRight": (-0.2, 0, 1.15),
    "WristRight": (-0.21, 0, 0.9), "HandRight": (-0.21, 0, 0.82), "HipLeft": (0.1, 0, 0.95),
    "KneeLeft": (0.1, 0, 0.52), "AnkleLeft": (0.1, 0, 0.1), "FootLeft": (0.1, 0.12, 0.03),
    "HipRight": (-0.1, 0, 0.95), "KneeRight": (-0.1, 0, 0.52), "AnkleRight": (-0.1, 0, 0.1),
    "FootRight": (-0.1, 0.12, 0.03),
}
W, E = KINECT_V1_20.index("WristLeft"), KINECT_V1_20.index("ElbowLeft")


def kinect_body(rate_hz: float = 30.0, seconds: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """(time (T,) s, xyz (T, 20, 3) m, z up): the body sways 2 cm at 0.5 Hz and swings its left forearm
    (wrist 0.25 m, hand 0.33 m from the elbow) +-0.6 rad at 1 Hz in the sagittal plane."""
    t = np.arange(0.0, seconds, 1.0 / rate_hz)
    xyz = np.array([STANDING[j] for j in KINECT_V1_20], dtype=np.float64)[None].repeat(t.size, axis=0)
    xyz[:, :, 0] += 0.02 * np.sin(2 * np.pi * 0.5 * t)[:, None]
    theta = 0.6 * np.sin(2 * np.pi * 1.0 * t)
    along = np.stack([0 * t, np.sin(theta), -np.cos(theta)], axis=1)
    xyz[:, W] = xyz[:, E] + 0.25 * along
    xyz[:, KINECT_V1_20.index("HandLeft")] = xyz[:, E] + 0.33 * along
    return t, xyz


def motion(t: np.ndarray, xyz: np.ndarray) -> Motion:
    return Motion(time=t, names=KINECT_V1_20, xyz=xyz, skeleton="kinect_v1")


def wrist_signals(m: Motion) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cfg = with_overrides(load_pipeline_config(None), {"output.placements": ["left_wrist"],
                                                      "output.rate_hz": 30.0})
    s = sensors_for_motion(m, cfg)["left_wrist"]
    return s.acc, s.gyro, s.valid


# --------------------------------------------------------------------------------------------------
# the rules, in closed form
# --------------------------------------------------------------------------------------------------


def test_length_ratio_rule_is_symmetric_in_log_scale() -> None:
    lengths = np.array([1.0, 1.0, 1.0, 0.71, 0.69, 1.40, 1.44, np.nan, 0.0, 1.0])
    # tolerance 0.3: accepted [0.7, 1/0.7 = 1.4286] x the median (1.0)
    np.testing.assert_array_equal(length_ratio_outliers(lengths, tolerance=0.3),
                                  [0, 0, 0, 0, 1, 0, 1, 0, 0, 0])
    assert not length_ratio_outliers(lengths, tolerance=1.0).any()
    with pytest.raises(ValueError, match="tolerance"):
        length_ratio_outliers(lengths, tolerance=0.0)


def test_kinect_v1_bones() -> None:
    names = [(KINECT_V1_20[i], KINECT_V1_20[j]) for i, j in skeleton_bones(KINECT_V1_20, "kinect_v1")]
    assert ("ShoulderLeft", "ElbowLeft") in names and ("ElbowLeft", "WristLeft") in names
    assert ("HipCenter", "HipRight") in names and ("KneeRight", "AnkleRight") in names
    assert len(names) == 13
    assert skeleton_bones(["a", "b"], None) == []


def test_clean_body_is_left_alone() -> None:
    t, xyz = kinect_body()
    cleaned, report = clean_motion(motion(t, xyz))
    assert not report.removed.any()
    np.testing.assert_array_equal(cleaned.confidence, 1.0)


# --------------------------------------------------------------------------------------------------
# a one-frame jump of the wrist
# --------------------------------------------------------------------------------------------------

#: Bounds on the cleaned output near the planted jump, against the output of the clean body: the jump
#: becomes a one-frame gap bridged by the spline through the neighbouring samples.
JUMP_ACC_BOUND = 0.05     # m/s^2 (measured 0.007; the swing's own |acc| ranges over 8.2-13.3 m/s^2)
JUMP_GYRO_BOUND = 0.01    # rad/s (measured 0.0007; the swing reaches 3.8 rad/s)


def test_one_frame_wrist_jump_is_removed() -> None:
    t, xyz = kinect_body()
    acc0, gyro0, valid0 = wrist_signals(motion(t, xyz))
    k = 50
    glitched = xyz.copy()
    glitched[k, W] += (0.0, 0.25, 0.10)                # 27 cm for one frame at 30 Hz
    cleaned, report = clean_motion(motion(t, glitched))
    assert report.jumps[:, W].tolist() == [i == k for i in range(t.size)]
    assert report.removed.sum() == 1
    assert cleaned.confidence[k, W] == 0.0

    acc1, gyro1, valid1 = wrist_signals(cleaned)
    np.testing.assert_array_equal(valid1, valid0)
    assert np.nanmax(np.abs(acc1 - acc0)) < JUMP_ACC_BOUND
    assert np.nanmax(np.abs(gyro1 - gyro0)) < JUMP_GYRO_BOUND
    # without cleaning the jump reaches the output many times over
    acc2, gyro2, _ = wrist_signals(motion(t, glitched))
    assert np.nanmax(np.abs(acc2 - acc0)) > 10 * JUMP_ACC_BOUND
    assert np.nanmax(np.abs(gyro2 - gyro0)) > 5 * JUMP_GYRO_BOUND


# --------------------------------------------------------------------------------------------------
# bone-length outliers
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("joint, blamed", [("WristLeft", "WristLeft"), ("ElbowLeft", "ElbowLeft")])
def test_four_frame_bone_length_outlier_is_removed(joint: str, blamed: str) -> None:
    t, xyz = kinect_body()
    j = KINECT_V1_20.index(joint)
    rows = slice(40, 44)
    glitched = xyz.copy()
    glitched[rows, j, 2] -= 0.15    # the wrist 15 cm lower (forearm 1.6 x), or the elbow (both arm bones)
    assert not hampel_outliers(glitched[:, j], window=5, n_sigma=4.0, min_scale=0.03).any()   # too long
    flags = bone_length_outliers(glitched, skeleton_bones(KINECT_V1_20, "kinect_v1"), tolerance=0.3)
    expected = np.zeros(flags.shape, dtype=bool)
    expected[rows, KINECT_V1_20.index(blamed)] = True
    np.testing.assert_array_equal(flags, expected)       # the shoulder, the other end, is not blamed

    cleaned, report = clean_motion(motion(t, glitched))
    np.testing.assert_array_equal(report.bones, expected)
    assert (cleaned.confidence[rows, j] == 0.0).all()


# --------------------------------------------------------------------------------------------------
# outputs beyond what a body can do
# --------------------------------------------------------------------------------------------------


def spinning(omega: float, rate_hz: float = 500.0, seconds: float = 2.0) -> Motion:
    """Three markers (O at the centre, PX and PY 0.3 m out) spinning about the vertical at ``omega`` rad/s."""
    t = np.arange(0.0, seconds, 1.0 / rate_hz)
    a = omega * t
    o = np.stack([0 * t, 0 * t, 1.0 + 0 * t], -1)
    px = o + 0.3 * np.stack([np.cos(a), np.sin(a), 0 * t], -1)
    py = o + 0.3 * np.stack([-np.sin(a), np.cos(a), 0 * t], -1)
    return Motion(time=t, names=("O", "PX", "PY"), xyz=np.stack([o, px, py], 1))


@pytest.fixture
def marker_cfg(tmp_path: Path):  # noqa: ANN201 - PipelineConfig
    f = tmp_path / "markers.toml"
    f.write_text('[placements.spin]\norigin = "O"\nprimary = "PX"\nsecondary = "PY"\n'
                 'axes = ["+x", "+y", "+z"]\n')
    return with_overrides(load_pipeline_config(None), {
        "output.placements": ["spin"], "output.placements_file": str(f), "output.rate_hz": 100.0,
        "kinematics.cutoff_hz": 30.0})


def test_bounds_in_si() -> None:
    acc = np.array([[0, 0, 15.9 * G0], [0, 0, 16.1 * G0], [np.nan] * 3, [0, 0, G0]])
    gyro = np.array([[0, 0, 34.9], [0, 0, 1.0], [np.nan] * 3, [35.1, 0, 0]])
    acc_high, gyro_high = implausible_samples(acc, gyro)
    assert acc_high.tolist() == [False, True, False, False]
    assert gyro_high.tolist() == [False, False, False, True]
    assert (MAX_GYRO_RAD_S, MAX_ACC_G) == (35.0, 16.0)


def test_impossible_spin_is_flagged(marker_cfg) -> None:  # noqa: ANN001
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # a 30 rad/s spin is possible: no warning
        slow = sensors_for_motion(spinning(30.0), marker_cfg)["spin"]
    assert slow.valid.mean() > 0.95
    np.testing.assert_allclose(slow.gyro[slow.valid, 2], 30.0, rtol=0.01)

    with pytest.warns(UserWarning) as caught:
        fast = sensors_for_motion(spinning(40.0), marker_cfg, clip_id="spinner")["spin"]
    messages = [str(w.message) for w in caught]
    flagged = [m for m in messages if "beyond what a body can do" in m]
    assert len(flagged) == 1, messages
    no_bound = dataclasses.replace(marker_cfg.clean, max_gyro_rad_s=1e9)
    unbounded = dataclasses.replace(marker_cfg, clean=no_bound)
    valid_before = sensors_for_motion(spinning(40.0), unbounded)["spin"].valid
    n = int(valid_before.sum())
    assert n > 150
    assert f"spinner: sensor spin: {n} sample(s)" in flagged[0] and "|gyro| > 35 rad/s" in flagged[0]
    assert not fast.valid.any()                        # every sample spins at 40 rad/s
    assert np.isnan(fast.gyro).all() and np.isnan(fast.acc).all()
