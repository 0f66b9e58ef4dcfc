"""The 1-D CNN classifier of har-eval, and the protocols' group separation for every classifier."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from imusynth.calibrate import CHANNELS  # noqa: E402
from imusynth.har import WindowSet, evaluate, window_features  # noqa: E402
from imusynth.har import evaluation as ev  # noqa: E402
from imusynth.har.cnn import CnnClassifier, validation_split  # noqa: E402

RATE = 50.0
T = 64


def _sines(
    rng: np.random.Generator,
    *,
    groups: list[str],
    per: int,
    noise: float,
    freqs: tuple[float, float] = (1.0, 3.0),
) -> WindowSet:
    """Two classes: a sine of freqs[0] or freqs[1] Hz (random phase and amplitude 0.7-1.3) on acc_x, in
    Gaussian noise of sd ``noise`` on every channel; ``per`` windows per class and group."""
    t = np.arange(T) / RATE
    X, y, g = [], [], []
    for grp in groups:
        for c, f in enumerate(freqs):
            for _ in range(per):
                x = noise * rng.standard_normal((T, 6))
                x[:, 0] += rng.uniform(0.7, 1.3) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
                x[:, 2] += 9.80665
                X.append(x)
                y.append(c)
                g.append(grp)
    n = len(y)
    return WindowSet(
        np.array(X, dtype=np.float32), np.array(y), ("slow", "fast"), np.array(g), np.array(g), np.zeros(n),
        tuple(f"p.{c}" for c in CHANNELS), RATE, T / RATE, 0.0,
    )


def test_cnn_learns_sine_frequencies_in_noise(rng) -> None:  # noqa: ANN001
    from sklearn.metrics import f1_score

    train = _sines(rng, groups=["a", "b", "c", "d", "e"], per=24, noise=0.5)
    test = _sines(rng, groups=["x", "y"], per=50, noise=0.5)
    clf = CnnClassifier(seed=0, max_epochs=25).fit(train.X, train.y, train.group)
    pred = clf.predict(test.X)
    assert f1_score(test.y, pred, average="macro") > 0.95
    assert 1 <= clf.best_epoch <= clf.epochs_run <= 25
    # standardisation from the fitting windows only: the held-out validation group is not in the mean
    fit_idx, val_idx = validation_split(train.group, fraction=0.2, seed=0)
    assert val_idx.size == 2 * 24
    assert set(train.group[val_idx].tolist()).isdisjoint(train.group[fit_idx].tolist())
    assert clf._mean is not None
    expected = train.X[fit_idx].astype(np.float64).mean(axis=(0, 1))
    np.testing.assert_allclose(clf._mean[0, 0], expected, rtol=1e-6)


def test_cnn_same_seed_same_predictions(rng) -> None:  # noqa: ANN001
    import torch

    before = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    train = _sines(rng, groups=["a", "b", "c"], per=10, noise=1.0)
    test = _sines(rng, groups=["x"], per=20, noise=1.0)
    p1 = CnnClassifier(seed=3, max_epochs=4).fit(train.X, train.y, train.group).predict_proba(test.X)
    p2 = CnnClassifier(seed=3, max_epochs=4).fit(train.X, train.y, train.group).predict_proba(test.X)
    np.testing.assert_array_equal(p1, p2)  # bit-identical
    p3 = CnnClassifier(seed=4, max_epochs=4).fit(train.X, train.y, train.group).predict_proba(test.X)
    assert not np.array_equal(p1, p3)  # the seed matters, so the equality above is not vacuous
    # the caller's torch settings are restored
    assert (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()) == before


def test_validation_split_holds_out_whole_groups() -> None:
    groups = np.repeat(np.array(["g0", "g1", "g2", "g3", "g4"]), 7)
    fit_idx, val_idx = validation_split(groups, fraction=0.2, seed=1)
    assert np.array_equal(np.sort(np.concatenate([fit_idx, val_idx])), np.arange(35))
    assert len(set(groups[val_idx].tolist())) == 1 and val_idx.size == 7
    assert set(groups[val_idx].tolist()).isdisjoint(groups[fit_idx].tolist())
    again = validation_split(groups, fraction=0.2, seed=1)
    assert np.array_equal(again[1], val_idx)
    # one group: a fraction of the windows
    fit1, val1 = validation_split(np.array(["g"] * 10), fraction=0.2, seed=0)
    assert val1.size == 2 and fit1.size == 8


def test_validation_split_draws_from_the_pool_only() -> None:
    """Mix2R: early stopping validates on real windows only; the virtual ones are always fitted on."""
    groups = np.repeat(np.array(["v0", "v1", "v2", "v3", "r0", "r1", "r2", "r3", "r4"]), 4)
    real = np.char.startswith(groups.astype(str), "r")
    for seed in range(5):
        fit_idx, val_idx = validation_split(groups, fraction=0.2, seed=seed, pool=real)
        assert np.array_equal(np.sort(np.concatenate([fit_idx, val_idx])), np.arange(groups.size))
        assert real[val_idx].all() and len(set(groups[val_idx].tolist())) == 1  # round(0.2 x 5) real groups
        assert set(groups[val_idx].tolist()).isdisjoint(groups[fit_idx].tolist())
    # the rule of the pool alone: the same groups as a split of the real windows by themselves
    inside = np.flatnonzero(real)
    alone = validation_split(groups[inside], fraction=0.2, seed=3)[1]
    assert np.array_equal(validation_split(groups, fraction=0.2, seed=3, pool=real)[1], inside[alone])
    # a pool of every window is no pool
    full = validation_split(groups, fraction=0.2, seed=2, pool=np.ones(groups.size, bool))
    assert all(np.array_equal(a, b) for a, b in zip(full, validation_split(groups, fraction=0.2, seed=2),
                                                      strict=True))


def test_validation_split_never_leaves_a_class_without_fitting_windows() -> None:
    """One recording per activity, each its own group: holding out a group would hold out a class."""
    groups = np.repeat(np.array(["walk_file", "run_file"]), 10)
    labels = np.repeat(np.array([0, 1]), 10)
    fit_g, val_g = validation_split(groups, fraction=0.2, seed=0)
    assert set(labels[fit_g].tolist()) != {0, 1}  # the group rule alone drops a class ...
    for seed in range(5):
        fit_idx, val_idx = validation_split(groups, fraction=0.2, seed=seed, labels=labels)
        assert set(labels[fit_idx].tolist()) == {0, 1}  # ... with labels, both classes are fitted on
        assert np.bincount(labels[val_idx]).tolist() == [2, 2]  # 20 % of each class validates
        assert np.array_equal(np.sort(np.concatenate([fit_idx, val_idx])), np.arange(20))
    # a class with a single window is never held out
    lone = validation_split(np.array(["a"] * 6 + ["b"]), fraction=0.5, seed=0, labels=np.array([0] * 6 + [1]))
    assert 6 in lone[0]
    # where every group holds every class the group split is kept as it was
    mixed = np.repeat(np.array(["s0", "s1", "s2", "s3", "s4"]), 4)
    lab = np.tile(np.array([0, 1]), 10)
    for a, b in zip(validation_split(mixed, fraction=0.2, seed=3, labels=lab),
                    validation_split(mixed, fraction=0.2, seed=3), strict=True):
        assert np.array_equal(a, b)


def test_mix2r_cnn_validates_on_real_windows_only(monkeypatch) -> None:  # noqa: ANN001
    from imusynth.har import cnn as cnn_mod

    test = _planted(4, "s", 100.0, 4)
    virtual = _planted(3, "v", 300.0, 5)
    pools: list[tuple[int, int] | None] = []
    real_fit = cnn_mod.CnnClassifier.fit

    def spy(self, X, y, groups, *, n_classes=None, val_pool=None):  # noqa: ANN001, ANN202
        pools.append(None if val_pool is None else (int(np.sum(val_pool)), len(val_pool)))
        if val_pool is not None:  # the real windows are the test set's other folds: groups s*
            assert set(np.asarray(groups)[np.asarray(val_pool)].tolist()) <= {f"s{k}" for k in range(4)}
        return real_fit(self, X, y, groups, n_classes=n_classes, val_pool=val_pool)

    monkeypatch.setattr(cnn_mod.CnnClassifier, "fit", spy)
    evaluate(test, virtual=virtual, n_folds=2, classifier="cnn", cnn_epochs=1)
    # r2r: every window real (pool = all); v2r: none real (no pool); mix2r: the real part only
    r2r, v2r, mix2r = pools[0:2], pools[2:4], pools[4:6]
    assert all(p is not None and p[0] == p[1] for p in r2r)
    assert v2r == [None, None]
    assert all(p is not None and 0 < p[0] < p[1] for p in mix2r)


def _planted(n_groups: int, prefix: str, base: float, channel: int) -> WindowSet:
    """Windows whose ``channel`` holds the constant ``base + k`` in group ``{prefix}{k}`` (a signature)."""
    X, y, g = [], [], []
    for k in range(n_groups):
        for c in range(2):
            for _ in range(3):
                x = np.zeros((T, 6))
                x[:, 2] = 9.80665
                x[:, 0] = np.sin(np.arange(T) * (0.1 + 0.3 * c))
                x[:, channel] = base + k
                X.append(x)
                y.append(c)
                g.append(f"{prefix}{k}")
    n = len(y)
    return WindowSet(
        np.array(X, dtype=np.float32), np.array(y), ("slow", "fast"), np.array(g), np.array(g), np.zeros(n),
        tuple(f"p.{c}" for c in CHANNELS), RATE, T / RATE, 0.0,
    )


def test_protocols_never_train_on_test_groups(monkeypatch) -> None:  # noqa: ANN001
    # Test set: groups s0..s3, signature 100 + k in gyro_y (channel 4). Virtual and separate real training
    # sets plant the SAME group names s0..s3 (signature 200 + k in gyro_z) beside their own groups.
    test = _planted(4, "s", 100.0, 4)
    own_v = _planted(2, "v", 300.0, 5)
    virtual = _planted(4, "s", 200.0, 5)
    virtual = WindowSet(
        np.concatenate([virtual.X, own_v.X]), np.concatenate([virtual.y, own_v.y]), virtual.class_names,
        np.concatenate([virtual.group, own_v.group]), np.concatenate([virtual.clip, own_v.clip]),
        np.zeros(len(virtual) + len(own_v)), virtual.channels, RATE, T / RATE, 0.0,
    )
    real_train = _planted(4, "s", 200.0, 5)  # shares every test group name: all of it must be dropped ...
    real_train = WindowSet(
        np.concatenate([real_train.X, own_v.X]), np.concatenate([real_train.y, own_v.y]),
        real_train.class_names,
        np.concatenate([real_train.group, np.char.add("r", own_v.group)]),
        np.concatenate([real_train.clip, own_v.clip]), np.zeros(len(real_train) + len(own_v)),
        real_train.channels, RATE, T / RATE, 0.0,
    )
    names = window_features(test.X[:1], test.channels)[1]
    mean_g4, mean_g5 = names.index("p.gyro_y:mean"), names.index("p.gyro_z:mean")
    calls: list[tuple[str, set[str]]] = []

    def spy(kind, train, test_windows, test_features, **kw):  # noqa: ANN001, ANN003, ANN202
        test_sig = set(np.round(test_windows[:, 0, 4] - 100).astype(int).tolist())
        test_groups = {f"s{k}" for k in test_sig}
        # by group key, and by the data itself (windows for the CNN, features for the forest)
        assert test_groups.isdisjoint(train.group.tolist())
        train_sig = np.concatenate([train.windows[:, 0, 4] - 100, train.windows[:, 0, 5] - 200])
        feat_sig = np.concatenate([train.features[:, mean_g4] - 100, train.features[:, mean_g5] - 200])
        for sig in (train_sig, feat_sig):
            assert test_sig.isdisjoint(np.round(sig[(sig > -0.5) & (sig < 3.5)]).astype(int).tolist())
        assert train.windows.shape[0] == train.features.shape[0] == train.y.size == train.group.size
        calls.append((kind, test_groups))
        return np.zeros(test_windows.shape[0], dtype=np.int64)

    monkeypatch.setattr(ev, "_fit_predict", spy)
    rep = evaluate(test, virtual=virtual, n_folds=4, classifier="both")
    assert len(calls) == 3 * 4 * 2  # protocols x folds x classifiers
    assert {k for k, _ in calls} == {"rf", "cnn"}
    assert [sorted(g) for g in rep.folds] == [sorted(g) for _, g in calls[:8:2]]
    calls.clear()
    rep = evaluate(test, virtual=virtual, train_real=real_train, classifier="both")
    assert len(calls) == 3 * 2
    r2r = [r for r in rep.results if r.protocol == "r2r"]
    assert [r.n_train for r in r2r] == [[len(own_v)]] * 2  # only the real groups r v0, r v1 remain


def test_evaluate_both_classifiers(rng) -> None:  # noqa: ANN001
    real = _sines(rng, groups=["s0", "s1", "s2"], per=12, noise=0.1, freqs=(1.0, 4.0))
    virtual = _sines(rng, groups=["v0", "v1", "v2"], per=12, noise=0.1, freqs=(1.0, 4.0))
    rep = evaluate(real, virtual=virtual, n_folds=3, classifier="both", n_estimators=30, cnn_epochs=15)
    assert [(r.classifier, r.protocol) for r in rep.results] == [
        (c, p) for c in ("rf", "cnn") for p in ("r2r", "v2r", "mix2r")
    ]
    for r in rep.results:
        assert r.macro_f1 > 0.9, (r.classifier, r.protocol, r.macro_f1)
    assert "| cnn | v2r |" in rep.table()
    assert "1-D CNN" in rep.classifier and "random forest" in rep.classifier
    with pytest.raises(ev.HarError, match="unknown classifier"):
        evaluate(real, protocols=["r2r"], classifier="svm")
