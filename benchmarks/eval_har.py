"""HAR evaluation on real data (issue 4, acceptance 3): macro-F1 tables for r2r, v2r and mix2r.

* spsw-har (../shared/imu/spsw-har, subjects s01-s06): r2r, leave-one-subject-out, smartwatch (wrist) and
  smartphone (pocket) separately. 1.0 s windows (50 % overlap, 50 Hz): the Timed-Up-and-Go segments are
  1-3 s long and windows never cross a label change; 2.56 s windows are reported too.
* BasicMotions (UEA/UCR): r2r on the archive's train/test split, 2.56 s windows (26 samples at 10 Hz, 50 %
  overlap) and whole 10 s cases.
* sevivi: virtual wrists made by the project from the Azure Kinect skeletons (see
  eval_calibration_real.py for the caveats) vs the real LF / RF IMUs; classes walking, squatting,
  3d_hand_movement; one subject, so the groups are the first and second half of each recording (each in its
  own clock) and the folds leave one half out. r2r, v2r, mix2r, and v2r / mix2r with the virtual data
  calibrated by a profile fitted (per class) on the training half only.

* CNN cost (``--cnn-cost``): training time and peak memory of the har-eval CNN, in fresh processes, on
  the spsw-har smartwatch windows of every subject and class (1 s, 50 Hz; early stopping as in
  har-eval) and on a UCI-HAR-sized synthetic set (10 000 windows x 128 samples x 8 channels, 5 epochs),
  with the peak resident memory of a process holding the same data and torch without training.

Usage: python benchmarks/eval_har.py [--trees 300] [--classifier rf|cnn|both] [--cnn-cost]
Prints Markdown tables; writes benchmarks/results/eval_har.json (and eval_har_cnn_cost.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from imusynth.calibrate import ImuSeries, apply_profile, fit_profile
from imusynth.cli.har import har_eval_files
from imusynth.core.placements import resolve_placements
from imusynth.core.sensors import simulate
from imusynth.har import WindowSet, evaluate, make_windows, stack_placements
from imusynth.io.readers import read_azure_kinect, read_imu

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "imu"
ACTS = ("walking", "squatting", "3d_hand_movement")
RATE = 50.0


def row(name: str, res: dict) -> str:
    pooled = "n/a" if res["pooled_f1"] is None else f"{res['pooled_f1']:.3f}"
    return (
        f"| {name} | {res['macro_f1']:.3f} ± {res['macro_f1_sd']:.3f} | {pooled} | "
        f"{sum(res['n_train'])} | {sum(res['n_test'])} |"
    )


def spsw(trees: int, classifier: str = "rf") -> dict:
    out = {}
    for dev, what in (("sw", "smartwatch (wrist)"), ("sp", "smartphone (pocket)")):
        files = sorted((SHARED / "spsw-har" / "DATA").glob(f"s0*/s0*_{dev}.csv"))
        for window in (1.0, 2.56):
            rep = har_eval_files(
                files,
                protocols=["r2r"],
                n_folds=6,
                n_estimators=trees,
                window_s=window,
                overlap=0.5,
                rate_hz=RATE,
                preset="spsw_har",
                group_by="parent",
                classifier=classifier,
            )
            out[f"{what}, {window:g} s"] = json.loads(rep.to_json())
    return out


def basicmotions(trees: int) -> dict:
    d = SHARED / "basicmotions"
    out = {}
    for window in (2.56, 10.0):
        rep = har_eval_files(
            [d / "BasicMotions_TEST.ts"],
            train_real=[d / "BasicMotions_TRAIN.ts"],
            protocols=["r2r"],
            n_estimators=trees,
            window_s=window,
            overlap=0.5,
            rate_hz=10.0,
            source_rate_hz=10.0,
        )
        out[f"{window:g} s windows"] = json.loads(rep.to_json())
    return out


def halves(s: ImuSeries) -> list[ImuSeries]:
    """The two halves of a recording (own clock), groups 'A' and 'B'."""
    mid = 0.5 * (s.time[0] + s.time[-1])
    out = []
    for g, keep in (("A", s.time < mid), ("B", s.time >= mid)):
        out.append(
            ImuSeries(
                s.time[keep],
                s.acc[keep],
                s.gyro[keep],
                s.valid[keep],
                None if s.labels is None else s.labels[keep],
                g,
                f"{s.name}_{g}",
            )
        )
    return out


def sevivi_series() -> tuple[dict[str, list[ImuSeries]], dict[str, list[ImuSeries]]]:
    d = SHARED / "sevivi"
    pls = resolve_placements(["left_wrist", "right_wrist"])
    virt: dict[str, list[ImuSeries]] = {"left_wrist": [], "right_wrist": []}
    real: dict[str, list[ImuSeries]] = {"left_wrist": [], "right_wrist": []}
    for act in ACTS:
        m = read_azure_kinect(d / "skeletons" / f"joint_synchronization_{act}" / "positions_3d.csv.gz")
        m = m.select([n for n in m.names if not n.startswith(("HAND", "THUMB"))])  # confidence 0 joints
        sig = simulate(m, list(pls.values()) if isinstance(pls, dict) else pls, rate_hz=RATE)
        for name, file in (("left_wrist", "LF"), ("right_wrist", "RF")):
            s = sig[name]
            virt[name] += halves(
                ImuSeries(s.time, s.acc, s.gyro, s.valid, np.full(s.time.size, act), name=f"virtual_{act}")
            )
            r = read_imu(
                d / "sensors" / f"joint_synchronization_{act}" / f"{file}.csv.gz", preset="xsens_dot"
            )
            real[name] += halves(
                ImuSeries(
                    r.time - r.time[0],
                    r.acc,
                    r.gyro,
                    np.ones(r.time.size, dtype=bool),
                    np.full(r.time.size, act),
                    name=f"real_{act}",
                )
            )
    return virt, real


def windows(series: list[ImuSeries]) -> WindowSet:
    recs = [stack_placements([s], ["wrist"], rate_hz=RATE) for s in series]
    return make_windows(recs, window_s=2.56, overlap=0.5, rate_hz=RATE, class_names=ACTS)


def sevivi(trees: int) -> dict:
    virt, real = sevivi_series()
    out = {}
    for name in virt:
        v_ws, r_ws = windows(virt[name]), windows(real[name])
        rep = json.loads(evaluate(r_ws, virtual=v_ws, n_folds=2, n_estimators=trees).to_json())
        # calibrated virtual data: per fold, a per-class profile fitted on the training half only
        cal: dict[str, list] = {"v2r": [], "mix2r": []}
        for test_g in ("A", "B"):
            train_g = "B" if test_g == "A" else "A"
            v_tr = [s for s in virt[name] if s.group == train_g]
            r_tr = [s for s in real[name] if s.group == train_g]
            prof, _ = fit_profile(v_tr, r_tr, name="fold", rate_hz=RATE, per_class=True)
            v_cal = windows([apply_profile(s, prof) for s in v_tr])
            r_test = r_ws.subset(r_ws.group == test_g)
            r_train = r_ws.subset(r_ws.group == train_g)
            fold = evaluate(
                r_test, virtual=v_cal, train_real=r_train, protocols=["v2r", "mix2r"], n_estimators=trees
            )
            for res in fold.results:
                cal[res.protocol].append(res)
        for proto, results in cal.items():
            f1 = [r.macro_f1 for r in results]
            rep["results"].append(
                {
                    "protocol": f"{proto} (calibrated)",
                    "macro_f1": float(np.mean(f1)),
                    "macro_f1_sd": float(np.std(f1)),
                    "fold_f1": f1,
                    "pooled_f1": None,
                    "per_class_f1": {},
                    "n_train": [n for r in results for n in r.n_train],
                    "n_test": [n for r in results for n in r.n_test],
                }
            )
        out[f"{name} (real {'LF' if name.startswith('left') else 'RF'})"] = rep
    return out


_CNN_COST = """
import json, resource, sys, time
import numpy as np
import torch
from imusynth.har.evaluation import _signal_channels
from imusynth.har.cnn import CnnClassifier
mode, epochs = sys.argv[2], int(sys.argv[3])
if mode.startswith("spsw"):
    from pathlib import Path
    from imusynth.cli.har import windows_from_files
    files = sorted(Path(sys.argv[1]).glob("s0*/s0*_sw.csv"))
    ws = windows_from_files(files, window_s=1.0, overlap=0.5, rate_hz=50.0, preset="spsw_har",
                            group_by="parent")
    X, y, g = _signal_channels(ws.X, ws.channels)[0], ws.y, ws.group
    patience = 6
else:  # UCI-HAR-sized: 10 000 windows of 128 samples (2.56 s at 50 Hz), 6 channels + 2 norms, 6 classes
    rng = np.random.default_rng(0)
    n, T = 10000, 128
    y = rng.integers(0, 6, n)
    t = np.arange(T) / 50.0
    raw = 0.5 * rng.standard_normal((n, T, 6)).astype(np.float32)
    raw[:, :, 0] += np.sin(2 * np.pi * (0.5 + 0.5 * y[:, None]) * t[None, :])
    names = [f"w.{c}" for c in ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")]
    X = _signal_channels(raw, names)[0]
    g = np.array([f"s{k % 20}" for k in range(n)])
    patience = epochs  # every epoch runs: time per epoch
out = {"set": mode, "windows": int(X.shape[0]), "samples": int(X.shape[1]), "channels": int(X.shape[2]),
       "rss_before_fit_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
if sys.argv[4] == "train":
    t0 = time.perf_counter(); c0 = time.process_time()
    clf = CnnClassifier(seed=0, max_epochs=epochs, patience=patience).fit(X, y, g)
    out.update(train_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0, epochs=clf.epochs_run,
               best_epoch=clf.best_epoch)
    out["s_per_epoch"] = out["train_s"] / clf.epochs_run
    t0 = time.perf_counter(); clf.predict(X); out["predict_s"] = time.perf_counter() - t0
out["rss_peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def cnn_cost(epochs: int = 40) -> dict:
    """Training time and peak memory of the CNN, in fresh processes: every spsw-har watch window (early
    stopping as in har-eval), and a UCI-HAR-sized synthetic set (10 000 x 128 x 8, 5 epochs, all run).
    Peak resident memory of the training process and of one that imports torch and holds the same data
    without training."""
    import subprocess
    import sys

    def once(mode: str, n_epochs: int, what: str) -> dict:
        res = subprocess.run([sys.executable, "-c", _CNN_COST, str(SHARED / "spsw-har" / "DATA"), mode,
                              str(n_epochs), what], check=True, capture_output=True, text=True, cwd=REPO)
        return json.loads(res.stdout.strip().splitlines()[-1])

    out = {}
    for mode, n_epochs in (("spsw", epochs), ("synthetic", 5)):
        run = once(mode, n_epochs, "train")
        run["rss_without_training_mib"] = once(mode, n_epochs, "load")["rss_peak_mib"]
        out[mode] = run
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trees", type=int, default=300)
    ap.add_argument("--classifier", default="rf", choices=["rf", "cnn", "both"])
    ap.add_argument("--cnn-cost", action="store_true", help="only measure the CNN's training time and memory")
    args = ap.parse_args()
    if args.cnn_cost:
        cost = cnn_cost()
        print(json.dumps(cost, indent=2))
        out = REPO / "benchmarks" / "results" / "eval_har_cnn_cost.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(cost, indent=2) + "\n", encoding="utf-8")
        return
    results = {
        "spsw-har": spsw(args.trees, args.classifier),
        "BasicMotions": basicmotions(args.trees),
        "sevivi": sevivi(args.trees),
    }
    for ds, per in results.items():
        print(f"\n## {ds}\n")
        print(
            "| setting / protocol | macro-F1 (mean ± sd over folds) | pooled macro-F1 | train windows "
            "| test windows |"
        )
        print("|---|---|---|---|---|")
        for setting, rep in per.items():
            for res in rep["results"]:
                print(row(f"{setting}: {res.get('classifier', 'rf')} {res['protocol']}", res))
    out = REPO / "benchmarks" / "results" / "eval_har.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
