"""Gravity direction and axis alignment of virtual sensor axes onto a real device's axes.

Holds :func:`quasi_static_mask` (spans where acc ~ gravity), :class:`GravityEstimate` and
:func:`gravity_direction` (mean specific-force direction, sensor frame), :func:`rotation_between`
(smallest rotation between two vectors), :class:`Alignment` (a 3x3 rotation applied to acc and gyro)
and :func:`fit_alignment`. acc in m/s^2, gyro in rad/s, angles in degrees where named ``_deg``.
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

    A sample is quasi-static when, over a centred window of ``window_s``, the standard deviation of each
    acc axis is below ``acc_std_max`` (m/s^2), the mean gyro norm is below ``gyro_max`` (rad/s), and the acc
    norm is within ``norm_tol`` (m/s^2) of g0.

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
    std = np.sqrt(np.maximum(sq - mean**2, 0.0))
    gnorm = _moving_mean(np.linalg.norm(np.nan_to_num(g), axis=1)[:, None], w)[:, 0]
    norm = np.linalg.norm(a, axis=1)
    ok = np.isfinite(a).all(axis=1) & np.isfinite(g).all(axis=1)
    return ok & (std.max(axis=1) < acc_std_max) & (gnorm < gyro_max) & (np.abs(norm - G0) < norm_tol)


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


@dataclass(frozen=True)
class Alignment:
    """Rotation of virtual sensor axes onto the real device's axes.

    Attributes
    ----------
    rotation : ndarray, shape (3, 3)
        Proper rotation applied as ``x_real_frame = R @ x_virtual_frame`` to acc and gyro.
    virtual_gravity, real_gravity : ndarray, shape (3,)
        Unit mean gravity directions the rotation was fitted from (sensor frames).
    angle_deg : float
        Rotation angle, degrees.
    """

    rotation: NDArray[np.float64]
    virtual_gravity: NDArray[np.float64]
    real_gravity: NDArray[np.float64]
    angle_deg: float

    def apply(self, data: NDArray[np.float64]) -> NDArray[np.float64]:
        """Rotate acc and gyro columns of ``data`` (N, 6)."""
        out = np.array(data, dtype=np.float64, copy=True)
        R = self.rotation
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
) -> tuple[Alignment | None, str]:
    """Fit the axis alignment between virtual and real sensor frames from their mean gravity directions.

    Returns ``(None, reason)`` when no rotation is needed (angle below ``min_angle_deg``) or possible
    (either set's mean specific force is below ``min_gravity`` m/s^2, e.g. gravity-removed data).
    The rotation about the gravity direction itself is unobservable this way and left at zero.
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
    if angle < min_angle_deg:
        return None, f"no alignment: gravity directions differ by {angle:.1f} deg < {min_angle_deg} deg"
    return Alignment(R, gv.direction, gr.direction, angle), f"aligned: rotation of {angle:.1f} deg"
