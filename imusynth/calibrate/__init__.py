"""Stage 6: make virtual IMU data look like a real device (distribution mapping, alignment, device model).

A calibration *profile* (TOML, see :func:`profile_to_toml`) holds up to four steps, applied in this order
by :func:`apply_profile`:

1. **resample** to the real device's rate: zero-phase Butterworth low-pass below the new Nyquist frequency
   (anti-aliasing), then linear interpolation onto the new regular grid, one valid run at a time;
2. **axis alignment**: the smallest rotation taking the virtual set's mean gravity direction (mean specific
   force during quasi-static spans, in the sensor frame) onto the real set's; applied to acc and gyro;
3. **distribution mapping** per channel, ``x_real = G^-1(F(x_virtual))`` with ``F`` and ``G`` the empirical
   CDFs of the virtual and real sets, interpolated linearly between ``n_knots`` quantile knots (no
   quantisation: the map is continuous and piecewise linear, so distinct inputs stay distinct wherever the
   real quantiles are not tied), optionally one map per activity class;
4. **device model**: constant bias (fixed plus a per-clip random draw), white noise of a given noise density,
   range saturation and quantisation step (an ADC), all in SI.

Everything is SI inside: acc in m/s^2 (specific force, gravity included), gyro in rad/s.

Modules
-------
series
    :class:`ImuSeries` (the record calibration works on), :data:`CHANNELS`, :class:`CalibrationError`.
recordings
    :func:`load_recordings` (HDF5 clips, real-IMU CSV, ``.ts``), :func:`series_from_signals`.
resampling
    :func:`resample`, :func:`resample_series`, :func:`lowpass`, :func:`valid_runs`.
alignment
    :func:`gravity_direction`, :func:`rotation_between`, :class:`Alignment` (fixed or per-sensor:
    :data:`ALIGNMENT_MODES`), :func:`fit_alignment`, :func:`fit_heading` (rotation about gravity, unpaired).
mapping
    :class:`QuantileMap`, :func:`fit_quantile_map`, :class:`DistributionMapping`, :func:`fit_mapping`.
device
    :class:`DeviceModel`, :data:`DEVICE_PRESETS`, :func:`device_preset`.
profiles
    :class:`CalibrationProfile`, :func:`fit_profile`, :func:`apply_profile`, :func:`clip_seed`.
profile_toml
    The profile file: :func:`profile_to_toml`, :func:`profile_from_toml`, :func:`save_profile`,
    :func:`load_profile`.
metrics
    :func:`distribution_distances` (Wasserstein and KS per channel).
"""

from __future__ import annotations

from imusynth.calibrate.alignment import (
    ALIGNMENT_MODES,
    Alignment,
    GravityEstimate,
    fit_alignment,
    gravity_direction,
    mean_specific_force,
    quasi_static_mask,
    rotation_between,
)
from imusynth.calibrate.device import DEVICE_PRESETS, DeviceModel, device_preset
from imusynth.calibrate.mapping import (
    TAILS,
    DistributionMapping,
    QuantileMap,
    fit_mapping,
    fit_quantile_map,
    sorted_quantiles,
)
from imusynth.calibrate.metrics import ChannelDistance, distribution_distances
from imusynth.calibrate.profile_toml import (
    PROFILE_SCHEMA,
    load_profile,
    profile_from_toml,
    profile_to_toml,
    save_profile,
)
from imusynth.calibrate.profiles import CalibrationProfile, apply_profile, clip_seed, fit_profile
from imusynth.calibrate.recordings import GROUP_BY, LoadedRecording, load_recordings, series_from_signals
from imusynth.calibrate.resampling import lowpass, resample, resample_series, valid_runs
from imusynth.core.imu_series import CHANNELS, CalibrationError, ImuSeries, dedupe_time

__all__ = [
    "ALIGNMENT_MODES",
    "CHANNELS",
    "DEVICE_PRESETS",
    "GROUP_BY",
    "PROFILE_SCHEMA",
    "TAILS",
    "Alignment",
    "CalibrationError",
    "CalibrationProfile",
    "ChannelDistance",
    "DeviceModel",
    "DistributionMapping",
    "GravityEstimate",
    "ImuSeries",
    "LoadedRecording",
    "QuantileMap",
    "apply_profile",
    "clip_seed",
    "dedupe_time",
    "device_preset",
    "distribution_distances",
    "fit_alignment",
    "fit_mapping",
    "fit_profile",
    "fit_quantile_map",
    "gravity_direction",
    "load_profile",
    "load_recordings",
    "lowpass",
    "mean_specific_force",
    "profile_from_toml",
    "profile_to_toml",
    "quasi_static_mask",
    "resample",
    "resample_series",
    "rotation_between",
    "save_profile",
    "series_from_signals",
    "sorted_quantiles",
    "valid_runs",
]
