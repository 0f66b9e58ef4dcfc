"""The objective of the SMPL fit: MediaPipe-to-SMPL correspondences, residuals, priors, Jacobians.

Needs the optional extra ``imusynth[smpl]`` (torch and smplx). The objective, over all frames at once::

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
``smooth_weight = 1`` halves amplitudes at ``rate / 6``
(:func:`imusynth.body.smpl.fit.smooth_weight_for_cutoff`).

The solver (initialisation, the temporal prior's normal-matrix blocks, Levenberg-Marquardt) is
:mod:`imusynth.body.solver`; :class:`_Problem` is what it minimises. The model enters only through
``_Problem.lbs``, a :class:`~imusynth.body.solver.BodyFunction` (SMPL skinning with its exact Jacobian,
:mod:`._lbs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from imusynth.body.smpl._lbs import SubsetLBS
from imusynth.body.smpl.loading import SmplModel
from imusynth.body.solver import (
    BodyFunction,
    BodyPoints,
    Normal,
    add_parameter_smoothness,
    add_point_smoothness,
    second_difference,
    single_thread,
    smooth_coefficients,
)

__all__ = [
    "HINGE_PRIOR_FACTOR", "MEDIAPIPE_TO_SMPL", "RESIDUAL_SCALE_M", "ROTATION_LEVER_M", "Correspondence",
    "landmark_targets", "prior_axis_weights",
]

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


def landmark_targets(landmarks: NDArray[np.float64], weights: NDArray[np.float64],
                     corr: tuple[Correspondence, ...]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
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


@dataclass
class _Terms:
    """Residual blocks of the objective at one iterate (torch, float64)."""

    energy: float
    lbs: BodyPoints
    r_data: torch.Tensor          # (T, R) data residuals (3-D then 2-D), weighted and scaled
    r_smooth: torch.Tensor        # (T-2, 3Q) second differences of the points, weighted and scaled
    r_psmooth: torch.Tensor       # (T-2, 69) second differences of the body pose, weighted and scaled
    A2: torch.Tensor | None       # (T, C, 2, 3) d r_2d / d P (weights included)


class _Problem:
    """The fitting objective as residual blocks and its Gauss-Newton normal equations.

    Unknowns per frame: pose (72, rad) and translation (3, m), 75 in all; shared: betas (B). The normal
    matrix of the per-frame unknowns is banded (the smoothness couples frames up to 2 apart); the solver
    (:func:`imusynth.body.solver.levenberg_marquardt`) eliminates the betas by a Schur complement.
    """

    def __init__(self, model: SmplModel, corr: tuple[Correspondence, ...], tgt3: NDArray[np.float64],
                 w3: NDArray[np.float64], two_d: tuple[NDArray[np.float64], ...] | None, *, nb: int,
                 smooth_weight: float, reproj_weight: float, pose_prior_weight: float,
                 shape_prior_weight: float) -> None:
        vert_names = sorted({str(c.target) for c in corr if c.kind == "vertex"})
        lbs = SubsetLBS(model, [model.vertex_ids[n] for n in vert_names], num_betas=nb)
        qsel = [int(c.target) if c.kind == "joint" else model.n_joints + vert_names.index(str(c.target))
                for c in corr]
        self._setup(lbs, qsel, model.n_joints, prior_axis_weights(), tgt3, w3, two_d, nb=nb,
                    smooth_weight=smooth_weight, reproj_weight=reproj_weight,
                    pose_prior_weight=pose_prior_weight, shape_prior_weight=shape_prior_weight)

    def _setup(self, lbs: BodyFunction, qsel: list[int], n_joints: int, prior_w: NDArray[np.float64],
               tgt3: NDArray[np.float64], w3: NDArray[np.float64],
               two_d: tuple[NDArray[np.float64], ...] | None, *, nb: int, smooth_weight: float,
               reproj_weight: float, pose_prior_weight: float, shape_prior_weight: float) -> None:
        """The model-free part of the set-up (another body model's objective calls it with its own body
        function ``lbs``, point selection ``qsel``, ``n_joints`` rotation-vector joints, the root first,
        and pose-prior weights ``prior_w`` of the ``3 n_joints - 3`` non-root pose parameters)."""
        dt = torch.float64
        T, C = w3.shape
        self.T, self.C, self.nb = T, C, nb
        self.n_j = n_joints
        self.n_x = 3 * self.n_j + 3
        self.lbs: BodyFunction = lbs
        self.qsel = qsel
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
        self.prior_w = np.asarray(prior_w, dtype=np.float64)  # (3 n_joints - 3,)
        self.prior_w_t = torch.as_tensor(self.prior_w, dtype=dt)
        self.prior_scale = 1.0  # the first stage of the fit runs with a stronger pose prior
        # Levenberg-Marquardt damping D = max(diag(H), floor): a parameter the data barely see (a toe, a
        # twist) is damped as if it moved a point 10 cm per radian, so its steps stay small
        self.damping_floor = (ROTATION_LEVER_M / s) ** 2
        self.k_sh = float(np.sqrt(shape_prior_weight * T))
        self.c0, self.c1, self.c2 = smooth_coefficients(T)
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
        with single_thread():  # many medium-sized operations: threads mostly wait on each other
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
            r_smooth = self.k_sm * second_difference(Qp).reshape(T - 2, -1)
            r_ps = self.k_ps * second_difference(body)
        else:
            r_smooth = torch.zeros((0, 3 * Qp.shape[1]), dtype=Qp.dtype)
            r_ps = torch.zeros((0, body.shape[1]), dtype=Qp.dtype)
        energy = float((r_data**2).sum().detach() + (r_smooth**2).sum().detach() + (r_ps**2).sum().detach()
                       + self.prior_scale * (self.k_pp**2) * (self.prior_w_t * body**2).sum().detach()
                       + (self.k_sh**2) * (betas**2).sum().detach())
        return _Terms(energy, res, r_data, r_smooth, r_ps, A2)

    def normal_equations(self, tm: _Terms, betas: torch.Tensor, pose: torch.Tensor) -> Normal:
        """Gauss-Newton ``H = J^T J`` and ``g = J^T r`` in block form (see :class:`.solver.Normal`).

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
            H, H1, H2 = add_point_smoothness(H, g, self.k_sm * Jq.reshape(T, -1, N), tm.r_smooth,
                                             (self.c0, self.c1, self.c2))
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
        ne = Normal(D, E1, E2, Hxb, Hbb, gx, gb)
        if self.smooth:
            add_parameter_smoothness(ne, bi, self.k_ps, tm.r_psmooth, (self.c0, self.c1, self.c2))
        return ne
