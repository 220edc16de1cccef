"""Named crash points, for the chaos tests.

A crash point costs one dictionary lookup. When ``MILLRACE_CRASH_AT`` names it, the process
kills itself with SIGKILL right there: no ``finally``, no atexit, no flush, exactly what a
power cut or the OOM killer does. The chaos tests use it to land a kill deterministically
between two writes that must not be torn apart (the warehouse commit and the MLflow
registration, say), where a kill from outside at a random time would hit that gap rarely.

``MILLRACE_CRASH_AT`` takes a comma-separated list of names; ``MILLRACE_CRASH_ONCE`` names a
file: the first process to crash creates it, and later processes (the restarted ones) pass
the point untouched, so a test can crash once and then watch the recovery.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

__all__ = ["crash_point"]


def crash_point(name: str) -> None:
    """SIGKILL this process here if ``MILLRACE_CRASH_AT`` names ``name``."""
    wanted = os.environ.get("MILLRACE_CRASH_AT")
    if not wanted or name not in wanted.split(","):
        return
    once = os.environ.get("MILLRACE_CRASH_ONCE")
    if once:
        try:
            Path(once).touch(exist_ok=False)
        except FileExistsError:
            return  # a process before this one already crashed here
    os.kill(os.getpid(), signal.SIGKILL)
