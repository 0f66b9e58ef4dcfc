"""Point trajectories in delimited text: one column per point and axis (gzip accepted).

Two header forms are read:

- one header row whose names follow ``column_pattern`` (default ``"{point}_{axis}"``:
  ``Head_x, Head_y, Head_z, ...``); this is also the Kinect v1 20-joint export
  (``HipCenter_x``...), which gets ``skeleton="kinect_v1"`` from its names;
- the two-row header pandas writes for ``header=[0, 1]`` (row 1 point names, row 2 ``x``/``y``/``z``,
  first column the index), read as ``"{point}_{axis}"``; its index column is called ``"index"``.

The delimiter (``,`` ``;`` or tab) is detected from the first line unless given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from imusynth.core.motion import Motion
from imusynth.io.readers._common import EmptyPoints, build_motion, check_pattern, point_columns, table_time
from imusynth.io.readers._registry import first_line, looks_like_text, register_motion_format
from imusynth.io.readers._table import Table, read_table


def _sniff(head: bytes) -> bool:
    line = first_line(head)
    return looks_like_text(head) and any(d in line for d in (",", ";", "\t"))


def motion_from_table(
    table: Table,
    *,
    source: str,
    time_column: str | None,
    rate_hz: float | None,
    time_unit: str,
    length_unit: str | None,
    up_axis: str,
    column_pattern: str,
    points: Sequence[str] | None,
    confidence_pattern: str | None,
    confidence_scale: float,
    skeleton: str | None,
    empty_points: EmptyPoints,
) -> Motion:
    """Build a Motion from a table already read (shared by the CSV and the Kinect readers).

    ``confidence_scale`` divides the confidence columns (3 for Azure Kinect's levels 0..3).
    See :func:`read_csv_motion` for the other parameters.
    """
    time = table_time(table, time_column=time_column, rate_hz=rate_hz, time_unit=time_unit)
    names, columns = point_columns(table, column_pattern=column_pattern, points=points)
    flat = [c for cols in columns for c in cols]
    xyz = table.numbers(flat).reshape(table.n_rows, len(names), 3)
    confidence = None
    if confidence_pattern is not None:
        check_pattern(confidence_pattern, ("point",), "confidence_pattern", table.source)
        conf_cols = [confidence_pattern.format(point=n) for n in names]
        confidence = table.numbers(conf_cols) / confidence_scale
    return build_motion(
        time=time,
        names=names,
        xyz=xyz,
        length_unit=length_unit,
        up_axis=up_axis,
        source=source,
        confidence=confidence,
        skeleton=skeleton,
        empty_points=empty_points,
    )


@register_motion_format(
    "csv", extensions=(".csv", ".tsv", ".txt"), sniff=_sniff, priority=90,
    description="delimited text with one column per point and axis, .csv/.tsv/.txt",
)
def read_csv_motion(
    path: str | Path,
    *,
    time_column: str | None = None,
    rate_hz: float | None = None,
    time_unit: str = "s",
    length_unit: str | None = None,
    up_axis: str = "z",
    column_pattern: str = "{point}_{axis}",
    points: Sequence[str] | None = None,
    confidence_pattern: str | None = None,
    skeleton: str | None = None,
    delimiter: str | None = None,
    empty_points: EmptyPoints = "error",
) -> Motion:
    """Read point trajectories from a CSV file into a :class:`~imusynth.core.motion.Motion` (metres, z up).

    Parameters
    ----------
    path : str or Path
        The file (gzip accepted).
    time_column : str, optional
        Column of timestamps in ``time_unit`` (or ISO-8601 date-times). With ``rate_hz`` too, the
        column holds sample numbers and time = number / ``rate_hz`` (the gaitmap ``"index"``).
        When both are omitted a column named ``"time"`` is used.
    rate_hz : float, optional
        Sample rate, Hz, for files without a time column: time = row / ``rate_hz``.
    time_unit : {"s", "ms", "us", "ns"}
        Unit of a numeric time column.
    length_unit : {"m", "cm", "mm"}, optional
        Unit of the positions. A CSV does not state it: when omitted it is inferred from the body's
        size (a unit in which the person is of plausible size, see
        :func:`imusynth.io.readers._common.infer_length_unit`); a :class:`ReadError` naming
        ``--length-unit`` when the points are too few for a body size or no unit fits.
    up_axis : {"z", "y", "x", "-x", "-y", "-z"}
        Axis of the file's frame that points up (``"y"`` for Kinect v1 and OpenSim exports).
    column_pattern : str
        Column names with ``{point}`` and ``{axis}`` (axis ``x``/``y``/``z``, either case).
    points : sequence of str, optional
        Points to read; every point matching ``column_pattern`` when omitted.
    confidence_pattern : str, optional
        Column of each point's confidence in [0, 1], e.g. ``"{point}_confidence"``.
    skeleton : str, optional
        Skeleton the names follow (``"kinect_v1"``, ``"mediapipe"``...); detected when omitted.
    delimiter : str, optional
        Field separator; detected from the first line when omitted.
    empty_points : {"error", "drop"}
        A point with no finite sample is refused (default), or dropped with a warning.

    Returns
    -------
    Motion

    Raises
    ------
    ReadError
        Naming the missing column, the non-numeric cell, the unknown unit, a length unit that cannot
        be inferred, a file with fewer than 2 samples, or the points with no finite sample.
    """
    table = read_table(path, delimiter=delimiter)
    return motion_from_table(
        table,
        source=str(path),
        time_column=time_column,
        rate_hz=rate_hz,
        time_unit=time_unit,
        length_unit=length_unit,
        up_axis=up_axis,
        column_pattern=column_pattern,
        points=points,
        confidence_pattern=confidence_pattern,
        confidence_scale=1.0,
        skeleton=skeleton,
        empty_points=empty_points,
    )
