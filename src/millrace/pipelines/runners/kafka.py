"""The pipeline as stages chained over Kafka topics (seed 000's ``USE_KAFKA`` mode).

``<prefix>-preprocess -> <prefix>-train (one message per candidate) -> <prefix>-evaluate
(gathers a run's candidates, evaluates, promotes) -> <prefix>-infer -> <prefix>-done``.
Messages are claim checks; what each stage does is in ``kafka_ops`` and calls the same
``steps`` functions as the local and KFP runners.

Delivery is at least once: a stage commits its offset only after what it produced is on
the broker, so a crash means redelivery, which the stages make harmless. A stage that
raises is retried with back-off; after ``max_tries`` (at once for bad input) the message
goes to ``<topic>.dlq`` with the error in its headers and body. A failed candidate is
reported to evaluate and the run goes on, as in the local runner; any other failure ends
the run with a ``failed`` record on the done topic, so a waiting caller never hangs.
Tansu's ``latest`` offset look-up is unreliable, so the caller reads the done topic from the
beginning, filtered by run id, and never asks for ``latest``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from millrace.events.bus import Message
from millrace.events.loop import ConsumerLoop, Reject, RetryPolicy
from millrace.exceptions import (
    BackendUnavailableError,
    ConfigError,
    InvalidInputError,
    MillraceError,
    NotFoundError,
)
from millrace.ml.forecasting.data import PreprocessConfig
from millrace.pipelines.runners.kafka_ops import (
    STAGES,
    Begin,
    ChainTopics,
    Done,
    Outgoing,
    StageOps,
    Start,
    record,
)
from millrace.pipelines.runners.local import (
    DEFAULT_MODELS,
    PipelineRun,
    Progress,
    import_libraries,
)

try:
    from confluent_kafka import (
        OFFSET_BEGINNING,
        Consumer,
        KafkaError,
        Producer,
        TopicPartition,
    )

    from millrace.events.kafka import KafkaConsumer, ensure_topics, max_poll_interval_ms
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ConfigError(
        "the Kafka-chained pipeline needs confluent-kafka: pip install 'millrace[kafka]'"
    ) from exc

__all__ = [
    "STAGES",
    "ChainFailedError",
    "ChainTimeoutError",
    "ChainTopics",
    "StageSettings",
    "StageWorkers",
    "run_kafka_chain",
    "run_stage",
    "stage_workers",
    "wait_for_run",
]

log = logging.getLogger("millrace.pipeline.kafka")

# Input that retrying cannot fix: straight to the dead-letter topic.
_PERMANENT = (InvalidInputError, NotFoundError, ValidationError)


class ChainFailedError(MillraceError):
    """A run ended in a stage's dead-letter topic, or a stage worker stopped."""

    def __init__(self, detail: str, *, stage: str | None = None) -> None:
        super().__init__(detail, stage=stage)
        self.stage = stage


class ChainTimeoutError(ChainFailedError):
    """No result for the run within the timeout: the stage workers are missing or slow."""


@dataclass(frozen=True)
class StageSettings:
    """How a stage worker handles messages."""

    train_concurrency: int = 4  # candidates trained side by side by one train worker
    max_tries: int = 3
    backoff_s: float = 0.5  # doubled after each failed try
    # A message handled for longer costs the worker its partitions (librdkafka's
    # max.poll.interval.ms) and is redelivered: long enough for a neural candidate.
    max_handle_s: float = 6 * 3600


class PoisonedMessage(Reject):
    """The message value is not JSON: no try can read it."""


class _StageDelivery:
    """A stage's side of the shared consumer loop: run the step, produce what it made."""

    def __init__(self, worker: _StageWorker) -> None:
        self.worker = worker

    def seen(self, message: Message) -> bool:
        return False  # stages make redelivery harmless themselves (claim checks, hashes)

    def handle(self, message: Message, attempt: int) -> list[Outgoing]:
        if "_undecodable" in message.payload:
            raise PoisonedMessage("the value is not JSON")
        return self.worker.handle(message.payload)

    def finish(self, message: Message, result: list[Outgoing]) -> bool:
        _publish(self.worker.producer, result)  # on the broker before the offset moves
        return True

    def dead_letter(self, message: Message, error: str, attempts: int) -> None:
        _publish(self.worker.producer, self.worker.letters(message, error, attempts))


class _StageWorker:
    """One stage's consumer: the shared ``ConsumerLoop`` over the stage's topic."""

    def __init__(
        self,
        stage: str,
        bootstrap: str,
        work: Path,
        topics: ChainTopics,
        settings: StageSettings,
    ) -> None:
        if stage not in STAGES:
            raise InvalidInputError(f"unknown stage {stage!r}: choose from {', '.join(STAGES)}")
        self.stage, self.bootstrap, self.topics = stage, bootstrap, topics
        self.topic = topics.stage(stage)
        # Candidates of one batch train side by side; the other stages go one at a time.
        concurrency = max(1, settings.train_concurrency) if stage == "train" else 1
        self.stages = StageOps(work, topics, max(1, settings.train_concurrency))
        self.handle: Callable[[dict[str, Any]], list[Outgoing]] = getattr(self.stages, stage)
        self.producer = _producer(bootstrap)
        group = f"{topics.prefix}-{stage}"
        extra = {"max.poll.interval.ms": max_poll_interval_ms(settings.max_handle_s)}
        self.loop: ConsumerLoop[list[Outgoing]] = ConsumerLoop(
            name=group,
            open_consumer=lambda: KafkaConsumer(bootstrap, group, [self.topic], extra),
            delivery=_StageDelivery(self),
            policy=RetryPolicy(
                max_tries=max(1, settings.max_tries),
                backoff_base=settings.backoff_s,
                backoff_max=max(settings.backoff_s, 30.0),
                permanent=_PERMANENT,
            ),
            concurrency=concurrency,
            batch_size=concurrency,  # what is taken is handled at once: no waiting offsets
            before_batch=self._before_batch if stage == "train" else None,
        )

    @property
    def crashed(self) -> str | None:
        return self.loop.liveness.error

    def run(self, stop: threading.Event, poll_timeout: float = 0.5) -> None:
        try:
            self.loop.run(stop, poll_timeout=poll_timeout)
        finally:
            self.producer.flush(10)

    def _before_batch(self, batch: Sequence[Message]) -> None:
        # Before the threads: concurrent first imports of torch or prophet break.
        import_libraries([str(m.payload.get("model")) for m in batch])

    def letters(self, message: Message, error: str, attempts: int) -> list[Outgoing]:
        log.error("%s: dead-lettered after %d tries: %s", self.stage, attempts, error)
        letter = {
            "error": error[:4000],
            "error_type": error.split(":", 1)[0],
            "attempts": attempts,
            "stage": self.stage,
            "original_topic": message.topic,
            "original_partition": message.partition,
            "original_offset": message.offset,
            "original_key": message.key,
            "original": message.payload,
        }
        headers = [
            ("error", error[:1000].encode()),
            ("error_type", letter["error_type"].encode()),
            ("attempts", str(attempts).encode()),
            ("original_topic", message.topic.encode()),
        ]
        return [
            Outgoing(f"{self.topic}.dlq", message.key, letter, headers),
            *self.stages.failed(self.stage, message.payload, error),
        ]


def _producer(bootstrap: str) -> Producer:
    return Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5}
    )


def _publish(producer: Producer, outs: Sequence[Outgoing]) -> None:
    """Send and wait: an offset is committed only after what it produced is on the broker."""
    errors: list[str] = []

    def delivered(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    for out in outs:
        producer.produce(
            out.topic,
            key=out.key.encode(),
            value=json.dumps(out.value).encode(),
            headers=out.headers,
            on_delivery=delivered,
        )
    left = producer.flush(30)
    if errors or left:
        raise BackendUnavailableError(
            f"cannot publish to Kafka: {errors[0] if errors else 'timeout'}"
        )


class StageWorkers:
    """Stage consumers running in threads of this process."""

    def __init__(self, workers: list[_StageWorker], threads: list[threading.Thread]) -> None:
        self.workers, self.threads = workers, threads

    def check(self) -> None:
        for worker, thread in zip(self.workers, self.threads, strict=True):
            if worker.crashed is not None or not thread.is_alive():
                raise ChainFailedError(
                    f"the {worker.stage} stage worker stopped: {worker.crashed}", stage=worker.stage
                )


@contextmanager
def stage_workers(
    bootstrap: str,
    work: Path,
    *,
    topics: ChainTopics = ChainTopics(),
    stages: Sequence[str] = STAGES,
    settings: StageSettings = StageSettings(),
) -> Iterator[StageWorkers]:
    """Run the stage consumers in daemon threads until the block ends."""
    ensure_topics(bootstrap, topics.all())
    stop = threading.Event()
    workers = [_StageWorker(s, bootstrap, work, topics, settings) for s in stages]
    threads = [
        threading.Thread(target=w.run, args=(stop,), name=f"stage-{w.stage}", daemon=True)
        for w in workers
    ]
    for t in threads:
        t.start()
    try:
        yield StageWorkers(workers, threads)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)


def run_stage(
    stage: str,
    bootstrap: str,
    work: Path,
    *,
    topics: ChainTopics = ChainTopics(),
    stop: threading.Event | None = None,
    settings: StageSettings = StageSettings(),
) -> None:
    """Run one stage in this thread until ``stop`` is set: one stage per process."""
    worker = _StageWorker(stage, bootstrap, work, topics, settings)
    ensure_topics(bootstrap, topics.all())
    worker.run(stop or threading.Event())


def wait_for_run(
    bootstrap: str,
    run_id: str,
    *,
    topics: ChainTopics = ChainTopics(),
    timeout_s: float = 3600.0,
    progress: Progress = lambda _s, _t: None,
    check: Callable[[], None] = lambda: None,
) -> Done:
    """Read the done and progress topics from the beginning until ``run_id`` ends.

    Partitions are assigned, not subscribed: no consumer group to join, nothing committed,
    and no ``latest`` offset look-up (unreliable on Tansu).
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topics.prefix}-waiter-{run_id}",
            "enable.auto.commit": False,
        }
    )
    last = "nothing yet"
    try:
        meta = consumer.list_topics(timeout=10)
        consumer.assign(
            [
                TopicPartition(t, p, OFFSET_BEGINNING)
                for t in (topics.done, topics.progress)
                for p in meta.topics[t].partitions
            ]
        )
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            check()
            for m in consumer.consume(num_messages=100, timeout=min(1.0, left)):
                if m.error() is not None or (m.key() or b"").decode() != run_id:
                    continue
                try:
                    value = json.loads(m.value() or b"{}")
                    if m.topic() == topics.done:  # the end; progress may arrive after it
                        done = Done.model_validate(value)
                        progress(done.stage or "infer", done.status)
                        return done
                    step, state = str(value["step"]), str(value["state"])
                except (ValueError, KeyError, TypeError) as exc:  # not ours: log, wait on
                    log.warning("unreadable record for run %s on %s: %s", run_id, m.topic(), exc)
                    continue
                last = f"{step} {state}"
                progress(step, state)
    finally:
        consumer.close()
    raise ChainTimeoutError(
        f"pipeline run {run_id} gave no result within {timeout_s:g} s (last step: {last}); "
        "are the stage workers running (millrace pipeline stage NAME)?"
    )


def run_kafka_chain(
    data: Path,
    cfg: PreprocessConfig,
    work: Path,
    *,
    name: str,
    bootstrap: str,
    models: Sequence[str] = DEFAULT_MODELS,
    test: Path | None = None,
    budget_s: float | None = None,
    seed: int = 0,
    tracking_uri: str | None = None,
    owner: str | None = None,
    timeout_s: float = 3600.0,
    progress: Progress = lambda _s, _t: None,
    topics: ChainTopics = ChainTopics(),
    in_process: bool = True,
    settings: StageSettings = StageSettings(),
) -> PipelineRun:
    """Publish a run to the chain and wait for its result.

    With ``in_process`` the stage consumers run in threads here for the run's duration;
    without, workers started with ``millrace pipeline stage NAME`` must be running.
    """
    try:
        start = Start(
            run_id=uuid.uuid4().hex,
            name=name,
            data=str(data.resolve()),
            test=str(test.resolve()) if test else None,
            config=asdict(cfg),
            models=list(dict.fromkeys(models)),
            seed=seed,
            budget_s=budget_s,
            tracking_uri=tracking_uri,
            owner=owner,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInputError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    stages = STAGES if in_process else ()
    with stage_workers(bootstrap, work, topics=topics, stages=stages, settings=settings) as workers:
        begin = Outgoing(topics.stage("preprocess"), start.run_id, record(Begin(run=start)))
        _publish(_producer(bootstrap), [begin])
        progress("preprocess", "queued")
        done = wait_for_run(
            bootstrap,
            start.run_id,
            topics=topics,
            timeout_s=timeout_s,
            progress=progress,
            check=workers.check,
        )
    if done.status == "failed" or done.prepared is None:
        raise ChainFailedError(
            f"pipeline run {start.run_id} failed at {done.stage} "
            f"(dead-lettered to {topics.stage(done.stage or '?')}.dlq): {done.error}",
            stage=done.stage,
        )
    order = start.models
    return PipelineRun(
        prepared=done.prepared,
        trained=sorted(done.trained, key=lambda t: order.index(t.name)),
        failed=done.failed,
        evaluation=done.evaluation,
        promotion=done.promotion,
        inferred=done.inferred,
    )
