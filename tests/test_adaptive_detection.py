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
from imusynth.video.pose.adaptive import _BLANK, AdaptivePoseEstimator
from imusynth.video.pose.detection import N_LANDMARKS, PoseDetection

FPS = 30.0
#: The frame every test pushes (people at x = 100 + 300 k px, y 100-280 px). Backends given a crop of it or
#: a subsampled view (the probe) find where in it they look from the view's memory offset and strides.
IMAGE = np.zeros((720, 1400, 3), np.uint8)


def view_of_image(image: np.ndarray) -> tuple[float, float, int, float, float]:
    """(x0, y0, step, width, height) of ``image`` in :data:`IMAGE` px; the whole frame if not a view of it."""
    if not np.shares_memory(image, IMAGE):
        return 0.0, 0.0, 1, np.inf, np.inf
    off = image.__array_interface__["data"][0] - IMAGE.__array_interface__["data"][0]
    y0, x0 = divmod(off, IMAGE.strides[0])
    step = image.strides[1] // IMAGE.strides[1]
    assert image.strides[0] == step * IMAGE.strides[0]
    return float(x0 // 3), float(y0), step, image.shape[1] * step, image.shape[0] * step


@dataclass
class Person:
    """One person: box centre x (px, 300 px apart so that no two overlap), frames in view, and the frames
    in which the normal detector finds them (all frames in view when None)."""

    x: float
    visible: set[int]
    detectable: set[int] | None = None
    crop_only: set[int] = field(default_factory=set)   # frames where only a detector on a crop finds them
    dropped: set[int] = field(default_factory=set)     # frames where a runner with no room drops them
    crop_shift: float = 0.0                            # px: a detector on a crop places them this far right
    crop_found: set[int] | None = None                 # of crop_only: where a detector on a crop finds them

    def det(self) -> PoseDetection:
        rng = np.random.default_rng(int(self.x))
        xy = np.column_stack([self.x + rng.uniform(-30, 30, N_LANDMARKS), rng.uniform(100, 280, N_LANDMARKS)])
        return PoseDetection.from_arrays(xy)

    def found(self, frame: int, probe: bool = False, crop: bool = False) -> bool:
        if frame not in self.visible or (frame in self.crop_only and not crop):
            return False
        if frame in self.crop_only and self.crop_found is not None and frame not in self.crop_found:
            return False
        return probe or self.detectable is None or frame in self.detectable


@dataclass
class Scene:
    people: list[Person]
    detector_calls: int = 0
    builds: list[tuple[int, str]] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)     # every image given to a backend

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
        self.scene.images.append(image)
        if self.mode != "video":
            self.scene.detector_calls += 1
            x0, y0, step, w, h = view_of_image(image)
            crop = w < IMAGE.shape[1] or h < IMAGE.shape[0]
            out = []
            for p in people:
                d = p.det()
                cx, cy = d.center
                inside = x0 <= cx < x0 + w and y0 <= cy < y0 + h
                if inside and p.found(f, probe=self.mode == "probe", crop=crop):
                    xy = d.image_xy + [p.crop_shift if crop else 0.0, 0.0]
                    out.append(PoseDetection.from_arrays((xy - [x0, y0] + 0.5 * (step - 1)) / step))
            return out[: self.num_poses]
        assert time_s > self.last_t, "VIDEO mode needs increasing times"
        self.last_t = time_s
        if np.shares_memory(image, _BLANK):                               # a black image: nobody
            self.held = []
            return []
        x0, y0, _, w, h = view_of_image(image)
        crop = w < IMAGE.shape[1] or h < IMAGE.shape[0]

        def in_view(p: Person) -> bool:
            cx, cy = p.det().center
            return bool(x0 <= cx < x0 + w and y0 <= cy < y0 + h)

        full = len(self.held) >= self.num_poses
        # followed while in view (in the crop it is shown); a runner with no room drops them in their
        # ``dropped`` frames
        self.held = [i for i in self.held if f in people[i].visible and in_view(people[i])
                     and not (full and f in people[i].dropped)]
        if len(self.held) < self.num_poses:                               # room: the detector runs
            self.scene.detector_calls += 1
            for i, p in enumerate(people):
                if (len(self.held) < self.num_poses and i not in self.held and in_view(p)
                        and p.found(f, crop=crop)):
                    self.held.append(i)
        return [PoseDetection.from_arrays(people[i].det().image_xy - [x0, y0]) for i in self.held]

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


def test_person_dropped_near_the_edge_followed_in_a_crop_around_them() -> None:
    # person 4 (x = 1300 px) walks out of view: from frame 40 the person detector on the whole frame
    # (normal or probe) no longer finds them (half out of view), only one that looks at a crop around them;
    # a runner with room (the reference) follows them to their last frame in view (59), the one-pose runner
    # drops them at 45 (demo4_walking: 3 frames before the reference). The probe in a crop around the pose
    # lost keeps them
    n = 70
    scene = Scene([Person(1300.0, set(range(60)), crop_only=set(range(40, 60)), dropped={45})])
    ref = reference(scene, n)
    assert max(f for f in range(n) if 4 in ref[f]) == 59
    got, est = adaptive(scene, n, 8)
    assert got == ref
    assert est.stats["redetected"] == 59 - 45 + 1                        # frames 45-59, one crop each
    # without the crop (the probe sees only whole frames) the person is lost from frame 45
    scene2 = Scene([Person(1300.0, set(range(60)), crop_only=set(range(40, 60)), dropped={45})])
    est2 = AdaptivePoseEstimator(scene2.factory, max_poses=4, detect_every=8)
    est2._redetect = lambda image, time_s, merged, lost, on_crop: merged           # type: ignore[method-assign]
    out: dict[int, set[int]] = {}
    for f in range(n):
        out.update((k, scene2.who(d)) for k, d in est2.push(IMAGE, f / FPS, f))
    out.update((k, scene2.who(d)) for k, d in est2.flush())
    assert max(f for f in range(n) if 4 in out[f]) == 44


def test_crop_pose_added_only_where_it_continues_the_lost_one() -> None:
    # the crop's detector places the person 25 px to the right (boxes 60 px wide: IoU 0.41, no landmark
    # within 0.1 body size): another skeleton, not the lost pose continued; not added (a mix of skeletons
    # from frame to frame makes accelerations of several g: demo.mp4's walker, 77 m/s^2)
    n = 70
    scene = Scene([Person(1300.0, set(range(60)), crop_only=set(range(40, 60)), dropped={45},
                          crop_shift=25.0)])
    got, est = adaptive(scene, n, 8)
    assert max(f for f in range(n) if 4 in got[f]) == 44
    assert est.stats["redetected"] == 0


def test_person_leaving_the_view_followed_by_the_runner_on_a_crop() -> None:
    # person 4 at x = 1390 px is partly out of the 1400-px frame (landmarks to 1420 px) and walks out of
    # view at frame 60. No detector on the whole frame finds them from 40, one on a crop around them only
    # at 45; a runner with room (the reference) follows them to 59 by tracking, the one-pose runner drops
    # them at 45. There the probe finds them in a crop, and the runner, shown that crop of the same frame
    # again, follows them on it to their last frame (46-59: MediaPipe's tracking, no detector needed, no
    # landmarker more)
    n = 70
    scene = Scene([Person(1390.0, set(range(60)), crop_only=set(range(40, 60)), dropped={45},
                          crop_found={45})])
    ref = reference(scene, n)
    assert max(f for f in range(n) if 4 in ref[f]) == 59
    got, est = adaptive(scene, n, 8)
    assert got == ref
    assert est.stats["redetected"] == 1 and est.stats["cropped"] == 1 and est.stats["kept_on_crop"] == 14
    # the seed (45 again), 46-59 followed, 60 lost on the crop (then whole frames again)
    assert est.stats["crop_calls"] == 1 + 14 + 1
    assert sorted(set(scene.builds)) == [(1, "video"), (4, "probe")]
    crops = [a for a in scene.images if a.shape != IMAGE.shape and a.shape != (360, 700, 3)]
    assert len(crops) == 16 + 16                          # the probe's (45-60) and the runner's
    assert all(np.shares_memory(a, IMAGE) and a.shape[1] < 200 for a in crops)
    # the same person inside the view (x = 1300 px, nothing out of it): no runner on a crop; the probe
    # finds them at 45 only, and they are lost from 46 (as before this was added)
    scene2 = Scene([Person(1300.0, set(range(60)), crop_only=set(range(40, 60)), dropped={45},
                           crop_found={45})])
    got2, est2 = adaptive(scene2, n, 8)
    assert max(f for f in range(n) if 4 in got2[f]) == 45 and est2.stats["cropped"] == 0


def test_newcomer_found_while_the_runner_follows_someone_on_a_crop() -> None:
    # while the runner sees only its crop (frames 45-59), its detector sees nobody else: person 0, who
    # enters at 50, is found by the next probe (56) and output from 50 by the replayed runner; the runner on
    # the crop is not taken for one with room
    n = 90
    scene = Scene([Person(1390.0, set(range(60)), crop_only=set(range(40, 60)), dropped={45},
                          crop_found={45}), person(0, range(50, n))])
    ref = reference(scene, n)
    got, est = adaptive(scene, n, 8)
    assert got == ref
    assert min(f for f in range(n) if 0 in got[f]) == 50
    assert est.stats["cropped"] == 1 and est.stats["grown"] == 1


def test_runner_leaving_a_crop_lets_go_of_the_pose_it_held_there() -> None:
    # a runner that holds a pose of its crop is shown a black image before whole frames again (its pose's
    # place in the crop would be taken for a place in the frame); one that holds nothing is not
    from imusynth.video.pose.adaptive import _Runner

    scene = Scene([person(0, range(10))])
    est = AdaptivePoseEstimator(scene.factory, detect_every=8)
    runner = est._runners[0]
    assert isinstance(runner, _Runner)
    runner.window = (0, 0, 400, 400)
    runner.last = [scene.people[0].det()]
    est._uncrop(runner, 0.0)
    assert runner.window is None and runner.last == []
    assert len(scene.images) == 1 and np.shares_memory(scene.images[0], _BLANK)
    runner.window = (0, 0, 400, 400)
    est._uncrop(runner, 0.1)
    assert runner.window is None and len(scene.images) == 1
    est.close()


def test_crop_box_square_around_the_pose_clipped_to_the_frame() -> None:
    from imusynth.video.pose.adaptive import _crop_box

    # box 100 x 200 px centred at (300, 400): a square of side 2 x 200 = 400 px
    assert _crop_box(np.array([250.0, 300.0, 350.0, 500.0]), 1280, 720) == (100, 200, 500, 600)
    # at the right edge of a 1280 x 720 frame: clipped
    assert _crop_box(np.array([1200.0, 300.0, 1300.0, 500.0]), 1280, 720) == (1050, 200, 1280, 600)
    # outside the frame: empty
    x0, y0, x1, y1 = _crop_box(np.array([1500.0, 300.0, 1600.0, 500.0]), 1280, 720)
    assert x1 == x0 and y1 - y0 == 400


def test_frames_not_copied_probe_sees_every_second_pixel() -> None:
    # the runners get the very arrays pushed (held for the look-back without a copy, replayed as they are);
    # the probe for newcomers a subsampled view of them (no copy either), its poses scaled back to the frame
    n, every = 40, 8
    scene = Scene([person(0, range(n)), person(1, range(13, n))])
    frames = [IMAGE[:, :] for _ in range(n)]                              # distinct array objects
    out: dict[int, set[int]] = {}
    with AdaptivePoseEstimator(scene.factory, max_poses=4, detect_every=every) as est:
        for f in range(n):
            out.update((k, scene.who(d)) for k, d in est.push(frames[f], f / FPS, f))
        out.update((k, scene.who(d)) for k, d in est.flush())
    assert min(f for f in range(n) if 1 in out[f]) == 13                  # replayed from their first frame
    ids = {id(a) for a in frames}
    whole = [a for a in scene.images if a.shape == IMAGE.shape]
    sub = [a for a in scene.images if a.shape != IMAGE.shape]
    assert whole and all(id(a) in ids for a in whole)                     # the pushed arrays themselves
    assert len(sub) == est.stats["probe_calls"]
    assert all(a.shape == (360, 700, 3) and np.shares_memory(a, IMAGE) for a in sub)


def test_probe_built_with_the_lite_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zipfile

    from imusynth.video.pose.adaptive import probe_model

    def bundle(path: Path) -> Path:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("pose_detector.tflite", b"x")
        return path

    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("IMUSYNTH_MODEL_DIR", str(models))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("IMUSYNTH_MODEL_URL", (tmp_path / "nowhere").as_uri())   # never downloads
    full = bundle(models / "pose_landmarker_full.task")
    assert probe_model("full") == full                                    # no lite at hand: the runners' own
    lite = bundle(models / "pose_landmarker_lite.task")
    heavy = bundle(models / "pose_landmarker_heavy.task")
    assert probe_model("full") == lite and probe_model("heavy") == lite and probe_model("lite") == lite
    custom = bundle(tmp_path / "mine.task")
    assert probe_model(custom) == custom                                  # a bundle by path: used as is
    assert heavy.exists()


def test_malloc_arenas_limited_once_unless_the_user_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform

    import imusynth.video.pose.mediapipe_backend as mb

    monkeypatch.setattr(mb, "_arenas_limited", False)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert mb.limit_malloc_arenas() is False                              # the user's setting wins
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    monkeypatch.setenv("IMUSYNTH_MALLOC_TUNING", "0")
    assert mb.limit_malloc_arenas() is False                              # opted out
    monkeypatch.delenv("IMUSYNTH_MALLOC_TUNING")
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert mb.limit_malloc_arenas() is glibc
    assert mb.limit_malloc_arenas() is False                              # once per process


def test_free_memory_released_after_the_landmarkers_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    import platform

    import cv2

    import imusynth.video.pose.mediapipe_backend as mb
    from imusynth.config import load_pipeline_config, with_overrides
    from imusynth.video.stream import run_stages

    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert mb.release_free_memory() is glibc
    monkeypatch.setenv("IMUSYNTH_MALLOC_TUNING", "0")
    assert mb.release_free_memory() is False
    monkeypatch.delenv("IMUSYNTH_MALLOC_TUNING")

    events: list[str] = []
    monkeypatch.setattr(mb, "release_free_memory", lambda: events.append("trim") or True)
    video = tmp_path / "noise.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (64, 48))
    for _ in range(10):
        writer.write(np.full((48, 64, 3), 128, np.uint8))
    writer.release()
    scene = Scene([person(0, range(10))])

    class Closing(AdaptivePoseEstimator):
        def close(self) -> None:
            events.append("close")
            super().close()

    cfg = with_overrides(load_pipeline_config(), {"camera.static": True, "tracking.min_track_s": 0.1})
    run_stages(video, cfg, detector_factory=lambda c: Closing(scene.factory, detect_every=4))
    assert events == ["close", "trim"]
