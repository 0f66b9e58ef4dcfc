"""The append-only frame store (:mod:`imusynth.video.framestore`), used by the tracker and the video job.

Every value written is a closed-form function of its row number, so what is read back is checked
exactly (``assert_array_equal``: the store copies bytes, there is no tolerance to allow for); the only
rounding is the cast to the table's dtype, applied to the expected values too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from imusynth.config import load_pipeline_config, with_overrides
from imusynth.errors import NoPersonError
from imusynth.video.framestore import FrameStore
from imusynth.video.job import process_video, run_stages
from imusynth.video.pose.detection import N_LANDMARKS, PoseDetection
from imusynth.video.pose.tracking import TRACK_SCHEMA, Tracker

SCHEMA = {"t": ((), np.float64), "xy": ((3, 2), np.float32), "k": ((), np.int64), "ok": ((), np.bool_)}


def expected(rows: NDArray[np.int64]) -> dict[str, NDArray[Any]]:
    """The closed-form row values: t = 0.1 r, xy[i, j] = r + 10 i + 100 j (float32), k = r^2, ok = r odd."""
    r = np.asarray(rows, dtype=np.int64)
    ij = np.arange(3)[:, None] * 10 + np.arange(2)[None, :] * 100
    return {"t": 0.1 * r, "xy": (r[:, None, None] + ij).astype(np.float32), "k": r * r, "ok": r % 2 == 1}


def fill(store: FrameStore, name: str, n: int) -> None:
    store.create(name, SCHEMA)
    e = expected(np.arange(n))
    for r in range(n):
        assert store.append(name, {k: e[k][r] for k in SCHEMA}) == r


def assert_rows(got: dict[str, NDArray[Any]], rows: NDArray[np.int64]) -> None:
    e = expected(rows)
    assert set(got) <= set(e)
    for k, v in got.items():
        assert v.dtype == np.dtype(SCHEMA[k][1]) and v.shape == (len(rows), *SCHEMA[k][0])
        assert v.flags.c_contiguous
        np.testing.assert_array_equal(v, e[k])


@pytest.mark.parametrize("spill", [True, False])
def test_append_and_read_back_across_chunks(tmp_path: Path, spill: bool) -> None:
    with FrameStore(tmp_path, spill=spill, chunk_rows=4) as store:
        fill(store, "a", 11)                       # two full chunks and 3 rows in the buffer
        fill(store, "b", 5)                        # interleaved with a's chunks in the file
        assert store.n_rows("a") == 11 and store.n_rows("b") == 5 and store.tables() == ["a", "b"]
        assert_rows(store.read("a"), np.arange(11))
        assert_rows(store.read("b"), np.arange(5))
        assert_rows(store.read("a", 3, 9), np.arange(3, 9))          # spans three pieces
        assert_rows(store.read("a", 10, 11, fields=["xy"]), np.array([10]))
        assert_rows(store.read("a", 6, 6), np.arange(0))
        starts = []
        for r0, chunk in store.iter_chunks("a", fields=["k"]):
            assert_rows(chunk, np.arange(r0, r0 + len(chunk["k"])))
            starts.append(r0)
        assert starts == [0, 4, 8]
        store.seal("a")                            # the partial chunk goes out too
        assert_rows(store.read("a"), np.arange(11))
        fill_more = expected(np.arange(11, 13))
        for r in range(2):
            store.append("a", {k: fill_more[k][r] for k in SCHEMA})
        assert_rows(store.read("a"), np.arange(13))


def test_spilled_rows_leave_memory() -> None:
    row_bytes = 8 + 3 * 2 * 4 + 8 + 1
    with FrameStore(chunk_rows=8) as store:
        fill(store, "a", 8 * 50 + 3)
        # one chunk buffer in memory, whatever the length; the 50 full chunks are in the file
        assert store.nbytes_memory == 8 * row_bytes
        assert store.nbytes_file == 8 * 50 * row_bytes
        store.seal("a")
        assert store.nbytes_memory == 0 and store.nbytes_file == (8 * 50 + 3) * row_bytes
        assert_rows(store.read("a", 397, 403), np.arange(397, 403))
        store.drop("a")
        assert "a" not in store and store.nbytes_memory == 0


def test_bad_use_is_refused(tmp_path: Path) -> None:
    with FrameStore(tmp_path, chunk_rows=4) as store:
        fill(store, "a", 3)
        with pytest.raises(ValueError, match="exists"):
            store.create("a", SCHEMA)
        with pytest.raises(KeyError, match="no table"):
            store.read("nope")
        with pytest.raises(ValueError, match="takes fields"):
            store.append("a", {"t": 1.0})
        with pytest.raises(IndexError, match="out of range"):
            store.read("a", 2, 4)
    assert store.closed
    with pytest.raises(ValueError, match="closed"):
        store.read("a")
    with pytest.raises(ValueError, match="chunk_rows"):
        FrameStore(chunk_rows=0)


def test_no_file_left_after_success_or_error(tmp_path: Path) -> None:
    with FrameStore(tmp_path, chunk_rows=2) as store:
        fill(store, "a", 9)
        assert store.nbytes_file > 0
        if os.name == "posix":   # the file is unnamed (O_TMPFILE) or unlinked at once: never listed
            assert list(tmp_path.iterdir()) == []
    assert store.closed and list(tmp_path.iterdir()) == []

    with pytest.raises(RuntimeError, match="boom"), FrameStore(tmp_path, chunk_rows=2) as failing:
        fill(failing, "a", 9)
        raise RuntimeError("boom")
    assert failing.closed and list(tmp_path.iterdir()) == []


def walker(k: int) -> PoseDetection:
    """Frame ``k`` of one person moving right at 2 px/frame; landmark i at (100 + 2k + i, 50 + 3i) px."""
    i = np.arange(N_LANDMARKS)
    xy = np.stack([100.0 + 2.0 * k + i, 50.0 + 3.0 * i], axis=1)
    world = np.stack([0.01 * i, -0.02 * i, 0.001 * k + 0 * i], axis=1)
    return PoseDetection.from_arrays(xy, visibility=np.full(N_LANDMARKS, 0.9), world_xyz=world)


def test_tracker_reads_each_track_back_from_the_file(tmp_path: Path) -> None:
    n, fps = 300, 30.0
    with FrameStore(tmp_path, chunk_rows=16) as store:
        spilled = Tracker(store=store)
        in_memory = Tracker()
        for k in range(n):
            for tr in (spilled, in_memory):
                tr.update(k / fps, [walker(k)], frame_index=1000 + k)
        assert spilled.track_ids() == [0]
        track = spilled.track(0)
        np.testing.assert_array_equal(track.frame_index, 1000 + np.arange(n))
        np.testing.assert_array_equal(track.time, np.arange(n) / fps)
        expect_xy = np.stack([walker(k).image_xy for k in range(n)])
        np.testing.assert_array_equal(track.image_xy, expect_xy)
        np.testing.assert_array_equal(track.world_xyz[:, 5, 2], np.float32(0.001 * np.arange(n)))
        assert track.valid.all()
        row_bytes = sum(int(np.prod(shape)) * np.dtype(dt).itemsize for shape, dt in TRACK_SCHEMA.values())
        assert store.nbytes_memory == 16 * row_bytes     # one chunk of the live track, not 300 rows
        (other,) = in_memory.tracks()
        for name in ("frame_index", "time", "image_xy", "image_z", "visibility", "presence", "world_xyz",
                     "bbox", "landmark_valid", "valid"):
            np.testing.assert_array_equal(getattr(track, name), getattr(other, name))
        with pytest.raises(KeyError):
            spilled.track(1)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ video job
W, H, FPS, N_FRAMES = 96, 64, 30.0, 45


def noise_video(path: Path) -> Path:
    rng = np.random.default_rng(7)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (W, H))
    for _ in range(N_FRAMES):
        writer.write(rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
    writer.release()
    return path


class Walker:
    """Pose backend: the :func:`walker` person at every frame; raises at frame ``fail_at`` if given."""

    def __init__(self, fail_at: int | None = None, people: bool = True) -> None:
        self.fail_at, self.people, self.calls = fail_at, people, 0

    def __enter__(self) -> Walker:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def detect(self, image: Any, time_s: float) -> list[PoseDetection]:
        k = self.calls
        self.calls += 1
        if k == self.fail_at:
            raise RuntimeError("pose backend failed")
        return [walker(k)] if self.people else []


def config() -> Any:
    return with_overrides(load_pipeline_config(), {"camera.static": True, "tracking.min_track_s": 0.5})


def test_run_stages_keeps_frames_and_tracks_in_the_store(tmp_path: Path) -> None:
    video = noise_video(tmp_path / "noise.mp4")
    with FrameStore(tmp_path, chunk_rows=8) as store:
        run = run_stages(video, config(), detector_factory=lambda cfg: Walker(), store=store)
        assert run.n_frames == N_FRAMES and run.n_shots == 1
        frames = run.frames()
        np.testing.assert_array_equal(frames.frame_index, np.arange(N_FRAMES))
        np.testing.assert_allclose(frames.time, np.arange(N_FRAMES) / FPS, atol=1e-3)  # container ms
        part = run.frames(10, 20)
        assert part.start == 10
        np.testing.assert_array_equal(part.time, frames.time[10:20])
        assert run.track_ids == [0]
        track = run.track(0)
        np.testing.assert_array_equal(run.positions(track.frame_index), np.arange(N_FRAMES))
        np.testing.assert_array_equal(run.positions([30, 3, 17]), [30, 3, 17])
        with pytest.raises(KeyError):
            run.positions([N_FRAMES + 5])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.mp4"]


@pytest.mark.parametrize(("backend", "error"), [(Walker(fail_at=20), RuntimeError),
                                               (Walker(people=False), NoPersonError)],
                         ids=["crash", "nobody"])
def test_video_job_leaves_no_temporary_file(tmp_path: Path, backend: Walker, error: type[Exception]) -> None:
    video = noise_video(tmp_path / "noise.mp4")
    with pytest.raises(error):
        process_video(video, tmp_path / "out.h5", config=config(), detector_factory=lambda cfg: backend)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.mp4"]
