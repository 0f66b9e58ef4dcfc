"""Reading the report's inputs: clips of ``imusynth/1`` files, windows files, real recordings.

Each clip is read once (only the arrays the page needs: sensors, motion confidence, one frame of
points, the pose arrays), turned into a :class:`ClipReport` (numbers, flags, the two drawings as SVG
text) and dropped; only the |acc| and |gyro| samples of the distributions are kept
(:class:`Distributions`).
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

import imusynth.report.metrics as metrics
from imusynth.config import ReportConfig
from imusynth.core.conventions import G0
from imusynth.core.imu_series import ImuSeries
from imusynth.core.motion import Motion, MotionError
from imusynth.core.skeletons import MEDIAPIPE_33, to_canonical
from imusynth.errors import InputError
from imusynth.har import segments, stack_placements, window_length, window_starts
from imusynth.io.hdf5 import SchemaError, validate_file
from imusynth.report.svg import SensorTrace, signals_svg, skeleton_svg

#: The settings of ``imusynth export`` by default (window s, overlap fraction, rate Hz): the page counts
#: the windows a default export would cut.
EXPORT_DEFAULTS = (2.56, 0.5, 50.0)
#: Width of a frame thumbnail, px.
THUMB_WIDTH = 240


@dataclass(frozen=True)
class ClipFile:
    """One ``imusynth/1`` file to report on.

    Attributes
    ----------
    path : Path
    label, group : str or None
        Override the clips' own attributes (a batch manifest's label and video id, as ``gather`` does).
    origin : str
        Where the file came from (the batch item's URL), shown as the source when given.
    name : str
        Clip id on the page: ``name`` for a file of one clip, ``name.<clip id>`` for more (``gather``'s
        rule for a batch's files); "" keeps the clip ids.
    """

    path: Path
    label: str | None = None
    group: str | None = None
    origin: str = ""
    name: str = ""


@dataclass(frozen=True)
class SourceStatus:
    """A source that gave no usable clip: failed, skipped, not processed yet, or empty.

    Attributes
    ----------
    source : str
        URL or path.
    status : str
        ``failed``, ``skipped``, ``pending``, ``empty`` ...
    reason : str
    label : str or None
    """

    source: str
    status: str
    reason: str
    label: str | None = None


@dataclass
class ClipReport:
    """What the page shows of one clip.

    Attributes
    ----------
    key : str
        Unique id on the page.
    file, source, source_kind : str
    label, group : str or None
    duration_s : float, s
    person : str
        Track id of a video clip ("" for motion clips).
    shares : dict of str to float
        Valid share per sensor, in [0, 1].
    pose_confidence : float, in [0, 1]
        Mean of ``motion/confidence`` (NaN without stored motion).
    camera_rate : float, rad/s
        Mean camera rotation rate (NaN for motion clips).
    shot_cuts : int or None
        Shot cuts in the source video (``n_shots - 1``; None for motion clips).
    peak_acc : float, m/s^2
    peak_gyro : float, rad/s
    depth_jumps, identity_switches : int or None
        None for motion clips.
    flags : list of str
    windows : int
        Windows a default export cuts from this clip.
    signals_svg, skeleton_svg : str
        The drawings.
    """

    key: str
    file: str
    source: str
    source_kind: str
    label: str | None
    group: str | None
    duration_s: float
    person: str
    shares: dict[str, float]
    pose_confidence: float
    camera_rate: float
    shot_cuts: int | None
    peak_acc: float
    peak_gyro: float
    depth_jumps: int | None
    identity_switches: int | None
    flags: list[str]
    windows: int
    valid_samples: dict[str, tuple[int, int]] = field(default_factory=dict)
    signals_svg: str = ""
    skeleton_svg: str = ""


@dataclass
class Distributions:
    """|acc| (m/s^2) and |gyro| (rad/s) samples per (label, placement), virtual and real."""

    acc: dict[tuple[str, str], list[NDArray[np.float32]]] = field(default_factory=lambda: defaultdict(list))
    gyro: dict[tuple[str, str], list[NDArray[np.float32]]] = field(default_factory=lambda: defaultdict(list))
    real_acc: dict[str, list[NDArray[np.float32]]] = field(default_factory=lambda: defaultdict(list))
    real_gyro: dict[str, list[NDArray[np.float32]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, label: str, placement: str, acc: NDArray[np.float64], gyro: NDArray[np.float64]) -> None:
        """Add the norms of one virtual sensor."""
        self.acc[(label, placement)].append(acc.astype(np.float32))
        self.gyro[(label, placement)].append(gyro.astype(np.float32))


def _str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def count_windows(series: dict[str, ImuSeries], *, window_s: float, overlap: float, rate_hz: float) -> int:
    """Windows ``imusynth export`` cuts from one clip (its sensors stacked, resampled to ``rate_hz``).

    Parameters
    ----------
    series : dict of str to ImuSeries
        The clip's sensors, with per-sample labels (none: no window).
    window_s : float, s
    overlap : float, fraction in [0, 1)
    rate_hz : float, Hz
    """
    names = sorted(series)
    if not names or all(series[n].labels is None for n in names):
        return 0
    rec = stack_placements([series[n] for n in names], names, rate_hz=rate_hz)
    T = window_length(window_s, rate_hz)
    step = max(1, int(round(T * (1.0 - overlap))))
    return sum(len(window_starts(b - a, T, step)) for a, b, _ in segments(rec.valid, rec.labels))


def _skeleton_points(
    names: Sequence[str], xyz: NDArray[np.float64], conf: NDArray[np.float64], skeleton: str | None
) -> dict[str, NDArray[np.float64]]:
    """Named points of one frame (those finite and with a confidence above 0), canonical names added where the
    skeleton is known."""
    try:
        m = to_canonical(
            Motion(
                time=np.zeros(1), names=tuple(names), xyz=xyz[None], confidence=conf[None], skeleton=skeleton
            ),
            skeleton,
        )
    except MotionError:
        m = Motion(time=np.zeros(1), names=tuple(names), xyz=xyz[None], confidence=conf[None])
    keep = np.all(np.isfinite(m.xyz[0]), axis=1) & (m.confidence[0] > 0)   # not detected: confidence 0
    return {n: m.xyz[0, k] for k, n in enumerate(m.names) if keep[k]}


def seek_frame(path: Path, time_s: float, *, preroll_s: float = 1.0) -> NDArray[np.uint8] | None:
    """The upright RGB frame shown at ``time_s`` (s), found by seeking (fast also deep into long videos).

    OpenCV seeks to a key frame before ``time_s - preroll_s``; frames are then read until the first whose
    presentation time reaches ``time_s`` (half a frame early is accepted). None when the video cannot be
    sought there (the caller then decodes from the start with :func:`imusynth.video.decode.iter_frames`).
    """
    import cv2

    from imusynth.video.decode import open_video

    info = open_video(path)
    rotate = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
    half = 0.5 / info.fps_nominal
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
        if time_s > preroll_s:
            cap.set(cv2.CAP_PROP_POS_MSEC, 1000.0 * (time_s - preroll_s))
        first = True
        for _ in range(int((preroll_s + 1.0) * info.fps_nominal) + 2):
            ok, image = cap.read()
            if not ok or image is None:
                return None
            t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if first and t > time_s + half:
                return None  # the seek overshot: no frame at or before time_s
            first = False
            if t >= time_s - half:
                rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
                if info.rotation_deg:
                    rgb = cv2.rotate(rgb, rotate[info.rotation_deg])
                return np.asarray(rgb, dtype=np.uint8)
    finally:
        cap.release()
    return None


def _frame_thumbnail(source: str, time_s: float) -> tuple[str, int, int] | None:
    """A small JPEG of the source video's frame at ``time_s``: (data URI, frame width, height), or None."""
    path = Path(source)
    if not path.is_file():
        return None
    try:
        import cv2

        from imusynth.video.decode import iter_frames

        image = seek_frame(path, time_s)
        if image is None:
            image = next((f.image for f in iter_frames(path, start_s=max(0.0, time_s - 1e-3))), None)
        if image is None:
            return None
        h, w = image.shape[:2]
        small = cv2.resize(
            image, (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), interpolation=cv2.INTER_AREA
        )
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 70])
        if not ok:
            return None
        return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii"), w, h
    except (InputError, OSError, ImportError):
        return None


def _video_skeleton(pose: dict[str, NDArray[Any]], source: str, with_frames: bool) -> str:
    vis = np.asarray(pose["visibility"], dtype=np.float64)
    k = int(np.argmax(np.nan_to_num(vis).mean(axis=1)))
    xy = np.asarray(pose["image_xy"][k], dtype=np.float64)
    K = np.asarray(pose.get("camera_K", np.eye(3)), dtype=np.float64)
    width, height = 2.0 * K[0, 2] + 1.0, 2.0 * K[1, 2] + 1.0
    thumb = _frame_thumbnail(source, float(pose["time"][k])) if with_frames else None
    if thumb is not None:
        width, height = float(thumb[1]), float(thumb[2])
    pts3 = np.concatenate([xy, np.zeros((xy.shape[0], 1))], axis=1)
    named = _skeleton_points(MEDIAPIPE_33, pts3, vis[k], "mediapipe")
    named = {n: p[:2] for n, p in named.items()}
    note = (
        f"frame {int(pose['frame_index'][k])} at {float(pose['time'][k]):.2f} s from the source video"
        if thumb
        else f"frame {int(pose['frame_index'][k])} at {float(pose['time'][k]):.2f} s: no frame "
        "image stored (source video not at hand), skeleton only"
    )
    return skeleton_svg(
        named, width=width, height=height, y_down=True, image=thumb[0] if thumb else None, note=note
    )


def _motion_skeleton(g: h5py.Group) -> str:
    mg = g["motion"]
    T = mg["xyz"].shape[0]
    conf_all = mg["confidence"][()]
    k = int(np.argmax(conf_all.mean(axis=1))) if T else 0
    names = [_str(n) for n in mg["names"][()]]
    xyz = mg["xyz"][k].astype(np.float64)
    named = _skeleton_points(
        names, xyz, conf_all[k].astype(np.float64), _str(mg.attrs.get("skeleton", "")) or None
    )
    if not named:
        return skeleton_svg({}, width=1, height=1, y_down=False, note="no point of the motion is finite")
    P = np.array(list(named.values()))
    horiz = P[:, :2] - P[:, :2].mean(axis=0)
    _, _, vt = np.linalg.svd(horiz, full_matrices=False) if len(P) > 1 else (None, None, np.eye(2))
    u = horiz @ vt[0]
    flat = {n: np.array([u[i], P[i, 2]]) for i, n in enumerate(named)}
    lo, hi = np.min(list(flat.values()), axis=0), np.max(list(flat.values()), axis=0)
    span = max(float(np.max(hi - lo)), 1e-3)
    t = float(mg["time"][k])
    note = f"3-D points at {t:.2f} s seen across their widest horizontal spread (motion file: no video frame)"
    return skeleton_svg(
        {n: (p - lo) / span * 100.0 for n, p in flat.items()},
        width=100.0 * (hi[0] - lo[0]) / span,
        height=100.0 * (hi[1] - lo[1]) / span,
        y_down=False,
        note=note,
    )


def read_clip_file(
    cf: ClipFile, thresholds: ReportConfig, dist: Distributions, *, taken: set[str], with_frames: bool = True
) -> Iterator[ClipReport]:
    """The :class:`ClipReport` of every clip of one file (adds its norms to ``dist``).

    Raises
    ------
    SchemaError
        When the file is not a valid ``imusynth/1`` file.
    """
    problems = validate_file(cf.path)
    if problems:
        raise SchemaError(f"{cf.path} is not a valid imusynth/1 file: {problems[0]}")
    window_s, overlap, export_rate = EXPORT_DEFAULTS
    with h5py.File(cf.path, "r") as f:
        ids = list(f["clips"])
        for cid in ids:
            g = f["clips"][cid]
            key = (cf.name if len(ids) == 1 else f"{cf.name}.{cid}") if cf.name else cid
            key = key if key not in taken else f"{cf.path.stem}.{cid}"
            n = 2
            while key in taken:
                key, n = f"{cf.path.stem}.{cid}.{n}", n + 1
            taken.add(key)
            label = (
                cf.label if cf.label is not None else (_str(g.attrs["label"]) if "label" in g.attrs else None)
            )
            group = (
                cf.group if cf.group is not None else (_str(g.attrs["group"]) if "group" in g.attrs else None)
            )
            traces, shares, series, counts = [], {}, {}, {}
            acc_peaks, gyro_peaks = [], []
            for name, sg in g["sensors"].items():
                t = sg["time"][()]
                acc = sg["acc"][()].astype(np.float64)
                gyro = sg["gyro"][()].astype(np.float64)
                valid = sg["valid"][()].astype(bool)
                shares[name] = metrics.valid_share(valid)
                counts[name] = (int(valid.sum()), int(valid.size))
                an, gn = metrics.vector_norms(acc, valid), metrics.vector_norms(gyro, valid)
                acc_peaks.append(metrics.peak(an))
                gyro_peaks.append(metrics.peak(gn))
                dist.add(label or "(unlabelled)", name, an, gn)
                traces.append(SensorTrace(name, t, acc, gyro, valid))
                if t.size >= 2:
                    labels = None if label is None else np.full(t.size, label)
                    series[name] = ImuSeries(t, acc, gyro, valid, labels, group or cid, cid)
            peak_acc = float(np.nanmax(acc_peaks)) if np.isfinite(acc_peaks).any() else float("nan")
            peak_gyro = float(np.nanmax(gyro_peaks)) if np.isfinite(gyro_peaks).any() else float("nan")
            conf = g["motion/confidence"][()] if "motion" in g else None
            pose = {k: v[()] for k, v in g["pose"].items()} if "pose" in g else None
            kind = _str(g.attrs["source_kind"])
            source = cf.origin or _str(g.attrs["source"])
            camera_rate, jumps, switches, cuts = float("nan"), None, None, None
            if pose is not None and "camera_rotation" in pose:
                camera_rate = metrics.camera_rotation_rate(pose["camera_rotation"], pose["time"])
            if pose is not None and "camera_points" in pose:
                hips = (
                    (MEDIAPIPE_33.index("left_hip"), MEDIAPIPE_33.index("right_hip"))
                    if pose["camera_points"].shape[1] == len(MEDIAPIPE_33)
                    else None
                )
                jumps = metrics.depth_jumps(
                    metrics.body_depth(pose["camera_points"], hips),
                    pose["time"],
                    max_speed_m_s=thresholds.max_depth_speed_m_s,
                )
            if pose is not None and "left_right_swapped" in pose:
                switches = metrics.identity_switches(pose["left_right_swapped"])
            if "n_shots" in g.attrs:
                cuts = int(g.attrs["n_shots"]) - 1
            flags = metrics.clip_flags(
                peak_acc=peak_acc,
                peak_gyro=peak_gyro,
                shares=shares,
                depth_jump_count=jumps or 0,
                switch_count=switches or 0,
                max_acc=thresholds.max_acc_g * G0,
                max_gyro=thresholds.max_gyro_rad_s,
                min_valid_share=thresholds.min_valid_share,
                max_identity_switches=thresholds.max_identity_switches,
            )
            t0 = min((float(tr.time[0]) for tr in traces if tr.time.size), default=0.0)
            t1 = max((float(tr.time[-1]) for tr in traces if tr.time.size), default=1.0)
            if pose is not None and "image_xy" in pose and "visibility" in pose and len(pose["time"]):
                skel = _video_skeleton(pose, _str(g.attrs["source"]), with_frames)
            elif "motion" in g and g["motion/xyz"].shape[0]:
                skel = _motion_skeleton(g)
            else:
                skel = skeleton_svg({}, width=1, height=1, y_down=False, note="no pose or motion stored")
            yield ClipReport(
                key=key,
                file=str(cf.path),
                source=source,
                source_kind=kind,
                label=label,
                group=group,
                duration_s=float(g.attrs["duration_s"]),
                person=str(g.attrs["track_id"]) if "track_id" in g.attrs else "",
                shares=shares,
                pose_confidence=float(np.mean(conf)) if conf is not None and conf.size else float("nan"),
                camera_rate=camera_rate,
                shot_cuts=cuts,
                peak_acc=peak_acc,
                peak_gyro=peak_gyro,
                depth_jumps=jumps,
                identity_switches=switches,
                flags=flags,
                windows=count_windows(series, window_s=window_s, overlap=overlap, rate_hz=export_rate)
                if len(series) == len(traces)
                else 0,
                valid_samples=counts,
                signals_svg=signals_svg(traces, t0=t0, t1=t1),
                skeleton_svg=skel,
            )


def empty_status(cf: ClipFile, clips: Sequence[ClipReport]) -> SourceStatus | None:
    """A file whose sensor has no valid sample in any of its clips is an *empty* source (None otherwise)."""
    names = list(dict.fromkeys(n for c in clips for n in c.shares))
    empty = [n for n in names if not any(c.valid_samples.get(n, (0, 0))[0] for c in clips)]
    if not empty:
        return None
    return SourceStatus(
        cf.origin or str(cf.path),
        "empty",
        f"no valid sample for sensor {', '.join(empty)} (hidden in this view?)",
        cf.label,
    )


def read_real(
    paths: Sequence[Path],
    dist: Distributions,
    *,
    preset: str | None = None,
    sensor: str | None = None,
    rate_hz: float | None = None,
) -> None:
    """Add the |acc| and |gyro| of real recordings to ``dist``, per label (``""`` for unlabelled samples)."""
    from imusynth.calibrate import load_recordings

    for rec in load_recordings(list(paths), preset=preset, sensor=sensor, rate_hz=rate_hz):
        for s in rec.series.values():
            labels = s.labels if s.labels is not None else np.full(s.n, "")
            for lab in np.unique(labels.astype(str)):
                keep = s.valid & (labels.astype(str) == lab)
                dist.real_acc[str(lab)].append(metrics.vector_norms(s.acc, keep).astype(np.float32))
                dist.real_gyro[str(lab)].append(metrics.vector_norms(s.gyro, keep).astype(np.float32))


@dataclass(frozen=True)
class WindowsSummary:
    """A windows file: windows per label and per clip, and its settings."""

    path: str
    rate_hz: float
    window_s: float
    overlap: float
    per_label: dict[str, int]
    per_clip: dict[str, tuple[str, str, int]]  # clip -> (label, group, windows)


def read_windows_file(path: Path, dist: Distributions) -> WindowsSummary:
    """Summarise a windows file; its |acc| and |gyro| (SI files only) go to ``dist`` under placement names."""
    from imusynth.har import load_windows

    ws = load_windows(path)
    labels = np.asarray(ws.class_names)[ws.y] if len(ws) else np.empty(0, dtype=str)
    per_label = {str(k): int(v) for k, v in zip(*np.unique(labels, return_counts=True), strict=True)}
    per_clip: dict[str, tuple[str, str, int]] = {}
    for c, lab, grp in zip(ws.clip, labels, ws.group, strict=True):
        old = per_clip.get(str(c), (str(lab), str(grp), 0))
        per_clip[str(c)] = (old[0], old[1], old[2] + 1)
    if ws.acc_unit == "m/s^2" and ws.gyro_unit == "rad/s" and ws.acc_sign == "specific_force":
        chans = list(ws.channels)
        for pl in dict.fromkeys(ch.rsplit(".", 1)[0] for ch in chans):
            ia = [chans.index(f"{pl}.acc_{a}") for a in "xyz" if f"{pl}.acc_{a}" in chans]
            ig = [chans.index(f"{pl}.gyro_{a}") for a in "xyz" if f"{pl}.gyro_{a}" in chans]
            if len(ia) != 3 or len(ig) != 3:
                continue
            for lab in per_label:
                X = ws.X[labels == lab]
                dist.acc[(lab, pl)].append(np.linalg.norm(X[..., ia], axis=-1).ravel().astype(np.float32))
                dist.gyro[(lab, pl)].append(np.linalg.norm(X[..., ig], axis=-1).ravel().astype(np.float32))
    return WindowsSummary(str(path), ws.rate_hz, ws.window_s, ws.overlap, per_label, per_clip)
