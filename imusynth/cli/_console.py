"""What the commands print for a person: quiet native libraries, warnings about empty sensors, the summary."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # h5py is imported only to read the written file, not beside the pose models
    from imusynth.io.valid_share import SensorShare

#: environment read by MediaPipe / TFLite / glog / absl when they load: errors only
_QUIET_ENV = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "3", "ABSL_MIN_LOG_LEVEL": "2"}


@contextmanager
def quiet_native_logs(verbose: bool) -> Iterator[None]:
    """Hide what C/C++ libraries (MediaPipe, LiteRT, absl, FFmpeg) write to the process's stderr.

    Unless ``verbose``: the log environment of :data:`_QUIET_ENV` is set (before MediaPipe is imported) and,
    while the block runs, file descriptor 2 points to the null device while Python's ``sys.stderr`` (the
    progress bar, warnings, errors) keeps writing to the real stderr. Nothing changes when Python's stderr
    is not file descriptor 2 (a test harness capturing it).
    """
    if verbose:
        yield
        return
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    try:
        from absl import logging as absl_logging  # type: ignore[import-untyped,unused-ignore]

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # pragma: no cover - absl comes with mediapipe
        pass
    try:
        sys.stderr.flush()
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        fd = -1
    if fd != 2:
        yield
        return
    saved = os.dup(2)
    py_err = os.fdopen(os.dup(saved), "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                       errors="backslashreplace")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    old = sys.stderr
    sys.stderr = py_err
    try:
        yield
    finally:
        py_err.flush()
        sys.stderr = old
        os.dup2(saved, 2)
        os.close(saved)
        py_err.close()


def warn_empty_sensors(path: Path) -> list[SensorShare]:
    """Warn on stderr about every sensor of ``path`` with no valid sample; return every sensor's share."""
    from imusynth.io.valid_share import sensor_shares, share_warnings

    shares = sensor_shares(path)
    for line in share_warnings(shares):
        typer.echo(line, err=True)
    return shares


def video_summary(out: Path, shares: list[SensorShare], *, person: str, min_track_s: float,
                  plot: Path | None, overlay: Path | None, overlay_codec: str | None) -> list[str]:
    """The lines that end ``imusynth VIDEO``: persons kept and why, time span, valid shares, files written."""
    import h5py

    with h5py.File(out, "r") as f:
        tracks = list(dict.fromkeys(int(c.attrs.get("track_id", -1)) for c in f["clips"].values()))
    clips = list(dict.fromkeys(s.clip_id for s in shares))
    ids = ", ".join(str(t) for t in tracks)
    if person == "main":
        lines = [f"person: kept track {ids}, the main subject (longest, largest, most central track; "
                 "--person all keeps everyone)"]
    else:
        lines = [f"persons: kept {len(tracks)} track(s) ({ids}): every person tracked for at least "
                 f"{min_track_s:g} s"]
    spans: dict[str, tuple[float, float]] = {}
    for s in shares:
        a, b = spans.get(s.clip_id, (s.t0_s, s.t1_s))
        spans[s.clip_id] = (min(a, s.t0_s), max(b, s.t1_s))
    for cid in clips:
        a, b = spans[cid]
        lines.append(f"clip {cid}: {a:.2f}-{b:.2f} s ({b - a:.2f} s)")
        for s in shares:
            if s.clip_id == cid:
                note = "  (no valid sample: hidden in this view?)" if s.n_valid == 0 else ""
                lines.append(f"  sensor {s.sensor:<16} {100 * s.share:5.1f} % valid{note}")
    lines.append(f"wrote {out} (HDF5)")
    if plot is not None:
        lines.append(f"wrote {plot} (plot)")
    if overlay is not None:
        lines.append(f"wrote {overlay} (overlay video, {overlay_codec or 'mp4'})")
    return lines
