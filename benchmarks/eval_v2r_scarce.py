"""Virtual data when real data is scarce: R2R, V2R and Mix2R with 1, 2 or 5 real training subjects (issue 13).

IMUTube's case for virtual data is the lack of labelled real recordings. This benchmark measures it on
spsw-har (WALKING vs TURNING, watch and pocket phone, subjects s01-s06) with the method the README shows:
virtual and real windows in the gravity frame, the virtual windows calibrated on the real training windows
with one map per channel (labels unused: ``calibrate fit`` on windows files), then ``har-eval --classifier
both``. Every step is an ``imusynth`` command (:func:`imusynth.cli.main.run`).

For each test subject and each set of ``k`` training subjects drawn from the other five (k = 1: 5 sets,
k = 2: 10 sets; every set), the calibration is fitted and R2R / Mix2R trained on those ``k`` subjects only
(asserted on the windows' groups), and the test subject is scored. k = 5 is the leave-one-subject-out of
``eval_v2r_crossdataset.py`` (its ``channel-windows`` row), run here again the same way.

Virtual data: the raw (uncalibrated, not augmented) gravity-frame windows of ``eval_v2r_crossdataset.py``
(``benchmarks/results/v2r_crossdataset/spsw/windows/virtual_{device}_raw_none_gravity.h5``; run that script
first). Real windows per subject are exported once into ``benchmarks/results/v2r_scarce/``.

Reported per device, k and classifier: the mean +- sd over (test subject, training set) of the macro-F1 of
R2R, V2R and Mix2R, how often Mix2R is above R2R, and the pooled macro-F1 over every test prediction.

``--bm-ceiling``: BasicMotions instead (Walking vs Running, the archive's TEST file tested), R2R alone
trained on one or two random TRAIN cases per class (20 draws each, seeded), to see whether R2R ever
leaves 1.000 when real data is scarce (``imusynth.har.evaluate``; the windows of
``eval_v2r_crossdataset.py``).

Usage: python benchmarks/eval_v2r_scarce.py [--device watch|phone] [--k 1 2 5] [--trees 300] [--cnn-epochs 30]
       [--bm-ceiling]
Writes benchmarks/results/v2r_scarce/results[_DEVICE].json and table[_DEVICE].md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

from imusynth.cli.main import run as imusynth
from imusynth.har import load_windows

sys.path.insert(0, str(Path(__file__).resolve().parent))
from v2r_protocol import binary_confusion, check_fold, pooled_macro_f1  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SPSW = REPO.parent / "shared" / "imu" / "spsw-har" / "DATA"
CROSS = REPO / "benchmarks" / "results" / "v2r_crossdataset" / "spsw" / "windows"
OUT = REPO / "benchmarks" / "results" / "v2r_scarce"
SUBJECTS = ("s01", "s02", "s03", "s04", "s05", "s06")
CLASSES = ("WALKING", "TURNING")
DEVICES = {"watch": "sw", "phone": "sp"}
WINDOW = ["--window", "1", "--overlap", "0.5", "--rate", "50", "--frame", "gravity"]
COLUMNS = tuple(f"{c}:{p}" for c in ("rf", "cnn") for p in ("r2r", "v2r", "mix2r"))


def cli(*args: object) -> None:
    """Run one imusynth command line (printed); stop on failure."""
    argv = [str(a) for a in args]
    print("$ imusynth " + " ".join(argv), flush=True)
    if imusynth(argv):
        raise SystemExit(f"imusynth {argv[0]} failed")


def real_windows(device: str, subject: str) -> Path:
    """The gravity-frame windows of one subject's recordings with ``device`` (exported once)."""
    out = OUT / "windows" / f"real_{device}_{subject}.h5"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        files = sorted((SPSW / subject).glob(f"{subject}_*_{DEVICES[device]}.csv"))
        cli("export", *files, "--preset", "spsw_har", "--group-by", "parent", *WINDOW, "-o", out)
    return out


def run_set(device: str, test: str, train: tuple[str, ...], args: argparse.Namespace) -> dict:
    """Calibrate on ``train``'s windows (one map per channel), then R2R / V2R / Mix2R on ``test``."""
    tag = f"{device}_{test}_from_{'+'.join(train)}"
    score = OUT / "scores" / f"{tag}.json"
    if score.exists():
        return json.loads(score.read_text())
    real = [real_windows(device, s) for s in train]
    groups = sorted(set().union(*(load_windows(p).group.tolist() for p in real)))
    assert groups == sorted(train), (groups, train)  # the training windows are those subjects' only
    check_fold((test,), [], groups, load_windows(real_windows(device, test)).group.tolist())
    virtual = CROSS / f"virtual_{device}_raw_none_gravity.h5"
    if not virtual.exists():
        raise SystemExit(f"{virtual} is missing: run benchmarks/eval_v2r_crossdataset.py first")
    prof, cal = OUT / "profiles" / f"{tag}.toml", OUT / "calibrated" / f"{tag}.h5"
    for p in (prof, cal, score):
        p.parent.mkdir(parents=True, exist_ok=True)
    cli("calibrate", "fit", "--virtual", virtual, *[x for r in real for x in ("--real", r)], "-o", prof,
        "--force")
    cli("calibrate", "apply", prof, virtual, "-o", cal, "--force")
    cli("har-eval", "--test", real_windows(device, test), *[x for r in real for x in ("--train-real", r)],
        "--train", cal, "--protocol", "r2r,v2r,mix2r", "--classes", ",".join(CLASSES), "--classifier", "both",
        "--trees", args.trees, "--cnn-epochs", args.cnn_epochs, "--frame", "gravity", "--json", score)
    return json.loads(score.read_text())


def summarise(runs: list[dict]) -> dict:
    """Per column: mean and sd of the macro-F1 over runs, pooled macro-F1, and Mix2R-above-R2R counts."""
    out: dict = {}
    for col in COLUMNS:
        f1s, cms = [], []
        for r in runs:
            res = {f"{x['classifier']}:{x['protocol']}": x for x in r["results"]}[col]
            f1s.append(res["macro_f1"])
            cms.append(binary_confusion([res["per_class_f1"].get(c, 0.0) for c in CLASSES], r["counts"]))
        out[col] = {"mean": float(np.mean(f1s)), "sd": float(np.std(f1s)), "pooled": pooled_macro_f1(cms),
                    "runs": f1s}
    for c in ("rf", "cnn"):
        r2r, mix = out[f"{c}:r2r"]["runs"], out[f"{c}:mix2r"]["runs"]
        out[f"{c}:mix_above"] = sum(m > r for m, r in zip(mix, r2r, strict=True))
        out[f"{c}:mix_below"] = sum(m < r for m, r in zip(mix, r2r, strict=True))
    out["n_runs"] = len(runs)
    return out


def table(res: dict) -> str:
    lines = ["| device | real training subjects | runs | classifier | R2R | V2R | Mix2R "
             "| Mix2R above / below R2R |", "|---|---|---|---|---|---|---|---|"]
    for device, by_k in res.items():
        for k, s in by_k.items():
            for c in ("rf", "cnn"):
                v = [s[f"{c}:{p}"] for p in ("r2r", "v2r", "mix2r")]
                cell = [f"{x['pooled']:.3f} ({x['mean']:.2f} ± {x['sd']:.2f})" for x in v]
                lines.append(f"| {device} | {k} | {s['n_runs']} | {c.upper()} | " + " | ".join(cell)
                             + f" | {s[f'{c}:mix_above']} / {s[f'{c}:mix_below']} |")
    return "\n".join(lines)


def bm_ceiling(args: argparse.Namespace) -> None:
    """R2R on BasicMotions with 1 or 2 real training cases per class (20 seeded draws each)."""
    from imusynth.har.evaluation import evaluate, select_classes

    d = REPO / "benchmarks" / "results" / "v2r_crossdataset" / "bm" / "windows"
    classes = ("Walking", "Running")
    train, test = (select_classes(load_windows(d / f"real_watch_{s}_sensor.h5"), classes)
                   for s in ("train", "test"))
    cases = {c: sorted(set(train.group[train.labels == c].tolist())) for c in classes}
    rng = np.random.default_rng(0)
    for k in (1, 2):
        f1: dict[str, list[float]] = {"rf": [], "cnn": []}
        for _ in range(20):
            pick = [str(g) for c in classes for g in rng.choice(cases[c], size=k, replace=False)]
            rep = evaluate(test, train_real=train.subset(np.isin(train.group, pick)), protocols=["r2r"],
                           classifier="both", n_estimators=args.trees, cnn_epochs=args.cnn_epochs)
            for r in rep.results:
                f1[r.classifier].append(r.macro_f1)
        for c, v in f1.items():
            print(f"BasicMotions R2R, {k} TRAIN case(s) per class, {c.upper()}: macro-F1 min {min(v):.3f}, "
                  f"mean {np.mean(v):.3f} over 20 draws")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=sorted(DEVICES), default=None)
    ap.add_argument("--k", type=int, nargs="+", default=[1, 2, 5], choices=[1, 2, 3, 4, 5])
    ap.add_argument("--trees", type=int, default=300)
    ap.add_argument("--cnn-epochs", type=int, default=30)
    ap.add_argument("--bm-ceiling", action="store_true", help="BasicMotions R2R with 1-2 cases per class")
    args = ap.parse_args()
    if args.bm_ceiling:
        bm_ceiling(args)
        return
    t0, c0 = time.perf_counter(), time.process_time()
    res: dict = {}
    for device in [args.device] if args.device else list(DEVICES):
        res[device] = {}
        for k in args.k:
            runs = []
            for test in SUBJECTS:
                others = [s for s in SUBJECTS if s != test]
                te = load_windows(real_windows(device, test))
                counts = [int((te.labels == c).sum()) for c in CLASSES]
                for train in itertools.combinations(others, k):
                    runs.append({**run_set(device, test, train, args), "counts": counts})
            res[device][k] = summarise(runs)
    md = table(res)
    print(md)
    tag = f"_{args.device}" if args.device else ""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"table{tag}.md").write_text(md + "\n", encoding="utf-8")
    (OUT / f"results{tag}.json").write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {OUT / f'table{tag}.md'} ({time.process_time() - c0:.0f} CPU-s, "
          f"{time.perf_counter() - t0:.0f} s wall)")


if __name__ == "__main__":
    main()
