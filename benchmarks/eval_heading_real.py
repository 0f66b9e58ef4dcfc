"""Unpaired heading alignment (issue 13) against the rotation ``compare`` fits on paired data.

For each virtual-real pair of ../shared/imu (read in place), the sensor rotation virtual -> real is found
three ways:

* ``compare`` (paired, the reference): time offset, then the least-squares rotation of the gyroscopes
  (:func:`imusynth.compare.compare_signals`);
* gravity only (unpaired): the smallest rotation between the mean gravity directions
  (:func:`imusynth.calibrate.alignment.fit_alignment`'s rotation; the heading about gravity left at 0);
* gravity + heading (unpaired): :func:`imusynth.calibrate.alignment.fit_heading` (moments of the
  horizontal acc and gyro directions).

and the angle between each unpaired rotation and compare's is reported (degrees, geodesic), with the
angle between compare's own rotations of the same sensor across trials (its scatter) for scale.

Pairs: gaitmap (left/right foot IMU vs Vicon foot markers, 38.7 s of walking, one trial); sevivi (LF/RF
Xsens DOT vs Azure Kinect wrists without hand joints, three activities; unpaired fits per activity and
pooled over the three).

Usage: python benchmarks/eval_heading_real.py   (prints a table, writes
benchmarks/results/eval_heading_real.json)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_checks import full_overlap_window  # noqa: E402

from imusynth.calibrate.alignment import fit_heading  # noqa: E402
from imusynth.compare import compare_signals  # noqa: E402
from imusynth.core.conventions import matrix_from_quat  # noqa: E402
from imusynth.core.imu_series import ImuSeries  # noqa: E402
from imusynth.core.placements import load_placements, resolve_placements  # noqa: E402
from imusynth.core.sensors import simulate  # noqa: E402
from imusynth.io.readers import read_azure_kinect, read_imu, read_motion  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "imu"
ACTS = ("walking", "squatting", "3d_hand_movement")


def angle_deg(A: np.ndarray, B: np.ndarray) -> float:
    """Geodesic angle between two rotations, degrees."""
    c = (np.trace(A.T @ B) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def paired_rotation(sig, real, *, guess: float | None = None, max_lag: float | None = None) -> np.ndarray:
    kw = {}
    if guess is not None:
        kw = {"offset_guess_s": guess, "max_lag_s": max_lag}
    res = compare_signals(sig.time, sig.acc, sig.gyro, sig.valid, real.time, real.acc, real.gyro,
                          cutoff_hz=sig.cutoff_hz, **kw)
    return np.asarray(matrix_from_quat(res.rotation_quat))


def row(name: str, R_c: np.ndarray, virt: list[ImuSeries], reals: list[ImuSeries]) -> dict:
    h = fit_heading(virt, reals)
    return {"pair": name, "gravity_only_deg": angle_deg(h.gravity_rotation, R_c),
            "gravity_heading_deg": angle_deg(h.rotation, R_c), "heading_deg": h.angle_deg,
            "margin": h.margin}


def gaitmap() -> list[dict]:
    d = SHARED / "gaitmap"
    motion = read_motion(d / "mocap_sample.csv", length_unit="mm", rate_hz=100.0)
    pls = load_placements(REPO / "pipelines" / "placements" / "gaitmap_feet.toml")
    sig = simulate(motion, [pls["left_foot_imu"], pls["right_foot_imu"]], rate_hz=100.0)
    rows = []
    for side in ("left", "right"):
        s = sig[f"{side}_foot_imu"]
        r = read_imu(d / "imu_sample.csv", preset="gaitmap", sensor=f"{side}_sensor")
        R_c = paired_rotation(s, r)
        rows.append(row(f"gaitmap {side} foot", R_c, [ImuSeries(s.time, s.acc, s.gyro, s.valid)],
                        [ImuSeries(r.time, r.acc, r.gyro)]))
    return rows


def sevivi() -> tuple[list[dict], dict]:
    d = SHARED / "sevivi"
    pls = resolve_placements(["left_wrist", "right_wrist"])
    rows = []
    pooled: dict[str, tuple[list, list, list]] = {"LF": ([], [], []), "RF": ([], [], [])}
    for act in ACTS:
        m = read_azure_kinect(d / "skeletons" / f"joint_synchronization_{act}" / "positions_3d.csv.gz")
        m = m.select([n for n in m.names if not n.startswith(("HAND", "THUMB"))])
        sig = simulate(m, pls, rate_hz=50.0)
        for name, file in (("left_wrist", "LF"), ("right_wrist", "RF")):
            s = sig[name]
            path = d / "sensors" / f"joint_synchronization_{act}" / f"{file}.csv.gz"
            r = read_imu(path, preset="xsens_dot")
            guess, lag = full_overlap_window(s.time[s.valid], r.time)
            try:
                R_c = paired_rotation(s, r, guess=guess, max_lag=lag)
            except Exception as exc:  # noqa: BLE001 - a failed comparison is reported, not fatal
                rows.append({"pair": f"sevivi {act} {file}", "error": str(exc)})
                continue
            v = ImuSeries(s.time, s.acc, s.gyro, s.valid)
            rr = ImuSeries(r.time - r.time[0], r.acc, r.gyro)
            rows.append(row(f"sevivi {act} {file}", R_c, [v], [rr]))
            pooled[file][0].append(v)
            pooled[file][1].append(rr)
            pooled[file][2].append(R_c)
    scatter = {}
    for file, (vs, rs, Rcs) in pooled.items():
        if not Rcs:
            continue
        h = fit_heading(vs, rs)
        for R_c, act in zip(Rcs, ACTS, strict=False):
            rows.append({"pair": f"sevivi pooled {file} vs {act}",
                         "gravity_only_deg": angle_deg(h.gravity_rotation, R_c),
                         "gravity_heading_deg": angle_deg(h.rotation, R_c),
                         "heading_deg": h.angle_deg, "margin": h.margin})
        scatter[file] = [angle_deg(A, B) for i, A in enumerate(Rcs) for B in Rcs[i + 1:]]
    return rows, scatter


def main() -> None:
    rows = gaitmap()
    sv, scatter = sevivi()
    rows += sv
    print(f"{'pair':<36} {'gravity only':>12} {'+ heading':>10} {'heading':>8} {'margin':>7}"
          "   (deg vs compare)")
    for r in rows:
        if "error" in r:
            print(f"{r['pair']:<36} compare failed: {r['error'][:60]}")
            continue
        print(f"{r['pair']:<36} {r['gravity_only_deg']:>12.1f} {r['gravity_heading_deg']:>10.1f} "
              f"{r['heading_deg']:>8.1f} {r['margin']:>7.2f}")
    ok = [r for r in rows if "error" not in r]
    med_g = float(np.median([r["gravity_only_deg"] for r in ok]))
    med_h = float(np.median([r["gravity_heading_deg"] for r in ok]))
    print(f"median angle to compare's rotation: gravity only {med_g:.1f} deg, "
          f"gravity + heading {med_h:.1f} deg")
    for file, s in scatter.items():
        print(f"compare's own scatter, sevivi {file}: angles between its per-activity rotations "
              f"{', '.join(f'{a:.0f}' for a in s)} deg")
    out = REPO / "benchmarks" / "results" / "eval_heading_real.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "median_gravity_only_deg": med_g, "median_gravity_heading_deg":
                               med_h, "compare_scatter_deg": scatter}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
