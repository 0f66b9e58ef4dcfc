"""ReadAhead (imusynth.video.decode): frames decoded on a thread of their own, in order, nothing lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from imusynth.errors import InputError
from imusynth.video.decode import Frame, ReadAhead, iter_frames


def _video(path: Path, n: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (64, 48))
    for k in range(n):
        writer.write(np.full((48, 64, 3), 5 * k, np.uint8))          # frame k: grey level 5 k
    writer.release()
    return path


def _decode_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "imusynth-decode"]


def test_same_frames_in_the_same_order(tmp_path: Path) -> None:
    video = _video(tmp_path / "v.mp4", 25)
    plain = [(f.index, f.time_s, f.image) for f in iter_frames(video)]
    with ReadAhead(iter_frames(video), depth=2) as ahead:
        got = list(ahead)
        assert next(ahead, None) is None                               # stays ended
    assert [(f.index, f.time_s) for f in got] == [(i, t) for i, t, _ in plain]
    for f, (_, _, image) in zip(got, plain, strict=True):
        np.testing.assert_array_equal(f.image, image)
    assert ahead.reader.n_yielded == 25 and ahead.reader.corrupt_indices == []
    assert not _decode_threads()


def test_decodes_ahead_while_the_consumer_works(tmp_path: Path) -> None:
    # the consumer takes 20 ms per frame; by the time it asks for the next frame, that frame is decoded
    video = _video(tmp_path / "v.mp4", 12)
    ahead = ReadAhead(iter_frames(video), depth=2)
    first = next(ahead)
    time.sleep(0.3)
    assert ahead._queue.qsize() == 2                                   # depth frames waiting, no more
    waits = []
    for _ in range(5):
        t0 = time.perf_counter()
        next(ahead)
        waits.append(time.perf_counter() - t0)
        time.sleep(0.02)
    assert first.index == 0 and max(waits) < 0.01, waits
    ahead.close()


def test_reader_error_raised_at_its_frame(tmp_path: Path) -> None:
    class Broken:
        def __init__(self) -> None:
            self.closed = False

        def __iter__(self):  # type: ignore[no-untyped-def]
            for k in range(3):
                yield Frame(index=k, time_s=k / 30.0, image=np.zeros((2, 2, 3), np.uint8))
            raise InputError("damaged stream")

        def close(self) -> None:
            self.closed = True

    broken = Broken()
    ahead = ReadAhead(broken, depth=1)  # type: ignore[arg-type]
    assert [next(ahead).index for _ in range(3)] == [0, 1, 2]
    with pytest.raises(InputError, match="damaged stream"):
        next(ahead)
    assert broken.closed and not _decode_threads()


def test_early_close_stops_the_thread_and_releases_the_decoder(tmp_path: Path) -> None:
    video = _video(tmp_path / "v.mp4", 40)
    ahead = ReadAhead(iter_frames(video), depth=2)
    next(ahead)
    ahead.close()
    ahead.close()                                                       # idempotent
    assert not _decode_threads()
    assert ahead.reader._cap is None                                    # released
    assert ahead.reader.n_yielded <= 1 + 2 + 1                          # no more than depth + 1 ahead
    with pytest.raises(StopIteration):
        next(ahead)
    with pytest.raises(InputError, match="depth"):
        ReadAhead(iter_frames(video), depth=0)


def test_thread_starts_at_the_first_frame_asked_for(tmp_path: Path) -> None:
    # the video job builds its landmarkers (and limits glibc's malloc arenas) after making the ReadAhead:
    # no decoding thread, and no frame decoded, before the first ``next``; closed unstarted, the decoder
    # is released all the same
    video = _video(tmp_path / "v.mp4", 10)
    ahead = ReadAhead(iter_frames(video), depth=1)
    time.sleep(0.1)
    assert not _decode_threads() and ahead.reader.n_decoded == 0
    assert next(ahead).index == 0 and ahead.reader.n_decoded >= 1
    ahead.close()
    unstarted = ReadAhead(iter_frames(video), depth=1)
    unstarted.close()
    assert unstarted.reader._cap is None and not _decode_threads()
