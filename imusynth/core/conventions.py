"""Units, gravity, frames and quaternion order: the one place they are defined.

Internal unit system (SI, everywhere inside the package):

========================  =====================================================
quantity                  unit / convention
========================  =====================================================
time                      s (float64)
position                  m
acceleration              m/s^2; the accelerometer reads specific force
                          ``R^T (a - g)``, gravity included
angular velocity          rad/s, expressed in the sensor (body) frame
orientation               quaternion ``(w, x, y, z)``, scalar first, rotating
                          sensor-frame vectors into the world frame
world frame               right-handed, metres, **z up**, gravity ``(0, 0, -g0)``
========================  =====================================================

Readers convert their inputs to this system at the edge (see :func:`to_si`), and
exports convert out of it only on request (see :func:`from_si`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Standard gravity, m/s^2 (CGPM 1901).
G0: float = 9.80665

#: Gravity vector in the world frame (z up), m/s^2.
GRAVITY_WORLD: NDArray[np.float64] = np.array([0.0, 0.0, -G0])

#: Name of the internal units, as written into HDF5 attributes.
ACC_UNIT = "m/s^2"
GYRO_UNIT = "rad/s"
POSITION_UNIT = "m"

# unit name -> factor that multiplies a value in that unit to give SI
_ACC_FACTORS = {"m/s^2": 1.0, "m/s2": 1.0, "g": G0, "mg": G0 / 1000.0}
_GYRO_FACTORS = {"rad/s": 1.0, "deg/s": np.pi / 180.0, "dps": np.pi / 180.0}
_LENGTH_FACTORS = {"m": 1.0, "mm": 1e-3, "cm": 1e-2}
_TIME_FACTORS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}

_FACTORS = {
    "acc": _ACC_FACTORS,
    "gyro": _GYRO_FACTORS,
    "length": _LENGTH_FACTORS,
    "time": _TIME_FACTORS,
}


def unit_factor(quantity: str, unit: str) -> float:
    """Return the factor that converts ``unit`` to SI for ``quantity``.

    Parameters
    ----------
    quantity : {"acc", "gyro", "length", "time"}
        What is measured.
    unit : str
        The unit, e.g. ``"g"``, ``"mg"``, ``"m/s^2"`` (acc); ``"deg/s"``, ``"rad/s"``
        (gyro); ``"mm"``, ``"cm"``, ``"m"`` (length); ``"s"``, ``"ms"``, ``"us"``, ``"ns"`` (time).

    Raises
    ------
    ValueError
        For an unknown quantity or unit, naming the allowed ones.
    """
    if quantity not in _FACTORS:
        raise ValueError(f"unknown quantity {quantity!r}; allowed: {sorted(_FACTORS)}")
    table = _FACTORS[quantity]
    if unit not in table:
        raise ValueError(f"unknown {quantity} unit {unit!r}; allowed: {sorted(table)}")
    return float(table[unit])


def to_si(values: ArrayLike, quantity: str, unit: str) -> NDArray[np.float64]:
    """Convert ``values`` given in ``unit`` into SI (float64 copy)."""
    return np.asarray(values, dtype=np.float64) * unit_factor(quantity, unit)


def from_si(values: ArrayLike, quantity: str, unit: str) -> NDArray[np.float64]:
    """Convert SI ``values`` into ``unit`` (only at output edges, on request)."""
    return np.asarray(values, dtype=np.float64) / unit_factor(quantity, unit)


def ios_sign(acc_si: ArrayLike, unit: str = "g") -> NDArray[np.float64]:
    """Return accelerometer values in the iOS convention (Core Motion).

    iOS reports ``-specific force / g0``: a device at rest reads -1 g on the axis
    that points up. Input in m/s^2 (specific force, internal convention); output in ``unit``
    (g by default, as Core Motion; any acceleration unit of :func:`unit_factor`).
    """
    return -from_si(acc_si, "acc", unit)


# --------------------------------------------------------------------------------------------------
# Quaternions (w, x, y, z), rotation matrices, and the up axis of input data.
# --------------------------------------------------------------------------------------------------


def quat_from_columns(cx: ArrayLike, cy: ArrayLike, cz: ArrayLike) -> NDArray[np.float64]:
    """Quaternions ``(4, N)`` ``(w, x, y, z)``, ``w >= 0``, of the rotations whose columns are ``cx, cy, cz``.

    Shepperd's method: the branch of the largest of the trace and the diagonal, so no division by a
    small number; the result is normalised. Component-major in and out, for the vectorised callers
    (the sensors compute their axes component by component).

    Parameters
    ----------
    cx, cy, cz : array_like, each shape (3, N)
        The rotation matrices' columns (images of the x, y and z axes), components first.

    Returns
    -------
    ndarray, shape (4, N)
    """
    r00, r10, r20 = np.asarray(cx, dtype=np.float64)
    r01, r11, r21 = np.asarray(cy, dtype=np.float64)
    r02, r12, r22 = np.asarray(cz, dtype=np.float64)
    tr = r00 + r11 + r22
    big = np.maximum(np.maximum(r00, r11), np.maximum(r22, tr))
    case0 = r00 == big
    case1 = (r11 == big) & ~case0
    case2 = (r22 == big) & ~(case0 | case1)
    a, b, c = r21 - r12, r02 - r20, r10 - r01            # 4 w (x, y, z) on the trace branch
    d, e, f = r10 + r01, r20 + r02, r21 + r12            # 4 x y, 4 x z, 4 y z
    one_m = 1.0 - tr
    q = np.empty((4, tr.size))
    np.copyto(q[0], np.where(case0, a, np.where(case1, b, np.where(case2, c, 1.0 + tr))))
    np.copyto(q[1], np.where(case0, one_m + 2.0 * r00, np.where(case1, d, np.where(case2, e, a))))
    np.copyto(q[2], np.where(case0, d, np.where(case1, one_m + 2.0 * r11, np.where(case2, f, b))))
    np.copyto(q[3], np.where(case0, e, np.where(case1, f, np.where(case2, one_m + 2.0 * r22, c))))
    scale = 1.0 / np.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
    q *= np.where(q[0] < 0, -scale, scale)
    return q


def quat_from_matrix(R: ArrayLike) -> NDArray[np.float64]:
    """Quaternions ``(..., 4)`` ``(w, x, y, z)`` with ``w >= 0`` from rotation matrices ``(..., 3, 3)``.

    :func:`quat_from_columns` on the matrices' columns (one implementation of the conversion).
    """
    R = np.asarray(R, dtype=np.float64)
    flat = R.reshape(-1, 3, 3)
    q = quat_from_columns(flat[:, :, 0].T, flat[:, :, 1].T, flat[:, :, 2].T)
    return np.ascontiguousarray(q.T).reshape(R.shape[:-2] + (4,))


def matrix_from_quat(q: ArrayLike) -> NDArray[np.float64]:
    """Rotation matrices ``(..., 3, 3)`` from quaternions ``(..., 4)`` ``(w, x, y, z)``.

    The quaternions are normalised first (any non-zero length); closed form
    ``R = I + 2 w [v]x + 2 [v]x^2`` with ``v = (x, y, z)``, the same matrices as SciPy's
    ``Rotation.from_quat(q, scalar_first=True).as_matrix()`` to rounding (tests/test_conventions.py).
    """
    q = np.asarray(q, dtype=np.float64)
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q / n, -1, 0)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz, wx, wy, wz = x * y, x * z, y * z, w * x, w * y, w * z
    R = np.stack([
        1.0 - 2.0 * (yy + zz), 2.0 * (xy - wz), 2.0 * (xz + wy),
        2.0 * (xy + wz), 1.0 - 2.0 * (xx + zz), 2.0 * (yz - wx),
        2.0 * (xz - wy), 2.0 * (yz + wx), 1.0 - 2.0 * (xx + yy),
    ], axis=-1)
    return R.reshape(q.shape[:-1] + (3, 3))


def quat_continuous(q: ArrayLike) -> NDArray[np.float64]:
    """Flip signs along axis 0 so that consecutive quaternions stay in one hemisphere."""
    q = np.asarray(q, dtype=np.float64)
    if len(q) < 2:
        return q.copy()
    step = np.where(np.einsum("ij,ij->i", q[1:], q[:-1]) < 0, -1.0, 1.0)
    sign = np.concatenate([[1.0], np.cumprod(step)])
    return q * sign[:, None]


#: Rotation taking a vector from a world frame with the named up axis into the internal z-up frame.
#: Every choice is a proper rotation (determinant +1), so handedness is kept.
UP_AXIS_TO_Z_UP: dict[str, NDArray[np.float64]] = {
    "z": np.eye(3),
    # y up (OpenSim, TRC from Pose2Sim, many mocap exports): (x, y, z) -> (x, -z, y)
    "y": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    # x up: (x, y, z) -> (y, z, x)... rotation -90 deg about y: x goes to z
    "x": np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
    # downward-pointing axes (camera-style frames with y down): (x, y, z) -> (x, z, -y)
    "-y": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
    "-z": np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]),
    "-x": np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]),
}


def to_z_up(xyz: ArrayLike, up_axis: str) -> NDArray[np.float64]:
    """Rotate points ``(..., 3)`` from a frame whose up axis is ``up_axis`` into the z-up world frame.

    Parameters
    ----------
    xyz : array_like, shape (..., 3)
        Points or vectors, any length unit.
    up_axis : {"x", "y", "z", "-x", "-y", "-z"}
        The axis of the source frame that points up (against gravity).
    """
    if up_axis not in UP_AXIS_TO_Z_UP:
        raise ValueError(f"unknown up axis {up_axis!r}; allowed: {sorted(UP_AXIS_TO_Z_UP)}")
    return np.asarray(xyz, dtype=np.float64) @ UP_AXIS_TO_Z_UP[up_axis].T
