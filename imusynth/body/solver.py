"""Levenberg-Marquardt for a body model fitted to a clip: one shape, a pose and a translation per frame.

Nothing here knows SMPL. A body model plugs in through two seams:

* a *body function* (:class:`BodyFunction`): parameters -> model points with their exact Jacobians,
  ``(betas (B,), pose (T, P) rad, transl (T, 3) m) -> points (T, Q, 3) m``, ``jac_x (T, Q, 3, P + 3)``
  (d points / d [pose, transl] of the same frame) and ``jac_b (T, Q, 3, B)`` (d points / d betas);
* an *objective* (:class:`Objective`) built on it: residual blocks and energy at an iterate
  (``terms``), their Gauss-Newton normal equations in block form (``normal_equations``, a :class:`Normal`),
  and ``prior_scale`` / ``damping_floor``. :class:`imusynth.body.smpl.objective._Problem` is SMPL's.

What this module gives every model:

* :func:`rigid_init`: per-frame rotation and translation of rest-pose points onto their targets
  (weighted Kabsch), the start for the root; frames without enough points borrow from their neighbours.
* The temporal prior, a penalty on second differences over frames: :func:`second_difference` (the
  residual), :func:`smooth_coefficients` (the weights of its normal matrix), :func:`add_point_smoothness`
  and :func:`add_parameter_smoothness` (its blocks in the normal equations). On a single point it is a
  zero-phase low-pass filter with response ``1 / (1 + w (2 sin(pi f dt))^4)``.
* The linear algebra: the normal matrix of the per-frame unknowns is block-pentadiagonal (the temporal
  prior couples frames up to two apart) and is factorised by block rows (:func:`block_cholesky`,
  :func:`block_solve`); the shared betas are eliminated by a Schur complement (:func:`damped_step`).
* :func:`levenberg_marquardt`: Gauss-Newton with Nielsen's damping on all unknowns at once. A first third
  of the iterations holds the betas and multiplies the pose prior by 10 (it settles the limbs before the
  shape moves). Deterministic (float64, no randomness).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np
import torch
from numpy.typing import NDArray

from imusynth.errors import InputError

__all__ = [
    "BodyFunction", "BodyPoints", "LmResult", "Normal", "Objective", "add_parameter_smoothness",
    "add_point_smoothness", "block_cholesky", "block_solve", "damped_step", "levenberg_marquardt",
    "rigid_init", "second_difference", "single_thread", "smooth_coefficients",
]


class BodyPoints(Protocol):
    """Model points of all frames and, on request, their Jacobians (see the module docstring for shapes)."""

    @property
    def points(self) -> torch.Tensor: ...

    @property
    def jac_x(self) -> torch.Tensor | None: ...

    @property
    def jac_b(self) -> torch.Tensor | None: ...


class BodyFunction(Protocol):
    """A body model as a function from parameters to points (SMPL's: :class:`.smpl._lbs.SubsetLBS`)."""

    def __call__(self, betas: torch.Tensor, pose: torch.Tensor, transl: torch.Tensor, *,
                 jacobian: bool = False) -> BodyPoints: ...


@dataclass
class Normal:
    """Gauss-Newton normal equations: the frames' unknowns (n per frame) couple frames up to 2 apart.

    Attributes
    ----------
    D : Tensor, shape (T, n, n)
        Diagonal blocks ``H_(t, t)``.
    E1, E2 : Tensor, shape (T-1, n, n) and (T-2, n, n)
        Off-diagonal blocks ``H_(t, t+1)`` and ``H_(t, t+2)`` (the lower ones are their transposes).
    Hxb : Tensor, shape (T, n, B)
        Coupling of each frame's unknowns with the betas.
    Hbb : Tensor, shape (B, B)
    gx : Tensor, shape (T, n)
    gb : Tensor, shape (B,)
    """

    D: torch.Tensor
    E1: torch.Tensor
    E2: torch.Tensor
    Hxb: torch.Tensor
    Hbb: torch.Tensor
    gx: torch.Tensor
    gb: torch.Tensor


class _HasEnergy(Protocol):
    @property
    def energy(self) -> float: ...


TermsT = TypeVar("TermsT", bound=_HasEnergy)


class Objective(Protocol[TermsT]):
    """What :func:`levenberg_marquardt` needs from a model's objective.

    ``terms`` returns the residual blocks at an iterate (anything with an ``energy``, the objective value);
    ``normal_equations`` their ``J^T J`` and ``J^T r`` including the pose prior at ``prior_scale`` times its
    weight; ``update_depths`` refreshes what is held fixed for one iteration (e.g. the depths of a 2-D
    term); ``damping_floor`` is the smallest damping of a per-frame unknown.
    """

    prior_scale: float
    damping_floor: float

    def update_depths(self, betas: torch.Tensor, pose: torch.Tensor, transl: torch.Tensor) -> None: ...

    def terms(self, betas: torch.Tensor, pose: torch.Tensor, transl: torch.Tensor, *,
              jacobian: bool) -> TermsT: ...

    def normal_equations(self, tm: TermsT, betas: torch.Tensor, pose: torch.Tensor) -> Normal: ...


# --------------------------------------------------------------------------------------------------
# Initialisation
# --------------------------------------------------------------------------------------------------


def rigid_init(rest: NDArray[np.float64], targets: NDArray[np.float64], weights: NDArray[np.float64],
               columns: Sequence[int], root: NDArray[np.float64], *, points: str = "points"
               ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-frame rotation and translation carrying rest-pose points onto their targets (weighted Kabsch).

    Parameters
    ----------
    rest : ndarray, shape (K, 3), m
        The points in the rest pose (e.g. the torso joints).
    targets : ndarray, shape (T, C, 3), m
        Targets of all correspondences in each frame.
    weights : ndarray, shape (T, C)
        Their weights (0: missing). A frame needs at least 3 of ``columns`` with a weight above 0.
    columns : sequence of int, length K
        The correspondences that are the ``rest`` points.
    root : ndarray, shape (3,), m
        Rest position of the joint the rotation turns about: ``posed = R (x - root) + root + transl``.
    points : str
        What the points are, for the error message.

    Returns
    -------
    rotvec : ndarray, shape (T, 3), rad
        Axis-angle rotations; frames without 3 points take the nearest good frame's.
    transl : ndarray, shape (T, 3), m
        Translations; linearly interpolated over frames without 3 points.

    Raises
    ------
    InputError
        No frame has 3 points with a weight above 0.
    """
    from scipy.spatial.transform import Rotation

    M = rest
    T = targets.shape[0]
    rotvec = np.zeros((T, 3))
    transl = np.zeros((T, 3))
    good = np.zeros(T, dtype=bool)
    for t in range(T):
        wt = weights[t, columns]
        if np.count_nonzero(wt > 0) < 3:
            continue
        P = targets[t, columns]
        mc = (wt @ M) / wt.sum()
        pc = (wt @ P) / wt.sum()
        H = ((M - mc) * wt[:, None]).T @ (P - pc)
        U, _, Vt = np.linalg.svd(H)
        d = np.sign(np.linalg.det(Vt.T @ U.T))
        R = Vt.T @ np.diag([1.0, 1.0, d]) @ U.T
        rotvec[t] = Rotation.from_matrix(R).as_rotvec()
        # posed = R (x - root) + root + transl  =>  transl = pc - R (mc - root) - root
        transl[t] = pc - R @ (mc - root) - root
        good[t] = True
    if not good.any():
        raise InputError(f"no frame has at least 3 of the {points} with a weight above 0")
    idx = np.arange(T)
    nearest = idx[good][np.abs(idx[:, None] - idx[good][None, :]).argmin(axis=1)]
    rotvec = rotvec[nearest]
    transl = np.stack([np.interp(idx, idx[good], transl[good, k]) for k in range(3)], axis=1)
    return rotvec, transl


# --------------------------------------------------------------------------------------------------
# Temporal prior: second differences over frames
# --------------------------------------------------------------------------------------------------


def second_difference(x: torch.Tensor) -> torch.Tensor:
    """``x[t+2] - 2 x[t+1] + x[t]`` along the first (frame) axis: shape (T-2, ...)."""
    return x[2:] - 2.0 * x[1:-1] + x[:-2]


def smooth_coefficients(T: int) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
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


Coefficients = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]


def add_point_smoothness(H: torch.Tensor, g: torch.Tensor, Js: torch.Tensor, r_smooth: torch.Tensor,
                         coefficients: Coefficients) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normal-equation blocks of a second-difference prior on points that depend on all unknowns.

    Parameters
    ----------
    H : Tensor, shape (T, N, N)
        Diagonal blocks so far (not modified).
    g : Tensor, shape (T, N)
        Gradient ``J^T r`` so far; the prior's part is added in place.
    Js : Tensor, shape (T, M, N)
        Weighted Jacobian of the smoothed points (M coordinates) per frame.
    r_smooth : Tensor, shape (T-2, M)
        The prior's residuals, ``weight * second_difference(points)``.
    coefficients : tuple of ndarray
        :func:`smooth_coefficients` of T.

    Returns
    -------
    H, H1, H2 : Tensor, shapes (T, N, N), (T-1, N, N), (T-2, N, N)
        The diagonal blocks with the prior added, and the prior's blocks ``(t, t+1)`` and ``(t, t+2)``.
    """
    c0, c1, c2 = coefficients
    JsT = Js.transpose(1, 2)
    H = H + torch.as_tensor(c0)[:, None, None] * (JsT @ Js)
    H1 = torch.as_tensor(c1)[:, None, None] * (JsT[:-1] @ Js[1:])
    H2 = torch.as_tensor(c2)[:, None, None] * (JsT[:-2] @ Js[2:])
    rs = r_smooth[..., None]
    g[:-2] += (JsT[:-2] @ rs)[..., 0]
    g[1:-1] -= 2.0 * (JsT[1:-1] @ rs)[..., 0]
    g[2:] += (JsT[2:] @ rs)[..., 0]
    return H, H1, H2


def add_parameter_smoothness(ne: Normal, index: torch.Tensor, weight: float, r_smooth: torch.Tensor,
                             coefficients: Coefficients) -> None:
    """Add a second-difference prior on some per-frame parameters to the normal equations, in place.

    The residuals ``weight * second_difference(x[:, index])`` are linear, so their curvature is constant:
    ``weight^2`` times the stencil weights on the diagonals of ``D``, ``E1`` and ``E2``.

    Parameters
    ----------
    ne : Normal
        Normal equations (``D``, ``E1``, ``E2`` and ``gx`` are modified).
    index : Tensor, shape (K,), int
        The smoothed parameters among a frame's unknowns.
    weight : float
        Square root of the prior's weight (residual units per parameter unit).
    r_smooth : Tensor, shape (T-2, K)
        The prior's residuals at the iterate.
    coefficients : tuple of ndarray
        :func:`smooth_coefficients` of T.
    """
    c0, c1, c2 = coefficients
    dt = ne.D.dtype
    k2 = weight**2
    ne.D[:, index, index] += k2 * torch.as_tensor(c0, dtype=dt)[:, None]
    ne.E1[:, index, index] += k2 * torch.as_tensor(c1, dtype=dt)[:, None]
    ne.E2[:, index, index] += k2 * torch.as_tensor(c2, dtype=dt)[:, None]
    rp = weight * r_smooth
    ne.gx[:-2, index] += rp
    ne.gx[1:-1, index] -= 2.0 * rp
    ne.gx[2:, index] += rp


# --------------------------------------------------------------------------------------------------
# Banded linear algebra and the damped step
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block (the previous setting is restored)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def block_cholesky(D: torch.Tensor, E1: torch.Tensor, E2: torch.Tensor
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


def block_solve(factor: tuple[torch.Tensor, torch.Tensor, torch.Tensor], B: torch.Tensor) -> torch.Tensor:
    """Solve ``L L^T x = B`` for right-hand sides B (T, n, k) with a factor from :func:`block_cholesky`."""
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


def damped_step(ne: Normal, mu: float, *, damping_floor: float, fix_betas: bool = False
                ) -> tuple[NDArray[np.float64], NDArray[np.float64], float] | None:
    """Damped Gauss-Newton step ``d = -(H + mu D)^-1 g``, ``D = max(diag(H), floor)``.

    Returns the frame unknowns (T, n), the betas (B,) and the decrease of the objective that the linear
    model predicts; None where the system is not definite.

    ``fix_betas`` keeps the betas (their step is zero).
    """
    dt = torch.float64
    Dx = torch.clamp(torch.diagonal(ne.D, dim1=1, dim2=2), min=damping_floor)   # (T, n)
    Db = torch.clamp(torch.diagonal(ne.Hbb), min=1.0)
    Dd = ne.D + torch.diag_embed(mu * Dx)
    with single_thread():  # thousands of 75 x 75 operations: threads only add synchronisation
        factor = block_cholesky(Dd, ne.E1, ne.E2)
        if factor is not None:
            rhs_x = ne.gx[..., None] if fix_betas else torch.cat([ne.gx[..., None], ne.Hxb], dim=2)
            sol = block_solve(factor, rhs_x)
    if factor is None:
        return None
    if fix_betas:
        dx = -sol[..., 0]
        db = torch.zeros(ne.gb.shape[0], dtype=dt)
    else:
        z, Y = sol[..., 0], sol[..., 1:]                                   # (T, n), (T, n, B)
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


# --------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------


@dataclass
class LmResult(Generic[TermsT]):
    """Where :func:`levenberg_marquardt` stopped.

    Attributes
    ----------
    betas : Tensor, shape (B,)
    pose : Tensor, shape (T, P)
    transl : Tensor, shape (T, 3)
    terms : the objective's terms at the final iterate (with the Jacobian)
    loss_history : list of float
        Energy per frame after each accepted iteration (the first stage includes its stronger prior).
    n_iterations : int
        Accepted iterations.
    n_evaluations : int
        Objective evaluations (with or without the Jacobian).
    """

    betas: torch.Tensor
    pose: torch.Tensor
    transl: torch.Tensor
    terms: TermsT
    loss_history: list[float]
    n_iterations: int
    n_evaluations: int


def levenberg_marquardt(problem: Objective[TermsT], betas: torch.Tensor, pose: torch.Tensor,
                        transl: torch.Tensor, *, n_iters: int, tolerance: float) -> LmResult[TermsT]:
    """Minimise ``problem`` over the betas (B,), the poses (T, P) and the translations (T, 3).

    Stage 1 (``max(1, n_iters // 3)`` iterations) holds the betas and runs with ``problem.prior_scale =
    10``; stage 2 moves everything with ``prior_scale = 1``. Each iteration forms the normal equations
    once and tries damped steps (at most 12, the damping growing) until one lowers the energy; the fit
    stops early when no step does or an accepted step lowers the energy by less than ``tolerance``
    (a fraction). Runs under ``torch.no_grad``.
    """
    T = pose.shape[0]
    n_pose = pose.shape[1]
    dt = torch.float64
    mu, nu = 1.0, 2.0
    history: list[float] = []
    n_eval = 0
    n_done = 0
    with torch.no_grad():
        problem.update_depths(betas, pose, transl)
        # stage 1: shape held at the mean, 10x pose prior (settles the limbs); stage 2: everything
        n1 = max(1, n_iters // 3)
        for scale, fix, iters in ((10.0, True, n1), (1.0, False, n_iters - n1)):
            problem.prior_scale = scale
            tm = problem.terms(betas, pose, transl, jacobian=True)
            n_eval += 1
            for _ in range(iters):
                ne = problem.normal_equations(tm, betas, pose)
                new = None
                for _try in range(12):
                    step = damped_step(ne, mu, damping_floor=problem.damping_floor, fix_betas=fix)
                    if step is None:
                        mu *= nu
                        nu *= 2.0
                        continue
                    dx = torch.as_tensor(step[0], dtype=dt)
                    cand = (betas + torch.as_tensor(step[1], dtype=dt), pose + dx[:, :n_pose],
                            transl + dx[:, n_pose:])
                    trial = problem.terms(*cand, jacobian=False)
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
                problem.update_depths(betas, pose, transl)
                tm = problem.terms(betas, pose, transl, jacobian=True)
                n_eval += 1
                if gain < tolerance:
                    break
    return LmResult(betas, pose, transl, tm, history, n_done, n_eval)
