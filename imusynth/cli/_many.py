"""What the many-input commands share: the output choice (``-o FILE`` or ``--out-dir DIR``), the checks
before any work, the failure lines and the summary (exit status 1 when an input failed).

The inputs themselves are expanded by :func:`imusynth.io.inputs.expand_inputs` (files, folders, globs,
manifest CSV files) and run by :func:`imusynth.io.inputs.each_input`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from imusynth.cli._paths import OutputPathError, check_outputs
from imusynth.errors import InputError
from imusynth.io.inputs import Failure, RunLog

OutDirOpt = Annotated[Path | None, typer.Option(
    "--out-dir", help="Write one output file per input into this folder (instead of one dataset file, -o).")]

#: the help text of a many-input argument, after what it is
INPUTS_HELP = ("; or folders, globs (quoted: 'data/**/*.trc') and manifest CSV files (columns path, label, "
               "group); many inputs make one dataset (-o) or one file each (--out-dir)")


def choose_output(output: Path | None, out_dir: Path | None) -> None:
    """Exactly one of ``-o`` and ``--out-dir`` (a usage error otherwise)."""
    if output is None and out_dir is None:
        raise InputError("give the output: -o FILE (one dataset file) or --out-dir DIR (one file per input)")
    if output is not None and out_dir is not None:
        raise InputError("give -o FILE or --out-dir DIR, not both")


def check_out_dir(out_dir: Path, names: Sequence[str], inputs: Sequence[Path], *, force: bool) -> list[Path]:
    """The files ``out_dir/NAME`` for ``names``, refused (before any work) where one is an input, a folder,
    or (without ``force``) an existing file; ``out_dir`` is created."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputPathError(f"--out-dir {out_dir} is a file: give a folder")
    outs = [out_dir / n for n in names]
    ins = {p.resolve() for p in inputs}
    for out in outs:
        if out.resolve() in ins:
            raise OutputPathError(f"--out-dir {out_dir}: {out} is an input file: choose another folder")
        if out.is_dir():
            raise OutputPathError(f"--out-dir {out_dir}: {out} is a folder")
        if out.exists() and not force:
            raise OutputPathError(f"--out-dir {out_dir}: {out} exists: give --force to replace it")
    out_dir.mkdir(parents=True, exist_ok=True)
    return outs


def check_output(output: Path, inputs: Sequence[Path], extra: Sequence[Path | None] = (), *,
                 force: bool) -> None:
    """:func:`check_outputs` for one dataset file, with many inputs (one pass over them)."""
    check_outputs({"--output": output}, [*extra], force=force)
    target = output.resolve()
    for p in inputs:
        if p.resolve() == target:
            raise OutputPathError(f"--output {output} is the input file {p}: choose another output path")


def print_failure(failure: Failure) -> None:
    """One line on stderr per failed input: ``imusynth: failed: PATH: REASON``."""
    typer.echo(f"imusynth: failed: {failure.line()}", err=True)


def summary(log: RunLog, what: str, written: Sequence[Path], *, unit: str = "clip(s)",
            renamed: Sequence[tuple[str, str]] = (), renamed_why: str = "") -> int:
    """Print what a many-input run did; return its exit status (1 when an input failed, else 0)."""
    if renamed:
        pairs = ", ".join(f"{a} -> {b}" for a, b in renamed[:4])
        more = f" and {len(renamed) - 4} more" if len(renamed) > 4 else ""
        typer.echo(f"{len(renamed)} {unit} renamed {renamed_why}: {pairs}{more}")
    failed = len(log.failures)
    head = f"{what}: {log.done} of {log.total} input(s) done"
    if failed:
        head += f", {failed} failed (listed above, one line each)"
    typer.echo(head)
    if len(written) == 1:
        typer.echo(f"wrote {written[0]}")
    elif written:
        typer.echo(f"wrote {len(written)} files in {written[0].parent}")
    elif log.done == 0:
        typer.echo("nothing written: every input failed")
    return 1 if failed else 0
