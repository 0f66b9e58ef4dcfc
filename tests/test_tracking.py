"""Tracking (imusynth.video.pose.tracking) on synthetic walkers with known identities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imusynth.core.skeletons import MEDIAPIPE_33
from imusynth.errors import InputError, NoPersonError
from imusynth.video.pose.detection import N_LANDMARKS, PoseDetection
from imusynth.video.pose.linking import TrackBoxes, link_tracks
from imusynth.video.pose.tracking import Track, Tracker, select_main_track, track_score

FPS = 30.0

# A front-facing standing body: (x, y) per landmark in body heights, x from the body axis
# (the subject's left at +x), y down from the top of the head.
_BODY = {
    "nose": (0.0, 0.06), "left_eye_inner": (0.01, 0.05), "left_eye": (0.02, 0.05),
    "left_eye_outer": (0.03, 0.05), "right_eye_inner": (-0.01, 0.05), "right_eye": (-0.02, 0.05),
    "right_eye_outer": (-0.03, 0.05), "left_ear": (0.045, 0.06), "right_ear": (-0.045, 0.06),
    "mouth_left": (0.015, 0.085), "mouth_right": (-0.015, 0.085),
    "left_shoulder": (0.11, 0.19), "right_shoulder": (-0.11, 0.19),
    "left_elbow": (0.13, 0.33), "right_elbow": (-0.13, 0.33),
    "left_wrist": (0.13, 0.46), "right_wrist": (-0.13, 0.46),
    "left_pinky": (0.135, 0.5), "right_pinky": (-0.135, 0.5),
    "left_index": (0.13, 0.51), "right_index": (-0.13, 0.51),
    "left_thumb": (0.12, 0.49), "right_thumb": (-0.12, 0.49),
    "left_hip": (0.06, 0.52), "right_hip": (-0.06, 0.52),
    "left_knee": (0.06, 0.73), "right_knee": (-0.06, 0.73),
    "left_ankle": (0.06, 0.94), "right_ankle": (-0.06, 0.94),
    "left_heel": (0.05, 0.97), "right_heel": (-0.05, 0.97),
    "left_foot_index": (0.09, 0.99), "right_foot_index": (-0.09, 0.99),
}
TEMPLATE = np.array([_BODY[n] for n in MEDIAPIPE_33])


def _swing(name: str) -> float:
    """Forward swing of a landmark at the gait phase's peak, in units of the swing amplitude."""
    side = 1.0 if name.startswith("left") else -1.0
    if any(k in name for k in ("ankle", "heel", "foot")):
        return side
    if "knee" in name:
        return 0.6 * side
    if any(k in name for k in ("elbow", "wrist", "pinky", "index", "thumb")):
        return -0.5 * side  # arms swing against the legs
    return 0.0


_SWING = np.array([_swing(n) for n in MEDIAPIPE_33])


def walker_pose(x: float, feet_y: float, height: float, phase: float, rng: np.random.Generator,
                noise_px: float = 2.0) -> PoseDetection:
    """A walking body at horizontal position ``x`` (px), feet at ``feet_y`` (px), ``height`` px tall."""
    xy = TEMPLATE * height
    xy[:, 0] += _SWING * 0.12 * height * math.sin(phase)
    xy += np.array([x, feet_y - height])
    xy += rng.normal(0.0, noise_px, xy.shape)
    vis, pres = np.full(N_LANDMARKS, 0.9), np.full(N_LANDMARKS, 0.95)
    return PoseDetection.from_arrays(xy, visibility=vis, presence=pres)


def _walker_x(x0: float, speed: float, t: float) -> float:
    return x0 + speed * t


WALKERS = {  # name: (x0 px, speed px/s, feet_y px, height px)
    "near": (60.0, 220.0, 460.0, 300.0),
    "far": (600.0, -160.0, 400.0, 170.0),
}


def _run_crossing(rng: np.random.Generator, *, walkers: dict, duration_s: float = 3.0,
                  hide_far_within_px: float = 0.0) -> tuple[list[Track], dict[int, set[str]]]:
    """Feed a crossing scene to a Tracker; return its tracks and which walker each id saw."""
    tracker = Tracker()
    seen: dict[int, set[str]] = {}
    for k in range(int(duration_s * FPS)):
        t = k / FPS
        xs = {n: _walker_x(w[0], w[1], t) for n, w in walkers.items()}
        dets: list[tuple[str, PoseDetection]] = []
        for name, (_, _, feet_y, height) in walkers.items():
            if name == "far" and abs(xs["near"] - xs["far"]) < hide_far_within_px:
                continue  # occluded by the near walker
            dets.append((name, walker_pose(xs[name], feet_y, height, 2 * math.pi * 1.8 * t, rng)))
        order = rng.permutation(len(dets))  # detection order carries no identity
        by_obj = {id(d): name for name, d in dets}
        for tid, det in tracker.update(t, [dets[i][1] for i in order], frame_index=k):
            seen.setdefault(tid, set()).add(by_obj[id(det)])
    return tracker.tracks(), seen


def test_crossing_walkers_keep_their_ids(rng: np.random.Generator) -> None:
    tracks, seen = _run_crossing(rng, walkers=WALKERS)
    assert len(tracks) == 2
    for tr in tracks:
        assert len(seen[tr.track_id]) == 1, f"track {tr.track_id} saw {seen[tr.track_id]}"
        assert tr.n_frames == 90  # every frame, no split
    assert {next(iter(seen[t.track_id])) for t in tracks} == {"near", "far"}


def test_crossing_walkers_same_size_opposite_directions(rng: np.random.Generator) -> None:
    """Same body size and depth: only the constant-velocity prediction tells them apart."""
    walkers = {"near": (60.0, 220.0, 440.0, 250.0), "far": (600.0, -220.0, 430.0, 250.0)}
    tracks, seen = _run_crossing(rng, walkers=walkers)
    assert len(tracks) == 2
    assert all(len(seen[t.track_id]) == 1 for t in tracks)


def test_occluded_walker_reappears_with_its_id(rng: np.random.Generator) -> None:
    # the far walker is hidden while the centres are within 60 px: 120 px at 380 px/s relative
    # speed = 0.32 s = 9-10 frames, within max_missed = 10
    tracks, seen = _run_crossing(rng, walkers=WALKERS, hide_far_within_px=60.0)
    assert len(tracks) == 2
    assert all(len(seen[t.track_id]) == 1 for t in tracks)
    far = next(t for t in tracks if seen[t.track_id] == {"far"})
    gaps = np.diff(far.frame_index)
    assert gaps.max() >= 9  # the hidden stretch is really there, bridged by one track
    assert far.n_frames == 90 - (gaps.max() - 1)


def _walker_with_absence(rng: np.random.Generator, tracker: Tracker, absent: range) -> list[Track]:
    """A walker (300 px + 30 px/s, 280 px tall) for 5 s, missing in frames ``absent``; a passer-by seen
    for 0.63 s only (frames 100-119)."""
    for k in range(150):
        t = k / FPS
        dets = []
        if k not in absent:
            dets.append(walker_pose(300.0 + 30.0 * t, 450.0, 280.0, t, rng))
        if 100 <= k < 120:
            dets.append(walker_pose(50.0, 300.0, 120.0, t, rng))
        tracker.update(t, dets)
    return tracker.tracks()


def test_short_tracks_are_dropped_and_long_absence_ends_a_track(rng: np.random.Generator) -> None:
    """Without re-joining: an absence of 20 frames > max_missed ends the track; a new one follows."""
    tracks = _walker_with_absence(rng, Tracker(max_missed=5, rejoin=False), range(60, 80))
    assert len(tracks) == 2  # the walker before and after its absence; no passer-by
    assert tracks[0].track_id != tracks[1].track_id
    assert tracks[0].frame_index[-1] == 59 and tracks[1].frame_index[0] == 80
    assert all(t.duration_s >= 1.0 for t in tracks)


def test_track_rejoined_after_a_short_loss(rng: np.random.Generator) -> None:
    """Issue 14: a person lost for 0.67 s (20 frames, twice max_missed) is one track again, with a gap."""
    (tr,) = _walker_with_absence(rng, Tracker(max_missed=10), range(60, 80))
    assert tr.track_id == 0
    np.testing.assert_array_equal(tr.frame_index, np.r_[0:60, 80:150])
    np.testing.assert_allclose(tr.centers()[:, 0], 300.0 + 30.0 * tr.time, atol=8.0)  # only the walker


def test_loss_longer_than_rejoin_gap_gives_two_tracks(rng: np.random.Generator) -> None:
    """The same walker lost for 1.5 s, beyond rejoin_gap_s = 1 s: two tracks."""
    tracks = _walker_with_absence(rng, Tracker(max_missed=10, rejoin_gap_s=1.0), range(40, 85))
    assert [(t.frame_index[0], t.frame_index[-1]) for t in tracks] == [(0, 39), (85, 149)]


def _twin(d: PoseDetection, shift_px: float) -> PoseDetection:
    return PoseDetection.from_arrays(d.image_xy + np.array([shift_px, 0.0]), visibility=d.visibility,
                                     presence=d.presence * 0.9)


def test_overlapping_duplicate_tracks_are_merged(rng: np.random.Generator) -> None:
    """Issue 14: a second skeleton on the same body for 1.3 s (boxes IoU ~0.6: not a duplicate detection,
    so it makes its own track) is absorbed: one track, with the first skeleton's detections only."""
    def run(tracker: Tracker) -> tuple[list[Track], list[PoseDetection]]:
        firsts = []
        for k in range(90):
            t = k / FPS
            d = walker_pose(200.0 + 50 * t, 450.0, 280.0, t, rng)
            firsts.append(d)
            tracker.update(t, [_twin(d, 20.0), d] if 20 <= k < 60 else [d])
        return tracker.tracks(), firsts

    tracks, _ = run(Tracker(rejoin=False))
    assert len(tracks) == 2  # the premise: without re-joining, the twin is a track of its own
    (tr,), firsts = run(Tracker())
    assert tr.n_frames == 90
    np.testing.assert_array_equal(tr.image_xy, np.array([d.image_xy for d in firsts]))


def _two_people(rng: np.random.Generator, b: tuple[float, float, float, float]) -> list[Track]:
    """Person A walks right (100 px + 200 px/s, 280 px tall) until 2 s and leaves; person B is seen from
    2.4 s to 4 s at ``x = x_b + v_b (t - 2.4)``, ``height_b`` tall, feet ``dy_b`` lower than A's."""
    x_b, v_b, height_b, dy_b = b
    tracker = Tracker()
    for k in range(120):
        t = k / FPS
        dets = []
        if t < 2.0:
            dets.append(walker_pose(100.0 + 200.0 * t, 450.0, 280.0, 2 * math.pi * 1.8 * t, rng))
        if t >= 2.4:
            dets.append(walker_pose(x_b + v_b * (t - 2.4), 450.0 + dy_b, height_b, 2 * math.pi * t, rng))
        tracker.update(t, dets)
    return tracker.tracks()


@pytest.mark.parametrize(("b", "n_tracks"), [
    ((580.0, 200.0, 280.0, 0.0), 1),     # control: where A was heading, same size and pace: A again
    ((900.0, 200.0, 280.0, 0.0), 2),     # 320 px (2.2 body sizes) from where A was heading
    ((580.0, -200.0, 280.0, 0.0), 2),    # there, but walking the other way
    ((580.0, 200.0, 560.0, 140.0), 2),   # there, but twice as tall
])
def test_two_people_one_after_the_other(rng: np.random.Generator, b: tuple, n_tracks: int) -> None:
    assert len(_two_people(rng, b)) == n_tracks


def test_two_people_side_by_side_never_merged(rng: np.random.Generator) -> None:
    """Two people walking side by side (boxes overlapping, IoU ~0.3) for 3 s: two tracks."""
    tracker = Tracker()
    for k in range(90):
        t = k / FPS
        tracker.update(t, [walker_pose(200.0 + 60 * t, 450.0, 280.0, t, rng),
                           walker_pose(250.0 + 60 * t, 455.0, 270.0, t + 0.5, rng)])
    tracks = tracker.tracks()
    assert len(tracks) == 2 and all(t.n_frames == 90 for t in tracks)


def test_duplicate_detections_make_one_track(rng: np.random.Generator) -> None:
    tracker = Tracker()
    for k in range(45):
        t = k / FPS
        d = walker_pose(200.0 + 50 * t, 450.0, 280.0, t, rng)
        twin = PoseDetection.from_arrays(d.image_xy + 3.0, visibility=d.visibility, presence=d.presence * 0.9)
        out = tracker.update(t, [twin, d])
        assert len(out) == 1 and out[0][1] is d  # the more present one is kept
    assert len(tracker.tracks()) == 1


def test_track_arrays_are_compact_and_validity_follows_scores(rng: np.random.Generator) -> None:
    tracker = Tracker(valid_threshold=0.5, min_valid_fraction=0.5)
    for k in range(40):
        d = walker_pose(300.0, 450.0, 280.0, k / FPS, rng)
        vis = np.full(N_LANDMARKS, 0.9, np.float32)
        if k % 4 == 0:
            vis[:20] = 0.2  # 20 of 33 landmarks occluded: fewer than half valid
        d = PoseDetection.from_arrays(d.image_xy, visibility=vis, presence=d.presence)
        tracker.update(k / FPS, [d], frame_index=100 + k)
    (tr,) = tracker.tracks()
    assert tr.image_xy.shape == (40, 33, 2) and tr.image_xy.dtype == np.float32
    assert tr.world_xyz.dtype == np.float32 and tr.bbox.shape == (40, 4)
    assert tr.frame_index[0] == 100 and tr.frame_index.dtype == np.int64
    assert tr.time.dtype == np.float64
    np.testing.assert_array_equal(tr.valid, np.arange(40) % 4 != 0)
    assert tr.landmark_valid[0].sum() == 13 and tr.landmark_valid[1].all()


def test_update_rejects_non_increasing_time() -> None:
    tracker = Tracker()
    tracker.update(1.0, [])
    with pytest.raises(InputError, match="increasing"):
        tracker.update(1.0, [])


def _box_track(track_id: int, n: int, box: tuple[float, float, float, float]) -> Track:
    """A track whose box is constant (landmarks spread over the box corners), all valid."""
    x0, y0, x1, y1 = box
    corners = [[x0, y0], [x1, y1]] + [[(x0 + x1) / 2, (y0 + y1) / 2]] * 31
    xy = np.tile(np.array(corners, np.float32), (n, 1, 1))
    ones = np.ones((n, 33), np.float32)
    return Track(
        track_id=track_id, frame_index=np.arange(n, dtype=np.int64), time=np.arange(n) / FPS,
        image_xy=xy, image_z=np.zeros((n, 33), np.float32), visibility=ones, presence=ones,
        world_xyz=np.zeros((n, 33, 3), np.float32), bbox=np.tile(np.array(box, np.float32), (n, 1)),
        landmark_valid=np.ones((n, 33), bool), valid=np.ones(n, bool),
    )


def test_track_score_closed_form() -> None:
    frame = (640, 480)
    tr = _box_track(0, 60, (300.0, 100.0, 400.0, 340.0))  # centre (350, 220), height 240
    # coverage 60/120; size 240/480; centrality 1 - hypot(30, 20) / hypot(320, 240)
    expected = 0.5 * 0.5 * (1.0 - math.hypot(30.0, 20.0) / 400.0)
    assert track_score(tr, frame, max_valid_frames=120) == pytest.approx(expected, rel=1e-6)


def test_select_main_track_prefers_long_large_central() -> None:
    frame = (640, 480)
    main = _box_track(0, 90, (270.0, 80.0, 370.0, 400.0))
    short = _box_track(1, 31, (260.0, 60.0, 380.0, 420.0))  # bigger but 1/3 of the time
    tiny = _box_track(2, 90, (600.0, 10.0, 615.0, 40.0))  # whole video, far corner, small
    assert select_main_track([tiny, short, main], frame) is main
    with pytest.raises(NoPersonError):
        select_main_track([], frame)


def _boxes(track_id: int, t: np.ndarray, cx: np.ndarray, cy: float, w: float, h: float) -> TrackBoxes:
    """Boxes of width ``w`` and height ``h`` (px) centred at ``(cx(t), cy)``."""
    y0, y1 = np.full_like(cx, cy - h / 2), np.full_like(cx, cy + h / 2)
    bbox = np.stack([cx - w / 2, y0, cx + w / 2, y1], axis=1)
    return TrackBoxes(track_id, t, bbox)


def test_handover_cuts_the_spurious_tail() -> None:
    """A walker's track (id 0) follows a spurious skeleton from 1.7 s (its box 300 px lower and twice
    as large) while a new track (id 1) picks her up at 1.7 s: one person, id 0's rows before 1.7 s, then
    id 1; the spurious rows are dropped."""
    t_a, t_b = np.arange(60) / FPS, np.arange(51, 120) / FPS
    a = _boxes(0, t_a, 100.0 + 200.0 * t_a, 300.0, 80.0, 280.0)
    spurious = t_a >= t_b[0]
    a.bbox[spurious] = _boxes(0, t_a[spurious], 100.0 + 200.0 * t_a[spurious], 600.0, 160.0, 560.0).bbox
    b = _boxes(1, t_b, 100.0 + 200.0 * t_b, 300.0, 80.0, 280.0)
    (group,) = link_tracks([a, b])
    assert [p.track_id for p in group] == [0, 1]
    np.testing.assert_array_equal(group[0].mask(t_a), ~spurious)
    assert group[1].mask(t_b).all()


def test_phantom_spanning_another_body_is_joined_to_nothing() -> None:
    """A phantom (id 1) whose box holds the walker's (id 0) in every frame ends at 2.5 s; a person (id 2)
    of the phantom's size appears at 2.6 s where it was heading: three people, none joined."""
    t_w, t_p, t_c = np.arange(120) / FPS, np.arange(30, 75) / FPS, np.arange(78, 120) / FPS
    walker = _boxes(0, t_w, 300.0 + 100.0 * t_w, 400.0, 80.0, 280.0)
    phantom = _boxes(1, t_p, 300.0 + 100.0 * t_p, 330.0, 300.0, 560.0)
    newcomer = _boxes(2, t_c, 300.0 + 100.0 * t_c, 330.0, 300.0, 560.0)
    assert [[p.track_id for p in g] for g in link_tracks([walker, phantom, newcomer])] == [[0], [1], [2]]
    # the control: without the walker inside it, the phantom's box continues into the newcomer's
    assert [[p.track_id for p in g] for g in link_tracks([phantom, newcomer])] == [[1, 2]]


def test_box_overlap_closed_form():
    from imusynth.video.pose.detection import box_intersection, box_iou

    a, b = np.array([0.0, 0.0, 2.0, 2.0]), np.array([1.0, 1.0, 3.0, 3.0])
    assert box_intersection(a, b) == 1.0 and box_iou(a, b) == pytest.approx(1.0 / 7.0, abs=1e-15)
    assert box_iou(a, a) == 1.0
    assert box_iou(a, np.array([5.0, 5.0, 6.0, 6.0])) == 0.0  # disjoint
    assert box_iou(np.zeros(4), np.zeros(4)) == 0.0  # empty union
