"""Person detection that costs what the scene needs: follow the people seen, look for newcomers on a schedule.

MediaPipe's PoseLandmarker (VIDEO mode) runs its person detector on every frame for as long as it follows
fewer than ``num_poses`` people. With the usual ``num_poses = 4`` and one person in view, that is every
frame (about 1.7 times the cost of following one person). :class:`AdaptivePoseEstimator` instead runs

* a *runner*: a VIDEO-mode landmarker whose ``num_poses`` is the number of people currently seen (at
  least 1), so its detector runs only while it has lost someone (then it is MediaPipe's own behaviour);
* a *probe* every ``detect_every`` frames: an IMAGE-mode landmarker (detector on the whole frame) with
  ``max_poses`` and lower scores (:data:`PROBE_CONFIDENCE`), built by :func:`mediapipe_adaptive` with the
  lite bundle (:func:`probe_model`) and shown every :data:`PROBE_STEP`-th pixel of the frame (its detector
  sees 224 x 224 anyway; a strided view, copied at a quarter of the size for MediaPipe). A probe pose that
  overlaps no pose of the frame is a newcomer: a new runner with one more pose per newcomer is started and
  **replayed over the frames since the previous probe** with the usual scores; the estimator still holds
  those frames (its output lags ``detect_every - 1`` frames behind its input), so the newcomer's
  detections are recovered from the frame a landmarker with room for them finds them, as a run with the
  detector in every frame would;
* on a frame where a runner *loses a pose* (a pose of the previous frame's output that no runner gives
  now), the probe looks for it **in a crop around where it was** (:func:`_crop_box`: a square of
  :data:`REDETECT_CROP` times its box, clipped to the frame) and its pose there that continues the lost
  one (:func:`_same`: another skeleton of them would make a jump) is added; the next frame does the same
  while the pose is found this way. A landmarker with room for more people keeps a person near the view's
  edge a few frames longer than one that follows only them (``demo4_walking``: 3 frames), and the person
  detector, which sees the whole frame shrunk to 224 x 224, no longer finds a person half out of view; in
  the crop it sees them 2-3 times larger. When the lost pose is partly out of view, a runner that follows
  nobody is also shown that frame again cropped around the pose found, and then sees only that crop while
  it follows the person there (MediaPipe's tracking, from the landmarks of the frame before): its pose is
  output where the probe no longer finds them (``demo4_walking`` with full: frame 343, where no detector
  finds the walker in any crop), with no landmarker built for it;
* a *shrink*: a runner that followed fewer people than its ``num_poses`` for :data:`SHRINK_AFTER` probe
  intervals in a row (someone left) is replaced by one with as many poses as it followed;

and each frame's output is the union of the runners' poses (two runners overlap only while one replaces
the other: the older one is closed as soon as the newer one covers every pose it gives).

Promise: a person whom the probe finds in a probe frame is output from the first frame (at most
``detect_every - 1`` frames earlier) in which a landmarker started then finds them; a person lost for
longer is looked for again at every probe. :meth:`detect` (no look-back,
for wrappers that need one result per call) picks newcomers up at most ``detect_every - 1`` frames late.

The scheduling works with any backend (``factory(num_poses, running_mode)``); the tests use a synthetic
scene (``tests/test_adaptive_detection.py``), :func:`mediapipe_adaptive` builds MediaPipe's.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from imusynth.errors import InputError
from imusynth.video.pose.detection import PoseDetection, box_intersection

__all__ = ["AdaptivePoseEstimator", "Backend", "BackendFactory", "mediapipe_adaptive", "probe_model"]


class Backend(Protocol):
    """One landmarker: ``detect(image, time_s)`` (time order in VIDEO mode) and ``close()``."""

    def detect(self, image_rgb: NDArray[np.uint8], time_s: float) -> list[PoseDetection]: ...

    def close(self) -> None: ...


#: ``factory(num_poses, mode)``: mode ``"video"`` (a runner: VIDEO mode) or ``"probe"`` (IMAGE mode with
#: the scores lowered to :data:`PROBE_CONFIDENCE`: looks for newcomers, and for a pose a runner lost).
BackendFactory = Callable[[int, str], Backend]

#: Two poses from different landmarkers are one person when their boxes overlap by this IoU, or when
#: at least :data:`SAME_FRACTION` of their landmarks lie within :data:`SAME_DISTANCE` body size.
SAME_IOU = 0.5
SAME_FRACTION = 0.5
SAME_DISTANCE = 0.1
#: Detection and presence score of the probe: lower than a runner's (0.5), so that a person whom the
#: detector finds only now and then is seen at a probe; the runner started then keeps the usual scores.
PROBE_CONFIDENCE = 0.2
#: A probe pose is a newcomer when its IoU with every pose of the frame is below this, and less than
#: :data:`NEW_MAX_INSIDE` of its box lies inside any one of them (a phantom across two people is not).
NEW_MAX_IOU = 0.3
NEW_MAX_INSIDE = 0.5
#: A runner that followed fewer people than its ``num_poses`` for this many probe intervals in a row is
#: replaced by a smaller one (until then it runs its detector on every frame, as MediaPipe does).
SHRINK_AFTER = 4
#: The probe for newcomers sees every ``probe_step``-th pixel of the frame (its person detector sees the
#: frame shrunk to 224 x 224 anyway; its poses only decide who is new, the replayed runner gives the
#: output), when the subsampled frame's shorter side is still at least this (px).
PROBE_STEP = 2
PROBE_MIN_SIDE = 256
#: Side of the square the probe looks in for a lost pose, in units of the pose's larger box side.
REDETECT_CROP = 2.0
#: Seconds after a frame's time at which a runner is shown the crop it is to follow a person in (the same
#: frame a second time: MediaPipe's VIDEO mode needs increasing times), and the black image that makes a
#: runner leaving a crop let go of the person it held there (its next frame starts from its detector).
SEED_DT = 1e-3
_BLANK = np.zeros((64, 64, 3), np.uint8)


def _box_overlap(a: NDArray[np.floating], b: NDArray[np.floating]) -> tuple[float, float]:
    """(IoU of boxes ``a`` and ``b``, share of ``a``'s area inside ``b``); boxes (x0, y0, x1, y1)."""
    inter = box_intersection(a, b)
    area_a = max(float((a[2] - a[0]) * (a[3] - a[1])), 1e-9)
    area_b = max(float((b[2] - b[0]) * (b[3] - b[1])), 1e-9)
    return inter / (area_a + area_b - inter), inter / area_a


def _same(a: PoseDetection, b: PoseDetection) -> bool:
    if _box_overlap(a.bbox, b.bbox)[0] >= SAME_IOU:
        return True
    dist = np.linalg.norm(a.image_xy - b.image_xy, axis=1)
    return float(np.mean(dist < SAME_DISTANCE * min(a.size, b.size))) >= SAME_FRACTION


def _matches(det: PoseDetection, others: list[PoseDetection]) -> bool:
    return any(_same(det, o) for o in others)


def _is_new(det: PoseDetection, seen: list[PoseDetection]) -> bool:
    for o in seen:
        iou, inside = _box_overlap(det.bbox, o.bbox)
        if iou >= NEW_MAX_IOU or inside >= NEW_MAX_INSIDE or _same(det, o):
            return False
    return True


def _near(det: PoseDetection, others: list[PoseDetection]) -> bool:
    """``det`` is one of ``others`` or continues one (boxes overlapping by :data:`NEW_MAX_IOU`)."""
    return any(_same(det, o) or _box_overlap(det.bbox, o.bbox)[0] >= NEW_MAX_IOU for o in others)


def _crop_box(bbox: NDArray[np.floating], width: int, height: int, scale: float = REDETECT_CROP
              ) -> tuple[int, int, int, int]:
    """Pixel bounds ``(x0, y0, x1, y1)`` of the square of side ``scale`` times the larger side of ``bbox``
    (x0, y0, x1, y1, px) around its centre, clipped to a ``width`` x ``height`` frame (empty when the box
    lies outside it)."""
    cx, cy = 0.5 * (float(bbox[0]) + float(bbox[2])), 0.5 * (float(bbox[1]) + float(bbox[3]))
    half = 0.5 * scale * max(float(bbox[2] - bbox[0]), float(bbox[3] - bbox[1]), 1.0)
    x0, y0 = max(0, int(np.floor(cx - half))), max(0, int(np.floor(cy - half)))
    x1, y1 = min(width, int(np.ceil(cx + half))), min(height, int(np.ceil(cy + half)))
    return x0, y0, max(x0, x1), max(y0, y1)


def _shifted(det: PoseDetection, dx: float, dy: float) -> PoseDetection:
    """``det`` found in a crop whose top-left pixel is (dx, dy) of the frame, in frame pixels (the crop is
    not resized, so depth and world landmarks are unchanged)."""
    return PoseDetection.from_arrays(det.image_xy + np.array([dx, dy], np.float32), image_z=det.image_z,
                                     visibility=det.visibility, presence=det.presence,
                                     world_xyz=det.world_xyz)


def _scaled(det: PoseDetection, step: int) -> PoseDetection:
    """``det`` found in a frame subsampled by ``step`` (pixels ``0, step, 2 step...``), in frame pixels
    (from the top-left pixel corner: subsampled pixel centre ``j + 0.5`` is the frame's ``step j + 0.5``)."""
    return PoseDetection.from_arrays(det.image_xy * step - 0.5 * (step - 1), image_z=det.image_z * step,
                                     visibility=det.visibility, presence=det.presence,
                                     world_xyz=det.world_xyz)


def _partly_out(det: PoseDetection, width: int, height: int) -> bool:
    """Some of ``det``'s landmarks lie outside the ``width`` x ``height`` frame (a person leaving view)."""
    x0, y0, x1, y1 = (float(v) for v in det.bbox)
    return x0 < 0.0 or y0 < 0.0 or x1 > width or y1 > height


def _union(base: list[PoseDetection], extra: list[PoseDetection]) -> list[PoseDetection]:
    """``base`` plus the poses of ``extra`` that match none of ``base``."""
    return base + [d for d in extra if not _matches(d, base)]


@dataclass
class _Runner:
    backend: Backend
    num_poses: int
    shrink: bool = False                      # started to replace a runner that followed fewer people
    age: int = 0                              # frames processed
    counts: deque[int] = field(default_factory=deque)
    last: list[PoseDetection] = field(default_factory=list)
    window: tuple[int, int, int, int] | None = None   # following someone on a crop: frame px (x0, y0, x1, y1)


@dataclass
class _Held:
    key: Any
    image: NDArray[np.uint8]
    time_s: float
    dets: list[PoseDetection]


class AdaptivePoseEstimator:
    """Poses per frame at the cost of the people in view (see the module's description).

    Parameters
    ----------
    factory : callable ``(num_poses, running_mode) -> Backend``
        Builds a landmarker; ``running_mode`` is ``"video"`` (a runner) or ``"probe"`` (IMAGE mode, lower
        scores).
    max_poses : int, default 4
        Most people followed (the probe's ``num_poses``).
    detect_every : int, default 8, frames
        Frames between probes; also the look-back (the output lags ``detect_every - 1`` frames behind
        in :meth:`push`).

    Attributes
    ----------
    stats : dict of str to int
        ``frames``, ``runner_calls`` (landmarker calls of runners, replays included), ``probe_calls``,
        ``replayed`` (frames replayed), ``grown``, ``shrunk``, ``redetected`` (runners started for each
        reason),
        ``max_runners`` (most runners at once).
    """

    def __init__(self, factory: BackendFactory, *, max_poses: int = 4, detect_every: int = 8) -> None:
        for name, v in (("max_poses", max_poses), ("detect_every", detect_every)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"{name} must be an integer >= 1, got {v!r}")
        self.factory = factory
        self.max_poses = max_poses
        self.detect_every = detect_every
        self._runners: list[_Runner] = [_Runner(factory(1, "video"), 1)]
        self._probe: Backend | None = None
        self.probe_step = PROBE_STEP
        self._held: deque[_Held] = deque()
        self._previous: list[PoseDetection] = []  # the last frame's output
        self._since_probe: int | None = None     # frames processed since the last probe (None: none yet)
        self._shrink_after = SHRINK_AFTER * detect_every
        self._lag: int | None = None             # frames held back: detect_every - 1 (push) or 0 (detect)
        self.stats = {"frames": 0, "runner_calls": 0, "probe_calls": 0, "replayed": 0, "grown": 0,
                      "shrunk": 0, "redetected": 0, "cropped": 0, "crop_calls": 0, "kept_on_crop": 0,
                      "max_runners": 1}

    def __enter__(self) -> AdaptivePoseEstimator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close every landmarker (idempotent)."""
        for r in self._runners:
            r.backend.close()
        self._runners = []
        if self._probe is not None:
            self._probe.close()
            self._probe = None

    @property
    def lag_frames(self) -> int:
        """Frames :meth:`push` holds back before returning them: ``detect_every - 1``."""
        return self.detect_every - 1

    # ---------------------------------------------------------------------------------------------

    def push(self, image_rgb: NDArray[np.uint8], time_s: float, key: Any = None
             ) -> list[tuple[Any, list[PoseDetection]]]:
        """Take one frame; return ``(key, poses)`` of the frames that are final, oldest first.

        Frames come back in the order given, :attr:`lag_frames` behind (the rest on :meth:`flush`).
        ``image_rgb`` is kept (not copied) until its frame is returned and must not be modified.
        """
        if self._lag is None:
            self._lag = self.lag_frames
        elif self._lag != self.lag_frames:
            raise RuntimeError("push and detect cannot be mixed on one estimator")
        self._process(image_rgb, time_s, key)
        out = []
        while len(self._held) > self._lag:
            h = self._held.popleft()
            out.append((h.key, h.dets))
        return out

    def flush(self) -> list[tuple[Any, list[PoseDetection]]]:
        """The frames still held, oldest first."""
        out = [(h.key, h.dets) for h in self._held]
        self._held.clear()
        return out

    def detect(self, image_rgb: NDArray[np.uint8], time_s: float) -> list[PoseDetection]:
        """Poses of one frame, returned at once (no look-back: newcomers found up to ``detect_every - 1``
        frames late). Not to be mixed with :meth:`push`."""
        if self._lag is None:
            self._lag = 0
        elif self._lag != 0:
            raise RuntimeError("push and detect cannot be mixed on one estimator")
        self._process(image_rgb, time_s, None)
        return self._held.popleft().dets

    # ---------------------------------------------------------------------------------------------

    def _call(self, runner: _Runner, image: NDArray[np.uint8], time_s: float) -> list[PoseDetection]:
        """``runner`` on ``image`` (on its crop of it while it follows someone there), in frame px."""
        if runner.window is None:
            return runner.backend.detect(image, time_s)
        x0, y0, x1, y1 = runner.window
        self.stats["crop_calls"] += 1
        return [_shifted(d, x0, y0) for d in runner.backend.detect(image[y0:y1, x0:x1], time_s)]

    def _run(self, runner: _Runner, image: NDArray[np.uint8], time_s: float) -> list[PoseDetection]:
        dets = self._call(runner, image, time_s)
        self.stats["runner_calls"] += 1
        runner.age += 1
        runner.last = dets
        # a runner on a crop ran no detector on the rest of the frame: it counts as having had no room
        runner.counts.append(runner.num_poses if runner.window is not None else len(dets))
        while len(runner.counts) > self._shrink_after:
            runner.counts.popleft()
        return dets

    def _uncrop(self, runner: _Runner, time_s: float) -> None:
        """``runner`` back to whole frames; shown a black image first if it still holds a pose of the crop
        (whose place in the crop would be taken for a place in the frame)."""
        runner.window = None
        if runner.last:
            runner.backend.detect(_BLANK, time_s + SEED_DT)
            runner.last = []

    def _process(self, image: NDArray[np.uint8], time_s: float, key: Any) -> None:
        if not self._runners:
            raise RuntimeError("AdaptivePoseEstimator is closed")
        self.stats["frames"] += 1
        merged: list[PoseDetection] = []
        on_crop: list[PoseDetection] = []      # poses of runners on a crop: where the probe finds them not
        for r in self._runners:
            dets = self._run(r, image, time_s)
            if r.window is None:
                merged = _union(merged, dets)
            elif dets and all(_matches(d, self._previous) for d in dets):
                on_crop += dets
            else:
                self._uncrop(r, time_s)                    # lost on its crop (or another skeleton there)
        lost = [d for d in self._previous if not _near(d, merged)]
        if lost:
            merged = self._redetect(image, time_s, merged, lost, on_crop)
        self._held.append(_Held(key, image, float(time_s), merged))
        # since_probe counts the frames after the last probe that are held (this one included)
        self._since_probe = None if self._since_probe is None else self._since_probe + 1
        if self._since_probe is None or self._since_probe >= self.detect_every:
            self._look_for_newcomers(image, time_s)
        self._previous = self._held[-1].dets          # this frame's output (a replay may have added to it)
        self._retire()
        self._maybe_shrink()
        self.stats["max_runners"] = max(self.stats["max_runners"], len(self._runners))

    def _redetect(self, image: NDArray[np.uint8], time_s: float, merged: list[PoseDetection],
                  lost: list[PoseDetection], on_crop: list[PoseDetection]) -> list[PoseDetection]:
        """Poses of the previous frame that no runner gives in this one: the probe on a crop around each
        (:func:`_crop_box`); its pose there that continues the lost one (the same person by box IoU >=
        :data:`SAME_IOU` or landmarks, as MediaPipe's tracking asks of consecutive frames; of several, the
        one whose box overlaps it most) and that no runner gives is added. A runner with room runs its own
        detector from the next frame on; a pose added here is looked for in the same way in the next frame.

        A person partly out of view whom the probe finds so is also followed by a runner that follows
        nobody, on a crop around them (:meth:`_follow_on_crop`); where the probe no longer finds them, that
        runner's pose (``on_crop``) is added when it continues the lost one."""
        height, width = image.shape[:2]
        out = list(merged)
        for gone in lost:
            x0, y0, x1, y1 = _crop_box(gone.bbox, width, height)
            found = None
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                crop = [_shifted(d, x0, y0) for d in self._probe_detect(image[y0:y1, x0:x1], time_s)]
                crop = [d for d in crop if _same(d, gone) and not _matches(d, out)]
                found = max(crop, key=lambda d: _box_overlap(d.bbox, gone.bbox)[0]) if crop else None
            if found is not None:
                self.stats["redetected"] += 1
                if _partly_out(gone, width, height) and not _matches(gone, on_crop):
                    self._follow_on_crop(image, time_s, found)
            else:
                found = next((d for d in on_crop if _same(d, gone) and not _matches(d, out)), None)
                self.stats["kept_on_crop"] += found is not None
            if found is not None:
                out.append(found)
        return out

    def _follow_on_crop(self, image: NDArray[np.uint8], time_s: float, found: PoseDetection) -> None:
        """A runner that follows nobody is shown the frame again, cropped around ``found``
        (:func:`_crop_box`), and from then on sees only that crop for as long as it follows them there:
        MediaPipe's tracking keeps a person at the view's edge from the landmarks of the frame before,
        where no detector finds them (``demo4_walking`` with full: frame 343), and no other landmarker is
        needed. It goes back to whole frames unless its pose on the crop continues ``found``."""
        runner = next((r for r in self._runners if r.window is None and not r.last), None)
        if runner is None:
            return
        height, width = image.shape[:2]
        x0, y0, x1, y1 = _crop_box(found.bbox, width, height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        runner.window = (x0, y0, x1, y1)
        runner.last = self._call(runner, image, time_s + SEED_DT)
        if len(runner.last) == 1 and _same(runner.last[0], found):
            self.stats["cropped"] += 1
        else:
            self._uncrop(runner, time_s + SEED_DT)

    def _probe_detect(self, image: NDArray[np.uint8], time_s: float) -> list[PoseDetection]:
        if self._probe is None:
            self._probe = self.factory(self.max_poses, "probe")
        self.stats["probe_calls"] += 1
        return self._probe.detect(image, time_s)

    def _look_for_newcomers(self, image: NDArray[np.uint8], time_s: float) -> None:
        replay = len(self._held) if self._since_probe is None else min(self._since_probe, len(self._held))
        self._since_probe = 0
        step = self.probe_step
        if step > 1 and min(image.shape[:2]) >= step * PROBE_MIN_SIDE:
            probe = [_scaled(d, step) for d in self._probe_detect(image[::step, ::step], time_s)]
        else:
            probe = self._probe_detect(image, time_s)
        seen = self._held[-1].dets
        new = [d for d in probe if _is_new(d, seen)]
        if not new:
            return
        for r in self._runners:
            recent = list(r.counts)[-replay:]
            if len(recent) == replay and max(recent) + len(new) <= r.num_poses:
                # this runner had room for them in every frame since the last probe: it ran its detector
                # on each (as MediaPipe with num_poses = 4 would) and goes on doing so; nothing to replay
                return
        n = min(self.max_poses, len(seen) + len(new))
        runner = _Runner(self.factory(n, "video"), n)
        self.stats["grown"] += 1
        held = list(self._held)[-replay:]
        for h in held:
            h.dets = _union(h.dets, self._run(runner, h.image, h.time_s))
        self.stats["replayed"] += len(held) - 1
        self._runners.append(runner)

    def _retire(self) -> None:
        """Close older runners whose every pose of this frame the newest runner gives too."""
        if len(self._runners) < 2:
            return
        newest = self._runners[-1]
        keep = []
        for r in self._runners[:-1]:
            if all(_matches(d, newest.last) for d in r.last) and len(newest.last) >= len(r.last):
                r.backend.close()
            else:
                keep.append(r)
        if newest.shrink and keep and newest.age >= self.detect_every:
            # a smaller runner that has not made the one it replaces redundant: give up (try again later)
            newest.backend.close()
            for r in keep:
                r.counts.clear()
            self._runners = keep
            return
        self._runners = [*keep, newest]
        if len(self._runners) == 1:
            newest.shrink = False

    def _maybe_shrink(self) -> None:
        if len(self._runners) != 1:
            return
        r = self._runners[0]
        if r.num_poses > 1 and len(r.counts) >= self._shrink_after and max(r.counts) < r.num_poses:
            n = max(1, max(r.counts))
            self._runners.append(_Runner(self.factory(n, "video"), n, shrink=True))
            self.stats["shrunk"] += 1


#: Bundle the probe is built with when the runners use a variant: the person detector (the part the probe
#: is for) is the same network in the lite, full and heavy bundles, and lite's landmark network is the
#: smallest (a landmarker of the lite bundle: ~10 MiB less memory than full, and less CPU per probe).
PROBE_VARIANT = "lite"


def probe_model(model: str | os.PathLike[str]) -> Path:
    """The bundle the probe of :func:`mediapipe_adaptive` uses for runners of ``model``.

    :data:`PROBE_VARIANT` (found where :func:`~imusynth.video.pose.models.resolve_model` looks, without a
    download) when ``model`` is a variant name; otherwise, or when that bundle is not at hand, the runners'
    own bundle. Poses the probe re-detects after a loss (:meth:`AdaptivePoseEstimator._redetect`) carry
    this bundle's landmarks.
    """
    from imusynth.errors import ModelNotFoundError
    from imusynth.video.pose.models import VARIANTS, resolve_model

    if os.fspath(model) in VARIANTS:
        try:
            return resolve_model(PROBE_VARIANT, download=False)
        except ModelNotFoundError:
            pass
    return resolve_model(model)


def mediapipe_adaptive(model: str = "lite", *, max_poses: int = 4, detect_every: int = 8,
                       min_detection_confidence: float = 0.5, min_presence_confidence: float = 0.5,
                       min_tracking_confidence: float = 0.5) -> AdaptivePoseEstimator:
    """:class:`AdaptivePoseEstimator` over MediaPipe PoseLandmarkers of ``model`` (lite, full, heavy or a
    path) with the given thresholds in [0, 1]; the probe uses :func:`probe_model`."""
    from imusynth.video.pose.mediapipe_backend import PoseEstimator
    from imusynth.video.pose.models import resolve_model

    path = resolve_model(model)
    probe_path = probe_model(model)

    def factory(num_poses: int, running_mode: str) -> Backend:
        low = PROBE_CONFIDENCE if running_mode == "probe" else 1.0
        mode = "video" if running_mode == "video" else "image"
        return PoseEstimator(probe_path if running_mode == "probe" else path, num_poses=num_poses,
                             running_mode=mode,
                             min_detection_confidence=min(min_detection_confidence, low),
                             min_presence_confidence=min(min_presence_confidence, low),
                             min_tracking_confidence=min_tracking_confidence)

    return AdaptivePoseEstimator(factory, max_poses=max_poses, detect_every=detect_every)
