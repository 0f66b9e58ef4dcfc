"""Shared definitions of the lifting stage: landmark count, defaults, the error type, a test body.

See ``docs/lifting.md`` for the method, the default field of view and the failure modes.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from imusynth.core.skeletons import MEDIAPIPE_33
from imusynth.errors import InputError

#: Number of MediaPipe pose landmarks.
N_LANDMARKS = len(MEDIAPIPE_33)

#: Default low-pass cut-off of the translation's depth, Hz (see docs/lifting.md).
DEFAULT_DEPTH_CUTOFF_HZ = 1.0

#: Default tolerance of :func:`leg_length_outliers`, as a fraction of the track's median leg length.
DEFAULT_LEG_LENGTH_TOLERANCE = 0.15

#: Fewest landmarks a solve accepts (6 unknowns, 2 equations per landmark: 6 leaves redundancy).
MIN_LANDMARKS = 6


class LiftError(InputError, ValueError):
    """Arrays given to the lifting stage have the wrong shape or impossible values."""


def standing_pose() -> NDArray[np.float64]:
    """A plausible 33-landmark standing pose in MediaPipe's world-landmark convention.

    The body (about 1.7 m tall) faces the camera with the arms hanging slightly away from the
    trunk; the origin is the centre between the hips, x points to the image right (the subject's
    left), y down and z away from the camera, in metres. Meant for tests, benchmarks and examples.

    Returns
    -------
    ndarray, shape (33, 3), float64, m
        Landmarks in :data:`imusynth.core.skeletons.MEDIAPIPE_33` order.
    """
    # (x, y, z) of the subject's left side; the right side mirrors x
    left = {
        "eye_inner": (0.015, -0.665, -0.085), "eye": (0.035, -0.665, -0.080),
        "eye_outer": (0.050, -0.665, -0.070),
        "ear": (0.075, -0.645, 0.000), "mouth": (0.025, -0.600, -0.080), "shoulder": (0.190, -0.500, 0.000),
        "elbow": (0.230, -0.230, 0.030), "wrist": (0.250, 0.020, -0.020), "pinky": (0.260, 0.100, -0.020),
        "index": (0.250, 0.110, -0.050), "thumb": (0.230, 0.070, -0.060), "hip": (0.100, 0.000, 0.000),
        "knee": (0.110, 0.430, -0.030), "ankle": (0.110, 0.850, 0.020), "heel": (0.110, 0.890, 0.070),
        "foot_index": (0.130, 0.910, -0.130),
    }
    out = np.empty((N_LANDMARKS, 3))
    for i, name in enumerate(MEDIAPIPE_33):
        if name == "nose":
            out[i] = (0.0, -0.630, -0.110)
            continue
        if name.startswith("mouth_"):
            side, part = name.split("_")[1], "mouth"
        else:
            side, part = name.split("_", 1)
        x, y, z = left[part]
        out[i] = (x if side == "left" else -x, y, z)
    return out
