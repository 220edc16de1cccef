"""Paths tests need, and the server helpers (``millrace.testing``) under short names."""

from __future__ import annotations

from pathlib import Path

from millrace.testing import free_port, stop_pid, wait_http

__all__ = ["REPO", "SHARED", "free_port", "stop_pid", "wait_http"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
