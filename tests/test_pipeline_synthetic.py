"""Acceptance 1 of the video job: synthetic ground truth for everything after pose estimation.

The scene (:mod:`synthetic_body`): a rigid upright body (:func:`imusynth.video.lift.standing_pose`) walks
on a circle 4 m around a hand-held camera, bobbing by 8 cm at 0.5 Hz and turning by +-35 deg at 0.25 Hz,
while the camera follows it (pan 20 deg/s plus a 6-deg sway at 0.35 Hz), tilts (3 deg + 4 deg at
0.3 Hz: the first frame is *not* level) and rolls (2 deg at 0.5 Hz). The frames, a textured
background at infinity with the body drawn as a stick figure, are written as a 480x270 mp4v video
(4 s at 30 fps) and run through :func:`imusynth.video.job.process_video` with a synthetic pose
backend that returns the ideal detection of each frame (projected landmarks, camera-aligned
hip-centred world landmarks, visibility 1). Everything else is the real pipeline: decoding,
tracking, PnP lifting, background optical flow and RANSAC for the camera, the body's vertical for
gravity, kinematics and sensors.

Checked against closed-form truth: the camera's rotation rate (from ``pose/camera_rotation``), the
gravity direction, and the wrist and thigh sensors' accelerometer and gyroscope; and, with the
camera compensation switched off (``--static-camera``), that the errors are much larger.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from imusynth.config import PipelineConfig, load_pipeline_config, with_overrides
from imusynth.core.motion import Motion
from imusynth.core.placements import resolve_placements
from imusynth.core.sensors import simulate
from imusynth.core.skeletons import MEDIAPIPE_33
from imusynth.io.hdf5 import Clip, read_clips, validate_file
from imusynth.video.job import process_video

from .synthetic_body import BodyPath, SyntheticDetector, TrackingCamera, closed_form_sensor, render_video
from .synthetic_scene import SphereRenderer, intrinsics_matrix, make_panorama

W, H, FPS, N_FRAMES, HFOV = 480, 270, 30.0, 120, 60.0  # HFOV: the pipeline's default field of view
PLACEMENTS = ("wrist", "thigh")
DEG = np.pi / 180.0

#: Samples closer than this to either end of the clip are left out of the signal comparisons, s.
#: The zero-phase low-pass (3 Hz for video, run forwards and backwards from padded ends) and the
#: spline's end conditions disturb about 1.5 cut-off periods at each end (~0.5 s at 3 Hz; see
#: test_kinematics_alone_match_closed_form, which fails if this is too short).
EDGE_S = 0.5

#: Lowest kinematics cut-off for which the tolerances below hold, Hz (the motion stays under 0.5 Hz).
MIN_CUTOFF_HZ = 3.0

#: Camera-rate acceptance bound of the issue, rad/s (1 deg/s RMS).
MAX_RATE_ERR = 1.0 * DEG


@dataclass
class Run:
    clip: Clip
    calls: int

    @property
    def pose(self) -> dict[str, NDArray[Any]]:
        assert self.clip.pose is not None, "the video clip has no pose/ group"
        return self.clip.pose


def _config(*, static: bool) -> PipelineConfig:
    return with_overrides(load_pipeline_config(), {
        "output.placements": list(PLACEMENTS), "camera.static": True if static else None,
        "lift.fov_deg": HFOV, "output.rate_hz": 50.0,
    })


@pytest.fixture(scope="module")
def scene() -> tuple[BodyPath, TrackingCamera, NDArray[np.float64]]:
    body = BodyPath()
    return body, TrackingCamera(body), intrinsics_matrix(W, H, HFOV)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory, scene) -> Path:
    body, camera, K = scene
    # 2880 px over 360 deg: 0.125 deg per pixel, the camera's own resolution (60 deg over 480 px)
    pano = make_panorama(3, width=2880)
    path = tmp_path_factory.mktemp("synthetic") / "walker.mp4"
    return render_video(path, SphereRenderer(K, W, H), pano, body, camera, n_frames=N_FRAMES, fps=FPS)


def _run(video: Path, scene, *, static: bool) -> Run:
    body, camera, K = scene
    detector = SyntheticDetector(body, camera, K, fps=FPS)
    out = video.with_name(f"walker_static_{static}.h5")
    process_video(video, out, config=_config(static=static), detector_factory=lambda cfg: detector)
    assert validate_file(out) == []
    clips = read_clips(out, with_pose=True)
    assert len(clips) == 1
    return Run(clips[0], detector.calls)


@pytest.fixture(scope="module")
def compensated(video: Path, scene) -> Run:
    return _run(video, scene, static=False)


@pytest.fixture(scope="module")
def static(video: Path, scene) -> Run:
    return _run(video, scene, static=True)


def _rates(t: NDArray[np.float64], R_wc: NDArray[np.float64]) -> NDArray[np.float64]:
    """Camera angular velocity between consecutive frames in the camera frame, (T-1, 3), rad/s."""
    rel = np.einsum("tji,tjk->tik", R_wc[:-1], R_wc[1:])  # R(t-1)^T R(t): previous from current camera
    return Rotation.from_matrix(rel).as_rotvec() / np.diff(t)[:, None]


def _camera_errors(run: Run, camera: TrackingCamera) -> tuple[float, float, float]:
    """RMS rate error (rad/s), RMS true rate (rad/s), largest gravity-direction error (rad)."""
    t = run.pose["time"]
    R_est = run.pose["camera_rotation"].astype(np.float64)
    R_true = np.stack([camera.R_world_from_camera(float(x)) for x in t])
    err = _rates(t, R_est) - _rates(t, R_true)
    true_rms = float(np.sqrt(np.mean(np.sum(_rates(t, R_true) ** 2, axis=1))))
    # gravity direction: world up seen in camera coordinates (heading is arbitrary, tilt is not)
    up_est, up_true = R_est[:, 2, :], R_true[:, 2, :]
    tilt = np.arccos(np.clip(np.sum(up_est * up_true, axis=1), -1.0, 1.0))
    return float(np.sqrt(np.mean(np.sum(err**2, axis=1)))), true_rms, float(tilt.max())


def _signal_errors(run: Run, body: BodyPath) -> dict[str, dict[str, NDArray[np.float64]]]:
    """Per placement: per-axis RMS and max |error| of acc (m/s^2) and gyro (rad/s) in the interior."""
    out = {}
    for p in resolve_placements(list(PLACEMENTS)):
        s = run.clip.sensors[p.name]
        inner = (s.time >= s.time[0] + EDGE_S) & (s.time <= s.time[-1] - EDGE_S)
        assert s.valid[inner].all(), f"{p.name}: invalid samples inside the clip"
        acc, gyro = closed_form_sensor(body, p, s.time[inner])
        ea, eg = s.acc[inner] - acc, s.gyro[inner] - gyro
        out[p.name] = {"acc_rms": np.sqrt(np.mean(ea**2, axis=0)), "acc_max": np.abs(ea).max(axis=0),
                       "gyro_rms": np.sqrt(np.mean(eg**2, axis=0)), "gyro_max": np.abs(eg).max(axis=0)}
    return out


def test_kinematics_alone_match_closed_form(scene) -> None:
    """Control: the true world points through the sensors stage reproduce the closed form.

    This checks the closed-form derivation and EDGE_S. The signals' frequencies are at most 0.5 Hz
    (bob 0.5 Hz, turn 0.25 Hz, their products): the video cut-off (at least 3 Hz) zero-phase
    Butterworth (order 2 per pass) attenuates 0.5 Hz by at most 1 - 1/(1 + (0.5/3)^4) = 0.08 %,
    i.e. < 1e-3 m/s^2 on the ~0.8 m/s^2 bob and < 1e-3 rad/s on the ~1 rad/s turn; 5e-3 leaves
    room for the spline's interpolation error.
    """
    body, _, _ = scene
    t = np.arange(N_FRAMES) / FPS
    xyz = np.stack([body.points_world(float(x)) for x in t])
    motion = Motion(time=t, names=MEDIAPIPE_33, xyz=xyz, confidence=np.ones((N_FRAMES, 33)),
                    skeleton="mediapipe")
    cfg = _config(static=False)
    assert cfg.kinematics.video_cutoff_hz >= MIN_CUTOFF_HZ, "the tolerances assume a cut-off >= 3 Hz"
    sig = simulate(motion, resolve_placements(list(PLACEMENTS)), rate_hz=cfg.output.rate_hz,
                   cutoff_hz=cfg.kinematics.video_cutoff_hz, max_gap_s=cfg.kinematics.max_gap_s,
                   min_confidence=cfg.kinematics.min_confidence)
    for p in resolve_placements(list(PLACEMENTS)):
        s = sig[p.name]
        inner = (s.time >= EDGE_S) & (s.time <= s.time[-1] - EDGE_S)
        acc, gyro = closed_form_sensor(body, p, s.time[inner])
        assert np.std(acc, axis=0).max() > 0.3 and np.std(gyro, axis=0).max() > 0.3  # a real test signal
        np.testing.assert_allclose(s.acc[inner], acc, atol=5e-3, err_msg=p.name)
        np.testing.assert_allclose(s.gyro[inner], gyro, atol=5e-3, err_msg=p.name)


def test_every_frame_reaches_the_clip(compensated: Run) -> None:
    pose = compensated.pose
    assert compensated.calls == N_FRAMES
    # mp4v at 30 fps: container times are exact multiples of 1/30 s (up to float rounding)
    np.testing.assert_allclose(pose["time"], np.arange(N_FRAMES) / FPS, atol=1e-6)
    assert pose["lift_ok"].all()
    assert compensated.clip.attrs["camera_static"] in (False, 0)


def test_camera_rotation_matches_truth(compensated: Run, scene) -> None:
    """Camera rate error below 1 deg/s RMS (the issue's bound); gravity direction within 0.5 deg.

    The gravity bound: the body is exactly upright, so refining the first frame's (3 deg wrong)
    level assumption with the body's vertical is exact and what remains is the drift of the
    accumulated rotation; 0.5 deg of tilt would leak G0 sin(0.5 deg) = 0.09 m/s^2 into the
    horizontal accelerometer axes, under half the accelerometer tolerance below.
    """
    _, camera, _ = scene
    rate_rms, true_rms, tilt_max = _camera_errors(compensated, camera)
    assert true_rms > 15 * DEG  # the camera really moves (pan 20 deg/s plus sway, tilt, roll)
    assert rate_rms < MAX_RATE_ERR, f"camera rate error {np.degrees(rate_rms):.3f} deg/s RMS"
    assert tilt_max < 0.5 * DEG, f"gravity direction off by {np.degrees(tilt_max):.3f} deg"


def test_compensated_sensors_match_closed_form(compensated: Run, scene) -> None:
    """The wrist and thigh signals equal the closed form up to the camera estimate's error.

    With ideal landmarks the kinematics alone are exact to ~1e-3 (control test above), so the
    remaining error is that of the camera compensation:

    - gyroscope: the body's angular velocity in the world is its rate relative to the camera plus
      the camera's rate, so the gyroscope error is the camera-rate error seen through the kinematics
      low-pass: it must stay within the same 1 deg/s RMS (and 3 deg/s at any sample);
    - accelerometer: 0.2 m/s^2 RMS per axis (0.6 m/s^2 at any sample): 2 % of g, below the zero-g
      offset of a typical consumer MEMS accelerometer (40 mg and more), and about 5 times below
      the error left without compensation (test below). A 4-m lever turns an orientation error
      into a position error, which the second derivative amplifies, so this is the sensitive signal.
    """
    body, _, _ = scene
    for name, e in _signal_errors(compensated, body).items():
        assert e["gyro_rms"].max() < MAX_RATE_ERR, f"{name} gyro RMS error {e['gyro_rms']} rad/s"
        assert e["gyro_max"].max() < 3 * MAX_RATE_ERR, f"{name} gyro max error {e['gyro_max']} rad/s"
        assert e["acc_rms"].max() < 0.2, f"{name} acc RMS error {e['acc_rms']} m/s^2"
        assert e["acc_max"].max() < 0.6, f"{name} acc max error {e['acc_max']} m/s^2"


def test_without_compensation_errors_are_much_larger(compensated: Run, static: Run, scene) -> None:
    """--static-camera: the camera's rotation is taken for the body's, so the errors grow many-fold."""
    body, camera, _ = scene
    rate_static, true_rms, tilt_static = _camera_errors(static, camera)
    rate_comp, _, _ = _camera_errors(compensated, camera)
    # a static camera has no rate: the whole camera rate is error
    assert rate_static == pytest.approx(true_rms, rel=1e-3)
    assert rate_static > 10 * rate_comp
    assert tilt_static > 2 * DEG  # the 4-deg tilt sway is read as the body tilting
    e_static = _signal_errors(static, body)
    e_comp = _signal_errors(compensated, body)
    for name in PLACEMENTS:
        gyro_s, gyro_c = np.linalg.norm(e_static[name]["gyro_rms"]), np.linalg.norm(e_comp[name]["gyro_rms"])
        acc_s, acc_c = np.linalg.norm(e_static[name]["acc_rms"]), np.linalg.norm(e_comp[name]["acc_rms"])
        assert gyro_s > 10 * DEG and gyro_s > 10 * gyro_c, (name, gyro_s, gyro_c)
        assert acc_s > 0.5 and acc_s > 3 * acc_c, (name, acc_s, acc_c)


def test_post_processing_needs_no_scipy(video: Path, scene, tmp_path: Path) -> None:
    """Issue 14: after the streaming pass the job lifts, filters, splines and writes without importing SciPy
    (~0.6 s of import on a 2-core machine, the gap between end-to-end and pose-only speed on a short clip).
    The job runs in a fresh interpreter on this module's video with its ideal detections replayed (the
    synthetic helpers themselves use SciPy, so they run here); h5py's presence shows that the probe sees
    imports."""
    import pickle

    from tests.test_startup import loaded_after

    body, camera, K = scene
    detector = SyntheticDetector(body, camera, K, fps=FPS)
    frames = [detector.detect(np.zeros((H, W, 3), np.uint8), k / FPS) for k in range(N_FRAMES)]
    (tmp_path / "dets.pkl").write_bytes(pickle.dumps(frames))
    overrides = {"output.placements": list(PLACEMENTS), "camera.static": True, "lift.fov_deg": HFOV,
                 "output.rate_hz": 50.0}
    code = f"""
import pickle
from pathlib import Path
from imusynth.config import load_pipeline_config, with_overrides
from imusynth.video.job import process_video

frames = pickle.loads(Path({str(tmp_path / "dets.pkl")!r}).read_bytes())

class Replay:
    def __enter__(self): return self
    def __exit__(self, *exc): return None
    def detect(self, image, time_s): return frames[round(time_s * {FPS!r})]

cfg = with_overrides(load_pipeline_config(), {overrides!r})
process_video(Path({str(video)!r}), Path({str(tmp_path / "o.h5")!r}), config=cfg,
              detector_factory=lambda c: Replay())
"""
    loaded = loaded_after(code)
    assert (tmp_path / "o.h5").stat().st_size > 0
    assert "h5py" in loaded and "scipy" not in loaded, loaded
