"""Stage 2: pose estimation and tracking.

- :mod:`.models`: find or download MediaPipe PoseLandmarker bundles.
- :mod:`.detection`: :class:`PoseDetection`, one person's 33 landmarks in one frame.
- :mod:`.mediapipe_backend`: :class:`PoseEstimator`, MediaPipe in VIDEO mode (imports MediaPipe
  lazily, on first use).
- :mod:`.tracking`: :class:`Tracker` (frame-by-frame association into tracks),
  :func:`select_main_track`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imusynth.video.pose.detection import N_LANDMARKS, PoseDetection
from imusynth.video.pose.models import resolve_model
from imusynth.video.pose.tracking import Track, Tracker, select_main_track, track_score

if TYPE_CHECKING:
    from imusynth.video.pose.mediapipe_backend import PoseEstimator

__all__ = [
    "N_LANDMARKS",
    "PoseDetection",
    "PoseEstimator",
    "Track",
    "Tracker",
    "resolve_model",
    "select_main_track",
    "track_score",
]


def __getattr__(name: str) -> Any:
    if name == "PoseEstimator":
        from imusynth.video.pose.mediapipe_backend import PoseEstimator

        return PoseEstimator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
