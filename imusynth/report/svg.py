"""Inline SVG drawings of the report: signals with invalid spans, a skeleton on its frame, distributions.

Colours come from the page's CSS classes (``ax0``-``ax2``, ``inv``, ``grid``, ``bone``, ``s0``...), so the
drawings follow the light or dark scheme. Signal plots are drawn in a view box twice their CSS size with
integer coordinates (half-pixel resolution, short text) from a min/max decimation
(:func:`imusynth.report.metrics.decimate_minmax`), so every peak survives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

import numpy as np
from numpy.typing import NDArray

from imusynth.report.metrics import decimate_minmax, invalid_spans, nice_step

#: Bones drawn between named points (MediaPipe names and the canonical names of imusynth.core.skeletons).
BONES: tuple[tuple[str, str], ...] = (
    ("left_shoulder", "right_shoulder"),
    ("left_hip", "right_hip"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
    ("left_ankle", "left_heel"),
    ("left_heel", "left_foot_index"),
    ("left_ankle", "left_foot_index"),
    ("right_ankle", "right_heel"),
    ("right_heel", "right_foot_index"),
    ("right_ankle", "right_foot_index"),
    ("left_ankle", "left_toe"),
    ("right_ankle", "right_toe"),
    ("left_wrist", "left_hand"),
    ("right_wrist", "right_hand"),
    ("neck", "head"),
    ("neck", "nose"),
)

PLOT_W = 1280  # view-box units (CSS width 640 px)
LEFT, RIGHT, PANEL_H, GAP, BOTTOM = 104, 16, 120, 36, 56
BINS = 160  # min/max bins per trace


@dataclass(frozen=True)
class SensorTrace:
    """One sensor's signals: time (N,) s, acc (N, 3) m/s^2, gyro (N, 3) rad/s, valid (N,) bool."""

    name: str
    time: NDArray[np.float64]
    acc: NDArray[np.float64]
    gyro: NDArray[np.float64]
    valid: NDArray[np.bool_]


def _fmt(v: float) -> str:
    return f"{v:.10g}"


def _path(xs: NDArray[np.float64], ys: NDArray[np.float64]) -> str:
    """An SVG path through the points rounded to integers: relative moves, a new sub-path after each NaN."""
    out: list[str] = []
    steps: list[str] = []
    prev: tuple[int, int] | None = None

    def flush() -> None:
        if steps:
            out.append("l" + " ".join(steps).replace(" -", "-"))
            steps.clear()

    for x, y in zip(xs, ys, strict=True):
        if not (np.isfinite(x) and np.isfinite(y)):
            flush()
            prev = None
            continue
        p = (int(round(x)), int(round(y)))
        if prev is None:
            out.append(f"M{p[0]} {p[1]}")
        elif p != prev:
            steps.append(f"{p[0] - prev[0]} {p[1] - prev[1]}")
        prev = p
    flush()
    return "".join(out)


def _ticks(lo: float, hi: float, target: int) -> list[float]:
    step = nice_step(hi - lo, target)
    first = np.ceil(lo / step) * step
    return [round(float(v) / step) * step + 0.0 for v in np.arange(first, hi + 1e-9 * step, step)]


def signals_svg(traces: Sequence[SensorTrace], *, t0: float, t1: float) -> str:
    """acc and gyro of every sensor, one panel each, on one shared time axis; invalid spans shaded.

    Parameters
    ----------
    traces : sequence of SensorTrace
    t0, t1 : float, s
        The shared time axis.
    """
    if not traces:
        return '<p class="note">no sensor</p>'
    t1 = t1 if t1 > t0 else t0 + 1.0
    plot_w = PLOT_W - LEFT - RIGHT
    panels = [(tr, q, unit) for tr in traces for q, unit in (("acc", "m/s²"), ("gyro", "rad/s"))]
    height = len(panels) * (PANEL_H + GAP) + BOTTOM
    sx = plot_w / (t1 - t0)
    parts = [
        f'<svg class="sig" viewBox="0 0 {PLOT_W} {height}" width="{PLOT_W // 2}" height="{height // 2}" '
        f'role="img" aria-label="acc and gyro of {len(traces)} sensor(s)">'
    ]
    for i, (tr, q, unit) in enumerate(panels):
        top = i * (PANEL_H + GAP) + GAP
        data = tr.acc if q == "acc" else tr.gyro
        vals = np.where(tr.valid[:, None], data, np.nan)
        finite = vals[np.isfinite(vals)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
        if hi - lo < 1e-6:
            lo, hi = lo - 1.0, hi + 1.0
        pad = 0.06 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        sy = PANEL_H / (hi - lo)
        parts.append(
            f'<text class="pt" x="{LEFT}" y="{top - 10}">{escape(tr.name)} · {q}, {unit}'
            f"{'' if finite.size else ' (no valid sample)'}</text>"
        )
        parts.append(f'<rect class="frame" x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL_H}"/>')
        for a, b in invalid_spans(tr.time, tr.valid):
            xa, xb = LEFT + (max(a, t0) - t0) * sx, LEFT + (min(b, t1) - t0) * sx
            parts.append(
                f'<rect class="inv" x="{xa:.0f}" y="{top}" width="{max(xb - xa, 1):.0f}" height="{PANEL_H}"/>'
            )
        ticks = [(v, top + (hi - v) * sy) for v in _ticks(lo, hi, 4)]
        grid = "".join(f"M{LEFT} {y:.0f}h{plot_w}" for _, y in ticks)
        parts.append(f'<path class="grid" d="{grid}"/>')
        parts += [f'<text class="tk" x="{LEFT - 8}" y="{y + 7:.0f}" text-anchor="end">{_fmt(v)}</text>'
                  for v, y in ticks]
        parts.append(
            f'<text class="tk" x="22" y="{top + PANEL_H / 2:.0f}" text-anchor="middle" '
            f'transform="rotate(-90 22 {top + PANEL_H / 2:.0f})">{unit}</text>'
        )
        for k in range(3):
            td, yd = decimate_minmax(tr.time, vals[:, k], BINS)
            d = _path(LEFT + (td - t0) * sx, top + (hi - yd) * sy)
            if d:
                parts.append(f'<path class="ax{k}" d="{d}"/>')
    base = len(panels) * (PANEL_H + GAP) + GAP - GAP
    for v in _ticks(t0, t1, 6):
        x = LEFT + (v - t0) * sx
        parts.append(f'<text class="tk" x="{x:.0f}" y="{base + 26}" text-anchor="middle">{_fmt(v)}</text>')
    parts.append(f'<text class="tk" x="{LEFT + plot_w}" y="{base + 52}" text-anchor="end">time, s</text>')
    for k, axis in enumerate("xyz"):
        parts.append(
            f'<path class="ax{k}" d="M{PLOT_W - 220 + 70 * k} 14h24"/>'
            f'<text class="tk" x="{PLOT_W - 190 + 70 * k}" y="21">{axis}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def skeleton_svg(
    points: Mapping[str, Sequence[float] | NDArray[np.float64]],
    *,
    width: float,
    height: float,
    y_down: bool,
    note: str,
    image: str | None = None,
) -> str:
    """A skeleton (bones of :data:`BONES`, every point as a dot) over an optional frame image.

    Parameters
    ----------
    points : mapping of str to (x, y)
        In the drawing's units (px of the frame for video).
    width, height : float
        Size of the drawing in those units.
    y_down : bool
        True when y grows downwards (image coordinates); else y is flipped.
    note : str
        Caption (where the frame comes from, or why there is none).
    image : str, optional
        Data URI of the frame, stretched over ``width`` x ``height``.
    """
    w, h = max(float(width), 1e-6), max(float(height), 1e-6)
    pad = 0.04 * max(w, h)
    stroke = max(w, h) / 90.0

    def xy(n: str) -> tuple[float, float]:
        x, y = float(points[n][0]), float(points[n][1])
        return x, (y if y_down else h - y)

    parts = [
        f'<figure class="skel"><svg viewBox="{_fmt(-pad)} {_fmt(-pad)} {_fmt(w + 2 * pad)} '
        f'{_fmt(h + 2 * pad)}" role="img" aria-label="skeleton">'
    ]
    if image:
        parts.append(
            f'<image href="{image}" x="0" y="0" width="{_fmt(w)}" height="{_fmt(h)}" '
            'preserveAspectRatio="none"/>'
        )
    else:
        parts.append(f'<rect class="frame" x="0" y="0" width="{_fmt(w)}" height="{_fmt(h)}"/>')
    segs = []
    for a, b in BONES:
        if a in points and b in points:
            (xa, ya), (xb, yb) = xy(a), xy(b)
            segs.append(f"M{xa:.1f} {ya:.1f}L{xb:.1f} {yb:.1f}")
    if segs:
        parts.append(f'<path class="bone" stroke-width="{stroke:.2f}" d="{"".join(segs)}"/>')
    if points:   # every point as a round dot: one path of zero-length segments with round caps
        dots = "".join("M{:.1f} {:.1f}h0".format(*xy(n)) for n in points)
        parts.append(f'<path class="joint" stroke-width="{1.8 * stroke:.2f}" d="{dots}"/>')
    parts.append(f"</svg><figcaption>{escape(note)}</figcaption></figure>")
    return "".join(parts)


def histogram_svg(
    edges: NDArray[np.float64], series: Sequence[tuple[str, NDArray[np.float64], str, int]], *, xlabel: str
) -> str:
    """Densities over shared ``edges`` as step lines (one per series: name, density (B,), CSS class, samples).

    Each line carries ``data-name`` and ``data-n`` (its number of samples).
    """
    W, H, L, B, T = 640, 280, 20, 56, 48
    pw, ph = W - L - 20, H - B - T
    top = max((float(np.max(d)) for _, d, _, _ in series if d.size), default=1.0) or 1.0
    e0, e1 = float(edges[0]), float(edges[-1])
    sx = pw / (e1 - e0)
    parts = [
        f'<svg class="hist" viewBox="0 0 {W} {H}" width="{W // 2}" height="{H // 2}" role="img" '
        f'aria-label="{escape(xlabel)}"><rect class="frame" x="{L}" y="{T}" width="{pw}" height="{ph}"/>'
    ]
    for v in _ticks(e0, e1, 5):
        x = L + (v - e0) * sx
        parts.append(f'<text class="tk" x="{x:.0f}" y="{T + ph + 24}" text-anchor="middle">{_fmt(v)}</text>')
    parts.append(f'<text class="tk" x="{L + pw}" y="{H - 6}" text-anchor="end">{escape(xlabel)}</text>')
    for i, (name, d, cls, n) in enumerate(series):
        if not d.size or not np.any(d > 0):
            continue
        xs = L + (np.repeat(edges, 2)[1:-1] - e0) * sx
        ys = T + ph - np.repeat(d, 2) / top * ph
        pts = " ".join(f"{x:.0f},{y:.0f}" for x, y in zip(xs, ys, strict=True))
        parts.append(f'<polyline class="{cls}" data-name="{escape(name)}" data-n="{n}" points="{pts}"/>')
        parts.append(
            f'<path class="{cls}" d="M{L + 8 + 160 * i} 18h24"/>'
            f'<text class="tk" x="{L + 38 + 160 * i}" y="25">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
