"""Where runs execute: in this process, in a local process pool, or on a Dask cluster.

Every backend is a context manager with one method::

    with backend:
        for record in backend.map_unordered(fn, tasks):
            store(record)

``map_unordered`` yields each task's result as soon as it is done (on Dask, as soon
as the batch of runs it travelled in is), whatever the order.  ``fn`` is a
module-level function that never raises (it returns a failure record instead); a
run whose result the infrastructure lost (a Dask worker that died too often, a
result that could not be sent back) comes back as a record with status ``lost``
(:func:`infrastructure_failure`): it is not a failure of the model, the runner does
not store it, and the next call of the same sweep runs it again.  A Dask scheduler
that goes away is a :class:`BackendError`.

Workers of the local pool exit when the process that started them ends, even when it
is killed (:func:`watch_parent`); Dask's own worker processes do the same.

Nothing here has import-time side effects: pools and clusters are created when a
backend is entered and torn down when it exits.

Starting workers costs about a second on this kind of machine (a fresh interpreter
importing numpy, pandas, Mesa and the model; for Dask also a scheduler and nannies).
The local pool and a Dask ``LocalCluster`` therefore start in a background thread
when the backend is entered, and until they are up ``map_unordered`` runs tasks in
this process, one at a time, exactly as :class:`InProcess` would (``overlap_startup=False``
turns this off).  Results do not depend on where a task ran: each task rebuilds its
generator from the integers it carries.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import logging
import math
import multiprocessing as mp
import os
import queue
import re
import select
import signal
import socket
import statistics
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any

Task = dict[str, Any]
Record = dict[str, Any]

#: The status of a record whose run the backend lost (never stored; the next session runs it again).
LOST = "lost"
#: Most workers of ``--dask local:N`` (and of ``--workers N``).
MAX_LOCAL_WORKERS = 256

log = logging.getLogger("channelsim.sweep")


def infrastructure_failure(task: Task, err: BaseException) -> Record:
    """The record of a task whose result was lost by the backend (not raised by the run): status ``lost``."""
    tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    return {
        "point": task["point"], "replication": task["replication"], "status": LOST,
        "error": f"backend error (the run did not report): {type(err).__name__}: {err}\n{tb}",
        "seconds": float("nan"), "worker": "", "seed_key": task.get("seed_key", ""),
        "outputs": {}, "monthly": {},
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists
        return True
    return True


def watch_parent(pid: int, poll: float = 1.0) -> threading.Thread:
    """Exit this process as soon as process ``pid`` ends (a parent-death watch).

    A worker of the local pool is a child of the fork server, not of the sweep's
    process, so ``PR_SET_PDEATHSIG`` cannot watch the right process (and the fork server
    itself lives while any worker holds its pipe).  A daemon thread waits on a pidfd of
    ``pid`` (Linux 5.3+; no wake-ups until it ends) or, elsewhere, checks every ``poll``
    seconds, and ends this process with ``os._exit`` when ``pid`` is gone: a sweep killed
    with SIGKILL leaves no worker running its run to the end.

    Returns:
        The watching thread (started).
    """
    def wait() -> None:
        fd = None
        try:
            fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            fd = None
        if fd is not None:
            while True:
                ready, _, _ = select.select([fd], [], [])
                if ready:
                    break
        else:
            while _alive(pid):
                time.sleep(poll)
        os._exit(70)  # EX_SOFTWARE: the sweep that owned this worker is gone

    thread = threading.Thread(target=wait, name="channelsim-parent-watch", daemon=True)
    thread.start()
    return thread


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


class _Startup:
    """A backend's slow start (worker processes, a cluster) running in a background thread.

    ``start`` runs once in the thread; :meth:`done` says whether it has finished and
    :meth:`join` waits for it and re-raises what it raised (as :class:`BackendError`
    unless it already is one, or is an interrupt).  :meth:`when_up` hands the thread
    one more job for the moment the backend is up (giving the workers their first
    tasks while this process may still be busy with a run of its own).
    """

    def __init__(self, start: Callable[[], None], what: str):
        self.what = what
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._up = False
        self._then: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._run, args=(start,), name=f"channelsim-start-{what}", daemon=True)
        self._thread.start()

    def _run(self, start: Callable[[], None]) -> None:
        try:
            start()
            with self._lock:
                self._up = True
                then = self._then
            if then is not None:
                then()
        except BaseException as err:  # noqa: BLE001 - handed to the thread that joins
            self._error = err

    def when_up(self, then: Callable[[], None]) -> None:
        """Have the start thread call ``then`` as soon as the backend is up (nothing if it already is)."""
        with self._lock:
            if not self._up:
                self._then = then

    def done(self, within: float = 0.0) -> bool:
        """Whether the start has finished (waiting up to ``within`` seconds for it)."""
        if within > 0:
            self._thread.join(within)
        return not self._thread.is_alive()

    def join(self) -> None:
        self._thread.join()
        err, self._error = self._error, None
        if err is None:
            return
        if isinstance(err, BackendError | KeyboardInterrupt | SystemExit):
            raise err
        raise BackendError(f"cannot start {self.what}: {type(err).__name__}: {err}") from err


class _SharedTasks:
    """The tasks of one ``map_unordered`` call, which two threads may take from (see :class:`_Startup`)."""

    def __init__(self, tasks: Iterable[Task]):
        self._left = len(tasks) if isinstance(tasks, Sized) else None
        self._it = iter(tasks)
        self._lock = threading.Lock()

    def take(self) -> Task | None:
        got = self.take_many(1)
        return got[0] if got else None

    def take_many(self, n: int) -> list[Task]:
        """Up to ``n`` tasks (fewer only when the tasks run out)."""
        with self._lock:
            got = list(itertools.islice(self._it, n))
            if self._left is not None:
                self._left -= len(got)
            return got

    def left(self) -> int | None:
        """How many tasks nobody has taken yet (``None`` if the tasks came as an iterator of unknown length)."""
        return self._left


TASK_SECONDS = 2.0


def batch_size(left: int | None, slots: int, cap: int, run_seconds: float | None = None) -> int:
    """How many runs the next Dask task carries.

    As many runs as take about :data:`TASK_SECONDS` at ``run_seconds`` a run (the typical
    run so far), at most ``cap``; and at most a share of the runs nobody has taken yet,
    ``left // (2 * slots)`` for ``slots`` worker threads (guided self-scheduling), so the
    tasks shrink as the sweep goes on and its last tasks are single runs: no worker sits
    idle at the end while another works through a batch.  One run per task while the
    run time or the number of runs left is unknown, or when ``cap`` is 1.
    """
    if left is None or run_seconds is None or cap <= 1:
        return 1
    fit = int(TASK_SECONDS // run_seconds) if run_seconds > 0 else cap
    return max(1, min(cap, fit, left // (2 * max(slots, 1))))


def _run_batch(fn: Callable[[Task], Record], tasks: list[Task]) -> list[Record]:
    """Several runs in one Dask task, one after the other (see :class:`Dask`, ``max_runs_per_task``)."""
    return [fn(task) for task in tasks]


def _start(backend: Backend, start: Callable[[], None], what: str, overlap: bool) -> _Startup:
    """Run ``start`` in a background thread; without ``overlap``, wait for it here.

    A start that fails while waited for here closes ``backend`` (whatever it set up so far)
    and raises :class:`BackendError`.
    """
    startup = _Startup(start, what)
    if not overlap:
        try:
            startup.join()
        except BaseException:
            backend.__exit__(BackendError, None, None)
            raise
    return startup


WARM_START_SECONDS = 0.1


def _while_starting(startup: _Startup | None, fn: Callable[[Task], Record], tasks: _SharedTasks,
                    first: Callable[[], None]) -> Iterator[Record]:
    """Run tasks here, one at a time, until ``startup`` is done; then wait for it.

    ``first`` (which gives the workers their first tasks) runs in the start thread the
    moment the backend is up, so the workers need not wait for the run in progress here.
    A task taken here is finished here (a run is never split or repeated); the tasks
    left go to the workers.
    """
    if startup is None:
        return
    startup.when_up(first)
    # A warm start (a fork server this process already runs) takes 20-30 ms; a run taken here then would
    # only compete with the workers for the cores.
    if startup.done(within=WARM_START_SECONDS):
        startup.join()
        return
    while not startup.done():
        task = tasks.take()
        if task is None:
            break
        yield fn(task)
    startup.join()


class InProcess(Backend):
    """Runs one task after another in this process (debugging, tests, tiny sweeps)."""

    name = "in-process"

    def map_unordered(self, fn: Callable[[Task], Record], tasks: Iterable[Task]) -> Iterator[Record]:
        for task in tasks:
            yield fn(task)


def _ignore_sigint() -> None:
    # The parent decides what an interrupt means; workers just finish or get terminated.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_init(parent: int) -> None:
    """Initializer of a local worker: ignore SIGINT (the parent decides), exit when ``parent`` ends."""
    _ignore_sigint()
    if parent != os.getpid():
        watch_parent(parent)


def _fork_server(preload: tuple[str, ...] | list[str], start: bool = False) -> Any:
    """The ``forkserver`` context, its server to import ``preload`` before forking any worker.

    The list only takes effect if this process has no fork server yet: one that runs
    is reused as it is.  ``start`` launches the server now; it imports in its own
    process while this one goes on.

    ``__main__`` is not in the list: on Python 3.12 the fork server ignores it
    (CPython gh-126631, fixed in later 3.13 releases), and every worker runs the main script's top
    level again after the fork.  What that costs is the main script's own imports
    beyond ``preload``: for the ``channelsim`` command about 0.1 s, because
    :mod:`channelsim.cli` imports its heavy parts (reports, plots) only when a
    command needs them.
    """
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(preload))
    if start:
        from multiprocessing import forkserver

        forkserver.ensure_running()
    return ctx


def _warm_up(modules: tuple[str, ...]) -> int:
    """Run once per worker slot when a pool starts: import ``modules`` (a no-op under a preloaded fork server)."""
    import importlib

    for name in modules:
        importlib.import_module(name)
    return os.getpid()


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

    Entering the backend starts the workers in a background thread (one warm-up call
    per worker, which also imports ``preload`` under ``spawn``); with ``overlap_startup``
    the parent runs tasks itself until they are up, so the start costs the sweep about
    half as much on two cores.  A run the parent takes shares the parent's fate: a
    crash of the interpreter there stops the sweep (resume re-runs what is missing).

    Args:
        workers: processes (one per core when None).
        context: multiprocessing start method, ``forkserver`` (default) or ``spawn``.
        max_in_flight: tasks submitted ahead of results (bounded, so memory does not grow with the sweep).
        preload: modules the fork server imports before forking workers (``forkserver``), or each
            worker imports when it starts (``spawn``).
        overlap_startup: run tasks in this process while the workers start.
    """

    name = "local"
    PRELOAD = ("sim", "experiments.runner")

    def __init__(self, workers: int | None = None, context: str = "forkserver", max_in_flight: int | None = None,
                 preload: tuple[str, ...] | list[str] | None = None, overlap_startup: bool = True):
        if context not in ("spawn", "forkserver"):
            raise ValueError(f"context must be 'spawn' or 'forkserver', got {context!r}")
        if context == "forkserver" and "forkserver" not in mp.get_all_start_methods():  # pragma: no cover - not POSIX
            context = "spawn"
        self.workers = workers or default_workers()
        self.context = context
        self.max_in_flight = max_in_flight or 4 * self.workers
        self.preload = tuple(self.PRELOAD if preload is None else preload)
        self.overlap_startup = overlap_startup
        self._pool: cf.ProcessPoolExecutor | None = None
        self._startup: _Startup | None = None

    def describe(self) -> str:
        return f"local processes ({self.workers} workers, {self.context})"

    def __enter__(self) -> LocalProcesses:
        ctx = _fork_server(self.preload) if self.context == "forkserver" else mp.get_context(self.context)
        self._pool = pool = cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                                   initializer=_worker_init, initargs=(os.getpid(),))

        def start() -> None:
            # Each submit spawns a worker while fewer than `workers` run (the first one waits for the
            # fork server to import the preloaded modules); the results say the workers are up.
            warm = [pool.submit(_warm_up, self.preload) for _ in range(self.workers)]
            for fut in warm:
                fut.result()

        self._startup = _start(self, start, f"the local pool ({self.workers} workers)", self.overlap_startup)
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        pool, self._pool = self._pool, None
        startup, self._startup = self._startup, None
        if pool is None:
            return
        start_error: BaseException | None = None
        if startup is not None:  # never tear the pool down under a thread still spawning its workers
            try:
                startup.join()
            except BaseException as err:  # noqa: BLE001 - re-raised below unless the sweep has its own error
                start_error = err
        if exc_type is None and start_error is None:
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
        if exc_type is None and start_error is not None:
            raise start_error

    def map_unordered(self, fn: Callable[[Task], Record], tasks: Iterable[Task]) -> Iterator[Record]:
        if self._pool is None:
            raise RuntimeError("use LocalProcesses as a context manager")
        shared = _SharedTasks(tasks)
        pool = self._pool
        pending: dict[cf.Future[Record], Task] = {}

        def refill() -> None:
            while len(pending) < self.max_in_flight:
                task = shared.take()
                if task is None:
                    return
                pending[pool.submit(fn, task)] = task

        yield from _while_starting(self._startup if self.overlap_startup else None, fn, shared, refill)
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

    Our ``LocalCluster`` starts its workers as :class:`LocalProcesses` does: the nannies
    fork them from a fork server that has imported ``distributed`` and ``preload``
    once, and the cluster starts in a background thread while this process runs tasks
    (``overlap_startup``).  A cluster given as ``tcp://...`` is already running: nothing
    is overlapped, and its workers are configured by whoever started them.

    A Dask task may carry several short runs (``max_runs_per_task``, 4 by default).  Each
    task costs the client, the scheduler and the worker's event loop a few messages (the
    task, its completion, the client fetching the result, the release), and on a small
    machine that work takes the cores from the runs: in a 40-run sweep of the baseline on 2
    cores, a worker's run was not running for 3.8-4.2 % of its time with one run per task and
    1.7-2.8 % with batches (0.7-1.1 % in the local pool), and this process spent a third less
    CPU (docs/PERFORMANCE.md, "Sweeps").  Once the typical run time is known (from the runs
    this process made while the cluster started, or from the first results), a task carries
    as many runs as take about :data:`TASK_SECONDS`, so runs of a second or more still go one
    per task, and batches shrink as the sweep goes on (:func:`batch_size`), so its last tasks
    are single runs.  Records still arrive one per run, and a batch whose task fails (its worker died too
    often, or ``fn`` raised) is run again one run per task, so a failure is recorded
    against its own run only.  An interrupted sweep loses the runs of the tasks in flight
    (the next call runs them again).  ``max_runs_per_task=1`` gives one run per task.

    What is lost is never stored as a failure of the model: a run whose task Dask gave
    up on (``KilledWorker`` after ``retries``, or any other error of the task rather
    than of the run, which returns its own failures) comes back with status ``lost``, and
    the next session of the sweep runs it again.  While results wait, the backend checks
    every ``poll_seconds`` that the scheduler is still there and has workers: a scheduler
    gone for ``scheduler_grace`` seconds is a :class:`BackendError` (the runs finished so
    far are stored); no worker for ``no_worker_warn`` seconds logs a warning, and for
    ``no_worker_timeout`` seconds a :class:`BackendError`.

    Args:
        address: ``tcp://HOST:PORT`` or ``local:N``.
        max_in_flight: tasks submitted ahead of results (default: 4 per worker thread, at least 8).
        retries: how often Dask retries a task whose worker died before it reported.
        connect_timeout: how long to wait for an existing scheduler.
        preload: modules a ``LocalCluster``'s workers have imported before their first task.
        overlap_startup: run tasks in this process while a ``LocalCluster`` starts.
        max_runs_per_task: the largest batch of runs one Dask task carries (1: no batches).
        poll_seconds: how long to wait for a result before checking the scheduler and the workers.
        scheduler_grace: how long the scheduler may be unreachable before the sweep stops.
        no_worker_warn: seconds without any worker before a warning.
        no_worker_timeout: seconds without any worker before the sweep stops (None: wait).
    """

    name = "dask"

    def __init__(self, address: str, max_in_flight: int | None = None, retries: int = 2,
                 connect_timeout: str = "30s", preload: tuple[str, ...] | list[str] | None = None,
                 overlap_startup: bool = True, max_runs_per_task: int = 4, poll_seconds: float = 2.0,
                 scheduler_grace: float = 10.0, no_worker_warn: float = 10.0,
                 no_worker_timeout: float | None = 600.0):
        if isinstance(max_runs_per_task, bool) or not isinstance(max_runs_per_task, int) or max_runs_per_task < 1:
            raise ValueError(f"max_runs_per_task must be a positive integer, got {max_runs_per_task!r}")
        self.poll_seconds = poll_seconds
        self.scheduler_grace = scheduler_grace
        self.no_worker_warn = no_worker_warn
        self.no_worker_timeout = no_worker_timeout
        self.address = address
        self.max_runs_per_task = max_runs_per_task
        self.connect_timeout = connect_timeout
        self.max_in_flight = max_in_flight
        self.retries = retries
        self.preload = tuple(LocalProcesses.PRELOAD if preload is None else preload)
        self.overlap_startup = overlap_startup
        self._client: Any = None
        self._cluster: Any = None
        self._startup: _Startup | None = None

    def describe(self) -> str:
        return f"dask ({self.address})"

    @staticmethod
    def parse(address: str) -> tuple[str, int | None]:
        """``("local", N)`` for ``local:N``, ``("remote", None)`` for ``tcp://HOST:PORT``.

        Raises:
            ValueError: for anything else (``tls://``, ``ucx://`` and ``inproc://`` need settings the
                command line does not take), a port outside 1..65535 or N outside 1..MAX_LOCAL_WORKERS.
        """
        shown = address if len(address) <= 80 else address[:77] + "..."
        if address.startswith("local:"):
            n = address.split(":", 1)[1]
            if not (n.isascii() and n.isdigit() and len(n) <= 4) or not 1 <= int(n) <= MAX_LOCAL_WORKERS:
                raise ValueError(f"value {shown!r} -> local:N needs a worker count N from 1 to {MAX_LOCAL_WORKERS}")
            return "local", int(n)
        m = _TCP.fullmatch(address)
        if m is not None:
            if not 1 <= int(m.group("port")) <= 65535:
                raise ValueError(f"value {shown!r} -> the port must be 1 to 65535 (tcp://HOST:PORT, or local:N)")
            return "remote", None
        scheme = address.split("://", 1)[0] + "://" if "://" in address else None
        if scheme in ("tls://", "ucx://", "inproc://", "ws://", "wss://"):
            raise ValueError(f"value {shown!r} -> {scheme} addresses are not supported (they need security or "
                             "transport settings the command line does not take); allowed: tcp://HOST:PORT or local:N")
        raise ValueError(f"value {shown!r} -> allowed: tcp://HOST:PORT (a running Dask scheduler) or local:N")

    def _host_port(self) -> tuple[str, int]:
        m = _TCP.fullmatch(self.address)
        assert m is not None
        return m.group("host").strip("[]"), int(m.group("port"))

    def __enter__(self) -> Dask:
        kind, n = self.parse(self.address)
        if kind == "local" and self.cluster_settings().get("distributed.worker.multiprocessing-method") == "forkserver":
            # Launched before this process imports `distributed` (0.3-0.5 s), so the server's own imports
            # (distributed and the simulator, the longest step of the cluster's start) run meanwhile.
            try:
                _fork_server(["distributed", *self.preload], start=True)
            except OSError:
                pass  # the cluster's own start tries again, and reports a failure as a BackendError
        from distributed import Client

        if kind == "local":
            self._startup = _start(self, lambda: self._start_local(n), f"a Dask LocalCluster ({n} workers)",
                                   self.overlap_startup)
        else:
            host, port = self._host_port()
            try:  # a closed port answers at once; Dask's client would retry until its timeout
                socket.create_connection((host, port), timeout=5).close()
            except OSError as err:
                raise BackendError(f"cannot connect to the Dask scheduler at {self.address}: nothing answers there "
                                   f"({err.strerror or err}); start one (dask scheduler) or use --dask local:N") \
                    from None
            try:
                self._client = Client(self.address, timeout=self.connect_timeout)
            except Exception as err:  # noqa: BLE001 - OSError, TimeoutError, or a port that is no Dask scheduler
                raise BackendError(f"cannot connect to the Dask scheduler at {self.address}: "
                                   f"{type(err).__name__}: {err}") from None
        return self

    def cluster_settings(self) -> dict[str, Any]:
        """The Dask configuration our ``LocalCluster`` is built with (a subclass may change it)."""
        import dask

        # Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which also pins glibc's mmap
        # threshold: every array above 128 KiB is then a fresh mmap with its page faults, and a baseline
        # run takes longer (x1.27 on 2026-11-30; `benchmarks/sweep_probes.py malloc-trim`).  Runs
        # here hold little memory between tasks, so the workers of our own LocalCluster keep glibc's
        # default (the thread-count variables stay).
        environ = {k: v for k, v in (dask.config.get("distributed.nanny.pre-spawn-environ", None) or {}).items()
                   if k != "MALLOC_TRIM_THRESHOLD_"}
        # Three periodic jobs of each worker only feed monitoring and the dashboard, which this cluster
        # does not serve: the statistical profiler (walks the running task's stack every 10 ms), the
        # event loop's 20-ms "tick" (warns when the loop was blocked) and the 0.5-s system monitor.  The
        # worker's other threads took 5.0 % of its CPU during a run with Dask's defaults, 4.6 % with only
        # the profiler back on, 2.2 % with only Dask's tick and monitor, 0.9 % as here
        # (`benchmarks/sweep_probes.py worker-cpu`).
        # The memory monitor (each worker's, and its nanny's in this process) checks the worker's memory
        # every 1 s instead of 100 ms: ten wake-ups a second per worker and per nanny take the cores
        # from the runs.  In a sweep on 2 cores a worker's task thread was not running for 3.1-3.7 % of
        # a run at 100 ms and 1.6-2.5 % at 1 s, and the worker's other threads took 1.2-1.3 % and
        # 0.9-1.0 % of its CPU (`benchmarks/sweep_probes.py in-sweep`).  It pauses a worker at 80 % of
        # its memory limit and the nanny restarts it at 95 %; a run here holds its own model only (a
        # process running one peaks at 183 MiB for the baseline and 335 MiB for the large scenario,
        # docs/PERFORMANCE.md) against a limit of the machine's memory divided by the workers, so a
        # check a second is still far ahead of any run.
        settings: dict[str, Any] = {"distributed.nanny.pre-spawn-environ": environ,
                                    "distributed.worker.profile.enabled": False,
                                    "distributed.admin.tick.interval": "1s",
                                    "distributed.admin.system-monitor.interval": "5s",
                                    "distributed.worker.memory.monitor-interval": "1s"}
        if "forkserver" in mp.get_all_start_methods():
            settings["distributed.worker.multiprocessing-method"] = "forkserver"
        return settings

    def _start_local(self, n: int | None) -> None:
        import dask
        from distributed import Client, LocalCluster
        from distributed.utils import get_mp_context

        settings = self.cluster_settings()
        with dask.config.set(settings):
            if settings.get("distributed.worker.multiprocessing-method") == "forkserver":
                # distributed sets the fork server's preload list on its first use; ours replaces it
                # (__enter__ has usually launched the server with it already).
                get_mp_context()
                _fork_server(["distributed", *self.preload])
            cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
            )
        try:
            client = Client(cluster)
        except BaseException:
            cluster.close()
            raise
        self._cluster, self._client = cluster, client

    def __exit__(self, *exc: Any) -> None:
        startup, self._startup = self._startup, None
        start_error: BaseException | None = None
        if startup is not None:  # let a cluster that is still starting finish, then close it
            try:
                startup.join()
            except BaseException as err:  # noqa: BLE001 - re-raised below unless the sweep has its own error
                start_error = err
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        failing = bool(exc) and exc[0] is not None
        # After a failure (a scheduler lost, say) Dask logs its own tracebacks while the client gives up
        # reconnecting; the sweep reports what happened in one paragraph instead.
        with _quiet_logging() if failing else contextlib.nullcontext():
            if client is not None:
                try:
                    client.close(timeout=10)
                except Exception:  # noqa: BLE001 - a scheduler that is gone cannot be told goodbye
                    pass
            if cluster is not None:
                try:
                    cluster.close(timeout=10)
                except Exception:  # noqa: BLE001
                    pass
        if start_error is not None and not failing:
            raise start_error

    def _threads(self) -> int:
        try:
            return max(1, sum(self._client.nthreads().values()))
        except Exception:  # noqa: BLE001
            return 1

    def map_unordered(self, fn: Callable[[Task], Record], tasks: Iterable[Task]) -> Iterator[Record]:
        if self._client is None and self._startup is None:
            raise RuntimeError("use Dask as a context manager")
        shared = _SharedTasks(tasks)
        owner: dict[str, list[Task]] = {}
        completed: queue.SimpleQueue[Any] = queue.SimpleQueue()  # futures as they finish (done callbacks)
        session = uuid.uuid4().hex[:8]
        first: list[Any] = []
        threads = 1
        run_seconds: list[float] = []  # of the runs done so far (appended by this thread, read by the start thread)

        def note(record: Record) -> Record:
            s = record.get("seconds") if isinstance(record, dict) and record.get("status", "ok") == "ok" else None
            if isinstance(s, int | float) and math.isfinite(s) and s > 0:
                run_seconds.append(float(s))
            return record

        def submit(batch: list[Task]) -> Any:
            head = batch[0]
            key = f"channelsim-run-{session}-{head['point']}-{head['replication']}"
            if len(batch) == 1:
                fut = self._client.submit(fn, head, key=key, pure=False, retries=self.retries)
            else:
                fut = self._client.submit(_run_batch, fn, batch, key=f"{key}-x{len(batch)}", pure=False,
                                          retries=self.retries)
            owner[fut.key] = batch
            return fut

        def track(fut: Any) -> None:
            fut.add_done_callback(completed.put)

        def next_batch() -> list[Task]:
            typical = statistics.median(run_seconds[-20:]) if run_seconds else None
            return shared.take_many(batch_size(shared.left(), threads, self.max_runs_per_task, typical))

        def fill() -> None:
            nonlocal threads
            threads = self._threads()
            for _ in range((self.max_in_flight or max(8, 4 * threads)) - len(first)):
                batch = next_batch()
                if not batch:
                    break
                first.append(submit(batch))

        for record in _while_starting(self._startup if self.overlap_startup else None, fn, shared, fill):
            yield note(record)
        fill()
        for fut in first:
            fut.add_done_callback(completed.put)
        first.clear()
        health = _Health(self)
        while owner:
            try:
                fut = completed.get(timeout=self.poll_seconds)
            except queue.Empty:
                health.check(len(owner))
                continue
            batch = owner.pop(fut.key)
            try:
                result = fut.result()
                records = result if len(batch) > 1 else [result]
            except Exception as err:  # noqa: BLE001 - KilledWorker, lost data, cancelled by a lost scheduler, ...
                health.check(len(owner) + 1, failed=err)  # raises when the scheduler is gone
                if len(batch) > 1:  # again, one run per task: a failure belongs to its own run only
                    fut.release()
                    del fut
                    for task in batch:
                        track(submit([task]))
                    continue
                records = [infrastructure_failure(batch[0], err)]
            fut.release()
            del fut
            health.ok()
            for record in records:
                yield note(record)
            nxt = next_batch()
            if nxt:
                track(submit(nxt))


_TCP = re.compile(r"tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?):"
                  r"(?P<port>[0-9]{1,5})")


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    """Drop log records up to ERROR (every logger, every thread) within the block."""
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(previous)


class _Health:
    """What :class:`Dask` checks while it waits for results: the scheduler is there, and has workers."""

    CLOSED = ("closed", "closing", "failed")

    def __init__(self, dask: Dask):
        self.dask = dask
        self.lost_since: float | None = None
        self.no_workers_since: float | None = None
        self.warned = False

    def ok(self) -> None:
        self.lost_since = self.no_workers_since = None

    def _status(self) -> str:
        return str(getattr(self.dask._client, "status", "running"))

    def _workers(self) -> int | None:
        try:
            return len(self.dask._client.scheduler_info(n_workers=-1).get("workers", {}))
        except Exception:  # noqa: BLE001 - the scheduler did not answer
            return None

    def check(self, in_flight: int, failed: BaseException | None = None) -> None:
        """Raise :class:`BackendError` when the scheduler is gone (for ``scheduler_grace``) or no worker is left.

        With ``failed`` (a task's error that may come from a lost scheduler), wait here up to
        ``scheduler_grace`` for the client to reconnect, so the task is not taken for lost
        while the scheduler is merely away for a moment.
        """
        d = self.dask
        status = self._status()
        if failed is not None and _looks_like_lost_scheduler(failed) and status == "running":
            deadline = time.monotonic() + min(2.0, d.scheduler_grace)  # the client may not have noticed yet
            while status == "running" and time.monotonic() < deadline:
                time.sleep(0.1)
                status = self._status()
        if status != "running":
            now = time.monotonic()
            self.lost_since = self.lost_since or now
            deadline = self.lost_since + d.scheduler_grace
            while failed is not None and status not in self.CLOSED and status != "running" and \
                    time.monotonic() < deadline:
                time.sleep(0.2)
                status = self._status()
            if status != "running":
                if status in self.CLOSED or time.monotonic() >= deadline:
                    raise BackendError(
                        f"lost the Dask scheduler at {d.address} (client {status}); the runs finished so far are "
                        f"stored, the {in_flight} task(s) in flight are not: run the same command to resume once "
                        "a scheduler is there again")
                return
        self.lost_since = None
        if failed is not None:
            return
        n = self._workers()
        if n is None or n > 0:
            self.no_workers_since = None
            self.warned = False
            return
        now = time.monotonic()
        self.no_workers_since = self.no_workers_since or now
        waited = now - self.no_workers_since
        if waited >= d.no_worker_warn and not self.warned:
            self.warned = True
            log.warning("no Dask worker is connected to the scheduler at %s (for %.0f s, %d task(s) waiting); "
                        "start workers (dask worker %s) or press Ctrl-C: the runs finished so far are stored",
                        d.address, waited, in_flight, d.address)
        if d.no_worker_timeout is not None and waited >= d.no_worker_timeout:
            raise BackendError(f"no Dask worker connected to the scheduler at {d.address} for {waited:.0f} s; the "
                               "runs finished so far are stored: start workers and run the same command to resume")


def _looks_like_lost_scheduler(err: BaseException) -> bool:
    """Whether a task's error says the client lost its scheduler (rather than a worker or the task failing)."""
    names = {type(e).__name__ for e in _chain(err)}
    return bool(names & {"CancelledError", "CommClosedError", "ClosedClientError", "StreamClosedError",
                         "FutureCancelledError"})


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def make_backend(workers: int | None = None, dask: str | None = None, in_process: bool = False,
                 overlap_startup: bool = True) -> Backend:
    """The backend for the command line's ``--workers N`` / ``--dask ADDRESS`` / ``--in-process`` / ``--no-overlap``."""
    if dask:
        Dask.parse(dask)
        return Dask(dask, overlap_startup=overlap_startup)
    if in_process or workers == 0:
        return InProcess()
    if workers is not None and not 0 < workers <= MAX_LOCAL_WORKERS:
        raise ValueError(f"--workers {workers}: allowed: 0 (in this process) to {MAX_LOCAL_WORKERS}")
    return LocalProcesses(workers, overlap_startup=overlap_startup)


__all__ = [
    "LOST", "Backend", "BackendError", "Dask", "InProcess", "LocalProcesses", "default_workers",
    "infrastructure_failure", "make_backend", "watch_parent",
]
