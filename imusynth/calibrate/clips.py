"""Calibrating the clips of ``imusynth/1`` files: a profile applied to chosen sensors of a :class:`Clip`.

:func:`calibrate_clip` is what ``imusynth calibrate apply`` does to each clip, for one file or a dataset of
many (the profile is parsed once). The calibrated clip carries the profile's TOML text in its attribute
``calibration_profile_toml``; :func:`imusynth.io.hdf5.write_clips` stores that text once per file
(``/profiles/<sha256>``) and gives each clip the reference ``calibration_profile_sha256``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from imusynth.calibrate.profiles import CalibrationProfile, apply_profile_rotation
from imusynth.calibrate.recordings import series_from_signals
from imusynth.calibrate.resampling import resample
from imusynth.core.conventions import matrix_from_quat, quat_continuous, quat_from_matrix
from imusynth.core.imu_series import CalibrationError
from imusynth.io.hdf5 import PROFILE_TEXT, Clip, SchemaError, read_clips, write_clips
from imusynth.io.inputs import ClipIds, Failure, InputItem, RunLog, each_input, out_dir_names


def resample_orientation(
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


def calibrate_clip(clip: Clip, profile: CalibrationProfile, text: str, *,
                   placements: Sequence[str] | None = None, seed: int | None = None, where: str = "") -> Clip:
    """Apply ``profile`` to sensors of ``clip``; the calibrated sensors replace the originals.

    Other sensors are copied unchanged; augmentation variants (``wrist~aug1`` ...) follow their base sensor
    (with ``profile.alignment_mode == "per-sensor"`` each variant is first turned by its mounting relative to
    its base, :func:`imusynth.calibrate.alignment.relative_rotation`, so it is aligned like the base).
    The clip gets the attributes ``calibration_profile`` (name), ``calibration_profile_toml`` (``text``),
    ``calibration_seed``, ``calibration_placements`` (JSON list) and ``calibration_applied_at``.

    Parameters
    ----------
    clip : Clip
    profile : CalibrationProfile
    text : str
        The profile's TOML text (:func:`imusynth.calibrate.load_profile`).
    placements : sequence of str, optional
        Sensors to calibrate (default: the profile's ``source.placement`` when set, else every sensor).
    seed : int, optional
        Noise seed (default: the profile's); each sensor's generator is seeded with it and its clip/name.
    where : str
        The file, for messages.

    Raises
    ------
    CalibrationError
        The clip lacks a sensor to calibrate.
    """
    from imusynth.core.mounting import split_variant
    from imusynth.core.sensors import SensorSignals

    wanted = list(placements) if placements else (
        [profile.source["placement"]] if profile.source.get("placement") else None)
    used_seed = profile.seed if seed is None else seed
    names = wanted or list(clip.sensors)
    # augmentation variants (wrist~aug1 ...) follow their base sensor
    names = names + [v for v in clip.sensors if v not in names and split_variant(v)[0] in names]
    missing = [n for n in names if n not in clip.sensors]
    if missing:
        raise CalibrationError(
            f"{where}: clip {clip.clip_id} has no sensor {missing[0]!r}; it has "
            f"{', '.join(clip.sensors)} (choose with --placement)"
        )
    sensors = dict(clip.sensors)
    for n in names:
        sig = sensors[n]
        series = series_from_signals(sig, label=clip.label, group=clip.group or "",
                                     name=f"{clip.clip_id}/{n}")
        base = split_variant(n)[0]
        ref = None
        if base != n and base in clip.sensors:   # a variant: aligned like its base (per-sensor mode)
            b = clip.sensors[base]
            ref = series_from_signals(b, label=clip.label, group=clip.group or "",
                                      name=f"{clip.clip_id}/{base}")
        cal, R = apply_profile_rotation(series, profile, seed=used_seed, reference=ref)
        rate = profile.rate_hz or sig.rate_hz
        if cal.n != sig.time.shape[0] or not np.array_equal(cal.time, sig.time):
            q = resample_orientation(sig.time, sig.orientation, sig.valid, rate_hz=rate,
                                     t0=float(cal.time[0]) if cal.n else 0.0,
                                     cutoff_ratio=profile.cutoff_ratio)
        else:
            q = sig.orientation.copy()
        frame = sig.frame
        if R is not None:
            ok = np.isfinite(q).all(axis=1)
            if ok.any():
                q[ok] = quat_continuous(quat_from_matrix(matrix_from_quat(q[ok]) @ R.T))
            frame = f"{frame} (rotated by calibration profile {profile.name!r})"
        cutoff = sig.cutoff_hz
        if profile.rate_hz:
            cutoff = min(cutoff, profile.cutoff_ratio * 0.5 * rate)
        sensors[n] = SensorSignals(
            placement=sig.placement, time=cal.time, acc=cal.acc, gyro=cal.gyro,
            orientation=np.where(cal.valid[:, None], q, np.nan), valid=cal.valid, rate_hz=float(rate),
            cutoff_hz=float(cutoff), frame=frame, placement_toml=sig.placement_toml, attrs=sig.attrs,
        )
    attrs = dict(clip.attrs)
    attrs.pop("calibration_profile_sha256", None)
    attrs.update({
        "calibration_profile": profile.name,
        PROFILE_TEXT: text,
        "calibration_seed": int(used_seed),
        "calibration_placements": json.dumps(names),
        "calibration_applied_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    })
    return replace(clip, sensors=sensors, attrs=attrs)


def apply_dataset(profile: CalibrationProfile, text: str, items: Sequence[InputItem], *,
                  output: Path | None = None, out_dir: Path | None = None,
                  placements: Sequence[str] | None = None, seed: int | None = None, log_to: RunLog,
                  progress: bool | None = None, on_failure: Callable[[Failure], Any] | None = None,
                  ) -> tuple[list[Path], ClipIds]:
    """Calibrate every clip of many ``imusynth/1`` files in one process (the profile parsed once).

    Parameters
    ----------
    profile, text
        The profile and its TOML text (:func:`imusynth.calibrate.load_profile`).
    items : sequence of InputItem
        The input files; an item's label and group (manifest) replace its clips'.
    output, out_dir : Path
        Exactly one: one dataset file (clip ids kept apart by :class:`imusynth.io.inputs.ClipIds`), or one
        file per input in a folder (names from :func:`out_dir_names`).
    placements, seed
        See :func:`calibrate_clip`.
    log_to : RunLog
        Receives the inputs done and the failures (an input fails as a whole: none of its clips is kept).
    progress, on_failure
        See :func:`imusynth.io.inputs.each_input`.

    Returns
    -------
    written : list of Path
        The files written (none when every input failed).
    ids : ClipIds
        The clips renamed in the dataset file.
    """
    names = dict(zip(map(id, items), out_dir_names(items), strict=True)) if out_dir is not None else {}

    def work(it: InputItem) -> list[Clip]:
        clips = [calibrate_clip(c, profile, text, placements=placements, seed=seed, where=str(it.path))
                 for c in read_clips(it.path)]
        if it.label is not None or it.group is not None:
            clips = [replace(c, label=it.label if it.label is not None else c.label,
                             group=it.group if it.group is not None else c.group) for c in clips]
        if out_dir is not None:
            write_clips(out_dir / names[id(it)], clips)
        return clips

    ids = ClipIds()
    done = each_input(items, work, log=log_to, progress=progress, desc="calibrate", on_failure=on_failure)
    if out_dir is not None:
        return [out_dir / names[id(it)] for it, _ in done], ids
    assert output is not None
    try:
        write_clips(output, (replace(c, clip_id=ids.claim(c.clip_id, it.path)) for it, clips in done
                             for c in clips))
    except SchemaError:
        if log_to.done == 0:
            return [], ids
        raise
    return [output], ids
