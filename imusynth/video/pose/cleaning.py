"""Cleaning of tracked landmarks before lifting: left/right identity swaps and isolated outliers.

Single-view pose models confuse the left and right sides of a body, in two ways that were both seen
on real videos (``docs/validation.md``, "Video: four views" and "Video: real videos"):

* **Whole-body flips.** Seen from the front or the back, with the face hidden or blurred, the model
  alternates between "facing the camera" and "facing away": every left/right pair (hips, shoulders,
  face, limbs) changes label from one frame to the next, for single frames or for runs of frames.
* **Limb flips.** Seen from the side, the two legs overlap and the model exchanges which leg is
  which, keeping which one is nearer the camera; arms that cross the body do the same.

Both show up as *jumps* of the labelled image landmarks: a left knee 150 px from where it was in the
previous frame, while the right knee is exactly there. :func:`identity_swaps` therefore chooses, for
each frame and each group of landmark pairs (torso with the face, legs, arms), whether to keep or
exchange the model's labels, or to treat the frame as an outlier, so that every labelled landmark
moves as little as possible between frames: a Viterbi search over those states with a robust
(Cauchy) cost on the frame-to-frame displacements, scaled by the track's own median displacement.
Position continuity, not velocity: where two limbs *cross* (a leg passing the other in mid-swing)
their landmarks coincide and, on blurred frames, the model's landmarks of the moving limb slow down
into the still one, so that no motion model can tell which went on; crossings are left as the model
labels them (a constant-velocity model was tried on real walking and made the labelling worse).

Exchanging every label of a stretch leaves its continuity unchanged, so two per-frame terms decide
between the two consistent labellings:

* a small cost for overriding the model's own label (``prior``), so that ambiguous frames keep it and
  a stretch that is only ambiguous as a whole follows the model's majority;
* for the torso, the **chirality** of the body: with ``up`` from hips to shoulders and ``forward``
  the direction the feet point, a real body has its right side at ``forward x up``. A model that
  exchanged its labels while keeping the feet where the image shows them produces a mirror-image body;
  frames where it does vote for exchanging the labels. The term speaks only where the toes point at
  the camera (:func:`chirality_evidence`).

:func:`swap_in_camera` applies the decision to camera-frame points: the swapped landmark takes the
image ray of its partner and keeps its own depth (the model's image positions were right but given
the wrong names, while its depths, such as which leg is nearer the camera, follow the names).

Outliers that remain (one- or two-frame jumps of single landmarks) are found with a Hampel filter
(:func:`imusynth.core.cleaning.hampel_outliers`, shared with the motion-file path) and marked
missing, so the kinematics stage bridges them like any short gap
instead of differentiating them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from imusynth.core.cleaning import hampel_outliers  # noqa: F401  (moved to core, shared with motion files)
from imusynth.core.skeletons import MEDIAPIPE_33


def _pairs(*names: str) -> list[tuple[int, int]]:
    out = []
    for n in names:
        if n == "mouth":
            out.append((MEDIAPIPE_33.index("mouth_left"), MEDIAPIPE_33.index("mouth_right")))
        else:
            out.append((MEDIAPIPE_33.index(f"left_{n}"), MEDIAPIPE_33.index(f"right_{n}")))
    return out


#: Landmark pairs (left, right) of each group whose labels are decided together: torso (with the
#: face), legs, arms (MediaPipe 33 indices).
LIMB_GROUPS: tuple[list[tuple[int, int]], ...] = (
    _pairs("shoulder", "hip", "eye_inner", "eye", "eye_outer", "ear", "mouth"),
    _pairs("knee", "ankle", "heel", "foot_index"),
    _pairs("elbow", "wrist", "pinky", "index", "thumb"),
)
#: Column of each group in the swap flags.
TORSO, LEGS, ARMS = 0, 1, 2

#: Landmarks whose image motion decides each group (the face is left out of the torso: it is small and
#: the model places it from the torso anyway).
_MOTION_PAIRS = (_pairs("shoulder", "hip"), LIMB_GROUPS[LEGS], LIMB_GROUPS[ARMS])

_I = {n: i for i, n in enumerate(MEDIAPIPE_33)}


def chirality(world_xyz: NDArray[np.floating]) -> NDArray[np.float64]:
    """How much each frame's body looks like a real (not mirror-image) body, in [-1, 1].

    ``c = unit(right - left) . (f x unit(up))`` where ``right - left`` joins the mean of the left hip
    and shoulder to that of the right ones, ``up`` goes from the hip centre to the shoulder centre and
    ``f`` is the mean of the two feet's heel-to-toe vectors divided by their mean length (so a foot
    pointing down or at the camera weighs little). A real body standing on its feet has ``c`` near +1
    (its right side is at ``forward x up``); the same body with its left/right labels exchanged (but
    its points in place) has ``c`` near -1. Frames without feet give 0.

    Parameters
    ----------
    world_xyz : ndarray, shape (T, 33, 3), m
        Landmarks in any right-handed frame (MediaPipe world landmarks or camera coordinates).

    Returns
    -------
    ndarray, shape (T,)
        NaN-free; 0 where a needed landmark is missing.
    """
    w = np.asarray(world_xyz, dtype=np.float64)
    left = (w[:, _I["left_hip"]] + w[:, _I["left_shoulder"]]) / 2
    right = (w[:, _I["right_hip"]] + w[:, _I["right_shoulder"]]) / 2
    up = (left + right) - (w[:, _I["left_hip"]] + w[:, _I["right_hip"]])   # hip centre -> shoulder centre
    feet = [w[:, _I[f"{s}_foot_index"]] - w[:, _I[f"{s}_heel"]] for s in ("left", "right")]
    lengths = [np.linalg.norm(f, axis=1) for f in feet]
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = right - left
        lr /= np.linalg.norm(lr, axis=1, keepdims=True)
        up /= np.linalg.norm(up, axis=1, keepdims=True)
        fwd = (feet[0] + feet[1]) / (lengths[0] + lengths[1])[:, None]
        c = np.einsum("ti,ti->t", lr, np.cross(fwd, up))
    return np.clip(np.nan_to_num(c, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)


def chirality_evidence(world_xyz: NDArray[np.floating]) -> NDArray[np.float64]:
    """Per-frame evidence, in [-1, 1], that the model's left/right labels are right (> 0) or exchanged (< 0).

    Half the change of :func:`chirality` when the labels of every pair are exchanged in the image plane
    (x, y) with the depths (z) kept, times the fraction of the feet's heel-to-toe length that points
    at the camera (-z). Only toes seen from the front are located reliably: seen from behind the model
    guesses them (on the Pose2Sim back views its feet even point backwards relative to its correct
    torso), and seen from the side exchanging the labels does not change the chirality. So the term
    speaks for views from the front and is silent otherwise.

    Parameters
    ----------
    world_xyz : ndarray, shape (T, 33, 3), m
        Camera-aligned landmarks (x right, y down, z away from the camera), e.g. MediaPipe's world
        landmarks.

    Returns
    -------
    ndarray, shape (T,)
    """
    w = np.asarray(world_xyz, dtype=np.float64)
    all_pairs = [p for g in LIMB_GROUPS for p in g]
    feet = [w[:, _I[f"{s}_foot_index"]] - w[:, _I[f"{s}_heel"]] for s in ("left", "right")]
    with np.errstate(invalid="ignore", divide="ignore"):
        length = np.linalg.norm(feet[0], axis=1) + np.linalg.norm(feet[1], axis=1)
        toward = -(feet[0][:, 2] + feet[1][:, 2]) / length
    gate = np.clip(np.nan_to_num(toward, nan=0.0), 0.0, 1.0)
    return gate * (chirality(w) - chirality(_swap_xy(w, all_pairs))) / 2


def _swap_xy(world: NDArray[np.float64], pairs: list[tuple[int, int]]) -> NDArray[np.float64]:
    """Exchange the x and y (image-plane) coordinates of the pairs, keeping each landmark's z (depth)."""
    out = world.copy()
    left = [a for a, _ in pairs]
    right = [b for _, b in pairs]
    out[:, left, :2] = world[:, right, :2]
    out[:, right, :2] = world[:, left, :2]
    return out


def _links(t: NDArray[np.float64], max_gap_s: float) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Whether each frame follows frame ``t-1`` within ``max_gap_s`` (and frame ``t-2`` within twice it)."""
    n_t = len(t)
    link1 = np.zeros(n_t, dtype=bool)
    link1[1:] = (np.diff(t) > 0) & (np.diff(t) <= max_gap_s)
    link2 = np.zeros(n_t, dtype=bool)
    link2[2:] = (t[2:] - t[:-2] > 0) & (t[2:] - t[:-2] <= 2 * max_gap_s)
    return link1, link2


def residual_scale(t: NDArray[np.float64], points: NDArray[np.float64], *, max_gap_s: float,
                   floor: float) -> float:
    """Robust scale of the frame-to-frame displacements of ``points`` (T, n, 2), px.

    ``1.4826 x`` the median absolute displacement component over all linked frames (a standard
    deviation for Gaussian steps; the few frames with exchanged labels or misplaced landmarks do
    not move a median), and at least ``floor``.
    """
    link1, _ = _links(t, max_gap_s)
    steps = np.abs(points[1:] - points[:-1])[link1[1:]].ravel()
    steps = steps[np.isfinite(steps)]
    if steps.size == 0:
        return float(floor)
    return float(max(1.4826 * np.median(steps), floor))


#: Label states of a landmark group in one frame: the model's labels, exchanged, or an outlier frame.
KEEP, SWAP, OUTLIER = 0, 1, 2


def _transition_costs(t: NDArray[np.float64], a: NDArray[np.float64], b: NDArray[np.float64],
                      sigma: float, max_gap_s: float) -> NDArray[np.float64]:
    """Costs ``(T, 3, 3, 3)`` of the states ``(s[t-2], s[t-1], s[t])`` (KEEP, SWAP, OUTLIER) at each frame.

    ``a`` and ``b`` (T, n, 2) are the image points the model labelled left and right; in state KEEP
    the left points are ``a``, in SWAP they are ``b``. A frame in KEEP or SWAP costs the sum over the
    points of both sides of ``log(1 + r^2 / (2 sigma^2))`` (a Cauchy negative log-likelihood:
    quadratic for small steps, logarithmic for large ones, so one misplaced landmark does not
    decide), ``r`` the distance of each labelled point from where it was in the previous frame, or
    in the one before when the previous frame is an outlier; nothing after a gap longer than
    ``max_gap_s``. An OUTLIER frame costs nothing here (its price is per frame); two in a row are not
    allowed within a chain (nothing would be left to compare with).
    """
    n_t = len(t)
    cost = np.zeros((n_t, 3, 3, 3))
    pos = (np.stack([a, b], axis=0), np.stack([b, a], axis=0))   # pos[s] -> (2 sides, T, n, 2)
    link1, link2 = _links(t, max_gap_s)
    s2 = 2.0 * max(sigma, 1e-9) ** 2

    def cauchy(x: NDArray[np.float64], ref: NDArray[np.float64], linked: NDArray[np.bool_]
               ) -> NDArray[np.float64]:
        c = np.log1p(np.sum((x - ref) ** 2, axis=-1) / s2)
        return np.where(linked, np.where(np.isfinite(c), c, 0.0).sum(axis=(0, 2)), 0.0)

    for s_now in (KEEP, SWAP):
        x = pos[s_now]
        for s_prev in (KEEP, SWAP):
            c = cauchy(x, np.roll(pos[s_prev], 1, axis=1), link1)              # against frame t-1
            cost[:, :, s_prev, s_now] = c[:, None]
            cost[:, s_prev, OUTLIER, s_now] = cauchy(x, np.roll(pos[s_prev], 2, axis=1), link2)
        cost[:, OUTLIER, OUTLIER, s_now] = np.where(link2, np.inf, 0.0)
    return cost


def _viterbi(trans: NDArray[np.float64], unary: NDArray[np.float64]) -> NDArray[np.int8]:
    """Least-cost state sequence for second-order transition costs ``(T, S, S, S)`` and unary ``(T, S)``."""
    n_t, n_s = unary.shape
    if n_t == 0:
        return np.zeros(0, dtype=np.int8)
    if n_t == 1:
        return np.array([np.argmin(unary[0])], dtype=np.int8)
    # D[s_prev, s_now]: least cost of a path ending with states (s[t-1], s[t]); at t = 1, s[t-2] is unused
    D = unary[0][:, None] + unary[1][None, :] + trans[1, 0]
    back = np.zeros((n_t, n_s, n_s), dtype=np.int8)
    for k in range(2, n_t):
        cand = D[:, :, None] + trans[k]                 # [s2, s1, s0]
        back[k] = np.argmin(cand, axis=0)
        D = np.min(cand, axis=0) + unary[k][None, :]
    s1, s0 = np.unravel_index(int(np.argmin(D)), D.shape)
    states = np.zeros(n_t, dtype=np.int8)
    states[-1], states[-2] = s0, s1
    for k in range(n_t - 1, 1, -1):
        s2 = back[k, s1, s0]
        states[k - 2] = s2
        s0, s1 = s1, s2
    return states


def _swap_points(xy: NDArray[np.float64], pairs: list[tuple[int, int]], rows: NDArray[np.bool_]
                 ) -> NDArray[np.float64]:
    out = xy.copy()
    idx = np.flatnonzero(rows)
    if idx.size:
        left = np.array([a for a, _ in pairs])
        right = np.array([b for _, b in pairs])
        out[np.ix_(idx, np.concatenate([left, right]))] = xy[np.ix_(idx, np.concatenate([right, left]))]
    return out


def _fill_outlier_states(states: NDArray[np.int8]) -> NDArray[np.bool_]:
    """Swap flags from states, outlier frames taking the state of the last non-outlier frame (else KEEP)."""
    out = np.zeros(len(states), dtype=bool)
    last = False
    for k, s in enumerate(states):
        if s != OUTLIER:
            last = bool(s == SWAP)
        out[k] = last
    return out


@dataclass(frozen=True)
class IdentityFix:
    """What :func:`identity_swaps` decided for one track.

    Attributes
    ----------
    swaps : ndarray, shape (T, 3), bool
        Columns :data:`TORSO`, :data:`LEGS`, :data:`ARMS` (the groups of :data:`LIMB_GROUPS`): True
        where that group's labels must be exchanged. A whole-body flip sets all three.
    outliers : ndarray, shape (T, 3), bool
        Frames where a group's landmarks fit neither labelling (e.g. both wrists collapsed onto one
        point): their values should be treated as missing.
    """

    swaps: NDArray[np.bool_]
    outliers: NDArray[np.bool_]


def identity_swaps(time: NDArray[np.floating], image_xy: NDArray[np.floating],
                   world_xyz: NDArray[np.floating], *, scale_px: NDArray[np.floating] | float,
                   min_noise_fraction: float = 0.005, prior: float = 0.5, chirality_weight: float = 1.0,
                   outlier_sigmas: float = 4.0, max_gap_s: float = 0.25) -> IdentityFix:
    """Frames and landmark groups whose left/right labels must be exchanged (see the module notes).

    Parameters
    ----------
    time : ndarray, shape (T,), s
        Times of one track's detections, increasing.
    image_xy : ndarray, shape (T, 33, 2), px
        The detections' image landmarks (NaN where missing).
    world_xyz : ndarray, shape (T, 33, 3), m
        Their metric landmarks with z the depth (MediaPipe world landmarks are camera-aligned).
    scale_px : float or ndarray, shape (T,), px
        The person's size in the image (e.g. the box height), per frame or one value.
    min_noise_fraction : float
        Floor on each group's residual scale (:func:`residual_scale`, measured on the track itself),
        as a fraction of the median ``scale_px``: the model's 2-D landmarks are not more precise than
        ~0.5 % of the body height, however still the person stands.
    prior : float
        Cost of overriding the model's label in one frame, in units of the Cauchy cost of one
        landmark: it decides only between (nearly) equally smooth alternatives.
    chirality_weight : float
        Weight of the torso's chirality evidence (:func:`chirality_evidence`) per frame.
    outlier_sigmas : float
        A frame of a group is called an outlier when that is cheaper than explaining it: its price is
        what all the group's landmarks cost ``outlier_sigmas`` residual scales from their prediction.
    max_gap_s : float, s
        Detections further apart are not linked by the motion model.

    Returns
    -------
    IdentityFix
    """
    t = np.asarray(time, dtype=np.float64)
    xy = np.asarray(image_xy, dtype=np.float64)
    w = np.asarray(world_xyz, dtype=np.float64)
    n = len(t)
    swaps = np.zeros((n, 3), dtype=bool)
    outliers = np.zeros((n, 3), dtype=bool)
    if n == 0:
        return IdentityFix(swaps, outliers)
    floor = min_noise_fraction * float(np.nanmedian(np.broadcast_to(np.asarray(scale_px, np.float64), (n,))))

    def states(pairs: list[tuple[int, int]], pts: NDArray[np.float64], unary2: NDArray[np.float64]
               ) -> NDArray[np.int8]:
        a = pts[:, [p for p, _ in pairs]]
        b = pts[:, [q for _, q in pairs]]
        sigma = residual_scale(t, np.concatenate([a, b], axis=1), max_gap_s=max_gap_s, floor=floor)
        outlier_cost = 2 * len(pairs) * float(np.log1p(outlier_sigmas**2 / 2))
        unary = np.concatenate([unary2, np.full((n, 1), outlier_cost)], axis=1)
        return _viterbi(_transition_costs(t, a, b, sigma, max_gap_s), unary)

    # 1. whole body, from the torso's motion and the body's chirality
    all_pairs = [p for g in LIMB_GROUPS for p in g]
    evidence = chirality_weight * chirality_evidence(w)
    unary = np.stack([np.maximum(-evidence, 0.0), prior + np.maximum(evidence, 0.0)], axis=1)
    st = states(_MOTION_PAIRS[TORSO], xy, unary)
    body = _fill_outlier_states(st)
    outliers[:, TORSO] = st == OUTLIER
    swaps[:, :] = body[:, None]
    xy_body = _swap_points(xy, all_pairs, body)
    # 2. legs and arms, each relative to the corrected torso
    unary = np.stack([np.zeros(n), np.full(n, prior)], axis=1)
    for g in (LEGS, ARMS):
        st = states(_MOTION_PAIRS[g], xy_body, unary)
        swaps[:, g] ^= _fill_outlier_states(st)
        outliers[:, g] = st == OUTLIER
    return IdentityFix(swaps, outliers)


def apply_swaps(arr: NDArray[np.floating], swaps: NDArray[np.bool_]) -> NDArray[np.floating]:
    """Exchange the left/right landmarks of ``arr`` (shape (T, 33, ...)) where ``swaps`` (T, 3) says so."""
    out = np.array(arr, copy=True)
    for g, pairs in enumerate(LIMB_GROUPS):
        left = [a for a, _ in pairs]
        right = [b for _, b in pairs]
        rows = np.flatnonzero(swaps[:, g])
        if rows.size:
            out[np.ix_(rows, np.array(left + right))] = arr[np.ix_(rows, np.array(right + left))]
    return out


def swap_in_camera(points: NDArray[np.floating], swaps: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Exchange left/right labels of camera-frame points, each landmark keeping its own depth.

    A swapped landmark moves onto its partner's viewing ray at its own depth:
    ``p_left' = p_right * z_left / z_right`` (and the other way round). Its image position becomes
    the partner's; which of the two is nearer the camera stays as the model said.

    Parameters
    ----------
    points : ndarray, shape (T, 33, 3), m
        Landmarks in the camera frame (x right, y down, z forward; z > 0).
    swaps : ndarray, shape (T, 3), bool
        :attr:`IdentityFix.swaps`.

    Returns
    -------
    ndarray, shape (T, 33, 3), m
    """
    p = np.asarray(points, dtype=np.float64)
    out = p.copy()
    for g, pairs in enumerate(LIMB_GROUPS):
        rows = np.flatnonzero(swaps[:, g])
        if not rows.size:
            continue
        for a, b in pairs:
            pa, pb = p[rows, a], p[rows, b]
            with np.errstate(invalid="ignore", divide="ignore"):
                out[rows, a] = pb * (pa[:, 2:3] / pb[:, 2:3])
                out[rows, b] = pa * (pb[:, 2:3] / pa[:, 2:3])
    return out
