"""Calibration profiles: the :class:`CalibrationProfile` record, fitting it and applying it.

:func:`fit_profile` resamples both sides, fits the alignment and the quantile maps;
:func:`apply_profile` runs resample -> alignment -> mapping -> device model on one
:class:`~imusynth.core.imu_series.ImuSeries`, with noise seeded per clip by :func:`clip_seed`.
The profile's file format lives in :mod:`imusynth.calibrate.profile_toml`.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.calibrate.alignment import (
    ALIGNMENT_MODES,
    Alignment,
    fit_alignment,
    relative_rotation,
    rotate_data,
)
from imusynth.calibrate.device import DeviceModel
from imusynth.calibrate.mapping import DistributionMapping, fit_mapping
from imusynth.calibrate.resampling import resample_series
from imusynth.core.imu_series import CalibrationError, ImuSeries


@dataclass(frozen=True)
class CalibrationProfile:
    """Everything :func:`apply_profile` needs, as stored in a profile TOML file.

    Attributes
    ----------
    name : str
        Profile name (normally the file stem).
    description : str
        What the profile was fitted on, in words.
    source : dict of str to str
        Provenance (virtual and real inputs, placement, sample counts, date).
    rate_hz : float or None
        Output rate, Hz (the real device's); None keeps the input rate.
    alignment : Alignment or None
        Axis rotation applied before the mapping.
    alignment_mode : {"fixed", "per-sensor"}
        ``per-sensor``: a sensor calibrated with a reference recording of the same motion (an augmentation
        variant and its base sensor) is first turned by its mounting relative to the reference
        (:data:`imusynth.calibrate.alignment.ALIGNMENT_MODES`); ``fixed``: never.
    mapping : DistributionMapping or None
        Per-channel quantile maps (SI on both sides).
    device : DeviceModel
        Device imperfections applied last.
    seed : int
        Default seed of the noise generator (each clip's generator is seeded with it and the clip id).
    cutoff_ratio : float
        Anti-aliasing cutoff, fraction of the new Nyquist frequency.
    applies_to : {"recordings", "windows"}
        ``recordings``: sensor recordings (``imusynth/1`` clips; maps on acc/gyro x, y, z);
        ``windows``: windows files (maps on the windows' channels, any frame: fitted and applied by
        :mod:`imusynth.har.window_calibration`; no resampling, alignment or device model).
    """

    name: str
    description: str = ""
    source: dict[str, str] = field(default_factory=dict)
    rate_hz: float | None = None
    alignment: Alignment | None = None
    alignment_mode: str = "fixed"
    mapping: DistributionMapping | None = None
    device: DeviceModel = field(default_factory=DeviceModel)
    seed: int = 0
    cutoff_ratio: float = 0.8
    applies_to: str = "recordings"

    def __post_init__(self) -> None:
        if self.applies_to not in APPLIES_TO:
            raise CalibrationError(f"applies_to must be one of {', '.join(APPLIES_TO)}, "
                                   f"got {self.applies_to!r}")


#: What a profile calibrates: sensor recordings, or the channels of windows files.
APPLIES_TO = ("recordings", "windows")

#: Below this margin (:class:`imusynth.calibrate.alignment.HeadingEstimate`) a fitted heading is
#: reported as ambiguous: the synthetic walks of tests/test_heading_alignment.py give above 1.3, the
#: gaitmap feet 4.4-5.1, noise without a preferred horizontal direction below 1.5.
HEADING_MARGIN_NOTE = 1.5


def fit_profile(
    virtual: Sequence[ImuSeries],
    real: Sequence[ImuSeries],
    *,
    name: str,
    description: str = "",
    source: dict[str, str] | None = None,
    rate_hz: float | None = None,
    per_class: bool = False,
    align: bool = True,
    alignment_mode: str = "per-sensor",
    heading: bool = False,
    min_angle_deg: float = 5.0,
    n_knots: int = 1001,
    tails: str = "linear",
    device: DeviceModel | None = None,
    seed: int = 0,
    cutoff_ratio: float = 0.8,
) -> tuple[CalibrationProfile, list[str]]:
    """Fit a profile that maps ``virtual`` recordings onto the distribution of ``real`` ones.

    Steps: both sides resampled to ``rate_hz`` (default: the real set's median rate, rounded to 0.01 Hz),
    the alignment fitted on the resampled data and applied to the virtual side, then the quantile maps
    fitted on the valid samples.

    Parameters
    ----------
    virtual, real : sequence of ImuSeries
        Virtual and real recordings of the same placement (labels needed when ``per_class``).
    name, description, source
        Stored in the profile.
    rate_hz : float, optional
        Output rate, Hz.
    per_class : bool
        Fit one map set per activity class as well.
    align : bool
        Fit the gravity-direction alignment (see :func:`fit_alignment`).
    alignment_mode : {"per-sensor", "fixed"}
        Stored in the profile (see :class:`CalibrationProfile`; the default, ``per-sensor``, was chosen by
        measurement: docs/calibration.md, "Measured"). It does not change the fit.
    heading : bool
        Fit the rotation about gravity too, from the horizontal-direction distributions (unpaired,
        :func:`imusynth.calibrate.alignment.fit_heading`); a note warns when its margin is below
        :data:`HEADING_MARGIN_NOTE` (ambiguous).
    min_angle_deg : float
        Smallest misalignment, degrees, that gets a rotation.
    n_knots, tails
        See :func:`fit_quantile_map`.
    device : DeviceModel, optional
        Device model stored in the profile (default: none; the fitted mapping already carries the real
        device's noise distribution, so adding a noise model on top counts the noise twice).
    seed : int
        Stored noise seed.
    cutoff_ratio : float
        Anti-aliasing cutoff (see :func:`resample`).

    Returns
    -------
    profile : CalibrationProfile
    notes : list of str
        What was decided (rate, alignment), for the log.
    """
    if not virtual or not real:
        raise CalibrationError("fitting needs at least one virtual and one real recording")
    if alignment_mode not in ALIGNMENT_MODES:
        raise CalibrationError(f"alignment mode must be one of {', '.join(ALIGNMENT_MODES)}, "
                               f"got {alignment_mode!r}")
    notes: list[str] = []
    if rate_hz is None:
        rates = [s.rate_hz for s in real if s.n >= 2]
        if not rates:
            raise CalibrationError("real recordings are too short to know their rate")
        rate_hz = round(float(np.median(rates)), 2)
        notes.append(f"rate: {rate_hz:g} Hz (median rate of the real recordings)")
    rate = float(rate_hz)
    v_rs, r_rs = (
        [
            s if _is_regular_at(s, rate) else resample_series(s, rate_hz=rate, cutoff_ratio=cutoff_ratio)
            for s in side
        ]
        for side in (virtual, real)
    )
    alignment = None
    if align:
        alignment, why = fit_alignment(v_rs, r_rs, min_angle_deg=min_angle_deg, heading=heading)
        notes.append(why)
        margin = alignment.heading_margin if alignment is not None else None
        if margin is not None and margin < HEADING_MARGIN_NOTE:
            notes.append(f"warning: the heading is ambiguous (margin {margin:.2f} < {HEADING_MARGIN_NOTE}: "
                         "the horizontal distributions do not fix it); consider fitting without --heading")
    v_data = [s.data[s.valid] for s in v_rs]
    if alignment is not None:
        v_data = [alignment.apply(d) for d in v_data]
    r_data = [s.data[s.valid] for s in r_rs]
    v_lab = r_lab = None
    if per_class:
        if any(s.labels is None for s in (*v_rs, *r_rs)):
            raise CalibrationError("--per-class needs activity labels on every virtual and real recording")
        v_lab = np.concatenate([s.labels[s.valid] for s in v_rs])  # type: ignore[index]
        r_lab = np.concatenate([s.labels[s.valid] for s in r_rs])  # type: ignore[index]
    mapping = fit_mapping(
        np.concatenate(v_data),
        np.concatenate(r_data),
        virtual_labels=v_lab,
        real_labels=r_lab,
        per_class=per_class,
        n_knots=n_knots,
        tails=tails,
    )
    if per_class:
        notes.append(f"per-class maps for: {', '.join(mapping.class_maps) or 'none (too few samples)'}")
    src = dict(source or {})
    src.setdefault("n_virtual_samples", str(sum(d.shape[0] for d in v_data)))
    src.setdefault("n_real_samples", str(sum(d.shape[0] for d in r_data)))
    src.setdefault("fitted_at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    profile = CalibrationProfile(
        name=name,
        description=description,
        source=src,
        rate_hz=rate_hz,
        alignment=alignment,
        alignment_mode=alignment_mode,
        mapping=mapping,
        device=device or DeviceModel(),
        seed=seed,
        cutoff_ratio=cutoff_ratio,
    )
    return profile, notes


def _is_regular_at(series: ImuSeries, rate_hz: float) -> bool:
    """Whether ``series`` is already sampled on a regular grid at ``rate_hz`` (steps within 0.1 %)."""
    if series.n < 2:
        return False
    dt = np.diff(series.time)
    return bool(np.all(np.abs(dt * rate_hz - 1.0) < 1e-3))


def clip_seed(seed: int, key: str) -> np.random.SeedSequence:
    """Seed sequence for one clip: the profile seed and a CRC-32 of the clip's id (order-independent)."""
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode("utf-8"))])


def with_alignment_mode(profile: CalibrationProfile, mode: str) -> CalibrationProfile:
    """``profile`` with its :attr:`~CalibrationProfile.alignment_mode` replaced by ``mode``."""
    if mode not in ALIGNMENT_MODES:
        raise CalibrationError(f"alignment mode must be one of {', '.join(ALIGNMENT_MODES)}, got {mode!r}")
    return replace(profile, alignment_mode=mode)


def apply_profile(
    series: ImuSeries,
    profile: CalibrationProfile,
    *,
    seed: int | None = None,
    labels: ArrayLike | None = None,
    reference: ImuSeries | None = None,
) -> ImuSeries:
    """Apply ``profile`` to one recording: resample, align, map, device model.

    The calibrated recording of :func:`apply_profile_rotation` (see there).
    """
    return apply_profile_rotation(series, profile, seed=seed, labels=labels, reference=reference)[0]


def apply_profile_rotation(
    series: ImuSeries,
    profile: CalibrationProfile,
    *,
    seed: int | None = None,
    labels: ArrayLike | None = None,
    reference: ImuSeries | None = None,
) -> tuple[ImuSeries, NDArray[np.float64] | None]:
    """Apply ``profile`` to one recording: resample, align, map, device model; and say how it was turned.

    The alignment turns the recording by the fitted rotation ``R``; in ``per-sensor`` mode, with a
    ``reference``, by ``R @ Q`` with ``Q`` the recording's mounting relative to the reference
    (:func:`imusynth.calibrate.alignment.relative_rotation`, from the recordings as given, before
    resampling), so that it is aligned like the reference (a rotation orthogonal to gravity exactly).

    Parameters
    ----------
    series : ImuSeries
        A virtual recording.
    profile : CalibrationProfile
        The profile.
    seed : int, optional
        Noise seed (default: the profile's); the generator is seeded with it and ``series.name``.
    labels : array_like, shape (N_out,), optional
        Labels used to pick per-class maps (default: the series' own labels after resampling).
    reference : ImuSeries, optional
        A recording of the same motion by the sensor the profile is meant for (e.g. the base sensor of an
        augmentation variant, same clip); used only in ``per-sensor`` mode.

    Returns
    -------
    calibrated : ImuSeries
        The calibrated recording (invalid samples NaN).
    rotation : ndarray, shape (3, 3), or None
        The rotation applied (``x' = R x``), None when none was.
    """
    if profile.applies_to != "recordings":
        raise CalibrationError(f"profile {profile.name!r} was fitted on windows files: apply it to a windows "
                               "file (imusynth calibrate apply PROFILE WINDOWS.h5 -o OUT.h5)")
    out = series
    if profile.rate_hz is not None and not _is_regular_at(series, profile.rate_hz):
        out = resample_series(series, rate_hz=profile.rate_hz, cutoff_ratio=profile.cutoff_ratio)
    data = np.where(out.valid[:, None], out.data, np.nan)
    R = None if profile.alignment is None else profile.alignment.rotation
    if profile.alignment_mode == "per-sensor" and reference is not None:
        Q = relative_rotation(series, reference)
        if Q is not None:
            R = Q if R is None else R @ Q
    if R is not None:
        data = rotate_data(data, R)
    if profile.mapping is not None:
        lab = out.labels if labels is None else np.asarray(labels).astype(str)
        data = profile.mapping.apply(data, lab)
    rate = profile.rate_hz if profile.rate_hz is not None else out.rate_hz
    rng = np.random.default_rng(clip_seed(profile.seed if seed is None else seed, series.name))
    data = profile.device.apply(data, rate_hz=rate if math.isfinite(rate) else 0.0, rng=rng)
    data = np.where(out.valid[:, None], data, np.nan)
    return out.with_data(data), R
