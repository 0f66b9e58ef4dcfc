"""MediaPipe PoseLandmarker (Tasks API, VIDEO or IMAGE running mode) as a frame-by-frame pose estimator."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imusynth.errors import InputError, ModelNotFoundError
from imusynth.video.pose.detection import N_LANDMARKS, PoseDetection
from imusynth.video.pose.models import resolve_model

__all__ = ["MALLOC_ARENAS", "PoseEstimator", "limit_malloc_arenas", "release_free_memory"]

log = logging.getLogger(__name__)


#: glibc ``mallopt`` parameter number of ``M_ARENA_MAX`` (malloc.h).
_M_ARENA_MAX = -8
#: Malloc arenas :func:`limit_malloc_arenas` allows (glibc's default: 8 per core).
MALLOC_ARENAS = 2
_arenas_limited = False


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Limit glibc's malloc to ``arenas`` arenas for the rest of the process (once; glibc Linux only).

    MediaPipe builds each landmarker's models on its own threads (graph executor, XNNPack workers), and
    glibc gives every thread that allocates its own arena, up to 8 per core; each holds its freed memory.
    With 2 arenas the video job's peak resident memory is ~12 MiB lower (``docs/benchmarks.md``, issue
    14), at no measurable CPU cost. Called before the first landmarker is built. Does nothing when the
    user set ``MALLOC_ARENA_MAX`` (theirs wins), when ``IMUSYNTH_MALLOC_TUNING=0``, or when the C
    library is not glibc (musl, macOS, Windows).

    Returns
    -------
    bool
        Whether the limit was set by this call.
    """
    global _arenas_limited
    if _arenas_limited or "MALLOC_ARENA_MAX" in os.environ or os.environ.get("IMUSYNTH_MALLOC_TUNING") == "0":
        return False
    _arenas_limited = True
    mallopt = _glibc_function("mallopt")
    return mallopt is not None and bool(mallopt(_M_ARENA_MAX, int(arenas)))


def release_free_memory() -> bool:
    """Give the C heap's free memory back to the system (glibc ``malloc_trim(0)``; False elsewhere).

    Called by :func:`imusynth.video.stream.run_stages` once its landmarkers are closed: with the arenas
    limited, the memory they held stays in the arenas (~90 MiB after the pose stage with full) until
    trimmed, and post-processing starts from there. Takes ~1 ms; honours ``IMUSYNTH_MALLOC_TUNING=0``.
    """
    if os.environ.get("IMUSYNTH_MALLOC_TUNING") == "0":
        return False
    malloc_trim = _glibc_function("malloc_trim")
    if malloc_trim is None:
        return False
    malloc_trim(0)
    return True


def _glibc_function(name: str) -> Any | None:
    """The C function ``name`` of this process's C library when that library is glibc, else None."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version"):
        return None
    return getattr(libc, name, None)


def _check_unit(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and 0.0 <= float(value) <= 1.0):
        raise InputError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


class PoseEstimator:
    """Detect up to ``num_poses`` people per frame with MediaPipe PoseLandmarker.

    The landmarker runs in VIDEO mode: it reuses the previous frame's poses to place its
    regions of interest, so frames must come in time order from one video. Use one estimator
    per video (and per worker process); it is a context manager that frees the model on exit.

    Parameters
    ----------
    model : str or path-like, default "lite"
        ``"lite"``, ``"full"``, ``"heavy"`` or the path of a ``.task`` bundle; resolved with
        :func:`imusynth.video.pose.models.resolve_model` (environment folder, cache, download).
    num_poses : int, default 4
        Most people detected per frame.
    min_detection_confidence : float, default 0.5, in [0, 1]
        Score a person detection needs to start a pose.
    min_presence_confidence : float, default 0.5, in [0, 1]
        Presence score a pose needs to be reported.
    min_tracking_confidence : float, default 0.5, in [0, 1]
        Score under which the landmarker stops following a pose and runs its detector again.
    running_mode : {"video", "image"}, default "video"
        ``"video"``: poses are followed from frame to frame; the person detector runs only while fewer
        than ``num_poses`` poses are followed. ``"image"``: every frame is independent (the detector
        runs on each one); used by :mod:`imusynth.video.pose.adaptive` to look for newcomers.

    Attributes
    ----------
    model_path : Path
        The bundle in use.
    n_timestamp_adjustments : int
        Frames whose millisecond timestamp was bumped to keep them strictly increasing.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = "lite",
        *,
        num_poses: int = 4,
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        running_mode: str = "video",
    ) -> None:
        if isinstance(num_poses, bool) or not isinstance(num_poses, int) or num_poses < 1:
            raise InputError(f"num_poses must be an integer >= 1, got {num_poses!r}")
        det = _check_unit("min_detection_confidence", min_detection_confidence)
        pres = _check_unit("min_presence_confidence", min_presence_confidence)
        trk = _check_unit("min_tracking_confidence", min_tracking_confidence)
        if running_mode not in ("video", "image"):
            raise InputError(f"running_mode must be 'video' or 'image', got {running_mode!r}")
        self.running_mode = running_mode
        self.model_path: Path = resolve_model(model)
        self.num_poses = num_poses
        self.n_timestamp_adjustments = 0
        self._last_ms: int | None = None
        self._last_time_s: float | None = None

        limit_malloc_arenas()
        import mediapipe as mp  # deferred: heavy import, only needed when estimating
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp: Any = mp
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=vision.RunningMode.VIDEO if running_mode == "video" else vision.RunningMode.IMAGE,
            num_poses=num_poses,
            min_pose_detection_confidence=det,
            min_pose_presence_confidence=pres,
            min_tracking_confidence=trk,
            output_segmentation_masks=False,
        )
        try:
            self._landmarker: Any = vision.PoseLandmarker.create_from_options(options)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelNotFoundError(f"cannot load pose model {self.model_path}: {exc}") from exc

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Free the model (idempotent)."""
        landmarker = getattr(self, "_landmarker", None)
        if landmarker is not None:
            landmarker.close()
            self._landmarker = None

    def _timestamp_ms(self, time_s: float) -> int:
        """Strictly increasing integer milliseconds for MediaPipe (VFR duplicates bumped by 1 ms)."""
        if not math.isfinite(time_s):
            raise InputError(f"frame time must be finite, got {time_s!r}")
        ms = int(round(time_s * 1000.0))
        if self._last_ms is not None and ms <= self._last_ms:
            ms = self._last_ms + 1
            self.n_timestamp_adjustments += 1
        self._last_ms = ms
        return ms

    def detect(self, image_rgb: NDArray[np.uint8], time_s: float) -> list[PoseDetection]:
        """Poses in one frame.

        Parameters
        ----------
        image_rgb : ndarray, shape (H, W, 3), uint8
            Upright RGB frame (as :func:`imusynth.video.decode.iter_frames` yields).
        time_s : float, s
            The frame's time; must not decrease between calls. Times that round to the same
            millisecond are passed on as the previous millisecond + 1 (MediaPipe needs strictly
            increasing timestamps).

        Returns
        -------
        list of PoseDetection
            Zero to ``num_poses`` poses, in the landmarker's order (not an identity; see
            :mod:`imusynth.video.pose.tracking`).
        """
        if self._landmarker is None:
            raise RuntimeError("PoseEstimator is closed")
        img = np.asarray(image_rgb)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise InputError(f"image must be an (H, W, 3) uint8 RGB array, got {img.shape} {img.dtype}")
        if self._last_time_s is not None and time_s < self._last_time_s:
            raise InputError(f"frame times must not go backwards: {time_s} s after {self._last_time_s} s")
        ms = self._timestamp_ms(time_s)
        self._last_time_s = float(time_s)
        h, w = img.shape[:2]
        mp_image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(img))
        if self.running_mode == "video":
            result = self._landmarker.detect_for_video(mp_image, ms)
        else:
            result = self._landmarker.detect(mp_image)
        out: list[PoseDetection] = []
        worlds = result.pose_world_landmarks or []
        for k, lms in enumerate(result.pose_landmarks or []):
            if len(lms) != N_LANDMARKS:
                log.warning("pose with %d landmarks ignored (expected %d)", len(lms), N_LANDMARKS)
                continue
            arr = np.array(
                [(lm.x, lm.y, lm.z, _prob(lm.visibility), _prob(lm.presence)) for lm in lms],
                dtype=np.float64,
            )
            world = (
                np.array([(p.x, p.y, p.z) for p in worlds[k]], dtype=np.float64)
                if k < len(worlds) and len(worlds[k]) == N_LANDMARKS
                else None
            )
            out.append(
                PoseDetection.from_arrays(
                    arr[:, :2] * np.array([w, h]),
                    image_z=arr[:, 2] * w,
                    visibility=arr[:, 3],
                    presence=arr[:, 4],
                    world_xyz=world,
                )
            )
        return out


def _prob(value: float | None) -> float:
    """A landmark score, 0 when the model gives none."""
    return 0.0 if value is None else float(value)
