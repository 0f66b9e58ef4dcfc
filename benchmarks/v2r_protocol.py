"""Pure helpers of the subject-wise protocol of ``eval_v2r_crossdataset.py`` (issue 13).

- :func:`subject_folds`: the folds of whole subjects (leave-one-subject-out, or fewer folds of
  consecutive subjects), each fold's training subjects being every other subject.
- :func:`check_fold`: the assertion that a fold never trains or calibrates on its test subjects.
- :func:`binary_confusion`: the confusion matrix of a two-class test fold recovered exactly from its
  per-class F1 and class counts (``har-eval --json`` reports scores, not predictions), so that the
  predictions of separately run folds can be pooled.
- :func:`pooled_macro_f1`, :func:`fold_summary`: pooled macro-F1 and mean +- sd over folds.
- :func:`select_on_other_folds`: for each test fold, the configuration that scores best on the *other*
  folds (its own test subjects never choose it).
- :func:`turn_bounds`: the turn of a walk-turn take from its heading.
- :func:`style_of`, :func:`calm_style_choice`: the Bandai styles whose walking |acc| spread is within a
  factor of the real training subjects' ("calm styles"; the script checks that the real windows it reads
  for this hold no test subject).
- :func:`diagnostics_table`: virtual against real windows per class (amplitude, vertical acc, spectrum).

numpy only at import; no imusynth import at module level (the tests load this file directly;
:func:`diagnostics_table` imports the windows loader when called).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def subject_folds(subjects: Sequence[str], n_folds: int) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(training subjects, test subjects) of each fold: consecutive blocks of the sorted subjects.

    Parameters
    ----------
    subjects : sequence of str
        Subject ids (e.g. ``s01`` ... ``s06``); duplicates are an error.
    n_folds : int
        Number of folds, 2 <= n_folds <= len(subjects); ``len(subjects)`` is leave-one-subject-out.
        Block sizes differ by at most one (the first blocks are the larger).

    Returns
    -------
    list of (tuple of str, tuple of str)
        Per fold, the training subjects (all the others) and the test subjects, in sorted order.
    """
    subs = sorted(subjects)
    if len(set(subs)) != len(subs):
        raise ValueError(f"duplicate subjects in {list(subjects)}")
    if not 2 <= n_folds <= len(subs):
        raise ValueError(f"n_folds must be in 2..{len(subs)}, got {n_folds}")
    sizes = [len(subs) // n_folds + (1 if k < len(subs) % n_folds else 0) for k in range(n_folds)]
    folds, a = [], 0
    for n in sizes:
        test = tuple(subs[a:a + n])
        folds.append((tuple(s for s in subs if s not in test), test))
        a += n
    return folds


def subject_of(path: Path) -> str:
    """The spsw-har subject of a recording file: its parent folder (``DATA/s04/s04_01_sw.csv`` -> ``s04``)."""
    return Path(path).parent.name


def check_fold(
    test_subjects: Sequence[str],
    train_files: Sequence[Path],
    train_groups: Sequence[str] = (),
    test_groups: Sequence[str] = (),
) -> None:
    """Raise ``AssertionError`` if a fold's training or calibration input touches a test subject.

    Parameters
    ----------
    test_subjects : sequence of str
        The fold's test subjects.
    train_files : sequence of Path
        Real files that train a classifier or fit a calibration in this fold.
    train_groups, test_groups : sequence of str
        Group keys (subjects) of the real training and test windows, when already exported: the training
        groups must avoid the test subjects and the test groups must be exactly the test subjects.
    """
    test = set(test_subjects)
    bad = sorted({subject_of(f) for f in train_files} & test)
    assert not bad, f"fold with test subjects {sorted(test)} trains/calibrates on {bad}"
    leak = sorted(set(train_groups) & test)
    assert not leak, f"fold with test subjects {sorted(test)}: training windows of {leak}"
    if len(test_groups):
        got = sorted(set(test_groups))
        assert set(got) == test, f"test windows of {got}, expected {sorted(test)}"


def binary_confusion(f1: Sequence[float], counts: Sequence[int], *, tol: float = 1e-6) -> np.ndarray:
    """Confusion matrix of a two-class test set from its per-class F1 and true class counts.

    With true counts ``n0, n1``, ``C = [[a, n0 - a], [c, n1 - c]]`` (rows true, columns predicted) and
    ``F1_0 = 2a / (2a + (n0 - a) + c)``, ``F1_1 = 2(n1 - c) / (2(n1 - c) + (n0 - a) + c)``: two equations
    linear in ``a`` and ``c`` whose determinant ``4 - 2 F1_0 - 2 F1_1`` vanishes only when both are 1
    (then ``a = n0``, ``c = 0``). The solution is rounded to integers and the F1s recomputed from it must
    match the given ones within ``tol`` (else ``ValueError``: the inputs are not one confusion matrix).

    Parameters
    ----------
    f1 : sequence of 2 float
        F1 of class 0 and class 1 (scikit-learn's ``zero_division=0``: 0 when a class is never hit).
    counts : sequence of 2 int
        True windows of class 0 and class 1.

    Returns
    -------
    ndarray, shape (2, 2), int64
        Rows: true class; columns: predicted class.
    """
    f0, f1_ = (float(x) for x in f1)
    n0, n1 = (int(x) for x in counts)
    det = 4.0 - 2.0 * f0 - 2.0 * f1_
    if abs(det) < 1e-12:
        a, c = float(n0), 0.0
    else:
        # (2 - f0) a - f0 c = f0 n0 ;  -f1 a + (2 - f1) c = 2 n1 - f1 (2 n1 + n0)
        m = np.array([[2.0 - f0, -f0], [-f1_, 2.0 - f1_]])
        rhs = np.array([f0 * n0, 2.0 * n1 - f1_ * (2.0 * n1 + n0)])
        a, c = np.linalg.solve(m, rhs)
    cm = np.array([[round(a), n0 - round(a)], [round(c), n1 - round(c)]], dtype=np.int64)
    if (cm < 0).any():
        raise ValueError(f"no confusion matrix has F1 {f1} with counts {counts}")
    back = per_class_f1(cm)
    if np.abs(back - np.array([f0, f1_])).max() > tol:
        raise ValueError(f"no confusion matrix has F1 {f1} with counts {counts} (closest gives {back})")
    return cm


def per_class_f1(cm: np.ndarray) -> np.ndarray:
    """F1 of each class of a confusion matrix (rows true, columns predicted); 0 where undefined."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    den = cm.sum(axis=0) + cm.sum(axis=1)
    return np.divide(2.0 * tp, den, out=np.zeros_like(tp), where=den > 0)


def pooled_macro_f1(cms: Sequence[np.ndarray]) -> float:
    """Macro-F1 of all folds' predictions pooled (the sum of their confusion matrices), classes present."""
    total = np.sum(np.asarray(cms), axis=0)
    present = total.sum(axis=1) > 0
    return float(per_class_f1(total)[present].mean())


def fold_summary(fold_f1: Sequence[float]) -> tuple[float, float]:
    """Mean and (population, as ``har-eval``) standard deviation of per-fold macro-F1."""
    v = np.asarray(fold_f1, dtype=np.float64)
    return float(v.mean()), float(v.std())


def select_on_other_folds(scores: Mapping[str, Sequence[float]]) -> list[str]:
    """For each fold, the configuration with the best mean score over the *other* folds.

    Parameters
    ----------
    scores : mapping of str to sequence of float
        Per configuration, one score per fold (all the same length, >= 2). Ties go to the first key.

    Returns
    -------
    list of str
        The configuration chosen for each fold; fold k's own score never enters its choice.
    """
    keys = list(scores)
    m = np.array([list(scores[k]) for k in keys], dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError("need at least two folds per configuration")
    n = m.shape[1]
    other = (m.sum(axis=1, keepdims=True) - m) / (n - 1)  # [config, fold]: mean over the other folds
    return [keys[int(np.argmax(other[:, k]))] for k in range(n)]


def turn_bounds(
    time: np.ndarray, heading: np.ndarray, rate_deg_s: float
) -> tuple[float, float, float, float]:
    """(start, turn start, turn end, end) in s: the longest run turning faster than ``rate_deg_s``.

    Parameters
    ----------
    time : ndarray, shape (T,)
        Sample times in s (about uniform).
    heading : ndarray, shape (T,)
        Unwrapped heading in rad; smoothed by a 1 s moving average (one stride; edges padded) before
        its rate is taken. With no fast sample the turn is empty, at ``time[0]``.
    rate_deg_s : float
        Threshold on the absolute smoothed heading rate, deg/s.
    """
    k = max(1, int(round(1.0 / np.median(np.diff(time)))))
    pad = np.pad(heading, (k // 2, k - 1 - k // 2), mode="edge")
    smooth = np.convolve(pad, np.ones(k) / k, mode="valid")
    fast = np.abs(np.degrees(np.gradient(smooth, time))) > rate_deg_s
    best, a = (0, 0), None
    for i, f in enumerate([*fast.tolist(), False]):
        if f and a is None:
            a = i
        elif not f and a is not None:
            best = max(best, (a, i), key=lambda s: s[1] - s[0])
            a = None
    t = time
    return float(t[0]), float(t[best[0]]), float(t[max(best[1] - 1, best[0])]), float(t[-1])


def style_of(path: Path) -> str:
    """The Bandai style of a virtual file (``dataset-2_walk_normal_001.h5`` -> ``normal``; ``sevivi``)."""
    parts = Path(path).stem.split("_")
    return "sevivi" if parts[0] == "sevivi" else parts[2]


def calm_style_choice(
    real_walk_norm: np.ndarray, style_norms: Mapping[str, Sequence[np.ndarray]], factor: float = 2.0
) -> tuple[float, dict[str, float], set[str]]:
    """The styles whose walking |acc| sd is at most ``factor`` times the real training walking |acc| sd.

    Parameters
    ----------
    real_walk_norm : ndarray, any shape
        |acc| in m/s^2 of every sample of the real TRAINING walking windows (never a test subject's).
    style_norms : mapping of str to sequence of ndarray
        Per style, the |acc| samples (m/s^2) of its virtual walking takes; pooled per style.
    factor : float
        Largest accepted ratio of a style's sd to the real one.

    Returns
    -------
    (float, dict of str to float, set of str)
        The real sd (m/s^2), each style's sd (m/s^2), and the styles kept (sd <= factor * real sd).
    """
    sd_real = float(np.asarray(real_walk_norm, dtype=np.float64).std())
    sd = {k: float(np.concatenate([np.ravel(a) for a in v]).std()) for k, v in style_norms.items() if len(v)}
    return sd_real, sd, {k for k, v in sd.items() if v <= factor * sd_real}


# --------------------------------------------------------------------------------------------------
# Aggregation of the per-fold har-eval reports
# --------------------------------------------------------------------------------------------------

#: Classifier:protocol columns of the cells (R2R rows have rf:r2r and cnn:r2r).
COLUMNS = ("rf:v2r", "rf:mix2r", "cnn:v2r", "cnn:mix2r")


def _pool(per_fold: Sequence[float], cms: list[np.ndarray]) -> dict:
    f1s = [float(x) for x in per_fold]
    mean, sd = fold_summary(f1s)
    return {"pooled": pooled_macro_f1(cms), "mean": mean, "sd": sd, "folds": f1s,
            "confusion": [c.tolist() for c in cms]}


def summarise(per_fold: list[dict], counts: list[dict], classes: Sequence[str]) -> dict:
    """Pool the folds: per device and row, per ``classifier:protocol``, pooled macro-F1 and mean +- sd.

    Parameters
    ----------
    per_fold : list of dict
        Per fold, ``{"devices": {device: {"r2r": {frame: scores}, "cells": {"cal|aug|frame": scores}}}}``
        where ``scores`` maps ``"rf:v2r"`` etc. to a ``har-eval --json`` result (one test fold each).
    counts : list of dict
        Per fold, ``{"device|frame": [windows of each class]}`` of the fold's real test windows.
    classes : sequence of 2 str
        The classes, in the order of ``counts``.

    Returns
    -------
    dict
        ``{device: {row: {column: {"pooled", "mean", "sd", "folds", "confusion"[, "chosen"]}}}}``; rows
        ``r2r|sensor``, ``r2r|gravity``, every cell, and the rows chosen fold by fold on the other folds:
        ``r2r|selected`` (frame), ``selected`` (any cell but the calm-style ones), ``selected-channel``
        (one map per channel: the calibrations named ``channel...``, fitted without labels) and, when
        there are calm-style cells (keys ending ``|calm``), ``selected-calm`` (any cell, those included).
    """
    out: dict = {}
    for device, d0 in per_fold[0]["devices"].items():
        rows: dict = {}
        cms_of: dict = {}
        keys = [f"r2r|{f}" for f in d0["r2r"]] + list(d0["cells"])
        for key in keys:
            frame = key.split("|")[-1] if key.startswith("r2r|") else key.split("|")[2]
            row = {}
            for cp in (("rf:r2r", "cnn:r2r") if key.startswith("r2r|") else COLUMNS):
                f1s, cms = [], []
                for pf, cnt in zip(per_fold, counts, strict=True):
                    dev = pf["devices"][device]
                    r = dev["r2r"][frame][cp] if key.startswith("r2r|") else dev["cells"][key][cp]
                    n = cnt[f"{device}|{frame}"]
                    assert sum(n) == sum(r["n_test"]), (key, cp, n, r["n_test"])
                    cm = binary_confusion([r["per_class_f1"].get(c, 0.0) for c in classes], n)
                    assert abs(pooled_macro_f1([cm]) - r["macro_f1"]) < 1e-6, (key, cp)
                    f1s.append(r["macro_f1"])
                    cms.append(cm)
                row[cp] = _pool(f1s, cms)
                cms_of[(key, cp)] = cms
            rows[key] = row
        every = [k for k in keys if not k.startswith("r2r|")]
        cells = [k for k in every if not k.endswith("|calm")]  # the calm-style cells: a row of their own
        for name, cands, cols in (
            ("r2r|selected", [k for k in keys if k.startswith("r2r|")], ("rf:r2r", "cnn:r2r")),
            ("selected", cells, COLUMNS),
            ("selected-channel", [k for k in cells if k.split("|")[0].startswith("channel")], COLUMNS),
            ("selected-calm", every if len(every) > len(cells) else [], COLUMNS),
        ):
            if not cands:
                continue
            row = {}
            for cp in cols:
                chosen = select_on_other_folds({k: rows[k][cp]["folds"] for k in cands})
                f1s = [rows[k][cp]["folds"][i] for i, k in enumerate(chosen)]
                cms = [cms_of[(k, cp)][i] for i, k in enumerate(chosen)]
                row[cp] = {**_pool(f1s, cms), "chosen": chosen}
            rows[name] = row
        out[device] = rows
    return out


def _cell(v: dict) -> str:
    return f"{v['pooled']:.3f} ({v['mean']:.2f} ± {v['sd']:.2f})"


def fold_table(summary: dict, name: str, full: str) -> str:
    """Markdown tables of :func:`summarise`: pooled macro-F1 (mean ± sd over folds) per row."""
    lines = []
    for device, rows in summary.items():
        lines += [
            f"\n### {name} {device}: pooled macro-F1 (mean ± sd over folds)\n",
            "| calibration | augmentation | frame | RF V2R | RF Mix2R | CNN V2R | CNN Mix2R |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, row in rows.items():
            if key.startswith("r2r|"):
                what = "R2R, frame chosen on the other folds" if key == "r2r|selected" else "R2R (real only)"
                frame = "–" if key == "r2r|selected" else key.split("|")[1]
                rf, cnn = _cell(row["rf:r2r"]), _cell(row["cnn:r2r"])
                lines.append(f"| {what} | – | {frame} | {rf} | | {cnn} | |")
            elif key.startswith("selected"):
                what = {"selected": "any cell", "selected-channel": "one map per channel",
                        "selected-calm": "any cell incl. calm styles"}[key]
                lines.append(f"| {what}, chosen on the other folds | | | "
                             + " | ".join(_cell(row[c]) for c in COLUMNS) + " |")
            else:
                cal, aug, frame = key.split("|")[:3]
                mark = " **(full)**" if key == full else ""
                mark += ", calm styles" if key.endswith("|calm") else ""
                lines.append(f"| {cal}{mark} | {'+' if aug == 'stack' else '–'} | {frame} | "
                             + " | ".join(_cell(row[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def fold_targets(summary: dict, name: str, full: str, channel: str) -> str:
    """The issue's targets against the pooled scores (R2R in the same frame, or chosen the same way)."""
    out = []
    for device, rows in summary.items():
        frame = full.split("|")[2]
        for c in ("rf", "cnn"):
            r2r = rows[f"r2r|{frame}"][f"{c}:r2r"]["pooled"]
            v, m = rows[full][f"{c}:v2r"]["pooled"], rows[full][f"{c}:mix2r"]["pooled"]
            ch = rows[channel][f"{c}:v2r"]["pooled"]
            out.append(
                f"- {name} {device} {c.upper()}: R2R ({frame}) {r2r:.3f}; full V2R {v:.3f} ({v / r2r:.2f} x, "
                f"0.9: {'met' if v >= 0.9 * r2r else 'missed'}), Mix2R {m:.3f} "
                f"({'above' if m > r2r else 'not above'}); one map per channel V2R {ch:.3f} "
                f"({ch / r2r:.2f} x, "
                f"0.7: {'met' if ch >= 0.7 * r2r else 'missed'})"
            )
            if "selected" in rows:
                rs = rows["r2r|selected"][f"{c}:r2r"]["pooled"]
                sv, sm = rows["selected"][f"{c}:v2r"], rows["selected"][f"{c}:mix2r"]
                sc = rows["selected-channel"][f"{c}:v2r"]
                out.append(
                    f"  - chosen on the other folds: R2R {rs:.3f}; V2R {sv['pooled']:.3f} "
                    f"({sv['pooled'] / rs:.2f} x, {'met' if sv['pooled'] >= 0.9 * rs else 'missed'}; "
                    f"{', '.join(sv['chosen'])}); Mix2R {sm['pooled']:.3f} "
                    f"({'above' if sm['pooled'] > rs else 'not above'}); one map V2R {sc['pooled']:.3f} "
                    f"({sc['pooled'] / rs:.2f} x, {'met' if sc['pooled'] >= 0.7 * rs else 'missed'})"
                )
    return "\n".join(out)


def spread_table(summary: dict, fold_names: Sequence[str], rows: Sequence[tuple[str, str, str]]) -> str:
    """Per-fold macro-F1 of chosen (row, column) pairs: one line per device, label, classifier:protocol."""
    lines = [
        "| device | cells | classifier | " + " | ".join(fold_names) + " | mean ± sd | pooled |",
        "|---|---|---|" + "---|" * len(fold_names) + "---|---|",
    ]
    for device, rowsd in summary.items():
        for label, key, cp in rows:
            v = rowsd[key][cp]
            lines.append(f"| {device} | {label} | {cp.replace(':', ' ').upper()} | "
                         + " | ".join(f"{x:.2f}" for x in v["folds"])
                         + f" | {v['mean']:.2f} ± {v['sd']:.2f} | {v['pooled']:.3f} |")
    return "\n".join(lines)


def diagnostics_table(name: str, devices: Sequence[str], classes: Sequence[str], d: Path) -> str:
    """Why virtual and real differ: per class and source, mean and sd of |acc| and |gyro|, the mean
    gravity-frame vertical acc, and the share of |acc| power above 3 Hz (sensor-frame windows, no
    calibration, no augmentation; the real TRAINING split only), from the windows files in ``d``."""
    from imusynth.har import load_windows

    lines = [
        f"\n{name}: virtual (raw) vs real (training split), per class\n",
        "| device | class | source | windows | mean abs acc m/s^2 | sd abs acc | mean abs gyro rad/s "
        "| mean acc_vert m/s^2 | abs-acc power above 3 Hz |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for device in devices:
        sets = {
            src: (d / f"{src}_{device}_{mid}_sensor.h5", d / f"{src}_{device}_{mid}_gravity.h5")
            for src, mid in (("virtual", "raw_none"), ("real", "train"))
        }
        for cls in classes:
            for src, (fs, fg) in sets.items():
                ws, wg = load_windows(fs), load_windows(fg)
                keep, keep_g = ws.labels == cls, wg.labels == cls
                acc = np.linalg.norm(ws.X[keep][:, :, 0:3], axis=2)
                gyro = np.linalg.norm(ws.X[keep][:, :, 3:6], axis=2)
                iv = [c.endswith(".acc_vert") for c in wg.channels].index(True)
                vert = wg.X[keep_g][:, :, iv]
                spec = np.abs(np.fft.rfft(acc - acc.mean(axis=1, keepdims=True), axis=1)) ** 2
                f = np.fft.rfftfreq(acc.shape[1], 1.0 / ws.rate_hz)
                high = spec[:, f > 3.0].sum() / max(spec.sum(), 1e-12)
                lines.append(
                    f"| {device} | {cls} | {src} | {int(keep.sum())} | {acc.mean():.2f} | {acc.std():.2f} | "
                    f"{gyro.mean():.2f} | {vert.mean():.2f} | {high:.3f} |"
                )
    return "\n".join(lines)
