"""Checks and conversions shared by the readers: time columns, units, up axis, the final Motion.

Every motion reader ends in :func:`build_motion`, so the rules a Motion from a file obeys
(at least two samples, strictly increasing time, known units and up axis, no point that is
never seen, a length unit that makes a person of plausible size) are checked in this one place
with the same messages for every format. The length unit of a file that does not state it is
inferred from the body's size (:func:`infer_length_unit`).
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.core.conventions import UP_AXIS_TO_Z_UP, to_si, to_z_up, unit_factor
from imusynth.core.motion import Motion
from imusynth.core.skeletons import (
    CANONICAL_NAMES,
    SKELETONS,
    canonical_sources,
    detect_skeleton,
    to_canonical,
)
from imusynth.io.readers._table import ReadError, Table, parse_datetimes

EmptyPoints = Literal["error", "drop"]
AXES = ("x", "y", "z")


def si(values: ArrayLike, quantity: str, unit: str, *, option: str, source: str) -> NDArray[np.float64]:
    """:func:`imusynth.core.conventions.to_si`, with an unknown unit reported as a :class:`ReadError`.

    ``option`` names the keyword argument that carried the unit, for the message.
    """
    try:
        return to_si(values, quantity, unit)
    except ValueError as exc:
        raise ReadError(f"{source}: {option}: {exc}") from None


def check_up_axis(up_axis: str, source: str) -> str:
    """Return ``up_axis`` if it is one of :data:`imusynth.core.conventions.UP_AXIS_TO_Z_UP`."""
    if up_axis not in UP_AXIS_TO_Z_UP:
        raise ReadError(f"{source}: unknown up_axis {up_axis!r}; allowed: {', '.join(UP_AXIS_TO_Z_UP)}")
    return up_axis


def check_rate(rate_hz: float, source: str) -> float:
    """Return ``rate_hz`` as float if it is finite and positive."""
    rate = float(rate_hz)
    if not np.isfinite(rate) or rate <= 0:
        raise ReadError(f"{source}: rate_hz must be a positive number of Hz, got {rate_hz!r}")
    return rate


def check_time(time: NDArray[np.float64], source: str, what: str = "time") -> None:
    """Require at least two samples, finite values and strictly increasing time.

    Raises
    ------
    ReadError
        Naming the first offending sample.
    """
    if time.shape[0] < 2:
        raise ReadError(f"{source}: {time.shape[0]} sample(s); at least 2 are needed")
    bad = np.flatnonzero(~np.isfinite(time))
    if bad.size:
        raise ReadError(f"{source}: {what} is missing or not finite at data row {bad[0] + 1}")
    step = np.diff(time)
    bad = np.flatnonzero(step <= 0)
    if bad.size:
        i = int(bad[0])
        raise ReadError(
            f"{source}: {what} must be strictly increasing; data row {i + 2} has {time[i + 1]!r} "
            f"after {time[i]!r}"
        )


def table_time(
    table: Table,
    *,
    time_column: str | None,
    rate_hz: float | None,
    time_unit: str,
) -> NDArray[np.float64]:
    """Timestamps (s) of a table's rows, shape (N,), float64 (not yet checked for order).

    Rules (the same for motion and IMU tables):

    - ``time_column`` alone: the column holds times in ``time_unit`` (``"s"``, ``"ms"``, ``"us"``,
      ``"ns"``), or ISO-8601 date-times, read as seconds since 1970-01-01 UTC (``time_unit`` unused);
    - ``time_column`` and ``rate_hz``: the column holds sample numbers; time = number / ``rate_hz``;
    - ``rate_hz`` alone: time = row / ``rate_hz``, starting at 0;
    - neither: a column called ``"time"`` is used if there is one, else :class:`ReadError`.
    """
    rate = None if rate_hz is None else check_rate(rate_hz, table.source)
    if time_column is None and rate is None:
        if not table.has("time"):
            raise ReadError(
                f"{table.source}: no time: give time_column (the name of the time column) or rate_hz"
            )
        time_column = "time"
    if time_column is None:
        assert rate is not None
        return np.arange(table.n_rows, dtype=np.float64) / rate
    cells = table.text(time_column)
    numeric = bool(cells.size) and _first_is_number(cells)
    if rate is not None:
        return table.numbers([time_column])[:, 0] / rate
    if numeric:
        return si(table.numbers([time_column])[:, 0], "time", time_unit, option="time_unit",
                  source=table.source)
    return parse_datetimes([str(c) for c in cells], time_column, table.source)


def _first_is_number(cells: NDArray[np.str_]) -> bool:
    try:
        float(str(cells[0]))
    except ValueError:
        return False
    return True


def check_pattern(pattern: str, fields: Sequence[str], option: str, source: str) -> None:
    """Require each ``{field}`` exactly once in a column pattern and no other ``{...}`` field."""
    found = re.findall(r"\{([^{}]*)\}", pattern)
    if sorted(found) != sorted(fields):
        want = " and ".join("{" + f + "}" for f in fields)
        raise ReadError(f"{source}: {option} {pattern!r} must contain {want} exactly once each")


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\{point\}|\{axis\})", pattern)
    out = []
    for part in parts:
        if part == "{point}":
            out.append(r"(?P<point>.+)")
        elif part == "{axis}":
            out.append(r"(?P<axis>[xyzXYZ])")
        else:
            out.append(re.escape(part))
    return re.compile("^" + "".join(out) + "$")


def point_columns(
    table: Table,
    *,
    column_pattern: str,
    points: Sequence[str] | None = None,
) -> tuple[tuple[str, ...], list[list[str]]]:
    """Find the x, y, z columns of each point from a column-name pattern.

    Parameters
    ----------
    table : Table
        The table whose columns are searched.
    column_pattern : str
        Pattern with ``{point}`` and ``{axis}``, e.g. ``"{point}_{axis}"`` or ``"{point} ({axis})"``;
        the axis is ``x``/``y``/``z`` (either case).
    points : sequence of str, optional
        Points to read; all points whose columns match the pattern when omitted.

    Returns
    -------
    names : tuple of str, length P
        Point names, in column order.
    columns : list of [x, y, z] column names, length P

    Raises
    ------
    ReadError
        When a point lacks one of its three columns (the column is named), or nothing matches.
    """
    check_pattern(column_pattern, ("point", "axis"), "column_pattern", table.source)
    if points is None:
        regex = _pattern_regex(column_pattern)
        found: dict[str, dict[str, str]] = {}
        for col in table.columns:
            m = regex.match(col)
            if m:
                found.setdefault(m.group("point"), {}).setdefault(m.group("axis").lower(), col)
        if not found:
            raise ReadError(
                f"{table.source}: no column matches column_pattern {column_pattern!r}; "
                f"the file has {', '.join(map(repr, table.columns[:12]))}"
            )
        names = tuple(found)
    else:
        names = tuple(points)
        found = {p: {} for p in names}
    columns = []
    for name in names:
        cols = []
        for axis in AXES:
            lower = column_pattern.format(point=name, axis=axis)
            upper = column_pattern.format(point=name, axis=axis.upper())
            fallback = upper if (table.has(upper) and not table.has(lower)) else lower
            cols.append(found[name].get(axis, fallback))
        columns.append(cols)
    table.require([c for cols in columns for c in cols])
    return names, columns


def build_motion(
    *,
    time: NDArray[np.float64],
    names: Sequence[str],
    xyz: NDArray[np.float64],
    length_unit: str | None,
    up_axis: str,
    source: str,
    confidence: NDArray[np.float64] | None = None,
    skeleton: str | None = None,
    empty_points: EmptyPoints = "error",
) -> Motion:
    """Check a reader's arrays and return the :class:`Motion` in SI units and the z-up world frame.

    Parameters
    ----------
    time : ndarray, shape (T,), s
        Timestamps; at least 2, finite, strictly increasing.
    names : sequence of str, length P
        Point names; a repeated name gets a ``_2``, ``_3``... suffix.
    xyz : ndarray, shape (T, P, 3), ``length_unit``
        Positions in the source frame; NaN where missing.
    length_unit : str or None
        Unit of ``xyz`` (``"m"``, ``"cm"``, ``"mm"``). None: the file does not state it, so it is
        inferred from the body's size (:func:`infer_length_unit`; :class:`ReadError` when it cannot
        be). A given unit is checked with :func:`check_length_unit` (a warning when the body would
        then have an implausible size that another unit would make plausible).
    up_axis : str
        Axis of the source frame pointing up (see :func:`imusynth.core.conventions.to_z_up`).
    source : str
        Path of the file (provenance; its name is used in messages).
    confidence : ndarray, shape (T, P), optional
        Per-sample confidence in [0, 1].
    skeleton : str, optional
        Skeleton the names follow; detected from the names when omitted.
    empty_points : {"error", "drop"}
        What to do with a point that has no finite sample: refuse the file, or drop the point
        with a warning.
    """
    name = source.rsplit("/", 1)[-1]
    check_time(time, name)
    check_up_axis(up_axis, name)
    xyz = np.asarray(xyz, dtype=np.float64)
    names = _unique(names)
    if not names:
        raise ReadError(f"{name}: the file names no point")
    empty = [not np.isfinite(xyz[:, j]).any() for j in range(xyz.shape[1])]
    if any(empty):
        gone = [n for n, e in zip(names, empty, strict=True) if e]
        if empty_points == "error":
            raise ReadError(f"{name}: point(s) with no finite sample: {', '.join(gone)}")
        if empty_points != "drop":
            raise ReadError(f"{name}: empty_points must be 'error' or 'drop', got {empty_points!r}")
        if all(empty):
            raise ReadError(f"{name}: no point has a finite sample")
        warnings.warn(f"{name}: dropped point(s) with no finite sample: {', '.join(gone)}", stacklevel=3)
        keep = ~np.array(empty)
        names = [n for n, k in zip(names, keep, strict=True) if k]
        xyz = xyz[:, keep]
        confidence = None if confidence is None else confidence[:, keep]
    xyz = np.where(np.isfinite(xyz), xyz, np.nan)
    if skeleton is None:
        skeleton = detect_skeleton(names)
    elif skeleton not in SKELETONS and skeleton != "canonical":
        raise ReadError(f"{name}: unknown skeleton {skeleton!r}; known: {', '.join(SKELETONS)}, canonical")
    if length_unit is None:
        length_unit = infer_length_unit(xyz, names, skeleton=skeleton, source=name)
    else:
        si(0.0, "length", length_unit, option="length_unit", source=name)
        check_length_unit(xyz, names, length_unit, skeleton=skeleton, source=name)
    xyz_m = si(xyz, "length", length_unit, option="length_unit", source=name)
    return Motion(
        time=time,
        names=tuple(names),
        xyz=to_z_up(xyz_m, up_axis),
        confidence=np.ones(xyz.shape[:2]) if confidence is None else confidence,
        source=source,
        skeleton=skeleton,
    )


def canonical_only(motion: Motion) -> Motion:
    """The canonical points (:data:`imusynth.core.skeletons.CANONICAL_NAMES`, in that order) of ``motion``.

    The result's ``skeleton`` is ``"canonical"``.

    Raises
    ------
    ReadError
        When its names follow no known skeleton (a free marker set has no canonical points).
    """
    full = to_canonical(motion)
    names = [n for n in CANONICAL_NAMES if n in full.names]
    if not names:
        name = motion.source.rsplit("/", 1)[-1]
        raise ReadError(f"{name}: its point names follow no known skeleton, so it has no canonical points")
    return dataclasses.replace(full.select(names), skeleton="canonical")


def _unique(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, raw in enumerate(names):
        n = str(raw).strip() or f"point_{i + 1}"
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        else:
            seen[n] = 1
        out.append(n)
    return out


# --------------------------------------------------------------------------------------------------
# The length unit from the body's size
# --------------------------------------------------------------------------------------------------

#: Length units a file may be in (see :func:`imusynth.core.conventions.unit_factor`).
LENGTH_UNITS: tuple[str, ...] = ("mm", "cm", "m")

#: Plausible body size, m, as :func:`body_size` measures it. A standing person is 1-2.2 m tall; the
#: joint-centre chain (head joint to ankle) is about 0.75-0.9 of the stature and a marker set's extent
#: shrinks when the person crouches, hence the wider band. It spans less than a factor 10, so at most
#: one of mm, cm and m makes a body of plausible size.
BODY_SIZE_RANGE_M: tuple[float, float] = (0.5, 2.5)

#: Fewest points with no names this tool knows for which their extent is taken as the body's size.
MIN_BODY_POINTS = 8

_FOOT = ("ankle", "heel", "toe")


def _named_point(xyz: NDArray[np.float64], names: Sequence[str], sources: dict[str, list[str]],
                 canon: str) -> NDArray[np.float64] | None:
    """Positions (T, 3) of canonical point ``canon``: a point of that name, or the mean of its sources."""
    if canon in names:
        return xyz[:, list(names).index(canon)]
    if canon in sources:
        return xyz[:, [list(names).index(n) for n in sources[canon]]].mean(axis=1)
    return None


def _median_distance(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    d = np.linalg.norm(a - b, axis=-1)
    d = d[np.isfinite(d)]
    return float(np.median(d)) if d.size else float("nan")


def body_size(xyz: NDArray[np.float64], names: Sequence[str], *,
              skeleton: str | None) -> tuple[float, str] | None:
    """Size of the body in the unit of ``xyz``, and what was measured; None when there is no body to measure.

    Parameters
    ----------
    xyz : ndarray, shape (T, P, 3)
        Positions in the file's own unit and frame; NaN where missing.
    names : sequence of str, length P
        Point names.
    skeleton : str or None
        Skeleton map of the names (:data:`imusynth.core.skeletons.SKELETONS`), ``"canonical"`` or None.

    Returns
    -------
    (size, how) or None
        With the head (or nose), pelvis, a hip, its knee and its ankle known by name: the joint chain
        ``|head - pelvis| + |hip - knee| + |knee - ankle|``, each the median over frames (independent of
        the pose; the mean of the sides that have all three leg points). Otherwise, with at least
        :data:`MIN_BODY_POINTS` points: the median over frames of the diagonal of the points' bounding
        box (frames with fewer than that many points seen are left out). None for fewer points.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    known = skeleton if skeleton in SKELETONS else None
    sources = canonical_sources(list(names), known) if known else {}
    point = lambda canon: _named_point(xyz, names, sources, canon)  # noqa: E731
    head = point("head")
    head = point("nose") if head is None else head
    pelvis = point("pelvis")
    legs = []
    for side in ("left", "right"):
        hip, knee, ankle = point(f"{side}_hip"), point(f"{side}_knee"), point(f"{side}_ankle")
        if hip is not None and knee is not None and ankle is not None:
            legs.append(_median_distance(hip, knee) + _median_distance(knee, ankle))
    legs = [v for v in legs if np.isfinite(v)]
    if head is not None and pelvis is not None and legs:
        size = _median_distance(head, pelvis) + float(np.mean(legs))
        if np.isfinite(size):
            return size, "head-pelvis + thigh + shank joint chain"
    seen = np.isfinite(xyz).all(axis=2)
    frames = seen.sum(axis=1) >= MIN_BODY_POINTS
    if not frames.any():
        return None
    box = xyz[frames]
    span = np.nanmax(box, axis=1) - np.nanmin(box, axis=1)
    return float(np.median(np.linalg.norm(span, axis=1))), f"extent of {xyz.shape[1]} points"


def _plausible_units(size: float) -> list[str]:
    lo, hi = BODY_SIZE_RANGE_M
    return [u for u in LENGTH_UNITS if lo <= size * unit_factor("length", u) <= hi]


def infer_length_unit(xyz: NDArray[np.float64], names: Sequence[str], *, skeleton: str | None,
                      source: str) -> str:
    """The length unit (``"mm"``, ``"cm"`` or ``"m"``) in which the body of ``xyz`` has a plausible size.

    See :func:`body_size` for what is measured and :data:`BODY_SIZE_RANGE_M` for the band.

    Raises
    ------
    ReadError
        Naming ``--length-unit`` when the points are too few to measure a body, or when no unit gives
        a plausible size.
    """
    measured = body_size(xyz, names, skeleton=skeleton)
    if measured is None:
        raise ReadError(
            f"{source}: the file does not state its length unit, and {xyz.shape[1]} point(s) are too few to "
            f"infer it from the body's size (that needs the head, pelvis and leg joints of a known skeleton, "
            f"or at least {MIN_BODY_POINTS} points); give --length-unit mm, cm or m"
        )
    size, how = measured
    units = _plausible_units(size)
    if not units:
        lo, hi = BODY_SIZE_RANGE_M
        raise ReadError(
            f"{source}: the file does not state its length unit and the body's size ({how}: {size:.4g} file "
            f"units) is {lo:g}-{hi:g} m in none of mm, cm, m; give --length-unit mm, cm or m"
        )
    return units[0]


def check_length_unit(xyz: NDArray[np.float64], names: Sequence[str], unit: str, *, skeleton: str | None,
                      source: str) -> None:
    """Warn when ``unit`` gives the body an implausible size that another unit would make plausible.

    Used for units a file states (TRC ``Units``, C3D ``POINT:UNITS``) or a user gives; a body that
    cannot be measured, or that no unit makes plausible (a few markers, a box), passes silently.
    """
    measured = body_size(xyz, names, skeleton=skeleton)
    if measured is None:
        return
    size, how = measured
    units = _plausible_units(size)
    if units and unit not in units:
        metres = size * unit_factor("length", unit)
        warnings.warn(
            f"{source}: in {unit} the body measures {metres:.3g} m ({how}); in {units[0]} it would measure "
            f"{size * unit_factor('length', units[0]):.3g} m: check the length unit (--length-unit)",
            stacklevel=4,
        )


def infer_up_axis(xyz: NDArray[np.float64], names: Sequence[str], *, skeleton: str | None,
                  min_share: float = 0.8) -> str | None:
    """The axis of ``xyz``'s frame that points from the feet to the head, or None when it is unclear.

    Parameters
    ----------
    xyz : ndarray, shape (T, P, 3)
        Positions in the file's frame (any unit).
    names, skeleton
        As for :func:`body_size`; the head (or nose, or neck) and the feet (ankles, heels, toes) must be
        known by name.
    min_share : float
        The median over frames of the head-minus-feet vector must lie this much (cosine) along one
        axis; a person lying down for most of the take gives None.

    Returns
    -------
    str or None
        One of ``"x"``, ``"y"``, ``"z"``, ``"-x"``, ``"-y"``, ``"-z"``.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    known = skeleton if skeleton in SKELETONS else None
    sources = canonical_sources(list(names), known) if known else {}
    head = None
    for canon in ("head", "nose", "neck"):
        head = _named_point(xyz, names, sources, canon)
        if head is not None:
            break
    feet = [p for s in ("left", "right") for j in _FOOT
            if (p := _named_point(xyz, names, sources, f"{s}_{j}")) is not None]
    if head is None or not feet:
        return None
    stacked = np.stack(feet)
    seen = np.asarray(np.isfinite(stacked).all(axis=2), dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        feet_mean = np.where(seen[..., None], stacked, 0.0).sum(axis=0) / seen.sum(axis=0)[:, None]
    up = head - feet_mean
    up = up[np.isfinite(up).all(axis=1)]
    if not up.size:
        return None
    v = np.median(up, axis=0)
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        return None
    k = int(np.argmax(np.abs(v)))
    if abs(v[k]) < min_share * norm:
        return None
    return ("" if v[k] > 0 else "-") + AXES[k]
