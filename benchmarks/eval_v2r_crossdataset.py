"""Cross-dataset V2R (issue 13, part 4): virtual IMU from others' motion capture, tested on real devices.

Every step is an ``imusynth`` command, run in this process through :func:`imusynth.cli.main.run` (the same
code path as the shell; each command line is printed):

1. **Virtual data** (``imusynth motion``, cached under ``benchmarks/results/v2r_crossdataset/``):
   Bandai-Namco dataset-2 BVH takes (30 fps), ids 001-002 of every style for ``walk`` and
   ``walk-turn-left/right``, ids 001-004 for ``run`` (shorter takes), and the sevivi Azure Kinect walking
   skeleton (the moving part, 9.5-20.5 s). Sensors ``left_wrist`` (watch) and ``thigh`` (phone in the front
   trouser pocket), 50 Hz, ``--augment 4`` (four random mountings per sensor, the placements' stated
   distributions). Group key: the take (``style_id``). Labels are the target dataset's names. The turn of a
   ``walk-turn`` take is cut out with ``--start/--end`` from the motion alone: the heading of the hip line,
   smoothed over 1 s; the longest run with a heading rate above 30 deg/s is ``TURNING``, the walking before
   and after it ``WALKING`` (no real data is looked at).
2. **Real data and splits**:
   BasicMotions watch (10 Hz, archive split: TRAIN for training and calibration, TEST for testing; the file
   records no subject, so the two halves may share people), classes Walking and Running;
   spsw-har watch (``sw``, left wrist assumed) and pocket phone (``sp``), subjects s01-s03 for training and
   calibration, s04-s06 for testing, classes WALKING and TURNING.
3. **Calibration** (``imusynth calibrate fit/apply``) fitted on the real TRAINING recordings only: one map
   per channel (all their samples, every activity, labels unused) or ``--per-class``; fitted on the base
   sensor and applied to it and to its augmentation variants.
4. **Windows** (``imusynth export``): BasicMotions 2 s windows at 10 Hz (the shortest run takes are 2.2 s),
   spsw-har 1 s at 50 Hz (its turns last 1-3 s), 50 % overlap; ``--augmented none|stack``,
   ``--frame sensor|gravity``.
5. **Scores** (``imusynth har-eval --classifier both --classes ...``): R2R trains on real training
   windows, V2R on virtual, Mix2R on both; always tested on the real test split. Macro-F1.

The configuration reported as the method ("full": per-class calibration + augmentation + gravity frame
for spsw-har; BasicMotions' accelerometer has no gravity, so its full configuration keeps the sensor frame)
was fixed before the table was run; every other cell is an ablation. Nothing is chosen on the test split.

``--swap`` reruns spsw-har with the subjects' roles swapped (s04-s06 train and calibrate, s01-s03 tested)
for R2R and three cells (:data:`SWAP_CELLS`), to show how much a cell moves with the choice of people.

``--subject-folds N`` runs spsw-har over N folds of whole subjects (6: leave-one-subject-out; helpers in
``benchmarks/v2r_protocol.py``): per fold the calibrations are fitted and R2R/Mix2R trained on the other
subjects only (asserted on the files and the window groups), every cell is scored on the held-out
subjects, and the folds are pooled (macro-F1 of all test predictions, from each fold's exact confusion
matrix) with the mean +- sd over folds and rows chosen per fold on the *other* folds.
``--alignment-rows`` adds the cells of ``calibrate fit --alignment per-sensor --heading``
(:data:`ALIGNMENT_CELLS`); ``--calm-rows`` the calm-style cells (:data:`CALM_CELLS`, styles chosen per fold
on its training subjects). ``--window-rows`` adds the cells calibrated on the windows themselves
(:data:`WINDOW_CELLS`: ``calibrate fit`` on the raw virtual windows and the fold's real training windows, in
the cell's frame, then ``calibrate apply`` on the virtual windows). ``--device``, ``--fold`` and
``--alignment-only`` split the work between processes that fill the same cache; a last run without them
assembles the tables.

Usage: python benchmarks/eval_v2r_crossdataset.py [--cnn-epochs 30] [--trees 300] [--only bm|spsw] [--swap]
       [--subject-folds 6 [--alignment-rows] [--calm-rows]] [--window-rows] [--device watch|phone]
       [--fold s06]
Writes benchmarks/results/v2r_crossdataset/results[_swap|_folds6[_calm]].json and table[...].md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from imusynth.cli.main import run as imusynth
from imusynth.har import load_windows

sys.path.insert(0, str(Path(__file__).resolve().parent))
from v2r_protocol import (  # noqa: E402
    calm_style_choice,
    check_fold,
    diagnostics_table,
    fold_table,
    fold_targets,
    spread_table,
    style_of,
    subject_folds,
    summarise,
    turn_bounds,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CACHE = REPO / "benchmarks" / "results" / "v2r_crossdataset"
BANDAI = SHARED / "mocap" / "bandai-namco" / "dataset-2"
SEVIVI_WALK = SHARED / "imu/sevivi/skeletons" / "joint_synchronization_walking" / "positions_3d.csv.gz"
BM = SHARED / "imu" / "basicmotions"
SPSW = SHARED / "imu" / "spsw-har" / "DATA"
STYLES = ("active", "elderly", "exhausted", "feminine", "masculine", "normal", "youthful")
AUGMENT = 4
TURN_RATE_DEG_S = 30.0

TARGETS: dict[str, dict] = {
    "bm": {
        "name": "BasicMotions",
        "classes": ("Walking", "Running"),
        "labels": {"walk": "Walking", "run": "Running"},
        "rate": 10.0,
        "window": 2.0,
        "devices": {"watch": "left_wrist"},
    },
    "spsw": {
        "name": "spsw-har",
        "classes": ("WALKING", "TURNING"),
        "labels": {"walk": "WALKING", "turn": "TURNING"},
        "rate": 50.0,
        "window": 1.0,
        "devices": {"watch": "left_wrist", "phone": "thigh"},
    },
}
CALIBRATIONS = ("raw", "channel", "per-class")
#: ``calibrate fit`` flags of each calibration. ``+own-g``: ``--alignment per-sensor`` (each sensor and
#: augmentation variant turned by its own gravity direction onto the fitted one); ``+heading``: the rotation
#: about gravity fitted too (unpaired). The first two keep the fixed alignment, stated explicitly.
CAL_FIT_FLAGS: dict[str, list[str]] = {
    "channel": ["--alignment", "fixed"],
    "per-class": ["--per-class", "--alignment", "fixed"],
    "per-class+own-g": ["--per-class", "--alignment", "per-sensor"],
    "per-class+own-g+heading": ["--per-class", "--alignment", "per-sensor", "--heading"],
    "channel+own-g+heading": ["--alignment", "per-sensor", "--heading"],
}
#: --alignment-rows: the cells of the newer calibration options, with augmentation (whose variants the
#: per-sensor alignment turns each by its own gravity): the full method's calibration in both frames, the
#: label-free one in the gravity frame, and per-sensor alone in the full method's cell (CPU: these four).
ALIGNMENT_CELLS = (
    ("per-class+own-g", "stack", "gravity"), ("per-class+own-g+heading", "stack", "sensor"),
    ("per-class+own-g+heading", "stack", "gravity"), ("channel+own-g+heading", "stack", "gravity"))
#: --window-rows: calibration fitted and applied on the windows themselves (``calibrate fit`` on the raw
#: virtual windows and the real training windows, in the cell's frame; ``calibrate apply`` on the virtual
#: windows): one map per channel (labels unused) or per class. Named ``channel-windows`` so that the
#: label-free one counts as "one map per channel" when rows are chosen on the other folds.
WINDOW_CALS: dict[str, list[str]] = {"channel-windows": [], "per-class-windows": ["--per-class"]}
WINDOW_CELLS = tuple((c, a, f) for c in WINDOW_CALS for a in ("none", "stack") for f in ("sensor", "gravity"))
#: --swap: spsw-har with the subjects' roles swapped (s04-s06 train and calibrate, s01-s03 tested), only
#: these cells (R2R always), to see how much a cell moves with the split.
SWAP_CELLS = (("raw", "none", "gravity"), ("channel", "stack", "gravity"), ("per-class", "stack", "gravity"))
SWAP = False
SUBJECTS = ("s01", "s02", "s03", "s04", "s05", "s06")
#: --subject-folds: the test subjects of the fold being run (None: the fixed split or --swap).
FOLD: tuple[str, ...] | None = None
FOLD_N = 0


#: --device: run only this device (two processes can then share the folds; a last run assembles the cache).
DEVICE: str | None = None


def devices(target: str) -> list[str]:
    """The devices of a target that this run evaluates."""
    return [d for d in TARGETS[target]["devices"] if DEVICE in (None, d)]


def work(target: str) -> Path:
    """Folder of the calibrations, windows and scores of a target (and split)."""
    if FOLD is not None:
        return CACHE / f"{target}_folds{FOLD_N}" / "-".join(FOLD)
    return CACHE / (f"{target}_swap" if SWAP else target)
#: The configuration fixed in advance as "the method" for each target: (calibration, augmented, frame).
FULL = {"bm": ("per-class", "stack", "sensor"), "spsw": ("per-class", "stack", "gravity")}


def torch_threads(n: int) -> None:
    """Cap torch's intra-op threads (the CNN sets one thread itself; this covers everything else)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n)


def cli(*args: object) -> None:
    """Run one imusynth command line; stop on failure."""
    argv = [str(a) for a in args]
    print("$ imusynth " + " ".join(argv), flush=True)
    rc = imusynth(argv)
    if rc:
        raise SystemExit(f"imusynth {argv[0]} failed with status {rc}")


# --------------------------------------------------------------------------------------------------
# 1. virtual data
# --------------------------------------------------------------------------------------------------


def turn_span(path: Path) -> tuple[float, float, float, float]:
    """(start, turn start, turn end, end) in s of a walk-turn take, from its hip-line heading."""
    from imusynth.io.readers import read_motion

    m = read_motion(path, canonical=True)
    names = list(m.names)
    v = m.xyz[:, names.index("right_hip")] - m.xyz[:, names.index("left_hip")]
    return turn_bounds(m.time, np.unwrap(np.arctan2(v[:, 1], v[:, 0])), TURN_RATE_DEG_S)


def motion_jobs(target: str) -> list[dict]:
    """The ``imusynth motion`` calls of one target: source, crop, label, group, clip id."""
    lab = TARGETS[target]["labels"]
    jobs = []
    for content, ids in (("walk", (1, 2)), ("run", (1, 2, 3, 4))):
        if content not in lab:
            continue
        for style in STYLES:
            for i in ids:
                f = BANDAI / f"dataset-2_{content}_{style}_{i:03d}.bvh"
                jobs.append({"src": f, "label": lab[content], "group": f"{style}_{i:03d}", "id": f.stem})
    if "turn" in lab:
        for side in ("left", "right"):
            for style in STYLES:
                for i in (1, 2):
                    f = BANDAI / f"dataset-2_walk-turn-{side}_{style}_{i:03d}.bvh"
                    t0, a, b, t1 = turn_span(f)
                    g = f"turn{side[0]}_{style}_{i:03d}"
                    for part, (s, e, label) in enumerate(
                        ((t0, a, lab["walk"]), (a, b, lab["turn"]), (b, t1, lab["walk"]))
                    ):
                        if e - s >= 1.0:
                            jobs.append({"src": f, "start": s, "end": e, "label": label, "group": g,
                                         "id": f"{f.stem}_{part}"})
    jobs.append({"src": SEVIVI_WALK, "start": 9.5, "end": 20.5, "label": lab["walk"], "group": "sevivi",
                 "id": "sevivi_walking"})
    return jobs


def make_virtual(target: str) -> list[Path]:
    out_dir = CACHE / target / "virtual"
    out_dir.mkdir(parents=True, exist_ok=True)
    placements = sorted(set(TARGETS[target]["devices"].values()))
    files = []
    for job in motion_jobs(target):
        out = out_dir / f"{job['id']}.h5"
        if not out.exists():
            crop = []
            if "start" in job:
                crop = ["--start", f"{job['start']:.4f}", "--end", f"{job['end']:.4f}"]
            cli("motion", job["src"], *[x for p in placements for x in ("-p", p)], "--rate", 50,
                "--augment", AUGMENT, "--label", job["label"], "--group", job["group"],
                "--clip-id", job["id"], *crop, "-o", out)
        files.append(out)
    return files


# --------------------------------------------------------------------------------------------------
# 2-3. real data, calibration
# --------------------------------------------------------------------------------------------------


def real_inputs(target: str, device: str, split: str) -> tuple[list[Path], list[str]]:
    """Real files of a split and the flags that read them."""
    if target == "bm":
        return [BM / f"BasicMotions_{split.upper()}.ts"], ["--source-rate", "10"]
    if FOLD is not None:
        subjects = tuple(s for s in SUBJECTS if (s in FOLD) == (split == "test"))
    else:
        subjects = ("s01", "s02", "s03") if (split == "train") != SWAP else ("s04", "s05", "s06")
    dev = "sw" if device == "watch" else "sp"
    files = sorted(f for s in subjects for f in (SPSW / s).glob(f"{s}_*_{dev}.csv"))
    return files, ["--preset", "spsw_har", "--group-by", "parent"]


def calibrated(target: str, device: str, kind: str, virtual: list[Path], tag: str = "") -> list[Path]:
    """The virtual files passed through a profile fitted on the real training split (``raw``: unchanged)."""
    if kind == "raw":
        return virtual
    pl = TARGETS[target]["devices"][device]
    d = work(target) / f"cal_{kind}_{device}{tag}"
    d.mkdir(parents=True, exist_ok=True)
    prof = d / "profile.toml"
    real, flags = real_inputs(target, device, "train")
    if FOLD is not None:
        check_fold(FOLD, real)
    if not prof.exists():
        flags = [f for f in flags if f not in ("--group-by", "parent")]
        cli("calibrate", "fit", *[x for v in virtual for x in ("--virtual", v)],
            *[x for r in real for x in ("--real", r)], "-p", pl, *flags,
            *CAL_FIT_FLAGS[kind], "-o", prof)
    out = []
    for v in virtual:
        o = d / v.name
        if not o.exists():
            sensors = [pl] + [f"{pl}~aug{k}" for k in range(1, AUGMENT + 1)]
            cli("calibrate", "apply", prof, v, *[x for s in sensors for x in ("-p", s)], "-o", o)
        out.append(o)
    return out


# --------------------------------------------------------------------------------------------------
# 4-5. windows and scores
# --------------------------------------------------------------------------------------------------


def window_flags(target: str) -> list[object]:
    t = TARGETS[target]
    return ["--window", t["window"], "--overlap", 0.5, "--rate", t["rate"]]


def export_virtual(
    target: str, device: str, files: list[Path], cal: str, aug: str, frame: str, tag: str = ""
) -> Path:
    # uncalibrated virtual windows do not depend on the real split (calm: named by the style set): shared
    shared = FOLD is not None and cal == "raw" and tag[:6] in ("", "_calm-")
    base = CACHE / target if shared else work(target)
    out = base / "windows" / f"virtual_{device}_{cal}_{aug}_{frame}{tag}.h5"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        cli("export", *files, "-p", TARGETS[target]["devices"][device], *window_flags(target),
            "--augmented", aug, "--frame", frame, "-o", out)
    return out


def export_real(target: str, device: str, split: str, frame: str) -> Path:
    out = work(target) / "windows" / f"real_{device}_{split}_{frame}.h5"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        files, flags = real_inputs(target, device, split)
        if FOLD is not None and split == "train":
            check_fold(FOLD, files)
        cli("export", *files, *flags, *window_flags(target), "--frame", frame, "-o", out)
    return out


def har_eval(  # noqa: ANN001
    target: str, test: Path, train_real: Path, virtual: Path | None, name: str, args, frame: str
) -> dict:
    out = work(target) / "scores" / f"{name}.json"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        protos = "r2r" if virtual is None else "v2r,mix2r"
        cli("har-eval", "--test", test, "--train-real", train_real,
            *(["--train", virtual] if virtual is not None else []), "--protocol", protos,
            "--classes", ",".join(TARGETS[target]["classes"]), "--classifier", "both",
            "--trees", args.trees, "--cnn-epochs", args.cnn_epochs, "--frame", frame, "--json", out)
    return json.loads(out.read_text())


def scores(rep: dict) -> dict[str, dict]:
    return {f"{r['classifier']}:{r['protocol']}": r for r in rep["results"]}


def cell(target: str, device: str, files: list[Path], key: tuple, args, tag: str = "") -> dict:  # noqa: ANN001
    """Scores of one cell (calibration, augmented, frame) from the given (calibrated) virtual files."""
    cal, aug, frame = key
    test = export_real(target, device, "test", frame)
    train = export_real(target, device, "train", frame)
    v = export_virtual(target, device, files, cal, aug, frame, tag)
    return scores(har_eval(target, test, train, v, f"{device}_{cal}_{aug}_{frame}{tag}", args, frame))


def window_cell(target: str, device: str, virtual: list[Path], key: tuple, args) -> dict:  # noqa: ANN001
    """Scores of a --window-rows cell: the raw virtual windows mapped by a profile fitted on windows."""
    cal, aug, frame = key
    test = export_real(target, device, "test", frame)
    train = export_real(target, device, "train", frame)
    if FOLD is not None:
        check_fold(FOLD, real_inputs(target, device, "train")[0], load_windows(train).group.tolist())
    raw = export_virtual(target, device, virtual, "raw", aug, frame)
    prof = work(target) / f"cal_{cal}_{device}_{aug}_{frame}" / "profile.toml"
    out = work(target) / "windows" / f"virtual_{device}_{cal}_{aug}_{frame}.h5"
    if not prof.exists():
        prof.parent.mkdir(parents=True, exist_ok=True)
        cli("calibrate", "fit", "--virtual", raw, "--real", train, *WINDOW_CALS[cal], "-o", prof)
    if not out.exists():
        cli("calibrate", "apply", prof, raw, "-o", out)
    return scores(har_eval(target, test, train, out, f"{device}_{cal}_{aug}_{frame}", args, frame))


def run_target(target: str, args) -> dict:  # noqa: ANN001
    t0 = time.perf_counter()
    virtual = make_virtual(target)
    t_virtual = time.perf_counter() - t0
    res: dict = {"virtual_files": len(virtual), "virtual_s": t_virtual, "devices": {}}
    for device in devices(target):
        dev: dict = {"r2r": {}, "cells": {}}
        for frame in () if args.alignment_only else ("sensor", "gravity"):
            test = export_real(target, device, "test", frame)
            train = export_real(target, device, "train", frame)
            rep = har_eval(target, test, train, None, f"{device}_r2r_{frame}", args, frame)
            dev["r2r"][frame] = scores(rep)
        for cal in () if args.alignment_only else CALIBRATIONS:
            files = calibrated(target, device, cal, virtual)
            for aug in ("none", "stack"):
                for frame in ("sensor", "gravity"):
                    if not SWAP or (cal, aug, frame) in SWAP_CELLS:
                        dev["cells"][f"{cal}|{aug}|{frame}"] = cell(target, device, files, (cal, aug, frame),
                                                                    args)
        for key in WINDOW_CELLS if args.window_rows and not SWAP else ():
            dev["cells"]["|".join(key)] = window_cell(target, device, virtual, key, args)
        new_rows = (args.alignment_rows or args.alignment_only) and not SWAP
        for key in ALIGNMENT_CELLS if new_rows else ():
            files = calibrated(target, device, key[0], virtual)
            dev["cells"]["|".join(key)] = cell(target, device, files, key, args)
        # acted styles, chosen on the real TRAINING subjects (of the fold): fixed split, or --calm-rows folds
        if target == "spsw" and not SWAP and not args.alignment_only and (FOLD is None or args.calm_rows):
            keep = calm_styles(target, device, virtual)
            dev["calm_styles"] = sorted(keep)
            sub = [f for f in virtual if style_of(f) in keep]
            # fold caches name the style set (it may differ between folds); the fixed split keeps its names
            tag = "_calm" if FOLD is None else "_calm-" + "+".join(sorted(keep))
            for key in CALM_CELLS + (CALM_FOLD_CELLS if FOLD is not None else ()):
                name = "|".join(key)
                if len(sub) < len(virtual):
                    files = calibrated(target, device, key[0], sub, tag)
                    dev["cells"][name + "|calm"] = cell(target, device, files, key, args, tag)
                elif FOLD is not None:  # no style dropped: the calm cell is the cell itself
                    if name not in dev["cells"]:
                        files = calibrated(target, device, key[0], virtual)
                        dev["cells"][name] = cell(target, device, files, key, args)
                    dev["cells"][name + "|calm"] = dev["cells"][name]
        res["devices"][device] = dev
    return res


#: Cells re-run with the calm styles only (fixed split and --calm-rows folds) ...
CALM_CELLS = (("raw", "none", "gravity"), ("channel", "stack", "gravity"), ("per-class", "stack", "gravity"))
#: ... and, in the folds, per-sensor alignment too.
CALM_FOLD_CELLS = (("per-class+own-g", "stack", "gravity"),)


def calm_styles(target: str, device: str, virtual: list[Path]) -> set[str]:
    """Styles whose walking |acc| sd (over samples) is at most twice the real TRAINING split's walking one.

    Acted styles (Bandai's "active", "youthful") swing the arms far harder than people walking in a test;
    this is measured on the real training subjects only (of the fold: asserted on the windows' groups),
    never on the test subjects (:func:`v2r_protocol.calm_style_choice`).
    """
    import h5py

    pl = TARGETS[target]["devices"][device]
    walk = TARGETS[target]["labels"]["walk"]
    real = load_windows(export_real(target, device, "train", "sensor"))
    if FOLD is not None:
        check_fold(FOLD, real_inputs(target, device, "train")[0], real.group.tolist())
    norms: dict[str, list[np.ndarray]] = {}
    for f in virtual:
        if not (f.stem.startswith("dataset-2_walk_") or f.stem.startswith("sevivi")):
            continue
        with h5py.File(f, "r") as h5:
            for clip in h5["clips"].values():
                s = clip["sensors"][pl]
                valid = s["valid"][:]
                norms.setdefault(style_of(f), []).append(np.linalg.norm(s["acc"][:][valid], axis=1))
    real_walk = np.linalg.norm(real.X[real.labels == walk][:, :, 0:3], axis=2)
    sd_real, sd, keep = calm_style_choice(real_walk, norms)
    print(f"{device}: walking |acc| sd real (training split) {sd_real:.2f} m/s^2; virtual by style "
          + ", ".join(f"{k} {v:.2f}" for k, v in sorted(sd.items())), flush=True)
    return keep


def table(target: str, res: dict) -> str:
    t = TARGETS[target]
    lines = []
    for device, dev in res["devices"].items():
        r2r = dev["r2r"]
        lines += [
            f"\n### {t['name']} {device} ({', '.join(t['classes'])})\n",
            "| calibration | augmentation | frame | RF V2R | RF Mix2R | CNN V2R | CNN Mix2R |",
            "|---|---|---|---|---|---|---|",
        ]
        for frame in ("sensor", "gravity"):
            rf, cnn = r2r[frame]["rf:r2r"]["macro_f1"], r2r[frame]["cnn:r2r"]["macro_f1"]
            lines.append(f"| R2R (real train only) | – | {frame} | {rf:.3f} | | {cnn:.3f} | |")
        for key, sc in dev["cells"].items():
            cal, aug, frame, *calm = key.split("|")
            mark = " **(full)**" if (cal, aug, frame) == FULL[target] else ""
            mark += ", calm styles" if calm else ""
            lines.append(
                f"| {cal}{mark} | {'+' if aug == 'stack' else '–'} | {frame} | "
                + " | ".join(f"{sc[f'{c}:{p}']['macro_f1']:.3f}"
                             for c in ("rf", "cnn") for p in ("v2r", "mix2r"))
                + " |"
            )
    return "\n".join(lines)


def targets_check(target: str, res: dict) -> str:
    """The issue's targets for the pre-declared full configuration and the best one-map configuration."""
    cal, aug, frame = FULL[target]
    out = []
    for device, dev in res["devices"].items():
        for c in ("rf", "cnn"):
            r2r = dev["r2r"][frame][f"{c}:r2r"]["macro_f1"]
            full = dev["cells"][f"{cal}|{aug}|{frame}"]
            v2r, mix = full[f"{c}:v2r"]["macro_f1"], full[f"{c}:mix2r"]["macro_f1"]
            chan = dev["cells"][f"channel|{aug}|{frame}"][f"{c}:v2r"]["macro_f1"]
            if f"{cal}|{aug}|{frame}|calm" in dev["cells"]:
                calm = dev["cells"][f"{cal}|{aug}|{frame}|calm"]
                out.append(f"- {TARGETS[target]['name']} {device} {c}, full with calm styles "
                           f"({', '.join(dev['calm_styles'])}): V2R {calm[f'{c}:v2r']['macro_f1']:.3f}, "
                           f"Mix2R {calm[f'{c}:mix2r']['macro_f1']:.3f}")
            out.append(
                f"- {TARGETS[target]['name']} {device} {c}: R2R {r2r:.3f}; full V2R {v2r:.3f} "
                f"({v2r / r2r:.2f} x R2R, target 0.9: {'met' if v2r >= 0.9 * r2r else 'missed'}); Mix2R "
                f"{mix:.3f} ({'above' if mix > r2r else 'not above'} R2R); one map per channel V2R "
                f"{chan:.3f} "
                f"({chan / r2r:.2f} x R2R, target 0.7: {'met' if chan >= 0.7 * r2r else 'missed'})"
            )
    return "\n".join(out)


def diagnostics(target: str) -> str:
    """Why virtual and real differ, per class (:func:`v2r_protocol.diagnostics_table`)."""
    t = TARGETS[target]
    return diagnostics_table(t["name"], list(t["devices"]), t["classes"], CACHE / target / "windows")


def run_folds(args) -> dict:  # noqa: ANN001
    """spsw-har over folds of whole subjects (:func:`v2r_protocol.subject_folds`): per fold, R2R/Mix2R
    training and the calibrations use the other subjects only, the fold's subjects are tested."""
    global FOLD, FOLD_N
    folds = subject_folds(SUBJECTS, args.subject_folds)
    FOLD_N = len(folds)
    classes = TARGETS["spsw"]["classes"]
    per_fold, counts, cost = [], [], []
    for train_s, test_s in folds:
        if args.fold and "-".join(test_s) not in args.fold:
            continue
        FOLD = test_s
        t0, c0 = time.perf_counter(), time.process_time()
        cnt = {}
        for device in devices("spsw"):
            for frame in ("sensor", "gravity"):  # exported (and checked) before anything trains on them
                tr = load_windows(export_real("spsw", device, "train", frame))
                te = load_windows(export_real("spsw", device, "test", frame))
                check_fold(test_s, [], tr.group.tolist(), te.group.tolist())
                assert set(tr.group.tolist()) == set(train_s), (sorted(set(tr.group.tolist())), train_s)
                cnt[f"{device}|{frame}"] = [int((te.labels == c).sum()) for c in classes]
        per_fold.append(run_target("spsw", args))
        counts.append(cnt)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        cost.append({"test": list(test_s), "wall_s": wall, "cpu_s": cpu})
        print(f"fold {'-'.join(test_s)}: {cpu:.0f} CPU-s, {wall:.0f} s wall", flush=True)
    FOLD = None
    summary = summarise(per_fold, counts, classes)
    return {"folds": [{"train": list(a), "test": list(b)} for a, b in folds], "cost": cost, "counts": counts,
            "summary": summary, "per_fold": per_fold}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trees", type=int, default=300)
    ap.add_argument("--cnn-epochs", type=int, default=30)
    ap.add_argument("--only", choices=sorted(TARGETS), default=None)
    ap.add_argument("--swap", action="store_true", help="spsw-har with s04-s06 training, s01-s03 tested")
    ap.add_argument("--subject-folds", type=int, default=0, metavar="N",
                    help="spsw-har over N folds of whole subjects (6: leave-one-subject-out; 3: pairs)")
    ap.add_argument("--alignment-rows", action="store_true",
                    help="also the cells of calibrate --alignment per-sensor and --heading")
    ap.add_argument("--alignment-only", action="store_true",
                    help="only the --alignment-rows cells, no tables (to fill the cache beside another run)")
    ap.add_argument("--fold", action="append", default=[], metavar="TEST",
                    help="only this fold (test subjects joined by '-', e.g. s06): fills the cache, no tables")
    ap.add_argument("--calm-rows", action="store_true",
                    help="with --subject-folds: also the calm-style cells (styles chosen per fold)")
    ap.add_argument("--window-rows", action="store_true",
                    help="also the cells calibrated on the windows (calibrate fit/apply on windows files)")
    ap.add_argument("--device", choices=("watch", "phone"), default=None, help="only this device")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    torch_threads(1)
    if args.subject_folds:
        t0, c0 = time.perf_counter(), time.process_time()
        res = run_folds(args)
        if args.alignment_only or args.fold:
            return
        res["wall_s"], res["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
        name, full = TARGETS["spsw"]["name"], "|".join(FULL["spsw"])
        spread = spread_table(res["summary"], ["-".join(f["test"]) for f in res["folds"]], (
            ("R2R, gravity frame", "r2r|gravity", "rf:r2r"), ("R2R, gravity frame", "r2r|gravity", "cnn:r2r"),
            ("full", full, "rf:v2r"), ("full", full, "cnn:v2r"),
            ("one map, +, gravity", "channel|stack|gravity", "rf:v2r"),
            ("one map, +, gravity", "channel|stack|gravity", "cnn:v2r"),
            *[(f"{k.split('|')[0]}, {'+' if 'stack' in k else '–'}, gravity, calm", k, c) for k in (
                "|".join(x) + "|calm" for x in CALM_CELLS + CALM_FOLD_CELLS) if args.calm_rows
              for c in ("rf:v2r", "cnn:v2r")],
            *[(f"{k.split('|')[0]}, {'+' if 'stack' in k else '–'}, gravity", k, c) for k in (
                "channel-windows|none|gravity", "per-class-windows|none|gravity") if args.window_rows
              for c in ("rf:v2r", "rf:mix2r", "cnn:v2r", "cnn:mix2r")],
        ))
        kept = [f"- calm styles, fold {'-'.join(f['test'])}: " + "; ".join(
            f"{d} {', '.join(v['calm_styles'])}" for d, v in pf["devices"].items())
            for f, pf in zip(res["folds"], res["per_fold"], strict=True) if args.calm_rows]
        md = "\n".join([fold_table(res["summary"], name, full), "", spread, "", *kept, "",
                        fold_targets(res["summary"], name, full, "channel|stack|gravity")])
        print(md)
        tag = f"_folds{args.subject_folds}{'_calm' if args.calm_rows else ''}{f'_{DEVICE}' if DEVICE else ''}"
        (CACHE / f"table{tag}.md").write_text(md + "\n", encoding="utf-8")
        (CACHE / f"results{tag}.json").write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {CACHE / f'table{tag}.md'} ({res['cpu_s']:.0f} CPU-s, {res['wall_s']:.0f} s wall)")
        return
    global SWAP
    SWAP = args.swap
    results, text = {}, []
    for target in ["spsw"] if SWAP else [args.only] if args.only else list(TARGETS):
        t0 = time.perf_counter()
        results[target] = run_target(target, args)
        results[target]["wall_s"] = time.perf_counter() - t0
        text += [table(target, results[target]), "", targets_check(target, results[target])]
        text += [] if SWAP else [diagnostics(target)]
    md = "\n".join(text)
    print(md)
    tag = "_swap" if SWAP else ""
    (CACHE / f"table{tag}.md").write_text(md + "\n", encoding="utf-8")
    (CACHE / f"results{tag}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {CACHE / f'table{tag}.md'}")


if __name__ == "__main__":
    main()
