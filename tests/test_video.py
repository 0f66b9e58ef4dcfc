"""Stage 1 (imusynth.video.decode): decoding, timestamps, rotation, corrupt frames, bad input.

Test clips are written into tmp_path with cv2.VideoWriter; the rotation and variable-frame-rate
clips need ffmpeg (skipped without it, failing when CI is set). ffmpeg/ffprobe serve as the
independent reference for rotated pictures and for real presentation times.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from imusynth.errors import InputError
from imusynth.video import decode as video
from imusynth.video.decode import Frame, VideoReader, iter_frames, open_video

W, H, FPS, N = 96, 64, 30.0, 24


def _pattern(i: int, w: int = W, h: int = H) -> np.ndarray:
    """BGR frame: a pure red block top-left (orientation mark) and a grey level coding ``i``."""
    img = np.full((h, w, 3), 8 * i % 256, np.uint8)
    img[: h // 3, : w // 4] = (0, 0, 255)
    return img


def _write(path: Path, *, fourcc: str = "mp4v", n: int = N, fps: float = FPS, w: int = W, h: int = H) -> Path:
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (w, h))
    assert vw.isOpened(), f"OpenCV cannot write {fourcc}"
    for i in range(n):
        vw.write(_pattern(i, w, h))
    vw.release()
    return path


def _need(tool: str) -> str:
    exe = shutil.which(tool)
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is required when CI is set (apt-get install ffmpeg)")
        pytest.skip(f"{tool} not installed")
    return exe


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return _write(tmp_path / "clip.mp4")


def test_open_video_describes_clip(clip: Path) -> None:
    info = open_video(clip)
    assert (info.width, info.height) == (W, H)
    assert info.fps_nominal == pytest.approx(FPS)
    assert info.n_frames_estimate == N
    assert info.duration_s == pytest.approx(N / FPS)
    assert info.rotation_deg == 0
    assert info.focal_px is None
    assert info.codec.lower() in {"mp4v", "fmp4"}
    assert info.path == clip


def test_iter_frames_all_frames_rgb_with_times(clip: Path) -> None:
    reader = iter_frames(clip)
    frames = list(reader)
    assert [f.index for f in frames] == list(range(N))
    # mp4v at 30 fps stores times in ticks of 1/30 s (or finer): exact up to float rounding
    np.testing.assert_allclose([f.time_s for f in frames], np.arange(N) / FPS, atol=1e-6)
    img = frames[0].image
    assert img.shape == (H, W, 3) and img.dtype == np.uint8 and img.flags.c_contiguous
    # the block written as BGR (0, 0, 255) must read back as RGB red (lossy codec: +-40 levels)
    block = img[2 : H // 3 - 2, 2 : W // 4 - 2].reshape(-1, 3).mean(axis=0)
    assert block[0] > 200 and block[1] < 40 and block[2] < 40
    assert reader.corrupt_indices == [] and reader.n_corrupt == 0
    assert reader.timestamp_fallback_indices == []
    assert reader.n_yielded == N == reader.n_decoded


def test_iter_frames_range_and_stride(clip: Path) -> None:
    # frames at k/30 s; [0.2, 0.6) holds frames 6..17; every 4th: 6, 10, 14
    frames = list(iter_frames(clip, start_s=0.2, end_s=0.6, stride=4))
    assert [f.index for f in frames] == [6, 10, 14]
    np.testing.assert_allclose([f.time_s for f in frames], [6 / FPS, 10 / FPS, 14 / FPS], atol=1e-6)


def test_reader_closes_and_is_context_manager(clip: Path) -> None:
    with iter_frames(clip) as reader:
        first = next(reader)
        assert isinstance(first, Frame) and first.index == 0
    assert reader._cap is None
    with pytest.raises(StopIteration):
        next(reader)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stride": 0}, "stride"),
        ({"stride": 1.5}, "stride"),
        ({"start_s": -1.0}, "start_s"),
        ({"start_s": 2.0, "end_s": 1.0}, "end_s"),
    ],
)
def test_bad_range_arguments(clip: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        iter_frames(clip, **kwargs)


def test_missing_empty_and_non_video_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        open_video(tmp_path / "nope.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        open_video(empty)
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 10)
    with pytest.raises(InputError, match="not a video"):
        open_video(text)
    with pytest.raises(InputError, match="directory"):
        open_video(tmp_path)
    with pytest.raises(InputError):
        iter_frames(text)


def test_still_image_is_not_a_video(tmp_path: Path) -> None:
    png = tmp_path / "still.png"
    cv2.imwrite(str(png), _pattern(0))
    with pytest.raises(InputError, match="single frame"):
        open_video(png)


def test_corrupt_frames_are_skipped_and_recorded(tmp_path: Path) -> None:
    """MJPEG in AVI: each frame is one JPEG; destroying three frames' data leaves the rest decodable."""
    path = _write(tmp_path / "mj.avi", fourcc="MJPG", n=30)
    data = bytearray(path.read_bytes())
    soi = [i for i in range(len(data) - 2) if data[i : i + 3] == b"\xff\xd8\xff"]
    assert len(soi) == 30  # one JPEG start-of-image marker per frame
    bad = [10, 11, 20]
    for k in bad:
        data[soi[k] : soi[k] + 300] = bytes(300)
    path.write_bytes(bytes(data))

    reader = iter_frames(path)
    frames = list(reader)
    good = [i for i in range(30) if i not in bad]
    assert reader.corrupt_indices == bad and reader.n_corrupt == 3
    assert [f.index for f in frames] == good
    # AVI frames carry their position: time stays index / fps across the gap (1 ms: container rounding)
    np.testing.assert_allclose([f.time_s for f in frames], np.array(good) / FPS, atol=1e-3)


@pytest.mark.parametrize(("tag", "meta_rotation"), [(90, 270), (270, 90), (180, 180)])
def test_rotation_metadata_gives_upright_frames(tmp_path: Path, tag: int, meta_rotation: int) -> None:
    ffmpeg = _need("ffmpeg")
    base = _write(tmp_path / "base.mp4")
    rotated = tmp_path / f"rot{tag}.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(base), "-c", "copy",
                    "-metadata:s:v:0", f"rotate={tag}", str(rotated)], check=True)
    reference = tmp_path / f"ref{tag}.png"  # ffmpeg applies the display rotation when decoding
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(rotated), "-frames:v", "1", str(reference)],
                   check=True)
    ref_bgr = cv2.imread(str(reference))
    assert ref_bgr is not None
    ref_rgb = cv2.cvtColor(ref_bgr, cv2.COLOR_BGR2RGB)

    info = open_video(rotated)
    assert info.rotation_deg == meta_rotation
    expect_hw = (W, H) if tag in (90, 270) else (H, W)
    assert (info.height, info.width) == expect_hw
    first = next(iter_frames(rotated))
    assert first.image.shape == (*expect_hw, 3)
    # same decoder, same rotation: identical up to the colour conversion of the PNG path (1 level)
    assert np.abs(first.image.astype(int) - ref_rgb.astype(int)).mean() < 1.0


def test_variable_frame_rate_times_match_container(tmp_path: Path) -> None:
    ffmpeg, ffprobe = _need("ffmpeg"), _need("ffprobe")
    base = _write(tmp_path / "base.mp4", n=40)
    vfr = tmp_path / "vfr.mp4"
    # 30 fps, then a 0.5 s pause after frame 10, then frames spaced 1/30 + 0.01 s
    expr = "(N/30+gte(N\\,10)*0.5+gte(N\\,20)*(N-20)*0.01)/TB"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(base), "-vf", f"setpts='{expr}'",
                    "-fps_mode", "passthrough", "-c:v", "mpeg4", "-q:v", "5",
                    "-video_track_timescale", "1000", str(vfr)], check=True)
    out = subprocess.run([ffprobe, "-v", "error", "-select_streams", "v", "-show_entries",
                          "frame=pts_time", "-of", "csv=p=0", str(vfr)],
                         check=True, capture_output=True, text=True).stdout
    ref = np.array([float(x) for x in out.split()])
    reader = iter_frames(vfr)
    times = np.array([f.time_s for f in reader])
    assert times.shape == ref.shape == (40,)
    assert np.diff(ref).max() > 0.4  # the clip really is variable-rate
    # the container's 1 ms tick is the resolution of both readings
    np.testing.assert_allclose(times - times[0], ref - ref[0], atol=1.5e-3)
    assert reader.timestamp_fallback_indices == []


class _FakeCapture:
    """Stands in for cv2.VideoCapture: scripted timestamps and failures (no codec involved)."""

    def __init__(self, times_ms: list[float], *, bad_grab: frozenset[int] = frozenset(),
                 bad_retrieve: frozenset[int] = frozenset(), fps: float = 25.0) -> None:
        self.times_ms, self.bad_grab, self.bad_retrieve, self.fps = times_ms, bad_grab, bad_retrieve, fps
        self.i = -1

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return True

    def set(self, prop_id: int, value: float) -> bool:
        return True

    def grab(self) -> bool:
        self.i += 1
        return self.i < len(self.times_ms) and self.i not in self.bad_grab

    def retrieve(self) -> tuple[bool, np.ndarray | None]:
        if self.i in self.bad_retrieve:
            return False, None
        return True, _pattern(self.i, 8, 6)

    def read(self) -> tuple[bool, np.ndarray | None]:
        return (self.grab() and self.retrieve()[0]), _pattern(max(self.i, 0), 8, 6)

    def get(self, prop_id: int) -> float:
        if prop_id == cv2.CAP_PROP_POS_MSEC:
            return self.times_ms[self.i]
        return {cv2.CAP_PROP_FPS: self.fps, cv2.CAP_PROP_FRAME_COUNT: float(len(self.times_ms)),
                cv2.CAP_PROP_ORIENTATION_META: 0.0, cv2.CAP_PROP_FOURCC: 0.0}.get(prop_id, 0.0)

    def release(self) -> None:
        pass


def _fake_reader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cap_factory) -> VideoReader:
    dummy = tmp_path / "fake.mp4"
    dummy.write_bytes(b"x")
    monkeypatch.setattr(video, "_open_capture", lambda path: cap_factory())
    return iter_frames(dummy)


def test_no_container_timestamps_fall_back_to_index_over_fps(monkeypatch, tmp_path) -> None:
    reader = _fake_reader(monkeypatch, tmp_path, lambda: _FakeCapture([0.0] * 10))
    frames = list(reader)
    np.testing.assert_allclose([f.time_s for f in frames], np.arange(10) / 25.0, rtol=0, atol=1e-12)
    assert reader.timestamp_fallback_indices == list(range(1, 10))


def test_non_increasing_timestamp_is_extrapolated(monkeypatch, tmp_path) -> None:
    times = [0.0, 40.0, 80.0, 80.0, 160.0, 200.0]  # frame 3 repeats frame 2's time
    reader = _fake_reader(monkeypatch, tmp_path, lambda: _FakeCapture(times))
    frames = list(reader)
    np.testing.assert_allclose([f.time_s for f in frames], [0.0, 0.04, 0.08, 0.12, 0.16, 0.2], atol=1e-12)
    assert reader.timestamp_fallback_indices == [3]


def test_failed_grab_and_retrieve_are_corrupt_not_fatal(monkeypatch, tmp_path) -> None:
    times = [40.0 * i for i in range(8)]
    def factory() -> _FakeCapture:
        return _FakeCapture(times, bad_grab=frozenset({2}), bad_retrieve=frozenset({5}))

    reader = _fake_reader(monkeypatch, tmp_path, factory)
    frames = list(reader)
    assert [f.index for f in frames] == [0, 1, 3, 4, 6, 7]
    assert reader.corrupt_indices == [2, 5]
    np.testing.assert_allclose([f.time_s for f in frames], [0.0, 0.04, 0.12, 0.16, 0.24, 0.28], atol=1e-12)
