"""Calibration on windows files: quantile maps fitted and applied on the channels a classifier sees.

A profile fitted on recordings (:func:`imusynth.calibrate.fit_profile`) maps acc and gyro along the sensor
axes, so it can only be as right as the sensor's mounting is known. Windows exported with
``--frame gravity`` hold channels that no mounting or heading changes (:mod:`imusynth.har.gravity_frame`);
fitting the maps there, on the windows themselves, leaves the mounting out of the calibration.

:func:`fit_window_profile` fits one quantile map per channel (``x_real = G^-1(F(x_virtual))``, see
:func:`imusynth.calibrate.fit_quantile_map`, channel by channel) from the samples of every virtual and every
real window, and, with ``per_class``, one map set per class that both sides hold; it returns a
:class:`~imusynth.calibrate.CalibrationProfile` with ``applies_to = "windows"`` (no resampling, alignment
or device model). :func:`apply_window_profile` maps the windows of a :class:`WindowSet` through it: each
window by its own class's maps where they exist, else by the pooled maps. The maps are memoryless, so a
sample gets the same value in every window that holds it.

Channels are paired by position and must be of the same kinds on both sides (``left_wrist.acc_vert`` and
``imu.acc_vert``); both sides must be in SI (m/s^2 specific force, rad/s) and at the same rate.
Overlapping windows count a sample once per window that holds it (with 50 % overlap, twice, except at the
ends of a segment), which leaves the quantiles of long recordings all but unchanged.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np

from imusynth.calibrate.mapping import DistributionMapping, QuantileMap, fit_quantile_map
from imusynth.calibrate.profiles import CalibrationProfile
from imusynth.core.imu_series import CalibrationError
from imusynth.har.windows import WindowSet, _channel_kinds, brief_source

#: The units a windows calibration works in (the internal SI of every windows file by default).
SI_UNITS = ("m/s^2", "rad/s", "specific_force")


def _check_si(ws: WindowSet, side: str) -> None:
    if (ws.acc_unit, ws.gyro_unit, ws.acc_sign) != SI_UNITS:
        raise CalibrationError(
            f"{side} windows ({brief_source(ws.source)}) are in acc {ws.acc_unit} ({ws.acc_sign}), gyro "
            f"{ws.gyro_unit}; calibration works in SI: export them without --out-acc-unit, --out-gyro-unit "
            "and --ios-sign"
        )


def _channel_maps(v: np.ndarray, r: np.ndarray, n_knots: int, tails: str) -> tuple[QuantileMap, ...]:
    """One quantile map per channel from the samples of windows ``v`` and ``r`` (n, T, C), channel by
    channel (one channel in float64 at a time)."""
    return tuple(fit_quantile_map(v[:, :, c], r[:, :, c], n_knots=n_knots, tails=tails)
                 for c in range(v.shape[2]))


def _mapped(maps: tuple[QuantileMap, ...], X: np.ndarray) -> np.ndarray:
    """Windows ``X`` (n, T, C) through one map per channel, float32."""
    out = np.empty(X.shape, dtype=np.float32)
    for c, qmap in enumerate(maps):
        out[:, :, c] = qmap(X[:, :, c])
    return out


def fit_window_profile(
    virtual: WindowSet,
    real: WindowSet,
    *,
    name: str,
    description: str = "",
    source: dict[str, str] | None = None,
    per_class: bool = False,
    n_knots: int = 1001,
    tails: str = "linear",
    min_class_samples: int = 200,
) -> tuple[CalibrationProfile, list[str]]:
    """Fit a windows profile mapping the ``virtual`` windows' channels onto the ``real`` ones'.

    Parameters
    ----------
    virtual, real : WindowSet
        Windows of the same channel kinds (paired by position), rate and window length, in SI. The real
        windows may hold classes the virtual ones do not: the pooled maps use every real window (labels
        unused); with ``per_class`` the classes both sides hold get their own maps.
    name, description, source
        Stored in the profile (``source`` gains the window and sample counts and the date).
    per_class : bool
        Also fit one map set per class present on both sides with at least ``min_class_samples`` samples
        (windows x samples per window) each.
    n_knots, tails
        See :func:`imusynth.calibrate.fit_quantile_map`.
    min_class_samples : int
        See above.

    Returns
    -------
    profile : CalibrationProfile
        ``applies_to = "windows"``, ``rate_hz`` the windows' rate, the maps' channels the virtual
        windows' channel names.
    notes : list of str
        What was fitted, for the log.
    """
    for ws, side in ((virtual, "virtual"), (real, "real")):
        if not len(ws):
            raise CalibrationError(f"the {side} windows file holds no window ({brief_source(ws.source)})")
        _check_si(ws, side)
    if _channel_kinds(virtual.channels) != _channel_kinds(real.channels):
        raise CalibrationError(f"channels differ: virtual {list(virtual.channels)} vs real "
                               f"{list(real.channels)}; "
                               "export both with the same --frame and one placement each")
    if not math.isclose(virtual.rate_hz, real.rate_hz, rel_tol=1e-6) or virtual.X.shape[1] != real.X.shape[1]:
        raise CalibrationError(f"windows differ: virtual {virtual.X.shape[1]} samples at "
                               f"{virtual.rate_hz:g} Hz, "
                               f"real {real.X.shape[1]} at {real.rate_hz:g} Hz; export both with the same "
                               "--window and --rate")
    T = virtual.X.shape[1]
    class_maps: dict[str, tuple[QuantileMap, ...]] = {}
    if per_class:
        for cls in sorted(set(virtual.labels.tolist()) & set(real.labels.tolist())):
            sv, sr = virtual.X[virtual.labels == cls], real.X[real.labels == cls]
            if min(sv.shape[0], sr.shape[0]) * T >= min_class_samples:
                class_maps[cls] = _channel_maps(sv, sr, n_knots, tails)
    mapping = DistributionMapping(tuple(virtual.channels), _channel_maps(virtual.X, real.X, n_knots, tails),
                                  class_maps, n_knots=n_knots, tails=tails)
    notes = [f"maps on {len(virtual.channels)} channels: {', '.join(virtual.channels)}"]
    if per_class:
        notes.append(f"per-class maps for: {', '.join(mapping.class_maps) or 'none (too few samples)'}")
    src = dict(source or {})
    src.setdefault("n_virtual_windows", str(len(virtual)))
    src.setdefault("n_real_windows", str(len(real)))
    src.setdefault("real_channels", ", ".join(real.channels))
    src.setdefault("window_s", f"{virtual.window_s:g}")
    src.setdefault("fitted_at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    profile = CalibrationProfile(name=name, description=description, source=src, rate_hz=virtual.rate_hz,
                                 mapping=mapping, applies_to="windows")
    return profile, notes


def apply_window_profile(ws: WindowSet, profile: CalibrationProfile, *, text: str = "") -> WindowSet:
    """``ws`` with every window mapped through the windows profile ``profile``.

    Parameters
    ----------
    ws : WindowSet
        Windows in SI with the channels the profile was fitted on (names and order) at its rate.
    profile : CalibrationProfile
        A profile with ``applies_to == "windows"``.
    text : str
        The profile's TOML text, kept in the result's :attr:`WindowSet.calibration`.

    Returns
    -------
    WindowSet
        The same windows (labels, groups, clips, starts) with ``X`` mapped, float32.
    """
    if profile.applies_to != "windows" or profile.mapping is None:
        raise CalibrationError(f"profile {profile.name!r} was fitted on recordings, not windows: apply it to "
                               "the imusynth/1 file before export, or fit one on windows files")
    m = profile.mapping
    if tuple(ws.channels) != m.channels:
        raise CalibrationError(f"the windows' channels {list(ws.channels)} are not the profile's "
                               f"{list(m.channels)}")
    if profile.rate_hz is not None and not math.isclose(ws.rate_hz, profile.rate_hz, rel_tol=1e-6):
        raise CalibrationError(f"the windows are at {ws.rate_hz:g} Hz, the profile at {profile.rate_hz:g} Hz")
    _check_si(ws, "these")
    mapped = np.empty(ws.X.shape, dtype=np.float32)
    labels = ws.labels
    for cls in np.unique(labels).tolist():  # each class by its own maps, the pooled ones if it has none
        sel = labels == cls
        mapped[sel] = _mapped(m.class_maps.get(cls, m.maps), ws.X[sel])
    return WindowSet(mapped, ws.y, ws.class_names, ws.group, ws.clip, ws.start_s, ws.channels, ws.rate_hz,
                     ws.window_s, ws.overlap, ws.source, ws.acc_unit, ws.gyro_unit, ws.acc_sign, text)
