"""Compare the Anny mesh path with the plain skeleton path on the same video (issue 16, docs/validation.md).

    imusynth VIDEO -p ... -o skel.h5
    imusynth VIDEO --body-model anny -p ... -o anny.h5
    python benchmarks/eval_anny_video.py skel.h5 anny.h5
    python benchmarks/eval_anny_video.py anny.h5     # skeleton path recomputed on the clip's own landmarks
    python benchmarks/eval_anny_video.py --views skel_cam1.h5,skel_cam2.h5,... anny_cam1.h5,...

Per sensor present in both: the stride cadence from the gyroscope's autocorrelation (steps/s, as
tests/test_video_real.py measures it), the RMS of |acc| - g0 and of |gyro|, and the correlation of
the gyroscope norms of the two paths on their common valid samples; with the Anny fit's 3-D RMSE.
``--views``: synchronised views of one take (Pose2Sim's four): per sensor, the median over view
pairs of the per-axis Pearson r and RMSE of the gyroscope (a body-fixed sensor reads the same in
every view), for each path.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np

from imusynth.core.conventions import G0
from imusynth.core.kinematics import runs
from imusynth.core.sensors import SensorSignals
from imusynth.io.hdf5 import Clip, read_clips


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


def skeleton_sensors(clip: Clip) -> dict[str, SensorSignals]:
    """The plain skeleton path's sensors on the landmarks a body-model clip stored (its own config)."""
    import tomllib

    from imusynth.config import config_from_dict
    from imusynth.io.motion_job import sensors_for_motion

    cfg = config_from_dict(tomllib.loads(clip.config))
    assert clip.motion is not None
    return sensors_for_motion(clip.motion, cfg, cutoff_hz=cfg.kinematics.video_cutoff_hz, require_valid=False)


def views(skel_files: list[str], anny_files: list[str]) -> None:
    """Cross-view agreement of the gyroscope per sensor, skeleton vs Anny (medians over view pairs)."""
    import itertools

    print(f"{'sensor':<13} {'path':<9} {'r x':>5} {'r y':>5} {'r z':>5} {'RMSE rad/s':>10}")
    paths = {
        "skeleton": [read_clips(f)[0] for f in skel_files],
        "anny": [read_clips(f)[0] for f in anny_files],
    }
    for name in paths["anny"][0].sensors:
        for path, clips in paths.items():
            rs, es = [], []
            for a, b in itertools.combinations(clips, 2):
                sa, sb = a.sensors[name], b.sensors[name]
                t0, t1 = max(sa.time[0], sb.time[0]), min(sa.time[-1], sb.time[-1])
                ia = (sa.time >= t0 - 1e-6) & (sa.time <= t1 + 1e-6)
                ib = (sb.time >= t0 - 1e-6) & (sb.time <= t1 + 1e-6)
                n = min(ia.sum(), ib.sum())
                ga, gb = sa.gyro[ia][:n], sb.gyro[ib][:n]
                ok = sa.valid[ia][:n] & sb.valid[ib][:n]
                rs.append([np.corrcoef(ga[ok, k], gb[ok, k])[0, 1] for k in range(3)])
                es.append(np.sqrt(np.mean((ga[ok] - gb[ok]) ** 2)))
            r = np.median(np.array(rs), axis=0)
            print(f"{name:<13} {path:<9} {r[0]:>5.2f} {r[1]:>5.2f} {r[2]:>5.2f} {np.median(es):>10.2f}")


def main() -> None:
    if sys.argv[1] == "--views":
        views(sys.argv[2].split(","), sys.argv[3].split(","))
        return
    if len(sys.argv) == 2:  # the skeleton path on the Anny clip's own landmarks: the same input
        anny = read_clips(sys.argv[1])[0]
        skel = replace(anny, sensors=skeleton_sensors(anny))
        sys.argv.append(sys.argv[1])
    else:
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
    import h5py

    with h5py.File(sys.argv[2], "r") as f:
        attrs = f[f"clips/{anny.clip_id}/anny"].attrs
        print(f"Anny fit: 3-D RMSE {attrs['rmse_3d_m'] * 100:.1f} cm, fit {attrs['fit_time_s']:.1f} s")


if __name__ == "__main__":
    main()
