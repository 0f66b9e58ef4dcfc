"""The Anny body model (the real model from the ``anny`` wheel, extra ``imusynth[body]``): rest geometry,
the body function against Anny's own forward pass, the fit, and skin-mounted sensors in closed form."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("anny")
torch = pytest.importorskip("torch")

from imusynth.body.anny.fit import (  # noqa: E402
    anny_record,
    anny_rest,
    fit_anny,
    fit_sensor_motion,
    landmarks_from_anny,
)
from imusynth.body.anny.model import FITTED_BONES, AnnyBody, load_anny  # noqa: E402
from imusynth.body.anny.placements import ANNY_ANCHORS, anny_mesh_placements  # noqa: E402
from imusynth.body.smpl.fit import SmplFit  # noqa: E402
from imusynth.core.conventions import G0  # noqa: E402
from imusynth.core.sensors import simulate  # noqa: E402

F = len(FITTED_BONES)


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return load_anny()


def _fit_of(betas, pose, transl):  # type: ignore[no-untyped-def]
    T = pose.shape[0]
    return SmplFit(
        betas=np.asarray(betas, float),
        global_orient=pose[:, :3],
        body_pose=pose[:, 3:],
        transl=transl,
        joints=np.zeros((T, F, 3)),
        residual_3d_m=np.zeros((T, 1)),
        residual_2d_px=None,
        correspondences=("x",),
        loss=0.0,
        loss_history=(),
        n_iterations=0,
        n_evaluations=0,
        fit_time_s=0.0,
        settings={},
    )


def test_rest_height_and_segments(model) -> None:  # type: ignore[no-untyped-def]
    rest = anny_rest(model)
    height = rest.vertices[:, 2].max() - rest.vertices[:, 2].min()
    assert 1.55 < height < 1.80  # measured 1.626 m (default phenotype: an average adult)
    labels = list(model.bone_labels)

    def seg(a: str, b: str) -> float:
        return float(np.linalg.norm(rest.heads[labels.index(a)] - rest.heads[labels.index(b)]))

    # plausible adult ranges, m (measured: 0.392, 0.402, 0.253, 0.227, 0.323, 0.204)
    assert 0.33 < seg("upperleg01.L", "lowerleg01.L") < 0.50  # femur
    assert 0.33 < seg("lowerleg01.L", "foot.L") < 0.48  # tibia
    assert 0.22 < seg("upperarm01.L", "lowerarm01.L") < 0.36  # humerus
    assert 0.19 < seg("lowerarm01.L", "wrist.L") < 0.30  # forearm
    assert 0.28 < seg("upperarm01.L", "upperarm01.R") < 0.42  # shoulder width
    assert 0.15 < seg("upperleg01.L", "upperleg01.R") < 0.30  # hip-joint width
    # symmetric rest body: left mirrors right
    for a in ("upperleg01", "lowerleg01", "wrist", "upperarm01"):
        L, R = rest.heads[labels.index(f"{a}.L")], rest.heads[labels.index(f"{a}.R")]
        np.testing.assert_allclose(L * [-1, 1, 1], R, atol=1e-9)


def test_body_function_matches_anny_forward_and_jacobian(model) -> None:  # type: ignore[no-untyped-def]
    body = AnnyBody(model, ["upperleg01.L", "lowerleg01.L", "wrist.L", "head"], [297, 12006, 5000, 9000])
    g = torch.Generator().manual_seed(0)
    dt = torch.float64
    T = 3
    pose = 0.4 * torch.randn(T, 3 * F, generator=g, dtype=dt)
    transl = torch.randn(T, 3, generator=g, dtype=dt)
    betas = 0.2 * torch.randn(6, generator=g, dtype=dt)
    res = body(betas, pose, transl, jacobian=True)
    # Anny's own forward pass with the same pose in its "local-ref" parameterisation
    m = model.module
    ph = (0.5 + betas)[None]
    rest = m.get_rest_model(model.coefficients(ph))
    A = body.bone_transforms(betas, pose, transl)
    params = m.get_pose_parameterization(
        {
            "rest_bone_poses": rest["rest_bone_poses"].expand(T, -1, -1, -1),
            "bone_poses": A @ rest["rest_bone_poses"],
        },
        "local-ref",
    )
    out = m(pose_parameters=params, phenotype_kwargs=ph.expand(T, -1))
    np.testing.assert_allclose(
        out["vertices"][:, body.vertex_ids].numpy(), res.points[:, 4:].numpy(), atol=1e-9
    )
    heads = (A[:, :, :3, :3] @ rest["rest_bone_heads"][0, :, :, None])[..., 0] + A[:, :, :3, 3]
    np.testing.assert_allclose(heads[:, body.joint_ids].numpy(), res.points[:, :4].numpy(), atol=1e-9)
    # the closed-form pose Jacobian against central differences
    assert res.jac_x is not None and res.jac_b is not None
    h = 1e-6
    for k in range(0, 3 * F + 3, 5):
        e = torch.zeros(3 * F + 3, dtype=dt)
        e[k] = h
        fd = (
            body(betas, pose + e[: 3 * F], transl + e[3 * F :]).points
            - body(betas, pose - e[: 3 * F], transl - e[3 * F :]).points
        ) / (2 * h)
        np.testing.assert_allclose(res.jac_x[..., k].numpy(), fd.numpy(), atol=1e-7)
    e = torch.zeros(6, dtype=dt)
    e[4] = 1e-4
    fd = (body(betas + e, pose, transl).points - body(betas - e, pose, transl).points) / 2e-4
    np.testing.assert_allclose(res.jac_b[..., 4].numpy(), fd.numpy(), atol=1e-5)  # forward differences


def test_fit_recovers_known_motion(model) -> None:  # type: ignore[no-untyped-def]
    T = 40
    rng = np.random.default_rng(0)
    t = np.arange(T) / 30.0
    pose = np.zeros((T, 3 * F))
    pose[:, 3:] = (
        0.3 * np.sin(2 * np.pi * t[:, None] + rng.uniform(0, 6, 3 * F - 3)) * rng.uniform(0, 1, 3 * F - 3)
    )
    pose[:, :3] = [0.1, 0.2, 0.3]
    transl = np.stack([0.5 * t, 0 * t, 0.9 + 0 * t], 1)
    betas = np.array([0.1, -0.1, 0.0, 0.05, 0.2, -0.1])
    lm = landmarks_from_anny(model, betas, pose, transl)
    fit = fit_anny(lm, None, None, None, model, n_iters=15)
    rmse = float(np.sqrt(np.nanmean(fit.residual_3d_m**2)))
    assert rmse < 0.005  # measured 2 mm
    truth = landmarks_from_anny(model, betas, pose, transl)
    again = landmarks_from_anny(model, fit.betas, fit.pose, fit.transl)
    assert np.nanmax(np.linalg.norm(truth - again, axis=-1)) < 0.03
    rec = anny_record(fit, model)
    assert rec.attrs["body_model"] == "Anny" and rec.attrs["anny_version"] == "0.6.2"
    assert rec.datasets["body_pose"].shape == (T, 3 * F - 3)


def test_placements_resolve_with_outward_normals(model) -> None:  # type: ignore[no-untyped-def]
    pl = anny_mesh_placements(anny_rest(model))
    assert set(ANNY_ANCHORS) | {"wrist"} == set(pl)
    T = 3
    fit = _fit_of(np.zeros(6), np.zeros((T, 3 * F)), np.zeros((T, 3)))
    from imusynth.body.anny.fit import fit_sensor_trajectories

    traj = fit_sensor_trajectories(model, fit, list(pl.values()))
    # the surface normal (sensor z for these placements) points out of the body
    fwd = np.array([0.0, -1.0, 0.0])
    for name in ("chest", "waist", "left_thigh", "right_shank", "head"):
        assert traj[name][1][0, :, 2] @ fwd > 0.8, name
    assert traj["left_foot"][1][0, :, 2] @ [0, 0, 1] > 0.8
    assert traj["left_wrist"][1][0, :, 2] @ [0.754, -0.009, 0.657] > 0.7
    # the phone: y up, z forward and to the right
    R = traj["thigh"][1][0]
    assert R[:, 1] @ [0, 0, 1] > 0.9 and R[:, 2] @ fwd > 0.8


def _signals(model, pose, transl, names, rate):  # type: ignore[no-untyped-def]
    T = pose.shape[0]
    time = np.arange(T) / rate
    pl = anny_mesh_placements(anny_rest(model), names)
    motion, placements = fit_sensor_motion(model, _fit_of(np.zeros(6), pose, transl), time, list(pl.values()))
    sig = simulate(motion, placements, rate_hz=rate, require_valid=False)
    return sig, motion


def test_rest_sensors_read_gravity_on_their_up_axis(model) -> None:  # type: ignore[no-untyped-def]
    T = 60
    names = ["thigh", "chest", "wrist", "left_foot"]
    sig, _ = _signals(model, np.zeros((T, 3 * F)), np.zeros((T, 3)), names, 30.0)
    # the up axis reads most of +g; the rest surface is tilted (measured: the sternum slopes back by 26 deg,
    # the dorsum of the mid-foot by 36 deg)
    for name, up, cos_tilt in (("thigh", 1, 0.95), ("chest", 0, 0.85), ("left_foot", 2, 0.75)):
        acc = sig[name].acc[5:-5]
        np.testing.assert_allclose(np.linalg.norm(acc, axis=1), G0, atol=1e-6)
        q = sig[name].orientation[10]
        from scipy.spatial.transform import Rotation

        Rws = Rotation.from_quat([q[1], q[2], q[3], q[0]]).as_matrix()
        np.testing.assert_allclose(acc[10], Rws.T @ [0, 0, G0], atol=1e-6)  # R^T (a - g), a = 0
        assert acc[10, up] > cos_tilt * G0, name
        np.testing.assert_allclose(sig[name].gyro[5:-5], 0.0, atol=1e-9)


def test_rigid_rotation_about_vertical_gives_closed_form_signals(model) -> None:  # type: ignore[no-untyped-def]
    rate, T, w = 100.0, 300, 1.5  # rad/s about the vertical through the root
    t = np.arange(T) / rate
    pose = np.zeros((T, 3 * F))
    pose[:, 2] = w * t
    sig, motion = _signals(model, pose, np.zeros((T, 3)), ["thigh", "wrist"], rate)
    root = anny_rest(model).heads[0]
    from scipy.spatial.transform import Rotation

    for name in ("thigh", "wrist"):
        s = sig[name]
        k = slice(20, -20)
        q = s.orientation[k]
        Rws = Rotation.from_quat(np.stack([q[:, 1], q[:, 2], q[:, 3], q[:, 0]], 1)).as_matrix()
        gyro = np.einsum("tji,j->ti", Rws, [0.0, 0.0, w])
        np.testing.assert_allclose(s.gyro[k], gyro, atol=2e-3 * w)
        o = motion.xyz[k, motion.names.index(f"{name}.o")]
        r = o - root
        r[:, 2] = 0.0
        a = -(w**2) * r + [0.0, 0.0, G0]  # centripetal + gravity's specific force
        np.testing.assert_allclose(s.acc[k], np.einsum("tji,tj->ti", Rws, a), atol=2e-3 * G0)


def test_warp_is_not_needed() -> None:
    """anny requires warp-lang, but imusynth never uses it: with warp hidden, Anny loads and poses."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['warp'] = None\n"
        "import numpy as np\n"
        "from imusynth.body.anny.fit import landmarks_from_anny\n"
        "from imusynth.body.anny.model import load_anny\n"
        "lm = landmarks_from_anny(load_anny(), np.zeros(6), np.zeros((2, 57)), np.zeros((2, 3)))\n"
        "assert np.isfinite(lm[:, 0]).all()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_motion_landmarks_by_name(model) -> None:  # type: ignore[no-untyped-def]
    """A motion named like MediaPipe's landmarks gives the landmarks back (knuckles: their mean)."""
    from imusynth.body.anny.motion import motion_landmarks
    from imusynth.core.motion import Motion
    from imusynth.core.skeletons import MEDIAPIPE_33

    T = 5
    lm = landmarks_from_anny(model, np.zeros(6), np.zeros((T, 3 * F)), np.zeros((T, 3)))
    keep = np.isfinite(lm[0, :, 0])
    names = tuple(n for n, k in zip(MEDIAPIPE_33, keep, strict=True) if k)
    motion = Motion(time=np.arange(T) / 30.0, names=names, xyz=lm[:, keep], source="test", skeleton=None)
    L, W = motion_landmarks(motion)
    for i in (0, 11, 15, 23, 25, 27, 29, 31):     # nose, shoulder, wrist, hip, knee, ankle, heel, foot index
        np.testing.assert_allclose(L[:, i], lm[:, i], atol=1e-9)
        assert (W[:, i] == 1.0).all()
    np.testing.assert_allclose(L[:, [17, 19]].mean(axis=1), lm[:, [17, 19]].mean(axis=1), atol=1e-9)
