"""Typer command ``imusynth report`` (wired into :mod:`.main`), and :func:`report_inputs`, which turns the
command's INPUT paths (``imusynth/1`` files, windows files, batch output folders) into what
:func:`imusynth.report.build_report` takes. A batch folder's manifest is read here, in the CLI layer,
because :mod:`imusynth.batch` sits above :mod:`imusynth.report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from imusynth.cli._paths import ForceOpt, check_outputs
from imusynth.errors import InputError

if TYPE_CHECKING:
    from imusynth.report import ClipFile, SourceStatus

Inputs = Annotated[
    list[Path],
    typer.Argument(
        help="imusynth/1 files, windows files (imusynth export) or batch output folders (with a manifest)."
    ),
]
Output = Annotated[Path, typer.Option("--output", "-o", help="The HTML page to write.")]
Real = Annotated[
    list[Path] | None,
    typer.Option(
        "--real",
        help="Real IMU recording (CSV, .ts, imusynth/1) drawn beside the distributions (repeatable).",
    ),
]
RealPreset = Annotated[
    str | None, typer.Option("--real-preset", help="Reader preset of --real (see compare).")
]
RealSensor = Annotated[str | None, typer.Option("--real-sensor", help="Sensor of --real files with several.")]
RealRate = Annotated[
    float | None, typer.Option("--real-rate", help="Sample rate of --real files without a time column, Hz.")
]
Pipeline = Annotated[
    Path | None,
    typer.Option("--pipeline", help="Pipeline TOML whose \\[report] section sets the flag thresholds."),
]
Title = Annotated[str, typer.Option("--title", help="Title of the page.")]
NoFrames = Annotated[
    bool,
    typer.Option(
        "--no-frames", metavar="", help="Do not decode source videos for the frames under the skeletons."
    ),
]


#: ``--report`` of the video and batch commands
ReportOpt = Annotated[
    Path | None,
    typer.Option("--report", help="Also write the HTML QA page of the output (docs/report.md)."),
]


def check_report_suffix(path: Path | None, flag: str = "--report") -> None:
    """Refuse a report path that is not an ``.html`` file (before any work is done)."""
    if path is not None and path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"{flag} {path}: give a .html file")


def report_inputs(paths: Sequence[Path]) -> tuple[list[ClipFile], list[Path], list[SourceStatus]]:
    """Sort INPUT paths into clip files, windows files and problem sources.

    A folder is a batch output: its ``done`` items become clip files (with the manifest's label and the
    video id as group, as ``gather`` does), its ``failed``, ``skipped`` and not yet processed items
    become sources with their reasons.

    Returns
    -------
    clip_files : list of imusynth.report.ClipFile
    windows_files : list of Path
    sources : list of imusynth.report.SourceStatus

    Raises
    ------
    InputError
        A path that does not exist, or a folder without a batch manifest.
    """
    from imusynth.har import is_windows_file
    from imusynth.report import ClipFile, SourceStatus

    clip_files: list[ClipFile] = []
    windows: list[Path] = []
    sources: list[SourceStatus] = []
    for p in paths:
        if p.is_dir():
            from imusynth.batch.manifest import MANIFEST_NAME, Manifest, Status

            if not (p / MANIFEST_NAME).is_file():
                raise InputError(f"{p} is a folder without a batch manifest ({MANIFEST_NAME})")
            with Manifest(p / MANIFEST_NAME, readonly=True) as m:
                records = m.records()
            for r in records:
                if r.status == Status.DONE and r.output and (p / r.output).is_file():
                    clip_files.append(
                        ClipFile(
                            p / r.output,
                            label=r.label,
                            group=r.video_id,
                            origin=r.url,
                            name=Path(r.output).stem,
                        )
                    )
                elif r.status == Status.DONE:
                    sources.append(SourceStatus(r.url, "missing", f"output {r.output} is gone", r.label))
                else:
                    reason = r.reason or ("not processed yet" if r.status != Status.FAILED else "")
                    sources.append(SourceStatus(r.url, r.status.value, reason, r.label))
        elif p.is_file():
            if is_windows_file(p):
                windows.append(p)
            else:
                clip_files.append(ClipFile(p))
        else:
            raise InputError(f"{p}: no such file or folder")
    return clip_files, windows, sources


def write_report(
    paths: Sequence[Path],
    output: Path,
    *,
    pipeline: Path | None = None,
    real: Sequence[Path] = (),
    real_preset: str | None = None,
    real_sensor: str | None = None,
    real_rate: float | None = None,
    title: str = "imusynth report",
    with_frames: bool = True,
) -> str:
    """Build the report of ``paths`` into ``output``; return the line to print (also used by ``--report``)."""
    from imusynth.config import load_pipeline_config
    from imusynth.report import RealOptions, build_report

    thresholds = load_pipeline_config(pipeline).report
    clip_files, windows, sources = report_inputs(paths)
    summary = build_report(
        output,
        clip_files=clip_files,
        windows_files=windows,
        sources=sources,
        thresholds=thresholds,
        real=RealOptions(tuple(real), real_preset, real_sensor, real_rate),
        title=title,
        inputs=[str(p) for p in paths],
        with_frames=with_frames,
    )
    return summary.line()


def report(
    inputs: Inputs,
    output: Output,
    real: Real = None,
    real_preset: RealPreset = None,
    real_sensor: RealSensor = None,
    real_rate: RealRate = None,
    pipeline: Pipeline = None,
    title: Title = "imusynth report",
    no_frames: NoFrames = False,
    force: ForceOpt = False,
) -> None:
    """One self-contained HTML page to check a dataset: summary, flagged clips, skeletons, signals.

    Example: imusynth report runs/ -o runs.html --real watch.csv
    """
    check_report_suffix(output, "--output")
    check_outputs({"--output": output}, [*inputs, *(real or []), pipeline], force=force)
    typer.echo(
        write_report(
            inputs,
            output,
            pipeline=pipeline,
            real=real or [],
            real_preset=real_preset,
            real_sensor=real_sensor,
            real_rate=real_rate,
            title=title,
            with_frames=not no_frames,
        )
    )
