"""Stage 1: decode a video frame by frame, upright, with real per-frame timestamps.

Decoding goes through OpenCV's FFmpeg backend. Three things are handled here so that later
stages never see them:

Rotation
    Phone videos are often stored landscape with a rotation tag (display matrix). OpenCV
    reports it as ``CAP_PROP_ORIENTATION_META``: the clockwise rotation, in degrees, that makes
    the decoded picture upright. OpenCV's own auto-rotation is switched off and the rotation is
    applied here with :func:`cv2.rotate`, so :attr:`VideoInfo.rotation_deg` always says exactly
    what was done and ``width``/``height`` are the upright sizes.
Timestamps
    ``time_s`` is the frame's presentation time from the container (``CAP_PROP_POS_MSEC`` right
    after the frame is grabbed), relative to the stream start; variable-frame-rate videos keep
    their real, uneven spacing. Only when the container gives no usable time for a frame (not
    finite, or not greater than the previous frame's time) is it replaced by the previous time
    plus the elapsed frames over the nominal rate (which is ``index / fps`` for a stream with no
    timestamps at all); such frames are counted in :attr:`VideoReader.timestamp_fallback_indices`.
Corrupt frames
    A frame the decoder cannot decode (``grab`` or ``retrieve`` fails in the middle of the stream)
    is skipped and recorded in :attr:`VideoReader.corrupt_indices`; it is never fatal by itself.
    Failed grabs followed by no successful one are the end of the stream, not corruption.
    Damage the decoder conceals (a partly grey frame) cannot be seen from here.

Frame indices are ordinals in the decoded stream, counting skipped corrupt frames, so an index
is the frame's position in the file and does not depend on ``start_s`` or ``stride``.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from imusynth.errors import InputError

__all__ = [
    "DEFAULT_FPS",
    "Frame",
    "ReadAhead",
    "VideoInfo",
    "VideoReader",
    "iter_frames",
    "open_video",
]

log = logging.getLogger(__name__)

#: Frame rate assumed when the container states none (or an absurd one), frames/s.
DEFAULT_FPS: float = 30.0

#: Consecutive failed grabs after which the stream is taken to have ended.
_MAX_CONSECUTIVE_FAILURES = 64

_ROTATE_CODES = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


@dataclass(frozen=True)
class VideoInfo:
    """What a video container says about its video stream.

    Attributes
    ----------
    path : Path
        The video file.
    width, height : int, px
        Size of the frames as :func:`iter_frames` yields them, i.e. after rotation (upright).
    fps_nominal : float, frames/s
        The container's nominal (average) frame rate; :data:`DEFAULT_FPS` when it states none.
        Real frame times come from :func:`iter_frames`, not from this.
    n_frames_estimate : int or None
        Frame count the container states (may be approximate), or None when it states none.
    rotation_deg : int
        Clockwise rotation applied to decoded frames to make them upright: 0, 90, 180 or 270.
    duration_s : float or None, s
        ``n_frames_estimate / fps_nominal``; None when the frame count is unknown.
    focal_px : float or None, px
        Focal length from the file's metadata. OpenCV exposes no camera intrinsics, so this is
        None for now; the field is kept so the lifting stage can use it when a source provides it.
    codec : str
        The stream's FourCC as text (for example ``"h264"``, ``"mp4v"``, ``"VP90"``).
    """

    path: Path
    width: int
    height: int
    fps_nominal: float
    n_frames_estimate: int | None
    rotation_deg: int
    duration_s: float | None
    focal_px: float | None
    codec: str


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame.

    Attributes
    ----------
    index : int
        Ordinal of the frame in the decoded stream (0 = first frame; skipped corrupt frames count).
    time_s : float, s
        Presentation time from the container, relative to the stream start (see the module notes
        for the fallback).
    image : ndarray, shape (H, W, 3), uint8
        RGB picture, upright (rotation metadata applied), C-contiguous.
    """

    index: int
    time_s: float
    image: NDArray[np.uint8]


class _Capture(Protocol):
    """The part of :class:`cv2.VideoCapture` the reader uses (a seam for tests)."""

    def isOpened(self) -> bool: ...  # noqa: N802 (OpenCV's name)

    def read(self) -> tuple[bool, Any]: ...

    def set(self, prop_id: int, value: float) -> bool: ...

    def grab(self) -> bool: ...

    def retrieve(self) -> tuple[bool, Any]: ...

    def get(self, prop_id: int) -> float: ...

    def release(self) -> None: ...


def _open_capture(path: Path) -> _Capture:
    """Open ``path`` with OpenCV's FFmpeg backend, auto-rotation off (rotation is applied here)."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        cap = cv2.VideoCapture(str(path))
    if cap.isOpened():
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
    return cap


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"video not found: {path}")
    if not path.is_file():
        raise InputError(f"not a video file (a directory or special file): {path}")
    if path.stat().st_size == 0:
        raise InputError(f"video file is empty (0 bytes): {path}")


def _fourcc(value: float) -> str:
    code = int(value) if math.isfinite(value) and value > 0 else 0
    text = code.to_bytes(4, "little").decode("ascii", errors="replace")
    return text.replace("\x00", "").strip()


def _rotation(cap: _Capture) -> int:
    meta = cap.get(cv2.CAP_PROP_ORIENTATION_META)
    if not math.isfinite(meta):
        return 0
    deg = int(round(meta / 90.0)) * 90 % 360
    return deg


def _upright(image: NDArray[np.uint8], rotation_deg: int) -> NDArray[np.uint8]:
    """BGR decoded picture -> upright, C-contiguous RGB."""
    if image.ndim == 2:
        rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.shape[2] == 4:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    else:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if rotation_deg:
        rgb = cv2.rotate(rgb, _ROTATE_CODES[rotation_deg])
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def _valid_image(ok: bool, image: Any) -> bool:
    return bool(ok) and image is not None and image.size > 0 and image.dtype == np.uint8


def open_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Check that ``path`` is a readable video and describe it.

    Parameters
    ----------
    path : str or path-like
        The video file.

    Returns
    -------
    VideoInfo
        Upright frame size, nominal rate, rotation, codec.

    Raises
    ------
    imusynth.errors.InputError
        The file is missing, empty, not a video OpenCV can open, its first frame cannot be
        decoded, or it holds a single frame (a still image).
    """
    p = Path(path)
    _check_file(p)
    cap = _open_capture(p)
    try:
        if not cap.isOpened():
            raise InputError(f"not a video OpenCV/FFmpeg can open: {p}")
        rotation = _rotation(cap)
        ok, first = cap.read()
        if not _valid_image(ok, first):
            raise InputError(f"cannot decode the first frame of {p}: not a video, or corrupt")
        if not cap.grab():
            raise InputError(f"{p} holds a single frame (a still image?); a video needs at least 2 frames")
        assert first is not None
        h, w = first.shape[:2]
        fps = cap.get(cv2.CAP_PROP_FPS)
        if not (math.isfinite(fps) and 0.0 < fps < 10_000.0):
            log.warning("%s states no usable frame rate (%r); assuming %.0f fps", p, fps, DEFAULT_FPS)
            fps = DEFAULT_FPS
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        n_frames = int(round(count)) if math.isfinite(count) and 0 < count < 1e9 else None
        codec = _fourcc(cap.get(cv2.CAP_PROP_FOURCC))
    finally:
        cap.release()
    if rotation in (90, 270):
        w, h = h, w
    return VideoInfo(
        path=p,
        width=int(w),
        height=int(h),
        fps_nominal=float(fps),
        n_frames_estimate=n_frames,
        rotation_deg=rotation,
        duration_s=None if n_frames is None else n_frames / float(fps),
        focal_px=None,
        codec=codec,
    )


class VideoReader(Iterator[Frame]):
    """Streaming frame iterator over one video; holds one decoded frame at a time.

    Use :func:`iter_frames` to make one. Iterating yields :class:`Frame` records; after (or
    during) iteration the attributes below say what was skipped or repaired. The capture is
    released when iteration ends, on :meth:`close`, or when leaving a ``with`` block.

    Attributes
    ----------
    info : VideoInfo
        The video's description (from :func:`open_video`).
    corrupt_indices : list of int
        Indices of frames that could not be decoded and were skipped.
    timestamp_fallback_indices : list of int
        Indices of frames whose container time was missing or not increasing, and whose
        ``time_s`` was therefore extrapolated at the nominal frame rate.
    n_decoded : int
        Frames decoded so far (within and before the requested time range).
    n_yielded : int
        Frames yielded so far.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        start_s: float | None = None,
        end_s: float | None = None,
        stride: int = 1,
    ) -> None:
        if isinstance(stride, bool) or not isinstance(stride, int | np.integer) or stride < 1:
            raise InputError(f"stride must be an integer >= 1, got {stride!r}")
        if start_s is not None and not (math.isfinite(start_s) and start_s >= 0.0):
            raise InputError(f"start_s must be a finite time >= 0 s, got {start_s!r}")
        if end_s is not None and not (math.isfinite(end_s) or end_s == math.inf):
            raise InputError(f"end_s must be a time in s, got {end_s!r}")
        if start_s is not None and end_s is not None and end_s <= start_s:
            raise InputError(f"end_s ({end_s} s) must be after start_s ({start_s} s)")
        self.info: VideoInfo = open_video(path)
        self.start_s = start_s
        self.end_s = end_s
        self.stride = int(stride)
        self.corrupt_indices: list[int] = []
        self.timestamp_fallback_indices: list[int] = []
        self.n_decoded = 0
        self.n_yielded = 0
        self._cap: _Capture | None = _open_capture(self.info.path)
        if not self._cap.isOpened():
            raise InputError(f"not a video OpenCV/FFmpeg can open: {self.info.path}")
        self._gen = self._frames()

    @property
    def n_corrupt(self) -> int:
        """Number of corrupt (skipped) frames seen so far."""
        return len(self.corrupt_indices)

    @property
    def n_timestamp_fallbacks(self) -> int:
        """Number of frames whose time was extrapolated at the nominal rate."""
        return len(self.timestamp_fallback_indices)

    def __iter__(self) -> VideoReader:
        return self

    def __next__(self) -> Frame:
        return next(self._gen)

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the decoder (idempotent)."""
        self._gen.close()
        self._release()

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _frames(self) -> Generator[Frame, None, None]:
        cap = self._cap
        assert cap is not None
        fps = self.info.fps_nominal
        rotation = self.info.rotation_deg
        start = -math.inf if self.start_s is None else float(self.start_s)
        end = math.inf if self.end_s is None else float(self.end_s)
        index = -1  # index of the frame being grabbed
        pending: list[int] = []  # failed grabs not yet known to be mid-stream corruption
        last_time: float | None = None
        last_index = -1
        n_in_range = 0
        try:
            while True:
                index += 1
                if not cap.grab():
                    pending.append(index)
                    if len(pending) >= _MAX_CONSECUTIVE_FAILURES:
                        return  # end of stream: trailing failures are not corruption
                    continue
                if pending:  # a frame decoded after failures: those were corrupt frames
                    self.corrupt_indices.extend(pending)
                    log.warning("%s: skipped undecodable frame(s) %s", self.info.path, pending)
                    pending.clear()
                self.n_decoded += 1
                t_container = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if math.isfinite(t_container) and (last_time is None or t_container > last_time):
                    t = t_container
                else:
                    t = index / fps if last_time is None else last_time + (index - last_index) / fps
                    self.timestamp_fallback_indices.append(index)
                last_time, last_index = t, index
                if t < start:
                    continue
                if t >= end:
                    return
                take = n_in_range % self.stride == 0
                n_in_range += 1
                if not take:
                    continue
                ok, image = cap.retrieve()
                if not _valid_image(ok, image):
                    self.corrupt_indices.append(index)
                    log.warning("%s: skipped undecodable frame %d", self.info.path, index)
                    continue
                assert image is not None
                self.n_yielded += 1
                yield Frame(index=index, time_s=float(t), image=_upright(image, rotation))
        finally:
            self._release()


def iter_frames(
    path: str | os.PathLike[str],
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    stride: int = 1,
) -> VideoReader:
    """Stream the frames of a video, upright and RGB, with real timestamps.

    Parameters
    ----------
    path : str or path-like
        The video file.
    start_s : float, optional, s
        Yield only frames with ``time_s >= start_s``. Earlier frames are still decoded (not
        converted), so a late start costs decoding time but gives exact frame times.
    end_s : float, optional, s
        Stop before the first frame with ``time_s >= end_s``.
    stride : int, default 1
        Yield every ``stride``-th frame of the requested range (the others are decoded only).

    Returns
    -------
    VideoReader
        An iterator of :class:`Frame`; its ``corrupt_indices`` and
        ``timestamp_fallback_indices`` record what was skipped or extrapolated.

    Raises
    ------
    imusynth.errors.InputError
        Not a readable video (see :func:`open_video`), or bad ``start_s``/``end_s``/``stride``.
    """
    return VideoReader(path, start_s=start_s, end_s=end_s, stride=stride)


class ReadAhead(Iterator[Frame]):
    """The frames of ``reader``, decoded on a thread of its own up to ``depth`` frames ahead.

    Decoding (FFmpeg and the colour conversion release the GIL) then overlaps the consumer's work on the
    frame before: the video job's pose stage no longer waits for each frame to be decoded. Frames come in
    the reader's order, as the same :class:`Frame` objects; an exception of the reader is raised here, at
    the frame it happened. The thread starts at the first ``next``. Memory: at most ``depth + 1`` decoded
    frames more than the consumer holds (2.7 MB each at 720p).

    Parameters
    ----------
    reader : VideoReader
        Used from the decoding thread only, and closed there when it ends; read its attributes
        (``corrupt_indices``...) after the iteration or after :meth:`close`.
    depth : int, default 2
        Frames decoded ahead (>= 1).
    """

    def __init__(self, reader: VideoReader, depth: int = 2) -> None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise InputError(f"depth must be an integer >= 1, got {depth!r}")
        self.reader = reader
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        # started by the first ``next``: a consumer that builds its models after making this (the video
        # job) has them built, and glibc's arenas limited (``limit_malloc_arenas``), before the thread
        # allocates its first frame
        self._thread = threading.Thread(target=self._decode, name="imusynth-decode", daemon=True)

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _decode(self) -> None:
        item: tuple[str, Any] = ("end", None)
        try:
            for frame in self.reader:
                if not self._put(("frame", frame)):
                    return
        except BaseException as exc:  # noqa: BLE001 (handed to the consumer, raised there)
            item = ("error", exc)
        finally:
            self.reader.close()
        self._put(item)

    def __iter__(self) -> ReadAhead:
        return self

    def __next__(self) -> Frame:
        if self._done:
            raise StopIteration
        if self._thread.ident is None:
            self._thread.start()
        kind, value = self._queue.get()
        if kind == "frame":
            return value  # type: ignore[no-any-return]
        self._done = True
        self._thread.join()
        if kind == "error":
            raise value
        raise StopIteration

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop decoding and release the decoder (idempotent; frames not taken are dropped)."""
        self._done = True
        self._stop.set()
        if self._thread.ident is None:
            self.reader.close()                 # never started: nothing else uses the reader
        else:
            self._thread.join()
