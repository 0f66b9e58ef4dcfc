"""``imusynth export`` and ``imusynth har-eval``: windowed HAR datasets and the IMUTube-style evaluation.

:func:`windows_from_files` and :func:`har_eval_files` hold the file handling; :func:`export_cmd` and
:func:`har_eval_cmd` are the typer commands around them (registered in :mod:`imusynth.cli.main`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from imusynth.calibrate import load_recordings
from imusynth.cli._flags import flag_names
from imusynth.cli._many import (
    INPUTS_HELP,
    OutDirOpt,
    check_out_dir,
    check_output,
    choose_output,
    print_failure,
    summary,
)
from imusynth.cli._paths import ForceOpt, check_outputs
from imusynth.har import (
    PROTOCOLS,
    HarError,
    HarReport,
    WindowSet,
    check_output_units,
    concat_windows,
    convert_units,
    evaluate,
    is_windows_file,
    load_windows,
    make_windows,
    save_windows,
    stack_placements,
)
from imusynth.har.augmented import AUGMENTED, base_names, sample_variants, variant_sets
from imusynth.har.gravity_frame import FRAMES, GRAVITY_CHANNELS, to_gravity_frame
from imusynth.har.roles import parse_roles, role_series
from imusynth.har.windows import brief_list

_opt = typer.Option

#: What :func:`imusynth.calibrate.load_recordings` and the readers call their options, and the flags of
#: ``export`` / ``har-eval`` that set them (these commands have no time-column flag: --source-rate it is).
READ_FLAGS = {
    "give time_column (the name of the time column) or rate_hz": "give --source-rate (the file has no time "
                                                                 "column)",
    "sensor=": "--sensor", "rate_hz": "--source-rate", "acc_unit": "--acc-unit", "gyro_unit": "--gyro-unit",
    "group_by": "--group-by",
}
#: The same for resampling and windowing.
WINDOW_FLAGS = {"rate_hz": "--rate", "overlap must": "--overlap must", "window must": "--window must"}


class NoLabelError(HarError):
    """Every recording read from the inputs is unlabelled, so no window can be cut.

    Attributes
    ----------
    files : list of str
        The unlabelled input files.
    """

    def __init__(self, files: Sequence[str]) -> None:
        self.files = list(files)
        one = len(self.files) == 1
        super().__init__(f"no label: give --label ({brief_list(self.files)} {'has' if one else 'have'} "
                         "no activity labels)")


def windows_from_files(
    paths: Sequence[Path],
    *,
    window_s: float = 2.56,
    overlap: float = 0.5,
    rate_hz: float = 50.0,
    placements: Sequence[str] | None = None,
    preset: str | None = None,
    sensor: str | None = None,
    source_rate_hz: float | None = None,
    acc_unit: str | None = None,
    gyro_unit: str | None = None,
    label: str | None = None,
    group_by: str = "file",
    augmented: str = "stack",
    frame: str = "sensor",
    seed: int = 0,
    roles: Mapping[str, Sequence[str]] | None = None,
) -> WindowSet:
    """Windows from ``imusynth/1`` files, real-IMU CSV files, ``.ts`` files or windows files.

    Windows files are loaded as they are (and must match the others' shape); every other file is read
    with :func:`imusynth.calibrate.load_recordings` and cut by :func:`imusynth.har.make_windows`.
    Error messages name the command-line flags (:data:`READ_FLAGS`, :data:`WINDOW_FLAGS`).

    Parameters
    ----------
    paths : sequence of Path
        Input files.
    window_s, overlap, rate_hz
        Window length (s), overlap fraction in [0, 1), and rate (Hz) of the windows.
    placements : sequence of str, optional
        ``imusynth/1`` sensors stacked as channels, in this order (default: every sensor of the first
        clip, sorted by name; every clip must have them).
    preset, sensor, source_rate_hz, acc_unit, gyro_unit, label, group_by
        How real files are read (see :func:`imusynth.calibrate.load_recordings`).
    augmented : {"stack", "sample", "none"}
        What to do with augmentation variants (``wrist~aug1`` ...; :mod:`imusynth.har.augmented`).
    frame : {"sensor", "gravity"}
        ``gravity``: per placement acc_vert, acc_horiz, acc_norm, gyro_vert, gyro_horiz, gyro_norm
        (:mod:`imusynth.har.gravity_frame`), computed per recording before windowing.
    seed : int
        Seed of ``augmented="sample"``.
    roles : mapping of str to sequence of str, optional
        Sensors stacked by role (``--as wrist=right_wrist,left_wrist``): channel ``wrist.*`` is each clip's
        first sensor of the list that it has (:func:`role_series`), so that clips whose sensors have
        different names make one set. Replaces ``placements``; a real file's sensor is the first role.

    Raises
    ------
    NoLabelError
        When no sample of the files other than windows files has a label and ``label`` is not given.
    HarError
        Mismatched sensors or windows.
    """
    if augmented not in AUGMENTED:
        raise HarError(f"--augmented must be one of {', '.join(AUGMENTED)}, got {augmented!r}")
    if frame not in FRAMES:
        raise HarError(f"--frame must be one of {', '.join(FRAMES)}, got {frame!r}")
    if roles and placements:
        raise HarError("give --placement or --as, not both (--as names the channels)")
    if roles:
        placements = list(roles)
    sets: list[WindowSet] = []
    others: list[Path] = []
    for p in paths:
        if p.suffix.lower() in (".h5", ".hdf5") and is_windows_file(p):
            ws = load_windows(p)
            gravity = all(c.rsplit(".", 1)[-1] in GRAVITY_CHANNELS for c in ws.channels)
            if gravity != (frame == "gravity"):
                raise HarError(f"{p} holds {'gravity' if gravity else 'sensor'}-frame windows; --frame is "
                               f"{frame!r}: export the windows again with --frame {frame}")
            sets.append(ws)
        else:
            others.append(p)
    if others:
        # clips are read with every sensor when variants are wanted (they are picked below)
        h5 = [p for p in others if p.suffix.lower() in (".h5", ".hdf5")] if (
            placements and augmented != "none") or roles else []
        recs = []
        for part, wanted in ((h5, None), ([p for p in others if p not in h5], placements)):
            if not part:
                continue
            with flag_names(READ_FLAGS):
                recs += load_recordings(
                    part,
                    placements=wanted,
                    preset=preset,
                    sensor=sensor,
                    rate_hz=source_rate_hz,
                    acc_unit=acc_unit,
                    gyro_unit=gyro_unit,
                    label=label,
                    group_by=group_by,
                )
        if roles:
            recs = [replace(r, series=role_series(r.series, roles, where=f"{r.source}: recording {r.name}"))
                    if r.kind == "clip" else r for r in recs]
        names = list(placements) if placements else base_names(sorted(recs[0].series))
        stacked = []
        for r in recs:
            have = sorted(r.series) if r.kind != "clip" else base_names(sorted(r.series))
            if (placements and not set(names) <= set(r.series)) or (not placements and have != sorted(names)):
                raise HarError(
                    f"{r.source}: recording {r.name} has sensors {have}, the first "
                    f"had {names}; choose with --placement"
                )
            for k, series in variant_sets(r.series, names, augmented):
                with flag_names(WINDOW_FLAGS):
                    rec = stack_placements([series[n] for n in names], names, rate_hz=rate_hz)
                if k:
                    rec = replace(rec, name=f"{rec.name}~aug{k}")
                if frame == "gravity":
                    data, channels = to_gravity_frame(rec.data, rec.valid, rec.channels, rate_hz=rate_hz)
                    rec = replace(rec, data=data, channels=channels)
                stacked.append(rec)
        if not any(bool(np.any(r.labels != "")) for r in stacked):
            raise NoLabelError(list(dict.fromkeys(str(p) for p in others)))
        source = "; ".join(dict.fromkeys(str(p) for p in others))
        with flag_names(WINDOW_FLAGS):
            ws = make_windows(stacked, window_s=window_s, overlap=overlap, rate_hz=rate_hz, source=source)
        sets.append(sample_variants(ws, seed=seed) if augmented == "sample" else ws)
    if not sets:
        raise HarError("no input files")
    return sets[0] if len(sets) == 1 else concat_windows(sets)


def har_eval_files(
    test: Sequence[Path],
    *,
    train: Sequence[Path] = (),
    train_real: Sequence[Path] = (),
    protocols: Sequence[str] = PROTOCOLS,
    n_folds: int = 5,
    seed: int = 0,
    n_estimators: int = 300,
    window_s: float = 2.56,
    overlap: float = 0.5,
    rate_hz: float = 50.0,
    placements: Sequence[str] | None = None,
    preset: str | None = None,
    sensor: str | None = None,
    source_rate_hz: float | None = None,
    acc_unit: str | None = None,
    gyro_unit: str | None = None,
    group_by: str = "file",
    augmented: str = "stack",
    frame: str = "sensor",
    classifier: str = "rf",
    cnn_epochs: int = 40,
    classes: Sequence[str] | None = None,
) -> HarReport:
    """Run :func:`imusynth.har.evaluate` on windows made from files (see :func:`windows_from_files`)."""

    def load(paths: Sequence[Path]) -> WindowSet:
        try:
            return _load(paths)
        except NoLabelError as exc:
            have = "has" if len(exc.files) == 1 else "have"
            raise HarError(f"no label: {brief_list(exc.files)} {have} no activity labels; label them with "
                           "imusynth export --label, then evaluate the windows file") from None

    def _load(paths: Sequence[Path]) -> WindowSet:
        return windows_from_files(
            paths,
            window_s=window_s,
            overlap=overlap,
            rate_hz=rate_hz,
            placements=placements,
            preset=preset,
            sensor=sensor,
            source_rate_hz=source_rate_hz,
            acc_unit=acc_unit,
            gyro_unit=gyro_unit,
            group_by=group_by,
            augmented=augmented,
            frame=frame,
            seed=seed,
        )

    test_ws = load(test)
    virtual = load(train) if train else None
    real = load(train_real) if train_real else None
    return evaluate(
        test_ws,
        virtual=virtual,
        train_real=real,
        protocols=protocols,
        n_folds=n_folds,
        seed=seed,
        n_estimators=n_estimators,
        classifier=classifier,
        cnn_epochs=cnn_epochs,
        classes=classes,
    )


_H = {
    "window": "Window length, s.",
    "overlap": "Overlap between consecutive windows, fraction in [0, 1).",
    "rate": "Rate of the windows, Hz (inputs are resampled, anti-aliased).",
    "placement": "Sensor stacked as channels (repeatable; default: every sensor of the clip).",
    "preset": "Real CSV layout: gaitmap | xsens_dot | spsw_har (default: detected).",
    "sensor": "Sensor in a multi-sensor real CSV file.",
    "source_rate": "Sample rate of real files, Hz (required for .ts; CSV without time column).",
    "acc_unit": "Real acc unit: m/s^2 | g | mg (default m/s^2).",
    "out_acc_unit": "Unit of the exported accelerometer channels: m/s^2 | g | mg.",
    "out_gyro_unit": "Unit of the exported gyroscope channels: rad/s | deg/s.",
    "ios_sign": "Export the accelerometer in the iOS (Core Motion) sign: -1 g on the up axis at rest "
                "(default: specific force, +1 g up at rest, as Android and most IMUs).",
    "gyro_unit": "Real gyro unit: rad/s | deg/s (default rad/s).",
    "label": "Label for every sample of files without labels.",
    "group_by": "Group key of real CSV files: file (its stem) | parent (its folder, e.g. a subject).",
    "train": "Virtual training data: imusynth/1 or windows file (repeatable).",
    "train_real": "Real training data (repeatable); without it the test set is split group-wise.",
    "test": "Real test data: windows file, imusynth/1, CSV or .ts (repeatable).",
    "protocol": "Comma-separated protocols: r2r, v2r, mix2r.",
    "folds": "Group-wise folds when there is no --train-real.",
    "seed": "Seed of the folds and the classifiers.",
    "classifier": "rf (random forest on window features) | cnn (1-D CNN, torch, CPU) | both.",
    "classes": "Comma-separated classes to keep in every set (e.g. those the virtual data has; default all).",
    "cnn_epochs": "Most epochs of the CNN (early stopping on held-out training groups may stop it sooner).",
    "trees": "Trees in the random forest.",
    "json": "Write the report as JSON here.",
    "augmented": "Augmentation variants (wrist~aug1 ...): stack (extra windows) | sample (one per window) | "
                 "none (base sensors only).",
    "frame": "sensor (acc, gyro x y z) | gravity (per sensor: acc_vert, acc_horiz, acc_norm, gyro_vert, "
             "gyro_horiz, gyro_norm; gravity estimated from the signals, heading and mounting free).",
    "export_seed": "Seed of --augmented sample.",
    "as": "Stack sensors by role, ROLE=SENSOR[,SENSOR...] (repeatable): channels ROLE.* are each clip's "
          "first listed sensor it has, e.g. --as wrist=left_wrist,right_wrist (clips naming sensors "
          "differently make one set). Replaces --placement.",
}


def export_cmd(
    inputs: Annotated[list[Path], typer.Argument(
        help="imusynth/1 files, real CSV files or .ts files" + INPUTS_HELP + ".", show_default=False,
        metavar="INPUT")],
    output: Annotated[Path | None, _opt("--output", "-o", help="Windows HDF5 file to write.")] = None,
    out_dir: OutDirOpt = None,
    window: Annotated[float, _opt("--window", help=_H["window"])] = 2.56,
    overlap: Annotated[float, _opt("--overlap", help=_H["overlap"])] = 0.5,
    rate: Annotated[float, _opt("--rate", help=_H["rate"])] = 50.0,
    placement: Annotated[list[str] | None, _opt("--placement", "-p", help=_H["placement"])] = None,
    as_: Annotated[list[str] | None, _opt("--as", help=_H["as"])] = None,
    preset: Annotated[str | None, _opt("--preset", help=_H["preset"])] = None,
    sensor: Annotated[str | None, _opt("--sensor", help=_H["sensor"])] = None,
    source_rate: Annotated[float | None, _opt("--source-rate", help=_H["source_rate"])] = None,
    acc_unit: Annotated[str | None, _opt("--acc-unit", help=_H["acc_unit"])] = None,
    gyro_unit: Annotated[str | None, _opt("--gyro-unit", help=_H["gyro_unit"])] = None,
    label: Annotated[str | None, _opt("--label", help=_H["label"])] = None,
    group_by: Annotated[str, _opt("--group-by", help=_H["group_by"])] = "file",
    out_acc_unit: Annotated[str, _opt("--out-acc-unit", help=_H["out_acc_unit"])] = "m/s^2",
    out_gyro_unit: Annotated[str, _opt("--out-gyro-unit", help=_H["out_gyro_unit"])] = "rad/s",
    ios_sign: Annotated[bool, _opt("--ios-sign", help=_H["ios_sign"])] = False,
    augmented: Annotated[str, _opt("--augmented", help=_H["augmented"])] = "stack",
    frame: Annotated[str, _opt("--frame", help=_H["frame"])] = "sensor",
    seed: Annotated[int, _opt("--seed", help=_H["export_seed"])] = 0,
    force: ForceOpt = False,
) -> None:
    """Cut labelled fixed-length windows: X (n, T, C) float32, y, class names, group keys.

    Windows never cross a clip, an invalid gap or a label change. Channels are SI (acc m/s^2 specific
    force, gravity included; gyro rad/s) unless --out-acc-unit, --out-gyro-unit or --ios-sign ask otherwise.
    Example: imusynth export data.h5 --window 2.56 --overlap 0.5 --rate 50 -p left_wrist -o windows.h5
    Phone-style: imusynth export data.h5 -p thigh --out-acc-unit g --out-gyro-unit deg/s --ios-sign -o w.h5
    A whole dataset: imusynth export trials/ --as wrist=left_wrist,right_wrist -o windows.h5 (a failing input
    is reported on one line and the rest kept, exit status 1).
    """
    from imusynth.io.inputs import expand_inputs

    ins = expand_inputs(inputs, suffixes=(".h5", ".hdf5", ".csv", ".ts"), what="input file")
    choose_output(output, out_dir)
    check_output_units(acc_unit=out_acc_unit, gyro_unit=out_gyro_unit)
    if ios_sign and frame == "gravity":
        raise HarError("--ios-sign applies to sensor-frame acc; with --frame gravity acc_vert is already "
                       "+1 g up at rest and the norms have no sign")
    roles = parse_roles(as_) if as_ else None
    units = {"acc_unit": out_acc_unit, "gyro_unit": out_gyro_unit, "ios_sign": ios_sign}
    if ins.many or out_dir is not None:
        rc = _export_dataset(ins.items, output, out_dir, force=force, units=units, label=label,
                             window_s=window, overlap=overlap, rate_hz=rate, placements=placement,
                             preset=preset, sensor=sensor, source_rate_hz=source_rate, acc_unit=acc_unit,
                             gyro_unit=gyro_unit, group_by=group_by, augmented=augmented, frame=frame,
                             seed=seed, roles=roles)
        if rc:
            raise typer.Exit(rc)
        return
    assert output is not None
    inputs = [ins.items[0].path]
    check_outputs({"--output": output}, inputs, force=force)
    ws = windows_from_files(
        inputs,
        roles=roles,
        window_s=window,
        overlap=overlap,
        rate_hz=rate,
        placements=placement,
        preset=preset,
        sensor=sensor,
        source_rate_hz=source_rate,
        acc_unit=acc_unit,
        gyro_unit=gyro_unit,
        label=label,
        group_by=group_by,
        augmented=augmented,
        frame=frame,
        seed=seed,
    )
    if len(ws) == 0:
        raise HarError("no window fits: every labelled valid segment is shorter than the window")
    if (out_acc_unit, out_gyro_unit, ios_sign) != ("m/s^2", "rad/s", False):
        ws = convert_units(ws, acc_unit=out_acc_unit, gyro_unit=out_gyro_unit, ios_sign=ios_sign)
    save_windows(ws, output)
    typer.echo(_windows_line(output, ws))


def _windows_line(output: Path, ws: WindowSet) -> str:
    counts = {c: int((ws.y == i).sum()) for i, c in enumerate(ws.class_names)}
    return (f"wrote {output}: {len(ws)} windows of {ws.X.shape[1]} samples x {ws.X.shape[2]} channels, "
            f"{len(set(ws.group.tolist()))} groups; " + ", ".join(f"{c} {n}" for c, n in counts.items()))


def _export_dataset(items: Sequence[Any], output: Path | None, out_dir: Path | None, *, force: bool,
                    units: dict[str, Any], label: str | None, **kw: Any) -> int:
    """``export`` with many inputs: windows per input (failures reported, the rest kept), then one windows
    file (``output``; every input must give the same channels: --placement or --as) or one per input."""
    from imusynth.io.inputs import RunLog, each_input, out_dir_names

    paths = [it.path for it in items]
    names = dict(zip(map(id, items), out_dir_names(items), strict=True))
    if out_dir is not None:
        check_out_dir(out_dir, list(names.values()), paths, force=force)
    else:
        assert output is not None
        check_output(output, paths, force=force)
    channels: list[tuple[str, ...]] = []

    def work(it: Any) -> WindowSet:
        ws = windows_from_files([it.path], label=it.label or label, **kw)
        if it.group is not None:
            ws = replace(ws, group=np.full(len(ws), it.group))
        if len(ws) == 0:
            raise HarError("no window fits: every labelled valid segment is shorter than the window")
        if output is not None and channels and ws.channels != channels[0]:
            raise HarError(f"channels {', '.join(ws.channels)} differ from the first input's "
                           f"{', '.join(channels[0])}; choose them with --placement or --as")
        channels[:1] = channels[:1] or [ws.channels]
        if (units["acc_unit"], units["gyro_unit"], units["ios_sign"]) != ("m/s^2", "rad/s", False):
            ws = convert_units(ws, **units)
        if out_dir is not None:
            save_windows(ws, out_dir / names[id(it)])
        return ws

    log = RunLog()
    sets = [(it, ws) for it, ws in each_input(items, work, log=log, desc="export", on_failure=print_failure)]
    written: list[Path] = []
    if out_dir is not None:
        written = [out_dir / names[id(it)] for it, _ in sets]
    elif sets:
        assert output is not None
        ws = concat_windows([w for _, w in sets])
        save_windows(ws, output)
        typer.echo(_windows_line(output, ws))
        written = [output]
    return summary(log, "export", written)


def har_eval_cmd(
    test: Annotated[list[Path], _opt("--test", help=_H["test"])],
    train: Annotated[list[Path] | None, _opt("--train", help=_H["train"])] = None,
    train_real: Annotated[list[Path] | None, _opt("--train-real", help=_H["train_real"])] = None,
    protocol: Annotated[str, _opt("--protocol", help=_H["protocol"])] = "r2r,v2r,mix2r",
    folds: Annotated[int, _opt("--folds", help=_H["folds"])] = 5,
    seed: Annotated[int, _opt("--seed", help=_H["seed"])] = 0,
    trees: Annotated[int, _opt("--trees", help=_H["trees"])] = 300,
    json_out: Annotated[Path | None, _opt("--json", help=_H["json"])] = None,
    window: Annotated[float, _opt("--window", help=_H["window"])] = 2.56,
    overlap: Annotated[float, _opt("--overlap", help=_H["overlap"])] = 0.5,
    rate: Annotated[float, _opt("--rate", help=_H["rate"])] = 50.0,
    placement: Annotated[list[str] | None, _opt("--placement", "-p", help=_H["placement"])] = None,
    preset: Annotated[str | None, _opt("--preset", help=_H["preset"])] = None,
    sensor: Annotated[str | None, _opt("--sensor", help=_H["sensor"])] = None,
    source_rate: Annotated[float | None, _opt("--source-rate", help=_H["source_rate"])] = None,
    acc_unit: Annotated[str | None, _opt("--acc-unit", help=_H["acc_unit"])] = None,
    gyro_unit: Annotated[str | None, _opt("--gyro-unit", help=_H["gyro_unit"])] = None,
    group_by: Annotated[str, _opt("--group-by", help=_H["group_by"])] = "file",
    augmented: Annotated[str, _opt("--augmented", help=_H["augmented"])] = "stack",
    frame: Annotated[str, _opt("--frame", help=_H["frame"])] = "sensor",
    classifier: Annotated[str, _opt("--classifier", help=_H["classifier"])] = "rf",
    cnn_epochs: Annotated[int, _opt("--cnn-epochs", help=_H["cnn_epochs"])] = 40,
    classes: Annotated[str | None, _opt("--classes", help=_H["classes"])] = None,
    force: ForceOpt = False,
) -> None:
    """Macro-F1 of a random forest and/or a CNN trained on real (r2r), virtual (v2r) or both (mix2r).

    Always tested on real windows. --classifier both reports each classifier.

    Example: imusynth har-eval --train virtual.h5 --test real_windows.h5 --protocol r2r,v2r,mix2r
    """
    check_outputs({"--json": json_out}, [*test, *(train or ()), *(train_real or ())], force=force)
    protocols = [p.strip() for p in protocol.split(",") if p.strip()]
    if classifier not in ("rf", "cnn", "both"):
        raise HarError(f"--classifier must be rf, cnn or both, got {classifier!r}")
    if cnn_epochs < 1:
        raise HarError(f"--cnn-epochs must be >= 1, got {cnn_epochs}")
    report = har_eval_files(
        test,
        train=train or (),
        train_real=train_real or (),
        protocols=protocols,
        n_folds=folds,
        seed=seed,
        n_estimators=trees,
        window_s=window,
        overlap=overlap,
        rate_hz=rate,
        placements=placement,
        preset=preset,
        sensor=sensor,
        source_rate_hz=source_rate,
        acc_unit=acc_unit,
        gyro_unit=gyro_unit,
        group_by=group_by,
        augmented=augmented,
        frame=frame,
        classifier=classifier,
        cnn_epochs=cnn_epochs,
        classes=None if classes is None else [c.strip() for c in classes.split(",") if c.strip()],
    )
    typer.echo(report.table())
    typer.echo(f"split: {report.split}")
    typer.echo(f"classifier: {report.classifier}")
    for note in report.notes:
        typer.echo(f"note: {note}")
    if json_out is not None:
        from imusynth.io.hdf5 import atomic_path

        with atomic_path(json_out) as tmp:
            tmp.write_text(report.to_json() + "\n", encoding="utf-8")
        typer.echo(f"wrote {json_out}")
