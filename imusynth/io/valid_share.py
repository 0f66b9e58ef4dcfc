"""How much of each sensor of an ``imusynth/1`` file holds data: the share of ``valid`` samples.

A sensor with no valid sample (a wrist hidden behind the body in a side view) is a result a script must
not take for success: the CLI warns about it and the batch marks such items ``empty``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np


@dataclass(frozen=True)
class SensorShare:
    """The valid share of one sensor of one clip.

    Attributes
    ----------
    clip_id, sensor : str
    n_samples : int
    n_valid : int
    t0_s, t1_s : float, s
        First and last sample time (NaN when the sensor has no sample).
    """

    clip_id: str
    sensor: str
    n_samples: int
    n_valid: int
    t0_s: float
    t1_s: float

    @property
    def share(self) -> float:
        """Fraction of valid samples in [0, 1] (0 for a sensor without samples)."""
        return self.n_valid / self.n_samples if self.n_samples else 0.0


def sensor_shares(path: str | Path) -> list[SensorShare]:
    """Every (clip, sensor) of the file with its valid share, reading only ``time`` and ``valid``."""
    out = []
    with h5py.File(path, "r") as f:
        for cid, clip in f["clips"].items():
            for name, g in clip["sensors"].items():
                valid = np.asarray(g["valid"][:], dtype=bool)
                t = np.asarray(g["time"][:], dtype=np.float64)
                out.append(SensorShare(cid, name, int(valid.size), int(valid.sum()),
                                       float(t[0]) if t.size else float("nan"),
                                       float(t[-1]) if t.size else float("nan")))
    return out


def empty_sensors(shares: list[SensorShare]) -> list[str]:
    """Sensors with no valid sample in any clip, in first-seen order."""
    names = list(dict.fromkeys(s.sensor for s in shares))
    return [n for n in names if not any(s.n_valid for s in shares if s.sensor == n)]


def empty_reason(path: str | Path) -> str | None:
    """One line naming the sensors of ``path`` without any valid sample, or None when each one has data."""
    empty = empty_sensors(sensor_shares(path))
    if not empty:
        return None
    return f"no valid sample for sensor {', '.join(empty)} (hidden in this view?)"


def share_warnings(shares: list[SensorShare]) -> list[str]:
    """One warning line per (clip, sensor) without any valid sample, naming the sensor and its share."""
    several = len({s.clip_id for s in shares}) > 1
    return [f"warning: sensor {s.sensor}{f' of clip {s.clip_id}' if several else ''}: "
            f"{100 * s.share:.0f} % valid samples (hidden in this view?)"
            for s in shares if s.n_valid == 0]
