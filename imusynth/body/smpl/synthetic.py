"""A small synthetic body model in the SMPL file format, for tests and demos without the licensed SMPL.

The body is made procedurally: elliptic tubes with closed ends around the bones of SMPL's 24-joint
kinematic tree, in SMPL's rest frame (metres, y up, facing +z, the subject's left along +x, T-pose with
palms down). About 800 vertices. It has every array of an SMPL model file:

* ``J_regressor`` averages the vertex rings centred on each joint, so the rest joints are exactly the
  designed ones (:data:`REST_JOINTS`);
* ``weights`` skin each tube to the joint that rotates it, blended 50/50 with the neighbouring joint at
  the tube's ends (over 5 cm) as linear blend skinning does at real joints;
* ``shapedirs`` (10 components): scale, leg length, arm length, girth, shoulder width, torso length, hip
  width, belly, head size, foot length; ``posedirs``: small (millimetre) pose correctives;
* landmark vertices (nose, eyes, ears, finger tips, toes, heels: smplx's names) under the extra keys
  :data:`~imusynth.body.smpl.loading.VERTEX_NAMES_KEY` / ``VERTEX_IDS_KEY``.

The result is not anatomically meaningful; it exercises every code path that the real model takes.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from imusynth.body.smpl.loading import (
    SMPL_PARENTS,
    VERTEX_IDS_KEY,
    VERTEX_NAMES_KEY,
    SmplModel,
    model_from_dict,
)
from imusynth.errors import InputError

#: Rest-pose joint locations of the synthetic body, m (SMPL rest frame: y up, +z forward, +x = left).
REST_JOINTS: NDArray[np.float64] = np.array([
    [0.0, 0.0, 0.0],         # 0 pelvis
    [0.07, -0.08, 0.0],      # 1 left_hip
    [-0.07, -0.08, 0.0],     # 2 right_hip
    [0.0, 0.11, -0.02],      # 3 spine1
    [0.09, -0.50, 0.01],     # 4 left_knee
    [-0.09, -0.50, 0.01],    # 5 right_knee
    [0.0, 0.24, -0.01],      # 6 spine2
    [0.085, -0.90, -0.03],   # 7 left_ankle
    [-0.085, -0.90, -0.03],  # 8 right_ankle
    [0.0, 0.30, 0.0],        # 9 spine3
    [0.10, -0.95, 0.10],     # 10 left_foot
    [-0.10, -0.95, 0.10],    # 11 right_foot
    [0.0, 0.51, -0.02],      # 12 neck
    [0.07, 0.43, -0.01],     # 13 left_collar
    [-0.07, 0.43, -0.01],    # 14 right_collar
    [0.0, 0.60, 0.02],       # 15 head
    [0.18, 0.45, -0.02],     # 16 left_shoulder
    [-0.18, 0.45, -0.02],    # 17 right_shoulder
    [0.44, 0.45, -0.03],     # 18 left_elbow
    [-0.44, 0.45, -0.03],    # 19 right_elbow
    [0.69, 0.45, -0.03],     # 20 left_wrist
    [-0.69, 0.45, -0.03],    # 21 right_wrist
    [0.77, 0.45, -0.03],     # 22 left_hand
    [-0.77, 0.45, -0.03],    # 23 right_hand
])

_BLEND_M = 0.05  # length over which a tube's end is blended 50/50 with the neighbouring joint, m
_N_BETAS = 10
_N_JOINTS = len(SMPL_PARENTS)


@dataclass(frozen=True)
class _Tube:
    start: NDArray[np.float64]
    end: NDArray[np.float64]
    skin: int                  # the joint whose rotation moves the tube
    radii: tuple[float, float]
    n_rings: int
    n_around: int
    start_joint: int | None    # joint at the start (its ring is regressed to it; blended with its parent)
    end_joint: int | None      # joint at the end (regressed; blended with it)


def _frame(u: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two unit vectors orthogonal to the unit axis ``u``: e1 (x for vertical bones, else y), e2 = u x e1."""
    ref = np.array([1.0, 0.0, 0.0]) if abs(u[1]) > 0.7 else np.array([0.0, 1.0, 0.0])
    e1 = ref - (ref @ u) * u
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(u, e1)


def _tubes() -> list[_Tube]:
    J = REST_JOINTS
    t: list[_Tube] = []

    def bone(a: int, b: int, radii: tuple[float, float], rings: int, around: int = 8) -> None:
        t.append(_Tube(J[a], J[b], a, radii, rings, around, a, b))

    for a, b, r in ((0, 3, (0.14, 0.10)), (3, 6, (0.14, 0.10)), (6, 9, (0.15, 0.10)), (9, 12, (0.12, 0.08))):
        bone(a, b, r, 3, 12)
    for side in (0, 1):  # 0 = left, 1 = right
        hip, knee, ankle, foot = 1 + side, 4 + side, 7 + side, 10 + side
        collar, shoulder, elbow, wrist, hand = 13 + side, 16 + side, 18 + side, 20 + side, 22 + side
        sx = 1.0 if side == 0 else -1.0
        bone(0, hip, (0.07, 0.07), 2)
        bone(hip, knee, (0.075, 0.075), 4)
        bone(knee, ankle, (0.05, 0.05), 4)
        heel = J[ankle] + np.array([0.0, -0.03, -0.07])
        t.append(_Tube(heel, J[foot], ankle, (0.035, 0.045), 3, 8, None, foot))
        toe_tip = J[foot] + np.array([0.0, 0.0, 0.08])
        t.append(_Tube(J[foot], toe_tip, foot, (0.025, 0.045), 2, 8, foot, None))
        bone(9, collar, (0.05, 0.05), 2)
        bone(collar, shoulder, (0.055, 0.055), 2)
        bone(shoulder, elbow, (0.05, 0.05), 4)
        bone(elbow, wrist, (0.04, 0.035), 4)
        bone(wrist, hand, (0.02, 0.04), 2, 12)
        tip = J[hand] + np.array([sx * 0.09, 0.0, 0.0])
        t.append(_Tube(J[hand], tip, hand, (0.015, 0.04), 3, 12, hand, None))
    bone(12, 15, (0.05, 0.05), 2)
    t.append(_Tube(J[15] + np.array([0.0, -0.03, 0.0]), J[15] + np.array([0.0, 0.20, 0.0]), 15,
                   (0.08, 0.095), 5, 12, None, None))
    return t


def _landmark_targets() -> dict[str, NDArray[np.float64]]:
    """Rest-pose locations of the named keypoint vertices (nearest vertex is taken), m."""
    J = REST_JOINTS
    h = J[15]
    out = {
        "nose": h + [0.0, 0.03, 0.10],
        "leye": h + [0.04, 0.085, 0.085], "reye": h + [-0.04, 0.085, 0.085],
        "lear": h + [0.08, 0.06, 0.0], "rear": h + [-0.08, 0.06, 0.0],
    }
    for s, sx, hand, foot, ankle in (("l", 1.0, 22, 10, 7), ("r", -1.0, 23, 11, 8)):
        tip = J[hand] + [sx * 0.09, 0.0, 0.0]
        out[f"{s}index"] = tip + [0.0, 0.0, 0.035]
        out[f"{s}middle"] = tip + [0.0, 0.01, 0.012]
        out[f"{s}ring"] = tip + [0.0, 0.01, -0.015]
        out[f"{s}pinky"] = tip + [0.0, 0.0, -0.035]
        out[f"{s}thumb"] = J[hand] + [-sx * 0.04, -0.01, 0.045]
        S = s.upper()
        toe_tip = J[foot] + [0.0, 0.0, 0.08]
        out[f"{S}BigToe"] = toe_tip + [-sx * 0.035, -0.01, 0.0]
        out[f"{S}SmallToe"] = toe_tip + [sx * 0.035, -0.01, 0.0]
        out[f"{S}Heel"] = J[ankle] + [0.0, -0.065, -0.08]
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def synthetic_model_data() -> dict[str, Any]:
    """The arrays of the synthetic model under SMPL's file keys (plus the landmark-vertex keys).

    Returns
    -------
    dict
        ``v_template (V,3)``, ``shapedirs (V,3,10)``, ``posedirs (V,3,207)``, ``J_regressor (24,V)``
        (dense), ``weights (V,24)``, ``kintree_table (2,24)``, ``f (F,3)`` uint32, ``J (24,3)``,
        ``bs_style``, ``bs_type``, and the named landmark vertices.
    """
    verts: list[NDArray[np.float64]] = []
    radial: list[NDArray[np.float64]] = []
    weights: list[NDArray[np.float64]] = []
    faces: list[tuple[int, int, int]] = []
    regress: dict[int, list[int]] = {j: [] for j in range(_N_JOINTS)}
    for tube in _tubes():
        axis = tube.end - tube.start
        length = float(np.linalg.norm(axis))
        u = axis / length
        e1, e2 = _frame(u)
        base = len(verts)
        ring_w = []
        for i in range(tube.n_rings):
            s = i / (tube.n_rings - 1)
            w = np.zeros(_N_JOINTS)
            w[tube.skin] = 1.0
            if (tube.start_joint is not None and SMPL_PARENTS[tube.start_joint] >= 0
                    and tube.skin == tube.start_joint):
                f = 0.5 * max(0.0, 1.0 - s * length / _BLEND_M)
                w[SMPL_PARENTS[tube.start_joint]] += f
                w[tube.skin] -= f
            if tube.end_joint is not None:
                g = 0.5 * max(0.0, 1.0 - (1.0 - s) * length / _BLEND_M)
                w[tube.end_joint] += g
                w[tube.skin] -= g
            ring_w.append(w)
            centre = tube.start + s * axis
            for k in range(tube.n_around):
                th = 2.0 * np.pi * k / tube.n_around
                d = tube.radii[0] * np.cos(th) * e1 + tube.radii[1] * np.sin(th) * e2
                verts.append(centre + d)
                radial.append(d / np.linalg.norm(d))
                weights.append(w)
            joint_here = tube.start_joint if i == 0 else tube.end_joint if i == tube.n_rings - 1 else None
            if joint_here is not None:
                regress[joint_here].extend(range(base + i * tube.n_around, base + (i + 1) * tube.n_around))
        cap = 0.6 * min(tube.radii)
        apex_start, apex_end = len(verts), len(verts) + 1
        verts += [tube.start - cap * u, tube.end + cap * u]
        radial += [-u, u]
        weights += [ring_w[0], ring_w[-1]]

        def idx(i: int, k: int, tube: _Tube = tube, base: int = base) -> int:
            return base + i * tube.n_around + k % tube.n_around

        tube_faces = []
        for i in range(tube.n_rings - 1):
            for k in range(tube.n_around):
                tube_faces += [(idx(i, k), idx(i, k + 1), idx(i + 1, k + 1)),
                               (idx(i, k), idx(i + 1, k + 1), idx(i + 1, k))]
        for k in range(tube.n_around):
            tube_faces.append((apex_start, idx(0, k + 1), idx(0, k)))
            tube_faces.append((apex_end, idx(tube.n_rings - 1, k), idx(tube.n_rings - 1, k + 1)))
        V = np.asarray(verts)
        for a, b, c in tube_faces:  # orient every triangle outward (away from the tube's axis)
            n = np.cross(V[b] - V[a], V[c] - V[a])
            cen = (V[a] + V[b] + V[c]) / 3.0
            s_proj = np.clip((cen - tube.start) @ u / length, 0.0, 1.0)
            out = cen - (tube.start + s_proj * axis)
            faces.append((a, b, c) if n @ out > 0 else (a, c, b))

    v_template = np.asarray(verts)
    n_v = v_template.shape[0]
    W = np.asarray(weights)
    J_reg = np.zeros((_N_JOINTS, n_v))
    for j, ids in regress.items():
        J_reg[j, ids] = 1.0 / len(ids)
    shapedirs = _shapedirs(v_template, np.asarray(radial), W)
    posedirs = _posedirs(np.asarray(radial), W)
    names = list(_landmark_targets())
    ids = [int(np.argmin(np.linalg.norm(v_template - p, axis=1))) for p in _landmark_targets().values()]
    kintree = np.stack([np.array([4294967295, *SMPL_PARENTS[1:]], dtype=np.int64), np.arange(_N_JOINTS)])
    return {
        "v_template": v_template, "shapedirs": shapedirs, "posedirs": posedirs, "J_regressor": J_reg,
        "weights": W, "kintree_table": kintree, "f": np.asarray(faces, dtype=np.uint32),
        "J": J_reg @ v_template,
        "bs_style": "lbs", "bs_type": "lrotmin",
        VERTEX_NAMES_KEY: np.array(names), VERTEX_IDS_KEY: np.array(ids, dtype=np.int64),
    }


def _shapedirs(v: NDArray[np.float64], radial: NDArray[np.float64],
               W: NDArray[np.float64]) -> NDArray[np.float64]:
    """Ten smooth displacement fields (m per unit beta), each a plausible body-shape variation."""
    J = REST_JOINTS
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    sd = np.zeros((v.shape[0], 3, _N_BETAS))
    sd[:, :, 0] = 0.03 * (v - J[0])                                          # overall scale about the pelvis
    sd[:, 1, 1] = 0.04 * np.minimum(y - J[1, 1], 0.0)                        # leg length
    sd[:, 0, 2] = 0.04 * np.sign(x) * np.maximum(np.abs(x) - J[16, 0], 0.0) * (y > 0.3)  # arm length
    sd[:, :, 3] = 0.01 * radial                                              # girth (joints unchanged)
    sd[:, 0, 4] = 0.015 * np.sign(x) * np.clip(np.abs(x) / J[16, 0], 0.0, 1.0) * (y > 0.35)  # shoulders
    sd[:, 1, 5] = 0.04 * np.maximum(y - J[3, 1], 0.0)                        # torso length
    sd[:, 0, 6] = 0.01 * np.sign(x) * np.clip(np.abs(x) / J[1, 0], 0.0, 1.0) * (y < 0.0)  # hip width
    torso = W[:, [0, 3, 6, 9]].sum(axis=1)
    sd[:, 2, 7] = 0.02 * np.maximum(radial[:, 2], 0.0) * torso               # belly
    head = W[:, 15]
    sd[:, :, 8] = 0.05 * (v - J[15]) * head[:, None]                         # head size
    feet = W[:, [7, 8, 10, 11]].sum(axis=1)
    sd[:, 2, 9] = 0.1 * np.maximum(z - J[7, 2], 0.0) * feet * (y < -0.8)      # foot length
    return sd


def _posedirs(radial: NDArray[np.float64], W: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pose correctives: a few millimetres along the radial direction, driven by each joint's ``R - I``."""
    pattern = np.array([0.5, -0.3, 0.2, 0.3, 0.4, -0.2, -0.1, 0.2, 0.5])
    pd = np.zeros((radial.shape[0], 3, 9 * (_N_JOINTS - 1)))
    for j in range(1, _N_JOINTS):
        for k in range(9):
            pd[:, :, 9 * (j - 1) + k] = 0.003 * pattern[k] * W[:, j, None] * radial
    return pd


def synthetic_model() -> SmplModel:
    """The synthetic body as an :class:`~imusynth.body.smpl.loading.SmplModel` (no file involved)."""
    return model_from_dict(synthetic_model_data(), source="<synthetic>", sha256="", gender="neutral")


def _atomic_write(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_synthetic_model(folder: str | Path, *, fmt: str = "npz", gender: str = "neutral") -> Path:
    """Write the synthetic model as ``folder/SMPL_<GENDER>.npz`` or ``.pkl`` (plain arrays).

    The ``.pkl`` holds a dict like an official SMPL file, with a scipy sparse ``J_regressor``; it loads
    with :func:`~imusynth.body.smpl.loading.load_model` and with plain ``pickle``. (The tests also write a
    version with chumpy-style objects, which needs the chumpy-free unpickler.)

    Parameters
    ----------
    folder : str or Path
        Existing or new folder (created).
    fmt : {"npz", "pkl"}
    gender : {"neutral", "male", "female"}
        Only the file name changes (the body is the same).

    Returns
    -------
    Path
        The file written (atomically: temporary file, then rename).
    """
    if fmt not in ("npz", "pkl"):
        raise InputError(f"unknown synthetic-model format {fmt!r}; allowed: npz, pkl")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"SMPL_{gender.upper()}.{fmt}"
    data = synthetic_model_data()
    if fmt == "npz":
        arrays = {k: np.asarray(v) for k, v in data.items()}
        _atomic_write(path, lambda fh: np.savez(fh, **arrays))  # type: ignore[arg-type]
    else:
        data["J_regressor"] = scipy.sparse.csc_matrix(data["J_regressor"])
        _atomic_write(path, lambda fh: pickle.dump(data, fh, protocol=2))
    return path


@dataclass(frozen=True)
class SyntheticMotion:
    """SMPL parameters of a smooth synthetic motion (for tests and benchmarks).

    Attributes
    ----------
    time : ndarray, shape (T,), s
    betas : ndarray, shape (10,)
    pose : ndarray, shape (T, 72), rad
        Axis-angle, SMPL joint order; the root maps SMPL's y-up rest frame to the z-up world.
    transl : ndarray, shape (T, 3), m
    """

    time: NDArray[np.float64]
    betas: NDArray[np.float64]
    pose: NDArray[np.float64]
    transl: NDArray[np.float64]


#: Joint axes a synthetic motion leaves at zero: those the fit's anatomical prior holds (knees and toes
#: only flex, elbows flex and pronate, wrists do not roll); (joint, axis) pairs, SMPL rest frame.
_STILL_AXES = ((4, 1), (4, 2), (5, 1), (5, 2), (10, 1), (10, 2), (11, 1), (11, 2), (18, 2), (19, 2),
               (20, 0), (21, 0))


def synthetic_motion(n_frames: int, *, rate_hz: float = 30.0, seed: int = 0) -> SyntheticMotion:
    """A smooth whole-body motion: walking forward while turning, every joint swinging (0.2-1 Hz).

    Knees and elbows stay bent (0.45-1.15 rad) so that the limbs' twist is defined; the axes in
    ``_STILL_AXES`` stay at zero. Deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / rate_hz
    amp = rng.uniform(0.0, 0.3, 69)
    freq = rng.uniform(0.2, 1.0, 69)
    phase = rng.uniform(0.0, 2.0 * np.pi, 69)
    body = amp * np.sin(2.0 * np.pi * freq * t[:, None] + phase)
    for j, ax, bend in ((4, 0, 0.8), (5, 0, 0.8), (18, 1, -0.8), (19, 1, 0.8)):
        body[:, 3 * (j - 1) + ax] = bend + 0.35 * np.sign(bend) * np.sin(2.0 * np.pi * freq[3 * (j - 1)] * t
                                                                          + phase[3 * (j - 1)])
    for j, ax in _STILL_AXES:
        body[:, 3 * (j - 1) + ax] = 0.0
    from scipy.spatial.transform import Rotation

    up = Rotation.from_euler("x", 90.0, degrees=True)          # SMPL y-up rest frame -> z-up world
    yaw = Rotation.from_euler("z", (0.4 * t)[:, None])         # turning at 0.4 rad/s
    root = (yaw * up).as_rotvec()
    transl = np.stack([0.9 * np.sin(0.4 * t) / 0.4, 0.9 * (1.0 - np.cos(0.4 * t)) / 0.4,
                       1.0 + 0.02 * np.sin(2.0 * np.pi * 1.8 * t)], axis=1)
    betas = rng.uniform(-1.0, 1.0, _N_BETAS)
    return SyntheticMotion(time=t, betas=betas, pose=np.concatenate([root, body], axis=1), transl=transl)
