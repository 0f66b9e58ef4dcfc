"""Stage 4's streaming estimator: camera rotation from background optical flow, and shot cuts.

Algorithm (per frame, bounded memory: the previous working grey image, its features and histogram)
---------------------------------------------------------------------------------------------------
1. Grey image downscaled to ``work_width`` pixels (pyramid halving, then a linear resize), the
   intrinsics mapped exactly to the working image.
2. Background features: Shi-Tomasi corners outside the (dilated) person boxes or masks, tracked by
   pyramidal Lucas-Kanade with a forward-backward check, from where the last measured rotation
   moves them (1 pyramid level; the full pyramid when nothing is known or that fails); new corners
   are added when too few remain.
3. Rotation by RANSAC over minimal 2-point hypotheses on unit bearing vectors, scored by a truncated
   (MSAC) reprojection error in pixels, then refined by weighted Kabsch (SVD) on the inliers.
4. Shot cuts from the colour-histogram distance between consecutive frames together with the
   collapse of the tracked features; the accumulated rotation restarts at a cut.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.video.camera.geometry import R_WORLD_FROM_LEVEL_CAMERA, CameraError, CameraIntrinsics
from imusynth.video.camera.rotation import estimate_rotation
from imusynth.video.camera.trajectory import CameraStep

__all__ = ["CameraMotionEstimator"]

_LK_EPS = 0.01  # px: Lucas-Kanade stops refining a track once an update is smaller
_STILL_PX = 2.0  # working px: predicted motions below this are searched for from no motion


def _orthonormalise(R: NDArray[np.float64]) -> NDArray[np.float64]:
    U, _, Vt = np.linalg.svd(R)
    return U @ Vt


def _rotvec(R: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rotation vector (rad) of a rotation matrix by less than 180 deg, accurate for small angles.

    ``s = vee(R - R^T) / 2 = sin(angle) axis`` and ``trace(R) = 1 + 2 cos(angle)``, so
    ``angle = atan2(|s|, (trace - 1) / 2)`` with no loss of precision near zero (a frame-to-frame
    rotation is a few degrees at most; near 180 deg ``s`` vanishes and the axis is lost).
    """
    s = 0.5 * np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    sin = float(np.sqrt(s @ s))
    if sin < 1e-15:
        return s
    return s * (np.arctan2(sin, 0.5 * (R[0, 0] + R[1, 1] + R[2, 2] - 1.0)) / sin)


class CameraMotionEstimator:
    """Frame-by-frame camera rotation, shot cuts and accumulated orientation.

    Parameters
    ----------
    intrinsics : CameraIntrinsics
        Camera of the input frames (their size must match).
    max_features : int, default 150
        Background features kept per frame.
    ransac_threshold_px : float, default 1.0, px of the working image
        Reprojection error below which a feature is a rotation inlier.
    min_inliers : int, default 20
        Fewest inliers for a reliable step.
    shot_cut_threshold : float, default 0.5, in (0, 1]
        Colour-histogram Bhattacharyya distance that alone marks a cut; half of it marks a cut when
        the tracked features also collapse (see ``collapse_fraction``).
    collapse_fraction : float, default 0.2, in [0, 1)
        Features collapse when fewer than this fraction of the previous frame's features survive as
        inliers.
    min_inlier_fraction : float, default 0.3, in [0, 1]
        Fewest inliers, as a fraction of the tracked features, for a reliable step.
    work_width : int, default 480, px
        Width of the grey working image (the input is downscaled when wider).
    person_margin : float, default 0.15
        Person boxes are enlarged by this fraction of their width/height on every side; person masks
        are dilated by the same fraction of the square root of their area.
    min_distance_px : float, default 8, px of the working image
        Minimum spacing between detected corners.
    quality_level : float, default 0.001
        Shi-Tomasi quality relative to the strongest corner (low, so that a plain wall next to a
        high-contrast person still gets corners).
    redetect_fraction : float, default 0.7, in [0, 1]
        New corners are detected when fewer than ``redetect_fraction * max_features`` remain.
    fb_threshold_px : float or None, default 1.0, px of the working image
        Largest forward-backward tracking error kept; None skips the backward pass (about a third less
        CPU time, leaving mis-tracks to RANSAC).
    lk_window_px : int, default 15, px of the working image
        Lucas-Kanade window side.
    lk_levels : int, default 3
        Extra pyramid levels for Lucas-Kanade (3 follows ~50 working-image px, ~7 deg, per frame).
    lk_iterations : int, default 30
        Most Lucas-Kanade iterations per pyramid level (each stops earlier below 0.01 px of change).
    lk_predicted_levels : int or None, default 1
        Extra pyramid levels when the tracks start from predicted positions: after a reliable step the
        features are first looked for where the last measured rotation (constant angular velocity)
        moves them, which needs 1 level (~20 working-image px, ~2.5 deg, of error in the prediction)
        instead of ``lk_levels`` (half the Lucas-Kanade cost). When that gives no reliable step, the
        frame is tracked again from scratch with ``lk_levels`` (``retracked_frames`` counts these).
        None: always from scratch. (0 levels, tried in ``bench_camera_stage.py``: ~0.4 ms less per
        frame, but 50 % more rate noise on a still camera and 8 % more error under a 4 Hz shake.)
    lk_backward_levels : int or None, default None
        Extra pyramid levels of the backward (forward-backward check) pass of a predicted track, which
        starts from the forward end moved back by the predicted rotation. None: as many as the forward
        pass (0 cuts the check's cost further but rejects good tracks when the prediction is off by
        more than ~7 px: +8 % rate error under a 4 Hz shake in ``bench_camera_stage.py``).
    ransac_iterations : int, default 100
        Two-point hypotheses per frame.
    max_hold_frames : int, default 5
        Unreliable frames that repeat the last reliable relative rotation before falling back to identity.
    static : bool, default False
        Static camera (``--static-camera``): identity rotation every frame, no feature tracking;
        shot cuts come from the histogram distance alone.
    seed : int, default 0
        Seed of the RANSAC sampler (results are reproducible).
    """

    def __init__(
        self,
        intrinsics: CameraIntrinsics,
        *,
        max_features: int = 150,
        ransac_threshold_px: float = 1.0,
        min_inliers: int = 20,
        shot_cut_threshold: float = 0.5,
        collapse_fraction: float = 0.2,
        min_inlier_fraction: float = 0.3,
        work_width: int = 480,
        person_margin: float = 0.15,
        min_distance_px: float = 8.0,
        quality_level: float = 0.001,
        redetect_fraction: float = 0.7,
        fb_threshold_px: float | None = 1.0,
        lk_window_px: int = 15,
        lk_levels: int = 3,
        lk_iterations: int = 30,
        lk_predicted_levels: int | None = 1,
        lk_backward_levels: int | None = None,
        ransac_iterations: int = 100,
        max_hold_frames: int = 5,
        static: bool = False,
        seed: int = 0,
    ) -> None:
        if not isinstance(intrinsics, CameraIntrinsics):
            raise CameraError(f"intrinsics must be a CameraIntrinsics, got {type(intrinsics).__name__}")
        checks = {
            "max_features": max_features >= 3,
            "ransac_threshold_px": ransac_threshold_px > 0,
            "min_inliers": min_inliers >= 3,
            "shot_cut_threshold": 0 < shot_cut_threshold <= 1,
            "collapse_fraction": 0 <= collapse_fraction < 1,
            "min_inlier_fraction": 0 <= min_inlier_fraction <= 1,
            "work_width": work_width >= 64,
            "person_margin": person_margin >= 0,
            "min_distance_px": min_distance_px > 0,
            "quality_level": 0 < quality_level < 1,
            "redetect_fraction": 0 <= redetect_fraction <= 1,
            "fb_threshold_px": fb_threshold_px is None or fb_threshold_px > 0,
            "lk_iterations": lk_iterations >= 1,
            "lk_window_px": lk_window_px >= 5,
            "lk_levels": lk_levels >= 0,
            "lk_predicted_levels": lk_predicted_levels is None or 0 <= lk_predicted_levels <= lk_levels,
            "lk_backward_levels": lk_backward_levels is None or 0 <= lk_backward_levels <= lk_levels,
            "ransac_iterations": ransac_iterations >= 1,
            "max_hold_frames": max_hold_frames >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise CameraError(f"invalid camera-motion parameter(s): {', '.join(bad)}")
        self.intrinsics = intrinsics
        self.max_features = int(max_features)
        self.ransac_threshold_px = float(ransac_threshold_px)
        self.min_inliers = int(min_inliers)
        self.shot_cut_threshold = float(shot_cut_threshold)
        self.collapse_fraction = float(collapse_fraction)
        self.min_inlier_fraction = float(min_inlier_fraction)
        self.person_margin = float(person_margin)
        self.min_distance_px = float(min_distance_px)
        self.quality_level = float(quality_level)
        self.redetect_fraction = float(redetect_fraction)
        self.fb_threshold_px = None if fb_threshold_px is None else float(fb_threshold_px)
        self.lk_iterations = int(lk_iterations)
        self.lk_window_px = int(lk_window_px)
        self.lk_levels = int(lk_levels)
        self.lk_predicted_levels = None if lk_predicted_levels is None else int(lk_predicted_levels)
        self.lk_backward_levels = None if lk_backward_levels is None else int(lk_backward_levels)
        self.ransac_iterations = int(ransac_iterations)
        self.max_hold_frames = int(max_hold_frames)
        self.static = bool(static)
        self._rng = np.random.default_rng(seed)

        # working image: halve with pyrDown while at least twice too wide, then resize linearly
        w, h = intrinsics.width, intrinsics.height
        self._n_halvings = 0
        ax, bx, ay, by = 1.0, 0.0, 1.0, 0.0
        while w >= 2 * work_width:
            w, h = (w + 1) // 2, (h + 1) // 2
            ax, bx, ay, by = ax / 2, bx / 2, ay / 2, by / 2
            self._n_halvings += 1
        if w > work_width:
            new_w = int(work_width)
            new_h = max(int(round(h * new_w / w)), 8)
            sx, sy = new_w / w, new_h / h
            ax, bx = ax * sx, bx * sx + (sx - 1) / 2
            ay, by = ay * sy, by * sy + (sy - 1) / 2
            self._resize_to: tuple[int, int] | None = (new_w, new_h)
            w, h = new_w, new_h
        else:
            self._resize_to = None
        self._map = (ax, bx, ay, by)
        self.work_intrinsics = intrinsics.mapped(ax, bx, ay, by, w, h)
        self._K = self.work_intrinsics.K
        self._K_inv = np.linalg.inv(self._K)
        border = max(self.lk_window_px // 2, 4)
        self._base_mask = np.zeros((h, w), dtype=np.uint8)
        self._base_mask[border : h - border, border : w - border] = 255

        # state (bounded: one working image, its features, its histogram)
        self._prev_grey: NDArray[np.uint8] | None = None
        self._prev_hist: NDArray[np.float32] | None = None
        self._pts = np.empty((0, 2), dtype=np.float32)
        self._prev_time = -np.inf
        self._index = 0
        self._segment = 0
        self._R = R_WORLD_FROM_LEVEL_CAMERA.copy()
        self._last_good_rel = np.eye(3)
        self._hold = 0
        self._velocity_known = False  # True after a measured step: the next one can be predicted
        self.retracked_frames = 0

    # ----------------------------------------------------------------------------------------------

    @property
    def features(self) -> NDArray[np.float64]:
        """Current background features, shape (N, 2), in pixels of the input image."""
        ax, bx, ay, by = self._map
        pts = self._pts.astype(np.float64)
        return np.stack([(pts[:, 0] - bx) / ax, (pts[:, 1] - by) / ay], axis=1)

    def reset(self) -> None:
        """Forget the previous frame: the next frame starts a new shot at the level reference."""
        self._prev_grey = None
        self._prev_hist = None
        self._pts = np.empty((0, 2), dtype=np.float32)
        self._R = R_WORLD_FROM_LEVEL_CAMERA.copy()
        self._last_good_rel = np.eye(3)
        self._hold = 0
        self._velocity_known = False  # True after a measured step: the next one can be predicted

    def update(
        self,
        time_s: float,
        image: NDArray[np.uint8],
        persons: ArrayLike | Sequence[ArrayLike] | None = None,
    ) -> CameraStep:
        """Process the next frame.

        Parameters
        ----------
        time_s : float, s
            Timestamp, strictly increasing from frame to frame.
        image : ndarray, shape (H, W, 3) RGB or (H, W) grey, uint8
            The frame, of the size given by the intrinsics.
        persons : array_like or sequence, optional
            Regions to exclude from the background: boxes ``(4,)`` or ``(N, 4)`` as
            ``[x0, y0, x1, y1]`` in input pixels (rows with NaN are ignored), a mask ``(H, W)``
            (non-zero on people), or a list mixing both. They are enlarged by ``person_margin``.

        Returns
        -------
        CameraStep
        """
        grey, hist = self._prepare(image)
        t = float(time_s)
        if not np.isfinite(t) or t <= self._prev_time:
            raise CameraError(f"frame timestamps must be finite and strictly increasing, got {t} after "
                              f"{self._prev_time}")
        mask = self._person_mask(persons, image.shape[:2])

        if self._prev_grey is None or self._prev_hist is None:
            step = self._start_shot(t, grey, hist, mask, shot_cut=False, hist_distance=0.0)
        else:
            hist_distance = float(cv2.compareHist(self._prev_hist, hist, cv2.HISTCMP_BHATTACHARYYA))
            hist_distance = min(max(hist_distance, 0.0), 1.0)
            if self.static:
                if hist_distance >= self.shot_cut_threshold:
                    step = self._start_shot(t, grey, hist, mask, shot_cut=True, hist_distance=hist_distance)
                else:
                    step = self._advance(t, np.eye(3), 0, 0, True, hist_distance)
            else:
                step = self._track(t, grey, hist, mask, hist_distance)
        self._prev_grey = grey
        self._prev_hist = hist
        self._prev_time = t
        self._index += 1
        return step

    # ----------------------------------------------------------------------------------------------

    def _prepare(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
        img = np.asarray(image)
        iw, ih = self.intrinsics.width, self.intrinsics.height
        if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
            raise CameraError(f"frame must be a uint8 (H, W, 3) RGB or (H, W) grey image, got {img.dtype} "
                              f"{img.shape}")
        if img.shape[0] != ih or img.shape[1] != iw:
            raise CameraError(
                f"frame is {img.shape[1]}x{img.shape[0]} px but the intrinsics are for {iw}x{ih}"
            )
        # histogram from a strided thumbnail (~160 px wide): cheap, and enough samples per bin
        stride = max(iw // 160, 1)
        # every stride-th pixel (img[::stride, ::stride]; OpenCV's nearest resize gathers it 4x faster)
        thumb = cv2.resize(img, (-(-iw // stride), -(-ih // stride)), interpolation=cv2.INTER_NEAREST)
        if img.ndim == 3:
            hsv = cv2.cvtColor(thumb, cv2.COLOR_RGB2HSV)
            raw = cv2.calcHist([hsv], [0, 1, 2], None, [12, 4, 4], [0, 180, 0, 256, 0, 256])
            grey = img if self.static else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        else:
            raw = cv2.calcHist([thumb], [0], None, [32], [0, 256])
            grey = img
        hist = np.asarray(raw, dtype=np.float32)
        hist = hist / np.float32(max(float(hist.sum()), 1.0))
        if self.static:  # no tracking: the working image is never used
            return np.empty((0, 0), dtype=np.uint8), hist
        for _ in range(self._n_halvings):
            grey = cv2.pyrDown(grey)
        if self._resize_to is not None:
            grey = cv2.resize(grey, self._resize_to, interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(grey, dtype=np.uint8), hist

    def _person_mask(self, persons: object, input_shape: tuple[int, ...]) -> NDArray[np.uint8]:
        """Working-image mask: 255 where background features may be, 0 on people and at the border."""
        mask = self._base_mask.copy()
        if persons is None:
            return mask
        items: list[object] = [persons]
        if isinstance(persons, (list, tuple)):
            # a plain list of numbers is one box or a list of boxes; anything else is a list of regions
            try:
                as_array = np.asarray(persons, dtype=np.float64)
            except (TypeError, ValueError):
                as_array = None
            if as_array is None or as_array.ndim > 2 or as_array.shape[-1:] != (4,):
                items = list(persons)
        ax, bx, ay, by = self._map
        h, w = mask.shape
        for item in items:
            arr = np.asarray(item)
            if arr.ndim == 2 and arr.shape == tuple(input_shape[:2]) and arr.shape[1] != 4:
                person = (arr != 0).astype(np.uint8)
                area = float(person.sum())
                if area == 0:
                    continue
                small = cv2.resize(person, (w, h), interpolation=cv2.INTER_NEAREST)
                r = int(np.ceil(self.person_margin * np.sqrt(area) * ax)) + 1
                disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
                small = cv2.dilate(small, disk)
                mask[small > 0] = 0
                continue
            if arr.size == 0:
                continue
            if arr.ndim not in (1, 2) or arr.shape[-1] != 4 or not np.issubdtype(arr.dtype, np.number):
                raise CameraError(
                    f"person regions must be boxes (N, 4) [x0, y0, x1, y1] px or masks of shape "
                    f"{tuple(input_shape[:2])}, got an array of shape {arr.shape}"
                )
            # Python floats: a handful of NumPy scalar calls per box would cost more than the rest
            for x0, y0, x1, y1 in arr.reshape(-1, 4).astype(np.float64).tolist():
                if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
                    continue
                mx = self.person_margin * abs(x1 - x0)
                my = self.person_margin * abs(y1 - y0)
                c0 = math.floor((min(x0, x1) - mx) * ax + bx)
                c1 = math.ceil((max(x0, x1) + mx) * ax + bx) + 1
                r0 = math.floor((min(y0, y1) - my) * ay + by)
                r1 = math.ceil((max(y0, y1) + my) * ay + by) + 1
                mask[max(r0, 0) : max(min(r1, h), 0), max(c0, 0) : max(min(c1, w), 0)] = 0
        return mask

    def _detect(
        self, grey: NDArray[np.uint8], mask: NDArray[np.uint8], keep: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        """Add corners (away from ``keep``) until ``max_features``; returns all points (N, 2) float32."""
        wanted = self.max_features - len(keep)
        if wanted <= 0:
            return keep
        m = mask.copy()
        r = int(round(self.min_distance_px))
        for x, y in keep:
            cv2.circle(m, (int(round(x)), int(round(y))), r, 0, -1)
        new = cv2.goodFeaturesToTrack(
            grey, wanted, self.quality_level, self.min_distance_px, mask=m, blockSize=5
        )
        if new is None:
            return keep
        return np.concatenate([keep, new.reshape(-1, 2).astype(np.float32)], axis=0)

    def _start_shot(
        self,
        t: float,
        grey: NDArray[np.uint8],
        hist: NDArray[np.float32],
        mask: NDArray[np.uint8],
        *,
        shot_cut: bool,
        hist_distance: float,
    ) -> CameraStep:
        if shot_cut:
            self._segment += 1
        self._R = R_WORLD_FROM_LEVEL_CAMERA.copy()
        self._last_good_rel = np.eye(3)
        self._hold = 0
        self._velocity_known = False  # True after a measured step: the next one can be predicted
        self._pts = np.empty((0, 2), dtype=np.float32)
        if not self.static:
            self._pts = self._detect(grey, mask, self._pts)
        return self._make_step(t, np.eye(3), np.zeros(3), 0, 0, True, shot_cut, hist_distance)

    def _advance(
        self, t: float, R_rel: NDArray[np.float64], n_tracked: int, n_inliers: int, reliable: bool,
        hist_distance: float,
    ) -> CameraStep:
        self._R = _orthonormalise(self._R @ R_rel)
        omega = _rotvec(R_rel) / (t - self._prev_time)
        return self._make_step(t, R_rel, omega, n_tracked, n_inliers, reliable, False, hist_distance)

    def _make_step(
        self, t: float, R_rel: NDArray[np.float64], omega: NDArray[np.float64], n_tracked: int,
        n_inliers: int, reliable: bool, shot_cut: bool, hist_distance: float,
    ) -> CameraStep:
        return CameraStep(
            index=self._index,
            time_s=t,
            R_rel=R_rel,
            R_world_from_camera=self._R.copy(),
            angular_velocity=omega,
            n_tracked=n_tracked,
            n_inliers=n_inliers,
            reliable=reliable,
            shot_cut=shot_cut,
            segment=self._segment,
            hist_distance=hist_distance,
        )

    def _warp(self, pts: NDArray[np.float32], M: NDArray[np.float64]) -> NDArray[np.float32]:
        """Working-image points ``(N, 1, 2)`` moved by the camera rotation ``M``: ``x' ~ K M K^-1 x``."""
        H = self._K @ M @ self._K_inv
        p = pts.reshape(-1, 2).astype(np.float64) @ H[:, :2].T + H[:, 2]
        z = np.maximum(p[:, 2:3], 1e-9)  # a few degrees of rotation never turns a ray behind the camera
        return np.ascontiguousarray(p[:, :2] / z, dtype=np.float32).reshape(-1, 1, 2)

    def _flow(
        self, p0: NDArray[np.float32], grey: NDArray[np.uint8], R_pred: NDArray[np.float64] | None
    ) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """Lucas-Kanade tracks of ``p0`` into ``grey`` and which of them pass the checks (status, F-B).

        With ``R_pred`` (a predicted ``R_rel``) both passes use ``lk_predicted_levels`` (the backward
        one ``lk_backward_levels`` when set); the forward search starts at the predicted positions and
        the backward search at the forward ends moved back by the same rotation (so the backward pass
        never sees ``p0``), unless the prediction moves no point by ``_STILL_PX`` or more: then both
        start where the points are. Without ``R_pred`` both start where the points are, with
        ``lk_levels``.
        """
        assert self._prev_grey is not None
        win = (self.lk_window_px, self.lk_window_px)
        crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, self.lk_iterations, _LK_EPS)
        levels, flags = self.lk_levels, 0
        guess: NDArray[np.float32] | None = None
        if R_pred is not None:
            assert self.lk_predicted_levels is not None
            levels = self.lk_predicted_levels
            guess = self._warp(p0, R_pred.T)
            if float(np.abs(guess.reshape(-1, 2) - p0).max(initial=0.0)) < _STILL_PX:
                # a (nearly) still camera: search from the points themselves. Lucas-Kanade stops within
                # ~0.01 px of where it starts, so a start at the last motion would let a still camera
                # keep turning by that much a frame; a start at no motion leans to no motion instead.
                guess, R_pred = None, None
            else:
                flags = cv2.OPTFLOW_USE_INITIAL_FLOW
        out, st1, _ = cv2.calcOpticalFlowPyrLK(
            self._prev_grey, grey, p0.reshape(-1, 1, 2), guess, winSize=win, maxLevel=levels, criteria=crit,
            flags=flags,
        )
        fwd = np.asarray(out, dtype=np.float32)
        good = st1.ravel() == 1
        if self.fb_threshold_px is not None:
            guess = None
            if R_pred is not None:
                guess = self._warp(fwd, R_pred)
                levels = levels if self.lk_backward_levels is None else self.lk_backward_levels
            bwd, st2, _ = cv2.calcOpticalFlowPyrLK(
                grey, self._prev_grey, fwd, guess, winSize=win, maxLevel=levels, criteria=crit, flags=flags
            )
            fb = bwd.reshape(-1, 2) - p0
            good &= (st2.ravel() == 1) & (np.einsum("ij,ij->i", fb, fb) < self.fb_threshold_px**2)
        return fwd.reshape(-1, 2), good

    def _match(
        self, grey: NDArray[np.uint8], mask: NDArray[np.uint8], R_pred: NDArray[np.float64] | None
    ) -> tuple[int, NDArray[np.float64], NDArray[np.bool_], NDArray[np.float32]]:
        """Track the features and fit the rotation: (tracked count, R_21, inlier mask, tracked ends)."""
        p0 = self._pts
        fwd, good = self._flow(p0, grey, R_pred)
        h, w = grey.shape
        xi = np.round(fwd[:, 0]).astype(np.int64)
        yi = np.round(fwd[:, 1]).astype(np.int64)
        inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        allowed = np.zeros(len(p0), dtype=bool)
        allowed[inside] = mask[yi[inside], xi[inside]] > 0
        good &= allowed
        n_tracked = int(good.sum())
        q0, p1 = p0[good], fwd[good]
        if n_tracked < 2:
            return n_tracked, np.eye(3), np.zeros(n_tracked, dtype=bool), p1
        R_21, inl = estimate_rotation(
            q0, p1, self._K, threshold_px=self.ransac_threshold_px, iterations=self.ransac_iterations,
            rng=self._rng,
        )
        return n_tracked, R_21, inl, p1

    def _reliable(self, n_tracked: int, n_inliers: int) -> bool:
        return n_inliers >= self.min_inliers and n_inliers >= self.min_inlier_fraction * max(n_tracked, 1)

    def _track(
        self, t: float, grey: NDArray[np.uint8], hist: NDArray[np.float32], mask: NDArray[np.uint8],
        hist_distance: float,
    ) -> CameraStep:
        n_prev = len(self._pts)
        n_tracked = 0
        n_inliers = 0
        R_21 = np.eye(3)
        p1 = np.empty((0, 2), dtype=np.float32)
        inl = np.zeros(0, dtype=bool)
        if n_prev > 0:
            predict = self.lk_predicted_levels is not None and self._velocity_known
            n_tracked, R_21, inl, p1 = self._match(grey, mask, self._last_good_rel if predict else None)
            n_inliers = int(inl.sum())
            if predict and not self._reliable(n_tracked, n_inliers):
                # the motion changed faster than the short search follows (or the shot cut): search afresh
                self.retracked_frames += 1
                n_tracked, R_21, inl, p1 = self._match(grey, mask, None)
                n_inliers = int(inl.sum())

        # shot cut: a large histogram change alone, or a moderate one with collapsed tracking
        judged = n_prev >= self.min_inliers
        collapsed = judged and n_inliers < self.collapse_fraction * n_prev
        if hist_distance >= self.shot_cut_threshold or (
            collapsed and hist_distance >= 0.5 * self.shot_cut_threshold
        ):
            return self._start_shot(t, grey, hist, mask, shot_cut=True, hist_distance=hist_distance)

        reliable = self._reliable(n_tracked, n_inliers)
        if reliable:
            R_rel = R_21.T
            self._last_good_rel = R_rel
            self._hold = 0
            self._pts = p1[inl].astype(np.float32)
        else:
            if self._hold < self.max_hold_frames:
                R_rel = self._last_good_rel
                self._hold += 1
            else:
                R_rel = np.eye(3)
            self._pts = np.empty((0, 2), dtype=np.float32)  # the tracks are suspect: start afresh
        self._velocity_known = reliable
        if len(self._pts) < self.redetect_fraction * self.max_features:
            self._pts = self._detect(grey, mask, self._pts)
        return self._advance(t, R_rel, n_tracked, n_inliers, reliable, hist_distance)
