"""Virtual accelerometer, gyroscope and orientation from a Motion and placements (stage 5).

For each placement the segment frame ``R_ws(t)`` (sensor to world) and the sensor position ``p(t)``
are built from smoothed, splined points (:mod:`imusynth.core.kinematics`), then

* accelerometer = specific force ``R_ws^T (p'' - g)`` with ``g = (0, 0, -G0)``: at rest, +G0 on the
  sensor axis that points up;
* gyroscope = angular velocity in the sensor frame, from the exact derivative of the frame;
* orientation = ``R_ws`` as a quaternion (w, x, y, z).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imusynth.core.conventions import GRAVITY_WORLD, quat_from_columns
from imusynth.core.kinematics import (
    MIN_RUN_SAMPLES,
    EvalCache,
    QuinticFit,
    Vec3,
    bridge_gaps_cm,
    effective_cutoff,
    is_regular,
    lowpass,
    regular_grid_cm,
    runs,
    segment_axes_cm,
    segment_frames_cm,
)
from imusynth.core.motion import Motion
from imusynth.core.mounting import Mounting, mount, mounting_attrs, variant_name, variant_outputs
from imusynth.core.placements import Placement, SegmentDef, Vector, axis_text
from imusynth.core.skeletons import canonical_sources, detect_skeleton
from imusynth.errors import InputError


@dataclass(frozen=True)
class SensorSignals:
    """The signals of one virtual sensor, on a regular output grid.

    Attributes
    ----------
    placement : str
        Placement name.
    time : ndarray, shape (N,), float64, s
    acc : ndarray, shape (N, 3), m/s^2
        Specific force in the sensor frame, gravity included (NaN where invalid).
    gyro : ndarray, shape (N, 3), rad/s
        Angular velocity in the sensor frame (NaN where invalid).
    orientation : ndarray, shape (N, 4)
        Sensor-to-world quaternion (w, x, y, z), world z up (NaN where invalid).
    valid : ndarray, shape (N,), bool
    rate_hz : float, Hz
    cutoff_hz : float, Hz
        Low-pass cut-off applied to the points before differentiation.
    frame : str
        Text description of the sensor frame.
    placement_toml : str
        The TOML definition of the placement.
    attrs : dict
        Extra HDF5 attributes of the sensor (an augmentation variant's mounting,
        :func:`imusynth.core.mounting.mounting_attrs`).
    """

    placement: str
    time: NDArray[np.float64]
    acc: NDArray[np.float64]
    gyro: NDArray[np.float64]
    orientation: NDArray[np.float64]
    valid: NDArray[np.bool_]
    rate_hz: float
    cutoff_hz: float
    frame: str
    placement_toml: str
    attrs: dict[str, Any] = field(default_factory=dict)


class _Points:
    """Named points of a motion (canonical names included), component-major, computed once per name.

    Equivalent to :func:`imusynth.core.skeletons.to_canonical` (a canonical point is the mean of its source
    joints, its confidence their minimum) without copying the points that no placement uses.
    """

    def __init__(self, motion: Motion, *, min_confidence: float):
        self.motion = motion
        self.min_confidence = float(min_confidence)
        self._index = {n: k for k, n in enumerate(motion.names)}
        self.sources = canonical_sources(motion.names, motion.skeleton or detect_skeleton(motion.names))
        self.names = tuple(motion.names) + tuple(self.sources)
        self._xyz: dict[str, NDArray[np.float64]] = {}
        self._ok: dict[str, NDArray[np.bool_]] = {}
        self._conf: dict[str, NDArray[np.float64]] = {}

    def _confidence(self, joint: str) -> NDArray[np.float64]:
        hit = self._conf.get(joint)
        return hit if hit is not None else self.motion.confidence[:, self._index[joint]]

    def prefetch(self, names: set[str] | list[str]) -> None:
        """Copy the motion joints behind ``names`` into component-major rows in one cache-friendly pass."""
        joints: list[str] = []
        for n in names:
            for j in self.sources.get(n, [n]):
                if j in self._index and j not in self._xyz and j not in joints:
                    joints.append(j)
        if len(joints) < 2:
            return
        idx = [self._index[j] for j in joints]
        T = self.motion.n_frames
        out = np.empty((len(idx), 3, T))
        conf = np.empty((len(idx), T))
        step = 512                                    # time samples per block (stays in cache)
        for t0 in range(0, T, step):
            block = self.motion.xyz[t0:t0 + step]
            out[:, :, t0:t0 + step] = block[:, idx, :].transpose(1, 2, 0)
            conf[:, t0:t0 + step] = self.motion.confidence[t0:t0 + step, idx].T
        for k, j in enumerate(joints):
            self._xyz[j] = out[k]
            self._conf[j] = conf[k]

    def xyz(self, name: str) -> NDArray[np.float64]:
        """Positions of one point, shape (3, T), m."""
        hit = self._xyz.get(name)
        if hit is None:
            if name in self._index:
                hit = np.ascontiguousarray(self.motion.xyz[:, self._index[name], :].T)
            else:
                src = self.sources[name]
                hit = self.xyz(src[0]).copy()
                for n in src[1:]:
                    hit += self.xyz(n)
                if len(src) > 1:
                    hit /= len(src)
            self._xyz[name] = hit
        return hit

    def usable(self, name: str) -> NDArray[np.bool_]:
        """Samples of one point that are finite with a confidence that reaches the threshold, shape (T,)."""
        hit = self._ok.get(name)
        if hit is None:
            if name in self._index:
                hit = self._confidence(name) >= self.min_confidence
            else:
                hit = np.ones(self.motion.n_frames, dtype=bool)
                for n in self.sources[name]:          # min(conf) >= threshold
                    hit &= self._confidence(n) >= self.min_confidence
            hit &= np.isfinite(self.xyz(name)).all(axis=0)
            self._ok[name] = hit
        return hit

    def mean(self, names: tuple[str, ...]) -> NDArray[np.float64]:
        """Mean position of the points ``names``, shape (3, T), m."""
        if len(names) == 1:
            return self.xyz(names[0])
        out = self.xyz(names[0]).copy()
        for n in names[1:]:
            out += self.xyz(n)
        out /= len(names)
        return out


def _combine(R: NDArray[np.float64], v: Vec3) -> Vec3:
    """``(sum_r R[r, k] * v[r] for k in 0..2)``: components re-expressed through a 3x3 matrix.

    The sensor axes are signed segment axes, so most terms are a copy or a negation.
    """
    out = []
    for k in range(3):
        acc: NDArray[np.float64] | None = None
        for r in range(3):
            f = float(R[r, k])
            if f == 0.0:
                continue
            term = v[r] if f == 1.0 else (-v[r] if f == -1.0 else f * v[r])
            acc = term if acc is None else acc + term
        out.append(acc if acc is not None else np.zeros_like(v[0]))
    return out[0], out[1], out[2]


def _sensor_axes(R_seg_sensor: NDArray[np.float64], seg: tuple[Vec3, Vec3, Vec3]) -> tuple[Vec3, Vec3, Vec3]:
    """Sensor x, y, z axes (world components) from the segment axes: the columns of ``R_seg R_seg_sensor``."""
    per_component = [_combine(R_seg_sensor, (seg[0][i], seg[1][i], seg[2][i])) for i in range(3)]
    px, py, pz = per_component
    return (px[0], py[0], pz[0]), (px[1], py[1], pz[1]), (px[2], py[2], pz[2])


def _continuous(q: NDArray[np.float64]) -> NDArray[np.float64]:
    """:func:`imusynth.core.conventions.quat_continuous` on component-major quaternions (4, N), in place."""
    if q.shape[1] < 2:
        return q
    dots = np.einsum("ij,ij->j", q[:, 1:], q[:, :-1])
    flips = np.flatnonzero(dots < 0)
    if flips.size:
        sign = np.ones(q.shape[1])
        sign[flips + 1] = -1.0
        q *= np.cumprod(sign)
    return q


def output_times(t_start: float, t_end: float, rate_hz: float) -> NDArray[np.float64]:
    """Regular output grid ``t_start + k / rate_hz`` within ``[t_start, t_end]``, s."""
    n = int(np.floor((t_end - t_start) * rate_hz + 1e-9)) + 1
    return t_start + np.arange(max(n, 0)) / rate_hz


def _frame_text(p: Placement, R_seg_sensor: NDArray[np.float64], extra: str = "") -> str:
    return (f"{p.description}{extra}. Sensor axes (x, y, z) = {axis_text(R_seg_sensor)}; segment x = "
            "unit(primary), y = orthogonalised secondary, z = x cross y. Right-handed. Orientation rotates "
            "sensor to world (world z up, gravity -z).")


#: Output samples processed together (arrays of this length stay in the CPU cache).
_BLOCK = 8192


@dataclass(frozen=True)
class _RunFrames:
    """The segment frame of one valid run: filtered vectors at the source rate, frame at the output times.

    Attributes
    ----------
    t : ndarray, shape (n,), s
        Regular source times of the run.
    uw : ndarray, shape (6, n), m
        Filtered primary (rows 0-2) and secondary (rows 3-5) vectors.
    lo, hi : int
        The output samples ``t_out[lo:hi]`` inside the run.
    axes : tuple of three Vec3
        Segment x, y, z axes in the world frame at those outputs.
    omega : Vec3, rad/s
        Angular velocity in the segment frame.
    ok : ndarray, shape (hi - lo,), bool
    """

    t: NDArray[np.float64]
    uw: NDArray[np.float64]
    lo: int
    hi: int
    axes: tuple[Vec3, Vec3, Vec3]
    omega: Vec3
    ok: NDArray[np.bool_]


@dataclass
class _SharedFrames:
    """Run frames of one segment used by several placements, and how many of them are still to come."""

    users_left: int
    runs: dict[tuple[int, int], _RunFrames | None] = field(default_factory=dict)


@dataclass
class _Shared:
    """Work shared by the placements of one :func:`simulate` call.

    Attributes
    ----------
    grids : dict
        Spline evaluation matrices by (knots, output times), per set of valid samples (placements with the
        same valid samples have the same runs); dropped after the last placement with that set.
    grid_users : dict
        Placements still to come per set of valid samples (absent: keep the grids, e.g. a single placement).
    frames : dict
        For segments used by more than one placement (same primary and secondary vectors, same valid
        samples; see :func:`_frame_key`), their run frames; dropped after the last user.
    """

    grids: dict[bytes, EvalCache] = field(default_factory=dict)
    grid_users: dict[bytes, int] = field(default_factory=dict)
    frames: dict[tuple[object, ...], _SharedFrames] = field(default_factory=dict)

    def grid_cache(self, valid: NDArray[np.bool_]) -> EvalCache:
        """The evaluation grids of the placements with these valid samples."""
        return self.grids.setdefault(valid.tobytes(), {})

    def done(self, valid: NDArray[np.bool_]) -> None:
        """One placement with these valid samples is finished."""
        key = valid.tobytes()
        if key in self.grid_users:
            self.grid_users[key] -= 1
            if self.grid_users[key] <= 0:
                self.grids.pop(key, None)


def _frame_key(d: SegmentDef, valid: NDArray[np.bool_]) -> tuple[object, ...]:
    """What the segment frame depends on: both vectors as (tail points, head points), the valid samples."""
    return tuple((v.tail or d.origin, v.head) for v in (d.primary, d.secondary)) + (valid.tobytes(),)


def _valid_mask(points: _Points, d: SegmentDef) -> NDArray[np.bool_]:
    """Samples where every point of ``d`` is present with enough confidence, shape (T,)."""
    valid = np.ones(points.motion.n_frames, dtype=bool)
    for name in sorted(d.points()):
        valid &= points.usable(name)
    return valid


def _vector(points: _Points, v: Vector, origin: NDArray[np.float64]) -> NDArray[np.float64]:
    return points.mean(v.head) - (origin if not v.tail else points.mean(v.tail))


def _run_frames(t: NDArray[np.float64], uw: NDArray[np.float64], t_out: NDArray[np.float64],
                grids: EvalCache) -> _RunFrames | None:
    """Spline the filtered vectors of one run and build the segment frame at the output times inside it."""
    lo = int(np.searchsorted(t_out, t[0] - 1e-9, side="left"))
    hi = int(np.searchsorted(t_out, t[-1] + 1e-9, side="right"))
    if hi <= lo:
        return None
    fit = QuinticFit.fit(t, uw)
    ts = t_out[lo:hi]
    val = fit.evaluate(ts, 0, cache=grids)
    vel = fit.evaluate(ts, 1, cache=grids)
    n = hi - lo
    axes = tuple(tuple(np.empty(n) for _ in range(3)) for _ in range(3))
    omega = tuple(np.empty(n) for _ in range(3))
    ok = np.empty(n, dtype=bool)
    for s in range(0, n, _BLOCK):
        b = slice(s, min(s + _BLOCK, n))
        ax_b, om_b, ok_b = segment_frames_cm(val[0:3, b], vel[0:3, b], val[3:6, b], vel[3:6, b])
        for k in range(3):
            omega[k][b] = om_b[k]
            for i in range(3):
                axes[k][i][b] = ax_b[k][i]
        ok[b] = ok_b
    return _RunFrames(t, uw, lo, hi, axes, omega, ok)  # type: ignore[arg-type]


def _sensor_outputs(frames: _RunFrames, accel: NDArray[np.float64], R_seg_sensor: NDArray[np.float64]
                    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Accelerometer, gyroscope and orientation of a sensor on the segment of ``frames``.

    Parameters
    ----------
    frames : _RunFrames
    accel : ndarray, shape (3, N), m/s^2
        Acceleration of the sensor position in the world frame at the frame's output times.
    R_seg_sensor : ndarray, shape (3, 3)

    Returns
    -------
    acc : ndarray, shape (3, N), m/s^2
        Specific force ``R_ws^T (p'' - g)`` in the sensor frame.
    gyro : ndarray, shape (3, N), rad/s
    quat : ndarray, shape (4, N)
        Sensor-to-world (w, x, y, z), w >= 0; the identity where the frame is degenerate.
    """
    n = accel.shape[1]
    acc = np.empty((3, n))
    quat = np.empty((4, n))
    gyro = np.stack(_combine(R_seg_sensor, frames.omega))
    g_up = -float(GRAVITY_WORLD[2])                      # p'' - g, g = (0, 0, -G0)
    identity = np.array([[1.0], [0.0], [0.0], [0.0]])
    for s in range(0, n, _BLOCK):
        b = slice(s, min(s + _BLOCK, n))
        seg = tuple((ax[0][b], ax[1][b], ax[2][b]) for ax in frames.axes)
        axes = _sensor_axes(R_seg_sensor, seg)  # type: ignore[arg-type]
        a = accel[:, b]
        az = a[2] + g_up
        for k in range(3):
            acc[k, b] = axes[k][0] * a[0] + axes[k][1] * a[1] + axes[k][2] * az
        with np.errstate(invalid="ignore", divide="ignore"):
            q = quat_from_columns(*axes)
        ok_b = frames.ok[b]
        if not ok_b.all():
            q[:, ~ok_b] = identity
        quat[:, b] = q
    return acc, gyro, quat


def choose_definition(points: _Points, placement: Placement) -> SegmentDef:
    """The placement's definition to use: the first one whose points exist and are usable often enough.

    A definition whose points all exist is skipped when its usable samples (all points above the
    confidence threshold) are fewer than half those of the best existing definition: a skeleton may
    name hand joints it never tracks (Azure Kinect reports them with confidence 0), and then the
    hand-free fallback is the one that carries the signal.
    """
    have = set(points.names)
    candidates = [d for d in placement.definitions if d.points() <= have]
    if not candidates:
        return placement.resolve(points.names)          # raises the error naming the missing points
    usable = [int(_valid_mask(points, d).sum()) for d in candidates]
    best = max(usable)
    return next(d for d, n in zip(candidates, usable, strict=True) if n >= 0.5 * best)


def simulate_placement(motion: Motion, placement: Placement, t_out: NDArray[np.float64], *,
                       rate_hz: float, cutoff_hz: float, max_gap_s: float, min_confidence: float,
                       filter_order: int = 2) -> SensorSignals:
    """Signals of one placement at the output times ``t_out`` (a grid at ``rate_hz``), as :func:`simulate`."""
    points = _Points(motion, min_confidence=min_confidence)
    d = choose_definition(points, placement)
    return _simulate_placement(points, placement, d, _valid_mask(points, d), t_out, rate_hz=rate_hz,
                               cutoff_hz=cutoff_hz, max_gap_s=max_gap_s, filter_order=filter_order,
                               regular=is_regular(motion.time), shared=_Shared())[0]


def _simulate_placement(points: _Points, placement: Placement, d: SegmentDef, valid: NDArray[np.bool_],
                        t_out: NDArray[np.float64], *, rate_hz: float, cutoff_hz: float, max_gap_s: float,
                        filter_order: int, regular: bool, shared: _Shared,
                        mountings: Sequence[Mounting] = ()) -> tuple[SensorSignals, list[SensorSignals]]:
    """The signals of one placement, and of its mounted variants (``mountings``, augmentation)."""
    motion = points.motion
    key = _frame_key(d, valid)
    entry = shared.frames.get(key)
    cached = entry.runs if entry is not None else {}
    # rows 0-2: origin; 3-5: primary; 6-8: secondary vector (only the origin when the frames are cached)
    origin = points.mean(d.origin)
    raw = np.empty((3 if cached else 9, motion.n_frames))
    raw[0:3] = origin
    if not cached:
        raw[3:6] = _vector(points, d.primary, origin)
        raw[6:9] = _vector(points, d.secondary, origin)
    raw, valid_b = bridge_gaps_cm(motion.time, raw, valid, max_gap_s=max_gap_s)

    n = t_out.size
    acc = np.full((n, 3), np.nan)
    gyro = np.full((n, 3), np.nan)
    quat = np.full((n, 4), np.nan)
    ok_out = np.zeros(n, dtype=bool)
    rate_out = float(rate_hz)
    Rss = d.R_seg_sensor
    grids = shared.grid_cache(valid)
    mounted = [mount(m, Rss, placement.offset_m) for m in mountings]
    V = len(mounted)                                   # variant v: columns 3v:3v+3 (quaternions 4v:4v+4)
    v_acc, v_gyro, v_quat = np.empty((n, 3 * V)), np.empty((n, 3 * V)), np.empty((n, 4 * V))
    for a, b in runs(valid_b):
        if b - a < MIN_RUN_SAMPLES:
            continue
        t, x = motion.time[a:b], raw[:, a:b]
        src_rate = float(1.0 / np.median(np.diff(t)))
        if not regular:
            t, x = regular_grid_cm(t, x, rate_hz=src_rate)
        fc = effective_cutoff(cutoff_hz, src_rate, rate_out)
        x = lowpass(x, rate_hz=src_rate, cutoff_hz=fc, order=filter_order, axis=1)
        if (a, b) in cached:
            frames = cached[(a, b)]
        else:
            frames = _run_frames(t, x[3:9], t_out, grids)
            if entry is not None:
                cached[(a, b)] = frames
        if frames is None:
            continue
        u, w = frames.uw[0:3], frames.uw[3:6]
        pos = u * placement.along
        pos += x[0:3]
        lo, hi = frames.lo, frames.hi
        if mounted:
            # one spline for the sensor and every variant: the point on the segment axis and the segment axes
            rows = np.empty((12, t.size))
            rows[0:3] = pos
            for k, ax in enumerate(segment_axes_cm(u, w)):
                rows[3 + 3 * k:6 + 3 * k] = np.stack(ax)
            d2 = QuinticFit.fit(t, rows).evaluate(t_out[lo:hi], 2, cache=grids)
            lever = Rss @ placement.offset_m
            accel = d2[0:3] + lever[0] * d2[3:6] + lever[1] * d2[6:9] + lever[2] * d2[9:12]
        else:
            if np.any(placement.offset_m):
                for k, sensor_axis in enumerate(_sensor_axes(Rss, segment_axes_cm(u, w))):
                    if placement.offset_m[k] != 0.0:
                        pos += np.stack(sensor_axis) * placement.offset_m[k]
            accel = QuinticFit.fit(t, pos).evaluate(t_out[lo:hi], 2, cache=grids)
        acc_r, gyro_r, quat_r = _sensor_outputs(frames, accel, Rss)
        acc[lo:hi] = acc_r.T
        gyro[lo:hi] = gyro_r.T
        quat_r = _continuous(quat_r)
        quat[lo:hi] = quat_r.T
        ok_out[lo:hi] = frames.ok
        if mounted:
            variant_outputs(frames.axes, frames.omega, quat_r, d2, mounted, g_up=-float(GRAVITY_WORLD[2]),
                            out=(v_acc[lo:hi], v_gyro[lo:hi], v_quat[lo:hi]))
    if entry is not None:
        entry.users_left -= 1
        if entry.users_left <= 0:
            del shared.frames[key]
    shared.done(valid)
    for arr in (acc, gyro, quat):
        arr[~ok_out] = np.nan
    cut = effective_cutoff(cutoff_hz, motion.rate_hz, rate_out)
    base = SensorSignals(
        placement=placement.name, time=t_out, acc=acc, gyro=gyro, orientation=quat, valid=ok_out,
        rate_hz=float(rate_out), cutoff_hz=cut, frame=_frame_text(placement, Rss),
        placement_toml=placement.toml,
    )
    variants = []
    for arr in (v_acc, v_gyro, v_quat):
        arr[~ok_out] = np.nan
    for i, m in enumerate(mounted):
        name = variant_name(placement.name, m.mounting.index)
        variants.append(SensorSignals(
            placement=name, time=t_out, acc=v_acc[:, 3 * i:3 * i + 3], gyro=v_gyro[:, 3 * i:3 * i + 3],
            orientation=v_quat[:, 4 * i:4 * i + 4],
            valid=ok_out.copy(), rate_hz=float(rate_out), cutoff_hz=cut,
            frame=_frame_text(placement, m.R_seg_sensor, f" (augmentation variant {m.mounting.index} of "
                              f"{placement.name}: a random mounting, see the mounting_* attributes)"),
            placement_toml=placement.toml, attrs=mounting_attrs(m, placement.name)))
    return base, variants


def simulate(motion: Motion, placements: Sequence[Placement], *, rate_hz: float = 50.0,
             cutoff_hz: float | None = 12.0, max_gap_s: float = 0.2, min_confidence: float = 0.5,
             filter_order: int = 2, require_valid: bool = True,
             mountings: Mapping[str, Sequence[Mounting]] | None = None) -> dict[str, SensorSignals]:
    """Virtual IMU signals for each placement (and its augmentation variants).

    Parameters
    ----------
    motion : Motion
        Points in the z-up world frame, m; names of a known skeleton are mapped to canonical names.
    placements : sequence of Placement
    rate_hz : float, Hz
        Output rate (regular grid from the first sample).
    cutoff_hz : float or None, Hz
        Low-pass cut-off before differentiation; lowered to 0.25 x the source and output rates.
    max_gap_s : float, s
        Longest gap bridged; longer gaps are invalid.
    min_confidence : float in [0, 1]
        Samples with a lower confidence count as missing.
    filter_order : int
        Butterworth order of one filter pass (the pass is run forwards and backwards).
    require_valid : bool
        Raise :class:`InputError` when a placement has no valid sample (the motion pipeline);
        the video pipeline keeps such placements all-invalid instead.
    mountings : mapping of str to sequence of Mounting, optional
        Per placement name, random mountings (:func:`imusynth.core.mounting.draw_mountings`): each adds
        a variant sensor ``f"{name}~aug{index}"`` after the placement, computed from the same splines.

    Returns
    -------
    dict of str to SensorSignals
        One entry per placement, in order, each followed by its variants.

    Notes
    -----
    Placements whose segments use the same primary and secondary vectors over the same valid samples
    (``left_forearm`` and ``left_wrist``, say) share the filtered vectors and the segment frame.
    """
    if rate_hz <= 0:
        raise InputError(f"output rate must be positive, got {rate_hz} Hz")
    if motion.n_frames < MIN_RUN_SAMPLES:
        raise InputError(
            f"the recording has {motion.n_frames} samples; "
            f"at least {MIN_RUN_SAMPLES} are needed to differentiate"
        )
    points = _Points(motion, min_confidence=min_confidence)
    t_out = output_times(float(motion.time[0]), float(motion.time[-1]), rate_hz)
    regular = is_regular(motion.time)
    plans = []
    shared = _Shared()
    defs = [choose_definition(points, p) for p in placements]
    points.prefetch({n for d in defs for n in d.points()})
    for p, d in zip(placements, defs, strict=True):
        valid = _valid_mask(points, d)
        shared.frames.setdefault(_frame_key(d, valid), _SharedFrames(0)).users_left += 1
        shared.grid_users[valid.tobytes()] = shared.grid_users.get(valid.tobytes(), 0) + 1
        plans.append((p, d, valid))
    for key in [k for k, v in shared.frames.items() if v.users_left < 2]:
        del shared.frames[key]
    # placements with the same valid samples one after the other: their shared work is freed sooner
    group: dict[bytes, int] = {}
    for _, _, valid in plans:
        group.setdefault(valid.tobytes(), len(group))
    order = sorted(range(len(plans)), key=lambda i: group[plans[i][2].tobytes()])
    signals: list[tuple[SensorSignals, list[SensorSignals]] | None] = [None] * len(plans)
    mountings = mountings or {}
    from threadpoolctl import threadpool_limits

    # the variants' small matrix products run fastest on one BLAS thread (no spinning on a busy machine)

    with threadpool_limits(1, user_api="blas") if any(mountings.values()) else nullcontext():
        for i in order:
            p, d, valid = plans[i]
            signals[i] = _simulate_placement(
                points, p, d, valid, t_out, rate_hz=rate_hz, cutoff_hz=cutoff_hz if cutoff_hz else np.inf,
                max_gap_s=max_gap_s, filter_order=filter_order, regular=regular, shared=shared,
                mountings=mountings.get(p.name, ()))
    out: dict[str, SensorSignals] = {}
    for (p, _, _), res in zip(plans, signals, strict=True):
        assert res is not None
        sig, variants = res
        if require_valid and not sig.valid.any():
            raise InputError(
                f"placement {p.name!r}: no valid sample (its points are missing, NaN, below confidence "
                f"{min_confidence}, or in runs shorter than {MIN_RUN_SAMPLES} samples)"
            )
        out[p.name] = sig
        for v in variants:
            out[v.placement] = v
    return out
