"""A queue that runs long jobs one at a time, in order, on one background thread.

The dashboard's reruns each start a process pool over every core; two at once would halve
both and could exhaust memory. One :class:`JobQueue` per server (the dashboard keeps it
with ``st.cache_resource``) runs them in submission order, and every visitor sees the same
queue: what runs, what waits, and their own place in it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.errors import GroundwatchError

__all__ = ["Job", "JobQueue"]

logger = logging.getLogger(__name__)

Status = Literal["queued", "running", "finished", "failed"]


@dataclass(eq=False)
class Job:
    """One unit of work and what is known about it (read by the page, written by the queue).

    ``work`` is called as ``work(progress)`` where ``progress(done, total)`` updates
    :attr:`done` and :attr:`total`.
    """

    label: str
    work: Callable[[Callable[[int, int], None]], Any] = field(repr=False)
    total: int = 0
    done: int = 0
    status: Status = "queued"
    result: Any = None
    error: str | None = None
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total


class JobQueue:
    """Runs submitted jobs one at a time, first in first out.

    Examples
    --------
    >>> queue = JobQueue()
    >>> job = queue.submit("double", lambda progress: 2 * 21)
    >>> queue.wait(job, timeout=10).result
    42
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: deque[Job] = deque()
        self._running: Job | None = None
        self._worker: threading.Thread | None = None
        self._idle = threading.Condition(self._lock)

    def submit(self, label: str, work: Callable[[Callable[[int, int], None]], Any],
               *, total: int = 0) -> Job:  # fmt: skip
        """Queue ``work``; it starts when every job submitted before it has ended."""
        job = Job(label, work, total=total)
        with self._lock:
            self._waiting.append(job)
            if self._worker is None:
                self._worker = threading.Thread(target=self._drain, name="groundwatch-jobs",
                                                daemon=True)  # fmt: skip
                self._worker.start()
        return job

    def position(self, job: Job) -> int | None:
        """``job``'s place in the queue: 1 while it runs (or is next), n when n − 1 jobs are
        ahead of it; None once it has ended."""
        with self._lock:
            if job is self._running:
                return 1
            for i, waiting in enumerate(self._waiting):
                if waiting is job:
                    return i + 1 + (self._running is not None)
            return None

    def jobs(self) -> list[Job]:
        """The running job (if any), then the waiting ones in order."""
        with self._lock:
            return [j for j in (self._running, *self._waiting) if j is not None]

    def wait(self, job: Job, *, timeout: float | None = None) -> Job:
        """Block until ``job`` has ended (for the command line and tests)."""
        with self._idle:
            self._idle.wait_for(lambda: job.status in ("finished", "failed"), timeout)
        return job

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._worker = None
                    return
                job = self._running = self._waiting.popleft()
                job.status, job.started = "running", time.monotonic()
            try:
                job.result = job.work(job.progress)
                status: Status = "finished"
            except GroundwatchError as exc:
                job.error, status = str(exc), "failed"
            except Exception as exc:  # shown to the user; the log keeps the traceback
                logger.exception("job %s failed", job.label)
                job.error, status = f"{type(exc).__name__}: {exc}", "failed"
            with self._idle:
                job.status, job.finished = status, time.monotonic()
                self._running = None
                self._idle.notify_all()
