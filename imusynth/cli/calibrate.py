"""``imusynth calibrate fit | apply | device``: calibration profiles from files, applied to files.

:func:`fit_files` and :func:`apply_file` hold the file handling; the typer commands around them are
collected in :data:`calibrate_app` (registered as the ``calibrate`` group in :mod:`imusynth.cli.main`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imusynth.calibrate import (
    ALIGNMENT_MODES,
    DEVICE_PRESETS,
    CalibrationError,
    CalibrationProfile,
    device_preset,
    fit_profile,
    load_profile,
    load_recordings,
    profile_to_toml,
    save_profile,
)
from imusynth.calibrate.profiles import with_alignment_mode
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

_opt = typer.Option

#: ``calibrate fit --alignment`` default (chosen by measurement: docs/calibration.md, "Measured").
DEFAULT_ALIGNMENT = "per-sensor"


def fit_files(
    virtual_paths: list[Path],
    real_paths: list[Path],
    output: Path,
    *,
    placement: str,
    real_placement: str | None = None,
    per_class: bool = False,
    rate_hz: float | None = None,
    align: bool = True,
    alignment_mode: str = DEFAULT_ALIGNMENT,
    heading: bool = False,
    n_knots: int = 1001,
    tails: str = "linear",
    device: str = "none",
    seed: int = 0,
    name: str | None = None,
    description: str = "",
    preset: str | None = None,
    sensor: str | None = None,
    source_rate_hz: float | None = None,
    acc_unit: str | None = None,
    gyro_unit: str | None = None,
    real_label: str | None = None,
) -> tuple[CalibrationProfile, list[str]]:
    """Fit a profile from virtual ``imusynth/1`` files and real recordings, and save it to ``output``.

    Parameters
    ----------
    virtual_paths : list of Path
        ``imusynth/1`` files with the virtual sensor ``placement``.
    real_paths : list of Path
        Real recordings: ``imusynth/1`` files (sensor ``real_placement``, default ``placement``), real-IMU
        CSV files or sktime ``.ts`` files (see :func:`imusynth.calibrate.load_recordings`).
    output : Path
        Profile TOML to write (atomically).
    placement, real_placement, per_class, rate_hz, align, alignment_mode, heading, n_knots, tails, seed
        See :func:`imusynth.calibrate.fit_profile`.
    device : {"none", "smartwatch", "phone"}
        Device preset stored in the profile.
    name, description
        Stored in the profile (name defaults to the output's stem).
    preset, sensor, source_rate_hz, acc_unit, gyro_unit, real_label
        How real text / .ts files are read (:func:`imusynth.io.readers.read_imu` options; ``real_label``
        labels every real sample).
    """
    virtual = [r.series[placement] for r in load_recordings(virtual_paths, placements=[placement])]
    rp = real_placement or placement
    real_recs = load_recordings(
        real_paths,
        placements=[rp],
        preset=preset,
        sensor=sensor,
        rate_hz=source_rate_hz,
        acc_unit=acc_unit,
        gyro_unit=gyro_unit,
        label=real_label,
    )
    real = [r.series[rp] for r in real_recs]
    source = {
        "virtual": "; ".join(str(p) for p in virtual_paths),
        "real": "; ".join(str(p) for p in real_paths),
        "placement": placement,
        "real_placement": rp,
        "n_virtual_recordings": str(len(virtual)),
        "n_real_recordings": str(len(real)),
    }
    profile, notes = fit_profile(
        virtual,
        real,
        name=name or output.stem,
        description=description,
        source=source,
        rate_hz=rate_hz,
        per_class=per_class,
        align=align,
        alignment_mode=alignment_mode,
        heading=heading,
        n_knots=n_knots,
        tails=tails,
        device=device_preset(device),
        seed=seed,
    )
    save_profile(profile, output)
    return profile, notes


def apply_file(
    profile_path: Path,
    input_path: Path,
    output: Path,
    *,
    placements: list[str] | None = None,
    seed: int | None = None,
    alignment_mode: str | None = None,
) -> tuple[Path, int]:
    """Apply a profile to the sensors of every clip of an ``imusynth/1`` file; write a new file.

    Each clip is calibrated by :func:`imusynth.calibrate.clips.calibrate_clip` (see there for the
    attributes it gets); the profile's TOML text is stored once in the file, ``/profiles/<sha256>``.

    Parameters
    ----------
    profile_path : Path
        Profile TOML.
    input_path, output : Path
        ``imusynth/1`` files (``output`` written atomically).
    placements : list of str, optional
        Sensors to calibrate (default: the profile's ``source.placement`` when set, else every sensor).
    seed : int, optional
        Noise seed (default: the profile's).
    alignment_mode : {"fixed", "per-sensor"}, optional
        Replaces the profile's alignment mode (:func:`load_for_apply`).

    Returns
    -------
    output : Path
    n_clips : int
    """
    profile, text = load_for_apply(profile_path, alignment_mode)
    return apply_loaded(profile, text, input_path, output, placements=placements, seed=seed)


def apply_loaded(
    profile: CalibrationProfile,
    text: str,
    input_path: Path,
    output: Path,
    *,
    placements: list[str] | None = None,
    seed: int | None = None,
) -> tuple[Path, int]:
    """:func:`apply_file` with the profile already read (``text``: its TOML, stored in the file)."""
    from imusynth.calibrate.clips import calibrate_clip
    from imusynth.io.hdf5 import read_clips, write_clips

    out_clips = [calibrate_clip(clip, profile, text, placements=placements, seed=seed, where=str(input_path))
                 for clip in read_clips(input_path)]
    write_clips(output, out_clips)
    return output, len(out_clips)


def _windows_inputs(virtual: list[Path], real: list[Path]) -> bool:
    """Whether the inputs of ``calibrate fit`` are windows files (all of them), not recordings (none)."""
    from imusynth.har.loaders import is_windows_file

    missing = [p for p in [*virtual, *real] if not p.exists()]
    if missing:
        raise CalibrationError(f"{missing[0]}: no such file")
    kinds = {p: is_windows_file(p) for p in [*virtual, *real]}
    if len(set(kinds.values())) > 1:
        win = [str(p) for p, w in kinds.items() if w]
        rec = [str(p) for p, w in kinds.items() if not w]
        raise CalibrationError(f"give windows files on both sides or recordings on both sides: {win[0]} is a "
                               f"windows file, {rec[0]} is not")
    return bool(kinds) and all(kinds.values())


def fit_windows_files(
    virtual_paths: list[Path],
    real_paths: list[Path],
    output: Path,
    *,
    per_class: bool = False,
    n_knots: int = 1001,
    tails: str = "linear",
    name: str | None = None,
    description: str = "",
) -> tuple[CalibrationProfile, list[str]]:
    """Fit a windows profile (:func:`imusynth.har.window_calibration.fit_window_profile`) from windows files
    (each side's files concatenated) and save it to ``output`` (atomically)."""
    from imusynth.har.loaders import load_windows
    from imusynth.har.window_calibration import fit_window_profile
    from imusynth.har.windows import concat_windows

    sides = [concat_windows([load_windows(p) for p in paths]) for paths in (virtual_paths, real_paths)]
    source = {"virtual": "; ".join(str(p) for p in virtual_paths),
              "real": "; ".join(str(p) for p in real_paths)}
    profile, notes = fit_window_profile(sides[0], sides[1], name=name or output.stem, description=description,
                                        source=source, per_class=per_class, n_knots=n_knots, tails=tails)
    save_profile(profile, output)
    return profile, notes


def apply_windows_file(
    profile: CalibrationProfile, text: str, input_path: Path, output: Path
) -> tuple[Path, int]:
    """Map every window of a windows file through a windows profile; write a new windows file atomically."""
    from imusynth.har.loaders import is_windows_file, load_windows, save_windows
    from imusynth.har.window_calibration import apply_window_profile

    if not is_windows_file(input_path):
        raise CalibrationError(f"{input_path}: not a windows file; profile {profile.name!r} maps windows "
                               "(make them with imusynth export)")
    ws = apply_window_profile(load_windows(input_path), profile, text=text)
    save_windows(ws, output)
    return output, len(ws)


def load_for_apply(profile_path: Path, alignment_mode: str | None) -> tuple[CalibrationProfile, str]:
    """The profile and its TOML text; with ``alignment_mode``, the alignment's mode replaced and the text
    rewritten to say so (it is what the calibrated file stores)."""
    profile, text = load_profile(profile_path)
    if alignment_mode is not None and profile.alignment_mode != alignment_mode:
        profile = with_alignment_mode(profile, alignment_mode)
        text = profile_to_toml(profile)
    return profile, text


calibrate_app = typer.Typer(
    name="calibrate",
    help="Fit calibration profiles (virtual -> real distribution mapping, device model) and apply them.",
    no_args_is_help=True,
    add_completion=False,
)

#: what the fitting and reading functions call their parameters, and the flags of ``calibrate fit``
_FIT_FLAGS = {"n_knots": "--knots", "tails": "--tails", "rate_hz": "--source-rate", "sensor=": "--sensor",
              "acc_unit": "--acc-unit", "gyro_unit": "--gyro-unit"}

_H = {
    "virtual": "Virtual imusynth/1 file, or windows file (imusynth export; repeatable).",
    "real": "Real recording: .h5, CSV or .ts; or windows file (repeatable; windows on both sides or "
            "neither).",
    "placement": "Virtual sensor (placement) to calibrate (required for recordings; not for windows files).",
    "output": "Profile TOML to write, e.g. calibration/profiles/NAME.toml.",
    "real_placement": "Sensor name in a real .h5 file (default: --placement).",
    "per_class": "Also fit one mapping per activity class (needs labels on both sides; windows have theirs).",
    "rate": "Output rate, Hz (default: the real median rate).",
    "no_align": "Do not rotate the virtual axes onto the real gravity direction.",
    "alignment": "per-sensor: augmentation variants are first turned by their mounting relative to their "
                 "base sensor (gravity), so they align like it; fixed: the fitted rotation for every sensor "
                 "(default: per-sensor).",
    "heading": "Also fit the rotation about gravity (unpaired, from horizontal acc/gyro directions).",
    "apply_alignment": "Replace the profile's alignment mode: fixed | per-sensor (default: the profile's).",
    "knots": "Quantile knots per channel (>= 2).",
    "tails": "Outside the fitted range: linear | clamp.",
    "device": f"Device model: {' | '.join(DEVICE_PRESETS)} (default: none).",
    "seed": "Noise seed stored in the profile.",
    "name": "Profile name (default: the output file's stem).",
    "description": "What the profile was fitted on, in words.",
    "preset": "Real CSV layout: gaitmap | xsens_dot | spsw_har (default: detected).",
    "sensor": "Sensor in a multi-sensor real CSV file.",
    "source_rate": "Sample rate of the real files, Hz (required for .ts; CSV without time column).",
    "acc_unit": "Real acc unit: m/s^2 | g | mg (default m/s^2).",
    "gyro_unit": "Real gyro unit: rad/s | deg/s (default rad/s).",
    "real_label": "Label for every real sample (files without labels).",
    "apply_placement": "Sensor to calibrate (repeatable; default: the profile's placement).",
    "apply_seed": "Noise seed (default: the profile's).",
    "device_rate": "Output rate, Hz (default: keep the input rate).",
    "device_placement": "Sensor the profile applies to by default (default: every sensor).",
}


@calibrate_app.command("fit")
def fit_cmd(
    virtual: Annotated[list[Path], _opt("--virtual", help=_H["virtual"])],
    real: Annotated[list[Path], _opt("--real", help=_H["real"])],
    output: Annotated[Path, _opt("--output", "-o", help=_H["output"])],
    placement: Annotated[str | None, _opt("--placement", "-p", help=_H["placement"])] = None,
    real_placement: Annotated[str | None, _opt("--real-placement", help=_H["real_placement"])] = None,
    per_class: Annotated[bool, _opt("--per-class", metavar="", help=_H["per_class"])] = False,
    rate: Annotated[float | None, _opt("--rate", help=_H["rate"])] = None,
    no_align: Annotated[bool, _opt("--no-align", metavar="", help=_H["no_align"])] = False,
    alignment: Annotated[str | None, _opt("--alignment", help=_H["alignment"])] = None,
    heading: Annotated[bool, _opt("--heading", metavar="", help=_H["heading"])] = False,
    knots: Annotated[int, _opt("--knots", min=2, help=_H["knots"])] = 1001,
    tails: Annotated[str, _opt("--tails", help=_H["tails"])] = "linear",
    device: Annotated[str | None, _opt("--device", help=_H["device"])] = None,
    seed: Annotated[int, _opt("--seed", help=_H["seed"])] = 0,
    name: Annotated[str | None, _opt("--name", help=_H["name"])] = None,
    description: Annotated[str, _opt("--description", help=_H["description"])] = "",
    preset: Annotated[str | None, _opt("--preset", help=_H["preset"])] = None,
    sensor: Annotated[str | None, _opt("--sensor", help=_H["sensor"])] = None,
    source_rate: Annotated[float | None, _opt("--source-rate", help=_H["source_rate"])] = None,
    acc_unit: Annotated[str | None, _opt("--acc-unit", help=_H["acc_unit"])] = None,
    gyro_unit: Annotated[str | None, _opt("--gyro-unit", help=_H["gyro_unit"])] = None,
    real_label: Annotated[str | None, _opt("--real-label", help=_H["real_label"])] = None,
    force: ForceOpt = False,
) -> None:
    """Fit a profile: x_real = G^-1(F(x_virtual)) per channel, resampling, axis alignment, device model.

    Example: imusynth calibrate fit --virtual v.h5 --real watch.csv --preset spsw_har -p left_wrist
    -o calibration/profiles/watch.toml

    On windows files (imusynth export, both sides; e.g. --frame gravity, free of the sensor's mounting):
    imusynth calibrate fit --virtual v_windows.h5 --real real_windows.h5 [--per-class] -o windows.toml
    fits the maps on their channels; apply it to the virtual windows file.
    """
    check_outputs({"--output": output}, [*virtual, *real], force=force)
    if rate is not None and not rate > 0:
        raise CalibrationError(f"--rate must be a positive number of Hz, got {rate:g}")
    if _windows_inputs(virtual, real):
        given = {"--placement": placement, "--real-placement": real_placement, "--rate": rate,
                 "--no-align": no_align or None, "--alignment": alignment, "--heading": heading or None,
                 "--device": device, "--preset": preset, "--sensor": sensor, "--source-rate": source_rate,
                 "--acc-unit": acc_unit, "--gyro-unit": gyro_unit, "--real-label": real_label}
        wrong = [k for k, v in given.items() if v is not None]
        if wrong:
            raise CalibrationError(f"{', '.join(wrong)}: not for windows files (their channels are mapped as "
                                   "they are, labels from the windows)")
        with flag_names(_FIT_FLAGS):
            _, notes = fit_windows_files(virtual, real, output, per_class=per_class, n_knots=knots,
                                         tails=tails, name=name, description=description)
        for note in notes:
            typer.echo(note)
        typer.echo(f"wrote {output} (a windows profile: imusynth calibrate apply {output} WINDOWS.h5 "
                   "-o OUT.h5)")
        return
    if placement is None:
        raise CalibrationError("--placement (-p) is required: the virtual sensor to calibrate")
    alignment = alignment or DEFAULT_ALIGNMENT
    _check_mode(alignment)
    if heading and no_align:
        raise CalibrationError("--heading needs the alignment: drop --no-align")
    with flag_names(_FIT_FLAGS):
        profile, notes = fit_files(
            virtual,
            real,
            output,
            placement=placement,
            real_placement=real_placement,
            per_class=per_class,
            rate_hz=rate,
            align=not no_align,
            alignment_mode=alignment,
            heading=heading,
            n_knots=knots,
            tails=tails,
            device=device or "none",
            seed=seed,
            name=name,
            description=description,
            preset=preset,
            sensor=sensor,
            source_rate_hz=source_rate,
            acc_unit=acc_unit,
            gyro_unit=gyro_unit,
            real_label=real_label,
        )
    for note in notes:
        typer.echo(note)
    typer.echo(f"wrote {output}")


@calibrate_app.command("apply")
def apply_cmd(
    profile: Annotated[Path, typer.Argument(help="Profile TOML.")],
    inputs: Annotated[list[Path], typer.Argument(
        help="imusynth/1 file with virtual sensors" + INPUTS_HELP + "; for a windows profile, one windows "
             "file.", show_default=False,
        metavar="INPUT")],
    output: Annotated[Path | None, _opt("--output", "-o", help="Calibrated imusynth/1 file to write (many "
                                        "inputs: one dataset; a clip id taken: file stem in front).")] = None,
    out_dir: OutDirOpt = None,
    placement: Annotated[list[str] | None, _opt("--placement", "-p", help=_H["apply_placement"])] = None,
    seed: Annotated[int | None, _opt("--seed", help=_H["apply_seed"])] = None,
    alignment: Annotated[str | None, _opt("--alignment", help=_H["apply_alignment"])] = None,
    force: ForceOpt = False,
) -> None:
    """Apply a profile to every clip; the profile is stored once per file (/profiles/SHA256), named by clips.

    Example: imusynth calibrate apply calibration/profiles/watch.toml v.h5 -o v_cal.h5

    A dataset in one process (the profile is read once): imusynth calibrate apply watch.toml trials/ -o cal.h5
    (or --out-dir cal/). A failing input is reported on one line and the rest is kept (exit status 1).

    A windows profile (calibrate fit on windows files) maps one windows file:
    imusynth calibrate apply windows.toml v_windows.h5 -o v_windows_cal.h5
    """
    from imusynth.io.inputs import H5_SUFFIXES, RunLog, expand_inputs

    if alignment is not None:
        _check_mode(alignment)
    prof, text = load_for_apply(profile, alignment)  # read once, for every path below
    if prof.applies_to == "windows":
        if len(inputs) != 1 or output is None or out_dir is not None or placement or alignment is not None:
            raise CalibrationError(f"profile {prof.name!r} maps windows files: give one windows file and -o "
                                   "(no --out-dir, --placement or --alignment)")
        check_outputs({"--output": output}, [profile, inputs[0]], force=force)
        out, n = apply_windows_file(prof, text, inputs[0], output)
        typer.echo(f"wrote {out} ({n} window(s))")
        return
    ins = expand_inputs(inputs, suffixes=H5_SUFFIXES, what="imusynth/1 file")
    choose_output(output, out_dir)
    if not ins.many and out_dir is None:
        assert output is not None
        check_outputs({"--output": output}, [profile, ins.items[0].path], force=force)
        out, n = apply_loaded(prof, text, ins.items[0].path, output, placements=placement, seed=seed)
        typer.echo(f"wrote {out} ({n} clip(s))")
        return
    from imusynth.calibrate.clips import apply_dataset
    from imusynth.io.inputs import out_dir_names

    paths = [it.path for it in ins.items]
    if out_dir is not None:
        check_out_dir(out_dir, out_dir_names(ins.items), [profile, *paths], force=force)
    else:
        assert output is not None
        check_output(output, paths, [profile], force=force)
    log = RunLog()
    written, ids = apply_dataset(prof, text, ins.items, output=output, out_dir=out_dir, placements=placement,
                                 seed=seed, log_to=log, on_failure=print_failure)
    rc = summary(log, "calibrate apply", written, renamed=[(f"{a}", b) for _, a, b in ids.renamed],
                 renamed_why="(clip ids taken by an earlier file; the file's stem in front)")
    if rc:
        raise typer.Exit(rc)


def _check_mode(mode: str) -> None:
    if mode not in ALIGNMENT_MODES:
        raise CalibrationError(f"--alignment must be one of {' | '.join(ALIGNMENT_MODES)}, got {mode!r}")


@calibrate_app.command("device")
def device_cmd(
    device: Annotated[str, typer.Argument(help=f"Device preset: {' | '.join(DEVICE_PRESETS)}.")],
    output: Annotated[Path, _opt("--output", "-o", help="Profile TOML to write.")],
    rate: Annotated[float | None, _opt("--rate", help=_H["device_rate"])] = None,
    seed: Annotated[int, _opt("--seed", help=_H["seed"])] = 0,
    placement: Annotated[str | None, _opt("--placement", "-p", help=_H["device_placement"])] = None,
    force: ForceOpt = False,
) -> None:
    """Write a device-only profile (noise, bias, saturation, quantisation; no mapping) from a preset."""
    check_outputs({"--output": output}, force=force)
    dev = device_preset(device)
    src = {"fitted_on": "nothing: datasheet-typical device preset (see docs/calibration.md)"}
    if placement:
        src["placement"] = placement
    prof = CalibrationProfile(
        name=output.stem,
        description=f"device preset {device!r} only",
        source=src,
        rate_hz=rate,
        device=dev,
        seed=seed,
    )
    save_profile(prof, output)
    typer.echo(f"wrote {output}")
