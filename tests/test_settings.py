"""The settings object: defaults, the seed's USE_KFP/USE_KAFKA flags, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from millrace.settings import EventBusKind, Settings
from tests.conftest import millrace_cli


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("USE_KFP", "USE_KAFKA"):
        monkeypatch.delenv(name, raising=False)
    import os

    for name in list(os.environ):
        if name.startswith("MILLRACE_"):
            monkeypatch.delenv(name)


def test_defaults_are_embedded_and_under_the_data_dir() -> None:
    s = Settings()
    home = Path(".millrace").resolve()
    assert s.home == Path(".millrace")
    assert s.resolved_database_url == f"sqlite:///{home / 'millrace.db'}"
    assert s.resolved_storage_url == str(home / "objects")
    assert s.resolved_mlflow_uri == f"sqlite:///{home / 'mlflow.db'}"
    assert s.event_bus_kind is EventBusKind.EMBEDDED
    assert s.use_kfp is True and s.use_kafka is False


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MILLRACE_HOME", str(tmp_path))
    monkeypatch.setenv("MILLRACE_EVENT_BUS", "kafka://broker:9092")
    monkeypatch.setenv("MILLRACE_STORAGE_URL", "s3://bucket/prefix")
    monkeypatch.setenv("MILLRACE_S3_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("USE_KFP", "0")
    monkeypatch.setenv("USE_KAFKA", "true")
    s = Settings()
    assert s.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'millrace.db'}"
    assert s.kafka_bootstrap == "broker:9092"
    assert s.resolved_storage_url == "s3://bucket/prefix"
    assert s.s3_endpoint_url == "http://minio:9000"
    assert s.use_kafka is True and s.use_kfp is False


def test_both_pipeline_flags_on_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USE_KAFKA", "1")
    with pytest.raises(ValidationError, match="USE_KFP and USE_KAFKA"):
        Settings()


def test_unknown_event_bus_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILLRACE_EVENT_BUS", "rabbitmq://x")
    with pytest.raises(ValidationError, match="MILLRACE_EVENT_BUS"):
        Settings()


def test_cli_reports_bad_settings_in_one_line(tmp_path: Path) -> None:
    done = millrace_cli({"MILLRACE_HOME": str(tmp_path), "USE_KAFKA": "1"}, "api")
    assert done.returncode == 2
    assert "USE_KFP and USE_KAFKA are both on" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2


def test_cli_users_create_prints_a_working_token(tmp_path: Path) -> None:
    env = {"MILLRACE_HOME": str(tmp_path)}
    done = millrace_cli(env, "users", "create", "alice")
    assert done.returncode == 0 and done.stdout.startswith("mr_")
    again = millrace_cli(env, "users", "create", "alice")
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = millrace_cli(env, "users", "create", "../root")
    assert bad.returncode == 1 and "not valid" in bad.stderr
