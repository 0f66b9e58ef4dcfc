"""QA overlay video: skeletons with track ids, and each sensor's axes drawn where it sits.

A second streaming pass over the video (one frame in memory at a time). Sensor axes are drawn at the
2-D position of the placement's origin joint, as the image-plane projection of the sensor's x (red),
y (green) and z (blue) axes: ``R_camera_from_world @ R_world_from_sensor @ e_k``.
"""

from __future__ import annotations

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
    sensor_views: list[tuple[int, Any, list[int], Any, dict[int, int]]] = []
    for c in clips:
        tid = int(c.attrs.get("track_id", -1))
        pose_pos = {int(fi): k for k, fi in enumerate(c.pose["frame_index"])} if c.pose else {}
        for name, s in c.sensors.items():
            sensor_views.append((tid, s, origin_idx.get(name, []), c.pose, pose_pos))
    fps = run.fps or 30.0
    with atomic_path(out_path) as tmp:
        tmp_mp4 = tmp.with_suffix(".mp4")
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
                for tid, s, idx, pose, pose_pos in sensor_views:
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
                writer.write(img)
        finally:
            writer.release()
        tmp_mp4.replace(tmp)
    return Path(out_path)
