"""The Anny body model (NAVER LABS, Apache-2.0, MakeHuman CC0 assets) as a body function for the fit.

Needs the optional extra ``imusynth[body]`` (``anny==0.6.2``, which needs torch, roma, warp-lang, ...).
Only what the wheel holds is used: Anny's own topology (13718 vertices, 27420 triangles) and its
104-bone rig, in float64, with Anny's torch skinning (warp-lang, which anny requires, is never
imported). The first construction of ``anny.Anny()`` builds a cache under
``~/.cache/anny`` (about 4 minutes on a loaded 2-core machine, 790 MB); later ones take about a second.

Anny's rest frame is imusynth's world convention: metres, z up, the subject's left along +x, facing -y
(so +y is the subject's back), A-pose; the model is 1.63 m tall at the default phenotype.

The fit does not use Anny's own forward pass (it skins all 13718 vertices); :class:`AnnyBody` is a
body function (:class:`imusynth.body.solver.BodyFunction`) that poses only the points the fit needs:

* **shape**: ``betas (6,)`` = Anny's phenotype ``(gender, age, muscle, weight, height, proportions)``
  minus 0.5 (0 = Anny's default body; the phenotype is clipped to [0, 1]). The rest bone heads, bone
  orientations and chosen rest vertices come from Anny's blend shapes (``_get_phenotype_blendshape_
  coefficients``, its blend shapes and its "cached" bone orientation: the Procrustes rotation of a
  matrix linear in the coefficients), exactly as ``Anny.get_rest_model`` computes them;
* **pose**: ``pose (T, 3 F)``: a rotation vector (rad) per fitted bone (:data:`FITTED_BONES`, the root
  first). The root's is in the world axes and turns the body about the root's rest head; every other
  fitted bone's is in its own rest bone frame ``B_j`` (Blender's: y along the bone, x the hinge axis of
  knees and elbows), ``R_local = B_j exp(theta_j) B_j^T``, about the bone's head. Bones that are not
  fitted (twist bones, fingers, toes, eyes, the other spine and neck bones) follow their nearest fitted
  ancestor. ``transl (T, 3)`` m moves everything;
* **skinning**: Anny's linear blend skinning (its vertex bone weights and indices) with the bone
  transforms ``A_k = (posed bone pose) (rest bone pose)^-1``, so a posed vertex is
  ``sum_k w_k A_k(v_rest)``. :meth:`AnnyBody.bone_transforms` gives the transforms of all 104 bones,
  which Anny's own ``get_skinned_vertices`` accepts (the tests check both agree).

Jacobians: with respect to a fitted bone's rotation vector in closed form (the world angle
``phi = R_j B_j Jr(theta_j) d theta`` turns every point below the bone about its posed head ``p_j``:
``d x = phi x sum_k w_k [j above k] (A_k(v) - p_j)``); the translation moves every point by itself; the
6 phenotype parameters by forward differences (step 1e-6; the phenotype enters through piecewise-linear
interpolation, so the derivative is one-sided at its anchors).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from imusynth.body.smpl._lbs import right_jacobian, skew
from imusynth.errors import InputError

__all__ = [
    "ANNY_VERSION_REQUIRED",
    "FITTED_BONES",
    "KEYPOINT_VERTICES",
    "PHENOTYPES",
    "AnnyBody",
    "AnnyModel",
    "AnnyPoints",
    "load_anny",
    "rotvec_to_matrix",
]

#: The anny release this module was written and tested against.
ANNY_VERSION_REQUIRED = "0.6.2"
#: Anny's phenotype parameters fitted as the shape (betas = phenotype - 0.5).
PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")
#: Bones with a fitted rotation (the root first): hips, knees, ankles, two spine joints, neck, head,
#: clavicles, shoulders, elbows, wrists.
FITTED_BONES = (
    "root",
    "upperleg01.L",
    "lowerleg01.L",
    "foot.L",
    "upperleg01.R",
    "lowerleg01.R",
    "foot.R",
    "spine04",
    "spine02",
    "neck01",
    "head",
    "clavicle.L",
    "upperarm01.L",
    "lowerarm01.L",
    "wrist.L",
    "clavicle.R",
    "upperarm01.R",
    "lowerarm01.R",
    "wrist.R",
)
#: Keypoint vertices of Anny's topology (chosen on the rest mesh of the default phenotype: the nose tip
#: is the most anterior head vertex on the midline below the eyes; an ear the most lateral head vertex
#: within 2 cm of the eyes' height; a heel the most posterior foot vertex within 3 cm of the sole; a toe
#: tip the most anterior toe vertex).
KEYPOINT_VERTICES = {
    "nose": 297,
    "left_ear": 12006,
    "right_ear": 5423,
    "left_heel": 12410,
    "right_heel": 5829,
    "left_toe": 11519,
    "right_toe": 4917,
}


def rotvec_to_matrix(v: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of rotation vectors (..., 3), rad (Rodrigues, exact at 0)."""
    a2 = (v**2).sum(-1, keepdim=True)[..., None]
    a = torch.sqrt(a2)
    small = a < 1e-4
    a_safe = torch.where(small, torch.ones_like(a), a)
    s = torch.where(small, 1.0 - a2 / 6.0, torch.sin(a_safe) / a_safe)
    c = torch.where(small, 0.5 - a2 / 24.0, (1.0 - torch.cos(a_safe)) / a_safe**2)
    K = skew(v)
    return torch.eye(3, dtype=v.dtype) + s * K + c * (K @ K)


def _import_anny():  # type: ignore[no-untyped-def]
    try:
        import anny
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise InputError(
            f"--body-model anny needs the optional extra: pip install 'imusynth[body]' ({exc})"
        ) from None
    return anny


@dataclass
class AnnyModel:
    """Anny, loaded once: the torch module (float64) and what the fit and the placements read from it.

    Attributes
    ----------
    module : anny.Anny
        The model (rig ``anny``, topology ``anny``, default phenotypes, no local changes or expressions).
    bone_labels : tuple of str, length 104
    parents : ndarray, shape (104,), int
        Parent of each bone (-1 for the root); parents come before their children.
    faces : ndarray, shape (27420, 3), int
        Triangles, counter-clockwise seen from outside.
    weights : ndarray, shape (13718, 104)
        Dense skinning weights (rows sum to 1).
    version : str
        The installed anny version.
    """

    module: Any
    bone_labels: tuple[str, ...]
    parents: NDArray[np.int64]
    faces: NDArray[np.int64]
    weights: NDArray[np.float64]
    version: str

    @property
    def n_vertices(self) -> int:
        return int(self.weights.shape[0])

    def coefficients(self, phenotype: torch.Tensor) -> torch.Tensor:
        """Blend-shape coefficients (B, C) of phenotypes (B, 6) in [0, 1]."""
        m = self.module
        B = phenotype.shape[0]
        dt = phenotype.dtype
        return m._get_phenotype_blendshape_coefficients(
            phenotype,
            torch.zeros((B, len(m.local_change_labels)), dtype=dt),
            torch.zeros((B, len(m.facial_action_labels)), dtype=dt),
        )

    def rest(
        self, phenotype: torch.Tensor, vertex_ids: NDArray[np.int64] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rest bone heads (B, 104, 3) m, bone orientations (B, 104, 3, 3) and vertices (B, V', 3) m.

        ``vertex_ids`` selects vertices (default: all). Equals ``Anny.get_rest_model`` on them.
        """
        import roma

        m = self.module
        c = self.coefficients(phenotype)
        heads = m.template_bone_heads[None] + torch.einsum("cpd,bc->bpd", m.bone_heads_blendshapes, c)
        M = m.bone_template_orientation_matrices[None] + torch.einsum(
            "ba,akij->bkij", c, m.bone_orientation_blendshapes
        )
        orient = roma.special_procrustes(M)
        orient[:, 0] = torch.eye(3, dtype=orient.dtype)  # root_identity_orientation
        tv, bs = m.template_vertices, m.blendshapes
        if vertex_ids is not None:
            sel = torch.as_tensor(vertex_ids, dtype=torch.long)
            tv, bs = tv[sel], bs[:, sel]
        verts = tv[None] + torch.einsum("cpd,bc->bpd", bs, c)
        return heads, orient, verts


def load_anny() -> AnnyModel:
    """Build Anny (its default rig and topology, float64) and check the installed version.

    Raises
    ------
    InputError
        anny is not installed, or its version is not :data:`ANNY_VERSION_REQUIRED`.
    """
    import warnings

    anny = _import_anny()
    version = metadata.version("anny")
    if version != ANNY_VERSION_REQUIRED:
        raise InputError(
            f"imusynth needs anny=={ANNY_VERSION_REQUIRED}, found {version}: pip install 'imusynth[body]'"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = anny.Anny(rig="anny", topology="anny", skinning_method="lbs").to(torch.float64)
    labels = tuple(str(n) for n in module.bone_labels)
    parents = np.asarray(module.bone_parents, dtype=np.int64)
    idx = module.vertex_bone_indices.numpy()
    w = module.vertex_bone_weights.numpy().astype(np.float64)
    dense = np.zeros((idx.shape[0], len(labels)))
    np.add.at(dense, (np.repeat(np.arange(idx.shape[0]), idx.shape[1]), idx.ravel()), w.ravel())
    faces = np.asarray(module.get_triangular_faces().numpy(), dtype=np.int64)
    return AnnyModel(module, labels, parents, faces, dense, version)


@dataclass
class AnnyPoints:
    """Posed points of all frames and, on request, their Jacobians (:class:`.solver.BodyPoints`).

    Attributes
    ----------
    points : Tensor, shape (T, Q, 3), m
    jac_x : Tensor, shape (T, Q, 3, 3 F + 3) or None
        d points / d (pose, transl) of the same frame.
    jac_b : Tensor, shape (T, Q, 3, 6) or None
        d points / d betas (forward differences).
    """

    points: torch.Tensor
    jac_x: torch.Tensor | None
    jac_b: torch.Tensor | None


class AnnyBody:
    """Anny's skinning of chosen bone heads and vertices, batched over frames (see the module docstring).

    Parameters
    ----------
    model : AnnyModel
    joints : sequence of str
        Bones whose posed heads are points (first, in this order).
    vertices : sequence of int
        Vertices that are points (after the joints).
    fitted : sequence of str
        The bones with a rotation, the root first (default :data:`FITTED_BONES`).
    """

    def __init__(
        self,
        model: AnnyModel,
        joints: tuple[str, ...] | list[str],
        vertices: list[int] | NDArray[np.int64],
        fitted: tuple[str, ...] = FITTED_BONES,
    ) -> None:
        self.model = model
        labels = model.bone_labels
        n_b = len(labels)
        self.fitted = [labels.index(b) for b in fitted]
        if self.fitted[0] != 0:
            raise ValueError("the first fitted bone must be the root")
        F = len(self.fitted)
        # the fitted bone each bone moves with (its nearest fitted ancestor, itself included)
        owner = np.zeros(n_b, dtype=np.int64)
        fpos = {b: i for i, b in enumerate(self.fitted)}
        for k in range(n_b):
            owner[k] = fpos[k] if k in fpos else owner[model.parents[k]]
        self.fparent = np.array([-1] + [owner[model.parents[b]] for b in self.fitted[1:]], dtype=np.int64)
        above = np.zeros((F, F))  # above[f, g] = 1 where fitted f is g or an ancestor of g
        for g in range(F):
            f = g
            while f >= 0:
                above[f, g] = 1.0
                f = int(self.fparent[f])
        self.owner = owner
        self.joint_ids = np.array([labels.index(j) for j in joints], dtype=np.int64)
        self.vertex_ids = np.asarray(vertices, dtype=np.int64)
        # skinning weights of every point onto the fitted bones, (Q, F)
        Wj = np.zeros((len(self.joint_ids), F))
        Wj[np.arange(len(self.joint_ids)), owner[self.joint_ids]] = 1.0
        Wv = model.weights[self.vertex_ids] @ np.eye(F)[owner] if len(self.vertex_ids) else np.zeros((0, F))
        self.W = torch.as_tensor(np.concatenate([Wj, Wv]), dtype=torch.float64)
        self.above = torch.as_tensor(above, dtype=torch.float64)
        # S[q, f, g] = W[q, g] above[f, g]: the weight with which bone f's rotation carries point q's copy g
        self.S = self.W[:, None, :] * self.above[None]
        self.S0 = self.S.sum(-1)  # (Q, F)
        self.n_points = len(self.joint_ids) + len(self.vertex_ids)
        self.fd_step = 1e-6

    # ----------------------------------------------------------------------------------------------
    def rest(self, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rest heads (104, 3), orientations (104, 3, 3) and the chosen rest points (Q, 3) of betas (6,)."""
        ph = (0.5 + betas).clamp(0.0, 1.0)[None]
        heads, orient, verts = self.model.rest(ph, self.vertex_ids)
        pts = torch.cat([heads[0, self.joint_ids], verts[0]], dim=0)
        return heads[0], orient[0], pts

    def fitted_transforms(
        self, heads: torch.Tensor, orient: torch.Tensor, pose: torch.Tensor, transl: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """World rotation (T, F, 3, 3), translation (T, F, 3) of each fitted bone's transform ``A_f``
        and the posed heads (T, F, 3) of the fitted bones."""
        T = pose.shape[0]
        F = len(self.fitted)
        th = pose.reshape(T, F, 3)
        Rl = rotvec_to_matrix(th)  # (T, F, 3, 3)
        Bf = orient[self.fitted]  # (F, 3, 3)
        Rl = Bf[None] @ Rl @ Bf.transpose(1, 2)[None]
        hf = heads[self.fitted]  # (F, 3)
        Rs: list[torch.Tensor] = []
        ts: list[torch.Tensor] = []
        ps: list[torch.Tensor] = []
        for f in range(F):
            h = hf[f]
            loc_t = h - Rl[:, f] @ h  # (T, 3)
            par = int(self.fparent[f])
            if par < 0:
                Rs.append(Rl[:, f])
                ts.append(loc_t + transl)
                ps.append(h + transl)
            else:
                Rp, tp = Rs[par], ts[par]
                Rs.append(Rp @ Rl[:, f])
                ts.append((Rp @ loc_t[..., None])[..., 0] + tp)
                ps.append((Rp @ h) + tp)
        return torch.stack(Rs, 1), torch.stack(ts, 1), torch.stack(ps, 1)

    def bone_transforms(self, betas: torch.Tensor, pose: torch.Tensor, transl: torch.Tensor) -> torch.Tensor:
        """Homogeneous transforms ``A_k`` (T, 104, 4, 4) of all bones (rest world -> posed world)."""
        heads, orient, _ = self.rest(betas)
        R, t, _ = self.fitted_transforms(heads, orient, pose, transl)
        A = torch.zeros((pose.shape[0], len(self.owner), 4, 4), dtype=pose.dtype)
        A[:, :, :3, :3] = R[:, self.owner]
        A[:, :, :3, 3] = t[:, self.owner]
        A[:, :, 3, 3] = 1.0
        return A

    def _points(self, betas: torch.Tensor, pose: torch.Tensor, transl: torch.Tensor):  # type: ignore[no-untyped-def]
        heads, orient, rest_pts = self.rest(betas)
        R, t, p = self.fitted_transforms(heads, orient, pose, transl)
        X = torch.einsum("tfij,qj->tqfi", R, rest_pts) + t[:, None]  # (T, Q, F, 3)
        pts = torch.einsum("qf,tqfi->tqi", self.W, X)
        return pts, X, R, p, orient

    def __call__(
        self, betas: torch.Tensor, pose: torch.Tensor, transl: torch.Tensor, *, jacobian: bool = False
    ) -> AnnyPoints:
        """Posed points (T, Q, 3) and, with ``jacobian``, d points / d (pose, transl) and / d betas."""
        pts, X, R, p, orient = self._points(betas, pose, transl)
        if not jacobian:
            return AnnyPoints(pts, None, None)
        T, Q = pts.shape[:2]
        F = len(self.fitted)
        Y = torch.einsum("qfg,tqgi->tqfi", self.S, X) - self.S0[None, :, :, None] * p[:, None]
        G = R @ orient[self.fitted][None]  # (T, F, 3, 3)
        GJ = G @ right_jacobian(pose.reshape(T, F, 3))  # (T, F, 3, 3)
        # d x / d theta_f = -[Y]x GJ_f: column k is GJ_f[:, k] x Y, written component by component into
        # the output (cheaper than 3 x 3 matrix products and a concatenation)
        jac_x = torch.zeros((T, Q, 3, 3 * F + 3), dtype=pts.dtype)
        rot = jac_x[..., : 3 * F].unflatten(-1, (F, 3))  # (T, Q, 3, F, 3), a view
        a0, a1, a2 = GJ[:, None, :, 0, :], GJ[:, None, :, 1, :], GJ[:, None, :, 2, :]  # (T, 1, F, 3)
        y0, y1, y2 = Y[..., 0, None], Y[..., 1, None], Y[..., 2, None]  # (T, Q, F, 1)
        rot[:, :, 0] = a1 * y2 - a2 * y1
        rot[:, :, 1] = a2 * y0 - a0 * y2
        rot[:, :, 2] = a0 * y1 - a1 * y0
        jac_x[..., 3 * F :] = torch.eye(3, dtype=pts.dtype)
        cols = []
        h = self.fd_step
        for i in range(betas.shape[0]):
            e = torch.zeros_like(betas)
            e[i] = h
            cols.append((self._points(betas + e, pose, transl)[0] - pts) / h)
        jac_b = torch.stack(cols, dim=-1)
        return AnnyPoints(pts, jac_x, jac_b)


def anny_version() -> str:
    """The installed anny version ("" when not installed)."""
    try:
        return metadata.version("anny")
    except metadata.PackageNotFoundError:
        return ""
