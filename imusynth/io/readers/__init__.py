"""Readers: motion files into :class:`~imusynth.core.motion.Motion`, real IMU files into :class:`RealIMU`.

Motion formats register themselves (see :mod:`imusynth.io.readers._registry`); :func:`read_motion`
recognises a file by content, then by extension, and passes on only the options given. Every
reader returns SI units in the z-up world frame; see ``docs/readers.md``.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imusynth.core.motion import Motion
from imusynth.io.readers import bvh, c3d, csv_motion, kinect, trc  # noqa: F401  (importing registers the formats)
from imusynth.io.readers._common import EmptyPoints, canonical_only
from imusynth.io.readers._registry import MOTION_FORMATS, infer_format, supported_formats
from imusynth.io.readers._table import ReadError, check_path
from imusynth.io.readers.bvh import read_bvh, read_bvh_many
from imusynth.io.readers.c3d import read_c3d
from imusynth.io.readers.csv_motion import read_csv_motion
from imusynth.io.readers.imu import IMU_PRESETS, RealIMU, read_imu, read_imu_csv
from imusynth.io.readers.kinect import read_azure_kinect, read_kinect_v1
from imusynth.io.readers.trc import read_trc

__all__ = [
    "IMU_PRESETS",
    "MOTION_FORMATS",
    "ReadError",
    "RealIMU",
    "read_azure_kinect",
    "read_bvh",
    "read_bvh_many",
    "read_c3d",
    "read_csv_motion",
    "read_imu",
    "read_imu_csv",
    "read_kinect_v1",
    "read_motion",
    "read_trc",
]


def read_motion(
    path: str | Path,
    *,
    format: str | None = None,
    up_axis: str | None = None,
    length_unit: str | None = None,
    rate_hz: float | None = None,
    time_column: str | None = None,
    time_unit: str | None = None,
    column_pattern: str | None = None,
    points: Sequence[str] | None = None,
    confidence_pattern: str | None = None,
    skeleton: str | None = None,
    body_idx: int | None = None,
    delimiter: str | None = None,
    empty_points: EmptyPoints | None = None,
    canonical: bool = False,
) -> Motion:
    """Read a motion file of any registered format into a :class:`~imusynth.core.motion.Motion`.

    Parameters
    ----------
    path : str or Path
        The file (text formats may be gzip compressed).
    format : {"trc", "c3d", "bvh", "azure_kinect", "kinect_v1", "csv"}, optional
        Format name; inferred from the content, then the extension, when omitted.
    up_axis, length_unit, rate_hz, time_column, time_unit, column_pattern, points,
    confidence_pattern, skeleton, body_idx, delimiter, empty_points
        Options of the format's reader (:func:`read_trc`, :func:`read_c3d`, :func:`read_bvh`,
        :func:`read_azure_kinect`, :func:`read_csv_motion`). Omitted options keep that reader's
        default (for example ``up_axis="y"`` for TRC and Kinect v1, ``"z"`` for C3D, ``"-y"`` for Azure
        Kinect, the two Kinect formats checking it against the body;
        inferred from the body for BVH). A length unit the file does not state (CSV, BVH) is inferred
        from the body's size.
    canonical : bool
        Return only the canonical points (``left_wrist``, ``pelvis``... of
        :data:`imusynth.core.skeletons.CANONICAL_NAMES`, in that order) that the file's skeleton map
        provides; :class:`ReadError` when its names follow no known skeleton.

    Returns
    -------
    Motion
        Time in s, positions in m, z-up world frame.

    Raises
    ------
    ReadError
        For a missing or unrecognised file (naming the supported formats), an unknown ``format``,
        an option the format does not take, or any error of the format's reader.
    """
    p = check_path(path)
    if format is None:
        format = infer_format(p)
    if format not in MOTION_FORMATS:
        raise ReadError(f"{p.name}: unknown format {format!r}; supported: {supported_formats()}")
    reader = MOTION_FORMATS[format].reader
    given: dict[str, Any] = {
        "up_axis": up_axis, "length_unit": length_unit, "rate_hz": rate_hz, "time_column": time_column,
        "time_unit": time_unit, "column_pattern": column_pattern, "points": points,
        "confidence_pattern": confidence_pattern, "skeleton": skeleton, "body_idx": body_idx,
        "delimiter": delimiter, "empty_points": empty_points,
    }
    options = {k: v for k, v in given.items() if v is not None}
    accepted = inspect.signature(reader).parameters
    refused = sorted(k for k in options if k not in accepted)
    if refused:
        takes = ", ".join(k for k in accepted if k != "path")
        raise ReadError(f"{p.name}: format {format!r} does not take {', '.join(refused)}; it takes {takes}")
    motion: Motion = reader(p, **options)
    return canonical_only(motion) if canonical else motion
