"""A small 1-D convolutional network for HAR windows (torch, CPU, seeded and deterministic).

The second classifier of ``har-eval`` beside the random forest (IMUTube reported both). torch is imported
inside the functions, so ``import imusynth.har`` stays light and torch stays an optional extra.

Network (:func:`build_network`): three blocks of ``Conv1d(kernel 5, 'same' padding) -> BatchNorm ->
ReLU``, 32, 64 and 64 filters, max-pooling by 2 after the first two, global average pooling over time,
dropout 0.3 and a linear layer to the classes. Inputs are the window's channels plus the norm of every
acc / gyro triple (as the forest's features), each standardised with the mean and standard deviation of
the *training* windows only.

Training (:class:`CnnClassifier`): Adam (learning rate 2e-3, weight decay 1e-4), mini-batches of 64,
class-weighted cross-entropy (weights inversely proportional to the class counts, as the forest's
"balanced" weights), at most ``max_epochs`` epochs with early stopping (``patience`` epochs without a
better validation loss; the best epoch's weights are kept). The validation split holds whole training
groups (about ``val_fraction`` of them, drawn with the seed); with a single training group it holds a
seeded random ``val_fraction`` of the windows instead, and so it does within each class when holding
out groups would leave a class with nothing to fit on (one recording per activity). When the training
set mixes virtual and real windows (``har-eval``'s Mix2R), the validation windows are drawn from the real
ones only (``val_pool``): the model is chosen on the kind of data it will be tested on. No test window is
ever seen before prediction.

Determinism: every fit seeds torch (``torch.manual_seed``), shuffles with its own seeded generator, runs
with ``torch.use_deterministic_algorithms(True)`` and a fixed number of intra-op threads (1 by default),
and restores the caller's settings afterwards; the same inputs and seed give bit-identical predictions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.har.errors import HarError


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise HarError(
            "the CNN classifier needs PyTorch: pip install 'imusynth[har]' (torch==2.13.0, a CPU build, "
            "first: see README), or use --classifier rf"
        ) from exc
    return torch


def build_network(n_channels: int, n_classes: int) -> Any:
    """The 1-D CNN: input (batch, n_channels, T) -> logits (batch, n_classes); any T >= 1.

    Parameters
    ----------
    n_channels : int
        Input channels C.
    n_classes : int
        Output classes K.

    Returns
    -------
    torch.nn.Module
    """
    nn = _torch().nn

    def block(cin: int, cout: int) -> list[Any]:
        return [nn.Conv1d(cin, cout, kernel_size=5, padding=2), nn.BatchNorm1d(cout), nn.ReLU()]

    return nn.Sequential(
        *block(n_channels, 32),
        nn.MaxPool1d(2, ceil_mode=True),
        *block(32, 64),
        nn.MaxPool1d(2, ceil_mode=True),
        *block(64, 64),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(64, n_classes),
    )


@contextlib.contextmanager
def _deterministic(threads: int) -> Iterator[Any]:
    """torch with deterministic algorithms and ``threads`` intra-op threads; the caller's state restored."""
    torch = _torch()
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield torch
    finally:
        torch.use_deterministic_algorithms(old_det)
        torch.set_num_threads(old_threads)


def validation_split(
    groups: NDArray[np.str_], *, fraction: float, seed: int, pool: NDArray[np.bool_] | None = None,
    labels: NDArray[np.int64] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Fit and validation indices of a training set: whole groups held out, drawn with ``seed``.

    ``round(fraction x groups)`` groups (at least one) are held out when there are two or more groups;
    with one group, a random ``fraction`` of the windows (at least one) is held out instead. With fewer
    than 2 windows nothing is held out. With ``labels``, a split that would leave a class with no window
    to fit on (one recording per activity, each its own group) is replaced by a split of windows within
    each class: ``round(fraction x windows)`` of each class with two or more windows (at least one, never
    all of them).

    Parameters
    ----------
    groups : ndarray of str, shape (n,)
        Group key of each training window.
    fraction : float
        Share of the groups (or windows) to hold out, in (0, 1).
    seed : int
    pool : ndarray of bool, shape (n,), optional
        Windows the validation set may be drawn from (the rule above applied to them alone; the others
        are always fitted on). Default: every window.
    labels : ndarray of int, shape (n,), optional
        Class of each window (see above).

    Returns
    -------
    fit_idx, val_idx : ndarray of int64
    """
    if pool is not None and not np.all(pool):
        inside = np.flatnonzero(pool)
        _, val = validation_split(groups[inside], fraction=fraction, seed=seed,
                                  labels=None if labels is None else labels[inside])
        is_val = np.zeros(groups.size, dtype=bool)
        is_val[inside[val]] = True
        return np.flatnonzero(~is_val), np.flatnonzero(is_val)
    n = groups.size
    rng = np.random.default_rng(seed)
    if n < 2:
        return np.arange(n), np.zeros(0, dtype=np.int64)
    uniq = np.array(sorted(set(groups.tolist())))
    if uniq.size >= 2:
        k = min(uniq.size - 1, max(1, int(round(fraction * uniq.size))))
        held = set(rng.permutation(uniq)[:k].tolist())
        is_val = np.isin(groups, list(held))
    else:
        k = min(n - 1, max(1, int(round(fraction * n))))
        is_val = np.zeros(n, dtype=bool)
        is_val[rng.permutation(n)[:k]] = True
    if labels is not None and set(labels[~is_val].tolist()) != set(labels.tolist()):
        is_val = np.zeros(n, dtype=bool)
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            if idx.size >= 2:
                k = min(idx.size - 1, max(1, int(round(fraction * idx.size))))
                is_val[rng.permutation(idx)[:k]] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


@dataclass
class CnnClassifier:
    """The 1-D CNN with the training procedure of the module docstring.

    Parameters
    ----------
    seed : int
        Seed of the weights, dropout, shuffling and the validation split.
    max_epochs : int
        Epochs at most.
    patience : int
        Early stopping: epochs without a lower validation loss before stopping.
    batch_size : int
    lr : float
        Adam learning rate.
    weight_decay : float
    val_fraction : float
        Share of the training groups held out for early stopping.
    threads : int
        torch intra-op threads while fitting and predicting.

    Attributes (after :meth:`fit`)
    ------------------------------
    epochs_run : int
        Epochs trained.
    best_epoch : int
        Epoch (1-based) whose weights were kept.
    """

    seed: int = 0
    max_epochs: int = 40
    patience: int = 6
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.2
    threads: int = 1
    epochs_run: int = 0
    best_epoch: int = 0
    _net: Any = field(default=None, repr=False)
    _mean: NDArray[np.float32] | None = field(default=None, repr=False)
    _std: NDArray[np.float32] | None = field(default=None, repr=False)
    _n_classes: int = 0

    def _prepare(self, X: NDArray[np.floating]) -> NDArray[np.float32]:
        assert self._mean is not None and self._std is not None
        Z = (X - self._mean) / self._std
        return np.ascontiguousarray(np.transpose(Z, (0, 2, 1)), dtype=np.float32)  # (n, C, T)

    def fit(
        self, X: ArrayLike, y: ArrayLike, groups: ArrayLike, *, n_classes: int | None = None,
        val_pool: ArrayLike | None = None,
    ) -> CnnClassifier:
        """Train on windows ``X`` (n, T, C) with labels ``y`` (n,) in [0, n_classes) and group keys (n,);
        ``val_pool`` (n,) bool: the windows early stopping may validate on (:func:`validation_split`)."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        groups = np.asarray(groups).astype(str)
        if X.ndim != 3 or X.shape[0] != y.size or groups.size != y.size or y.size == 0:
            raise HarError(f"CNN: windows {X.shape}, labels {y.shape} and groups {groups.shape} do not match")
        self._n_classes = int(n_classes if n_classes is not None else y.max() + 1)
        pool = None if val_pool is None else np.asarray(val_pool, dtype=bool)
        if pool is not None and pool.shape != groups.shape:
            raise HarError(f"CNN: val_pool {pool.shape} does not match the {groups.size} windows")
        fit_idx, val_idx = validation_split(groups, fraction=self.val_fraction, seed=self.seed, pool=pool,
                                            labels=y)
        Xf = X[fit_idx]
        self._mean = Xf.mean(axis=(0, 1), keepdims=True).astype(np.float32)
        std = Xf.std(axis=(0, 1), keepdims=True)
        self._std = np.where(std > 1e-8, std, 1.0).astype(np.float32)
        counts = np.bincount(y[fit_idx], minlength=self._n_classes).astype(np.float64)
        weights = np.where(counts > 0, counts.sum() / (self._n_classes * np.maximum(counts, 1)), 0.0)
        with _deterministic(self.threads) as torch:
            torch.manual_seed(self.seed)
            gen = torch.Generator().manual_seed(self.seed)
            net = build_network(X.shape[2], self._n_classes)
            opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32))
            xf = torch.from_numpy(self._prepare(Xf))
            yf = torch.from_numpy(y[fit_idx])
            xv = torch.from_numpy(self._prepare(X[val_idx])) if val_idx.size else None
            yv = torch.from_numpy(y[val_idx]) if val_idx.size else None
            best = (np.inf, 0, {k: v.clone() for k, v in net.state_dict().items()})
            self.epochs_run = 0
            for epoch in range(1, self.max_epochs + 1):
                net.train()
                order = torch.randperm(xf.shape[0], generator=gen)
                for s in range(0, xf.shape[0], self.batch_size):
                    b = order[s : s + self.batch_size]
                    if b.numel() < 2:  # BatchNorm needs two samples
                        continue
                    opt.zero_grad()
                    loss_fn(net(xf[b]), yf[b]).backward()
                    opt.step()
                self.epochs_run = epoch
                if xv is None:
                    best = (0.0, epoch, {k: v.clone() for k, v in net.state_dict().items()})
                    continue
                net.eval()
                with torch.no_grad():
                    val_loss = float(loss_fn(net(xv), yv))
                if val_loss < best[0]:
                    best = (val_loss, epoch, {k: v.clone() for k, v in net.state_dict().items()})
                elif epoch - best[1] >= self.patience:
                    break
            net.load_state_dict(best[2])
            self.best_epoch = best[1]
            net.eval()
        self._net = net
        return self

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Class probabilities (n, K) of windows ``X`` (n, T, C)."""
        if self._net is None:
            raise HarError("CNN: predict before fit")
        Xp = self._prepare(np.asarray(X, dtype=np.float64))
        with _deterministic(self.threads) as torch, torch.no_grad():
            out = [torch.softmax(self._net(torch.from_numpy(Xp[s : s + 512])), dim=1).numpy()
                   for s in range(0, Xp.shape[0], 512)]
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, self._n_classes))

    def predict(self, X: ArrayLike) -> NDArray[np.int64]:
        """Predicted class index (n,) of windows ``X`` (n, T, C)."""
        return np.argmax(self.predict_proba(X), axis=1).astype(np.int64)


def describe(clf: CnnClassifier) -> str:
    """The CNN and its training in words (for reports)."""
    return (
        f"1-D CNN (3 conv blocks 32/64/64, kernel 5, global average pool; Adam lr {clf.lr:g}, batch "
        f"{clf.batch_size}, at most {clf.max_epochs} epochs, early stopping patience {clf.patience} on "
        f"{clf.val_fraction:.0%} of the training groups; seed {clf.seed}, {clf.threads} thread(s), "
        "deterministic) on the channels and acc/gyro norms, standardised on training windows"
    )
