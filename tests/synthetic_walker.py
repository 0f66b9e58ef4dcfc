"""Synthetic articulated walkers (canonical joints) for lifter tests: closed-form, no data files."""

from __future__ import annotations

import numpy as np

from imusynth.core.motion import Motion

JOINTS = ("pelvis", "neck", "head", *(f"{s}_{j}" for s in ("left", "right")
                                      for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")))


def walker(seed: int, *, seconds: float = 6.0, rate_hz: float = 30.0) -> Motion:
    """A stick figure walking on a curve with swinging arms and legs; parameters drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, seconds, 1.0 / rate_hz)
    f = rng.uniform(0.7, 1.1)                      # stride frequency, Hz
    speed = rng.uniform(0.0, 1.5)                  # m/s
    turn = rng.uniform(-0.4, 0.4)                  # rad/s
    amp_leg, amp_arm = rng.uniform(0.2, 0.5), rng.uniform(0.1, 0.7)
    lean = rng.uniform(-0.2, 0.3)
    yaw = rng.uniform(0, 2 * np.pi) + turn * t
    heading = np.stack([np.cos(yaw), np.sin(yaw), 0 * t], axis=1)
    lateral = np.stack([-np.sin(yaw), np.cos(yaw), 0 * t], axis=1)       # subject's left
    up = np.array([0.0, 0.0, 1.0])
    pelvis = np.cumsum(heading * speed / rate_hz, axis=0) + np.array([0.0, 0.0, 0.95])
    pelvis[:, 2] += 0.02 * np.sin(4 * np.pi * f * t)
    phase = 2 * np.pi * f * t
    pts = {"pelvis": pelvis}
    trunk = (np.cos(lean) * up[None, :] + np.sin(lean) * heading)
    pts["neck"] = pelvis + 0.52 * trunk
    pts["head"] = pelvis + 0.72 * trunk
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        swing = amp_leg * np.sin(phase + (0 if sgn > 0 else np.pi))
        knee_flex = 0.3 + 0.3 * np.maximum(0.0, np.sin(phase + (0 if sgn > 0 else np.pi) + 1.0))
        hip = pelvis + 0.1 * sgn * lateral
        thigh = np.cos(swing)[:, None] * -up + np.sin(swing)[:, None] * heading
        shin_a = swing - knee_flex
        shin = np.cos(shin_a)[:, None] * -up + np.sin(shin_a)[:, None] * heading
        pts[f"{side}_hip"] = hip
        pts[f"{side}_knee"] = hip + 0.44 * thigh
        pts[f"{side}_ankle"] = pts[f"{side}_knee"] + 0.42 * shin
        arm = amp_arm * np.sin(phase + (np.pi if sgn > 0 else 0))
        raise_ = rng.uniform(0.0, 1.2) * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t))
        sh = pelvis + 0.5 * trunk + 0.18 * sgn * lateral
        upper = (np.cos(arm)[:, None] * -up + np.sin(arm)[:, None] * heading) * np.cos(raise_)[:, None] \
            + np.sin(raise_)[:, None] * sgn * lateral
        fore_a = arm + 0.4 + 0.3 * np.sin(phase)
        fore = np.cos(fore_a)[:, None] * -up + np.sin(fore_a)[:, None] * heading
        pts[f"{side}_shoulder"] = sh
        pts[f"{side}_elbow"] = sh + 0.28 * upper
        pts[f"{side}_wrist"] = pts[f"{side}_elbow"] + 0.26 * fore
    xyz = np.stack([pts[n] for n in JOINTS], axis=1)
    return Motion(time=t, names=JOINTS, xyz=xyz, source=f"walker_{seed}.trc", skeleton="canonical")
