"""Acceptance point 2 of the video issue: four synchronised views of one motion must give the same sensors.

Data: ``../shared/videos/pose2sim/Demo_SinglePerson`` (4 calibrated portrait cameras, 60 fps, 100 frames
of one person balancing; a bystander in the background of some views) and Pose2Sim's triangulation of
the same take (``reference_pose3d_from_history/*BalancingTrial_0-100_filt_butterworth.trc``).

Each view goes through the whole pipeline (:func:`imusynth.video.job.process_video`, default settings:
lite model, camera-motion estimation on, 60 deg field of view); the reference goes through the
``imusynth motion`` job. Every view's world frame is its own camera's level frame, so headings differ
between views, but the sensor-frame signals are defined by the body and must agree.

Sensors: the built-in forearm, wrist and thigh placements for the view-to-view comparison (the forearm
and wrist frames use the hand points); for the comparison with the TRC, which has no hand points, the
forearm and wrist frames of both sides are built the same way, from elbow -> wrist and the shoulder
line (``_CMP_PLACEMENTS``), and the thighs need nothing else.

Measured figures (every r and RMSE, and the same for the full and heavy models and other cut-offs) are
in ``docs/validation.md`` ("Video: four views").
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from imusynth.config import load_pipeline_config, with_overrides
from imusynth.core.sensors import SensorSignals
from imusynth.io.hdf5 import Clip, read_clips
from imusynth.io.motion_job import run_motion_job
from imusynth.video.detectors import recording_detector, replay_detector
from imusynth.video.job import process_video
from imusynth.video.lift.lifters import OracleLifter
from imusynth.video.pose.detection import PoseDetection

from .conftest import shared_path

pytestmark = pytest.mark.slow

CAMS = ("cam01", "cam02", "cam03", "cam04")
VIEW_PLACEMENTS = ("left_forearm", "right_forearm", "left_wrist", "right_wrist", "left_thigh", "right_thigh",
                   "thigh")
CMP_PLACEMENTS = ("left_forearm_cmp", "right_forearm_cmp", "left_wrist_cmp", "right_wrist_cmp", "left_thigh",
                  "right_thigh", "thigh")
_CMP_PLACEMENTS = """
[placements.left_forearm_cmp]
origin = "left_elbow"
primary = "left_wrist"
secondary = "right_shoulder->left_shoulder"
axes = ["+x", "-z", "+y"]
along = 0.75
offset_m = [0.0, 0.0, 0.03]

[placements.right_forearm_cmp]
origin = "right_elbow"
primary = "right_wrist"
secondary = "left_shoulder->right_shoulder"
axes = ["+x", "-z", "+y"]
along = 0.75
offset_m = [0.0, 0.0, 0.03]

[placements.left_wrist_cmp]
origin = "left_wrist"
primary = "left_elbow->left_wrist"
secondary = "right_shoulder->left_shoulder"
axes = ["+x", "-z", "+y"]
offset_m = [0.0, 0.0, 0.025]

[placements.right_wrist_cmp]
origin = "right_wrist"
primary = "right_elbow->right_wrist"
secondary = "left_shoulder->right_shoulder"
axes = ["-x", "+z", "+y"]
offset_m = [0.0, 0.0, 0.025]
"""

#: MediaPipe landmark pairs (left, right) and the TRC markers of the same joints, per label group.
_GROUP_JOINTS = {
    "torso": [(23, 24, "LHip", "RHip"), (11, 12, "LShoulder", "RShoulder")],
    "legs": [(25, 26, "LKnee", "RKnee"), (27, 28, "LAnkle", "RAnkle")],
    "arms": [(13, 14, "LElbow", "RElbow"), (15, 16, "LWrist", "RWrist")],
}


def _read_trc(path: Path) -> tuple[list[str], np.ndarray]:
    """Marker names and positions (T, M, 3) in the calibration's world frame (TRC axes are its y, z, x), m."""
    lines = path.read_text().splitlines()
    names = [n for n in lines[3].split("\t")[2:] if n]
    rows = [row.split("\t")[2: 2 + 3 * len(names)] for row in lines[5:] if row.strip()]
    xyz = np.array(rows, dtype=float).reshape(-1, len(names), 3)
    return names, xyz[:, :, [2, 0, 1]]


def _camera(calib_xml: str, cam: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rotation camera<-world, camera centre (m), focal lengths and principal point (px) of one camera.

    Qualisys stores intrinsics in 1/64 px and the camera pose as a rotation ``r`` and position (mm);
    the OpenCV camera frame is ``diag(1, -1, -1) r (X - p)``.
    """
    node = next(c for c in ET.fromstring(calib_xml).iter("camera") if c.get("serial") == cam)
    intr = {k: float(v) for k, v in node.find("intrinsic").attrib.items()}  # type: ignore[union-attr]
    tr = {k: float(v) for k, v in node.find("transform").attrib.items()}  # type: ignore[union-attr]
    r = np.array([[tr[f"r{i}{j}"] for j in (1, 2, 3)] for i in (1, 2, 3)])
    centre = np.array([tr["x"], tr["y"], tr["z"]]) / 1000.0
    f = np.array([intr["focalLengthU"], intr["focalLengthV"]]) / 64
    c = np.array([intr["centerPointU"], intr["centerPointV"]]) / 64
    return np.diag([1.0, -1.0, -1.0]) @ r, centre, f, c


def _in_camera(calib_xml: str, cam: str, xyz: np.ndarray) -> np.ndarray:
    """World points (..., 3) m in the OpenCV frame of a Qualisys-calibrated camera, m."""
    R_cw, centre, _, _ = _camera(calib_xml, cam)
    return (xyz - centre) @ R_cw.T


def _project(calib_xml: str, cam: str, xyz: np.ndarray) -> np.ndarray:
    """Pixel positions (pixel centres on integers) of world points in a Qualisys-calibrated camera.

    Lens distortion (k1 ~ -0.05) moves points by a few px at most in the body's part of the image and
    is ignored.
    """
    _, _, f, c = _camera(calib_xml, cam)
    pc = _in_camera(calib_xml, cam, xyz)
    return pc[..., :2] / pc[..., 2:3] * f + c


def _pair_stats(a: SensorSignals, b: SensorSignals, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis Pearson r and RMSE of ``a`` and ``b`` (b interpolated onto a's times, valid samples only)."""
    x = getattr(a, kind)
    y = np.stack([np.interp(a.time, b.time, getattr(b, kind)[:, k], left=np.nan, right=np.nan)
                  for k in range(3)], axis=1)
    ok = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)
    r = np.array([np.corrcoef(x[ok, k], y[ok, k])[0, 1] for k in range(3)])
    rmse = np.sqrt(np.mean((x[ok] - y[ok]) ** 2, axis=0))
    return r, rmse


@pytest.fixture(scope="module")
def recorded_views(tmp_path_factory: pytest.TempPathFactory
                   ) -> tuple[dict[str, Clip], dict[str, dict[float, list[PoseDetection]]]]:
    """Each view's main clip (pose arrays included), processed with the default settings, and the pose
    model's detections of every frame (to run the later stages again without the model)."""
    root = shared_path("videos", "pose2sim", "Demo_SinglePerson", "videos")
    models = shared_path("models")
    out = tmp_path_factory.mktemp("views")
    (out / "cmp.toml").write_text(_CMP_PLACEMENTS)
    cfg = with_overrides(load_pipeline_config(), {
        "output.placements": list(VIEW_PLACEMENTS + CMP_PLACEMENTS),
        "output.placements_file": str(out / "cmp.toml"),
    })
    clips, detections = {}, {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMUSYNTH_MODEL_DIR", str(models))
        for cam in CAMS:
            detections[cam] = {}
            h5 = process_video(root / f"{cam}.mp4", out / f"{cam}.h5", config=cfg,
                               detector_factory=recording_detector(detections[cam]))
            (clip,) = read_clips(h5, with_pose=True)
            clips[cam] = clip
    return clips, detections


@pytest.fixture(scope="module")
def views(recorded_views: tuple[dict[str, Clip], dict[str, dict[float, list[PoseDetection]]]]
          ) -> dict[str, Clip]:
    """Each view's main clip (pose arrays included), processed with the default settings."""
    return recorded_views[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """The triangulated TRC through the ``imusynth motion`` job, with the comparison placements."""
    trc = shared_path("videos", "pose2sim", "reference_pose3d_from_history",
                      "S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc")
    out = tmp_path_factory.mktemp("reference")
    (out / "cmp.toml").write_text(_CMP_PLACEMENTS)
    cfg = with_overrides(load_pipeline_config(), {
        "output.placements": list(CMP_PLACEMENTS), "output.placements_file": str(out / "cmp.toml"),
    })
    (clip,) = read_clips(run_motion_job(trc, out / "ref.h5", cfg=cfg))
    return clip


def test_each_view_keeps_left_and_right_where_the_triangulation_has_them(views: dict[str, Clip]) -> None:
    """The clips' corrected 2-D labels against the triangulated joints projected into each camera.

    With its face blurred, the model alternates between "facing the camera" and "facing away" in cam02
    (61 % of its frames carry exchanged left/right labels; cam01 4 %), and exchanges single limbs now
    and then. A frame counts where the labelled and the exchanged assignment differ by more than 30 %
    in summed distance to the projected joints (elsewhere the two sides overlap in the image and the
    labels carry no identity). Required: at least 90 % of those frames right in every view and group
    (measured with the lite model: 92-100 %; without the correction cam02's torso is right in 39 %).
    """
    calib = shared_path("videos", "pose2sim", "Demo_SinglePerson", "calibration", "Calib.qca.txt").read_text()
    names, xyz = _read_trc(shared_path("videos", "pose2sim", "reference_pose3d_from_history",
                                       "S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc"))
    for cam, clip in views.items():
        assert clip.pose is not None
        fi = clip.pose["frame_index"].astype(int)
        xy = clip.pose["image_xy"].astype(float) - 0.5        # pixel corner -> pixel centre convention
        uv = _project(calib, cam, xyz)[fi]
        for group, joints in _GROUP_JOINTS.items():
            keep = swap = np.zeros(len(fi))
            for li, ri, lname, rname in joints:
                gl, gr = uv[:, names.index(lname)], uv[:, names.index(rname)]
                keep = keep + np.linalg.norm(xy[:, li] - gl, axis=1) + np.linalg.norm(xy[:, ri] - gr, axis=1)
                swap = swap + np.linalg.norm(xy[:, li] - gr, axis=1) + np.linalg.norm(xy[:, ri] - gl, axis=1)
            decided = np.isfinite(keep) & (np.minimum(keep, swap) < 0.7 * np.maximum(keep, swap))
            right = float(np.mean(keep[decided] < swap[decided]))
            assert decided.sum() >= 50, f"{cam} {group}: only {decided.sum()} frames with distinct sides"
            assert right >= 0.9, f"{cam} {group}: left/right right in {right:.0%} of {decided.sum()} frames"


@pytest.mark.xfail(strict=True, reason=(
    "not met: monocular depth errors of the pose model. Measured (lite, defaults, 3 Hz video cut-off): "
    "median pairwise gyro r 0.17 over 7 sensors x 3 axes x 6 view pairs (full 0.30, heavy 0.40 on cached "
    "pose; 0.08/0.23/0.25 at the old 6 Hz); see docs/validation.md 'Video: four views'"))
def test_views_agree_median_pairwise_gyroscope_r(views: dict[str, Clip], reference: Clip) -> None:
    """Issue target: the median over sensors, axes and view pairs of the gyroscope's Pearson r is >= 0.8."""
    rs, refs = [], []
    for p in VIEW_PLACEMENTS:
        for a, b in itertools.combinations(CAMS, 2):
            rs.append(_pair_stats(views[a].sensors[p], views[b].sensors[p], "gyro")[0])
    for p in CMP_PLACEMENTS:
        for cam in CAMS:
            refs.append(_pair_stats(views[cam].sensors[p], reference.sensors[p], "gyro")[0])
    median_r = float(np.median(rs))
    assert median_r >= 0.8, (f"median pairwise gyro r {median_r:.2f} (target 0.8); "
                             f"median gyro r against the triangulated reference {np.median(refs):.2f}")


#: The triangulated markers and the MediaPipe landmarks they are (the oracle lifter's joints).
TRIANGULATED = {"LShoulder": "left_shoulder", "RShoulder": "right_shoulder", "LElbow": "left_elbow",
                "RElbow": "right_elbow", "LWrist": "left_wrist", "RWrist": "right_wrist", "LHip": "left_hip",
                "RHip": "right_hip", "LKnee": "left_knee", "RKnee": "right_knee", "LAnkle": "left_ankle",
                "RAnkle": "right_ankle", "LHeel": "left_heel", "RHeel": "right_heel",
                "LBigToe": "left_foot_index", "RBigToe": "right_foot_index", "Nose": "nose"}


def oracle_lifter(cam: str) -> OracleLifter:
    """The depth oracle of one view: the triangulated joints put in that camera, as a lifter.

    Frame ``k`` of the TRC is frame ``k`` of each video (the take's 100 frames).
    """
    calib = shared_path("videos", "pose2sim", "Demo_SinglePerson", "calibration", "Calib.qca.txt").read_text()
    names, xyz = _read_trc(shared_path("videos", "pose2sim", "reference_pose3d_from_history",
                                       "S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc"))
    ref = _in_camera(calib, cam, xyz[:, [names.index(m) for m in TRIANGULATED]])
    return OracleLifter(ref, list(TRIANGULATED.values()), name=f"oracle:triangulation:{cam}")


def test_views_agree_with_triangulated_depth(
        recorded_views: tuple[dict[str, Clip], dict[str, dict[float, list[PoseDetection]]]], reference: Clip,
        tmp_path: Path) -> None:
    """Depth oracle: every stage of imusynth after the 3-D lifter meets the target when the 3-D is right.

    Each view runs through the whole job again (the pose model's recorded detections, the same 2-D) with
    :class:`~imusynth.video.lift.lifters.OracleLifter`: the body's shape in each frame is the triangulated
    joints put in that camera (hands and face filled from MediaPipe, rigidly attached: docs/lifting.md);
    the PnP placement, depth smoothing, camera rotation, world frame, filter and sensors are the pipeline's.
    Sensors: the hand-free forearm/wrist placements and the thighs (the TRC has no hand points). The issue's
    target (median pairwise gyroscope r >= 0.8) must then be met; with MediaPipe's own 3-D the same
    computation gives 0.17 (lite; docs/validation.md "Video: four views"), so the lifter is the whole gap.
    """
    _, detections = recorded_views
    root = shared_path("videos", "pose2sim", "Demo_SinglePerson", "videos")
    (tmp_path / "cmp.toml").write_text(_CMP_PLACEMENTS)
    cfg = with_overrides(load_pipeline_config(), {
        "output.placements": list(CMP_PLACEMENTS), "output.placements_file": str(tmp_path / "cmp.toml"),
    })
    sensors = {}
    for cam in CAMS:
        lifter = oracle_lifter(cam)
        h5 = process_video(root / f"{cam}.mp4", tmp_path / f"{cam}.h5", config=cfg,
                           detector_factory=replay_detector(detections[cam]), lifter=lifter)
        (clip,) = read_clips(h5)
        assert clip.attrs["lifter"] == lifter.name and clip.attrs["lifter_sha256"] == lifter.sha256
        sensors[cam] = clip.sensors
    rs = [_pair_stats(sensors[a][p], sensors[b][p], "gyro")[0]
          for p in CMP_PLACEMENTS for a, b in itertools.combinations(CAMS, 2)]
    refs = [_pair_stats(sensors[cam][p], reference.sensors[p], "gyro")[0]
            for p in CMP_PLACEMENTS for cam in CAMS]
    median_r = float(np.median(rs))
    assert median_r >= 0.8, (f"with the oracle lifter: median pairwise gyro r {median_r:.3f} (target 0.8), "
                             f"vs the triangulated reference {np.median(refs):.3f}")
