"""Gravity direction and axis alignment of virtual sensor axes onto a real device's axes.

Holds :func:`quasi_static_mask` (spans where acc ~ gravity), :class:`GravityEstimate` and
:func:`gravity_direction` (mean specific-force direction, sensor frame), :func:`rotation_between`
(smallest rotation between two vectors), :class:`Alignment` (a 3x3 rotation applied to acc and gyro)
and :func:`fit_alignment`; :func:`relative_rotation` (a sensor's mounting relative to a reference sensor
in the same motion, for per-sensor alignment: :data:`ALIGNMENT_MODES`). acc in m/s^2, gyro in rad/s,
angles in degrees where named ``_deg``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from imusynth.core.conventions import G0
from imusynth.core.imu_series import CalibrationError, ImuSeries


def quasi_static_mask(
    acc: ArrayLike,
    gyro: ArrayLike,
    *,
    rate_hz: float,
    window_s: float = 0.5,
    acc_std_max: float = 0.5,
    gyro_max: float = 0.3,
    norm_tol: float = 1.5,
) -> NDArray[np.bool_]:
    """Samples inside quasi-static spans: the sensor barely moves, so acc ~ gravity in the sensor frame.

    A sample is quasi-static when, over a centred window of ``window_s``, the total standard deviation of
    acc (the root of the sum of the three axes' variances) is below ``acc_std_max`` (m/s^2), the mean gyro
    norm is below ``gyro_max`` (rad/s), and the acc norm is within ``norm_tol`` (m/s^2) of g0. Every test
    is invariant to a rotation of the sensor, so the mask, and :func:`gravity_direction`, turn with it
    (what per-sensor alignment relies on).

    Parameters
    ----------
    acc : array_like, shape (N, 3), m/s^2
    gyro : array_like, shape (N, 3), rad/s
    rate_hz : float
        Sample rate, Hz.
    """
    a = np.asarray(acc, dtype=np.float64)
    g = np.asarray(gyro, dtype=np.float64)
    w = max(1, int(round(window_s * rate_hz)))
    a0 = np.nan_to_num(a)
    mean = _moving_mean(a0, w)
    sq = _moving_mean(a0**2, w)
    std = np.sqrt(np.maximum(sq - mean**2, 0.0).sum(axis=1))
    gnorm = _moving_mean(np.linalg.norm(np.nan_to_num(g), axis=1)[:, None], w)[:, 0]
    norm = np.linalg.norm(a, axis=1)
    ok = np.isfinite(a).all(axis=1) & np.isfinite(g).all(axis=1)
    return ok & (std < acc_std_max) & (gnorm < gyro_max) & (np.abs(norm - G0) < norm_tol)


def _moving_mean(x: NDArray[np.float64], w: int) -> NDArray[np.float64]:
    """Centred moving mean along axis 0 with window ``w`` (edge samples repeated at the ends)."""
    return np.asarray(ndimage.uniform_filter1d(x, size=w, axis=0, mode="nearest"))


@dataclass(frozen=True)
class GravityEstimate:
    """Mean gravity direction of a set of recordings, in the sensor frame.

    Attributes
    ----------
    direction : ndarray, shape (3,)
        Unit vector along the mean specific force (points up, like the accelerometer at rest).
    magnitude : float
        Norm of the mean specific force, m/s^2 (about g0 when gravity is present; near 0 for
        gravity-removed data, where no alignment is possible).
    n_samples : int
        Samples averaged.
    quasi_static : bool
        True when the mean was taken over quasi-static spans, False when over all samples.
    """

    direction: NDArray[np.float64]
    magnitude: float
    n_samples: int
    quasi_static: bool


def gravity_direction(series: Sequence[ImuSeries], *, min_static_s: float = 2.0) -> GravityEstimate:
    """Mean specific-force direction over quasi-static spans of ``series`` (all samples if too few).

    Parameters
    ----------
    series : sequence of ImuSeries
        Recordings of one placement.
    min_static_s : float
        Minimum total quasi-static duration, s, below which every valid sample is averaged instead.
    """
    total = np.zeros(3)
    count = 0
    all_total = np.zeros(3)
    all_count = 0
    static_s = 0.0
    for s in series:
        if s.n < 2:
            continue
        a = np.where(s.valid[:, None], s.acc, np.nan)
        m = quasi_static_mask(a, s.gyro, rate_hz=s.rate_hz) & s.valid
        total += s.acc[m].sum(axis=0)
        count += int(m.sum())
        static_s += m.sum() / s.rate_hz
        all_total += s.acc[s.valid].sum(axis=0)
        all_count += int(s.valid.sum())
    if all_count == 0:
        raise CalibrationError("no valid samples to estimate the gravity direction from")
    use_static = static_s >= min_static_s and count > 0
    mean = total / count if use_static else all_total / all_count
    mag = float(np.linalg.norm(mean))
    direction = mean / mag if mag > 0 else np.array([0.0, 0.0, 1.0])
    return GravityEstimate(direction, mag, count if use_static else all_count, bool(use_static))


def rotation_between(a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """The smallest rotation matrix R (3, 3) with ``R @ a_hat = b_hat`` (a, b: non-zero 3-vectors)."""
    a_hat = np.asarray(a, dtype=np.float64)
    b_hat = np.asarray(b, dtype=np.float64)
    a_hat = a_hat / np.linalg.norm(a_hat)
    b_hat = b_hat / np.linalg.norm(b_hat)
    v = np.cross(a_hat, b_hat)
    s = float(np.linalg.norm(v))
    c = float(np.dot(a_hat, b_hat))
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        # opposite vectors: half turn about any axis perpendicular to a
        perp = np.cross(a_hat, np.array([1.0, 0.0, 0.0]))
        if np.linalg.norm(perp) < 1e-6:
            perp = np.cross(a_hat, np.array([0.0, 1.0, 0.0]))
        k = perp / np.linalg.norm(perp)
        return 2.0 * np.outer(k, k) - np.eye(3)
    k = v / s
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    angle = math.atan2(s, c)
    return np.eye(3) + math.sin(angle) * K + (1.0 - math.cos(angle)) * (K @ K)


#: How a profile's alignment turns each sensor it calibrates (``CalibrationProfile.alignment_mode``):
#: ``fixed`` applies the fitted rotation to every sensor; ``per-sensor`` turns a sensor that has a
#: reference recording of the same motion (an augmentation variant ``wrist~aug3``: its base sensor
#: ``wrist`` in the same clip) by its own mounting relative to it first (:func:`relative_rotation`), so
#: each variant is aligned like its base whatever its mounting; a sensor without one (the base itself)
#: gets the fitted rotation.
ALIGNMENT_MODES = ("fixed", "per-sensor")


def mean_specific_force(series: Sequence[ImuSeries]) -> GravityEstimate:
    """Mean specific force over every valid sample of ``series`` (:func:`gravity_direction` without the
    quasi-static spans): the estimator of :func:`relative_rotation`.

    It is linear in acc, so it turns exactly with the sensor whatever the motion, and it does not switch
    between two estimators with a recording's content (:func:`gravity_direction` uses quasi-static spans
    when there are 2 s of them and all samples otherwise; on the gaitmap walk the two differ by 7.5 degrees).
    """
    return gravity_direction(series, min_static_s=math.inf)


def relative_rotation(series: ImuSeries, reference: ImuSeries, *, min_gravity: float = 0.5 * G0
                      ) -> NDArray[np.float64] | None:
    """The rotation ``Q`` (3, 3) that turns ``series``' mean specific force onto ``reference``'s.

    For a sensor mounted at a rotation ``M`` from the reference sensor on the same body segment in the same
    motion (``x = M^T x_ref``), ``Q = M`` exactly when ``M`` turns about an axis orthogonal to the mean
    specific force (a tilt that gravity sees), and ``Q x`` then reads like the reference; a turn about it is
    not seen (the part of ``M`` about gravity stays). The means (:func:`mean_specific_force`) are taken over
    the samples valid in both when the two share their time grid (a clip's sensors), else over each one's
    own valid samples. None when either mean is below ``min_gravity`` m/s^2 (no gravity to compare).
    """
    if series.n < 2 or reference.n < 2:
        return None
    if series.n == reference.n and np.array_equal(series.time, reference.time):
        both = series.valid & reference.valid
        series = ImuSeries(series.time, series.acc, series.gyro, both)
        reference = ImuSeries(reference.time, reference.acc, reference.gyro, both)
    if not series.valid.any() or not reference.valid.any():
        return None
    m = mean_specific_force([series])
    m_ref = mean_specific_force([reference])
    if m.magnitude < min_gravity or m_ref.magnitude < min_gravity:
        return None
    return rotation_between(m.direction, m_ref.direction)


@dataclass(frozen=True)
class Alignment:
    """Rotation of virtual sensor axes onto the real device's axes.

    Attributes
    ----------
    rotation : ndarray, shape (3, 3)
        Proper rotation applied as ``x_real_frame = R @ x_virtual_frame`` to acc and gyro; it takes
        ``virtual_gravity`` onto ``real_gravity``.
    virtual_gravity, real_gravity : ndarray, shape (3,)
        Unit mean gravity directions the rotation was fitted from (sensor frames).
    angle_deg : float
        Rotation angle, degrees.
    heading_deg, heading_margin : float or None
        The heading about the real gravity direction included in ``rotation`` (degrees) and the margin of
        its fit (:class:`HeadingEstimate`), when the heading was fitted; None otherwise (the rotation
        about gravity is then zero).
    """

    rotation: NDArray[np.float64]
    virtual_gravity: NDArray[np.float64]
    real_gravity: NDArray[np.float64]
    angle_deg: float
    heading_deg: float | None = None
    heading_margin: float | None = None

    def apply(self, data: NDArray[np.float64], rotation: ArrayLike | None = None) -> NDArray[np.float64]:
        """Rotate acc and gyro columns of ``data`` (N, 6) by ``rotation`` (default :attr:`rotation`)."""
        return rotate_data(data, self.rotation if rotation is None else rotation)


def rotate_data(data: NDArray[np.float64], rotation: ArrayLike) -> NDArray[np.float64]:
    """acc and gyro columns of ``data`` (N, 6) turned by the 3x3 ``rotation`` (``x' = R x``); a copy."""
    out = np.array(data, dtype=np.float64, copy=True)
    R = np.asarray(rotation, dtype=np.float64)
    # (R @ x.T).T is several times faster than x @ R.T on these strided (N, 3) column slices
    out[:, :3] = (R @ data[:, :3].T).T
    out[:, 3:6] = (R @ data[:, 3:6].T).T
    return out


def fit_alignment(
    virtual: Sequence[ImuSeries],
    real: Sequence[ImuSeries],
    *,
    min_angle_deg: float = 5.0,
    min_gravity: float = 0.5 * G0,
    heading: bool = False,
) -> tuple[Alignment | None, str]:
    """Fit the axis alignment between virtual and real sensor frames from their mean gravity directions.

    Returns ``(None, reason)`` when no rotation is needed (angle below ``min_angle_deg``) or possible
    (either set's mean specific force is below ``min_gravity`` m/s^2, e.g. gravity-removed data).
    The rotation about the gravity direction itself is unobservable this way and left at zero, unless
    ``heading`` is true: then it is fitted from the horizontal-direction distributions
    (:func:`fit_heading`; measured against ``compare``'s paired rotations in docs/har.md).
    """
    gv = gravity_direction(virtual)
    gr = gravity_direction(real)
    if gv.magnitude < min_gravity or gr.magnitude < min_gravity:
        return None, (
            f"no alignment: mean specific force {gv.magnitude:.2f} (virtual) / {gr.magnitude:.2f} "
            f"(real) m/s^2 is below {min_gravity:.2f} m/s^2 (no gravity to align)"
        )
    R = rotation_between(gv.direction, gr.direction)
    angle = math.degrees(math.acos(float(np.clip(np.dot(gv.direction, gr.direction), -1.0, 1.0))))
    if heading:
        h = fit_heading(virtual, real)
        R = h.rotation
        angle = math.degrees(math.acos(float(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0))))
        if angle < min_angle_deg:
            return None, f"no alignment: gravity and heading rotation {angle:.1f} deg < {min_angle_deg} deg"
        return Alignment(R, gv.direction, gr.direction, angle, h.angle_deg, h.margin), (
            f"aligned: rotation of {angle:.1f} deg (heading {h.angle_deg:+.1f} deg about gravity, "
            f"margin {h.margin:.2f})")
    if angle < min_angle_deg:
        return None, f"no alignment: gravity directions differ by {angle:.1f} deg < {min_angle_deg} deg"
    return Alignment(R, gv.direction, gr.direction, angle), f"aligned: rotation of {angle:.1f} deg"


# --------------------------------------------------------------------------------------------------
# Heading: the rotation about gravity, from the distributions of horizontal directions (unpaired)
# --------------------------------------------------------------------------------------------------

#: Orders of the complex moments compared by :func:`fit_heading`.
HEADING_ORDERS = (1, 2, 3)


def _plane_basis(up: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Unit vectors e1, e2 spanning the plane orthogonal to ``up``, with ``e2 = up x e1``."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(up[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = helper - np.dot(helper, up) * up
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(up, e1)


def horizontal_moments(
    series: Sequence[ImuSeries], up: ArrayLike, *, rotation: ArrayLike | None = None
) -> NDArray[np.complex128]:
    """Normalised complex moments of the horizontal parts of acc and gyro, shape (2, len(HEADING_ORDERS)).

    Each valid sample's acc (then gyro), turned by ``rotation`` (default identity), is projected on the
    plane orthogonal to ``up`` (sensor frame) as ``z = v . e1 + i v . e2`` (:func:`_plane_basis`); the
    moment of order k is ``mean(z^k) / mean(|z|^k)`` (unitless, modulus <= 1). A rotation of the data by
    an angle ``psi`` about ``up`` multiplies the order-k moment by ``exp(i k psi)``.
    """
    u = np.asarray(up, dtype=np.float64)
    u = u / np.linalg.norm(u)
    e1, e2 = _plane_basis(u)
    R = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    out = np.zeros((2, len(HEADING_ORDERS)), dtype=np.complex128)
    for j, kind in enumerate(("acc", "gyro")):
        zs = []
        for s in series:
            v = getattr(s, kind)[s.valid] @ R.T
            zs.append(v @ e1 + 1j * (v @ e2))
        z = np.concatenate(zs) if zs else np.empty(0, dtype=np.complex128)
        if z.size == 0:
            raise CalibrationError("no valid samples to estimate the heading from")
        mag = np.abs(z)
        for i, k in enumerate(HEADING_ORDERS):
            den = float(np.mean(mag**k))
            out[j, i] = np.mean(z**k) / den if den > 0 else 0.0
    return out


@dataclass(frozen=True)
class HeadingEstimate:
    """The rotation about gravity that best matches virtual to real horizontal-direction distributions.

    Attributes
    ----------
    angle_deg : float
        Rotation about the real gravity direction (right hand), degrees in (-180, 180].
    rotation : ndarray, shape (3, 3)
        The full virtual-to-real rotation: the heading turn after the gravity alignment.
    gravity_rotation : ndarray, shape (3, 3)
        The gravity alignment alone (:func:`rotation_between` of the mean gravity directions).
    cost : float
        Residual of the moment match at ``angle_deg`` (0 = identical moments).
    margin : float
        Cost of the best angle at least 45 degrees away, divided by ``cost``: near 1, the heading is
        ambiguous (e.g. a motion with no preferred horizontal direction).
    """

    angle_deg: float
    rotation: NDArray[np.float64]
    gravity_rotation: NDArray[np.float64]
    cost: float
    margin: float


def _axis_angle_matrix(axis: NDArray[np.float64], angle: float) -> NDArray[np.float64]:
    k = axis / np.linalg.norm(axis)
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(angle) * K + (1.0 - math.cos(angle)) * (K @ K)


def fit_heading(
    virtual: Sequence[ImuSeries],
    real: Sequence[ImuSeries],
    *,
    step_deg: float = 0.25,
    weights: tuple[float, float] = (1.0, 1.0),
) -> HeadingEstimate:
    """Gravity alignment and then the heading (rotation about gravity), from unpaired recordings.

    The virtual data are first turned so that their mean gravity direction meets the real one
    (:func:`rotation_between`). What is left is a rotation by ``psi`` about the real gravity direction
    ``g``; it turns the horizontal parts of acc and gyro (their components orthogonal to ``g``) by ``psi``,
    so it multiplies each order-k complex moment (:func:`horizontal_moments`) by ``exp(i k psi)``. The
    heading is the ``psi`` (grid of ``step_deg``) minimising
    ``sum_signal w_signal sum_k |m_k(real) - exp(i k psi) m_k(virtual)|^2``: order 2 finds the principal
    horizontal axis (modulo 180 degrees), orders 1 and 3 tell its sign. No virtual-real pairs are needed:
    only that both sets show the same activities.

    Parameters
    ----------
    virtual, real : sequence of ImuSeries
        Recordings of one placement (acc m/s^2 with gravity, gyro rad/s).
    step_deg : float
        Grid step of the search, degrees.
    weights : (float, float)
        Weights of the acc and gyro moments.
    """
    gv = gravity_direction(virtual)
    gr = gravity_direction(real)
    if gv.magnitude < 0.5 * G0 or gr.magnitude < 0.5 * G0:
        raise CalibrationError("no gravity in the data: the heading about it is undefined")
    Rg = rotation_between(gv.direction, gr.direction)
    mv = horizontal_moments(virtual, gr.direction, rotation=Rg)
    mr = horizontal_moments(real, gr.direction)
    psi = np.radians(np.arange(-180.0, 180.0, step_deg))
    orders = np.asarray(HEADING_ORDERS)
    w = np.asarray(weights, dtype=np.float64)[:, None, None]
    turn = np.exp(1j * orders[None, :, None] * psi[None, None, :])          # (1, K, P)
    cost = np.sum(w * np.abs(mr[:, :, None] - turn * mv[:, :, None]) ** 2, axis=(0, 1))
    best = int(np.argmin(cost))
    far = np.abs(np.angle(np.exp(1j * (psi - psi[best])))) >= np.radians(45.0)
    margin = float(cost[far].min() / cost[best]) if cost[best] > 0 else float("inf")
    angle = float(psi[best])
    R = _axis_angle_matrix(gr.direction, angle) @ Rg
    return HeadingEstimate(math.degrees(angle), R, Rg, float(cost[best]), margin)
