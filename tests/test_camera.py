"""Stage 4 (camera motion) against closed-form answers.

Synthetic frames come from :mod:`synthetic_scene`: a camera with known intrinsics rotating with a known
closed-form path inside a textured sphere at infinity, where a pure rotation is exact, and a textured
"person" rectangle moving on its own.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from imusynth.errors import InputError
from imusynth.video.camera import (
    DEFAULT_HFOV_DEG,
    R_WORLD_FROM_LEVEL_CAMERA,
    CameraError,
    CameraIntrinsics,
    CameraMotionEstimator,
    CameraStep,
    CameraTrajectory,
    camera_to_world_points,
    estimate_rotation,
    kabsch_rotation,
    refine_up,
)

from .conftest import shared_path
from .synthetic_scene import (
    R_LEVEL,
    CameraPath,
    Frame,
    Person,
    SphereRenderer,
    intrinsics_matrix,
    make_panorama,
    render_sequence,
)

W, H, FPS, HFOV = 640, 360, 30.0, 60.0
DEG = np.pi / 180.0


# --------------------------------------------------------------------------------------------------
# fixtures: panoramas and rendered sequences are built once per module
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def renderer() -> SphereRenderer:
    return SphereRenderer(intrinsics_matrix(W, H, HFOV), W, H)


@pytest.fixture(scope="module")
def intrinsics() -> CameraIntrinsics:
    return CameraIntrinsics.from_fov(W, H, HFOV)


@pytest.fixture(scope="module")
def panoramas() -> list[np.ndarray]:
    # two backgrounds of different colour, as two shots of a real edit would be
    return [make_panorama(1, width=3000), make_panorama(2, width=3000, tint=(165.0, 105.0, 85.0))]


@pytest.fixture(scope="module")
def person_frames(renderer: SphereRenderer, panoramas: list[np.ndarray]) -> list[Frame]:
    """2 s of pan 20 deg/s, tilt 5 deg/s, roll 3 deg * sin(2 pi 0.4 t), with a moving person."""
    frames = render_sequence(renderer, panoramas, path=CameraPath(), n_frames=60, fps=FPS, person=Person())
    return list(frames)


@pytest.fixture(scope="module")
def plain_frames(renderer: SphereRenderer, panoramas: list[np.ndarray]) -> list[Frame]:
    """The same camera motion without the person."""
    return list(render_sequence(renderer, panoramas, path=CameraPath(), n_frames=60, fps=FPS))


@pytest.fixture(scope="module")
def boxed_run(intrinsics: CameraIntrinsics, person_frames: list[Frame]) -> tuple[list[CameraStep], list[int]]:
    """Steps on the person sequence with the person's box given, and per frame the number of
    background features that lie inside the (undilated) box."""
    est = CameraMotionEstimator(intrinsics)
    steps, on_person = [], []
    for f in person_frames:
        steps.append(est.update(f.time_s, f.image, f.person_box))
        on_person.append(_count_inside(est.features, f.person_box))
    return steps, on_person


def _count_inside(points: np.ndarray, box: np.ndarray | None) -> int:
    assert box is not None
    x0, y0, x1, y1 = box
    inside = (points[:, 0] >= x0) & (points[:, 0] < x1) & (points[:, 1] >= y0) & (points[:, 1] < y1)
    return int(inside.sum())


def run(estimator: CameraMotionEstimator, frames: list[Frame], *, use_box: bool = True) -> list[CameraStep]:
    return [estimator.update(f.time_s, f.image, f.person_box if use_box else None) for f in frames]


def true_rates(frames: list[Frame]) -> np.ndarray:
    """Body-frame angular velocity of each step, rotvec(R_{t-1}^T R_t) / dt, rad/s, shape (T-1, 3)."""
    return np.array(
        [
            Rotation.from_matrix(a.R_world_from_camera.T @ b.R_world_from_camera).as_rotvec()
            / (b.time_s - a.time_s)
            for a, b in zip(frames[:-1], frames[1:], strict=True)
        ]
    )


def rate_rms_deg(steps: list[CameraStep], frames: list[Frame]) -> float:
    est = np.array([s.angular_velocity for s in steps[1:]])
    err = np.linalg.norm(est - true_rates(frames), axis=1)
    return float(np.degrees(np.sqrt(np.mean(err**2))))


def angle_deg(Ra: np.ndarray, Rb: np.ndarray) -> float:
    return float(np.degrees(Rotation.from_matrix(Ra.T @ Rb).magnitude()))


# --------------------------------------------------------------------------------------------------
# intrinsics and the rotation solver
# --------------------------------------------------------------------------------------------------


def test_intrinsics_from_fov_closed_form() -> None:
    cam = CameraIntrinsics.from_fov(1280, 720, 60.0)
    f = 640.0 / np.tan(np.radians(30.0))
    assert cam.fx == pytest.approx(f, rel=1e-12) and cam.fy == pytest.approx(f, rel=1e-12)
    assert (cam.cx, cam.cy) == (639.5, 359.5)
    np.testing.assert_allclose(cam.K, [[f, 0, 639.5], [0, f, 359.5], [0, 0, 1]], rtol=1e-12)
    assert cam.hfov_deg == pytest.approx(60.0, abs=1e-9)
    assert CameraIntrinsics.from_fov(640, 360).hfov_deg == pytest.approx(DEFAULT_HFOV_DEG, abs=1e-9)
    with pytest.raises(InputError):
        CameraIntrinsics.from_fov(640, 360, 180.0)


def test_working_image_intrinsics_follow_the_resampling() -> None:
    # 1280 px -> pyrDown -> 640 px -> linear resize by 3/4 -> 480 px, pixel centres at integers.
    # pyrDown centres output pixel i on input pixel 2i (x' = x / 2); a resize by s maps
    # x' = (x + 0.5) s - 0.5.
    # (Both mappings were checked on the centroid of a Gaussian blob.)
    est = CameraMotionEstimator(CameraIntrinsics.from_fov(1280, 720, 60.0), work_width=480)
    w = est.work_intrinsics
    f = 640.0 / np.tan(np.radians(30.0))
    assert (w.width, w.height) == (480, 270)
    assert w.fx == pytest.approx(f * 0.5 * 0.75, rel=1e-12)
    assert w.cx == pytest.approx((639.5 / 2 + 0.5) * 0.75 - 0.5, rel=1e-12)
    assert w.cy == pytest.approx((359.5 / 2 + 0.5) * 0.75 - 0.5, rel=1e-12)
    # a blob at a known full-resolution position lands where the mapped intrinsics say
    img = np.zeros((720, 1280), dtype=np.float32)
    yy, xx = np.mgrid[0:720, 0:1280]
    img += np.exp(-0.5 * ((xx - 811.3) ** 2 + (yy - 207.6) ** 2) / 8.0**2)
    small = cv2.resize(cv2.pyrDown(img), (480, 270), interpolation=cv2.INTER_LINEAR)
    ys, xs = np.mgrid[0:270, 0:480]
    centroid = np.array([(small * xs).sum(), (small * ys).sum()]) / small.sum()
    ax, ay = w.fx / f, w.fy / f
    expected = [(811.3 - 639.5) * ax + w.cx, (207.6 - 359.5) * ay + w.cy]
    np.testing.assert_allclose(centroid, expected, atol=1e-3)  # float32 image sums: ~1e-4 px


def test_kabsch_recovers_a_rotation_exactly() -> None:
    rng = np.random.default_rng(3)
    R = Rotation.from_rotvec([0.3, -0.2, 0.5]).as_matrix()
    a = rng.normal(size=(5, 3))
    np.testing.assert_allclose(kabsch_rotation(a, a @ R.T), R, atol=1e-12)
    # two vectors already fix a rotation
    np.testing.assert_allclose(kabsch_rotation(a[:2], a[:2] @ R.T), R, atol=1e-12)


def test_estimate_rotation_rejects_outliers_exactly() -> None:
    rng = np.random.default_rng(5)
    K = intrinsics_matrix(W, H, HFOV)
    R = Rotation.from_rotvec(np.radians([1.0, -2.0, 0.7])).as_matrix()
    x1 = rng.uniform([20, 20], [W - 20, H - 20], size=(150, 2))
    rays = np.c_[x1, np.ones(len(x1))] @ np.linalg.inv(K).T
    p = rays @ R.T @ K.T
    x2 = p[:, :2] / p[:, 2:]
    outlier = rng.random(len(x1)) < 0.4  # 40 % of the matches move by 5-30 px in random directions
    angle = rng.uniform(0, 2 * np.pi, outlier.sum())
    x2[outlier] += rng.uniform(5, 30, outlier.sum())[:, None] * np.c_[np.cos(angle), np.sin(angle)]
    R_est, inliers = estimate_rotation(x1, x2, K, threshold_px=1.0, iterations=100)
    # noise-free inliers: the refined rotation is exact to rounding
    np.testing.assert_allclose(R_est, R, atol=1e-10)
    np.testing.assert_array_equal(inliers, ~outlier)


# --------------------------------------------------------------------------------------------------
# the streaming estimator on rendered frames
# --------------------------------------------------------------------------------------------------


def test_rotation_rate_and_drift(
    person_frames: list[Frame], boxed_run: tuple[list[CameraStep], list[int]]
) -> None:
    steps = boxed_run[0]
    # acceptance bound of the stage: 1 deg/s RMS (measured here: ~0.03 deg/s)
    assert rate_rms_deg(steps, person_frames) < 1.0
    assert all(s.reliable for s in steps)
    assert not any(s.shot_cut for s in steps)
    assert {s.segment for s in steps} == {0}
    # the path starts level, so the accumulated orientation is comparable with the truth directly.
    # Per-frame errors (~0.03 deg/s, i.e. 0.001 deg a frame) accumulate like a random walk to ~0.01 deg
    # over 60 frames; 0.1 deg leaves room for small systematic interpolation effects and would
    # still catch a missing frame (0.7 deg) or a transposed relative rotation.
    np.testing.assert_allclose(person_frames[0].R_world_from_camera, R_WORLD_FROM_LEVEL_CAMERA, atol=1e-12)
    assert angle_deg(steps[-1].R_world_from_camera, person_frames[-1].R_world_from_camera) < 0.1
    # quaternion and matrix agree
    q = steps[-1].q_world_from_camera
    R_q = Rotation.from_quat(q, scalar_first=True).as_matrix()
    np.testing.assert_allclose(R_q, steps[-1].R_world_from_camera, atol=1e-12)


def test_person_box_keeps_features_off_the_person(
    intrinsics: CameraIntrinsics,
    person_frames: list[Frame],
    plain_frames: list[Frame],
    boxed_run: tuple[list[CameraStep], list[int]],
) -> None:
    steps_box, on_person_box = boxed_run
    assert on_person_box == [0] * len(person_frames)
    without_box = CameraMotionEstimator(intrinsics)
    steps_nobox, on_person_nobox = [], 0
    for f in person_frames:
        steps_nobox.append(without_box.update(f.time_s, f.image, None))
        on_person_nobox += _count_inside(without_box.features, f.person_box)
    # without the box the tracker does pick features on the person (so the box is what excludes them) ...
    assert on_person_nobox > 0
    # ... and RANSAC still rejects them as outliers
    assert rate_rms_deg(steps_nobox, person_frames) < 1.0
    # with the box the estimate equals that of the person-free scene within the tracking noise
    # (both ~0.03 deg/s RMS from the truth); a bias from the person's own motion (110 px/s, i.e.
    # ~10 deg/s of apparent rotation on its features) would show up far above 0.2 deg/s.
    steps_plain = run(CameraMotionEstimator(intrinsics), plain_frames)
    diff = np.array([a.angular_velocity - b.angular_velocity
                     for a, b in zip(steps_box, steps_plain, strict=True)])
    assert np.degrees(np.sqrt(np.mean(np.sum(diff**2, axis=1)))) < 0.2


def test_person_mask_is_excluded_like_a_box(intrinsics: CameraIntrinsics, person_frames: list[Frame]) -> None:
    est = CameraMotionEstimator(intrinsics)
    for f in person_frames[:10]:
        assert f.person_box is not None
        x0, y0, x1, y1 = (int(v) for v in f.person_box)
        mask = np.zeros((H, W), dtype=bool)
        mask[max(y0, 0) : y1, max(x0, 0) : x1] = True
        est.update(f.time_s, f.image, [mask])
        pts = est.features.round().astype(int)
        ok = (pts[:, 0] >= 0) & (pts[:, 0] < W) & (pts[:, 1] >= 0) & (pts[:, 1] < H)
        assert ok.all() and not mask[pts[:, 1], pts[:, 0]].any()


def test_person_regions_accept_the_usual_containers(
    intrinsics: CameraIntrinsics, person_frames: list[Frame]
) -> None:
    # a plain list for one box, a list of boxes with a missing (NaN) one, an (N, 4) array, a mask + a box
    f = person_frames[0]
    assert f.person_box is not None
    box = [float(v) for v in f.person_box]
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[:40, :40] = 1
    for regions in (box, [box, [np.nan] * 4], np.array([box]), [mask, np.array(box)]):
        est = CameraMotionEstimator(intrinsics)
        est.update(f.time_s, f.image, regions)  # type: ignore[arg-type]
        assert _count_inside(est.features, f.person_box) == 0
        assert len(est.features) > 50


def test_fast_pan_is_tracked_without_false_cuts(
    intrinsics: CameraIntrinsics, renderer: SphereRenderer, panoramas: list[np.ndarray]
) -> None:
    # pan 60 deg/s (2 deg or ~14 working px a frame), tilt -15 deg/s, roll 6 deg amplitude at 1 Hz
    path = CameraPath(pan_rate=60 * DEG, tilt_rate=-15 * DEG, roll_amplitude=6 * DEG, roll_freq=1.0)
    frames = list(render_sequence(renderer, panoramas, path=path, n_frames=30, fps=FPS))
    steps = run(CameraMotionEstimator(intrinsics), frames)
    assert not any(s.shot_cut for s in steps)
    assert rate_rms_deg(steps, frames) < 1.0


def test_sudden_pan_is_searched_again_from_scratch(
    intrinsics: CameraIntrinsics, renderer: SphereRenderer, panoramas: list[np.ndarray]
) -> None:
    # still for 10 frames, then a 90 deg/s pan at once: the constant-velocity prediction (no motion)
    # misses by 3 deg (~22 working px) a frame, beyond the short predicted search, so that frame is
    # tracked again with the full pyramid; the rates stay within the stage's bound and nothing is cut
    n, start = 30, 10
    pan = np.maximum(np.arange(n) - (start - 1), 0) * 3.0 * DEG
    truth = [Rotation.from_rotvec([0.0, 0.0, -p]).as_matrix() @ R_LEVEL for p in pan]
    times = [i / FPS for i in range(n)]
    est = CameraMotionEstimator(intrinsics)
    steps = [est.update(t, renderer.render(panoramas[0], R)) for t, R in zip(times, truth, strict=True)]
    assert est.retracked_frames >= 1
    assert all(s.reliable for s in steps) and not any(s.shot_cut for s in steps)
    true_rate = [Rotation.from_matrix(a.T @ b).as_rotvec() * FPS
                 for a, b in zip(truth[:-1], truth[1:], strict=True)]
    err = np.linalg.norm(np.array([s.angular_velocity for s in steps[1:]]) - true_rate, axis=1)
    assert np.degrees(np.sqrt(np.mean(err**2))) < 1.0
    # the same frames tracked from scratch every time (the old behaviour) agree within the noise
    scratch = CameraMotionEstimator(intrinsics, lk_predicted_levels=None)
    steps0 = [scratch.update(t, renderer.render(panoramas[0], R)) for t, R in zip(times, truth, strict=True)]
    assert scratch.retracked_frames == 0
    diff = np.array([a.angular_velocity - b.angular_velocity for a, b in zip(steps, steps0, strict=True)])
    assert np.degrees(np.sqrt(np.mean(np.sum(diff**2, axis=1)))) < 0.2


def test_hard_cut_detected_at_its_frame_and_rotation_restarts(
    intrinsics: CameraIntrinsics, renderer: SphereRenderer, panoramas: list[np.ndarray]
) -> None:
    cut, n = 20, 40
    frames = list(
        render_sequence(renderer, panoramas, path=CameraPath(), n_frames=n, fps=FPS, cut_frames=(cut,),
                        person=Person())
    )
    steps = run(CameraMotionEstimator(intrinsics), frames)
    assert [s.index for s in steps if s.shot_cut] == [cut]
    assert [s.segment for s in steps] == [0] * cut + [1] * (n - cut)
    # the new shot starts at the level reference, and its rotation since the cut follows the truth
    np.testing.assert_allclose(steps[cut].R_world_from_camera, R_WORLD_FROM_LEVEL_CAMERA, atol=1e-12)
    np.testing.assert_allclose(steps[cut].angular_velocity, 0.0)
    rel_est = R_WORLD_FROM_LEVEL_CAMERA.T @ steps[-1].R_world_from_camera
    rel_true = frames[cut].R_world_from_camera.T @ frames[-1].R_world_from_camera
    assert angle_deg(rel_est, rel_true) < 0.1  # same tolerance as the drift test (fewer frames)
    assert rate_rms_deg(steps[cut:], frames[cut:]) < 1.0
    traj = CameraTrajectory.from_steps(steps)
    assert traj.segment_slices() == [slice(0, cut), slice(cut, n)]
    assert traj.R_world_from_camera.shape == (n, 3, 3) and traj.q_world_from_camera.shape == (n, 4)
    assert traj.shot_cut.sum() == 1 and traj.shot_cut[cut]


def test_static_mode_gives_identity_and_still_cuts(
    intrinsics: CameraIntrinsics, renderer: SphereRenderer, panoramas: list[np.ndarray]
) -> None:
    loud = make_panorama(7, width=1200, tint=(220.0, 60.0, 40.0))  # a very different colour: histogram cut
    frames = render_sequence(renderer, [panoramas[0], loud], path=CameraPath(), n_frames=12, fps=FPS,
                             cut_frames=(6,))
    steps = run(CameraMotionEstimator(intrinsics, static=True), list(frames))
    for s in steps:
        np.testing.assert_array_equal(s.R_rel, np.eye(3))
        np.testing.assert_array_equal(s.R_world_from_camera, R_WORLD_FROM_LEVEL_CAMERA)
        assert s.reliable and s.n_inliers == 0
    assert [s.index for s in steps if s.shot_cut] == [6]


def test_grey_frames_are_accepted(intrinsics: CameraIntrinsics, plain_frames: list[Frame]) -> None:
    est = CameraMotionEstimator(intrinsics)
    grey = [np.asarray(cv2.cvtColor(f.image, cv2.COLOR_RGB2GRAY), dtype=np.uint8) for f in plain_frames[:15]]
    steps = [est.update(f.time_s, g) for f, g in zip(plain_frames[:15], grey, strict=True)]
    assert rate_rms_deg(steps, plain_frames[:15]) < 1.0


def test_bad_input_is_refused(intrinsics: CameraIntrinsics) -> None:
    est = CameraMotionEstimator(intrinsics)
    img = np.zeros((H, W, 3), dtype=np.uint8)
    with pytest.raises(CameraError, match="intrinsics are for 640x360"):
        est.update(0.0, np.zeros((H, W + 2, 3), dtype=np.uint8))
    with pytest.raises(CameraError, match="uint8"):
        est.update(0.0, img.astype(np.float32))
    est.update(0.0, img)
    with pytest.raises(CameraError, match="strictly increasing"):
        est.update(0.0, img)
    with pytest.raises(CameraError, match="boxes"):
        est.update(0.1, img, np.zeros((2, 3)))
    with pytest.raises(CameraError, match="min_inliers"):
        CameraMotionEstimator(intrinsics, min_inliers=1)
    assert issubclass(CameraError, InputError)


# --------------------------------------------------------------------------------------------------
# gravity and frames
# --------------------------------------------------------------------------------------------------


def test_camera_to_world_points_level_camera() -> None:
    # OpenCV camera looking horizontally: forward -> world +y, image down -> world -z, right -> world +x
    pts = np.array([[[0.0, 0.0, 2.0], [0.0, 1.0, 0.0], [3.0, 0.0, 0.0]]])
    out = camera_to_world_points(pts, R_WORLD_FROM_LEVEL_CAMERA[None])
    np.testing.assert_allclose(out, [[[0, 2, 0], [0, 0, -1], [3, 0, 0]]], atol=1e-15)
    np.testing.assert_array_equal(R_LEVEL, R_WORLD_FROM_LEVEL_CAMERA)  # the test scene agrees
    # per-frame rotations and a single shared rotation
    R = Rotation.from_rotvec([[0, 0, 0.3], [0.2, 0, 0]]).as_matrix()
    pts2 = np.arange(12.0).reshape(2, 2, 3)
    out2 = camera_to_world_points(pts2, R)
    np.testing.assert_allclose(out2[1, 0], R[1] @ pts2[1, 0], atol=1e-12)
    np.testing.assert_allclose(camera_to_world_points(pts2, R[0]), pts2 @ R[0].T, atol=1e-12)
    with pytest.raises(CameraError):
        camera_to_world_points(pts2, R[:1])


def test_refine_up_recovers_the_initial_tilt() -> None:
    rng = np.random.default_rng(11)
    T = 200
    # the estimator's orientation starts level; the real camera started 12 deg pitched down, 4 deg rolled
    R_est = np.array(
        [R_WORLD_FROM_LEVEL_CAMERA @ Rotation.from_rotvec([0.0, 0.3 * np.sin(t / 30), 0.0]).as_matrix()
         for t in range(T)]
    )
    C = Rotation.from_euler("xyz", [-12.0, 4.0, 25.0], degrees=True).as_matrix()  # tilt, roll, heading
    R_true = C @ R_est
    up_world = np.array([0.0, 0.0, 0.4])  # pelvis -> neck of an upright person, 0.4 m
    up_cam = np.einsum("tji,j->ti", R_true, up_world)  # R_true^T @ up
    up_cam[::17] = np.nan  # missed detections are skipped
    R_up = refine_up(np.transpose(R_est, (0, 2, 1)), up_cam)
    # noise-free: the refined orientation sees the body exactly upright
    refined = R_up @ R_est
    np.testing.assert_allclose(np.einsum("tij,tj->ti", refined, up_cam)[~np.isnan(up_cam[:, 0])] / 0.4,
                               np.tile([0, 0, 1.0], (T - len(up_cam[::17]), 1)), atol=1e-12)
    # a pure tilt: the rotation axis is horizontal (heading unchanged)
    assert abs(Rotation.from_matrix(R_up).as_rotvec()[2]) < 1e-12
    # with body sway (+-5 deg) the median still finds the vertical to within a degree
    sway = Rotation.from_rotvec(rng.normal(scale=5 * DEG / np.sqrt(2), size=(T, 3)) * [1, 1, 0]).as_matrix()
    up_cam_sway = np.einsum("tji,tj->ti", R_true, sway @ up_world)
    R_up2 = refine_up(np.transpose(R_est, (0, 2, 1)), up_cam_sway)
    up_med = np.median(np.einsum("tij,tj->ti", R_up2 @ R_est, up_cam_sway), axis=0)
    assert np.degrees(np.arccos(up_med[2] / np.linalg.norm(up_med))) < 1.0
    # too few samples: no refinement
    np.testing.assert_array_equal(refine_up(np.transpose(R_est[:3], (0, 2, 1)), up_cam[:3]), np.eye(3))


# --------------------------------------------------------------------------------------------------
# real video
# --------------------------------------------------------------------------------------------------


def _read(path: Path, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out: list[np.ndarray] = []
    while len(out) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if rgb.shape[1::-1] != size:
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        out.append(rgb)
    cap.release()
    return out


def test_real_cut_between_two_tripod_videos() -> None:
    videos = shared_path("videos", "sports2d")
    # two real single-shot tripod videos joined end to end: one cut, at the junction, and nothing else
    a = _read(videos / "demo4_walking.mp4", 30, (1280, 720))
    b = _read(videos / "demo.mp4", 20, (1280, 720))
    est = CameraMotionEstimator(CameraIntrinsics.from_fov(1280, 720))
    steps = [est.update(i / 30.0, img) for i, img in enumerate(a + b)]
    assert [s.index for s in steps if s.shot_cut] == [len(a)]
    # both cameras stand still: the measured rotation is small (median below the 1 deg/s accuracy bound)
    rates = np.degrees([np.linalg.norm(s.angular_velocity) for s in steps if not s.shot_cut][1:])
    assert np.median(rates) < 1.0
