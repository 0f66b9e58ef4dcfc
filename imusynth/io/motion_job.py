"""The ``imusynth motion`` job: a motion file → virtual sensors → one HDF5 clip (a thin orchestrator)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from imusynth.config import PipelineConfig, to_toml
from imusynth.core.motion import Motion
from imusynth.core.placements import resolve_placements
from imusynth.core.sensors import SensorSignals, simulate
from imusynth.io.hdf5 import Clip, sha256_file, write_clips

log = logging.getLogger(__name__)


def sensors_for_motion(motion: Motion, cfg: PipelineConfig, *, cutoff_hz: float | None = None,
                       require_valid: bool = True, clip_id: str = "") -> dict[str, SensorSignals]:
    """Run the physics core with the configuration's placements, rate and kinematics settings.

    With ``[augment] n > 0``, each placement is followed by ``n`` random-mounting variants, seeded from
    ``clip_id``, the placement name and ``[augment] seed`` (:mod:`imusynth.core.mounting`).
    """
    from imusynth.core.mounting import DEFAULT_SPEC, draw_mountings, mounting_seed

    placements = resolve_placements(list(cfg.output.placements), cfg.output.placements_file or None)
    k = cfg.kinematics
    aug = cfg.augment
    mountings = {p.name: draw_mountings(p.augment or DEFAULT_SPEC, aug.n,
                                        mounting_seed(clip_id, p.name, aug.seed))
                 for p in placements} if aug.n > 0 else None
    return simulate(
        motion, placements, rate_hz=cfg.output.rate_hz,
        cutoff_hz=k.cutoff_hz if cutoff_hz is None else cutoff_hz,
        max_gap_s=k.max_gap_s, min_confidence=k.min_confidence, filter_order=k.filter_order,
        require_valid=require_valid, mountings=mountings,
    )


def run_motion_job(file: Path, output: Path, *, cfg: PipelineConfig, fmt: str | None = None,
                   up_axis: str | None = None, length_unit: str | None = None, time_column: str | None = None,
                   time_unit: str | None = None, source_rate_hz: float | None = None,
                   start_s: float | None = None, end_s: float | None = None, clip_id: str | None = None,
                   label: str | None = None, group: str | None = None) -> Path:
    """Read ``file``, compute every configured placement and write ``output`` atomically.

    Raises :class:`imusynth.errors.InputError` (nothing is written) for unreadable files, unknown
    placements, missing points, or a recording too short to differentiate.
    """
    from imusynth.io.readers import read_motion

    t0 = time.perf_counter()
    # resolve placements first: an unknown placement fails before any file is read
    resolve_placements(list(cfg.output.placements), cfg.output.placements_file or None)
    motion = read_motion(file, format=fmt, up_axis=up_axis, length_unit=length_unit, time_column=time_column,
                         time_unit=time_unit, rate_hz=source_rate_hz)
    if start_s is not None or end_s is not None:
        motion = motion.crop(start_s, end_s)
    clip_id = clip_id or _clip_id(file)
    sensors = sensors_for_motion(motion, cfg, clip_id=clip_id)
    clip = Clip(
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
    )
    write_clips(output, [clip])
    log.info("motion job %s: %.2f s", file, time.perf_counter() - t0)
    return output


def _clip_id(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv", ".trc", ".c3d"):
        name = name.removesuffix(suffix)
    return "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in name) or "clip"
