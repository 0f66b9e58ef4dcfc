"""The one check every writing command makes before it starts: outputs never replace inputs or old files."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated

import typer

from imusynth.errors import InputError

ForceOpt = Annotated[bool, typer.Option("--force", metavar="", help="Replace output files that exist.")]


class OutputPathError(InputError):
    """An output path that names an input, another output, a folder, or (without --force) an existing file."""


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name one file: equal after resolving links and ``..``, or the same inode."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(outputs: Mapping[str, str | Path | None], inputs: Iterable[str | Path | None] = (), *,
                  force: bool = False) -> None:
    """Refuse output paths that would destroy data, before any work is done.

    Parameters
    ----------
    outputs : mapping of str to path or None
        Each output by the flag that names it (``{"--output": p, "--plot": q}``); ``None`` entries are unused.
    inputs : iterable of path or None
        Every file the command reads (URLs and ``None`` are skipped).
    force : bool
        Allow replacing an existing output file (never an input, a folder or another output).

    Raises
    ------
    OutputPathError
        An output resolves (symlinks and relative paths included) to an input or to another output, is an
        existing folder, or is an existing file and ``force`` is false. The message names the flag.
    """
    ins = [Path(p) for p in inputs if p is not None and "://" not in str(p)]
    seen: list[tuple[str, Path]] = []
    for flag, value in outputs.items():
        if value is None:
            continue
        out = Path(value)
        for inp in ins:
            if _same(out, inp):
                raise OutputPathError(f"{flag} {out} is the input file {inp}: choose another output path")
        for other_flag, other in seen:
            if _same(out, other):
                raise OutputPathError(f"{flag} {out} is also given to {other_flag}: choose another path")
        if out.is_dir():
            raise OutputPathError(f"{flag} {out} is a folder: give a file name")
        if out.exists() and not force:
            raise OutputPathError(f"{flag} {out} exists: give --force to replace it")
        seen.append((flag, out))


#: figure formats of ``--plot`` (from the file's extension)
PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def check_suffix(flag: str, path: str | Path | None, suffixes: tuple[str, ...]) -> None:
    """Refuse an output path whose extension is not one of ``suffixes`` (the file's format follows it)."""
    if path is not None and Path(path).suffix.lower() not in suffixes:
        allowed = suffixes[0] if len(suffixes) == 1 else f"{', '.join(suffixes[:-1])} or {suffixes[-1]}"
        raise OutputPathError(f"{flag} {path}: the format follows the extension; use {allowed}")


def check_plot_suffix(flag: str, path: str | Path | None) -> None:
    """Refuse a figure path whose extension is not one of :data:`PLOT_SUFFIXES` (the format follows it)."""
    check_suffix(flag, path, PLOT_SUFFIXES)
