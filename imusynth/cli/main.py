"""The ``imusynth`` command line (typer). No logic here: each command calls one stage's API.

``imusynth VIDEO ...`` (a file or URL as the first argument) is the same as ``imusynth video VIDEO ...``.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from imusynth.cli._flags import flag_names
from imusynth.cli._lazy import LazyGroup
from imusynth.cli._many import (
    INPUTS_HELP,
    OutDirOpt,
    check_out_dir,
    check_output,
    choose_output,
    print_failure,
    summary,
)
from imusynth.cli._paths import ForceOpt, check_outputs, check_plot_suffix, check_suffix
from imusynth.config import KinematicsConfig, LiftConfig, OutputConfig
from imusynth.errors import InputError

#: commands imported when they run or show their help (imusynth.cli._lazy): name -> module, attribute, the
#: first paragraph of its help (tests/test_startup.py checks it against the command's own)
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "compare": ("imusynth.cli.compare", "compare_cmd", "Align a virtual sensor with a real IMU recording "
                "(time offset, rotation) and print per-axis metrics."),
    "calibrate": ("imusynth.cli.calibrate", "calibrate_app", "Fit calibration profiles (virtual -> real "
                  "distribution mapping, device model) and apply them."),
    "export": ("imusynth.cli.har", "export_cmd", "Cut labelled fixed-length windows: X (n, T, C) float32, y, "
               "class names, group keys."),
    "har-eval": ("imusynth.cli.har", "har_eval_cmd", "Macro-F1 of a random forest and/or a CNN trained on "
                 "real (r2r), virtual (v2r) or both (mix2r)."),
    "batch": ("imusynth.cli.batch", "batch", "Convert many videos (YouTube playlists, URL lists, folders) "
              "into per-video HDF5 files, resumably."),
    "gather": ("imusynth.cli.batch", "gather", "Merge imusynth/1 files into one dataset: a batch's outputs "
               "(labels, groups), or any files."),
    "report": ("imusynth.cli.report", "report", "One self-contained HTML page to check a dataset: summary, "
               "flagged clips, skeletons, signals."),
    "lifter": ("imusynth.cli.lifter", "lifter_app", "Train learned 2-D -> 3-D lifters on motion capture "
               "(see docs/lifter_training.md)."),
}


class _Group(LazyGroup):
    lazy = LAZY_COMMANDS


app = typer.Typer(
    cls=_Group,
    name="imusynth",
    help=(
        "Virtual IMU data (accelerometer, gyroscope, orientation) from videos of people and from "
        "motion capture.\n\n"
        "Main job:  imusynth VIDEO --placement wrist   (same as: imusynth video VIDEO ...)\n\n"
        "Units everywhere: m/s^2 (specific force, gravity included), rad/s, seconds; quaternions w,x,y,z."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



def _print_version(value: bool) -> None:
    if value:
        from imusynth import __version__

        typer.echo(f"imusynth {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", metavar="", callback=_print_version, is_eager=True, help="Print the version and exit.",
    )] = False,
) -> None:
    """Virtual IMU data from videos of people and from motion capture."""


PlacementOpt = Annotated[
    list[str] | None,
    typer.Option("--placement", "-p", help="Sensor placement (repeatable); see `imusynth placements`."),
]
PlacementsFileOpt = Annotated[
    Path | None, typer.Option("--placements-file", help="TOML file defining your own placements (see docs).")
]
RateOpt = Annotated[
    float | None, typer.Option("--rate", help=f"Output rate, Hz (default {OutputConfig.rate_hz:g}).")
]
PipelineOpt = Annotated[
    Path | None, typer.Option("--pipeline", help="Pipeline TOML (see pipelines/); CLI flags override it.")
]
AugmentOpt = Annotated[int | None, typer.Option(
    "--augment", metavar="N", help="Also write N random-mounting variants of each sensor (wrist~aug1 ...; "
    "distributions per placement, docs/placements.md; default 0).")]


VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", "-v", metavar="", help="Show the logs of MediaPipe, TFLite, FFmpeg (hidden by default).",
)]

#: the flag that sets each configuration key, named in error messages
_FLAGS = {
    "output.rate_hz": "--rate", "output.placements": "--placement",
    "output.placements_file": "--placements-file",
    "kinematics.cutoff_hz": "--cutoff", "kinematics.max_gap_s": "--max-gap", "pose.model": "--model",
    "tracking.person": "--person", "video.start_s": "--start", "video.end_s": "--end",
    "camera.static": "--static-camera", "lift.fov_deg": "--fov", "smpl.body_model": "--body-model",
    "smpl.smpl_dir": "--smpl-dir", "lift.lifter": "--lifter", "augment.n": "--augment",
    "clean.enabled": "--clean",
}
#: reader and job parameters -> the flags of ``imusynth motion`` (for messages of the layers below)
_MOTION_FLAGS = {
    "time_column": "--time-column", "time_unit": "--time-unit", "rate_hz": "--source-rate",
    "length_unit": "--length-unit", "up_axis": "--up-axis", "start_s": "--start", "end_s": "--end",
    "format": "--format",
}


def _cfg(pipeline: Path | None, overrides: dict[str, object]):  # noqa: ANN202 - PipelineConfig
    from imusynth.config import load_pipeline_config, with_overrides

    return with_overrides(load_pipeline_config(pipeline), overrides, names=_FLAGS)


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: object = None, line: str | None = None) -> None:
    """``warnings.showwarning`` for a person: ``imusynth: warning: MESSAGE`` on stderr, no source line."""
    typer.echo(f"imusynth: warning: {message}", err=True)


@app.command("motion")
def motion_cmd(
    files: Annotated[list[Path], typer.Argument(
        help="Motion file: .trc, .c3d, .bvh, .csv[.gz] (points in columns), Kinect CSV" + INPUTS_HELP + ".",
        show_default=False, metavar="INPUT")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output HDF5 file (schema imusynth/1).")
    ] = None,
    out_dir: OutDirOpt = None,
    placement: PlacementOpt = None,
    placements_file: PlacementsFileOpt = None,
    rate: RateOpt = None,
    pipeline: PipelineOpt = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="trc | c3d | bvh | csv | kinect_v1 | azure_kinect "
                                 "(default: from the file).")
    ] = None,
    up_axis: Annotated[
        str | None, typer.Option("--up-axis", help="Axis that points up in the file: x, y, z, -x, -y, -z "
                                 "(default: the format's, e.g. y for Kinect v1, -y for Azure Kinect).")
    ] = None,
    length_unit: Annotated[
        str | None, typer.Option("--length-unit", help="mm | cm | m (default: stated or from body size).")
    ] = None,
    time_column: Annotated[str | None, typer.Option("--time-column", help="CSV time column.")] = None,
    time_unit: Annotated[str | None, typer.Option("--time-unit", help="CSV time unit: s | ms | us.")] = None,
    source_rate: Annotated[
        float | None, typer.Option("--source-rate", help="CSV sample rate, Hz, when it has no time column.")
    ] = None,
    cutoff: Annotated[
        float | None,
        typer.Option("--cutoff", help="Low-pass cut-off before differentiation, Hz (default "
                     f"{KinematicsConfig.cutoff_hz:g}; lowered, with a note, to a quarter of the source "
                     "rate or of the output rate when that is lower)."),
    ] = None,
    max_gap: Annotated[
        float | None,
        typer.Option("--max-gap", help=f"Longest gap bridged, s (default {KinematicsConfig.max_gap_s:g})."),
    ] = None,
    clean: Annotated[bool | None, typer.Option(
        "--clean/--no-clean", metavar="", help="Remove skeleton glitches (jumps, bone-length outliers) "
        "before the physics (default on: pipeline key clean.enabled; docs/physics.md).")] = None,
    start: Annotated[float | None, typer.Option("--start", help="Start time, s.")] = None,
    end: Annotated[float | None, typer.Option("--end", help="End time, s.")] = None,
    clip_id: Annotated[
        str | None, typer.Option("--clip-id", help="Clip name in the file (default: the file's stem).")
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="Activity label stored with the clip.")] = None,
    group: Annotated[
        str | None, typer.Option("--group", help="Group key (subject) for group-wise splits.")
    ] = None,
    augment: AugmentOpt = None,
    force: ForceOpt = False,
    body_model: Annotated[
        str | None,
        typer.Option("--body-model", help="skeleton (default) | anny: fit the free Anny body mesh to the "
                     "points, sensors on its skin (extra imusynth[body]; docs/anny.md)."),
    ] = None,
) -> None:
    """Virtual IMU signals from a motion-capture or skeleton file.

    Example: imusynth motion walk.trc -p left_foot -p right_foot --rate 100 -o walk.h5

    A dataset in one process: imusynth motion trials/ -p left_wrist -o dataset.h5 (or a manifest CSV with
    columns path, label, group). A failing input is reported on one line and the rest is kept; exit status 1
    when an input failed.
    """
    from imusynth.cli._console import warn_empty_sensors
    from imusynth.io.inputs import MOTION_SUFFIXES, expand_inputs
    from imusynth.io.motion_job import run_motion_job

    ins = expand_inputs(files, suffixes=MOTION_SUFFIXES, what="motion file")
    choose_output(output, out_dir)
    many = ins.many or out_dir is not None
    file = ins.items[0].path
    if many and clip_id is not None:
        raise InputError("--clip-id names the clip of one input; with many, a manifest's clip_id column "
                         "names each")
    if not many:
        assert output is not None
        check_outputs({"--output": output}, [file, placements_file, pipeline], force=force)
    if start is not None and end is not None and end <= start:
        raise InputError(f"--end ({end:g} s) must be after --start ({start:g} s)")
    cfg = _cfg(
        pipeline,
        {
            "output.rate_hz": rate,
            "output.placements": placement,
            "output.placements_file": str(placements_file) if placements_file else None,
            "kinematics.cutoff_hz": cutoff,
            "kinematics.max_gap_s": max_gap,
            "clean.enabled": clean,
            "augment.n": augment,
            "smpl.body_model": body_model,
        },
    )
    reader: dict[str, Any] = {"fmt": fmt, "up_axis": up_axis, "length_unit": length_unit,
                              "time_column": time_column, "time_unit": time_unit,
                              "source_rate_hz": source_rate, "start_s": start, "end_s": end}
    if cfg.smpl.body_model == "smpl":
        raise InputError("--body-model smpl is for videos; on motion files use --body-model anny")
    if cfg.smpl.body_model == "anny":
        from imusynth.body.anny.motion import anny_body_sensors

        reader["body_sensors"] = anny_body_sensors(cfg)
    if many:
        rc = _motion_dataset(ins.items, output, out_dir, cfg=cfg, reader=reader, label=label, group=group,
                             force=force, extra_inputs=[placements_file, pipeline])
        if rc:
            raise typer.Exit(rc)
        return
    assert output is not None
    with flag_names(_MOTION_FLAGS), warnings.catch_warnings():
        warnings.showwarning = _one_line_warning   # the job's notes (cut-off, glitches) on one line each
        out = run_motion_job(file, output, cfg=cfg, clip_id=clip_id, label=label, group=group, **reader)
    warn_empty_sensors(out)
    typer.echo(f"wrote {out}")


def _motion_dataset(items: list[Any], output: Path | None, out_dir: Path | None, *, cfg: Any,
                    reader: dict[str, Any], label: str | None, group: str | None, force: bool,
                    extra_inputs: list[Path | None]) -> int:
    """``imusynth motion`` with many inputs: check every output first, run them all, print the summary."""
    from imusynth.cli._console import warn_empty_sensors
    from imusynth.io.inputs import RunLog
    from imusynth.io.motion_job import dataset_clip_ids, run_motion_dataset

    paths = [it.path for it in items]
    ids, renamed = dataset_clip_ids(items)
    if out_dir is not None:
        check_out_dir(out_dir, [f"{cid}.h5" for cid in ids], paths, force=force)
    else:
        assert output is not None
        check_output(output, paths, extra_inputs, force=force)
    log = RunLog()
    said: set[str] = set()

    def once(message: Warning | str, *args: Any, **kwargs: Any) -> None:
        if str(message) not in said:   # e.g. the cut-off note: the same for every file of a dataset
            said.add(str(message))
            _one_line_warning(message, *args, **kwargs)

    with flag_names(_MOTION_FLAGS), warnings.catch_warnings():
        warnings.showwarning = once
        written = run_motion_dataset(items, output=output, out_dir=out_dir, cfg=cfg, log_to=log, label=label,
                                     group=group, on_failure=print_failure, **reader)
    for out in written:
        warn_empty_sensors(out)
    return summary(log, "motion", written, renamed=renamed, renamed_why="to keep clip ids apart (their "
                   "folders' names in front)")


@app.command("video")
def video_cmd(
    video: Annotated[str, typer.Argument(help="Video file (or URL, fetched with yt-dlp).")],
    placement: PlacementOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output HDF5 (default: VIDEO name with .h5).")
    ] = None,
    rate: RateOpt = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Pose model: lite | full | heavy | PATH to a .task file.")
    ] = None,
    person: Annotated[
        str | None, typer.Option("--person", help="main (the main subject) | all (one clip per person).")
    ] = None,
    start: Annotated[float | None, typer.Option("--start", help="Start of the processed span, s.")] = None,
    end: Annotated[float | None, typer.Option("--end", help="End of the processed span, s.")] = None,
    static_camera: Annotated[
        bool, typer.Option("--static-camera", metavar="", help="Assume the camera does not move.")
    ] = False,
    fov: Annotated[
        float | None,
        typer.Option(
            "--fov", min=1.0, max=179.0, help="Horizontal field of view, degrees, when the video has no "
            f"intrinsics (default {LiftConfig.fov_deg:g}).",
        ),
    ] = None,
    lifter: Annotated[
        str | None,
        typer.Option("--lifter", help="3-D lifter: mediapipe (default: the pose model's world landmarks) | "
                     "PATH to a lifter file (imusynth lifter train; docs/lifting.md)."),
    ] = None,
    overlay: Annotated[
        Path | None,
        typer.Option("--overlay", help="Write a QA video (.mp4, H.264): skeletons, track ids, sensor axes."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a figure of the signals: .png, .pdf or .svg.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(
            "--report", help="Also write the HTML QA page of the output (docs/report.md).",
        ),
    ] = None,
    placements_file: PlacementsFileOpt = None,
    pipeline: PipelineOpt = None,
    body_model: Annotated[
        str | None,
        typer.Option("--body-model", help="skeleton (default) | smpl: fit the SMPL body mesh | anny: fit the "
                     "free Anny body mesh (extra imusynth[body]; docs/anny.md)."),
    ] = None,
    smpl_dir: Annotated[
        Path | None,
        typer.Option("--smpl-dir", help="Folder of your licensed SMPL model files (docs/smpl.md)."),
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="Activity label stored with the clip(s).")
    ] = None,
    group: Annotated[str | None, typer.Option("--group", help="Group key (subject or video id).")] = None,
    augment: AugmentOpt = None,
    force: ForceOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Virtual IMU signals from a video of people (pose, 3-D lifting, camera compensation).

    Example: imusynth clip.mp4 --placement wrist --placement thigh --plot clip.png
    """
    from imusynth.cli._console import quiet_native_logs, video_summary, warn_empty_sensors
    from imusynth.video.job import process_video, resolve_video_input

    check_plot_suffix("--plot", plot)
    check_suffix("--overlay", overlay, (".mp4",))
    from imusynth.cli.report import check_report_suffix

    check_report_suffix(report)
    inputs = [video, placements_file, pipeline]
    if not Path(video).name:
        raise InputError(f"{video!r} is not a video file or URL")
    default_out = None if "://" in video else Path(Path(video).name).with_suffix(".h5")  # URL: after fetching
    outputs = {"--output": output or default_out, "--plot": plot, "--overlay": overlay, "--report": report}
    check_outputs(outputs, inputs, force=force)
    cfg = _cfg(
        pipeline,
        {
            "output.rate_hz": rate,
            "output.placements": placement,
            "output.placements_file": str(placements_file) if placements_file else None,
            "pose.model": model,
            "tracking.person": person,
            "video.start_s": start,
            "video.end_s": end,
            "camera.static": True if static_camera else None,
            "lift.fov_deg": fov,
            "lift.lifter": lifter,
            "smpl.body_model": body_model,
            "smpl.smpl_dir": str(smpl_dir) if smpl_dir else None,
            "augment.n": augment,
        },
    )
    with quiet_native_logs(verbose):
        path, provenance = resolve_video_input(video)
        out = output or Path(path.name).with_suffix(".h5")
        if path != Path(video) or out != outputs["--output"]:   # a fetched URL: check against the download
            check_outputs({**outputs, "--output": out}, [path], force=force)
        process_video(
            path,
            out,
            config=cfg,
            label=label,
            group=group,
            extra_attrs=provenance,
            progress=True,
            overlay_path=overlay,
            plot_path=plot,
        )
    shares = warn_empty_sensors(out)
    codec = None
    if overlay is not None:
        from imusynth.video.overlay import overlay_codec

        codec = overlay_codec()
    for line in video_summary(out, shares, person=cfg.tracking.person, min_track_s=cfg.tracking.min_track_s,
                              plot=plot, overlay=overlay, overlay_codec=codec):
        typer.echo(line)
    if report is not None:
        from imusynth.cli.report import write_report

        typer.echo(write_report([out], report, pipeline=pipeline))


@app.command("placements")
def placements_cmd(
    placements_file: PlacementsFileOpt = None,
) -> None:
    """List the built-in placements (and those of a placements file) with their sensor axes."""
    from imusynth.core.placements import builtin_placements, load_placements

    table = builtin_placements()
    if placements_file:
        table.update(load_placements(placements_file))
    width = max(len(n) for n in table)
    for name, p in table.items():
        typer.echo(f"{name:<{width}}  {p.description}")


@app.command("inspect")
def inspect_cmd(
    file: Annotated[Path, typer.Argument(help="An imusynth/1 HDF5 file.")],
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a figure of every sensor (.png, .pdf, .svg).")
    ] = None,
    force: ForceOpt = False,
) -> None:
    """Summary table of an imusynth/1 file; optionally a figure of every sensor's signals."""
    from imusynth.io.inspect import plot_file, summary_table

    check_plot_suffix("--plot", plot)
    check_outputs({"--plot": plot}, [file], force=force)
    typer.echo(summary_table(file))
    if plot:
        plot_file(file, plot)
        typer.echo(f"wrote {plot}")


@app.command("info")
def info_cmd() -> None:
    """Versions of imusynth and its dependencies (paste this into bug reports)."""
    from importlib.metadata import PackageNotFoundError, version

    for pkg in (
        "imusynth",
        "numpy",
        "scipy",
        "h5py",
        "mediapipe",
        "opencv-contrib-python",
        "ezc3d",
        "typer",
        "yt-dlp",
        "scikit-learn",
        "dask",
        "torch",
        "smplx",
        "anny",
    ):
        try:
            v = version(pkg)
        except PackageNotFoundError:
            v = "not installed"
        typer.echo(f"{pkg:<24} {v}")
    typer.echo(f"{'python':<24} {sys.version.split()[0]}")


def _show_usage_error(exc: Exception) -> int:
    """Print a typer usage error (typer's own message, on stderr) and return its exit status."""
    show = getattr(exc, "show", None)
    if callable(show):
        show()
    else:  # pragma: no cover - every typer exception the parser raises has show()
        typer.echo(f"Error: {exc}", err=True)
    return int(getattr(exc, "exit_code", 2))


def run(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit status (0 success, 1 failure, 2 usage or input, 130 Ctrl-C).

    The bare ``imusynth VIDEO`` form is dispatched to ``video``. Input errors print one line, usage errors
    print typer's usage message, both on stderr; neither prints a traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    # OpenCV/FFmpeg's own warnings about unreadable input would bury the one-line error below
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    try:
        commands = {c.name for c in app.registered_commands if c.name} | set(LAZY_COMMANDS)
        if not args:  # the help for a person, an error for a script
            app(["--help"], prog_name="imusynth", standalone_mode=False)
            typer.echo("imusynth: error: no VIDEO or COMMAND given (see the help above)", err=True)
            return 2
        if not args[0].startswith("-") and args[0] not in commands:
            args.insert(0, "video")
        # standalone_mode=False: typer returns the exit status (a command's typer.Exit, 130 after Ctrl-C)
        # and raises usage errors instead of printing them
        rc = app(args, prog_name="imusynth", standalone_mode=False)
    except InputError as exc:
        typer.echo(f"imusynth: error: {exc}", err=True)
        return 2
    except OSError as exc:  # unreadable files, permissions, full disk
        typer.echo(f"imusynth: error: {exc}", err=True)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        rc = 130
    except typer.TyperException as exc:  # usage errors: typer._click.exceptions.UsageError and the others
        return _show_usage_error(exc)
    rc = rc if isinstance(rc, int) else 0
    if rc == 130:
        typer.echo("imusynth: interrupted", err=True)
    return rc


def main(argv: list[str] | None = None) -> None:
    """Entry point: :func:`run`, then exit with its status (returns normally only on success)."""
    rc = run(argv)
    if rc:
        raise SystemExit(rc)


if __name__ == "__main__":
    main()
