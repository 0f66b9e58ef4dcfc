"""Augmentation variants at export: stack them as extra windows, sample one per window, or leave them out.

A clip written with ``--augment N`` holds, beside each sensor ``wrist``, the variants ``wrist~aug1`` ...
``wrist~augN`` (random mountings, :mod:`imusynth.core.mounting`). Export treats variant ``k`` of a clip
as a recording of its own, named ``"{clip}~aug{k}"``, in the clip's group (so a group-wise split never
puts a variant and its base on both sides), with the base names as channel names:

``stack``
    every variant's windows are kept beside the base's (N + 1 times the windows);
``sample``
    for each window (same clip, same start), one of the base and its N variants, chosen uniformly with
    ``numpy.random.default_rng(seed)``;
``none``
    only the base sensors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from imusynth.core.imu_series import ImuSeries
from imusynth.core.mounting import VARIANT_SEP, split_variant, variant_name
from imusynth.har.windows import WindowSet

AUGMENTED = ("stack", "sample", "none")


def base_names(names: Sequence[str]) -> list[str]:
    """The sensors of a clip that are not augmentation variants, in order."""
    return [n for n in names if split_variant(n)[1] == 0]


def variant_sets(series: Mapping[str, ImuSeries], names: Sequence[str], mode: str
                 ) -> list[tuple[int, dict[str, ImuSeries]]]:
    """``(k, {base name: series})`` for the base (k = 0) and, unless ``mode == "none"``, each variant k
    that every one of ``names`` has (variants present for only some of the sensors are skipped)."""
    if mode not in AUGMENTED:
        raise ValueError(f"unknown augmented mode {mode!r}; allowed: {', '.join(AUGMENTED)}")
    out = [(0, {n: series[n] for n in names})]
    if mode == "none":
        return out
    ks = sorted({split_variant(s)[1] for s in series if split_variant(s)[0] in names} - {0})
    for k in ks:
        if all(variant_name(n, k) in series for n in names):
            out.append((k, {n: series[variant_name(n, k)] for n in names}))
    return out


def variant_of(clip: str) -> tuple[str, int]:
    """``"walk~aug3"`` -> ``("walk", 3)``; a base recording -> ``(clip, 0)``."""
    return split_variant(clip)


def sample_variants(ws: WindowSet, *, seed: int = 0) -> WindowSet:
    """One window per (base clip, start time), chosen uniformly among the base and its variants."""
    if len(ws) == 0:
        return ws
    base = np.array([variant_of(c)[0] for c in ws.clip.tolist()])
    keys = np.array([f"{b}\0{s!r}" for b, s in zip(base.tolist(), ws.start_s.tolist(), strict=True)])
    if not any(VARIANT_SEP in c for c in ws.clip.tolist()):
        return ws
    rng = np.random.default_rng(seed)
    _, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    chosen = [int(g[rng.integers(g.size)]) for g in np.split(order, bounds)]
    return ws.subset(np.sort(np.asarray(chosen, dtype=np.int64)))
