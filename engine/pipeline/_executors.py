"""Where tiles run: in this process, a local process pool, or a Dask cluster.

All three take the same picklable job and the same function, and keep at most two jobs per
worker in flight, so a national run never holds more than a few tiles' results (and the
driver never a list of a million futures).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

from engine.lifetime import end_with_driver

__all__ = ["ExecutorSpec", "end_with_driver", "map_unordered"]

Kind = Literal["inprocess", "process", "dask"]


@dataclass(frozen=True)
class ExecutorSpec:
    """How to run tiles.

    ``kind="process"`` with ``workers=0`` takes one worker per core. ``kind="dask"`` connects
    to ``scheduler`` (``tcp://host:port``) or, without one, starts a ``LocalCluster`` of
    ``workers`` single-threaded worker processes for the duration of the run.
    """

    kind: Kind = "process"
    workers: int = 0
    scheduler: str | None = None

    def worker_count(self) -> int:
        if self.kind == "inprocess":
            return 1
        return self.workers or os.cpu_count() or 1

    def describe(self) -> str:
        if self.kind == "dask" and self.scheduler:
            return f"dask scheduler {self.scheduler}"
        return f"{self.kind} ({self.worker_count()} worker{'s' * (self.worker_count() > 1)})"


def map_unordered(
    fn: Callable[[Any], Any], jobs: Iterable[Any], spec: ExecutorSpec
) -> Iterator[Any]:
    """Results of ``fn(job)`` as they finish; an error in a job stops the run."""
    if spec.kind == "inprocess":
        yield from map(fn, jobs)
    elif spec.kind == "process":
        yield from _process_pool(fn, jobs, spec.worker_count())
    elif spec.kind == "dask":
        yield from _dask(fn, jobs, spec)
    else:
        raise ValueError(f"executor must be inprocess, process or dask, got {spec.kind!r}")


def _forkserver(*preload: str) -> Any:
    """The forkserver context, its server started with the tile chain imported.

    Workers forked from it start in milliseconds instead of importing torch each (seconds
    of a core, which a busy 2-core machine feels). Fork itself is unsafe with torch's threads.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["engine.pipeline._tile", *preload])
    multiprocessing.forkserver.ensure_running()  # the preload counts only when it starts it
    return ctx


def _process_pool(fn: Callable[[Any], Any], jobs: Iterable[Any], workers: int) -> Iterator[Any]:
    ctx = _forkserver()
    pending: set = set()
    queue = iter(jobs)
    with ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=end_with_driver, initargs=(os.getpid(),)
    ) as pool:
        try:
            for job in _take(queue, 2 * workers):
                pending.add(pool.submit(fn, job))
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    for job in _take(queue, 1):
                        pending.add(pool.submit(fn, job))
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()


def _dask(fn: Callable[[Any], Any], jobs: Iterable[Any], spec: ExecutorSpec) -> Iterator[Any]:
    from distributed import Client, LocalCluster, as_completed

    with contextlib.ExitStack() as stack:
        if spec.scheduler:
            client = stack.enter_context(Client(spec.scheduler))
        else:
            _forkserver("distributed")
            with _local_worker_config():
                cluster = stack.enter_context(
                    LocalCluster(
                        n_workers=spec.worker_count(), threads_per_worker=1, processes=True,
                        dashboard_address=None,
                    )
                )  # fmt: skip
            client = stack.enter_context(Client(cluster))
            # nannies and workers end with this process too, even after kill -9
            client.run(end_with_driver, os.getpid(), nanny=True)
            client.run(end_with_driver, os.getpid())
        slots = 2 * max(1, len(client.scheduler_info().get("workers", {})) or spec.worker_count())
        queue = iter(jobs)
        running = as_completed([client.submit(fn, job, pure=False) for job in _take(queue, slots)])
        for future in running:
            for job in _take(queue, 1):
                running.add(client.submit(fn, job, pure=False))
            yield future.result()


def _local_worker_config() -> contextlib.AbstractContextManager:
    """Dask config for the workers of a ``LocalCluster`` made inside it.

    - No ``MALLOC_TRIM_THRESHOLD_``: Dask sets it so that freed memory goes back to the
      system sooner, but it also fixes glibc's mmap threshold, so each of a tile's large
      temporaries is mapped afresh: measured 1.9 M page faults and 1.5× the time per tile,
      against 0.06 M. Tiles bound their own memory.
    - Workers forked from the forkserver (see :func:`_forkserver`), not spawned.
    - Quieter event loops. The statistical profiler samples the running task every 10 ms
      (a tile is one opaque call); the blocked-loop tick (20 ms), work stealing (100 ms) and
      the memory and system monitors poll many times a second. Together they took ~6 % of
      a core in the driver and more in each worker, which two workers on two busy cores
      pay in tile time; at 1 s they take ~2 %, and a tile's memory grows over seconds.
    """
    import dask

    key = "distributed.nanny.pre-spawn-environ"
    environ = dict(dask.config.get(key, default={}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return dask.config.set({
        key: environ,
        "distributed.worker.multiprocessing-method": "forkserver",
        "distributed.worker.profile.enabled": False,
        "distributed.admin.tick.interval": "1s",
        "distributed.scheduler.work-stealing-interval": "1s",
        "distributed.worker.memory.monitor-interval": "1s",
        "distributed.admin.system-monitor.interval": "1s",
    })  # fmt: skip


def _take(queue: Iterator[Any], n: int) -> list[Any]:
    out = []
    for _ in range(n):
        try:
            out.append(next(queue))
        except StopIteration:
            break
    return out
