"""Compare a virtual IMU signal with a real IMU recording: band, rate, offset, rotation, lever arm, metrics.

The comparison runs in five steps, each a public function that takes plain arrays (SI units):

1. :func:`band_limit` -- zero-phase low-pass of both signals at their common band (:func:`default_cutoff_hz`,
   :func:`lowpass`), the virtual one resampled onto a uniform grid in its own clock (:func:`resample`);
   the real one stays at its native samples and is resampled onto the same grid once the offset is known.
   Invalid samples are NaN and are never interpolated across.
2. :func:`estimate_time_offset` -- masked, normalised cross-correlation of rotation-invariant signals
   (gyroscope norm, accelerometer norm), or of the axes once a rotation is known; parabolic refinement of
   the peak.
3. :func:`fit_rotation` -- the constant rotation between the two sensor frames from the gyroscopes
   (Kabsch / Wahba, SVD), or a given one (:func:`as_rotation`: a quaternion or a matrix).
4. :func:`fit_lever_arm` -- the position of the real sensor relative to the virtual one, by linear least
   squares on the rigid-body acceleration terms.
5. :func:`axis_metrics` -- Pearson r, RMSE and normalised RMSE per axis, and of the norms ``|acc|`` and
   ``|gyro|`` (rotation-free).

:func:`compare_signals` runs them all and returns a :class:`CompareResult`.

Modules: :mod:`~imusynth.compare.band` (step 1), :mod:`~imusynth.compare.alignment` (steps 2-4),
:mod:`~imusynth.compare.metrics` (step 5), :mod:`~imusynth.compare.pipeline` (every step),
:mod:`~imusynth.compare.errors` (:class:`CompareError`). Import the public names from ``imusynth.compare``.

Conventions (also in ``docs/compare.md``):

- time offset ``offset_s``: the real sample taken at real-clock time ``t + offset_s`` corresponds to
  the virtual sample at virtual-clock time ``t``;
- rotation ``R`` (3x3, quaternion ``(w, x, y, z)``): maps a vector written in the virtual sensor frame
  into the real sensor frame, ``gyro_r(t + offset_s) = R gyro_v(t)``;
- lever arm ``r`` (m): the position of the real sensor in the virtual sensor frame, relative to the
  virtual sensor.
"""

from __future__ import annotations

from imusynth.compare.alignment import (
    OffsetEdgeError,
    OffsetEstimate,
    apply_lever_arm,
    as_rotation,
    estimate_time_offset,
    fit_lever_arm,
    fit_rotation,
)
from imusynth.compare.band import (
    CUTOFF_FRACTION,
    GAP_FACTOR,
    BandLimited,
    band_limit,
    default_cutoff_hz,
    estimate_rate_hz,
    lowpass,
    resample,
)
from imusynth.compare.errors import CompareError
from imusynth.compare.metrics import AXES, AxisMetrics, axis_metrics
from imusynth.compare.pipeline import CompareResult, compare_signals

__all__ = [
    "AXES",
    "CUTOFF_FRACTION",
    "GAP_FACTOR",
    "AxisMetrics",
    "BandLimited",
    "CompareError",
    "CompareResult",
    "OffsetEdgeError",
    "OffsetEstimate",
    "apply_lever_arm",
    "as_rotation",
    "axis_metrics",
    "band_limit",
    "compare_signals",
    "default_cutoff_hz",
    "estimate_rate_hz",
    "estimate_time_offset",
    "fit_lever_arm",
    "fit_rotation",
    "lowpass",
    "resample",
]
