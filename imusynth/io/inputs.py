"""Many inputs for one command: files, folders, globs and manifest CSV files, expanded into a list of items.

A dataset is hundreds of files; ``motion``, ``calibrate apply``, ``export`` and ``gather`` take them all in
one process (start-up and set-up, e.g. parsing a calibration profile, are paid once). Each argument is

- a **file**: itself;
- a **folder**: every file below it (recursively) whose name ends with one of the command's suffixes, in
  sorted order; names starting with ``.`` (temporary files) are skipped;
- a **glob** (``"data/**/*.trc"``, quoted so that the shell leaves it alone): the files it matches;
- a **manifest CSV**: a ``.csv`` file whose header has a ``path`` column and otherwise only ``label``,
  ``group`` and ``clip_id`` columns; one item per row, paths relative to the manifest's folder; ``label``
  and ``group`` (optional) label the item's clips.

:func:`each_input` then runs a function on every item, with a progress bar, and collects the failures
(one line each, with the reason) instead of stopping at the first: a dataset keeps its good items.
"""

from __future__ import annotations

import csv
import glob
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from imusynth.errors import InputError

#: Suffixes of the motion files ``imusynth motion`` reads from a folder (a ``.gz`` after them too).
MOTION_SUFFIXES = (".trc", ".c3d", ".bvh", ".csv", ".tsv", ".txt")
#: Suffixes of ``imusynth/1`` files.
H5_SUFFIXES = (".h5", ".hdf5")
#: The columns a manifest CSV may have (``path`` required).
MANIFEST_COLUMNS = ("path", "label", "group", "clip_id")

T = TypeVar("T")


class InputsError(InputError):
    """An argument that names no input (a missing file, a glob without match, an empty folder, a bad row)."""


@dataclass(frozen=True)
class InputItem:
    """One input of a many-input command.

    Attributes
    ----------
    path : Path
        The file.
    label, group : str or None
        From a manifest row (None: not given).
    clip_id : str or None
        From a manifest row: the clip's name (motion files).
    """

    path: Path
    label: str | None = None
    group: str | None = None
    clip_id: str | None = None


@dataclass(frozen=True)
class Inputs:
    """The expanded inputs of a command.

    Attributes
    ----------
    items : list of InputItem
        In the order given (folder and glob contents sorted).
    many : bool
        False only for a single plain file argument: the command then behaves as a one-file command (its
        errors stop it with exit status 2). True for several arguments, a folder, a glob or a manifest:
        failures are reported per input and the rest is kept.
    """

    items: list[InputItem]
    many: bool


def _has_suffix(name: str, suffixes: Sequence[str]) -> bool:
    low = name.lower().removesuffix(".gz")
    return any(low.endswith(s) for s in suffixes)


def is_manifest(path: Path) -> bool:
    """Whether ``path`` is a manifest CSV: header with ``path``, all columns in :data:`MANIFEST_COLUMNS`."""
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = fh.readline()
    except (OSError, UnicodeDecodeError):
        return False
    cols = [c.strip().lower() for c in next(csv.reader([header]), [])]
    return "path" in cols and set(cols) <= set(MANIFEST_COLUMNS)


def read_manifest(path: Path) -> list[InputItem]:
    """The rows of a manifest CSV as items (paths relative to the manifest's folder; empty cells: None)."""
    items = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        for n, row in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            if not row.get("path"):
                raise InputsError(f"{path}, line {n}: empty path")
            p = Path(row["path"]).expanduser()
            items.append(InputItem(p if p.is_absolute() else path.parent / p, row.get("label") or None,
                                   row.get("group") or None, row.get("clip_id") or None))
    if not items:
        raise InputsError(f"{path}: manifest without rows")
    return items


def expand_inputs(args: Sequence[str | Path], *, suffixes: Sequence[str], what: str = "input",
                  manifests: bool = True) -> Inputs:
    """Expand files, folders, globs and manifest CSV files into :class:`Inputs`.

    Parameters
    ----------
    args : sequence of str or Path
        The command's input arguments.
    suffixes : sequence of str
        What a folder's files must end with (lower case, e.g. :data:`MOTION_SUFFIXES`).
    what : str
        The inputs in words, for messages ("motion file").
    manifests : bool
        Read ``.csv`` files with a manifest header as manifests.

    Raises
    ------
    InputsError
        No argument, a glob that matches nothing, a folder with no matching file, or a bad manifest. A
        named file that does not exist is kept (it fails as an input, with its reason).
    """
    if not args:
        raise InputsError(f"no {what} given")
    items: list[InputItem] = []
    many = len(args) > 1
    for raw in args:
        text = str(raw)
        p = Path(text).expanduser()
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")
                           and _has_suffix(f.name, suffixes))
            if not found:
                raise InputsError(f"folder {p} holds no {what} ({', '.join(suffixes)})")
            items += [InputItem(f) for f in found]
            many = True
        elif not p.exists() and any(ch in text for ch in "*?["):
            found = sorted(Path(f) for f in glob.glob(text, recursive=True) if Path(f).is_file())
            if not found:
                raise InputsError(f"no file matches {text!r}")
            items += [InputItem(f) for f in found]
            many = True
        elif manifests and is_manifest(p):
            items += read_manifest(p)
            many = True
        else:
            items.append(InputItem(p))
    return Inputs(items, many)


def unique_ids(ids: Sequence[str], prefixes: Sequence[Sequence[str]]
               ) -> tuple[list[str], list[tuple[str, str]]]:
    """Make names unique: names used more than once get prefixes, nearest first, until they differ.

    Parameters
    ----------
    ids : sequence of str
        The names (clip ids, file stems).
    prefixes : sequence of sequence of str
        For each name, the prefixes to try, nearest first (e.g. its file's stem, then its folders' names),
        joined to the name with ``.`` (farthest first); characters other than letters, digits and ``_-.``
        become ``_``.

    Returns
    -------
    names : list of str
        Unique names (a name used once is unchanged); a counter ``.2``, ``.3`` ... is the last resort.
    renamed : list of (str, str)
        ``(old, new)`` for every name that changed, in order.
    """
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(ids):
        groups.setdefault(name, []).append(i)
    out = list(ids)
    for name, idx in groups.items():
        if len(idx) == 1:
            continue
        cand = list(out)
        for k in range(1, max(len(prefixes[i]) for i in idx) + 1):
            cand = [".".join([*(_safe(q) for q in reversed(list(prefixes[i])[:k])), name]) for i in idx]
            if len(set(cand)) == len(cand):
                break
        for i, c in zip(idx, cand, strict=True):
            out[i] = c
    seen: set[str] = set()
    for i, name in enumerate(out):
        new, k = name, 2
        while new in seen:
            new, k = f"{name}.{k}", k + 1
        seen.add(new)
        out[i] = new
    return out, [(a, b) for a, b in zip(ids, out, strict=True) if a != b]


def out_dir_names(items: Sequence[InputItem]) -> list[str]:
    """File names of one output per input in a folder: the inputs' names, those used twice with their folders'
    names in front (``s01.v.h5``)."""
    stems, _ = unique_ids([it.path.name for it in items],
                          [[q.name for q in it.path.resolve().parents if q.name] for it in items])
    return stems


class ClipIds:
    """Clip ids of a dataset merged from files, kept apart as they come: the first clip keeps its id, a later
    one with a taken id gets its file's stem in front (``walk.clip0``), then a counter (``walk.clip0.2``)."""

    def __init__(self) -> None:
        self.taken: set[str] = set()
        #: (file, old id, new id) of every clip renamed
        self.renamed: list[tuple[str, str, str]] = []

    def claim(self, clip_id: str, path: Path) -> str:
        """A unique id for clip ``clip_id`` of file ``path``."""
        new = clip_id
        if new in self.taken:
            new = f"{_safe(path.name.split('.')[0])}.{clip_id}"
            base, k = new, 2
            while new in self.taken:
                new, k = f"{base}.{k}", k + 1
            self.renamed.append((str(path), clip_id, new))
        self.taken.add(new)
        return new


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in text) or "_"


@dataclass
class Failure:
    """An input that failed: its path and the reason, in one line."""

    path: str
    reason: str

    def line(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class RunLog:
    """What :func:`each_input` did: how many items succeeded, which failed and why."""

    total: int = 0
    done: int = 0
    failures: list[Failure] = field(default_factory=list)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, InputError | OSError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def each_input(items: Sequence[InputItem], work: Callable[[InputItem], T], *, log: RunLog,
               progress: bool | None = None, desc: str = "", unit: str = "file",
               on_failure: Callable[[Failure], Any] | None = None) -> Iterator[tuple[InputItem, T]]:
    """Run ``work`` on every item; yield ``(item, result)`` for those that succeed.

    An exception of ``work`` (other than ``KeyboardInterrupt``) is recorded in ``log.failures`` with its
    message, passed to ``on_failure`` (e.g. to print it above the bar), and the next item runs.

    Parameters
    ----------
    items : sequence of InputItem
    work : callable
        One item -> a result.
    log : RunLog
        Filled in as items finish.
    progress : bool or None
        Show a tqdm bar on stderr; None: only when stderr is a terminal.
    desc, unit : str
        The bar's title and unit.
    on_failure : callable, optional
        Called with each :class:`Failure` as it happens.
    """
    from tqdm import tqdm

    log.total += len(items)
    bar = tqdm(total=len(items), desc=desc, unit=unit, disable=progress is False or (
        progress is None and not sys.stderr.isatty()), dynamic_ncols=True, leave=False)
    try:
        for item in items:
            try:
                result = work(item)
            except Exception as exc:  # noqa: BLE001 - one bad input must not stop a dataset
                reason = _reason(exc)
                for prefix in (f"{item.path}: ", f"{item.path.name}: "):   # the line names the file already
                    reason = reason.removeprefix(prefix)
                failure = Failure(str(item.path), reason)
                log.failures.append(failure)
                if on_failure is not None:
                    bar.clear()
                    on_failure(failure)
                    bar.refresh()
            else:
                log.done += 1
                yield item, result
            finally:
                bar.update(1)
                if log.failures:
                    bar.set_postfix(failed=len(log.failures), refresh=False)
    finally:
        bar.close()
