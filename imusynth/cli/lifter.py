"""``imusynth lifter train``: a temporal 2-D → 3-D lifter trained on motion capture through virtual cameras.

The command collects files (folders are searched for .bvh, .trc and .c3d), reads them as takes, trains
(:func:`imusynth.video.lift.train.train_lifter`) and writes an ``imusynth-lifter/1`` file that
``imusynth VIDEO --lifter PATH`` uses. torch is imported only when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imusynth.cli._paths import ForceOpt, check_outputs
from imusynth.errors import InputError

_opt = typer.Option

lifter_app = typer.Typer(
    name="lifter",
    help="Train learned 2-D -> 3-D lifters on motion capture (see docs/lifter_training.md).",
    no_args_is_help=True,
    add_completion=False,
)

#: motion files a folder argument contributes
MOTION_SUFFIXES = (".bvh", ".trc", ".c3d")

_H = {
    "mocap": "Motion-capture files or folders (searched recursively for .bvh, .trc, .c3d).",
    "output": "Lifter file to write (keep weights trained on non-commercial data out of the repository).",
    "epochs": "Training epochs (each take seen once per epoch and view).",
    "fps": "Frame rate the lifter works at, Hz (mocap is resampled to it; video tracks must be too).",
    "seed": "Seed of the split, the cameras, the noise and the weights.",
    "resume": "Continue from OUTPUT.ckpt (written after every epoch) instead of starting afresh.",
    "licence": "Licence of the training data, stored in the file (default: read from a README beside it).",
    "channels": "Width of the network's hidden layers.",
    "widths": "Comma-separated odd filter widths (receptive field = their product).",
    "batch": "Chunks per batch.",
    "chunk": "Output frames per training chunk.",
    "lr": "Adam learning rate (decays by --lr-decay per epoch).",
    "lr_decay": "Learning-rate factor per epoch.",
    "dropout": "Dropout probability.",
    "velocity": "Weight of the velocity (frame-difference) MPJPE term of the loss.",
    "noise": "Multiplier of the measured MediaPipe 2-D noise (0: exact 2-D input).",
    "no_mirror": "Do not mirror takes (left/right swapped) at random.",
    "views": "Random cameras per take and epoch.",
    "val": "Share of takes (files) held out for validation.",
    "max_minutes": "Stop after the epoch that passes this wall-clock budget, minutes (0: no limit).",
    "threads": "torch threads while training (1 is fastest on a shared machine).",
    "hash": "Store each training file's sha256 in the output.",
    "keypoints": "Comma-separated input keypoints (canonical names; default: shoulders to ankles).",
}


def collect_motion_files(items: list[Path]) -> list[Path]:
    """Files given, plus the motion files under each folder given (sorted); InputError for missing paths."""
    out: list[Path] = []
    for item in items:
        if item.is_dir():
            out += sorted(p for p in item.rglob("*") if p.suffix.lower() in MOTION_SUFFIXES and p.is_file())
        elif item.is_file():
            out.append(item)
        else:
            raise InputError(f"{item}: no such file or folder")
    if not out:
        raise InputError("no motion files (.bvh, .trc, .c3d) found in the given paths")
    return out


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise InputError(f"--widths {text!r}: give odd integers separated by commas, e.g. 3,3,3,3") from None
    if not widths or any(w < 1 or w % 2 == 0 for w in widths):
        raise InputError(f"--widths {text!r}: every filter width must be odd and positive")
    return widths


@lifter_app.command("train")
def train_cmd(
    mocap: Annotated[list[Path], typer.Argument(help=_H["mocap"], show_default=False)],
    output: Annotated[Path, _opt("--output", "-o", help=_H["output"])],
    epochs: Annotated[int, _opt("--epochs", min=1, help=_H["epochs"])] = 30,
    fps: Annotated[float, _opt("--fps", min=1.0, help=_H["fps"])] = 30.0,
    seed: Annotated[int, _opt("--seed", help=_H["seed"])] = 0,
    resume: Annotated[bool, _opt("--resume", metavar="", help=_H["resume"])] = False,
    licence: Annotated[str | None, _opt("--licence", help=_H["licence"])] = None,
    channels: Annotated[int, _opt("--channels", min=4, help=_H["channels"])] = 256,
    widths: Annotated[str, _opt("--widths", help=_H["widths"])] = "3,3,3,3",
    batch: Annotated[int, _opt("--batch", min=1, help=_H["batch"])] = 32,
    chunk: Annotated[int, _opt("--chunk", min=1, help=_H["chunk"])] = 81,
    lr: Annotated[float, _opt("--lr", min=0.0, help=_H["lr"])] = 3e-3,
    lr_decay: Annotated[float, _opt("--lr-decay", min=0.0, max=1.0, help=_H["lr_decay"])] = 0.95,
    dropout: Annotated[float, _opt("--dropout", min=0.0, max=0.9, help=_H["dropout"])] = 0.25,
    velocity_weight: Annotated[float, _opt("--velocity-weight", min=0.0, help=_H["velocity"])] = 0.0,
    noise: Annotated[float, _opt("--noise", min=0.0, help=_H["noise"])] = 1.0,
    no_mirror: Annotated[bool, _opt("--no-mirror", metavar="", help=_H["no_mirror"])] = False,
    views: Annotated[int, _opt("--views", min=1, help=_H["views"])] = 1,
    val_fraction: Annotated[float, _opt("--val-fraction", min=0.0, max=0.9, help=_H["val"])] = 0.1,
    max_minutes: Annotated[float, _opt("--max-minutes", min=0.0, help=_H["max_minutes"])] = 0.0,
    threads: Annotated[int, _opt("--threads", min=1, help=_H["threads"])] = 1,
    hash_files: Annotated[bool, _opt("--hash-files", metavar="", help=_H["hash"])] = False,
    keypoints: Annotated[str | None, _opt("--keypoints", help=_H["keypoints"])] = None,
    force: ForceOpt = False,
) -> None:
    """Train a temporal lifter (VideoPose3D architecture) on motion capture seen by random virtual cameras."""
    from imusynth.video.lift.train import (
        DEFAULT_KEYPOINTS,
        TrainConfig,
        common_outputs,
        describe_sources,
        load_takes,
        train_lifter,
    )

    files = collect_motion_files(mocap)
    check_outputs({"--output": output}, files, force=force or resume)
    kin = [k.strip() for k in keypoints.split(",")] if keypoints else list(DEFAULT_KEYPOINTS)
    cfg = TrainConfig(epochs=epochs, batch_size=batch, chunk_frames=chunk, lr=lr, lr_decay=lr_decay,
                      filter_widths=_widths(widths), channels=channels, dropout=dropout,
                      velocity_weight=velocity_weight, noise_level=noise, mirror=not no_mirror,
                      views_per_epoch=views, val_fraction=val_fraction, seed=seed, fps=fps,
                      max_minutes=max_minutes)
    joints_out = common_outputs(files, kin)
    typer.echo(f"reading {len(files)} motion files", err=True)
    takes, skipped = load_takes(files, joints_out, fps=fps)
    if skipped:
        typer.echo(f"skipped {len(skipped)} files without the joints {', '.join(joints_out)}; first: "
                   f"{skipped[0]}", err=True)
    if not takes:
        raise InputError(f"none of the {len(files)} files has the joints {', '.join(joints_out)}")
    sources, licences = describe_sources([t.source for t in takes], takes, hash_files=hash_files,
                                         licence=licence)
    for folder, text in licences.items():
        typer.echo(f"data licence ({folder}): {text}", err=True)
    result = train_lifter(takes, output, cfg=cfg, keypoints=kin, joints_out=joints_out, licences=licences,
                          sources=sources, resume=resume, progress=True, threads=threads,
                          log=lambda m: typer.echo(m, err=True))
    last = result.history[-1] if result.history else {}
    hours = result.frames / fps / 3600.0
    typer.echo(f"wrote {result.path} (sha256 {result.sha256[:12]}): {len(result.train_takes)} training takes "
               f"({hours:.2f} h), {len(result.val_takes)} held out; held-out MPJPE "
               f"{last.get('val_mpjpe_mm', float('nan')):.1f} mm after {len(result.history)} epochs, "
               f"{result.seconds / 60:.1f} min")
    if any("NC" in v for v in licences.values()):
        typer.echo("note: trained on non-commercial data (NC licence): do not commit or distribute the file "
                   "as a default of the project", err=True)
