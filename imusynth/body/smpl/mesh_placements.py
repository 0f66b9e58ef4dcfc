"""Sensors on the skin of a body mesh: a vertex or a small region, with the frame of the local surface.

A :class:`MeshPlacement` names mesh vertices. Per frame, its sensor frame is:

* origin: the mean of the region's vertices, moved ``offset_m`` along the normal;
* z: the outward surface normal, the normalised sum of the region's vertex normals (each vertex normal is
  the sum of its faces' area-weighted normals, faces counter-clockwise seen from outside);
* x: toward the mean of the ``tangent_vertices``, projected onto the tangent plane;
* y = z cross x (right-handed);

then the placement's ``axes`` (signed surface axes, as in the skeleton placements' TOML) give the
sensor's own axes. The output, per placement, is a position (T, 3) and a sensor-to-world rotation
(T, 3, 3), or the same as three point tracks that the skeleton physics differentiates
(:func:`mesh_sensor_motion`).

Built-in mesh placements (:data:`BUILTIN_ANCHORS`) mirror the skeleton placements (``wrist``: dorsal side
of the left wrist, smartwatch axes; ``thigh``: phone in the right front trouser pocket; ...). Each is
defined relative to a bone of the rest body, in SMPL's rest frame (x = subject's left, y = up,
z = forward; T-pose, palms down), and is resolved to vertices on any SMPL-format model by
:func:`resolve_anchor`: among the vertices skinned mostly to the named joints, the one nearest the ray
that leaves the bone at the given fraction in the given direction. On the SMPL topology this picks SMPL
vertices; on the synthetic test model, its own.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imusynth.body.smpl.loading import SMPL_JOINT_NAMES, SmplModel
from imusynth.core.motion import Motion
from imusynth.core.placements import Placement, parse_axes, placements_from_dict
from imusynth.errors import InputError


class MeshPlacementError(InputError):
    """An unknown mesh placement or an invalid mesh-placement definition."""


@dataclass(frozen=True)
class MeshAnchor:
    """A rest-pose location relative to a bone, resolvable to vertices on any SMPL-format model.

    Attributes
    ----------
    bone : tuple of (int, int)
        SMPL joints ``(a, b)``; the ray starts at ``J_a + along * (J_b - J_a)`` (rest joints).
    along : float
        Fraction along the bone (unitless; may exceed 1 to go past ``b``).
    direction : tuple of 3 float
        Direction of the ray in SMPL's rest frame (x left, y up, z forward); normalised.
    skin : tuple of int
        Joints whose vertices may be chosen (a vertex belongs to the joint with its largest skinning weight).
    tangent : tuple of 3 float or None
        Rest-frame direction the sensor x axis points to; None = along the bone, from a to b.
    """

    bone: tuple[int, int]
    along: float
    direction: tuple[float, float, float]
    skin: tuple[int, ...]
    tangent: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class MeshPlacement:
    """A sensor on the mesh: a vertex region, a tangent target and the sensor axes.

    Attributes
    ----------
    name : str
    description : str
    vertices : tuple of int
        The region (one vertex or a few); the sensor origin is their mean.
    tangent_vertices : tuple of int
        The surface x axis points toward their mean (projected onto the tangent plane).
    axes : tuple of 3 str
        Sensor x, y, z as signed surface axes (``"+x"``, ``"-y"``, ...; right-handed), surface frame
        = (x tangent, y = z cross x, z outward normal).
    offset_m : float, m
        Origin offset along the outward normal (e.g. half a device's thickness).
    """

    name: str
    description: str
    vertices: tuple[int, ...]
    tangent_vertices: tuple[int, ...]
    axes: tuple[str, str, str] = ("+x", "+y", "+z")
    offset_m: float = 0.0
    R_surface_sensor: NDArray[np.float64] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.vertices or not self.tangent_vertices:
            raise MeshPlacementError(
                f"mesh placement {self.name!r} needs at least one vertex and one tangent vertex"
            )
        if set(self.vertices) & set(self.tangent_vertices) == set(self.tangent_vertices):
            raise MeshPlacementError(
                f"mesh placement {self.name!r}: the tangent vertices lie inside the region"
            )
        try:
            R = parse_axes(list(self.axes))
        except InputError as exc:
            raise MeshPlacementError(f"mesh placement {self.name!r}: {exc}") from None
        object.__setattr__(self, "R_surface_sensor", R)

    def toml(self) -> str:
        """The TOML text of this placement (stored with the output)."""
        axes = ", ".join(f'"{a}"' for a in self.axes)
        desc = self.description.replace("\\", "\\\\").replace('"', '\\"')
        return (f"[mesh_placements.{self.name}]\ndescription = \"{desc}\"\n"
                f"vertices = {list(self.vertices)}\ntangent_vertices = {list(self.tangent_vertices)}\n"
                f"axes = [{axes}]\noffset_m = {self.offset_m!r}\n")


_J = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
_UP, _FWD, _LEFT = (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0)
_POCKET = (-0.35, 0.0, 1.0)  # front of the right thigh, turned 20 deg toward the right side

#: Built-in mesh placements: name -> (anchor, sensor axes in the surface frame, description). The sensor
#: axes follow the skeleton placements of the same name (imusynth/data/placements.toml).
BUILTIN_ANCHORS: dict[str, tuple[MeshAnchor, tuple[str, str, str], str]] = {
    "head": (MeshAnchor((_J["neck"], _J["head"]), 2.0, _FWD, (_J["head"],), _UP), ("+x", "+y", "+z"),
             "forehead; x superior, y right, z anterior (out of the skin)"),
    "chest": (MeshAnchor((_J["spine3"], _J["neck"]), 0.5, _FWD, (_J["spine2"], _J["spine3"]), _UP),
              ("+x", "+y", "+z"), "sternum; x superior, y right, z anterior"),
    "waist": (MeshAnchor((_J["pelvis"], _J["spine1"]), 0.0, _FWD, (_J["pelvis"], _J["spine1"]), _UP),
              ("+x", "+y", "+z"), "front of the belt, centre; x superior, y right, z anterior"),
    **{f"{s}_upper_arm": (MeshAnchor((_J[f"{s}_shoulder"], _J[f"{s}_elbow"]), 0.5, _UP,
                                     (_J[f"{s}_shoulder"],)),
                          ("+x", "+y", "+z"), f"lateral side of the {s} upper arm, mid-segment; x distal, "
                          "z lateral (out of the skin)") for s in ("left", "right")},
    "left_forearm": (MeshAnchor((_J["left_elbow"], _J["left_wrist"]), 0.75, _UP, (_J["left_elbow"],)),
                     ("+x", "+y", "+z"),
                     "dorsal side of the distal left forearm; x distal, y ulnar, z dorsal"),
    "right_forearm": (MeshAnchor((_J["right_elbow"], _J["right_wrist"]), 0.75, _UP, (_J["right_elbow"],)),
                      ("+x", "+y", "+z"),
                      "dorsal side of the distal right forearm; x distal, y radial, z dorsal"),
    "left_wrist": (MeshAnchor((_J["left_elbow"], _J["left_wrist"]), 0.92, _UP,
                              (_J["left_elbow"], _J["left_wrist"])), ("+x", "+y", "+z"),
                   "smartwatch on the dorsal side of the left wrist; x toward the hand (3 o'clock), "
                   "y ulnar (12 o'clock), z out of the screen"),
    "right_wrist": (MeshAnchor((_J["right_elbow"], _J["right_wrist"]), 0.92, _UP,
                               (_J["right_elbow"], _J["right_wrist"])), ("-x", "-y", "+z"),
                    "smartwatch on the dorsal side of the right wrist; x toward the elbow (3 o'clock), "
                    "y ulnar (12 o'clock), z out of the screen"),
    **{f"{s}_thigh": (MeshAnchor((_J[f"{s}_hip"], _J[f"{s}_knee"]), 0.4, _FWD, (_J[f"{s}_hip"],)),
                      ("+x", "+y", "+z"),
                      f"front of the {s} thigh, 40 % down from the hip; x distal, z anterior")
       for s in ("left", "right")},
    "thigh": (MeshAnchor((_J["right_hip"], _J["right_knee"]), 0.3, _POCKET, (_J["right_hip"],)),
              ("+y", "-x", "+z"), "phone in the right front trouser pocket, upright, screen outward; "
              "x left, y up (toward the hip), z forward"),
    **{f"{s}_shank": (MeshAnchor((_J[f"{s}_knee"], _J[f"{s}_ankle"]), 0.3, _FWD, (_J[f"{s}_knee"],)),
                      ("+x", "+y", "+z"), f"front of the {s} shank (tibia), 30 % down from the knee; "
                      "x distal, z anterior") for s in ("left", "right")},
    **{f"{s}_foot": (MeshAnchor((_J[f"{s}_ankle"], _J[f"{s}_foot"]), 0.5, _UP, (_J[f"{s}_ankle"],)),
                     ("+x", "+y", "+z"), f"dorsum of the {s} foot, mid-foot; x anterior, y left, z superior")
       for s in ("left", "right")},
}
#: Aliases, as for the skeleton placements.
BUILTIN_ALIASES = {"wrist": "left_wrist"}

#: How far from the sensor the tangent target is resolved, m.
TANGENT_DISTANCE_M = 0.05


def resolve_anchor(model: SmplModel, anchor: MeshAnchor, *, offset: NDArray[np.float64] | None = None) -> int:
    """The vertex of ``model``'s rest mesh that ``anchor`` designates (see the module docstring).

    ``offset`` (3,) m moves the ray's start in the rest frame (used for the tangent target).
    """
    V0 = model.v_template
    J0 = model.rest_joints()
    a, b = anchor.bone
    p = J0[a] + anchor.along * (J0[b] - J0[a])
    if offset is not None:
        p = p + offset
    d = np.asarray(anchor.direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    owner = np.argmax(model.weights, axis=1)
    cand = np.flatnonzero(np.isin(owner, anchor.skin))
    w = V0[cand] - p
    s = w @ d
    perp = np.linalg.norm(w - s[:, None] * d, axis=1)
    ok = s > 0
    if not ok.any():
        names = ", ".join(SMPL_JOINT_NAMES[j] for j in anchor.skin)
        raise MeshPlacementError(f"no vertex of the {names} segment lies in direction {anchor.direction}")
    best = np.flatnonzero(ok)[np.argmin(perp[ok])]
    return int(cand[best])


def region_around(model: SmplModel, vertex: int, radius_m: float) -> tuple[int, ...]:
    """Vertices of the rest mesh within ``radius_m`` of ``vertex`` that belong to the same joint (sorted)."""
    V0 = model.v_template
    owner = np.argmax(model.weights, axis=1)
    near = np.linalg.norm(V0 - V0[vertex], axis=1) <= radius_m
    same = owner == owner[vertex]
    return tuple(int(i) for i in np.flatnonzero(near & same))


def builtin_mesh_placements(model: SmplModel, names: Sequence[str] | None = None, *,
                            region_radius_m: float = 0.02) -> dict[str, MeshPlacement]:
    """The built-in mesh placements resolved on ``model`` (all, or ``names``; aliases allowed).

    Parameters
    ----------
    model : SmplModel
    names : sequence of str, optional
    region_radius_m : float, m
        Radius of the vertex region around the designated vertex (its normal is averaged over it).
    """
    known = {**{n: n for n in BUILTIN_ANCHORS}, **BUILTIN_ALIASES}
    wanted = list(known) if names is None else list(names)
    out: dict[str, MeshPlacement] = {}
    for name in wanted:
        if name not in known:
            raise MeshPlacementError(f"unknown mesh placement {name!r}; known: {', '.join(sorted(known))}")
        anchor, axes, desc = BUILTIN_ANCHORS[known[name]]
        centre = resolve_anchor(model, anchor)
        J0 = model.rest_joints()
        a, b = anchor.bone
        t = np.asarray(anchor.tangent if anchor.tangent is not None else J0[b] - J0[a], dtype=np.float64)
        t = t / np.linalg.norm(t)
        tangent_vertex = resolve_anchor(model, anchor, offset=TANGENT_DISTANCE_M * t)
        region = region_around(model, centre, region_radius_m)
        if tangent_vertex in region:
            # a coarse mesh: step further along until the target leaves the region
            for k in range(2, 8):
                tangent_vertex = resolve_anchor(model, anchor, offset=k * TANGENT_DISTANCE_M * t)
                if tangent_vertex not in region:
                    break
            else:
                raise MeshPlacementError(
                    f"mesh placement {name!r}: no tangent vertex outside the region on this mesh"
                )
        if name != known[name]:
            desc = f"alias of {known[name]}: {desc}"
        out[name] = MeshPlacement(name=name, description=desc, vertices=region,
                                  tangent_vertices=(tangent_vertex,), axes=axes)
    return out


def mesh_placements_from_dict(data: dict[str, Any], n_vertices: int, *,
                              origin: str = "") -> dict[str, MeshPlacement]:
    """Parse ``[mesh_placements.NAME]`` tables (keys: ``vertices`` or ``vertex``, ``tangent_vertices`` or
    ``tangent_vertex``, optional ``axes``, ``offset_m`` (m), ``description``) for a mesh of ``n_vertices``."""
    tables = data.get("mesh_placements")
    if not isinstance(tables, dict) or not tables:
        raise MeshPlacementError(f"{origin or 'placements file'}: no [mesh_placements.NAME] tables found")
    out: dict[str, MeshPlacement] = {}
    for name, tab in tables.items():
        try:
            verts = tab["vertices"] if "vertices" in tab else [tab["vertex"]]
            tang = tab["tangent_vertices"] if "tangent_vertices" in tab else [tab["tangent_vertex"]]
        except KeyError as exc:
            raise MeshPlacementError(f"mesh placement {name!r}: missing key {exc.args[0]!r}") from None
        ids = [int(v) for v in verts] + [int(v) for v in tang]
        if any(not 0 <= v < n_vertices for v in ids):
            raise MeshPlacementError(f"mesh placement {name!r}: vertex index outside 0..{n_vertices - 1}")
        axes = tuple(tab.get("axes", ["+x", "+y", "+z"]))
        if len(axes) != 3:
            raise MeshPlacementError(f"mesh placement {name!r}: axes must be three signed axes")
        out[name] = MeshPlacement(name=name, description=str(tab.get("description", "")),
                                  vertices=tuple(int(v) for v in verts),
                                  tangent_vertices=tuple(int(v) for v in tang),
                                  axes=(str(axes[0]), str(axes[1]), str(axes[2])),
                                  offset_m=float(tab.get("offset_m", 0.0)))
    return out


def load_mesh_placements(path: str | Path, n_vertices: int) -> dict[str, MeshPlacement]:
    """Read ``[mesh_placements.NAME]`` tables from a TOML file (see :func:`mesh_placements_from_dict`)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MeshPlacementError(f"placements file not found: {p}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MeshPlacementError(f"placements file {p} is not valid TOML: {exc}") from None
    return mesh_placements_from_dict(data, n_vertices, origin=str(p))


def _region_normals(vertices: NDArray[np.float64], faces: NDArray[np.int64], region: tuple[int, ...]
                    ) -> NDArray[np.float64]:
    """Sum of the area-weighted normals of the faces around the region's vertices, (T, 3) (not normalised)."""
    touch = np.isin(faces, region)                      # (F, 3)
    fsel = np.flatnonzero(touch.any(axis=1))
    if fsel.size == 0:
        raise MeshPlacementError(f"vertices {region} belong to no face of the mesh")
    f = faces[fsel]
    a, b, c = vertices[:, f[:, 0]], vertices[:, f[:, 1]], vertices[:, f[:, 2]]
    fn = np.cross(b - a, c - a)                         # (T, Fs, 3), |fn| = 2 x area
    count = touch[fsel].sum(axis=1).astype(np.float64)  # a face adds to each of its region vertices
    return np.einsum("f,tfc->tc", count, fn)


def mesh_sensor_trajectories(vertices: NDArray[np.float64], faces: NDArray[np.int64],
                             placements: Sequence[MeshPlacement]
                             ) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Position and orientation of each mesh sensor over time.

    Parameters
    ----------
    vertices : ndarray, shape (T, V, 3), m
        Mesh vertices in the world frame (z up).
    faces : ndarray, shape (F, 3)
        Triangles, counter-clockwise seen from outside.
    placements : sequence of MeshPlacement

    Returns
    -------
    dict of str to (ndarray (T, 3), ndarray (T, 3, 3))
        Sensor origin, m, and sensor-to-world rotation (columns: sensor x, y, z in the world frame).
        NaN in frames where the frame is degenerate (tangent along the normal).
    """
    V = np.asarray(vertices, dtype=np.float64)
    F = np.asarray(faces, dtype=np.int64)
    if V.ndim != 3 or V.shape[2] != 3:
        raise MeshPlacementError(f"vertices must have shape (T, V, 3), got {V.shape}")
    out: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
    for p in placements:
        ids = list(p.vertices) + list(p.tangent_vertices)
        if max(ids) >= V.shape[1] or min(ids) < 0:
            raise MeshPlacementError(
                f"mesh placement {p.name!r} names vertices outside this mesh ({V.shape[1]})"
            )
        n = _region_normals(V, F, p.vertices)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = n / np.linalg.norm(n, axis=1, keepdims=True)
            origin = V[:, list(p.vertices)].mean(axis=1) + p.offset_m * z
            t = V[:, list(p.tangent_vertices)].mean(axis=1) - origin
            t = t - np.sum(t * z, axis=1, keepdims=True) * z
            tn = np.linalg.norm(t, axis=1, keepdims=True)
            x = np.where(tn > 1e-9, t / tn, np.nan)
        y = np.cross(z, x)
        R = np.stack([x, y, z], axis=-1) @ p.R_surface_sensor
        out[p.name] = (origin, R)
    return out


def subset_sensor_trajectories(faces: NDArray[np.int64], placements: Sequence[MeshPlacement],
                               skin: Callable[[list[int]], NDArray[np.float64]]
                               ) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """:func:`mesh_sensor_trajectories` skinning only the vertices the placements need.

    The vertices are the placements' regions, their tangent targets and the faces around the regions, so
    memory stays small for long clips whatever the body model (SMPL, Anny).

    Parameters
    ----------
    faces : ndarray, shape (F, 3)
        The full mesh's triangles.
    placements : sequence of MeshPlacement
        With vertex ids of the full mesh.
    skin : callable
        ``skin(ids)`` returns those vertices posed over the clip, shape (T, len(ids), 3), m, world frame.
    """
    needed: set[int] = set()
    for p in placements:
        needed |= set(p.vertices) | set(p.tangent_vertices)
        needed |= set(faces[np.isin(faces, p.vertices).any(axis=1)].ravel().tolist())
    ids = sorted(needed)
    local = {v: i for i, v in enumerate(ids)}
    sub_faces = faces[np.isin(faces, ids).all(axis=1)]
    sub_faces = np.vectorize(local.__getitem__)(sub_faces) if sub_faces.size else sub_faces
    remapped = [replace(p, vertices=tuple(local[v] for v in p.vertices),
                        tangent_vertices=tuple(local[v] for v in p.tangent_vertices)) for p in placements]
    return mesh_sensor_trajectories(skin(ids), sub_faces, remapped)


def mesh_sensor_motion(time: NDArray[np.float64], vertices: NDArray[np.float64], faces: NDArray[np.int64],
                       placements: Sequence[MeshPlacement], *, lever_m: float = 0.1,
                       source: str = "") -> tuple[Motion, list[Placement]]:
    """Mesh sensors as point tracks plus skeleton placements, for :func:`imusynth.core.sensors.simulate`.

    Each sensor becomes three points: ``NAME.o`` (origin), ``NAME.x`` and ``NAME.y`` (``lever_m`` along the
    sensor's x and y axes), and a placement with origin ``NAME.o``, primary ``NAME.o->NAME.x``, secondary
    ``NAME.o->NAME.y`` and identity axes, so the skeleton physics rebuilds exactly the sensor frame and
    differentiates it like any other.

    Parameters
    ----------
    time : ndarray, shape (T,), s
    vertices : ndarray, shape (T, V, 3), m
    faces : ndarray, shape (F, 3)
    placements : sequence of MeshPlacement
    lever_m : float, m
        Length of the axis levers.
    source : str
        Provenance of the motion.
    """
    traj = mesh_sensor_trajectories(vertices, faces, placements)
    return sensor_motion(time, traj, placements, lever_m=lever_m, source=source)


def sensor_motion(time: NDArray[np.float64],
                  trajectories: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]],
                  placements: Sequence[MeshPlacement], *, lever_m: float = 0.1,
                  source: str = "") -> tuple[Motion, list[Placement]]:
    """Sensor trajectories (from :func:`mesh_sensor_trajectories`) as point tracks plus placements.

    See :func:`mesh_sensor_motion`; ``trajectories`` maps each placement's name to (position (T, 3) m,
    sensor-to-world rotation (T, 3, 3)).
    """
    names: list[str] = []
    cols: list[NDArray[np.float64]] = []
    tables: dict[str, Any] = {}
    for p in placements:
        o, R = trajectories[p.name]
        names += [f"{p.name}.o", f"{p.name}.x", f"{p.name}.y"]
        cols += [o, o + lever_m * R[:, :, 0], o + lever_m * R[:, :, 1]]
        tables[p.name] = {
            "description": (f"{p.description} (mesh: vertices {list(p.vertices)}, "
                            f"tangent {list(p.tangent_vertices)})"),
            "origin": f"{p.name}.o", "primary": f"{p.name}.o->{p.name}.x",
            "secondary": f"{p.name}.o->{p.name}.y", "axes": ["+x", "+y", "+z"],
        }
    motion = Motion(time=np.asarray(time, dtype=np.float64), names=tuple(names), xyz=np.stack(cols, axis=1),
                    source=source, skeleton=None)
    table = placements_from_dict({"placements": tables}, origin="mesh placements")
    return motion, [table[p.name] for p in placements]
