"""Azure Kinect body-tracking exports: one row per (frame, body), ';' separated, gzip accepted.

Columns: ``timestamp`` (microseconds), ``body_idx``, then for each of the 32 joints
``<JOINT> (c)`` (confidence level 0 none, 1 low, 2 medium, 3 high), ``<JOINT> (x)``, ``(y)``, ``(z)``
in millimetres in the depth camera frame (x right, y down, z forward), hence the default
``up_axis="-y"``. Confidence levels map linearly to [0, 1] (level / 3); positions are kept
even at level 0 (the SDK still predicts them), with confidence 0.

Kinect v1 (20 joints, ``HipCenter_x``...) files have no body index and are plain CSV: read them
with :func:`imusynth.io.readers.csv_motion.read_csv_motion` (``up_axis="y"``); their skeleton
``"kinect_v1"`` is detected from the names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imusynth.core.motion import Motion
from imusynth.io.readers._common import EmptyPoints
from imusynth.io.readers._registry import first_line, register_motion_format
from imusynth.io.readers._table import ReadError, read_table
from imusynth.io.readers.csv_motion import motion_from_table

#: Highest Azure Kinect confidence level (K4ABT_JOINT_CONFIDENCE_HIGH).
CONFIDENCE_LEVELS = 3.0


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
    up_axis: str = "-y",
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
    up_axis : {"-y", "y", "z", "x", "-x", "-z"}
        Axis of the camera frame pointing up; ``"-y"`` for a level camera (y points down).
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
    return motion_from_table(
        table.take(bodies == chosen),
        source=str(path),
        time_column="timestamp",
        rate_hz=None,
        time_unit="us",
        length_unit=length_unit,
        up_axis=up_axis,
        column_pattern="{point} ({axis})",
        points=None,
        confidence_pattern="{point} (c)",
        confidence_scale=CONFIDENCE_LEVELS,
        skeleton=skeleton,
        empty_points=empty_points,
    )
