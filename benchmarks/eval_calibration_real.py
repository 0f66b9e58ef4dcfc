"""Real-data check of the calibration (issue 4, acceptance 2): fit on one half, apply to the other half.

Two virtual-vs-real pairs from ../shared/imu (read in place, never copied):

* gaitmap: virtual foot IMUs from the Vicon foot markers (placements in
  ``pipelines/placements/gaitmap_feet.toml``), real Nilspod foot IMUs, 38.7 s of walking, synchronised clocks.
  Common rate 100 Hz (the real 204.8 Hz signal is low-passed and resampled).
* sevivi: virtual wrists from the Azure Kinect skeletons (hand joints dropped: their confidence is 0, so
  the placements use their no-hand fallback), real Xsens DOT LF/RF (placement undocumented; taken as the
  left / right wrist), walking + squatting + arm movement, clocks NOT aligned. Common rate 50 Hz.

For each sensor the profile is fitted on the first half of every recording (virtual and real, each in its
own clock) and applied to the virtual second half; per channel, the 1-D Wasserstein distance and the
two-sample KS statistic against the real second half are reported before (virtual resampled to the same
rate) and after calibration. sevivi is also run with per-class maps (labels = activity).

Usage: python benchmarks/eval_calibration_real.py   (prints tables, writes
benchmarks/results/eval_calibration_real.json)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from imusynth.calibrate import (
    CHANNELS,
    ImuSeries,
    apply_profile,
    distribution_distances,
    fit_profile,
    resample_series,
)
from imusynth.core.placements import load_placements, resolve_placements
from imusynth.core.sensors import simulate
from imusynth.io.readers import read_azure_kinect, read_imu, read_motion

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "imu"
SEVIVI_ACTS = ("walking", "squatting", "3d_hand_movement")


def crop(s: ImuSeries, lo: float, hi: float) -> ImuSeries:
    """The samples with ``lo <= t < hi`` (fractions of the recording's own duration)."""
    t0, t1 = float(s.time[0]), float(s.time[-1])
    keep = (s.time >= t0 + lo * (t1 - t0)) & (s.time < t0 + hi * (t1 - t0) + (1e-9 if hi >= 1 else 0))
    return ImuSeries(
        s.time[keep],
        s.acc[keep],
        s.gyro[keep],
        s.valid[keep],
        None if s.labels is None else s.labels[keep],
        s.group,
        f"{s.name}[{lo:g}:{hi:g}]",
    )


def evaluate_pair(
    virtual: list[ImuSeries], real: list[ImuSeries], *, rate: float, per_class: bool = False
) -> dict:
    v_fit = [crop(s, 0.0, 0.5) for s in virtual]
    r_fit = [crop(s, 0.0, 0.5) for s in real]
    v_test = [crop(s, 0.5, 1.0) for s in virtual]
    r_test = [resample_series(crop(s, 0.5, 1.0), rate_hz=rate) for s in real]
    prof, notes = fit_profile(v_fit, r_fit, name="half", rate_hz=rate, per_class=per_class)
    raw = np.concatenate([resample_series(s, rate_hz=rate).data for s in v_test])
    cal = np.concatenate([apply_profile(s, prof).data for s in v_test])
    ref = np.concatenate([s.data[s.valid] for s in r_test])
    before = distribution_distances(raw, ref)
    after = distribution_distances(cal, ref)
    return {
        "notes": notes,
        "alignment_deg": prof.alignment.angle_deg if prof.alignment else 0.0,
        "n_test_virtual": int(np.isfinite(cal).all(axis=1).sum()),
        "n_test_real": int(ref.shape[0]),
        "channels": {
            c: {"W_before": b.wasserstein, "W_after": a.wasserstein, "KS_before": b.ks, "KS_after": a.ks}
            for c, b, a in zip(CHANNELS, before, after, strict=True)
        },
    }


def gaitmap() -> dict:
    d = SHARED / "gaitmap"
    motion = read_motion(d / "mocap_sample.csv", length_unit="mm", rate_hz=100.0)
    pl_file = REPO / "pipelines" / "placements" / "gaitmap_feet.toml"
    pls = load_placements(pl_file)
    sig = simulate(motion, [pls["left_foot_imu"], pls["right_foot_imu"]], rate_hz=100.0)
    out = {}
    for side in ("left", "right"):
        s = sig[f"{side}_foot_imu"]
        virt = ImuSeries(s.time, s.acc, s.gyro, s.valid, name=f"virtual_{side}")
        r = read_imu(d / "imu_sample.csv", preset="gaitmap", sensor=f"{side}_sensor")
        real = ImuSeries(r.time, r.acc, r.gyro, name=f"real_{side}")
        out[f"{side}_foot"] = evaluate_pair([virt], [real], rate=100.0)
    return out


def sevivi(per_class: bool) -> dict:
    d = SHARED / "sevivi"
    pls = resolve_placements(["left_wrist", "right_wrist"])
    virt: dict[str, list[ImuSeries]] = {"left_wrist": [], "right_wrist": []}
    real: dict[str, list[ImuSeries]] = {"left_wrist": [], "right_wrist": []}
    for act in SEVIVI_ACTS:
        m = read_azure_kinect(d / "skeletons" / f"joint_synchronization_{act}" / "positions_3d.csv.gz")
        m = m.select([n for n in m.names if not n.startswith(("HAND", "THUMB"))])
        sig = simulate(m, list(pls.values()) if isinstance(pls, dict) else pls, rate_hz=50.0)
        for name, file in (("left_wrist", "LF"), ("right_wrist", "RF")):
            s = sig[name]
            virt[name].append(
                ImuSeries(s.time, s.acc, s.gyro, s.valid, np.full(s.time.size, act), name=f"v_{act}_{name}")
            )
            r = read_imu(
                d / "sensors" / f"joint_synchronization_{act}" / f"{file}.csv.gz", preset="xsens_dot"
            )
            real[name].append(
                ImuSeries(
                    r.time - r.time[0],
                    r.acc,
                    r.gyro,
                    np.ones(r.time.size, dtype=bool),
                    np.full(r.time.size, act),
                    name=f"r_{act}_{file}",
                )
            )
    return {name: evaluate_pair(virt[name], real[name], rate=50.0, per_class=per_class) for name in virt}


def print_table(title: str, res: dict) -> None:
    print(
        f"\n## {title}  (alignment {res['alignment_deg']:.1f} deg; test samples virtual "
        f"{res['n_test_virtual']}, real {res['n_test_real']})"
    )
    print(f"{'channel':<8} {'W before':>9} {'W after':>9} {'KS before':>10} {'KS after':>9}")
    for c, m in res["channels"].items():
        print(
            f"{c:<8} {m['W_before']:>9.3f} {m['W_after']:>9.3f} {m['KS_before']:>10.3f} {m['KS_after']:>9.3f}"
        )


def main() -> None:
    results = {"gaitmap": gaitmap(), "sevivi": sevivi(False), "sevivi_per_class": sevivi(True)}
    for ds, per in results.items():
        for sensor, res in per.items():
            print_table(f"{ds} / {sensor}", res)
    out = REPO / "benchmarks" / "results" / "eval_calibration_real.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
