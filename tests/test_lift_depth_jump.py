"""The depth jump of a newly lifted track (docs/lifting.md, "Depth jumps"): both repairs, synthetic data.

1. :func:`imusynth.video.lift.smooth_depth` with ``max_gap_s``: a depth step across a gap that the kinematics
   stage bridges is low-passed like any other depth change, instead of reaching the accelerometer as a
   step between two runs smoothed apart.
2. :func:`~imusynth.video.lift.leg_length_outliers`: frames whose world skeleton has collapsed (legs much
   shorter than the person's usual legs) are found; a fast but real movement with rigid bones is left alone.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt
from scipy.spatial.transform import Rotation

from imusynth.core.kinematics import bridge_gaps
from imusynth.core.skeletons import MEDIAPIPE_33
from imusynth.video.lift import LiftError, leg_length_outliers, smooth_depth, standing_pose

FS = 30.0
DT = 1.0 / FS


def _peak_acceleration(t: np.ndarray, z: np.ndarray, valid: np.ndarray, *, max_gap_s: float) -> float:
    """Largest |z''| (m/s^2, second differences) once short gaps are bridged as the kinematics stage does."""
    filled, ok = bridge_gaps(t, z[:, None], valid, max_gap_s=max_gap_s)
    assert ok.all()
    return float(np.abs(np.diff(filled[:, 0], 2)).max() / DT**2)


def _step_track() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth 5.3 m for 2 s, one missing frame, then 6.3 m for 3 s (the new track's 1 m jump), on one ray."""
    t = np.arange(150) / FS
    z = np.where(t < 2.0, 5.3, 6.3)
    valid = np.ones(t.size, bool)
    valid[60] = False                                    # the frame at the jump is missing
    trans = np.stack([-0.15 * z, -0.1 * z, z], axis=1)
    trans[~valid] = np.nan
    return t, trans, valid


def test_a_depth_step_across_a_bridged_gap_is_low_passed():
    """A 1 m step across a one-frame gap: joined, its acceleration is the low-pass's, not a step's.

    Closed form of the bound: the zero-phase 2nd-order Butterworth (4th-order response) turns a step of
    height h into a curve whose peak |z''| is 0.161 h (2 pi fc)^2 (computed here on a gap-free, densely
    sampled reference step: 6.3 m/s^2 for 1 m at 1 Hz). The missing frame is interpolated linearly for
    filtering, which changes the input by at most half the step at one sample; allow 1.5x. Run apart (the
    old behaviour), the step reaches the second difference intact: about 1 m / dt^2 = 900 m/s^2.
    """
    t, trans, valid = _step_track()
    ref = np.r_[np.zeros(600), np.ones(600)]
    ref_s = sosfiltfilt(butter(2, 1.0, fs=FS * 4, output="sos"), ref, padlen=120)
    bound = float(np.abs(np.diff(ref_s, 2)).max() * (FS * 4) ** 2)       # peak |z''| of a 1 m step, m/s^2
    assert bound == pytest.approx(0.161 * (2 * np.pi) ** 2, rel=0.02)

    joined = smooth_depth(t, trans, valid, cutoff_hz=1.0, max_gap_s=0.2)
    assert np.all(np.isnan(joined[~valid])) and np.all(np.isfinite(joined[valid]))
    assert _peak_acceleration(t, joined[:, 2], valid, max_gap_s=0.2) < 1.5 * bound
    # the rays are kept: x and y scale with z
    np.testing.assert_allclose(joined[valid, :2] / joined[valid, 2:], trans[valid, :2] / trans[valid, 2:],
                               rtol=1e-12)
    # far from the step both levels are kept: 1.5 s or more away, the filter's step response (the
    # reference above) is within 0.6 mm of its end values; allow 1 mm
    np.testing.assert_allclose(joined[:15, 2], 5.3, atol=1e-3)
    np.testing.assert_allclose(joined[-45:, 2], 6.3, atol=1e-3)

    apart = smooth_depth(t, trans, valid, cutoff_hz=1.0)                  # max_gap_s = 0: the old rule
    assert _peak_acceleration(t, apart[:, 2], valid, max_gap_s=0.2) > 100.0


def test_a_real_fast_approach_across_a_gap_is_not_touched():
    """A runner approaching at 5 m/s from 12 m, one frame missing: the depth is kept at every valid frame.

    The missing frame is interpolated on the line, so the result is that of the complete run (to
    rounding). A straight line is kept by the zero-phase filter with odd-extension padding up to
    start-up transients proportional to the slope: under 1 mm at 0.8 m/s (test_lift.py), so under
    1 mm x 5 / 0.8 = 6.25 mm at 5 m/s.
    """
    t = np.arange(45) / FS
    z = 12.0 - 5.0 * t
    valid = np.ones(t.size, bool)
    valid[20] = False
    trans = np.stack([0.3 * z, -0.05 * z, z], axis=1)
    out = smooth_depth(t, trans, valid, cutoff_hz=1.0, max_gap_s=0.2)
    complete = smooth_depth(t, trans, np.ones(t.size, bool), cutoff_hz=1.0)
    np.testing.assert_allclose(out[valid], complete[valid], rtol=0, atol=1e-12)
    np.testing.assert_allclose(out[valid], trans[valid], rtol=0, atol=1e-3 * 5.0 / 0.8)


def test_gaps_longer_than_max_gap_s_are_not_joined():
    """Depth 3 m, a 1 s gap, 5 m: with max_gap_s = 0.2 s each side is still filtered alone."""
    t = np.arange(300) / FS
    z = np.where(t < 5.0, 3.0, 5.0)
    trans = np.stack([0.1 * z, 0.0 * z, z], axis=1)
    valid = np.ones(t.size, bool)
    valid[135:165] = False
    out = smooth_depth(t, trans, valid, cutoff_hz=1.0, max_gap_s=0.2)
    np.testing.assert_array_equal(out, smooth_depth(t, trans, valid, cutoff_hz=1.0))
    np.testing.assert_allclose(out[valid, 2], z[valid], atol=1e-12)       # constants are kept exactly


# --------------------------------------------------------------------------------------------------
# leg_length_outliers
# --------------------------------------------------------------------------------------------------

_IDX = {name: i for i, name in enumerate(MEDIAPIPE_33)}
_LEG_PARTS = ("knee", "ankle", "heel", "foot_index")


def _moving_body(n: int, rng: np.random.Generator, *, noise_m: float) -> np.ndarray:
    """A body doing a back flip while kicking: rigid bones, fast motion (world landmarks, (n, 33, 3), m).

    Each thigh swings +-60 deg at 2.5 Hz (opposite phases), each knee flexes 0-90 deg at the same rate,
    and the whole body turns about its left-right axis at 2 revolutions/s (a flip) and about the
    vertical at 1 revolution/s; then ``noise_m`` of isotropic Gaussian jitter is added to every
    landmark (MediaPipe's world landmarks jitter by ~1 cm).
    """
    body = standing_pose()
    t = np.arange(n) / FS
    out = np.empty((n, 33, 3))
    for k in range(n):
        pts = body.copy()
        for sign, side in ((1.0, "left"), (-1.0, "right")):
            hip = body[_IDX[f"{side}_hip"]]
            knee0 = body[_IDX[f"{side}_knee"]]
            swing = Rotation.from_rotvec([sign * np.radians(60) * np.sin(2 * np.pi * 2.5 * t[k]), 0, 0])
            flex = Rotation.from_rotvec([-np.radians(45) * (1 - np.cos(2 * np.pi * 2.5 * t[k])), 0, 0])
            for part in _LEG_PARTS:
                i = _IDX[f"{side}_{part}"]
                rel = body[i] - knee0 if part != "knee" else np.zeros(3)
                knee = hip + swing.apply(knee0 - hip)
                pts[i] = knee + (swing * flex).apply(rel)
        flip = Rotation.from_rotvec([2 * np.pi * 2.0 * t[k], 0, 0])
        turn = flip * Rotation.from_rotvec([0, 2 * np.pi * t[k], 0])
        out[k] = turn.apply(pts)
    return out + rng.normal(0.0, noise_m, out.shape)


def _scale_legs(world: np.ndarray, frame: int, factor: float) -> None:
    """Shrink (factor < 1) or stretch the legs of one frame about each hip: every leg bone scales by it."""
    for side in ("left", "right"):
        hip = world[frame, _IDX[f"{side}_hip"]].copy()
        for part in _LEG_PARTS:
            i = _IDX[f"{side}_{part}"]
            world[frame, i] = hip + factor * (world[frame, i] - hip)


def test_fast_real_motion_with_rigid_bones_is_not_flagged(rng: np.random.Generator):
    """A flip with kicking legs and 1 cm landmark jitter: the leg length stays within ~2 % (1 sd), never 15 %.

    The leg length is the mean of two legs of two ~0.42 m segments; 1 cm jitter per coordinate puts
    about 1.2 cm of noise on each segment, 1.2 cm (1.5 %) on the mean: 15 % is 10 sd.
    """
    world = _moving_body(240, rng, noise_m=0.01)
    assert not leg_length_outliers(world, tolerance=0.15).any()


def test_collapsed_skeletons_are_flagged(rng: np.random.Generator):
    """Collapsed legs at the track start (the lock-on), one short and one long frame later are found.

    With 2 mm jitter (0.3 % on the leg length: a 10x finer margin than the 3.5 % between the scale
    factors below and the thresholds 0.85 and 1/0.85 = 1.176) the outcome is exact.
    """
    world = _moving_body(120, rng, noise_m=0.002)
    expected = np.zeros(120, bool)
    for k, factor in [(0, 0.45), (1, 0.5), (2, 0.6), (3, 0.7), (4, 0.8), (50, 0.815), (60, 1.22)]:
        _scale_legs(world, k, factor)
        expected[k] = True
    for k, factor in [(70, 0.885), (80, 1.13)]:                          # within the tolerance
        _scale_legs(world, k, factor)
    world[90] = np.nan                                                    # an undetected frame
    flagged = leg_length_outliers(world, tolerance=0.15)
    np.testing.assert_array_equal(flagged, expected)
    assert not leg_length_outliers(world, tolerance=1.0).any()           # 1 keeps every frame


def test_leg_length_outliers_rejects_bad_input():
    world = np.repeat(standing_pose()[None], 5, axis=0)
    with pytest.raises(LiftError):
        leg_length_outliers(world[:, :17], tolerance=0.15)
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(LiftError):
            leg_length_outliers(world, tolerance=bad)
