"""Pipeline configuration: TOML → frozen dataclasses, with defaults and CLI overrides.

The defaults (with units and allowed values in comments) are ``imusynth/data/pipeline.toml``;
a user file overrides any subset of keys; CLI flags override both (:func:`with_overrides`).
Numeric functions never receive this object: the orchestrators unpack it into explicit arguments.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from imusynth.errors import InputError


class ConfigError(InputError):
    """An invalid configuration file or value."""


@dataclass(frozen=True)
class OutputConfig:
    """``[output]``: rate in Hz, placement names, placements file, whether to store the motion."""

    rate_hz: float = 50.0
    placements: tuple[str, ...] = ("wrist",)
    placements_file: str = ""
    store_motion: bool = True


@dataclass(frozen=True)
class KinematicsConfig:
    """``[kinematics]``: cut-offs in Hz, longest bridged gap in s, confidence threshold, filter order."""

    cutoff_hz: float = 6.0
    video_cutoff_hz: float = 3.0
    max_gap_s: float = 0.2
    min_confidence: float = 0.5
    filter_order: int = 2


@dataclass(frozen=True)
class VideoConfig:
    """``[video]``: processed span in s (``end_s = -1`` means to the end)."""

    start_s: float = 0.0
    end_s: float = -1.0


@dataclass(frozen=True)
class PoseConfig:
    """``[pose]``: model variant or path, people per frame, MediaPipe thresholds in [0, 1]."""

    model: str = "full"
    num_poses: int = 4
    detect_every: int = 8
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    min_visibility: float = 0.5


@dataclass(frozen=True)
class TrackingConfig:
    """``[tracking]``: which person ("main" or "all"), shortest kept track and longest miss, s."""

    person: str = "main"
    min_track_s: float = 1.0
    max_missed_s: float = 0.5


@dataclass(frozen=True)
class LiftConfig:
    """``[lift]``: default horizontal field of view in degrees, depth low-pass in Hz, leg-length tolerance
    (fraction in (0, 1]), lifter ("mediapipe" or the path of a lifter file), horizontal-flip averaging."""

    fov_deg: float = 60.0
    depth_cutoff_hz: float = 1.0
    leg_length_tolerance: float = 0.15
    lifter: str = "mediapipe"
    flip_average: bool = False


@dataclass(frozen=True)
class CameraConfig:
    """``[camera]``: static switch, features per frame, RANSAC threshold in px, shot-cut threshold."""

    static: bool = False
    max_features: int = 150
    ransac_threshold_px: float = 1.0
    shot_cut_threshold: float = 0.5


@dataclass(frozen=True)
class SmplConfig:
    """``[smpl]``: body model ("skeleton" | "smpl" | "anny"), model folder, gender, fit settings
    (docs/smpl.md, docs/anny.md)."""

    body_model: str = "skeleton"
    smpl_dir: str = ""
    gender: str = "neutral"
    n_iters: int = 15
    smooth_weight: float = 0.3
    reproj_weight: float = 1.0
    pose_prior_weight: float = 0.001
    shape_prior_weight: float = 0.01
    num_betas: int = 10
    torch_threads: int = 2
    region_radius_m: float = 0.02


@dataclass(frozen=True)
class ReportConfig:
    """``[report]``: the QA report's flag thresholds (``imusynth report``, docs/report.md).

    ``max_acc_g`` in g (1 g = 9.80665 m/s^2), ``max_gyro_rad_s`` in rad/s, ``min_valid_share`` a fraction
    in [0, 1], ``max_depth_speed_m_s`` in m/s, ``max_identity_switches`` a count. They only flag clips on the
    page: they change no output, so they are not part of :func:`config_hash`.
    """

    max_acc_g: float = 8.0
    max_gyro_rad_s: float = 20.0
    min_valid_share: float = 0.5
    max_depth_speed_m_s: float = 3.0
    max_identity_switches: int = 2


@dataclass(frozen=True)
class AugmentConfig:
    """``[augment]``: random-mounting variants written per sensor (a count >= 0) and their seed (an integer,
    mixed with the clip id and the placement name; see :mod:`imusynth.core.mounting`)."""

    n: int = 0
    seed: int = 0


@dataclass(frozen=True)
class CleanConfig:
    """``[clean]``: glitch cleaning of motion files before the physics (docs/physics.md, "Glitch cleaning").

    ``enabled`` true | false (``--clean/--no-clean``); ``jump_sigmas`` robust standard deviations (> 0);
    ``min_jump_m`` m (>= 0); ``bone_tolerance`` a fraction in (0, 1] (1: no bone check); ``max_gyro_rad_s``
    rad/s and ``max_acc_g`` g (> 0): output samples beyond them are marked invalid, for video too.
    """

    enabled: bool = True
    jump_sigmas: float = 4.0
    min_jump_m: float = 0.03
    bone_tolerance: float = 0.3
    max_gyro_rad_s: float = 35.0
    max_acc_g: float = 16.0


@dataclass(frozen=True)
class PipelineConfig:
    """The whole configuration, one frozen dataclass per TOML table."""

    output: OutputConfig = field(default_factory=OutputConfig)
    kinematics: KinematicsConfig = field(default_factory=KinematicsConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    lift: LiftConfig = field(default_factory=LiftConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    smpl: SmplConfig = field(default_factory=SmplConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)


_ALLOWED = {
    ("tracking", "person"): ("main", "all"),
    ("smpl", "body_model"): ("skeleton", "smpl", "anny"),
    ("smpl", "gender"): ("neutral", "male", "female"),
}
_POSITIVE = {("output", "rate_hz"), ("kinematics", "cutoff_hz"), ("kinematics", "video_cutoff_hz"),
             ("lift", "fov_deg"), ("lift", "depth_cutoff_hz"), ("lift", "leg_length_tolerance"),
             ("smpl", "region_radius_m")}
_UNIT_INTERVAL = {("kinematics", "min_confidence"), ("pose", "min_detection_confidence"),
                  ("pose", "min_presence_confidence"), ("pose", "min_tracking_confidence"),
                  ("pose", "min_visibility"), ("camera", "shot_cut_threshold"),
                  ("lift", "leg_length_tolerance")}
_POSITIVE |= {("report", "max_acc_g"), ("report", "max_gyro_rad_s"), ("report", "max_depth_speed_m_s")}
_UNIT_INTERVAL |= {("report", "min_valid_share")}
#: closed ranges [low, high] (None: unbounded) of the other numeric keys, as pipeline.toml documents them
_RANGES: dict[tuple[str, str], tuple[float | None, float | None]] = {
    ("lift", "fov_deg"): (1.0, 179.0),
    ("kinematics", "max_gap_s"): (0.0, None),
    ("kinematics", "filter_order"): (1, 8),
    ("video", "start_s"): (0.0, None),
    ("pose", "num_poses"): (1, 10),
    ("pose", "detect_every"): (0, 300),
    ("tracking", "min_track_s"): (0.0, None),
    ("tracking", "max_missed_s"): (0.0, None),
    ("camera", "max_features"): (3, None),
    ("camera", "ransac_threshold_px"): (1e-9, None),
    ("smpl", "n_iters"): (1, None),
    ("smpl", "smooth_weight"): (0.0, None),
    ("smpl", "reproj_weight"): (0.0, None),
    ("smpl", "pose_prior_weight"): (0.0, None),
    ("smpl", "shape_prior_weight"): (0.0, None),
    ("smpl", "num_betas"): (1, 10),
    ("smpl", "torch_threads"): (1, None),
}
_RANGES[("report", "max_identity_switches")] = (0, None)
_RANGES[("augment", "n")] = (0, 1000)
_POSITIVE |= {("clean", "jump_sigmas"), ("clean", "bone_tolerance"), ("clean", "max_gyro_rad_s"),
              ("clean", "max_acc_g")}
_UNIT_INTERVAL |= {("clean", "bone_tolerance")}
_RANGES[("clean", "min_jump_m")] = (0.0, None)


def _check_range(where: str, section: str, key: str, value: float) -> None:
    low, high = _RANGES.get((section, key), (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"in [{low:g}, {high:g}]" if low is not None and high is not None else (
            f">= {low:g}" if low is not None else f"<= {high:g}")
        raise ConfigError(f"{where} must be {bounds}, got {value:g}")


def _coerce(section: str, key: str, value: Any, default: Any, where: str | None = None) -> Any:
    where = where or f"[{section}] {key}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        _check_range(where, section, key, value)
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        value = float(value)
        if (section, key) in _POSITIVE and value <= 0:
            raise ConfigError(f"{where} must be positive, got {value}")
        if (section, key) in _UNIT_INTERVAL and not 0.0 <= value <= 1.0:
            raise ConfigError(f"{where} must be in [0, 1], got {value}")
        _check_range(where, section, key, value)
        if (section, key) == ("video", "end_s") and value != -1.0 and value < 0:
            raise ConfigError(f"{where} must be >= 0 (or -1: to the end), got {value:g}")
        return value
    if isinstance(default, tuple):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings, got {value!r}")
        return tuple(value)
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}")
    allowed = _ALLOWED.get((section, key))
    if allowed and value not in allowed:
        raise ConfigError(f"{where} must be one of {allowed}, got {value!r}")
    return value


def config_from_dict(data: dict[str, Any], base: PipelineConfig | None = None, *,
                     names: dict[str, str] | None = None) -> PipelineConfig:
    """Apply the tables of ``data`` over ``base`` (default: the built-in defaults), validating each key.

    ``names`` maps ``"section.key"`` to the name an error message gives the value (a CLI flag such as
    ``--fov``); other keys are named ``[section] key`` as in the TOML file.
    """
    names = names or {}
    cfg = base or PipelineConfig()
    changes: dict[str, Any] = {}
    for section, table in data.items():
        if section not in {f.name for f in dataclasses.fields(PipelineConfig)}:
            raise ConfigError(f"unknown table [{section}]; known: "
                              f"{', '.join(f.name for f in dataclasses.fields(PipelineConfig))}")
        if not isinstance(table, dict):
            raise ConfigError(f"[{section}] must be a table")
        current = getattr(cfg, section)
        known = {f.name: getattr(current, f.name) for f in dataclasses.fields(current)}
        upd = {}
        for key, value in table.items():
            if key not in known:
                raise ConfigError(f"unknown key [{section}] {key}; known: {', '.join(known)}")
            upd[key] = _coerce(section, key, value, known[key], names.get(f"{section}.{key}"))
        changes[section] = dataclasses.replace(current, **upd)
    out = dataclasses.replace(cfg, **changes)
    v = out.video
    if v.end_s != -1.0 and v.end_s <= v.start_s:
        end = names.get("video.end_s", "[video] end_s")
        start = names.get("video.start_s", "[video] start_s")
        raise ConfigError(f"{end} ({v.end_s:g} s) must be after {start} ({v.start_s:g} s)")
    return out


def default_toml_text() -> str:
    """The commented default configuration shipped with the package."""
    return resources.files("imusynth").joinpath("data/pipeline.toml").read_text(encoding="utf-8")


def load_pipeline_config(path: str | Path | None = None) -> PipelineConfig:
    """Defaults from the package, then the user's TOML file at ``path`` (if any) over them."""
    cfg = config_from_dict(tomllib.loads(default_toml_text()), PipelineConfig())
    if path is None or str(path) == "":
        return cfg
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"pipeline file not found: {p}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"pipeline file {p} is not valid TOML: {exc}") from None
    return config_from_dict(data, cfg)


def with_overrides(cfg: PipelineConfig, overrides: dict[str, Any], *,
                   names: dict[str, str] | None = None) -> PipelineConfig:
    """Apply ``{"section.key": value}`` overrides (CLI flags); ``None`` values are ignored.

    ``names`` maps ``"section.key"`` to the flag an error message names (see :func:`config_from_dict`).
    """
    data: dict[str, dict[str, Any]] = {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, key = dotted.split(".", 1)
        data.setdefault(section, {})[key] = value
    return config_from_dict(data, cfg, names=names)


def to_dict(cfg: PipelineConfig) -> dict[str, dict[str, Any]]:
    """Plain nested dict of the configuration (tuples as lists)."""
    return {k: {kk: list(vv) if isinstance(vv, tuple) else vv for kk, vv in v.items()}
            for k, v in dataclasses.asdict(cfg).items()}


def to_toml(cfg: PipelineConfig) -> str:
    """The full configuration as TOML text (what is stored in each clip's ``config`` attribute)."""
    lines = []
    for section, table in to_dict(cfg).items():
        lines.append(f"[{section}]")
        for key, value in table.items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    return "\n".join(lines)


def config_hash(cfg: PipelineConfig) -> str:
    """Short SHA-256 of the canonical configuration, used to skip work already done with it."""
    outputs = {k: v for k, v in to_dict(cfg).items() if k != "report"}   # [report] changes no output
    return hashlib.sha256(json.dumps(outputs, sort_keys=True).encode()).hexdigest()[:16]
