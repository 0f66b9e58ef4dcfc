"""Every step of the comparison in one call: :func:`compare_signals` and its :class:`CompareResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.compare.alignment import (
    OffsetEdgeError,
    apply_lever_arm,
    as_rotation,
    estimate_time_offset,
    fit_lever_arm,
    fit_rotation,
)
from imusynth.compare.band import band_limit
from imusynth.compare.errors import CompareError
from imusynth.compare.metrics import AXES, AxisMetrics, _num, axis_metrics
from imusynth.core.conventions import quat_from_matrix

Array = NDArray[np.float64]


@dataclass(frozen=True)
class CompareResult:
    """Outcome of :func:`compare_signals`.

    Attributes
    ----------
    offset_s : float
        Real-clock minus virtual-clock time of the same instant, s.
    offset_score : float
        Correlation score at the offset peak (see :class:`OffsetEstimate`).
    rotation_quat : ndarray, shape (4,)
        Virtual-to-real sensor rotation as a quaternion ``(w, x, y, z)``, ``w >= 0``; identity when not
        estimated.
    rotation_angle_deg : float
        Angle of that rotation, degrees.
    lever_arm_m : ndarray, shape (3,), or None
        Position of the real sensor in the virtual sensor frame, m; None when not estimated.
    cutoff_hz : float
        Low-pass cut-off, Hz.
    rate_hz : float
        Common rate, Hz.
    n_samples : int
        Grid samples where both signals are valid after alignment.
    metrics : dict
        ``metrics["acc" | "gyro"]["x" | "y" | "z"]`` -> :class:`AxisMetrics`, computed in the real sensor
        frame (``R`` applied to the virtual signal, lever arm included).
    magnitude : dict
        ``magnitude["acc" | "gyro"]`` -> :class:`AxisMetrics` of the norms ``|acc|`` and ``|gyro|`` (lever
        arm included): independent of the rotation, so a wrong or unknown mounting does not lower them.
    rotation_given : bool
        True when the rotation was given (``rotation=``), not fitted.
    real_labels : dict
        Label -> number of real samples in the aligned span, when the real file has labels (set by the
        caller that read it, e.g. :func:`imusynth.cli.compare.compare_files`); empty otherwise.
    """

    offset_s: float
    offset_score: float
    rotation_quat: Array
    rotation_angle_deg: float
    lever_arm_m: Array | None
    cutoff_hz: float
    rate_hz: float
    n_samples: int
    metrics: dict[str, dict[str, AxisMetrics]]
    magnitude: dict[str, AxisMetrics] = field(default_factory=dict)
    rotation_given: bool = False
    real_labels: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists and floats; NaN becomes None)."""
        return {
            "offset_s": self.offset_s,
            "offset_score": _num(self.offset_score),
            "rotation_quat_wxyz": [float(q) for q in self.rotation_quat],
            "rotation_angle_deg": self.rotation_angle_deg,
            "lever_arm_m": None if self.lever_arm_m is None else [float(x) for x in self.lever_arm_m],
            "cutoff_hz": self.cutoff_hz,
            "rate_hz": self.rate_hz,
            "n_samples": self.n_samples,
            "metrics": {s: {a: m.to_dict() for a, m in axes.items()} for s, axes in self.metrics.items()},
            "magnitude": {s: m.to_dict() for s, m in self.magnitude.items()},
            "rotation_given": self.rotation_given,
            "real_labels": dict(self.real_labels),
        }

    def to_table(self) -> str:
        """A plain text summary: alignment lines, then one aligned row per signal and axis."""
        q = ", ".join(f"{x:+.4f}" for x in self.rotation_quat)
        lines = [
            f"time offset      {self.offset_s:+.4f} s (real - virtual; score {self.offset_score:.3f})",
            f"rotation         {self.rotation_angle_deg:.2f} deg (w, x, y, z = {q})"
            + (" given" if self.rotation_given else " fitted"),
        ]
        if self.lever_arm_m is not None:
            lever = ", ".join(f"{x * 1000:+.1f}" for x in self.lever_arm_m)
            lines.append(f"lever arm        ({lever}) mm")
        lines.append(f"band / rate      {self.cutoff_hz:.2f} Hz low-pass, {self.rate_hz:.2f} Hz, "
                     f"{self.n_samples} samples")
        lines.append("")
        header = (f"{'signal':<6} {'axis':<4} {'r':>7} {'RMSE':>9} {'unit':<6} {'NRMSE':>7} {'RMSE/std':>8} "
                  f"{'n':>7}")
        lines += [header, "-" * len(header)]
        units = {"acc": "m/s^2", "gyro": "rad/s"}
        rows = [(sig, ax, m) for sig, axes in self.metrics.items() for ax, m in axes.items()]
        rows += [(sig, "|.|", m) for sig, m in self.magnitude.items()]
        for sig, ax, m in rows:
            lines.append(
                f"{sig:<6} {ax:<4} {m.r:>7.4f} {m.rmse:>9.4f} {units.get(sig, ''):<6} {m.nrmse:>7.3f} "
                f"{m.nrmse_std:>8.3f} {m.n:>7d}"
            )
        lines.append("NRMSE = RMSE / range of the real signal; r = Pearson correlation; "
                     "|.| = norm (rotation-free)")
        if self.real_labels:
            lines.append("real labels      " + ", ".join(f"{k} ({n})" for k, n in self.real_labels.items()))
        return "\n".join(lines)


def compare_signals(
    t_v: ArrayLike,
    acc_v: ArrayLike,
    gyro_v: ArrayLike,
    valid_v: ArrayLike | None,
    t_r: ArrayLike,
    acc_r: ArrayLike,
    gyro_r: ArrayLike,
    *,
    cutoff_hz: float | None = None,
    rate_hz: float | None = None,
    max_lag_s: float = 10.0,
    offset_guess_s: float = 0.0,
    estimate_rotation: bool = True,
    lever_arm: bool = False,
    refine_iterations: int = 1,
    refine_lag_s: float = 0.5,
    min_overlap_s: float = 2.0,
    rotation: ArrayLike | None = None,
) -> CompareResult:
    """Align a virtual IMU signal with a real recording and measure their agreement per axis.

    Steps: :func:`band_limit`; :func:`estimate_time_offset` on the norms (``+-max_lag_s`` around
    ``offset_guess_s``); :func:`fit_rotation` on the aligned gyroscopes; :func:`fit_lever_arm` if asked;
    then ``refine_iterations`` rounds of per-axis offset re-estimation (``+-refine_lag_s`` around the
    current offset, with the current rotation and lever arm) followed by a new rotation and lever-arm
    fit; finally :func:`axis_metrics` on ``R (acc_v + lever terms)`` vs ``acc_r`` and ``R gyro_v`` vs
    ``gyro_r`` in the real sensor frame.

    Parameters
    ----------
    t_v : array_like, shape (N,), s
        Virtual timestamps (virtual clock).
    acc_v : array_like, shape (N, 3), m/s^2
        Virtual specific force, virtual sensor frame.
    gyro_v : array_like, shape (N, 3), rad/s
        Virtual angular velocity, virtual sensor frame.
    valid_v : array_like of bool, shape (N,), or None
        False marks invalid virtual samples (excluded throughout).
    t_r : array_like, shape (M,), s
        Real timestamps (real clock).
    acc_r : array_like, shape (M, 3), m/s^2
        Real specific force, real sensor frame.
    gyro_r : array_like, shape (M, 3), rad/s
        Real angular velocity, real sensor frame.
    cutoff_hz : float, optional
        Cap on the low-pass cut-off, Hz (default cut-off: 0.8 x the lowest Nyquist frequency).
    rate_hz : float, optional
        Common rate, Hz; default the virtual rate.
    max_lag_s : float
        Half-width of the offset search, s.
    offset_guess_s : float
        Centre of the offset search, s.
    estimate_rotation : bool
        Fit the sensor rotation; otherwise the frames are taken as equal (unless ``rotation`` is given).
    lever_arm : bool
        Fit the lever arm.
    refine_iterations : int
        Rounds of per-axis offset refinement and refitting (0 to skip).
    refine_lag_s : float
        Half-width of the offset search during refinement, s.
    min_overlap_s : float
        Least overlap of valid samples after alignment, s; also the least overlap for a lag to be scored.
    rotation : array_like, shape (4,) or (3, 3), optional
        A given virtual-to-real rotation (quaternion ``(w, x, y, z)`` or matrix, :func:`as_rotation`):
        used for scoring instead of a fitted one (``estimate_rotation`` is then ignored).

    Returns
    -------
    CompareResult

    Raises
    ------
    CompareError
        Bad shapes, constant signals, an overlap under ``min_overlap_s``, or an undetermined rotation; a
        correlation peak at an edge names the parameter that helps (``max_lag_s``, ``refine_lag_s``,
        ``min_overlap_s``).
    """
    if refine_iterations < 0 or refine_lag_s <= 0 or min_overlap_s <= 0:
        raise CompareError(
            "refine_iterations must be >= 0 and refine_lag_s, min_overlap_s > 0; got "
            f"{refine_iterations}, {refine_lag_s}, {min_overlap_s}"
        )
    given = None if rotation is None else as_rotation(rotation)
    bl = band_limit(t_v, acc_v, gyro_v, valid_v, t_r, acc_r, gyro_r, cutoff_hz=cutoff_hz, rate_hz=rate_hz)
    est = estimate_time_offset(bl, max_lag_s=max_lag_s, offset_guess_s=offset_guess_s,
                               min_overlap_s=min_overlap_s)
    rot = np.eye(3) if given is None else given
    lever: Array | None = None
    for it in range(refine_iterations + 1):
        if it > 0:
            try:
                est = estimate_time_offset(bl, max_lag_s=refine_lag_s, offset_guess_s=est.offset_s,
                                           rotation=rot, lever_arm_m=lever, min_overlap_s=min_overlap_s)
            except OffsetEdgeError as exc:
                if exc.kind != "window":
                    raise
                raise CompareError(
                    "refinement: the per-axis correlation peak lies at the edge of its search window "
                    f"(+-{refine_lag_s:g} s around the first estimate {est.offset_s:.3f} s, at "
                    f"{exc.offset_s:.3f} s); widen refine_lag_s, or give refine_iterations 0 to keep the "
                    "first estimate"
                ) from None
        acc_ra, gyro_ra = bl.real_at(bl.t_grid + est.offset_s)
        if estimate_rotation and given is None:
            rot = fit_rotation(bl.gyro_v, gyro_ra)
        if lever_arm:
            lever = fit_lever_arm(bl.acc_v, bl.gyro_v, acc_ra, rotation=rot, rate_hz=bl.rate_hz)

    acc_vc = bl.acc_v if lever is None else apply_lever_arm(bl.acc_v, bl.gyro_v, lever, rate_hz=bl.rate_hz)
    acc_vr, gyro_vr = acc_vc @ rot.T, bl.gyro_v @ rot.T
    both = np.all(np.isfinite(np.hstack([acc_vr, gyro_vr, acc_ra, gyro_ra])), axis=1)
    n_samples = int(both.sum())
    if n_samples / bl.rate_hz < min_overlap_s:
        raise CompareError(
            f"after alignment (offset {est.offset_s:.3f} s) the signals overlap by "
            f"{n_samples / bl.rate_hz:.2f} s, less than {min_overlap_s:g} s"
        )
    metrics = {
        name: {ax: axis_metrics(v[both, i], r[both, i]) for i, ax in enumerate(AXES)}
        for name, v, r in (("acc", acc_vr, acc_ra), ("gyro", gyro_vr, gyro_ra))
    }
    magnitude = {
        name: axis_metrics(np.linalg.norm(v[both], axis=1), np.linalg.norm(r[both], axis=1))
        for name, v, r in (("acc", acc_vc, acc_ra), ("gyro", bl.gyro_v, gyro_ra))
    }
    quat = quat_from_matrix(rot)
    return CompareResult(
        offset_s=est.offset_s,
        offset_score=est.score,
        rotation_quat=quat,
        rotation_angle_deg=float(np.degrees(2.0 * np.arccos(np.clip(quat[0], -1.0, 1.0)))),
        lever_arm_m=lever,
        cutoff_hz=bl.cutoff_hz,
        rate_hz=bl.rate_hz,
        n_samples=n_samples,
        metrics=metrics,
        magnitude=magnitude,
        rotation_given=given is not None,
    )
