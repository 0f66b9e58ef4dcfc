"""Scheduling of the adaptive person detection (imusynth.video.pose.adaptive) on a synthetic scene.

No MediaPipe: the backends are stubs with MediaPipe's semantics. A VIDEO-mode runner follows the people
it holds while they stay in view and runs its "detector" (which sees only the people detectable in that
frame) only while it holds fewer than its ``num_poses``; IMAGE mode runs the detector on the frame; the
probe's detector (lower scores) also sees people whom the normal detector misses in that frame. The
reference is one runner with ``num_poses = 4``: the detector in every frame, as the old default did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from imusynth.errors import InputError
from imusynth.video.pose.adaptive import AdaptivePoseEstimator
from imusynth.video.pose.detection import N_LANDMARKS, PoseDetection

FPS = 30.0
IMAGE = np.zeros((4, 4, 3), np.uint8)


@dataclass
class Person:
    """One person: box centre x (px, 300 px apart so that no two overlap), frames in view, and the frames
    in which the normal detector finds them (all frames in view when None)."""

    x: float
    visible: set[int]
    detectable: set[int] | None = None

    def det(self) -> PoseDetection:
        rng = np.random.default_rng(int(self.x))
        xy = np.column_stack([self.x + rng.uniform(-30, 30, N_LANDMARKS), rng.uniform(100, 280, N_LANDMARKS)])
        return PoseDetection.from_arrays(xy)

    def found(self, frame: int, probe: bool = False) -> bool:
        return frame in self.visible and (probe or self.detectable is None or frame in self.detectable)


@dataclass
class Scene:
    people: list[Person]
    detector_calls: int = 0
    builds: list[tuple[int, str]] = field(default_factory=list)

    def who(self, dets: list[PoseDetection]) -> set[int]:
        return {int(round((float(d.center[0]) - 100) / 300)) for d in dets}

    def factory(self, num_poses: int, mode: str) -> StubBackend:
        self.builds.append((num_poses, mode))
        return StubBackend(self, num_poses, mode)


class StubBackend:
    def __init__(self, scene: Scene, num_poses: int, mode: str) -> None:
        self.scene, self.num_poses, self.mode = scene, num_poses, mode
        self.held: list[int] = []
        self.last_t = -np.inf

    def detect(self, image: np.ndarray, time_s: float) -> list[PoseDetection]:
        f = int(round(time_s * FPS))
        people = self.scene.people
        if self.mode != "video":
            self.scene.detector_calls += 1
            ids = [i for i, p in enumerate(people) if p.found(f, probe=self.mode == "probe")]
            return [people[i].det() for i in ids[: self.num_poses]]
        assert time_s > self.last_t, "VIDEO mode needs increasing times"
        self.last_t = time_s
        self.held = [i for i in self.held if f in people[i].visible]     # followed while in view
        if len(self.held) < self.num_poses:                               # room: the detector runs
            self.scene.detector_calls += 1
            for i, p in enumerate(people):
                if len(self.held) < self.num_poses and i not in self.held and p.found(f):
                    self.held.append(i)
        return [people[i].det() for i in self.held]

    def close(self) -> None:
        pass


def person(k: int, visible: range | set[int], detectable: set[int] | None = None) -> Person:
    return Person(100.0 + 300.0 * k, set(visible), detectable)


def reference(scene: Scene, n: int) -> list[set[int]]:
    ref = StubBackend(scene, 4, "video")
    return [scene.who(ref.detect(IMAGE, f / FPS)) for f in range(n)]


def adaptive(scene: Scene, n: int, every: int) -> tuple[list[set[int]], AdaptivePoseEstimator]:
    out: dict[int, set[int]] = {}
    with AdaptivePoseEstimator(scene.factory, max_poses=4, detect_every=every) as est:
        for f in range(n):
            ready = est.push(IMAGE, f / FPS, f)
            assert all(k <= f - est.lag_frames for k, _ in ready)          # lag: detect_every - 1
            out.update((k, scene.who(d)) for k, d in ready)
        out.update((k, scene.who(d)) for k, d in est.flush())
    assert sorted(out) == list(range(n))                                  # every frame, once, in order
    return [out[f] for f in range(n)], est


def test_newcomers_output_from_their_first_frame_at_a_fraction_of_the_detector_runs() -> None:
    n, every = 120, 8
    scene = Scene([person(0, range(n)), person(1, range(13, n)), person(2, range(41, 90))])
    ref = reference(scene, n)
    ref_calls = scene.detector_calls
    scene.detector_calls = 0
    got, est = adaptive(scene, n, every)
    assert got == ref                                                     # no frame lost, none extra
    assert min(f for f in range(n) if 1 in got[f]) == 13
    assert min(f for f in range(n) if 2 in got[f]) == 41
    # the reference (4 poses, at most 3 people) runs its detector on all 120 frames; adaptive: the probes
    # (one per 8 frames), the replays after the 2 newcomers and the frames after person 2 left
    assert ref_calls == n
    assert scene.detector_calls < 0.5 * n, (scene.detector_calls, est.stats)
    assert est.stats["grown"] == 2


def test_newcomer_without_look_back_picked_up_within_detect_every_frames() -> None:
    n, every = 60, 8
    for enter in (9, 16, 17, 23):                                         # every phase of the schedule
        scene = Scene([person(0, range(n)), person(1, range(enter, n))])
        with AdaptivePoseEstimator(scene.factory, max_poses=4, detect_every=every) as est:
            got = [scene.who(est.detect(IMAGE, f / FPS)) for f in range(n)]
        first = min(f for f in range(n) if 1 in got[f])
        assert enter <= first <= enter + every - 1, (enter, first)
        assert all(1 in got[f] for f in range(first, n))
        assert all(got[f] >= {0} for f in range(n))


def test_person_found_only_now_and_then_by_the_detector() -> None:
    # person 1 is in view from frame 10, but the normal detector finds them only in frames 20 and 21 (the
    # reference then follows them); the probe (lower scores) sees them: the replay starts them at 20 too
    n = 80
    scene = Scene([person(0, range(n)), person(1, range(10, n), detectable={20, 21})])
    ref = reference(scene, n)
    got, _ = adaptive(scene, n, 8)
    assert min(f for f in range(n) if 1 in ref[f]) == 20
    assert got == ref


@pytest.mark.parametrize("hidden", [range(30, 35), range(30, 33), range(30, 100)])
def test_person_reacquired_after_a_loss(hidden: range) -> None:
    # person 1 leaves the view (occlusion) and comes back: output again from the first frame they are
    # back (short losses: the runner with room runs its detector; long ones: the next probe + look-back)
    n = 160
    scene = Scene([person(0, range(n)), person(1, set(range(5, n)) - set(hidden))])
    ref = reference(scene, n)
    got, est = adaptive(scene, n, 8)
    assert got == ref
    back = hidden.stop
    assert 1 in got[back] and 1 not in got[back - 1]
    if len(hidden) > 4 * 8:
        assert est.stats["shrunk"] >= 1                                   # a smaller runner while away


def test_one_person_costs_one_runner() -> None:
    n, every = 200, 10
    scene = Scene([person(0, range(n))])
    got, est = adaptive(scene, n, every)
    assert all(g == {0} for g in got)
    assert est.stats["runner_calls"] == n and est.stats["max_runners"] == 1
    assert est.stats["probe_calls"] == n // every
    # one runner (1 pose) and the probe: the detector runs on the first frame and at the probes only
    assert scene.detector_calls == 1 + n // every
    assert sorted(set(scene.builds)) == [(1, "video"), (4, "probe")]


def test_arguments_checked_and_no_mixing() -> None:
    scene = Scene([person(0, range(10))])
    with pytest.raises(InputError, match="detect_every"):
        AdaptivePoseEstimator(scene.factory, detect_every=0)
    with pytest.raises(InputError, match="max_poses"):
        AdaptivePoseEstimator(scene.factory, max_poses=0)
    with AdaptivePoseEstimator(scene.factory, detect_every=4) as est:
        est.push(IMAGE, 0.0)
        with pytest.raises(RuntimeError, match="mixed"):
            est.detect(IMAGE, 1 / FPS)


def test_run_stages_takes_frames_back_in_order_newcomer_from_first_frame(tmp_path: Path) -> None:
    # the pipeline's streaming pass with the adaptive backend (push/flush, output 7 frames late): every
    # frame recorded once, in order, and the newcomer's track starts at the frame they entered
    import cv2

    from imusynth.config import load_pipeline_config, with_overrides
    from imusynth.video.stream import run_stages

    n, enter = 40, 13
    video = tmp_path / "noise.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(n):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    scene = Scene([person(0, range(n)), person(1, range(enter, n))])
    cfg = with_overrides(load_pipeline_config(), {"camera.static": True, "tracking.min_track_s": 0.5})
    run = run_stages(video, cfg,
                     detector_factory=lambda c: AdaptivePoseEstimator(scene.factory, detect_every=8))
    np.testing.assert_array_equal(run.frames().frame_index, np.arange(n))
    firsts = sorted(int(run.track(t).frame_index[0]) for t in run.track_ids)
    assert firsts == [0, enter]
    assert sorted(len(run.track(t).frame_index) for t in run.track_ids) == [n - enter, n]
