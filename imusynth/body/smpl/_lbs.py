"""Linear blend skinning of the 24 joints and a few vertices, batched over frames, with its exact Jacobian.

Forward: smplx's formulation (``smplx.lbs``: shape blend shapes, Rodrigues by ``smplx.lbs.batch_rodrigues``,
pose correctives from ``R_j - I``, the kinematic chain, skinning), restricted to the vertices the fit uses;
tested equal to ``smplx.SMPL``. Jacobian, per frame, in closed form:

* a rotation-vector change ``d theta_j`` turns joint j and everything below it by the world-frame angle
  ``phi = G_j Jr(theta_j) d theta_j`` (``G_j`` the joint's world rotation, ``Jr`` the right Jacobian of
  SO(3)) about the joint, so a point ``x`` below it moves by ``phi x (x - p_j)``; a skinned vertex
  moves by ``phi x sum_k w_k (x_k - p_j)`` over the skinning joints k below j, plus the change of its
  pose correctives ``sum_k w_k G_k P_j vec(R_j [Jr d theta_j]x)``;
* the translation moves every point by itself;
* betas move the rest joints and vertices linearly; the joints' world positions follow the chain.

Used by :mod:`.fit` (Levenberg-Marquardt); checked against automatic differentiation in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from smplx.lbs import batch_rodrigues

from imusynth.body.smpl.loading import SmplModel

#: Generators of so(3): ``[e]x = sum_i e_i E_i``.
_E = torch.tensor([
    [[0.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]],
    [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [-1.0, 0.0, 0.0]],
    [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
], dtype=torch.float64)


def skew(v: torch.Tensor) -> torch.Tensor:
    """Cross-product matrices (..., 3, 3) of vectors (..., 3)."""
    return torch.einsum("...i,ijk->...jk", v, _E.to(v.dtype))


def right_jacobian(theta: torch.Tensor) -> torch.Tensor:
    """Right Jacobian of SO(3), (..., 3, 3), at rotation vectors (..., 3).

    ``exp(t + d) ~ exp(t) exp(Jr d)`` for a small ``d``.
    """
    a2 = (theta**2).sum(-1, keepdim=True)[..., None]
    a = torch.sqrt(a2)
    small = a < 1e-4
    a_safe = torch.where(small, torch.ones_like(a), a)
    c1 = torch.where(small, 0.5 - a2 / 24.0, (1.0 - torch.cos(a_safe)) / a_safe**2)
    c2 = torch.where(small, 1.0 / 6.0 - a2 / 120.0, (a_safe - torch.sin(a_safe)) / a_safe**3)
    K = skew(theta)
    eye = torch.eye(3, dtype=theta.dtype)
    return eye - c1 * K + c2 * (K @ K)


@dataclass
class LbsResult:
    """Posed points of all frames and, on request, their Jacobian.

    Attributes
    ----------
    points : Tensor, shape (T, 24 + S, 3), m
        The 24 joints, then the S chosen vertices, in the world frame.
    jac_x : Tensor, shape (T, 24 + S, 3, 75) or None
        d points / d (pose (72, rad), transl (3, m)) of the same frame.
    jac_b : Tensor, shape (T, 24 + S, 3, B) or None
        d points / d betas.
    """

    points: torch.Tensor
    jac_x: torch.Tensor | None
    jac_b: torch.Tensor | None


class SubsetLBS:
    """SMPL skinning of the joints and a subset of vertices (see the module docstring).

    Parameters
    ----------
    model : SmplModel
    vertex_index : list of int
        The S vertices to skin.
    num_betas : int
    """

    def __init__(self, model: SmplModel, vertex_index: list[int], *, num_betas: int) -> None:
        dt = torch.float64
        idx = np.asarray(vertex_index, dtype=np.int64)
        sd = model.shapedirs[:, :, :num_betas]
        n_j = model.n_joints
        self.n_joints = n_j
        self.parents = [int(p) for p in model.parents]
        self.v_template = torch.as_tensor(model.v_template[idx], dtype=dt)                  # (S, 3)
        self.shapedirs = torch.as_tensor(sd[idx], dtype=dt)                                  # (S, 3, B)
        self.posedirs = torch.as_tensor(model.posedirs[idx].reshape(idx.size, 3, n_j - 1, 9), dtype=dt)
        self.weights = torch.as_tensor(model.weights[idx], dtype=dt)                         # (S, J)
        self.J_template = torch.as_tensor(model.J_regressor @ model.v_template, dtype=dt)    # (J, 3)
        self.J_shapedirs = torch.as_tensor(np.einsum("jv,vcb->jcb", model.J_regressor, sd), dtype=dt)
        below = np.zeros((n_j, n_j), dtype=bool)  # below[j, k]: k is j or a descendant of j
        for k in range(n_j):
            j = k
            while j >= 0:
                below[j, k] = True
                j = self.parents[j]
        self.below = torch.as_tensor(below, dtype=dt)
        strict = below.T.copy()                    # strict[k, j]: j is a strict ancestor of k
        np.fill_diagonal(strict, False)
        pk, pj = np.nonzero(strict)
        self.pair_k = torch.as_tensor(pk, dtype=torch.long)
        self.pair_j = torch.as_tensor(pj, dtype=torch.long)
        self.pair_flat = torch.as_tensor(pk * n_j + pj, dtype=torch.long)
        depth = [0] * n_j
        for k in range(1, n_j):
            depth[k] = depth[self.parents[k]] + 1
        self.levels = [[k for k in range(n_j) if depth[k] == d] for d in range(1, max(depth) + 1)]

    def _chain(self, R: torch.Tensor, Jb: torch.Tensor, transl: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """World rotations (T, J, 3, 3) and positions (T, J, 3) of the joints."""
        G: list[torch.Tensor] = [R[:, 0]] + [R[:, 0]] * (self.n_joints - 1)
        p: list[torch.Tensor] = [Jb[0] + transl] + [transl] * (self.n_joints - 1)
        for lev in self.levels:
            par = [self.parents[k] for k in lev]
            Gp = torch.stack([G[q] for q in par], dim=1)
            pp = torch.stack([p[q] for q in par], dim=1)
            Gk = Gp @ R[:, lev]
            pk = pp + (Gp @ (Jb[lev] - Jb[par])[None, :, :, None])[..., 0]
            for i, k in enumerate(lev):
                G[k] = Gk[:, i]
                p[k] = pk[:, i]
        return torch.stack(G, dim=1), torch.stack(p, dim=1)

    def __call__(self, betas: torch.Tensor, pose: torch.Tensor, transl: torch.Tensor, *,
                 jacobian: bool = False) -> LbsResult:
        """Posed points for betas (B,), pose (T, 72) rad, transl (T, 3) m; with the Jacobian on request."""
        T = pose.shape[0]
        n_j = self.n_joints
        theta = pose.reshape(T, n_j, 3)
        Jb = self.J_template + self.J_shapedirs @ betas                                   # (J, 3)
        R = batch_rodrigues(theta.reshape(-1, 3)).reshape(T, n_j, 3, 3)
        G, p = self._chain(R, Jb, transl)
        eye = torch.eye(3, dtype=pose.dtype)
        feat = (R[:, 1:] - eye).reshape(T, n_j - 1, 9)
        v_shaped = self.v_template + self.shapedirs @ betas                               # (S, 3)
        v_posed = v_shaped + torch.einsum("scjf,tjf->tsc", self.posedirs, feat)           # (T, S, 3)
        # x_sk = G_k (v_s - J_k) + p_k: the vertex carried by joint k
        x = torch.einsum("tkab,tskb->tska", G, v_posed[:, :, None, :] - Jb[None, None]) + p[:, None]
        verts = torch.einsum("sk,tska->tsa", self.weights, x)
        points = torch.cat([p, verts], dim=1)
        if not jacobian:
            return LbsResult(points, None, None)

        S = v_shaped.shape[0]
        B = betas.shape[0]
        Jr = right_jacobian(theta)                                                         # (T, J, 3, 3)
        Phi = G @ Jr                                                                       # (T, J, 3, 3)
        # joints: d p_k / d theta_j = Phi_j[:, c] x (p_k - p_j) for the strict ancestors j of k
        d_kj = p[:, self.pair_k] - p[:, self.pair_j]                                       # (T, P, 3)
        jj = torch.zeros((T, n_j * n_j, 3, 3), dtype=pose.dtype)
        jj[:, self.pair_flat] = -skew(d_kj) @ Phi[:, self.pair_j]        # phi x d = -[d]x phi
        jj = jj.reshape(T, n_j, n_j, 3, 3)                                                 # (T, k, j, 3, c)
        # vertices: a_sj = sum_{k below j} w_sk (x_sk - p_j)
        wx = self.weights[None, :, :, None] * x                                            # (T, S, k, 3)
        a = torch.einsum("jk,tska->tsja", self.below, wx) \
            - torch.einsum("jk,sk->sj", self.below, self.weights)[None, :, :, None] * p[:, None]
        jv = -skew(a) @ Phi[:, None]                                                       # (T, S, j, 3, c)
        # pose correctives: M_s P_sj D_j Jr_j, D_j[:, i] = vec(R_j E_i)
        M = torch.einsum("sk,tkab->tsab", self.weights, G)                                 # (T, S, 3, 3)
        D = (R[:, 1:, None] @ _E.to(pose.dtype)).reshape(T, n_j - 1, 3, 9).transpose(-1, -2)  # (T, J-1, 9, 3)
        DJ = D @ Jr[:, 1:]                                                                 # (T, J-1, 9, 3)
        PD = torch.einsum("sbjf,tjfc->tsjbc", self.posedirs, DJ)                  # (T, S, J-1, 3, 3)
        corr = M[:, :, None] @ PD
        jv = torch.cat([jv[:, :, :1], jv[:, :, 1:] + corr], dim=2)
        jac_theta = torch.cat([jj, jv], dim=1)                                             # (T, Q, J, 3, 3)
        Q = n_j + S
        jac_x = torch.cat([jac_theta.permute(0, 1, 3, 2, 4).reshape(T, Q, 3, 3 * n_j),
                           eye.expand(T, Q, 3, 3)], dim=-1)                                 # (T, Q, 3, 75)
        # betas: chain rule down the tree for the joints, then skinning for the vertices
        dJ = self.J_shapedirs                                                              # (J, 3, B)
        dp: list[torch.Tensor] = [dJ[0].expand(T, 3, B)] * n_j
        for lev in self.levels:
            par = [self.parents[k] for k in lev]
            Gp = torch.stack([G[:, q] for q in par], dim=1)
            dpp = torch.stack([dp[q] for q in par], dim=1)
            dk = dpp + Gp @ (dJ[lev] - dJ[par])[None]
            for i, k in enumerate(lev):
                dp[k] = dk[:, i]
        dP = torch.stack(dp, dim=1)                                                        # (T, J, 3, B)
        dv = M @ self.shapedirs[None] \
            - torch.einsum("sk,tkab,kbc->tsac", self.weights, G, dJ) \
            + torch.einsum("sk,tkac->tsac", self.weights, dP)
        jac_b = torch.cat([dP, dv], dim=1)                                                 # (T, Q, 3, B)
        del B
        return LbsResult(points, jac_x, jac_b)
