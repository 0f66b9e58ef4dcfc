"""HAR evaluation (the IMUTube protocol): window features, the baseline classifier, protocols r2r/v2r/mix2r.

Every model is tested on real windows only; ``r2r`` trains on real, ``v2r`` on virtual, ``mix2r`` on
both. Splits are group-wise (leave groups, i.e. subjects, out); virtual windows whose group appears in a
test fold are left out of that fold's training set. Classifiers: a random forest on statistical and
ECDF features (:func:`window_features`) and a small 1-D CNN on the windows (:mod:`imusynth.har.cnn`,
torch); each fold's training set (:class:`TrainingSet`) is built once and given to both. Scored with
macro-F1 over the classes present in the test fold.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.har.errors import HarError
from imusynth.har.windows import WindowSet, _channel_kinds, _check_compatible

PROTOCOLS = ("r2r", "v2r", "mix2r")


#: Probabilities at which each channel's inverse ECDF is sampled (Ploetz et al. 2011 ECDF features).
ECDF_PROBS: NDArray[np.float64] = (np.arange(10) + 0.5) / 10


def _signal_channels(
    X: NDArray[np.float32], channels: Sequence[str]
) -> tuple[NDArray[np.float64], list[str]]:
    """The raw channels plus the norm of every acc and gyro triple (orientation-free), (n, T, C')."""
    Xd = X.astype(np.float64)
    extra, names = [], list(channels)
    kinds = _channel_kinds(channels)
    for i in range(0, len(channels) - 2):
        if kinds[i] in ("acc_x", "gyro_x") and kinds[i + 1].endswith("_y") and kinds[i + 2].endswith("_z"):
            extra.append(np.linalg.norm(Xd[:, :, i : i + 3], axis=2))
            names.append(channels[i][:-2] + "_norm")
    if extra:
        Xd = np.concatenate([Xd, np.stack(extra, axis=2)], axis=2)
    return Xd, names


def window_features(X: ArrayLike, channels: Sequence[str]) -> tuple[NDArray[np.float64], list[str]]:
    """Statistical and ECDF features of each window.

    For every channel and for the norm of every acc / gyro triple: mean, standard deviation, minimum,
    maximum, skewness, excess kurtosis, mean absolute first difference (per sample), and the inverse
    ECDF at the 10 probabilities :data:`ECDF_PROBS` (0.05, 0.15, ..., 0.95).

    Parameters
    ----------
    X : array_like, shape (n, T, C)
        Windows.
    channels : sequence of str, length C
        Channel names.

    Returns
    -------
    features : ndarray, shape (n, F), float64
    names : list of str, length F
    """
    X = np.asarray(X, dtype=np.float32)
    Xd, names = _signal_channels(X, channels)
    mean = Xd.mean(axis=1)
    std = Xd.std(axis=1)
    safe = np.where(std > 0, std, 1.0)
    z = (Xd - mean[:, None, :]) / safe[:, None, :]
    skew = np.where(std > 0, (z**3).mean(axis=1), 0.0)
    kurt = np.where(std > 0, (z**4).mean(axis=1) - 3.0, 0.0)
    mad = np.abs(np.diff(Xd, axis=1)).mean(axis=1)
    ecdf = np.quantile(Xd, ECDF_PROBS, axis=1)  # (P, n, C')
    blocks = [
        mean,
        std,
        Xd.min(axis=1),
        Xd.max(axis=1),
        skew,
        kurt,
        mad,
        *[ecdf[k] for k in range(ECDF_PROBS.size)],
    ]
    stat_names = [
        "mean",
        "std",
        "min",
        "max",
        "skew",
        "kurt",
        "mean_abs_diff",
        *[f"q{p:.2f}" for p in ECDF_PROBS],
    ]
    feats = np.concatenate(blocks, axis=1)
    fnames = [f"{ch}:{s}" for s in stat_names for ch in names]
    return feats, fnames


def make_classifier(*, seed: int = 0, n_estimators: int = 300) -> Any:
    """The baseline: a scikit-learn random forest (balanced class weights, sqrt features per split)."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=n_estimators, max_features="sqrt", class_weight="balanced", random_state=seed, n_jobs=1
    )


# --------------------------------------------------------------------------------------------------
# Evaluation.
# --------------------------------------------------------------------------------------------------


@dataclass
class ProtocolResult:
    """Scores of one protocol over the test folds.

    Attributes
    ----------
    protocol : str
        ``r2r``, ``v2r`` or ``mix2r``.
    macro_f1 : float
        Mean over folds of the macro-F1 (classes present in each test fold).
    macro_f1_sd : float
        Standard deviation over folds (0 with one fold).
    fold_f1 : list of float
        Macro-F1 of each fold.
    pooled_f1 : float
        Macro-F1 of all test predictions pooled over folds.
    per_class_f1 : dict of str to float
        Pooled F1 of each class.
    n_train : list of int
        Training windows per fold.
    n_test : list of int
        Test windows per fold.
    classifier : str
        ``rf`` (random forest) or ``cnn``.
    """

    protocol: str
    macro_f1: float
    macro_f1_sd: float
    fold_f1: list[float]
    pooled_f1: float
    per_class_f1: dict[str, float]
    n_train: list[int]
    n_test: list[int]
    classifier: str = "rf"


@dataclass
class HarReport:
    """Result of :func:`evaluate`.

    Attributes
    ----------
    results : list of ProtocolResult
    classes : list of str
        Classes scored.
    folds : list of list of str
        Test groups of each fold.
    split : str
        How folds were made.
    classifier : str
        The classifier and its features, in words.
    notes : list of str
    """

    results: list[ProtocolResult]
    classes: list[str]
    folds: list[list[str]]
    split: str
    classifier: str
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(asdict(self), indent=2)

    def table(self) -> str:
        """A Markdown table: classifier, protocol, macro-F1 (mean +- sd over folds), pooled, windows."""
        lines = [
            "| classifier | protocol | macro-F1 (mean ± sd over folds) | pooled macro-F1 | train windows "
            "| test windows |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.results:
            lines.append(
                f"| {r.classifier} | {r.protocol} | {r.macro_f1:.3f} ± {r.macro_f1_sd:.3f} | "
                f"{r.pooled_f1:.3f} | {sum(r.n_train)} | {sum(r.n_test)} |"
            )
        return "\n".join(lines)


def group_folds(groups: NDArray[np.str_], n_folds: int, *, seed: int = 0) -> list[NDArray[np.int64]]:
    """Test indices of each fold, whole groups per fold (leave-one-group-out when groups <= n_folds).

    Groups are shuffled with ``seed`` and dealt to folds in turn, so folds differ in size by at most one
    group.
    """
    uniq = np.array(sorted(set(groups.tolist())))
    if uniq.size < 2:
        raise HarError(
            f"group-wise splits need at least 2 groups; the test set has {uniq.size} "
            "(give --train-real, or set group keys when exporting)"
        )
    k = min(n_folds, uniq.size)
    order = np.random.default_rng(seed).permutation(uniq.size)
    fold_of = {str(uniq[j]): i % k for i, j in enumerate(order)}
    assign = np.array([fold_of[g] for g in groups.tolist()])
    return [np.flatnonzero(assign == i) for i in range(k)]


CLASSIFIERS = ("rf", "cnn")


@dataclass
class TrainingSet:
    """What one classifier is trained on in one fold of one protocol (built by :func:`evaluate`).

    Attributes
    ----------
    windows : ndarray, shape (n, T, C'), float64
        The windows' channels plus the norm of every acc / gyro triple (the CNN's input).
    features : ndarray, shape (n, F), float64
        :func:`window_features` of the windows (the forest's input).
    y : ndarray of int64, shape (n,)
    group : ndarray of str, shape (n,)
        Group key of each window (the CNN's validation split holds out whole groups).
    real : ndarray of bool, shape (n,)
        Whether each window is real (the CNN validates on real windows when there are both kinds).
    """

    windows: NDArray[np.float64]
    features: NDArray[np.float64]
    y: NDArray[np.int64]
    group: NDArray[np.str_]
    real: NDArray[np.bool_]


def _fit_predict(
    kind: str,
    train: TrainingSet,
    test_windows: NDArray[np.float64],
    test_features: NDArray[np.float64],
    *,
    n_classes: int,
    seed: int,
    n_estimators: int,
    cnn_epochs: int,
) -> NDArray[np.int64]:
    """Train classifier ``kind`` (``rf`` or ``cnn``) on ``train`` and predict the test windows."""
    if kind == "rf":
        clf = make_classifier(seed=seed, n_estimators=n_estimators)
        clf.fit(train.features, train.y)
        return np.asarray(clf.predict(test_features), dtype=np.int64)
    from imusynth.har.cnn import CnnClassifier

    cnn = CnnClassifier(seed=seed, max_epochs=cnn_epochs)
    cnn.fit(train.windows, train.y, train.group, n_classes=n_classes,
            val_pool=train.real if train.real.any() else None)
    return cnn.predict(test_windows)


def select_classes(ws: WindowSet, classes: Sequence[str]) -> WindowSet:
    """The windows of ``ws`` whose label is in ``classes``, with ``class_names`` = those classes in order."""
    keep = list(dict.fromkeys(classes))
    if not keep:
        raise HarError("no class selected (--classes is empty)")
    sub = ws.subset(np.isin(ws.labels, keep))
    return sub.with_classes(sorted(keep))


def _classifier_kinds(classifier: str) -> list[str]:
    kinds = list(CLASSIFIERS) if classifier == "both" else [classifier]
    if any(k not in CLASSIFIERS for k in kinds):
        raise HarError(f"unknown classifier {classifier!r}; allowed: rf, cnn, both")
    return kinds


def evaluate(
    test: WindowSet,
    *,
    virtual: WindowSet | None = None,
    train_real: WindowSet | None = None,
    protocols: Sequence[str] = PROTOCOLS,
    n_folds: int = 5,
    seed: int = 0,
    n_estimators: int = 300,
    classifier: str = "rf",
    cnn_epochs: int = 40,
    classes: Sequence[str] | None = None,
) -> HarReport:
    """Train and score each classifier under each protocol; always test on real windows.

    Parameters
    ----------
    test : WindowSet
        Real windows to test on.
    virtual : WindowSet, optional
        Virtual training windows (needed by ``v2r`` and ``mix2r``).
    train_real : WindowSet, optional
        Real training windows. When given, the whole ``test`` set is one fold and real training windows
        whose group is also in ``test`` are dropped. When omitted, ``test`` is split group-wise into
        ``n_folds`` folds (:func:`group_folds`) and ``r2r``/``mix2r`` train on the other folds.
    protocols : sequence of {"r2r", "v2r", "mix2r"}
    n_folds : int
        Number of group-wise folds.
    seed : int
        Seed of the fold assignment and of the classifiers.
    n_estimators : int
        Trees in the forest.
    classifier : {"rf", "cnn", "both"}
        The random forest on window features (:func:`make_classifier`), the 1-D CNN on the windows
        (:class:`imusynth.har.cnn.CnnClassifier`, needs torch), or both (results for each).
    cnn_epochs : int
        Most epochs the CNN trains (early stopping on training groups may stop it sooner).
    classes : sequence of str, optional
        Keep only the windows of these classes in every set (e.g. the classes virtual data can have);
        each must occur in the test set. Default: every class.
    """
    from sklearn.metrics import f1_score

    protocols = list(protocols)
    kinds = _classifier_kinds(classifier)
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad or not protocols:
        raise HarError(f"unknown protocol(s) {bad}; allowed: {', '.join(PROTOCOLS)}")
    if any(p in ("v2r", "mix2r") for p in protocols) and virtual is None:
        raise HarError("protocols v2r and mix2r need virtual training windows (--train)")
    if len(test) == 0:
        raise HarError("the test set has no windows")
    if cnn_epochs < 1:
        raise HarError("cnn_epochs must be >= 1")
    if classes is not None:
        have = sorted(set(test.labels.tolist()))
        missing = sorted(set(classes) - set(have))
        if missing:
            raise HarError(f"--classes: {missing} have no test window (the test set has {have})")
        test = select_classes(test, classes)
        virtual = select_classes(virtual, classes) if virtual is not None else None
        train_real = select_classes(train_real, classes) if train_real is not None else None
    sets = [s for s in (test, virtual, train_real) if s is not None]
    for s in sets[1:]:
        _check_compatible(test, s)
    classes = sorted(set().union(*(s.labels.tolist() for s in sets)))
    test = test.with_classes(classes)
    virtual = virtual.with_classes(classes) if virtual is not None else None
    train_real = train_real.with_classes(classes) if train_real is not None else None
    notes: list[str] = []

    named = {"test": test, "virtual": virtual, "real": train_real}
    data: dict[str, TrainingSet] = {}
    for key, ws in named.items():
        if ws is not None:
            win = _signal_channels(ws.X, ws.channels)[0] if "cnn" in kinds else np.zeros((len(ws), 0, 0))
            feats = window_features(ws.X, ws.channels)[0] if "rf" in kinds else np.zeros((len(ws), 0))
            data[key] = TrainingSet(win, feats, ws.y, ws.group, np.full(len(ws), key != "virtual"))

    if train_real is None:
        folds = group_folds(test.group, n_folds, seed=seed)
        split = f"group-wise {len(folds)}-fold on the test set's groups (seed {seed})"
    else:
        folds = [np.arange(len(test))]
        split = (
            "train on --train-real, test on the whole test set (groups shared with it dropped from training)"
        )

    results: list[ProtocolResult] = []
    for proto in protocols:
        fold_f1: dict[str, list[float]] = {k: [] for k in kinds}
        n_train: list[int] = []
        n_test: list[int] = []
        y_true: list[NDArray[np.int64]] = []
        y_pred: dict[str, list[NDArray[np.int64]]] = {k: [] for k in kinds}
        for fi, test_idx in enumerate(folds):
            test_groups = list(set(test.group[test_idx].tolist()))
            parts: list[tuple[str, NDArray[np.int64]]] = []
            if proto in ("r2r", "mix2r"):
                if train_real is None:
                    parts.append(("test", np.setdiff1d(np.arange(len(test)), test_idx)))
                else:
                    keep = ~np.isin(train_real.group, test_groups)
                    if not keep.all() and fi == 0:
                        notes.append(
                            f"{proto}: dropped {int((~keep).sum())} real training windows whose "
                            "group is in the test set"
                        )
                    parts.append(("real", np.flatnonzero(keep)))
            if proto in ("v2r", "mix2r"):
                assert virtual is not None
                keep = ~np.isin(virtual.group, test_groups)
                if not keep.all():
                    notes.append(
                        f"{proto} fold {fi}: left out {int((~keep).sum())} virtual windows whose "
                        "group is in the test fold"
                    )
                parts.append(("virtual", np.flatnonzero(keep)))
            train = TrainingSet(
                *(np.concatenate([getattr(data[k], a)[i] for k, i in parts])
                  for a in ("windows", "features", "y", "group", "real"))
            )
            if train.y.size == 0:
                raise HarError(f"{proto}: no training windows left in fold {fi}")
            truth = test.y[test_idx]
            present = sorted(set(truth.tolist()))
            for kind in kinds:
                pred = _fit_predict(
                    kind,
                    train,
                    data["test"].windows[test_idx],
                    data["test"].features[test_idx],
                    n_classes=len(classes),
                    seed=seed,
                    n_estimators=n_estimators,
                    cnn_epochs=cnn_epochs,
                )
                fold_f1[kind].append(
                    float(f1_score(truth, pred, labels=present, average="macro", zero_division=0))
                )
                y_pred[kind].append(pred)
            n_train.append(int(train.y.size))
            n_test.append(int(test_idx.size))
            y_true.append(truth)
        yt = np.concatenate(y_true)
        present = sorted(set(yt.tolist()))
        for kind in kinds:
            yp = np.concatenate(y_pred[kind])
            per_class = f1_score(yt, yp, labels=present, average=None, zero_division=0)
            results.append(
                ProtocolResult(
                    protocol=proto,
                    macro_f1=float(np.mean(fold_f1[kind])),
                    macro_f1_sd=float(np.std(fold_f1[kind])),
                    fold_f1=fold_f1[kind],
                    pooled_f1=float(f1_score(yt, yp, labels=present, average="macro", zero_division=0)),
                    per_class_f1={classes[c]: float(f) for c, f in zip(present, per_class, strict=True)},
                    n_train=list(n_train),
                    n_test=list(n_test),
                    classifier=kind,
                )
            )
    results.sort(key=lambda r: kinds.index(r.classifier))
    words = []
    if "rf" in kinds:
        words.append(
            f"random forest ({n_estimators} trees, sqrt features, balanced class weights, "
            f"seed {seed}) on statistical + ECDF features of each channel and acc/gyro norm"
        )
    if "cnn" in kinds:
        from imusynth.har.cnn import CnnClassifier, describe

        words.append(describe(CnnClassifier(seed=seed, max_epochs=cnn_epochs)))
    return HarReport(
        results=results,
        classes=classes,
        folds=[sorted(set(test.group[f].tolist())) for f in folds],
        split=split,
        classifier="; ".join(words),
        notes=notes,
    )
