"""Helpers for tests that run real servers: free ports, readiness and PID-based stop."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from millrace.events.testing import free_port, stop_pid

__all__ = ["REPO", "SHARED", "free_port", "peak_rss_bytes", "stop_pid", "wait_http"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def peak_rss_bytes(pid: int) -> int:
    """The kernel's high-water mark of resident memory (VmHWM) for a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found")
