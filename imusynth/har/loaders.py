"""The windows file (HDF5, schema ``imusynth-windows/1``): writer, detector, NumPy and torch loaders.

Layout (written atomically)::

    /X        (n, T, C) float32   acc then gyro per placement (channels attr); SI (m/s^2 specific
                                  force, rad/s) unless exported with other units (attrs acc_unit,
                                  gyro_unit, acc_sign)
    /y        (n,) int64          index into class_names
    /group    (n,) str            group key (subject, video) for group-wise splits
    /clip     (n,) str            recording each window came from
    /start_s  (n,) float64        window start time in its recording, s
    attrs: schema, class_names (JSON list), channels (JSON list), rate_hz, window_s, overlap, source,
           units (text), acc_unit, gyro_unit, acc_sign ("specific_force" or "ios"); after
           ``calibrate apply``: calibration_profile (name), calibration_profile_sha256,
           calibration_profile_toml (the profile's text)
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from imusynth.har.errors import HarError
from imusynth.har.windows import WindowSet, _units

WINDOWS_SCHEMA = "imusynth-windows/1"


def save_windows(ws: WindowSet, path: str | Path) -> Path:
    """Write a windows file atomically (see the module docstring for the layout)."""
    from imusynth.io.hdf5 import atomic_path

    target = Path(path)
    with atomic_path(target) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["schema"] = WINDOWS_SCHEMA
        f.attrs["class_names"] = json.dumps(list(ws.class_names))
        f.attrs["channels"] = json.dumps(list(ws.channels))
        f.attrs["rate_hz"] = float(ws.rate_hz)
        f.attrs["window_s"] = float(ws.window_s)
        f.attrs["overlap"] = float(ws.overlap)
        f.attrs["source"] = ws.source
        f.attrs["units"] = _units(ws) + "; gravity included"
        f.attrs["acc_unit"] = ws.acc_unit
        f.attrs["gyro_unit"] = ws.gyro_unit
        f.attrs["acc_sign"] = ws.acc_sign
        if ws.calibration:
            f.attrs["calibration_profile"] = str(tomllib.loads(ws.calibration).get("name", ""))
            f.attrs["calibration_profile_sha256"] = hashlib.sha256(ws.calibration.encode("utf-8")).hexdigest()
            f.attrs["calibration_profile_toml"] = ws.calibration
        chunks = (min(max(len(ws), 1), 256), *ws.X.shape[1:]) if len(ws) else None
        f.create_dataset(
            "X", data=ws.X, compression="gzip" if len(ws) else None, shuffle=bool(len(ws)), chunks=chunks
        )
        f.create_dataset("y", data=ws.y)
        f.create_dataset("group", data=ws.group.astype(object), dtype=h5py.string_dtype())
        f.create_dataset("clip", data=ws.clip.astype(object), dtype=h5py.string_dtype())
        f.create_dataset("start_s", data=ws.start_s)
    return target


def is_windows_file(path: str | Path) -> bool:
    """Whether ``path`` is an HDF5 file with the ``imusynth-windows/1`` schema."""
    try:
        with h5py.File(path, "r") as f:
            schema = f.attrs.get("schema", "")
    except OSError:
        return False
    return (schema.decode() if isinstance(schema, bytes) else str(schema)) == WINDOWS_SCHEMA


def load_windows(path: str | Path) -> WindowSet:
    """Read a windows file written by :func:`save_windows` (the NumPy loader)."""
    p = Path(path)
    if not p.is_file():
        raise HarError(f"{p}: no such file")
    if not is_windows_file(p):
        raise HarError(f"{p}: not a windows file (schema {WINDOWS_SCHEMA!r}); make one with imusynth export")
    with h5py.File(p, "r") as f:
        a = f.attrs
        return WindowSet(
            X=f["X"][()],
            y=f["y"][()],
            class_names=tuple(json.loads(a["class_names"])),
            group=np.array([g.decode() if isinstance(g, bytes) else g for g in f["group"][()]], dtype=str),
            clip=np.array([g.decode() if isinstance(g, bytes) else g for g in f["clip"][()]], dtype=str),
            start_s=f["start_s"][()],
            channels=tuple(json.loads(a["channels"])),
            rate_hz=float(a["rate_hz"]),
            window_s=float(a["window_s"]),
            overlap=float(a["overlap"]),
            source=str(a.get("source", "")),
            acc_unit=str(a.get("acc_unit", "m/s^2")),
            gyro_unit=str(a.get("gyro_unit", "rad/s")),
            acc_sign=str(a.get("acc_sign", "specific_force")),
            calibration=str(a.get("calibration_profile_toml", "")),
        )


def torch_dataset(ws: WindowSet, *, channels_first: bool = True) -> Any:
    """A ``torch.utils.data.Dataset`` over ``ws`` yielding ``(x, y)`` tensors (needs torch installed).

    Parameters
    ----------
    ws : WindowSet
        The windows.
    channels_first : bool
        ``x`` of shape (C, T) (what ``Conv1d`` expects) when True, else (T, C).

    Raises
    ------
    HarError
        When torch is not installed (``pip install torch``; it is an optional extra).
    """
    try:
        import torch
        from torch.utils.data import Dataset
    except ImportError:
        raise HarError("the torch Dataset needs PyTorch: pip install torch (optional extra)") from None

    X = torch.from_numpy(np.ascontiguousarray(ws.X.transpose(0, 2, 1) if channels_first else ws.X))
    y = torch.from_numpy(ws.y)

    class WindowDataset(Dataset):  # type: ignore[misc,type-arg]
        """Windows of an imusynth windows file as (x float32, y int64) tensor pairs."""

        class_names = ws.class_names
        channels = ws.channels

        def __len__(self) -> int:
            return int(X.shape[0])

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            return X[i], y[i]

    return WindowDataset()
