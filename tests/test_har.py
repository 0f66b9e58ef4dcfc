"""HAR windows, loaders, features and the evaluation protocol (synthetic data)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from imusynth.calibrate import CHANNELS, ImuSeries
from imusynth.har import (
    ECDF_PROBS,
    HarError,
    Recording,
    WindowSet,
    concat_windows,
    evaluate,
    group_folds,
    load_windows,
    make_windows,
    save_windows,
    segments,
    stack_placements,
    torch_dataset,
    window_features,
    window_starts,
)

RATE = 50.0


def _recording(
    labels: list[tuple[str, int]],
    *,
    name: str,
    group: str,
    invalid: tuple[int, int] | None = None,
) -> Recording:
    """A recording whose channel 0 holds the sample index (to check contiguity) and labels in runs."""
    lab = np.concatenate([np.full(n, c) for c, n in labels])
    n = lab.size
    data = np.zeros((n, 6))
    data[:, 0] = np.arange(n)
    valid = np.ones(n, dtype=bool)
    if invalid is not None:
        valid[invalid[0] : invalid[1]] = False
    return Recording(
        np.arange(n) / RATE, data, valid, lab.astype(str), tuple(f"p.{c}" for c in CHANNELS), group, name
    )


def test_window_counts_follow_the_closed_form() -> None:
    # T = 10 samples, step 5: a segment of L samples holds floor((L - T) / step) + 1 windows
    for L in (9, 10, 14, 15, 47):
        assert window_starts(L, 10, 5).size == (0 if L < 10 else (L - 10) // 5 + 1)


def test_windows_never_cross_labels_gaps_or_clips() -> None:
    recs = [
        _recording([("walk", 120), ("sit", 37), ("walk", 80)], name="c1", group="s1", invalid=(30, 35)),
        _recording([("sit", 100), ("", 20), ("sit", 60)], name="c2", group="s2"),
    ]
    ws = make_windows(recs, window_s=0.4, overlap=0.5, rate_hz=RATE)  # T = 20, step = 10
    assert ws.X.shape[1:] == (20, 6)
    by_name = {r.name: r for r in recs}
    for k in range(len(ws)):
        idx = ws.X[k, :, 0].astype(int)
        assert np.all(np.diff(idx) == 1)  # contiguous samples of one recording
        rec = by_name[ws.clip[k]]
        assert rec.valid[idx].all()
        assert set(rec.labels[idx].tolist()) == {ws.labels[k]}
        assert ws.start_s[k] == pytest.approx(idx[0] / RATE)
    # expected count per segment: c1 walk [0,30) -> 2, [35,120) -> 7, sit 37 -> 2, walk 80 -> 7;
    # c2 sit 100 -> 9, unlabelled 20 -> 0, sit 60 -> 5
    assert len(ws) == 2 + 7 + 2 + 7 + 9 + 5
    assert ws.class_names == ("sit", "walk")
    assert sorted(set(ws.group.tolist())) == ["s1", "s2"]


def test_segments_split_on_label_and_validity() -> None:
    valid = np.array([1, 1, 1, 0, 1, 1, 1, 1], dtype=bool)
    labels = np.array(["a", "a", "a", "a", "a", "b", "", "b"])
    assert segments(valid, labels) == [(0, 3, "a"), (4, 5, "a"), (5, 6, "b"), (7, 8, "b")]


def test_stack_placements_resamples_onto_one_grid() -> None:
    t1 = np.arange(0, 10, 1 / 100)
    t2 = np.arange(0.3, 10, 1 / 60)
    s1 = ImuSeries(t1, np.ones((t1.size, 3)), np.zeros((t1.size, 3)), labels=np.full(t1.size, "x"))
    s2 = ImuSeries(t2, 2 * np.ones((t2.size, 3)), np.zeros((t2.size, 3)))
    rec = stack_placements([s1, s2], ["a", "b"], rate_hz=RATE)
    assert rec.time[0] == pytest.approx(0.3)  # starts where both placements have data
    np.testing.assert_allclose(np.diff(rec.time), 1 / RATE)
    assert rec.channels[:2] == ("a.acc_x", "a.acc_y") and rec.channels[6] == "b.acc_x"
    np.testing.assert_allclose(rec.data[rec.valid][:, [0, 6]], [[1.0, 2.0]] * int(rec.valid.sum()))
    assert set(rec.labels.tolist()) == {"x"}


def test_windows_file_round_trip_and_torch(tmp_path) -> None:  # noqa: ANN001
    recs = [
        _recording([("walk", 200)], name="c1", group="s1"),
        _recording([("sit", 100)], name="c2", group="s2"),
    ]
    ws = make_windows(recs, window_s=0.4, overlap=0.0, rate_hz=RATE, source="unit")
    path = save_windows(ws, tmp_path / "w.h5")
    back = load_windows(path)
    np.testing.assert_array_equal(back.X, ws.X)
    np.testing.assert_array_equal(back.y, ws.y)
    np.testing.assert_array_equal(back.group, ws.group)
    assert back.class_names == ws.class_names and back.channels == ws.channels
    assert back.X.dtype == np.float32 and back.y.dtype == np.int64
    assert [p.name for p in tmp_path.iterdir()] == ["w.h5"]  # atomic write leaves no temporary
    pytest.importorskip("torch")
    ds = torch_dataset(back)
    x, y = ds[0]
    assert tuple(x.shape) == (6, 20) and int(y) == int(ws.y[0]) and len(ds) == len(ws)


def test_load_windows_refuses_other_files(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(HarError, match="no such file"):
        load_windows(tmp_path / "missing.h5")
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises(HarError, match="not a windows file"):
        load_windows(tmp_path / "x.h5")


def test_features_closed_form() -> None:
    T = 101
    ramp = np.linspace(0.0, 1.0, T)
    X = np.zeros((1, T, 6), dtype=np.float32)
    X[0, :, 0] = ramp  # acc_x: uniform ramp 0..1
    X[0, :, 3] = 2.0  # gyro_x: constant
    feats, names = window_features(X, [f"p.{c}" for c in CHANNELS])
    f = dict(zip(names, feats[0], strict=True))
    # float32 storage: values exact to ~1e-7
    assert f["p.acc_x:mean"] == pytest.approx(0.5, abs=1e-6)
    assert f["p.acc_x:std"] == pytest.approx(np.std(ramp), abs=1e-6)
    assert f["p.acc_x:mean_abs_diff"] == pytest.approx(0.01, abs=1e-6)
    for p in ECDF_PROBS:  # the inverse ECDF of an evenly spaced ramp is the identity
        assert f[f"p.acc_x:q{p:.2f}"] == pytest.approx(p, abs=1e-6)
    assert f["p.gyro_x:std"] == 0.0 and f["p.gyro_x:skew"] == 0.0
    assert f["p.gyro_norm:mean"] == pytest.approx(2.0)
    assert f["p.acc_norm:max"] == pytest.approx(1.0, abs=1e-6)


def test_group_folds_keep_groups_whole() -> None:
    groups = np.repeat(np.array(["a", "b", "c", "d", "e", "f", "g"]), 3)
    folds = group_folds(groups, 3, seed=1)
    assert len(folds) == 3
    allidx = np.sort(np.concatenate(folds))
    np.testing.assert_array_equal(allidx, np.arange(groups.size))
    seen = [set(groups[f].tolist()) for f in folds]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not seen[i] & seen[j]
    with pytest.raises(HarError, match="at least 2 groups"):
        group_folds(np.array(["a", "a"]), 5)


def _synthetic_set(
    rng: np.random.Generator, *, n_groups: int, per: int, flip: bool = False, prefix: str = "s"
) -> WindowSet:
    """Two classes: 'slow' (1 Hz) and 'fast' (4 Hz) sines on acc_x, with noise; labels swapped if flip."""
    T = 64
    t = np.arange(T) / RATE
    X, y, g = [], [], []
    for k in range(n_groups):
        for c, f in enumerate((1.0, 4.0)):
            for _ in range(per):
                x = 0.05 * rng.standard_normal((T, 6))
                x[:, 0] += np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
                X.append(x)
                y.append(1 - c if flip else c)
                g.append(f"{prefix}{k}")
    n = len(y)
    return WindowSet(
        np.array(X, dtype=np.float32),
        np.array(y),
        ("slow", "fast"),
        np.array(g),
        np.array(g),
        np.zeros(n),
        tuple(f"p.{c}" for c in CHANNELS),
        RATE,
        T / RATE,
        0.0,
    )


def test_evaluate_protocols(rng) -> None:  # noqa: ANN001
    real = _synthetic_set(rng, n_groups=4, per=10)
    virtual = _synthetic_set(rng, n_groups=3, per=10, prefix="v")
    rep = evaluate(real, virtual=virtual, n_folds=4, n_estimators=50)
    scores = {r.protocol: r for r in rep.results}
    assert set(scores) == {"r2r", "v2r", "mix2r"}
    for r in rep.results:  # separable classes (sine frequency): every protocol is perfect
        assert r.macro_f1 == 1.0 and r.pooled_f1 == 1.0
        assert sum(r.n_test) == len(real)
    assert scores["v2r"].n_train == [len(virtual)] * 4
    assert scores["mix2r"].n_train == [len(virtual) + len(real) - n for n in scores["r2r"].n_test]
    # virtual labels swapped: v2r must learn the swap and fail on every test window
    wrong = _synthetic_set(rng, n_groups=3, per=10, flip=True, prefix="v")
    bad = evaluate(real, virtual=wrong, protocols=["v2r"], n_folds=4, n_estimators=50)
    assert bad.results[0].macro_f1 == 0.0
    js = json.loads(rep.to_json())
    assert [r["protocol"] for r in js["results"]] == ["r2r", "v2r", "mix2r"]
    assert "| r2r |" in rep.table()


def test_evaluate_leaves_out_virtual_windows_of_test_groups(rng) -> None:  # noqa: ANN001
    real = _synthetic_set(rng, n_groups=2, per=5)
    virtual = _synthetic_set(rng, n_groups=2, per=5)  # same group keys s0, s1 as the real set
    rep = evaluate(real, virtual=virtual, protocols=["v2r"], n_folds=2, n_estimators=20)
    # each fold tests one group; the virtual windows of that group (10) are not trained on
    assert rep.results[0].n_train == [10, 10]
    assert any("left out 10 virtual windows" in n for n in rep.notes)


def test_evaluate_with_separate_real_training_set(rng) -> None:  # noqa: ANN001
    train = _synthetic_set(rng, n_groups=3, per=5, prefix="train")
    test = _synthetic_set(rng, n_groups=1, per=5, prefix="test")
    rep = evaluate(test, train_real=train, protocols=["r2r"], n_estimators=20)
    assert rep.folds == [["test0"]] and rep.results[0].n_train == [len(train)]


def test_evaluate_refuses_mismatched_inputs(rng) -> None:  # noqa: ANN001
    real = _synthetic_set(rng, n_groups=2, per=3)
    with pytest.raises(HarError, match="need virtual training windows"):
        evaluate(real, protocols=["v2r"])
    with pytest.raises(HarError, match="unknown protocol"):
        evaluate(real, protocols=["x2y"])
    short = real.subset(np.arange(len(real)))
    short = WindowSet(
        short.X[:, :32],
        short.y,
        short.class_names,
        short.group,
        short.clip,
        short.start_s,
        short.channels,
        RATE,
        32 / RATE,
        0.0,
    )
    with pytest.raises(HarError, match="window shapes differ"):
        evaluate(real, virtual=short)
    with pytest.raises(HarError, match="overlap must be"):
        make_windows([_recording([("a", 50)], name="c", group="g")], window_s=0.2, overlap=1.0, rate_hz=RATE)


def test_concat_windows_merges_class_lists(rng) -> None:  # noqa: ANN001
    a = _synthetic_set(rng, n_groups=1, per=2)
    b = WindowSet(
        a.X,
        np.zeros(len(a), dtype=np.int64),
        ("jump",),
        a.group,
        a.clip,
        a.start_s,
        a.channels,
        RATE,
        a.window_s,
        0.0,
    )
    both = concat_windows([a, b])
    assert both.class_names == ("fast", "jump", "slow")
    assert list(both.labels[: len(a)]) == list(a.labels)
    assert set(both.labels[len(a) :].tolist()) == {"jump"}


def test_mismatch_errors_name_a_few_sources_not_all(rng) -> None:  # noqa: ANN001
    """Issue 10: a set made from 120 files used to put all 120 paths (kilobytes) in one error line."""
    from dataclasses import replace

    from imusynth.har.windows import brief_list

    assert brief_list(["a", "b", "c", "d"]) == "a, b, c, d"
    assert brief_list([f"f{i}" for i in range(10)]) == "f0, f1, f2 and 7 more (10 in all)"
    paths = [f"/data/spsw-har/DATA/s{i // 20:02d}/s{i:03d}_sw.csv" for i in range(120)]
    real = replace(_synthetic_set(rng, n_groups=2, per=3), source="; ".join(paths))
    short = WindowSet(real.X[:, :32], real.y, real.class_names, real.group, real.clip, real.start_s,
                      real.channels, RATE, 32 / RATE, 0.0, "virtual.h5")
    with pytest.raises(HarError) as err:
        evaluate(real, virtual=short)
    msg = str(err.value)
    assert msg.startswith("window shapes differ: (64, 6) (/data/spsw-har/DATA/s00/s000_sw.csv, ")
    assert "s002_sw.csv and 117 more (120 in all)) vs (32, 6) (virtual.h5)" in msg
    assert len(msg) < 300 and "s003_sw.csv" not in msg
    g = replace(real.subset(np.arange(len(real))), acc_unit="g")
    with pytest.raises(HarError, match=r"units differ: .*and 117 more \(120 in all\)\) vs ") as err:
        concat_windows([g, real])
    assert len(str(err.value)) < 600 and str(err.value).count("_sw.csv") == 6  # 3 paths a side, not 240


def test_evaluate_keeps_only_the_selected_classes(rng) -> None:  # noqa: ANN001
    real = _synthetic_set(rng, n_groups=3, per=4)
    virtual = _synthetic_set(rng, n_groups=2, per=4, prefix="v")
    virtual = virtual.subset(virtual.labels == "fast")  # virtual data of one class only
    rep = evaluate(real, virtual=virtual, protocols=["r2r", "v2r"], n_folds=3, n_estimators=20,
                   classes=["fast"])
    assert rep.classes == ["fast"]
    r2r, v2r = rep.results
    assert sum(r2r.n_test) == 3 * 4 and r2r.n_train == [8, 8, 8]  # the 'slow' windows are gone
    assert v2r.n_train == [8, 8, 8] and v2r.macro_f1 == 1.0
    with pytest.raises(HarError, match="--classes: \\['jog'\\] have no test window"):
        evaluate(real, protocols=["r2r"], classes=["fast", "jog"])

