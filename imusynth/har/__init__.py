"""Stage 7: windowed HAR export, NumPy / torch loaders, and the ``har-eval`` protocol.

Windows
    Each recording (one clip, or one real file) is resampled to the export rate (anti-aliased,
    :func:`imusynth.calibrate.resample`), its placements are stacked as channels, and fixed-length
    windows are cut inside *segments*: maximal runs of samples that are valid and share one label. A
    window therefore never crosses a clip, an invalid gap or a label change. Unlabelled samples (label
    ``""``) are never windowed.

Windows file (HDF5, schema ``imusynth-windows/1``, written atomically)::

    /X        (n, T, C) float32   acc then gyro per placement (channels attr); SI (m/s^2 specific
                                  force, rad/s) unless exported with other units (attrs acc_unit,
                                  gyro_unit, acc_sign)
    /y        (n,) int64          index into class_names
    /group    (n,) str            group key (subject, video) for group-wise splits
    /clip     (n,) str            recording each window came from
    /start_s  (n,) float64        window start time in its recording, s
    attrs: schema, class_names (JSON list), channels (JSON list), rate_hz, window_s, overlap, source,
           units (text), acc_unit, gyro_unit, acc_sign ("specific_force" or "ios")

Evaluation (the IMUTube protocol, Kwon et al. 2020): every model is tested on real windows only;
``r2r`` trains on real, ``v2r`` on virtual, ``mix2r`` on both. Splits are group-wise (leave groups, i.e.
subjects, out); virtual windows whose group appears in a test fold are left out of that fold's training
set. The classifier is a random forest on statistical and ECDF features (:func:`window_features`),
scored with macro-F1 over the classes present in the test fold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.calibrate.resampling import resample_series
from imusynth.core import conventions
from imusynth.core.conventions import from_si
from imusynth.core.imu_series import CHANNELS, ImuSeries
from imusynth.errors import InputError

WINDOWS_SCHEMA = "imusynth-windows/1"
PROTOCOLS = ("r2r", "v2r", "mix2r")


class HarError(InputError, ValueError):
    """HAR input that cannot be used (no windows, mismatched channels, unknown protocol)."""


# --------------------------------------------------------------------------------------------------
# Windows.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowSet:
    """Fixed-length labelled windows ready for a classifier.

    Attributes
    ----------
    X : ndarray, shape (n, T, C), float32
        Windows; channels in :attr:`channels` order (acc m/s^2, gyro rad/s).
    y : ndarray, shape (n,), int64
        Class index into :attr:`class_names`.
    class_names : tuple of str
        Class of each index.
    group : ndarray, shape (n,), str
        Group key of each window (subject or video), for group-wise splits.
    clip : ndarray, shape (n,), str
        Recording each window came from.
    start_s : ndarray, shape (n,), float64, s
        Start time of each window in its recording.
    channels : tuple of str, length C
        Channel names, ``"{placement}.{acc_x|...}"``.
    rate_hz : float
        Sample rate, Hz.
    window_s : float
        Window length, s (T = round(window_s * rate_hz)).
    overlap : float
        Fraction of a window shared with the next one, in [0, 1).
    source : str
        What the windows were made from.
    acc_unit : str
        Unit of the accelerometer channels: ``"m/s^2"`` (internal SI, the default), ``"g"`` or ``"mg"``.
    gyro_unit : str
        Unit of the gyroscope channels: ``"rad/s"`` (internal SI, the default) or ``"deg/s"``.
    acc_sign : str
        ``"specific_force"`` (+1 g on the up axis at rest; Android, most IMUs, the default) or ``"ios"``
        (Core Motion's ``-specific force``: -1 g on the up axis at rest). Only
        :func:`convert_units` changes these three, at the export edge.
    """

    X: NDArray[np.float32]
    y: NDArray[np.int64]
    class_names: tuple[str, ...]
    group: NDArray[np.str_]
    clip: NDArray[np.str_]
    start_s: NDArray[np.float64]
    channels: tuple[str, ...]
    rate_hz: float
    window_s: float
    overlap: float
    source: str = ""
    acc_unit: str = "m/s^2"
    gyro_unit: str = "rad/s"
    acc_sign: str = "specific_force"

    def __post_init__(self) -> None:
        X = np.asarray(self.X, dtype=np.float32)
        n = X.shape[0]
        if X.ndim != 3 or X.shape[2] != len(self.channels):
            raise HarError(f"X must have shape (n, T, {len(self.channels)}), got {X.shape}")
        for name in ("y", "group", "clip", "start_s"):
            if np.asarray(getattr(self, name)).shape != (n,):
                raise HarError(f"{name} must have shape ({n},)")
        y = np.asarray(self.y, dtype=np.int64)
        if n and (y.min() < 0 or y.max() >= len(self.class_names)):
            raise HarError("y holds a class index outside class_names")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "group", np.asarray(self.group).astype(str))
        object.__setattr__(self, "clip", np.asarray(self.clip).astype(str))
        object.__setattr__(self, "start_s", np.asarray(self.start_s, dtype=np.float64))
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(self, "channels", tuple(self.channels))

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def labels(self) -> NDArray[np.str_]:
        """Class name of each window, shape (n,)."""
        return np.asarray(self.class_names, dtype=str)[self.y] if len(self) else np.empty(0, dtype=str)

    def subset(self, index: ArrayLike) -> WindowSet:
        """The windows selected by ``index`` (integer indices or a boolean mask)."""
        idx = np.asarray(index)
        return replace(self, X=self.X[idx], y=self.y[idx], group=self.group[idx], clip=self.clip[idx],
                       start_s=self.start_s[idx])

    def with_classes(self, class_names: Sequence[str]) -> WindowSet:
        """The same windows with ``y`` re-indexed into ``class_names`` (which must hold every used class)."""
        names = tuple(class_names)
        missing = sorted(set(self.labels.tolist()) - set(names))
        if missing:
            raise HarError(f"classes {missing} are not in {list(names)}")
        lookup = {c: i for i, c in enumerate(names)}
        y = np.array([lookup[c] for c in self.labels.tolist()], dtype=np.int64)
        return replace(self, y=y, class_names=names)


def window_length(window_s: float, rate_hz: float) -> int:
    """Samples per window, ``round(window_s * rate_hz)``; at least 2."""
    T = int(round(window_s * rate_hz))
    if T < 2:
        raise HarError(f"a {window_s} s window at {rate_hz} Hz has {T} sample(s); at least 2 are needed")
    return T


def segments(valid: NDArray[np.bool_], labels: NDArray[np.str_]) -> list[tuple[int, int, str]]:
    """Maximal half-open runs ``[a, b)`` of valid samples with one non-empty label: ``(a, b, label)``."""
    n = valid.shape[0]
    if n == 0:
        return []
    usable = valid & (labels != "")
    change = np.ones(n, dtype=bool)
    change[1:] = (labels[1:] != labels[:-1]) | (usable[1:] != usable[:-1])
    starts = np.flatnonzero(change)
    stops = np.append(starts[1:], n)
    return [(int(a), int(b), str(labels[a])) for a, b in zip(starts, stops, strict=True) if usable[a]]


def window_starts(length: int, T: int, step: int) -> NDArray[np.int64]:
    """Start indices of the windows of ``T`` samples, every ``step``, that fit in ``length`` samples."""
    if length < T:
        return np.empty(0, dtype=np.int64)
    return np.arange(0, length - T + 1, step, dtype=np.int64)


@dataclass(frozen=True)
class Recording:
    """Signals of one recording on a common regular time grid, ready for windowing.

    Attributes
    ----------
    time : ndarray, shape (M,), s
    data : ndarray, shape (M, C)
        Placements side by side, each acc (m/s^2) then gyro (rad/s).
    valid : ndarray, shape (M,), bool
        True where every placement is valid.
    labels : ndarray, shape (M,), str
        Label per sample ("" = unlabelled).
    channels : tuple of str, length C
    group, name : str
    """

    time: NDArray[np.float64]
    data: NDArray[np.float64]
    valid: NDArray[np.bool_]
    labels: NDArray[np.str_]
    channels: tuple[str, ...]
    group: str
    name: str


def stack_placements(
    series: Sequence[ImuSeries],
    placements: Sequence[str],
    *,
    rate_hz: float,
    cutoff_ratio: float = 0.8,
) -> Recording:
    """Resample the placements of one recording onto one grid at ``rate_hz`` and stack them as channels.

    Parameters
    ----------
    series : sequence of ImuSeries
        One per placement, same recording (labels taken from the first that has labels).
    placements : sequence of str
        Their names, used in channel names.
    rate_hz : float
        Output rate, Hz.
    cutoff_ratio : float
        Anti-aliasing cutoff (see :func:`imusynth.calibrate.resample`).
    """
    if not series or len(series) != len(placements):
        raise HarError("stack_placements needs one series per placement")
    t0 = max(float(s.time[0]) for s in series)
    parts = [resample_series(s, rate_hz=rate_hz, cutoff_ratio=cutoff_ratio, t0=t0) for s in series]
    m = min(p.n for p in parts)
    data = np.concatenate([p.data[:m] for p in parts], axis=1)
    valid = np.logical_and.reduce([p.valid[:m] for p in parts])
    labels = next((p.labels[:m] for p in parts if p.labels is not None), np.full(m, "", dtype=object))
    channels = tuple(f"{pl}.{c}" for pl in placements for c in CHANNELS)
    first = series[0]
    return Recording(
        parts[0].time[:m], data, valid, np.asarray(labels).astype(str), channels, first.group, first.name
    )


def make_windows(
    recordings: Sequence[Recording],
    *,
    window_s: float,
    overlap: float,
    rate_hz: float,
    class_names: Sequence[str] | None = None,
    source: str = "",
) -> WindowSet:
    """Cut fixed-length windows inside the one-label valid segments of each recording.

    Parameters
    ----------
    recordings : sequence of Recording
        On regular grids at ``rate_hz`` with identical channels.
    window_s : float
        Window length, s.
    overlap : float
        Overlap between consecutive windows, fraction in [0, 1) (step = round(T * (1 - overlap)), >= 1).
    rate_hz : float
        The recordings' rate, Hz.
    class_names : sequence of str, optional
        Class order (default: sorted labels found); windows of other classes are dropped.
    source : str
        Provenance stored with the set.
    """
    if not 0.0 <= overlap < 1.0:
        raise HarError(f"overlap must be in [0, 1), got {overlap}")
    if not window_s > 0:
        raise HarError(f"window must be > 0 s, got {window_s}")
    T = window_length(window_s, rate_hz)
    step = max(1, int(round(T * (1.0 - overlap))))
    if not recordings:
        raise HarError("no recordings to window")
    channels = recordings[0].channels
    for r in recordings:
        if r.channels != channels:
            raise HarError(f"{r.name}: channels {r.channels} differ from {channels}")
    found: list[str] = []
    cuts: list[tuple[int, int, str]] = []  # (recording, start, label)
    for i, r in enumerate(recordings):
        for a, b, lab in segments(r.valid, r.labels):
            for s in window_starts(b - a, T, step):
                cuts.append((i, a + int(s), lab))
            found.append(lab)
    names = tuple(class_names) if class_names is not None else tuple(sorted(set(found)))
    lookup = {c: k for k, c in enumerate(names)}
    cuts = [c for c in cuts if c[2] in lookup]
    n = len(cuts)
    X = np.empty((n, T, len(channels)), dtype=np.float32)
    y = np.empty(n, dtype=np.int64)
    group = np.empty(n, dtype=object)
    clip = np.empty(n, dtype=object)
    start = np.empty(n, dtype=np.float64)
    for k, (i, s, lab) in enumerate(cuts):
        r = recordings[i]
        X[k] = r.data[s : s + T]
        y[k] = lookup[lab]
        group[k] = r.group
        clip[k] = r.name
        start[k] = r.time[s]
    return WindowSet(
        X,
        y,
        names,
        group.astype(str),
        clip.astype(str),
        start,
        channels,
        float(rate_hz),
        float(window_s),
        float(overlap),
        source,
    )


def concat_windows(sets: Sequence[WindowSet]) -> WindowSet:
    """Concatenate window sets with the same channels, rate and window length (class lists merged)."""
    if not sets:
        raise HarError("nothing to concatenate")
    first = sets[0]
    for s in sets[1:]:
        _check_compatible(first, s)
    names = tuple(sorted(set().union(*(s.labels.tolist() for s in sets))))
    sets = [s.with_classes(names) for s in sets]
    return WindowSet(
        np.concatenate([s.X for s in sets]),
        np.concatenate([s.y for s in sets]),
        names,
        np.concatenate([s.group for s in sets]),
        np.concatenate([s.clip for s in sets]),
        np.concatenate([s.start_s for s in sets]),
        first.channels,
        first.rate_hz,
        first.window_s,
        first.overlap,
        "; ".join(dict.fromkeys(s.source for s in sets)),
        first.acc_unit,
        first.gyro_unit,
        first.acc_sign,
    )


def _channel_kinds(channels: Sequence[str]) -> tuple[str, ...]:
    return tuple(c.rsplit(".", 1)[-1] for c in channels)


def _check_compatible(a: WindowSet, b: WindowSet) -> None:
    if a.X.shape[1:] != b.X.shape[1:]:
        raise HarError(
            f"window shapes differ: {a.X.shape[1:]} ({a.source}) vs {b.X.shape[1:]} ({b.source}); "
            "export both with the same --window, --rate and placements"
        )
    if _channel_kinds(a.channels) != _channel_kinds(b.channels):
        raise HarError(f"channels differ: {list(a.channels)} vs {list(b.channels)}")
    if not math.isclose(a.rate_hz, b.rate_hz, rel_tol=1e-6):
        raise HarError(f"rates differ: {a.rate_hz} Hz vs {b.rate_hz} Hz")
    if _units(a) != _units(b):
        raise HarError(f"units differ: {_units(a)} ({a.source}) vs {_units(b)} ({b.source}); "
                       "export both with the same --out-acc-unit, --out-gyro-unit and --ios-sign")


def _units(ws: WindowSet) -> str:
    return f"acc {ws.acc_unit} ({ws.acc_sign.replace('_', ' ')}), gyro {ws.gyro_unit}"


#: Output units :func:`convert_units` accepts.
ACC_UNITS = ("m/s^2", "g", "mg")
GYRO_UNITS = ("rad/s", "deg/s")


def check_output_units(*, acc_unit: str, gyro_unit: str) -> None:
    """Raise :class:`HarError` unless the units are in :data:`ACC_UNITS` and :data:`GYRO_UNITS`."""
    if acc_unit not in ACC_UNITS:
        raise HarError(f"unknown accelerometer unit {acc_unit!r}; expected one of {', '.join(ACC_UNITS)}")
    if gyro_unit not in GYRO_UNITS:
        raise HarError(f"unknown gyroscope unit {gyro_unit!r}; expected one of {', '.join(GYRO_UNITS)}")


def convert_units(ws: WindowSet, *, acc_unit: str = "m/s^2", gyro_unit: str = "rad/s",
                  ios_sign: bool = False) -> WindowSet:
    """The windows in other units, for an export edge (everything inside imusynth stays SI).

    Parameters
    ----------
    ws : WindowSet
        Windows in SI (acc m/s^2 specific force, gyro rad/s), as :func:`make_windows` makes them.
    acc_unit : {"m/s^2", "g", "mg"}
        Unit of the accelerometer channels in the result.
    gyro_unit : {"rad/s", "deg/s"}
        Unit of the gyroscope channels in the result.
    ios_sign : bool
        Report ``-specific force`` (Core Motion: -1 g on the up axis at rest) instead of the specific
        force (+1 g up at rest). Only the accelerometer changes sign; the gyroscope is the same in both.

    Returns
    -------
    WindowSet
        A copy with converted ``X`` and its ``acc_unit``, ``gyro_unit`` and ``acc_sign`` set.
    """
    if (ws.acc_unit, ws.gyro_unit, ws.acc_sign) != ("m/s^2", "rad/s", "specific_force"):
        raise HarError(f"windows are already converted ({_units(ws)}); convert from SI only")
    check_output_units(acc_unit=acc_unit, gyro_unit=gyro_unit)
    kinds = _channel_kinds(ws.channels)
    acc = np.array([k.startswith("acc") for k in kinds], dtype=bool)
    gyro = np.array([k.startswith("gyro") for k in kinds], dtype=bool)
    X = ws.X.astype(np.float64)
    if ios_sign:
        X[..., acc] = conventions.ios_sign(X[..., acc], unit=acc_unit)
    else:
        X[..., acc] = from_si(X[..., acc], "acc", acc_unit)
    X[..., gyro] = from_si(X[..., gyro], "gyro", gyro_unit)
    return replace(ws, X=X.astype(np.float32), acc_unit=acc_unit, gyro_unit=gyro_unit,
                   acc_sign="ios" if ios_sign else "specific_force")


def save_windows(ws: WindowSet, path: str | Path) -> Path:
    """Write a windows file atomically (see the module docstring for the layout)."""
    from imusynth.io.hdf5 import atomic_path

    target = Path(path)
    with atomic_path(target) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["schema"] = WINDOWS_SCHEMA
        f.attrs["class_names"] = json.dumps(list(ws.class_names))
        f.attrs["channels"] = json.dumps(list(ws.channels))
        f.attrs["rate_hz"] = float(ws.rate_hz)
        f.attrs["window_s"] = float(ws.window_s)
        f.attrs["overlap"] = float(ws.overlap)
        f.attrs["source"] = ws.source
        f.attrs["units"] = _units(ws) + "; gravity included"
        f.attrs["acc_unit"] = ws.acc_unit
        f.attrs["gyro_unit"] = ws.gyro_unit
        f.attrs["acc_sign"] = ws.acc_sign
        chunks = (min(max(len(ws), 1), 256), *ws.X.shape[1:]) if len(ws) else None
        f.create_dataset(
            "X", data=ws.X, compression="gzip" if len(ws) else None, shuffle=bool(len(ws)), chunks=chunks
        )
        f.create_dataset("y", data=ws.y)
        f.create_dataset("group", data=ws.group.astype(object), dtype=h5py.string_dtype())
        f.create_dataset("clip", data=ws.clip.astype(object), dtype=h5py.string_dtype())
        f.create_dataset("start_s", data=ws.start_s)
    return target


def is_windows_file(path: str | Path) -> bool:
    """Whether ``path`` is an HDF5 file with the ``imusynth-windows/1`` schema."""
    try:
        with h5py.File(path, "r") as f:
            schema = f.attrs.get("schema", "")
    except OSError:
        return False
    return (schema.decode() if isinstance(schema, bytes) else str(schema)) == WINDOWS_SCHEMA


def load_windows(path: str | Path) -> WindowSet:
    """Read a windows file written by :func:`save_windows` (the NumPy loader)."""
    p = Path(path)
    if not p.is_file():
        raise HarError(f"{p}: no such file")
    if not is_windows_file(p):
        raise HarError(f"{p}: not a windows file (schema {WINDOWS_SCHEMA!r}); make one with imusynth export")
    with h5py.File(p, "r") as f:
        a = f.attrs
        return WindowSet(
            X=f["X"][()],
            y=f["y"][()],
            class_names=tuple(json.loads(a["class_names"])),
            group=np.array([g.decode() if isinstance(g, bytes) else g for g in f["group"][()]], dtype=str),
            clip=np.array([g.decode() if isinstance(g, bytes) else g for g in f["clip"][()]], dtype=str),
            start_s=f["start_s"][()],
            channels=tuple(json.loads(a["channels"])),
            rate_hz=float(a["rate_hz"]),
            window_s=float(a["window_s"]),
            overlap=float(a["overlap"]),
            source=str(a.get("source", "")),
            acc_unit=str(a.get("acc_unit", "m/s^2")),
            gyro_unit=str(a.get("gyro_unit", "rad/s")),
            acc_sign=str(a.get("acc_sign", "specific_force")),
        )


def torch_dataset(ws: WindowSet, *, channels_first: bool = True) -> Any:
    """A ``torch.utils.data.Dataset`` over ``ws`` yielding ``(x, y)`` tensors (needs torch installed).

    Parameters
    ----------
    ws : WindowSet
        The windows.
    channels_first : bool
        ``x`` of shape (C, T) (what ``Conv1d`` expects) when True, else (T, C).

    Raises
    ------
    HarError
        When torch is not installed (``pip install torch``; it is an optional extra).
    """
    try:
        import torch
        from torch.utils.data import Dataset
    except ImportError:
        raise HarError("the torch Dataset needs PyTorch: pip install torch (optional extra)") from None

    X = torch.from_numpy(np.ascontiguousarray(ws.X.transpose(0, 2, 1) if channels_first else ws.X))
    y = torch.from_numpy(ws.y)

    class WindowDataset(Dataset):  # type: ignore[misc,type-arg]
        """Windows of an imusynth windows file as (x float32, y int64) tensor pairs."""

        class_names = ws.class_names
        channels = ws.channels

        def __len__(self) -> int:
            return int(X.shape[0])

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            return X[i], y[i]

    return WindowDataset()


# --------------------------------------------------------------------------------------------------
# Features and the baseline classifier.
# --------------------------------------------------------------------------------------------------

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
    """

    protocol: str
    macro_f1: float
    macro_f1_sd: float
    fold_f1: list[float]
    pooled_f1: float
    per_class_f1: dict[str, float]
    n_train: list[int]
    n_test: list[int]


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
        """A Markdown table: protocol, macro-F1 (mean +- sd over folds), pooled macro-F1, windows."""
        lines = [
            "| protocol | macro-F1 (mean ± sd over folds) | pooled macro-F1 | train windows | test windows |",
            "|---|---|---|---|---|",
        ]
        for r in self.results:
            lines.append(
                f"| {r.protocol} | {r.macro_f1:.3f} ± {r.macro_f1_sd:.3f} | {r.pooled_f1:.3f} | "
                f"{sum(r.n_train)} | {sum(r.n_test)} |"
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


def evaluate(
    test: WindowSet,
    *,
    virtual: WindowSet | None = None,
    train_real: WindowSet | None = None,
    protocols: Sequence[str] = PROTOCOLS,
    n_folds: int = 5,
    seed: int = 0,
    n_estimators: int = 300,
) -> HarReport:
    """Train and score the baseline under each protocol; always test on real windows.

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
        Seed of the fold assignment and of the forest.
    n_estimators : int
        Trees in the forest.
    """
    from sklearn.metrics import f1_score

    protocols = list(protocols)
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad or not protocols:
        raise HarError(f"unknown protocol(s) {bad}; allowed: {', '.join(PROTOCOLS)}")
    if any(p in ("v2r", "mix2r") for p in protocols) and virtual is None:
        raise HarError("protocols v2r and mix2r need virtual training windows (--train)")
    if len(test) == 0:
        raise HarError("the test set has no windows")
    sets = [s for s in (test, virtual, train_real) if s is not None]
    for s in sets[1:]:
        _check_compatible(test, s)
    classes = sorted(set().union(*(s.labels.tolist() for s in sets)))
    test = test.with_classes(classes)
    virtual = virtual.with_classes(classes) if virtual is not None else None
    train_real = train_real.with_classes(classes) if train_real is not None else None
    notes: list[str] = []

    feats: dict[str, NDArray[np.float64]] = {"test": window_features(test.X, test.channels)[0]}
    if virtual is not None:
        feats["virtual"] = window_features(virtual.X, virtual.channels)[0]
    if train_real is not None:
        feats["real"] = window_features(train_real.X, train_real.channels)[0]

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
        fold_f1: list[float] = []
        n_train: list[int] = []
        n_test: list[int] = []
        y_true: list[NDArray[np.int64]] = []
        y_pred: list[NDArray[np.int64]] = []
        for fi, test_idx in enumerate(folds):
            test_groups = set(test.group[test_idx].tolist())
            parts_X, parts_y = [], []
            if proto in ("r2r", "mix2r"):
                if train_real is None:
                    tr = np.setdiff1d(np.arange(len(test)), test_idx)
                    parts_X.append(feats["test"][tr])
                    parts_y.append(test.y[tr])
                else:
                    keep = ~np.isin(train_real.group, list(test_groups))
                    if not keep.all() and fi == 0:
                        notes.append(
                            f"{proto}: dropped {int((~keep).sum())} real training windows whose "
                            "group is in the test set"
                        )
                    parts_X.append(feats["real"][keep])
                    parts_y.append(train_real.y[keep])
            if proto in ("v2r", "mix2r"):
                assert virtual is not None
                keep = ~np.isin(virtual.group, list(test_groups))
                if not keep.all():
                    notes.append(
                        f"{proto} fold {fi}: left out {int((~keep).sum())} virtual windows whose "
                        "group is in the test fold"
                    )
                parts_X.append(feats["virtual"][keep])
                parts_y.append(virtual.y[keep])
            Xtr = np.concatenate(parts_X)
            ytr = np.concatenate(parts_y)
            if Xtr.shape[0] == 0:
                raise HarError(f"{proto}: no training windows left in fold {fi}")
            clf = make_classifier(seed=seed, n_estimators=n_estimators)
            clf.fit(Xtr, ytr)
            pred = clf.predict(feats["test"][test_idx])
            truth = test.y[test_idx]
            present = sorted(set(truth.tolist()))
            fold_f1.append(float(f1_score(truth, pred, labels=present, average="macro", zero_division=0)))
            n_train.append(int(Xtr.shape[0]))
            n_test.append(int(test_idx.size))
            y_true.append(truth)
            y_pred.append(pred)
        yt = np.concatenate(y_true)
        yp = np.concatenate(y_pred)
        present = sorted(set(yt.tolist()))
        per_class = f1_score(yt, yp, labels=present, average=None, zero_division=0)
        results.append(
            ProtocolResult(
                protocol=proto,
                macro_f1=float(np.mean(fold_f1)),
                macro_f1_sd=float(np.std(fold_f1)),
                fold_f1=fold_f1,
                pooled_f1=float(f1_score(yt, yp, labels=present, average="macro", zero_division=0)),
                per_class_f1={classes[c]: float(f) for c, f in zip(present, per_class, strict=True)},
                n_train=n_train,
                n_test=n_test,
            )
        )
    return HarReport(
        results=results,
        classes=classes,
        folds=[sorted(set(test.group[f].tolist())) for f in folds],
        split=split,
        classifier=(
            f"random forest ({n_estimators} trees, sqrt features, balanced class weights, "
            f"seed {seed}) on statistical + ECDF features of each channel and acc/gyro norm"
        ),
        notes=notes,
    )
