"""``imusynth inspect``: summary table and plot of an imusynth/1 file, summary of an export windows file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import h5py
import numpy as np

from imusynth.errors import InputError
from imusynth.io.hdf5 import atomic_path, read_clips

#: Schema prefix of the windows files that ``imusynth export`` writes (``imusynth.har.WINDOWS_SCHEMA``,
#: made by a later stage than this one, so the prefix is written here; a test keeps the two equal).
WINDOWS_SCHEMA_PREFIX = "imusynth-windows/"

#: Most groups named one by one in a windows summary (the rest are counted).
MAX_GROUPS_LISTED = 12


def file_schema(path: str | Path) -> str:
    """The root ``schema`` attribute of an HDF5 file, ``""`` when it has none or is not readable HDF5."""
    try:
        with h5py.File(path, "r") as f:
            schema = f.attrs.get("schema", "")
    except OSError:
        return ""
    return schema.decode() if isinstance(schema, bytes) else str(schema)


def summary_table(path: str | Path) -> str:
    """One row per clip and sensor: samples, rate, duration, valid share, mean |acc|, RMS |gyro|.

    A windows file (schema ``imusynth-windows/...``) gets :func:`windows_summary` instead.
    """
    if file_schema(path).startswith(WINDOWS_SCHEMA_PREFIX):
        return windows_summary(path)
    rows = [
        (
            "clip",
            "sensor",
            "samples",
            "rate Hz",
            "dur s",
            "valid %",
            "|acc| m/s^2",
            "rms |gyro| rad/s",
            "label",
        )
    ]
    for clip in read_clips(path, with_motion=False):
        for name, s in clip.sensors.items():
            v = s.valid
            acc = np.linalg.norm(s.acc[v], axis=1) if v.any() else np.array([np.nan])
            gyr = np.linalg.norm(s.gyro[v], axis=1) if v.any() else np.array([np.nan])
            rows.append(
                (
                    clip.clip_id,
                    name,
                    str(len(s.time)),
                    f"{s.rate_hz:g}",
                    f"{(s.time[-1] - s.time[0]) if len(s.time) else 0:.2f}",
                    f"{100 * v.mean():.1f}",
                    f"{np.mean(acc):.3f}",
                    f"{np.sqrt(np.mean(gyr**2)):.3f}",
                    clip.label or "",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def windows_summary(path: str | Path) -> str:
    """What a windows file of ``imusynth export`` holds: windows and their shape, rate and window length,
    units, channels, classes and groups with their window counts, recordings, source and the windows
    calibration applied (``calibrate apply``), if any.

    Reads the attributes and the label and group columns only (not the windows themselves).
    """
    with h5py.File(path, "r") as f:
        a = f.attrs
        n, T, C = f["X"].shape
        classes = json.loads(a["class_names"])
        channels = json.loads(a["channels"])
        per_class = np.bincount(f["y"][()], minlength=len(classes)) if n else np.zeros(len(classes), int)
        groups = Counter(f["group"].asstr()[()].tolist())
        n_clips = len(set(f["clip"].asstr()[()].tolist()))
        rate, window_s, overlap = float(a["rate_hz"]), float(a["window_s"]), float(a["overlap"])
        units, source = str(a.get("units", "")), str(a.get("source", ""))
        cal = str(a.get("calibration_profile", "")), str(a.get("calibration_profile_sha256", ""))[:12]
    listed = [f"{g} {k}" for g, k in sorted(groups.items())[:MAX_GROUPS_LISTED]]
    if len(groups) > MAX_GROUPS_LISTED:
        listed.append(f"... and {len(groups) - MAX_GROUPS_LISTED} more")
    sources = [s for s in source.split("; ") if s]
    rows = [
        ("windows", f"{n} x {T} samples x {C} channels ({file_schema(path)})"),
        ("rate", f"{rate:g} Hz; window {window_s:g} s, overlap {overlap:g}"),
        ("units", units),
        ("channels", ", ".join(channels)),
        ("classes", f"{len(classes)}: " + ", ".join(f"{c} {int(k)}" for c, k in zip(classes, per_class,
                                                                                   strict=True))),
        ("groups", f"{len(groups)}: " + ", ".join(listed)),
        ("clips", str(n_clips)),
        ("source", sources[0] + (f" and {len(sources) - 1} more files" if len(sources) > 1 else "")
         if sources else "-"),
    ]
    if cal[1]:
        rows.append(("calibrated", f"profile {cal[0]!r} (sha256 {cal[1]}...; its text: attribute "
                                   "calibration_profile_toml)"))
    return "\n".join(f"{k:<9} {v}" for k, v in rows)


def plot_file(path: str | Path, png: str | Path) -> Path:
    """Write a PNG with, for every clip and sensor, accelerometer (m/s^2) and gyroscope (rad/s) traces."""
    if file_schema(path).startswith(WINDOWS_SCHEMA_PREFIX):
        raise InputError(f"{path} is a windows file (imusynth export): only imusynth/1 files are plotted")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clips = read_clips(path, with_motion=False)
    panels = [(c.clip_id, name, s) for c in clips for name, s in c.sensors.items()]
    fig, axes = plt.subplots(len(panels), 2, figsize=(12, 2.6 * len(panels)), squeeze=False)
    for row, (cid, name, s) in enumerate(panels):
        for col, (data, unit) in enumerate(((s.acc, "acc m/s^2"), (s.gyro, "gyro rad/s"))):
            ax = axes[row, col]
            for k, axis in enumerate("xyz"):
                ax.plot(s.time, data[:, k], lw=0.8, label=axis)
            if not s.valid.any():  # say so rather than draw empty axes
                ax.text(0.5, 0.5, f"sensor {name}: no valid sample (0 % valid)", transform=ax.transAxes,
                        ha="center", va="center", color="firebrick")
            ax.set_title(f"{cid} / {name}", fontsize=9)
            ax.set_ylabel(unit)
            ax.grid(alpha=0.3)
        axes[row, 0].legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("time s")
    axes[-1, 1].set_xlabel("time s")
    fig.tight_layout()
    target = Path(png)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format=target.suffix.lower().lstrip(".") or "png", dpi=90)  # png, pdf or svg
    plt.close(fig)
    return target
