"""Virtual accelerometer, gyroscope and orientation from a Motion and placements (stage 5).

For each placement the segment frame ``R_ws(t)`` (sensor to world) and the sensor position ``p(t)``
are built from smoothed, splined points (:mod:`imusynth.kinematics`), then

* accelerometer = specific force ``R_ws^T (p'' - g)`` with ``g = (0, 0, -G0)``: at rest, +G0 on the
  sensor axis that points up;
* gyroscope = angular velocity in the sensor frame, from the exact derivative of the frame;
* orientation = ``R_ws`` as a quaternion (w, x, y, z).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .conventions import GRAVITY_WORLD, quat_continuous, quat_from_matrix
from .errors import InputError
from .kinematics import (
    MIN_RUN_SAMPLES,
    Trajectory,
    bridge_gaps,
    effective_cutoff,
    is_regular,
    lowpass,
    regular_grid,
    runs,
    segment_frames,
)
from .motion import Motion
from .placements import Placement, SegmentDef, Vector
from .skeletons import to_canonical


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


def _mean_points(motion: Motion, names: tuple[str, ...]) -> NDArray[np.float64]:
    return motion.xyz[:, [motion.index(n) for n in names], :].mean(axis=1)


def _vector(motion: Motion, v: Vector, origin: NDArray[np.float64]) -> NDArray[np.float64]:
    tail = origin if not v.tail else _mean_points(motion, v.tail)
    return _mean_points(motion, v.head) - tail


def output_times(t_start: float, t_end: float, rate_hz: float) -> NDArray[np.float64]:
    """Regular output grid ``t_start + k / rate_hz`` within ``[t_start, t_end]``, s."""
    n = int(np.floor((t_end - t_start) * rate_hz + 1e-9)) + 1
    return t_start + np.arange(max(n, 0)) / rate_hz


def _frame_text(p: Placement, d: SegmentDef) -> str:
    axes = []
    for col in range(3):
        row = int(np.flatnonzero(d.R_seg_sensor[:, col])[0])
        axes.append(("+" if d.R_seg_sensor[row, col] > 0 else "-") + "xyz"[row])
    return (f"{p.description}. Sensor axes (x, y, z) = segment axes {axes}; segment x = unit(primary), "
            "y = orthogonalised secondary, z = x cross y. Right-handed. Orientation rotates sensor to world "
            "(world z up, gravity -z).")


def simulate_placement(motion: Motion, placement: Placement, t_out: NDArray[np.float64], *,
                       rate_hz: float, cutoff_hz: float, max_gap_s: float, min_confidence: float,
                       filter_order: int = 2) -> SensorSignals:
    """Signals of one placement at the output times ``t_out`` (a grid at ``rate_hz``; see :func:`simulate`)."""
    d = placement.resolve(motion.names)
    names = sorted(d.points())
    idx = [motion.index(n) for n in names]
    valid = np.all(motion.confidence[:, idx] >= min_confidence, axis=1)
    origin = _mean_points(motion, d.origin)
    raw = np.concatenate([origin, _vector(motion, d.primary, origin), _vector(motion, d.secondary, origin)], axis=1)
    valid &= np.isfinite(raw).all(axis=1)
    raw, valid = bridge_gaps(motion.time, raw, valid, max_gap_s=max_gap_s)

    n = t_out.size
    acc = np.full((n, 3), np.nan)
    gyro = np.full((n, 3), np.nan)
    quat = np.full((n, 4), np.nan)
    ok_out = np.zeros(n, dtype=bool)
    rate_out = float(rate_hz)
    regular = is_regular(motion.time)
    for a, b in runs(valid):
        if b - a < MIN_RUN_SAMPLES:
            continue
        t, x = motion.time[a:b], raw[a:b]
        src_rate = float(1.0 / np.median(np.diff(t)))
        if not regular:
            t, x = regular_grid(t, x, rate_hz=src_rate)
        fc = effective_cutoff(cutoff_hz, src_rate, rate_out)
        x = lowpass(x, rate_hz=src_rate, cutoff_hz=fc, order=filter_order)
        o, u, w = x[:, 0:3], x[:, 3:6], x[:, 6:9]
        pos = o + placement.along * u
        if np.any(placement.offset_m):
            R_seg, _, _ = segment_frames(u, np.zeros_like(u), w, np.zeros_like(w))
            pos = pos + (R_seg @ d.R_seg_sensor) @ placement.offset_m
        traj = Trajectory.fit(t, np.concatenate([pos, u, w], axis=1))
        sel = (t_out >= traj.t_start - 1e-9) & (t_out <= traj.t_end + 1e-9)
        ts = t_out[sel]
        val, vel, accel = traj(ts, 0), traj(ts, 1), traj(ts, 2)
        R_seg_t, omega_seg, ok_t = segment_frames(val[:, 3:6], vel[:, 3:6], val[:, 6:9], vel[:, 6:9])
        R_ws_t = R_seg_t @ d.R_seg_sensor
        a_world = accel[:, 0:3]
        acc[sel] = np.einsum("nji,nj->ni", R_ws_t, a_world - GRAVITY_WORLD)
        gyro[sel] = omega_seg @ d.R_seg_sensor
        with np.errstate(invalid="ignore"):
            q = quat_from_matrix(np.where(ok_t[:, None, None], R_ws_t, np.eye(3)))
        quat[sel] = quat_continuous(q)
        ok_out[sel] = ok_t
    for arr in (acc, gyro, quat):
        arr[~ok_out] = np.nan
    return SensorSignals(
        placement=placement.name,
        time=t_out,
        acc=acc,
        gyro=gyro,
        orientation=quat,
        valid=ok_out,
        rate_hz=float(rate_out),
        cutoff_hz=effective_cutoff(cutoff_hz, motion.rate_hz, rate_out),
        frame=_frame_text(placement, d),
        placement_toml=placement.toml,
    )


def simulate(motion: Motion, placements: Sequence[Placement], *, rate_hz: float = 50.0,
             cutoff_hz: float | None = 12.0, max_gap_s: float = 0.2, min_confidence: float = 0.5,
             filter_order: int = 2, require_valid: bool = True) -> dict[str, SensorSignals]:
    """Virtual IMU signals for each placement.

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

    Returns
    -------
    dict of str to SensorSignals
        One entry per placement, in order.
    """
    if rate_hz <= 0:
        raise InputError(f"output rate must be positive, got {rate_hz} Hz")
    if motion.n_frames < MIN_RUN_SAMPLES:
        raise InputError(
            f"the recording has {motion.n_frames} samples; at least {MIN_RUN_SAMPLES} are needed to differentiate"
        )
    motion = to_canonical(motion)
    t_out = output_times(float(motion.time[0]), float(motion.time[-1]), rate_hz)
    out: dict[str, SensorSignals] = {}
    for p in placements:
        sig = simulate_placement(motion, p, t_out, rate_hz=rate_hz, cutoff_hz=cutoff_hz if cutoff_hz else np.inf,
                                 max_gap_s=max_gap_s, min_confidence=min_confidence, filter_order=filter_order)
        if require_valid and not sig.valid.any():
            raise InputError(
                f"placement {p.name!r}: no valid sample (its points are missing, NaN, below confidence "
                f"{min_confidence}, or in runs shorter than {MIN_RUN_SAMPLES} samples)"
            )
        out[p.name] = sig
    return out
