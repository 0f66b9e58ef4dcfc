"""imusynth: virtual IMU data (accelerometer, gyroscope, orientation) from videos and motion capture.

The public API is the names below, importable from ``imusynth`` itself (each is loaded on first use, so
``import imusynth`` stays fast). Everything else is internal and may move between releases.

==========================  =========================================================================
name                        what
==========================  =========================================================================
``process_video``           video file → HDF5 (stages 1-7), :mod:`imusynth.video.job`
``read_motion``             TRC / C3D / CSV / Kinect / BVH file → :class:`Motion`
``read_imu``                real-IMU recording (CSV presets, .ts, HDF5) → ``RealIMU``
``simulate``                :class:`Motion` + placements → ``{name: SensorSignals}`` (the physics core)
``resolve_placements``      placement names (built-in or from a TOML file) → :class:`Placement` records
``Motion``                  the motion record (time, named 3-D points, confidence)
``SensorSignals``           one virtual sensor: time, acc, gyro, orientation, valid
``Placement``               how a sensor sits on a body segment
``read_clips``              read an ``imusynth/1`` HDF5 file → list of :class:`Clip`
``write_clips``             write clips atomically
``Clip``                    one clip of an ``imusynth/1`` file
``ImuSeries``               one IMU recording as calibration and HAR export see it
``fit_profile``             fit a calibration profile (virtual → real)
``apply_profile``           apply a calibration profile
``load_profile``            read a calibration profile TOML
``save_profile``            write a calibration profile TOML
``compare_signals``         align and score a virtual sensor against a real IMU
``load_windows``            read a windows file written by ``imusynth export``
``torch_dataset``           a windows file as a PyTorch dataset
==========================  =========================================================================
"""

from __future__ import annotations

from importlib import import_module
from typing import Any


def _version() -> str:
    """The installed version (read on first use: importlib.metadata costs 40 ms of every start-up)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("imusynth")
    except PackageNotFoundError:  # running from a source tree without installation
        return "0.0.0+unknown"

#: public name -> module that defines it
_PUBLIC: dict[str, str] = {
    "process_video": "imusynth.video.job",
    "read_motion": "imusynth.io.readers",
    "read_imu": "imusynth.io.readers",
    "simulate": "imusynth.core.sensors",
    "resolve_placements": "imusynth.core.placements",
    "Motion": "imusynth.core.motion",
    "SensorSignals": "imusynth.core.sensors",
    "Placement": "imusynth.core.placements",
    "read_clips": "imusynth.io.hdf5",
    "write_clips": "imusynth.io.hdf5",
    "Clip": "imusynth.io.hdf5",
    "ImuSeries": "imusynth.core.imu_series",
    "fit_profile": "imusynth.calibrate",
    "apply_profile": "imusynth.calibrate",
    "load_profile": "imusynth.calibrate",
    "save_profile": "imusynth.calibrate",
    "compare_signals": "imusynth.compare",
    "load_windows": "imusynth.har",
    "torch_dataset": "imusynth.har",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use (keeps ``import imusynth`` light)."""
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'imusynth' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
