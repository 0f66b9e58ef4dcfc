"""Stages 1-2 on real videos (../shared/videos/sports2d) with the MediaPipe lite model.

Where the people are was read off PNG dumps of the frames before writing these checks:

- ``demo3_running.mp4`` (480x352, 47 frames): one runner enters at the left edge, crosses the
  frame left to right in side view and has left it by frame ~34.
- ``demo.mp4`` (1768x994, 230 frames): a man stands on a utility box in the upper-left half
  (box top at ~45 % of the height, his body centre at ~25 %) doing jumping jacks, flips off
  it at frames ~150-190 and lands on the grass right of the box (~65 % of the width); a woman
  walks right to left along the lower part of the frame (body centre at ~75 % of the height),
  visible from frame ~40 (behind a tree at the right) to ~210 (leaving at the left edge); a
  tiny bystander stands near the building entrance on the right.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imusynth.core.skeletons import MEDIAPIPE_33
from imusynth.errors import InputError
from imusynth.video.decode import VideoInfo, iter_frames
from imusynth.video.pose.mediapipe_backend import PoseEstimator
from imusynth.video.pose.tracking import Track, Tracker, select_main_track
from tests.conftest import shared_path

pytestmark = pytest.mark.slow

L = {n: i for i, n in enumerate(MEDIAPIPE_33)}


def _track_video(name: str) -> tuple[VideoInfo, list[Track], int]:
    """Decode, detect (lite model, 4 poses) and track a shared video, frame by frame."""
    path = shared_path("videos", "sports2d", name)
    models = shared_path("models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMUSYNTH_MODEL_DIR", str(models))
        reader = iter_frames(path)
        tracker = Tracker()
        with reader, PoseEstimator("lite") as est:
            assert est.model_path == Path(models) / "pose_landmarker_lite.task"
            for frame in reader:
                tracker.update(frame.time_s, est.detect(frame.image, frame.time_s), frame_index=frame.index)
    assert reader.corrupt_indices == []
    return reader.info, tracker.tracks(), reader.n_yielded


@pytest.fixture(scope="module")
def running() -> tuple[VideoInfo, list[Track], int]:
    return _track_video("demo3_running.mp4")


@pytest.fixture(scope="module")
def demo() -> tuple[VideoInfo, list[Track], int]:
    return _track_video("demo.mp4")


def test_runner_is_one_main_track(running: tuple[VideoInfo, list[Track], int]) -> None:
    info, tracks, n = running
    assert n == 47
    assert len(tracks) == 1
    tr = select_main_track(tracks, (info.width, info.height))
    # she is in view in frames 0..~33 of 47: the track must cover at least 30 of them
    assert tr.n_frames >= 30 and tr.frame_index[0] <= 2
    assert tr.valid.mean() > 0.9
    # running left to right across most of the frame
    cx = tr.centers()[:, 0]
    assert np.polyfit(tr.time, cx, 1)[0] > 0 and cx[-1] - cx[0] > 0.6 * info.width


def test_runner_landmarks_are_plausible(running: tuple[VideoInfo, list[Track], int]) -> None:
    _, tracks, _ = running
    tr = tracks[0]
    w = tr.world_xyz.astype(np.float64)
    hip_mid = (w[:, L["left_hip"]] + w[:, L["right_hip"]]) / 2
    # MediaPipe's world landmarks are centred on the hip midpoint (float16 model: ~mm)
    assert np.abs(hip_mid).max() < 0.01

    def seg(a: str, b: str) -> np.ndarray:
        return np.linalg.norm(w[:, L[a]] - w[:, L[b]], axis=1)

    # adult segment lengths, generous bounds (m): catch unit or landmark-order errors, not accuracy
    assert np.all((seg("left_hip", "right_hip") > 0.1) & (seg("left_hip", "right_hip") < 0.4))
    shoulder_mid = (w[:, L["left_shoulder"]] + w[:, L["right_shoulder"]]) / 2
    torso = np.linalg.norm(shoulder_mid - hip_mid, axis=1)
    assert np.all((torso > 0.35) & (torso < 0.7))
    for side in ("left", "right"):
        for a, b in (("hip", "knee"), ("knee", "ankle")):
            length = seg(f"{side}_{a}", f"{side}_{b}")
            assert np.all((length > 0.2) & (length < 0.6)), (side, a, b)
    # y points down in both frames: head above hips above ankles
    assert np.all(w[:, L["nose"], 1] < -0.4)
    assert np.all(w[:, L["left_ankle"], 1] > 0.3)
    xy = tr.image_xy
    assert np.all(xy[:, L["nose"], 1] < xy[:, L["left_hip"], 1])
    assert np.all(xy[:, L["left_hip"], 1] < xy[:, L["left_ankle"], 1])


def test_demo_walker_and_jumper_keep_their_ids(demo: tuple[VideoInfo, list[Track], int]) -> None:
    info, tracks, n = demo
    assert n == 230
    assert len(tracks) >= 2
    W, H = info.width, info.height
    # the walker's track: lower part of the frame, moving right to left
    walkers = [t for t in tracks if np.median(t.centers()[:, 1]) > 0.6 * H
               and np.polyfit(t.time, t.centers()[:, 0], 1)[0] < 0]
    # the jumper's track: on the box (upper left half) in the first half of the video
    jumpers = [t for t in tracks if t.frame_index[0] < 60 and np.median(t.centers()[:, 1]) < 0.45 * H]
    assert len(walkers) >= 1 and len(jumpers) >= 1
    walker = max(walkers, key=lambda t: t.n_frames)
    jumper = max(jumpers, key=lambda t: t.n_frames)
    assert walker.track_id != jumper.track_id
    assert walker.duration_s >= 3.0 and jumper.duration_s >= 4.0

    wc = walker.centers()
    # never on the box: every frame of the walker's track stays in the lower part of the frame
    assert wc[:, 1].min() > 0.55 * H
    # and always moving leftwards: over any 0.5 s its centre moves left (no jump back to the right)
    step = int(round(0.5 * info.fps_nominal))
    assert np.all(wc[step:, 0] < wc[:-step, 0] + 0.02 * W)
    assert wc[0, 0] - wc[-1, 0] > 0.5 * W

    jc = jumper.centers()
    before_flip = jumper.frame_index < 140
    assert before_flip.sum() > 90
    # on the box until the flip: upper part of the frame, within the box's horizontal extent
    assert np.all(jc[before_flip, 1] < 0.45 * H)
    assert np.all((jc[before_flip, 0] > 0.25 * W) & (jc[before_flip, 0] < 0.55 * W))

    main = select_main_track(tracks, (W, H))
    assert main.track_id in {walker.track_id, jumper.track_id}


def test_estimator_timestamps_and_input_checks() -> None:
    models = shared_path("models")
    blank = np.zeros((64, 96, 3), np.uint8)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMUSYNTH_MODEL_DIR", str(models))
        with PoseEstimator("lite", num_poses=1) as est:
            assert est.detect(blank, 0.0) == []
            # two frames within the same millisecond (VFR duplicates): passed on as +1 ms
            assert est.detect(blank, 0.0004) == []
            assert est.n_timestamp_adjustments == 1
            with pytest.raises(InputError, match="backwards"):
                est.detect(blank, 0.0)
            with pytest.raises(InputError, match="uint8"):
                est.detect(blank.astype(np.float32), 1.0)
        with pytest.raises(RuntimeError, match="closed"):
            est.detect(blank, 2.0)
    with pytest.raises(InputError, match="num_poses"):
        PoseEstimator("lite", num_poses=0)
