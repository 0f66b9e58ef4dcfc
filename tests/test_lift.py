"""Tests of stage 3 (imusynth.video.lift): PnP placement of metric landmarks and depth smoothing.

The synthetic body is :func:`imusynth.video.lift.standing_pose` (33 MediaPipe landmarks, about 1.7 m tall),
moved by a known rigid motion and projected by a known camera (1280x720, 60 deg horizontal FOV).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from imusynth.video.camera import CameraIntrinsics
from imusynth.video.lift import (
    LiftedFrame,
    LiftError,
    body_trajectory,
    lift_frame,
    smooth_depth,
    stack_frames,
    standing_pose,
)

W, H, FOV = 1280, 720, 60.0
K = CameraIntrinsics.from_fov(W, H, FOV).K
BODY = standing_pose()
#: left hand occluded (wrist, pinky, index, thumb)
OCCLUDED = [15, 17, 19, 21]


def project(Xc: np.ndarray) -> np.ndarray:
    """Ideal pinhole projection (independent of the module's own code)."""
    return (K @ (Xc / Xc[:, 2:3]).T).T[:, :2]


Vec3 = tuple[float, float, float]


def pose(angles_deg: Vec3, t: Vec3) -> tuple[np.ndarray, np.ndarray]:
    """Rotation from (yaw about y, pitch about x, roll about z) in degrees, and a translation in metres."""
    R = Rotation.from_euler("yxz", list(angles_deg), degrees=True).as_matrix()
    return R, np.asarray(t, dtype=float)


def point_std_crb(R: np.ndarray, t: np.ndarray, used: np.ndarray, sigma_px: float) -> np.ndarray:
    """First-order (Cramer-Rao) standard deviation (33, 3) of each camera-frame point, m.

    For Gaussian pixel noise of std ``sigma_px`` the least-squares pose has covariance
    ``sigma^2 (J^T J)^-1`` (J: derivatives of the used landmarks' projections with respect to the
    6 pose parameters, here by central differences), propagated to the points through their own
    derivatives. Valid while the noise is small against the body's image size (it is: 2 px vs
    >= 200 px) and the Huber loss stays quadratic (10 px threshold = 5 sigma per axis).
    """

    def points(theta: np.ndarray) -> np.ndarray:
        Rt = Rotation.from_rotvec(theta[:3]).as_matrix() @ R
        return BODY @ Rt.T + t + theta[3:]

    def jac(fun, h: float = 1e-6) -> np.ndarray:
        cols = []
        for k in range(6):
            e = np.zeros(6)
            e[k] = h
            cols.append((fun(e) - fun(-e)) / (2 * h))
        return np.stack(cols, axis=1)

    J = jac(lambda th: project(points(th))[used].ravel())
    cov = sigma_px**2 * np.linalg.inv(J.T @ J)
    G = jac(lambda th: points(th).ravel())
    return np.sqrt(np.einsum("ij,jk,ik->i", G, cov, G)).reshape(33, 3)


# --------------------------------------------------------------------------------------------------
# lift_frame: noise-free
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("angles", "t"),
    [
        ((0.0, 0.0, 0.0), (0.0, 0.0, 2.0)),
        ((30.0, 8.0, -5.0), (0.6, 0.2, 3.5)),
        ((-120.0, -10.0, 12.0), (-1.0, 0.4, 6.0)),  # seen from behind-left
        ((90.0, 0.0, 0.0), (0.3, -0.1, 4.0)),  # side view
    ],
)
def test_noise_free_recovers_the_camera_frame_points(angles, t):
    R, t = pose(angles, t)
    Xc = BODY @ R.T + t
    uv = project(Xc)
    w = np.ones(33)
    w[OCCLUDED] = 0.0
    uv[OCCLUDED] = [5000.0, -3000.0]  # occluded landmarks hold garbage that must not matter
    fr = lift_frame(BODY, uv, w, K)
    assert fr.ok, fr.reason
    assert fr.n_used == 33 - len(OCCLUDED)
    # the solver stops once a step moves the body by < 1 micrometre and converges quadratically,
    # so noise-free data is recovered far below the 1 mm requirement
    np.testing.assert_allclose(fr.points, Xc, atol=1e-6)
    np.testing.assert_allclose(fr.R, R, atol=1e-8)
    np.testing.assert_allclose(fr.t, t, atol=1e-6)
    assert fr.rms_px < 1e-6
    np.testing.assert_allclose(fr.R @ fr.R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(fr.R) == pytest.approx(1.0, abs=1e-12)


def test_tracking_with_prev_follows_a_turning_walking_body():
    """60 frames: the body turns 90 deg and walks from 2 m to 6 m; each frame starts from the last."""
    prev = None
    rng = np.random.default_rng(3)
    for k in range(60):
        s = k / 59
        R, t = pose((90.0 * s, 5.0 * math.sin(6 * s), 0.0), (0.5 - s, 0.1, 2.0 + 4.0 * s))
        Xc = BODY @ R.T + t
        w = np.where(rng.random(33) < 0.15, 0.0, rng.uniform(0.6, 1.0, 33))  # random occlusion
        fr = lift_frame(BODY, project(Xc), w, K, prev=prev)
        assert fr.ok, (k, fr.reason)
        np.testing.assert_allclose(fr.points, Xc, atol=1e-6)  # as in the single-frame test
        prev = fr


def test_fallback_start_without_sqpnp_or_prev(monkeypatch):
    """When SQPnP is unavailable the camera-aligned weak-perspective start still converges."""
    import cv2

    def broken(*args, **kwargs):
        raise cv2.error("SQPnP unavailable")

    monkeypatch.setattr("imusynth.video.lift.pnp.cv2.solvePnP", broken)
    for yaw in (-50.0, 0.0, 50.0):
        R, t = pose((yaw, 10.0, 5.0), (-0.4, 0.3, 3.0))
        Xc = BODY @ R.T + t
        fr = lift_frame(BODY, project(Xc), np.ones(33), K)
        assert fr.ok, fr.reason
        np.testing.assert_allclose(fr.points, Xc, atol=1e-6)  # as in the noise-free test


def test_a_stale_prev_falls_back_to_the_global_start():
    """prev from a body facing the camera; now it shows its back, 2 m further: still exact."""
    R, t = pose((0.0, 0.0, 0.0), (0.0, 0.0, 3.0))
    prev = lift_frame(BODY, project(BODY @ R.T + t), np.ones(33), K)
    R, t = pose((170.0, 0.0, 0.0), (0.5, 0.0, 5.0))
    Xc = BODY @ R.T + t
    fr = lift_frame(BODY, project(Xc), np.ones(33), K, prev=prev)
    assert fr.ok, fr.reason
    np.testing.assert_allclose(fr.points, Xc, atol=1e-6)  # as in the noise-free test


def test_weights_below_min_weight_are_left_out_and_nan_world_points_stay_nan():
    R, t = pose((20.0, 0.0, 0.0), (0.0, 0.0, 3.0))
    Xc = BODY @ R.T + t
    uv = project(Xc)
    w = np.full(33, 0.9)
    w[:5] = 0.3  # below the default min_weight 0.5
    uv[:5] += 200.0  # displaced: would spoil the fit if used
    world = BODY.copy()
    world[32] = np.nan
    fr = lift_frame(world, uv, w, K)
    assert fr.ok and fr.n_used == 33 - 5 - 1
    assert np.all(np.isnan(fr.points[32]))
    np.testing.assert_allclose(fr.points[:32], Xc[:32], atol=1e-6)


# --------------------------------------------------------------------------------------------------
# lift_frame: pixel noise
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [2.0, 4.0, 6.0])
def test_noise_errors_match_the_first_order_bound(depth):
    """sigma = 2 px noise, left hand occluded: errors follow the Cramer-Rao prediction.

    The depth error grows as Z^2: a rule of thumb is Z^2 sigma / (f S), S the root-sum-square
    lateral spread of the landmarks about their centroid (~3.2 m here); for a body this flat the
    coupling with out-of-plane rotation about doubles it, which the exact first-order covariance
    below includes (about 4.5 cm at 6 m for the translation, 2 mm laterally).
    """
    sigma = 2.0
    R, t = pose((30.0, 8.0, -5.0), (0.5, 0.2, depth))
    Xc = BODY @ R.T + t
    uv = project(Xc)
    w = np.ones(33)
    w[OCCLUDED] = 0.0
    used = w > 0
    std = point_std_crb(R, t, used, sigma)
    rng = np.random.default_rng(int(depth * 10))
    n_draws = 40
    err = np.empty((n_draws, 33, 3))
    for k in range(n_draws):
        fr = lift_frame(BODY, uv + rng.normal(0.0, sigma, uv.shape), w, K)
        assert fr.ok, fr.reason
        err[k] = fr.points - Xc
    z = err / std
    # 1) no single point is off by more than 5.5 predicted sigmas (Gaussian: p ~ 4e-8 per value)
    assert np.abs(z).max() < 5.5
    # 2) the RMS normalised error per axis is ~1 for an efficient estimator; 40 draws estimate it to
    #    about +-11 % (1/sqrt(2 * 40)), so 1.35 leaves 3 standard errors of sampling slack
    rms = np.sqrt(np.mean(z**2, axis=(0, 1)))
    assert np.all(rms < 1.35), rms
    # 3) the scale of that tolerance: the depth std grows as Z^2, the lateral one as Z
    assert std[23:25, 2].max() < 0.05 * (depth / 6.0) ** 2 + 1e-3
    assert std[23:25, :2].max() < 0.005 * depth / 6.0


def test_huber_loss_limits_the_pull_of_mislocated_landmarks():
    """Three landmarks 80 px off (a swapped limb): the robust fit moves less than plain least squares."""
    R, t = pose((15.0, 0.0, 0.0), (0.2, 0.1, 4.0))
    Xc = BODY @ R.T + t
    uv = project(Xc)
    uv[[13, 15, 19]] += [80.0, 40.0]
    w = np.ones(33)
    robust = lift_frame(BODY, uv, w, K)
    plain = lift_frame(BODY, uv, w, K, huber_px=1e9, max_rel_rms=1.0)
    assert robust.ok and plain.ok
    err_robust = np.linalg.norm(robust.points - Xc, axis=1).mean()
    err_plain = np.linalg.norm(plain.points - Xc, axis=1).mean()
    # with 30 clean landmarks the Huber fit's outliers enter with weight 10/89 of their LS weight
    assert err_robust < 0.5 * err_plain


# --------------------------------------------------------------------------------------------------
# lift_frame: failures are clean
# --------------------------------------------------------------------------------------------------


def _clean_view() -> tuple[np.ndarray, np.ndarray]:
    R, t = pose((10.0, 0.0, 0.0), (0.0, 0.0, 3.0))
    Xc = BODY @ R.T + t
    return project(Xc), np.ones(33)


def _assert_failed(fr: LiftedFrame) -> None:
    assert not fr.ok and fr.reason
    assert np.all(np.isnan(fr.points)) and np.all(np.isnan(fr.R)) and np.all(np.isnan(fr.t))


def test_fewer_than_six_landmarks_fail():
    uv, w = _clean_view()
    w[5:] = 0.0
    fr = lift_frame(BODY, uv, w, K)
    _assert_failed(fr)
    assert fr.n_used == 5 and "6" in fr.reason
    w[5] = 1.0  # six are enough for noise-free data
    assert lift_frame(BODY, uv, w, K).ok


def test_nan_landmarks_do_not_count():
    uv, w = _clean_view()
    uv[5:] = np.nan  # five finite landmarks remain
    _assert_failed(lift_frame(BODY, uv, w, K))
    _assert_failed(lift_frame(np.full((33, 3), np.nan), uv, w, K))


def test_collapsed_image_points_fail():
    _, w = _clean_view()
    _assert_failed(lift_frame(BODY, np.full((33, 2), 400.0), w, K))


def test_collinear_world_points_fail():
    """Points on one line leave the rotation about that line undetermined: a rank-deficient solve."""
    line = np.zeros((33, 3))
    line[:, 1] = np.linspace(-0.8, 0.9, 33)
    R, t = pose((10.0, 5.0, 0.0), (0.1, 0.0, 3.0))
    fr = lift_frame(line, project(line @ R.T + t), np.ones(33), K)
    _assert_failed(fr)


def test_image_points_unrelated_to_the_body_fail():
    rng = np.random.default_rng(7)
    uv = rng.uniform([200, 100], [1000, 600], (33, 2))
    _assert_failed(lift_frame(BODY, uv, np.ones(33), K))


def test_failed_prev_is_ignored():
    uv, w = _clean_view()
    bad = lift_frame(BODY, uv, np.zeros(33), K)
    assert lift_frame(BODY, uv, w, K, prev=bad).ok


@pytest.mark.parametrize(
    ("world", "image", "weights", "Km"),
    [
        (np.zeros((33, 2)), np.zeros((33, 2)), np.ones(33), K),
        (np.zeros((33, 3)), np.zeros((32, 2)), np.ones(33), K),
        (np.zeros((33, 3)), np.zeros((33, 2)), np.ones(30), K),
        (np.zeros((33, 3)), np.zeros((33, 2)), np.ones(33), np.eye(2)),
        (np.zeros((33, 3)), np.zeros((33, 2)), np.ones(33), -K),
    ],
)
def test_malformed_arrays_raise_input_error(world, image, weights, Km):
    with pytest.raises(LiftError):
        lift_frame(world, image, weights, Km)


# --------------------------------------------------------------------------------------------------
# smooth_depth / body_trajectory
# --------------------------------------------------------------------------------------------------

FS = 30.0


def test_smooth_depth_removes_noise_keeps_a_slow_sine_and_the_viewing_ray():
    """z = 4 + 0.3 sin(2 pi 0.3 t) m plus 5 cm white noise, 30 fps, 1 Hz cut-off, order 2.

    The zero-phase filter's power response is 1 / (1 + (f/fc)^4)^2; its equivalent noise bandwidth
    is fc * integral (1 + x^4)^-2 dx = 0.833 fc, so white noise keeps a std of
    sigma sqrt(0.833 fc / (fs / 2)) = 0.0118 m; the sine is attenuated by 1 / (1 + 0.3^4), an RMS
    bias of 1.7 mm. The interior (1 s from each end, outside the edge transients) must be within
    1.3x the combined prediction (the RMS of ~33 independent noise bandwidths: +-12 %).
    """
    t = np.arange(600) / FS
    z = 4.0 + 0.3 * np.sin(2 * np.pi * 0.3 * t)
    rng = np.random.default_rng(11)
    zn = z + rng.normal(0.0, 0.05, z.size)
    trans = np.stack([0.25 * zn, -0.1 * zn, zn], axis=1)  # the body stays on one viewing ray
    out = smooth_depth(t, trans, np.ones(t.size, bool), cutoff_hz=1.0)
    noise = 0.05 * math.sqrt(0.833 * 1.0 / (FS / 2))
    bias = 0.3 * (1 - 1 / (1 + 0.3**4)) / math.sqrt(2)
    interior = slice(30, -30)
    rms = np.sqrt(np.mean((out[interior, 2] - z[interior]) ** 2))
    assert rms < 1.3 * math.hypot(noise, bias)
    # x, y are rescaled with z: the ray direction of every frame is unchanged
    np.testing.assert_allclose(out[:, :2] / out[:, 2:], trans[:, :2] / trans[:, 2:], rtol=1e-12)


def test_smooth_depth_keeps_constant_and_linear_depth():
    """A body at rest or walking at constant speed keeps its depth (zero-phase, odd extension)."""
    t = np.arange(300) / FS
    for z in (np.full(t.size, 3.0), 2.0 + 0.8 * t):
        trans = np.stack([np.zeros_like(z), np.zeros_like(z), z], axis=1)
        out = smooth_depth(t, trans, np.ones(t.size, bool), cutoff_hz=1.0)
        # exact for a constant; a ramp leaves start-up transients of under a millimetre
        np.testing.assert_allclose(out[:, 2], z, atol=1e-3)


def test_smooth_depth_does_not_bridge_gaps():
    """Depth 3 m, then a 1 s gap, then 5 m: each side is filtered alone (no ramp across the gap)."""
    t = np.arange(300) / FS
    z = np.where(t < 5.0, 3.0, 5.0)
    rng = np.random.default_rng(5)
    trans = np.stack([0.1 * z, 0.0 * z, z + rng.normal(0, 0.02, z.size)], axis=1)
    valid = np.ones(t.size, bool)
    valid[135:165] = False
    trans[~valid] = np.nan
    out = smooth_depth(t, trans, valid, cutoff_hz=1.0)
    assert np.all(np.isnan(out[~valid]))
    before = smooth_depth(t[:135], trans[:135], valid[:135], cutoff_hz=1.0)
    after = smooth_depth(t[165:], trans[165:], valid[165:], cutoff_hz=1.0)
    np.testing.assert_array_equal(out[:135], before)
    np.testing.assert_array_equal(out[165:], after)
    # no pull towards the other side: within 5 noise sigmas (0.1 m) of each level, even at the gap
    assert np.abs(out[:135, 2] - 3.0).max() < 0.1 and np.abs(out[165:, 2] - 5.0).max() < 0.1


def test_smooth_depth_short_runs_become_straight_lines():
    """Runs shorter than one cut-off period (30 samples at 30 fps, 1 Hz) keep only their trend."""
    t = np.arange(40) / FS
    rng = np.random.default_rng(2)
    z = 3.0 + 0.5 * t + rng.normal(0.0, 0.05, t.size)
    trans = np.stack([0.2 * z, 0.1 * z, z], axis=1)
    valid = np.ones(t.size, bool)
    valid[[0, 2, 23]] = False  # runs: [1], [3, 23), [24, 40)
    out = smooth_depth(t, trans, valid, cutoff_hz=1.0)
    assert out[1, 2] == z[1]  # a single sample is left alone
    for run in (slice(3, 23), slice(24, 40)):
        zs = out[run, 2]
        np.testing.assert_allclose(np.diff(zs, 2), 0.0, atol=1e-12)  # a straight line ...
        assert zs.mean() == pytest.approx(z[run].mean(), abs=1e-12)  # ... through the centroid (LS)
    # a noise-free ramp is kept exactly
    ramp = np.stack([np.zeros(10), np.zeros(10), 2.0 + 0.8 * t[:10]], axis=1)
    np.testing.assert_allclose(smooth_depth(t[:10], ramp, np.ones(10, bool), cutoff_hz=1.0), ramp, atol=1e-12)


def test_smooth_depth_rejects_bad_input():
    t = np.arange(5) / FS
    trans = np.array([[0, 0, 3.0], [0, 0, 3.1], [0, 0, 2.9], [0, 0, 3.0], [0, 0, 3.0]])
    valid = np.ones(5, bool)
    with pytest.raises(LiftError):
        smooth_depth(t, trans, valid, cutoff_hz=0.0)
    with pytest.raises(LiftError):
        smooth_depth(t, trans[:4], valid, cutoff_hz=1.0)
    with pytest.raises(LiftError):
        smooth_depth(t, -trans, valid, cutoff_hz=1.0)  # behind the camera
    with pytest.raises(LiftError):
        smooth_depth(t[::-1], trans, valid, cutoff_hz=1.0)  # time going backwards


def test_body_trajectory_shifts_each_body_rigidly():
    rng = np.random.default_rng(9)
    t = np.arange(90) / FS
    frames = []
    for k in range(90):
        R, tr = pose((2.0 * k, 0.0, 0.0), (0.3, 0.0, 4.0 + 0.05 * rng.normal()))
        Xc = BODY @ R.T + tr
        frames.append(lift_frame(BODY, project(Xc), np.ones(33), K))
    frames[40] = lift_frame(BODY, project(Xc), np.zeros(33), K)  # one failed frame
    points, trans, valid = stack_frames(frames)
    assert points.dtype == np.float32 and points.shape == (90, 33, 3) and valid.sum() == 89
    out = body_trajectory(t, points, trans, valid, depth_cutoff_hz=1.0)
    assert out.dtype == np.float32 and np.all(np.isnan(out[40]))
    smoothed = smooth_depth(t, trans, valid, cutoff_hz=1.0)
    ok = valid
    # every valid body moved by exactly its translation change (float32 points: 1e-6 relative at 4 m)
    shift = np.repeat((smoothed - trans)[ok][:, None], 33, axis=1)
    np.testing.assert_allclose(out[ok] - points[ok], shift, atol=2e-6)
    out64 = body_trajectory(t, points.astype(np.float64), trans, valid, depth_cutoff_hz=1.0)
    assert out64.dtype == np.float64


# --------------------------------------------------------------------------------------------------
# real data: one view of a calibrated 4-camera recording against the triangulated reference
# --------------------------------------------------------------------------------------------------


def _pose2sim_camera(calib_xml: str, cam: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K (px) and the world(z-up, m) -> camera rotation and camera centre of a Qualisys .qca camera.

    Qualisys stores intrinsics in 1/64 px and the camera's pose as a rotation ``r`` and position
    (mm); OpenCV's camera is ``Rx(pi) r (X - p)`` (its y and z axes point the other way).
    """
    import xml.etree.ElementTree as ET

    node = next(c for c in ET.fromstring(calib_xml).iter("camera") if c.get("serial") == cam)
    intr = {k: float(v) for k, v in node.find("intrinsic").attrib.items()}  # type: ignore[union-attr]
    tr = {k: float(v) for k, v in node.find("transform").attrib.items()}  # type: ignore[union-attr]
    Km = np.array(
        [[intr["focalLengthU"] / 64, 0.0, intr["centerPointU"] / 64],
         [0.0, intr["focalLengthV"] / 64, intr["centerPointV"] / 64],
         [0.0, 0.0, 1.0]]
    )
    r = np.array([[tr[f"r{i}{j}"] for j in (1, 2, 3)] for i in (1, 2, 3)])
    return Km, np.diag([1.0, -1.0, -1.0]) @ r, np.array([tr["x"], tr["y"], tr["z"]]) / 1000.0


@pytest.mark.slow
@pytest.mark.parametrize("cam", ["cam01", "cam02", "cam03", "cam04"])
def test_real_view_depth_matches_the_triangulated_reference(cam, monkeypatch):
    """Pose2Sim balancing trial: MediaPipe (lite) on one calibrated view, lifted with the true K.

    The reference is Pose2Sim's 4-view triangulation (hip-joint midpoint), put into this camera's
    frame with the calibration's extrinsics (TRC axes are the calibration's (y, z, x)). A monocular
    metric lift can only be as right as the model's body-size prior: adult stature varies by ~4 %
    (1 sd), so the mean depth error must stay within 12 % of the distance (3 sd); every 5th frame
    is used to keep the test short.
    """
    from imusynth.video.decode import iter_frames
    from imusynth.video.pose.mediapipe_backend import PoseEstimator

    from .conftest import shared_path

    root = shared_path("videos", "pose2sim")
    monkeypatch.setenv("IMUSYNTH_MODEL_DIR", str(shared_path("models")))
    Km, R_cw, centre = _pose2sim_camera(
        (root / "Demo_SinglePerson" / "calibration" / "Calib.qca.txt").read_text(), cam
    )
    trc = root / "reference_pose3d_from_history" / "S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc"
    lines = trc.read_text().splitlines()
    names = [n for n in lines[3].split("\t")[2:] if n]
    rows = [row.split("\t")[2 : 2 + 3 * len(names)] for row in lines[5:] if row.strip()]
    ref = np.array(rows, dtype=float)
    ref = ref.reshape(len(ref), len(names), 3)
    hips = ref[:, [names.index("RHip"), names.index("LHip")]].mean(axis=1)[:, [2, 0, 1]]  # TRC -> z-up world
    pelvis_cam = (hips - centre) @ R_cw.T

    prev = None
    depth_err, depth = [], []
    with iter_frames(root / "Demo_SinglePerson" / "videos" / f"{cam}.mp4", stride=5) as frames, \
            PoseEstimator("lite", num_poses=2) as est:
        for frame in frames:
            dets = est.detect(frame.image, frame.time_s)
            if not dets:
                continue
            # the athlete is the largest person (a bystander stands in the background of some views)
            det = max(dets, key=lambda d: float((d.bbox[2] - d.bbox[0]) * (d.bbox[3] - d.bbox[1])))
            # PoseDetection measures from the pixel corner, the calibration from pixel centres
            fr = lift_frame(det.world_xyz, det.image_xy - 0.5, det.visibility, Km, prev=prev)
            if fr.ok:
                prev = fr
                depth_err.append(fr.t[2] - pelvis_cam[frame.index, 2])
                depth.append(pelvis_cam[frame.index, 2])
    assert len(depth_err) >= 18  # of 20 frames
    assert abs(np.mean(depth_err)) < 0.12 * np.mean(depth)


# --------------------------------------------------------------------------------------------------
# lift_frames (pnp_batch): a whole track at once, equal to lift_frame in sequence
# --------------------------------------------------------------------------------------------------


def _batch_track() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 100-frame track (world (T, 33, 3) m, image (T, 33, 2) px, weights (T, 33)) that takes every path.

    Frames 0-39: a body walking from 2 to 6 m and turning, 2 px noise, random occlusion, with frames
    of fewer than 6 usable landmarks (10, 11), a NaN world landmark (15), collapsed image points (20);
    frames 40-97: a distant body (20 m, 5 px noise) whose mirror pose fits nearly as well, so the
    global solution sometimes turns it by more than 30 deg and the start from the previous pose runs
    (and is kept); frames 98, 99: a nearer body where it runs and the global minimum is kept.
    """
    rng_near, rng_far = np.random.default_rng(11), np.random.default_rng(4)
    world = np.repeat(BODY[None], 100, axis=0)
    image = np.empty((100, 33, 2))
    weights = np.ones((100, 33))
    for k in range(40):
        s = k / 39
        R, t = pose((90.0 * s, 5.0 * math.sin(6 * s), 0.0), (0.5 - s, 0.1, 2.0 + 4.0 * s))
        image[k] = project(BODY @ R.T + t) + rng_near.normal(0.0, 2.0, (33, 2))
        weights[k] = np.where(rng_near.random(33) < 0.15, 0.0, rng_near.uniform(0.6, 1.0, 33))
    for k in range(40, 100):
        R, t = pose((20.0 + 10.0 * math.sin(k / 5), 15.0, 0.0), (0.5, 0.3, 20.0))
        image[k] = project(BODY @ R.T + t) + rng_far.normal(0.0, 5.0, (33, 2))
    # 98, 99: a body at 6 m in its mirror pose (S R S, S = diag(1, 1, -1)), then in its true pose: the
    # minimum reached from the previous pose costs clearly (> 10 %) more, the global one is kept
    R, t = pose((50.0, 15.0, 0.0), (0.3, 0.2, 6.0))
    S = np.diag([1.0, 1.0, -1.0])
    rng_mirror = np.random.default_rng(0)
    image[98] = project(BODY @ (S @ R @ S).T + t) + rng_mirror.normal(0.0, 1.0, (33, 2))
    image[99] = project(BODY @ R.T + t) + rng_mirror.normal(0.0, 1.0, (33, 2))
    weights[10:12, 5:] = 0.2  # below min_weight: five usable landmarks
    world[15, 3] = np.nan
    image[20] = 400.0
    return world, image, weights


def _poison_sqpnp(monkeypatch, image: np.ndarray, frames: list[int]) -> None:
    """SQPnP raises for ``frames`` (recognised by their image points; both modules share cv2)."""
    import cv2

    real = cv2.solvePnP
    marks = {float(image[k, 0, 0]) for k in frames}

    def solve_pnp(obj, img, *args, **kwargs):
        if float(np.asarray(img)[0, 0]) in marks:
            raise cv2.error("SQPnP failed")
        return real(obj, img, *args, **kwargs)

    monkeypatch.setattr(cv2, "solvePnP", solve_pnp)


def _lift_in_sequence(world, image, weights, prev=None) -> list[LiftedFrame]:
    out = []
    for k in range(len(world)):
        fr = lift_frame(world[k], image[k], weights[k], K, prev=prev)
        out.append(fr)
        prev = fr if fr.ok else prev
    return out


def _assert_same(batch, seq: list[LiftedFrame]) -> None:
    """Equal to rounding: 1e-9 on R, 1e-9 relative to |t| on t and the points, 1e-9 relative on rms."""
    assert batch.ok.tolist() == [f.ok for f in seq]
    assert batch.n_used.tolist() == [f.n_used for f in seq]
    assert list(batch.reason) == [f.reason for f in seq]
    R = np.array([f.R for f in seq])
    t = np.array([f.t for f in seq])
    np.testing.assert_allclose(batch.R, R, rtol=0.0, atol=1e-9)
    scale = np.linalg.norm(np.nan_to_num(t), axis=1)
    assert np.all(np.isnan(batch.t) == np.isnan(t))
    assert np.nanmax(np.abs(batch.t - t).max(axis=1) / np.where(scale > 0, scale, 1.0)) < 1e-9
    pts = np.array([f.points for f in seq])
    assert np.all(np.isnan(batch.points) == np.isnan(pts))
    assert np.nanmax(np.abs(batch.points - pts).max(axis=(1, 2)) / np.where(scale > 0, scale, 1.0)) < 1e-9
    np.testing.assert_allclose(batch.rms_px, [f.rms_px for f in seq], rtol=1e-9, atol=0.0)
    k = int(np.flatnonzero(batch.ok)[0])
    fr = batch.frame(k)
    assert fr.ok and np.array_equal(fr.R, batch.R[k]) and fr.n_used == seq[k].n_used


def test_lift_frames_equals_lift_frame_in_sequence(monkeypatch):
    from imusynth.video.lift import pnp
    from imusynth.video.lift.pnp_batch import lift_frames

    world, image, weights = _batch_track()
    _poison_sqpnp(monkeypatch, image, [0, 25])  # 0: weak-perspective start; 65: start from prev
    solves: list[tuple] = []
    real_refine = pnp._refine

    def refine(*args, **kwargs):
        solves.append(real_refine(*args, **kwargs))
        return solves[-1]

    monkeypatch.setattr(pnp, "_refine", refine)
    seq, prev, kept = [], None, []
    for k in range(len(world)):
        solves.clear()
        fr = lift_frame(world[k], image[k], weights[k], K, prev=prev)
        seq.append(fr)
        prev = fr if fr.ok else prev
        if len(solves) == 2:  # global and from prev: is the one from prev kept?
            kept.append(not solves[0][2] < 0.9 * solves[1][2])
    monkeypatch.setattr(pnp, "_refine", real_refine)
    # the track takes every path: the mirror check keeps the previous pose's minimum and the global one
    assert True in kept and False in kept, kept
    assert sum(f.ok for f in seq) >= 50  # the near frames and about half the distant ones (5 px noise)
    reasons = " ".join(f.reason for f in seq)
    assert "usable landmarks" in reasons and "collapsed" in reasons
    batch = lift_frames(world, image, weights, K)
    assert len(batch) == 100
    _assert_same(batch, seq)
    # prev carries across calls: the second half started from the first half's last placed frame
    last = next(f for f in reversed(seq[:50]) if f.ok)
    _assert_same(lift_frames(world[50:], image[50:], weights[50:], K, prev=last), seq[50:])
    # in blocks of 7 frames (1024 by default): the previous pose carries across the blocks
    from imusynth.video.lift import pnp_batch

    monkeypatch.setattr(pnp_batch, "_BLOCK", 7)
    _assert_same(lift_frames(world, image, weights, K), seq)


@pytest.mark.parametrize(
    ("world", "image", "weights", "Km"),
    [
        (np.zeros((4, 33, 2)), np.zeros((4, 33, 2)), np.ones((4, 33)), K),
        (np.zeros((33, 3)), np.zeros((33, 2)), np.ones(33), K),
        (np.zeros((4, 33, 3)), np.zeros((3, 33, 2)), np.ones((4, 33)), K),
        (np.zeros((4, 33, 3)), np.zeros((4, 33, 2)), np.ones((4, 30)), K),
        (np.zeros((4, 33, 3)), np.zeros((4, 33, 2)), np.ones((4, 33)), -K),
    ],
)
def test_lift_frames_malformed_arrays_raise_input_error(world, image, weights, Km):
    from imusynth.video.lift.pnp_batch import lift_frames

    with pytest.raises(LiftError):
        lift_frames(world, image, weights, Km)


def test_lift_frames_of_no_frames_and_of_failed_frames_only():
    from imusynth.video.lift.pnp_batch import lift_frames

    empty = lift_frames(np.zeros((0, 33, 3)), np.zeros((0, 33, 2)), np.zeros((0, 33)), K)
    assert len(empty) == 0 and empty.points.shape == (0, 33, 3) and empty.R.shape == (0, 3, 3)
    failed = lift_frames(np.repeat(BODY[None], 3, axis=0), np.zeros((3, 33, 2)), np.zeros((3, 33)), K)
    assert not failed.ok.any() and np.isnan(failed.t).all() and np.isnan(failed.rms_px).all()
    assert failed.reason == ("0 usable landmarks, at least 6 needed",) * 3
