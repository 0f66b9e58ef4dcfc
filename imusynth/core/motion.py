"""The Motion record: timestamps and named 3-D points in the z-up world frame.

Every input (a video after lifting, a TRC/C3D/CSV file, a Kinect skeleton) becomes a
:class:`Motion` before the sensor physics runs; see :mod:`imusynth.core.skeletons` for the
maps from each skeleton's joint names to the canonical names that built-in placements use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from imusynth.errors import InputError


class MotionError(InputError, ValueError):
    """A motion that cannot be used (bad shapes, no valid samples, unknown point)."""


@dataclass(frozen=True)
class Motion:
    """Named 3-D points over time, in SI units and the internal z-up world frame.

    Attributes
    ----------
    time : ndarray, shape (T,), float64, s
        Strictly increasing timestamps (regular or not).
    names : tuple of str, length P
        Point names (joints or markers), unique.
    xyz : ndarray, shape (T, P, 3), float64, m
        Positions in a right-handed world frame with z up (gravity along -z).
        Missing samples are NaN.
    confidence : ndarray, shape (T, P), float64, in [0, 1]
        Per-sample confidence; 1 where the source gives none. NaN positions always count as 0.
    source : str
        Path or URL the motion came from (provenance only).
    skeleton : str or None
        Name of the skeleton map the point names follow (``"canonical"`` after
        :func:`imusynth.core.skeletons.to_canonical`), or None for free marker sets.
    """

    time: NDArray[np.float64]
    names: tuple[str, ...]
    xyz: NDArray[np.float64]
    confidence: NDArray[np.float64] = field(default=None)  # type: ignore[assignment,arg-type]
    source: str = ""
    skeleton: str | None = None

    def __post_init__(self) -> None:
        time = np.asarray(self.time, dtype=np.float64)
        xyz = np.asarray(self.xyz, dtype=np.float64)
        names = tuple(str(n) for n in self.names)
        if time.ndim != 1:
            raise MotionError(f"time must be 1-D, got shape {time.shape}")
        if xyz.ndim != 3 or xyz.shape[2] != 3:
            raise MotionError(f"xyz must have shape (T, P, 3), got {xyz.shape}")
        if xyz.shape[0] != time.shape[0]:
            raise MotionError(f"time has {time.shape[0]} samples but xyz has {xyz.shape[0]}")
        if xyz.shape[1] != len(names):
            raise MotionError(f"xyz has {xyz.shape[1]} points but {len(names)} names were given")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise MotionError(f"duplicate point names: {dup}")
        if not np.all(np.isfinite(time)):
            raise MotionError("time contains NaN or infinite values")
        if time.size > 1 and np.any(np.diff(time) <= 0):
            raise MotionError("time must be strictly increasing")
        if self.confidence is None:
            conf = np.ones(xyz.shape[:2])
        else:
            conf = np.asarray(self.confidence, dtype=np.float64)
            if conf.shape != xyz.shape[:2]:
                raise MotionError(f"confidence must have shape {xyz.shape[:2]}, got {conf.shape}")
            conf = np.clip(np.nan_to_num(conf, nan=0.0), 0.0, 1.0)
        conf = np.where(np.isnan(xyz).any(axis=2), 0.0, conf)
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "xyz", xyz)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "confidence", conf)

    @property
    def n_frames(self) -> int:
        """Number of samples T."""
        return int(self.time.shape[0])

    @property
    def duration_s(self) -> float:
        """Time between first and last sample, s."""
        return float(self.time[-1] - self.time[0]) if self.n_frames else 0.0

    @property
    def rate_hz(self) -> float:
        """Median sample rate, Hz (the source rate of irregular timestamps)."""
        if self.n_frames < 2:
            return float("nan")
        return float(1.0 / np.median(np.diff(self.time)))

    def index(self, name: str) -> int:
        """Column of point ``name``; raises :class:`MotionError` naming the known points."""
        try:
            return self.names.index(name)
        except ValueError:
            raise MotionError(
                f"point {name!r} is not in this motion; it has: {', '.join(self.names)}"
            ) from None

    def point(self, name: str) -> NDArray[np.float64]:
        """Positions of one point, shape (T, 3), m."""
        return self.xyz[:, self.index(name), :]

    def select(self, names: list[str] | tuple[str, ...]) -> Motion:
        """A motion with only the named points, in that order."""
        idx = [self.index(n) for n in names]
        return Motion(
            time=self.time,
            names=tuple(names),
            xyz=self.xyz[:, idx, :],
            confidence=self.confidence[:, idx],
            source=self.source,
            skeleton=self.skeleton,
        )

    def crop(self, start_s: float | None = None, end_s: float | None = None) -> Motion:
        """The samples with ``start_s <= time <= end_s``."""
        keep = np.ones(self.n_frames, dtype=bool)
        if start_s is not None:
            keep &= self.time >= start_s
        if end_s is not None:
            keep &= self.time <= end_s
        return Motion(self.time[keep], self.names, self.xyz[keep], self.confidence[keep],
                      self.source, self.skeleton)
