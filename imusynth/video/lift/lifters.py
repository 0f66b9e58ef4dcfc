"""Lifters: one track's 2-D keypoints over time → a root-relative metric 3-D body per frame (camera axes).

A lifter gives the body's *shape* in each frame: 33 points in :data:`imusynth.core.skeletons.MEDIAPIPE_33`
order, metres, origin at the centre between the hips, axes those of the camera (x right, y down, z forward).
Where the body is (its translation, and the small residual rotation) is then solved by the per-frame PnP
(:func:`imusynth.video.lift.pnp.lift_frame`) and everything after it, whatever the lifter.

Implementations:

* :class:`MediaPipeLifter` (``"mediapipe"``, the default): MediaPipe's own world landmarks, frame by frame.
* :class:`LearnedLifter` (a lifter file): a learned temporal model over the 2-D keypoint sequence
  (:mod:`imusynth.video.lift.temporal`; torch is imported only when one is used).
* :class:`OracleLifter`: the 3-D of a reference (e.g. a triangulation put in the camera), frame by frame;
  the depth oracle of ``tests/test_video_views.py``.

A lifter that outputs fewer points than the 33 has the others filled by :func:`fill_landmarks` from
MediaPipe's world landmarks, rigidly attached to the nearest lifted joint (``docs/lifting.md``, "Lifters").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.core.skeletons import MEDIAPIPE_33, canonical_sources
from imusynth.video.lift.base import N_LANDMARKS, LiftError

if TYPE_CHECKING:
    from imusynth.video.pose.tracking import Track

__all__ = [
    "LearnedLifter",
    "Lifter",
    "LifterInput",
    "MediaPipeLifter",
    "OracleLifter",
    "fill_landmarks",
    "lifter_from_spec",
]

_I = {n: i for i, n in enumerate(MEDIAPIPE_33)}
_HIPS = (_I["left_hip"], _I["right_hip"])
#: Canonical names that are one MediaPipe landmark under another name (``left_toe`` = ``left_foot_index``).
_ALIASES = {c: src[0] for c, src in canonical_sources(MEDIAPIPE_33, "mediapipe").items() if len(src) == 1}

#: How a point the lifter does not give is attached, in order of preference: (parent, anchor). The point
#: keeps its offset from ``anchor`` in MediaPipe's world landmarks, turned by the rotation that takes
#: MediaPipe's ``parent -> anchor`` segment onto the lifted one. ``mid_hip`` and ``mid_shoulder`` are the
#: midpoints of the two hips and the two shoulders.
_ATTACH: dict[str, tuple[tuple[str, str], ...]] = {}
for _s in ("left", "right"):
    for _p in ("pinky", "index", "thumb"):
        _ATTACH[f"{_s}_{_p}"] = ((f"{_s}_elbow", f"{_s}_wrist"),)
    for _p in ("heel", "foot_index"):
        _ATTACH[f"{_s}_{_p}"] = ((f"{_s}_knee", f"{_s}_ankle"),)
    _ATTACH[f"{_s}_wrist"] = ((f"{_s}_shoulder", f"{_s}_elbow"),)
    _ATTACH[f"{_s}_elbow"] = (("mid_shoulder", f"{_s}_shoulder"),)
    _ATTACH[f"{_s}_ankle"] = ((f"{_s}_hip", f"{_s}_knee"),)
    _ATTACH[f"{_s}_knee"] = (("mid_hip", f"{_s}_hip"),)
    _ATTACH[f"{_s}_shoulder"] = (("mid_hip", "mid_shoulder"),)
    _ATTACH[f"{_s}_hip"] = (("mid_shoulder", "mid_hip"),)
for _p in ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
           "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right"):
    _ATTACH[_p] = (("mid_shoulder", "nose"), ("mid_hip", "mid_shoulder"))
_ATTACH["nose"] = (("mid_hip", "mid_shoulder"),)


@dataclass(frozen=True)
class LifterInput:
    """One track's keypoints, as a lifter receives them (arrays over the track's T detections).

    Attributes
    ----------
    time : ndarray, shape (T,), s
        Detection times, increasing (the track may have gaps).
    frame_index : ndarray, shape (T,), int
        Decoder frame indices of the detections.
    image_xy : ndarray, shape (T, 33, 2), px
        2-D keypoints, measured from the top-left pixel corner (:class:`~imusynth.video.pose.detection.
        PoseDetection`), in :data:`~imusynth.core.skeletons.MEDIAPIPE_33` order; left/right labels
        corrected when the lifter's ``corrected_labels`` is True, the model's own otherwise.
    confidence : ndarray, shape (T, 33), in [0, 1]
        Per-keypoint confidence (the smaller of MediaPipe's visibility and presence).
    world_xyz : ndarray, shape (T, 33, 3), m
        MediaPipe's world landmarks with the same labels as ``image_xy`` (the default lifter's output,
        and the source of the points another lifter does not give).
    image_size : tuple of int
        (width, height) of the frames, px.
    K : ndarray, shape (3, 3)
        Camera matrix, px (pixel centres on integers).
    """

    time: NDArray[np.float64]
    frame_index: NDArray[np.int64]
    image_xy: NDArray[np.floating]
    confidence: NDArray[np.floating]
    world_xyz: NDArray[np.floating]
    image_size: tuple[int, int]
    K: NDArray[np.float64]

    @classmethod
    def from_track(cls, track: Track, *, image_size: tuple[int, int], K: ArrayLike,
                   swaps: NDArray[np.bool_] | None = None) -> LifterInput:
        """The keypoints of ``track``, with the left/right exchanges ``swaps`` (T, 3) applied when given."""
        from imusynth.video.pose.cleaning import apply_swaps

        xy, world = track.image_xy, track.world_xyz
        conf = np.minimum(track.visibility, track.presence)
        if swaps is not None:
            xy, world, conf = (apply_swaps(a, swaps) for a in (xy, world, conf))
        return cls(time=track.time, frame_index=track.frame_index, image_xy=xy, confidence=conf,
                   world_xyz=world, image_size=(int(image_size[0]), int(image_size[1])),
                   K=np.asarray(K, dtype=np.float64))


@runtime_checkable
class Lifter(Protocol):
    """Maps one track's 2-D keypoints over time to a root-relative metric 3-D body per frame.

    Attributes
    ----------
    name : str
        What made the clip, stored as the clip attribute ``lifter`` (``"mediapipe"``, ``"learned:FILE"``,
        ``"oracle"``).
    sha256 : str
        SHA-256 of the lifter's file or reference data (clip attribute ``lifter_sha256``); "" for none.
    corrected_labels : bool
        True: :meth:`lift` receives 2-D keypoints whose left/right labels have been corrected
        (:func:`imusynth.video.pose.cleaning.identity_swaps`) and returns the body in those labels. False
        (MediaPipe): its 3-D carries the pose model's own labels, and the correction is made after the
        placement, each landmark keeping its depth (:func:`imusynth.video.pose.cleaning.swap_in_camera`).
    """

    name: str
    sha256: str
    corrected_labels: bool

    def lift(self, keypoints: LifterInput) -> NDArray[np.float64]:
        """The body per detection, shape (T, 33, 3), m, hip-centred, camera axes; NaN where unknown."""
        ...


class MediaPipeLifter:
    """MediaPipe's world landmarks as they are (the default lifter: frame by frame, no temporal model)."""

    name = "mediapipe"
    sha256 = ""
    corrected_labels = False

    def lift(self, keypoints: LifterInput) -> NDArray[np.float64]:
        """``keypoints.world_xyz`` as float64, shape (T, 33, 3), m."""
        return np.asarray(keypoints.world_xyz, dtype=np.float64)


def _point(x: NDArray[np.float64], name: str) -> NDArray[np.float64]:
    """A named point of (T, 33, 3) arrays, including the virtual ``mid_hip`` and ``mid_shoulder``."""
    if name == "mid_hip":
        return 0.5 * (x[:, _I["left_hip"]] + x[:, _I["right_hip"]])
    if name == "mid_shoulder":
        return 0.5 * (x[:, _I["left_shoulder"]] + x[:, _I["right_shoulder"]])
    return x[:, _I[name]]


def _rotate_between(a: NDArray[np.float64], b: NDArray[np.float64], d: NDArray[np.float64]
                    ) -> NDArray[np.float64]:
    """Turn vectors ``d`` (T, 3) by the smallest rotation taking direction ``a`` onto ``b`` (both (T, 3)).

    ``R d = d + v x d + v x (v x d) / (1 + c)`` with ``v = a x b``, ``c = a . b`` for unit ``a``, ``b``;
    rows where the two directions are (nearly) opposite or undefined get NaN.
    """
    na = np.linalg.norm(a, axis=1, keepdims=True)
    nb = np.linalg.norm(b, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        ua, ub = a / na, b / nb
        v = np.cross(ua, ub)
        c = np.sum(ua * ub, axis=1, keepdims=True)
        vd = np.cross(v, d)
        out = d + vd + np.cross(v, vd) / (1.0 + c)
    bad = ~(c[:, 0] > -0.99) | (na[:, 0] < 1e-6) | (nb[:, 0] < 1e-6)
    out[bad] = np.nan
    return out


def fill_landmarks(lifted: ArrayLike, names: list[str] | tuple[str, ...], world_xyz: ArrayLike
                   ) -> NDArray[np.float64]:
    """Complete a lifter's joints to MediaPipe's 33 points, hip-centred.

    The named points of ``lifted`` that are MediaPipe landmarks are taken as they are. Each other landmark
    takes MediaPipe's world landmark, kept rigidly attached to the nearest lifted joint of its limb: for a
    hand point the wrist, turned with the forearm (``elbow -> wrist``); for the heel and toe the ankle, turned
    with the shank; for the face the nose (or the shoulders' midpoint), turned with the trunk; a joint of a
    limb the lifter does not give at all follows the same rule one joint up. The rotation is the smallest
    one that takes MediaPipe's segment direction onto the lifted one, so the roll about the segment (e.g.
    the hand's pronation) is MediaPipe's. The result is shifted so the hips' midpoint is the origin.

    Parameters
    ----------
    lifted : array_like, shape (T, J, 3), m
        The lifter's joints in camera axes (any origin); NaN where unknown.
    names : sequence of str, length J
        Their names: MediaPipe landmark names (``left_wrist``) or canonical names of one MediaPipe landmark
        (``left_toe``), or ``pelvis`` (the hips' midpoint, used as the origin when the hips are not given);
        other names (``neck``, ``head``, ...) are ignored.
    world_xyz : array_like, shape (T, 33, 3), m
        MediaPipe's world landmarks of the same frames and labels.

    Returns
    -------
    ndarray, shape (T, 33, 3), float64, m
        Hip-centred body; NaN where a point and its attachment are unknown.

    Raises
    ------
    LiftError
        For mismatched shapes or duplicate names.
    """
    L = np.asarray(lifted, dtype=np.float64)
    W = np.asarray(world_xyz, dtype=np.float64)
    if L.ndim != 3 or L.shape[2] != 3 or L.shape[1] != len(names):
        raise LiftError(f"lifted must have shape (T, {len(names)}, 3), got {L.shape}")
    if W.shape != (L.shape[0], N_LANDMARKS, 3):
        raise LiftError(f"world_xyz must have shape ({L.shape[0]}, {N_LANDMARKS}, 3), got {W.shape}")
    if len(set(names)) != len(names):
        raise LiftError("lifter joint names must be unique")
    out = np.full_like(W, np.nan)
    given = np.zeros(N_LANDMARKS, dtype=bool)
    for j, n in enumerate(names):
        n = _ALIASES.get(n, n)
        if n in _I:
            out[:, _I[n]] = L[:, j]
            given[_I[n]] = True
    if not (given[_HIPS[0]] and given[_HIPS[1]]):
        if "pelvis" not in names:
            raise LiftError("a lifter must give both hips or the pelvis (the body's origin)")
        origin = L[:, list(names).index("pelvis")]
        # both hips from MediaPipe, attached to the pelvis with MediaPipe's trunk orientation
        for h in _HIPS:
            out[:, h] = origin + W[:, h] - 0.5 * (W[:, _HIPS[0]] + W[:, _HIPS[1]])
            given[h] = True
    # fill in order of attachment depth (wrist before hand points, ...): repeat until nothing changes
    todo = [n for n in MEDIAPIPE_33 if not given[_I[n]]]
    known = set(n for n in MEDIAPIPE_33 if given[_I[n]]) | {"mid_hip"}
    if given[_I["left_shoulder"]] and given[_I["right_shoulder"]]:
        known.add("mid_shoulder")
    while todo:
        progress = False
        for n in list(todo):
            for parent, anchor in _ATTACH.get(n, ()):
                if parent in known and anchor in known:
                    pa_w, an_w = _point(W, parent), _point(W, anchor)
                    pa_l, an_l = _point(out, parent), _point(out, anchor)
                    out[:, _I[n]] = an_l + _rotate_between(an_w - pa_w, an_l - pa_l, W[:, _I[n]] - an_w)
                    break
            else:
                continue
            todo.remove(n)
            known.add(n)
            if "left_shoulder" in known and "right_shoulder" in known:
                known.add("mid_shoulder")
            progress = True
        if not progress:
            break
    hip = _point(out, "mid_hip")
    for n in todo:   # no attachment possible: MediaPipe's offset from the hips, unturned
        out[:, _I[n]] = hip + W[:, _I[n]] - _point(W, "mid_hip")
    return out - hip[:, None, :]


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resample_keypoints(time: NDArray[np.float64], xy: NDArray[np.float64], conf: NDArray[np.float64],
                       rate_hz: float, *, max_gap_frames: float = 2.5
                       ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Keypoints on a regular time grid at ``rate_hz`` spanning the detections (linear interpolation).

    Grid times inside a gap between detections longer than ``max_gap_frames`` median detection intervals
    get confidence 0 (their positions are interpolated, so a model that ignores confidences still sees a
    smooth path). Returns the grid times (G,) s, keypoints (G, J, 2) px and confidences (G, J).
    """
    t = np.asarray(time, dtype=np.float64)
    if t.size == 1:
        return t.copy(), xy.copy(), conf.copy()
    grid = t[0] + np.arange(int(np.floor((t[-1] - t[0]) * rate_hz + 1e-6)) + 1) / rate_hz
    flat = xy.reshape(len(t), -1)
    g_xy = np.stack([np.interp(grid, t, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    g_c = np.stack([np.interp(grid, t, conf[:, k]) for k in range(conf.shape[1])], axis=1)
    dt = np.diff(t)
    step = float(np.median(dt))
    k = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, len(dt) - 1)
    in_gap = (dt[k] > max_gap_frames * step) & (grid > t[k] + 1e-9) & (grid < t[k + 1] - 1e-9)
    g_c[in_gap] = 0.0
    return grid, g_xy.reshape(len(grid), *xy.shape[1:]), g_c


class LearnedLifter:
    """A learned temporal lifter loaded from a lifter file (``--lifter PATH``).

    The file is read by :func:`imusynth.video.lift.temporal.load_lifter_file` (torch is imported here, not
    before). The track's 2-D keypoints are resampled onto a regular grid at the file's frame rate
    (:func:`resample_keypoints`: the model's temporal filters assume that rate, and gaps in the track become
    frames of zero confidence), lifted by :func:`imusynth.video.lift.temporal.predict`, interpolated back
    to the detection times and completed to the 33 points by :func:`fill_landmarks`.

    Parameters
    ----------
    path : str or Path
        The lifter file.

    Raises
    ------
    InputError
        (:class:`LiftError`) when the file is missing or not a lifter file.
    """

    corrected_labels = True

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        if not p.is_file():
            raise LiftError(f"lifter file not found: {p}")
        try:
            from imusynth.video.lift.temporal import load_lifter_file
        except ImportError as exc:
            raise LiftError(f"--lifter {p} needs torch ({exc}); install it, e.g. pip install torch") from None
        self.file: Any = load_lifter_file(p)     # LifterFileError (an InputError) with one line
        self.path = p
        self.name = f"learned:{p.name}"
        self.sha256 = str(getattr(self.file, "sha256", "") or _sha256_file(p))
        self.joints_out = tuple(self.file.joints_out)
        self.keypoints_in = tuple(self.file.keypoints_in)
        fill_landmarks(np.zeros((1, len(self.joints_out), 3)), self.joints_out, np.zeros((1, N_LANDMARKS, 3)))

    def lift(self, keypoints: LifterInput) -> NDArray[np.float64]:
        """The lifted, completed body per detection, shape (T, 33, 3), m."""
        from imusynth.video.lift.temporal import keypoints_from_mediapipe, predict

        kp, conf = keypoints_from_mediapipe(self.keypoints_in, np.asarray(keypoints.image_xy, np.float64),
                                            np.asarray(keypoints.confidence, np.float64))
        t = np.asarray(keypoints.time, dtype=np.float64)
        grid, g_kp, g_conf = resample_keypoints(t, kp, conf, float(self.file.fps))
        import torch

        # one thread: the model is small and a track's batch short, so thread hand-offs dominate (on the
        # busy 2-core test machine 2 threads took 1.4 s for a 304-frame track, 1 thread 0.05 s)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            pred = np.asarray(predict(self.file, g_kp, g_conf, image_size=keypoints.image_size), np.float64)
        finally:
            torch.set_num_threads(threads)
        if pred.shape != (len(grid), len(self.joints_out), 3):
            raise LiftError(f"lifter returned shape {pred.shape}, "
                            f"expected ({len(grid)}, {len(self.joints_out)}, 3)")
        flat = pred.reshape(len(grid), -1)
        back = np.stack([np.interp(t, grid, flat[:, k]) for k in range(flat.shape[1])], axis=1)
        return fill_landmarks(back.reshape(len(t), -1, 3), self.joints_out, keypoints.world_xyz)


class OracleLifter:
    """The 3-D of a reference, frame by frame: a lifter that knows the answer (the depth oracle).

    Parameters
    ----------
    reference : array_like, shape (F, J, 3), m
        The reference joints in this video's camera frame (x right, y down, z forward), row ``k`` for
        decoder frame ``k + first_frame``; NaN where unknown.
    names : sequence of str, length J
        Their MediaPipe names (see :func:`fill_landmarks`; the others are filled from MediaPipe).
    first_frame : int
        Decoder frame index of the reference's first row (default 0).
    name : str
        The clip attribute ``lifter`` (default ``"oracle"``).
    """

    corrected_labels = True

    def __init__(self, reference: ArrayLike, names: list[str] | tuple[str, ...], *, first_frame: int = 0,
                 name: str = "oracle") -> None:
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim != 3 or ref.shape[1:] != (len(names), 3):
            raise LiftError(f"reference must have shape (F, {len(names)}, 3) in metres, got {ref.shape}")
        self.reference = ref
        self.names = tuple(names)
        self.first_frame = int(first_frame)
        self.name = name
        self.sha256 = hashlib.sha256(np.ascontiguousarray(ref).tobytes()).hexdigest()

    def lift(self, keypoints: LifterInput) -> NDArray[np.float64]:
        """The reference at the detections' frames, completed and hip-centred, shape (T, 33, 3), m."""
        rows = np.asarray(keypoints.frame_index, dtype=np.int64) - self.first_frame
        inside = (rows >= 0) & (rows < len(self.reference))
        pts = np.full((len(rows), len(self.names), 3), np.nan)
        pts[inside] = self.reference[rows[inside]]
        return fill_landmarks(pts, self.names, keypoints.world_xyz)


def lifter_from_spec(spec: str) -> Lifter:
    """The lifter named by ``[lift] lifter`` / ``--lifter``: ``"mediapipe"`` or the path of a lifter file.

    Raises
    ------
    InputError
        (:class:`LiftError`) for an empty spec, a missing file or an invalid one.
    """
    s = str(spec).strip()
    if not s:
        raise LiftError("--lifter must be 'mediapipe' or the path of a lifter file")
    if s == "mediapipe":
        return MediaPipeLifter()
    return LearnedLifter(s)
