"""Loading recordings from files (HDF5 clips, real-IMU CSV, sktime .ts) as :class:`ImuSeries`.

Holds :data:`GROUP_BY`, :func:`series_from_signals` (from :class:`imusynth.core.sensors.SensorSignals`),
the :class:`LoadedRecording` record and :func:`load_recordings`. Everything read is converted to SI
(acc m/s^2, gyro rad/s) by the readers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from imusynth.core.conventions import ACC_UNIT, GYRO_UNIT
from imusynth.core.imu_series import CalibrationError, ImuSeries

#: How group keys are made for files that carry none.
GROUP_BY = ("file", "parent")


def series_from_signals(
    sig: Any,
    *,
    label: str | None = None,
    group: str = "",
    name: str = "",
) -> ImuSeries:
    """An :class:`ImuSeries` from a :class:`~imusynth.core.sensors.SensorSignals` (label per sample)."""
    n = np.asarray(sig.time).shape[0]
    labels = None if label is None else np.full(n, label)
    return ImuSeries(sig.time, sig.acc, sig.gyro, sig.valid, labels, group, name)


@dataclass(frozen=True)
class LoadedRecording:
    """One recording read from a file: its series per placement, and where it came from.

    Attributes
    ----------
    name : str
        Clip id, or file name (with the case number for ``.ts``).
    series : dict of str to ImuSeries
        Per placement (real files: one entry named after the sensor).
    source : str
        The file path.
    kind : {"clip", "real"}
        An ``imusynth/1`` clip or a real-IMU file.
    """

    name: str
    series: dict[str, ImuSeries]
    source: str
    kind: str


def load_recordings(
    paths: Sequence[str | os.PathLike[str]],
    *,
    placements: Sequence[str] | None = None,
    preset: str | None = None,
    sensor: str | None = None,
    rate_hz: float | None = None,
    acc_unit: str | None = None,
    gyro_unit: str | None = None,
    label: str | None = None,
    group_by: str = "file",
) -> list[LoadedRecording]:
    """Read recordings from ``imusynth/1`` HDF5 files, real-IMU CSV files or sktime ``.ts`` files.

    Parameters
    ----------
    paths : sequence of path
        Files; the format is chosen by extension (``.h5``/``.hdf5``: clips; ``.ts``: sktime; anything else:
        a delimited text file read by :func:`imusynth.io.readers.read_imu`).
    placements : sequence of str, optional
        HDF5: the sensors to keep (default all; a clip lacking one is an error). Text files: the
        placement name given to the file's single sensor (default ``sensor`` or ``"imu"``).
    preset, sensor, rate_hz, acc_unit, gyro_unit
        Options of :func:`imusynth.io.readers.read_imu` for text files (``rate_hz``, ``acc_unit``,
        ``gyro_unit`` also for ``.ts``: the format stores no rate and no units; SI assumed when omitted).
    label : str, optional
        Label for every sample of files without per-sample labels (overrides clip labels too).
    group_by : {"file", "parent"}
        Group key of text files: the file's stem, or its parent folder's name (e.g. a subject folder).
        HDF5 clips use their ``group`` attribute (else the clip id); ``.ts`` cases are their own group.
    """
    if group_by not in GROUP_BY:
        raise CalibrationError(f"unknown group_by {group_by!r}; allowed: {', '.join(GROUP_BY)}")
    out: list[LoadedRecording] = []
    for raw in paths:
        p = Path(raw)
        if not p.is_file():
            raise CalibrationError(f"{p}: no such file")
        suffix = p.suffix.lower()
        if suffix in (".h5", ".hdf5"):
            out += _load_clips(p, placements=placements, label=label)
        elif suffix == ".ts":
            from imusynth.io.readers.ts import read_ts, ts_to_series

            if rate_hz is None:
                raise CalibrationError(f"{p}: .ts files store no sample rate; give it (--source-rate)")
            ds = read_ts(p)
            names = placements or [sensor or "imu"]
            for s in ts_to_series(
                ds, rate_hz=rate_hz, acc_unit=acc_unit or ACC_UNIT, gyro_unit=gyro_unit or GYRO_UNIT
            ):
                if label is not None:
                    s = replace(s, labels=np.full(s.n, label))
                out.append(LoadedRecording(s.name, {names[0]: s}, str(p), "real"))
        else:
            from imusynth.io.readers import read_imu

            imu = read_imu(
                p, preset=preset, sensor=sensor, rate_hz=rate_hz, acc_unit=acc_unit, gyro_unit=gyro_unit
            )
            group = p.parent.name if group_by == "parent" else p.name.split(".")[0]
            labels = imu.labels if label is None else np.full(imu.n_samples, label)
            name = p.name.split(".")[0]
            ok = np.ones(imu.n_samples, dtype=bool)
            s = ImuSeries(imu.time, imu.acc, imu.gyro, ok, labels, group, name)
            names = placements or [sensor or "imu"]
            out.append(LoadedRecording(name, {names[0]: s}, str(p), "real"))
    if not out:
        raise CalibrationError("no recordings were read")
    return out


def _load_clips(path: Path, *, placements: Sequence[str] | None, label: str | None) -> list[LoadedRecording]:
    from imusynth.io.hdf5 import read_clips

    out = []
    for clip in read_clips(path, with_motion=False):
        wanted = list(placements) if placements else list(clip.sensors)
        missing = [w for w in wanted if w not in clip.sensors]
        if missing:
            raise CalibrationError(
                f"{path}: clip {clip.clip_id} has no sensor {missing[0]!r}; it has {', '.join(clip.sensors)}"
            )
        lab = label if label is not None else clip.label
        group = clip.group or clip.clip_id
        series = {
            w: series_from_signals(clip.sensors[w], label=lab, group=group, name=clip.clip_id) for w in wanted
        }
        out.append(LoadedRecording(clip.clip_id, series, str(path), "clip"))
    return out
