"""Stage 3: 2-D keypoints over time → metric 3-D in the camera frame.

Two steps (``docs/lifting.md``):

1. a *lifter* (:mod:`imusynth.video.lift.lifters`) turns one track's 2-D keypoints over time into a
   root-relative metric 3-D body per frame in camera axes: MediaPipe's own world landmarks (the default),
   a learned temporal lifter from a file, or a reference (the depth oracle);
2. the body is placed in the camera by a per-frame PnP (:mod:`imusynth.video.lift.pnp`), frames whose
   skeleton collapsed are dropped and the depth is smoothed (:mod:`imusynth.video.lift.trajectory`).

The public names of the former module ``imusynth.video.lift`` are re-exported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imusynth.video.lift.base import (
        DEFAULT_DEPTH_CUTOFF_HZ,
        DEFAULT_LEG_LENGTH_TOLERANCE,
        MIN_LANDMARKS,
        N_LANDMARKS,
        LiftError,
        standing_pose,
    )
    from imusynth.video.lift.lifters import (
        LearnedLifter,
        Lifter,
        LifterInput,
        MediaPipeLifter,
        OracleLifter,
        fill_landmarks,
        lifter_from_spec,
    )
    from imusynth.video.lift.pnp import LiftedFrame, lift_frame
    from imusynth.video.lift.pnp_batch import LiftedFrames, lift_frames
    from imusynth.video.lift.trajectory import (
        body_trajectory,
        leg_length_outliers,
        smooth_depth,
        stack_frames,
    )

# Loaded on first use (PEP 562): importing one submodule (the job needs ``lifters`` before the video is
# read) does not load the lifting's numerics beside the pose models (issue 14's peak memory).
_WHERE = {
    **dict.fromkeys(["DEFAULT_DEPTH_CUTOFF_HZ", "DEFAULT_LEG_LENGTH_TOLERANCE", "MIN_LANDMARKS",
                     "N_LANDMARKS", "LiftError", "standing_pose"], "base"),
    **dict.fromkeys(["LearnedLifter", "Lifter", "LifterInput", "MediaPipeLifter", "OracleLifter",
                     "fill_landmarks", "lifter_from_spec"], "lifters"),
    **dict.fromkeys(["LiftedFrame", "lift_frame"], "pnp"),
    **dict.fromkeys(["LiftedFrames", "lift_frames"], "pnp_batch"),
    **dict.fromkeys(["body_trajectory", "leg_length_outliers", "smooth_depth", "stack_frames"], "trajectory"),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_DEPTH_CUTOFF_HZ",
    "DEFAULT_LEG_LENGTH_TOLERANCE",
    "MIN_LANDMARKS",
    "N_LANDMARKS",
    "LearnedLifter",
    "LiftError",
    "LiftedFrame",
    "LiftedFrames",
    "Lifter",
    "LifterInput",
    "MediaPipeLifter",
    "OracleLifter",
    "body_trajectory",
    "fill_landmarks",
    "leg_length_outliers",
    "lift_frame",
    "lift_frames",
    "lifter_from_spec",
    "smooth_depth",
    "stack_frames",
    "standing_pose",
]
