"""Device model: bias, white noise, range saturation and quantisation of a real IMU, all in SI.

Holds :class:`DeviceModel` (acc in m/s^2, gyro in rad/s, noise densities per sqrt(Hz)),
the datasheet-typical :data:`DEVICE_PRESETS` and :func:`device_preset`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imusynth.core.conventions import G0
from imusynth.core.imu_series import CalibrationError


@dataclass(frozen=True)
class DeviceModel:
    """Sensor imperfections of a device, all in SI.

    White noise of one-sided noise density ``d`` sampled at ``fs`` has standard deviation
    ``d * sqrt(fs / 2)`` per sample (the device's bandwidth is taken as the Nyquist frequency).

    Attributes
    ----------
    name : str
        Preset or device name.
    acc_range : float
        Accelerometer full scale, m/s^2 (outputs saturate at +-acc_range); inf for none.
    gyro_range : float
        Gyroscope full scale, rad/s; inf for none.
    acc_noise_density : float
        m/s^2/sqrt(Hz).
    gyro_noise_density : float
        rad/s/sqrt(Hz).
    acc_bias, gyro_bias : ndarray, shape (3,)
        Fixed bias added to every sample, m/s^2 and rad/s.
    acc_bias_sd, gyro_bias_sd : float
        Standard deviation of an extra constant bias drawn per clip and axis, m/s^2 and rad/s.
    acc_step, gyro_step : float
        Quantisation step (one LSB), m/s^2 and rad/s; 0 for none.
    """

    name: str = "none"
    acc_range: float = math.inf
    gyro_range: float = math.inf
    acc_noise_density: float = 0.0
    gyro_noise_density: float = 0.0
    acc_bias: tuple[float, float, float] = (0.0, 0.0, 0.0)
    gyro_bias: tuple[float, float, float] = (0.0, 0.0, 0.0)
    acc_bias_sd: float = 0.0
    gyro_bias_sd: float = 0.0
    acc_step: float = 0.0
    gyro_step: float = 0.0

    def __post_init__(self) -> None:
        for name in ("acc_range", "gyro_range"):
            if not getattr(self, name) > 0:
                raise CalibrationError(f"device {name} must be > 0, got {getattr(self, name)}")
        for name in (
            "acc_noise_density",
            "gyro_noise_density",
            "acc_bias_sd",
            "gyro_bias_sd",
            "acc_step",
            "gyro_step",
        ):
            val = getattr(self, name)
            if not (val >= 0 and math.isfinite(val)):
                raise CalibrationError(f"device {name} must be finite and >= 0, got {val}")
        for name in ("acc_bias", "gyro_bias"):
            val = tuple(float(x) for x in getattr(self, name))
            if len(val) != 3 or not all(math.isfinite(x) for x in val):
                raise CalibrationError(f"device {name} must be 3 finite numbers")
            object.__setattr__(self, name, val)

    def apply(self, data: ArrayLike, *, rate_hz: float, rng: np.random.Generator) -> NDArray[np.float64]:
        """Add bias and noise, then saturate and quantise ``data`` (N, 6) sampled at ``rate_hz`` Hz.

        NaN rows (invalid samples) stay NaN.
        """
        x = np.array(data, dtype=np.float64, copy=True)
        n = x.shape[0]
        bw = math.sqrt(0.5 * rate_hz) if rate_hz > 0 else 0.0
        parts = (
            (
                slice(0, 3),
                self.acc_bias,
                self.acc_bias_sd,
                self.acc_noise_density,
                self.acc_range,
                self.acc_step,
            ),
            (
                slice(3, 6),
                self.gyro_bias,
                self.gyro_bias_sd,
                self.gyro_noise_density,
                self.gyro_range,
                self.gyro_step,
            ),
        )
        for sl, bias, bias_sd, density, rng_max, step in parts:
            block = x[:, sl]
            # draws happen even when a parameter is 0, so one seed gives the same noise for any setting
            drift = rng.normal(0.0, 1.0, size=3) * bias_sd
            noise = rng.standard_normal((n, 3)) * (density * bw)
            block = block + np.asarray(bias) + drift + noise
            block = np.clip(block, -rng_max, rng_max)
            if step > 0:
                block = np.clip(np.round(block / step) * step, -rng_max, rng_max)
            x[:, sl] = block
        return x


#: Datasheet-typical presets (orders of magnitude; see docs/calibration.md for the sources).
DEVICE_PRESETS: dict[str, DeviceModel] = {
    "none": DeviceModel(),
    # BMI160 / LSM6DSL-class wrist IMU: +-16 g, +-2000 dps, 16-bit
    "smartwatch": DeviceModel(
        name="smartwatch",
        acc_range=16 * G0,
        gyro_range=math.radians(2000.0),
        acc_noise_density=180e-6 * G0,
        gyro_noise_density=math.radians(0.007),
        acc_bias_sd=0.02 * G0,
        gyro_bias_sd=math.radians(1.0),
        acc_step=32 * G0 / 65536,
        gyro_step=math.radians(4000.0) / 65536,
    ),
    # LSM6DSO / BMI26x-class phone IMU: +-8 g, +-2000 dps, 16-bit
    "phone": DeviceModel(
        name="phone",
        acc_range=8 * G0,
        gyro_range=math.radians(2000.0),
        acc_noise_density=70e-6 * G0,
        gyro_noise_density=math.radians(0.0038),
        acc_bias_sd=0.02 * G0,
        gyro_bias_sd=math.radians(0.5),
        acc_step=16 * G0 / 65536,
        gyro_step=math.radians(4000.0) / 65536,
    ),
}


def device_preset(name: str) -> DeviceModel:
    """The device preset ``name`` (``none``, ``smartwatch``, ``phone``)."""
    try:
        return DEVICE_PRESETS[name]
    except KeyError:
        allowed = ", ".join(DEVICE_PRESETS)
        raise CalibrationError(f"unknown device preset {name!r}; allowed: {allowed}") from None
