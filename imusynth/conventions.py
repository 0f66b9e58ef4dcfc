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
from scipy.spatial.transform import Rotation

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


def ios_sign(acc_si: ArrayLike) -> NDArray[np.float64]:
    """Return accelerometer values in the iOS convention (Core Motion).

    iOS reports ``-specific force / g0``: a device at rest reads -1 g on the axis
    that points up. Input in m/s^2 (specific force, internal convention); output in g.
    """
    return -np.asarray(acc_si, dtype=np.float64) / G0


# --------------------------------------------------------------------------------------------------
# Quaternions (w, x, y, z), rotation matrices, and the up axis of input data.
# --------------------------------------------------------------------------------------------------


def quat_from_matrix(R: ArrayLike) -> NDArray[np.float64]:
    """Quaternions ``(..., 4)`` ``(w, x, y, z)`` with ``w >= 0`` from rotation matrices ``(..., 3, 3)``."""
    R = np.asarray(R, dtype=np.float64)
    flat = R.reshape(-1, 3, 3)
    q = Rotation.from_matrix(flat).as_quat(scalar_first=True)
    q = np.where(q[:, :1] < 0, -q, q)
    return q.reshape(R.shape[:-2] + (4,))


def matrix_from_quat(q: ArrayLike) -> NDArray[np.float64]:
    """Rotation matrices ``(..., 3, 3)`` from quaternions ``(..., 4)`` ``(w, x, y, z)``."""
    q = np.asarray(q, dtype=np.float64)
    flat = q.reshape(-1, 4)
    R = Rotation.from_quat(flat, scalar_first=True).as_matrix()
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
