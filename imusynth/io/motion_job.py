"""The ``imusynth motion`` job: a motion file → virtual sensors → one HDF5 clip (a thin orchestrator)."""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imusynth.config import PipelineConfig, to_toml
from imusynth.core.cleaning import clean_motion, implausible_samples
from imusynth.core.conventions import G0
from imusynth.core.kinematics import effective_cutoff
from imusynth.core.motion import Motion
from imusynth.core.mounting import Mounting
from imusynth.core.placements import Placement, resolve_placements
from imusynth.core.sensors import SensorSignals, simulate
from imusynth.errors import InputError
from imusynth.io.hdf5 import Clip, SchemaError, sha256_file, write_clips
from imusynth.io.inputs import Failure, InputItem, RunLog, each_input, unique_ids

log = logging.getLogger(__name__)


def augment_mountings(placements: list[Placement], cfg: PipelineConfig, clip_id: str
                      ) -> dict[str, list[Mounting]] | None:
    """``[augment] n`` random mountings per placement (None when ``n`` is 0), seeded from ``clip_id``, the
    placement name and ``[augment] seed``; each placement's ``[augment]`` distributions, else the defaults."""
    from imusynth.core.mounting import DEFAULT_SPEC, draw_mountings, mounting_seed

    aug = cfg.augment
    if aug.n <= 0:
        return None
    return {p.name: draw_mountings(p.augment or DEFAULT_SPEC, aug.n, mounting_seed(clip_id, p.name, aug.seed))
            for p in placements}


def sensors_for_motion(motion: Motion, cfg: PipelineConfig, *, cutoff_hz: float | None = None,
                       require_valid: bool = True, clip_id: str = "") -> dict[str, SensorSignals]:
    """Run the physics core with the configuration's placements, rate and kinematics settings.

    With ``[augment] n > 0``, each placement is followed by ``n`` random-mounting variants, seeded from
    ``clip_id``, the placement name and ``[augment] seed`` (:mod:`imusynth.core.mounting`).
    """
    placements = resolve_placements(list(cfg.output.placements), cfg.output.placements_file or None)
    k = cfg.kinematics
    mountings = augment_mountings(placements, cfg, clip_id)
    sensors = simulate(
        motion, placements, rate_hz=cfg.output.rate_hz,
        cutoff_hz=k.cutoff_hz if cutoff_hz is None else cutoff_hz,
        max_gap_s=k.max_gap_s, min_confidence=k.min_confidence, filter_order=k.filter_order,
        require_valid=require_valid, mountings=mountings,
    )
    return flag_implausible(sensors, max_acc=cfg.clean.max_acc_g * G0, max_gyro=cfg.clean.max_gyro_rad_s,
                            where=clip_id or motion.source.rsplit("/", 1)[-1])


def flag_implausible(sensors: dict[str, SensorSignals], *, max_acc: float, max_gyro: float,
                     where: str = "") -> dict[str, SensorSignals]:
    """Mark output samples beyond what a body can do invalid (NaN values), with a warning per sensor.

    Parameters
    ----------
    sensors : dict of str to SensorSignals
        The simulated sensors.
    max_acc : float, m/s^2
        Bound on ``|acc|`` (:data:`imusynth.core.cleaning.MAX_ACC_G` g by default in ``[clean]``).
    max_gyro : float, rad/s
        Bound on ``|gyro|`` (:data:`imusynth.core.cleaning.MAX_GYRO_RAD_S`).
    where : str
        The clip, for the warning.

    Returns
    -------
    dict of str to SensorSignals
        The same sensors, those with implausible samples replaced by copies where they are invalid.
    """
    out = {}
    for name, s in sensors.items():
        acc_high, gyro_high = implausible_samples(s.acc, s.gyro, max_acc=max_acc, max_gyro=max_gyro)
        bad = (acc_high | gyro_high) & s.valid
        if bad.any():
            prefix = f"{where}: " if where else ""
            warnings.warn(
                f"{prefix}sensor {name}: {int(bad.sum())} sample(s) beyond what a body "
                f"can do marked invalid (|gyro| > {max_gyro:g} rad/s: {int((gyro_high & s.valid).sum())}, "
                f"|acc| > {max_acc / G0:g} g: {int((acc_high & s.valid).sum())}); a skeleton glitch? "
                "([clean] max_gyro_rad_s, max_acc_g)", stacklevel=3)
            nan = np.where(bad[:, None], np.nan, 1.0)
            s = dataclasses.replace(s, valid=s.valid & ~bad, acc=s.acc * nan, gyro=s.gyro * nan,
                                    orientation=s.orientation * nan)
        out[name] = s
    return out


#: A body model fitted to a motion's points: ``(motion, clip_id) -> (sensors, groups)``.
BodySensors = Callable[[Motion, str], tuple[dict[str, SensorSignals], dict[str, Any]]]


def motion_clip(file: Path, *, cfg: PipelineConfig, fmt: str | None = None, up_axis: str | None = None,
                length_unit: str | None = None, time_column: str | None = None, time_unit: str | None = None,
                source_rate_hz: float | None = None, start_s: float | None = None, end_s: float | None = None,
                clip_id: str | None = None, label: str | None = None, group: str | None = None,
                body_sensors: BodySensors | None = None) -> Clip:
    """Read ``file`` and compute every configured placement: one :class:`Clip`, nothing written.

    ``body_sensors`` (e.g. :func:`imusynth.body.anny.motion.anny_body_sensors`) replaces the skeleton
    physics: ``(motion, clip_id) -> (sensors, groups stored with the clip)``.

    Raises :class:`imusynth.errors.InputError` for unreadable files, unknown placements, missing points,
    or a recording too short to differentiate.
    """
    from imusynth.io.readers import read_motion

    motion = read_motion(file, format=fmt, up_axis=up_axis, length_unit=length_unit, time_column=time_column,
                         time_unit=time_unit, rate_hz=source_rate_hz)
    if start_s is not None or end_s is not None:
        motion = motion.crop(start_s, end_s)
    if cfg.clean.enabled:
        c = cfg.clean
        motion, cleaned = clean_motion(motion, jump_sigmas=c.jump_sigmas, min_jump_m=c.min_jump_m,
                                       bone_tolerance=c.bone_tolerance)
        if cleaned.removed.any():
            warnings.warn(f"{file.name}: {cleaned.summary()}", stacklevel=2)
    _note_cutoff(cfg.kinematics.cutoff_hz, motion.rate_hz, cfg.output.rate_hz)
    clip_id = clip_id or _clip_id(file)
    groups: dict[str, Any] = {}
    if body_sensors is not None:
        sensors, groups = body_sensors(motion, clip_id)
    else:
        sensors = sensors_for_motion(motion, cfg, clip_id=clip_id)
    return Clip(
        clip_id=clip_id,
        source=str(file),
        source_sha256=sha256_file(file),
        source_kind="motion",
        source_rate_hz=motion.rate_hz,
        duration_s=motion.duration_s,
        config=to_toml(cfg),
        sensors=sensors,
        motion=motion if cfg.output.store_motion else None,
        label=label,
        group=group,
        groups=groups,
    )


def run_motion_job(file: Path, output: Path, *, cfg: PipelineConfig, fmt: str | None = None,
                   up_axis: str | None = None, length_unit: str | None = None, time_column: str | None = None,
                   time_unit: str | None = None, source_rate_hz: float | None = None,
                   start_s: float | None = None, end_s: float | None = None, clip_id: str | None = None,
                   label: str | None = None, group: str | None = None,
                   body_sensors: BodySensors | None = None) -> Path:
    """Read ``file``, compute every configured placement and write ``output`` atomically.

    Raises :class:`imusynth.errors.InputError` (nothing is written) for unreadable files, unknown
    placements, missing points, or a recording too short to differentiate.
    """
    t0 = time.perf_counter()
    # resolve placements first: an unknown placement fails before any file is read
    resolve_placements(list(cfg.output.placements), cfg.output.placements_file or None)
    clip = motion_clip(file, cfg=cfg, fmt=fmt, up_axis=up_axis, length_unit=length_unit,
                       time_column=time_column, time_unit=time_unit, source_rate_hz=source_rate_hz,
                       start_s=start_s, end_s=end_s, clip_id=clip_id, label=label, group=group,
                       body_sensors=body_sensors)
    write_clips(output, [clip])
    log.info("motion job %s: %.2f s", file, time.perf_counter() - t0)
    return output


def dataset_clip_ids(items: Sequence[InputItem]) -> tuple[list[str], list[tuple[str, str]]]:
    """Clip ids of many motion inputs: a manifest's ``clip_id``, else the file's name without extension;
    names used twice are prefixed with their folders' names, nearest first (``s01.walk``, ``s02.walk``)."""
    ids = [it.clip_id or _clip_id(it.path) for it in items]
    return unique_ids(ids, [[q.name for q in it.path.resolve().parents if q.name] for it in items])


def run_motion_dataset(items: Sequence[InputItem], *, output: Path | None = None, out_dir: Path | None = None,
                       cfg: PipelineConfig, log_to: RunLog, label: str | None = None,
                       group: str | None = None, progress: bool | None = None,
                       on_failure: Callable[[Failure], Any] | None = None,
                       **reader: Any) -> list[Path]:
    """Many motion files in one process: one dataset file (``output``) or one file per input (``out_dir``).

    Every input is read, simulated and written with the same configuration; an input that fails is
    recorded in ``log_to`` (with its reason) and the others are kept. Clip ids come from
    :func:`dataset_clip_ids`; with ``out_dir`` each file is ``<clip id>.h5``.

    Parameters
    ----------
    items : sequence of InputItem
        The inputs (:func:`imusynth.io.inputs.expand_inputs`); an item's label and group override
        ``label`` and ``group``.
    output, out_dir : Path
        Exactly one of them.
    cfg : PipelineConfig
    log_to : RunLog
        Receives the count of inputs done and the failures.
    progress, on_failure
        See :func:`imusynth.io.inputs.each_input`.
    **reader
        ``fmt``, ``up_axis``, ``length_unit``, ``time_column``, ``time_unit``, ``source_rate_hz``,
        ``start_s``, ``end_s`` of :func:`motion_clip`.

    Returns
    -------
    list of Path
        The files written (none when every input failed).
    """
    if (output is None) == (out_dir is None):
        raise InputError("give one output: a dataset file or a folder")
    resolve_placements(list(cfg.output.placements), cfg.output.placements_file or None)
    ids, _ = dataset_clip_ids(items)
    id_of = {id(it): cid for it, cid in zip(items, ids, strict=True)}

    def work(it: InputItem) -> Clip:
        clip = motion_clip(it.path, cfg=cfg, clip_id=id_of[id(it)], label=it.label or label,
                           group=it.group or group, **reader)
        if out_dir is not None:
            write_clips(out_dir / f"{clip.clip_id}.h5", [clip])
        return clip

    done = each_input(items, work, log=log_to, progress=progress, desc="motion", on_failure=on_failure)
    if out_dir is not None:
        return [out_dir / f"{clip.clip_id}.h5" for _, clip in done]
    assert output is not None
    try:
        write_clips(output, (clip for _, clip in done))
    except SchemaError:
        if log_to.done == 0:   # every input failed: nothing to write
            return []
        raise
    return [output]


def _note_cutoff(cutoff_hz: float, source_rate_hz: float, output_rate_hz: float) -> None:
    """Say so (a warning, one line) when the cut-off is lowered by the source or output rate."""
    used = effective_cutoff(cutoff_hz, source_rate_hz, output_rate_hz)
    if used < cutoff_hz * (1 - 1e-9):
        which, rate = (("source", source_rate_hz) if source_rate_hz <= output_rate_hz
                       else ("output", output_rate_hz))
        warnings.warn(
            f"low-pass cut-off lowered from {cutoff_hz:g} Hz to {used:.3g} Hz, a quarter of the {which} rate "
            f"({rate:.3g} Hz): above it a low-pass does not keep differentiation clear of the samples' "
            "Nyquist frequency (--cutoff below it sets your own)", stacklevel=3)


#: Extensions removed from a file's name to make its clip ID (a ``.gz`` after them too).
_MOTION_SUFFIXES = (".csv", ".tsv", ".txt", ".trc", ".c3d", ".bvh")


def _clip_id(path: Path) -> str:
    name = path.name
    name = name.removesuffix(".gz")
    for suffix in _MOTION_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in name) or "clip"
