"""The video pipeline's thin orchestrator: video → pose → tracks → lift → camera → Motion → sensors → HDF5.

Stages 1-4 stream frame by frame (:mod:`imusynth.video.stream`); tracks are then read back and turned
into motions one at a time (:mod:`imusynth.video.segments`). Each stage lives in its own module; this one
only wires them together, times them and writes the result.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from imusynth.config import PipelineConfig, to_toml
from imusynth.core.placements import resolve_placements
from imusynth.errors import InputError, NoPersonError
from imusynth.video.detectors import flip_averaged_detector
from imusynth.video.framestore import FrameStore
from imusynth.video.lift.lifters import Lifter, lifter_from_spec
from imusynth.video.pose.tracking import main_track_id, track_summary
from imusynth.video.stream import Detector, VideoRun, mediapipe_detector, run_stages

# The HDF5 writer, the segments and the sensor physics (h5py and SciPy: ~75 MiB resident) are imported after
# the streaming pass, so that they are not held beside the pose models (issue 14's peak memory).
if TYPE_CHECKING:
    from imusynth.io.hdf5 import Clip
    from imusynth.video.segments import PersonSegment

log = logging.getLogger(__name__)

__all__ = ["VideoRun", "mediapipe_detector", "process_video",
           "resolve_video_input", "run_stages"]



def _clip_id(stem: str, person: PersonSegment, n_segments: int, all_persons: bool) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "video"
    if all_persons:
        base += f"_p{person.track_id}"
    if n_segments > 1:
        base += f"_s{person.segment}"
    return base


@dataclass
class _BodyModel:
    """The body model and the mesh placements resolved on it (``[smpl] body_model = "smpl" | "anny"``)."""

    model: Any
    placements: list[Any]
    name: str = "smpl"


def _load_body_model(cfg: PipelineConfig) -> _BodyModel | None:
    """Load the SMPL or Anny model and its mesh placements, or None for the skeleton pipeline."""
    if cfg.smpl.body_model == "anny":
        from imusynth.body.anny.fit import anny_rest
        from imusynth.body.anny.model import load_anny
        from imusynth.body.anny.placements import anny_mesh_placements

        anny = load_anny()
        table = anny_mesh_placements(anny_rest(anny), list(cfg.output.placements),
                                     region_radius_m=cfg.smpl.region_radius_m)
        return _BodyModel(anny, [table[n] for n in cfg.output.placements], "anny")
    if cfg.smpl.body_model != "smpl":
        return None
    from imusynth.body.smpl import builtin_mesh_placements, load_model

    if not cfg.smpl.smpl_dir:
        raise InputError("--body-model smpl needs --smpl-dir DIR, the folder of your SMPL model files "
                         "(obtain them at https://smpl.is.tue.mpg.de; see docs/smpl.md)")
    model = load_model(cfg.smpl.smpl_dir, gender=cfg.smpl.gender)
    table = builtin_mesh_placements(model, list(cfg.output.placements),
                                    region_radius_m=cfg.smpl.region_radius_m)
    return _BodyModel(model, [table[n] for n in cfg.output.placements])


def _smpl_sensors(ps: PersonSegment, body: _BodyModel, K: NDArray[np.float64], cfg: PipelineConfig,
                  clip_id: str = "") -> tuple[dict[str, Any], Any]:
    """Fit SMPL (or Anny) to one person segment and compute its mesh sensors (docs/smpl.md, docs/anny.md)."""
    from imusynth.core.sensors import simulate
    from imusynth.io.motion_job import augment_mountings

    s = cfg.smpl
    weights = ps.motion.confidence
    R_world_from_cam = ps.pose["camera_rotation"].astype(np.float64)
    common = dict(cam_rotation=np.transpose(R_world_from_cam, (0, 2, 1)), n_iters=s.n_iters,
                  smooth_weight=s.smooth_weight, reproj_weight=s.reproj_weight,
                  pose_prior_weight=s.pose_prior_weight, shape_prior_weight=s.shape_prior_weight,
                  torch_threads=s.torch_threads)
    image_xy = ps.pose["image_xy"].astype(np.float64) - 0.5
    if body.name == "anny":
        from imusynth.body.anny import fit as anny_fit

        fit = anny_fit.fit_anny(ps.motion.xyz, image_xy, weights, K, body.model, **common)  # type: ignore[arg-type]
        motion, placements = anny_fit.fit_sensor_motion(body.model, fit, ps.motion.time, body.placements,
                                                        source=ps.motion.source)
        record = anny_fit.anny_record(fit, body.model)
    else:
        from imusynth.body.smpl.fit import clip_record, fit_clip, fit_sensor_motion

        fit = fit_clip(ps.motion.xyz, image_xy, weights, K, body.model, num_betas=s.num_betas,
                       **common)  # type: ignore[arg-type]
        motion, placements = fit_sensor_motion(body.model, fit, ps.motion.time, body.placements,
                                               source=ps.motion.source)
        record = clip_record(fit, body.model)
    k = cfg.kinematics
    sensors = simulate(motion, placements, rate_hz=cfg.output.rate_hz, cutoff_hz=k.video_cutoff_hz,
                       max_gap_s=k.max_gap_s, min_confidence=k.min_confidence, filter_order=k.filter_order,
                       require_valid=False, mountings=augment_mountings(list(placements), cfg, clip_id))
    return sensors, record


def resolve_video_input(video: str) -> tuple[Path, dict[str, str]]:
    """A local path as it is; a URL fetched once with yt-dlp into the user's cache (provenance attrs too)."""
    from imusynth.video.fetch import DownloadOptions, FetchError, fetch, is_url

    if not is_url(video):
        return Path(video), {}
    import os

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "imusynth" / "videos"
    try:
        result = fetch(video, options=DownloadOptions(cache_dir=cache))
    except FetchError as exc:
        raise InputError(f"could not fetch {video}: {exc}") from None
    return Path(result.video_path), dict(result.provenance)


def process_video(video_path: Path, out_path: Path, *, config: PipelineConfig, label: str | None = None,
                  group: str | None = None, extra_attrs: dict[str, Any] | None = None, progress: bool = False,
                  overlay_path: Path | None = None, plot_path: Path | None = None,
                  detector_factory: Callable[[PipelineConfig], Detector] = mediapipe_detector,
                  lifter: Lifter | None = None) -> Path:
    """Run the whole video pipeline on one file and write one ``imusynth/1`` HDF5 file atomically.

    The lifter is ``lifter`` when given (e.g. an :class:`~imusynth.video.lift.lifters.OracleLifter`),
    else the one named by ``[lift] lifter`` (loaded before the video is read, so a bad file fails first).

    Raises
    ------
    InputError
        Not a video, an empty file, unknown placements, a missing model.
    NoPersonError
        Nobody tracked for at least ``tracking.min_track_s``.
    """
    cfg = config
    video = Path(video_path)
    placements = resolve_placements(list(cfg.output.placements), cfg.output.placements_file or None)
    body = _load_body_model(cfg)
    lifter = lifter if lifter is not None else lifter_from_spec(cfg.lift.lifter)
    if cfg.lift.flip_average:       # horizontal-flip test-time averaging of the world landmarks
        detector_factory = flip_averaged_detector(detector_factory)
    t_start = time.perf_counter()
    out_dir = Path(out_path).parent
    # the per-frame rows spill to an unnamed temporary file beside the output, gone when the block ends
    with FrameStore(out_dir if out_dir.is_dir() else None) as store:
        run = run_stages(video, cfg, progress=progress, detector_factory=detector_factory, store=store)
        from imusynth.video.segments import longest_run_s, person_segments  # SciPy: after the pose stage

        summaries = []                                  # one track in memory at a time
        for track_id in run.track_ids:
            tr = run.track(track_id)
            if longest_run_s(tr.time, max_gap_s=cfg.kinematics.max_gap_s) >= cfg.tracking.min_track_s:
                summaries.append(track_summary(tr, (run.width, run.height)))
            del tr
        if not summaries:
            raise NoPersonError(f"{video}: no person tracked for at least {cfg.tracking.min_track_s} s")
        if cfg.tracking.person == "main":
            track_ids = [main_track_id(summaries)]
        else:
            track_ids = [s.track_id for s in summaries]
        segments = [ps for tid in track_ids
                    for ps in person_segments(run, run.track(tid), depth_cutoff_hz=cfg.lift.depth_cutoff_hz,
                                              min_visibility=cfg.pose.min_visibility,
                                              max_gap_s=cfg.kinematics.max_gap_s,
                                              leg_length_tolerance=cfg.lift.leg_length_tolerance,
                                              lifter=lifter)]
        if not segments:
            raise NoPersonError(f"{video}: no person could be placed in 3-D (too few visible landmarks)")
        from imusynth.io.hdf5 import Clip, sha256_file, write_clips
        from imusynth.io.motion_job import sensors_for_motion

        n_shots = run.n_shots
        sha = sha256_file(video)
        config_text = to_toml(cfg)
        clips: list[Clip] = []
        for ps in segments:
            if ps.motion.n_frames < 12:
                continue
            groups: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
            clip_id = _clip_id(video.stem, ps, n_shots, cfg.tracking.person == "all")
            if body is None:
                sensors = sensors_for_motion(ps.motion, cfg, cutoff_hz=cfg.kinematics.video_cutoff_hz,
                                             require_valid=False, clip_id=clip_id)
            else:
                sensors, record = _smpl_sensors(ps, body, run.K, cfg, clip_id)
                groups[body.name] = (record.datasets, record.attrs)
            attrs: dict[str, Any] = {
                "track_id": ps.track_id, "shot": ps.segment, "n_shots": n_shots,
                "corrupt_frames": np.asarray(run.corrupt_frames, dtype=np.int64),
                "fov_deg_assumed": cfg.lift.fov_deg, "camera_static": cfg.camera.static,
                "pose_model": cfg.pose.model,
                "lifter": lifter.name, "lifter_sha256": lifter.sha256,
            }
            attrs.update(extra_attrs or {})
            clips.append(Clip(
                clip_id=clip_id,
                source=str(video), source_sha256=sha, source_kind="video", source_rate_hz=float(run.fps),
                duration_s=ps.motion.duration_s, config=config_text, sensors=sensors,
                motion=ps.motion if cfg.output.store_motion else None, label=label, group=group, attrs=attrs,
                pose=ps.pose, groups=groups,
            ))
        if not clips:
            raise NoPersonError(f"{video}: every tracked person segment is too short to differentiate")
        write_clips(out_path, clips)
        run.timings["total"] = time.perf_counter() - t_start
        log.info("%s: %d frames, %d clips, timings %s", video, run.n_frames, len(clips), run.timings)
        del segments, clips
        if plot_path is not None:
            from imusynth.io.inspect import plot_file

            plot_file(out_path, plot_path)
        if overlay_path is not None:
            from imusynth.video.overlay import write_overlay

            write_overlay(video, out_path, overlay_path, run, placements, start_s=cfg.video.start_s,
                          end_s=None if cfg.video.end_s < 0 else cfg.video.end_s)
    return Path(out_path)
