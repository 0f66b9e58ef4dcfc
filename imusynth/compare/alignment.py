"""Steps 2-4 of the comparison: time offset, sensor rotation and lever arm between the two signals.

Conventions (also in ``docs/compare.md``): the real sample at real-clock time ``t + offset_s`` belongs to
the virtual sample at virtual-clock time ``t``; ``R`` maps the virtual sensor frame into the real one,
``gyro_r(t + offset_s) = R gyro_v(t)``; the lever arm ``r`` (m) is the real sensor's position in the
virtual sensor frame, relative to the virtual sensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import correlate

from imusynth.compare.band import BandLimited
from imusynth.compare.errors import CompareError
from imusynth.core.conventions import matrix_from_quat

Array = NDArray[np.float64]


# --------------------------------------------------------------------------------------------------
# Step 2: time offset
# --------------------------------------------------------------------------------------------------


class OffsetEdgeError(CompareError):
    """The correlation peak is at an edge: of the search window (``kind="window"``: ``max_lag_s``), or
    of the lags with enough overlap (``kind="overlap"``: ``min_overlap_s``); ``offset_s`` is where, s."""

    def __init__(self, message: str, *, kind: str, offset_s: float) -> None:
        super().__init__(message)
        self.kind = kind
        self.offset_s = offset_s



@dataclass(frozen=True)
class OffsetEstimate:
    """Result of :func:`estimate_time_offset`.

    Attributes
    ----------
    offset_s : float
        Real-clock time minus virtual-clock time of the same instant, s.
    score : float
        Correlation at the peak (mean Pearson r over the channels used, at the parabola's vertex), <= 1.
    n_channels : int
        Number of channel pairs that were correlated (constant channels are left out).
    """

    offset_s: float
    score: float
    n_channels: int


def _masked_xcorr(v: Array, r: Array, min_count: int) -> Array:
    """Pearson r of ``v`` (N,) against every length-N window of ``r`` (N + L - 1,), NaN-aware.

    Returns ``(L,)``; entry ``j`` correlates ``v[i]`` with ``r[i + j]`` over the pairs where both are finite,
    NaN where fewer than ``min_count`` pairs remain or either side is constant.
    """
    mv = np.isfinite(v).astype(np.float64)
    mr = np.isfinite(r).astype(np.float64)
    v0 = np.where(mv > 0, v - np.nanmean(v), 0.0)
    r0 = np.where(mr > 0, r - np.nanmean(r), 0.0)

    def xc(a: Array, b: Array) -> Array:
        return np.asarray(correlate(b, a, mode="valid", method="fft"))

    n = np.rint(xc(mv, mr))
    with np.errstate(invalid="ignore", divide="ignore"):
        sv, sr = xc(v0, mr), xc(mv, r0)
        cov = xc(v0, r0) - sv * sr / n
        var_v = xc(v0 * v0, mr) - sv * sv / n
        var_r = xc(mv, r0 * r0) - sr * sr / n
        # FFT round-off is ~1e-12 of the largest sums: a variance below that is a constant signal
        tiny_v = 1e-9 * float(np.sum(v0 * v0)) + 1e-300
        tiny_r = 1e-9 * float(np.sum(r0 * r0)) + 1e-300
        rho = cov / np.sqrt(var_v * var_r)
    bad = (n < min_count) | (var_v <= tiny_v) | (var_r <= tiny_r)
    return np.where(bad, np.nan, np.clip(rho, -1.0, 1.0))


def _is_constant(x: Array) -> bool:
    x = x[np.isfinite(x)]
    return x.size < 2 or float(np.ptp(x)) <= 1e-9 * max(1.0, float(np.max(np.abs(x))))


def estimate_time_offset(
    bl: BandLimited,
    *,
    max_lag_s: float = 10.0,
    offset_guess_s: float = 0.0,
    rotation: ArrayLike | None = None,
    lever_arm_m: ArrayLike | None = None,
    min_overlap_s: float = 2.0,
) -> OffsetEstimate:
    """Time offset between the two clocks by normalised cross-correlation, with sub-sample refinement.

    Without ``rotation``, the correlated channels are rotation-invariant: the gyroscope norm ``|w|`` and
    the accelerometer norm minus its mean ``|a| - mean|a|``. With ``rotation`` ``R``, they are the six
    axes of ``R gyro_v`` against ``gyro_r`` and ``R acc_v`` against ``acc_r`` (after the lever-arm
    correction, when ``lever_arm_m`` is given). For each lag ``L`` (grid steps) within ``+-max_lag_s`` of
    ``offset_guess_s`` the score is the mean over channels of the Pearson correlation over the samples
    valid in both; lags with less than ``min_overlap_s`` of overlap are not considered. The integer
    peak ``L*`` is refined by the vertex of the parabola through its neighbours,
    ``d = (s[L*-1] - s[L*+1]) / (2 (s[L*-1] - 2 s[L*] + s[L*+1]))``, and
    ``offset_s = offset_guess_s + (L* + d) / rate_hz``.

    Parameters
    ----------
    bl : BandLimited
        Output of :func:`band_limit`.
    max_lag_s : float
        Half-width of the search window, s.
    offset_guess_s : float
        Centre of the search window, s (real clock minus virtual clock).
    rotation : array_like, shape (3, 3), optional
        Virtual-to-real sensor rotation; switches to per-axis correlation.
    lever_arm_m : array_like, shape (3,), optional
        Lever arm (m) applied to the virtual accelerometer before per-axis correlation.
    min_overlap_s : float
        Least overlap of valid samples, s.

    Returns
    -------
    OffsetEstimate

    Raises
    ------
    CompareError
        If every channel is constant, or no lag leaves ``min_overlap_s`` of overlap;
        :class:`OffsetEdgeError` when the peak lies on the edge of the search window or next to lags
        without ``min_overlap_s`` of overlap (the message names the parameter that helps).
    """
    if max_lag_s <= 0:
        raise CompareError(f"max_lag_s must be positive, got {max_lag_s}")
    dt = 1.0 / bl.rate_hz
    n = bl.t_grid.size
    k = int(math.ceil(max_lag_s / dt))
    t_ext = bl.t_grid[0] + offset_guess_s + (np.arange(n + 2 * k) - k) * dt
    acc_r, gyro_r = bl.real_at(t_ext)
    acc_v, gyro_v = bl.acc_v, bl.gyro_v
    if rotation is None:
        pairs = [
            (np.linalg.norm(gyro_v, axis=1), np.linalg.norm(gyro_r, axis=1)),
            (np.linalg.norm(acc_v, axis=1), np.linalg.norm(acc_r, axis=1)),
        ]
    else:
        rot = np.asarray(rotation, dtype=np.float64)
        if lever_arm_m is not None:
            acc_v = apply_lever_arm(acc_v, gyro_v, lever_arm_m, rate_hz=bl.rate_hz)
        pairs = [(gv, gr) for gv, gr in zip((gyro_v @ rot.T).T, gyro_r.T, strict=True)]
        pairs += [(av, ar) for av, ar in zip((acc_v @ rot.T).T, acc_r.T, strict=True)]
    min_count = max(3, int(math.ceil(min_overlap_s * bl.rate_hz)))

    def no_overlap() -> CompareError:
        return CompareError(
            f"the signals overlap by less than {min_overlap_s:g} s at every lag within +-{max_lag_s:g} s of "
            f"{offset_guess_s:g} s (virtual {bl.t_grid[0]:.3f}..{bl.t_grid[-1]:.3f} s, "
            f"real {bl.t_r[0]:.3f}..{bl.t_r[-1]:.3f} s: the starts differ by "
            f"{bl.t_r[0] - bl.t_grid[0]:.3f} s); set the offset guess or widen max_lag_s"
        )

    if min(int(np.isfinite(x).sum()) for pair in pairs for x in pair) < min_count:
        raise no_overlap()
    pairs = [(v, r) for v, r in pairs if not (_is_constant(v) or _is_constant(r))]
    if not pairs:
        raise CompareError("the signals are constant (no motion): a time offset cannot be estimated")
    scores = np.array([_masked_xcorr(v, r, min_count) for v, r in pairs])
    score = np.mean(scores, axis=0)  # NaN where any channel lacks overlap
    if not np.any(np.isfinite(score)):
        raise no_overlap()
    j = int(np.nanargmax(score))
    at = offset_guess_s + (j - k) * dt
    if j == 0 or j == score.size - 1:
        raise OffsetEdgeError(
            "the correlation peak lies at the edge of the search window "
            f"(+-{max_lag_s:g} s around {offset_guess_s:g} s, at {at:.3f} s); widen max_lag_s or set the "
            "offset guess", kind="window", offset_s=at)
    if not (np.isfinite(score[j - 1]) and np.isfinite(score[j + 1])):
        raise OffsetEdgeError(
            f"the correlation peak lies at {at:.3f} s, next to lags where the signals overlap by less than "
            f"{min_overlap_s:g} s (the correlation there is not computed); lower min_overlap_s (short "
            "recordings) or check that both recordings hold the same motion", kind="overlap", offset_s=at)
    a, b, c = score[j - 1], score[j], score[j + 1]
    denom = a - 2.0 * b + c
    frac, peak = (0.5 * (a - c) / denom, b - (a - c) ** 2 / (8.0 * denom)) if denom < 0 else (0.0, b)
    offset = offset_guess_s + (j - k + frac) * dt
    return OffsetEstimate(offset_s=float(offset), score=float(min(peak, 1.0)), n_channels=len(pairs))


# --------------------------------------------------------------------------------------------------
# Step 3: rotation
# --------------------------------------------------------------------------------------------------


def fit_rotation(gyro_v: ArrayLike, gyro_r: ArrayLike) -> Array:
    """Least-squares rotation ``R`` minimising ``sum_k |gyro_r[k] - R gyro_v[k]|^2`` (Kabsch / Wahba).

    With ``H = sum_k gyro_v[k] gyro_r[k]^T = U S V^T``, ``R = V diag(1, 1, det(V U^T)) U^T``.

    Parameters
    ----------
    gyro_v, gyro_r : array_like, shape (N, 3), rad/s
        Time-aligned angular velocities in the virtual and the real sensor frame; rows with a NaN are
        ignored.

    Returns
    -------
    ndarray, shape (3, 3)
        Proper rotation matrix (virtual frame -> real frame).

    Raises
    ------
    CompareError
        If fewer than 3 rows are usable, or the motion turns about a single axis only (the rotation
        about that axis is then undetermined).
    """
    gv = np.asarray(gyro_v, dtype=np.float64)
    gr = np.asarray(gyro_r, dtype=np.float64)
    if gv.shape != gr.shape or gv.ndim != 2 or gv.shape[1] != 3:
        raise CompareError(f"gyro_v and gyro_r must both have shape (N, 3), got {gv.shape} and {gr.shape}")
    ok = np.all(np.isfinite(gv), axis=1) & np.all(np.isfinite(gr), axis=1)
    if ok.sum() < 3:
        raise CompareError("fewer than 3 aligned gyroscope samples: the rotation cannot be estimated")
    h = gv[ok].T @ gr[ok]
    u, s, vt = np.linalg.svd(h)
    if s[0] <= 0 or s[1] <= 1e-6 * s[0]:
        raise CompareError(
            "the gyroscope turns about one axis only (or not at all): the sensor rotation is undetermined; "
            "compare without rotation estimation"
        )
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return np.asarray(vt.T @ np.diag([1.0, 1.0, d]) @ u.T)


def as_rotation(rotation: ArrayLike) -> Array:
    """A given sensor rotation (virtual -> real) as a 3x3 matrix: a quaternion or a rotation matrix.

    Parameters
    ----------
    rotation : array_like, shape (4,) or (3, 3)
        Quaternion ``(w, x, y, z)`` (normalised here; its norm must be within 1 % of 1, so rounded
        components pass and a mistyped one does not) or a proper rotation matrix (orthonormal within
        1e-6, determinant +1).

    Returns
    -------
    ndarray, shape (3, 3)

    Raises
    ------
    CompareError
        For any other shape, a quaternion far from unit norm, or a matrix that is not a rotation.
    """
    r = np.asarray(rotation, dtype=np.float64)
    if r.shape == (4,):
        norm = float(np.linalg.norm(r))
        if not np.isfinite(norm) or abs(norm - 1.0) > 0.01:
            raise CompareError(f"the rotation quaternion (w, x, y, z) must have norm 1, got {norm:.4g}")
        return np.asarray(matrix_from_quat(r / norm))
    if r.shape == (3, 3):
        if not (np.allclose(r @ r.T, np.eye(3), atol=1e-6) and np.linalg.det(r) > 0):
            raise CompareError("the rotation matrix must be orthonormal with determinant +1")
        return r.copy()
    raise CompareError(f"a rotation is a quaternion (4,) or a matrix (3, 3), got shape {r.shape}")


# --------------------------------------------------------------------------------------------------
# Step 4: lever arm
# --------------------------------------------------------------------------------------------------


def _derivative(x: Array, dt: float) -> Array:
    """Fourth-order central difference along axis 0; the first and last two samples are NaN."""
    out = np.full_like(x, np.nan)
    out[2:-2] = (x[:-4] - 8.0 * x[1:-3] + 8.0 * x[3:-1] - x[4:]) / (12.0 * dt)
    return out


def _skew(w: Array) -> Array:
    """Cross-product matrices ``(N, 3, 3)`` of vectors ``(N, 3)``: ``skew(w) @ r = w x r``."""
    z = np.zeros(len(w))
    return np.stack(
        [np.stack([z, -w[:, 2], w[:, 1]], -1), np.stack([w[:, 2], z, -w[:, 0]], -1),
         np.stack([-w[:, 1], w[:, 0], z], -1)], axis=1,
    )


def _lever_matrix(gyro: Array, rate_hz: float) -> Array:
    """``(N, 3, 3)`` matrices ``M`` with ``M r = alpha x r + w x (w x r)``, alpha by differentiation."""
    alpha = _derivative(gyro, 1.0 / rate_hz)
    sw = _skew(gyro)
    return np.asarray(_skew(alpha) + sw @ sw)


def apply_lever_arm(acc_v: ArrayLike, gyro_v: ArrayLike, lever_arm_m: ArrayLike, *, rate_hz: float) -> Array:
    """Specific force at a point displaced by ``r`` on the same rigid body: ``a + alpha x r + w x (w x r)``.

    Parameters
    ----------
    acc_v : array_like, shape (N, 3), m/s^2
        Specific force at the virtual sensor, virtual sensor frame, uniform rate.
    gyro_v : array_like, shape (N, 3), rad/s
        Angular velocity, virtual sensor frame; ``alpha`` is its fourth-order central difference
        (the first and last two samples become NaN).
    lever_arm_m : array_like, shape (3,), m
        Displacement ``r`` in the virtual sensor frame.
    rate_hz : float
        Sampling rate, Hz.

    Returns
    -------
    ndarray, shape (N, 3), m/s^2
    """
    acc = np.asarray(acc_v, dtype=np.float64)
    m = _lever_matrix(np.asarray(gyro_v, dtype=np.float64), rate_hz)
    return np.asarray(acc + m @ np.asarray(lever_arm_m, dtype=np.float64))


def fit_lever_arm(
    acc_v: ArrayLike, gyro_v: ArrayLike, acc_r: ArrayLike, *, rotation: ArrayLike, rate_hz: float
) -> Array:
    """Lever arm ``r`` by linear least squares on ``R^T acc_r - acc_v = alpha x r + w x (w x r)``.

    The real accelerometer at ``p + R_s r`` (``R_s`` the body orientation) reads, in the virtual sensor
    frame, the virtual specific force plus ``alpha x r + w x (w x r)``; each aligned sample adds three
    linear equations in ``r``. ``alpha`` comes from differentiating ``gyro_v`` (fourth-order central
    difference).

    Parameters
    ----------
    acc_v : array_like, shape (N, 3), m/s^2
        Virtual specific force on a uniform grid.
    gyro_v : array_like, shape (N, 3), rad/s
        Virtual angular velocity on the same grid.
    acc_r : array_like, shape (N, 3), m/s^2
        Real specific force resampled on the same grid after the time offset (real sensor frame).
    rotation : array_like, shape (3, 3)
        Virtual-to-real sensor rotation ``R``.
    rate_hz : float
        Grid rate, Hz.

    Returns
    -------
    ndarray, shape (3,), m
        Lever arm in the virtual sensor frame.

    Raises
    ------
    CompareError
        If fewer than 3 usable samples remain or the rotation is too small to determine ``r``.
    """
    rot = np.asarray(rotation, dtype=np.float64)
    m = _lever_matrix(np.asarray(gyro_v, dtype=np.float64), rate_hz)
    y = np.asarray(acc_r, dtype=np.float64) @ rot - np.asarray(acc_v, dtype=np.float64)  # rows: R^T acc_r
    ok = np.all(np.isfinite(y), axis=1) & np.all(np.isfinite(m), axis=(1, 2))
    if ok.sum() < 3:
        raise CompareError("fewer than 3 aligned samples: the lever arm cannot be estimated")
    a = m[ok].reshape(-1, 3)
    sol, _, rank, _ = np.linalg.lstsq(a, y[ok].reshape(-1), rcond=None)
    if rank < 3:
        raise CompareError("the motion does not turn enough to determine the lever arm")
    return np.asarray(sol)
