"""Whether each consumer loop of this process is alive, for ``/health``.

A thread that dies says nothing by itself: ``/health`` kept answering 200 while an agent's
thread was gone. Every loop keeps a ``Liveness`` record on its ``LivenessBoard`` (one per
warehouse, so one per ``millrace up`` process) and ``/health`` turns the board into a 503
that names the agent, when a loop died or stopped polling while not handling a message.
A loop backing off from a database or broker error is alive and says why it waits.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from millrace.events.bus import Message

__all__ = ["Liveness", "LivenessBoard"]

# A running loop polls at least every few seconds; this long without a beat while idle
# means it is stuck (a poll that never returns, a lock) even though its thread lives.
STALE_AFTER_S = 120.0


@dataclass
class Liveness:
    name: str
    state: str = "new"  # new -> running -> stopped | dead
    last_beat: float = field(default_factory=time.monotonic)
    busy_since: float | None = None
    busy_with: str | None = None
    trouble_since: float | None = None
    last_trouble: str | None = None
    error: str | None = None

    def start(self) -> None:
        self.state, self.error = "running", None
        self.beat()

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def busy(self, message: Message) -> None:
        self.busy_since, self.busy_with = time.monotonic(), f"{message.topic}:{message.event_id}"

    def idle(self) -> None:
        self.busy_since = self.busy_with = None
        self.beat()

    def trouble(self, what: str) -> None:
        self.last_trouble = what
        if self.trouble_since is None:
            self.trouble_since = time.monotonic()

    def recovered(self) -> None:
        self.trouble_since = None

    def stop(self) -> None:
        self.state = "stopped"

    def die(self, exc: BaseException) -> None:
        self.state, self.error = "dead", f"{type(exc).__name__}: {exc}"[:500]

    def problem(self, now: float | None = None) -> str | None:
        """Why this loop is not doing its job, or None if it is (or was stopped on purpose)."""
        now = time.monotonic() if now is None else now
        if self.state == "dead":
            return f"died: {self.error}"
        idle_for = now - self.last_beat
        if self.state == "running" and self.busy_since is None and idle_for > STALE_AFTER_S:
            return f"has not polled for {idle_for:.0f}s"
        return None

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        now = time.monotonic() if now is None else now
        out: dict[str, Any] = {"state": self.state, "problem": self.problem(now)}
        if self.busy_since is not None:
            out["busy_s"] = round(now - self.busy_since, 1)
            out["busy_with"] = self.busy_with
        if self.trouble_since is not None:
            out["backing_off_s"] = round(now - self.trouble_since, 1)
        if self.last_trouble is not None:
            out["last_trouble"] = self.last_trouble
        return out


class LivenessBoard:
    """The loops of one process, by name (a restarted loop replaces its old record)."""

    def __init__(self) -> None:
        self._loops: dict[str, Liveness] = {}
        self._lock = threading.Lock()

    def register(self, name: str) -> Liveness:
        record = Liveness(name)
        with self._lock:
            self._loops[name] = record
        return record

    def report(self) -> tuple[list[str], dict[str, dict[str, Any]]]:
        """Names of the loops with a problem, and every loop's state."""
        now = time.monotonic()
        with self._lock:
            loops = dict(self._loops)
        states = {name: record.snapshot(now) for name, record in sorted(loops.items())}
        failing = [name for name, s in states.items() if s["problem"] is not None]
        return failing, states
