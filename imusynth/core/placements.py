"""Sensor placements: where a sensor sits on a body segment and how its axes are oriented.

The TOML schema (the built-ins live in ``imusynth/data/placements.toml``, which documents each key)::

    [placements.NAME]
    description = "free text"
    origin = "point"                 # "a+b" = mean of points a and b
    primary = "point" | "a->b"       # segment x axis (from origin, or from a to b)
    secondary = "point" | "a->b"     # its part orthogonal to x is segment y; z = x cross y
    axes = ["+x", "+y", "+z"]        # sensor x, y, z as signed segment axes (right-handed)
    along = 0.0                      # fraction of the primary vector, unitless
    offset_m = [0.0, 0.0, 0.0]       # metres, in the sensor frame
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
    """

    name: str
    description: str
    definitions: tuple[SegmentDef, ...]
    along: float
    offset_m: NDArray[np.float64]
    toml: str

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


def _segment(table: dict[str, Any], name: str) -> SegmentDef:
    for key in ("origin", "primary", "secondary", "axes"):
        if key not in table:
            raise PlacementError(f"placement {name!r}: missing key {key!r}")
    return SegmentDef(
        origin=_points(table["origin"]),
        primary=_vector(table["primary"]),
        secondary=_vector(table["secondary"]),
        R_seg_sensor=parse_axes(table["axes"]),
    )


def _to_toml(name: str, table: dict[str, Any]) -> str:
    def val(v: Any) -> str:
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list | tuple):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return repr(v)

    lines = [f"[placements.{name}]"]
    lines += [f"{k} = {val(v)}" for k, v in table.items() if k != "fallback"]
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
        defs = [_segment(table, name)] + [_segment(fb, name) for fb in table.get("fallback", [])]
        offset = np.asarray(table.get("offset_m", [0.0, 0.0, 0.0]), dtype=np.float64)
        if offset.shape != (3,):
            raise PlacementError(f"placement {name!r}: offset_m must be three numbers (metres)")
        out[name] = Placement(
            name=name,
            description=str(table.get("description", "")),
            definitions=tuple(defs),
            along=float(table.get("along", 0.0)),
            offset_m=offset,
            toml=_to_toml(name, table),
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
