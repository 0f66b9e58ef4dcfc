"""Mesh placements on Anny's skin: the built-in placements' names, resolved on Anny's rest mesh.

Each placement is a :class:`~imusynth.body.smpl.mesh_placements.MeshAnchor` in Anny's rest frame
(x = subject's left, y = back, z = up; A-pose), relative to two bone heads of Anny's rig: among the
vertices skinned mostly to the listed bones, the one nearest the ray that leaves the point ``along`` the
way from the first head to the second in the given direction; the region is the vertices of the same
bone within ``region_radius_m`` (default 2 cm), the tangent target the same ray moved 5 cm along the
bone (or along ``tangent``). The sensor frame then follows the local surface per frame exactly as on
SMPL (:func:`~imusynth.body.smpl.mesh_placements.mesh_sensor_trajectories`: origin the region's mean, z
the outward normal, x toward the tangent target), with the same sensor axes as the skeleton and SMPL
placements of the same name. The resolved vertex ids are stored with every sensor (its ``placement``
attribute) and listed for the default body in docs/anny.md.

The dorsal direction of a hand at rest, ``(+-0.754, -0.009, 0.657)``, is the normal of Anny's knuckle
plane (``(index - little finger) x (middle knuckle - wrist)``, mirrored for the right hand): in Anny's
A-pose the back of the hand faces outward and up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imusynth.body.smpl.mesh_placements import (
    TANGENT_DISTANCE_M,
    MeshAnchor,
    MeshPlacement,
    MeshPlacementError,
)

__all__ = ["ANNY_ANCHORS", "AnnyRest", "anny_mesh_placements"]

_UP, _FWD = (0.0, 0.0, 1.0), (0.0, -1.0, 0.0)
_POCKET = (-0.35, -1.0, 0.0)  # front of the right thigh, turned 20 deg toward the right side
_DORSAL = {"left": (0.754, -0.009, 0.657), "right": (-0.754, -0.009, 0.657)}
_LATERAL = {"left": (0.75, 0.0, 0.66), "right": (-0.75, 0.0, 0.66)}  # upper arm's outer side in A-pose
_S = {"left": "L", "right": "R"}


def _a(
    a: str,
    b: str,
    along: float,
    direction: tuple[float, float, float],
    skin: tuple[str, ...],
    tangent: tuple[float, float, float] | None = None,
) -> tuple[tuple[str, str], float, Any, tuple[str, ...], Any]:
    return (a, b), along, direction, skin, tangent


#: name -> ((bone a, bone b), along, direction, skin bones, tangent), sensor axes, description.
ANNY_ANCHORS: dict[str, tuple[Any, tuple[str, str, str], str]] = {
    "head": (
        _a("neck01", "head", 1.9, _FWD, ("head",), _UP),
        ("+x", "+y", "+z"),
        "forehead; x superior, y right, z anterior (out of the skin)",
    ),
    "chest": (
        _a("spine01", "neck01", 0.5, _FWD, ("spine01", "spine02", "spine03"), _UP),
        ("+x", "+y", "+z"),
        "sternum (chest strap); x superior, y right, z anterior",
    ),
    "waist": (
        _a("spine05", "spine03", 0.1, _FWD, ("root", "spine05", "spine04", "pelvis.L", "pelvis.R"), _UP),
        ("+x", "+y", "+z"),
        "front of the belt, centre; x superior, y right, z anterior",
    ),
    **{
        f"{s}_upper_arm": (
            _a(
                f"upperarm01.{_S[s]}",
                f"lowerarm01.{_S[s]}",
                0.5,
                _LATERAL[s],
                (f"upperarm01.{_S[s]}", f"upperarm02.{_S[s]}"),
            ),
            ("+x", "+y", "+z"),
            f"lateral side of the {s} upper arm, mid-segment; x distal, z lateral (out of the skin)",
        )
        for s in ("left", "right")
    },
    "left_forearm": (
        _a("lowerarm01.L", "wrist.L", 0.75, _DORSAL["left"], ("lowerarm01.L", "lowerarm02.L")),
        ("+x", "+y", "+z"),
        "dorsal side of the distal left forearm; x distal, y ulnar, z dorsal",
    ),
    "right_forearm": (
        _a("lowerarm01.R", "wrist.R", 0.75, _DORSAL["right"], ("lowerarm01.R", "lowerarm02.R")),
        ("+x", "+y", "+z"),
        "dorsal side of the distal right forearm; x distal, y radial, z dorsal",
    ),
    "left_wrist": (
        _a("lowerarm01.L", "wrist.L", 0.92, _DORSAL["left"], ("lowerarm02.L", "wrist.L")),
        ("+x", "+y", "+z"),
        "smartwatch on the dorsal side of the left wrist; x toward the hand "
        "(3 o'clock), y ulnar (12 o'clock), z out of the screen",
    ),
    "right_wrist": (
        _a("lowerarm01.R", "wrist.R", 0.92, _DORSAL["right"], ("lowerarm02.R", "wrist.R")),
        ("-x", "-y", "+z"),
        "smartwatch on the dorsal side of the right wrist; x toward the elbow "
        "(3 o'clock), y ulnar (12 o'clock), z out of the screen",
    ),
    **{
        f"{s}_thigh": (
            _a(
                f"upperleg01.{_S[s]}",
                f"lowerleg01.{_S[s]}",
                0.4,
                _FWD,
                (f"upperleg01.{_S[s]}", f"upperleg02.{_S[s]}"),
            ),
            ("+x", "+y", "+z"),
            f"front of the {s} thigh, 40 % down from the hip; x distal, z anterior",
        )
        for s in ("left", "right")
    },
    "thigh": (
        _a("upperleg01.R", "lowerleg01.R", 0.3, _POCKET, ("upperleg01.R", "upperleg02.R")),
        ("+y", "-x", "+z"),
        "phone in the right front trouser pocket, upright, screen outward; "
        "x left, y up (toward the hip), z forward",
    ),
    **{
        f"{s}_shank": (
            _a(
                f"lowerleg01.{_S[s]}",
                f"foot.{_S[s]}",
                0.3,
                _FWD,
                (f"lowerleg01.{_S[s]}", f"lowerleg02.{_S[s]}"),
            ),
            ("+x", "+y", "+z"),
            f"front of the {s} shank (tibia), 30 % down from the knee; x distal, z anterior",
        )
        for s in ("left", "right")
    },
    **{
        f"{s}_foot": (
            _a(f"foot.{_S[s]}", f"toe3-1.{_S[s]}", 0.5, _UP, (f"foot.{_S[s]}",)),
            ("+x", "+y", "+z"),
            f"dorsum of the {s} foot, mid-foot; x anterior, y left, z superior",
        )
        for s in ("left", "right")
    },
}
_ALIASES = {"wrist": "left_wrist"}


class AnnyRest:
    """Anny's rest mesh as the anchor resolution needs it (rest vertices, bone heads, skinning owners).

    Parameters
    ----------
    vertices : ndarray, shape (V, 3), m
    heads : ndarray, shape (104, 3), m
    weights : ndarray, shape (V, 104)
    bone_labels : sequence of str
    """

    def __init__(
        self,
        vertices: NDArray[np.float64],
        heads: NDArray[np.float64],
        weights: NDArray[np.float64],
        bone_labels: Sequence[str],
    ) -> None:
        self.vertices = np.asarray(vertices, dtype=np.float64)
        self.heads = np.asarray(heads, dtype=np.float64)
        self.owner = np.argmax(weights, axis=1)
        self.labels = list(bone_labels)

    def resolve(self, anchor: MeshAnchor, offset: NDArray[np.float64] | None = None) -> int:
        """The vertex the anchor designates (bones are indices into ``bone_labels``)."""
        a, b = anchor.bone
        p = self.heads[a] + anchor.along * (self.heads[b] - self.heads[a])
        if offset is not None:
            p = p + offset
        d = np.asarray(anchor.direction, dtype=np.float64)
        d = d / np.linalg.norm(d)
        cand = np.flatnonzero(np.isin(self.owner, anchor.skin))
        w = self.vertices[cand] - p
        s = w @ d
        perp = np.linalg.norm(w - s[:, None] * d, axis=1)
        ok = s > 0
        if not ok.any():
            raise MeshPlacementError(
                f"no Anny vertex of bones {anchor.skin} lies in direction {anchor.direction}"
            )
        return int(cand[np.flatnonzero(ok)[np.argmin(perp[ok])]])

    def region(self, vertex: int, radius_m: float) -> tuple[int, ...]:
        """Vertices within ``radius_m`` of ``vertex`` owned by the same bone (sorted)."""
        near = np.linalg.norm(self.vertices - self.vertices[vertex], axis=1) <= radius_m
        return tuple(int(i) for i in np.flatnonzero(near & (self.owner == self.owner[vertex])))


def anny_mesh_placements(
    rest: AnnyRest, names: Sequence[str] | None = None, *, region_radius_m: float = 0.02
) -> dict[str, MeshPlacement]:
    """The built-in placements (all, or ``names``; the alias ``wrist`` allowed) on Anny's rest mesh.

    Raises
    ------
    MeshPlacementError
        An unknown name.
    """
    known = {**{n: n for n in ANNY_ANCHORS}, **_ALIASES}
    wanted = list(known) if names is None else list(names)
    out: dict[str, MeshPlacement] = {}
    for name in wanted:
        if name not in known:
            raise MeshPlacementError(
                f"unknown mesh placement {name!r} on Anny; known: {', '.join(sorted(known))}"
            )
        (a, b), along, direction, skin, tangent = ANNY_ANCHORS[known[name]][0]
        axes, desc = ANNY_ANCHORS[known[name]][1:]
        anchor = MeshAnchor(
            (rest.labels.index(a), rest.labels.index(b)),
            along,
            direction,
            tuple(rest.labels.index(k) for k in skin),
        )
        centre = rest.resolve(anchor)
        t = np.asarray(
            tangent if tangent is not None else rest.heads[anchor.bone[1]] - rest.heads[anchor.bone[0]],
            dtype=np.float64,
        )
        t = t / np.linalg.norm(t)
        region = rest.region(centre, region_radius_m)
        for k in range(1, 8):
            tangent_vertex = rest.resolve(anchor, offset=k * TANGENT_DISTANCE_M * t)
            if tangent_vertex not in region:
                break
        else:
            raise MeshPlacementError(f"mesh placement {name!r}: no tangent vertex outside the region on Anny")
        if name != known[name]:
            desc = f"alias of {known[name]}: {desc}"
        out[name] = MeshPlacement(
            name=name,
            description=f"Anny: {desc}",
            vertices=region,
            tangent_vertices=(tangent_vertex,),
            axes=axes,
        )
    return out
