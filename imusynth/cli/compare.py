"""``imusynth compare``: a virtual sensor of an imusynth/1 file against a real IMU recording.

:func:`compare_files` reads both files and calls :func:`imusynth.compare.compare_signals`;
:func:`compare_cmd` is the typer command around it (registered as ``compare`` in :mod:`imusynth.cli.main`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from imusynth.cli._flags import flag_names
from imusynth.compare import CompareError, CompareResult, compare_signals

_opt = typer.Option

#: What the real-file reader calls its options, and the flags of ``imusynth compare`` that set them.
READ_FLAGS = {"sensor=": "--real-sensor", "time_column": "--time-column", "rate_hz": "--real-rate",
              "acc_unit": "--acc-unit", "gyro_unit": "--gyro-unit", "time_unit": "--time-unit",
              "acc_columns": "--acc-columns", "gyro_columns": "--gyro-columns",
              "label_column": "--label-column"}
#: What :func:`imusynth.compare.compare_signals` calls its parameters, and the flags that set them.
COMPARE_FLAGS = {"max_lag_s": "--max-lag", "the offset guess": "--offset-guess", "cutoff_hz": "--cutoff",
                 "rate_hz": "--rate", "refine_lag_s": "--refine-lag", "min_overlap_s": "--min-overlap",
                 "refine_iterations": "--refine-iterations"}


def parse_columns(text: str | None, flag: str) -> tuple[str, ...] | None:
    """``"ax,ay,az"`` -> ``("ax", "ay", "az")``: the x, y, z columns of a real IMU file (None: not given)."""
    if text is None:
        return None
    cols = tuple(c.strip() for c in text.split(","))
    if len(cols) != 3 or not all(cols):
        raise CompareError(f"{flag} must name 3 columns (x, y, z) separated by commas, got {text!r}")
    return cols


def parse_rotation(text: str | None) -> np.ndarray | None:
    """``--rotation``: ``identity`` or a quaternion ``w,x,y,z`` (virtual -> real frame); None if not given."""
    if text is None:
        return None
    if text.strip().lower() == "identity":
        return np.array([1.0, 0.0, 0.0, 0.0])
    try:
        q = np.array([float(v) for v in text.split(",")])
    except ValueError:
        q = np.zeros(0)
    if q.shape != (4,):
        raise CompareError(f"--rotation must be 'identity' or a quaternion w,x,y,z, got {text!r}")
    return q


def compare_files(
    virtual_path: str | Path,
    real_path: str | Path,
    *,
    placement: str,
    clip_id: str | None = None,
    real_preset: str | None = None,
    real_sensor: str | None = None,
    acc_unit: str | None = None,
    gyro_unit: str | None = None,
    time_column: str | None = None,
    time_unit: str | None = None,
    acc_columns: tuple[str, ...] | None = None,
    gyro_columns: tuple[str, ...] | None = None,
    label_column: str | None = None,
    real_rate_hz: float | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    cutoff_hz: float | None = None,
    rate_hz: float | None = None,
    max_lag_s: float = 10.0,
    offset_guess_s: float = 0.0,
    estimate_rotation: bool = True,
    lever_arm: bool = False,
    rotation: np.ndarray | None = None,
    refine_lag_s: float = 0.5,
    min_overlap_s: float = 2.0,
    refine_iterations: int = 1,
) -> CompareResult:
    """Compare one virtual sensor of an ``imusynth/1`` file with a real IMU file.

    Parameters
    ----------
    virtual_path : str or Path
        The ``imusynth/1`` HDF5 file.
    real_path : str or Path
        The real IMU file, read by :func:`imusynth.io.readers.imu.read_imu`.
    placement : str
        Name of the virtual sensor (placement) in the clip.
    clip_id : str, optional
        Clip to use; may be omitted when the file holds a single clip.
    real_preset, real_sensor, acc_unit, gyro_unit, time_column, time_unit, label_column : str, optional
        Passed to :func:`~imusynth.io.readers.imu.read_imu` (``preset``, ``sensor``, ...): any CSV is
        read with its columns and units given (units converted to SI by :mod:`imusynth.core.conventions`).
    acc_columns, gyro_columns : tuple of 3 str, optional
        The x, y, z columns of the real file (:func:`parse_columns`).
    real_rate_hz : float, optional
        Sample rate of the real file, Hz (``rate_hz`` of :func:`~imusynth.io.readers.imu.read_imu`), for a
        file without a time column.
    start_s, end_s : float, optional
        Keep only virtual samples with ``start_s <= t <= end_s`` (virtual clock, s).
    cutoff_hz : float, optional
        Cap on the comparison band, Hz. Default: the virtual sensor's own smoothing cut-off stored in the
        file (``SensorSignals.cutoff_hz``), since above it the virtual signal has no content to compare;
        :func:`~imusynth.compare.default_cutoff_hz` bounds it by ``0.8 x`` the lowest Nyquist frequency.
    rate_hz, max_lag_s, offset_guess_s, estimate_rotation, lever_arm, rotation, refine_lag_s,
    min_overlap_s, refine_iterations
        As in :func:`~imusynth.compare.compare_signals`.

    Returns
    -------
    CompareResult

    Raises
    ------
    InputError
        Unknown clip or placement, unreadable files, or any error of the comparison itself; messages name
        the command-line flags (:data:`READ_FLAGS`, :data:`COMPARE_FLAGS`).
    """
    from imusynth.io.hdf5 import read_clips
    from imusynth.io.readers.imu import read_imu

    clips = read_clips(virtual_path, with_motion=False)
    ids = [c.clip_id for c in clips]
    if clip_id is None:
        if len(clips) != 1:
            raise CompareError(
                f"{virtual_path} holds {len(clips)} clips ({', '.join(ids)}); choose one with --clip"
            )
        clip = clips[0]
    elif clip_id in ids:
        clip = clips[ids.index(clip_id)]
    else:
        raise CompareError(f"{virtual_path} has no clip {clip_id!r}; clips: {', '.join(ids)}")
    if placement not in clip.sensors:
        raise CompareError(
            f"clip {clip.clip_id!r} has no sensor {placement!r}; sensors: {', '.join(clip.sensors)}"
        )
    sensor = clip.sensors[placement]
    keep = np.ones(sensor.time.shape, dtype=bool)
    if start_s is not None:
        keep &= sensor.time >= start_s
    if end_s is not None:
        keep &= sensor.time <= end_s
    if keep.sum() < 2:
        raise CompareError(
            f"no virtual samples between --start {start_s} and --end {end_s} s "
            f"(the sensor spans {sensor.time[0]:.3f}..{sensor.time[-1]:.3f} s)"
        )
    if cutoff_hz is None and np.isfinite(sensor.cutoff_hz) and sensor.cutoff_hz > 0:
        cutoff_hz = float(sensor.cutoff_hz)
    with flag_names(READ_FLAGS):
        real = read_imu(real_path, preset=real_preset, sensor=real_sensor, acc_unit=acc_unit,
                        gyro_unit=gyro_unit, time_column=time_column, time_unit=time_unit,
                        acc_columns=acc_columns, gyro_columns=gyro_columns, label_column=label_column,
                        rate_hz=real_rate_hz)
    with flag_names(COMPARE_FLAGS):
        result = compare_signals(
            sensor.time[keep], sensor.acc[keep], sensor.gyro[keep], sensor.valid[keep],
            real.time, real.acc, real.gyro,
            cutoff_hz=cutoff_hz, rate_hz=rate_hz, max_lag_s=max_lag_s, offset_guess_s=offset_guess_s,
            estimate_rotation=estimate_rotation, lever_arm=lever_arm, rotation=rotation,
            refine_lag_s=refine_lag_s, min_overlap_s=min_overlap_s, refine_iterations=refine_iterations,
        )
    if real.labels is None:
        return result
    t0, t1 = sensor.time[keep][[0, -1]] + result.offset_s
    names, counts = np.unique(real.labels[(real.time >= t0) & (real.time <= t1)], return_counts=True)
    labels = {str(k): int(n) for k, n in zip(names, counts, strict=True)}
    return dataclasses.replace(result, real_labels=labels)


def compare_cmd(
    virtual: Annotated[Path | None, typer.Argument(help="imusynth/1 HDF5 file with the virtual sensor.",
                                                   show_default=False)] = None,
    real: Annotated[Path | None, typer.Argument(help="Real IMU recording (CSV, gzip accepted).",
                                                show_default=False)] = None,
    *,
    placement: Annotated[str, _opt("--placement", "-p", help="Virtual sensor (placement) to compare.")],
    pairs: Annotated[Path | None, _opt("--pairs", help="Many comparisons in one process: a CSV with columns "
                                       "virtual, real and optionally clip (paths relative to it), instead of "
                                       "VIRTUAL REAL.")] = None,
    clip: Annotated[str | None, _opt("--clip", help="Clip ID (needed when the file has several).")] = None,
    as_json: Annotated[bool, _opt("--json", metavar="",
                                  help="Print the result as JSON instead of a table.")] = False,
    real_preset: Annotated[str | None, _opt("--real-preset", help="gaitmap | xsens_dot | spsw_har.")] = None,
    real_sensor: Annotated[str | None, _opt("--real-sensor", help="Sensor in a multi-sensor file.")] = None,
    acc_unit: Annotated[str | None, _opt("--acc-unit", help="Real acc unit: m/s^2 | g | mg.")] = None,
    gyro_unit: Annotated[str | None, _opt("--gyro-unit", help="Real gyro unit: rad/s | deg/s.")] = None,
    time_column: Annotated[str | None, _opt("--time-column", help="Real time column.")] = None,
    time_unit: Annotated[str | None, _opt("--time-unit", help="Real time unit: s | ms | us | ns.")] = None,
    acc_columns: Annotated[str | None, _opt("--acc-columns", metavar="X,Y,Z",
                                            help="Real accelerometer columns, e.g. ax,ay,az.")] = None,
    gyro_columns: Annotated[str | None, _opt("--gyro-columns", metavar="X,Y,Z",
                                             help="Real gyroscope columns, e.g. gx,gy,gz.")] = None,
    label_column: Annotated[str | None, _opt("--label-column", help="Real per-sample label column "
                                             "(the labels in the aligned span are listed).")] = None,
    real_rate: Annotated[float | None, _opt("--real-rate", help="Real sample rate, Hz (file without time).")
                         ] = None,
    max_lag: Annotated[float, _opt("--max-lag", help="Offset search half-width, s.")] = 10.0,
    offset_guess: Annotated[float, _opt("--offset-guess", help="Search centre: real - virtual, s")] = 0.0,
    refine_lag: Annotated[float, _opt("--refine-lag", help="Half-width of the per-axis refinement of the "
                                      "offset around the first estimate, s.")] = 0.5,
    refine_iterations: Annotated[int, _opt("--refine-iterations", help="Rounds of per-axis refinement "
                                           "(0: keep the first, rotation-free estimate).")] = 1,
    min_overlap: Annotated[float, _opt(
        "--min-overlap", help="Least overlap of the two recordings at a scored lag and after alignment, s "
        "(lower it for short trials).")] = 2.0,
    lever_arm: Annotated[bool, _opt("--lever-arm", metavar="", help="Also fit the sensor's lever arm.")
                         ] = False,
    no_rotation: Annotated[bool, _opt("--no-rotation", metavar="",
                                      help="Take the two sensor frames as equal.")] = False,
    rotation: Annotated[str | None, _opt("--rotation", metavar="FIXED", help="Score with this mounting "
                                         "instead of fitting one: identity, or a quaternion w,x,y,z "
                                         "(virtual -> real sensor frame).")] = None,
    cutoff: Annotated[float | None, _opt("--cutoff", help="Band cap, Hz (default: the virtual's).")] = None,
    rate: Annotated[float | None, _opt("--rate", help="Common rate, Hz (default: the virtual rate).")] = None,
    start: Annotated[float | None, _opt("--start", help="First virtual time used, s.")] = None,
    end: Annotated[float | None, _opt("--end", help="Last virtual time used, s.")] = None,
) -> None:
    """Align a virtual sensor with a real IMU recording (time offset, rotation) and print per-axis metrics.

    Example: imusynth compare walk.h5 imu.csv -p left_foot --real-preset gaitmap --real-sensor left_sensor

    A dataset: imusynth compare --pairs pairs.csv -p left_wrist --json (one result per row; a failing pair is
    reported on one line and the others are kept, exit status 1).
    """
    if rotation is not None and no_rotation:
        raise CompareError("give --rotation or --no-rotation, not both (--no-rotation means --rotation "
                           "identity)")
    if (pairs is None) == (virtual is None or real is None) or (pairs is not None and virtual is not None):
        raise CompareError("give VIRTUAL REAL, or --pairs FILE.csv (columns virtual, real, clip)")
    opts = dict(
        placement=placement, real_preset=real_preset, real_sensor=real_sensor,
        acc_unit=acc_unit, gyro_unit=gyro_unit, time_column=time_column, time_unit=time_unit,
        acc_columns=parse_columns(acc_columns, "--acc-columns"),
        gyro_columns=parse_columns(gyro_columns, "--gyro-columns"), label_column=label_column,
        real_rate_hz=real_rate, start_s=start, end_s=end,
        cutoff_hz=cutoff, rate_hz=rate, max_lag_s=max_lag, offset_guess_s=offset_guess,
        estimate_rotation=not no_rotation, lever_arm=lever_arm, rotation=parse_rotation(rotation),
        refine_lag_s=refine_lag, min_overlap_s=min_overlap, refine_iterations=refine_iterations,
    )
    if pairs is not None:
        rc = compare_pairs(pairs, placement=placement, as_json=as_json, opts=opts)
        if rc:
            raise typer.Exit(rc)
        return
    assert virtual is not None and real is not None
    result = compare_files(virtual, real, clip_id=clip, **opts)  # type: ignore[arg-type]
    if as_json:
        doc = {"virtual": str(virtual), "clip": clip, "placement": placement, "real": str(real),
               **result.to_dict()}
        typer.echo(json.dumps(doc, indent=2, allow_nan=False))
    else:
        typer.echo(f"{virtual} [{placement}] vs {real}")
        typer.echo(result.to_table())


def compare_pairs(pairs: Path, *, placement: str, as_json: bool, opts: dict[str, Any]) -> int:
    """``compare --pairs``: every row of a CSV (virtual, real[, clip]) in one process; exit status."""
    import csv

    from imusynth.cli._many import print_failure, summary
    from imusynth.io.inputs import Failure, InputItem, RunLog, each_input

    with open(pairs, newline="", encoding="utf-8-sig") as fh:
        rows = [{(k or "").strip().lower(): (v or "").strip() for k, v in r.items()}
                for r in csv.DictReader(fh)]
    if not rows or not {"virtual", "real"} <= set(rows[0]):
        raise CompareError(f"--pairs {pairs}: needs a header with columns virtual, real (optionally clip)")
    base = pairs.parent
    todo = [(base / r["virtual"], base / r["real"], r.get("clip") or None) for r in rows]
    items = [InputItem(v) for v, _, _ in todo]
    pair_of = {id(it): t for it, t in zip(items, todo, strict=True)}
    docs = []
    current: list[str] = [""]

    def work(it: InputItem) -> None:
        v, r, c = pair_of[id(it)]
        current[0] = f"{v}{f' [{c}]' if c else ''} vs {r}"
        result = compare_files(v, r, clip_id=c, **opts)
        doc = {"virtual": str(v), "clip": c, "placement": placement, "real": str(r), **result.to_dict()}
        docs.append(doc)
        if not as_json:
            typer.echo(f"{v} [{placement}] vs {r}")
            typer.echo(result.to_table())

    def failed(f: Failure) -> None:
        print_failure(Failure(current[0], f.reason))

    log = RunLog()
    for _ in each_input(items, work, log=log, desc="compare", on_failure=failed):
        pass
    if as_json:
        typer.echo(json.dumps(docs, indent=2, allow_nan=False))
    return summary(log, "compare", [])
