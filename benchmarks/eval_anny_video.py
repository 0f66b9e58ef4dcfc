"""Compare the Anny mesh path with the plain skeleton path on the same video (issue 16, docs/validation.md).

    imusynth VIDEO -p ... -o skel.h5
    imusynth VIDEO --body-model anny -p ... -o anny.h5
    python benchmarks/eval_anny_video.py skel.h5 anny.h5

Per sensor present in both: the stride cadence from the gyroscope's autocorrelation (steps/s, as
tests/test_video_real.py measures it), the RMS of |acc| - g0 and of |gyro|, and the correlation of
the gyroscope norms of the two paths on their common valid samples; with the Anny fit's 3-D RMSE.
"""

from __future__ import annotations

import sys

import numpy as np

from imusynth.core.conventions import G0
from imusynth.core.kinematics import runs
from imusynth.io.hdf5 import read_clips


def stride_period_s(
    valid: np.ndarray, gyro: np.ndarray, rate: float, min_s: float = 0.6, max_s: float = 1.6
) -> float:
    """The strongest gyroscope autocorrelation peak at lags min_s..max_s, s (longest valid run)."""
    a, b = max(runs(valid), key=lambda r: r[1] - r[0])
    g = gyro[a:b] - gyro[a:b].mean(axis=0)
    n = len(g)
    ac = np.sum([np.correlate(g[:, k], g[:, k], "full")[n - 1 :] for k in range(3)], axis=0)
    lags = np.arange(n) / rate
    sel = np.flatnonzero((lags >= min_s) & (lags <= max_s))
    return float(lags[sel[np.argmax(ac[sel])]])


def main() -> None:
    skel, anny = (read_clips(p)[0] for p in sys.argv[1:3])
    print(
        f"{'sensor':<12} {'cadence skel':>12} {'cadence anny':>12} {'|acc|-g rms skel':>16} "
        f"{'anny':>6} {'|gyro| rms skel':>15} {'anny':>6} {'r(|gyro|)':>9}"
    )
    for name in anny.sensors:
        if name not in skel.sensors:
            continue
        s, a = skel.sensors[name], anny.sensors[name]
        n = min(len(s.time), len(a.time))
        ok = s.valid[:n] & a.valid[:n]
        cs = 2.0 / stride_period_s(s.valid, s.gyro, s.rate_hz)
        ca = 2.0 / stride_period_s(a.valid, a.gyro, a.rate_hz)
        acc_s = np.sqrt(np.mean((np.linalg.norm(s.acc[:n][ok], axis=1) - G0) ** 2))
        acc_a = np.sqrt(np.mean((np.linalg.norm(a.acc[:n][ok], axis=1) - G0) ** 2))
        gs, ga = np.linalg.norm(s.gyro[:n][ok], axis=1), np.linalg.norm(a.gyro[:n][ok], axis=1)
        r = float(np.corrcoef(gs, ga)[0, 1])
        print(
            f"{name:<12} {cs:>12.2f} {ca:>12.2f} {acc_s:>16.2f} {acc_a:>6.2f} "
            f"{np.sqrt(np.mean(gs**2)):>15.2f} {np.sqrt(np.mean(ga**2)):>6.2f} {r:>9.2f}"
        )
    if "anny" in anny.groups:
        attrs = anny.groups["anny"][1]
        print(f"Anny fit: 3-D RMSE {attrs['rmse_3d_m'] * 100:.1f} cm, fit {attrs['fit_time_s']:.1f} s")


if __name__ == "__main__":
    main()
