"""A rigid body moving on a closed-form path, seen by a rotating camera: ground truth for the video pipeline.

Everything after pose estimation is checked against this scene: the body's landmarks are projected
through the camera to make the detections a pose backend would return, and the body's motion gives
the sensors' signals in closed form.

Frames (z-up world, OpenCV camera: x right, y down, z forward; see :mod:`synthetic_scene`)
------------------------------------------------------------------------------------------
- The camera's optical centre is the world origin; its orientation follows :class:`TrackingCamera`.
- The body's own frame ``B`` is MediaPipe's world-landmark frame of a body facing a level camera
  that looks along world +y: ``X_B`` = :func:`imusynth.video.lift.standing_pose` (x to the image right,
  y down, z away from the camera, origin at the hip centre). Body points in the world are
  ``p_i(t) = c(t) + R_wb(t) X_B,i`` with ``R_wb(t) = Rz(-psi(t)) R_LEVEL``: the body turns about
  the vertical by ``psi`` (positive to the right, like the camera's pan) and stays upright.
- The hip centre walks on a circle of radius ``distance_m`` around the camera at the azimuth
  ``phi(t) = azimuth_rate t`` (direction ``(sin phi, cos phi, 0)``) and bobs vertically by
  ``bob_amplitude sin(2 pi bob_freq t)``; the body faces the camera and turns about that by
  ``psi(t) - phi(t) = turn_amplitude sin(2 pi turn_freq t)``.

Closed-form sensor signals (:func:`closed_form_sensor`)
-------------------------------------------------------
A sensor on a rigid body has a fixed orientation ``R_bs`` and position ``r`` in ``B``. With the
body's angular velocity ``w_b`` and acceleration ``a_b = dw_b/dt`` in ``B`` (here the body turns
about one axis fixed in ``B``, ``w_b = -psi' R_LEVEL^T z``):

- gyroscope ``= R_bs^T w_b``;
- accelerometer (specific force) ``= R_bs^T R_wb^T (c'' + R_wb (a_b x r + w_b x (w_b x r)) + G0 z)``.

``R_bs`` and ``r`` follow the placement's documented definition (``imusynth/data/placements.toml``):
segment x = unit(primary), y = the secondary orthogonalised to x, z = x cross y, sensor axes from
``axes``, position ``origin + along * primary + R_bs offset_m``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from imusynth.core.conventions import G0
from imusynth.core.placements import Placement, Vector
from imusynth.core.skeletons import MEDIAPIPE_33
from imusynth.video.lift import standing_pose
from imusynth.video.pose.detection import PoseDetection

from .synthetic_scene import R_LEVEL, SphereRenderer

TWO_PI = 2.0 * np.pi
Z = np.array([0.0, 0.0, 1.0])

#: Segments drawn for the stick figure (pairs of MediaPipe landmark names).
_BONES = [
    ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"), ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    ("left_ankle", "left_foot_index"), ("right_ankle", "right_foot_index"), ("left_wrist", "left_index"),
    ("right_wrist", "right_index"),
]


def _rz(a: float) -> NDArray[np.float64]:
    return Rotation.from_rotvec([0.0, 0.0, a]).as_matrix()


def _rx(a: float) -> NDArray[np.float64]:
    return Rotation.from_rotvec([a, 0.0, 0.0]).as_matrix()


@dataclass(frozen=True)
class BodyPath:
    """Closed-form motion of a rigid upright body around the camera (see the module notes).

    Attributes
    ----------
    distance_m : float, m
        Horizontal distance of the hip centre from the camera (constant: the lifting stage smooths depth).
    hip_height_m : float, m
        Mean height of the hip centre relative to the camera.
    azimuth_rate : float, rad/s
        Rate at which the body walks around the camera.
    bob_amplitude : float, m; bob_freq : float, Hz
        Vertical oscillation of the hip centre.
    turn_amplitude : float, rad; turn_freq : float, Hz
        Turning of the body about the vertical, relative to facing the camera.
    """

    distance_m: float = 4.0
    hip_height_m: float = 0.0
    azimuth_rate: float = np.radians(20.0)
    bob_amplitude: float = 0.08
    bob_freq: float = 0.5
    turn_amplitude: float = np.radians(35.0)
    turn_freq: float = 0.25
    pose_b: NDArray[np.float64] = field(default_factory=standing_pose, repr=False)

    def azimuth(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """``phi(t)``, rad, shape (T,)."""
        return self.azimuth_rate * np.asarray(t, dtype=np.float64)

    def yaw(self, t: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
        """``psi``, ``psi'``, ``psi''`` (rad, rad/s, rad/s^2), each shape (T,)."""
        t = np.asarray(t, dtype=np.float64)
        w = TWO_PI * self.turn_freq
        a = self.turn_amplitude
        return (self.azimuth_rate * t + a * np.sin(w * t), self.azimuth_rate + a * w * np.cos(w * t),
                -a * w * w * np.sin(w * t))

    def hip(self, t: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
        """Hip centre ``c``, ``c'``, ``c''`` in the world (m, m/s, m/s^2), each shape (T, 3)."""
        t = np.asarray(t, dtype=np.float64)
        phi, r, k = self.azimuth_rate * t, self.distance_m, self.azimuth_rate
        wb, ab = TWO_PI * self.bob_freq, self.bob_amplitude
        s, c = np.sin(phi), np.cos(phi)
        pos = np.stack([r * s, r * c, self.hip_height_m + ab * np.sin(wb * t)], axis=1)
        vel = np.stack([r * k * c, -r * k * s, ab * wb * np.cos(wb * t)], axis=1)
        acc = np.stack([-r * k * k * s, -r * k * k * c, -ab * wb * wb * np.sin(wb * t)], axis=1)
        return pos, vel, acc

    def R_world_from_body(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """``R_wb(t) = Rz(-psi) R_LEVEL``, shape (T, 3, 3)."""
        psi = self.yaw(t)[0]
        return np.stack([_rz(-p) @ R_LEVEL for p in psi])

    def points_world(self, t: float) -> NDArray[np.float64]:
        """The 33 landmarks in the world at time ``t`` (s), shape (33, 3), m."""
        tt = np.array([t], dtype=np.float64)
        return self.hip(tt)[0][0] + self.pose_b @ self.R_world_from_body(tt)[0].T


@dataclass(frozen=True)
class TrackingCamera:
    """A hand-held camera following the body: pan, tilt and roll as closed-form functions of time.

    ``pan(t) = body.azimuth(t) + pan_amplitude sin(2 pi pan_freq t)`` (the operator follows the
    walker, a little unsteadily), ``tilt(t) = tilt0 + tilt_amplitude sin(2 pi tilt_freq t)``,
    ``roll(t) = roll_amplitude sin(2 pi roll_freq t)``; angles in rad, frequencies in Hz.
    ``R_world_from_camera = Rz(-pan) R_LEVEL Rx(tilt) Rz(roll)`` as in :class:`synthetic_scene.CameraPath`.
    A non-zero ``tilt0`` makes the pipeline's level-camera assumption at the first frame wrong, which
    the body's upright posture must correct.
    """

    body: BodyPath
    pan_amplitude: float = np.radians(6.0)
    pan_freq: float = 0.35
    tilt0: float = np.radians(3.0)
    tilt_amplitude: float = np.radians(4.0)
    tilt_freq: float = 0.3
    roll_amplitude: float = np.radians(2.0)
    roll_freq: float = 0.5

    def R_world_from_camera(self, t: float) -> NDArray[np.float64]:
        """Camera orientation at ``t`` (s), shape (3, 3)."""
        sway = self.pan_amplitude * np.sin(TWO_PI * self.pan_freq * t)
        pan = float(self.body.azimuth(np.array([t]))[0]) + sway
        tilt = self.tilt0 + self.tilt_amplitude * np.sin(TWO_PI * self.tilt_freq * t)
        roll = self.roll_amplitude * np.sin(TWO_PI * self.roll_freq * t)
        return _rz(-pan) @ R_LEVEL @ _rx(tilt) @ _rz(roll)


def detection(body: BodyPath, camera: TrackingCamera, K: NDArray[np.float64], t: float) -> PoseDetection:
    """What an ideal pose backend returns at ``t``: projected landmarks and camera-aligned world landmarks.

    ``image_xy`` is measured from the top-left pixel corner (the :class:`PoseDetection` convention),
    i.e. the pinhole projection with ``K`` (pixel centres on integers) plus 0.5 px; ``world_xyz`` is
    the body relative to its hip centre in camera axes; visibility and presence are 1.
    """
    pts = body.points_world(t)
    R = camera.R_world_from_camera(t)
    cam = pts @ R                                      # R^T p for each point: camera frame
    uv = (cam @ K.T)[:, :2] / cam[:, 2:3] + 0.5
    hip = body.hip(np.array([t]))[0][0]
    return PoseDetection.from_arrays(uv, world_xyz=(pts - hip) @ R)


def draw_figure(image: NDArray[np.uint8], uv: NDArray[np.float32]) -> None:
    """Draw a textured stick figure through the landmarks ``uv`` (33, 2), px from the pixel corner, in place.

    Each bone gets its own colour and a lighter core, so the figure has corners a feature tracker
    would follow: a real threat to the camera estimate unless the person is masked out.
    """
    index = {n: i for i, n in enumerate(MEDIAPIPE_33)}
    shift = 4  # sub-pixel drawing: coordinates in 1/16 px
    for k, (a, b) in enumerate(_BONES):
        pa = np.round((uv[index[a]] - 0.5) * (1 << shift)).astype(np.int64)
        pb = np.round((uv[index[b]] - 0.5) * (1 << shift)).astype(np.int64)
        colour = (int(60 + 37 * k % 190), int(200 - 23 * k % 160), int(90 + 51 * k % 150))
        ends = (int(pa[0]), int(pa[1])), (int(pb[0]), int(pb[1]))
        cv2.line(image, *ends, colour, 7, cv2.LINE_AA, shift)
        cv2.line(image, *ends, (240, 240, 230), 2, cv2.LINE_AA, shift)
    head = uv[index["nose"]] - 0.5
    cv2.circle(image, (int(round(head[0])), int(round(head[1]))), 9, (200, 160, 120), -1, cv2.LINE_AA)


def render_video(path: Path, renderer: SphereRenderer, panorama: NDArray[np.uint8], body: BodyPath,
                 camera: TrackingCamera, *, n_frames: int, fps: float) -> Path:
    """Write the scene as an mp4v video (frame ``i`` at ``i / fps`` s), one frame at a time."""
    size = (renderer.width, renderer.height)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write mp4v")
    try:
        for i in range(n_frames):
            t = i / fps
            img = renderer.render(panorama, camera.R_world_from_camera(t))
            draw_figure(img, detection(body, camera, renderer.K, t).image_xy)
            writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


class SyntheticDetector:
    """A pose backend (context manager with ``detect(image_rgb, time_s)``) returning the ideal detection.

    The frame is identified by its timestamp (``round(time_s * fps)``); ``calls`` counts the frames seen.
    """

    def __init__(self, body: BodyPath, camera: TrackingCamera, K: NDArray[np.float64], *, fps: float) -> None:
        self.body, self.camera, self.K, self.fps = body, camera, np.asarray(K, dtype=np.float64), fps
        self.calls = 0

    def __enter__(self) -> SyntheticDetector:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def detect(self, image_rgb: NDArray[np.uint8], time_s: float) -> list[PoseDetection]:
        """One detection at the frame time that ``time_s`` rounds to."""
        self.calls += 1
        return [detection(self.body, self.camera, self.K, round(time_s * self.fps) / self.fps)]


# --------------------------------------------------------------------------------------------------
# closed-form sensors
# --------------------------------------------------------------------------------------------------


def _mean(pose: NDArray[np.float64], names: tuple[str, ...]) -> NDArray[np.float64]:
    return pose[[MEDIAPIPE_33.index(n) for n in names]].mean(axis=0)


def _vec(pose: NDArray[np.float64], v: Vector, origin: NDArray[np.float64]) -> NDArray[np.float64]:
    tail = _mean(pose, v.tail) if v.tail else origin
    return _mean(pose, v.head) - tail


def sensor_in_body(placement: Placement, pose_b: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """Orientation ``R_bs`` (3, 3) and position ``r`` (3,), m, of a sensor in the body frame.

    Follows the documented placement definition with the first definition whose points are all
    MediaPipe landmarks (the wrist and thigh placements use MediaPipe names directly).
    """
    d = placement.resolve(MEDIAPIPE_33)
    origin = _mean(pose_b, d.origin)
    u = _vec(pose_b, d.primary, origin)
    w = _vec(pose_b, d.secondary, origin)
    x = u / np.linalg.norm(u)
    y = w - (w @ x) * x
    y /= np.linalg.norm(y)
    R_seg = np.stack([x, y, np.cross(x, y)], axis=1)
    R_bs = R_seg @ d.R_seg_sensor
    return R_bs, origin + placement.along * u + R_bs @ placement.offset_m


def closed_form_sensor(body: BodyPath, placement: Placement, t: NDArray[np.float64]
                       ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Exact accelerometer (m/s^2, specific force) and gyroscope (rad/s) signals, each (T, 3), sensor axes."""
    R_bs, r = sensor_in_body(placement, body.pose_b)
    _, dpsi, ddpsi = body.yaw(t)
    axis_b = -(R_LEVEL.T @ Z)                        # w_world = -psi' z  ->  w_b = psi' axis_b
    w_b = dpsi[:, None] * axis_b
    a_b = ddpsi[:, None] * axis_b
    R_wb = body.R_world_from_body(t)
    _, _, c_acc = body.hip(t)
    rel_b = np.cross(a_b, r) + np.cross(w_b, np.cross(w_b, r))
    f_b = np.einsum("tji,tj->ti", R_wb, c_acc + G0 * Z) + rel_b      # specific force in B
    return f_b @ R_bs, w_b @ R_bs

