"""C3D motion-capture files, read with ``ezc3d``.

Points come from the ``POINT`` group: ``RATE`` (Hz), ``UNITS`` (``mm`` in most files),
``LABELS`` (continued in ``LABELS2``, ``LABELS3``... past 255 points). A sample whose residual
is negative is invalid in the C3D standard and becomes NaN. Time starts at the header's first
frame divided by the rate, so it stays aligned with the file's analog channels and events.
Analog channels and force plates are not read. A gzip-compressed file (``.c3d.gz``, recognised by
content) is decompressed into a temporary file that is removed after reading: ``ezc3d`` reads paths only.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from imusynth.core.motion import Motion
from imusynth.io.readers._common import EmptyPoints, build_motion, check_rate
from imusynth.io.readers._registry import register_motion_format
from imusynth.io.readers._table import ReadError, check_path, is_gzip


def _sniff(head: bytes) -> bool:
    # Byte 2 of every C3D file is 0x50; byte 1 points to the parameter section (usually block 2).
    return len(head) >= 512 and head[1] == 0x50 and 1 <= head[0] <= 127


def _param(group: dict[str, Any], key: str) -> list[Any] | None:
    entry = group.get(key)
    if entry is None:
        return None
    value = entry.get("value")
    return None if value is None else list(np.ravel(value))


@contextmanager
def _plain_file(p: Path) -> Iterator[Path]:
    """``p`` itself, or a decompressed temporary copy of it when it is gzip (removed on exit)."""
    if not is_gzip(p):
        yield p
        return
    fd, tmp = tempfile.mkstemp(suffix=".c3d", prefix="imusynth-")
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(p, "rb") as src:
            shutil.copyfileobj(src, out)
        yield Path(tmp)
    except (OSError, EOFError) as exc:
        raise ReadError(f"{p.name}: damaged gzip file ({exc})") from None
    finally:
        os.unlink(tmp)


@register_motion_format(
    "c3d", extensions=(".c3d",), sniff=_sniff, priority=10,
    description="C3D motion capture, .c3d",
)
def read_c3d(
    path: str | Path,
    *,
    up_axis: str = "z",
    length_unit: str | None = None,
    skeleton: str | None = None,
    empty_points: EmptyPoints = "drop",
) -> Motion:
    """Read the 3-D points of a C3D file into a :class:`~imusynth.core.motion.Motion` (metres, z up).

    Parameters
    ----------
    path : str or Path
        The ``.c3d`` file (or a gzip-compressed one).
    up_axis : {"z", "y", "x", "-x", "-y", "-z"}
        Axis of the lab frame pointing up; ``"z"`` for most labs (Vicon, Qualisys defaults).
    length_unit : {"mm", "cm", "m"}, optional
        Overrides ``POINT:UNITS`` (for files whose parameter is wrong or missing).
    skeleton : str, optional
        Skeleton the labels follow; detected from them when omitted.
    empty_points : {"drop", "error"}
        A point never valid in the file (an unused marker slot) is dropped with a warning, or refused.

    Returns
    -------
    Motion
        Time (T,) s from the first frame; positions (T, P, 3) m; NaN where the residual is negative.

    Raises
    ------
    ReadError
        For a file ``ezc3d`` cannot read, a missing or non-positive ``POINT:RATE``, or no points.
    """
    import ezc3d

    p = check_path(path)
    src = p.name
    try:
        with _plain_file(p) as plain:
            c3d = ezc3d.c3d(str(plain))
    except ReadError:
        raise
    except Exception as exc:  # ezc3d raises RuntimeError/IOError with C++ messages
        why = str(exc).strip() or type(exc).__name__
        raise ReadError(f"{src}: not a readable C3D file ({why})") from None
    group = c3d["parameters"].get("POINT", {})
    points = np.asarray(c3d["data"]["points"], dtype=np.float64)
    if points.ndim != 3 or points.shape[1] == 0 or points.shape[2] == 0:
        raise ReadError(f"{src}: the C3D file holds no 3-D points")
    rate_values = _param(group, "RATE") or [c3d["header"]["points"]["frame_rate"]]
    rate = check_rate(float(rate_values[0]), src)
    unit_values = _param(group, "UNITS")
    unit = length_unit or (str(unit_values[0]).strip() if unit_values else "")
    if not unit:
        raise ReadError(f"{src}: POINT:UNITS is missing; give length_unit ('mm', 'cm' or 'm')")
    n_points, n_frames = points.shape[1], points.shape[2]
    labels: list[str] = []
    for key in ["LABELS"] + [f"LABELS{i}" for i in range(2, 100)]:
        more = _param(group, key)
        if more is None:
            break
        labels += [str(x).strip() for x in more]
    labels = (labels + [""] * n_points)[:n_points]
    xyz = np.transpose(points[:3], (2, 1, 0))  # (3, P, T) -> (T, P, 3)
    residuals = c3d["data"]["meta_points"].get("residuals")
    if residuals is not None:
        invalid = np.asarray(residuals)[0].T < 0  # (T, P)
        xyz = np.where(invalid[:, :, None], np.nan, xyz)
    first = int(c3d["header"]["points"]["first_frame"])
    return build_motion(
        time=(first + np.arange(n_frames, dtype=np.float64)) / rate,
        names=labels,
        xyz=xyz,
        length_unit=unit,
        up_axis=up_axis,
        source=str(p),
        skeleton=skeleton,
        empty_points=empty_points,
    )
