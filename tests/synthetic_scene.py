"""Render frames of a camera that rotates about its optical centre inside a textured sphere at infinity.

The background is an equirectangular panorama: every camera pixel is turned into a ray direction,
rotated into the world frame and looked up in the panorama by longitude/latitude with
:func:`cv2.remap`. The rendered colour is therefore a function of the ray direction only, so a pure
rotation maps one frame onto the next exactly as ``x2 ~ K R K^-1 x1`` (up to pixel interpolation).

Frames (z up world, OpenCV camera: x right, y down, z forward):

- the level camera looks along world +y, its x axis is world +x and its y axis is world -z;
- the camera path is ``R_world_from_camera(t) = Rz(-pan(t)) @ R_level @ Rx(tilt(t)) @ Rz(roll(t))``:
  a positive pan turns the view to the right, a positive tilt looks up, roll is about the optical axis.

A "person" is a textured rectangle pasted at a pixel position that moves on its own; its box is
returned so that a test can exclude it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

#: Rotation taking level-camera vectors (x right, y down, z forward) into the z-up world frame.
R_LEVEL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def make_panorama(
    seed: int,
    *,
    width: int = 3600,
    tint: tuple[float, float, float] = (110.0, 140.0, 120.0),
) -> NDArray[np.uint8]:
    """A random multi-scale colour texture in equirectangular layout.

    Parameters
    ----------
    seed : int
        Seed of the texture.
    width : int
        Panorama width in pixels (360 deg of longitude); the height is ``width // 2`` (180 deg).
        3600 gives 0.1 deg per pixel, finer than a 640-px camera with a 60-deg field of view.
    tint : tuple of 3 float
        Mean RGB colour (0-255); two panoramas with different tints also differ in colour histogram.

    Returns
    -------
    ndarray, shape (width // 2, width, 3), uint8
        RGB image; row 0 is latitude +90 deg, column 0 is longitude -180 deg.
    """
    rng = np.random.default_rng(seed)
    height = width // 2
    mix = rng.normal(size=(3, 3)) * 0.35 + np.eye(3)
    fields = []
    for _ in range(3):
        field = np.zeros((height, width), dtype=np.float32)
        # fine, medium and coarse structure: corners for the tracker, blobs for the histogram
        for factor, sigma, weight in ((1, 1.5, 1.0), (4, 1.5, 0.8), (16, 1.5, 0.8)):
            small = rng.standard_normal((height // factor, width // factor), dtype=np.float32)
            blurred = np.asarray(cv2.GaussianBlur(small, (0, 0), sigma), dtype=np.float32)  # seam: never seen
            blurred /= blurred.std()
            if factor > 1:
                blurred = np.asarray(cv2.resize(blurred, (width, height), interpolation=cv2.INTER_CUBIC))
            field += weight * blurred
        fields.append(field / field.std())
    stacked = np.stack(fields, axis=-1)  # (H, W, 3) float32
    colour = cv2.transform(stacked, (45.0 * mix).astype(np.float32)) + np.asarray(tint, dtype=np.float32)
    np.clip(colour, 0, 255, out=colour)
    return colour.astype(np.uint8)


def intrinsics_matrix(width: int, height: int, hfov_deg: float) -> NDArray[np.float64]:
    """Pinhole matrix, square pixels, principal point at the image centre ``((w-1)/2, (h-1)/2)``."""
    f = (width / 2.0) / np.tan(np.radians(hfov_deg) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def _rx(a: float) -> NDArray[np.float64]:
    return Rotation.from_rotvec([a, 0.0, 0.0]).as_matrix()


def _rz(a: float) -> NDArray[np.float64]:
    return Rotation.from_rotvec([0.0, 0.0, a]).as_matrix()


@dataclass(frozen=True)
class CameraPath:
    """Pan, tilt and roll angles of the camera as closed-form functions of time.

    ``pan(t) = pan_rate * t``, ``tilt(t) = tilt_rate * t``,
    ``roll(t) = roll_amplitude * sin(2 pi roll_freq t)``; rates in rad/s, amplitude in rad, frequency in Hz.
    """

    pan_rate: float = np.radians(20.0)
    tilt_rate: float = np.radians(5.0)
    roll_amplitude: float = np.radians(3.0)
    roll_freq: float = 0.4

    def R_world_from_camera(self, t: float) -> NDArray[np.float64]:
        """Camera orientation at time ``t`` (s), shape (3, 3)."""
        pan = self.pan_rate * t
        tilt = self.tilt_rate * t
        roll = self.roll_amplitude * np.sin(2.0 * np.pi * self.roll_freq * t)
        return _rz(-pan) @ R_LEVEL @ _rx(tilt) @ _rz(roll)


@dataclass(frozen=True)
class Person:
    """A textured rectangle moving over the image: centre ``(x0 + vx t, y0 + amp sin(2 pi f t))`` px."""

    width: int = 120
    height: int = 220
    x0: float = 140.0
    y0: float = 190.0
    vx: float = 110.0
    amp: float = 40.0
    freq: float = 0.7
    seed: int = 99

    def texture(self) -> NDArray[np.uint8]:
        """The person's own texture, shape (height, width, 3), uint8."""
        rng = np.random.default_rng(self.seed)
        noise = rng.standard_normal((self.height, self.width, 3)).astype(np.float32)
        # blurred enough to be tracked well: a real threat to the estimate when not excluded
        smooth = np.asarray(cv2.GaussianBlur(noise, (0, 0), 2.5), dtype=np.float32)
        smooth /= smooth.std()
        return np.clip(128.0 + 60.0 * smooth, 0, 255).astype(np.uint8)

    def box(self, t: float) -> NDArray[np.float64]:
        """Integer-aligned box ``[x0, y0, x1, y1]`` (px, x1/y1 exclusive) at time ``t`` (s)."""
        cx = self.x0 + self.vx * t
        cy = self.y0 + self.amp * np.sin(2.0 * np.pi * self.freq * t)
        left = int(round(cx - self.width / 2))
        top = int(round(cy - self.height / 2))
        return np.array([left, top, left + self.width, top + self.height], dtype=np.float64)


class SphereRenderer:
    """Renders the view of a panorama at infinity for any camera orientation.

    Parameters
    ----------
    K : ndarray, shape (3, 3)
        Camera matrix in pixels.
    width, height : int
        Image size in pixels.
    """

    def __init__(self, K: NDArray[np.float64], width: int, height: int) -> None:
        self.K = np.asarray(K, dtype=np.float64)
        self.width = width
        self.height = height
        u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
        pix = np.stack([u, v, np.ones_like(u)], axis=-1).reshape(-1, 3)
        rays = pix @ np.linalg.inv(self.K).T
        # camera-frame ray of every pixel, one contiguous float32 array per component
        self._rays = [np.ascontiguousarray(rays[:, k], dtype=np.float32) for k in range(3)]

    def render(
        self, panorama: NDArray[np.uint8], R_world_from_camera: NDArray[np.float64]
    ) -> NDArray[np.uint8]:
        """RGB frame, shape (height, width, 3), uint8, seen with orientation ``R_world_from_camera``."""
        R = np.asarray(R_world_from_camera, dtype=np.float32)
        x, y, z = self._rays  # explicit 3x3 product: a BLAS call on (N, 3) arrays is slower
        dx = R[0, 0] * x + R[0, 1] * y + R[0, 2] * z
        dy = R[1, 0] * x + R[1, 1] * y + R[1, 2] * z
        dz = R[2, 0] * x + R[2, 1] * y + R[2, 2] * z
        lon = np.arctan2(dx, dy)  # 0 along world +y, +90 deg along world +x
        lat = np.arctan2(dz, np.hypot(dx, dy))
        ph, pw = panorama.shape[:2]
        map_x = ((lon + np.float32(np.pi)) * np.float32(pw / (2.0 * np.pi)) - np.float32(0.5)).reshape(
            self.height, self.width
        )
        map_y = ((np.float32(np.pi / 2.0) - lat) * np.float32(ph / np.pi) - np.float32(0.5)).reshape(
            self.height, self.width
        )
        return np.asarray(cv2.remap(panorama, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP),
                          dtype=np.uint8)


@dataclass(frozen=True)
class Frame:
    """One rendered frame with its ground truth."""

    index: int
    time_s: float
    image: NDArray[np.uint8]
    R_world_from_camera: NDArray[np.float64]
    person_box: NDArray[np.float64] | None
    shot: int


def render_sequence(
    renderer: SphereRenderer,
    panoramas: list[NDArray[np.uint8]],
    *,
    path: CameraPath,
    n_frames: int,
    fps: float = 30.0,
    cut_frames: tuple[int, ...] = (),
    person: Person | None = None,
    post: Callable[[NDArray[np.uint8]], NDArray[np.uint8]] | None = None,
) -> Iterator[Frame]:
    """Yield frames one at a time (bounded memory).

    Parameters
    ----------
    renderer : SphereRenderer
        Camera model and image size.
    panoramas : list of ndarray
        Backgrounds; the sequence switches to the next one at each index of ``cut_frames``.
    path : CameraPath
        Camera orientation over time (continues through cuts).
    n_frames : int
        Number of frames.
    fps : float
        Frame rate, Hz; frame ``i`` is at ``i / fps`` s.
    cut_frames : tuple of int
        Frame indices where a hard cut to the next panorama happens.
    person : Person or None
        A moving textured rectangle drawn over the background.
    post : callable or None
        Applied to each rendered RGB image (e.g. noise).
    """
    texture = person.texture() if person is not None else None
    for i in range(n_frames):
        t = i / fps
        shot = sum(1 for c in cut_frames if i >= c)
        R = path.R_world_from_camera(t)
        img = renderer.render(panoramas[shot], R)
        box = None
        if person is not None and texture is not None:
            box = person.box(t)
            x0, y0, x1, y1 = (int(b) for b in box)
            cx0, cy0 = max(x0, 0), max(y0, 0)
            cx1, cy1 = min(x1, renderer.width), min(y1, renderer.height)
            if cx1 > cx0 and cy1 > cy0:
                img[cy0:cy1, cx0:cx1] = texture[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        if post is not None:
            img = post(img)
        yield Frame(i, t, img, R, box, shot)
