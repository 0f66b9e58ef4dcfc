"""``imusynth report``: one self-contained HTML page to check a virtual-IMU dataset before training on it.

Inputs are ``imusynth/1`` files (:class:`ClipFile`, with the label and group a batch manifest gives),
windows files of ``imusynth export``, the sources a batch could not use (:class:`SourceStatus`) and,
optionally, real recordings whose |acc| and |gyro| distributions are drawn beside the virtual ones.
The page (see docs/report.md) holds a summary, a sortable and filterable table of clips with flags
(thresholds: the ``[report]`` section of the pipeline TOML), per-label distributions and, per clip,
the skeleton on its frame and the signals on one time axis with invalid spans shaded. It needs no
server and no network, and is written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from imusynth.config import ReportConfig
from imusynth.errors import InputError
from imusynth.io.hdf5 import atomic_path
from imusynth.report.collect import (
    EXPORT_DEFAULTS,
    ClipFile,
    ClipReport,
    Distributions,
    SourceStatus,
    WindowsSummary,
    count_windows,
    empty_status,
    read_clip_file,
    read_real,
    read_windows_file,
)
from imusynth.report.metrics import FLAGS
from imusynth.report.page import render_page

__all__ = [
    "EXPORT_DEFAULTS",
    "FLAGS",
    "ClipFile",
    "ClipReport",
    "RealOptions",
    "ReportSummary",
    "SourceStatus",
    "build_report",
    "count_windows",
]


class ReportError(InputError, ValueError):
    """Nothing to report on, or an input that is neither a clips file nor a windows file."""


@dataclass(frozen=True)
class RealOptions:
    """How ``--real`` files are read (see :func:`imusynth.calibrate.load_recordings`)."""

    paths: tuple[Path, ...] = ()
    preset: str | None = None
    sensor: str | None = None
    rate_hz: float | None = None


@dataclass
class ReportSummary:
    """What :func:`build_report` wrote: the page, its clips, flagged clips and problem sources."""

    path: Path
    clips: int = 0
    flagged: int = 0
    sources: list[SourceStatus] = field(default_factory=list)
    bytes: int = 0

    def line(self) -> str:
        """One line for the terminal."""
        return (
            f"wrote {self.path} ({self.bytes / 1e6:.2f} MB): {self.clips} clip(s), {self.flagged} flagged, "
            f"{len(self.sources)} failed/skipped/empty source(s)"
        )


def build_report(
    out: str | Path,
    *,
    clip_files: Sequence[ClipFile] = (),
    windows_files: Sequence[Path] = (),
    sources: Sequence[SourceStatus] = (),
    thresholds: ReportConfig | None = None,
    real: RealOptions | None = None,
    title: str = "imusynth report",
    inputs: Sequence[str] = (),
    with_frames: bool = True,
) -> ReportSummary:
    """Write the HTML report of ``clip_files`` and ``windows_files`` to ``out`` (atomically).

    Parameters
    ----------
    out : path
        The ``.html`` file.
    clip_files : sequence of ClipFile
        ``imusynth/1`` files.
    windows_files : sequence of Path
        ``imusynth-windows/1`` files.
    sources : sequence of SourceStatus
        Sources without a usable clip (a batch's failed and skipped items); files whose sensor has no
        valid sample are added as ``empty``.
    thresholds : ReportConfig, optional
        Flag thresholds (default: the built-in ``[report]`` values).
    real : RealOptions, optional
        Real recordings drawn beside the virtual distributions.
    title : str
    inputs : sequence of str
        What the page names as its inputs (default: the files).
    with_frames : bool
        Decode a frame of each video clip's source (when the file is at hand) to draw the skeleton on.

    Raises
    ------
    ReportError
        When there is nothing to report on.
    """
    if not clip_files and not windows_files and not sources:
        raise ReportError("nothing to report on: give imusynth/1 files, windows files or a batch folder")
    t = thresholds or ReportConfig()
    dist = Distributions()
    clips: list[ClipReport] = []
    problems = list(sources)
    taken: set[str] = set()
    for cf in clip_files:
        found = list(read_clip_file(cf, t, dist, taken=taken, with_frames=with_frames))
        clips += found
        empty = empty_status(cf, found)
        if empty is not None:
            problems.append(empty)
    windows: list[WindowsSummary] = [read_windows_file(Path(p), dist) for p in windows_files]
    if real is not None and real.paths:
        read_real(real.paths, dist, preset=real.preset, sensor=real.sensor, rate_hz=real.rate_hz)
    names = list(inputs) or [str(cf.path) for cf in clip_files] + [str(p) for p in windows_files]
    html = render_page(
        title=title,
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
        inputs=names,
        thresholds=t,
        clips=clips,
        sources=problems,
        windows=windows,
        dist=dist,
    )
    target = Path(out)
    with atomic_path(target) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return ReportSummary(
        target, len(clips), sum(bool(c.flags) for c in clips), problems, target.stat().st_size
    )
