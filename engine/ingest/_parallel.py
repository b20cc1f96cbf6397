"""Reading one large CSV with several processes, each taking a byte range of its rows.

Parsing text and projecting coordinates are both CPU-bound, and a national CSV is one file,
so the only way to use every core is to split it: each worker parses its own lines,
normalises them and writes its own part files into the shared staging folder. The parent
merges the workers' counts and relays their progress.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any

from engine.config import RunConfig
from engine.errors import InputError
from engine.ingest._columns import Units
from engine.ingest._normalise import Normaliser
from engine.ingest._sources import Source, open_table
from engine.ingest._staging import Stats, stage_batches
from engine.lifetime import end_with_driver
from engine.store import PointWriter
from engine.types import Geometry

_MIN_BYTES_PER_WORKER = 32 << 20  # below this, starting processes costs more than it saves
_progress_queue: Any = None


@dataclass(frozen=True)
class PartJob:
    """Everything a worker needs to normalise and write one byte range."""

    path: Path
    overrides: dict[str, str]
    start: int
    stop: int
    part: str
    crs: str
    config: RunConfig
    geometry: Geometry | None
    units: Units | None
    velocity_from_timeseries: bool
    folder: Path
    partition_size_m: float
    flush_bytes: int


def worker_count(source: Source, config: RunConfig) -> int:
    """How many processes to read ``source`` with (1 = read it here)."""
    if source.kind not in ("table", "egms") or source.byte_range is not None:
        return 1
    if source.path.suffix.lower() not in (".csv", ".txt"):
        return 1  # zip members and Parquet files cannot be split by byte offset
    wanted = config.ingest.workers or os.cpu_count() or 1
    return max(1, min(wanted, source.path.stat().st_size // _MIN_BYTES_PER_WORKER))


def start_server() -> None:
    """Start the process that workers fork from, so its imports overlap the caller's work."""
    _context()
    multiprocessing.forkserver.ensure_running()


def _context() -> Any:
    ctx = multiprocessing.get_context("forkserver")  # fork is unsafe with Arrow's threads
    # import once, fork workers; pyarrow's to_numpy imports pandas on first use
    ctx.set_forkserver_preload(["engine.ingest._parallel", "pandas"])
    return ctx


def stage_parallel(jobs: list[PartJob], on_rows: Callable[[int], None]) -> list[Stats]:
    """Run the jobs on a process pool; returns each worker's statistics."""
    ctx = _context()
    queue = ctx.Queue()
    rows = 0
    with ProcessPoolExecutor(
        len(jobs), mp_context=ctx, initializer=_init, initargs=(queue, os.getpid())
    ) as pool:
        pending = {pool.submit(_run_part, job) for job in jobs}
        results = []
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                rows += _drain(queue)
                on_rows(rows)
                results += [f.result() for f in done]
        except BaseException:
            for f in pending:
                f.cancel()
            raise
    on_rows(rows + _drain(queue))
    return results


def _drain(queue: Any) -> int:
    total = 0
    while True:
        try:
            total += queue.get_nowait()
        except Empty:
            return total


def _init(queue: Any, driver_pid: int) -> None:
    global _progress_queue
    _progress_queue = queue
    end_with_driver(driver_pid)


def _run_part(job: PartJob) -> Stats:
    source = open_table(job.path, job.overrides).window(job.start, job.stop)
    normalise = Normaliser(
        source, job.crs, job.config, job.geometry, job.units, job.velocity_from_timeseries
    )
    stats = Stats()
    writer = PointWriter(job.folder, job.partition_size_m, flush_bytes=job.flush_bytes)
    last = 0

    def on_batch(rows: int) -> None:
        nonlocal last
        if _progress_queue is not None:
            _progress_queue.put(rows - last)
        last = rows

    try:
        stage_batches(
            source, normalise, writer, job.part, stats, job.config.ingest.batch_rows, on_batch
        )
    except InputError as exc:
        raise exc.shifted(source.rows_before()) from None
    finally:
        writer.close()
    return stats
