"""Left/right identity cleaning (imusynth.video.pose.cleaning) on synthetic tracks with known label errors.

The synthetic body is :func:`imusynth.video.lift.standing_pose` (facing the camera, metric, MediaPipe world
axes) walking across the image with its legs and arms swinging, seen by a pinhole camera 4 m away
(f = 1000 px, so the hips are ~50 px apart and the body ~420 px tall). Label errors are injected
the way the model makes them (docs/validation.md): the image positions of a group's pairs are
exchanged together with the x, y of their world landmarks, each landmark keeping its own depth.
"""

from __future__ import annotations

import numpy as np
import pytest

from imusynth.core.skeletons import MEDIAPIPE_33
from imusynth.video.lift import standing_pose
from imusynth.video.pose.cleaning import (
    ARMS,
    LEGS,
    LIMB_GROUPS,
    TORSO,
    apply_swaps,
    chirality,
    chirality_evidence,
    hampel_outliers,
    identity_swaps,
    swap_in_camera,
)

I = {n: i for i, n in enumerate(MEDIAPIPE_33)}
F_PX, DEPTH_M, FPS = 1000.0, 4.0, 30.0
LEG = [I[f"{s}_{j}"] for s in ("left", "right") for j in ("knee", "ankle", "heel", "foot_index")]
ARM = [I[f"{s}_{j}"] for s in ("left", "right") for j in ("elbow", "wrist", "pinky", "index", "thumb")]


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _walker(n: int = 150, rng: np.random.Generator | None = None, noise_px: float = 1.0
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """time (T,), image_xy (T, 33, 2) px, world (T, 33, 3) m of a body stepping in place while drifting."""
    base = standing_pose()
    t = np.arange(n) / FPS
    world = np.repeat(base[None], n, axis=0)
    for k in range(n):
        swing = np.radians(25.0) * np.sin(2 * np.pi * 0.9 * t[k])
        for side, sign in (("left", 1.0), ("right", -1.0)):
            hip = base[I[f"{side}_hip"]]
            leg = [I[f"{side}_{j}"] for j in ("knee", "ankle", "heel", "foot_index")]
            world[k, leg] = (base[leg] - hip) @ _rot_x(sign * swing).T + hip
            sh = base[I[f"{side}_shoulder"]]
            arm = [I[f"{side}_{j}"] for j in ("elbow", "wrist", "pinky", "index", "thumb")]
            world[k, arm] = (base[arm] - sh) @ _rot_x(-0.6 * sign * swing).T + sh
    offset = np.stack([-0.4 + 0.25 * t, np.zeros(n), np.full(n, DEPTH_M)], axis=1)   # drifting at 0.25 m/s
    cam = world + offset[:, None, :]
    xy = F_PX * cam[..., :2] / cam[..., 2:3] + np.array([640.0, 360.0])
    if rng is not None:
        xy = xy + rng.normal(0.0, noise_px, xy.shape)
    return t, xy, world


def _inject(xy: np.ndarray, world: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exchange labels as the model does: image positions and world x, y; each landmark keeps its z."""
    xy2 = apply_swaps(xy, flags)
    w2 = apply_swaps(world, flags)
    w2[..., 2] = world[..., 2]
    return xy2, w2


def _scale(xy: np.ndarray) -> np.ndarray:
    return xy[..., 1].max(axis=1) - xy[..., 1].min(axis=1)


def test_apply_swaps_is_an_involution_and_moves_only_the_groups_pairs(rng: np.random.Generator) -> None:
    x = rng.normal(size=(6, 33, 2))
    flags = rng.random((6, 3)) < 0.5
    np.testing.assert_array_equal(apply_swaps(apply_swaps(x, flags), flags), x)
    one = np.zeros((6, 3), bool)
    one[2, LEGS] = True
    y = apply_swaps(x, one)
    changed = np.flatnonzero(np.any(y[2] != x[2], axis=1))
    assert sorted(changed) == sorted(LEG)
    np.testing.assert_array_equal(np.delete(y, 2, axis=0), np.delete(x, 2, axis=0))


def test_chirality_of_a_real_and_a_mirrored_body() -> None:
    body = standing_pose()[None]
    # a real body standing on its feet: its right side is at forward x up (exactly +1 for this pose up
    # to the feet's slight outward angle; 0.95 leaves room for that angle)
    assert chirality(body)[0] > 0.95
    all_groups = np.ones((1, 3), bool)
    mirrored = apply_swaps(body, all_groups)          # labels exchanged, points in place
    assert chirality(mirrored)[0] < -0.95
    # seen from the front the evidence says "keep" for the real body and "exchange" for the mirrored one
    assert chirality_evidence(body)[0] > 0.5
    assert chirality_evidence(mirrored)[0] < -0.5
    # seen from the side (body turned 90 deg about the vertical), exchanging labels in the image plane
    # does not change the chirality: no evidence either way
    side = body @ np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]).T
    assert abs(chirality_evidence(side)[0]) < 1e-6


def test_clean_track_is_left_alone(rng: np.random.Generator) -> None:
    t, xy, world = _walker(rng=rng)
    fix = identity_swaps(t, xy, world, scale_px=_scale(xy))
    assert not fix.swaps.any()
    # 1 px Gaussian noise on 33 landmarks x 150 frames: outlier frames cost as much as every landmark
    # of a group 4 scales off, which Gaussian noise practically never produces
    assert not fix.outliers.any()


def test_limb_flips_are_undone(rng: np.random.Generator) -> None:
    t, xy, world = _walker(rng=rng)
    truth = np.zeros((len(t), 3), bool)
    truth[20:23, LEGS] = True          # three frames
    truth[60:100, LEGS] = True         # a long run (0.4 of the track's frames are not a majority)
    truth[40, ARMS] = True             # a single frame
    truth[110:125, ARMS] = True
    bad_xy, bad_world = _inject(xy, world, truth)
    fix = identity_swaps(t, bad_xy, bad_world, scale_px=_scale(xy))
    # frames where the legs are within a few px of each other in the image carry no identity: the
    # swing crosses the stance leg twice per cycle. Everywhere else the decision must be exact.
    sep_leg = np.linalg.norm(xy[:, [I["left_ankle"]]] - xy[:, [I["right_ankle"]]], axis=-1)[:, 0]
    decidable = sep_leg > 10.0
    np.testing.assert_array_equal(fix.swaps[decidable, LEGS], truth[decidable, LEGS])
    np.testing.assert_array_equal(fix.swaps[:, ARMS], truth[:, ARMS])
    assert not fix.swaps[:, TORSO].any()


def test_whole_body_flips_even_as_the_majority_are_undone_by_chirality(rng: np.random.Generator) -> None:
    """The model calls the body 'facing away' in 60 % of the frames; its feet still point at the camera."""
    t, xy, world = _walker(rng=rng)
    truth = np.zeros((len(t), 3), bool)
    for a, b in ((5, 40), (50, 95), (110, 135)):
        truth[a:b] = True
    assert truth[:, 0].mean() > 0.5
    bad_xy, bad_world = _inject(xy, world, truth)
    fix = identity_swaps(t, bad_xy, bad_world, scale_px=_scale(xy))
    np.testing.assert_array_equal(fix.swaps[:, TORSO], truth[:, TORSO])
    sep_leg = np.linalg.norm(xy[:, I["left_ankle"]] - xy[:, I["right_ankle"]], axis=-1)
    decidable = sep_leg > 10.0
    np.testing.assert_array_equal(fix.swaps[decidable], truth[decidable])


def test_a_collapsed_frame_is_an_outlier_not_a_swap(rng: np.random.Generator) -> None:
    t, xy, world = _walker(rng=rng)
    bad = xy.copy()
    k = 70
    arm_l = [a for a, _ in LIMB_GROUPS[ARMS]]
    arm_r = [b for _, b in LIMB_GROUPS[ARMS]]
    mid = (xy[k, arm_l] + xy[k, arm_r]) / 2          # both arms' points collapsed between the two arms
    bad[k, arm_l] = mid
    bad[k, arm_r] = mid + 3.0
    fix = identity_swaps(t, bad, world, scale_px=_scale(xy))
    assert fix.outliers[k, ARMS]
    assert not fix.swaps.any()
    assert fix.outliers[:, ARMS].sum() == 1


def test_tracks_broken_by_a_gap_are_decided_separately() -> None:
    """Across a gap longer than max_gap_s nothing links the frames: each part keeps the model's labels."""
    t, xy, world = _walker(n=80)
    t = t.copy()
    t[40:] += 1.0                                      # a 1 s gap
    flags = np.zeros((80, 3), bool)
    flags[40:, LEGS] = True                            # labels exchanged after the gap only
    bad_xy, bad_world = _inject(xy, world, flags)
    fix = identity_swaps(t, bad_xy, bad_world, scale_px=_scale(xy), max_gap_s=0.25)
    assert not fix.swaps.any()


def test_swap_in_camera_keeps_depth_and_takes_the_partners_ray(rng: np.random.Generator) -> None:
    pts = rng.uniform([-1.0, -1.0, 3.0], [1.0, 1.0, 5.0], size=(4, 33, 3))
    flags = np.zeros((4, 3), bool)
    flags[1, LEGS] = True
    flags[3] = True
    out = swap_in_camera(pts, flags)
    for k, g in ((1, LEGS), (3, TORSO), (3, LEGS), (3, ARMS)):
        for a, b in LIMB_GROUPS[g]:
            # same depth as before, same image position as the partner: exact up to rounding
            np.testing.assert_allclose(out[k, a, 2], pts[k, a, 2], rtol=1e-12)
            np.testing.assert_allclose(out[k, a, :2] / out[k, a, 2], pts[k, b, :2] / pts[k, b, 2], rtol=1e-12)
    np.testing.assert_array_equal(out[0], pts[0])
    np.testing.assert_array_equal(out[1, [i for p in LIMB_GROUPS[ARMS] for i in p]],
                                  pts[1, [i for p in LIMB_GROUPS[ARMS] for i in p]])


@pytest.mark.parametrize("n_sigma", [4.0])
def test_hampel_flags_an_isolated_jump_only(rng: np.random.Generator, n_sigma: float) -> None:
    x = np.sin(np.linspace(0, 6, 200))[:, None] + rng.normal(0, 0.01, (200, 1))
    x[100] += 0.5                       # 50 noise sd: far beyond any threshold
    out = hampel_outliers(x, window=7, n_sigma=n_sigma, min_scale=0.02)
    assert out[100, 0]
    assert out.sum() == 1


def test_hampel_in_blocks_equals_one_pass(rng: np.random.Generator) -> None:
    """The blockwise computation (bounded temporaries) flags exactly what one pass over the array does."""
    from scipy.ndimage import median_filter

    x = np.cumsum(rng.normal(0, 0.01, (2600, 5, 3)), axis=0).astype(np.float32)   # > 2 blocks of 1024
    x[rng.integers(0, 2600, 60), rng.integers(0, 5, 60)] += 0.5                    # isolated jumps
    x[1020:1030, 2] = np.nan                                           # a gap across a block edge
    x[:, 4, 1] = np.nan                                                # an all-NaN column
    a = x.astype(np.float64)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        filled = np.where(np.isfinite(a), a, np.nanmedian(a, axis=0, keepdims=True))
    med = median_filter(filled, size=(7, 1, 1), mode="nearest")
    mad = median_filter(np.abs(filled - med), size=(7, 1, 1), mode="nearest")
    with np.errstate(invalid="ignore"):
        want = np.isfinite(a) & (np.abs(a - med) > 4.0 * np.maximum(1.4826 * mad, 0.02))
    got = hampel_outliers(x, window=7, n_sigma=4.0, min_scale=0.02)
    assert want.sum() >= 50 and np.array_equal(got, want)
