"""Typer commands ``imusynth batch`` and ``imusynth gather`` (wired into :mod:`.main`); no logic."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

from imusynth.cli._many import INPUTS_HELP
from imusynth.cli._paths import ForceOpt, check_outputs
from imusynth.cli.report import ReportOpt, check_report_suffix

Sources = Annotated[list[str], typer.Argument(
    help="Video or playlist URLs, text files of URLs (one per line, # comments), local videos or folders.")]
OutDir = Annotated[Path, typer.Option("--output", "-o", help="Output folder (manifest, videos/, cache/).")]
Label = Annotated[str | None, typer.Option("--label", help="Label of every video no labels.csv row names.")]
Labels = Annotated[Path | None, typer.Option(
    "--labels", help="CSV: source (URL, playlist URL, id or file), label, optional start and end (s).")]
Placements = Annotated[list[str] | None, typer.Option(
    "--placement", "-p", help="Sensor placement (repeatable); see `imusynth placements`.")]
Rate = Annotated[float | None, typer.Option("--rate", help="Output rate, Hz (default 50).")]
Model = Annotated[str | None, typer.Option("--model", help="Pose model: lite | full | heavy | PATH.")]
Pipeline = Annotated[Path | None, typer.Option(
    "--pipeline", help="Pipeline TOML (see pipelines/); CLI flags override it.")]
Workers = Annotated[int, typer.Option(
    "--workers", "-j", min=1, help="Parallel workers (one pose model each).")]
ExecutorOpt = Annotated[str, typer.Option("--executor", help="local | dask.")]
Scheduler = Annotated[str | None, typer.Option(
    "--scheduler", help="Dask scheduler address (tcp://host:8786); default: a local Dask cluster.")]
RetryFailed = Annotated[bool, typer.Option(
    "--retry-failed", metavar="", help="Also retry the items that failed before.")]
DryRun = Annotated[bool, typer.Option(
    "--dry-run", metavar="", help="List what would be done; change nothing.")]
CacheDir = Annotated[Path | None, typer.Option(
    "--cache-dir", help="Download cache keyed by video id (default OUTPUT/cache); may be shared.")]
MaxHeight = Annotated[int, typer.Option("--max-height", min=1, help="Highest video resolution fetched, px.")]
Format = Annotated[str | None, typer.Option("--format", help="yt-dlp format selector replacing the default.")]
Cookies = Annotated[Path | None, typer.Option("--cookies", help="Netscape cookies file passed to yt-dlp.")]
RequireLicense = Annotated[str | None, typer.Option(
    "--require-license", help="Skip videos whose licence does not match this regex ('creative commons').")]
Retries = Annotated[int, typer.Option("--retries", min=0, help="Retries of a transient download error.")]
Proxy = Annotated[str | None, typer.Option("--proxy", help="Proxy URL for yt-dlp ('' for no proxy).")]
NoProgress = Annotated[bool, typer.Option("--no-progress", metavar="", help="No progress bar.")]
Verbose = Annotated[bool, typer.Option(
    "--verbose", "-v", metavar="", help="Show the workers' MediaPipe and FFmpeg logs (hidden by default).")]
Augment = Annotated[int | None, typer.Option(
    "--augment", metavar="N",
    help="Also write N random-mounting variants of each sensor (docs/placements.md).")]


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops as cleanly as Ctrl-C


def batch(
    sources: Sources,
    output: OutDir,
    label: Label = None,
    labels: Labels = None,
    placement: Placements = None,
    rate: Rate = None,
    model: Model = None,
    pipeline: Pipeline = None,
    workers: Workers = 1,
    executor: ExecutorOpt = "local",
    scheduler: Scheduler = None,
    retry_failed: RetryFailed = False,
    dry_run: DryRun = False,
    cache_dir: CacheDir = None,
    max_height: MaxHeight = 720,
    fmt: Format = None,
    cookies: Cookies = None,
    require_license: RequireLicense = None,
    retries: Retries = 3,
    proxy: Proxy = None,
    no_progress: NoProgress = False,
    augment: Augment = None,
    report: ReportOpt = None,
    verbose: Verbose = False,
) -> None:
    """Convert many videos (YouTube playlists, URL lists, folders) into per-video HDF5 files, resumably.

    Rerun the same command to resume: what is done with the same pipeline is kept. Then merge with
    `imusynth gather OUTPUT -o dataset.h5`. Exit status 1 when some video failed. A video whose output has
    a sensor without any valid sample is "empty" in the manifest and the summary (gather leaves it out).

    Example: imusynth batch "https://www.youtube.com/playlist?list=..." --label running -p wrist -j 2 -o runs/
    """
    from imusynth.batch.ingest import read_labels
    from imusynth.batch.runner import CACHE_DIR, run_batch
    from imusynth.cli._console import quiet_native_logs
    from imusynth.config import load_pipeline_config, with_overrides
    from imusynth.video.fetch import DownloadOptions

    check_report_suffix(report)
    cfg = with_overrides(load_pipeline_config(pipeline), {
        "output.placements": placement, "output.rate_hz": rate, "pose.model": model, "augment.n": augment,
    }, names={"augment.n": "--augment", "output.placements": "--placement", "output.rate_hz": "--rate",
              "pose.model": "--model"})
    download = DownloadOptions(
        cache_dir=cache_dir or output / CACHE_DIR, max_height=max_height, format=fmt, cookies_file=cookies,
        retries=retries, proxy=proxy, require_license=require_license,
    )
    rows = read_labels(labels) if labels is not None else ()
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with quiet_native_logs(verbose):   # spawned workers inherit the quiet stderr
            summary = run_batch(
                sources, output, config=cfg, labels=rows, default_label=label, download=download,
                executor=executor, workers=workers, scheduler=scheduler, retry_failed=retry_failed,
                dry_run=dry_run, progress=not no_progress, echo=typer.echo,
            )
    finally:
        signal.signal(signal.SIGTERM, previous)
    if report is not None and not summary.dry_run:
        from imusynth.cli.report import write_report

        typer.echo(write_report([output], report, pipeline=pipeline))
    if summary.failures and not summary.dry_run:
        raise typer.Exit(1)


IncludeEmpty = Annotated[bool, typer.Option(
    "--include-empty", metavar="", help="Also gather empty items (a sensor without any valid sample).")]
GroupBy = Annotated[str, typer.Option("--group-by", help="Group key: video (video id) | uploader.")]
ConfigHash = Annotated[str | None, typer.Option(
    "--config-hash", help="Gather only items made with this pipeline hash (when there are several).")]


def gather(
    inputs: Annotated[list[Path], typer.Argument(
        help="Output folder of `imusynth batch` (with its manifest), or any imusynth/1 files" + INPUTS_HELP
        + ".", show_default=False, metavar="INPUT")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Dataset file to write (imusynth/1).")],
    group_by: GroupBy = "video",
    config_hash: ConfigHash = None,
    include_empty: IncludeEmpty = False,
    force: ForceOpt = False,
) -> None:
    """Merge imusynth/1 files into one dataset: a batch's outputs (labels, groups), or any files.

    A batch folder: items whose file has a sensor without any valid sample (state "empty") are left out
    unless --include-empty. Example: imusynth gather runs/ -o runs.h5 --group-by uploader

    Any files (motion, calibrate apply, other datasets): imusynth gather s01.h5 s02.h5 more/ -o all.h5; clip
    ids already taken get their file's stem in front (reported); a manifest CSV (path, label, group) labels
    them; a file that cannot be read is reported and left out (exit status 1).
    """
    from imusynth.batch.gather import gather as gather_batch
    from imusynth.batch.gather import gather_files
    from imusynth.batch.manifest import MANIFEST_NAME
    from imusynth.cli._many import check_output, print_failure
    from imusynth.errors import InputError
    from imusynth.io.inputs import H5_SUFFIXES, expand_inputs

    one = inputs[0] if len(inputs) == 1 else None
    if one is not None and ((one / MANIFEST_NAME).is_file() or (   # a batch, or a folder that is none yet
            not one.exists() and not any(ch in str(one) for ch in "*?[") and one.suffix.lower() not in (
                ".h5", ".hdf5", ".csv"))):
        outdir = one
        check_outputs({"--output": output}, [outdir, outdir / MANIFEST_NAME], force=force)
        summary = gather_batch(outdir, output, group_by=group_by, config_hash=config_hash,
                               include_empty=include_empty)
        typer.echo(summary.table())
        return
    if config_hash is not None or include_empty or group_by != "video":
        raise InputError("--config-hash, --include-empty and --group-by apply to a batch folder (with "
                         f"{MANIFEST_NAME}); these inputs are files")
    ins = expand_inputs(inputs, suffixes=H5_SUFFIXES, what="imusynth/1 file")
    check_output(output, [it.path for it in ins.items], force=force)
    files = gather_files(ins.items, output, on_failure=print_failure)
    typer.echo(files.table())
    if files.path is None:
        typer.echo("nothing written: no input could be read")
    if files.log.failures:
        raise typer.Exit(1)
