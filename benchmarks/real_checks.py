"""Real checks of the physics core against real IMUs (issue 2, acceptance 2 and 3).

1. **gaitmap** (``../shared/imu/gaitmap``): Vicon foot markers (heel, toe, 5th metatarsal) define a foot
   sensor (``pipelines/placements/gaitmap_feet.toml``); ``imusynth motion`` then ``imusynth compare`` (the
   CLI, as ``tests/test_real_gaitmap.py`` runs it) against the two real foot IMUs. Targets over the 6 axes:
   gyroscope median r >= 0.95, none < 0.85; accelerometer median r >= 0.85, none < 0.6. Also the
   sensitivity of the figures to the kinematics cut-off (4, 6, 8, 12 Hz; the default is 6 Hz).
2. **sevivi** (``../shared/imu/sevivi``): virtual arm sensors from the Azure Kinect skeletons against the two
   real IMUs LF and RF, for the three activities. The placement of LF/RF is undocumented, so every
   candidate placement is compared with both and the best fit is reported (no threshold).

Sevivi method (see docs/validation.md for the reasoning):

* virtual sensors by :func:`imusynth.core.sensors.simulate` at 50 Hz with the default pipeline settings
  (6 Hz cut-off, confidence >= 0.5); the candidates are the left/right forearm and wrist placements without
  hand joints (the built-ins' hand-free fallback: forearm roll from the shoulder line) and, as a variant,
  the built-ins with the thumb (Azure reports the hand joints with confidence NONE throughout two of the
  three recordings, so that variant is run with ``min_confidence=0``); the upper arms and the trunk, head
  and leg placements are controls (any segment may carry the sensor);
* clocks: the IMU recordings start before and end after the skeleton recording (they are 6-15 s
  longer), so the offset search covers every offset that puts the skeleton span inside the IMU span;
* stage A: each (sensor, candidate) pair is aligned on its own (:func:`imusynth.compare.compare_signals`,
  rotation fitted from the gyroscope, no lever arm, band capped at the virtual sensor's cut-off as the
  ``imusynth compare`` CLI does);
* stage B: LF and RF of one activity share one clock (identical ``SampleTimeFine`` time base), so the
  activity's offset is taken from the stage-A pair with the highest offset score and every pair is
  re-aligned within +-0.3 s of it; the figures reported per candidate are stage B's.

Run from the repository root::

    .venv/bin/python benchmarks/real_checks.py [--skip-gaitmap] [--skip-sevivi]

Prints tables and writes ``benchmarks/results/real_checks.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
RESULTS = REPO / "benchmarks" / "results"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from imusynth.compare import CompareError, CompareResult, compare_signals  # noqa: E402
from imusynth.core.motion import Motion  # noqa: E402
from imusynth.core.placements import Placement, builtin_placements  # noqa: E402
from imusynth.core.sensors import SensorSignals, simulate  # noqa: E402
from imusynth.io.readers import read_motion  # noqa: E402
from imusynth.io.readers.imu import RealIMU, read_imu  # noqa: E402

AXES = ("x", "y", "z")

# ---------------------------------------------------------------------------------------------------
# gaitmap (through the CLI)
# ---------------------------------------------------------------------------------------------------

GAITMAP_TARGETS = {"gyro_median": 0.95, "gyro_min": 0.85, "acc_median": 0.85, "acc_min": 0.6}
CUTOFFS_HZ = (4.0, 6.0, 8.0, 12.0)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "imusynth", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=600, env=env)


def gaitmap_run(cutoff_hz: float | None, workdir: Path) -> dict[str, Any]:
    """``imusynth motion`` + ``imusynth compare`` for both feet; ``cutoff_hz=None``: the pipeline default."""
    mocap = SHARED / "imu" / "gaitmap" / "mocap_sample.csv"
    imu = SHARED / "imu" / "gaitmap" / "imu_sample.csv"
    out = workdir / f"feet_{cutoff_hz or 'default'}.h5"
    args = ["motion", str(mocap), "--placements-file", str(REPO / "pipelines/placements/gaitmap_feet.toml"),
            "-p", "left_foot_imu", "-p", "right_foot_imu", "--length-unit", "mm", "--source-rate", "100",
            "--rate", "100", "-o", str(out)]
    if cutoff_hz is not None:
        args += ["--cutoff", f"{cutoff_hz:g}"]
    r = _cli(*args)
    if r.returncode != 0:
        raise RuntimeError(f"imusynth motion failed: {r.stderr.strip()}")
    sides = {}
    for side in ("left", "right"):
        r = _cli("compare", str(out), str(imu), "-p", f"{side}_foot_imu", "--real-preset", "gaitmap",
                 "--real-sensor", f"{side}_sensor", "--lever-arm", "--json")
        if r.returncode != 0:
            raise RuntimeError(f"imusynth compare failed: {r.stderr.strip()}")
        sides[side] = json.loads(r.stdout)
    gyro = [sides[s]["metrics"]["gyro"][a]["r"] for s in ("left", "right") for a in AXES]
    acc = [sides[s]["metrics"]["acc"][a]["r"] for s in ("left", "right") for a in AXES]
    summary = {"gyro_median": float(np.median(gyro)), "gyro_min": float(min(gyro)),
               "acc_median": float(np.median(acc)), "acc_min": float(min(acc))}
    met = (summary["gyro_median"] >= GAITMAP_TARGETS["gyro_median"]
           and summary["gyro_min"] >= GAITMAP_TARGETS["gyro_min"]
           and summary["acc_median"] >= GAITMAP_TARGETS["acc_median"]
           and summary["acc_min"] >= GAITMAP_TARGETS["acc_min"])
    return {"cutoff_hz": cutoff_hz, "sides": sides, "summary": summary, "targets_met": met}


def gaitmap_check() -> dict[str, Any]:
    """The acceptance run (pipeline defaults) and the cut-off sensitivity runs."""
    with tempfile.TemporaryDirectory() as tmp:
        default = gaitmap_run(None, Path(tmp))
        sensitivity = [gaitmap_run(fc, Path(tmp)) for fc in CUTOFFS_HZ]
    return {"default": default, "sensitivity": sensitivity, "targets": GAITMAP_TARGETS}


def print_gaitmap(res: dict[str, Any]) -> None:
    d = res["default"]
    print("\n== gaitmap: mocap foot markers vs real foot IMUs (imusynth motion + imusynth compare) ==")
    print(f"{'foot':<6} {'signal':<6} {'axis':<4} {'r':>7} {'RMSE':>8}   offset s   lever arm mm")
    for side in ("left", "right"):
        s = d["sides"][side]
        lever = ", ".join(f"{1000 * v:+.0f}" for v in s["lever_arm_m"])
        for sig in ("gyro", "acc"):
            for a in AXES:
                m = s["metrics"][sig][a]
                extra = f"   {s['offset_s']:+.4f}   ({lever})" if (sig, a) == ("gyro", "x") else ""
                print(f"{side:<6} {sig:<6} {a:<4} {m['r']:>7.4f} {m['rmse']:>8.4f}{extra}")
    sm = d["summary"]
    print(f"gyro median r {sm['gyro_median']:.4f} (target >= 0.95), min {sm['gyro_min']:.4f} (>= 0.85); "
          f"acc median r {sm['acc_median']:.4f} (>= 0.85), min {sm['acc_min']:.4f} (>= 0.6): "
          f"{'MET' if d['targets_met'] else 'NOT MET'}")
    print("\ncut-off sensitivity (kinematics low-pass; default 6 Hz)")
    print(f"{'cut-off Hz':>10} {'gyro med':>9} {'gyro min':>9} {'acc med':>8} {'acc min':>8}  targets")
    for run in res["sensitivity"]:
        sm = run["summary"]
        print(f"{run['cutoff_hz']:>10g} {sm['gyro_median']:>9.4f} {sm['gyro_min']:>9.4f} "
              f"{sm['acc_median']:>8.4f} {sm['acc_min']:>8.4f}  {'met' if run['targets_met'] else 'not met'}")


# ---------------------------------------------------------------------------------------------------
# sevivi (library calls)
# ---------------------------------------------------------------------------------------------------

ACTIVITIES = ("walking", "squatting", "3d_hand_movement")
SENSORS = ("LF", "RF")
#: Half-width of the stage-B search around the activity's shared offset, s.
SHARED_LAG_S = 0.3


def sevivi_paths(activity: str) -> tuple[Path, dict[str, Path]]:
    """The skeleton file and the LF/RF IMU files of one activity."""
    root = SHARED / "imu" / "sevivi"
    skel = root / "skeletons" / f"joint_synchronization_{activity}" / "positions_3d.csv.gz"
    return skel, {s: root / "sensors" / f"joint_synchronization_{activity}" / f"{s}.csv.gz" for s in SENSORS}


def _hand_free(p: Placement) -> Placement:
    """A forearm/wrist placement with only its last (hand-free) definition: roll from the shoulder line."""
    return dataclasses.replace(p, name=f"{p.name}_no_hand", definitions=(p.definitions[-1],),
                               toml=p.toml + "# imusynth real_checks: the last fallback only\n")


#: Built-in placements compared as controls (other body segments).
CONTROLS = ("chest", "waist", "head", "left_thigh", "right_thigh", "left_shank", "right_shank", "left_foot",
            "right_foot")


def candidate_placements() -> dict[str, tuple[Placement, float]]:
    """Candidate name -> (placement, min_confidence): the arm candidates, then the controls."""
    table = builtin_placements()
    out: dict[str, tuple[Placement, float]] = {}
    for side in ("left", "right"):
        for kind in ("forearm", "wrist"):
            p = table[f"{side}_{kind}"]
            out[f"{side}_{kind}_no_hand"] = (_hand_free(p), 0.5)
            out[f"{side}_{kind}_thumb"] = (p, 0.0)
        out[f"{side}_upper_arm"] = (table[f"{side}_upper_arm"], 0.5)
    for name in CONTROLS:
        out[name] = (table[name], 0.5)
    return out


def full_overlap_window(t_v: np.ndarray, t_r: np.ndarray, margin_s: float = 0.5) -> tuple[float, float]:
    """``(offset_guess_s, max_lag_s)`` covering the offsets that put the virtual span inside the real one."""
    lo, hi = t_r[0] - t_v[0], t_r[-1] - t_v[-1]
    if hi < lo:                          # the real recording is the shorter one: the reverse containment
        lo, hi = hi, lo
    return 0.5 * (lo + hi), 0.5 * (hi - lo) + margin_s


def _compare(sig: SensorSignals, real: RealIMU, guess: float, max_lag: float) -> CompareResult:
    return compare_signals(sig.time, sig.acc, sig.gyro, sig.valid, real.time, real.acc, real.gyro,
                           cutoff_hz=sig.cutoff_hz, offset_guess_s=guess, max_lag_s=max_lag)


def _summary(res: CompareResult) -> dict[str, Any]:
    m = res.metrics
    gyro_r = [m["gyro"][a].r for a in AXES]
    acc_r = [m["acc"][a].r for a in AXES]
    return {
        "offset_s": res.offset_s, "offset_score": res.offset_score, "rotation_deg": res.rotation_angle_deg,
        "n_samples": res.n_samples,
        "gyro_r": gyro_r, "gyro_rmse": [m["gyro"][a].rmse for a in AXES],
        "acc_r": acc_r, "acc_rmse": [m["acc"][a].rmse for a in AXES],
        "gyro_r_median": float(np.median(gyro_r)), "acc_r_median": float(np.median(acc_r)),
        "mean_r": float(np.mean(gyro_r + acc_r)),
    }


def sevivi_activity(activity: str) -> dict[str, Any]:
    """Stage A and stage B comparisons of every candidate with LF and RF for one activity."""
    skel, imu_paths = sevivi_paths(activity)
    motion: Motion = read_motion(skel, format="azure_kinect")
    reals = {s: read_imu(p, preset="xsens_dot") for s, p in imu_paths.items()}
    virtual: dict[str, SensorSignals] = {}
    for name, (p, min_conf) in candidate_placements().items():
        out = simulate(motion, [p], rate_hz=50.0, cutoff_hz=6.0, min_confidence=min_conf, require_valid=False)
        virtual[name] = dataclasses.replace(out[p.name], placement=name)
    # a candidate needs valid samples over most of the recording to be compared at all
    usable = {n: sig for n, sig in virtual.items() if sig.valid.mean() >= 0.5}
    skipped = {n: f"valid for {100 * sig.valid.mean():.0f} % of the samples" for n, sig in virtual.items()
               if n not in usable}
    stage_a: dict[str, dict[str, Any]] = {s: {} for s in SENSORS}
    for s, real in reals.items():
        for name, sig in usable.items():
            guess, lag = full_overlap_window(sig.time[sig.valid], real.time)
            try:
                stage_a[s][name] = _summary(_compare(sig, real, guess, lag))
            except CompareError as exc:
                stage_a[s][name] = {"error": str(exc)}
    scored = [(v["offset_score"], s, n, v["offset_s"]) for s in SENSORS for n, v in stage_a[s].items()
              if "offset_score" in v]
    score, s_best, n_best, shared_offset = max(scored)
    stage_b: dict[str, dict[str, Any]] = {s: {} for s in SENSORS}
    for s, real in reals.items():
        for name, sig in usable.items():
            try:
                stage_b[s][name] = _summary(_compare(sig, real, shared_offset, SHARED_LAG_S))
            except CompareError as exc:
                stage_b[s][name] = {"error": str(exc)}
    best = {}
    for s in SENSORS:
        ok = {n: v for n, v in stage_b[s].items() if "mean_r" in v}
        best[s] = max(ok, key=lambda n: ok[n]["mean_r"]) if ok else None
    best_a = {}
    for s in SENSORS:
        ok = {n: v for n, v in stage_a[s].items() if "mean_r" in v}
        best_a[s] = max(ok, key=lambda n: ok[n]["mean_r"]) if ok else None
    return {
        "skeleton": {"frames": motion.n_frames, "duration_s": motion.duration_s, "rate_hz": motion.rate_hz},
        "real": {s: {"samples": int(r.time.size), "duration_s": r.duration_s,
                     "gyro_p99_deg_s": float(np.degrees(np.percentile(np.linalg.norm(r.gyro, axis=1), 99)))}
                 for s, r in reals.items()},
        "valid_fraction": {n: float(sig.valid.mean()) for n, sig in virtual.items()},
        "skipped": skipped,
        "stage_a": stage_a, "best_stage_a": best_a,
        "shared_offset": {"offset_s": shared_offset, "score": score, "from": [s_best, n_best]},
        "stage_b": stage_b, "best": best,
    }


def sevivi_check() -> dict[str, Any]:
    return {a: sevivi_activity(a) for a in ACTIVITIES}


def _fmt(v: list[float]) -> str:
    return " ".join(f"{x:+.2f}" for x in v)


def print_sevivi(res: dict[str, Any]) -> None:
    print("\n== sevivi: Azure Kinect skeleton -> virtual arm sensors vs real IMUs LF / RF ==")
    for act, r in res.items():
        so = r["shared_offset"]
        print(f"\n-- {act}: skeleton {r['skeleton']['duration_s']:.1f} s; shared clock offset "
              f"{so['offset_s']:.3f} s (from {so['from'][0]} / {so['from'][1]}, score {so['score']:.2f})")
        for s in SENSORS:
            p99 = r["real"][s]["gyro_p99_deg_s"]
            print(f"   {s} (real |gyro| p99 {p99:.0f} deg/s); best: {r['best'][s]}")
            print(f"   {'candidate':<24} {'offA s':>9} {'offB s':>9} {'gyro r (x y z)':>17} "
                  f"{'gyro RMSE rad/s':>17} {'acc r (x y z)':>17} {'acc RMSE m/s2':>17} {'mean r':>7}")
            for name, why in r["skipped"].items():
                print(f"   {name:<24} not compared: {why}")
            for name, v in r["stage_b"][s].items():
                a = r["stage_a"][s][name]
                if "error" in v:
                    print(f"   {name:<24} {v['error'][:90]}")
                    continue
                off_a = f"{a['offset_s']:9.3f}" if "offset_s" in a else f"{'-':>9}"
                print(f"   {name:<24} {off_a} {v['offset_s']:9.3f} {_fmt(v['gyro_r']):>17} "
                      f"{_fmt(v['gyro_rmse']):>17} {_fmt(v['acc_r']):>17} {_fmt(v['acc_rmse']):>17} "
                      f"{v['mean_r']:7.3f}")


def _r3(v: list[float]) -> str:
    return " / ".join(f"{x:.2f}" for x in v)


def markdown(result: dict[str, Any]) -> str:
    """The figures as Markdown tables (the ones in docs/validation.md)."""
    out: list[str] = []
    if "gaitmap" in result:
        d = result["gaitmap"]["default"]
        out += ["### gaitmap", "", "| foot | signal | r x / y / z | RMSE x / y / z | NRMSE x / y / z |",
                "|---|---|---|---|---|"]
        for side in ("left", "right"):
            for sig, unit in (("gyro", "rad/s"), ("acc", "m/s²")):
                m = d["sides"][side]["metrics"][sig]
                r_, rmse, nrmse = ([m[a][k] for a in AXES] for k in ("r", "rmse", "nrmse"))
                out.append(f"| {side} | {sig} | {_r3(r_)} | {_r3(rmse)} {unit} | {_r3(nrmse)} |")
        out += ["", "| cut-off Hz | gyro median r | gyro min r | acc median r | acc min r | targets |",
                "|---|---|---|---|---|---|"]
        for run in result["gaitmap"]["sensitivity"]:
            sm = run["summary"]
            met = "met" if run["targets_met"] else "not met"
            out.append(f"| {run['cutoff_hz']:g} | {sm['gyro_median']:.3f} | {sm['gyro_min']:.3f} | "
                       f"{sm['acc_median']:.3f} | {sm['acc_min']:.3f} | {met} |")
        out.append("")
    for act, r in result.get("sevivi", {}).items():
        so = r["shared_offset"]
        out += [f"### sevivi {act}", "",
                f"Shared offset {so['offset_s']:.3f} s (from {so['from'][0]} / {so['from'][1]}, score "
                f"{so['score']:.2f}); best fit: LF {r['best']['LF']}, RF {r['best']['RF']}.", "",
                "| candidate | sensor | offset A s | gyro r x / y / z | gyro RMSE rad/s | acc r x / y / z | "
                "acc RMSE m/s² | mean r |", "|---|---|---|---|---|---|---|---|"]
        for s in SENSORS:
            for name, v in r["stage_b"][s].items():
                if "error" in v:
                    out.append(f"| {name} | {s} | – | {v['error']} | | | | |")
                    continue
                a = r["stage_a"][s][name]
                off = f"{a['offset_s']:.3f}" if "offset_s" in a else "edge"
                best = "**" if name == r["best"][s] else ""
                out.append(f"| {best}{name}{best} | {s} | {off} | {_r3(v['gyro_r'])} | "
                           f"{_r3(v['gyro_rmse'])} | {_r3(v['acc_r'])} | {_r3(v['acc_rmse'])} | "
                           f"{best}{v['mean_r']:.3f}{best} |")
        out.append("")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-gaitmap", action="store_true")
    ap.add_argument("--skip-sevivi", action="store_true")
    args = ap.parse_args()
    if not SHARED.exists():
        sys.exit(f"shared data missing: {SHARED}")
    t0 = time.perf_counter()
    result: dict[str, Any] = {}
    if not args.skip_gaitmap:
        result["gaitmap"] = gaitmap_check()
        print_gaitmap(result["gaitmap"])
    if not args.skip_sevivi:
        result["sevivi"] = sevivi_check()
        print_sevivi(result["sevivi"])
    result["wall_s"] = time.perf_counter() - t0
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "real_checks.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, default=float))
    os.replace(tmp, path)
    md = RESULTS / "real_checks.md"
    md.write_text(markdown(result) + "\n")
    print(f"\nwrote {path} and {md.name} ({result['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
