"""The batch manifest: one SQLite record per video, updated atomically.

The manifest lives in ``OUTDIR/manifest.sqlite``. Each row is one *item*: a video URL or a local
file, optionally restricted to a section ``[start_s, end_s)``. Its key is the URL (or the resolved
path of a local file) with the section appended, so two sections of one video are two items.

Why SQLite (and not JSON lines): every status change is a one-row transaction that is either
committed or not, whatever happens to the process (``kill -9``, power loss with
``synchronous=FULL``); a JSON-lines file needs an append-only log plus a compaction step to get
the same guarantee. SQLite ships with Python, and in WAL mode readers (``imusynth gather``, a user
with ``sqlite3``) never block the batch that writes. Only the driver process writes: workers (local
or on a Dask cluster) return their results to it, so no database is ever opened on a network file
system by several machines.

Life of an item::

    pending ──fetch──► downloaded ──process──► done   (or *empty*: done, reason "empty: ...")
       │                   │                   (rerun with the same config hash: kept)
       └──► skipped        └──► failed          (--retry-failed: tried again)

While a task is in flight the item is ``running`` (with ``stage`` = ``fetch`` or ``process``).
After a crash, the next run finds the items left ``running``: an output renamed into place before
the crash is adopted when it is valid and made with the same configuration, anything else is put
back to ``downloaded`` (its video is still in the cache) or ``pending`` by :meth:`Manifest.reset`
(see :mod:`imusynth.batch.runner`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from imusynth.errors import InputError

#: File name of the manifest inside OUTDIR.
MANIFEST_NAME = "manifest.sqlite"

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    key TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    video_id TEXT NOT NULL,
    label TEXT,
    start_s REAL,
    end_s REAL,
    status TEXT NOT NULL
        CHECK (status IN ('pending', 'running', 'downloaded', 'done', 'failed', 'skipped')),
    stage TEXT CHECK (stage IS NULL OR stage IN ('fetch', 'process')),
    reason TEXT,
    config_hash TEXT,
    output TEXT UNIQUE,
    video_path TEXT,
    provenance TEXT NOT NULL DEFAULT '{}',
    attempts INTEGER NOT NULL DEFAULT 0,
    download_s REAL,
    process_s REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX items_status ON items (status);
"""


class ManifestError(InputError, ValueError):
    """A manifest that cannot be used (newer schema, not an imusynth manifest, unknown item)."""


#: reason of a ``done`` item whose output has a sensor without any valid sample (an *empty* item)
EMPTY_PREFIX = "empty: "


class Status(StrEnum):
    """Status of one item in the manifest."""

    PENDING = "pending"
    RUNNING = "running"
    DOWNLOADED = "downloaded"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Record:
    """One row of the manifest.

    Attributes
    ----------
    key : str
        Unique key: the URL or resolved local path, plus ``#t=START,END`` for a section.
    url : str
        URL of the video (or the resolved path of a local file).
    video_id : str
        Identifier of the video, safe for file names (yt-dlp id, or file stem plus a path hash);
        the group key that ``gather`` writes.
    label : str or None
        Activity label, None when unlabelled.
    start_s, end_s : float or None, s
        Section of the video to process; None for the whole video.
    status : Status
        Where the item stands.
    stage : {"fetch", "process"} or None
        The task in flight while ``status`` is ``running``.
    reason : str or None
        One-line reason of a failure or a skip.
    config_hash : str or None
        Hash of the pipeline configuration the output was (or is being) made with.
    output : str or None
        Output file, relative to OUTDIR.
    video_path : str or None
        Local video file to process (download cache or the user's own file).
    provenance : dict of str to str
        Title, uploader, upload date, licence, URL, ... from yt-dlp's info JSON.
    attempts : int
        Number of processing attempts.
    download_s, process_s : float or None, s
        Wall time of the last fetch and of the last processing.
    updated_at : float, s
        Unix time of the last change.
    """

    key: str
    url: str
    video_id: str
    label: str | None
    start_s: float | None
    end_s: float | None
    status: Status
    stage: str | None = None
    reason: str | None = None
    config_hash: str | None = None
    output: str | None = None
    video_path: str | None = None
    provenance: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    download_s: float | None = None
    process_s: float | None = None
    updated_at: float = 0.0

    @property
    def empty(self) -> bool:
        """A ``done`` item whose output has a sensor without any valid sample (reason ``"empty: ..."``)."""
        return self.status == Status.DONE and (self.reason or "").startswith(EMPTY_PREFIX)


_COLUMNS = (
    "key, url, video_id, label, start_s, end_s, status, stage, reason, config_hash, output, "
    "video_path, provenance, attempts, download_s, process_s, updated_at"
)


def _record(row: tuple) -> Record:
    values = list(row)
    values[6] = Status(values[6])
    values[12] = json.loads(values[12])
    return Record(*values)


class Manifest:
    """The SQLite manifest of one output folder.

    Parameters
    ----------
    path : Path
        ``OUTDIR/manifest.sqlite``; created when missing.
    readonly : bool
        Open without creating or changing anything (``--dry-run``, ``gather``).

    Notes
    -----
    Every method that changes a row commits one transaction before it returns. The connection
    belongs to the thread that opened it; worker processes never open the manifest.
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if readonly:
            if not self.path.is_file():
                raise ManifestError(f"no batch manifest at {self.path}: run 'imusynth batch' into it first")
            self._conn = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True, timeout=30.0,
                                         isolation_level=None)
        else:
            if not self.path.exists():
                _create(self.path)
            self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            if not readonly:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ManifestError(f"{self.path} is not an imusynth batch manifest ({exc})") from exc

    # -- set-up ---------------------------------------------------------------------------------
    def _check_schema(self) -> None:
        row = self._conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        if row is None or int(row[0]) > SCHEMA_VERSION:
            found = None if row is None else row[0]
            raise ManifestError(
                f"{self.path} has manifest schema version {found}; this imusynth reads version "
                f"{SCHEMA_VERSION} or older"
            )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        if self.readonly:
            raise ManifestError(f"{self.path} was opened read-only")
        cur = self._conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------------
    def get(self, key: str) -> Record | None:
        """Return the record of ``key``, or None when it is not in the manifest."""
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM items WHERE key = ?", (key,)).fetchone()
        return None if row is None else _record(row)

    def records(self, status: Status | None = None) -> list[Record]:
        """Return every record (optionally only those with ``status``), in insertion order."""
        if status is None:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM items ORDER BY rowid").fetchall()
        else:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM items WHERE status = ? ORDER BY rowid", (status.value,)
            ).fetchall()
        return [_record(r) for r in rows]

    def counts(self) -> dict[Status, int]:
        """Return the number of records in each status (zero included)."""
        out = dict.fromkeys(Status, 0)
        for status, n in self._conn.execute("SELECT status, COUNT(*) FROM items GROUP BY status"):
            out[Status(status)] = n
        return out

    def output_taken(self, output: str, *, by_other_than: str) -> bool:
        """Whether the output name ``output`` already belongs to an item other than ``by_other_than``."""
        row = self._conn.execute(
            "SELECT 1 FROM items WHERE output = ? AND key != ?", (output, by_other_than)
        ).fetchone()
        return row is not None

    # -- writing ----------------------------------------------------------------------------------
    def add(
        self,
        key: str,
        *,
        url: str,
        video_id: str,
        label: str | None,
        start_s: float | None,
        end_s: float | None,
        video_path: str | None = None,
    ) -> Record:
        """Insert a new item as ``pending`` (``downloaded`` when ``video_path`` is a local file).

        An existing item keeps its status; only its label is updated (the label is applied by
        ``gather``, so relabelling needs no reprocessing).
        """
        now = time.time()
        with self._transaction() as cur:
            row = cur.execute("SELECT status FROM items WHERE key = ?", (key,)).fetchone()
            if row is None:
                status = Status.DOWNLOADED if video_path is not None else Status.PENDING
                cur.execute(
                    "INSERT INTO items (key, url, video_id, label, start_s, end_s, status, video_path, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, url, video_id, label, start_s, end_s, status.value, video_path, now, now),
                )
            else:
                cur.execute(
                    "UPDATE items SET label = ?, updated_at = ? WHERE key = ? AND label IS NOT ?",
                    (label, now, key, label),
                )
        record = self.get(key)
        assert record is not None
        return record

    def _update(self, key: str, **values: object) -> None:
        values["updated_at"] = time.time()
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._transaction() as cur:
            cur.execute(f"UPDATE items SET {assignments} WHERE key = ?", (*values.values(), key))
            if cur.rowcount != 1:
                raise ManifestError(f"no item with key {key!r} in {self.path}")

    def mark_running(self, key: str, stage: str, *, config_hash: str | None = None,
                     output: str | None = None) -> None:
        """Mark ``key`` as in flight in ``stage`` ("fetch" or "process")."""
        if stage == "process":
            with self._transaction() as cur:
                cur.execute(
                    "UPDATE items SET status = 'running', stage = 'process', config_hash = ?, output = ?, "
                    "attempts = attempts + 1, reason = NULL, updated_at = ? WHERE key = ?",
                    (config_hash, output, time.time(), key),
                )
                if cur.rowcount != 1:
                    raise ManifestError(f"no item with key {key!r} in {self.path}")
        else:
            self._update(key, status=Status.RUNNING.value, stage=stage, reason=None)

    def mark_downloaded(self, key: str, *, video_id: str, video_path: str, provenance: dict[str, str],
                        download_s: float) -> None:
        """Record a fetched video (in the cache) and its provenance."""
        self._update(
            key,
            status=Status.DOWNLOADED.value,
            stage=None,
            reason=None,
            video_id=video_id,
            video_path=video_path,
            provenance=json.dumps(provenance, sort_keys=True),
            download_s=download_s,
        )

    def mark_done(self, key: str, *, output: str, config_hash: str, process_s: float | None,
                  empty: str | None = None) -> None:
        """Record a finished item; call only once ``output`` has been renamed into place.

        ``empty`` (which sensor has no valid sample) makes the item *empty*: ``done`` with the reason
        ``"empty: ..."`` (:attr:`Record.empty`), kept on reruns like any done item, left out by ``gather``.
        """
        self._update(
            key, status=Status.DONE.value, stage=None,
            reason=f"{EMPTY_PREFIX}{_one_line(empty)}" if empty else None,
            output=output, config_hash=config_hash, process_s=process_s,
        )

    def mark_failed(self, key: str, reason: str) -> None:
        """Record a failure with a one-line reason."""
        self._update(key, status=Status.FAILED.value, stage=None, reason=_one_line(reason))

    def mark_skipped(self, key: str, reason: str) -> None:
        """Record an item left out on purpose (e.g. its licence), with the reason."""
        self._update(key, status=Status.SKIPPED.value, stage=None, reason=_one_line(reason))

    def reset(self, key: str) -> Status:
        """Put one item back to ``downloaded`` (its video is still there) or ``pending``."""
        record = self.get(key)
        if record is None:
            raise ManifestError(f"no item with key {key!r} in {self.path}")
        cached = record.video_path is not None and Path(record.video_path).is_file()
        status = Status.DOWNLOADED if cached else Status.PENDING
        self._update(key, status=status.value, stage=None)
        return status

    def running(self) -> list[Record]:
        """Return the records left ``running`` (by a crash or a kill)."""
        return self.records(Status.RUNNING)


def _create(path: Path) -> None:
    """Create an empty manifest under a temporary name, then rename it: no reader sees it half made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(f"BEGIN; {_SCHEMA}; COMMIT;")
        conn.execute("INSERT INTO meta (name, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    finally:
        conn.close()
    os.replace(tmp, path)


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
