"""Fit SMPL to a clip of MediaPipe landmarks: one shape per clip, a pose and a translation per frame.

Needs the optional extra ``imusynth[smpl]`` (torch and smplx). The fit minimises the objective of
:mod:`.objective` (3-D landmarks, 2-D reprojection, temporal smoothness, pose and shape priors) over all
frames at once on the CPU (float64, deterministic) with the body-model-agnostic solver of
:mod:`imusynth.body.solver`: the global orientation and translation start per frame from a weighted
Kabsch fit of the rest torso (shoulders and hips) to the landmarks, the body pose at zero, the shape at
the mean; then Levenberg-Marquardt on all unknowns at once, with the exact closed-form Jacobian of the
skinned points (:mod:`._lbs`) and a block-banded normal matrix. One iteration costs a few times ``75^3``
flops per frame.

This module is the clip-level driver: :func:`fit_clip` (checks, initialisation, the solver, the
:class:`SmplFit` record), the mesh through smplx (:func:`posed_vertices`), mesh sensors of a fit
(:func:`fit_sensor_motion`) and what a clip stores (:func:`clip_record`).
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imusynth.body.smpl.loading import SMPL_JOINT_NAMES, SmplModel
from imusynth.body.smpl.mesh_placements import MeshPlacement, sensor_motion, subset_sensor_trajectories
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


# the imports below need torch, imported above
from imusynth.body.smpl._lbs import SubsetLBS  # noqa: E402
from imusynth.body.smpl.objective import (  # noqa: E402
    HINGE_PRIOR_FACTOR,
    MEDIAPIPE_TO_SMPL,
    RESIDUAL_SCALE_M,
    ROTATION_LEVER_M,
    Correspondence,
    _Problem,
    landmark_targets,
    prior_axis_weights,
)
from imusynth.body.solver import block_cholesky as _block_cholesky  # noqa: E402, F401 - the tests' name
from imusynth.body.solver import block_solve as _block_solve  # noqa: E402, F401 - the tests' name
from imusynth.body.solver import levenberg_marquardt, rigid_init  # noqa: E402

__all__ = [
    "HINGE_PRIOR_FACTOR", "MEDIAPIPE_TO_SMPL", "RESIDUAL_SCALE_M", "ROTATION_LEVER_M", "Correspondence",
    "SmplFit", "SmplRecord", "build_smplx", "clip_record", "fit_clip", "fit_sensor_motion",
    "fit_sensor_trajectories", "fit_vertices", "landmarks_from_smpl", "posed_vertices", "prior_axis_weights",
    "skinned_vertices", "smooth_weight_for_cutoff", "smplx_version",
]

_N_LANDMARKS = 33
_TORSO = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")


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


def _kabsch_init(model: SmplModel, tgt: NDArray[np.float64], w: NDArray[np.float64],
                 corr: tuple[Correspondence, ...]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-frame root rotation (axis-angle, T x 3) and translation (T x 3) from the rest torso."""
    names = [c.name for c in corr]
    cols = [names.index(n) for n in _TORSO if n in names]
    J0 = model.rest_joints()
    M = np.stack([J0[int(corr[c].target)] for c in cols])  # rest torso joints (4, 3)
    return rigid_init(M, tgt, w, cols, J0[0], points="4 torso landmarks (shoulders, hips)")


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
    tgt3, w3 = landmark_targets(L, W, corr)
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
        tgt2, w2 = landmark_targets(xy, W, corr)
        two_d = (tgt2, w2, Kmat, _as_frames(cam_rotation, T, (3, 3), "cam_rotation", np.eye(3)),
                 _as_frames(cam_translation, T, (3,), "cam_translation", np.zeros(3)))
    rot0, transl0 = _kabsch_init(model, tgt3, w3, corr)
    prob = _Problem(model, corr, tgt3, w3, two_d, nb=nb, smooth_weight=smooth_weight,
                    reproj_weight=reproj_weight, pose_prior_weight=pose_prior_weight,
                    shape_prior_weight=shape_prior_weight)

    lm, res3, res2 = _solve(prob, rot0, transl0, n_betas=nb, n_pose=3 * model.n_joints, w2=w2,
                            n_iters=n_iters, tolerance=tolerance, torch_threads=torch_threads)
    betas, pose, transl, tm = lm.betas, lm.pose, lm.transl, lm.terms
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
        loss_history=tuple(lm.loss_history),
        n_iterations=lm.n_iterations,
        n_evaluations=lm.n_evaluations,
        fit_time_s=time.perf_counter() - t_start,
        settings=settings,
    )


def _solve(prob: _Problem, rot0: NDArray[np.float64], transl0: NDArray[np.float64], *, n_betas: int,
           n_pose: int, w2: NDArray[np.float64] | None, n_iters: int, tolerance: float,
           torch_threads: int | None) -> tuple[Any, NDArray[np.float64], NDArray[np.float64] | None]:
    """Levenberg-Marquardt from the rigid start, then the per-landmark residuals (shared by SMPL and Anny).

    Starts from zero shape, the root rotation ``rot0 (T, 3)`` rad (axis-angle) with every other joint at
    rest, and ``transl0 (T, 3)`` m; torch's thread count is ``torch_threads`` during the solve and restored
    afterwards. Returns the solver's result, the 3-D residual of each landmark ``(T, Q)`` m and, when the
    problem has 2-D targets (``w2`` given), the reprojection residual ``(T, Q)`` px (NaN where ``w2`` is 0).
    """
    dt = torch.float64
    T = rot0.shape[0]
    old_threads = torch.get_num_threads()
    if torch_threads:
        torch.set_num_threads(int(torch_threads))
    betas = torch.zeros(n_betas, dtype=dt)
    pose = torch.cat([torch.as_tensor(rot0, dtype=dt), torch.zeros((T, n_pose - 3), dtype=dt)], dim=1)
    transl = torch.as_tensor(transl0, dtype=dt)
    try:
        lm = levenberg_marquardt(prob, betas, pose, transl, n_iters=n_iters, tolerance=tolerance)
        with torch.no_grad():
            P = lm.terms.lbs.points[:, prob.qsel]
            res3 = (P - prob.tgt3).norm(dim=-1).numpy()
            res2 = None
            if w2 is not None:
                uv, _ = prob.project(P)
                res2 = np.where(w2 > 0, (uv - prob.tgt2).norm(dim=-1).numpy(), np.nan)
    finally:
        torch.set_num_threads(old_threads)
    return lm, res3, res2


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
    return subset_sensor_trajectories(
        model.faces, placements, lambda ids: skinned_vertices(model, fit.betas, fit.pose, fit.transl, ids))


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
