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


def test_calm_style_choice_closed_form() -> None:
    """sd of {m - d, m + d} repeated is d: real walking sd 2 -> styles up to sd 4 are kept."""
    real = np.tile([8.0, 12.0], (5, 10))  # any shape; sd 2
    styles = {
        "calm": [np.array([10.0 - 3.9, 10.0 + 3.9])],  # sd 3.9
        "edge": [np.array([1.0, 9.0]), np.array([1.0, 9.0])],  # pooled over takes: sd 4 (kept: <=)
        "wild": [np.array([0.0, 8.2])],  # sd 4.1
        "empty": [],
    }
    sd_real, sd, keep = P.calm_style_choice(real, styles)
    assert sd_real == pytest.approx(2.0, abs=1e-12)
    assert sd == pytest.approx({"calm": 3.9, "edge": 4.0, "wild": 4.1}, abs=1e-12)
    assert keep == {"calm", "edge"}
    assert P.calm_style_choice(real, styles, factor=1.9)[2] == set()
    assert P.style_of(Path("v/dataset-2_walk-turn-left_normal_001_1.h5")) == "normal"
    assert P.style_of(Path("v/sevivi_walking.h5")) == "sevivi"


@pytest.mark.skipif(not (REPO.parent / "shared" / "imu" / "spsw-har" / "DATA").is_dir(), reason="no spsw-har")
def test_script_calm_styles_read_only_training_subjects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The calm-style choice of each fold reads real windows of its training subjects only; reading the test
    split's windows instead trips the fold check."""
    import types

    import h5py

    ev = _load("eval_v2r_crossdataset")
    rng = np.random.default_rng(2)
    virtual = []
    for style, sd in (("normal", 1.0), ("active", 10.0)):  # |acc| sd about 1 and 10 m/s^2 (x axis only)
        f = tmp_path / f"dataset-2_walk_{style}_001.h5"
        with h5py.File(f, "w") as h5:
            for pl in ("left_wrist", "thigh"):
                acc = np.zeros((400, 3))
                acc[:, 0] = 50.0 + sd * rng.standard_normal(400)
                h5.create_dataset(f"clips/c0/sensors/{pl}/acc", data=acc)
                h5.create_dataset(f"clips/c0/sensors/{pl}/valid", data=np.ones(400, bool))
        virtual.append(f)
    asked: list[tuple[str, str]] = []

    def export_real(target: str, device: str, split: str, frame: str) -> Path:
        asked.append((device, split))
        return tmp_path / f"real_{device}_{split}_{frame}.h5"

    def load_windows(path: Path) -> types.SimpleNamespace:
        device, split = path.stem.split("_")[1:3]
        files, _ = ev.real_inputs("spsw", device, split)  # one window per real file, grouped by subject
        x = np.zeros((len(files), 50, 6))
        x[:, :, 2] = 9.80665 + 2.0 * rng.standard_normal((len(files), 50))  # |acc| sd about 2: threshold 4
        return types.SimpleNamespace(X=x, labels=np.array(["WALKING"] * len(files)),
                                     group=np.array([P.subject_of(f) for f in files]))

    monkeypatch.setattr(ev, "export_real", export_real)
    monkeypatch.setattr(ev, "load_windows", load_windows)
    monkeypatch.setattr(ev, "FOLD_N", 6)
    for _, test_s in P.subject_folds(ev.SUBJECTS, 6):
        monkeypatch.setattr(ev, "FOLD", test_s)
        for device in ("watch", "phone"):
            asked.clear()
            assert ev.calm_styles("spsw", device, virtual) == {"normal"}
            assert asked == [(device, "train")]

    def export_test(target: str, device: str, split: str, frame: str) -> Path:
        return tmp_path / f"real_{device}_test_{frame}.h5"

    monkeypatch.setattr(ev, "export_real", export_test)
    monkeypatch.setattr(ev, "FOLD", ("s03",))
    with pytest.raises(AssertionError):
        ev.calm_styles("spsw", "watch", virtual)


def test_turn_bounds_longest_fast_run() -> None:
    """Heading at 10 Hz: a 0.5 s turn at 90 deg/s, then a 3 s turn at 90 deg/s: the second is chosen; the
    1 s moving average widens a ramp of length L into a rate above 30 deg/s over about L + 2/3 s."""
    t = np.arange(0, 20, 0.1)
    rate = np.where((t >= 3) & (t < 3.5), 90.0, 0.0) + np.where((t >= 10) & (t < 13), 90.0, 0.0)
    heading = np.radians(np.cumsum(rate) * 0.1)
    t0, a, b, t1 = P.turn_bounds(t, heading, 30.0)
    assert (t0, t1) == (0.0, pytest.approx(19.9))
    assert 9.4 <= a <= 10.1 and 12.9 <= b <= 13.6
    assert P.turn_bounds(t, np.zeros_like(t), 30.0)[1:3] == (0.0, 0.0)
