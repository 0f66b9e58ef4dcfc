"""Step 5 of the comparison: agreement of one aligned axis (Pearson r, RMSE, normalised RMSE)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from imusynth.compare.errors import CompareError

#: Axis names, in order.
AXES: tuple[str, str, str] = ("x", "y", "z")


@dataclass(frozen=True)
class AxisMetrics:
    """Agreement of one axis of the virtual signal with the real one (over samples valid in both).

    Attributes
    ----------
    r : float
        Pearson correlation coefficient, in [-1, 1]; NaN if either side is constant.
    rmse : float
        Root-mean-square error, SI unit of the signal (m/s^2 or rad/s).
    nrmse : float
        ``rmse / (max(real) - min(real))``: RMSE normalised by the real signal's range; NaN if constant.
    nrmse_std : float
        ``rmse / std(real)`` (population std); NaN if constant.
    n : int
        Number of samples used.
    """

    r: float
    rmse: float
    nrmse: float
    nrmse_std: float
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-ready dict (NaN becomes None)."""
        return {"r": _num(self.r), "rmse": _num(self.rmse), "nrmse": _num(self.nrmse),
                "nrmse_std": _num(self.nrmse_std), "n": self.n}


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def axis_metrics(virtual: ArrayLike, real: ArrayLike) -> AxisMetrics:
    """Pearson r, RMSE, range-normalised RMSE and std-normalised RMSE of one axis.

    Parameters
    ----------
    virtual, real : array_like, shape (N,)
        Aligned samples of one axis, same unit; pairs with a NaN on either side are left out.

    Returns
    -------
    AxisMetrics
    """
    v = np.asarray(virtual, dtype=np.float64)
    r = np.asarray(real, dtype=np.float64)
    if v.shape != r.shape or v.ndim != 1:
        raise CompareError(f"virtual and real must both have shape (N,), got {v.shape} and {r.shape}")
    ok = np.isfinite(v) & np.isfinite(r)
    v, r = v[ok], r[ok]
    n = int(v.size)
    if n == 0:
        return AxisMetrics(r=math.nan, rmse=math.nan, nrmse=math.nan, nrmse_std=math.nan, n=0)
    rmse = float(np.sqrt(np.mean((v - r) ** 2)))
    dv, dr = v - v.mean(), r - r.mean()
    sv, sr = float(np.sqrt(np.mean(dv * dv))), float(np.sqrt(np.mean(dr * dr)))
    rng = float(np.ptp(r))
    rho = float(np.mean(dv * dr) / (sv * sr)) if sv > 0 and sr > 0 else math.nan
    return AxisMetrics(
        r=rho,
        rmse=rmse,
        nrmse=rmse / rng if rng > 0 else math.nan,
        nrmse_std=rmse / sr if sr > 0 else math.nan,
        n=n,
    )
