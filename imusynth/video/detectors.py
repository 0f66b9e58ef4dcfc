"""Pose backends built on another one: record and replay detections, horizontal-flip test-time averaging.

Each is a *detector factory* (``PipelineConfig -> Detector``), the form that
:func:`imusynth.video.stream.run_stages` and :func:`imusynth.video.job.process_video` take:

* :func:`recording_detector` / :func:`replay_detector`: run the pose model once and replay its detections
  (frame by frame, keyed by the frame's time) to run the later stages again with other settings, e.g. other
  lifters on the same video (``tests/test_video_views.py``, ``benchmarks/eval_video_real.py``);
* :func:`flip_averaged_detector`: each frame also goes through a second pose model mirrored left-right; its
  detections are mirrored back (x, and the left/right labels) and the world landmarks of the two are
  averaged (``docs/lifting.md``, "Flip averaging").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imusynth.config import PipelineConfig
from imusynth.core.skeletons import MEDIAPIPE_33
from imusynth.video.pose.cleaning import LIMB_GROUPS, apply_swaps
from imusynth.video.pose.detection import PoseDetection, box_iou
from imusynth.video.stream import Detector, mediapipe_detector

__all__ = ["MIRROR", "flip_averaged_detector", "mirror_detection", "recording_detector", "replay_detector"]

DetectorFactory = Callable[[PipelineConfig], Detector]


def _mirror_name(n: str) -> str:
    for a, b in (("left", "right"), ("right", "left")):
        if n.startswith(a + "_"):
            return b + n[len(a):]
        if n.endswith("_" + a):
            return n[: -len(a)] + b
    return n


#: For each MediaPipe landmark, the index of its mirror image (left <-> right; the nose is its own).
MIRROR: tuple[int, ...] = tuple(MEDIAPIPE_33.index(_mirror_name(n)) for n in MEDIAPIPE_33)


class _Recording:
    def __init__(self, inner: Detector, sink: dict[float, list[PoseDetection]]) -> None:
        self.inner, self.sink = inner, sink

    def __enter__(self) -> Any:
        entered = self.inner.__enter__()
        self.inner = entered if entered is not None else self.inner
        # a backend that returns frames late (push/flush: the adaptive one) is recorded the same way
        return _RecordingPush(self.inner, self.sink) if hasattr(self.inner, "push") else self

    def __exit__(self, *exc: Any) -> Any:
        return self.inner.__exit__(*exc)

    def detect(self, image_rgb: NDArray[np.uint8], time_s: float) -> list[PoseDetection]:
        dets = self.inner.detect(image_rgb, time_s)
        self.sink[float(time_s)] = list(dets)
        return dets


class _RecordingPush(_Recording):
    """Recording of a backend with ``push(image, time_s, key)`` / ``flush()`` (frames returned late)."""

    def __enter__(self) -> Any:
        return self

    def _record(self, done: list[tuple[Any, list[PoseDetection]]]) -> list[tuple[Any, list[PoseDetection]]]:
        out = []
        for (time_s, key), dets in done:
            self.sink[float(time_s)] = list(dets)
            out.append((key, dets))
        return out

    def push(self, image_rgb: NDArray[np.uint8], time_s: float, key: Any = None
             ) -> list[tuple[Any, list[PoseDetection]]]:
        return self._record(self.inner.push(image_rgb, time_s, (time_s, key)))  # type: ignore[attr-defined]

    def flush(self) -> list[tuple[Any, list[PoseDetection]]]:
        return self._record(self.inner.flush())  # type: ignore[attr-defined]


class _Replay:
    def __init__(self, recorded: dict[float, list[PoseDetection]]) -> None:
        self.recorded = recorded

    def __enter__(self) -> _Replay:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def detect(self, image_rgb: NDArray[np.uint8], time_s: float) -> list[PoseDetection]:
        try:
            return list(self.recorded[float(time_s)])
        except KeyError:
            raise KeyError(f"no recorded detections at t = {time_s} s (a different video or span?)") from None


def recording_detector(sink: dict[float, list[PoseDetection]],
                       factory: DetectorFactory = mediapipe_detector) -> DetectorFactory:
    """A factory whose detector runs ``factory``'s, storing each frame's detections in ``sink`` (by time).

    A backend that returns frames late (``push``/``flush``, the adaptive one) keeps doing so: the recording
    is of exactly what the pipeline receives.
    """
    return lambda cfg: _Recording(factory(cfg), sink)


def replay_detector(recorded: dict[float, list[PoseDetection]]) -> DetectorFactory:
    """A factory whose detector returns the detections :func:`recording_detector` stored for each frame time.

    The same video and span must be decoded again (frame times are the keys); a missing time raises KeyError.
    """
    return lambda cfg: _Replay(recorded)


def mirror_detection(det: PoseDetection, width: int) -> PoseDetection:
    """A detection made on the left-right mirrored frame, expressed in the original frame.

    Image x becomes ``width - x`` (pixel-corner convention), world x becomes ``-x``, and every left/right
    landmark takes its partner's label (:data:`MIRROR`).
    """
    m = list(MIRROR)
    xy = det.image_xy[m].copy()
    xy[:, 0] = width - xy[:, 0]
    world = det.world_xyz[m].copy()
    world[:, 0] = -world[:, 0]
    return PoseDetection.from_arrays(xy, image_z=det.image_z[m], visibility=det.visibility[m],
                                     presence=det.presence[m], world_xyz=world)


def _match_labels(det: PoseDetection, other: PoseDetection) -> NDArray[np.float32]:
    """``other``'s world landmarks with its left/right labels matched to ``det``'s, group by group.

    The two passes may label a limb group (:data:`imusynth.video.pose.cleaning.LIMB_GROUPS`: torso, legs,
    arms) differently (e.g. the legs of a person seen from the side); each group of ``other`` takes the
    labelling whose image landmarks lie closer to ``det``'s.
    """
    swaps = np.zeros((1, len(LIMB_GROUPS)), dtype=bool)
    a, b = det.image_xy.astype(np.float64), other.image_xy.astype(np.float64)
    for g, pairs in enumerate(LIMB_GROUPS):
        left = [i for i, _ in pairs]
        right = [j for _, j in pairs]
        def dist(p: list[int], q: list[int]) -> float:
            return float(np.linalg.norm(a[p] - b[q], axis=1).sum())

        swaps[0, g] = dist(left, right) + dist(right, left) < dist(left, left) + dist(right, right)
    return apply_swaps(other.world_xyz[None], swaps)[0]


class _FlipAveraged:
    def __init__(self, plain: Detector, flipped: Detector, *, min_iou: float) -> None:
        self.plain, self.flipped, self.min_iou = plain, flipped, min_iou

    def __enter__(self) -> _FlipAveraged:
        self.plain.__enter__()
        self.flipped.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        self.flipped.__exit__(*exc)
        return self.plain.__exit__(*exc)

    def detect(self, image_rgb: NDArray[np.uint8], time_s: float) -> list[PoseDetection]:
        dets = self.plain.detect(image_rgb, time_s)
        width = image_rgb.shape[1]
        back = [mirror_detection(d, width)
                for d in self.flipped.detect(np.ascontiguousarray(image_rgb[:, ::-1]), time_s)]
        out, used = [], set()
        for d in dets:
            scores = [(box_iou(d.bbox, b.bbox), k) for k, b in enumerate(back) if k not in used]
            best = max(scores, default=(0.0, -1))
            if best[0] < self.min_iou:
                out.append(d)
                continue
            used.add(best[1])
            other = _match_labels(d, back[best[1]])
            world = 0.5 * (d.world_xyz.astype(np.float64) + other.astype(np.float64))
            out.append(PoseDetection.from_arrays(d.image_xy, image_z=d.image_z, visibility=d.visibility,
                                                 presence=d.presence, world_xyz=world))
        return out


def flip_averaged_detector(factory: DetectorFactory = mediapipe_detector, *, min_iou: float = 0.5
                           ) -> DetectorFactory:
    """Horizontal-flip test-time averaging of the world landmarks (twice the pose model's cost).

    Two detectors from ``factory`` (each keeps its own tracking state): one sees the frame, the other the
    frame mirrored left-right. Each detection of the first is paired with the mirrored-back detection of
    the second whose box overlaps it most (IoU at least ``min_iou``); its world landmarks become the mean of
    the two, each left/right group of the second first labelled as its image landmarks match the first's
    (the two passes may disagree on the legs of a person seen from the side). Image landmarks, visibilities
    and boxes stay those of the unmirrored frame; an unpaired detection is kept as it is. Both passes run
    frame by frame (``detect``: the adaptive backend without its look-back).
    """
    return lambda cfg: _FlipAveraged(factory(cfg), factory(cfg), min_iou=min_iou)
