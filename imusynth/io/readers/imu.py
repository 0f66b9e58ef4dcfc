"""Real IMU recordings (accelerometer + gyroscope) from delimited text files, gzip accepted.

:func:`read_imu_csv` takes every option explicitly; :data:`IMU_PRESETS` are plain dicts of those
options for the layouts met in practice, used through :func:`read_imu`:

=============  ====================================================================================
preset         layout
=============  ====================================================================================
``gaitmap``    pandas two-row header (``sensor``, ``axis``), ``acc_x..z`` m/s^2, ``gyr_x..z`` deg/s,
               index = sample number at 204.8 Hz; several sensors (choose one with ``sensor=``)
``xsens_dot``  ``SampleTimeFine`` (microseconds, or a date-time string), ``Acc_X..Z`` m/s^2,
               ``Gyr_X..Z`` deg/s; leading all-zero rows (before the first sample) dropped
``spsw_har``   ``x_acc..z_acc`` m/s^2, ``x_gyro..z_gyro`` rad/s, ``timestamp`` UNIX ms, ``label``
               activity per sample; rows sharing a timestamp are averaged (phone batching)
=============  ====================================================================================

Units are converted to SI here, through :func:`imusynth.core.conventions.to_si`, and nowhere else.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from imusynth.io.readers._common import check_time, si, table_time
from imusynth.io.readers._table import ReadError, Table, read_table

DuplicateTimes = Literal["error", "drop", "mean"]


@dataclass(frozen=True)
class RealIMU:
    """A real IMU recording in SI units.

    Attributes
    ----------
    time : ndarray, shape (N,), float64, s
        Strictly increasing timestamps, as in the file (not shifted to start at 0).
    acc : ndarray, shape (N, 3), float64, m/s^2
        Specific force in the sensor frame, gravity included (+g0 on the axis pointing up at rest).
    gyro : ndarray, shape (N, 3), float64, rad/s
        Angular velocity in the sensor frame.
    source : str
        Path of the file (provenance).
    name : str
        Sensor name (the ``sensor`` chosen, or the file's stem).
    labels : ndarray of str, shape (N,), optional
        Per-sample activity label when the file has a label column, else None.
    """

    time: NDArray[np.float64]
    acc: NDArray[np.float64]
    gyro: NDArray[np.float64]
    source: str = ""
    name: str = ""
    labels: NDArray[np.str_] | None = field(default=None)

    def __post_init__(self) -> None:
        time = np.asarray(self.time, dtype=np.float64)
        acc = np.asarray(self.acc, dtype=np.float64)
        gyro = np.asarray(self.gyro, dtype=np.float64)
        where = self.name or self.source or "RealIMU"
        if time.ndim != 1:
            raise ReadError(f"{where}: time must be 1-D, got shape {time.shape}")
        for label, arr in (("acc", acc), ("gyro", gyro)):
            if arr.shape != (time.shape[0], 3):
                raise ReadError(f"{where}: {label} must have shape ({time.shape[0]}, 3), got {arr.shape}")
            bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
            if bad.size:
                raise ReadError(f"{where}: {label} is missing or not finite at sample {bad[0] + 1}")
        check_time(time, where)
        labels = None
        if self.labels is not None:
            labels = np.asarray(self.labels, dtype=str)
            if labels.shape != time.shape:
                raise ReadError(f"{where}: labels must have shape {time.shape}, got {labels.shape}")
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "acc", acc)
        object.__setattr__(self, "gyro", gyro)
        object.__setattr__(self, "labels", labels)

    @property
    def n_samples(self) -> int:
        """Number of samples N."""
        return int(self.time.shape[0])

    @property
    def rate_hz(self) -> float:
        """Median sample rate, Hz."""
        return float(1.0 / np.median(np.diff(self.time)))

    @property
    def duration_s(self) -> float:
        """Time between the first and the last sample, s."""
        return float(self.time[-1] - self.time[0])


#: Presets: plain dicts of :func:`read_imu_csv` keyword arguments.
IMU_PRESETS: dict[str, dict[str, Any]] = {
    "gaitmap": {
        "acc_columns": ("acc_x", "acc_y", "acc_z"),
        "gyro_columns": ("gyr_x", "gyr_y", "gyr_z"),
        "time_column": "index",
        "rate_hz": 204.8,
        "acc_unit": "m/s^2",
        "gyro_unit": "deg/s",
    },
    "xsens_dot": {
        "acc_columns": ("Acc_X", "Acc_Y", "Acc_Z"),
        "gyro_columns": ("Gyr_X", "Gyr_Y", "Gyr_Z"),
        "time_column": "SampleTimeFine",
        "time_unit": "us",
        "acc_unit": "m/s^2",
        "gyro_unit": "deg/s",
        "drop_leading_zeros": True,
    },
    "spsw_har": {
        "acc_columns": ("x_acc", "y_acc", "z_acc"),
        "gyro_columns": ("x_gyro", "y_gyro", "z_gyro"),
        "time_column": "timestamp",
        "time_unit": "ms",
        "acc_unit": "m/s^2",
        "gyro_unit": "rad/s",
        "label_column": "label",
        "duplicate_times": "mean",
    },
}


def _sensor_columns(table: Table, sensor: str | None, columns: Sequence[str]) -> list[str]:
    """Column names of ``columns`` for ``sensor`` (``"{sensor}_{column}"``), or as given."""
    if sensor is None:
        if len(table.groups) > 1 and not all(table.has(c) for c in columns):
            raise ReadError(
                f"{table.source}: the file holds several sensors ({', '.join(table.groups)}); "
                "choose one with sensor="
            )
        if len(table.groups) == 1:
            sensor = table.groups[0]
    if sensor is not None and table.groups and sensor not in table.groups:
        raise ReadError(f"{table.source}: no sensor {sensor!r}; the file has {', '.join(table.groups)}")
    return [f"{sensor}_{c}" if sensor is not None else c for c in columns]


def _merge_duplicates(
    time: NDArray[np.float64],
    values: NDArray[np.float64],
    labels: NDArray[np.str_] | None,
    mode: DuplicateTimes,
    source: str,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.str_] | None]:
    """Resolve runs of equal consecutive timestamps: keep ("error"), first row ("drop"), mean ("mean")."""
    if mode not in ("error", "drop", "mean"):
        raise ReadError(f"{source}: duplicate_times must be 'error', 'drop' or 'mean', got {mode!r}")
    if mode == "error" or time.size < 2:
        return time, values, labels
    starts = np.concatenate([[0], np.flatnonzero(np.diff(time) != 0) + 1])
    if starts.size == time.size:
        return time, values, labels
    if mode == "drop":
        merged = values[starts]
    else:
        merged = np.add.reduceat(values, starts, axis=0) / np.diff(np.append(starts, time.size))[:, None]
    return time[starts], merged, None if labels is None else labels[starts]


def imu_from_table(
    table: Table,
    *,
    source: str,
    acc_columns: Sequence[str],
    gyro_columns: Sequence[str],
    time_column: str | None,
    time_unit: str,
    rate_hz: float | None,
    acc_unit: str,
    gyro_unit: str,
    sensor: str | None,
    label_column: str | None,
    duplicate_times: DuplicateTimes,
    drop_leading_zeros: bool,
) -> RealIMU:
    """Build a :class:`RealIMU` from a table already read; see :func:`read_imu_csv`."""
    src = table.source
    for label, cols in (("acc_columns", acc_columns), ("gyro_columns", gyro_columns)):
        if isinstance(cols, str) or len(cols) != 3:
            raise ReadError(f"{src}: {label} must name 3 columns (x, y, z), got {cols!r}")
    names = _sensor_columns(table, sensor, [*acc_columns, *gyro_columns])
    raw = table.numbers(names)
    time = table_time(table, time_column=time_column, rate_hz=rate_hz, time_unit=time_unit)
    labels = table.text(label_column) if label_column is not None else None
    if drop_leading_zeros:
        nonzero = np.flatnonzero(np.any(raw != 0, axis=1))
        first = int(nonzero[0]) if nonzero.size else raw.shape[0]
        raw, time = raw[first:], time[first:]
        labels = None if labels is None else labels[first:]
    time, raw, labels = _merge_duplicates(time, raw, labels, duplicate_times, src)
    check_time(time, src)
    stem = Path(source).name.split(".")[0]
    return RealIMU(
        time=time,
        acc=si(raw[:, :3], "acc", acc_unit, option="acc_unit", source=src),
        gyro=si(raw[:, 3:], "gyro", gyro_unit, option="gyro_unit", source=src),
        source=source,
        name=sensor if sensor is not None else (table.groups[0] if len(table.groups) == 1 else stem),
        labels=labels,
    )


def read_imu_csv(
    path: str | Path,
    *,
    acc_columns: Sequence[str] = ("acc_x", "acc_y", "acc_z"),
    gyro_columns: Sequence[str] = ("gyro_x", "gyro_y", "gyro_z"),
    time_column: str | None = None,
    time_unit: str = "s",
    rate_hz: float | None = None,
    acc_unit: str = "m/s^2",
    gyro_unit: str = "rad/s",
    sensor: str | None = None,
    label_column: str | None = None,
    duplicate_times: DuplicateTimes = "error",
    drop_leading_zeros: bool = False,
    delimiter: str | None = None,
) -> RealIMU:
    """Read accelerometer and gyroscope columns of a CSV file into a :class:`RealIMU` (SI units).

    Parameters
    ----------
    path : str or Path
        The file (gzip accepted). A pandas two-row header is flattened to ``"{sensor}_{axis}"``.
    acc_columns, gyro_columns : sequence of 3 str
        Columns of the x, y, z accelerometer and gyroscope values (without the sensor prefix).
    time_column : str, optional
        Column of timestamps in ``time_unit``, or of ISO-8601 date-times (seconds since 1970 UTC).
        With ``rate_hz`` too, it holds sample numbers: time = number / ``rate_hz``.
        When both are omitted a column named ``"time"`` is used.
    time_unit : {"s", "ms", "us", "ns"}
        Unit of a numeric time column.
    rate_hz : float, optional
        Sample rate, Hz, for files without timestamps (time = row / ``rate_hz``) or with sample numbers.
    acc_unit : {"m/s^2", "g", "mg"}
        Unit of the accelerometer columns.
    gyro_unit : {"rad/s", "deg/s", "dps"}
        Unit of the gyroscope columns.
    sensor : str, optional
        Sensor to read when the file holds several: the first header row of a two-row header, or a
        column prefix (``"{sensor}_{column}"``) in a one-row header.
    label_column : str, optional
        Column of per-sample activity labels, returned as :attr:`RealIMU.labels`.
    duplicate_times : {"error", "drop", "mean"}
        Rows sharing a timestamp (batched phone sensors): refuse, keep the first, or average them
        (the label of the first is kept).
    drop_leading_zeros : bool
        Drop the rows before the first one whose acc/gyro values are not all exactly 0.
    delimiter : str, optional
        Field separator; detected from the first line when omitted.

    Raises
    ------
    ReadError
        Naming a missing column, a non-numeric cell, an unknown unit, a sensor not in the file,
        fewer than 2 samples, or a time that does not increase.
    """
    return imu_from_table(
        read_table(path, delimiter=delimiter),
        source=str(path),
        acc_columns=acc_columns,
        gyro_columns=gyro_columns,
        time_column=time_column,
        time_unit=time_unit,
        rate_hz=rate_hz,
        acc_unit=acc_unit,
        gyro_unit=gyro_unit,
        sensor=sensor,
        label_column=label_column,
        duplicate_times=duplicate_times,
        drop_leading_zeros=drop_leading_zeros,
    )


def detect_imu_preset(table: Table) -> str | None:
    """The first preset whose accelerometer and gyroscope columns are all in ``table``, or None."""
    for key, preset in IMU_PRESETS.items():
        wanted = [*preset["acc_columns"], *preset["gyro_columns"]]
        prefixes = [f"{g}_" for g in table.groups] or [""]
        if any(all(table.has(p + c) for c in wanted) for p in prefixes):
            return key
    return None


def read_imu(
    path: str | Path,
    *,
    preset: str | None = None,
    sensor: str | None = None,
    acc_columns: Sequence[str] | None = None,
    gyro_columns: Sequence[str] | None = None,
    time_column: str | None = None,
    time_unit: str | None = None,
    rate_hz: float | None = None,
    acc_unit: str | None = None,
    gyro_unit: str | None = None,
    label_column: str | None = None,
    duplicate_times: DuplicateTimes | None = None,
    drop_leading_zeros: bool | None = None,
    delimiter: str | None = None,
) -> RealIMU:
    """Read a real IMU file with a preset's options, overridden by any option given here.

    Parameters
    ----------
    path : str or Path
        The file (gzip accepted).
    preset : {"gaitmap", "xsens_dot", "spsw_har"}, optional
        Options from :data:`IMU_PRESETS`. When omitted and no column option is given, the first
        preset whose columns are all in the file is used; otherwise :func:`read_imu_csv`'s defaults.
    sensor, acc_columns, gyro_columns, time_column, time_unit, rate_hz, acc_unit, gyro_unit,
    label_column, duplicate_times, drop_leading_zeros, delimiter
        As in :func:`read_imu_csv`; a value given here replaces the preset's.

    Raises
    ------
    ReadError
        For an unknown preset (naming the presets), or as :func:`read_imu_csv` does.
    """
    table = read_table(path, delimiter=delimiter)
    if preset is None and acc_columns is None and gyro_columns is None:
        preset = detect_imu_preset(table)
    if preset is not None and preset not in IMU_PRESETS:
        raise ReadError(f"{table.source}: unknown IMU preset {preset!r}; presets: {', '.join(IMU_PRESETS)}")
    options: dict[str, Any] = {
        k: p.default for k, p in inspect.signature(read_imu_csv).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and k not in ("sensor", "delimiter")
    }
    options.update(IMU_PRESETS.get(preset or "", {}))
    given = {
        "acc_columns": acc_columns, "gyro_columns": gyro_columns, "time_column": time_column,
        "time_unit": time_unit, "rate_hz": rate_hz, "acc_unit": acc_unit, "gyro_unit": gyro_unit,
        "label_column": label_column, "duplicate_times": duplicate_times,
        "drop_leading_zeros": drop_leading_zeros,
    }
    options.update({k: v for k, v in given.items() if v is not None})
    return imu_from_table(table, source=str(path), sensor=sensor, **options)
