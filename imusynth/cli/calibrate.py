"""``imusynth calibrate fit | apply | device``: calibration profiles from files, applied to files.

:func:`fit_files` and :func:`apply_file` hold the file handling; the typer commands around them are
collected in :data:`calibrate_app` (registered as the ``calibrate`` group in :mod:`imusynth.cli.main`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from imusynth.calibrate import (
    DEVICE_PRESETS,
    CalibrationError,
    CalibrationProfile,
    ImuSeries,
    apply_profile,
    device_preset,
    fit_profile,
    load_profile,
    load_recordings,
    resample,
    save_profile,
    series_from_signals,
)
from imusynth.cli._flags import flag_names
from imusynth.cli._paths import ForceOpt, check_outputs
from imusynth.core.conventions import matrix_from_quat, quat_continuous, quat_from_matrix

_opt = typer.Option


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
    placement, real_placement, per_class, rate_hz, align, n_knots, tails, seed
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
        n_knots=n_knots,
        tails=tails,
        device=device_preset(device),
        seed=seed,
    )
    save_profile(profile, output)
    return profile, notes


def _resample_orientation(
    t: np.ndarray, q: np.ndarray, valid: np.ndarray, *, rate_hz: float, t0: float, cutoff_ratio: float
) -> np.ndarray:
    """Quaternions resampled like the signals: components interpolated on one hemisphere, renormalised."""
    qc = q.copy()
    ok = valid & np.isfinite(q).all(axis=1)
    if ok.any():
        qc[ok] = quat_continuous(q[ok])
    _, out, _ = resample(t, qc, rate_hz=rate_hz, valid=ok, cutoff_ratio=cutoff_ratio, t0=t0)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return np.asarray(out / np.where(norm > 0, norm, np.nan))


def apply_file(
    profile_path: Path,
    input_path: Path,
    output: Path,
    *,
    placements: list[str] | None = None,
    seed: int | None = None,
) -> tuple[Path, int]:
    """Apply a profile to the sensors of every clip of an ``imusynth/1`` file; write a new file.

    The calibrated sensors replace the originals (other sensors are copied unchanged); each clip gets the
    attributes ``calibration_profile`` (name), ``calibration_profile_toml`` (the exact TOML text),
    ``calibration_seed``, ``calibration_placements`` (JSON list) and ``calibration_applied_at``.

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

    Returns
    -------
    output : Path
    n_clips : int
    """
    from imusynth.core.mounting import split_variant
    from imusynth.core.sensors import SensorSignals
    from imusynth.io.hdf5 import read_clips, write_clips

    profile, text = load_profile(profile_path)
    clips = read_clips(input_path)
    wanted = placements or ([profile.source["placement"]] if profile.source.get("placement") else None)
    used_seed = profile.seed if seed is None else seed
    out_clips = []
    for clip in clips:
        names = wanted or list(clip.sensors)
        # augmentation variants (wrist~aug1 ...) follow their base sensor
        names = names + [v for v in clip.sensors if v not in names and split_variant(v)[0] in names]
        missing = [n for n in names if n not in clip.sensors]
        if missing:
            raise CalibrationError(
                f"{input_path}: clip {clip.clip_id} has no sensor {missing[0]!r}; it has "
                f"{', '.join(clip.sensors)} (choose with --placement)"
            )
        sensors = dict(clip.sensors)
        for n in names:
            sig = sensors[n]
            series = series_from_signals(
                sig, label=clip.label, group=clip.group or "", name=f"{clip.clip_id}/{n}"
            )
            cal: ImuSeries = apply_profile(series, profile, seed=used_seed)
            rate = profile.rate_hz or sig.rate_hz
            if cal.n != sig.time.shape[0] or not np.array_equal(cal.time, sig.time):
                q = _resample_orientation(
                    sig.time,
                    sig.orientation,
                    sig.valid,
                    rate_hz=rate,
                    t0=float(cal.time[0]) if cal.n else 0.0,
                    cutoff_ratio=profile.cutoff_ratio,
                )
            else:
                q = sig.orientation.copy()
            frame = sig.frame
            if profile.alignment is not None:
                ok = np.isfinite(q).all(axis=1)
                R = profile.alignment.rotation
                if ok.any():
                    q[ok] = quat_continuous(quat_from_matrix(matrix_from_quat(q[ok]) @ R.T))
                frame = f"{frame} (rotated by calibration profile {profile.name!r})"
            cutoff = sig.cutoff_hz
            if profile.rate_hz:
                cutoff = min(cutoff, profile.cutoff_ratio * 0.5 * rate)
            sensors[n] = SensorSignals(
                placement=sig.placement,
                time=cal.time,
                acc=cal.acc,
                gyro=cal.gyro,
                orientation=np.where(cal.valid[:, None], q, np.nan),
                valid=cal.valid,
                rate_hz=float(rate),
                cutoff_hz=float(cutoff),
                frame=frame,
                placement_toml=sig.placement_toml,
                attrs=sig.attrs,
            )
        attrs = dict(clip.attrs)
        attrs.update(
            {
                "calibration_profile": profile.name,
                "calibration_profile_toml": text,
                "calibration_seed": int(used_seed),
                "calibration_placements": json.dumps(names),
                "calibration_applied_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        out_clips.append(replace(clip, sensors=sensors, attrs=attrs))
    write_clips(output, out_clips)
    return output, len(out_clips)


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
    "virtual": "Virtual imusynth/1 file (repeatable).",
    "real": "Real recording: .h5, CSV or .ts (repeatable).",
    "placement": "Virtual sensor (placement) to calibrate.",
    "output": "Profile TOML to write, e.g. calibration/profiles/NAME.toml.",
    "real_placement": "Sensor name in a real .h5 file (default: --placement).",
    "per_class": "Also fit one mapping per activity class (needs labels on both sides).",
    "rate": "Output rate, Hz (default: the real median rate).",
    "no_align": "Do not rotate the virtual axes onto the real gravity direction.",
    "knots": "Quantile knots per channel (>= 2).",
    "tails": "Outside the fitted range: linear | clamp.",
    "device": f"Device model: {' | '.join(DEVICE_PRESETS)}.",
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
    placement: Annotated[str, _opt("--placement", "-p", help=_H["placement"])],
    output: Annotated[Path, _opt("--output", "-o", help=_H["output"])],
    real_placement: Annotated[str | None, _opt("--real-placement", help=_H["real_placement"])] = None,
    per_class: Annotated[bool, _opt("--per-class", metavar="", help=_H["per_class"])] = False,
    rate: Annotated[float | None, _opt("--rate", help=_H["rate"])] = None,
    no_align: Annotated[bool, _opt("--no-align", metavar="", help=_H["no_align"])] = False,
    knots: Annotated[int, _opt("--knots", min=2, help=_H["knots"])] = 1001,
    tails: Annotated[str, _opt("--tails", help=_H["tails"])] = "linear",
    device: Annotated[str, _opt("--device", help=_H["device"])] = "none",
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
    """
    check_outputs({"--output": output}, [*virtual, *real], force=force)
    if rate is not None and not rate > 0:
        raise CalibrationError(f"--rate must be a positive number of Hz, got {rate:g}")
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
            n_knots=knots,
            tails=tails,
            device=device,
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
    input_file: Annotated[Path, typer.Argument(help="imusynth/1 file with virtual sensors.")],
    output: Annotated[Path, _opt("--output", "-o", help="Calibrated imusynth/1 file to write.")],
    placement: Annotated[list[str] | None, _opt("--placement", "-p", help=_H["apply_placement"])] = None,
    seed: Annotated[int | None, _opt("--seed", help=_H["apply_seed"])] = None,
    force: ForceOpt = False,
) -> None:
    """Apply a profile to every clip; the profile's name and TOML text are stored in each clip's attributes.

    Example: imusynth calibrate apply calibration/profiles/watch.toml v.h5 -o v_cal.h5
    """
    check_outputs({"--output": output}, [profile, input_file], force=force)
    out, n = apply_file(profile, input_file, output, placements=placement, seed=seed)
    typer.echo(f"wrote {out} ({n} clip(s))")


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
