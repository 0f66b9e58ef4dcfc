"""Fit SMPL to a clip of MediaPipe landmarks: one shape per clip, a pose and a translation per frame.

Needs the optional extra ``imusynth[smpl]`` (torch and smplx). The objective, minimised over all frames
at once on the CPU (float64, deterministic: no randomness is involved)::

    E = sum_t sum_c w_tc |P_tc - L_tc|^2 / s^2                                  3-D landmarks
      + reproj_weight * sum_t sum_c w_tc |(pi(P_tc) - x_tc) / f * Z_tc|^2 / s^2  2-D reprojection
      + smooth_weight * sum_t (sum_k |D2 Q_tk|^2 + l^2 |D2 theta_t|^2) / s^2      temporal smoothness
      + pose_prior_weight * sum_t l^2 sum_i a_i theta_ti^2 / s^2                   pose prior (L2)
      + shape_prior_weight * T * |beta|^2                                          shape prior (L2)

with ``P_tc`` the model point of correspondence ``c`` (an SMPL joint or keypoint vertex, table
:data:`MEDIAPIPE_TO_SMPL`), ``L_tc`` the mean of its MediaPipe landmarks, ``w_tc`` the correspondence
weight times the smallest landmark confidence, ``pi`` the pinhole projection by ``K`` after the
world-to-camera transform, ``f`` the focal length, ``Z`` the model point's depth (held for an iteration:
the 2-D residual becomes metres at the point), ``D2`` the second difference over frames, ``Q`` all 24
joints and the used vertices, ``theta`` the 69 body-pose parameters (axis-angle, rad; the root's own
rotation is smoothed through ``Q`` only, so that its axis-angle wrap at pi does no harm), ``a_i`` 1 or
:data:`HINGE_PRIOR_FACTOR` for the axes knees, elbows, wrists and toes barely have, ``s = 0.01 m`` and
``l = 0.1 m/rad`` (a radian of joint rotation weighs like 10 cm of displacement). The reported loss is
``E / T``.

On a single point the smoothness term is a zero-phase low-pass filter: its response to a frequency
``f`` at frame interval ``dt`` is ``1 / (1 + smooth_weight * (2 sin(pi f dt))^4)``, so
``smooth_weight = 1`` halves amplitudes at ``rate / 6`` (:func:`smooth_weight_for_cutoff`).

Solver: the global orientation and translation are initialised per frame by a weighted Kabsch fit of the
rest torso (shoulders and hips) to the landmarks, the body pose at zero, the shape at the mean. Then
Levenberg-Marquardt (Gauss-Newton with Nielsen's damping) on all unknowns at once: the Jacobian of the
skinned points is exact and in closed form (:mod:`._lbs`), the normal matrix of the per-frame unknowns is
block-pentadiagonal (the smoothness couples frames up to two apart) and is factorised by block rows, the
betas are eliminated by a Schur complement; one iteration costs a few times ``75^3`` flops per frame.
A first third of the iterations holds the shape and uses a 10x pose prior (it settles the limbs before
the shape moves).
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from importlib import metadata
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imusynth.body.smpl.loading import SMPL_JOINT_NAMES, SmplModel
from imusynth.body.smpl.mesh_placements import MeshPlacement, mesh_sensor_trajectories, sensor_motion
from imusynth.core.motion import Motion
from imusynth.core.placements import Placement
from imusynth.errors import InputError

try:
    import smplx
    import torch
    from smplx.utils import Struct
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    raise InputError(
        "SMPL fitting needs the optional extra: pip install torch==2.13.0 (the CPU wheel) then "
        f"pip install 'imusynth[smpl]' ({_exc})"
    ) from None

from imusynth.body.smpl._lbs import LbsResult, SubsetLBS  # noqa: E402 - needs torch, imported above

#: Length scale of the residuals, m (the objective is in units of (1 cm)^2).
RESIDUAL_SCALE_M = 0.01
#: Lever that converts rotation to displacement in the priors, m/rad.
ROTATION_LEVER_M = 0.1


@dataclass(frozen=True)
class Correspondence:
    """One MediaPipe landmark (or the mean of several) matched to an SMPL joint or keypoint vertex.

    Attributes
    ----------
    name : str
        Name of the correspondence.
    landmarks : tuple of int
        MediaPipe PoseLandmarker indices (0..32) whose mean is the target.
    kind : {"joint", "vertex"}
    target : int or str
        SMPL joint index (``kind="joint"``) or keypoint-vertex name (``kind="vertex"``, smplx's names).
    weight : float
        Relative weight (unitless).
    """

    name: str
    landmarks: tuple[int, ...]
    kind: str
    target: int | str
    weight: float


def _c(name: str, lms: tuple[int, ...], kind: str, target: int | str, weight: float = 1.0) -> Correspondence:
    return Correspondence(name, lms, kind, target, weight)


#: MediaPipe 33 -> SMPL. Unused landmarks: inner/outer eye corners (1, 3, 4, 6) and mouth corners (9, 10),
#: which have no keypoint vertex in smplx's SMPL table. Index + pinky knuckles are averaged into SMPL's
#: hand joint; the thumb uses smplx's thumb-tip vertex at half weight (it fixes the forearm's roll).
MEDIAPIPE_TO_SMPL: tuple[Correspondence, ...] = (
    _c("nose", (0,), "vertex", "nose"),
    _c("left_eye", (2,), "vertex", "leye"),
    _c("right_eye", (5,), "vertex", "reye"),
    _c("left_ear", (7,), "vertex", "lear"),
    _c("right_ear", (8,), "vertex", "rear"),
    _c("left_shoulder", (11,), "joint", 16),
    _c("right_shoulder", (12,), "joint", 17),
    _c("left_elbow", (13,), "joint", 18),
    _c("right_elbow", (14,), "joint", 19),
    _c("left_wrist", (15,), "joint", 20),
    _c("right_wrist", (16,), "joint", 21),
    _c("left_hand", (17, 19), "joint", 22),
    _c("right_hand", (18, 20), "joint", 23),
    _c("left_thumb", (21,), "vertex", "lthumb", 0.5),
    _c("right_thumb", (22,), "vertex", "rthumb", 0.5),
    _c("left_hip", (23,), "joint", 1),
    _c("right_hip", (24,), "joint", 2),
    _c("left_knee", (25,), "joint", 4),
    _c("right_knee", (26,), "joint", 5),
    _c("left_ankle", (27,), "joint", 7),
    _c("right_ankle", (28,), "joint", 8),
    _c("left_heel", (29,), "vertex", "LHeel"),
    _c("right_heel", (30,), "vertex", "RHeel"),
    _c("left_foot_index", (31,), "vertex", "LBigToe"),
    _c("right_foot_index", (32,), "vertex", "RBigToe"),
)

_TORSO = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")

#: Factor of the pose prior on the rotation axes that a joint barely has (anatomy, in SMPL's rest frame:
#: x = subject's left, y = up, z = forward, T-pose with palms down). Knees only flex (about x); elbows
#: flex (about y) and carry the forearm's pronation (about x, the forearm's axis); wrists flex and
#: deviate (about z and y) but do not roll: the hand's roll is the forearm's; toes only flex (about x).
#: These constraints make the rotation of a thigh, upper arm, forearm or foot about its own axis
#: observable from the landmarks (a 3-DOF knee, elbow, wrist or toe joint could otherwise absorb whatever
#: twist the segment above it has).
HINGE_PRIOR_FACTOR = 1000.0
#: The axes each constrained joint keeps at the normal prior weight.
_FREE_AXES = {4: (0,), 5: (0,), 10: (0,), 11: (0,), 18: (0, 1), 19: (0, 1), 20: (1, 2), 21: (1, 2)}


def prior_axis_weights() -> NDArray[np.float64]:
    """Relative weight of each of the 69 body-pose parameters in the pose prior (1, or the hinge factor)."""
    w = np.ones((23, 3))
    for j, free in _FREE_AXES.items():
        for ax in range(3):
            if ax not in free:
                w[j - 1, ax] = HINGE_PRIOR_FACTOR
    return w.reshape(69)
_N_LANDMARKS = 33


@dataclass(frozen=True)
class SmplFit:
    """SMPL parameters fitted to one clip, and how well they fit.

    Attributes
    ----------
    betas : ndarray, shape (B,)
        Shape coefficients (unitless), one vector for the clip.
    global_orient : ndarray, shape (T, 3), rad
        Axis-angle rotation of the root (pelvis) joint: SMPL rest frame (y up) -> world (z up).
    body_pose : ndarray, shape (T, 69), rad
        Axis-angle rotations of joints 1..23 relative to their parents (SMPL joint order).
    transl : ndarray, shape (T, 3), m
        Translation added to every vertex and joint (smplx's ``transl``).
    joints : ndarray, shape (T, 24, 3), m
        Fitted SMPL joints in the world frame.
    residual_3d_m : ndarray, shape (T, C), m
        Distance between each model point and its 3-D landmark target (NaN where the weight is 0).
    residual_2d_px : ndarray, shape (T, C), px, or None
        Reprojection error of each correspondence (None without 2-D input).
    correspondences : tuple of str, length C
        Names of the correspondences used (columns of the residuals).
    loss : float
        Final objective value per frame (units of (1 cm)^2, see the module docstring).
    loss_history : tuple of float
        Objective per frame after each accepted iteration (stage 1 includes its 10x pose prior).
    n_iterations : int
        Levenberg-Marquardt iterations accepted.
    n_evaluations : int
        Objective evaluations (with or without the Jacobian).
    fit_time_s : float, s
        Wall time of the fit.
    settings : dict
        The keyword settings the fit ran with (stored with the clip).
    """

    betas: NDArray[np.float64]
    global_orient: NDArray[np.float64]
    body_pose: NDArray[np.float64]
    transl: NDArray[np.float64]
    joints: NDArray[np.float64]
    residual_3d_m: NDArray[np.float64]
    residual_2d_px: NDArray[np.float64] | None
    correspondences: tuple[str, ...]
    loss: float
    loss_history: tuple[float, ...]
    n_iterations: int
    n_evaluations: int
    fit_time_s: float
    settings: dict[str, float | int | str]

    @property
    def n_frames(self) -> int:
        """Number of frames T."""
        return int(self.transl.shape[0])

    @property
    def pose(self) -> NDArray[np.float64]:
        """Full pose (T, 72), rad: ``global_orient`` then ``body_pose``."""
        return np.concatenate([self.global_orient, self.body_pose], axis=1)


def smooth_weight_for_cutoff(cutoff_hz: float, rate_hz: float) -> float:
    """``smooth_weight`` whose smoothing halves the amplitude at ``cutoff_hz`` for frames at ``rate_hz``.

    From the response ``1 / (1 + w (2 sin(pi f / rate))^4)`` of the second-difference penalty.
    Valid for ``0 < cutoff_hz < rate_hz / 2``.
    """
    if not 0.0 < cutoff_hz < rate_hz / 2.0:
        raise InputError(
            f"smoothing cut-off must be in (0, {rate_hz / 2:g}) Hz for {rate_hz:g} fps, got {cutoff_hz}"
        )
    return float(1.0 / (2.0 * np.sin(np.pi * cutoff_hz / rate_hz)) ** 4)


def smplx_version() -> str:
    """Installed smplx version (stored with every fitted clip)."""
    return metadata.version("smplx")


def _struct(model: SmplModel) -> Any:
    return Struct(**model.smplx_data())


def build_smplx(model: SmplModel, *, batch_size: int = 1, num_betas: int | None = None,
                dtype: torch.dtype = torch.float64) -> smplx.SMPL:
    """An ``smplx.SMPL`` layer built from the model's arrays (smplx's ``data_struct`` route; no file read).

    Parameters
    ----------
    model : SmplModel
    batch_size : int
        Batch size of the layer's own parameters (forward calls may pass any batch).
    num_betas : int, optional
        Shape coefficients used (default: all in the file, at most 10 for a 10-component model).
    dtype : torch.dtype
    """
    if model.vertex_ids.keys() < {"nose", "reye", "leye", "rear", "lear"}:
        raise InputError(
            f"model {model.source} has {model.n_vertices} vertices (SMPL has 6890) "
            "and names no keypoint vertices"
        )
    ids = model.vertex_ids
    feet = all(k in ids for k in ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"))
    hands = all(f"{s}{f}" in ids for s in "lr" for f in ("thumb", "index", "middle", "ring", "pinky"))
    with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a notice for 10-component models
        return smplx.SMPL(
            model_path=model.source or ".", data_struct=_struct(model), num_betas=num_betas or model.n_betas,
            batch_size=batch_size, dtype=dtype, vertex_ids=dict(ids), use_hands=hands,
            use_feet_keypoints=feet,
            gender=model.gender,
        )


def _targets(landmarks: NDArray[np.float64], weights: NDArray[np.float64], corr: tuple[Correspondence, ...]
             ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean landmark per correspondence (T, C, D) and its weight (T, C) (0 where any landmark is missing)."""
    T = landmarks.shape[0]
    tgt = np.zeros((T, len(corr), landmarks.shape[2]))
    w = np.zeros((T, len(corr)))
    for c, cc in enumerate(corr):
        lm = landmarks[:, list(cc.landmarks), :]
        ok = np.isfinite(lm).all(axis=(1, 2))
        tgt[ok, c] = lm[ok].mean(axis=1)
        w[:, c] = np.where(ok, cc.weight * weights[:, list(cc.landmarks)].min(axis=1), 0.0)
    return tgt, np.clip(np.nan_to_num(w, nan=0.0), 0.0, None)


def _kabsch_init(model: SmplModel, tgt: NDArray[np.float64], w: NDArray[np.float64],
                 corr: tuple[Correspondence, ...]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-frame root rotation (axis-angle, T x 3) and translation (T x 3) from the rest torso."""
    from scipy.spatial.transform import Rotation

    names = [c.name for c in corr]
    cols = [names.index(n) for n in _TORSO if n in names]
    J0 = model.rest_joints()
    M = np.stack([J0[int(corr[c].target)] for c in cols])  # rest torso joints (4, 3)
    T = tgt.shape[0]
    rotvec = np.zeros((T, 3))
    transl = np.zeros((T, 3))
    good = np.zeros(T, dtype=bool)
    for t in range(T):
        wt = w[t, cols]
        if np.count_nonzero(wt > 0) < 3:
            continue
        P = tgt[t, cols]
        mc = (wt @ M) / wt.sum()
        pc = (wt @ P) / wt.sum()
        H = ((M - mc) * wt[:, None]).T @ (P - pc)
        U, _, Vt = np.linalg.svd(H)
        d = np.sign(np.linalg.det(Vt.T @ U.T))
        R = Vt.T @ np.diag([1.0, 1.0, d]) @ U.T
        rotvec[t] = Rotation.from_matrix(R).as_rotvec()
        # posed = R (x - J_root) + J_root + transl  =>  transl = pc - R (mc - J_root) - J_root
        transl[t] = pc - R @ (mc - J0[0]) - J0[0]
        good[t] = True
    if not good.any():
        raise InputError(
            "no frame has at least 3 of the 4 torso landmarks (shoulders, hips) with a weight above 0"
        )
    idx = np.arange(T)
    nearest = idx[good][np.abs(idx[:, None] - idx[good][None, :]).argmin(axis=1)]
    rotvec = rotvec[nearest]
    transl = np.stack([np.interp(idx, idx[good], transl[good, k]) for k in range(3)], axis=1)
    return rotvec, transl


def _as_frames(a: NDArray[np.float64] | None, T: int, shape: tuple[int, ...], name: str,
               default: NDArray[np.float64]) -> NDArray[np.float64]:
    if a is None:
        return np.broadcast_to(default, (T, *shape)).copy()
    arr = np.asarray(a, dtype=np.float64)
    if arr.shape == shape:
        return np.broadcast_to(arr, (T, *shape)).copy()
    if arr.shape != (T, *shape):
        raise InputError(f"{name} must have shape {shape} or {(T, *shape)}, got {arr.shape}")
    return arr


@dataclass
class _Terms:
    """Residual blocks of the objective at one iterate (torch, float64)."""

    energy: float
    lbs: LbsResult
    r_data: torch.Tensor          # (T, R) data residuals (3-D then 2-D), weighted and scaled
    r_smooth: torch.Tensor        # (T-2, 3Q) second differences of the points, weighted and scaled
    r_psmooth: torch.Tensor       # (T-2, 69) second differences of the body pose, weighted and scaled
    A2: torch.Tensor | None       # (T, C, 2, 3) d r_2d / d P (weights included)


def _smooth_coefficients(T: int) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Weights of J_t^T J_t', |t - t'| = 0, 1, 2, in the normal matrix of a second-difference penalty."""
    valid = np.zeros(T, dtype=bool)
    valid[1:-1] = True  # centres of the stencil (1, -2, 1)
    v = valid.astype(np.float64)
    c0 = 4.0 * v
    c0[:-1] += v[1:]
    c0[1:] += v[:-1]
    c1 = -2.0 * v[:-1] - 2.0 * v[1:]
    c2 = v[1:-1].copy()
    return c0, c1, c2


@dataclass
class _Normal:
    """Gauss-Newton normal equations: the frames' unknowns (75 per frame) couple frames up to 2 apart.

    Attributes
    ----------
    D : Tensor, shape (T, 75, 75)
        Diagonal blocks ``H_(t, t)``.
    E1, E2 : Tensor, shape (T-1, 75, 75) and (T-2, 75, 75)
        Off-diagonal blocks ``H_(t, t+1)`` and ``H_(t, t+2)`` (the lower ones are their transposes).
    Hxb : Tensor, shape (T, 75, B)
        Coupling of each frame's unknowns with the betas.
    Hbb : Tensor, shape (B, B)
    gx : Tensor, shape (T, 75)
    gb : Tensor, shape (B,)
    """

    D: torch.Tensor
    E1: torch.Tensor
    E2: torch.Tensor
    Hxb: torch.Tensor
    Hbb: torch.Tensor
    gx: torch.Tensor
    gb: torch.Tensor


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block (the previous setting is restored)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _block_cholesky(D: torch.Tensor, E1: torch.Tensor, E2: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """Cholesky factor of a symmetric block-pentadiagonal matrix, by block rows (None if not definite).

    Returns the blocks ``L_(t, t)`` (T, n, n), ``L_(t+1, t)`` (T-1, n, n) and ``L_(t+2, t)`` (T-2, n, n) of
    the lower-triangular factor, which has the same block band. About ``3.5 n^3`` flops per frame.
    """
    T = D.shape[0]
    L0 = torch.empty_like(D)
    L1 = torch.empty_like(E1)
    L2 = torch.empty_like(E2)
    for t in range(T):
        S = D[t]
        if t >= 1:
            S = S - L1[t - 1] @ L1[t - 1].T
        if t >= 2:
            S = S - L2[t - 2] @ L2[t - 2].T
        L, info = torch.linalg.cholesky_ex(S)
        if int(info) != 0:
            return None
        L0[t] = L
        if t + 1 < T:
            X = E1[t].T
            if t >= 1:
                X = X - L2[t - 1] @ L1[t - 1].T
            L1[t] = torch.linalg.solve_triangular(L.T, X, upper=True, left=False)
        if t + 2 < T:
            L2[t] = torch.linalg.solve_triangular(L.T, E2[t].T, upper=True, left=False)
    return L0, L1, L2


def _block_solve(factor: tuple[torch.Tensor, torch.Tensor, torch.Tensor], B: torch.Tensor) -> torch.Tensor:
    """Solve ``L L^T x = B`` for right-hand sides B (T, n, k) with a factor from :func:`_block_cholesky`."""
    L0, L1, L2 = factor
    T = L0.shape[0]
    y = torch.empty_like(B)
    for t in range(T):
        r = B[t]
        if t >= 1:
            r = r - L1[t - 1] @ y[t - 1]
        if t >= 2:
            r = r - L2[t - 2] @ y[t - 2]
        y[t] = torch.linalg.solve_triangular(L0[t], r, upper=False)
    x = torch.empty_like(B)
    for t in range(T - 1, -1, -1):
        r = y[t]
        if t + 1 < T:
            r = r - L1[t].T @ x[t + 1]
        if t + 2 < T:
            r = r - L2[t].T @ x[t + 2]
        x[t] = torch.linalg.solve_triangular(L0[t].T, r, upper=True)
    return x


class _Problem:
    """The fitting objective as residual blocks, its Gauss-Newton normal equations and their solution.

    Unknowns per frame: pose (72, rad) and translation (3, m), 75 in all; shared: betas (B). The normal
    matrix of the per-frame unknowns is banded (the smoothness couples frames up to 2 apart), the betas
    are eliminated by a Schur complement.
    """

    def __init__(self, model: SmplModel, corr: tuple[Correspondence, ...], tgt3: NDArray[np.float64],
                 w3: NDArray[np.float64], two_d: tuple[NDArray[np.float64], ...] | None, *, nb: int,
                 smooth_weight: float, reproj_weight: float, pose_prior_weight: float,
                 shape_prior_weight: float) -> None:
        dt = torch.float64
        T, C = w3.shape
        self.T, self.C, self.nb = T, C, nb
        self.n_j = model.n_joints
        self.n_x = 3 * self.n_j + 3
        vert_names = sorted({str(c.target) for c in corr if c.kind == "vertex"})
        self.lbs = SubsetLBS(model, [model.vertex_ids[n] for n in vert_names], num_betas=nb)
        self.qsel = [int(c.target) if c.kind == "joint" else self.n_j + vert_names.index(str(c.target))
                     for c in corr]
        s = RESIDUAL_SCALE_M
        self.tgt3 = torch.as_tensor(tgt3, dtype=dt)
        self.sw3 = torch.as_tensor(np.sqrt(w3), dtype=dt) / s
        self.two_d = two_d is not None and reproj_weight > 0
        if two_d is not None:
            tgt2, w2, Kmat, Rc, tc = two_d
            self.tgt2 = torch.as_tensor(tgt2, dtype=dt)
            focal = float(0.5 * (Kmat[0, 0] + Kmat[1, 1]))
            self.sw2 = torch.as_tensor(np.sqrt(reproj_weight * w2), dtype=dt) / (focal * s)
            self.Rc = torch.tensor(np.array(Rc), dtype=dt)
            self.tc = torch.tensor(np.array(tc), dtype=dt)
            self.K2 = torch.as_tensor(Kmat[:2, :2], dtype=dt)
            self.c2d = torch.as_tensor(Kmat[:2, 2], dtype=dt)
        self.z_ref = torch.ones((T, C), dtype=dt)
        self.smooth = smooth_weight > 0 and T >= 3
        self.k_sm = float(np.sqrt(smooth_weight)) / s
        self.k_ps = float(np.sqrt(smooth_weight)) * ROTATION_LEVER_M / s
        self.k_pp = float(np.sqrt(pose_prior_weight)) * ROTATION_LEVER_M / s
        self.prior_w = prior_axis_weights()                 # (69,)
        self.prior_w_t = torch.as_tensor(self.prior_w, dtype=dt)
        self.prior_scale = 1.0  # the first stage of the fit runs with a stronger pose prior
        # Levenberg-Marquardt damping D = max(diag(H), floor): a parameter the data barely see (a toe, a
        # twist) is damped as if it moved a point 10 cm per radian, so its steps stay small
        self.damping_floor = (ROTATION_LEVER_M / s) ** 2
        self.k_sh = float(np.sqrt(shape_prior_weight * T))
        self.c0, self.c1, self.c2 = _smooth_coefficients(T)
        self.body_idx = np.arange(3, 3 * self.n_j)

    def project(self, P: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel coordinates (T, C, 2) and camera-frame points (T, C, 3) of world points P (T, C, 3)."""
        pc = torch.einsum("tij,tcj->tci", self.Rc, P) + self.tc[:, None, :]
        z = pc[..., 2:3].clamp(min=0.1)
        return torch.einsum("ij,tcj->tci", self.K2, pc[..., :2] / z) + self.c2d, pc

    def update_depths(self, betas: torch.Tensor, pose: torch.Tensor, transl: torch.Tensor) -> None:
        """Hold the model points' current camera depths for the 2-D residuals of the next iteration."""
        if self.two_d:
            P = self.lbs(betas, pose, transl).points[:, self.qsel]
            self.z_ref = self.project(P)[1][..., 2].clamp(min=0.1)

    def terms(self, betas: torch.Tensor, pose: torch.Tensor, transl: torch.Tensor, *,
              jacobian: bool) -> _Terms:
        """Residual blocks (and the points' Jacobian on request) at one iterate."""
        T, C = self.T, self.C
        with _single_thread():  # many medium-sized operations: threads mostly wait on each other
            res = self.lbs(betas, pose, transl, jacobian=jacobian)
        Qp = res.points
        P = Qp[:, self.qsel]
        parts = [(self.sw3[..., None] * (P - self.tgt3)).reshape(T, 3 * C)]
        A2 = None
        if self.two_d:
            uv, pc = self.project(P)
            wz = self.sw2 * self.z_ref
            parts.append((wz[..., None] * (uv - self.tgt2)).reshape(T, 2 * C))
            if jacobian:
                z = pc[..., 2].clamp(min=0.1)
                dproj = torch.zeros((T, C, 2, 3), dtype=Qp.dtype)
                dproj[..., 0, 0] = 1.0 / z
                dproj[..., 1, 1] = 1.0 / z
                dproj[..., :, 2] = -pc[..., :2] / (z**2)[..., None]
                A2 = wz[..., None, None] * (self.K2 @ dproj @ self.Rc[:, None])
        r_data = torch.cat(parts, dim=1)
        body = pose[:, 3:]
        if self.smooth:
            r_smooth = self.k_sm * (Qp[2:] - 2.0 * Qp[1:-1] + Qp[:-2]).reshape(T - 2, -1)
            r_ps = self.k_ps * (body[2:] - 2.0 * body[1:-1] + body[:-2])
        else:
            r_smooth = torch.zeros((0, 3 * Qp.shape[1]), dtype=Qp.dtype)
            r_ps = torch.zeros((0, body.shape[1]), dtype=Qp.dtype)
        energy = float((r_data**2).sum().detach() + (r_smooth**2).sum().detach() + (r_ps**2).sum().detach()
                       + self.prior_scale * (self.k_pp**2) * (self.prior_w_t * body**2).sum().detach()
                       + (self.k_sh**2) * (betas**2).sum().detach())
        return _Terms(energy, res, r_data, r_smooth, r_ps, A2)

    def normal_equations(self, tm: _Terms, betas: torch.Tensor, pose: torch.Tensor) -> _Normal:
        """Gauss-Newton ``H = J^T J`` and ``g = J^T r`` in block form (see :class:`_Normal`).

        Includes the pose prior at ``self.prior_scale`` times its weight (see :meth:`terms`).
        """
        T, C, n_x, nb = self.T, self.C, self.n_x, self.nb
        dt = torch.float64
        jx, jb = tm.lbs.jac_x, tm.lbs.jac_b
        assert jx is not None and jb is not None
        Jq = torch.cat([jx, jb], dim=-1)                                      # (T, Q, 3, N)
        N = Jq.shape[-1]
        JP = Jq[:, self.qsel]                                                 # (T, C, 3, N)
        rows = [(self.sw3[..., None, None] * JP).reshape(T, 3 * C, N)]
        if tm.A2 is not None:
            rows.append((tm.A2 @ JP).reshape(T, 2 * C, N))
        Jd = torch.cat(rows, dim=1)
        H = Jd.transpose(1, 2) @ Jd                                           # (T, N, N)
        g = (Jd.transpose(1, 2) @ tm.r_data[..., None])[..., 0]               # (T, N)
        H1 = torch.zeros((max(T - 1, 0), N, N), dtype=dt)                     # blocks (t, t+1)
        H2 = torch.zeros((max(T - 2, 0), N, N), dtype=dt)                     # blocks (t, t+2)
        if self.smooth:
            Js = self.k_sm * Jq.reshape(T, -1, N)
            JsT = Js.transpose(1, 2)
            H = H + torch.as_tensor(self.c0)[:, None, None] * (JsT @ Js)
            H1 = torch.as_tensor(self.c1)[:, None, None] * (JsT[:-1] @ Js[1:])
            H2 = torch.as_tensor(self.c2)[:, None, None] * (JsT[:-2] @ Js[2:])
            rs = tm.r_smooth[..., None]
            g[:-2] += (JsT[:-2] @ rs)[..., 0]
            g[1:-1] -= 2.0 * (JsT[1:-1] @ rs)[..., 0]
            g[2:] += (JsT[2:] @ rs)[..., 0]
        D = H[:, :n_x, :n_x].clone()
        E1 = H1[:, :n_x, :n_x].clone()
        E2 = H2[:, :n_x, :n_x].clone()
        Hxb = H[:, :n_x, n_x:].clone()
        Hbb = H[:, n_x:, n_x:].sum(0)
        for d, Hk in ((1, H1), (2, H2)):
            if Hk.shape[0] == 0:
                continue
            Hxb[:-d] += Hk[:, :n_x, n_x:]
            Hxb[d:] += Hk[:, n_x:, :n_x].transpose(1, 2)
            Hbb = Hbb + Hk[:, n_x:, n_x:].sum(0) + Hk[:, n_x:, n_x:].sum(0).T
        Hbb = Hbb + (self.k_sh**2) * torch.eye(nb, dtype=dt)
        gx = g[:, :n_x].clone()
        gb = g[:, n_x:].sum(0) + (self.k_sh**2) * betas
        # body-pose smoothness and prior: linear residuals with constant (diagonal) curvature
        bi = torch.as_tensor(self.body_idx)
        prior = torch.as_tensor(self.prior_scale * self.k_pp**2 * self.prior_w, dtype=dt)
        D[:, bi, bi] += prior
        gx[:, bi] += prior * pose[:, 3:]
        if self.smooth:
            k2 = self.k_ps**2
            D[:, bi, bi] += k2 * torch.as_tensor(self.c0, dtype=dt)[:, None]
            E1[:, bi, bi] += k2 * torch.as_tensor(self.c1, dtype=dt)[:, None]
            E2[:, bi, bi] += k2 * torch.as_tensor(self.c2, dtype=dt)[:, None]
            rp = self.k_ps * tm.r_psmooth
            gx[:-2, bi] += rp
            gx[1:-1, bi] -= 2.0 * rp
            gx[2:, bi] += rp
        return _Normal(D, E1, E2, Hxb, Hbb, gx, gb)

    def solve(self, ne: _Normal, mu: float, *, fix_betas: bool = False
              ) -> tuple[NDArray[np.float64], NDArray[np.float64], float] | None:
        """Damped Gauss-Newton step ``d = -(H + mu D)^-1 g``, ``D = max(diag(H), floor)``.

        Returns the frame unknowns (T, 75), the betas (B,) and the decrease of the objective that the linear
        model predicts; None where the system is not definite.

        ``fix_betas`` keeps the betas (their step is zero).
        """
        dt = torch.float64
        Dx = torch.clamp(torch.diagonal(ne.D, dim1=1, dim2=2), min=self.damping_floor)   # (T, 75)
        Db = torch.clamp(torch.diagonal(ne.Hbb), min=1.0)
        Dd = ne.D + torch.diag_embed(mu * Dx)
        with _single_thread():  # thousands of 75 x 75 operations: threads only add synchronisation
            factor = _block_cholesky(Dd, ne.E1, ne.E2)
            if factor is not None:
                rhs_x = ne.gx[..., None] if fix_betas else torch.cat([ne.gx[..., None], ne.Hxb], dim=2)
                sol = _block_solve(factor, rhs_x)
        if factor is None:
            return None
        if fix_betas:
            dx = -sol[..., 0]
            db = torch.zeros(self.nb, dtype=dt)
        else:
            z, Y = sol[..., 0], sol[..., 1:]                                   # (T, 75), (T, 75, B)
            S = ne.Hbb + torch.diag(mu * Db) - torch.einsum("tia,tib->ab", ne.Hxb, Y)
            rhs = ne.gb - torch.einsum("tia,ti->a", ne.Hxb, z)
            try:
                db = -torch.linalg.solve(S, rhs)
            except RuntimeError:  # torch.linalg.LinAlgError
                return None
            dx = -z - Y @ db
        # E(d) ~ E + 2 g.d + d.H.d and (H + mu D) d = -g give the predicted decrease -g.d + mu d.D.d
        pred = float(-(ne.gx * dx).sum() - ne.gb @ db + mu * ((Dx * dx**2).sum() + (Db * db**2).sum()))
        return dx.numpy(), db.numpy(), pred


def fit_clip(landmarks_world: NDArray[np.float64], image_xy: NDArray[np.float64] | None,
             weights: NDArray[np.float64] | None, K: NDArray[np.float64] | None, model: SmplModel, *,
             cam_rotation: NDArray[np.float64] | None = None,
             cam_translation: NDArray[np.float64] | None = None,
             n_iters: int = 15, smooth_weight: float = 0.3, reproj_weight: float = 1.0,
             pose_prior_weight: float = 1e-3, shape_prior_weight: float = 1e-2, num_betas: int = 10,
             tolerance: float = 1e-9, torch_threads: int | None = None) -> SmplFit:
    """Fit SMPL to a clip of MediaPipe landmarks (see the module docstring for the objective).

    Parameters
    ----------
    landmarks_world : ndarray, shape (T, 33, 3), m
        MediaPipe landmarks in the world frame (z up); NaN where missing.
    image_xy : ndarray, shape (T, 33, 2), px, or None
        The landmarks in the image (NaN where missing); None skips the reprojection term.
    weights : ndarray, shape (T, 33), in [0, 1], or None
        Landmark confidences (None: all 1); 0 removes a landmark from a frame.
    K : ndarray, shape (3, 3), or None
        Camera intrinsics (px); required with ``image_xy``.
    model : SmplModel
    cam_rotation : ndarray, shape (3, 3) or (T, 3, 3), optional
        World-to-camera rotation (``p_cam = R p_world + t``, OpenCV camera axes); default identity,
        i.e. ``landmarks_world`` are already in the camera frame.
    cam_translation : ndarray, shape (3,) or (T, 3), m, optional
        World-to-camera translation; default zero.
    n_iters : int
        Most Levenberg-Marquardt iterations (each: one Jacobian, one or more banded solves).
    smooth_weight : float
        Weight of the second-difference smoothness prior (unitless; 0.3 halves amplitudes at 0.236 x the
        frame rate, 7 Hz at 30 fps; see :func:`smooth_weight_for_cutoff`).
    reproj_weight : float
        Weight of the 2-D term relative to the 3-D term (unitless).
    pose_prior_weight : float
        Weight of the L2 prior pulling joint rotations toward the rest pose (unitless, see docstring).
    shape_prior_weight : float
        Weight of the L2 prior on betas, per frame (unitless).
    num_betas : int
        Shape coefficients fitted (at most the model's).
    tolerance : float
        Stop when an accepted step lowers the objective by less than this fraction.
    torch_threads : int, optional
        ``torch.set_num_threads`` during the fit (restored afterwards); it serves the batched normal-matrix
        products, while the skinning and the sequential block factorisation always run on one thread.

    Returns
    -------
    SmplFit

    Raises
    ------
    InputError
        Shapes that disagree, no torso in any frame, ``image_xy`` without ``K``, negative weights.
    """
    t_start = time.perf_counter()
    L = np.asarray(landmarks_world, dtype=np.float64)
    if L.ndim != 3 or L.shape[1:] != (_N_LANDMARKS, 3):
        raise InputError(f"landmarks_world must have shape (T, 33, 3), got {L.shape}")
    T = L.shape[0]
    if T < 1:
        raise InputError("landmarks_world has no frames")
    W = np.ones((T, _N_LANDMARKS)) if weights is None else np.asarray(weights, dtype=np.float64)
    if W.shape != (T, _N_LANDMARKS):
        raise InputError(f"weights must have shape ({T}, 33), got {W.shape}")
    for name, val in (("smooth_weight", smooth_weight), ("reproj_weight", reproj_weight),
                      ("pose_prior_weight", pose_prior_weight), ("shape_prior_weight", shape_prior_weight)):
        if not np.isfinite(val) or val < 0:
            raise InputError(f"{name} must be a finite number >= 0, got {val}")
    nb = max(1, min(num_betas, model.n_betas))
    corr = tuple(c for c in MEDIAPIPE_TO_SMPL if c.kind == "joint" or c.target in model.vertex_ids)
    tgt3, w3 = _targets(L, W, corr)
    two_d = None
    w2 = None
    if image_xy is not None:
        if K is None:
            raise InputError("image_xy was given without the camera intrinsics K")
        xy = np.asarray(image_xy, dtype=np.float64)
        if xy.shape != (T, _N_LANDMARKS, 2):
            raise InputError(f"image_xy must have shape ({T}, 33, 2), got {xy.shape}")
        Kmat = np.asarray(K, dtype=np.float64)
        if Kmat.shape != (3, 3):
            raise InputError(f"K must have shape (3, 3), got {Kmat.shape}")
        tgt2, w2 = _targets(xy, W, corr)
        two_d = (tgt2, w2, Kmat, _as_frames(cam_rotation, T, (3, 3), "cam_rotation", np.eye(3)),
                 _as_frames(cam_translation, T, (3,), "cam_translation", np.zeros(3)))
    rot0, transl0 = _kabsch_init(model, tgt3, w3, corr)
    prob = _Problem(model, corr, tgt3, w3, two_d, nb=nb, smooth_weight=smooth_weight,
                    reproj_weight=reproj_weight, pose_prior_weight=pose_prior_weight,
                    shape_prior_weight=shape_prior_weight)

    dt = torch.float64
    n3 = 3 * model.n_joints
    old_threads = torch.get_num_threads()
    if torch_threads:
        torch.set_num_threads(int(torch_threads))
    betas = torch.zeros(nb, dtype=dt)
    pose = torch.cat([torch.as_tensor(rot0, dtype=dt), torch.zeros((T, n3 - 3), dtype=dt)], dim=1)
    transl = torch.as_tensor(transl0, dtype=dt)
    mu, nu = 1.0, 2.0
    history: list[float] = []
    n_eval = 0
    n_done = 0
    try:
        with torch.no_grad():
            prob.update_depths(betas, pose, transl)
            # stage 1: shape held at the mean, 10x pose prior (settles the limbs); stage 2: everything
            n1 = max(1, n_iters // 3)
            for stage, (scale, fix, iters) in enumerate(((10.0, True, n1), (1.0, False, n_iters - n1))):
                prob.prior_scale = scale
                tm = prob.terms(betas, pose, transl, jacobian=True)
                n_eval += 1
                for _ in range(iters):
                    ne = prob.normal_equations(tm, betas, pose)
                    new = None
                    for _try in range(12):
                        step = prob.solve(ne, mu, fix_betas=fix)
                        if step is None:
                            mu *= nu
                            nu *= 2.0
                            continue
                        dx = torch.as_tensor(step[0], dtype=dt)
                        cand = (betas + torch.as_tensor(step[1], dtype=dt), pose + dx[:, :n3],
                                transl + dx[:, n3:])
                        trial = prob.terms(*cand, jacobian=False)
                        n_eval += 1
                        if np.isfinite(trial.energy) and trial.energy < tm.energy:
                            # Nielsen's damping update from the gain ratio
                            rho = (tm.energy - trial.energy) / max(step[2], 1e-300)
                            mu = max(mu * max(1.0 / 3.0, 1.0 - (2.0 * min(rho, 1.0) - 1.0) ** 3), 1e-9)
                            nu = 2.0
                            new = trial
                            break
                        mu *= nu
                        nu *= 2.0
                    if new is None:
                        break
                    n_done += 1
                    history.append(new.energy / T)
                    gain = (tm.energy - new.energy) / max(tm.energy, 1e-300)
                    betas, pose, transl = cand
                    prob.update_depths(betas, pose, transl)
                    tm = prob.terms(betas, pose, transl, jacobian=True)
                    n_eval += 1
                    if gain < tolerance:
                        break
                del stage
            P = tm.lbs.points[:, prob.qsel]
            res3 = (P - prob.tgt3).norm(dim=-1).numpy()
            res2 = None
            if two_d is not None and w2 is not None:
                uv, _ = prob.project(P)
                res2 = np.where(w2 > 0, (uv - prob.tgt2).norm(dim=-1).numpy(), np.nan)
    finally:
        torch.set_num_threads(old_threads)
    settings: dict[str, float | int | str] = {
        "n_iters": int(n_iters), "smooth_weight": float(smooth_weight), "reproj_weight": float(reproj_weight),
        "pose_prior_weight": float(pose_prior_weight), "shape_prior_weight": float(shape_prior_weight),
        "num_betas": int(nb), "two_d": "yes" if prob.two_d else "no", "solver": "levenberg-marquardt",
    }
    return SmplFit(
        betas=betas.numpy().copy(),
        global_orient=pose[:, :3].numpy().copy(),
        body_pose=pose[:, 3:].numpy().copy(),
        transl=transl.numpy().copy(),
        joints=tm.lbs.points[:, : model.n_joints].numpy().copy(),
        residual_3d_m=np.where(w3 > 0, res3, np.nan),
        residual_2d_px=res2,
        correspondences=tuple(c.name for c in corr),
        loss=tm.energy / T,
        loss_history=tuple(history),
        n_iterations=n_done,
        n_evaluations=n_eval,
        fit_time_s=time.perf_counter() - t_start,
        settings=settings,
    )


def posed_vertices(model: SmplModel, betas: NDArray[np.float64], pose: NDArray[np.float64],
                   transl: NDArray[np.float64], *, chunk: int = 256
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mesh vertices and joints over time, through ``smplx.SMPL`` (float64).

    Parameters
    ----------
    model : SmplModel
    betas : ndarray, shape (B,)
    pose : ndarray, shape (T, 72), rad
        Axis-angle: global orientation then the 23 body joints.
    transl : ndarray, shape (T, 3), m
    chunk : int
        Frames per smplx call (bounds memory).

    Returns
    -------
    vertices : ndarray, shape (T, V, 3), m
    joints : ndarray, shape (T, 24, 3), m
        The 24 SMPL joints (smplx's extra keypoints dropped).
    """
    b = np.asarray(betas, dtype=np.float64)
    layer = build_smplx(model, num_betas=b.shape[0])
    pose = np.asarray(pose, dtype=np.float64)
    transl = np.asarray(transl, dtype=np.float64)
    T = pose.shape[0]
    verts = np.empty((T, model.n_vertices, 3))
    joints = np.empty((T, model.n_joints, 3))
    with torch.no_grad():
        for a in range(0, T, chunk):
            p = torch.as_tensor(pose[a:a + chunk])
            n = p.shape[0]
            out = layer(betas=torch.as_tensor(b)[None].expand(n, -1), global_orient=p[:, :3],
                        body_pose=p[:, 3:],
                        transl=torch.as_tensor(transl[a:a + chunk]))
            verts[a:a + n] = out.vertices.numpy()
            joints[a:a + n] = out.joints[:, : model.n_joints].numpy()
    return verts, joints


def fit_vertices(model: SmplModel, fit: SmplFit, *, chunk: int = 256) -> NDArray[np.float64]:
    """Mesh vertices (T, V, 3), m, of a fit, in the world frame."""
    return posed_vertices(model, fit.betas, fit.pose, fit.transl, chunk=chunk)[0]


def skinned_vertices(model: SmplModel, betas: NDArray[np.float64], pose: NDArray[np.float64],
                     transl: NDArray[np.float64], vertex_index: Sequence[int], *,
                     chunk: int = 4096) -> NDArray[np.float64]:
    """Only the vertices ``vertex_index`` (S,) over time, (T, S, 3) m: the memory-light path to mesh sensors.

    Same skinning as ``smplx.SMPL`` (tested), without forming the whole mesh.
    """
    b = torch.as_tensor(np.asarray(betas, dtype=np.float64))
    lbs = SubsetLBS(model, list(vertex_index), num_betas=b.shape[0])
    pose_t = torch.as_tensor(np.asarray(pose, dtype=np.float64))
    transl_t = torch.as_tensor(np.asarray(transl, dtype=np.float64))
    out = np.empty((pose_t.shape[0], len(vertex_index), 3))
    with torch.no_grad():
        for a in range(0, pose_t.shape[0], chunk):
            pts = lbs(b, pose_t[a:a + chunk], transl_t[a:a + chunk]).points
            out[a:a + pts.shape[0]] = pts[:, model.n_joints:].numpy()
    return out


def fit_sensor_trajectories(model: SmplModel, fit: SmplFit, placements: Sequence[MeshPlacement]
                            ) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Mesh sensors of a fit: position (T, 3) m and sensor-to-world rotation (T, 3, 3) per placement.

    Equals :func:`~imusynth.body.smpl.mesh_placements.mesh_sensor_trajectories` on the full mesh of the fit,
    but skins only the vertices the placements need (their regions, tangent targets and the faces around
    the regions), so memory stays small for long clips.
    """
    faces = model.faces
    needed: set[int] = set()
    for p in placements:
        needed |= set(p.vertices) | set(p.tangent_vertices)
        needed |= set(faces[np.isin(faces, p.vertices).any(axis=1)].ravel().tolist())
    ids = sorted(needed)
    local = {v: i for i, v in enumerate(ids)}
    sub_faces = faces[np.isin(faces, ids).all(axis=1)]
    sub_faces = np.vectorize(local.__getitem__)(sub_faces) if sub_faces.size else sub_faces
    verts = skinned_vertices(model, fit.betas, fit.pose, fit.transl, ids)
    remapped = [replace(p, vertices=tuple(local[v] for v in p.vertices),
                        tangent_vertices=tuple(local[v] for v in p.tangent_vertices)) for p in placements]
    return mesh_sensor_trajectories(verts, sub_faces, remapped)


def fit_sensor_motion(model: SmplModel, fit: SmplFit, time: NDArray[np.float64],
                      placements: Sequence[MeshPlacement], *, lever_m: float = 0.1,
                      source: str = "") -> tuple[Motion, list[Placement]]:
    """Mesh sensors of a fit as a Motion plus placements for :func:`imusynth.core.sensors.simulate`.

    Parameters
    ----------
    model : SmplModel
    fit : SmplFit
    time : ndarray, shape (T,), s
        Timestamps of the fitted frames.
    placements : sequence of MeshPlacement
        E.g. from :func:`~imusynth.body.smpl.mesh_placements.builtin_mesh_placements`.
    lever_m : float, m
        Length of the axis levers (see :func:`~imusynth.body.smpl.mesh_placements.mesh_sensor_motion`).
    source : str
        Provenance of the motion.
    """
    return sensor_motion(time, fit_sensor_trajectories(model, fit, placements), placements,
                         lever_m=lever_m, source=source)


def landmarks_from_smpl(model: SmplModel, betas: NDArray[np.float64], pose: NDArray[np.float64],
                        transl: NDArray[np.float64]) -> NDArray[np.float64]:
    """The MediaPipe landmarks (T, 33, 3), m, that an SMPL body would give under :data:`MEDIAPIPE_TO_SMPL`.

    Every landmark of a correspondence sits on its model point; unused landmarks are NaN. (The
    exact inverse of the fit's data term: tests use it to make landmarks with a known answer.)
    """
    verts, joints = posed_vertices(model, betas, pose, transl)
    out = np.full((joints.shape[0], _N_LANDMARKS, 3), np.nan)
    for c in MEDIAPIPE_TO_SMPL:
        if c.kind == "vertex" and c.target not in model.vertex_ids:
            continue
        p = joints[:, int(c.target)] if c.kind == "joint" else verts[:, model.vertex_ids[str(c.target)]]
        for i in c.landmarks:
            out[:, i] = p
    return out


@dataclass(frozen=True)
class SmplRecord:
    """What a clip stores about its SMPL fit (suggested group: ``/clips/<id>/smpl``).

    Attributes
    ----------
    datasets : dict of str to ndarray
        ``betas (B,)``, ``global_orient (T,3)`` rad, ``body_pose (T,69)`` rad, ``transl (T,3)`` m,
        ``residual_3d_m (T,C)`` m, one row per motion frame.
    attrs : dict of str to str, int or float
        ``body_model``, ``smplx_version``, ``torch_version``, ``model_file``, ``model_sha256``, ``gender``,
        ``num_betas``, ``pose_format``, ``frame``, ``correspondences`` (JSON), the fit settings, ``loss``,
        ``rmse_3d_m``, ``fit_time_s``.
    """

    datasets: dict[str, NDArray[np.float64]]
    attrs: dict[str, str | int | float]


def clip_record(fit: SmplFit, model: SmplModel) -> SmplRecord:
    """The arrays and attributes to write into a clip for ``fit`` (see :class:`SmplRecord`)."""
    from pathlib import Path

    res = fit.residual_3d_m
    rmse = float(np.sqrt(np.nanmean(res**2))) if np.isfinite(res).any() else float("nan")
    table = [{"name": c.name, "mediapipe": list(c.landmarks), "smpl_" + c.kind: c.target, "weight": c.weight}
             for c in MEDIAPIPE_TO_SMPL if c.name in fit.correspondences]
    attrs: dict[str, str | int | float] = {
        "body_model": "SMPL",
        "smplx_version": smplx_version(),
        "torch_version": str(torch.__version__),
        "model_file": Path(model.source).name,
        "model_sha256": model.sha256,
        "gender": model.gender,
        "num_betas": int(fit.betas.shape[0]),
        "pose_format": "axis-angle, rad; global_orient = joint 0, body_pose = joints 1..23 in SMPL order: "
                       + ", ".join(SMPL_JOINT_NAMES),
        "frame": "smplx forward: SMPL rest frame (y up) rotated by global_orient about the root joint, plus "
                 "transl (m), gives the imusynth world frame (z up)",
        "correspondences": json.dumps(table),
        "loss": float(fit.loss),
        "rmse_3d_m": rmse,
        "fit_time_s": float(fit.fit_time_s),
    }
    attrs.update({f"fit_{k}": v for k, v in fit.settings.items()})
    datasets = {
        "betas": fit.betas, "global_orient": fit.global_orient, "body_pose": fit.body_pose,
        "transl": fit.transl, "residual_3d_m": fit.residual_3d_m,
    }
    return SmplRecord(datasets=datasets, attrs=attrs)
