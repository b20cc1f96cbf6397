"""Pool workers that end with the process that started them (kill -9 included).

Light on purpose (no engine imports): every process pool's initializer calls
:func:`end_with_driver` — detection tiles, ingest parts, synthetic builds.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

__all__ = ["end_with_driver"]


def end_with_driver(driver_pid: int, *, poll_s: float = 0.5) -> None:
    """Make this worker process end when the driver that started its pool ends.

    A pool worker blocks on its job queue, whose write end it holds itself, so a driver
    killed with ``kill -9`` would leave it computing, then idling, forever (~450 MB each).
    On Linux the kernel kills the worker when its parent (the forkserver, which exits with
    the driver) dies; everywhere, a thread checks the driver every ``poll_s`` seconds.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    started = _start_time(driver_pid)

    def watch() -> None:
        while started is not None and _start_time(driver_pid) == started:
            time.sleep(poll_s)
        os._exit(1)  # no cleanup: the driver that wanted the results is gone

    threading.Thread(target=watch, name="end-with-driver", daemon=True).start()


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _start_time(pid: int) -> float | None:
    """When process ``pid`` started (None once it has ended): pids are reused, times not."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return None
