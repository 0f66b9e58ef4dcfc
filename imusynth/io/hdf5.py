"""HDF5 output, schema ``imusynth/1`` (stage 7): write atomically, read, validate.

Layout (documented in docs/hdf5_schema.md)::

    /                              attrs: schema, imusynth_version, created
    /clips/<clip_id>               attrs: source, source_sha256, source_kind, source_rate_hz,
                                          duration_s, config, [label], [group], [extra attrs]
    /clips/<clip_id>/sensors/<placement>/
        time (N,) float64 s, acc (N,3) float32 m/s^2, gyro (N,3) float32 rad/s,
        orientation (N,4) float32 w,x,y,z, valid (N,) bool
        attrs: rate_hz, cutoff_hz, acc_unit, gyro_unit, gravity_included, frame, placement
    /clips/<clip_id>/motion/       time (T,), names (P,), xyz (T,P,3) float32 m, confidence (T,P) float32
    /clips/<clip_id>/pose/         optional arrays of the video pipeline (2-D landmarks, ...)
    /profiles/<sha256>             calibration profiles (TOML text), stored once per file; a calibrated clip
                                   names its profile in the attr calibration_profile_sha256

Video clips' extra attrs include ``lifter`` (``"mediapipe"`` or ``"learned:<file>"``) and ``lifter_sha256``
(the lifter file's SHA-256, ``""`` for MediaPipe): which 3-D lifter made the clip.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from imusynth import __version__
from imusynth.core.conventions import ACC_UNIT, GYRO_UNIT
from imusynth.core.motion import Motion
from imusynth.core.sensors import SensorSignals
from imusynth.errors import InputError

SCHEMA = "imusynth/1"
SOURCE_KINDS = ("video", "motion")
#: A clip attribute that holds a calibration profile's TOML text in memory (:class:`Clip`). In the file the
#: text is stored once, as ``/profiles/<sha256>``, and the clip holds :data:`PROFILE_REF` = the SHA-256.
PROFILE_TEXT = "calibration_profile_toml"
PROFILE_REF = "calibration_profile_sha256"


class SchemaError(InputError):
    """A file that is not a valid ``imusynth/1`` file."""


@dataclass
class Clip:
    """One clip of an ``imusynth/1`` file.

    Attributes
    ----------
    clip_id : str
        Group name under ``/clips`` (letters, digits, ``_-.``).
    source : str
        Path or URL of the input.
    source_sha256 : str
        SHA-256 of the input file ("" when unknown).
    source_kind : {"video", "motion"}
    source_rate_hz : float, Hz
    duration_s : float, s
    config : str
        The full TOML configuration used.
    sensors : dict of str to SensorSignals
    motion : Motion or None
        The points the sensors were computed from.
    label, group : str or None
        Activity label and split key (subject or video id).
    attrs : dict
        Extra clip attributes (provenance, calibration profile, ...): str, int, float or bool values.
    pose : dict of str to ndarray, or None
        Extra arrays of the video pipeline, written under ``pose/``.
    groups : dict of str to (dict of str to ndarray, dict of attrs)
        Further named groups of the clip, e.g. ``smpl`` (fitted body-model parameters).
    """

    clip_id: str
    source: str
    source_sha256: str
    source_kind: str
    source_rate_hz: float
    duration_s: float
    config: str
    sensors: dict[str, SensorSignals]
    motion: Motion | None = None
    label: str | None = None
    group: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    pose: dict[str, NDArray[Any]] | None = None
    groups: dict[str, tuple[dict[str, NDArray[Any]], dict[str, Any]]] = field(default_factory=dict)


def sha256_file(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A crash or an exception leaves no half-written file at ``path`` (and removes the temporary).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)   # mkstemp makes 0600; give the file the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _check_clip_id(clip_id: str) -> None:
    ok = clip_id and all(ch.isalnum() or ch in "_-." for ch in clip_id)
    if not ok:
        raise SchemaError(f"clip id {clip_id!r} must be non-empty and use only letters, digits, '_-.'")


def _write_sensor(g: h5py.Group, s: SensorSignals) -> None:
    g.create_dataset("time", data=np.asarray(s.time, dtype=np.float64))
    g.create_dataset("acc", data=np.asarray(s.acc, dtype=np.float32), compression="gzip", shuffle=True)
    g.create_dataset("gyro", data=np.asarray(s.gyro, dtype=np.float32), compression="gzip", shuffle=True)
    g.create_dataset("orientation", data=np.asarray(s.orientation, dtype=np.float32), compression="gzip",
                     shuffle=True)
    g.create_dataset("valid", data=np.asarray(s.valid, dtype=bool))
    g.attrs.update({
        "rate_hz": float(s.rate_hz),
        "cutoff_hz": float(s.cutoff_hz),
        "acc_unit": ACC_UNIT,
        "gyro_unit": GYRO_UNIT,
        "gravity_included": True,
        "orientation_convention": "w,x,y,z; rotates sensor-frame vectors into the world frame (z up)",
        "frame": s.frame,
        "placement": s.placement_toml,
    })
    for k, v in s.attrs.items():                      # e.g. an augmentation variant's mounting
        g.attrs[k] = v


def _write_clip(root: h5py.Group, clip: Clip) -> None:
    _check_clip_id(clip.clip_id)
    if clip.source_kind not in SOURCE_KINDS:
        raise SchemaError(f"source_kind must be one of {SOURCE_KINDS}, got {clip.source_kind!r}")
    g = root.create_group(clip.clip_id)
    g.attrs.update({
        "source": clip.source,
        "source_sha256": clip.source_sha256,
        "source_kind": clip.source_kind,
        "source_rate_hz": float(clip.source_rate_hz),
        "duration_s": float(clip.duration_s),
        "config": clip.config,
    })
    if clip.label is not None:
        g.attrs["label"] = clip.label
    if clip.group is not None:
        g.attrs["group"] = clip.group
    for k, v in clip.attrs.items():
        if k == PROFILE_TEXT:                       # stored once per file, referenced by its SHA-256
            g.attrs[PROFILE_REF] = _store_profile(root.file, str(v))
        else:
            g.attrs[k] = v
    sg = g.create_group("sensors")
    for name, s in clip.sensors.items():
        _write_sensor(sg.create_group(name), s)
    if clip.motion is not None:
        m = clip.motion
        mg = g.create_group("motion")
        mg.create_dataset("time", data=m.time)
        mg.create_dataset("names", data=np.array(m.names, dtype=h5py.string_dtype()))
        mg.create_dataset("xyz", data=m.xyz.astype(np.float32), compression="gzip", shuffle=True)
        mg.create_dataset("confidence", data=m.confidence.astype(np.float32), compression="gzip",
                          shuffle=True)
        mg.attrs.update({"unit": "m", "frame": "world, right-handed, z up", "skeleton": m.skeleton or ""})
    extra = dict(clip.groups)
    if clip.pose:
        extra["pose"] = (clip.pose, {})
    for group_name, (arrays, group_attrs) in extra.items():
        if group_name in ("sensors", "motion"):
            raise SchemaError(f"clip group name {group_name!r} is reserved")
        pg = g.create_group(group_name)
        pg.attrs.update(group_attrs)
        for k, arr in arrays.items():
            a = np.asarray(arr)
            if a.dtype.kind in "US":
                pg.create_dataset(k, data=a.astype(h5py.string_dtype()))
            else:
                pg.create_dataset(k, data=a, compression="gzip" if a.size > 1024 else None)


def _store_profile(f: h5py.File, text: str) -> str:
    """Store a calibration profile's TOML text as ``/profiles/<sha256>`` unless it is there; its SHA-256."""
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    profiles = f.require_group("profiles")
    if sha not in profiles:
        ds = profiles.create_dataset(sha, data=text, dtype=h5py.string_dtype("utf-8"))
        ds.attrs["format"] = "imusynth-calibration/1 TOML text"
    return sha


def write_clips(path: str | Path, clips: Iterable[Clip]) -> Path:
    """Write clips into a new ``imusynth/1`` file at ``path``, atomically (temp file, then rename)."""
    target = Path(path)
    with atomic_path(target) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["schema"] = SCHEMA
        f.attrs["imusynth_version"] = __version__
        f.attrs["created"] = datetime.now(UTC).isoformat(timespec="seconds")
        root = f.create_group("clips")
        n = 0
        for clip in clips:
            if clip.clip_id in root:
                raise SchemaError(f"duplicate clip id {clip.clip_id!r}")
            _write_clip(root, clip)
            n += 1
        if n == 0:
            raise SchemaError("no clip to write")
    return target


def _str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _read_sensor(name: str, g: h5py.Group) -> SensorSignals:
    return SensorSignals(
        placement=name,
        time=g["time"][()],
        acc=g["acc"][()].astype(np.float64),
        gyro=g["gyro"][()].astype(np.float64),
        orientation=g["orientation"][()].astype(np.float64),
        valid=g["valid"][()].astype(bool),
        rate_hz=float(g.attrs["rate_hz"]),
        cutoff_hz=float(g.attrs.get("cutoff_hz", np.nan)),
        frame=_str(g.attrs.get("frame", "")),
        placement_toml=_str(g.attrs.get("placement", "")),
        attrs={k: (_str(v) if isinstance(v, bytes | str) else v) for k, v in g.attrs.items()
               if k not in _SENSOR_ATTRS},
    )


_SENSOR_ATTRS = {"rate_hz", "cutoff_hz", "acc_unit", "gyro_unit", "gravity_included",
                 "orientation_convention", "frame", "placement"}


_CORE_ATTRS = {"source", "source_sha256", "source_kind", "source_rate_hz", "duration_s", "config", "label",
               "group"}


def read_clips(path: str | Path, *, with_motion: bool = True, with_pose: bool = False) -> list[Clip]:
    """Read every clip of an ``imusynth/1`` file (arrays as float64)."""
    p = Path(path)
    problems = validate_file(p)
    if problems:
        raise SchemaError(f"{p} is not a valid {SCHEMA} file: {problems[0]}")
    clips = []
    with h5py.File(p, "r") as f:
        texts: dict[str, str] = {}                  # each stored profile read once, shared by its clips
        for cid, g in f["clips"].items():
            motion = None
            if with_motion and "motion" in g:
                mg = g["motion"]
                motion = Motion(
                    time=mg["time"][()],
                    names=tuple(_str(n) for n in mg["names"][()]),
                    xyz=mg["xyz"][()].astype(np.float64),
                    confidence=mg["confidence"][()].astype(np.float64),
                    source=_str(g.attrs["source"]),
                    skeleton=_str(mg.attrs.get("skeleton", "")) or None,
                )
            pose = None
            if with_pose and "pose" in g:
                pose = {k: v[()] for k, v in g["pose"].items()}
            clips.append(Clip(
                clip_id=cid,
                source=_str(g.attrs["source"]),
                source_sha256=_str(g.attrs["source_sha256"]),
                source_kind=_str(g.attrs["source_kind"]),
                source_rate_hz=float(g.attrs["source_rate_hz"]),
                duration_s=float(g.attrs["duration_s"]),
                config=_str(g.attrs["config"]),
                sensors={name: _read_sensor(name, sg) for name, sg in g["sensors"].items()},
                motion=motion,
                label=_str(g.attrs["label"]) if "label" in g.attrs else None,
                group=_str(g.attrs["group"]) if "group" in g.attrs else None,
                attrs=_clip_attrs(f, g, texts),
                pose=pose,
            ))
    return clips


def _clip_attrs(f: h5py.File, g: h5py.Group, texts: dict[str, str]) -> dict[str, Any]:
    """A clip's extra attributes; a profile reference (:data:`PROFILE_REF`) resolved: :data:`PROFILE_TEXT`."""
    attrs = {k: (_str(v) if isinstance(v, bytes | str) else v) for k, v in g.attrs.items()
             if k not in _CORE_ATTRS and k != PROFILE_REF}
    sha = _str(g.attrs[PROFILE_REF]) if PROFILE_REF in g.attrs else None
    if sha is not None:
        if sha not in texts:
            texts[sha] = _str(f["profiles"][sha][()])
        attrs[PROFILE_TEXT] = texts[sha]
    return attrs


def read_profiles(path: str | Path) -> dict[str, str]:
    """The calibration profiles stored in an ``imusynth/1`` file: SHA-256 -> TOML text."""
    with h5py.File(path, "r") as f:
        return {sha: _str(ds[()]) for sha, ds in f["profiles"].items()} if "profiles" in f else {}


_SENSOR_DATASETS = {"time": (1, None), "acc": (2, 3), "gyro": (2, 3), "orientation": (2, 4),
                    "valid": (1, None)}


def validate_file(path: str | Path) -> list[str]:
    """Problems that make ``path`` an invalid ``imusynth/1`` file; an empty list means valid."""
    p = Path(path)
    if not p.is_file():
        return [f"no such file: {p}"]
    problems: list[str] = []
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        return [f"not an HDF5 file ({exc})"]
    with f:
        if _str(f.attrs.get("schema", "")) != SCHEMA:
            problems.append(f"root attribute schema is {f.attrs.get('schema')!r}, expected {SCHEMA!r}")
        for key in ("imusynth_version", "created"):
            if key not in f.attrs:
                problems.append(f"root attribute {key!r} missing")
        if "clips" not in f or len(f["clips"]) == 0:
            problems.append("no /clips group or no clip in it")
            return problems
        for cid, g in f["clips"].items():
            for key in ("source", "source_sha256", "source_kind", "source_rate_hz", "duration_s", "config"):
                if key not in g.attrs:
                    problems.append(f"/clips/{cid}: attribute {key!r} missing")
            if _str(g.attrs.get("source_kind", "")) not in SOURCE_KINDS:
                problems.append(f"/clips/{cid}: source_kind must be one of {SOURCE_KINDS}")
            if PROFILE_REF in g.attrs and _str(g.attrs[PROFILE_REF]) not in f.get("profiles", {}):
                problems.append(f"/clips/{cid}: {PROFILE_REF} names no dataset under /profiles")
            if "sensors" not in g or len(g["sensors"]) == 0:
                problems.append(f"/clips/{cid}: no sensors")
                continue
            for name, sg in g["sensors"].items():
                where = f"/clips/{cid}/sensors/{name}"
                n = None
                for ds, (ndim, width) in _SENSOR_DATASETS.items():
                    if ds not in sg:
                        problems.append(f"{where}: dataset {ds!r} missing")
                        continue
                    shape = sg[ds].shape
                    if len(shape) != ndim or (width is not None and shape[1] != width):
                        problems.append(f"{where}/{ds}: bad shape {shape}")
                    n = shape[0] if n is None else n
                    if shape and shape[0] != n:
                        problems.append(f"{where}/{ds}: {shape[0]} rows, expected {n}")
                for key in ("rate_hz", "acc_unit", "gyro_unit", "gravity_included", "frame", "placement"):
                    if key not in sg.attrs:
                        problems.append(f"{where}: attribute {key!r} missing")
                if "acc_unit" in sg.attrs and _str(sg.attrs["acc_unit"]) != ACC_UNIT:
                    problems.append(f"{where}: acc_unit must be {ACC_UNIT!r}")
                if "gyro_unit" in sg.attrs and _str(sg.attrs["gyro_unit"]) != GYRO_UNIT:
                    problems.append(f"{where}: gyro_unit must be {GYRO_UNIT!r}")
    return problems
