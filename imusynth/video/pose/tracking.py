"""Associate the poses of each frame into per-person tracks, frame by frame.

Algorithm (:class:`Tracker`), run once per frame:

1. *Duplicates*: two detections are duplicates when their boxes overlap with IoU above
   ``duplicate_iou`` or when at least ``duplicate_fraction`` of their landmarks coincide (closer
   than 0.1 body size); of duplicates the one with the lower mean presence is dropped (a pose
   landmarker may lock twice onto one person).
2. *Prediction*: each live track is moved to the frame's time with a constant-velocity model:
   its last landmarks and box are shifted by ``v * dt``, where ``v`` (px/s) is an exponentially
   smoothed velocity of the torso centre (mean of shoulders and hips) and ``dt`` the time since
   the track was last seen.
3. *Cost*: for every (track, detection) pair::

       cost = d_kp + w_iou * (1 - IoU) + w_size * |ln(size_det / size_track)|

   where ``d_kp`` is the mean distance between the predicted and detected landmarks (over the
   landmarks valid in both, else all 33) divided by the smaller of the two body sizes (the geometric
   mean of the box width and height; the track's exponentially smoothed: a large phantom skeleton gets
   no wider gate), and IoU is the overlap of the predicted and detected boxes. Pairs with
   ``d_kp > max_distance`` or ``cost > max_cost`` are not allowed.
4. *Assignment*: an exact minimum-cost assignment (:mod:`imusynth.video.pose.assignment`: enumeration
   for the usual few people, :func:`scipy.optimize.linear_sum_assignment` for crowds) picks the pairs
   of least total cost, leaving a track unmatched costing ``max_cost`` (so no track takes a poor match
   just to free a detection for another), first between *confirmed* tracks (at least ``confirm_frames``
   detections) and the detections, then between the younger tracks and the
   detections left (a matching cascade: a track born from a spurious detection cannot take over an
   established person). A detection left over starts a new track; a track left over counts a miss and
   ends after more than ``max_missed`` consecutive misses.
5. *Output*: with ``rejoin`` (default), the tracks of one person are joined when they are read
   (:func:`imusynth.video.pose.linking.link_tracks`: fragments after a loss, handovers, duplicates);
   people spanning less than ``min_duration_s`` (last minus first frame time) are dropped.

Combining the shape of the whole skeleton, its size and its predicted motion keeps identities
when people cross: two people of different sizes, or moving in different directions, cost
little to keep and much to swap.

A track holds only the frames where its person was detected, in compact float32 arrays, in a table of
a :class:`~imusynth.video.framestore.FrameStore` (in memory by default; the video pipeline's spills to a
temporary file): a :class:`Tracker` keeps a fixed state per live track, and :meth:`Tracker.track` reads
one person back at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imusynth.errors import InputError, NoPersonError
from imusynth.video.framestore import FrameStore
from imusynth.video.pose.assignment import min_cost_assignment
from imusynth.video.pose.detection import N_LANDMARKS, PoseDetection, box_iou
from imusynth.video.pose.linking import Piece, TrackBoxes, link_tracks

__all__ = ["TRACK_SCHEMA", "Track", "TrackSummary", "Tracker", "main_track_id", "select_main_track",
           "track_score", "track_summary"]

#: MediaPipe indices of the shoulders and hips (the torso centre used for velocity).
_TORSO = np.array([11, 12, 23, 24])

_INFEASIBLE = 1e6

#: Two landmarks closer than this (in body sizes of the smaller pose) are the same point.
_SAME_LANDMARK_DISTANCE = 0.1


@dataclass(frozen=True, eq=False)
class Track:
    """One person followed across frames. Frames where the person was not detected are absent.

    Attributes
    ----------
    track_id : int
        Identity, unique within a :class:`Tracker`.
    frame_index : ndarray, shape (T,), int64
        Frame indices (as passed to :meth:`Tracker.update`) where the person was detected.
    time : ndarray, shape (T,), float64, s
        Frame times, strictly increasing.
    image_xy : ndarray, shape (T, 33, 2), float32, px
    image_z : ndarray, shape (T, 33), float32, px
    visibility : ndarray, shape (T, 33), float32
    presence : ndarray, shape (T, 33), float32
    world_xyz : ndarray, shape (T, 33, 3), float32, m
    bbox : ndarray, shape (T, 4), float32, px
        Per-frame copies of the :class:`~imusynth.video.pose.detection.PoseDetection` fields.
    landmark_valid : ndarray, shape (T, 33), bool
        Visibility and presence both at least the tracker's ``valid_threshold``.
    valid : ndarray, shape (T,), bool
        At least ``min_valid_fraction`` of the 33 landmarks are valid in that frame.
    """

    track_id: int
    frame_index: NDArray[np.int64]
    time: NDArray[np.float64]
    image_xy: NDArray[np.float32]
    image_z: NDArray[np.float32]
    visibility: NDArray[np.float32]
    presence: NDArray[np.float32]
    world_xyz: NDArray[np.float32]
    bbox: NDArray[np.float32]
    landmark_valid: NDArray[np.bool_]
    valid: NDArray[np.bool_]

    @property
    def n_frames(self) -> int:
        """Number of frames with a detection."""
        return int(self.time.shape[0])

    @property
    def duration_s(self) -> float:
        """Time from the first to the last detection, s."""
        return float(self.time[-1] - self.time[0]) if self.n_frames else 0.0

    def centers(self) -> NDArray[np.float32]:
        """Box centres, shape (T, 2), px."""
        return ((self.bbox[:, :2] + self.bbox[:, 2:]) * 0.5).astype(np.float32)

    def detection(self, k: int) -> PoseDetection:
        """The detection of the ``k``-th stored frame."""
        return PoseDetection(
            image_xy=self.image_xy[k],
            image_z=self.image_z[k],
            visibility=self.visibility[k],
            presence=self.presence[k],
            world_xyz=self.world_xyz[k],
            bbox=self.bbox[k],
        )


#: One row of a track's table in the frame store: the fields of :class:`Track` stored per detection.
TRACK_SCHEMA: dict[str, tuple[tuple[int, ...], type]] = {
    "frame_index": ((), np.int64),
    "time": ((), np.float64),
    "image_xy": ((N_LANDMARKS, 2), np.float32),
    "image_z": ((N_LANDMARKS,), np.float32),
    "visibility": ((N_LANDMARKS,), np.float32),
    "presence": ((N_LANDMARKS,), np.float32),
    "world_xyz": ((N_LANDMARKS, 3), np.float32),
    "bbox": ((4,), np.float32),
}


class _TrackBuilder:
    """A live track: its rows go to a table of the frame store; here only the motion state for prediction."""

    def __init__(self, track_id: int, store: FrameStore, table: str) -> None:
        self.track_id = track_id
        self.store = store
        self.table = table
        store.create(table, TRACK_SCHEMA)
        self.n = 0
        self.first_time = math.nan
        self.last: PoseDetection | None = None
        self.last_time = -math.inf
        self.velocity = np.zeros(2)  # torso centre, px/s
        self.size = 1.0  # smoothed body size, px
        self.missed = 0

    def append(self, frame_index: int, time_s: float, det: PoseDetection, *, smoothing: float) -> None:
        self.store.append(self.table, {
            "frame_index": frame_index, "time": time_s, "image_xy": det.image_xy, "image_z": det.image_z,
            "visibility": det.visibility, "presence": det.presence, "world_xyz": det.world_xyz,
            "bbox": det.bbox,
        })
        if self.last is None:
            self.size = det.size
            self.first_time = time_s
        elif time_s > self.last_time:
            v_new = (_torso_center(det) - _torso_center(self.last)) / (time_s - self.last_time)
            self.velocity = v_new if self.n == 1 else smoothing * v_new + (1.0 - smoothing) * self.velocity
            self.size = smoothing * det.size + (1.0 - smoothing) * self.size
        self.n += 1
        self.last = det
        self.last_time = time_s
        self.missed = 0

    def predicted(self, time_s: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Landmarks (33, 2) and box (4,) moved to ``time_s`` at constant velocity, px."""
        assert self.last is not None
        shift = self.velocity * max(time_s - self.last_time, 0.0)
        xy = self.last.image_xy.astype(np.float64) + shift
        bbox = self.last.bbox.astype(np.float64) + np.concatenate([shift, shift])
        return xy, bbox

    @property
    def duration_s(self) -> float:
        return float(self.last_time - self.first_time) if self.n else 0.0

    def finish(self) -> None:
        """The track has ended: write its buffered rows out and drop the prediction state."""
        self.store.seal(self.table)
        self.last = None

    def read(self, piece: Piece | None = None) -> dict[str, NDArray[Any]]:
        """The stored rows (all, or those of ``piece``), one array per :data:`TRACK_SCHEMA` field."""
        a = self.store.read(self.table)
        if piece is None:
            return a
        keep = piece.mask(a["time"])
        return {k: v[keep] for k, v in a.items()}

    def boxes(self) -> TrackBoxes:
        """Times and boxes (what linking needs), read back from the store."""
        a = self.store.read(self.table, fields=["time", "bbox"])
        return TrackBoxes(self.track_id, a["time"], a["bbox"])


def _build(track_id: int, rows: dict[str, NDArray[Any]], *, valid_threshold: float,
           min_valid_fraction: float) -> Track:
    lv = (rows["visibility"] >= valid_threshold) & (rows["presence"] >= valid_threshold)
    return Track(track_id=track_id, landmark_valid=lv, valid=lv.mean(axis=1) >= min_valid_fraction, **rows)


def _torso_center(det: PoseDetection) -> NDArray[np.float64]:
    return det.image_xy[_TORSO].astype(np.float64).mean(axis=0)


class Tracker:
    """Frame-by-frame multi-person tracker (see the module notes for the algorithm).

    Parameters
    ----------
    max_missed : int, default 10
        Consecutive frames without a match after which a track ends.
    confirm_frames : int, default 5
        Detections a track needs to be *confirmed*; confirmed tracks are matched first, so a
        new track cannot take an established track's person.
    min_duration_s : float, default 1.0, s
        Tracks spanning less (first to last detection) are dropped from the output.
    max_distance : float, default 1.0, body sizes
        Largest mean landmark distance (prediction to detection) allowed for a match.
    max_cost : float, default 1.5
        Largest total cost allowed for a match.
    w_iou : float, default 0.5
        Weight of ``1 - IoU`` in the cost.
    w_size : float, default 0.5
        Weight of the log size ratio in the cost.
    duplicate_iou : float, default 0.8
        Two detections whose boxes overlap more (IoU) are duplicates.
    duplicate_fraction : float, default 0.5, in [0, 1]
        Two detections with at least this fraction of their landmarks within 0.1 body size of
        each other are duplicates. Of duplicates, the one with the higher mean presence is kept.
    smoothing : float, default 0.5, in (0, 1]
        Weight of the newest value in the exponential smoothing of velocity and body size.
    valid_threshold : float, default 0.5, in [0, 1]
        Landmark validity threshold on both visibility and presence.
    min_valid_fraction : float, default 0.5, in [0, 1]
        Fraction of valid landmarks a frame needs to be valid.
    rejoin : bool, default True
        Join the tracks of one person when they are read (:func:`~.linking.link_tracks`).
    rejoin_gap_s, rejoin_overlap_s : float, default 1.0, s
        Longest loss bridged and longest overlap of a handover (``max_gap_s``, ``max_overlap_s``).
    store : FrameStore, optional
        Where the tracks' rows go, one table ``"track/<id>"`` per track (the caller keeps it open
        while tracks are read, and closes it). Default: a store held in memory.
    """

    def __init__(
        self,
        *,
        max_missed: int = 10,
        confirm_frames: int = 5,
        min_duration_s: float = 1.0,
        max_distance: float = 1.0,
        max_cost: float = 1.5,
        w_iou: float = 0.5,
        w_size: float = 0.5,
        duplicate_iou: float = 0.8,
        duplicate_fraction: float = 0.5,
        smoothing: float = 0.5,
        valid_threshold: float = 0.5,
        min_valid_fraction: float = 0.5,
        rejoin: bool = True,
        rejoin_gap_s: float = 1.0,
        rejoin_overlap_s: float = 1.0,
        store: FrameStore | None = None,
    ) -> None:
        if isinstance(max_missed, bool) or not isinstance(max_missed, int) or max_missed < 0:
            raise InputError(f"max_missed must be an integer >= 0 frames, got {max_missed!r}")
        for name, value in (("min_duration_s", min_duration_s), ("max_distance", max_distance),
                            ("max_cost", max_cost), ("w_iou", w_iou), ("w_size", w_size),
                            ("rejoin_gap_s", rejoin_gap_s), ("rejoin_overlap_s", rejoin_overlap_s)):
            if not (math.isfinite(value) and value >= 0.0):
                raise InputError(f"{name} must be a finite number >= 0, got {value!r}")
        for name, value in (("duplicate_iou", duplicate_iou), ("duplicate_fraction", duplicate_fraction),
                            ("valid_threshold", valid_threshold),
                            ("min_valid_fraction", min_valid_fraction)):
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must be in [0, 1], got {value!r}")
        if not 0.0 < smoothing <= 1.0:
            raise InputError(f"smoothing must be in (0, 1], got {smoothing!r}")
        if isinstance(confirm_frames, bool) or not isinstance(confirm_frames, int) or confirm_frames < 1:
            raise InputError(f"confirm_frames must be an integer >= 1, got {confirm_frames!r}")
        self.max_missed = max_missed
        self.confirm_frames = confirm_frames
        self.min_duration_s = float(min_duration_s)
        self.max_distance = float(max_distance)
        self.max_cost = float(max_cost)
        self.w_iou = float(w_iou)
        self.w_size = float(w_size)
        self.duplicate_iou = float(duplicate_iou)
        self.duplicate_fraction = float(duplicate_fraction)
        self.smoothing = float(smoothing)
        self.valid_threshold = float(valid_threshold)
        self.min_valid_fraction = float(min_valid_fraction)
        self.rejoin = bool(rejoin)
        self.rejoin_gap_s = float(rejoin_gap_s)
        self.rejoin_overlap_s = float(rejoin_overlap_s)
        self._groups_cache: tuple[int, dict[int, list[tuple[_TrackBuilder, Piece]]]] | None = None
        self.store = store if store is not None else FrameStore(spill=False)
        self._active: list[_TrackBuilder] = []
        self._ended: list[_TrackBuilder] = []
        self._next_id = 0
        self._n_updates = 0
        self._last_time = -math.inf

    def _is_duplicate(self, a: PoseDetection, b: PoseDetection) -> bool:
        if box_iou(a.bbox, b.bbox) > self.duplicate_iou:
            return True
        dist = np.linalg.norm(a.image_xy - b.image_xy, axis=1) / min(a.size, b.size)
        return float(np.mean(dist < _SAME_LANDMARK_DISTANCE)) >= self.duplicate_fraction

    def _drop_duplicates(self, detections: Sequence[PoseDetection]) -> list[PoseDetection]:
        order = sorted(range(len(detections)), key=lambda i: -float(np.mean(detections[i].presence)))
        kept: list[PoseDetection] = []
        for i in order:
            d = detections[i]
            if not any(self._is_duplicate(d, k) for k in kept):
                kept.append(d)
        return kept

    def _cost(self, track: _TrackBuilder, det: PoseDetection, time_s: float) -> float:
        assert track.last is not None
        xy_pred, box_pred = track.predicted(time_s)
        size_t = min(track.size, det.size)  # the smaller body: a large phantom gets no wider gate
        both = track.last.valid_mask(self.valid_threshold) & det.valid_mask(self.valid_threshold)
        sel = both if int(both.sum()) >= 4 else np.ones(N_LANDMARKS, bool)
        d_kp = float(np.linalg.norm(xy_pred[sel] - det.image_xy[sel], axis=1).mean()) / size_t
        if d_kp > self.max_distance:
            return _INFEASIBLE
        cost = (d_kp + self.w_iou * (1.0 - box_iou(box_pred, det.bbox))
                + self.w_size * abs(math.log(det.size / size_t)))
        return cost if cost <= self.max_cost else _INFEASIBLE

    def update(
        self, time_s: float, detections: Sequence[PoseDetection], *, frame_index: int | None = None
    ) -> list[tuple[int, PoseDetection]]:
        """Add one frame's detections.

        Parameters
        ----------
        time_s : float, s
            The frame's time, strictly greater than the previous call's.
        detections : sequence of PoseDetection
            The poses found in the frame (any order).
        frame_index : int, optional
            The frame's index in the video (stored in the tracks); the number of previous
            calls when omitted.

        Returns
        -------
        list of (int, PoseDetection)
            ``(track_id, detection)`` for each detection kept in this frame (duplicates are
            dropped): the ids of single tracks, before joining and dropping (:meth:`track_ids`).
        """
        if not math.isfinite(time_s) or time_s <= self._last_time:
            raise InputError(f"frame times must be finite, increasing: {time_s} s after {self._last_time} s")
        self._last_time = float(time_s)
        idx = self._n_updates if frame_index is None else int(frame_index)
        self._n_updates += 1
        dets = self._drop_duplicates(detections)

        assignment: dict[int, _TrackBuilder] = {}
        confirmed = [t for t in self._active if t.n >= self.confirm_frames]
        tentative = [t for t in self._active if t.n < self.confirm_frames]
        for group in (confirmed, tentative):  # established tracks choose first
            free = [j for j in range(len(dets)) if j not in assignment]
            if not group or not free:
                continue
            cost = np.array([[self._cost(t, dets[j], time_s) for j in free] for t in group])
            # one "unmatched" column per track at cost max_cost: leaving a track unmatched costs as much
            # as its worst allowed match, so no track takes a poor match only to free a detection for
            # another track (with infeasible pairs at 1e6 the assignment would maximise the number of
            # matches: a phantom track stealing a person from a track left with a partial skeleton)
            unmatched = np.full((len(group), len(group)), _INFEASIBLE)
            np.fill_diagonal(unmatched, self.max_cost)
            rows, cols = min_cost_assignment(np.hstack([cost, unmatched]))
            for r, c in zip(rows, cols, strict=True):
                if c < len(free) and cost[r, c] < _INFEASIBLE:
                    assignment[free[int(c)]] = group[int(r)]

        out: list[tuple[int, PoseDetection]] = []
        for j, det in enumerate(dets):
            track = assignment.get(j)
            if track is None:
                track = _TrackBuilder(self._next_id, self.store, f"track/{self._next_id}")
                self._next_id += 1
                self._active.append(track)
            track.append(idx, float(time_s), det, smoothing=self.smoothing)
            out.append((track.track_id, det))

        still: list[_TrackBuilder] = []
        for track in self._active:
            if track.last_time != time_s:  # not seen in this frame
                track.missed += 1
            if track.missed > self.max_missed:
                self._end(track)
            else:
                still.append(track)
        self._active = still
        return out

    def _end(self, track: _TrackBuilder) -> None:
        # a short track may be a piece of a person that linking joins to others (kept, in the store)
        if track.duration_s >= self.min_duration_s or (self.rejoin and track.n > 1):
            track.finish()
            self._ended.append(track)
        else:
            self.store.drop(track.table)  # forgotten at once

    def _groups(self) -> dict[int, list[tuple[_TrackBuilder, Piece]]]:
        """Person id -> the pieces of tracks that make that person (see :mod:`.linking`), by id."""
        if self._groups_cache is not None and self._groups_cache[0] == self._n_updates:
            return self._groups_cache[1]
        if not self.rejoin:
            kept = sorted((t for t in self._ended + self._active if t.duration_s >= self.min_duration_s),
                          key=lambda t: t.track_id)
            groups = {t.track_id: [(t, Piece(t.track_id))] for t in kept}
        else:
            builders = {t.track_id: t for t in self._ended + self._active}
            boxes = {i: b.boxes() for i, b in builders.items()}
            groups = {}
            for g in link_tracks(list(boxes.values()), max_gap_s=self.rejoin_gap_s,
                                 max_overlap_s=self.rejoin_overlap_s):
                t0 = boxes[g[0].track_id].time[g[0].mask(boxes[g[0].track_id].time)][0]
                t1 = boxes[g[-1].track_id].time[g[-1].mask(boxes[g[-1].track_id].time)][-1]
                if t1 - t0 >= self.min_duration_s:  # a person spanning at least min_duration_s
                    groups[g[0].track_id] = [(builders[p.track_id], p) for p in g]
        self._groups_cache = (self._n_updates, groups)
        return groups

    def track_ids(self) -> list[int]:
        """Ids of the people so far (ended and live tracks of at least ``min_duration_s``), ascending.

        With ``rejoin``, the tracks of one person are joined (:func:`~.linking.link_tracks`) and the
        person's id is the earliest of their ids.
        """
        return list(self._groups())

    def _build_group(self, pieces: list[tuple[_TrackBuilder, Piece]], track_id: int) -> Track:
        parts = [b.read(p if len(pieces) > 1 else None) for b, p in pieces]
        rows = parts[0] if len(parts) == 1 else {k: np.concatenate([a[k] for a in parts]) for k in parts[0]}
        return _build(track_id, rows, valid_threshold=self.valid_threshold,
                      min_valid_fraction=self.min_valid_fraction)

    def track(self, track_id: int) -> Track:
        """One person of :meth:`track_ids`, read back from the store (fresh arrays).

        Raises
        ------
        KeyError
            No such id among :meth:`track_ids`.
        """
        groups = self._groups()
        if track_id not in groups:
            raise KeyError(f"no track {track_id} spanning at least {self.min_duration_s} s")
        return self._build_group(groups[track_id], track_id)

    def tracks(self) -> list[Track]:
        """All people of :meth:`track_ids`, by id.

        Every track is read into memory at once; to keep memory bounded on long videos, loop over
        :meth:`track_ids` and :meth:`track` instead.
        """
        return [self._build_group(g, tid) for tid, g in self._groups().items()]


@dataclass(frozen=True)
class TrackSummary:
    """What the main-person choice needs of a track (a few numbers: no per-frame arrays).

    Attributes
    ----------
    track_id : int
    n_valid : int
        Number of valid frames.
    size : float
        Median box height (clipped to the frame) over the frame height, over the valid frames (all
        frames if none is valid); 0 for an empty track.
    centrality : float
        One minus the median distance of the box centre from the frame centre over the
        half-diagonal, over the same frames; 0 for an empty track.
    """

    track_id: int
    n_valid: int
    size: float
    centrality: float

    def score(self, max_valid_frames: int) -> float:
        """``coverage * size * centrality`` (see :func:`track_score`), each clipped to [0, 1]."""
        coverage = self.n_valid / max_valid_frames if max_valid_frames > 0 else 1.0
        return float(min(coverage, 1.0) * np.clip(self.size, 0.0, 1.0) * np.clip(self.centrality, 0.0, 1.0))


def track_summary(track: Track, frame_size: tuple[int, int]) -> TrackSummary:
    """The :class:`TrackSummary` of ``track`` in frames of ``frame_size = (width, height)``, px."""
    w, h = float(frame_size[0]), float(frame_size[1])
    if track.n_frames == 0:
        return TrackSummary(track.track_id, 0, 0.0, 0.0)
    sel = track.valid if track.valid.any() else np.ones(track.n_frames, bool)
    box = track.bbox[sel].astype(np.float64)
    box = np.clip(box, [0.0, 0.0, 0.0, 0.0], [w, h, w, h])
    size = float(np.median((box[:, 3] - box[:, 1]) / h))
    centre = (box[:, :2] + box[:, 2:]) * 0.5
    dist = np.hypot(centre[:, 0] - w / 2, centre[:, 1] - h / 2) / math.hypot(w / 2, h / 2)
    centrality = 1.0 - float(np.median(dist))
    return TrackSummary(track.track_id, int(track.valid.sum()), size, centrality)


def track_score(track: Track, frame_size: tuple[int, int], *, max_valid_frames: int) -> float:
    """Main-person score of a track: coverage x size x centrality, each in [0, 1].

    Parameters
    ----------
    track : Track
    frame_size : (int, int), px
        ``(width, height)`` of the upright frames.
    max_valid_frames : int
        The largest number of valid frames among the competing tracks (0: coverage is 1 for all).

    Returns
    -------
    float
        ``coverage * size * centrality`` where, over the track's valid frames (all frames if
        none is valid), *coverage* is its number of valid frames over ``max_valid_frames``,
        *size* the median box height (clipped to the frame) over the frame height, and
        *centrality* one minus the median distance of the box centre from the frame centre
        over the half-diagonal.
    """
    if track.n_frames == 0:
        return 0.0
    return track_summary(track, frame_size).score(max_valid_frames)


def main_track_id(summaries: Sequence[TrackSummary]) -> int:
    """Id of the main person's track among ``summaries``: the highest score (ties: the lower id).

    Raises
    ------
    imusynth.errors.NoPersonError
        ``summaries`` is empty.
    """
    if not summaries:
        raise NoPersonError("no person tracked for long enough in the video")
    max_valid = max(s.n_valid for s in summaries)
    return max(summaries, key=lambda s: (s.score(max_valid), -s.track_id)).track_id


def select_main_track(tracks: Sequence[Track], frame_size: tuple[int, int]) -> Track:
    """The track of the main person: the longest, largest, most central one.

    For long videos, :func:`main_track_id` on :func:`track_summary` of one track at a time makes
    the same choice without holding every track.

    Parameters
    ----------
    tracks : sequence of Track
        Candidates (for example :meth:`Tracker.tracks`).
    frame_size : (int, int), px
        ``(width, height)`` of the upright frames.

    Returns
    -------
    Track
        The track with the highest :func:`track_score` (ties: the lower id).

    Raises
    ------
    imusynth.errors.NoPersonError
        ``tracks`` is empty.
    """
    if not tracks:
        raise NoPersonError("no person tracked for long enough in the video")
    best = main_track_id([track_summary(t, frame_size) for t in tracks])
    return next(t for t in tracks if t.track_id == best)
