"""Anny on skeleton input (``imusynth motion FILE --body-model anny``): the fit to a file's 3-D points.

A motion file's points (TRC, C3D, BVH, CSV, Kinect, ... through their skeleton's canonical names,
:func:`imusynth.core.skeletons.to_canonical`) become MediaPipe's 33 landmarks by name: nose, eyes, ears,
shoulders, elbows, wrists, thumbs, hips, knees, ankles, heels as they are; both knuckle landmarks
(index, little finger) the canonical ``hand`` (their mean is what the fit uses); the foot index the
canonical ``toe``. Landmarks the file lacks get weight 0. The fit is :func:`.fit.fit_anny` on the 3-D
points alone (no image), weighted by the points' confidence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imusynth.config import PipelineConfig
from imusynth.core.motion import Motion
from imusynth.core.sensors import SensorSignals
from imusynth.core.skeletons import MEDIAPIPE_33, to_canonical

__all__ = ["anny_body_sensors", "motion_landmarks"]

#: MediaPipe landmark -> canonical point, where the names differ.
_RENAME = {"left_pinky": "left_hand", "left_index": "left_hand", "right_pinky": "right_hand",
           "right_index": "right_hand", "left_foot_index": "left_toe", "right_foot_index": "right_toe"}


def motion_landmarks(motion: Motion) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """MediaPipe's 33 landmarks (T, 33, 3), m, and their weights (T, 33) from a motion's points."""
    m = to_canonical(motion)
    names = list(m.names)
    L = np.full((m.n_frames, 33, 3), np.nan)
    W = np.zeros((m.n_frames, 33))
    for i, lm in enumerate(MEDIAPIPE_33):
        src = _RENAME.get(lm, lm)
        if src in names:
            k = names.index(src)
            L[:, i] = m.xyz[:, k]
            W[:, i] = np.where(np.isfinite(m.xyz[:, k]).all(axis=1), np.nan_to_num(m.confidence[:, k]), 0.0)
    return L, W


def anny_body_sensors(cfg: PipelineConfig) -> Callable[[Motion, str], tuple[dict[str, SensorSignals],
                                                                              dict[str, Any]]]:
    """Load Anny and its placements once; return ``(motion, clip_id) -> (sensors, {"anny": record})``.

    The fit settings are the ``[smpl]`` keys, the physics the ``[kinematics]`` and ``[output]`` ones.
    """
    from imusynth.body.anny.fit import anny_record, anny_rest, fit_anny, fit_sensor_motion
    from imusynth.body.anny.model import load_anny
    from imusynth.body.anny.placements import anny_mesh_placements
    from imusynth.core.sensors import simulate

    model = load_anny()
    table = anny_mesh_placements(anny_rest(model), list(cfg.output.placements),
                                 region_radius_m=cfg.smpl.region_radius_m)
    placements = [table[n] for n in cfg.output.placements]
    s, k = cfg.smpl, cfg.kinematics

    def run(motion: Motion, clip_id: str) -> tuple[dict[str, SensorSignals], dict[str, Any]]:
        L, W = motion_landmarks(motion)
        fit = fit_anny(L, None, W, None, model, n_iters=s.n_iters, smooth_weight=s.smooth_weight,
                       pose_prior_weight=s.pose_prior_weight, shape_prior_weight=s.shape_prior_weight,
                       torch_threads=s.torch_threads)
        mot, pls = fit_sensor_motion(model, fit, motion.time, placements, source=motion.source)
        sensors = simulate(mot, pls, rate_hz=cfg.output.rate_hz, cutoff_hz=k.cutoff_hz, max_gap_s=k.max_gap_s,
                           min_confidence=k.min_confidence, filter_order=k.filter_order, require_valid=False)
        rec = anny_record(fit, model)
        return sensors, {"anny": (rec.datasets, rec.attrs)}

    return run
