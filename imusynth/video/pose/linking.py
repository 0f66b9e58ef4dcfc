"""Re-join the pieces of one person's track: the second pass of :mod:`imusynth.video.pose.tracking`.

A frame-by-frame tracker splits one person into several tracks in three ways:

- *fragment*: the pose model loses her for longer than the tracker waits; one track ends and another
  starts nearby shortly after;
- *handover*: a spurious skeleton (a second, collapsed one on her legs, or a "phantom" drawn across two
  people) takes over her track for a moment while a new track picks her up, or her body takes over a
  phantom's track while her own track follows the spurious skeleton and dies; two tracks then overlap in
  time for a moment, one continuing the other;
- *duplicate*: a second skeleton on the same body, detected alongside the first for a while.

:func:`link_tracks` looks at each track's times and boxes only (``c`` the box centre, ``s`` the body
size, the geometric mean of box width and height), and joins them:

1. *Duplicates*: track D lies within track P's time span (P has at least as many detections), at least
   half of D's detections fall in frames where P has one, and in at least 90 % of those common frames
   their boxes overlap with IoU >= ``duplicate_iou``: D is absorbed into P (P's detections are kept).
2. *Phantoms*: a track whose box holds at least half of another tracked body's box in at least half of
   its frames is a skeleton drawn across people; it is kept as it is, joined to nothing. So are tracks
   of fewer than :data:`MIN_LINK_DETECTIONS` detections.
3. *Continuations*: track B continues track A when B starts at most ``max_gap_s`` after A's last
   detection (a fragment) or at most ``max_overlap_s`` before it (a handover), and B ends after A. Where a
   handover overlaps, one side of the overlap is the spurious one: either A up to B's start followed by B,
   or A followed by B after A's end, whichever agrees better (the other side's rows of the overlap are
   dropped). Up to ``max_overlap_s`` more of A's last or B's first rows are dropped where they are
   another body than the rest of their own track (they do not continue it by the test below) and the
   pieces agree only without them. The two ends agree when, over the last ``K`` detections of the
   earlier piece and the first ``K`` of the later one (:data:`END_DETECTIONS`):

   - their median sizes differ by at most a factor ``max_size_ratio``;
   - their velocities (least-squares slopes of ``c``) differ by at most ``max_speed_change`` body
     sizes per second;
   - the later mean centre lies within ``max_distance * (1 + loss / max_gap_s)`` body sizes (of the
     smaller median size) of the earlier mean centre moved on at the earlier velocity to the later mean
     time, ``loss`` being the time from the earlier piece's last detection to the later one's first
     (about a frame for a handover; dropped rows count in it).

   The cost of a continuation is that distance over its limit (0 to 1). Continuations are accepted
   greedily, the cheapest first; each track continues at most one and is continued by at most one.

Two different people are not joined while they are seen apart (they are never duplicates: their boxes
do not overlap in every common frame), or when one appears after the other left, at a different size,
elsewhere than where the first was heading, or moving differently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["END_DETECTIONS", "MIN_LINK_DETECTIONS", "Piece", "TrackBoxes", "link_tracks"]

#: Detections at a track's end (last ones) or start (first ones) that describe where it is going.
END_DETECTIONS = 8

#: Tracks with fewer detections are not joined to others (too short to tell where they go).
MIN_LINK_DETECTIONS = 5


@dataclass(frozen=True)
class TrackBoxes:
    """What linking needs of a track.

    Attributes
    ----------
    track_id : int
    time : ndarray, shape (T,), float64, s
        Times of its detections, strictly increasing.
    bbox : ndarray, shape (T, 4), px
        Its boxes ``(x0, y0, x1, y1)``.
    """

    track_id: int
    time: NDArray[np.float64]
    bbox: NDArray[np.floating]


@dataclass(frozen=True)
class Piece:
    """The detections of track ``track_id`` at times ``after_s < t < before_s`` (s) belong to a person."""

    track_id: int
    after_s: float = -math.inf
    before_s: float = math.inf

    def mask(self, time: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Which of the track's detections (times ``time``, s) the piece keeps."""
        return (time > self.after_s) & (time < self.before_s)


def _iou_rows(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """IoU of boxes ``a[k]`` and ``b[k]``, shape (N,)."""
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0.0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0.0, None)
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


@dataclass(frozen=True)
class _End:
    """Mean time (s), mean centre (px), velocity (px/s) and median size (px) of a few detections."""

    time: float
    centre: NDArray[np.float64]
    velocity: NDArray[np.float64]
    size: float


def _end(time: NDArray[np.float64], bbox: NDArray[np.floating], *, last: bool) -> _End:
    sel = slice(-END_DETECTIONS, None) if last else slice(0, END_DETECTIONS)
    t = np.asarray(time[sel], np.float64)
    b = np.asarray(bbox[sel], np.float64)
    c = (b[:, :2] + b[:, 2:]) * 0.5
    s = np.sqrt(np.maximum(b[:, 2] - b[:, 0], 1.0) * np.maximum(b[:, 3] - b[:, 1], 1.0))
    tm, cm = float(t.mean()), c.mean(axis=0)
    dt = t - tm
    den = float(dt @ dt)
    v = (dt @ (c - cm)) / den if den > 0 else np.zeros(2)
    return _End(tm, cm, v, float(np.median(s)))


def _continuation_cost(before: _End, after: _End, loss_s: float, *, max_gap_s: float, max_distance: float,
                       max_size_ratio: float, max_speed_change: float) -> float:
    """Cost (0 to 1) of ``after`` continuing ``before`` across a loss of ``loss_s`` (s; 0 for a handover);
    ``inf`` when they do not agree."""
    size = min(before.size, after.size)
    if abs(math.log(after.size / before.size)) > math.log(max_size_ratio):
        return math.inf
    if float(np.linalg.norm(after.velocity - before.velocity)) / size > max_speed_change:
        return math.inf
    gap = after.time - before.time
    predicted = before.centre + before.velocity * gap
    d = float(np.linalg.norm(after.centre - predicted)) / size
    limit = max_distance * (1.0 + loss_s / max_gap_s) if max_gap_s > 0 else max_distance
    return d / limit if d <= limit else math.inf


def _phantoms(tracks: Sequence[TrackBoxes]) -> set[int]:
    """Ids of the tracks whose box holds at least half of another tracked body's box in at least half of
    their frames: a skeleton drawn across people (a phantom), which is nobody's continuation."""
    out = set()
    for p in tracks:
        holds = np.zeros(len(p.time), bool)
        for q in tracks:
            if q is p:
                continue
            _, ip, iq = np.intersect1d(p.time, q.time, assume_unique=True, return_indices=True)
            if len(ip):
                a, b = np.asarray(p.bbox[ip], np.float64), np.asarray(q.bbox[iq], np.float64)
                iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0.0, None)
                ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0.0, None)
                area = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1e-9)
                holds[ip] |= iw * ih / area >= 0.5
        if holds.mean() >= 0.5:
            out.add(p.track_id)
    return out


#: Step (s) of the cuts tried where a handover's pieces meet, and the cost added per ``max_trim_s`` dropped.
_TRIM_STEP_S = 0.1
_TRIM_COST = 0.25


def _best_join(a: TrackBoxes, b: TrackBoxes, *, max_trim_s: float, **kw: float) -> tuple[float, float, float]:
    """The best way for ``b`` to continue ``a``: ``(cost, x, y)``, keeping ``a``'s rows before ``x`` and
    ``b``'s rows after ``y`` (s); cost ``inf`` when no way agrees.

    Where they overlap in time, ``a`` is cut at ``b``'s start or ``b`` at ``a``'s end. Besides, up to
    ``max_trim_s`` of ``a``'s last rows or of ``b``'s first ones may be dropped, in steps of
    :data:`_TRIM_STEP_S`, when they are another body than the rest of their track (they do not continue
    it, by the same test): the spurious skeleton that made the split. The way with the fewest steps that
    agrees is taken (then the cheapest); each step adds ``_TRIM_COST * step / max_trim_s`` to its cost.
    """
    a1, b0 = float(a.time[-1]), float(b.time[0])
    n = int(math.floor(max_trim_s / _TRIM_STEP_S + 1e-9))
    xs = [(math.inf, 0), (b0, 0)] + [(a1 - k * _TRIM_STEP_S, k) for k in range(1, n + 1)]
    ys = [(-math.inf, 0), (a1, 0)] + [(b0 + k * _TRIM_STEP_S, k) for k in range(1, n + 1)]

    def spurious(t: NDArray[np.float64], box: NDArray[np.floating], cut: NDArray[np.bool_], *,
                 tail: bool) -> bool:
        """Whether the rows ``cut``, dropped at the tail (or head), are another body than the rows kept."""
        earlier, later = (~cut, cut) if tail else (cut, ~cut)
        return not math.isfinite(_continuation_cost(_end(t[earlier], box[earlier], last=True),
                                                    _end(t[later], box[later], last=False), 0.0, **kw))

    ends_a = {}
    for x, kx in xs:
        keep = a.time < x
        if keep.any() and (kx == 0 or spurious(a.time, a.bbox, ~keep, tail=True)):
            ends_a[x] = (_end(a.time[keep], a.bbox[keep], last=True), float(a.time[keep][-1]))
    best: tuple[float, float, float, float] = (math.inf, math.inf, math.inf, -math.inf)  # steps, cost, x, y
    for y, ky in ys:
        keep = b.time > y
        if not keep.any() or (ky > 0 and not spurious(b.time, b.bbox, ~keep, tail=False)):
            continue
        end_b, first_b = _end(b.time[keep], b.bbox[keep], last=False), float(b.time[keep][0])
        for x, (end_a, last_a) in ends_a.items():
            if last_a >= first_b:
                continue
            cost = _continuation_cost(end_a, end_b, max(first_b - last_a, 0.0), **kw)
            # rows dropped beyond those of the overlap, in steps (cutting both sides counts the overlap twice)
            dropped = (a1 - last_a) + (first_b - b0) - max(a1 - b0, 0.0)
            n_steps = float(round(max(dropped, 0.0) / _TRIM_STEP_S))
            if math.isfinite(cost) and (n_steps, cost) < best[:2]:
                best = (n_steps, cost, x, y)
    n_steps, cost, x, y = best
    return cost + _TRIM_COST * n_steps * _TRIM_STEP_S / max(max_trim_s, 1e-9), x, y


def link_tracks(
    tracks: Sequence[TrackBoxes],
    *,
    max_gap_s: float = 1.0,
    max_overlap_s: float = 1.0,
    max_distance: float = 1.0,
    max_size_ratio: float = 1.5,
    max_speed_change: float = 2.0,
    duplicate_iou: float = 0.5,
) -> list[list[Piece]]:
    """Group the tracks of one person (see the module notes for the rules).

    Parameters
    ----------
    tracks : sequence of TrackBoxes
        Tracks with at least one detection each, distinct ids.
    max_gap_s : float, default 1.0, s
        Longest time from a track's last detection to the next one's first that may be bridged
        (0: fragments are never joined).
    max_overlap_s : float, default 1.0, s
        Longest overlap in time of a handover (0: only fragments).
    max_distance : float, default 1.0, body sizes
        How far the later piece may start from where the earlier one was heading (at no gap; the limit
        grows to twice that at ``max_gap_s``).
    max_size_ratio : float, default 1.5
        Largest ratio of the two pieces' median body sizes.
    max_speed_change : float, default 2.0, body sizes/s
        Largest difference of the two pieces' velocities.
    duplicate_iou : float, default 0.5, in [0, 1]
        Box overlap (IoU) at which two tracks' detections in a common frame are the same body
        (above 1: duplicates are never absorbed).

    Returns
    -------
    list of list of Piece
        One list per person, its pieces in time order (they do not overlap in time), ordered by the first
        piece's ``track_id``. A person's id is the first piece's ``track_id`` (the earliest). Absorbed
        duplicates appear in no list.
    """
    by_id = {t.track_id: t for t in tracks}
    if len(by_id) != len(tracks):
        raise ValueError("track ids must be distinct")
    # 1. duplicates: absorbed by a longer track that spans them
    absorbed: set[int] = set()
    order = sorted(tracks, key=lambda t: (-len(t.time), t.track_id))
    for i, d in enumerate(order):
        for p in order[:i]:
            if p.track_id in absorbed or not (p.time[0] <= d.time[0] and d.time[-1] <= p.time[-1]):
                continue
            _, ip, idd = np.intersect1d(p.time, d.time, assume_unique=True, return_indices=True)
            if len(ip) == 0 or len(ip) < 0.5 * len(d.time):
                continue
            iou = _iou_rows(np.asarray(p.bbox[ip], np.float64), np.asarray(d.bbox[idd], np.float64))
            if float(np.mean(iou >= duplicate_iou)) >= 0.9:
                absorbed.add(d.track_id)
                break
    live = sorted((t for t in tracks if t.track_id not in absorbed), key=lambda t: t.track_id)
    phantoms = _phantoms(live)
    linkable = [t for t in live if len(t.time) >= MIN_LINK_DETECTIONS and t.track_id not in phantoms]

    # 2. continuations: candidate (cost, earlier, later, earlier's new end, later's new start)
    kw = {"max_gap_s": max_gap_s, "max_distance": max_distance, "max_size_ratio": max_size_ratio,
          "max_speed_change": max_speed_change}
    cands: list[tuple[float, int, int, float, float]] = []
    for a in linkable:
        for b in linkable:
            a0, a1, b0, b1 = a.time[0], a.time[-1], b.time[0], b.time[-1]
            if a0 < b0 and a1 < b1 and -max_overlap_s <= b0 - a1 <= max_gap_s:
                cost, x, y = _best_join(a, b, max_trim_s=max_overlap_s, **kw)
                cands.append((cost, a.track_id, b.track_id, x, y))
    after = {t.track_id: -math.inf for t in live}
    before = {t.track_id: math.inf for t in live}
    nxt: dict[int, int] = {}
    prev: dict[int, int] = {}
    for cost, ia, ib, a_before, b_after in sorted(cands):
        if not math.isfinite(cost) or ia in nxt or ib in prev:
            continue
        pa = Piece(ia, after[ia], min(before[ia], a_before))
        pb = Piece(ib, max(after[ib], b_after), before[ib])
        if not (pa.mask(by_id[ia].time).any() and pb.mask(by_id[ib].time).any()):
            continue  # a cut would leave a piece empty
        after[ib], before[ia] = pb.after_s, pa.before_s
        nxt[ia], prev[ib] = ib, ia
    groups: list[list[Piece]] = []
    for t in live:
        if t.track_id in prev:
            continue
        chain, k = [], t.track_id
        while True:
            chain.append(Piece(k, after[k], before[k]))
            if k not in nxt:
                break
            k = nxt[k]
        groups.append(chain)
    return groups
