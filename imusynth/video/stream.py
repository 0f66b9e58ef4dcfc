"""Stages 1-4 in one streaming pass: decode → pose → tracking → camera rotation, frame by frame.

Frames are never kept: the compact rows each frame produces (every person's landmarks, about 1.1 kB,
and the camera's rotation, about 90 B) go to a :class:`~imusynth.video.framestore.FrameStore` that
spills them to an unnamed temporary file, so memory does not grow with the video's length. The
result, :class:`VideoRun`, is a handle on that store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.config import PipelineConfig
from imusynth.errors import InputError
from imusynth.video.camera import CameraIntrinsics, CameraMotionEstimator
from imusynth.video.decode import open_video
from imusynth.video.framestore import FrameStore
from imusynth.video.pose.detection import PoseDetection
from imusynth.video.pose.tracking import Track, Tracker

log = logging.getLogger(__name__)




#: The run's table ``"frames"`` in its frame store: one row per processed frame (~90 B).
FRAME_SCHEMA: dict[str, tuple[tuple[int, ...], type]] = {
    "time": ((), np.float64),
    "frame_index": ((), np.int64),
    "R_world_from_camera": ((3, 3), np.float64),
    "segment": ((), np.int64),
    "reliable": ((), np.bool_),
}


@dataclass
class RunFrames:
    """The run's per-frame records over processed frames ``start:start + F``.

    Attributes
    ----------
    start : int
        Position of the first of these frames among the run's processed frames.
    time : ndarray, shape (F,), s
        Times of the frames.
    frame_index : ndarray, shape (F,), int
        Decoder indices of the frames.
    R_world_from_camera : ndarray, shape (F, 3, 3)
        Camera orientation per frame (level at the start of each shot).
    segment : ndarray, shape (F,), int
        Shot number per frame.
    reliable : ndarray, shape (F,), bool
        The camera rotation was measured (see :class:`imusynth.video.camera.CameraStep`).
    """

    start: int
    time: NDArray[np.float64]
    frame_index: NDArray[np.int64]
    R_world_from_camera: NDArray[np.float64]
    segment: NDArray[np.int64]
    reliable: NDArray[np.bool_]


@dataclass
class VideoRun:
    """What one pass over a video produced: a handle on its frame store, plus a few scalars.

    The per-frame records (:meth:`frames`) and the tracks (:meth:`track`) stay in ``store`` (on disk in
    :func:`process_video`) and are read back a span or a track at a time; the store must stay open while
    they are read.

    Attributes
    ----------
    n_frames : int
        Number of processed frames.
    n_shots : int
        Number of shots (segments between shot cuts).
    store : FrameStore
        Holds the table ``"frames"`` (:data:`FRAME_SCHEMA`) and the tracker's tables.
    tracker : Tracker
        The tracker after the last frame (reads its tracks from ``store``).
    corrupt_frames : list of int
    timings : dict of str to float, s
    width, height : int, px
    K : ndarray, shape (3, 3), px
    fps : float, frames/s
    """

    n_frames: int
    n_shots: int
    store: FrameStore
    tracker: Tracker
    corrupt_frames: list[int]
    timings: dict[str, float]
    width: int
    height: int
    K: NDArray[np.float64]
    fps: float

    def frames(self, start: int = 0, stop: int | None = None) -> RunFrames:
        """The per-frame records of processed frames ``start:stop`` (default: all)."""
        a = self.store.read("frames", start, stop)
        return RunFrames(start=int(start), time=a["time"], frame_index=a["frame_index"],
                         R_world_from_camera=a["R_world_from_camera"], segment=a["segment"],
                         reliable=a["reliable"])

    def positions(self, frame_index: ArrayLike) -> NDArray[np.int64]:
        """Positions among the processed frames of the frames with decoder indices ``frame_index``.

        Reads the run's frame indices one stored chunk at a time (memory independent of the length).

        Raises
        ------
        KeyError
            An index is not one of the run's processed frames.
        """
        fi = np.asarray(frame_index, dtype=np.int64).ravel()
        order = np.argsort(fi, kind="stable")
        sorted_fi = fi[order]
        pos = np.full(fi.shape, -1, dtype=np.int64)
        for r0, chunk in self.store.iter_chunks("frames", fields=["frame_index"]):
            c = chunk["frame_index"]               # increasing: decoder ordinals of processed frames
            lo = int(np.searchsorted(sorted_fi, c[0], side="left"))
            hi = int(np.searchsorted(sorted_fi, c[-1], side="right"))
            if lo == hi:
                continue
            j = np.searchsorted(c, sorted_fi[lo:hi])
            hit = c[np.minimum(j, len(c) - 1)] == sorted_fi[lo:hi]
            pos[order[lo:hi][hit]] = r0 + j[hit]
        if (pos < 0).any():
            raise KeyError(f"frame {int(fi[pos < 0][0])} is not among the run's processed frames")
        return pos.reshape(np.shape(frame_index))

    @property
    def track_ids(self) -> list[int]:
        """Ids of the tracks of at least ``tracking.min_track_s``, ascending."""
        return self.tracker.track_ids()

    def track(self, track_id: int) -> Track:
        """One track, read back from the store."""
        return self.tracker.track(track_id)


def intrinsics_for(info: Any, fov_deg: float) -> CameraIntrinsics:
    """The video's intrinsics from its metadata when present, else from the field of view (deg).

    The default field of view applies to the image's **long** side, so a portrait phone video (the same
    camera held upright) gets the same focal length in pixels as the landscape one.
    """
    w, h = info.width, info.height
    half_fov = np.radians(fov_deg) / 2.0
    f = float(info.focal_px) if info.focal_px else (max(w, h) / 2.0) / float(np.tan(half_fov))
    return CameraIntrinsics(f, f, (w - 1) / 2.0, (h - 1) / 2.0, w, h)


class Detector(Protocol):
    """What the pipeline needs of a pose backend: a context manager with ``detect(image, time_s)``."""

    def __enter__(self) -> Detector: ...

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any: ...

    def detect(self, image_rgb: NDArray[np.uint8], time_s: float) -> list[PoseDetection]: ...


def mediapipe_detector(cfg: PipelineConfig) -> Detector:
    """The default pose backend: MediaPipe PoseLandmarker configured from ``[pose]``.

    With ``detect_every > 0`` (the default) it is an
    :class:`~imusynth.video.pose.adaptive.AdaptivePoseEstimator`: the people in view followed at their own
    cost, the person detector on the whole frame every ``detect_every`` frames, up to ``num_poses`` people;
    its ``push``/``flush`` (look-back over the frames since the last detector pass) is what
    :func:`run_stages` calls. With 0: one landmarker with ``num_poses`` (its detector runs on every frame
    while it follows fewer people).
    """
    from imusynth.video.pose.mediapipe_backend import PoseEstimator

    if cfg.pose.detect_every > 0:
        from imusynth.video.pose.adaptive import mediapipe_adaptive

        return mediapipe_adaptive(cfg.pose.model, max_poses=cfg.pose.num_poses,
                                  detect_every=cfg.pose.detect_every,
                                  min_detection_confidence=cfg.pose.min_detection_confidence,
                                  min_presence_confidence=cfg.pose.min_presence_confidence,
                                  min_tracking_confidence=cfg.pose.min_tracking_confidence)
    return PoseEstimator(cfg.pose.model, num_poses=cfg.pose.num_poses,
                         min_detection_confidence=cfg.pose.min_detection_confidence,
                         min_presence_confidence=cfg.pose.min_presence_confidence,
                         min_tracking_confidence=cfg.pose.min_tracking_confidence)


def run_stages(video: Path, cfg: PipelineConfig, *, progress: bool = False,
               detector_factory: Callable[[PipelineConfig], Detector] = mediapipe_detector,
               store: FrameStore | None = None) -> VideoRun:
    """One streaming pass: decode, detect, track and estimate the camera, frame by frame.

    ``detector_factory`` builds the pose backend (MediaPipe by default; tests pass synthetic detectors).
    Every frame's rows (its camera record, its people's landmarks) are appended to ``store`` (default: a
    store in memory; :func:`process_video` passes one that spills to a temporary file), which must stay
    open while the returned :class:`VideoRun` is used. Nothing else grows with the video's length.
    """
    from imusynth.video.decode import ReadAhead, iter_frames

    info = open_video(video)
    intr = intrinsics_for(info, cfg.lift.fov_deg)
    K = intr.K
    fps = info.fps_nominal
    store = store if store is not None else FrameStore(spill=False)
    store.create("frames", FRAME_SCHEMA)
    tracker = Tracker(min_duration_s=cfg.tracking.min_track_s,
                      max_missed=max(1, int(round(cfg.tracking.max_missed_s * fps))),
                      valid_threshold=cfg.pose.min_visibility, store=store)
    cam = CameraMotionEstimator(intr, static=cfg.camera.static, max_features=cfg.camera.max_features,
                                ransac_threshold_px=cfg.camera.ransac_threshold_px,
                                shot_cut_threshold=cfg.camera.shot_cut_threshold)
    end = None if cfg.video.end_s < 0 else cfg.video.end_s
    # decoded on a thread of its own, one frame ahead: decoding overlaps the pose model's work
    reader = ReadAhead(iter_frames(video, start_s=cfg.video.start_s or None, end_s=end), depth=1)
    n_segments = 0
    timings = {"decode": 0.0, "pose": 0.0, "track": 0.0, "camera": 0.0}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=info.n_frames_estimate, unit="frame", desc=video.name, dynamic_ncols=True)
    def camera_step(time_s: float, image: NDArray[np.uint8], boxes: NDArray[np.float64]) -> Any:
        t_cam = time.perf_counter()
        step = cam.update(time_s, image, boxes if len(boxes) else None)
        timings["camera"] += time.perf_counter() - t_cam
        return step

    def record(time_s: float, index: int, result: Future[Any]) -> None:
        nonlocal n_segments
        step = result.result()
        store.append("frames", {"time": time_s, "frame_index": index,
                                "R_world_from_camera": step.R_world_from_camera, "segment": step.segment,
                                "reliable": step.reliable})
        n_segments = max(n_segments, int(step.segment) + 1)

    # The camera stage of frame k runs on a second thread while the pose model works on frame k+1
    # (both release the GIL); results are collected in frame order, and only one frame is in flight.
    # A backend with ``push``/``flush`` (the adaptive one) returns frames a few frames late, in order.
    with reader, detector_factory(cfg) as estimator, ThreadPoolExecutor(max_workers=1) as pool:
        pending: tuple[float, int, Future[Any]] | None = None
        push = getattr(estimator, "push", None)

        def after_pose(frame: Any, dets: list[PoseDetection]) -> None:
            nonlocal pending
            t2 = time.perf_counter()
            tracker.update(frame.time_s, dets, frame_index=frame.index)
            timings["track"] += time.perf_counter() - t2
            boxes = np.array([d.bbox for d in dets], dtype=np.float64).reshape(-1, 4)
            if pending is not None:
                record(*pending)
            pending = (frame.time_s, frame.index, pool.submit(camera_step, frame.time_s, frame.image, boxes))
            if bar is not None:
                bar.update(1)

        t0 = time.perf_counter()
        for frame in reader:
            t1 = time.perf_counter()
            timings["decode"] += t1 - t0
            ready = (push(frame.image, frame.time_s, frame) if push is not None
                     else [(frame, estimator.detect(frame.image, frame.time_s))])
            timings["pose"] += time.perf_counter() - t1
            for done, dets in ready:
                after_pose(done, dets)
            t0 = time.perf_counter()
        if push is not None:
            for done, dets in getattr(estimator, "flush")():  # noqa: B009 (not in the Detector protocol)
                after_pose(done, dets)
        if pending is not None:
            record(*pending)
    from imusynth.video.pose.mediapipe_backend import release_free_memory

    release_free_memory()               # the closed landmarkers' memory back to the system (glibc)
    if bar is not None:
        bar.close()
    n_frames = store.n_rows("frames")
    if not n_frames:
        raise InputError(f"{video}: no frame could be decoded in the requested span")
    store.seal("frames")
    return VideoRun(
        n_frames=n_frames, n_shots=n_segments, store=store, tracker=tracker,
        corrupt_frames=list(reader.reader.corrupt_indices), timings=timings, width=info.width,
        height=info.height,
        K=K, fps=fps,
    )
