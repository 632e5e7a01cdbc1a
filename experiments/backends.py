"""Where runs execute: in this process, in a local process pool, or on a Dask cluster.

Every backend is a context manager with one method::

    with backend:
        for record in backend.map_unordered(fn, tasks):
            store(record)

``map_unordered`` yields each task's result as soon as it is done, whatever the
order.  ``fn`` is a module-level function that never raises (it returns a failure
record instead); an error of the infrastructure itself (a worker that died too
often) is turned into a failure record by :func:`infrastructure_failure`, so the
sweep carries on and ``--retry-failed`` re-runs it.

Nothing here has import-time side effects: pools and clusters are created when a
backend is entered and torn down when it exits.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import signal
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Task = dict[str, Any]
Record = dict[str, Any]


def infrastructure_failure(task: Task, err: BaseException) -> Record:
    """A failure record for a task whose result was lost by the backend (not raised by the run)."""
    tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    return {
        "point": task["point"], "replication": task["replication"], "status": "failed",
        "error": f"backend error (the run did not report): {type(err).__name__}: {err}\n{tb}",
        "seconds": float("nan"), "worker": "", "seed_key": task.get("seed_key", ""),
        "outputs": {}, "monthly": {},
    }


def default_workers() -> int:
    """One worker per core available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class BackendError(RuntimeError):
    """A backend that cannot start (e.g. no Dask scheduler at the address given)."""


class Backend:
    name = "backend"

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def map_unordered(self, fn: Callable[[Task], Record], tasks: Iterable[Task]) -> Iterator[Record]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class InProcess(Backend):
    """Runs one task after another in this process (debugging, tests, tiny sweeps)."""

    name = "in-process"

    def map_unordered(self, fn: Callable[[Task], Record], tasks: Iterable[Task]) -> Iterator[Record]:
        for task in tasks:
            yield fn(task)


def _ignore_sigint() -> None:
    # The parent decides what an interrupt means; workers just finish or get terminated.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalProcesses(Backend):
    """A ``ProcessPoolExecutor`` with ``workers`` processes.

    With the default ``forkserver`` start method, entering the backend sets the
    fork server's preload list to ``preload`` (``sim`` and ``experiments.runner``):
    the server process imports the simulator once and every worker is forked from
    it already warm, instead of each spawned worker spending a second or more
    importing numpy, pandas, Mesa and the model.  The preload is set here, when a
    pool is created, never at import time; a fork server that is already running
    (from an earlier pool in this process) is reused as it is, and stays warm.
    Results do not depend on the start method: each task rebuilds its generator
    from the integers it carries.

    Args:
        workers: processes (one per core when None).
        context: multiprocessing start method, ``forkserver`` (default) or ``spawn``.
        max_in_flight: tasks submitted ahead of results (bounded, so memory does not grow with the sweep).
        preload: modules the fork server imports before forking workers (``forkserver`` only).
    """

    name = "local"
    PRELOAD = ("sim", "experiments.runner")

    def __init__(self, workers: int | None = None, context: str = "forkserver", max_in_flight: int | None = None,
                 preload: tuple[str, ...] | list[str] | None = None):
        if context not in ("spawn", "forkserver"):
            raise ValueError(f"context must be 'spawn' or 'forkserver', got {context!r}")
        if context == "forkserver" and "forkserver" not in mp.get_all_start_methods():  # pragma: no cover - not POSIX
            context = "spawn"
        self.workers = workers or default_workers()
        self.context = context
        self.max_in_flight = max_in_flight or 4 * self.workers
        self.preload = tuple(self.PRELOAD if preload is None else preload)
        self._pool: cf.ProcessPoolExecutor | None = None

    def describe(self) -> str:
        return f"local processes ({self.workers} workers, {self.context})"

    def __enter__(self) -> LocalProcesses:
        ctx = mp.get_context(self.context)
        if self.context == "forkserver" and self.preload:
            ctx.set_forkserver_preload(list(self.preload))
        self._pool = cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_ignore_sigint)
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if exc_type is None:
            pool.shutdown(wait=True)
            return
        # Interrupted or failed: drop what has not started, stop the workers now.
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            try:
                proc.terminate()
            except Exception:  # noqa: BLE001 - best effort
                pass

    def map_unordered(self, fn: Callable[[Task], Record], tasks: Iterable[Task]) -> Iterator[Record]:
        if self._pool is None:
            raise RuntimeError("use LocalProcesses as a context manager")
        it = iter(tasks)
        pending: dict[cf.Future[Record], Task] = {}

        def refill() -> None:
            while len(pending) < self.max_in_flight:
                task = next(it, None)
                if task is None:
                    return
                pending[self._pool.submit(fn, task)] = task  # type: ignore[union-attr]

        refill()
        while pending:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                task = pending.pop(fut)
                try:
                    record = fut.result()
                except cf.process.BrokenProcessPool:
                    raise
                except Exception as err:  # noqa: BLE001 - e.g. an unpicklable result
                    record = infrastructure_failure(task, err)
                del fut
                yield record
            refill()


class Dask(Backend):
    """Dask distributed: an existing scheduler (``tcp://HOST:PORT``) or a ``LocalCluster`` (``local:N``).

    A ``LocalCluster`` binds to 127.0.0.1 (scheduler, workers; no dashboard) with one
    single-threaded worker process per requested worker.  Each future is released as
    soon as its result is stored: Dask re-runs tasks whose results sit on a worker
    that dies, and holding finished futures would keep those results (and re-runs) alive.

    Args:
        address: ``tcp://HOST:PORT`` or ``local:N``.
        max_in_flight: tasks submitted ahead of results (default: 4 per worker thread, at least 8).
        retries: how often Dask retries a task whose worker died before it reported.
        connect_timeout: how long to wait for an existing scheduler.
    """

    name = "dask"

    def __init__(self, address: str, max_in_flight: int | None = None, retries: int = 2,
                 connect_timeout: str = "30s"):
        self.address = address
        self.connect_timeout = connect_timeout
        self.max_in_flight = max_in_flight
        self.retries = retries
        self._client: Any = None
        self._cluster: Any = None

    def describe(self) -> str:
        return f"dask ({self.address})"

    @staticmethod
    def parse(address: str) -> tuple[str, int | None]:
        if address.startswith("local:"):
            n = address.split(":", 1)[1]
            if not n.isdigit() or int(n) < 1:
                raise ValueError(f"--dask local:N needs a positive worker count, got {address!r}")
            return "local", int(n)
        if address.startswith(("tcp://", "tls://", "ucx://", "inproc://")):
            return "remote", None
        raise ValueError(f"--dask takes tcp://HOST:PORT or local:N, got {address!r}")

    def __enter__(self) -> Dask:
        from distributed import Client, LocalCluster

        kind, n = self.parse(self.address)
        if kind == "local":
            import dask

            # Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which also pins glibc's mmap
            # threshold: every array above 128 KiB is then a fresh mmap with its page faults, and a
            # simulation run takes about 13 % longer.  Runs here hold little memory between tasks, so the
            # workers of our own LocalCluster keep glibc's default (the thread-count variables stay).
            environ = {k: v for k, v in (dask.config.get("distributed.nanny.pre-spawn-environ", None) or {}).items()
                       if k != "MALLOC_TRIM_THRESHOLD_"}
            with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
                self._cluster = LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                )
            self._client = Client(self._cluster)
        else:
            try:
                self._client = Client(self.address, timeout=self.connect_timeout)
            except (OSError, TimeoutError) as err:
                raise BackendError(f"cannot connect to the Dask scheduler at {self.address}: {err}") from None
        return self

    def __exit__(self, *exc: Any) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def _slots(self) -> int:
        if self.max_in_flight:
            return self.max_in_flight
        try:
            threads = sum(self._client.nthreads().values())
        except Exception:  # noqa: BLE001
            threads = 1
        return max(8, 4 * max(threads, 1))

    def map_unordered(self, fn: Callable[[Task], Record], tasks: Iterable[Task]) -> Iterator[Record]:
        from distributed import as_completed

        if self._client is None:
            raise RuntimeError("use Dask as a context manager")
        client = self._client
        it = iter(tasks)
        slots = self._slots()
        owner: dict[str, Task] = {}
        session = uuid.uuid4().hex[:8]

        def submit(task: Task) -> Any:
            key = f"channelsim-run-{session}-{task['point']}-{task['replication']}"
            fut = client.submit(fn, task, key=key, pure=False, retries=self.retries)
            owner[fut.key] = task
            return fut

        first = []
        for _ in range(slots):
            task = next(it, None)
            if task is None:
                break
            first.append(submit(task))
        if not first:
            return
        ac = as_completed(first)
        del first
        for fut in ac:
            task = owner.pop(fut.key)
            try:
                record = fut.result()
            except Exception as err:  # noqa: BLE001 - KilledWorker, lost data, ...
                record = infrastructure_failure(task, err)
            fut.release()
            del fut
            yield record
            nxt = next(it, None)
            if nxt is not None:
                ac.add(submit(nxt))


def make_backend(workers: int | None = None, dask: str | None = None, in_process: bool = False) -> Backend:
    """The backend for the command line's ``--workers N`` / ``--dask ADDRESS`` / ``--in-process``."""
    if dask:
        Dask.parse(dask)
        return Dask(dask)
    if in_process or workers == 0:
        return InProcess()
    return LocalProcesses(workers)


__all__ = [
    "Backend", "BackendError", "Dask", "InProcess", "LocalProcesses", "default_workers", "infrastructure_failure",
    "make_backend",
]
