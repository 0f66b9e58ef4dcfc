"""SMPL fitting on the synthetic model: smplx agreement, exact derivatives, recovery of known poses."""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

if os.environ.get("CI"):  # CI installs the smpl extra: a missing torch/smplx must fail there
    import smplx  # noqa: F401
    import torch
else:
    pytest.importorskip("smplx", reason="needs the optional extra imusynth[smpl] (torch, smplx)")
    import torch

from imusynth.body.smpl import fit as F
from imusynth.body.smpl._lbs import SubsetLBS
from imusynth.body.smpl.synthetic import synthetic_model, synthetic_motion
from imusynth.errors import InputError

MODEL = synthetic_model()
#: Segments whose world orientation the 33 landmarks determine (with the knee/elbow/wrist prior):
#: thighs, shanks, feet, head, upper arms, forearms, hands (SMPL joints rotating them).
OBSERVED = (1, 2, 4, 5, 7, 8, 15, 16, 17, 18, 19, 20, 21)


def _world_rotations(pose: np.ndarray) -> np.ndarray:
    T = pose.shape[0]
    R = Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix().reshape(T, 24, 3, 3)
    G = np.empty_like(R)
    G[:, 0] = R[:, 0]
    for k in range(1, 24):
        G[:, k] = G[:, MODEL.parents[k]] @ R[:, k]
    return G


def _angle_deg(Ga: np.ndarray, Gb: np.ndarray) -> np.ndarray:
    rel = np.einsum("...ji,...jk->...ik", Ga, Gb)
    return np.degrees(Rotation.from_matrix(rel.reshape(-1, 3, 3)).magnitude()).reshape(rel.shape[:-2])


def _clip(n_frames: int, seed: int = 3):
    mot = synthetic_motion(n_frames, seed=seed)
    lm = F.landmarks_from_smpl(MODEL, mot.betas, mot.pose, mot.transl)
    return mot, lm


def test_subset_lbs_equals_smplx(rng: np.random.Generator) -> None:
    ids = sorted(MODEL.vertex_ids.values())
    lbs = SubsetLBS(MODEL, ids, num_betas=10)
    pose = rng.normal(0.0, 0.5, (4, 72))
    transl = rng.normal(0.0, 1.0, (4, 3))
    betas = rng.normal(0.0, 1.0, 10)
    verts, joints = F.posed_vertices(MODEL, betas, pose, transl)
    out = lbs(torch.as_tensor(betas), torch.as_tensor(pose), torch.as_tensor(transl)).points.numpy()
    # smplx stores the model arrays through float32 (its to_np), so agreement is to ~1e-7 relative: 1e-6 m
    np.testing.assert_allclose(out[:, :24], joints, atol=1e-6)
    np.testing.assert_allclose(out[:, 24:], verts[:, ids], atol=1e-6)


def test_lbs_jacobian_matches_autograd(rng: np.random.Generator) -> None:
    ids = sorted(MODEL.vertex_ids.values())[:6]
    lbs = SubsetLBS(MODEL, ids, num_betas=10)
    T = 2
    pose = torch.as_tensor(rng.normal(0.0, 0.6, (T, 72)))
    transl = torch.as_tensor(rng.normal(0.0, 1.0, (T, 3)))
    betas = torch.as_tensor(rng.normal(0.0, 1.0, 10))
    res = lbs(betas, pose, transl, jacobian=True)
    X = torch.cat([pose, transl], dim=1)
    jx = torch.autograd.functional.jacobian(lambda x: lbs(betas, x[:, :72], x[:, 72:]).points, X)
    jx = torch.stack([jx[t, :, :, t] for t in range(T)])
    jb = torch.autograd.functional.jacobian(lambda b: lbs(b, pose, transl).points, betas)
    # the closed form uses the exact right Jacobian of SO(3); smplx's Rodrigues adds 1e-8 to the rotation
    # vector, so the two differ by ~1e-8 relative: 1e-7 absolute (entries are O(1) m/rad)
    assert res.jac_x is not None and res.jac_b is not None
    np.testing.assert_allclose(res.jac_x.numpy(), jx.numpy(), atol=1e-7)
    np.testing.assert_allclose(res.jac_b.numpy(), jb.numpy(), atol=1e-7)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # torch's jvp
def test_normal_equations_match_autograd(rng: np.random.Generator) -> None:
    T = 4
    corr = F.MEDIAPIPE_TO_SMPL
    C = len(corr)
    K = np.array([[900.0, 0.0, 320.0], [0.0, 880.0, 240.0], [0.0, 0.0, 1.0]])
    Rc = np.broadcast_to(Rotation.from_euler("x", -100.0, degrees=True).as_matrix(), (T, 3, 3))
    tc = np.broadcast_to(np.array([0.0, 0.5, 4.0]), (T, 3))
    two_d = (rng.normal(300.0, 40.0, (T, C, 2)), rng.uniform(0.2, 1.0, (T, C)), K, Rc, tc)
    prob = F._Problem(MODEL, corr, rng.normal(0.0, 0.5, (T, C, 3)), rng.uniform(0.2, 1.0, (T, C)), two_d,
                      nb=10, smooth_weight=0.5, reproj_weight=2.0, pose_prior_weight=1e-2,
                      shape_prior_weight=1e-2)
    betas = torch.as_tensor(rng.normal(0.0, 1.0, 10))
    pose = torch.as_tensor(rng.normal(0.0, 0.4, (T, 72)))
    transl = torch.as_tensor(rng.normal(0.0, 0.3, (T, 3)))
    prob.update_depths(betas, pose, transl)
    tm = prob.terms(betas, pose, transl, jacobian=True)
    ne = prob.normal_equations(tm, betas, pose)

    def residuals(x: torch.Tensor) -> torch.Tensor:
        p = x[: T * 75].reshape(T, 75)
        b = x[T * 75:]
        t = prob.terms(b, p[:, :72], p[:, 72:], jacobian=False)
        w = torch.sqrt(torch.as_tensor(prob.prior_w))
        return torch.cat([t.r_data.reshape(-1), t.r_smooth.reshape(-1), t.r_psmooth.reshape(-1),
                          (prob.k_pp * w * p[:, 3:72]).reshape(-1), prob.k_sh * b])

    x0 = torch.cat([torch.cat([pose, transl], dim=1).reshape(-1), betas])
    n = T * 75
    dense = np.zeros((n, n))
    for t in range(T):
        dense[75 * t: 75 * t + 75, 75 * t: 75 * t + 75] = ne.D[t].numpy()
        for d, E in ((1, ne.E1), (2, ne.E2)):
            if t + d < T:
                dense[75 * t: 75 * t + 75, 75 * (t + d): 75 * (t + d) + 75] = E[t].numpy()
                dense[75 * (t + d): 75 * (t + d) + 75, 75 * t: 75 * t + 75] = E[t].numpy().T
    Hxb = ne.Hxb.numpy().reshape(n, -1)
    H = np.block([[dense, Hxb], [Hxb.T, ne.Hbb.numpy()]])
    g = np.concatenate([ne.gx.numpy().reshape(-1), ne.gb.numpy()])
    # against automatic differentiation of the same residuals, along random directions:
    # g = J^T r (reverse mode) and H v = J^T (J v) (forward then reverse mode). The closed form uses the
    # exact SO(3) Jacobian, smplx's Rodrigues adds 1e-8 to the rotation vector: agreement to 1e-7 relative
    r0, vjp = torch.func.vjp(residuals, x0)  # type: ignore[misc]
    np.testing.assert_allclose(g, vjp(r0)[0].numpy(), rtol=0, atol=1e-7 * np.abs(g).max())
    for _ in range(3):
        v = torch.as_tensor(rng.normal(0.0, 1.0, x0.shape[0]))
        Jv = torch.func.jvp(residuals, (x0,), (v,))[1]
        Hv = vjp(Jv)[0].numpy()
        np.testing.assert_allclose(H @ v.numpy(), Hv, rtol=0, atol=1e-7 * np.abs(Hv).max())
    assert np.isclose(tm.energy, float((r0**2).sum()), rtol=1e-12)


def test_block_cholesky_solves_the_system(rng: np.random.Generator) -> None:
    T, n = 7, 5
    # L L^T with L block-lower-triangular of block bandwidth 2 is definite and block-pentadiagonal
    Lf = np.zeros((T * n, T * n))
    for t in range(T):
        for d in range(3):
            if t - d >= 0:
                blk = rng.normal(size=(n, n))
                blk = np.tril(blk) + 3 * np.eye(n) if d == 0 else blk
                Lf[n * t: n * t + n, n * (t - d): n * (t - d) + n] = blk
    dense = Lf @ Lf.T

    def block(t: int, s: int) -> np.ndarray:
        return dense[n * t: n * t + n, n * s: n * s + n]

    D = torch.as_tensor(np.stack([block(t, t) for t in range(T)]))
    E1 = torch.as_tensor(np.stack([block(t, t + 1) for t in range(T - 1)]))
    E2 = torch.as_tensor(np.stack([block(t, t + 2) for t in range(T - 2)]))
    B = rng.normal(size=(T, n, 3))
    factor = F._block_cholesky(D, E1, E2)
    assert factor is not None
    x = F._block_solve(factor, torch.as_tensor(B)).numpy()
    # a direct method in float64 on a well-conditioned system: rounding-level agreement
    np.testing.assert_allclose(x.reshape(T * n, 3), np.linalg.solve(dense, B.reshape(T * n, 3)), atol=1e-9)
    assert F._block_cholesky(-D, E1, E2) is None  # not definite: reported, not raised


def test_fit_recovers_known_poses() -> None:
    mot, lm = _clip(40)
    fit = F.fit_clip(lm, None, None, None, MODEL, n_iters=40, torch_threads=1)
    # noise-free landmarks: only the priors (pose L2 1e-3, smoothness 0.3) pull away from them
    assert np.sqrt(np.nanmean(fit.residual_3d_m**2)) < 1e-3
    Gt, Gf = _world_rotations(mot.pose), _world_rotations(fit.pose)
    err = dict(zip(OBSERVED, _angle_deg(Gt[:, OBSERVED], Gf[:, OBSERVED]).max(axis=0), strict=True))
    # segments the landmarks determine come back: legs and head within 1.5 deg (measured: under 1.1);
    # arms within 3 deg (measured: 2.0): an arm's twist is seen only through the elbow's bend (>= 0.45 rad
    # here) and the thumb, so the L2 prior on the shoulder biases it by a degree or two
    legs_head = [err[j] for j in (1, 2, 4, 5, 7, 8, 15)]
    arms = [err[j] for j in (16, 17, 18, 19, 20, 21)]
    assert max(legs_head) < 1.5 and max(arms) < 3.0, {k: round(float(v), 2) for k, v in err.items()}
    verts_t, _ = F.posed_vertices(MODEL, mot.betas, mot.pose, mot.transl)
    verts_f = F.fit_vertices(MODEL, fit)
    owner = np.argmax(MODEL.weights, axis=1)
    limb = np.isin(owner, OBSERVED)
    # the skin of those segments within 1 cm (girth, beta 3, is seen only through the face/foot vertices)
    assert np.linalg.norm(verts_t[:, limb] - verts_f[:, limb], axis=-1).max() < 0.01
    # the pelvis pitch is not observable (hips can counter-rotate it): only its position is checked
    np.testing.assert_allclose(fit.joints[:, 0], _joints(mot)[:, 0], atol=0.01)
    assert fit.n_iterations > 0 and fit.loss_history[-1] <= fit.loss_history[0]


def _joints(mot) -> np.ndarray:
    return F.posed_vertices(MODEL, mot.betas, mot.pose, mot.transl)[1]


def test_fit_smooths_landmark_noise(rng: np.random.Generator) -> None:
    mot, lm = _clip(60, seed=5)
    sigma = 0.01
    noisy = lm + rng.normal(0.0, sigma, lm.shape)
    fit = F.fit_clip(noisy, None, None, None, MODEL, n_iters=25, torch_threads=1)
    truth = _joints(mot)
    used = sorted({int(c.target) for c in F.MEDIAPIPE_TO_SMPL if c.kind == "joint"})
    err = np.linalg.norm(fit.joints[:, used] - truth[:, used], axis=-1)
    raw = sigma * np.sqrt(3.0)  # RMS 3-D error of one noisy landmark
    # white noise through the smoothness prior alone, landmark by landmark, keeps sqrt(mean |H(f)|^2) of its
    # RMS, H(f) = 1 / (1 + w (2 sin(pi f dt))^4) (0.63 for w = 0.3); the fit must do at least that well
    # (it shares one skeleton and shape between the landmarks; measured 0.49)
    f = np.linspace(0.0, 0.5, 20001)
    keep = np.sqrt(np.mean((1.0 / (1.0 + 0.3 * (2.0 * np.sin(np.pi * f)) ** 4)) ** 2))
    assert np.sqrt(np.mean(err**2)) < keep * raw


def test_fit_with_reprojection_fixes_depth_noise(rng: np.random.Generator) -> None:
    mot, lm = _clip(40, seed=7)
    K = np.array([[1000.0, 0.0, 640.0], [0.0, 1000.0, 360.0], [0.0, 0.0, 1.0]])
    # a camera 5 m away looking at the walk area: world z up -> camera y down, camera z = world +y
    Rc = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    tc = np.array([-1.0, 1.0, 5.0])
    pc = lm @ Rc.T + tc
    xy = pc[..., :2] / pc[..., 2:] @ K[:2, :2].T + K[:2, 2]
    # 3-D landmarks wrong along the viewing rays only (depth noise, 5 cm): the image is exact
    ray = pc / np.linalg.norm(pc, axis=-1, keepdims=True)
    noisy = ((pc + rng.normal(0.0, 0.05, lm.shape[:2])[..., None] * ray) - tc) @ Rc
    kw = dict(n_iters=30, torch_threads=1)
    fit3 = F.fit_clip(noisy, xy, None, K, MODEL, cam_rotation=Rc, cam_translation=tc, reproj_weight=0.0, **kw)
    fit2 = F.fit_clip(noisy, xy, None, K, MODEL, cam_rotation=Rc, cam_translation=tc, reproj_weight=10.0,
                      **kw)
    assert fit2.residual_2d_px is not None and fit3.residual_2d_px is not None
    rms2 = np.sqrt(np.nanmean(fit2.residual_2d_px**2))
    rms3 = np.sqrt(np.nanmean(fit3.residual_2d_px**2))
    # the image term pulls the model onto the exact 2-D landmarks: sub-pixel, and well below 3-D only
    # (measured 0.45 px against 1.66 px)
    assert rms2 < 1.0 and rms2 < 0.5 * rms3, (rms2, rms3)
    truth = _joints(mot)
    e2 = np.linalg.norm(fit2.joints - truth, axis=-1).mean()
    e3 = np.linalg.norm(fit3.joints - truth, axis=-1).mean()
    assert e2 < e3


def test_missing_landmarks_and_bad_input() -> None:
    _, lm = _clip(12)
    lm = lm.copy()
    lm[4:7, 15:23] = np.nan  # a hand lost for three frames: bridged by the smoothness prior
    fit = F.fit_clip(lm, None, None, None, MODEL, n_iters=10, torch_threads=1)
    assert np.isnan(fit.residual_3d_m[5, fit.correspondences.index("left_wrist")])
    assert np.all(np.isfinite(fit.body_pose))
    with pytest.raises(InputError, match=r"\(T, 33, 3\)"):
        F.fit_clip(lm[:, :20], None, None, None, MODEL)
    with pytest.raises(InputError, match="intrinsics"):
        F.fit_clip(lm, lm[..., :2], None, None, MODEL)
    torso_gone = lm.copy()
    torso_gone[:, [11, 12, 23, 24]] = np.nan
    with pytest.raises(InputError, match="torso"):
        F.fit_clip(torso_gone, None, None, None, MODEL)
    with pytest.raises(InputError, match="smooth_weight"):
        F.fit_clip(lm, None, None, None, MODEL, smooth_weight=-1.0)


def test_clip_record_and_smoothing_cutoff() -> None:
    _, lm = _clip(10)
    fit = F.fit_clip(lm, None, None, None, MODEL, n_iters=3, torch_threads=1)
    rec = F.clip_record(fit, MODEL)
    assert rec.datasets["body_pose"].shape == (10, 69) and rec.datasets["betas"].shape == (10,)
    assert rec.attrs["smplx_version"] == F.smplx_version() and rec.attrs["body_model"] == "SMPL"
    assert '"left_wrist"' in str(rec.attrs["correspondences"])
    # the smoothness response 1/(1 + w (2 sin(pi f/rate))^4) is 1/2 at the cut-off
    w = F.smooth_weight_for_cutoff(5.0, 30.0)
    assert np.isclose(1.0 / (1.0 + w * (2.0 * np.sin(np.pi * 5.0 / 30.0)) ** 4), 0.5)
    assert np.isclose(F.smooth_weight_for_cutoff(5.0, 30.0), 1.0)
