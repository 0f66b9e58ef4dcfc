"""Distribution distances between two sample sets, per channel (Wasserstein, Kolmogorov-Smirnov).

Holds :class:`ChannelDistance` and :func:`distribution_distances`; distances are in each channel's
unit (m/s^2 for acc, rad/s for gyro), the KS statistic in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from imusynth.core.imu_series import CHANNELS, CalibrationError


@dataclass(frozen=True)
class ChannelDistance:
    """Distribution distance of one channel between two sample sets.

    Attributes
    ----------
    channel : str
    wasserstein : float
        1-D earth mover's distance, in the channel's unit.
    ks : float
        Two-sample Kolmogorov-Smirnov statistic (sup |F1 - F2|), in [0, 1].
    """

    channel: str
    wasserstein: float
    ks: float


def distribution_distances(
    a: ArrayLike, b: ArrayLike, *, channels: Sequence[str] = CHANNELS
) -> list[ChannelDistance]:
    """Per-channel Wasserstein distance and KS statistic between ``a`` (N, C) and ``b`` (M, C)."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    out = []
    for c, name in enumerate(channels):
        xc = x[:, c][np.isfinite(x[:, c])]
        yc = y[:, c][np.isfinite(y[:, c])]
        if xc.size == 0 or yc.size == 0:
            raise CalibrationError(f"channel {name}: no finite samples to compare")
        out.append(
            ChannelDistance(
                name, float(stats.wasserstein_distance(xc, yc)), float(stats.ks_2samp(xc, yc).statistic)
            )
        )
    return out
