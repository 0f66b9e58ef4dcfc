"""The profile file format (TOML, schema :data:`PROFILE_SCHEMA`): write, parse, save atomically, load.

Holds :func:`profile_to_toml` (written by hand, floats with round-trip precision: tomllib only reads),
:func:`profile_from_toml`, :func:`save_profile` (temp file in the same folder, then ``os.replace``) and
:func:`load_profile`. Values in the file are SI (acc m/s^2, gyro rad/s), like the profile itself.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from imusynth.calibrate.alignment import ALIGNMENT_MODES, Alignment
from imusynth.calibrate.device import DeviceModel
from imusynth.calibrate.mapping import DistributionMapping, QuantileMap
from imusynth.calibrate.profiles import APPLIES_TO, CalibrationProfile
from imusynth.core.conventions import ACC_UNIT, GYRO_UNIT
from imusynth.core.imu_series import CHANNELS, CalibrationError

#: Schema name written into every profile.
PROFILE_SCHEMA = "imusynth-calibration/1"


def _toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=True)


def _toml_key(s: str) -> str:
    """``s`` as a TOML key: bare when it may be (letters, digits, ``_``, ``-``), else quoted."""
    return s if s and all(c.isascii() and (c.isalnum() or c in "_-") for c in s) else _toml_str(s)


def _toml_float(x: float) -> str:
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def _toml_floats(values: ArrayLike, per_line: int = 8) -> str:
    vals = [_toml_float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
    if len(vals) <= per_line:
        return "[" + ", ".join(vals) + "]"
    lines = [", ".join(vals[i : i + per_line]) for i in range(0, len(vals), per_line)]
    return "[\n  " + ",\n  ".join(lines) + ",\n]"


_DEVICE_UNITS = {
    "acc_range": "m/s^2, full scale (+-); inf = no saturation",
    "gyro_range": "rad/s, full scale (+-); inf = no saturation",
    "acc_noise_density": "m/s^2/sqrt(Hz), white noise",
    "gyro_noise_density": "rad/s/sqrt(Hz), white noise",
    "acc_bias": "m/s^2, fixed bias per axis",
    "gyro_bias": "rad/s, fixed bias per axis",
    "acc_bias_sd": "m/s^2, sd of a constant bias drawn per clip and axis",
    "gyro_bias_sd": "rad/s, sd of a constant bias drawn per clip and axis",
    "acc_step": "m/s^2, quantisation step (1 LSB); 0 = none",
    "gyro_step": "rad/s, quantisation step (1 LSB); 0 = none",
}


def _maps_toml(prefix: str, channels: Sequence[str], maps: Sequence[QuantileMap]) -> list[str]:
    lines: list[str] = []
    for ch, m in zip(channels, maps, strict=True):
        lines += [
            "",
            f"[{prefix}.{_toml_key(ch)}]",
            f"lower_slope = {_toml_float(m.lower_slope)}",
            f"upper_slope = {_toml_float(m.upper_slope)}",
            f"virtual = {_toml_floats(m.source)}",
            f"real = {_toml_floats(m.target)}",
        ]
    return lines


def profile_to_toml(profile: CalibrationProfile) -> str:
    """The TOML text of ``profile`` (floats written with round-trip precision)."""
    p = profile
    lines = [
        "# imusynth calibration profile (SI units: acc m/s^2 specific force with gravity, gyro rad/s).",
        "# Applied in this order: resample -> alignment -> mapping -> device." if p.applies_to == "recordings"
        else "# A windows profile: only [mapping] applies, to the channels of windows files "
        "(imusynth export).",
        f"schema = {_toml_str(PROFILE_SCHEMA)}",
        f"name = {_toml_str(p.name)}",
        f"description = {_toml_str(p.description)}",
        f"seed = {int(p.seed)}  # noise seed; each clip uses (seed, crc32(clip id))",
        *([f"alignment_mode = {_toml_str(p.alignment_mode)}  # 'per-sensor': an augmentation variant is "
           "first turned by its mounting relative to its base sensor (same clip); 'fixed': never"]
          if p.applies_to == "recordings" else
          [f"applies_to = {_toml_str(p.applies_to)}  # maps on the channels of windows files, any frame "
           "(rate_hz below must be theirs); no resample, alignment or device step"]),
        "",
        "[units]",
        f"acc = {_toml_str(ACC_UNIT)}",
        f"gyro = {_toml_str(GYRO_UNIT)}",
        "",
        "[source]",
        *(f"{_toml_str(k)} = {_toml_str(v)}" for k, v in p.source.items()),
        "",
        "[resample]",
        f"rate_hz = {_toml_float(p.rate_hz or 0.0)}  # Hz; 0 = keep the input rate",
        f"cutoff_ratio = {_toml_float(p.cutoff_ratio)}  # anti-alias cutoff / new Nyquist frequency",
    ]
    d = p.device
    lines += ["", "[device]", f"name = {_toml_str(d.name)}"]
    for key, unit in _DEVICE_UNITS.items():
        val = getattr(d, key)
        txt = _toml_floats(val) if isinstance(val, tuple) else _toml_float(val)
        lines.append(f"{key} = {txt}  # {unit}")
    if p.alignment is not None:
        a = p.alignment
        lines += [
            "",
            "[alignment]  # x_real_frame = rotation @ x_virtual_frame (acc and gyro)",
            f"rotation = [{', '.join(_toml_floats(row) for row in a.rotation)}]",
            f"virtual_gravity = {_toml_floats(a.virtual_gravity)}  # unit vector, virtual sensor frame",
            f"real_gravity = {_toml_floats(a.real_gravity)}  # unit vector, real sensor frame",
            f"angle_deg = {_toml_float(a.angle_deg)}  # degrees",
        ]
        if a.heading_deg is not None:
            lines += [
                f"heading_deg = {_toml_float(a.heading_deg)}  # degrees about real_gravity, included in "
                "rotation (unpaired fit)",
                f"heading_margin = {_toml_float(a.heading_margin or 0.0)}  # near 1: ambiguous heading",
            ]
    if p.mapping is not None:
        m = p.mapping
        lines += [
            "",
            "[mapping]  # x_real = G^-1(F(x_virtual)), linear between quantile knots",
            f"n_knots = {int(m.n_knots)}  # evenly spaced probabilities 0..1 (tied knots merged)",
            f"tails = {_toml_str(m.tails)}  # 'linear' extrapolation or 'clamp' outside the knots",
            f"channels = [{', '.join(_toml_str(c) for c in m.channels)}]",
            f"classes = [{', '.join(_toml_str(c) for c in m.class_maps)}]",
        ]
        lines += _maps_toml("mapping.all", m.channels, m.maps)
        for cls, maps in m.class_maps.items():
            lines += _maps_toml(f"mapping.class.{_toml_str(cls)}", m.channels, maps)
    return "\n".join(lines) + "\n"


def profile_from_toml(text: str, *, where: str = "profile") -> CalibrationProfile:
    """Parse a profile written by :func:`profile_to_toml` (or by hand)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalibrationError(f"{where}: not valid TOML ({exc})") from None
    try:
        return _profile_from_dict(doc, where)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CalibrationError):
            raise
        raise CalibrationError(f"{where}: malformed profile ({type(exc).__name__}: {exc})") from None


def _profile_from_dict(doc: dict[str, Any], where: str) -> CalibrationProfile:
    schema = doc.get("schema", "")
    if schema != PROFILE_SCHEMA:
        raise CalibrationError(f"{where}: schema {schema!r} is not {PROFILE_SCHEMA!r}")
    applies_to = str(doc.get("applies_to", "recordings"))
    if applies_to not in APPLIES_TO:
        raise CalibrationError(f"{where}: applies_to must be one of {list(APPLIES_TO)}, got {applies_to!r}")
    if applies_to == "windows" and "alignment" in doc:
        raise CalibrationError(f"{where}: a windows profile has no [alignment] (windows are mapped as they "
                               "are)")
    units = doc.get("units", {})
    if units.get("acc", ACC_UNIT) != ACC_UNIT or units.get("gyro", GYRO_UNIT) != GYRO_UNIT:
        raise CalibrationError(f"{where}: units must be acc={ACC_UNIT!r}, gyro={GYRO_UNIT!r} (SI)")
    dev = dict(doc.get("device", {}))
    known = {"name", *_DEVICE_UNITS}
    unknown = set(dev) - known
    if unknown:
        raise CalibrationError(f"{where}: unknown device keys {sorted(unknown)}; allowed: {sorted(known)}")
    for k in ("acc_bias", "gyro_bias"):
        if k in dev:
            dev[k] = tuple(float(x) for x in dev[k])
    for k in _DEVICE_UNITS:
        if k in dev and not isinstance(dev[k], tuple):
            dev[k] = float(dev[k])
    device = DeviceModel(**dev)
    rs = doc.get("resample", {})
    rate = float(rs.get("rate_hz", 0.0))
    alignment = None
    if "alignment" in doc:
        a = doc["alignment"]
        R = np.asarray(a["rotation"], dtype=np.float64)
        if R.shape != (3, 3) or not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
            raise CalibrationError(f"{where}: alignment.rotation must be a 3x3 proper rotation matrix")
        alignment = Alignment(
            R,
            np.asarray(a.get("virtual_gravity", [0, 0, 1]), dtype=np.float64),
            np.asarray(a.get("real_gravity", [0, 0, 1]), dtype=np.float64),
            float(a.get("angle_deg", 0.0)),
            float(a["heading_deg"]) if "heading_deg" in a else None,
            float(a["heading_margin"]) if "heading_margin" in a else None,
        )
    mapping = None
    if "mapping" in doc:
        m = doc["mapping"]
        channels = tuple(str(c) for c in m.get("channels", CHANNELS))
        if applies_to == "recordings" and channels != CHANNELS:
            raise CalibrationError(f"{where}: mapping.channels must be {list(CHANNELS)}")
        if not channels or len(set(channels)) != len(channels) or not all(channels):
            raise CalibrationError(f"{where}: mapping.channels must be distinct non-empty names")
        tails = str(m.get("tails", "linear"))

        def maps_of(table: dict[str, Any], label: str) -> tuple[QuantileMap, ...]:
            missing = [c for c in channels if c not in table]
            if missing:
                raise CalibrationError(f"{where}: {label} lacks channels {missing}")
            return tuple(
                QuantileMap(
                    np.asarray(table[c]["virtual"], dtype=np.float64),
                    np.asarray(table[c]["real"], dtype=np.float64),
                    float(table[c].get("lower_slope", 0.0)),
                    float(table[c].get("upper_slope", 0.0)),
                    tails,
                )
                for c in channels
            )

        class_maps = {
            str(cls): maps_of(tab, f"mapping.class.{cls}") for cls, tab in m.get("class", {}).items()
        }
        mapping = DistributionMapping(
            channels,
            maps_of(m["all"], "mapping.all"),
            class_maps,
            n_knots=int(m.get("n_knots", 0)),
            tails=tails,
        )
    mode = str(doc.get("alignment_mode", "fixed"))
    if mode not in ALIGNMENT_MODES:
        raise CalibrationError(f"{where}: alignment_mode must be one of {list(ALIGNMENT_MODES)}, "
                               f"got {mode!r}")
    return CalibrationProfile(
        name=str(doc.get("name", "")),
        description=str(doc.get("description", "")),
        source={str(k): str(v) for k, v in doc.get("source", {}).items()},
        rate_hz=rate if rate > 0 else None,
        alignment=alignment,
        alignment_mode=mode,
        mapping=mapping,
        device=device,
        seed=int(doc.get("seed", 0)),
        cutoff_ratio=float(rs.get("cutoff_ratio", 0.8)),
        applies_to=applies_to,
    )


def save_profile(profile: CalibrationProfile, path: str | os.PathLike[str]) -> Path:
    """Write ``profile`` as TOML to ``path`` atomically (temp file in the same folder, then rename)."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    text = profile_to_toml(profile)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_profile(path: str | os.PathLike[str]) -> tuple[CalibrationProfile, str]:
    """Read a profile TOML file; returns the profile and its exact text."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"cannot read profile {p}: {exc.strerror or exc}") from None
    return profile_from_toml(text, where=str(p)), text
