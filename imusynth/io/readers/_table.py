"""Text input shared by every text reader: paths, gzip, delimited tables, numbers, timestamps.

Everything a reader needs to turn a delimited text file into arrays lives here, so that the
checks (file exists, column present, cell numeric) and their messages are written once.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from imusynth.errors import InputError

_GZIP_MAGIC = b"\x1f\x8b"
_DELIMITERS = (",", ";", "\t")
_MISSING = frozenset(("", "nan", "NaN", "NAN", "NA", "N/A", "null", "None"))
_TZ_SUFFIX = re.compile(r"(Z|[+-]\d\d:?\d\d)$")


class ReadError(InputError, ValueError):
    """A file that cannot be read: missing, unknown format, missing columns, bad cells."""


def check_path(path: str | Path) -> Path:
    """Return ``path`` as a :class:`Path` after checking it is a non-empty readable file.

    Raises
    ------
    ReadError
        When the path does not exist, is a folder, or is empty.
    """
    p = Path(path)
    if not p.exists():
        raise ReadError(f"{p}: no such file")
    if not p.is_file():
        raise ReadError(f"{p}: not a file")
    if p.stat().st_size == 0:
        raise ReadError(f"{p}: the file is empty")
    return p


def base_suffix(path: Path) -> str:
    """Lower-case extension of ``path`` without a trailing ``.gz`` (``"a.csv.gz"`` -> ``".csv"``)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def is_gzip(path: Path) -> bool:
    """Whether the file starts with the gzip magic bytes."""
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def read_head(path: Path, n_bytes: int = 8192) -> bytes:
    """First ``n_bytes`` bytes of the file, decompressed when it is gzip."""
    with open(path, "rb") as f:
        raw = f.read(n_bytes)
    if raw.startswith(_GZIP_MAGIC):
        try:
            with gzip.open(path, "rb") as g:
                return g.read(n_bytes)
        except (OSError, EOFError) as exc:
            raise ReadError(f"{path}: damaged gzip file ({exc})") from None
    return raw


def read_text(path: str | Path) -> str:
    """Whole text of a file, gzip decompressed transparently (detected by content, not name).

    UTF-8 (with or without a byte-order mark) is tried first, then Latin-1, which accepts any byte.
    """
    p = check_path(path)
    with open(p, "rb") as f:
        raw = f.read()
    if raw.startswith(_GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ReadError(f"{p}: damaged gzip file ({exc})") from None
    if b"\x00" in raw[:4096]:
        raise ReadError(f"{p}: binary data where a text file was expected")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def sniff_delimiter(header_line: str) -> str:
    """The most frequent of ``,`` ``;`` and tab in ``header_line`` (comma when none occurs)."""
    counts = [header_line.count(d) for d in _DELIMITERS]
    return _DELIMITERS[int(np.argmax(counts))] if max(counts) > 0 else ","


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def parse_cells(rows: Sequence[Sequence[str]], columns: Sequence[str], source: str) -> NDArray[np.float64]:
    """Convert rows of text cells to float64 (N, K); empty and ``nan``-like cells become NaN.

    Parameters
    ----------
    rows : sequence of sequences of str, N rows of K cells
        The cells, one per entry of ``columns``.
    columns : sequence of str, length K
        Column names, used in the error message.
    source : str
        File name, used in the error message.

    Raises
    ------
    ReadError
        Naming the first cell that is not a number (column and data row).
    """
    out = np.empty((len(rows), len(columns)), dtype=np.float64)
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            text = cell.strip()
            if text in _MISSING:
                out[i, j] = np.nan
                continue
            try:
                out[i, j] = float(text)
            except ValueError:
                raise ReadError(
                    f"{source}: column {columns[j]!r}, data row {i + 1} holds {text!r}; expected a number"
                ) from None
    return out


def parse_lines(
    lines: Sequence[str], delimiter: str, usecols: Sequence[int], columns: Sequence[str], source: str
) -> NDArray[np.float64]:
    """Numbers of columns ``usecols`` of delimited data ``lines``, shape (N, K), float64.

    NumPy's C parser reads well-formed numeric lines; short rows, empty or ``NA`` cells and bad cells
    fall back to a cell-by-cell parse that turns missing cells into NaN and names a bad one.
    """
    if not lines:
        return np.empty((0, len(usecols)))
    try:
        return np.loadtxt(lines, delimiter=delimiter, usecols=list(usecols), dtype=np.float64, ndmin=2,
                          comments=None, quotechar='"')
    except ValueError:
        pass
    reader = csv.reader(lines, delimiter=delimiter)
    rows = [[row[j] if j < len(row) else "" for j in usecols] for row in reader]
    return parse_cells(rows, columns, source)


def parse_datetimes(values: Sequence[str], column: str, source: str) -> NDArray[np.float64]:
    """Seconds since 1970-01-01 UTC from ISO-8601 date-time strings (``2021-10-21 09:20:58.2166+00:00``).

    A trailing UTC offset (``Z``, ``+02:00``) is applied; strings without one are taken as UTC.
    """
    stripped: list[str] = []
    offsets_s = np.zeros(len(values))
    for i, value in enumerate(values):
        text = value.strip()
        match = _TZ_SUFFIX.search(text) if len(text) > 10 else None
        if match:
            tz = match.group(1)
            text = text[: match.start()]
            if tz != "Z":
                sign = 1.0 if tz[0] == "+" else -1.0
                digits = tz[1:].replace(":", "")
                offsets_s[i] = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
        stripped.append(text)
    try:
        stamps = np.array(stripped, dtype="datetime64[ns]")
    except ValueError:
        bad = next(s for s in stripped if not _parses_as_datetime(s))
        raise ReadError(
            f"{source}: time column {column!r} holds {bad!r}; expected a number or an ISO-8601 date-time"
        ) from None
    ns = (stamps - np.datetime64(0, "ns")).astype(np.int64)
    return ns.astype(np.float64) * 1e-9 - offsets_s


def _parses_as_datetime(text: str) -> bool:
    try:
        np.datetime64(text, "ns")
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Table:
    """A delimited text table: its header and its data lines, parsed column by column on demand.

    Attributes
    ----------
    source : str
        File name (for messages).
    columns : tuple of str, length C
        Column names. A two-row (pandas multi-index) header is flattened to ``"{level0}_{level1}"``;
        its first column (the pandas index) is called ``"index"``, as is an unnamed first column.
    lines : tuple of str, length N
        The data lines, blank lines removed.
    delimiter : str
        Field separator.
    groups : tuple of str
        Distinct first-level names of a two-row header, in order (e.g. sensor names); empty otherwise.
    """

    source: str
    columns: tuple[str, ...]
    lines: tuple[str, ...]
    delimiter: str
    groups: tuple[str, ...] = ()

    @property
    def n_rows(self) -> int:
        """Number of data rows N."""
        return len(self.lines)

    def has(self, name: str) -> bool:
        """Whether a column called ``name`` exists."""
        return name in self.columns

    def require(self, names: Sequence[str]) -> list[int]:
        """Indices of the named columns; raises :class:`ReadError` naming the first missing one."""
        missing = [n for n in names if n not in self.columns]
        if missing:
            shown = ", ".join(repr(c) for c in self.columns[:12])
            more = f" and {len(self.columns) - 12} more" if len(self.columns) > 12 else ""
            raise ReadError(
                f"{self.source}: column {missing[0]!r} not found"
                + (f" (also missing: {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else "")
                + f"; the file has {shown}{more}"
            )
        return [self.columns.index(n) for n in names]

    def text(self, name: str) -> NDArray[np.str_]:
        """Cells of one column, shape (N,), stripped; empty where a row is short."""
        (j,) = self.require([name])
        reader = csv.reader(self.lines, delimiter=self.delimiter)
        cells = [row[j].strip() if j < len(row) else "" for row in reader]
        return np.array(cells, dtype=str)

    def numbers(self, names: Sequence[str]) -> NDArray[np.float64]:
        """Numeric values of the named columns, shape (N, K), float64, NaN where empty."""
        return parse_lines(self.lines, self.delimiter, self.require(names), names, self.source)

    def take(self, rows: NDArray[np.bool_]) -> Table:
        """The table restricted to the rows where the mask ``rows`` (N,) is true."""
        kept = tuple(line for line, keep in zip(self.lines, rows, strict=True) if keep)
        return Table(self.source, self.columns, kept, self.delimiter, self.groups)


def read_table(path: str | Path, *, delimiter: str | None = None) -> Table:
    """Read a delimited text file (gzip accepted) into a :class:`Table`.

    Parameters
    ----------
    path : str or Path
        The file; gzip compression is detected from its content.
    delimiter : str, optional
        Field separator; by default the most frequent of ``,`` ``;`` and tab in the first line.

    Notes
    -----
    A two-row header is recognised when every cell of the second row after the first is non-empty
    and not a number (the form pandas writes for ``header=[0, 1]``). A third row whose cells are
    empty except the first (pandas' index-name row) is skipped. Blank lines are skipped.

    Raises
    ------
    ReadError
        For a missing or empty file, or one with no data rows.
    """
    p = check_path(path)
    lines = [ln for ln in read_text(p).splitlines() if ln.strip()]
    if not lines:
        raise ReadError(f"{p.name}: the file holds no text")
    delim = delimiter if delimiter is not None else sniff_delimiter(lines[0])
    head = list(csv.reader(lines[:3], delimiter=delim))
    header = [c.strip() for c in head[0]]
    body_start = 1
    groups: tuple[str, ...] = ()
    second = [c.strip() for c in head[1]] if len(head) > 1 else []
    if len(second) == len(header) > 1 and all(c and not _is_number(c) for c in second[1:]):
        groups = tuple(dict.fromkeys(header[1:]))
        header = ["index"] + [f"{a}_{b}" for a, b in zip(header[1:], second[1:], strict=True)]
        body_start = 2
        if len(head) > 2 and head[2] and not any(c.strip() for c in head[2][1:]):
            body_start = 3
    elif header and header[0] == "":
        header[0] = "index"
    if len(lines) <= body_start:
        raise ReadError(f"{p.name}: no data rows after the header")
    return Table(p.name, tuple(header), tuple(lines[body_start:]), delim, groups)
