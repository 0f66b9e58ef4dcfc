"""Virtual cameras and pose-model-like 2-D noise: training input for the temporal lifter from motion capture.

A take's 3-D joints (z-up world, metres) are seen by a random static pinhole camera
(:func:`random_camera`): distance, height, heading around the person, aim with pitch/roll jitter, a
horizontal field of view of 40-75 degrees and a portrait or landscape image. :func:`corrupt` then
makes the projected joints look like a pose model's output: per-joint noise with a slow (drifting)
and a frame-to-frame part, rare gross errors, missing keypoints (confidence 0) and left/right label
confusions, all scaled by the body's size in the image.

The noise constants were measured on MediaPipe lite (``benchmarks/bench_lifter.py noise``); see
:data:`MEDIAPIPE_LITE_2D_ERROR` for how.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from imusynth.video.lift.temporal import mirror_indices

#: MediaPipe lite's 2-D error per joint group, as a fraction of the body height in px, measured by
#: ``python benchmarks/bench_lifter.py noise``: the video pipeline (lite model, default settings, after its
#: left/right repair) on the four calibrated views of ../shared/videos/pose2sim/Demo_SinglePerson (60 fps,
#: 100 frames each, 1 person balancing), against Pose2Sim's triangulated TRC projected through each
#: camera's Qualisys calibration (lens distortion ignored); body height in px = f * H / depth of the hip
#: midpoint with H = 1.56 m (median vertical extent of the markers). Values: (median error norm, share
#: of the error that is frame-to-frame jitter = white RMS / total RMS). The reference itself comes from
#: another keypoint model (HALPE-26), so definition differences of the joints are part of the figures.
MEDIAPIPE_LITE_2D_ERROR: dict[str, tuple[float, float]] = {
    "shoulder": (0.018, 0.53),
    "hip": (0.030, 0.21),
    "elbow": (0.020, 0.66),
    "wrist": (0.022, 0.69),
    "knee": (0.022, 0.43),
    "ankle": (0.022, 0.60),
}

#: Fallback for joints outside the groups above (head, neck, toes...): the mean of the groups.
DEFAULT_2D_ERROR: tuple[float, float] = (0.022, 0.52)

#: Share of the keypoints (shoulders to ankles) whose visibility was below 0.3 in the same measurement.
MEDIAPIPE_LITE_DROPOUT = 0.041

#: Frames whose left/right labels were exchanged by the pipeline's repair (raw model output, same
#: measurement): the raw rate of whole-body label flips.
MEDIAPIPE_LITE_RAW_FLIP_RATE = 0.17

#: Share of frames per joint pair whose labels were still exchanged after the repair (same measurement:
#: 0.3-0.8 % for shoulders, hips, elbows, wrists, knees; 2.4 % for ankles).
MEDIAPIPE_LITE_RESIDUAL_SWAP = 0.01

#: Gross errors: the share of keypoints off by far more than the noise, and their size (fraction of the
#: body height); from the measured p90 / RMS excess over a Gaussian with the median above.
GROSS_ERROR_RATE = 0.02
GROSS_ERROR_SIZE = 0.12

#: Landscape and portrait image sizes (w, h), px.
IMAGE_SIZES: tuple[tuple[int, int], ...] = (
    (1920, 1080), (1280, 720), (640, 480), (1080, 1920), (720, 1280), (480, 640),
)


@dataclass(frozen=True)
class VirtualCamera:
    """A static pinhole camera.

    Attributes
    ----------
    R_cam_world : ndarray, shape (3, 3)
        Rotation world (z up) → camera (x right, y down, z forward).
    centre : ndarray, shape (3,), m
        Camera centre in the world.
    focal_px : float
        Focal length, px (square pixels).
    image_size : (int, int)
        (w, h), px; the principal point is the image centre.
    """

    R_cam_world: NDArray[np.float64]
    centre: NDArray[np.float64]
    focal_px: float
    image_size: tuple[int, int]

    def to_camera(self, xyz: NDArray[np.float64]) -> NDArray[np.float64]:
        """World points (..., 3) m → camera frame (..., 3) m."""
        return np.asarray((xyz - self.centre) @ self.R_cam_world.T, dtype=np.float64)

    def project(self, xyz: NDArray[np.float64]) -> NDArray[np.float64]:
        """World points (..., 3) m → pixels (..., 2) (x right, y down; NaN behind the camera)."""
        pc = self.to_camera(xyz)
        z = np.where(pc[..., 2:3] > 1e-3, pc[..., 2:3], np.nan)
        c = np.array(self.image_size, dtype=np.float64) / 2.0
        return np.asarray(pc[..., :2] / z * self.focal_px + c, dtype=np.float64)


def look_at(centre: NDArray[np.float64], target: NDArray[np.float64], roll_rad: float = 0.0
            ) -> NDArray[np.float64]:
    """Rotation world (z up) → camera (x right, y down, z forward) of a camera at ``centre`` aiming at
    ``target``, turned by ``roll_rad`` about its optical axis."""
    fwd = np.asarray(target, float) - np.asarray(centre, float)
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-6:
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd])
    c, s = np.cos(roll_rad), np.sin(roll_rad)
    return np.asarray(np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ R, dtype=np.float64)


def random_camera(
    rng: np.random.Generator,
    pelvis: NDArray[np.float64],
    *,
    height_m: float = 1.7,
    fov_deg: tuple[float, float] = (40.0, 75.0),
    distance_m: tuple[float, float] = (2.0, 8.0),
    camera_height_m: tuple[float, float] = (0.4, 2.8),
    jitter_deg: float = 2.0,
) -> VirtualCamera:
    """A random static camera that sees a take's person.

    Parameters
    ----------
    rng : numpy Generator
    pelvis : ndarray, shape (T, 3), m
        The take's hip midpoint over time (world, z up).
    height_m : float
        The person's height; the camera stands far enough for the whole body to fit the shorter image side.
    fov_deg : (float, float)
        Range of the horizontal field of view, degrees.
    distance_m, camera_height_m : (float, float)
        Ranges of the horizontal distance from the take's mean hip position and of the camera's height.
    jitter_deg : float
        Standard deviation of the aim's pitch/yaw error and of the roll, degrees.

    Returns
    -------
    VirtualCamera
    """
    w, h = IMAGE_SIZES[int(rng.integers(len(IMAGE_SIZES)))]
    hfov = np.radians(rng.uniform(*fov_deg))
    focal = (w / 2.0) / np.tan(hfov / 2.0)
    short_fov = 2.0 * np.arctan(min(w, h) / 2.0 / focal)
    centre_xy = np.nanmean(pelvis[:, :2], axis=0)
    spread = float(np.nanmax(np.linalg.norm(pelvis[:, :2] - centre_xy, axis=1))) if len(pelvis) else 0.0
    # the whole body (and room for the aim's jitter) within the shorter side of the image
    min_fit = 1.4 * height_m / 2.0 / np.tan(short_fov / 2.0)
    dist = max(rng.uniform(*distance_m), min_fit) + spread
    yaw = rng.uniform(0.0, 2.0 * np.pi)
    cam_z = rng.uniform(*camera_height_m)
    ground = float(np.nanmin(pelvis[:, 2])) - 0.95 * height_m / 1.7
    centre = np.array([centre_xy[0] + dist * np.cos(yaw), centre_xy[1] + dist * np.sin(yaw), ground + cam_z])
    # aim at the body's middle, a little below the hips
    target = np.array([centre_xy[0], centre_xy[1], float(np.nanmean(pelvis[:, 2])) - 0.1 * height_m])
    jit = np.radians(jitter_deg)
    target = target + dist * np.array([rng.normal(0, jit), rng.normal(0, jit), rng.normal(0, jit)])
    R = look_at(centre, target, roll_rad=float(rng.normal(0.0, jit)))
    return VirtualCamera(R, centre, float(focal), (int(w), int(h)))


def _group(name: str) -> str:
    return name.split("_", 1)[1] if name.startswith(("left_", "right_")) else name


def _slow_noise(rng: np.random.Generator, shape: tuple[int, ...], corr_frames: float) -> NDArray[np.float64]:
    """Unit-variance Gaussian noise low-passed over ``corr_frames`` frames along axis 0."""
    t = shape[0]
    k = max(1, int(round(corr_frames)))
    raw = rng.normal(size=(t + 2 * k,) + shape[1:])
    kernel = np.hanning(2 * k + 1)
    kernel /= np.sqrt((kernel ** 2).sum())
    out = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 0, raw)
    return np.asarray(out[:t], dtype=np.float64)


def corrupt(
    rng: np.random.Generator,
    xy: NDArray[np.float64],
    body_px: NDArray[np.float64],
    names: Sequence[str],
    *,
    fps: float,
    level: float = 1.0,
    dropout: float = MEDIAPIPE_LITE_DROPOUT,
    swap_rate: float = MEDIAPIPE_LITE_RESIDUAL_SWAP,
    gross_rate: float = GROSS_ERROR_RATE,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Pose-model-like 2-D keypoints from exact projections.

    Parameters
    ----------
    rng : numpy Generator
    xy : ndarray, shape (T, J, 2), px
        Exact projections.
    body_px : ndarray, shape (T,), px
        The body's height in the image per frame (focal * height / depth).
    names : sequence of str
        Canonical keypoint names (pick each joint's noise level; left/right pairs for confusions).
    fps : float
        Frame rate, Hz (the slow noise part is correlated over about 0.3 s).
    level : float
        Multiplier of every noise size (0: exact input with full confidence).
    dropout, swap_rate, gross_rate : float
        Share of keypoints missing, of frames with a joint pair's labels exchanged, of gross errors.

    Returns
    -------
    xy : ndarray, shape (T, J, 2), px
    confidence : ndarray, shape (T, J), in [0, 1]
        0 for missing keypoints (their xy is NaN), otherwise uniform in [0.5, 1].
    """
    t, j = xy.shape[:2]
    out = np.array(xy, dtype=np.float64)
    conf = rng.uniform(0.5, 1.0, size=(t, j))
    if level <= 0:
        return out, np.ones((t, j))
    scale = np.asarray(body_px, dtype=np.float64)[:, None, None] * level
    sig = np.array([MEDIAPIPE_LITE_2D_ERROR.get(_group(n), DEFAULT_2D_ERROR) for n in names])   # (J, 2)
    sigma = sig[:, 0] / np.sqrt(2.0 * np.log(2.0))       # per-axis std whose 2-D norm has that median
    white = sig[:, 1] * sigma                              # the measured share is a ratio of RMS values
    slow = np.sqrt(np.clip(1.0 - sig[:, 1] ** 2, 0.0, 1.0)) * sigma
    out += scale * (rng.normal(size=(t, j, 2)) * white[None, :, None]
                    + _slow_noise(rng, (t, j, 2), 0.3 * fps) * slow[None, :, None])
    gross = rng.random((t, j)) < gross_rate * level
    size = np.broadcast_to(scale[:, :, 0], (t, j))[gross]
    out[gross] += rng.normal(size=(int(gross.sum()), 2)) * GROSS_ERROR_SIZE * size[:, None]
    # left/right confusions: runs of a few frames where one pair's labels are exchanged
    mirror = mirror_indices(names)
    pairs = [(a, b) for a, b in enumerate(mirror) if a < b]
    if pairs and swap_rate > 0:
        n_runs = rng.poisson(swap_rate * t * len(pairs) / 4.0)
        for _ in range(int(n_runs)):
            a, b = pairs[int(rng.integers(len(pairs)))]
            s0 = int(rng.integers(t))
            s1 = min(t, s0 + int(rng.integers(1, 8)))
            out[s0:s1, [a, b]] = out[s0:s1, [b, a]]
    # missing keypoints: runs of 1-10 frames
    if dropout > 0:
        n_runs = rng.poisson(dropout * t * j / 5.5)
        for _ in range(int(n_runs)):
            k = int(rng.integers(j))
            s0 = int(rng.integers(t))
            s1 = min(t, s0 + int(rng.integers(1, 11)))
            conf[s0:s1, k] = 0.0
    out[conf == 0.0] = np.nan
    return out, conf
