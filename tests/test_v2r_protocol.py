"""The subject-wise protocol of benchmarks/eval_v2r_crossdataset.py (benchmarks/v2r_protocol.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SUBJECTS = ("s01", "s02", "s03", "s04", "s05", "s06")


def _load(name: str):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


P = _load("v2r_protocol")


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_subject_folds_partition(n: int) -> None:
    folds = P.subject_folds(list(reversed(SUBJECTS)), n)
    assert len(folds) == n
    tested = [s for _, test in folds for s in test]
    assert sorted(tested) == list(SUBJECTS)  # every subject tested exactly once
    for train, test in folds:
        assert not set(train) & set(test)
        assert sorted(train + test) == list(SUBJECTS)
        assert len(test) in (len(SUBJECTS) // n, len(SUBJECTS) // n + 1)
    if n == 6:
        assert [t for _, t in folds] == [(s,) for s in SUBJECTS]
    if n == 3:
        assert [t for _, t in folds] == [("s01", "s02"), ("s03", "s04"), ("s05", "s06")]


def test_subject_folds_rejects() -> None:
    with pytest.raises(ValueError):
        P.subject_folds(SUBJECTS, 1)
    with pytest.raises(ValueError):
        P.subject_folds(SUBJECTS, 7)
    with pytest.raises(ValueError):
        P.subject_folds(["s01", "s01", "s02"], 2)


def test_check_fold() -> None:
    data = Path("DATA")
    ok = [data / "s03" / "s03_01_sw.csv", data / "s04" / "s04_02_sw.csv"]
    P.check_fold(("s01", "s02"), ok, ["s03", "s04"], ["s01", "s02", "s01"])
    with pytest.raises(AssertionError):
        P.check_fold(("s01", "s02"), [*ok, data / "s02" / "s02_05_sw.csv"])
    with pytest.raises(AssertionError):
        P.check_fold(("s01", "s02"), ok, ["s03", "s01"])
    with pytest.raises(AssertionError):
        P.check_fold(("s01", "s02"), ok, ["s03"], ["s01", "s03"])


def _confusion(yt: np.ndarray, yp: np.ndarray) -> np.ndarray:
    return np.array([[int(((yt == i) & (yp == j)).sum()) for j in (0, 1)] for i in (0, 1)])


def test_binary_confusion_exact() -> None:
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    cases = []
    for _ in range(500):
        n0, n1 = (int(x) for x in rng.integers(1, 80, 2))
        yt = np.r_[np.zeros(n0, int), np.ones(n1, int)]
        options = (rng.integers(0, 2, n0 + n1), np.zeros(n0 + n1, int), np.ones(n0 + n1, int), yt.copy())
        yp = options[int(rng.integers(0, 4))]
        cases.append((yt, yp))
    for yt, yp in cases:
        f1 = f1_score(yt, yp, labels=[0, 1], average=None, zero_division=0)
        cm = P.binary_confusion(f1, [int((yt == 0).sum()), int((yt == 1).sum())])
        np.testing.assert_array_equal(cm, _confusion(yt, yp))


def test_binary_confusion_rejects_inconsistent() -> None:
    with pytest.raises(ValueError):
        P.binary_confusion([0.9, 0.2], [10, 10])  # no 20-window confusion matrix has these F1s


def test_pooled_macro_f1_matches_concatenation() -> None:
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(5)
    yts, yps, cms = [], [], []
    for _ in range(4):
        n0, n1 = (int(x) for x in rng.integers(5, 40, 2))
        yt = np.r_[np.zeros(n0, int), np.ones(n1, int)]
        yp = np.where(rng.random(n0 + n1) < 0.7, yt, 1 - yt)
        f1 = f1_score(yt, yp, labels=[0, 1], average=None, zero_division=0)
        cms.append(P.binary_confusion(f1, [n0, n1]))
        yts.append(yt)
        yps.append(yp)
    want = f1_score(np.concatenate(yts), np.concatenate(yps), average="macro")
    assert P.pooled_macro_f1(cms) == pytest.approx(want, abs=1e-12)
    assert P.fold_summary([0.5, 0.7]) == pytest.approx((0.6, 0.1))


def test_select_on_other_folds_never_uses_own_fold() -> None:
    # "a" wins only on fold 0 (by far), "b" wins on folds 1 and 2: fold 0 must not pick "a" from its own score
    # fold 0 sees the others' means a 0.5, b 0.6, c 0.325 -> b; fold 1: a 0.75, b 0.3, c 0.5 -> a;
    # fold 2: a 0.75, b 0.3, c 0.725 -> a
    scores = {"a": [1.0, 0.5, 0.5], "b": [0.0, 0.6, 0.6], "c": [0.9, 0.55, 0.1]}
    assert P.select_on_other_folds(scores) == ["b", "a", "a"]
    m = np.array(list(scores.values()))
    for k, chosen in enumerate(P.select_on_other_folds(scores)):
        other = np.delete(m, k, axis=1).mean(axis=1)
        assert chosen == list(scores)[int(np.argmax(other))]


@pytest.mark.skipif(not (REPO.parent / "shared" / "imu" / "spsw-har" / "DATA").is_dir(), reason="no spsw-har")
@pytest.mark.parametrize("n", [3, 6])
def test_script_folds_never_train_on_test_subjects(n: int) -> None:
    """The script's real inputs per fold: training (and calibration) files only of the other subjects."""
    ev = _load("eval_v2r_crossdataset")
    try:
        ev.FOLD_N = n
        for train_s, test_s in P.subject_folds(ev.SUBJECTS, n):
            ev.FOLD = test_s
            assert ev.work("spsw").name == "-".join(test_s)
            for device in ("watch", "phone"):
                train, _ = ev.real_inputs("spsw", device, "train")
                test, _ = ev.real_inputs("spsw", device, "test")
                assert {P.subject_of(f) for f in train} == set(train_s)
                assert {P.subject_of(f) for f in test} == set(test_s)
                P.check_fold(test_s, train)
                with pytest.raises(AssertionError):
                    P.check_fold(test_s, [*train, test[0]])
    finally:
        ev.FOLD = None
    # the fixed split is unchanged
    train, _ = ev.real_inputs("spsw", "watch", "train")
    assert {P.subject_of(f) for f in train} == {"s01", "s02", "s03"}


def test_summarise_pools_separate_fold_reports() -> None:
    """Per-fold har-eval-like reports -> pooled macro-F1 equal to scikit-learn's on the concatenation."""
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(11)
    classes = ("WALKING", "TURNING")
    keys = ["raw|none|gravity", "channel|stack|gravity", "per-class|stack|gravity"]
    acc = {"r2r|gravity": 0.9, "r2r|sensor": 0.8, keys[0]: 0.6, keys[1]: 0.75, keys[2]: 0.7}
    per_fold, counts, preds = [], [], {}
    for _ in range(3):
        n0, n1 = (int(x) for x in rng.integers(20, 60, 2))
        yt = np.r_[np.zeros(n0, int), np.ones(n1, int)]
        counts.append({f"watch|{f}": [n0, n1] for f in ("sensor", "gravity")})
        dev: dict = {"r2r": {"sensor": {}, "gravity": {}}, "cells": {k: {} for k in keys}}
        for key, p in acc.items():
            for cp in (("rf:r2r", "cnn:r2r") if key.startswith("r2r|") else P.COLUMNS):
                yp = np.where(rng.random(n0 + n1) < p, yt, 1 - yt)
                preds.setdefault((key, cp), []).append((yt, yp))
                f1 = f1_score(yt, yp, labels=[0, 1], average=None, zero_division=0)
                rep = {"macro_f1": float(f1.mean()), "n_test": [n0 + n1],
                       "per_class_f1": {c: float(f) for c, f in zip(classes, f1, strict=True)}}
                if key.startswith("r2r|"):
                    dev["r2r"][key.split("|")[1]][cp] = rep
                else:
                    dev["cells"][key][cp] = rep
        per_fold.append({"devices": {"watch": dev}})
    summ = P.summarise(per_fold, counts, classes)["watch"]
    for (key, cp), pairs in preds.items():
        yt = np.concatenate([a for a, _ in pairs])
        yp = np.concatenate([b for _, b in pairs])
        assert summ[key][cp]["pooled"] == pytest.approx(f1_score(yt, yp, average="macro"), abs=1e-12)
        folds = [f1_score(a, b, average="macro") for a, b in pairs]
        assert summ[key][cp]["folds"] == pytest.approx(folds, abs=1e-12)
        assert summ[key][cp]["sd"] == pytest.approx(float(np.std(folds)), abs=1e-12)
    for name, cands in (("selected", keys), ("selected-channel", [keys[1]])):
        for cp in P.COLUMNS:
            chosen = summ[name][cp]["chosen"]
            assert chosen == P.select_on_other_folds({k: summ[k][cp]["folds"] for k in cands})
            assert summ[name][cp]["folds"] == [summ[k][cp]["folds"][i] for i, k in enumerate(chosen)]
    full, one = "per-class|stack|gravity", "channel|stack|gravity"
    text = P.fold_table({"watch": summ}, "spsw-har", full)
    text += P.fold_targets({"watch": summ}, "spsw-har", full, one)
    assert "**(full)**" in text and "chosen on the other folds" in text
    assert "met" in text or "missed" in text
    spread = P.spread_table({"watch": summ}, ["a", "b", "c"], [("full", full, "rf:v2r")])
    assert f"{summ[full]['rf:v2r']['pooled']:.3f}" in spread
