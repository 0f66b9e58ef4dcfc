"""Biovision hierarchy (BVH) motion capture: a joint hierarchy, then one row of channels per frame.

Layout::

    HIERARCHY
    ROOT Hips
    {
      OFFSET 0 0 0
      CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
      JOINT Spine
      {
        OFFSET 0 10 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        End Site
        {
          OFFSET 0 20 0
        }
      }
    }
    MOTION
    Frames: 2
    Frame Time: 0.0333333
    0 90 0 0 0 0 0 0 0
    ...

Rules this reader follows (those of the common exporters; see ``docs/readers.md``):

- Any hierarchy (several ``ROOT`` blocks too); any order of channels per joint. The rotation channels,
  in degrees, compose in the order listed: ``Zrotation Xrotation Yrotation`` gives
  ``R = Rz @ Rx @ Ry`` (intrinsic axes), and a joint's world rotation is its parent's times its own.
- A joint is at ``parent position + parent world rotation @ t``, where ``t`` is the joint's position
  channels when it has them (any joint, not only the root: they *replace* its ``OFFSET``, as in the
  Bandai-Namco files whose position channels repeat the offsets), else its ``OFFSET``.
- An ``End Site`` becomes a point called ``<joint>_end``; one with a zero offset coincides with its
  joint and is left out.
- Time is ``frame / rate`` where the rate is ``1 / Frame Time``, rounded to a whole number of Hz when the
  file's frame time is a rounded one (``0.0333333`` -> 30 Hz, ``0.016667`` -> 60 Hz).
- BVH does not state its length unit: it is inferred from the body's size (see
  :func:`imusynth.io.readers._common.infer_length_unit`) unless given. Nor its up axis: y by convention,
  but the direction from the feet to the head decides when the joints are known by name (see
  :func:`imusynth.io.readers._common.infer_up_axis`) unless given.

Forward kinematics is vectorised over frames and over the joints of each depth of the hierarchy, so
an hour of 30 fps motion reads in seconds. :func:`read_bvh_many` reads many files, parsing each distinct
hierarchy once.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from imusynth.core.motion import Motion
from imusynth.core.skeletons import SKELETONS, detect_skeleton
from imusynth.io.readers._common import build_motion, canonical_only, check_up_axis, infer_up_axis
from imusynth.io.readers._registry import first_line, register_motion_format
from imusynth.io.readers._table import ReadError, check_path, read_text

_CHANNELS = {"xposition": 0, "yposition": 1, "zposition": 2, "xrotation": 3, "yrotation": 4, "zrotation": 5}
_FRAMES = re.compile(r"^\s*Frames\s*:\s*(\d+)\s*$", re.IGNORECASE | re.MULTILINE)
_FRAME_TIME = re.compile(r"^\s*Frame\s+Time\s*:\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)


def _sniff(head: bytes) -> bool:
    return first_line(head).strip().upper() == "HIERARCHY"


@dataclass(frozen=True)
class BvhHierarchy:
    """The joints of a BVH file, parents before children.

    Attributes
    ----------
    names : tuple of str, length J
        Joint names; End Sites are ``<joint>_end``.
    parents : tuple of int, length J
        Index of each joint's parent, -1 for a root.
    offsets : ndarray, shape (J, 3)
        ``OFFSET`` of each joint from its parent, in the file's unit and frame.
    channels : tuple of tuple of (int, int)
        Per joint, its channels as ``(kind, column)``: kind 0-2 position x, y, z; 3-5 rotation about
        x, y, z; column the index into a frame's row, in the file's order.
    n_channels : int
        Numbers per frame.
    keep : tuple of bool, length J
        False for End Sites with a zero offset (not returned as points).
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: NDArray[np.float64]
    channels: tuple[tuple[tuple[int, int], ...], ...]
    n_channels: int
    keep: tuple[bool, ...]


def parse_hierarchy(text: str, source: str = "BVH") -> BvhHierarchy:
    """Parse the ``HIERARCHY`` section (the text up to ``MOTION``).

    Raises
    ------
    ReadError
        For a missing ``HIERARCHY`` keyword, unbalanced braces, an ``OFFSET`` that is not three numbers,
        an unknown channel name or a channel count that does not match the names.
    """
    tokens = text.split()
    if not tokens or tokens[0].upper() != "HIERARCHY":
        raise ReadError(f"{source}: not a BVH file (it should start with 'HIERARCHY')")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[tuple[int, int], ...]] = []
    end_sites: list[bool] = []
    stack: list[int] = []
    pending: int | None = None  # joint declared, its '{' not yet read
    column = 0
    i = 1
    try:
        while i < len(tokens):
            tok = tokens[i]
            key = tok.upper()
            end_site = key == "END" and i + 1 < len(tokens) and tokens[i + 1].upper() == "SITE"
            if key in ("ROOT", "JOINT") or end_site:
                if key != "ROOT" and not stack:
                    raise ReadError(f"{source}: '{tok}' outside any joint's braces")
                parent = stack[-1] if stack and key != "ROOT" else -1
                if key == "END":
                    name = f"{names[parent]}_end"
                    i += 2
                else:
                    name = tokens[i + 1]
                    i += 2
                names.append(name)
                end_sites.append(key == "END")
                parents.append(parent)
                offsets.append([0.0, 0.0, 0.0])
                channels.append(())
                pending = len(names) - 1
            elif tok == "{":
                if pending is None:
                    raise ReadError(f"{source}: '{{' without a joint before it")
                stack.append(pending)
                pending = None
                i += 1
            elif tok == "}":
                if not stack:
                    raise ReadError(f"{source}: unbalanced '}}' in the hierarchy")
                stack.pop()
                i += 1
            elif key == "OFFSET":
                offsets[stack[-1]] = [float(v) for v in tokens[i + 1:i + 4]]
                i += 4
            elif key == "CHANNELS":
                n = int(tokens[i + 1])
                found = []
                for name in tokens[i + 2:i + 2 + n]:
                    kind = _CHANNELS.get(name.lower())
                    if kind is None:
                        raise ReadError(f"{source}: joint {names[stack[-1]]!r}: unknown channel {name!r}")
                    found.append((kind, column))
                    column += 1
                channels[stack[-1]] = tuple(found)
                i += 2 + n
            else:
                raise ReadError(f"{source}: unexpected {tok!r} in the hierarchy")
    except ReadError:
        raise
    except (IndexError, ValueError) as exc:
        raise ReadError(f"{source}: damaged BVH hierarchy near token {i + 1} ({exc})") from None
    if stack or pending is not None:
        raise ReadError(f"{source}: the hierarchy's braces are not balanced")
    if not names:
        raise ReadError(f"{source}: the hierarchy has no joint")
    off = np.array(offsets, dtype=np.float64).reshape(-1, 3)
    keep = tuple(not (end and not off[j].any()) for j, end in enumerate(end_sites))
    return BvhHierarchy(tuple(names), tuple(parents), off, tuple(channels), column, keep)


#: Frames per block of the forward kinematics (bounds the memory of long files with many joints).
FK_BLOCK = 16384


def _elementary(axes: NDArray[np.int64], angles_deg: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rotation matrices (T, K, 3, 3) about axis ``axes[k]`` (0 x, 1 y, 2 z) by ``angles_deg[:, k]``."""
    a = np.deg2rad(angles_deg)
    c, s = np.cos(a), np.sin(a)
    out = np.zeros(a.shape + (3, 3))
    for axis in range(3):
        k = np.flatnonzero(axes == axis)
        if not k.size:
            continue
        b, d = (axis + 1) % 3, (axis + 2) % 3
        out[:, k, axis, axis] = 1.0
        out[:, k, b, b] = c[:, k]
        out[:, k, d, d] = c[:, k]
        out[:, k, b, d] = -s[:, k]
        out[:, k, d, b] = s[:, k]
    return out


def forward_kinematics(hierarchy: BvhHierarchy, values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Joint positions of every frame, in the file's unit and frame.

    Vectorised over frames and over the joints of one depth of the hierarchy: the local rotations of
    all joints come from one array of elementary rotations, and the world rotations and positions are
    composed one depth level at a time (frames in blocks of :data:`FK_BLOCK`).

    Parameters
    ----------
    hierarchy : BvhHierarchy
        From :func:`parse_hierarchy`.
    values : ndarray, shape (T, C)
        One row of channel values per frame (positions in the file's unit, rotations in degrees).

    Returns
    -------
    ndarray, shape (T, J, 3)
        Positions of all J joints of the hierarchy (End Sites included).
    """
    n_joints = len(hierarchy.names)
    parents = np.array(hierarchy.parents, dtype=np.int64)
    depth = np.zeros(n_joints, dtype=np.int64)
    for j, p in enumerate(hierarchy.parents):
        depth[j] = 0 if p < 0 else depth[p] + 1
    pos = [(j, kind, col) for j, ch in enumerate(hierarchy.channels) for kind, col in ch if kind < 3]
    rot = [(j, kind - 3, col) for j, ch in enumerate(hierarchy.channels) for kind, col in ch if kind >= 3]
    rot_axes = np.array([a for _, a, _ in rot], dtype=np.int64)
    rot_cols = np.array([c for _, _, c in rot], dtype=np.int64)
    # per joint, the indices into `rot` of its rotation channels, in the file's order
    own: list[list[int]] = [[] for _ in range(n_joints)]
    for k, (j, _, _) in enumerate(rot):
        own[j].append(k)
    by_count: dict[int, list[int]] = {}
    for j, ks in enumerate(own):
        by_count.setdefault(len(ks), []).append(j)
    out = np.empty((values.shape[0], n_joints, 3))
    for start in range(0, values.shape[0], FK_BLOCK):
        block = values[start:start + FK_BLOCK]
        n = block.shape[0]
        t = np.broadcast_to(hierarchy.offsets, (n, n_joints, 3)).copy()
        for j, kind, col in pos:
            t[:, j, kind] = block[:, col]
        elementary = _elementary(rot_axes, block[:, rot_cols]) if rot else np.zeros((n, 0, 3, 3))
        local = np.broadcast_to(np.eye(3), (n, n_joints, 3, 3)).copy()
        for count, joints in by_count.items():
            if count == 0:
                continue
            idx = np.array([own[j] for j in joints])  # (Jc, count)
            r = elementary[:, idx[:, 0]]
            for m in range(1, count):
                r = r @ elementary[:, idx[:, m]]
            local[:, joints] = r
        world = np.empty_like(local)
        xyz = out[start:start + n]
        for d in range(int(depth.max()) + 1):
            idx = np.flatnonzero(depth == d)
            if d == 0:
                world[:, idx] = local[:, idx]
                xyz[:, idx] = t[:, idx]
                continue
            par = parents[idx]
            xyz[:, idx] = xyz[:, par] + np.einsum("tjab,tjb->tja", world[:, par], t[:, idx])
            world[:, idx] = world[:, par] @ local[:, idx]
    return out


def _frame_rate(frame_time: float) -> float:
    """``1 / frame_time``, snapped to the nearest whole Hz when within 0.01 % of it (rounded frame times)."""
    rate = 1.0 / frame_time
    whole = round(rate)
    return float(whole) if whole > 0 and abs(rate - whole) <= 1e-4 * whole else rate


def _split(text: str, source: str) -> tuple[str, float, NDArray[np.float64], int]:
    """(hierarchy text, frame time s, all numbers of the motion section, declared frames)."""
    m = re.search(r"^\s*MOTION\s*$", text, re.IGNORECASE | re.MULTILINE)
    if m is None:
        raise ReadError(f"{source}: no MOTION section")
    head, motion = text[:m.start()], text[m.end():]
    frames = _FRAMES.search(motion)
    ftime = _FRAME_TIME.search(motion)
    if frames is None or ftime is None:
        raise ReadError(f"{source}: the MOTION section needs 'Frames:' and 'Frame Time:' lines")
    try:
        frame_time = float(ftime.group(1))
    except ValueError:
        raise ReadError(f"{source}: Frame Time {ftime.group(1)!r} is not a number") from None
    if not np.isfinite(frame_time) or frame_time <= 0:
        raise ReadError(f"{source}: Frame Time must be a positive number of seconds, got {ftime.group(1)!r}")
    body = motion[max(frames.end(), ftime.end()):]
    try:
        numbers = np.array(body.split(), dtype=np.float64)
    except ValueError as exc:
        raise ReadError(f"{source}: a non-numeric value in the MOTION data ({exc})") from None
    return head, frame_time, numbers, int(frames.group(1))


def _frames(numbers: NDArray[np.float64], hierarchy: BvhHierarchy, declared: int,
            source: str) -> NDArray[np.float64]:
    c = hierarchy.n_channels
    if c == 0:
        raise ReadError(f"{source}: the hierarchy has no channels")
    if numbers.size % c:
        raise ReadError(f"{source}: {numbers.size} numbers in the MOTION data is not a whole number of "
                        f"frames of {c} channels")
    values = numbers.reshape(-1, c)
    if values.shape[0] != declared:
        warnings.warn(f"{source}: the header declares {declared} frames but the file holds "
                      f"{values.shape[0]}; reading those it holds", stacklevel=4)
    return values


def _motion(hierarchy: BvhHierarchy, values: NDArray[np.float64], frame_time: float, *, path: Path,
            up_axis: str | None, length_unit: str | None, skeleton: str | None) -> Motion:
    src = path.name
    keep = np.array(hierarchy.keep)
    names = [n for n, k in zip(hierarchy.names, hierarchy.keep, strict=True) if k]
    xyz = forward_kinematics(hierarchy, values)[:, keep]
    if skeleton is not None and skeleton not in SKELETONS and skeleton != "canonical":
        raise ReadError(f"{src}: unknown skeleton {skeleton!r}; known: {', '.join(SKELETONS)}, canonical")
    key = skeleton if skeleton is not None else detect_skeleton(names)
    if up_axis is None:
        up_axis = infer_up_axis(xyz, names, skeleton=key)
        if up_axis is None:
            up_axis = "y"
            warnings.warn(f"{src}: the up axis cannot be checked (no head and feet known by name, or a body "
                          "not upright); y as BVH's convention; give --up-axis to choose", stacklevel=3)
    else:
        check_up_axis(up_axis, src)
    rate = _frame_rate(frame_time)
    return build_motion(
        time=np.arange(values.shape[0], dtype=np.float64) / rate,
        names=names,
        xyz=xyz,
        length_unit=length_unit,
        up_axis=up_axis,
        source=str(path),
        skeleton=key,
    )


@register_motion_format(
    "bvh", extensions=(".bvh",), sniff=_sniff, priority=10,
    description="Biovision hierarchy motion capture, .bvh",
)
def read_bvh(
    path: str | Path,
    *,
    up_axis: str | None = None,
    length_unit: str | None = None,
    skeleton: str | None = None,
) -> Motion:
    """Read a BVH file into a :class:`~imusynth.core.motion.Motion` of joint positions (metres, z up).

    Parameters
    ----------
    path : str or Path
        The ``.bvh`` file (gzip accepted).
    up_axis : {"y", "z", "x", "-x", "-y", "-z"}, optional
        Axis of the file's frame pointing up. When omitted: the axis from the feet to the head (median
        over frames) when the joints are known by name, else ``"y"`` (BVH's convention) with a warning.
    length_unit : {"mm", "cm", "m"}, optional
        Unit of the offsets and position channels; inferred from the body's size when omitted.
    skeleton : str, optional
        Skeleton map of the joint names (``"bandai_namco"``, ``"cmu_mixamo"``, ``"mixamo"``, ``"iclone"``
        ...); detected from them when omitted.

    Returns
    -------
    Motion
        Time (T,) s from 0; positions (T, J, 3) m of every joint and non-zero End Site; names as in the
        file (the skeleton map gives their canonical names: :func:`imusynth.core.skeletons.to_canonical`).

    Raises
    ------
    ReadError
        For a damaged hierarchy or MOTION section, a unit that cannot be inferred, or fewer than 2 frames.
    """
    p = check_path(path)
    head, frame_time, numbers, declared = _split(read_text(p), p.name)
    hierarchy = parse_hierarchy(head, p.name)
    values = _frames(numbers, hierarchy, declared, p.name)
    return _motion(hierarchy, values, frame_time, path=p, up_axis=up_axis, length_unit=length_unit,
                   skeleton=skeleton)


def read_bvh_many(
    paths: Iterable[str | Path],
    *,
    up_axis: str | None = None,
    length_unit: str | None = None,
    skeleton: str | None = None,
    canonical: bool = False,
) -> Iterator[Motion]:
    """Read many BVH files, one :class:`Motion` at a time, parsing each distinct hierarchy once.

    The fast path for datasets (for example to train a lifter): files that share a rig share the
    parsed hierarchy; each motion is yielded as soon as it is read, so memory holds one file at a time.
    Options as for :func:`read_bvh`, applied to every file; ``canonical=True`` yields only the canonical
    points, as :func:`imusynth.io.readers.read_motion` does. A file that cannot be read raises its
    :class:`ReadError` when its turn comes.
    """
    cache: dict[str, BvhHierarchy] = {}
    for path in paths:
        p = check_path(path)
        head, frame_time, numbers, declared = _split(read_text(p), p.name)
        hierarchy = cache.get(head)
        if hierarchy is None:
            hierarchy = cache.setdefault(head, parse_hierarchy(head, p.name))
        values = _frames(numbers, hierarchy, declared, p.name)
        motion = _motion(hierarchy, values, frame_time, path=p, up_axis=up_axis, length_unit=length_unit,
                         skeleton=skeleton)
        yield canonical_only(motion) if canonical else motion
