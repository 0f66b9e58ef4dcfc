"""Orientation-robust inputs: each sensor's signals in its own gravity frame (vertical, horizontal, norms).

A real watch or phone sits at an unknown rotation on the body, and the subject faces any direction. From
the signals alone, the direction of gravity in the sensor frame, ``u(t)`` (a unit vector, "up"), is
estimated, and six channels are kept per sensor::

    acc_vert   = acc . u                  m/s^2   (+9.80665 at rest)
    acc_horiz  = |acc - (acc . u) u|      m/s^2
    acc_norm   = |acc|                    m/s^2
    gyro_vert  = gyro . u                 rad/s   (turning rate about the vertical)
    gyro_horiz = |gyro - (gyro . u) u|    rad/s
    gyro_norm  = |gyro|                   rad/s

None depends on the heading (a rotation about the vertical), and, because both estimators below are
*equivariant* (signals rotated by a constant ``R`` give ``R u``), none depends on how the sensor is
mounted either: a constant rotation ``R`` of the sensor frame changes ``acc`` to ``R^T acc`` and ``u`` to
``R^T u``, so every dot product and norm is unchanged, to float precision. A sensor's *offset* does change
the signals (lever arm), and so does a mounting that changes during the recording.

Estimators of ``u`` (:func:`gravity_up`), on each run of valid samples:

``"lowpass"``
    zero-phase Butterworth low-pass of acc (order 2, ``cutoff_hz``; :func:`imusynth.core.kinematics.lowpass`),
    normalised. Simple; during vigorous motion the mean linear acceleration tilts it.
``"complementary"`` (default)
    ``g_k = (1 - a) exp(-[w_k dt]x) g_{k-1} + a acc_k`` with ``a = dt / (tau_s + dt)``: the gyroscope turns
    the previous estimate with the sensor (exact rotation, Rodrigues) and the accelerometer pulls it back
    with time constant ``tau_s``; started from the mean acc over the first ``init_s`` (5 s), each sample
    turned into the first sample's frame by the integrated gyroscope (the linear accelerations average out,
    gravity stays); run forwards and backwards (started likewise at the end) and averaged, then
    normalised. Every step is linear in acc and turns with the sensor, so it is equivariant too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from imusynth.core.kinematics import lowpass, runs
from imusynth.har.errors import HarError

#: The frames ``export --frame`` offers.
FRAMES = ("sensor", "gravity")
#: The gravity-frame channels of one sensor, in order.
GRAVITY_CHANNELS = ("acc_vert", "acc_horiz", "acc_norm", "gyro_vert", "gyro_horiz", "gyro_norm")
ESTIMATORS = ("complementary", "lowpass")


def _rotate_back(omega: NDArray[np.float64], dt: float) -> NDArray[np.float64]:
    """Rotation matrices ``exp(-[w dt]x)`` (N, 3, 3): a fixed world vector seen from a sensor turning at w."""
    th = np.linalg.norm(omega, axis=1) * dt
    k = np.where(th[:, None] > 1e-12, omega * dt / np.maximum(th, 1e-300)[:, None], 0.0)
    K = np.zeros((omega.shape[0], 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    K[:, 1, 0], K[:, 2, 0], K[:, 2, 1] = k[:, 2], -k[:, 1], k[:, 0]
    s, c = np.sin(-th)[:, None, None], np.cos(-th)[:, None, None]
    return np.eye(3) + s * K + (1.0 - c) * (K @ K)


def _complementary(acc: NDArray[np.float64], gyro: NDArray[np.float64], dt: float, tau_s: float,
                   init_s: float) -> NDArray[np.float64]:
    n = acc.shape[0]
    a = dt / (tau_s + dt)
    m = max(1, min(n, int(round(init_s / dt))))
    out = np.empty((2, n, 3))
    # Rf[k]: a fixed world vector seen at sample k+1 from its value at sample k (the step's mean rate)
    Rf = _rotate_back(0.5 * (gyro[1:] + gyro[:-1]), dt) if n > 1 else np.empty((0, 3, 3))
    # start: the mean of the first m acc samples, each turned into the first sample's frame by the gyro
    # (the linear accelerations average to dv / T; gravity stays)
    P = np.eye(3)
    g = acc[0].copy()
    for k in range(1, m):
        P = Rf[k - 1] @ P
        g += P.T @ acc[k]
    g /= m
    out[0, 0] = g
    for k in range(1, n):
        g = (1.0 - a) * (Rf[k - 1] @ g) + a * acc[k]
        out[0, k] = g
    # backward, started the same way at the end: the step (k, k+1] undone, R^T
    Q = np.eye(3)
    g = acc[n - 1].copy()
    for k in range(n - 2, n - 1 - m, -1):
        Q = Q @ Rf[k]
        g += Q @ acc[k]
    g /= m
    out[1, n - 1] = g
    for k in range(n - 2, -1, -1):
        g = (1.0 - a) * (Rf[k].T @ g) + a * acc[k]
        out[1, k] = g
    return out[0] + out[1]


def gravity_up(acc: NDArray[np.float64], gyro: NDArray[np.float64], valid: NDArray[np.bool_], *,
               rate_hz: float, method: str = "complementary", tau_s: float = 2.0, cutoff_hz: float = 0.5,
               init_s: float = 5.0) -> NDArray[np.float64]:
    """Unit "up" direction in the sensor frame per sample, estimated from the signals (NaN where invalid).

    Parameters
    ----------
    acc : ndarray, shape (N, 3), m/s^2
        Specific force (gravity included).
    gyro : ndarray, shape (N, 3), rad/s
    valid : ndarray, shape (N,), bool
        Each run of valid samples is estimated on its own.
    rate_hz : float, Hz
        Sample rate (regular grid).
    method : {"complementary", "lowpass"}
    tau_s : float, s
        Time constant of the complementary filter.
    cutoff_hz : float, Hz
        Cut-off of the low-pass estimator.
    init_s : float, s
        The complementary filter starts (at each end) from the mean acc over this span, each sample turned
        into the first one's frame by the integrated gyro.

    Returns
    -------
    ndarray, shape (N, 3)
    """
    if method not in ESTIMATORS:
        raise HarError(f"unknown gravity estimator {method!r}; allowed: {', '.join(ESTIMATORS)}")
    if not (rate_hz > 0 and tau_s > 0 and cutoff_hz > 0):
        raise HarError("rate_hz, tau_s and cutoff_hz must be positive")
    acc = np.asarray(acc, dtype=np.float64)
    gyro = np.asarray(gyro, dtype=np.float64)
    ok = np.asarray(valid, dtype=bool) & np.isfinite(acc).all(axis=1) & np.isfinite(gyro).all(axis=1)
    up = np.full(acc.shape, np.nan)
    dt = 1.0 / rate_hz
    for a, b in runs(ok):
        if method == "lowpass":
            g = lowpass(acc[a:b], rate_hz=rate_hz, cutoff_hz=cutoff_hz, axis=0) if b - a > 1 else acc[a:b]
        else:
            g = _complementary(acc[a:b], gyro[a:b], dt, tau_s, init_s)
        norm = np.linalg.norm(g, axis=1, keepdims=True)
        up[a:b] = g / np.where(norm > 0, norm, np.nan)
    return up


def gravity_features(acc: NDArray[np.float64], gyro: NDArray[np.float64], up: NDArray[np.float64]
                     ) -> NDArray[np.float64]:
    """The six channels of :data:`GRAVITY_CHANNELS` (N, 6) from acc, gyro and the unit up direction (N, 3)."""
    out = np.empty((acc.shape[0], 6))
    for j, v in enumerate((acc, gyro)):
        vert = np.einsum("ij,ij->i", v, up)
        norm = np.linalg.norm(v, axis=1)
        horiz = np.linalg.norm(v - vert[:, None] * up, axis=1)
        out[:, 3 * j] = vert
        out[:, 3 * j + 1] = horiz
        out[:, 3 * j + 2] = norm
    return out


def to_gravity_frame(data: NDArray[np.float64], valid: NDArray[np.bool_], channels: Sequence[str], *,
                     rate_hz: float, method: str = "complementary", tau_s: float = 2.0, cutoff_hz: float = 0.5
                     ) -> tuple[NDArray[np.float64], tuple[str, ...]]:
    """Sensor-frame channels (acc then gyro per placement, ``"{placement}.acc_x"`` ...) -> gravity frame.

    Parameters
    ----------
    data : ndarray, shape (N, 6 P)
        Per placement: acc x, y, z (m/s^2) then gyro x, y, z (rad/s), as :func:`stack_placements` makes them.
    valid : ndarray, shape (N,), bool
    channels : sequence of str, length 6 P
    rate_hz, method, tau_s, cutoff_hz
        See :func:`gravity_up`.

    Returns
    -------
    data : ndarray, shape (N, 6 P)
        Per placement the channels of :data:`GRAVITY_CHANNELS` (NaN where invalid).
    channels : tuple of str
        ``"{placement}.acc_vert"`` ...
    """
    if len(channels) % 6 or data.shape[1] != len(channels):
        raise HarError(f"expected acc and gyro (6 channels) per placement, got {list(channels)}")
    out = np.empty_like(np.asarray(data, dtype=np.float64))
    names: list[str] = []
    for p in range(len(channels) // 6):
        block = channels[6 * p:6 * p + 6]
        placement = block[0].rsplit(".", 1)[0]
        kinds = tuple(c.rsplit(".", 1)[-1] for c in block)
        if kinds != ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"):
            raise HarError(f"placement {placement!r}: channels {list(block)} are not sensor-frame "
                           "acc and gyro")
        acc, gyro = data[:, 6 * p:6 * p + 3], data[:, 6 * p + 3:6 * p + 6]
        up = gravity_up(acc, gyro, valid, rate_hz=rate_hz, method=method, tau_s=tau_s, cutoff_hz=cutoff_hz)
        out[:, 6 * p:6 * p + 6] = gravity_features(acc, gyro, up)
        names += [f"{placement}.{c}" for c in GRAVITY_CHANNELS]
    return out, tuple(names)
