"""The two tasks a batch worker runs: fetch one video, process one video.

Both take one frozen, picklable record and return one; they never raise for a bad video (the
failure comes back as a one-line ``reason``), so one video's failure never stops the batch. They
never touch the manifest: the driver records what they return.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imusynth.io.valid_share import empty_reason
from imusynth.video.fetch import DownloadOptions, FetchError, FetchResult, fetch

#: Signature of the per-video processing function (``imusynth.video.job.process_video``):
#: ``fn(video_path, out_path, *, config, label, group, extra_attrs, progress) -> Path``; it must
#: write ``out_path`` atomically (temporary file in the same folder, then rename).
ProcessFn = Callable[..., Path]


@dataclass(frozen=True)
class FetchTask:
    """Fetch ``url`` into the download cache."""

    key: str
    url: str
    options: DownloadOptions


@dataclass(frozen=True)
class ProcessTask:
    """Process ``video_path`` into ``out_path`` with ``process_fn``.

    Attributes
    ----------
    key : str
        Manifest key of the item.
    video_path, out_path : str
        Input video and output HDF5 file (absolute paths).
    process_fn : ProcessFn
        A module-level function (pickled by reference, imported by the worker).
    config : object
        The pipeline configuration (``imusynth.config.PipelineConfig``) with the item's section.
    label, group : str or None
        Written into each clip.
    extra_attrs : dict of str to str
        Provenance and batch attributes written into each clip.
    """

    key: str
    video_path: str
    out_path: str
    process_fn: ProcessFn
    config: Any
    label: str | None
    group: str | None
    extra_attrs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskResult:
    """What a task returns: ``reason`` is None on success.

    Attributes
    ----------
    key : str
    reason : str or None
        One-line reason of a failure.
    fetch : FetchResult or None
        Set by a successful fetch task.
    output : str or None
        The file written by a successful process task.
    seconds : float, s
        Wall time of the task in the worker.
    cpu_s : float, s
        CPU time of the worker process during the task (all its threads).
    empty : str or None
        Set by a process task whose output has a sensor without any valid sample: which one (one line).
    """

    key: str
    reason: str | None = None
    fetch: FetchResult | None = None
    output: str | None = None
    seconds: float = 0.0
    cpu_s: float = 0.0
    empty: str | None = None


def _reason(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def run_fetch(task: FetchTask) -> TaskResult:
    """Fetch one video (see :func:`imusynth.video.fetch.fetch`); failures come back as a reason."""
    t0 = time.perf_counter()
    try:
        result = fetch(task.url, options=task.options)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, FetchError) else f"download failed: {_reason(exc)}"
        return TaskResult(task.key, reason=reason, seconds=time.perf_counter() - t0)
    return TaskResult(task.key, fetch=result, seconds=time.perf_counter() - t0)


def run_process(task: ProcessTask) -> TaskResult:
    """Process one video with ``task.process_fn``; failures come back as a reason."""
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        out = task.process_fn(
            Path(task.video_path),
            Path(task.out_path),
            config=task.config,
            label=task.label,
            group=task.group,
            extra_attrs=dict(task.extra_attrs),
            progress=False,
        )
        empty = empty_reason(out)
    except Exception as exc:
        return TaskResult(task.key, reason=f"processing failed: {_reason(exc)}",
                          seconds=time.perf_counter() - t0)
    return TaskResult(task.key, output=str(out), seconds=time.perf_counter() - t0,
                      cpu_s=time.process_time() - c0, empty=empty)
