"""Kinect skeletons: Azure Kinect body-tracking exports and Kinect v1 joint tables (gzip accepted).

**Azure Kinect** (format ``azure_kinect``): one row per (frame, body), ';' separated. Columns:
``timestamp`` (microseconds), ``body_idx``, then for each of the 32 joints ``<JOINT> (c)`` (confidence
level 0 none, 1 low, 2 medium, 3 high), ``<JOINT> (x)``, ``(y)``, ``(z)`` in millimetres in the depth
camera frame (x right, y DOWN, z forward: Azure Kinect Sensor SDK, "Azure Kinect DK coordinate
systems"), hence the up axis ``"-y"``. Confidence levels map linearly to [0, 1] (level / 3);
positions are kept even at level 0 (the SDK still predicts them), with confidence 0.

**Kinect v1** (format ``kinect_v1``): one column per joint and axis, ``HipCenter_x, HipCenter_y, ...``
(the 20 joints of :data:`imusynth.core.skeletons.KINECT_V1_20`), a ``time`` column or a rate, as
:func:`~imusynth.io.readers.csv_motion.read_csv_motion` reads. Kinect for Windows skeleton space is
y UP (x to the sensor's left, z away from the sensor; metres), hence the up axis ``"y"``.

The format fixes the up axis, so neither needs ``--up-axis``; the skeleton itself is checked against
it (:func:`check_up_against_body`): when the head is clearly above the feet along another axis (a file
already converted to z up, say), that axis is used with a warning; an up axis given explicitly is kept,
with a warning when the body contradicts it.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from imusynth.core.conventions import UP_AXIS_TO_Z_UP, to_z_up
from imusynth.core.motion import Motion
from imusynth.core.skeletons import KINECT_V1_20
from imusynth.io.readers._common import EmptyPoints, check_up_axis, infer_up_axis
from imusynth.io.readers._registry import first_line, register_motion_format
from imusynth.io.readers._table import ReadError, read_table
from imusynth.io.readers.csv_motion import motion_from_table

#: Highest Azure Kinect confidence level (K4ABT_JOINT_CONFIDENCE_HIGH).
CONFIDENCE_LEVELS = 3.0
#: The up axis of each format's camera space (see the module notes).
FORMAT_UP_AXIS = {"azure_kinect": "-y", "kinect_v1": "y"}
#: Fewest frames on which :func:`check_up_against_body` judges the up axis.
MIN_CHECK_FRAMES = 10


def check_up_against_body(motion: Motion, up_axis: str, *, given: bool, fmt: str) -> Motion:
    """Check the up axis a motion was read with against its skeleton (head above the feet).

    Parameters
    ----------
    motion : Motion
        Read with ``up_axis`` (z-up world frame).
    up_axis : str
        The file's up axis used (:data:`imusynth.core.conventions.UP_AXIS_TO_Z_UP`).
    given : bool
        Whether the user gave it (kept, with a warning, when the body contradicts it) or it is the
        format's own (replaced, with a warning, by the axis the body shows).
    fmt : str
        The format, for the message.

    Returns
    -------
    Motion
        ``motion``, or the same points turned so that the body's up axis is z up.

    Notes
    -----
    The body's up axis is :func:`imusynth.io.readers._common.infer_up_axis`: the axis along which the
    median head-minus-feet vector lies (cosine >= 0.8), over the whole take and over at least 3 of its
    5 fifths (none saying another axis). A take of fewer than :data:`MIN_CHECK_FRAMES` frames, a body
    lying down for most of it, or one without named head and feet says nothing: ``up_axis`` stands.
    """
    file_xyz = motion.xyz @ UP_AXIS_TO_Z_UP[up_axis]          # back into the file's frame
    if motion.n_frames < MIN_CHECK_FRAMES:
        return motion
    body = infer_up_axis(file_xyz, motion.names, skeleton=motion.skeleton)
    if body is None or body == up_axis:
        return motion
    parts = [infer_up_axis(chunk, motion.names, skeleton=motion.skeleton)
             for chunk in np.array_split(file_xyz, 5)]
    if sum(p == body for p in parts) < 3 or any(p not in (None, body) for p in parts):
        return motion                                          # not the same all along: no clear evidence
    name = motion.source.rsplit("/", 1)[-1]
    if given:
        warnings.warn(f"{name}: with --up-axis {up_axis} the head is not above the feet (in this file the "
                      f"head is above the feet along {body}): check --up-axis", stacklevel=4)
        return motion
    warnings.warn(f"{name}: {fmt} camera space has {up_axis} up, but this skeleton's head is above its feet "
                  f"along {body}: read with up axis {body} (--up-axis sets it)", stacklevel=4)
    return dataclasses.replace(motion, xyz=to_z_up(file_xyz, body))


def _sniff(head: bytes) -> bool:
    line = first_line(head)
    return "body_idx" in line and "(x)" in line


@register_motion_format(
    "azure_kinect", extensions=(), sniff=_sniff, priority=20,
    description="Azure Kinect body-tracking CSV with body_idx and '<JOINT> (x)' columns",
)
def read_azure_kinect(
    path: str | Path,
    *,
    up_axis: str | None = None,
    length_unit: str = "mm",
    body_idx: int | None = None,
    skeleton: str | None = None,
    delimiter: str | None = None,
    empty_points: EmptyPoints = "error",
) -> Motion:
    """Read one body of an Azure Kinect body-tracking CSV into a :class:`~imusynth.core.motion.Motion`.

    Parameters
    ----------
    path : str or Path
        The ``positions_3d.csv`` file (gzip accepted).
    up_axis : {"-y", "y", "z", "x", "-x", "-z"}, optional
        Axis of the camera frame pointing up; default ``"-y"`` (y points down), checked against the
        skeleton (:func:`check_up_against_body`).
    length_unit : {"mm", "cm", "m"}
        Unit of the positions (the SDK writes mm).
    body_idx : int, optional
        Which body to read; the most frequent one when omitted.
    skeleton : str, optional
        Detected from the joint names (``"azure_kinect"``) when omitted.
    delimiter : str, optional
        Field separator; detected from the first line (``;``) when omitted.
    empty_points : {"error", "drop"}
        A joint with no finite sample is refused, or dropped with a warning.

    Returns
    -------
    Motion
        Time (T,) s (the file's microsecond timestamps), positions (T, 32, 3) m, confidence level / 3.

    Raises
    ------
    ReadError
        When ``body_idx`` is not in the file, or as :func:`read_csv_motion` does.
    """
    table = read_table(path, delimiter=delimiter)
    bodies = table.numbers(["body_idx"])[:, 0]
    if np.isnan(bodies).any():
        row = int(np.argmax(np.isnan(bodies))) + 1
        raise ReadError(f"{table.source}: body_idx is empty at data row {row}")
    present, counts = np.unique(bodies.astype(np.int64), return_counts=True)
    chosen = int(present[np.argmax(counts)]) if body_idx is None else int(body_idx)
    if chosen not in present:
        raise ReadError(
            f"{table.source}: body_idx {chosen} is not in the file; it has {', '.join(map(str, present))}"
        )
    up = check_up_axis(up_axis or FORMAT_UP_AXIS["azure_kinect"], Path(path).name)
    motion = motion_from_table(
        table.take(bodies == chosen),
        source=str(path),
        time_column="timestamp",
        rate_hz=None,
        time_unit="us",
        length_unit=length_unit,
        up_axis=up,
        column_pattern="{point} ({axis})",
        points=None,
        confidence_pattern="{point} (c)",
        confidence_scale=CONFIDENCE_LEVELS,
        skeleton=skeleton,
        empty_points=empty_points,
    )
    return check_up_against_body(motion, up, given=up_axis is not None, fmt="Azure Kinect")


#: A column of a joint's x coordinate: the joint, a separator (``_``, ``.``, ``-``, space, ``(``), x or X.
_X_COLUMN = re.compile(r"^(?P<joint>[A-Za-z]+)(?P<sep>[_.\- (]+)(?P<axis>[xX])(?P<end>\)?)$")


def _x_columns(cells: Sequence[str]) -> dict[str, re.Match[str]]:
    """Joint name -> the match of its x column, for the Kinect v1 joints in ``cells``."""
    out: dict[str, re.Match[str]] = {}
    for cell in cells:
        m = _X_COLUMN.match(cell.strip().strip('"'))
        if m and m.group("joint") in KINECT_V1_20:
            out.setdefault(m.group("joint"), m)
    return out


def _sniff_v1(head: bytes) -> bool:
    """A header with the x columns of most Kinect v1 joints, HipCenter and ShoulderCenter among them."""
    joints = _x_columns(re.split(r"[,;\t]", first_line(head)))
    return {"HipCenter", "ShoulderCenter"} <= set(joints) and len(joints) >= 16


def _v1_pattern(columns: Sequence[str]) -> str:
    """The column pattern of a Kinect v1 table from its HipCenter x column (``"{point}_{axis}"`` if none)."""
    m = _x_columns(columns).get("HipCenter")
    if m is None:
        return "{point}_{axis}"
    return "{point}" + m.group("sep") + "{axis}" + m.group("end")


@register_motion_format(
    "kinect_v1", extensions=(), sniff=_sniff_v1, priority=30,
    description="Kinect v1 joint table, HipCenter_x (or .x, (x)...) columns, camera space y up",
)
def read_kinect_v1(
    path: str | Path,
    *,
    time_column: str | None = None,
    rate_hz: float | None = None,
    time_unit: str = "s",
    length_unit: str | None = None,
    up_axis: str | None = None,
    column_pattern: str | None = None,
    points: Sequence[str] | None = None,
    confidence_pattern: str | None = None,
    skeleton: str | None = None,
    delimiter: str | None = None,
    empty_points: EmptyPoints = "error",
) -> Motion:
    """Read a Kinect v1 skeleton table (20 joints) into a :class:`~imusynth.core.motion.Motion` (m, z up).

    The options are those of :func:`~imusynth.io.readers.csv_motion.read_csv_motion`, except the up axis
    and the column pattern.

    Parameters
    ----------
    column_pattern : str, optional
        Column names with ``{point}`` and ``{axis}``; by default taken from the ``HipCenter`` x column
        (``HipCenter_x`` -> ``"{point}_{axis}"``, ``HipCenter.X`` -> ``"{point}.{axis}"``,
        ``HipCenter (x)`` -> ``"{point} ({axis})"``).
    up_axis : {"y", "z", "x", "-x", "-y", "-z"}, optional
        Axis of the file's frame pointing up; default ``"y"`` (Kinect camera space), checked against the
        skeleton (:func:`check_up_against_body`).

    Returns
    -------
    Motion
        Skeleton ``"kinect_v1"`` (detected from the names).

    Raises
    ------
    ReadError
        As :func:`~imusynth.io.readers.csv_motion.read_csv_motion` does.
    """
    up = check_up_axis(up_axis or FORMAT_UP_AXIS["kinect_v1"], Path(path).name)
    table = read_table(path, delimiter=delimiter)
    motion = motion_from_table(
        table,
        source=str(path),
        time_column=time_column,
        rate_hz=rate_hz,
        time_unit=time_unit,
        length_unit=length_unit,
        up_axis=up,
        column_pattern=column_pattern or _v1_pattern(table.columns),
        points=points,
        confidence_pattern=confidence_pattern,
        confidence_scale=1.0,
        skeleton=skeleton,
        empty_points=empty_points,
    )
    return check_up_against_body(motion, up, given=up_axis is not None, fmt="Kinect v1")
