"""imusynth: virtual IMU data (accelerometer, gyroscope, orientation) from videos and motion capture."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("imusynth")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
