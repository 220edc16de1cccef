"""The one consumer loop, shared by the agents and the Kafka-chained pipeline stages.

What differs between them is a ``Delivery``: how a message is recognised as done before,
handled, finished (the agents write a processed mark and their outbox events in one DB
transaction; a stage produces its outputs to Kafka and waits for the acks) and
dead-lettered. Everything else is here, once:

- **Tries.** A handler that raises is tried again after an exponential back-off (``Retry``
  picks its own delay) up to ``max_tries``; ``Reject`` and the policy's permanent errors go
  to the dead letter at once, which records how many tries really ran.
- **Bookkeeping never kills the loop.** Errors from poll, the done-check, finish and commit
  (a database blip, a broker outage) are logged, counted and retried with back-off for as
  long as it takes; a consumer that breaks is closed and opened again. Shutdown during
  such a wait leaves the message uncommitted, so whoever resumes gets it again.
- **Liveness.** Each loop keeps a ``Liveness`` record (registered under its name) that
  ``/health`` reads: a loop that died, or one that stopped polling while not handling a
  message, is reported by name.
- ``stop`` is checked between messages: SIGTERM finishes the current message, then exits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from millrace.events import metrics
from millrace.events.bus import BusConsumer, CommitLost, Message
from millrace.events.liveness import Liveness, LivenessBoard
from millrace.exceptions import MillraceError

__all__ = ["ConsumerLoop", "Delivery", "Reject", "Retry", "RetryPolicy", "trouble_backoff"]

log = logging.getLogger("millrace.loop")

R = TypeVar("R")
T = TypeVar("T")

# Lag costs broker round trips (committed offsets, watermarks): measure it now and then.
LAG_REPORT_EVERY_S = 5.0
# Back-off for bookkeeping and broker errors: quick at first, never more than this apart.
TROUBLE_BACKOFF_MAX_S = 30.0


class Retry(MillraceError):
    """Raised by a handler to be called again after ``defer`` seconds."""

    def __init__(self, detail: str = "retry requested", defer: float | None = None) -> None:
        super().__init__(detail)
        self.defer = defer


class Reject(MillraceError):
    """Raised by a handler when retrying cannot help: straight to the dead letter."""


@dataclass(frozen=True)
class RetryPolicy:
    max_tries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    # Errors that retrying cannot fix, besides ``Reject`` (bad input, a missing object).
    permanent: tuple[type[BaseException], ...] = ()

    def backoff(self, attempt: int) -> float:
        return float(min(self.backoff_base * 2 ** (attempt - 1), self.backoff_max))


class Delivery(Protocol[R]):
    """The part of consuming that differs between agents and pipeline stages."""

    def seen(self, message: Message) -> bool:
        """True if this message was finished before (a redelivery): skip it."""
        ...

    def handle(self, message: Message, attempt: int) -> R:
        """Do the work; raise to be tried again (or ``Reject`` to give up)."""
        ...

    def finish(self, message: Message, result: R) -> bool:
        """Make the result durable; False if another consumer finished it first."""
        ...

    def dead_letter(self, message: Message, error: str, attempts: int) -> None:
        """Record that the message failed for good, durably."""
        ...


class _Stopped(Exception):
    """Shutdown came while waiting: leave the message uncommitted."""


@dataclass
class ConsumerLoop(Generic[R]):
    """Poll, handle, finish, commit; for ever, whatever the backends do."""

    name: str
    open_consumer: Callable[[], BusConsumer]
    delivery: Delivery[R]
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 1  # messages of one batch handled side by side
    batch_size: int = 100  # most messages taken per poll
    before_batch: Callable[[Sequence[Message]], None] | None = None
    sleep: Callable[[float], None] | None = None  # tests replace the handler back-off
    board: LivenessBoard | None = None  # where /health looks; a private one if None
    liveness: Liveness = field(init=False)

    def __post_init__(self) -> None:
        self.liveness = (self.board or LivenessBoard()).register(self.name)

    def run(self, stop: threading.Event, *, burst: bool = False, poll_timeout: float = 1.0) -> int:
        """Consume until ``stop`` is set (or, in burst mode, until the log is drained)."""
        handled = 0
        self.liveness.start()
        pool = ThreadPoolExecutor(self.concurrency) if self.concurrency > 1 else None
        try:
            trouble = 0
            while not stop.is_set():
                try:
                    consumer = self.open_consumer()
                except Exception as exc:
                    trouble += 1
                    self._trouble("cannot open the consumer", exc, trouble)
                    if stop.wait(trouble_backoff(trouble)):
                        break
                    continue
                trouble = 0
                try:
                    done, handled_now = self._consume(consumer, stop, pool, burst, poll_timeout)
                    handled += handled_now
                finally:
                    try:
                        consumer.close()
                    except Exception as exc:
                        log.warning("%s: closing the consumer failed: %s", self.name, exc)
                if done:
                    break
        except BaseException as exc:
            self.liveness.die(exc)
            raise
        finally:
            if pool is not None:
                pool.shutdown()
        self.liveness.stop()
        return handled

    def _consume(
        self,
        consumer: BusConsumer,
        stop: threading.Event,
        pool: ThreadPoolExecutor | None,
        burst: bool,
        poll_timeout: float,
    ) -> tuple[bool, int]:
        """Returns (finished for good, messages handled); False means reopen the consumer."""
        handled, failures, next_lag = 0, 0, 0.0
        while not stop.is_set():
            self.liveness.beat()
            try:
                batch = consumer.poll(poll_timeout, max_messages=max(self.batch_size, 1))
            except Exception as exc:
                failures += 1
                self._trouble("poll failed", exc, failures)
                if stop.wait(trouble_backoff(failures)):
                    return True, handled
                if failures >= 5:
                    return False, handled  # a fresh consumer may do better
                continue
            failures = 0
            if batch and self.before_batch is not None:
                self.before_batch(batch)
            try:
                if pool is not None:
                    list(pool.map(lambda m: self.process(m, consumer, stop), batch))
                else:
                    for message in batch:
                        if stop.is_set():
                            break  # uncommitted: redelivered to whoever resumes
                        self.process(message, consumer, stop)
            except _Stopped:
                return True, handled
            handled += len(batch)
            if time.monotonic() >= next_lag:
                self._report_lag(consumer)
                next_lag = time.monotonic() + LAG_REPORT_EVERY_S
            if burst and not batch:
                self._report_lag(consumer)
                return True, handled
        return True, handled

    def process(self, message: Message, consumer: BusConsumer, stop: threading.Event) -> str:
        """Handle one message to completion and commit it; returns the outcome."""
        labels = (self.name, message.topic)
        if self._shielded("the done-check", lambda: self.delivery.seen(message), stop):
            metrics.SKIPPED.labels(*labels).inc()
            self._commit(consumer, message, stop)
            return "duplicate"
        self.liveness.busy(message)
        try:
            outcome = self._tries(message, stop)
        finally:
            self.liveness.idle()
        self._commit(consumer, message, stop)
        return outcome

    def _commit(self, consumer: BusConsumer, message: Message, stop: threading.Event) -> None:
        def commit() -> None:
            try:
                consumer.commit(message)
            except CommitLost as exc:  # its new owner redelivers it; done-checks absorb that
                log.warning("%s: %s not committed: %s", self.name, message.event_id, exc)

        self._shielded("commit", commit, stop)

    def _tries(self, message: Message, stop: threading.Event) -> str:
        labels = (self.name, message.topic)
        error, attempt = "", 0
        for attempt in range(1, self.policy.max_tries + 1):
            started = time.perf_counter()
            try:
                result = self.delivery.handle(message, attempt)
            except Reject as exc:
                metrics.FAILED.labels(*labels).inc()
                error = f"{type(exc).__name__}: {exc.detail}"  # Reject, or a named subclass
                break
            except self.policy.permanent as exc:
                metrics.FAILED.labels(*labels).inc()
                error = f"{type(exc).__name__}: {exc}"
                break
            except Exception as exc:
                metrics.FAILED.labels(*labels).inc()
                error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "%s: %s failed (try %d/%d): %s",
                    self.name,
                    message.event_id,
                    attempt,
                    self.policy.max_tries,
                    error,
                )
                if attempt < self.policy.max_tries:
                    metrics.RETRIED.labels(*labels).inc()
                    defer = exc.defer if isinstance(exc, Retry) else None
                    self._wait(defer if defer is not None else self.policy.backoff(attempt), stop)
                continue
            finished = self._shielded(
                "finish", lambda r=result: self.delivery.finish(message, r), stop
            )
            if finished:
                metrics.HANDLED.labels(*labels).inc()
                metrics.HANDLE_SECONDS.labels(*labels).observe(time.perf_counter() - started)
            else:
                metrics.SKIPPED.labels(*labels).inc()
            return "handled"
        self._shielded(
            "dead letter", lambda: self.delivery.dead_letter(message, error, attempt), stop
        )
        metrics.DEAD_LETTERED.labels(*labels).inc()
        log.error(
            "%s: %s dead-lettered after %d tries: %s", self.name, message.event_id, attempt, error
        )
        return "dead_lettered"

    def _wait(self, seconds: float, stop: threading.Event) -> None:
        if self.sleep is not None:
            self.sleep(seconds)
        elif stop.wait(seconds):
            raise _Stopped

    def _shielded(self, what: str, step: Callable[[], T], stop: threading.Event) -> T:
        """Bookkeeping that must happen: retried with back-off until it does, or shutdown."""
        failures = 0
        while True:
            try:
                result = step()
                if failures:
                    self.liveness.recovered()
                return result
            except Exception as exc:
                failures += 1
                self._trouble(f"{what} failed", exc, failures)
                if stop.wait(trouble_backoff(failures)):
                    raise _Stopped from exc

    def _trouble(self, what: str, exc: BaseException, count: int) -> None:
        metrics.TROUBLE.labels(self.name).inc()
        self.liveness.trouble(f"{what}: {type(exc).__name__}: {exc}")
        log.warning("%s: %s (%d in a row): %s: %s", self.name, what, count, type(exc).__name__, exc)

    def _report_lag(self, consumer: BusConsumer) -> None:
        try:
            for topic, lag in consumer.lag().items():
                metrics.CONSUMER_LAG.labels(self.name, topic).set(lag)
        except Exception as exc:
            log.debug("lag unavailable: %s", exc)


def trouble_backoff(failures: int) -> float:
    """How long to wait after ``failures`` backend errors in a row (the relay's too)."""
    return float(min(0.2 * 2 ** (failures - 1), TROUBLE_BACKOFF_MAX_S))
