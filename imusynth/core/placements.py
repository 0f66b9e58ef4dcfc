"""Sensor placements: where a sensor sits on a body segment and how its axes are oriented.

The TOML schema (the built-ins live in ``imusynth/data/placements.toml``, which documents each key)::

    [placements.NAME]
    description = "free text"
    origin = "point"                 # "a+b" = mean of points a and b
    primary = "point" | "a->b"       # segment x axis (from origin, or from a to b)
    secondary = "point" | "a->b"     # its part orthogonal to x is segment y; z = x cross y
    axes = ["+x", "+y", "+z"]        # sensor x, y, z as signed segment axes (right-handed)
    # optional, at most one: the sensor's rotation relative to the frame that ``axes`` give
    # (``axes`` may then be omitted: the segment frame itself); see :func:`mounting_rotation`
    quat = [w, x, y, z]              # unit quaternion
    matrix = [[...], [...], [...]]   # rotation matrix, rows; columns = sensor axes
    euler_deg = [a, b, c]            # degrees, with euler_order = "XYZ" (intrinsic) or "xyz" (extrinsic)
    along = 0.0                      # fraction of the primary vector, unitless
    offset_m = [0.0, 0.0, 0.0]       # metres, in the sensor frame
    [placements.NAME.augment]        # optional: mounting distributions (imusynth.core.mounting)
    [[placements.NAME.fallback]]     # optional alternative definitions (origin/primary/secondary/axes)
    alias = "OTHER"                  # instead of a definition: another placement's

A user's placements file uses the same schema and may name any points of the motion (markers).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imusynth.core.mounting import MountingSpec, parse_mounting_spec
from imusynth.errors import InputError

_AXIS = {"x": 0, "y": 1, "z": 2}


class PlacementError(InputError):
    """An unknown placement or an invalid placement definition."""


@dataclass(frozen=True)
class Vector:
    """A direction between two point expressions: ``mean(head) - mean(tail)``.

    ``tail`` empty means "from the segment origin".
    """

    tail: tuple[str, ...]
    head: tuple[str, ...]


@dataclass(frozen=True)
class SegmentDef:
    """One way to build a segment frame from named points.

    Attributes
    ----------
    origin : tuple of str
        Points whose mean is the segment origin.
    primary, secondary : Vector
        Segment x axis = unit(primary); y = unit(part of secondary orthogonal to x); z = x cross y.
    R_seg_sensor : ndarray, shape (3, 3)
        Columns are the sensor's x, y, z axes expressed in segment coordinates (a proper rotation).
    """

    origin: tuple[str, ...]
    primary: Vector
    secondary: Vector
    R_seg_sensor: NDArray[np.float64]

    def points(self) -> set[str]:
        """All point names this definition needs."""
        names = set(self.origin)
        for v in (self.primary, self.secondary):
            names |= set(v.tail) | set(v.head)
        return names


@dataclass(frozen=True)
class Placement:
    """A virtual sensor on a body segment.

    Attributes
    ----------
    name : str
        Placement name (HDF5 group name).
    description : str
        Where the sensor sits and how its axes point.
    definitions : tuple of SegmentDef
        The main definition then its fallbacks, tried in order against the points a motion has.
    along : float
        Position along the primary vector from the origin, as a fraction of its length (unitless).
    offset_m : ndarray, shape (3,)
        Further offset in the sensor frame, m.
    toml : str
        The TOML text that defines this placement (stored with the output).
    augment : MountingSpec or None
        The distributions of random mountings (``[placements.NAME.augment]``); None: the defaults
        (:data:`imusynth.core.mounting.DEFAULT_SPEC`).
    """

    name: str
    description: str
    definitions: tuple[SegmentDef, ...]
    along: float
    offset_m: NDArray[np.float64]
    toml: str
    augment: MountingSpec | None = None

    def resolve(self, available: set[str] | tuple[str, ...]) -> SegmentDef:
        """The first definition whose points are all available, else :class:`PlacementError`."""
        have = set(available)
        for d in self.definitions:
            if d.points() <= have:
                return d
        missing = sorted(self.definitions[0].points() - have)
        raise PlacementError(
            f"placement {self.name!r} needs points {missing} (or a fallback's), which this motion lacks; "
            f"it has: {', '.join(sorted(have))}"
        )


def parse_axes(axes: list[str]) -> NDArray[np.float64]:
    """Matrix whose columns are the sensor axes in segment coordinates, from e.g. ``["+x", "-z", "+y"]``."""
    if not isinstance(axes, list | tuple) or len(axes) != 3:
        raise PlacementError(
            f"axes must be a list of three signed axes like ['+x', '-z', '+y'], got {axes!r}"
        )
    R = np.zeros((3, 3))
    for col, spec in enumerate(axes):
        s = str(spec).strip().lower()
        sign = -1.0 if s.startswith("-") else 1.0
        key = s.lstrip("+-")
        if key not in _AXIS:
            raise PlacementError(f"bad axis {spec!r}; use one of +x, -x, +y, -y, +z, -z")
        R[_AXIS[key], col] = sign
    if abs(np.linalg.det(R) - 1.0) > 1e-9:
        raise PlacementError(
            f"axes {axes} do not form a right-handed frame (determinant {np.linalg.det(R):+.0f})"
        )
    return R


#: Keys that give a sensor's rotation relative to the frame of ``axes`` (at most one per placement).
ROTATION_KEYS = ("quat", "matrix", "euler_deg")


def _numbers(value: Any, shape: tuple[int, ...], what: str) -> NDArray[np.float64]:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.empty(0)
    if arr.shape != shape or not np.all(np.isfinite(arr)):
        raise PlacementError(f"{what} must be {'x'.join(map(str, shape))} finite numbers, got {value!r}")
    return arr


def mounting_rotation(table: dict[str, Any], name: str) -> NDArray[np.float64]:
    """The sensor's rotation relative to the frame of ``axes``, from the keys :data:`ROTATION_KEYS`.

    Columns of the returned matrix are the sensor's x, y, z axes expressed in the frame that ``axes``
    defines (the segment frame when ``axes`` is omitted), so the sensor-to-segment rotation is
    ``parse_axes(axes) @ R``. A vector ``v_seg`` in segment coordinates reads ``R^T R_axes^T v_seg`` in
    the sensor frame.

    * ``quat = [w, x, y, z]``: a unit quaternion (norm within 1e-4 of 1, so four decimals do; it is then
      normalised);
    * ``matrix = [[r00, r01, r02], [r10, r11, r12], [r20, r21, r22]]``: rows of a proper rotation
      (``R^T R = I`` within 1e-4, determinant +1; then projected on the nearest rotation, SVD);
    * ``euler_deg = [a, b, c]`` with ``euler_order``: degrees, about the axes named in order.
      Upper case (``"XYZ"``, ``"ZYX"``, ...) = intrinsic (each turn about the already-turned axes),
      lower case (``"xyz"``, ...) = extrinsic (about the fixed axes of the ``axes`` frame), as
      :meth:`scipy.spatial.transform.Rotation.from_euler`: ``"XYZ"`` = Rx(a) Ry(b) Rz(c),
      ``"xyz"`` = Rz(c) Ry(b) Rx(a).

    Returns the identity when none is given.
    """
    given = [k for k in ROTATION_KEYS if k in table]
    if len(given) > 1:
        raise PlacementError(f"placement {name!r}: give one of {', '.join(ROTATION_KEYS)}, not {given}")
    if "euler_order" in table and "euler_deg" not in table:
        raise PlacementError(f"placement {name!r}: euler_order without euler_deg")
    if not given:
        return np.eye(3)
    key = given[0]
    if key == "quat":
        q = _numbers(table["quat"], (4,), f"placement {name!r}: quat [w, x, y, z]")
        norm = float(np.linalg.norm(q))
        if abs(norm - 1.0) > 1e-4:
            raise PlacementError(f"placement {name!r}: quat {table['quat']} is not a unit quaternion "
                                 f"(norm {norm:.6g})")
        from imusynth.core.conventions import matrix_from_quat

        return np.asarray(matrix_from_quat(q / norm))
    if key == "matrix":
        R = _numbers(table["matrix"], (3, 3), f"placement {name!r}: matrix (3 rows of 3)")
        if np.abs(R.T @ R - np.eye(3)).max() > 1e-4 or np.linalg.det(R) < 0:
            raise PlacementError(f"placement {name!r}: matrix is not a proper rotation "
                                 f"(orthonormal within 1e-4, determinant +1)")
        U, _, Vt = np.linalg.svd(R)
        return np.asarray(U @ Vt)
    angles = _numbers(table["euler_deg"], (3,), f"placement {name!r}: euler_deg [a, b, c]")
    order = table.get("euler_order")
    if not isinstance(order, str) or len(order) != 3 or not (
            set(order) <= set("xyz") or set(order) <= set("XYZ")) or any(
            order[i] == order[i + 1] for i in range(2)):
        raise PlacementError(
            f"placement {name!r}: euler_deg needs euler_order, three axis letters such as \"XYZ\" "
            f"(upper case: intrinsic) or \"xyz\" (lower case: extrinsic), got {order!r}")
    from scipy.spatial.transform import Rotation

    return np.asarray(Rotation.from_euler(order, angles, degrees=True).as_matrix())


def axis_text(R: NDArray[np.float64]) -> str:
    """Sensor axes as signed segment axes (``segment axes ['+x', '-z', '+y']``), else the matrix's rows."""
    axes = []
    for col in range(3):
        nz = np.flatnonzero(np.abs(R[:, col]) > 1e-12)
        if nz.size != 1:
            rows = "; ".join(" ".join(f"{v:+.6f}" for v in row) for row in R)
            return f"the columns of the sensor-to-segment rotation [{rows}]"
        axes.append(("+" if R[nz[0], col] > 0 else "-") + "xyz"[int(nz[0])])
    return f"segment axes {axes}"


def _points(expr: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in str(expr).split("+") if p.strip())
    if not parts:
        raise PlacementError(f"empty point expression {expr!r}")
    return parts


def _vector(expr: str) -> Vector:
    if "->" in expr:
        tail, head = expr.split("->", 1)
        return Vector(_points(tail), _points(head))
    return Vector((), _points(expr))


def _segment(table: dict[str, Any], name: str, mount: NDArray[np.float64], rotated: bool) -> SegmentDef:
    for key in ("origin", "primary", "secondary") + (() if rotated else ("axes",)):
        if key not in table:
            raise PlacementError(f"placement {name!r}: missing key {key!r}")
    R_axes = parse_axes(table["axes"]) if "axes" in table else np.eye(3)
    return SegmentDef(
        origin=_points(table["origin"]),
        primary=_vector(table["primary"]),
        secondary=_vector(table["secondary"]),
        R_seg_sensor=R_axes @ mount,
    )


def _to_toml(name: str, table: dict[str, Any]) -> str:
    def val(v: Any) -> str:
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list | tuple):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        return repr(v)

    lines = [f"[placements.{name}]"]
    lines += [f"{k} = {val(v)}" for k, v in table.items() if k not in ("fallback", "augment")]
    if isinstance(table.get("augment"), dict):
        lines.append(f"[placements.{name}.augment]")
        lines += [f"{k} = {val(v)}" for k, v in table["augment"].items()]
    for fb in table.get("fallback", []):
        lines.append(f"[[placements.{name}.fallback]]")
        lines += [f"{k} = {val(v)}" for k, v in fb.items()]
    return "\n".join(lines) + "\n"


def placements_from_dict(data: dict[str, Any], *, origin: str = "") -> dict[str, Placement]:
    """Parse the ``placements`` table of a TOML document into :class:`Placement` records."""
    tables = data.get("placements")
    if not isinstance(tables, dict) or not tables:
        raise PlacementError(f"{origin or 'placements file'}: no [placements.NAME] tables found")
    out: dict[str, Placement] = {}
    for name, table in tables.items():
        if "alias" in table:
            continue
        mount = mounting_rotation(table, name)
        rotated = any(k in table for k in ROTATION_KEYS)
        for fb in table.get("fallback", []):
            if any(k in fb for k in ROTATION_KEYS):
                raise PlacementError(f"placement {name!r}: give {', '.join(ROTATION_KEYS)} in the main table "
                                     "(the rotation is shared by every fallback)")
        defs = [_segment(table, name, mount, rotated)] + [
            _segment(fb, name, mount, rotated) for fb in table.get("fallback", [])]
        offset = np.asarray(table.get("offset_m", [0.0, 0.0, 0.0]), dtype=np.float64)
        if offset.shape != (3,):
            raise PlacementError(f"placement {name!r}: offset_m must be three numbers (metres)")
        augment = None
        if "augment" in table:
            try:
                augment = parse_mounting_spec(table["augment"])
            except ValueError as exc:
                raise PlacementError(f"placement {name!r}: [augment] {exc}") from None
        out[name] = Placement(
            name=name,
            description=str(table.get("description", "")),
            definitions=tuple(defs),
            along=float(table.get("along", 0.0)),
            offset_m=offset,
            toml=_to_toml(name, table),
            augment=augment,
        )
    for name, table in tables.items():
        if "alias" in table:
            target = out.get(table["alias"])
            if target is None:
                raise PlacementError(f"placement {name!r} is an alias of unknown {table['alias']!r}")
            out[name] = Placement(
                name=name,
                description=str(table.get("description", target.description)),
                definitions=target.definitions,
                along=target.along,
                offset_m=target.offset_m,
                toml=_to_toml(name, table) + target.toml,
                augment=target.augment,
            )
    return out


def builtin_placements() -> dict[str, Placement]:
    """The built-in placements for human skeletons (canonical joint names)."""
    text = resources.files("imusynth").joinpath("data/placements.toml").read_text(encoding="utf-8")
    return placements_from_dict(tomllib.loads(text), origin="built-in placements")


def load_placements(path: str | Path) -> dict[str, Placement]:
    """Read a user's placements TOML file."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlacementError(f"placements file not found: {p}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PlacementError(f"placements file {p} is not valid TOML: {exc}") from None
    return placements_from_dict(data, origin=str(p))


def resolve_placements(
    names: list[str] | tuple[str, ...], placements_file: str | Path | None = None
) -> list[Placement]:
    """Placement records for ``names``: the user's file first, then the built-ins."""
    table = builtin_placements()
    if placements_file is not None:
        table.update(load_placements(placements_file))
    out = []
    for n in names:
        if n not in table:
            raise PlacementError(f"unknown placement {n!r}; known: {', '.join(sorted(table))}")
        out.append(table[n])
    return out
