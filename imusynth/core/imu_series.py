"""The record calibration works on: :class:`ImuSeries`, its channel order and the calibration error.

Holds :data:`CHANNELS` (acc in m/s^2 then gyro in rad/s, sensor frame), :class:`CalibrationError`,
the frozen :class:`ImuSeries` record (time (N,) s, acc (N, 3) m/s^2, gyro (N, 3) rad/s, valid (N,),
labels (N,)) and :func:`dedupe_time` (drop non-increasing timestamps).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.errors import InputError

#: The six channels a profile maps, in this order: acc (m/s^2) then gyro (rad/s), sensor frame.
CHANNELS: tuple[str, ...] = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")


class CalibrationError(InputError, ValueError):
    """Calibration input that cannot be used (too few samples, bad profile, unknown device preset)."""


@dataclass(frozen=True)
class ImuSeries:
    """One IMU recording (or one clip's sensor) as calibration and HAR export see it.

    Attributes
    ----------
    time : ndarray, shape (N,), float64, s
        Strictly increasing timestamps.
    acc : ndarray, shape (N, 3), float64, m/s^2
        Specific force in the sensor frame (gravity included: +g0 on the up axis at rest).
    gyro : ndarray, shape (N, 3), float64, rad/s
        Angular velocity in the sensor frame.
    valid : ndarray, shape (N,), bool
        False where the sample is missing or unreliable (never used, never inside a window).
    labels : ndarray, shape (N,), str, or None
        Activity label of each sample, or None when the recording has none.
    group : str
        Group key for group-wise splits (subject, video).
    name : str
        Identifier (clip id or file name), for messages and per-clip seeds.
    """

    time: NDArray[np.float64]
    acc: NDArray[np.float64]
    gyro: NDArray[np.float64]
    valid: NDArray[np.bool_] = field(default=None)  # type: ignore[arg-type,assignment]
    labels: NDArray[np.str_] | None = None
    group: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        time = np.asarray(self.time, dtype=np.float64)
        acc = np.asarray(self.acc, dtype=np.float64)
        gyro = np.asarray(self.gyro, dtype=np.float64)
        n = time.shape[0] if time.ndim == 1 else -1
        if n < 0:
            raise CalibrationError(f"{self.name or 'series'}: time must be 1-D, got shape {time.shape}")
        for what, arr in (("acc", acc), ("gyro", gyro)):
            if arr.shape != (n, 3):
                raise CalibrationError(
                    f"{self.name or 'series'}: {what} must have shape ({n}, 3), got {arr.shape}"
                )
        if n > 1 and np.any(np.diff(time) <= 0):
            raise CalibrationError(f"{self.name or 'series'}: time must be strictly increasing")
        if self.valid is None:
            valid = np.ones(n, dtype=bool)
        else:
            valid = np.asarray(self.valid, dtype=bool)
            if valid.shape != (n,):
                raise CalibrationError(f"{self.name or 'series'}: valid must have shape ({n},)")
        valid = valid & np.isfinite(acc).all(axis=1) & np.isfinite(gyro).all(axis=1) & np.isfinite(time)
        labels = None
        if self.labels is not None:
            labels = np.asarray(self.labels).astype(str)
            if labels.shape != (n,):
                raise CalibrationError(f"{self.name or 'series'}: labels must have shape ({n},)")
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "acc", acc)
        object.__setattr__(self, "gyro", gyro)
        object.__setattr__(self, "valid", valid)
        object.__setattr__(self, "labels", labels)

    @property
    def n(self) -> int:
        """Number of samples N."""
        return int(self.time.shape[0])

    @property
    def rate_hz(self) -> float:
        """Median sample rate, Hz (NaN with fewer than 2 samples)."""
        if self.n < 2:
            return float("nan")
        return float(1.0 / np.median(np.diff(self.time)))

    @property
    def data(self) -> NDArray[np.float64]:
        """acc and gyro side by side, shape (N, 6), in :data:`CHANNELS` order."""
        return np.concatenate([self.acc, self.gyro], axis=1)

    def with_data(self, data: NDArray[np.float64]) -> ImuSeries:
        """A copy with acc and gyro replaced by the columns of ``data`` (N, 6)."""
        return replace(self, acc=data[:, :3], gyro=data[:, 3:6])


def dedupe_time(time: ArrayLike, *arrays: ArrayLike) -> tuple[NDArray[np.float64], ...]:
    """Drop samples whose timestamp does not increase (duplicates from phone logs).

    Parameters
    ----------
    time : array_like, shape (N,), s
        Timestamps in recording order.
    *arrays : array_like, shape (N, ...)
        Arrays indexed like ``time``.

    Returns
    -------
    tuple of ndarray
        ``time`` and each array, keeping the samples whose time exceeds every earlier time.
    """
    t = np.asarray(time, dtype=np.float64)
    keep = np.ones(t.shape[0], dtype=bool)
    if t.size > 1:
        running = np.maximum.accumulate(t)
        keep[1:] = t[1:] > running[:-1]
    return (t[keep], *(np.asarray(a)[keep] for a in arrays))
