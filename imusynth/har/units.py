"""Unit conversion of windows at the export edge (everything inside imusynth stays SI)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from imusynth.core import conventions
from imusynth.core.conventions import from_si
from imusynth.har.errors import HarError
from imusynth.har.windows import WindowSet, _channel_kinds, _units

#: Output units :func:`convert_units` accepts.
ACC_UNITS = ("m/s^2", "g", "mg")
GYRO_UNITS = ("rad/s", "deg/s")


def check_output_units(*, acc_unit: str, gyro_unit: str) -> None:
    """Raise :class:`HarError` unless the units are in :data:`ACC_UNITS` and :data:`GYRO_UNITS`."""
    if acc_unit not in ACC_UNITS:
        raise HarError(f"unknown accelerometer unit {acc_unit!r}; expected one of {', '.join(ACC_UNITS)}")
    if gyro_unit not in GYRO_UNITS:
        raise HarError(f"unknown gyroscope unit {gyro_unit!r}; expected one of {', '.join(GYRO_UNITS)}")


def convert_units(ws: WindowSet, *, acc_unit: str = "m/s^2", gyro_unit: str = "rad/s",
                  ios_sign: bool = False) -> WindowSet:
    """The windows in other units, for an export edge (everything inside imusynth stays SI).

    Parameters
    ----------
    ws : WindowSet
        Windows in SI (acc m/s^2 specific force, gyro rad/s), as :func:`make_windows` makes them.
    acc_unit : {"m/s^2", "g", "mg"}
        Unit of the accelerometer channels in the result.
    gyro_unit : {"rad/s", "deg/s"}
        Unit of the gyroscope channels in the result.
    ios_sign : bool
        Report ``-specific force`` (Core Motion: -1 g on the up axis at rest) instead of the specific
        force (+1 g up at rest). Only the accelerometer changes sign; the gyroscope is the same in both.

    Returns
    -------
    WindowSet
        A copy with converted ``X`` and its ``acc_unit``, ``gyro_unit`` and ``acc_sign`` set.
    """
    if (ws.acc_unit, ws.gyro_unit, ws.acc_sign) != ("m/s^2", "rad/s", "specific_force"):
        raise HarError(f"windows are already converted ({_units(ws)}); convert from SI only")
    check_output_units(acc_unit=acc_unit, gyro_unit=gyro_unit)
    kinds = _channel_kinds(ws.channels)
    acc = np.array([k.startswith("acc") for k in kinds], dtype=bool)
    gyro = np.array([k.startswith("gyro") for k in kinds], dtype=bool)
    X = ws.X.astype(np.float64)
    if ios_sign:
        X[..., acc] = conventions.ios_sign(X[..., acc], unit=acc_unit)
    else:
        X[..., acc] = from_si(X[..., acc], "acc", acc_unit)
    X[..., gyro] = from_si(X[..., gyro], "gyro", gyro_unit)
    return replace(ws, X=X.astype(np.float32), acc_unit=acc_unit, gyro_unit=gyro_unit,
                   acc_sign="ios" if ios_sign else "specific_force")
