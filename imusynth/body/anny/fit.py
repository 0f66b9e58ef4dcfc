"""Fit Anny to a clip of MediaPipe landmarks, and Anny's skin-mounted sensors (extra ``imusynth[body]``).

The objective and the solver are SMPL's, shared (:mod:`imusynth.body.smpl.objective`,
:mod:`imusynth.body.solver`): 3-D landmarks, 2-D reprojection, temporal smoothness of the points and
of the joint rotations, an L2 pose prior and an L2 shape prior, minimised by Levenberg-Marquardt over
all frames at once with a banded normal matrix and the shape eliminated by a Schur complement. Only the
body function differs: :class:`imusynth.body.anny.model.AnnyBody` (19 fitted bones: 57 rotation
parameters and 3 translations per frame; 6 phenotype parameters per clip), and the correspondences
(:data:`MEDIAPIPE_TO_ANNY`) and the hinge prior (:func:`anny_prior_axis_weights`: knees bend only about
their bone x axis, elbows bend about x and twist about the bone axis y, wrists do not roll about y,
ankles flex about x and invert about the foot's axis y but do not turn about z (the leg's twist is the
hip's), weight :data:`~imusynth.body.smpl.objective.HINGE_PRIOR_FACTOR` on the other axes). Anny's rig carries
no joint limits, so none are imposed beyond this prior.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray

from imusynth.body.anny.model import FITTED_BONES, KEYPOINT_VERTICES, AnnyBody, AnnyModel
from imusynth.body.anny.placements import AnnyRest
from imusynth.body.smpl.fit import SmplFit, SmplRecord, _as_frames, _solve
from imusynth.body.smpl.mesh_placements import MeshPlacement, sensor_motion, subset_sensor_trajectories
from imusynth.body.smpl.objective import HINGE_PRIOR_FACTOR, Correspondence, _Problem, landmark_targets
from imusynth.body.solver import rigid_init
from imusynth.core.motion import Motion
from imusynth.core.placements import Placement
from imusynth.errors import InputError

__all__ = [
    "MEDIAPIPE_TO_ANNY",
    "anny_prior_axis_weights",
    "anny_record",
    "anny_rest",
    "fit_anny",
    "fit_sensor_motion",
    "fit_sensor_trajectories",
    "landmarks_from_anny",
]


def _c(name: str, lms: tuple[int, ...], kind: str, target: str, weight: float = 1.0) -> Correspondence:
    return Correspondence(name, lms, kind, target, weight)


#: MediaPipe 33 -> Anny: a bone head (``joint``, Anny's bone label) or a keypoint vertex (``vertex``, a
#: name of :data:`~imusynth.body.anny.model.KEYPOINT_VERTICES`). The knuckles (index and little finger)
#: are averaged onto the middle finger's knuckle; the thumb's landmark onto the thumb's last joint at
#: half weight. Unused: inner/outer eye corners and mouth corners.
MEDIAPIPE_TO_ANNY: tuple[Correspondence, ...] = (
    _c("nose", (0,), "vertex", "nose"),
    _c("left_eye", (2,), "joint", "eye.L"),
    _c("right_eye", (5,), "joint", "eye.R"),
    _c("left_ear", (7,), "vertex", "left_ear"),
    _c("right_ear", (8,), "vertex", "right_ear"),
    _c("left_shoulder", (11,), "joint", "upperarm01.L"),
    _c("right_shoulder", (12,), "joint", "upperarm01.R"),
    _c("left_elbow", (13,), "joint", "lowerarm01.L"),
    _c("right_elbow", (14,), "joint", "lowerarm01.R"),
    _c("left_wrist", (15,), "joint", "wrist.L"),
    _c("right_wrist", (16,), "joint", "wrist.R"),
    _c("left_hand", (17, 19), "joint", "finger3-1.L"),
    _c("right_hand", (18, 20), "joint", "finger3-1.R"),
    _c("left_thumb", (21,), "joint", "finger1-3.L", 0.5),
    _c("right_thumb", (22,), "joint", "finger1-3.R", 0.5),
    _c("left_hip", (23,), "joint", "upperleg01.L"),
    _c("right_hip", (24,), "joint", "upperleg01.R"),
    _c("left_knee", (25,), "joint", "lowerleg01.L"),
    _c("right_knee", (26,), "joint", "lowerleg01.R"),
    _c("left_ankle", (27,), "joint", "foot.L"),
    _c("right_ankle", (28,), "joint", "foot.R"),
    _c("left_heel", (29,), "vertex", "left_heel"),
    _c("right_heel", (30,), "vertex", "right_heel"),
    _c("left_foot_index", (31,), "vertex", "left_toe"),
    _c("right_foot_index", (32,), "vertex", "right_toe"),
)
_TORSO = ("upperarm01.L", "upperarm01.R", "upperleg01.L", "upperleg01.R")
#: Free axes (bone frame) of the constrained fitted bones; the other axes get the hinge factor.
_FREE_AXES = {"lowerleg01": (0,), "lowerarm01": (0, 1), "wrist": (0, 2), "foot": (0, 1)}


def anny_prior_axis_weights(fitted: Sequence[str] = FITTED_BONES) -> NDArray[np.float64]:
    """Pose-prior weight of each non-root pose parameter, (3 F - 3,): 1, or the hinge factor."""
    w = np.ones((len(fitted) - 1, 3))
    for i, bone in enumerate(fitted[1:]):
        free = _FREE_AXES.get(bone.split(".")[0])
        if free is not None:
            for ax in range(3):
                if ax not in free:
                    w[i, ax] = HINGE_PRIOR_FACTOR
    return w.reshape(-1)


def _body(model: AnnyModel, extra_vertices: Sequence[int] = ()) -> tuple[AnnyBody, list[int]]:
    """The body function of the correspondences (their joints, then keypoint vertices) and their columns."""
    joints = list(FITTED_BONES) + sorted(
        {str(c.target) for c in MEDIAPIPE_TO_ANNY if c.kind == "joint"} - set(FITTED_BONES)
    )
    vnames = sorted({str(c.target) for c in MEDIAPIPE_TO_ANNY if c.kind == "vertex"})
    verts = [KEYPOINT_VERTICES[n] for n in vnames] + list(extra_vertices)
    qsel = [
        joints.index(str(c.target)) if c.kind == "joint" else len(joints) + vnames.index(str(c.target))
        for c in MEDIAPIPE_TO_ANNY
    ]
    return AnnyBody(model, joints, verts), qsel


def fit_anny(
    landmarks_world: NDArray[np.float64],
    image_xy: NDArray[np.float64] | None,
    weights: NDArray[np.float64] | None,
    K: NDArray[np.float64] | None,
    model: AnnyModel,
    *,
    cam_rotation: NDArray[np.float64] | None = None,
    cam_translation: NDArray[np.float64] | None = None,
    n_iters: int = 15,
    smooth_weight: float = 0.3,
    reproj_weight: float = 1.0,
    pose_prior_weight: float = 1e-3,
    shape_prior_weight: float = 1e-2,
    tolerance: float = 1e-9,
    torch_threads: int | None = None,
) -> SmplFit:
    """Fit Anny to a clip of MediaPipe landmarks; arguments and objective as
    :func:`imusynth.body.smpl.fit.fit_clip` (without ``num_betas``: the 6 phenotype parameters are fitted).

    Returns
    -------
    SmplFit
        ``betas`` (6,) = phenotype - 0.5 (:data:`~imusynth.body.anny.model.PHENOTYPES`), ``global_orient``
        (T, 3) rad the root's rotation vector (world axes), ``body_pose`` (T, 54) rad the other fitted
        bones' rotation vectors in their rest bone frames (:data:`~imusynth.body.anny.model.FITTED_BONES`
        order), ``transl`` (T, 3) m, ``joints`` (T, 19, 3) m the fitted bones' posed heads.
    """
    t_start = time.perf_counter()
    L = np.asarray(landmarks_world, dtype=np.float64)
    if L.ndim != 3 or L.shape[1:] != (33, 3) or L.shape[0] < 1:
        raise InputError(f"landmarks_world must have shape (T, 33, 3) with T >= 1, got {L.shape}")
    T = L.shape[0]
    W = np.ones((T, 33)) if weights is None else np.asarray(weights, dtype=np.float64)
    if W.shape != (T, 33):
        raise InputError(f"weights must have shape ({T}, 33), got {W.shape}")
    for name, val in (
        ("smooth_weight", smooth_weight),
        ("reproj_weight", reproj_weight),
        ("pose_prior_weight", pose_prior_weight),
        ("shape_prior_weight", shape_prior_weight),
    ):
        if not np.isfinite(val) or val < 0:
            raise InputError(f"{name} must be a finite number >= 0, got {val}")
    corr = MEDIAPIPE_TO_ANNY
    tgt3, w3 = landmark_targets(L, W, corr)
    two_d = None
    w2 = None
    if image_xy is not None:
        if K is None:
            raise InputError("image_xy was given without the camera intrinsics K")
        xy = np.asarray(image_xy, dtype=np.float64)
        if xy.shape != (T, 33, 2):
            raise InputError(f"image_xy must have shape ({T}, 33, 2), got {xy.shape}")
        tgt2, w2 = landmark_targets(xy, W, corr)
        two_d = (
            tgt2,
            w2,
            np.asarray(K, dtype=np.float64),
            _as_frames(cam_rotation, T, (3, 3), "cam_rotation", np.eye(3)),
            _as_frames(cam_translation, T, (3,), "cam_translation", np.zeros(3)),
        )
    body, qsel = _body(model)
    F = len(FITTED_BONES)
    prob = _Problem.__new__(_Problem)
    prob._setup(
        body,
        qsel,
        F,
        anny_prior_axis_weights(),
        tgt3,
        w3,
        two_d,
        nb=6,
        smooth_weight=smooth_weight,
        reproj_weight=reproj_weight,
        pose_prior_weight=pose_prior_weight,
        shape_prior_weight=shape_prior_weight,
    )
    dt = torch.float64
    heads, _, _ = body.rest(torch.zeros(6, dtype=dt))
    labels = model.bone_labels
    cols = [[str(c.target) for c in corr].index(b) for b in _TORSO]
    M = np.stack([heads[labels.index(b)].numpy() for b in _TORSO])
    rot0, transl0 = rigid_init(
        M, tgt3, w3, cols, heads[0].numpy(), points="4 torso landmarks (shoulders, hips)"
    )
    lm, res3, res2 = _solve(prob, rot0, transl0, n_betas=6, n_pose=3 * F, w2=w2, n_iters=n_iters,
                            tolerance=tolerance, torch_threads=torch_threads)
    betas, pose, transl, tm = lm.betas, lm.pose, lm.transl, lm.terms
    settings: dict[str, float | int | str] = {
        "n_iters": int(n_iters),
        "smooth_weight": float(smooth_weight),
        "reproj_weight": float(reproj_weight),
        "pose_prior_weight": float(pose_prior_weight),
        "shape_prior_weight": float(shape_prior_weight),
        "num_betas": 6,
        "two_d": "yes" if prob.two_d else "no",
        "solver": "levenberg-marquardt",
    }
    return SmplFit(
        betas=betas.numpy().copy(),
        global_orient=pose[:, :3].numpy().copy(),
        body_pose=pose[:, 3:].numpy().copy(),
        transl=transl.numpy().copy(),
        joints=tm.lbs.points[:, :F].numpy().copy(),
        residual_3d_m=np.where(w3 > 0, res3, np.nan),
        residual_2d_px=res2,
        correspondences=tuple(c.name for c in corr),
        loss=tm.energy / T,
        loss_history=tuple(lm.loss_history),
        n_iterations=lm.n_iterations,
        n_evaluations=lm.n_evaluations,
        fit_time_s=time.perf_counter() - t_start,
        settings=settings,
    )


def anny_rest(model: AnnyModel, betas: NDArray[np.float64] | None = None) -> AnnyRest:
    """Anny's rest mesh for a shape (default: the default phenotype), for the placements."""
    b = torch.zeros((1, 6), dtype=torch.float64) if betas is None else torch.as_tensor(betas)[None]
    heads, _, verts = model.rest((0.5 + b).clamp(0.0, 1.0))
    return AnnyRest(verts[0].numpy(), heads[0].numpy(), model.weights, model.bone_labels)


def posed_points(
    model: AnnyModel,
    betas: NDArray[np.float64],
    pose: NDArray[np.float64],
    transl: NDArray[np.float64],
    vertex_ids: Sequence[int],
    joints: Sequence[str] = (),
) -> NDArray[np.float64]:
    """Posed bone heads then vertices (T, J + V, 3), m, for an Anny pose (T, 57) and translation (T, 3)."""
    body = AnnyBody(model, list(joints), np.asarray(vertex_ids, dtype=np.int64))
    dt = torch.float64
    with torch.no_grad():
        return body(
            torch.as_tensor(betas, dtype=dt),
            torch.as_tensor(pose, dtype=dt),
            torch.as_tensor(transl, dtype=dt),
        ).points.numpy()


def fit_sensor_trajectories(
    model: AnnyModel, fit: SmplFit, placements: Sequence[MeshPlacement]
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Mesh sensors of an Anny fit: position (T, 3) m and sensor-to-world rotation (T, 3, 3) per placement
    (skins only the vertices the placements need: regions, tangent targets, faces around the regions)."""
    return subset_sensor_trajectories(
        model.faces, placements, lambda ids: posed_points(model, fit.betas, fit.pose, fit.transl, ids))


def fit_sensor_motion(
    model: AnnyModel,
    fit: SmplFit,
    time: NDArray[np.float64],
    placements: Sequence[MeshPlacement],
    *,
    lever_m: float = 0.1,
    source: str = "",
) -> tuple[Motion, list[Placement]]:
    """Mesh sensors of an Anny fit as a Motion plus placements for :func:`imusynth.core.sensors.simulate`."""
    return sensor_motion(
        time, fit_sensor_trajectories(model, fit, placements), placements, lever_m=lever_m, source=source
    )


def landmarks_from_anny(
    model: AnnyModel, betas: NDArray[np.float64], pose: NDArray[np.float64], transl: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The MediaPipe landmarks (T, 33, 3) m an Anny body gives (:data:`MEDIAPIPE_TO_ANNY`; NaN: unused)."""
    body, qsel = _body(model)
    dt = torch.float64
    with torch.no_grad():
        P = body(
            torch.as_tensor(betas, dtype=dt),
            torch.as_tensor(pose, dtype=dt),
            torch.as_tensor(transl, dtype=dt),
        ).points.numpy()[:, qsel]
    out = np.full((P.shape[0], 33, 3), np.nan)
    for c, cc in enumerate(MEDIAPIPE_TO_ANNY):
        for i in cc.landmarks:
            out[:, i] = P[:, c]
    return out


def anny_record(fit: SmplFit, model: AnnyModel) -> SmplRecord:
    """The arrays and attributes a clip stores about its Anny fit (group ``/clips/<id>/anny``)."""
    from imusynth.body.anny.model import PHENOTYPES

    res = fit.residual_3d_m
    rmse = float(np.sqrt(np.nanmean(res**2))) if np.isfinite(res).any() else float("nan")
    table = [
        {
            "name": c.name,
            "mediapipe": list(c.landmarks),
            "anny_" + ("bone" if c.kind == "joint" else "vertex"): (
                c.target if c.kind == "joint" else KEYPOINT_VERTICES[str(c.target)]
            ),
            "weight": c.weight,
        }
        for c in MEDIAPIPE_TO_ANNY
    ]
    attrs: dict[str, str | int | float] = {
        "body_model": "Anny",
        "anny_version": model.version,
        "torch_version": str(torch.__version__),
        "anny_rig": "anny",
        "anny_topology": "anny",
        "license": "Apache-2.0 (NAVER LABS; MakeHuman CC0 assets)",
        "phenotypes": json.dumps(list(PHENOTYPES)),
        "shape_format": "betas = Anny phenotype (gender, age, muscle, weight, height, proportions) - 0.5",
        "fitted_bones": json.dumps(list(FITTED_BONES)),
        "pose_format": "rotation vectors, rad: global_orient = root (world axes, about its rest head); "
        "body_pose = the other fitted bones in their rest bone frames (R = B exp(theta) B^T "
        "about the bone head), the other bones follow their fitted parent",
        "frame": "Anny rest frame (m, z up, x left, facing -y) turned by global_orient, plus transl, "
        "gives the imusynth world frame (z up)",
        "correspondences": json.dumps(table),
        "loss": float(fit.loss),
        "rmse_3d_m": rmse,
        "fit_time_s": float(fit.fit_time_s),
    }
    attrs.update({f"fit_{k}": v for k, v in fit.settings.items()})
    datasets = {
        "betas": fit.betas,
        "global_orient": fit.global_orient,
        "body_pose": fit.body_pose,
        "transl": fit.transl,
        "residual_3d_m": fit.residual_3d_m,
    }
    return SmplRecord(datasets=datasets, attrs=attrs)
