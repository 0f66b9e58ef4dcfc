"""``imusynth inspect``: a summary table and a plot of an imusynth/1 file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imusynth.io.hdf5 import atomic_path, read_clips


def summary_table(path: str | Path) -> str:
    """One row per clip and sensor: samples, rate, duration, valid share, mean |acc|, RMS |gyro|."""
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


def plot_file(path: str | Path, png: str | Path) -> Path:
    """Write a PNG with, for every clip and sensor, accelerometer (m/s^2) and gyroscope (rad/s) traces."""
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
