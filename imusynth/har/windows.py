"""Fixed-length labelled windows: the :class:`WindowSet` record, recordings on one grid, windowing.

Each recording (one clip, or one real file) is resampled to the export rate (anti-aliased,
:func:`imusynth.calibrate.resample`), its placements are stacked as channels (:func:`stack_placements`),
and fixed-length windows are cut inside *segments* (:func:`make_windows`): maximal runs of samples that
are valid and share one label. A window therefore never crosses a clip, an invalid gap or a label change.
Unlabelled samples (label ``""``) are never windowed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.calibrate.resampling import resample_series
from imusynth.core.imu_series import CHANNELS, ImuSeries
from imusynth.har.errors import HarError


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
    calibration : str
        TOML text of the windows calibration profile applied to ``X`` (``imusynth calibrate apply``,
        :mod:`imusynth.har.window_calibration`); empty when none was.
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
    calibration: str = ""

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
        first.calibration if all(s.calibration == first.calibration for s in sets) else "",
    )


def _channel_kinds(channels: Sequence[str]) -> tuple[str, ...]:
    return tuple(c.rsplit(".", 1)[-1] for c in channels)


def brief_list(items: Sequence[str], *, keep: int = 3) -> str:
    """``items`` for a one-line message: all of them up to ``keep + 1``, else the first ``keep`` and a count.

    ``["a", "b"]`` -> ``"a, b"``; 40 paths -> ``"a, b, c and 37 more (40 in all)"``.
    """
    items = list(items)
    if len(items) <= keep + 1:
        return ", ".join(items)
    return f"{', '.join(items[:keep])} and {len(items) - keep} more ({len(items)} in all)"


def brief_source(source: str, *, keep: int = 3) -> str:
    """A :attr:`WindowSet.source` (paths joined by ``"; "``) shortened by :func:`brief_list`."""
    return brief_list([p for p in source.split("; ") if p], keep=keep)


def _check_compatible(a: WindowSet, b: WindowSet) -> None:
    if a.X.shape[1:] != b.X.shape[1:]:
        raise HarError(
            f"window shapes differ: {a.X.shape[1:]} ({brief_source(a.source)}) vs {b.X.shape[1:]} "
            f"({brief_source(b.source)}); "
            "export both with the same --window, --rate and placements"
        )
    if _channel_kinds(a.channels) != _channel_kinds(b.channels):
        raise HarError(f"channels differ: {list(a.channels)} vs {list(b.channels)}")
    if not math.isclose(a.rate_hz, b.rate_hz, rel_tol=1e-6):
        raise HarError(f"rates differ: {a.rate_hz} Hz vs {b.rate_hz} Hz")
    if _units(a) != _units(b):
        raise HarError(f"units differ: {_units(a)} ({brief_source(a.source)}) vs {_units(b)} "
                       f"({brief_source(b.source)}); "
                       "export both with the same --out-acc-unit, --out-gyro-unit and --ios-sign")


def _units(ws: WindowSet) -> str:
    return f"acc {ws.acc_unit} ({ws.acc_sign.replace('_', ' ')}), gyro {ws.gyro_unit}"
