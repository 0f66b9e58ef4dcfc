"""The batch driver: expand the sources, update the manifest, run the tasks, summarise.

Guarantees (see docs/batch.md):

* the manifest is written by this process only, one committed transaction per change;
* an item becomes ``done`` only after its output was renamed into place by the worker, so a
  ``done`` record always points at a complete file;
* a kill at any moment leaves items ``running``; the next run adopts an output that is valid and
  made with the same configuration, and puts everything else back to ``downloaded``/``pending``;
  half-written temporary outputs (``videos/.*.part``) are deleted;
* one OUTDIR is used by one batch at a time (an exclusive lock file), so the rerun of a killed
  batch never races with it.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imusynth.batch.executors import DaskExecutor, Executor, LocalExecutor
from imusynth.batch.ingest import Item, LabelRow, expand_sources
from imusynth.batch.interrupt import SigintLatch, sigint_latch
from imusynth.batch.manifest import EMPTY_PREFIX, MANIFEST_NAME, Manifest, Record, Status
from imusynth.batch.tasks import FetchTask, ProcessFn, ProcessTask, TaskResult, run_fetch, run_process
from imusynth.errors import InputError
from imusynth.io.valid_share import empty_reason
from imusynth.video.fetch import DownloadOptions, is_url, safe_name

#: the state a summary shows for a done item whose output has a sensor without any valid sample
EMPTY = "empty"

#: Folder of OUTDIR holding one HDF5 file per item.
VIDEOS_DIR = "videos"
#: Default download cache inside OUTDIR.
CACHE_DIR = "cache"
LOCK_NAME = ".batch.lock"
EXECUTORS = ("local", "dask")


class BatchError(InputError, ValueError):
    """A batch that cannot start (OUTDIR in use, unknown executor, bad option)."""


# ---------------------------------------------------------------------------------------------------
# plan


class Action:
    """What a run does with one item (plain strings, shown by ``--dry-run``)."""

    KEEP = "keep"  # done with this configuration: nothing to do
    FETCH = "fetch+process"
    PROCESS = "process"
    LEAVE_FAILED = "leave failed"  # failed before; --retry-failed retries it


def plan_action(
    record: Record | None, *, local: bool, config_hash: str, retry_failed: bool, outdir: Path
) -> str:
    """Decide what to do with an item from its record (None: new item).

    * new or ``pending`` → fetch then process (a local file: process);
    * ``done`` with the same configuration hash and its output present → keep;
    * ``done`` with another configuration (or its output gone) → process again;
    * ``failed`` → left alone unless ``retry_failed``;
    * ``skipped`` → fetched again (the licence check runs on the cached info: no download).
    """
    if record is None:
        return Action.PROCESS if local else Action.FETCH
    video_ready = record.video_path is not None and Path(record.video_path).is_file()
    if record.status == Status.DONE:
        output_ok = record.output is not None and (outdir / record.output).is_file()
        if record.config_hash == config_hash and output_ok:
            return Action.KEEP
    elif record.status == Status.FAILED and not retry_failed:
        return Action.LEAVE_FAILED
    elif record.status == Status.SKIPPED:
        return Action.FETCH
    return Action.PROCESS if video_ready or local else Action.FETCH


# ---------------------------------------------------------------------------------------------------
# summary


@dataclass
class BatchSummary:
    """What one run did.

    Attributes
    ----------
    outdir : Path
    items : int
        Items named by this run's sources.
    actions : dict of str to int
        Planned action → number of items.
    status : dict of str to int
        Status of this run's items at the end.
    downloads : int
        Videos whose bytes were transferred (cache misses).
    processed : int
        Outputs written.
    failures, skips, empties : list of (str, str)
        (video id, reason) of this run's failed, skipped and empty items (``empty``: done, but a sensor
        has no valid sample; counted under ``status["empty"]``, not ``"done"``).
    wall_s : float, s
    process_s, cpu_s : list of float, s
        Wall and CPU time of each video processed in this run.
    interrupted : bool
    dry_run : bool
    """

    outdir: Path
    items: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    downloads: int = 0
    processed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    skips: list[tuple[str, str]] = field(default_factory=list)
    empties: list[tuple[str, str]] = field(default_factory=list)
    wall_s: float = 0.0
    process_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    interrupted: bool = False
    dry_run: bool = False

    def table(self) -> str:
        """A plain-text summary table."""
        lines = []
        if self.dry_run:
            lines.append(f"dry run: {self.items} item(s) in {self.outdir}; nothing was changed")
            lines.append(f"{'action':<16}{'items':>7}")
            for action, n in self.actions.items():
                lines.append(f"{action:<16}{n:>7}")
            return "\n".join(lines)
        head = "interrupted" if self.interrupted else "finished"
        lines.append(f"batch {head} in {self.wall_s:.1f} s: {self.items} item(s), "
                     f"{self.downloads} download(s), {self.processed} output(s) written -> {self.outdir}")
        lines.append(f"{'status':<12}{'items':>7}")
        for state in [*Status, EMPTY]:
            n = self.status.get(state, 0)
            if n:
                lines.append(f"{state:<12}{n:>7}")
        if self.process_s:
            n = len(self.process_s)
            lines.append(f"processing: {sum(self.process_s) / n:.1f} s ({sum(self.cpu_s) / n:.1f} CPU s) "
                         f"per video on average, {n / max(self.wall_s, 1e-9) * 60:.1f} videos/min")
        for title, rows in (("failed", self.failures), ("skipped", self.skips),
                            ("empty (left out by gather)", self.empties)):
            if rows:
                lines.append(f"{title}:")
                width = min(max(len(v) for v, _ in rows), 40)
                lines.extend(f"  {v:<{width}}  {reason}" for v, reason in rows)
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# helpers


@contextmanager
def outdir_lock(outdir: Path) -> Iterator[None]:
    """Hold an exclusive lock on OUTDIR for the duration of a run (released by the OS on a kill)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    fh = (outdir / LOCK_NAME).open("a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BatchError(f"another imusynth batch is running on {outdir} (lock {LOCK_NAME})") from None
        yield
    finally:
        fh.close()


def output_matches(path: Path, *, key: str, config_hash: str | None) -> bool:
    """Whether ``path`` is a valid ``imusynth/1`` file written for item ``key`` with ``config_hash``."""
    from imusynth.io.hdf5 import SchemaError, read_clips

    try:
        clips = read_clips(path, with_motion=False)
    except (SchemaError, OSError, KeyError, ValueError):
        return False
    return all(
        c.attrs.get("batch_key") == key and c.attrs.get("batch_config_hash") == config_hash for c in clips
    )


def recover(manifest: Manifest, outdir: Path) -> list[str]:
    """Repair the state a kill left: adopt or reset ``running`` items, delete temporary outputs.

    Returns
    -------
    list of str
        Keys of the items adopted as ``done``.
    """
    adopted = []
    for record in manifest.running():
        out = outdir / record.output if record.output else None
        if (
            record.stage == "process"
            and out is not None
            and out.is_file()
            and output_matches(out, key=record.key, config_hash=record.config_hash)
        ):
            manifest.mark_done(record.key, output=str(record.output), config_hash=str(record.config_hash),
                               process_s=None, empty=empty_reason(out))
            adopted.append(record.key)
        else:
            manifest.reset(record.key)
    videos = outdir / VIDEOS_DIR
    if videos.is_dir():
        for tmp in videos.glob(".*.part"):  # io_hdf5.atomic_path's temporary names
            tmp.unlink(missing_ok=True)
    return adopted


def known_videos(records: Iterable[Record]) -> dict[str, str]:
    """URL -> video id of the videos a run need not look up again (failed ones are: maybe a playlist)."""
    return {r.url: r.video_id for r in records if r.status != Status.FAILED and is_url(r.url)}


def section_config(config: Any, start_s: float | None, end_s: float | None) -> Any:
    """Return ``config`` with ``[video] start_s/end_s`` set to the item's section (unchanged if none)."""
    if start_s is None and end_s is None:
        return config
    video = dataclasses.replace(
        config.video,
        start_s=float(start_s if start_s is not None else 0.0),
        end_s=float(end_s if end_s is not None else -1.0),
    )
    return dataclasses.replace(config, video=video)


def _output_name(manifest: Manifest, record: Record) -> str:
    if record.output:
        return record.output
    stem = safe_name(record.video_id)
    if record.start_s is not None or record.end_s is not None:
        start = f"{record.start_s or 0:g}"
        end = "end" if record.end_s is None else f"{record.end_s:g}"
        stem += safe_name(f"_{start}-{end}s")
    name, n = f"{VIDEOS_DIR}/{stem}.h5", 1
    while manifest.output_taken(name, by_other_than=record.key):
        n += 1
        name = f"{VIDEOS_DIR}/{stem}-{n}.h5"
    return name


def make_executor(kind: str, *, workers: int, scheduler: str | None = None) -> Executor:
    """Build the executor ``kind``: ``"local"`` (spawned processes) or ``"dask"``.

    For ``"dask"``, ``scheduler`` is the address of a running scheduler; None starts a LocalCluster of
    ``workers`` processes with one thread each.
    """
    if kind == "local":
        if scheduler is not None:
            raise BatchError("--scheduler is only used with --executor dask")
        return LocalExecutor(workers)
    if kind == "dask":
        try:
            return DaskExecutor.connect(scheduler) if scheduler else DaskExecutor.start_local(workers)
        except ImportError:
            raise BatchError("--executor dask needs Dask: pip install 'imusynth[distributed]'") from None
    raise BatchError(f"unknown executor {kind!r}; expected one of {EXECUTORS}")


def default_process_fn() -> ProcessFn:
    """The real video pipeline, :func:`imusynth.video.job.process_video`."""
    from imusynth.video.job import process_video

    return process_video


class _Progress:
    """A tqdm bar over the items worked on, with per-status counts in its postfix."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        from tqdm import tqdm

        self.counts = {s.value: 0 for s in (Status.DONE, Status.FAILED, Status.SKIPPED)}
        self.running = 0
        self.bar = tqdm(total=total, unit="video", disable=not enabled, dynamic_ncols=True, desc="batch")

    def show(self) -> None:
        self.bar.set_postfix({**self.counts, "running": self.running}, refresh=True)

    def finished(self, status: Status) -> None:
        self.counts[status.value] += 1
        self.bar.update(1)
        self.show()

    def close(self) -> None:
        self.bar.close()


# ---------------------------------------------------------------------------------------------------
# the run


def run_batch(
    sources: Sequence[str],
    outdir: Path,
    *,
    config: Any,
    process_fn: ProcessFn | None = None,
    labels: Sequence[LabelRow] = (),
    default_label: str | None = None,
    download: DownloadOptions | None = None,
    executor: str = "local",
    workers: int = 1,
    scheduler: str | None = None,
    retry_failed: bool = False,
    dry_run: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> BatchSummary:
    """Convert every video of ``sources`` into ``OUTDIR/videos/<id>.h5``, resumably.

    Parameters
    ----------
    sources : sequence of str
        Video or playlist URLs, URL-list files, local video files or folders.
    outdir : Path
        Output folder: ``manifest.sqlite``, ``videos/``, and ``cache/`` (unless ``download`` says
        otherwise).
    config : imusynth.config.PipelineConfig
        Pipeline configuration; its hash decides what is already done.
    process_fn : ProcessFn or None
        Per-video function (default :func:`imusynth.video.job.process_video`); module level, so that
        spawned workers can import it.
    labels, default_label
        See :func:`imusynth.batch.ingest.expand_sources`.
    download : DownloadOptions or None
        yt-dlp options; default: cache in ``OUTDIR/cache``, mp4 at most 720p.
    executor : {"local", "dask"}
    workers : int
        Local processes, or LocalCluster workers for Dask without ``scheduler``.
    scheduler : str or None
        Address of a running Dask scheduler.
    retry_failed : bool
        Also retry items that failed in an earlier run.
    dry_run : bool
        Expand the sources and print the plan; change nothing.
    progress : bool
        Show a progress bar (stderr).
    echo : callable
        Where warnings and the summary go.

    Returns
    -------
    BatchSummary

    Raises
    ------
    BatchError, SourceError, ManifestError
        Bad options or sources, OUTDIR used by another batch.
    KeyboardInterrupt
        Re-raised after a clean stop (tasks in flight put back, summary echoed).
    """
    from imusynth.config import config_hash as compute_hash

    if workers < 1:
        raise BatchError(f"--workers must be >= 1, got {workers}")
    if executor not in EXECUTORS:
        raise BatchError(f"unknown executor {executor!r}; expected one of {EXECUTORS}")
    t0 = time.perf_counter()
    outdir = Path(outdir).resolve()
    download = download or DownloadOptions(cache_dir=outdir / CACHE_DIR)
    chash = compute_hash(config)
    summary = BatchSummary(outdir=outdir, dry_run=dry_run)

    if dry_run:
        path = outdir / MANIFEST_NAME
        existing: dict[str, Record] = {}
        if path.is_file():
            with Manifest(path, readonly=True) as ro:
                existing = {r.key: r for r in ro.records()}
        items = expand_sources(sources, options=download, labels=labels, default_label=default_label,
                               known=known_videos(existing.values()), warn=echo)
        summary.items = len(items)
        for item in items:
            action = plan_action(existing.get(item.key), local=item.local, config_hash=chash,
                                 retry_failed=retry_failed, outdir=outdir)
            summary.actions[action] = summary.actions.get(action, 0) + 1
        summary.wall_s = time.perf_counter() - t0
        echo(summary.table())
        return summary

    outdir.mkdir(parents=True, exist_ok=True)
    with outdir_lock(outdir), Manifest(outdir / MANIFEST_NAME) as manifest:
        adopted = recover(manifest, outdir)
        if adopted:
            echo(f"adopted {len(adopted)} output(s) written before an interruption")
        items = expand_sources(sources, options=download, labels=labels, default_label=default_label,
                               known=known_videos(manifest.records()), warn=echo)
        summary.items = len(items)
        fetch_queue: deque[str] = deque()
        process_queue: deque[str] = deque()
        for item in items:
            record = manifest.add(
                item.key, url=item.url, video_id=item.video_id, label=item.label, start_s=item.start_s,
                end_s=item.end_s, video_path=item.url if item.local else None,
            )
            action = plan_action(record, local=item.local, config_hash=chash, retry_failed=retry_failed,
                                 outdir=outdir)
            summary.actions[action] = summary.actions.get(action, 0) + 1
            if action == Action.PROCESS and item.local and not Path(item.url).is_file():
                manifest.mark_failed(item.key, f"local video {item.url} no longer exists")
            elif action == Action.PROCESS:
                process_queue.append(item.key)
            elif action == Action.FETCH:
                fetch_queue.append(item.key)
        try:
            if fetch_queue or process_queue:
                _run_tasks(manifest, fetch_queue, process_queue, summary=summary, outdir=outdir,
                           config=config, config_hash=chash, process_fn=process_fn or default_process_fn(),
                           download=download, executor=executor, workers=workers, scheduler=scheduler,
                           progress=progress)
        finally:
            _finish(summary, manifest, items, t0)
            echo(summary.table())
    return summary


def _run_tasks(
    manifest: Manifest,
    fetch_queue: deque[str],
    process_queue: deque[str],
    *,
    summary: BatchSummary,
    outdir: Path,
    config: Any,
    config_hash: str,
    process_fn: ProcessFn,
    download: DownloadOptions,
    executor: str,
    workers: int,
    scheduler: str | None,
    progress: bool,
) -> None:
    """Start the executor, drive the tasks, and always stop it and put unfinished items back."""
    pool = make_executor(executor, workers=workers, scheduler=scheduler)
    bar = _Progress(len(fetch_queue) + len(process_queue), enabled=progress)
    finished = False
    try:
        with sigint_latch() as latch:
            _drive(manifest, pool, bar, fetch_queue, process_queue, summary=summary, outdir=outdir,
                   config=config, config_hash=config_hash, process_fn=process_fn, download=download,
                   latch=latch)
        finished = True
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        bar.close()
        pool.close(cancel=not finished)
        for record in manifest.running():  # interrupted: back to downloaded / pending
            manifest.reset(record.key)


def _finish(summary: BatchSummary, manifest: Manifest, items: Sequence[Item], t0: float) -> None:
    summary.status = {}
    summary.failures, summary.skips = [], []
    for item in items:
        record = manifest.get(item.key)
        if record is None:  # pragma: no cover - every item was added
            continue
        state = EMPTY if record.empty else record.status.value
        summary.status[state] = summary.status.get(state, 0) + 1
        name = record.video_id if record.start_s is None and record.end_s is None else record.key
        if record.empty:
            summary.empties.append((name, (record.reason or "").removeprefix(EMPTY_PREFIX)))
        elif record.status == Status.FAILED:
            summary.failures.append((name, record.reason or ""))
        elif record.status == Status.SKIPPED:
            summary.skips.append((name, record.reason or ""))
    summary.wall_s = time.perf_counter() - t0


def _drive(
    manifest: Manifest,
    pool: Executor,
    bar: _Progress,
    fetch_queue: deque[str],
    process_queue: deque[str],
    *,
    summary: BatchSummary,
    outdir: Path,
    config: Any,
    config_hash: str,
    process_fn: ProcessFn,
    download: DownloadOptions,
    latch: SigintLatch | None = None,
) -> None:
    """Keep at most ``pool.capacity`` tasks in flight (processing first) until both queues are empty."""
    in_flight: dict[int, tuple[str, str]] = {}
    while fetch_queue or process_queue or in_flight:
        while len(in_flight) < pool.capacity and (process_queue or fetch_queue):
            if process_queue:
                key = process_queue.popleft()
                task = _process_task(manifest, key, outdir=outdir, config=config, config_hash=config_hash,
                                     process_fn=process_fn)
                manifest.mark_running(key, "process", config_hash=config_hash,
                                      output=str(Path(task.out_path).relative_to(outdir)))
                in_flight[pool.submit(run_process, task)] = (key, "process")
            else:
                key = fetch_queue.popleft()
                record = manifest.get(key)
                assert record is not None
                manifest.mark_running(key, "fetch")
                in_flight[pool.submit(run_fetch, FetchTask(key, record.url, download))] = (key, "fetch")
            bar.running = len(in_flight)
            bar.show()
        if latch is not None:
            latch.check()
        for outcome in pool.wait(timeout=1.0):
            key, stage = in_flight.pop(outcome.handle)
            result: TaskResult | None = outcome.value
            reason = outcome.error or (result.reason if result is not None else "no result")
            if reason is not None:
                manifest.mark_failed(key, reason)
                bar.finished(Status.FAILED)
            elif stage == "fetch":
                assert result is not None and result.fetch is not None
                fetched = result.fetch
                if fetched.skipped_reason is not None:
                    manifest.mark_skipped(key, fetched.skipped_reason)
                    bar.finished(Status.SKIPPED)
                else:
                    manifest.mark_downloaded(key, video_id=fetched.video_id, video_path=fetched.video_path,
                                             provenance=fetched.provenance, download_s=fetched.download_s)
                    summary.downloads += int(fetched.downloaded)
                    process_queue.append(key)
            else:
                assert result is not None and result.output is not None
                record = manifest.get(key)
                assert record is not None and record.output is not None
                manifest.mark_done(key, output=record.output, config_hash=config_hash,
                                   process_s=result.seconds, empty=result.empty)
                summary.processed += 1
                summary.process_s.append(result.seconds)
                summary.cpu_s.append(result.cpu_s)
                bar.finished(Status.DONE)
            bar.running = len(in_flight)
            bar.show()


def _process_task(
    manifest: Manifest, key: str, *, outdir: Path, config: Any, config_hash: str, process_fn: ProcessFn
) -> ProcessTask:
    record = manifest.get(key)
    assert record is not None and record.video_path is not None
    out = outdir / _output_name(manifest, record)
    out.parent.mkdir(parents=True, exist_ok=True)
    attrs = {
        **record.provenance,
        "batch_key": record.key,
        "batch_config_hash": config_hash,
        "batch_video_id": record.video_id,
    }
    return ProcessTask(
        key=key,
        video_path=str(record.video_path),
        out_path=str(out),
        process_fn=process_fn,
        config=section_config(config, record.start_s, record.end_s),
        label=record.label,
        group=record.video_id,
        extra_attrs=attrs,
    )

