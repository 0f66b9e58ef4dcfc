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

Two further measurements choose ``calibrate``'s alignment defaults (issue 13, docs/calibration.md):

* ``--mountings``: gaitmap feet again, each foot simulated with ``N`` random mountings (augmentation
  variants: the placement's distributions, and a phone-in-pocket one with half-turn flips); the alignment
  fitted on the base sensor (unpaired, as ``calibrate fit``), then each variant's rotation, ``fixed`` (the
  base's) or ``per-sensor`` (the base's after the variant's mounting relative to the base, from their mean
  specific forces: :func:`imusynth.calibrate.alignment.relative_rotation`), compared with the rotation
  ``compare`` fits on that variant and the real foot IMU (paired), degrees;
* ``--spsw``: spsw-har watch and phone, real training subjects s01-s03 only (never the test subjects), the
  cached virtual files of ``eval_v2r_crossdataset.py`` (read only): profiles (one map per channel) fitted
  on the base sensors with each alignment configuration, applied to the base sensors and their variants;
  per-channel Wasserstein distance and KS statistic between calibrated virtual and real training data,
  in-sample (fitted on s01-s03) and held out (fitted on two subjects, measured on the third).

Usage: python benchmarks/eval_heading_real.py [--mountings [N]] [--spsw]   (prints tables, writes
benchmarks/results/eval_heading_real.json, eval_heading_mountings.json, eval_calibration_spsw.json)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_checks import full_overlap_window  # noqa: E402

from imusynth.calibrate import (  # noqa: E402
    apply_profile,
    distribution_distances,
    fit_profile,
    load_recordings,
    resample_series,
    series_from_signals,
)
from imusynth.calibrate.alignment import (  # noqa: E402
    fit_alignment,
    fit_heading,
    gravity_direction,
    relative_rotation,
)
from imusynth.compare import compare_signals  # noqa: E402
from imusynth.core.conventions import matrix_from_quat  # noqa: E402
from imusynth.core.imu_series import ImuSeries  # noqa: E402
from imusynth.core.mounting import (  # noqa: E402
    DEFAULT_SPEC,
    Distribution,
    MountingSpec,
    draw_mountings,
    mounting_seed,
    split_variant,
    variant_name,
)
from imusynth.core.placements import load_placements, resolve_placements  # noqa: E402
from imusynth.core.sensors import simulate  # noqa: E402
from imusynth.io.hdf5 import read_clips  # noqa: E402
from imusynth.io.readers import read_azure_kinect, read_imu, read_motion  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "imu"
ACTS = ("walking", "squatting", "3d_hand_movement")
SPSW = SHARED / "spsw-har" / "DATA"


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


def _main_heading() -> None:
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


# --------------------------------------------------------------------------------------------------
# --mountings: fixed vs per-sensor alignment of augmentation variants, against compare (paired)
# --------------------------------------------------------------------------------------------------

#: A phone in a pocket: any of the four half-turn flips (as the ``thigh`` placement), larger twist/tilt.
POCKET_SPEC = MountingSpec(twist_deg=Distribution("normal", 0.0, 15.0),
                           tilt_deg=Distribution("normal", 0.0, 8.0),
                           along_m=Distribution("uniform", -0.02, 0.02), flip_p=(0.25, 0.25, 0.25, 0.25))


def gaitmap_mountings(n: int) -> list[dict]:
    """Per variant: angle (deg) of the fixed / per-sensor rotation (gravity only, + heading) to compare's."""
    d = SHARED / "gaitmap"
    motion = read_motion(d / "mocap_sample.csv", length_unit="mm", rate_hz=100.0)
    pls = load_placements(REPO / "pipelines" / "placements" / "gaitmap_feet.toml")
    rows = []
    for side in ("left", "right"):
        name = f"{side}_foot_imu"
        pl = pls[name]
        r = read_imu(d / "imu_sample.csv", preset="gaitmap", sensor=f"{side}_sensor")
        real = ImuSeries(r.time, r.acc, r.gyro)
        for spec_name, spec in (("placement", pl.augment or DEFAULT_SPEC), ("pocket", POCKET_SPEC)):
            mts = draw_mountings(spec, n, seed=mounting_seed("gaitmap", f"{name}/{spec_name}", 0))
            sig = simulate(motion, [pl], rate_hz=100.0, mountings={name: mts})
            base = sig[name]
            v = ImuSeries(base.time, base.acc, base.gyro, base.valid)
            al = {}
            for heading in (False, True):
                a, _ = fit_alignment([v], [real], heading=heading, min_angle_deg=0.0)
                assert a is not None
                al[heading] = a.rotation
            R_c = paired_rotation(base, r)
            for k in range(0, n + 1):
                s = base if k == 0 else sig[variant_name(name, k)]
                ser = ImuSeries(s.time, s.acc, s.gyro, s.valid)
                R_ck = R_c if k == 0 else paired_rotation(s, r)
                R_m = np.eye(3) if k == 0 else matrix_from_quat(np.asarray(s.attrs["mounting_quat"]))
                row = {"side": side, "spec": spec_name, "variant": k,
                       "compare_vs_mounting_deg": angle_deg(R_ck, R_c @ R_m),
                       "flip": "none" if k == 0 else str(s.attrs["mounting_flip"])}
                g = gravity_direction([ser]).direction
                Q = relative_rotation(ser, v) if k else np.eye(3)   # per-sensor: the variant vs its base
                assert Q is not None
                for (mode, heading) in CONFIGS:
                    key = f"{mode}{'+heading' if heading else ''}_deg"
                    R_s = al[heading] @ Q if mode == "per-sensor" else al[heading]
                    row[key] = angle_deg(R_s, R_ck)
                    # the part gravity can see: where the variant's own gravity direction lands
                    cos = np.clip(np.dot(R_s @ g, R_ck @ g), -1.0, 1.0)
                    row["tilt_" + key] = float(np.degrees(np.arccos(cos)))
                rows.append(row)
    return rows


def main_mountings(n: int) -> None:
    rows = gaitmap_mountings(n)
    keys = ["fixed_deg", "per-sensor_deg", "fixed+heading_deg", "per-sensor+heading_deg"]
    summary = {}
    for what, pre in (("whole rotation", ""), ("gravity direction only (tilt)", "tilt_")):
        print(f"\n{what}: angle to compare's paired rotation of each variant (median / 90th percentile, "
              f"deg), {n} mountings per foot and distribution; the base sensors excluded")
        print(f"{'foot':<6} {'mountings':<10} " + " ".join(f"{k[:-4]:>22}" for k in keys))
        for side in ("left", "right"):
            for spec in ("placement", "pocket"):
                sel = [r for r in rows if r["side"] == side and r["spec"] == spec and r["variant"] > 0]
                cells = {k: (float(np.median([r[pre + k] for r in sel])),
                             float(np.percentile([r[pre + k] for r in sel], 90))) for k in keys}
                summary[f"{pre}{side}/{spec}"] = cells
                print(f"{side:<6} {spec:<10} "
                      + " ".join(f"{m:>13.1f} / {q:>6.1f}" for m, q in cells.values()))
    base = [r for r in rows if r["variant"] == 0]
    print("base sensors (fitted on): " + ", ".join(
        f"{k[:-4]} {np.mean([r[k] for r in base]):.1f}" for k in keys) + " deg (mean over feet and draws)")
    chk = [r["compare_vs_mounting_deg"] for r in rows if r["variant"] > 0]
    print("check: compare's rotation of a variant vs compare(base) @ R_mounting: median "
          f"{np.median(chk):.2f} deg, max {np.max(chk):.2f} deg")
    out = REPO / "benchmarks" / "results" / "eval_heading_mountings.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"n": n, "summary": summary, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


# --------------------------------------------------------------------------------------------------
# --spsw: per-channel distances between calibrated virtual and real TRAINING data (s01-s03)
# --------------------------------------------------------------------------------------------------

V2R_VIRTUAL = REPO / "benchmarks" / "results" / "v2r_crossdataset" / "spsw" / "virtual"
TRAIN_SUBJECTS = ("s01", "s02", "s03")
CONFIGS = (("fixed", False), ("per-sensor", False), ("fixed", True), ("per-sensor", True))


def _virtual_series(placement: str) -> tuple[list[ImuSeries], list[tuple[ImuSeries, ImuSeries]]]:
    """Base sensors, and (variant, its base) pairs, of the cached virtual files (read only)."""
    base, variants = [], []
    for f in sorted(V2R_VIRTUAL.glob("*.h5")):
        for c in read_clips(f):
            own = {}
            for name, sig in c.sensors.items():
                b, k = split_variant(name)
                if b == placement:
                    own[k] = series_from_signals(sig, label=c.label, group=c.group or "",
                                                 name=f"{c.clip_id}/{name}")
            base.append(own[0])
            variants += [(own[k], own[0]) for k in sorted(own) if k]
    return base, variants


def _real_series(device: str, subjects: tuple[str, ...]) -> list[ImuSeries]:
    dev = "sw" if device == "watch" else "sp"
    files = sorted(f for s in subjects for f in (SPSW / s).glob(f"{s}_*_{dev}.csv"))
    return [r.series["imu"] for r in load_recordings(files, placements=["imu"], preset="spsw_har")]


def _distances(cal: list[ImuSeries], ref: np.ndarray) -> dict[str, list[float]]:
    data = np.concatenate([s.data[s.valid] for s in cal])
    d = distribution_distances(data, ref)
    return {"w": [c.wasserstein for c in d], "ks": [c.ks for c in d]}


def spsw_distances(device: str) -> dict:
    placement = {"watch": "left_wrist", "phone": "thigh"}[device]
    base, variants = _virtual_series(placement)
    out: dict = {"n_base": len(base), "n_variants": len(variants), "cells": {}}
    folds = [("in-sample", TRAIN_SUBJECTS, TRAIN_SUBJECTS)] + [
        (f"held-out {h}", tuple(s for s in TRAIN_SUBJECTS if s != h), (h,)) for h in TRAIN_SUBJECTS]
    reals = {s: _real_series(device, (s,)) for s in TRAIN_SUBJECTS}
    for fold, fit_on, test_on in folds:
        real_fit = [x for s in fit_on for x in reals[s]]
        real_test = [x for s in test_on for x in reals[s]]
        for mode, heading in (("raw", False), *CONFIGS):
            if mode == "raw":
                rate = round(float(np.median([s.rate_hz for s in real_fit])), 2)
                cal_b = [resample_series(s, rate_hz=rate) for s in base]
                cal_v = [resample_series(s, rate_hz=rate) for s, _ in variants]
                note = ""
            else:
                prof, notes = fit_profile(base, real_fit, name="m", alignment_mode=mode, heading=heading)
                rate = float(prof.rate_hz or 0)
                cal_b = [apply_profile(s, prof) for s in base]
                cal_v = [apply_profile(s, prof, reference=b) for s, b in variants]   # as calibrate apply
                note = "; ".join(n for n in notes if "align" in n)
            ref_s = [resample_series(s, rate_hz=rate) for s in real_test]
            ref = np.concatenate([s.data[s.valid] for s in ref_s])
            key = f"{mode}{'+heading' if heading else ''}"
            out["cells"][f"{fold}|{key}"] = {"base": _distances(cal_b, ref),
                                             "variants": _distances(cal_v, ref), "note": note}
            print(f"  {device} {fold} {key}: {note}", flush=True)
    return out


def main_spsw() -> None:
    res = {}
    for device in ("watch", "phone"):
        res[device] = r = spsw_distances(device)
        print(f"\nspsw-har {device}: mean over the 6 channels of W (acc m/s^2 and gyro rad/s together) / KS, "
              f"{r['n_base']} base sensors, {r['n_variants']} variants")
        print(f"{'fold':<14} {'alignment':<22} {'base W':>8} {'base KS':>8} {'var W':>8} {'var KS':>8}")
        for cell, v in r["cells"].items():
            fold, key = cell.split("|")
            print(f"{fold:<14} {key:<22} {np.mean(v['base']['w']):>8.3f} {np.mean(v['base']['ks']):>8.3f} "
                  f"{np.mean(v['variants']['w']):>8.3f} {np.mean(v['variants']['ks']):>8.3f}")
    out = REPO / "benchmarks" / "results" / "eval_calibration_spsw.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mountings", type=int, nargs="?", const=20, default=0,
                    help="gaitmap feet with N random mountings each: fixed vs per-sensor alignment")
    ap.add_argument("--spsw", action="store_true",
                    help="spsw-har training subjects: per-channel distances, each alignment configuration")
    args = ap.parse_args()
    if not args.mountings and not args.spsw:
        _main_heading()
    if args.mountings:
        main_mountings(args.mountings)
    if args.spsw:
        main_spsw()


if __name__ == "__main__":
    main()
