"""What each stage of the Kafka-chained pipeline does with one message.

The message records are claim checks: a run's settings plus the steps' own artifact records,
which point at folders every stage can read. ``StageOps`` calls the same ``steps`` functions
as the local and KFP runners and returns what to publish next; the consumer loop in
``kafka.py`` owns the broker, the retries and the dead-letter topics.

Redelivery is harmless: preprocess and train are idempotent by config hash; evaluate keeps
the candidates it gathered on disk (so it can commit each as it arrives) and, like infer,
leaves a marker holding the message it published, sent again instead of redoing the work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from millrace.exceptions import InvalidInputError
from millrace.ml.forecasting.data import PreprocessConfig
from millrace.pipelines import steps
from millrace.pipelines.artifacts import Evaluation, Prepared, Promotion, Trained

__all__ = [
    "STAGES",
    "Begin",
    "Candidate",
    "ChainTopics",
    "Chosen",
    "Done",
    "Outcome",
    "Outgoing",
    "StageOps",
    "Start",
    "record",
]

STAGES = ("preprocess", "train", "evaluate", "infer")

# Run ids, registry names and model names become folder names: no separators, no dots first.
SafeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]


@dataclass(frozen=True)
class ChainTopics:
    prefix: str = "pipeline"

    def stage(self, stage: str) -> str:
        return f"{self.prefix}-{stage}"

    @property
    def done(self) -> str:
        return f"{self.prefix}-done"

    @property
    def progress(self) -> str:
        return f"{self.prefix}-progress"

    def all(self) -> list[str]:
        stages = [self.stage(s) for s in STAGES]
        return [*stages, *(f"{t}.dlq" for t in stages), self.done, self.progress]


class Start(BaseModel):
    run_id: SafeName
    name: SafeName
    data: str
    test: str | None = None
    config: dict[str, Any]
    models: list[SafeName] = Field(min_length=1)
    seed: int = 0
    budget_s: float | None = None
    tracking_uri: str | None = None
    owner: str | None = None  # a journey's user: the champion is registered as theirs


class Begin(BaseModel):
    run: Start


class Candidate(BaseModel):
    run: Start
    prepared: Prepared
    model: SafeName


class Outcome(Candidate):
    trained: Trained | None = None
    error: str | None = None


class Chosen(BaseModel):
    run: Start
    prepared: Prepared
    trained: list[Trained]
    failed: dict[str, str]
    evaluation: Evaluation
    promotion: Promotion


class Done(BaseModel):
    run_id: str
    status: Literal["done", "failed"]
    stage: str | None = None
    error: str | None = None
    prepared: Prepared | None = None
    trained: list[Trained] = []
    failed: dict[str, str] = {}
    evaluation: Evaluation | None = None
    promotion: Promotion | None = None
    inferred: int = 0


@dataclass
class Outgoing:
    topic: str
    key: str
    value: dict[str, Any]
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def record(model: BaseModel) -> dict[str, Any]:
    return dict(json.loads(model.model_dump_json()))


def _run_id(payload: dict[str, Any]) -> str | None:
    run = payload.get("run")
    value = run.get("run_id") if isinstance(run, dict) else None
    return value if isinstance(value, str) else None


def _write_json(path: Path, value: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value))
    tmp.replace(path)


class StageOps:
    """What each stage does with one message: call the step, say what to publish next."""

    def __init__(self, work: Path, topics: ChainTopics, train_concurrency: int) -> None:
        self.work = work
        self.topics = topics
        self.train_concurrency = train_concurrency

    def _progress(self, run_id: str, step: str, state: str) -> Outgoing:
        value = {"run_id": run_id, "step": step, "state": state}
        return Outgoing(self.topics.progress, run_id, value)

    def preprocess(self, payload: dict[str, Any]) -> list[Outgoing]:
        run = Begin.model_validate(payload).run
        test = Path(run.test) if run.test else None
        cfg = PreprocessConfig.from_dict(run.config)
        prepared = steps.preprocess(Path(run.data), cfg, self.work, test=test)
        state = "skipped (same input and config)" if prepared.skipped else "done"
        return [
            self._progress(run.run_id, "preprocess", state),
            *(
                Outgoing(
                    self.topics.stage("train"),
                    f"{run.run_id}/{m}",
                    record(Candidate(run=run, prepared=prepared, model=m)),
                )
                for m in run.models
            ),
        ]

    def train(self, payload: dict[str, Any]) -> list[Outgoing]:
        msg = Candidate.model_validate(payload)
        run = msg.run
        per_model = (
            run.budget_s / max(1, len(run.models) / self.train_concurrency)
            if run.budget_s
            else None
        )
        trained = steps.train(
            msg.prepared, msg.model, self.work, run.seed, per_model, run.tracking_uri
        )
        outcome = Outcome(run=run, prepared=msg.prepared, model=msg.model, trained=trained)
        return [
            self._progress(run.run_id, f"train:{msg.model}", "done"),
            Outgoing(self.topics.stage("evaluate"), run.run_id, record(outcome)),
        ]

    def evaluate(self, payload: dict[str, Any]) -> list[Outgoing]:
        msg = Outcome.model_validate(payload)
        run, folder = msg.run, self.work / "chain" / msg.run.run_id
        marker = folder / "evaluated.json"
        if marker.is_file():  # redelivered after the work was done: send the result again
            chosen = json.loads(marker.read_text())
            return [Outgoing(self.topics.stage("infer"), run.run_id, chosen)]
        _write_json(folder / "candidates" / f"{msg.model}.json", record(msg))
        arrived = {
            p.stem: Outcome.model_validate_json(p.read_text())
            for p in (folder / "candidates").glob("*.json")
        }
        if any(m not in arrived for m in run.models):
            return []
        trained = [o.trained for m in run.models if (o := arrived[m]).trained is not None]
        failed = {
            m: arrived[m].error or "no result"
            for m in run.models
            if m not in {t.name for t in trained}
        }
        if not trained:
            raise InvalidInputError(f"every candidate failed: {failed}")
        evaluation = steps.evaluate(msg.prepared, trained, self.work, run.tracking_uri)
        promotion = steps.promote(
            evaluation, run.name, self.work / "registry", run.tracking_uri, run.owner
        )
        chosen = record(
            Chosen(
                run=run,
                prepared=msg.prepared,
                trained=trained,
                failed=failed,
                evaluation=evaluation,
                promotion=promotion,
            )
        )
        _write_json(marker, chosen)
        return [
            self._progress(run.run_id, "evaluate", "done"),
            self._progress(run.run_id, "promote", "done"),
            Outgoing(self.topics.stage("infer"), run.run_id, chosen),
        ]

    def infer(self, payload: dict[str, Any]) -> list[Outgoing]:
        msg = Chosen.model_validate(payload)
        run, marker = msg.run, self.work / "chain" / msg.run.run_id / "done.json"
        if marker.is_file():
            return [Outgoing(self.topics.done, run.run_id, json.loads(marker.read_text()))]
        champion = msg.evaluation.champion_of(msg.trained)
        inferred = steps.infer(
            msg.prepared, champion, self.work / "inference" / f"{run.name}.jsonl"
        )
        done = Done(
            run_id=run.run_id,
            status="done",
            prepared=msg.prepared,
            trained=msg.trained,
            failed=msg.failed,
            evaluation=msg.evaluation,
            promotion=msg.promotion,
            inferred=inferred,
        )
        _write_json(marker, record(done))
        return [Outgoing(self.topics.done, run.run_id, record(done))]

    def failed(self, stage: str, payload: dict[str, Any], error: str) -> list[Outgoing]:
        """What to publish once a message is dead-lettered, besides the dead letter."""
        if stage == "train":  # a failed candidate is reported; the others go on
            try:
                msg = Candidate.model_validate(payload)
            except ValidationError:
                pass
            else:
                outcome = Outcome(run=msg.run, prepared=msg.prepared, model=msg.model, error=error)
                return [
                    self._progress(msg.run.run_id, f"train:{msg.model}", "failed"),
                    Outgoing(self.topics.stage("evaluate"), msg.run.run_id, record(outcome)),
                ]
        run_id = _run_id(payload)
        if run_id is None:
            return []
        done = Done(run_id=run_id, status="failed", stage=stage, error=error)
        return [Outgoing(self.topics.done, run_id, record(done))]
