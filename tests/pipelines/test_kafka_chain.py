"""The Kafka-chained pipeline on a real broker (Tansu): the local runner's results, claim-check
messages, and failures that land in a dead-letter topic instead of hanging the caller."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from statsforecast.utils import AirPassengersDF

from millrace.ml.forecasting.data import PreprocessConfig
from millrace.pipelines.artifacts import Prepared
from millrace.pipelines.runners.kafka import (
    ChainFailedError,
    ChainTimeoutError,
    ChainTopics,
    StageSettings,
    run_kafka_chain,
    stage_workers,
    wait_for_run,
)
from millrace.pipelines.runners.local import run_local
from tests.conftest import millrace_cli
from tests.pipelines.conftest import write_lte_panel
from tests.support import stop_pid

MODELS = ["naive", "seasonal_naive", "ets", "theta"]
CFG = PreprocessConfig(target="y", horizon=6, input_seq_len=12)


@pytest.fixture
def topics() -> ChainTopics:
    """Topics of their own per test, on the session's broker."""
    return ChainTopics(prefix=f"t{uuid.uuid4().hex[:10]}")


def read_topic(bootstrap: str, topic: str, want: int, timeout: float = 20) -> list[Any]:
    """``want`` messages from the start of ``topic`` (no 'latest' look-ups: Tansu)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"r-{uuid.uuid4().hex}"})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        got: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(got) < want and time.monotonic() < deadline:
            got += [m for m in consumer.consume(100, timeout=0.5) if m.error() is None]
        return got
    finally:
        consumer.close()


def longest_list(value: Any) -> int:
    if isinstance(value, dict):
        return max((longest_list(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return max([len(value), *(longest_list(v) for v in value)])
    return 0


def test_chain_matches_the_local_runner_and_passes_claim_checks(
    air: Path, tmp_path: Path, kafka_bootstrap: str, topics: ChainTopics
) -> None:
    models = [*MODELS, "nope"]  # an unknown candidate fails alone, as in the local runner
    local = run_local(air, CFG, tmp_path / "local", name="air", models=models)
    seen: list[tuple[str, str]] = []
    chain = run_kafka_chain(
        air,
        CFG,
        tmp_path / "chain",
        name="air",
        bootstrap=kafka_bootstrap,
        models=models,
        topics=topics,
        timeout_s=120,
        progress=lambda step, state: seen.append((step, state)),
    )
    assert local.evaluation is not None
    assert chain.evaluation is not None
    assert chain.evaluation.champion == local.evaluation.champion
    for name in MODELS:
        ours, theirs = chain.evaluation.candidates[name], local.evaluation.candidates[name]
        assert ours["test"] == theirs["test"]
        assert ours["validation"] == theirs["validation"]
    assert [t.name for t in chain.trained] == MODELS
    assert chain.failed.keys() == local.failed.keys() == {"nope"}
    assert "unknown model 'nope'" in chain.failed["nope"]
    assert chain.promotion is not None
    assert chain.promotion.champion == local.evaluation.champion
    assert chain.inferred == local.inferred > 0
    assert (tmp_path / "chain" / "inference" / "air.jsonl").read_text() == (
        tmp_path / "local" / "inference" / "air.jsonl"
    ).read_text()
    assert {("train:ets", "done"), ("train:nope", "failed"), ("infer", "done")} <= set(seen)

    # Claim checks: small JSON records pointing at stored folders, never the series itself.
    train = read_topic(kafka_bootstrap, topics.stage("train"), len(models))
    assert sorted(m.key().decode().split("/")[1] for m in train) == sorted(models)
    evaluate = read_topic(kafka_bootstrap, topics.stage("evaluate"), len(models))
    infer = read_topic(kafka_bootstrap, topics.stage("infer"), 1)
    done = read_topic(kafka_bootstrap, topics.done, 1)
    for message in [*train, *evaluate, *infer, *done]:
        assert len(message.value()) < 16_000
        record = json.loads(message.value())
        assert longest_list(record) <= len(models)  # no arrays of data points
        assert (Path(record["prepared"]["uri"]) / "series.npz").is_file()
    for message in evaluate:
        trained = json.loads(message.value())["trained"]
        assert trained is None or Path(trained["uri"]).is_dir()
    (letter,) = read_topic(kafka_bootstrap, f"{topics.stage('train')}.dlq", 1)
    headers = dict(letter.headers())
    assert b"unknown model 'nope'" in headers["error"]
    assert headers["attempts"] == b"1"  # bad input is not retried


def test_bad_input_is_dead_lettered_and_the_run_fails_clearly(
    tmp_path: Path, kafka_bootstrap: str, topics: ChainTopics
) -> None:
    data = tmp_path / "no_time.csv"
    AirPassengersDF.rename(columns={"ds": "when"})[["when", "y"]].to_csv(data, index=False)
    with pytest.raises(ChainFailedError, match=r"failed at preprocess .*no time column 'time'"):
        run_kafka_chain(
            data,
            CFG,
            tmp_path / "work",
            name="air",
            bootstrap=kafka_bootstrap,
            models=MODELS,
            topics=topics,
            timeout_s=60,
        )
    (letter,) = read_topic(kafka_bootstrap, f"{topics.stage('preprocess')}.dlq", 1)
    body = json.loads(letter.value())
    assert body["error_type"] == "InvalidInputError"
    assert body["original"]["run"]["data"] == str(data.resolve())
    assert b"no time column" in dict(letter.headers())["error"]


def test_poisoned_and_broken_messages_are_dead_lettered_and_the_chain_goes_on(
    air: Path, tmp_path: Path, kafka_bootstrap: str, topics: ChainTopics
) -> None:
    quick = StageSettings(max_tries=2, backoff_s=0.05)
    with stage_workers(
        kafka_bootstrap, tmp_path / "work", topics=topics, settings=quick
    ) as workers:
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        producer.produce(topics.stage("preprocess"), key=b"junk", value=b"{not json")
        # A well-formed candidate whose prepared series is gone: retried, then dead-lettered;
        # with no candidate left, evaluate dead-letters the run and the caller hears of it.
        missing = Prepared(
            uri=str(tmp_path / "gone"),
            config_hash="x",
            config={"horizon": 6, "input_seq_len": 12, "target": "y"},
            columns=["y"],
            n=144,
            train_end=100,
            val_end=122,
            step_seconds=2.6e6,
            season=12,
        )
        run = {"run_id": "r1", "name": "air", "data": str(air), "config": {}, "models": ["naive"]}
        candidate = {"run": run, "prepared": missing.model_dump(), "model": "naive"}
        producer.produce(topics.stage("train"), key=b"r1/naive", value=json.dumps(candidate))
        producer.flush(10)
        failed = wait_for_run(
            kafka_bootstrap, "r1", topics=topics, timeout_s=60, check=workers.check
        )
        assert failed.status == "failed"
        assert failed.stage == "evaluate"
        assert "every candidate failed" in (failed.error or "")
        assert "FileNotFoundError" in (failed.error or "")

        # The same workers still run the next run to the end.
        chain = run_kafka_chain(
            air,
            CFG,
            tmp_path / "work",
            name="air",
            bootstrap=kafka_bootstrap,
            models=["naive"],
            topics=topics,
            timeout_s=60,
            in_process=False,
        )
        assert chain.evaluation is not None
        assert chain.evaluation.champion == "naive"

        # Redelivery (a crash after publishing, before committing) repeats no work: infer
        # sends its recorded result again and does not append the forecasts twice.
        log = tmp_path / "work" / "inference" / "air.jsonl"
        before = log.read_text()
        (handed,) = read_topic(kafka_bootstrap, topics.stage("infer"), 1)
        producer.produce(topics.stage("infer"), key=handed.key(), value=handed.value())
        producer.flush(10)
        run_id = handed.key()
        results = [m for m in read_topic(kafka_bootstrap, topics.done, 3) if m.key() == run_id]
        assert len(results) == 2
        assert results[0].value() == results[1].value()
        assert log.read_text() == before

    (poisoned,) = read_topic(kafka_bootstrap, f"{topics.stage('preprocess')}.dlq", 1)
    assert json.loads(poisoned.value())["error_type"] == "PoisonedMessage"
    (broken,) = read_topic(kafka_bootstrap, f"{topics.stage('train')}.dlq", 1)
    assert dict(broken.headers())["attempts"] == b"2"  # a step error is retried
    assert b"FileNotFoundError" in dict(broken.headers())["error"]
    (gave_up,) = read_topic(kafka_bootstrap, f"{topics.stage('evaluate')}.dlq", 1)
    assert json.loads(gave_up.value())["error_type"] == "InvalidInputError"


def test_no_workers_is_a_clear_timeout_not_a_hang(
    air: Path, tmp_path: Path, kafka_bootstrap: str, topics: ChainTopics
) -> None:
    with pytest.raises(ChainTimeoutError, match=r"no result within 2 s.*millrace pipeline stage"):
        run_kafka_chain(
            air,
            CFG,
            tmp_path / "work",
            name="air",
            bootstrap=kafka_bootstrap,
            models=MODELS,
            topics=topics,
            timeout_s=2,
            in_process=False,
        )


def test_use_kafka_without_a_kafka_bus_is_a_clear_error(air: Path, tmp_path: Path) -> None:
    env = {"MILLRACE_HOME": str(tmp_path), "USE_KAFKA": "1", "USE_KFP": "0"}
    done = millrace_cli(env, "pipeline", "run", "--data", str(air), "--target", "y")
    assert done.returncode == 2
    assert "MILLRACE_EVENT_BUS=kafka://" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_stage_runs_as_its_own_process(air: Path, tmp_path: Path, kafka_bootstrap: str) -> None:
    """``millrace pipeline stage preprocess`` in its own process; the rest in this one."""
    home = tmp_path / "home"
    log = (tmp_path / "stage.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "millrace", "pipeline", "stage", "preprocess"],
        env={
            **os.environ,
            "MILLRACE_HOME": str(home),
            "MILLRACE_EVENT_BUS": f"kafka://{kafka_bootstrap}",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        rest = ("train", "evaluate", "infer")
        with stage_workers(kafka_bootstrap, home / "pipelines", stages=rest):
            run = run_kafka_chain(
                air,
                CFG,
                home / "pipelines",
                name="air",
                bootstrap=kafka_bootstrap,
                models=["naive", "seasonal_naive"],
                timeout_s=60,
                in_process=False,
            )
        assert run.evaluation is not None
        assert Path(run.prepared.uri).is_relative_to(home / "pipelines")  # the process's work
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0  # SIGTERM: finish the message in hand, then leave
    finally:
        stop_pid(proc.pid)
        log.close()


def test_chain_matches_the_local_runner_on_a_panel_of_two_targets_with_folds(
    tmp_path: Path, kafka_bootstrap: str, topics: ChainTopics
) -> None:
    """Panels, several targets and backtest folds travel as claim checks intact."""
    data = write_lte_panel(tmp_path / "panel.csv", rows=300)
    cfg = PreprocessConfig(
        target="down", extra_targets=("up",), id_col="station", horizon=2, input_seq_len=8, folds=2
    )
    models = ["naive", "theta"]
    local = run_local(data, cfg, tmp_path / "local", name="panel", models=models)
    chain = run_kafka_chain(
        data,
        cfg,
        tmp_path / "chain",
        name="panel",
        bootstrap=kafka_bootstrap,
        models=models,
        topics=topics,
        timeout_s=120,
    )
    assert local.evaluation is not None and chain.evaluation is not None
    assert chain.evaluation.champion == local.evaluation.champion
    assert chain.evaluation.windows == local.evaluation.windows
    for name in models:
        ours, theirs = chain.evaluation.candidates[name], local.evaluation.candidates[name]
        assert ours["series"] == theirs["series"] and ours["score"] == theirs["score"]
    assert (tmp_path / "chain" / "inference" / "panel.jsonl").read_text() == (
        tmp_path / "local" / "inference" / "panel.jsonl"
    ).read_text()
