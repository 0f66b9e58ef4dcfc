"""Where batch tasks run: a local pool of spawned processes, or a Dask cluster.

Both executors have the same small interface (:class:`Executor`): ``submit(fn, arg)`` returns a
handle, ``wait(timeout)`` returns the :class:`Outcome` s that finished, ``close()`` stops. ``fn``
must be a module-level function (it is pickled by reference) and ``arg`` a picklable value. The
driver (:mod:`imusynth.batch.runner`) owns the manifest; tasks only return values, so a task may
run on any machine that sees OUTDIR and the download cache.

:class:`LocalExecutor` keeps one long-lived process per worker, started with the ``spawn`` method
(no fork of a process that holds threads, an SQLite connection or a pose model), so each worker
loads its pose model once and keeps it for every video it processes. It knows which task each
process holds: a worker that dies (segmentation fault, out of memory, ``kill``) fails that task
only, and is replaced. Workers ignore SIGINT: Ctrl-C reaches the driver, which terminates them.

:class:`DaskExecutor` submits the same functions to a ``distributed`` cluster: an existing scheduler
(``tcp://host:8786``) or a :class:`distributed.LocalCluster` it starts (processes, one thread each).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

#: Environment variables that cap the threads of numeric libraries in a worker.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class Outcome:
    """A finished task.

    Attributes
    ----------
    handle : int
        What :meth:`Executor.submit` returned.
    value : object
        The task's return value (None when it failed).
    error : str or None
        One-line reason when the task raised or its worker died.
    """

    handle: int
    value: Any = None
    error: str | None = None


class Executor(Protocol):
    """What the batch driver needs from an executor."""

    @property
    def capacity(self) -> int:
        """How many tasks can run at once (the driver keeps at most that many in flight)."""
        ...

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> int:
        """Queue ``fn(arg)``; return its handle."""
        ...

    def wait(self, timeout: float | None) -> list[Outcome]:
        """Block until at least one task finishes or ``timeout`` s pass; return the finished ones."""
        ...

    def close(self, *, cancel: bool = False) -> None:
        """Stop the workers; with ``cancel``, abandon the tasks in flight."""
        ...


def limit_threads(threads: int) -> None:
    """Cap the threads of BLAS/OpenMP and OpenCV in this process to ``threads``.

    One busy thread per worker is what makes N workers on N cores scale: a worker whose libraries
    start a thread per core fights the other workers for the same cores.
    """
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    try:
        import cv2

        cv2.setNumThreads(threads)
    except ImportError:  # pragma: no cover - OpenCV is a dependency
        pass


_limited = False


def _call_with_one_thread(fn: Callable[[Any], Any], arg: Any) -> Any:
    """Run ``fn(arg)`` in a Dask worker after capping its threads (once per process)."""
    global _limited
    if not _limited:
        limit_threads(1)
        _limited = True
    return fn(arg)


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _worker_main(conn: Connection, threads: int) -> None:
    """Loop of a local worker process: receive (handle, fn, arg), send (handle, value, error)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_threads(threads)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if message is None:
            return
        handle, fn, arg = message
        reply: tuple[int, Any, str | None]
        try:
            reply = (handle, fn(arg), None)
        except Exception as exc:
            reply = (handle, None, _one_line(exc))
        try:
            conn.send(reply)
        except (EOFError, OSError):  # the driver is gone
            return
        except Exception as exc:  # an unpicklable result
            conn.send((handle, None, f"the result could not be sent back: {_one_line(exc)}"))


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    task: int | None = None


class LocalExecutor:
    """A pool of ``workers`` spawned processes, one task at a time each.

    Parameters
    ----------
    workers : int
        Number of processes (>= 1).
    threads_per_worker : int
        Cap on the threads of numeric libraries in each worker (see :func:`limit_threads`).
    """

    def __init__(self, workers: int, *, threads_per_worker: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._ctx = multiprocessing.get_context("spawn")
        self._threads = threads_per_worker
        self._workers = [self._start() for _ in range(workers)]
        self._queue: deque[tuple[int, Callable[[Any], Any], Any]] = deque()
        self._next = 0

    def _start(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=_worker_main, args=(child, self._threads), name="imusynth-batch-worker"
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    @property
    def capacity(self) -> int:
        """Number of worker processes."""
        return len(self._workers)

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> int:
        """Queue ``fn(arg)``; it starts as soon as a worker is idle."""
        handle = self._next
        self._next += 1
        self._queue.append((handle, fn, arg))
        self._dispatch()
        return handle

    def _dispatch(self) -> None:
        for i, w in enumerate(self._workers):
            if not self._queue:
                return
            if w.task is None:
                handle, fn, arg = self._queue[0]
                try:
                    w.conn.send((handle, fn, arg))
                except OSError:  # this idle worker died (killed from outside): replace it, try the next
                    w.process.join(timeout=5)
                    w.conn.close()
                    self._workers[i] = self._start()
                    continue
                self._queue.popleft()
                w.task = handle

    def wait(self, timeout: float | None) -> list[Outcome]:
        """Return finished tasks (at least one unless ``timeout`` passes or nothing is in flight)."""
        self._dispatch()
        busy = [w for w in self._workers if w.task is not None]
        if not busy:
            return []
        objects: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(wait(objects, timeout))
        outcomes = []
        for i, w in enumerate(self._workers):
            if w.task is None:
                continue
            if w.conn in ready:
                try:
                    handle, value, error = w.conn.recv()
                except (EOFError, OSError):
                    outcomes.append(self._replace_dead(i))
                    continue
                w.task = None
                outcomes.append(Outcome(handle, value, error))
            elif w.process.sentinel in ready:
                outcomes.append(self._replace_dead(i))
        self._dispatch()
        return outcomes

    def _replace_dead(self, index: int) -> Outcome:
        dead = self._workers[index]
        dead.process.join(timeout=5)
        code = dead.process.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        dead.conn.close()
        self._workers[index] = self._start()
        assert dead.task is not None
        return Outcome(dead.task, None, f"worker process died ({how}: crash, out of memory or killed)")

    def close(self, *, cancel: bool = False) -> None:
        """Stop the workers: politely when idle, by SIGTERM with ``cancel`` or when still busy."""
        self._queue.clear()
        for w in self._workers:
            if cancel or w.task is not None:
                w.process.terminate()
            else:
                try:
                    w.conn.send(None)
                except OSError:
                    w.process.terminate()
        for w in self._workers:
            w.process.join(timeout=10)
            if w.process.is_alive():  # pragma: no cover - a worker stuck in native code
                w.process.kill()
                w.process.join()
            w.conn.close()
        self._workers = []


class DaskExecutor:
    """Run batch tasks on a Dask ``distributed`` cluster.

    Parameters
    ----------
    client : distributed.Client
        A connected client. Every worker must see OUTDIR and the download cache at the same paths
        (a shared file system) and have imusynth installed.
    cluster : distributed.LocalCluster or None
        A cluster this executor started and closes with itself.

    Notes
    -----
    Start workers with one thread each (``dask worker --nthreads 1``): each processes one video at
    a time, with the threads of its numeric libraries capped to one (:func:`limit_threads`).
    """

    def __init__(self, client: Any, *, cluster: Any = None) -> None:
        self._client = client
        self._cluster = cluster
        self._futures: dict[Any, int] = {}
        self._next = 0

    @classmethod
    def connect(cls, address: str) -> DaskExecutor:
        """Connect to a running scheduler, e.g. ``tcp://10.0.0.5:8786``."""
        from distributed import Client

        return cls(Client(address))

    @classmethod
    def start_local(cls, workers: int, *, host: str = "127.0.0.1") -> DaskExecutor:
        """Start a LocalCluster of ``workers`` processes with one thread each, and connect to it."""
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host=host, dashboard_address=None
        )
        return cls(Client(cluster), cluster=cluster)

    @property
    def capacity(self) -> int:
        """Total worker threads of the cluster now (workers may come and go)."""
        return max(1, sum(self._client.nthreads().values()))

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> int:
        """Submit ``fn(arg)`` as a non-pure task (never deduplicated, never cached)."""
        handle = self._next
        self._next += 1
        self._futures[self._client.submit(_call_with_one_thread, fn, arg, pure=False)] = handle
        return handle

    def wait(self, timeout: float | None) -> list[Outcome]:
        """Return finished tasks (at least one unless ``timeout`` passes or nothing is in flight)."""
        from distributed import wait as dask_wait

        if not self._futures:
            return []
        try:
            done, _ = dask_wait(list(self._futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        outcomes = []
        for future in done:
            handle = self._futures.pop(future)
            if future.status == "finished":
                outcomes.append(Outcome(handle, future.result()))
            elif future.status == "cancelled":
                outcomes.append(Outcome(handle, None, "task cancelled by the cluster"))
            else:
                exc = future.exception()
                outcomes.append(Outcome(handle, None, _one_line(exc)))
            future.release()
        return outcomes

    def close(self, *, cancel: bool = False) -> None:
        """Cancel what is in flight (with ``cancel``), close the client and a cluster started here."""
        if cancel and self._futures:
            self._client.cancel(list(self._futures), force=True)
        self._futures.clear()
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
