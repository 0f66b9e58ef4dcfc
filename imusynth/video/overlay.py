"""QA overlay video: skeletons with track ids, and each sensor's axes drawn where it sits.

A second streaming pass over the video (one frame in memory at a time). Sensor axes are drawn at the
2-D position of the placement's origin joint, as the image-plane projection of the sensor's x (red),
y (green) and z (blue) axes: ``R_camera_from_world @ R_world_from_sensor @ e_k``; each triad is named
after its sensor and a colour key sits in the top-left corner.

The file is H.264 (plays in browsers and QuickTime): OpenCV writes MPEG-4 Part 2 frames, which FFmpeg
(``ffmpeg`` on the PATH, with libx264) transcodes. Without FFmpeg the MPEG-4 Part 2 file is kept.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray

from imusynth.core.conventions import matrix_from_quat
from imusynth.core.placements import Placement
from imusynth.core.skeletons import MEDIAPIPE_33, SKELETONS
from imusynth.io.hdf5 import atomic_path, read_clips
from imusynth.video.decode import iter_frames

if TYPE_CHECKING:
    from imusynth.video.stream import VideoRun

_EDGES = [(11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (11, 23), (12, 24), (23, 24), (23, 25), (25, 27),
          (24, 26), (26, 28), (27, 29), (29, 31), (27, 31), (28, 30), (30, 32), (28, 32), (15, 19), (16, 20),
          (0, 7), (0, 8)]
_AXIS_COLOURS = [(0, 0, 255), (0, 200, 0), (255, 0, 0)]   # BGR: x red, y green, z blue
_FONT = cv2.FONT_HERSHEY_SIMPLEX

log = logging.getLogger(__name__)


def overlay_codec() -> str:
    """The codec :func:`write_overlay` produces here: "H.264", or "MPEG-4 Part 2" when FFmpeg is missing."""
    return "H.264" if shutil.which("ffmpeg") else "MPEG-4 Part 2 (install ffmpeg for H.264)"


def _to_h264(src: Path, dst: Path) -> bool:
    """Transcode ``src`` to H.264 (yuv420p, fast start) at ``dst`` with FFmpeg; False when that fails."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return False
    cmd = [ffmpeg, "-y", "-loglevel", "error", "-i", str(src), "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-movflags", "+faststart", "-f", "mp4", str(dst)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        log.warning("ffmpeg could not transcode the overlay to H.264 (kept MPEG-4 Part 2): %s",
                    r.stderr.strip()[-300:])
        return False
    return True


@contextmanager
def _scratch(path: Path) -> Iterator[Path]:
    """Yield ``path``, a scratch file removed when the block ends, whatever happens (Ctrl-C included)."""
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _colour_key(img: NDArray[Any]) -> None:
    """Draw the axis colour key (x red, y green, z blue) in the top-left corner."""
    cv2.rectangle(img, (4, 4), (150, 26), (0, 0, 0), -1)
    cv2.putText(img, "axes:", (8, 20), _FONT, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    for k, axis in enumerate("xyz"):
        cv2.putText(img, axis, (58 + 30 * k, 20), _FONT, 0.55, _AXIS_COLOURS[k], 2, cv2.LINE_AA)


def _origin_indices(p: Placement) -> list[int]:
    mapping = SKELETONS["mediapipe"][1]
    names = set(MEDIAPIPE_33)
    for d in p.definitions:
        idx: list[int] = []
        for o in d.origin:
            src = mapping.get(o, [o])
            if all(s in names for s in src):
                idx += [MEDIAPIPE_33.index(s) for s in src]
        if idx:
            return idx
    return []


def write_overlay(video: Path, h5_path: Path, out_path: Path, run: VideoRun, placements: list[Placement], *,
                  start_s: float | None = None, end_s: float | None = None, axis_px: float = 40.0) -> Path:
    """Write ``out_path`` (mp4) with skeletons, track ids and sensor axes over the video's frames."""
    clips = read_clips(h5_path, with_motion=False, with_pose=True)
    origin_idx = {p.name: _origin_indices(p) for p in placements}
    # only each track's 2-D landmarks (264 B per frame), read back one track at a time from the run's store
    image_xy: dict[int, NDArray[np.float32]] = {}
    track_pos: dict[int, dict[int, int]] = {}
    for tid in run.track_ids:
        t = run.track(tid)
        image_xy[tid] = np.asarray(t.image_xy, dtype=np.float32)
        track_pos[tid] = {int(fi): k for k, fi in enumerate(t.frame_index)}
        del t
    sensor_views: list[tuple[str, int, Any, list[int], Any, dict[int, int]]] = []
    for c in clips:
        tid = int(c.attrs.get("track_id", -1))
        pose_pos = {int(fi): k for k, fi in enumerate(c.pose["frame_index"])} if c.pose else {}
        for name, s in c.sensors.items():
            sensor_views.append((name, tid, s, origin_idx.get(name, []), c.pose, pose_pos))
    fps = run.fps or 30.0
    with atomic_path(out_path) as tmp, _scratch(tmp.with_suffix(".mp4")) as tmp_mp4:
        writer = cv2.VideoWriter(str(tmp_mp4), cv2.VideoWriter.fourcc(*"mp4v"), fps, (run.width, run.height))
        try:
            for frame in iter_frames(video, start_s=start_s or None, end_s=end_s):
                img = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
                for tid, t_xy in image_xy.items():
                    j = track_pos[tid].get(frame.index)
                    if j is None:
                        continue
                    xy = t_xy[j]
                    for a, b in _EDGES:
                        if np.isfinite(xy[[a, b]]).all():
                            cv2.line(img, tuple(int(v) for v in xy[a]), tuple(int(v) for v in xy[b]),
                                     (0, 255, 255), 2)
                    x0, y0 = int(np.nanmin(xy[:, 0])), int(np.nanmin(xy[:, 1]))
                    cv2.putText(img, f"id {tid}", (x0, max(12, y0 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                                (255, 255, 255), 2)
                for name, tid, s, idx, pose, pose_pos in sensor_views:
                    j = track_pos.get(tid, {}).get(frame.index)
                    k = pose_pos.get(frame.index)
                    if j is None or not idx or k is None:
                        continue
                    R_cw = pose["camera_rotation"][k].astype(np.float64).T
                    n = int(np.argmin(np.abs(s.time - frame.time_s)))
                    if not s.valid[n]:
                        continue
                    anchor = np.nanmean(image_xy[tid][j][idx], axis=0)
                    R_ws = matrix_from_quat(s.orientation[n])
                    for ax in range(3):
                        d = R_cw @ R_ws[:, ax]
                        tip = anchor + axis_px * d[:2]
                        cv2.arrowedLine(img, (int(anchor[0]), int(anchor[1])), (int(tip[0]), int(tip[1])),
                                        _AXIS_COLOURS[ax], 2, tipLength=0.25)
                    cv2.putText(img, name, (int(anchor[0]) + 6, int(anchor[1]) + 16), _FONT, 0.45,
                                (255, 255, 255), 1, cv2.LINE_AA)
                _colour_key(img)
                writer.write(img)
        finally:
            writer.release()
        if not _to_h264(tmp_mp4, tmp):
            tmp_mp4.replace(tmp)
    return Path(out_path)
