"""An append-only store of per-frame rows, spilled to an unnamed temporary file: memory bounded at any length.

The video job produces a few compact rows per frame (each person's landmarks, the camera's rotation).
Kept in RAM they would grow with the video's length; :class:`FrameStore` keeps them on disk instead and
reads them back one table (one track, one span of frames) at a time.

Layout
    A store holds named *tables*; each has a fixed schema, ``{field: (row_shape, dtype)}``. Rows are
    appended one at a time into a fixed-size in-memory chunk of ``chunk_rows`` rows per table; a full chunk
    (or a sealed table's partial one) is written at the end of the file, field after field, and only its
    ``(offset, rows)`` stays in memory. So the memory of a table is one chunk while it is written, and a
    few bytes per flushed chunk after.
The file
    :func:`tempfile.TemporaryFile` in ``directory``: on Linux an unnamed ``O_TMPFILE`` (elsewhere a file
    unlinked at once, or deleted on close), so nothing is left behind when the store is closed, when an
    exception unwinds the ``with`` block, or even when the process is killed.
Without a file
    ``FrameStore(spill=False)`` keeps the flushed chunks in RAM (exact-size arrays, no growth slack): the
    same interface for short jobs and tests.

Values are stored exactly as given in the table's dtypes (no rounding beyond the cast to those dtypes).
Dropping a table frees its memory but not its disk space (the file is append-only). Not thread-safe: one
thread appends and reads.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

__all__ = ["DEFAULT_CHUNK_ROWS", "FrameStore", "Schema"]

#: A table's schema: field name -> (shape of one row's value, dtype).
Schema = Mapping[str, tuple[tuple[int, ...], DTypeLike]]

#: Rows per chunk: a 33-landmark track row is ~1.1 kB, so a chunk of a person's table is ~140 kB.
DEFAULT_CHUNK_ROWS = 128


@dataclass
class _Table:
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, np.dtype[Any]]
    row_bytes: dict[str, int]
    chunk_rows: int
    disk_chunks: list[tuple[int, int]] = field(default_factory=list)          # (file offset, rows)
    mem_chunks: list[dict[str, NDArray[Any]]] = field(default_factory=list)  # spill=False
    buf: dict[str, NDArray[Any]] | None = None
    n_buf: int = 0
    n_flushed: int = 0

    @property
    def n_rows(self) -> int:
        return self.n_flushed + self.n_buf

    def new_buffer(self) -> dict[str, NDArray[Any]]:
        return {k: np.empty((self.chunk_rows, *s), self.dtypes[k]) for k, s in self.shapes.items()}


class FrameStore:
    """Named append-only tables of per-frame rows, kept in a temporary file (see the module notes).

    Parameters
    ----------
    directory : str or Path, optional
        Folder of the temporary file (default: the system's temporary folder). Ignored when ``spill`` is
        False.
    spill : bool, default True
        Write full chunks to the file; False keeps them in memory.
    chunk_rows : int, default :data:`DEFAULT_CHUNK_ROWS`
        Rows buffered in memory per table before they are written.

    Examples
    --------
    >>> with FrameStore() as store:
    ...     store.create("camera", {"time": ((), np.float64), "R": ((3, 3), np.float64)})
    ...     store.append("camera", {"time": 0.0, "R": np.eye(3)})
    ...     store.read("camera")["R"].shape
    (1, 3, 3)
    """

    def __init__(self, directory: str | Path | None = None, *, spill: bool = True,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise ValueError(f"chunk_rows must be an integer >= 1, got {chunk_rows!r}")
        self.chunk_rows = chunk_rows
        self.spill = bool(spill)
        self._tables: dict[str, _Table] = {}
        self._file: io.RawIOBase | None = None
        self._end = 0
        self._closed = False
        if self.spill:
            self._file = cast(io.RawIOBase, tempfile.TemporaryFile(
                prefix=".imusynth-frames-", suffix=".tmp", dir=None if directory is None else str(directory),
                buffering=0))

    # ---------------------------------------------------------------------------------------------- life
    def __enter__(self) -> FrameStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Forget every table and delete the file (idempotent)."""
        self._tables.clear()
        if self._file is not None:
            self._file.close()
            self._file = None
        self._closed = True

    @property
    def closed(self) -> bool:
        """The store was closed."""
        return self._closed

    # --------------------------------------------------------------------------------------------- tables
    def create(self, name: str, schema: Schema) -> None:
        """Add an empty table ``name`` with ``schema`` (``{field: (row_shape, dtype)}``)."""
        self._check_open()
        if name in self._tables:
            raise ValueError(f"table {name!r} exists already")
        if not schema:
            raise ValueError(f"table {name!r} needs at least one field")
        shapes = {k: tuple(int(n) for n in shape) for k, (shape, _) in schema.items()}
        dtypes = {k: np.dtype(dt) for k, (_, dt) in schema.items()}
        row_bytes = {k: int(np.prod(shapes[k], dtype=np.int64)) * dtypes[k].itemsize for k in shapes}
        self._tables[name] = _Table(shapes, dtypes, row_bytes, self.chunk_rows)

    def __contains__(self, name: object) -> bool:
        return name in self._tables

    def tables(self) -> list[str]:
        """Names of the tables, in creation order."""
        return list(self._tables)

    def n_rows(self, name: str) -> int:
        """Rows appended to table ``name`` so far."""
        return self._table(name).n_rows

    def append(self, name: str, row: Mapping[str, ArrayLike]) -> int:
        """Append one row (every field of the table, each of its row shape); returns the row's number."""
        tab = self._table(name)
        if set(row) != set(tab.shapes):
            raise ValueError(f"table {name!r} takes fields {sorted(tab.shapes)}, got {sorted(row)}")
        if tab.buf is None:
            tab.buf = tab.new_buffer()
        i = tab.n_buf
        for k, v in row.items():
            tab.buf[k][i] = v
        tab.n_buf = i + 1
        if tab.n_buf == tab.chunk_rows:
            self._flush(tab)
        return tab.n_rows - 1

    def seal(self, name: str) -> None:
        """Flush the rows buffered for ``name`` and free its buffer (call when a table is complete)."""
        tab = self._table(name)
        if tab.n_buf:
            self._flush(tab)
        tab.buf = None

    def drop(self, name: str) -> None:
        """Forget table ``name`` (its memory is freed; its bytes stay in the file until :meth:`close`)."""
        self._check_open()
        self._tables.pop(name, None)

    # ---------------------------------------------------------------------------------------------- read
    def read(self, name: str, start: int = 0, stop: int | None = None,
             fields: Iterable[str] | None = None) -> dict[str, NDArray[Any]]:
        """Rows ``start:stop`` of table ``name`` as one contiguous array per field.

        Returns
        -------
        dict of str to ndarray
            ``{field: array of shape (stop - start, *row_shape)}`` in the table's dtypes (fresh arrays).
        """
        tab = self._table(name)
        start, stop = self._bounds(tab, start, stop)
        names = list(tab.shapes) if fields is None else list(fields)
        out = {k: np.empty((stop - start, *tab.shapes[k]), tab.dtypes[k]) for k in names}
        for piece, r0, a, b in self._pieces(tab, start, stop):
            for k in names:
                self._read_into(tab, piece, k, a - r0, out[k][a - start: b - start])
        return out

    def iter_chunks(self, name: str, fields: Iterable[str] | None = None
                    ) -> Iterator[tuple[int, dict[str, NDArray[Any]]]]:
        """``(first row, {field: rows})`` for each stored chunk of ``name`` in order (one chunk in memory)."""
        tab = self._table(name)
        names = list(tab.shapes) if fields is None else list(fields)
        for piece, r0, a, b in self._pieces(tab, 0, tab.n_rows):
            out = {k: np.empty((b - a, *tab.shapes[k]), tab.dtypes[k]) for k in names}
            for k in names:
                self._read_into(tab, piece, k, a - r0, out[k])
            yield a, out

    # ----------------------------------------------------------------------------------------- accounting
    @property
    def nbytes_memory(self) -> int:
        """Bytes of row data held in memory (buffers and, without spill, the flushed chunks)."""
        total = 0
        for tab in self._tables.values():
            if tab.buf is not None:
                total += sum(a.nbytes for a in tab.buf.values())
            total += sum(a.nbytes for c in tab.mem_chunks for a in c.values())
        return total

    @property
    def nbytes_file(self) -> int:
        """Bytes written to the temporary file so far (dropped tables included)."""
        return self._end

    # ------------------------------------------------------------------------------------------- private
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("the frame store is closed")

    def _table(self, name: str) -> _Table:
        self._check_open()
        try:
            return self._tables[name]
        except KeyError:
            raise KeyError(f"no table {name!r} in the frame store") from None

    @staticmethod
    def _bounds(tab: _Table, start: int, stop: int | None) -> tuple[int, int]:
        n = tab.n_rows
        stop = n if stop is None else int(stop)
        start = int(start)
        if not 0 <= start <= stop <= n:
            raise IndexError(f"rows {start}:{stop} out of range for a table of {n} rows")
        return start, stop

    def _flush(self, tab: _Table) -> None:
        n = tab.n_buf
        assert tab.buf is not None
        if self._file is None:
            full = n == tab.chunk_rows
            tab.mem_chunks.append(tab.buf if full else {k: v[:n].copy() for k, v in tab.buf.items()})
            tab.buf = None if full else tab.buf
        else:
            offset = self._end
            self._file.seek(offset)
            for v in tab.buf.values():
                if not v[:n].nbytes:
                    continue
                data = np.ascontiguousarray(v[:n]).data.cast("B")
                while data:
                    written = self._file.write(data)
                    if not written:
                        raise OSError("could not write to the frame store's temporary file")
                    data = data[written:]
            self._end = offset + n * sum(tab.row_bytes.values())
            tab.disk_chunks.append((offset, n))
        tab.n_flushed += n
        tab.n_buf = 0

    def _pieces(self, tab: _Table, start: int, stop: int) -> Iterator[tuple[Any, int, int, int]]:
        """``(piece, first row of the piece, a, b)`` for each stored piece overlapping rows ``a:b`` of
        ``start:stop``; a piece is a file chunk ``(offset, rows)``, a memory chunk, or the live buffer."""
        r0 = 0
        pieces: list[tuple[Any, int]] = (
            [(c, c[1]) for c in tab.disk_chunks] if self._file is not None
            else [(c, len(next(iter(c.values())))) for c in tab.mem_chunks])
        if tab.buf is not None and tab.n_buf:
            pieces.append((tab.buf, tab.n_buf))
        for piece, n in pieces:
            a, b = max(start, r0), min(stop, r0 + n)
            if a < b:
                yield piece, r0, a, b
            r0 += n

    def _read_into(self, tab: _Table, piece: Any, k: str, i: int, dest: NDArray[Any]) -> None:
        """Copy ``len(dest)`` rows of field ``k`` from row ``i`` of ``piece`` into ``dest`` (contiguous)."""
        if isinstance(piece, dict):                # a memory chunk or the live buffer
            dest[...] = piece[k][i: i + len(dest)]
            return
        assert self._file is not None
        if not dest.nbytes:
            return
        offset, n = piece
        for name in tab.shapes:                    # the fields follow each other within a chunk
            if name == k:
                break
            offset += n * tab.row_bytes[name]
        view = dest.data.cast("B")
        self._file.seek(offset + i * tab.row_bytes[k])
        got = 0
        while got < view.nbytes:
            r = self._file.readinto(view[got:])
            if not r:
                raise OSError("the frame store's temporary file is shorter than expected")
            got += r
