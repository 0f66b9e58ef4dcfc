"""The per-frame pose record shared by pose backends and the tracker (no heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.core.skeletons import MEDIAPIPE_33

__all__ = ["N_LANDMARKS", "PoseDetection", "box_intersection", "box_iou"]

#: Number of landmarks of a detection (MediaPipe's 33, in :data:`imusynth.core.skeletons.MEDIAPIPE_33` order).
N_LANDMARKS: int = len(MEDIAPIPE_33)


@dataclass(frozen=True, eq=False)
class PoseDetection:
    """One person's landmarks in one frame.

    Landmark order and names are :data:`imusynth.core.skeletons.MEDIAPIPE_33`.

    Attributes
    ----------
    image_xy : ndarray, shape (33, 2), float32, px
        Landmark positions in the upright frame, x to the right, y down, origin at the top-left
        pixel corner. Landmarks outside the frame are extrapolated by the model and may lie
        outside ``[0, width] x [0, height]``.
    image_z : ndarray, shape (33,), float32, px
        Relative depth from the model's image landmarks, in the same scale as x (pixels), zero
        at the hip midpoint, smaller = closer to the camera. Coarse; prefer ``world_xyz``.
    visibility : ndarray, shape (33,), float32, in [0, 1]
        Probability that the landmark is visible (not occluded).
    presence : ndarray, shape (33,), float32, in [0, 1]
        Probability that the landmark is inside the frame.
    world_xyz : ndarray, shape (33, 3), float32, m
        Metric 3-D landmarks from the model (MediaPipe *world landmarks*): origin at the hip
        midpoint, axes parallel to the camera's (x right, y down, z away from the camera; a
        right-handed frame like OpenCV's camera frame). The body's orientation in this frame
        follows the camera, not gravity; the lifting stage places it in the camera.
    bbox : ndarray, shape (4,), float32, px
        ``(x_min, y_min, x_max, y_max)`` around all 33 image landmarks.
    """

    image_xy: NDArray[np.float32]
    image_z: NDArray[np.float32]
    visibility: NDArray[np.float32]
    presence: NDArray[np.float32]
    world_xyz: NDArray[np.float32]
    bbox: NDArray[np.float32]

    @classmethod
    def from_arrays(
        cls,
        image_xy: ArrayLike,
        *,
        image_z: ArrayLike | None = None,
        visibility: ArrayLike | None = None,
        presence: ArrayLike | None = None,
        world_xyz: ArrayLike | None = None,
    ) -> PoseDetection:
        """Build a detection from arrays, computing the bbox; missing parts default.

        Parameters
        ----------
        image_xy : array_like, shape (33, 2), px
        image_z : array_like, shape (33,), px, optional
            Zeros when omitted.
        visibility, presence : array_like, shape (33,), optional
            Ones when omitted.
        world_xyz : array_like, shape (33, 3), m, optional
            NaN when omitted.

        Returns
        -------
        PoseDetection
        """
        xy = np.asarray(image_xy, dtype=np.float32).reshape(N_LANDMARKS, 2)
        n = N_LANDMARKS
        z = np.zeros(n, np.float32) if image_z is None else np.asarray(image_z, np.float32).reshape(n)
        vis = np.ones(n, np.float32) if visibility is None else np.asarray(visibility, np.float32).reshape(n)
        pres = np.ones(n, np.float32) if presence is None else np.asarray(presence, np.float32).reshape(n)
        if world_xyz is None:
            world = np.full((n, 3), np.nan, np.float32)
        else:
            world = np.asarray(world_xyz, np.float32).reshape(n, 3)
        bbox = np.concatenate([xy.min(axis=0), xy.max(axis=0)]).astype(np.float32)
        return cls(image_xy=xy, image_z=z, visibility=vis, presence=pres, world_xyz=world, bbox=bbox)

    def valid_mask(self, threshold: float = 0.5) -> NDArray[np.bool_]:
        """Landmarks whose visibility and presence are both at least ``threshold``; shape (33,)."""
        return (self.visibility >= threshold) & (self.presence >= threshold)

    @property
    def center(self) -> NDArray[np.float32]:
        """Centre of :attr:`bbox`, shape (2,), px."""
        return ((self.bbox[:2] + self.bbox[2:]) * 0.5).astype(np.float32)

    @property
    def size(self) -> float:
        """Body size: the geometric mean of the bbox width and height, px (at least 1)."""
        w, h = self.bbox[2:] - self.bbox[:2]
        return float(max(np.sqrt(max(float(w), 1.0) * max(float(h), 1.0)), 1.0))


def box_intersection(a: NDArray[np.floating], b: NDArray[np.floating]) -> float:
    """Area of the overlap of two boxes ``(x0, y0, x1, y1)`` (px^2; 0 when they do not overlap)."""
    ix = max(0.0, float(min(a[2], b[2]) - max(a[0], b[0])))
    iy = max(0.0, float(min(a[3], b[3]) - max(a[1], b[1])))
    return ix * iy


def box_iou(a: NDArray[np.floating], b: NDArray[np.floating]) -> float:
    """Intersection over union of two boxes ``(x0, y0, x1, y1)``, in [0, 1] (0 for an empty union)."""
    inter = box_intersection(a, b)
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0
