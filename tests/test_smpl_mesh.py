"""Sensors on the body mesh: surface frames, built-in placements, and a rigidly moving body in closed form."""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from imusynth.body.smpl.loading import SMPL_JOINT_NAMES
from imusynth.body.smpl.mesh_placements import (
    BUILTIN_ANCHORS,
    MeshPlacement,
    MeshPlacementError,
    builtin_mesh_placements,
    mesh_placements_from_dict,
    mesh_sensor_motion,
    mesh_sensor_trajectories,
)
from imusynth.body.smpl.synthetic import synthetic_model
from imusynth.core.conventions import G0, matrix_from_quat

MODEL = synthetic_model()


def _grid(n: int = 5, h: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """A flat square grid in the plane z = 0, faces counter-clockwise seen from +z."""
    xs, ys = np.meshgrid(np.arange(n) * h, np.arange(n) * h, indexing="ij")
    V = np.stack([xs.ravel(), ys.ravel(), np.zeros(n * n)], axis=1)
    F = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = i * n + j, (i + 1) * n + j, (i + 1) * n + j + 1, i * n + j + 1
            F += [(a, b, c), (a, c, d)]
    return V, np.asarray(F)


def test_surface_frame_of_a_flat_patch() -> None:
    V, F = _grid()
    centre, right = 12, 22  # the middle vertex and the one 1 cm along +x
    p = MeshPlacement("patch", "", vertices=(centre, 7, 17), tangent_vertices=(right,), offset_m=0.002)
    R0 = Rotation.from_euler("xyz", [0.3, -0.7, 1.1]).as_matrix()
    moved = (V @ R0.T + [1.0, 2.0, 3.0])[None]
    pos, R = mesh_sensor_trajectories(moved, F, [p])["patch"]
    # flat patch: normal +z, tangent +x exactly; the origin is the region mean lifted 2 mm along the normal
    np.testing.assert_allclose(R[0], R0, atol=1e-12)
    expect = R0 @ (V[[12, 7, 17]].mean(axis=0) + [0, 0, 0.002]) + [1, 2, 3]
    np.testing.assert_allclose(pos[0], expect, atol=1e-12)
    flipped = MeshPlacement("patch", "", vertices=(centre,), tangent_vertices=(right,),
                            axes=("-x", "-y", "+z"))
    _, Rf = mesh_sensor_trajectories(moved, F, [flipped])["patch"]
    np.testing.assert_allclose(Rf[0], R0 @ np.diag([-1.0, -1.0, 1.0]), atol=1e-12)


def test_builtin_placements_sit_where_their_names_say() -> None:
    pl = builtin_mesh_placements(MODEL)
    assert set(pl) >= {"wrist", "thigh", "head", "left_foot", "right_shank"}
    traj = mesh_sensor_trajectories(MODEL.v_template[None], MODEL.faces, list(pl.values()))
    owner = np.argmax(MODEL.weights, axis=1)
    # rest frame: x = left, y = up, z = forward; T-pose with palms down
    up, fwd, left = np.eye(3)[1], np.eye(3)[2], np.eye(3)[0]
    expect_normal = {"wrist": up, "left_wrist": up, "right_wrist": up, "left_forearm": up, "head": fwd,
                     "chest": fwd, "left_thigh": fwd, "right_shank": fwd, "left_foot": up,
                     "left_upper_arm": up}
    for name, n in expect_normal.items():
        z = traj[name][1][0] @ pl[name].R_surface_sensor.T[:, 2]  # surface normal in the rest frame
        assert z @ n > 0.9, (name, z)  # within 25 deg of the expected side on this coarse mesh
    # the watch's axes: x toward the hand (+x for the left arm), z out of the dorsal side (up)
    R_watch = traj["wrist"][1][0]
    assert R_watch[:, 0] @ left > 0.9 and R_watch[:, 2] @ up > 0.9
    # the pocket phone: x to the subject's left, y up toward the hip, z forward (out of the screen)
    R_phone = traj["thigh"][1][0]
    assert R_phone[:, 0] @ left > 0.9 and R_phone[:, 1] @ up > 0.9 and R_phone[:, 2] @ fwd > 0.9
    # each region lies on the segment its anchor names
    for name, (anchor, _, _) in BUILTIN_ANCHORS.items():
        segment = SMPL_JOINT_NAMES[anchor.bone[0]]
        assert set(owner[list(pl[name].vertices)]) <= set(anchor.skin), (name, segment)
    with pytest.raises(MeshPlacementError, match="unknown mesh placement"):
        builtin_mesh_placements(MODEL, ["elbow_pad"])


def _rigid_motion(t: np.ndarray, w: float, r: float, W: float):
    """Root rotation (SMPL y-up rest -> z-up world, then yaw ``w t``) and a circle (radius r, rate W)."""
    up = Rotation.from_euler("x", 90.0, degrees=True)
    R = (Rotation.from_euler("z", (w * t)[:, None]) * up).as_matrix()
    transl = np.stack([r * np.cos(W * t), r * np.sin(W * t), 0.9 + 0 * t], axis=1)
    acc_transl = np.stack([-r * W**2 * np.cos(W * t), -r * W**2 * np.sin(W * t), 0 * t], axis=1)
    return R, transl, acc_transl


def _rigid_vertices(R: np.ndarray, transl: np.ndarray) -> np.ndarray:
    J0 = MODEL.rest_joints()[0]
    return np.einsum("tij,vj->tvi", R, MODEL.v_template - J0) + J0 + transl[:, None]


def test_rigid_body_sensors_match_closed_form() -> None:
    t = np.arange(0.0, 4.0, 1.0 / 30.0)
    w, r, W = 0.8, 0.5, 1.3
    R, transl, acc_transl = _rigid_motion(t, w, r, W)
    verts = _rigid_vertices(R, transl)
    pl = builtin_mesh_placements(MODEL, ["wrist", "thigh", "head", "left_foot"])
    rest = mesh_sensor_trajectories(MODEL.v_template[None], MODEL.faces, list(pl.values()))
    moving = mesh_sensor_trajectories(verts, MODEL.faces, list(pl.values()))
    J0 = MODEL.rest_joints()[0]
    for name in pl:
        s0, Rs0 = rest[name][0][0], rest[name][1][0]
        pos, Rs = moving[name]
        # a rigid motion carries the surface frame along: exact up to float rounding
        np.testing.assert_allclose(pos, np.einsum("tij,j->ti", R, s0 - J0) + J0 + transl, atol=1e-12)
        np.testing.assert_allclose(Rs, R @ Rs0, atol=1e-12)

    # the same through the physics core: accelerometer and gyroscope against the closed form
    from imusynth.core.sensors import simulate

    motion, placements = mesh_sensor_motion(t, verts, MODEL.faces, list(pl.values()))
    signals = simulate(motion, placements, rate_hz=30.0)
    omega_world = np.array([0.0, 0.0, w])
    for name in pl:
        sig = signals[name]
        s0, Rs0 = rest[name][0][0], rest[name][1][0]
        ts = sig.time
        Rt, _, acc_tr = _rigid_motion(ts, w, r, W)
        Rws = Rt @ Rs0
        c = np.einsum("tij,j->ti", Rt, s0 - J0)              # lever from the root, world frame
        a_world = np.cross(omega_world, np.cross(omega_world, c)) + acc_tr
        acc_true = np.einsum("tji,tj->ti", Rws, a_world - np.array([0.0, 0.0, -G0]))
        gyro_true = np.einsum("tji,j->ti", Rws, omega_world)
        inner = (ts > ts[0] + 0.5) & (ts < ts[-1] - 0.5) & sig.valid
        # the motion (0.8 and 1.3 rad/s) lies far below the 12 Hz smoothing cut-off, where the zero-phase
        # filter and the splines are exact to ~1e-7 (measured: 2e-8 relative); the tolerance, 0.1 % of the
        # signal's RMS, is 10x tighter than the physics core's own closed-form criterion (1 %)
        for meas, true in ((sig.acc, acc_true), (sig.gyro, gyro_true)):
            err = np.sqrt(np.mean((meas[inner] - true[inner]) ** 2))
            assert err < 1e-3 * np.sqrt(np.mean(true[inner] ** 2)), (name, err)
        q_R = matrix_from_quat(sig.orientation[inner])
        np.testing.assert_allclose(q_R, Rws[inner], atol=1e-6)  # measured 3e-9


def test_mesh_placements_from_toml_tables() -> None:
    data = {"mesh_placements": {"watch": {"vertex": 10, "tangent_vertex": 11, "axes": ["-x", "-y", "+z"],
                                          "offset_m": 0.004, "description": "my watch"}}}
    pl = mesh_placements_from_dict(data, MODEL.n_vertices)["watch"]
    assert pl.vertices == (10,) and pl.tangent_vertices == (11,) and pl.offset_m == 0.004
    assert "vertices = [10]" in pl.toml()
    bad = {"mesh_placements": {"w": {"vertex": MODEL.n_vertices, "tangent_vertex": 0}}}
    with pytest.raises(MeshPlacementError, match="outside"):
        mesh_placements_from_dict(bad, MODEL.n_vertices)
    with pytest.raises(MeshPlacementError, match="missing key"):
        mesh_placements_from_dict({"mesh_placements": {"w": {"vertex": 1}}}, MODEL.n_vertices)
    with pytest.raises(MeshPlacementError, match="right-handed"):
        MeshPlacement("w", "", (1,), (2,), axes=("+x", "+y", "-z"))


@pytest.mark.skipif(not os.environ.get("CI") and __import__("importlib").util.find_spec("smplx") is None,
                    reason="needs the optional extra imusynth[smpl] (torch, smplx)")
def test_smplx_mesh_of_a_rigid_body_is_rigid() -> None:
    from imusynth.body.smpl.fit import posed_vertices

    t = np.arange(0.0, 1.0, 1.0 / 30.0)
    R, transl, _ = _rigid_motion(t, 0.8, 0.5, 1.3)
    pose = np.zeros((t.size, 72))
    pose[:, :3] = Rotation.from_matrix(R).as_rotvec()
    verts, _ = posed_vertices(MODEL, np.zeros(10), pose, transl)
    # smplx applies the root rotation about the root joint, then transl: the closed form of the tests above
    # (smplx keeps the model arrays through float32: 1e-6 m)
    np.testing.assert_allclose(verts, _rigid_vertices(R, transl), atol=1e-6)


@pytest.mark.skipif(not os.environ.get("CI") and __import__("importlib").util.find_spec("smplx") is None,
                    reason="needs the optional extra imusynth[smpl] (torch, smplx)")
def test_fit_sensors_skin_only_what_they_need(rng: np.random.Generator) -> None:
    from imusynth.body.smpl.fit import SmplFit, fit_sensor_motion, fit_sensor_trajectories, posed_vertices

    T = 6
    pose = rng.normal(0.0, 0.3, (T, 72))
    transl = rng.normal(0.0, 0.5, (T, 3))
    betas = rng.normal(0.0, 1.0, 10)
    fit = SmplFit(betas=betas, global_orient=pose[:, :3], body_pose=pose[:, 3:], transl=transl,
                  joints=np.zeros((T, 24, 3)), residual_3d_m=np.zeros((T, 1)), residual_2d_px=None,
                  correspondences=("x",), loss=0.0, loss_history=(), n_iterations=0, n_evaluations=0,
                  fit_time_s=0.0, settings={})
    pl = list(builtin_mesh_placements(MODEL, ["wrist", "thigh", "chest"]).values())
    light = fit_sensor_trajectories(MODEL, fit, pl)
    full = mesh_sensor_trajectories(posed_vertices(MODEL, betas, pose, transl)[0], MODEL.faces, pl)
    for p in pl:
        # the same skinning (smplx keeps the model in float32 on its side: 1e-6)
        np.testing.assert_allclose(light[p.name][0], full[p.name][0], atol=1e-6)
        np.testing.assert_allclose(light[p.name][1], full[p.name][1], atol=1e-5)
    motion, placements = fit_sensor_motion(MODEL, fit, np.arange(T) / 30.0, pl)
    assert motion.names[:3] == ("wrist.o", "wrist.x", "wrist.y") and placements[0].name == "wrist"
    assert "mesh: vertices" in placements[0].description
