"""OpenSim / Pose2Sim TRC marker files (tab separated text, gzip accepted).

Layout::

    PathFileType  4  (X/Y/Z)  name.trc
    DataRate  CameraRate  NumFrames  NumMarkers  Units  OrigDataRate  ...
    60        60          100        21          m      60            ...
    Frame#  Time  RHip            RKnee           ...
                  X1   Y1   Z1    X2   Y2   Z2    ...
    1       0.0167  -0.08  0.87  0.07  ...

Empty cells (markers not seen) become NaN. Units come from the header (``Units``: ``mm``, ``cm``
or ``m``); OpenSim's world frame has y up, hence the default ``up_axis="y"``.
"""

from __future__ import annotations

from pathlib import Path

from imusynth.core.motion import Motion
from imusynth.io.readers._common import EmptyPoints, build_motion
from imusynth.io.readers._registry import first_line, register_motion_format
from imusynth.io.readers._table import ReadError, check_path, parse_lines, read_text


def _sniff(head: bytes) -> bool:
    return first_line(head).startswith("PathFileType")


@register_motion_format(
    "trc", extensions=(".trc",), sniff=_sniff, priority=10,
    description="OpenSim/Pose2Sim marker text, .trc",
)
def read_trc(
    path: str | Path,
    *,
    up_axis: str = "y",
    length_unit: str | None = None,
    skeleton: str | None = None,
    empty_points: EmptyPoints = "drop",
) -> Motion:
    """Read a TRC file into a :class:`~imusynth.core.motion.Motion` (metres, z up).

    Parameters
    ----------
    path : str or Path
        The ``.trc`` file (gzip accepted).
    up_axis : {"y", "z", "x", "-x", "-y", "-z"}
        Axis of the file's frame that points up; ``"y"`` for OpenSim and Pose2Sim.
    length_unit : {"mm", "cm", "m"}, optional
        Overrides the header's ``Units`` (for files whose header is wrong or lacks it).
    skeleton : str, optional
        Skeleton the marker names follow; detected from them when omitted (``"pose2sim"`` for
        Pose2Sim output).
    empty_points : {"drop", "error"}
        A marker never seen in the file is dropped with a warning, or refused.

    Returns
    -------
    Motion
        Times from the ``Time`` column (s); positions (T, P, 3) in m; confidence 1 where seen.

    Raises
    ------
    ReadError
        For a file that is not a TRC, a header without ``Units`` (and no ``length_unit``), a marker
        count that does not match ``NumMarkers``, a non-numeric cell, or a time that does not increase.
    """
    p = check_path(path)
    lines = read_text(p).splitlines()
    src = p.name
    if not lines or not lines[0].startswith("PathFileType"):
        raise ReadError(f"{src}: not a TRC file (the first line should start with 'PathFileType')")
    if len(lines) < 6:
        raise ReadError(f"{src}: a TRC file needs 5 header lines and data; this one has {len(lines)} lines")
    header = dict(zip((k.strip() for k in lines[1].split("\t")), (v.strip() for v in lines[2].split("\t")),
                      strict=False))
    unit = length_unit if length_unit is not None else header.get("Units")
    if not unit:
        raise ReadError(f"{src}: the header has no Units; give length_unit ('mm', 'cm' or 'm')")
    name_cells = lines[3].split("\t")
    if len(name_cells) < 3 or not name_cells[0].strip().startswith("Frame"):
        raise ReadError(f"{src}: line 4 should read 'Frame#<tab>Time<tab>marker names...'")
    names = [n.strip() for n in name_cells[2:] if n.strip()]
    declared = header.get("NumMarkers")
    if declared is not None and declared.isdigit() and int(declared) != len(names):
        raise ReadError(f"{src}: the header declares NumMarkers={declared} but line 4 names {len(names)}")
    data = [line for line in lines[5:] if line.strip()]
    if not data:
        raise ReadError(f"{src}: no data rows")
    columns = ["Frame#", "Time"] + [f"{n}_{a}" for n in names for a in "XYZ"]
    values = parse_lines(data, "\t", range(len(columns)), columns, src)
    return build_motion(
        time=values[:, 1],
        names=names,
        xyz=values[:, 2:].reshape(len(data), len(names), 3),
        length_unit=unit,
        up_axis=up_axis,
        source=str(p),
        skeleton=skeleton,
        empty_points=empty_points,
    )
