"""The whole journey with the real agents on the embedded bus, driven in-process."""

from __future__ import annotations

import json

import pytest
from fairlearn.metrics import demographic_parity_difference, demographic_parity_ratio
from sqlalchemy import func, select

from millrace.ml.tracking import CHAMPION, registered_name
from millrace.warehouse.assets import get_asset
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import AssetKind, OutboxEvent, Report
from tests.agents.world import World, diabetes_frame

BUDGET = 6.0


@pytest.fixture(scope="module")
def done() -> dict[str, object]:
    return {}


def _complete(world: World) -> tuple[str, object]:
    frame = diabetes_frame()
    dataset_id = world.upload(
        frame, target_column="high_risk", sensitive_columns=["sex"], time_budget_s=BUDGET
    )
    return dataset_id, world.drive(dataset_id)


def test_journey_completes_with_every_output(world: World) -> None:
    dataset_id, journey = _complete(world)
    assert journey.state == "completed", journey.reason
    assert journey.task_type == "classification" and journey.task_type_inferred
    steps = journey.steps
    assert [steps[s]["state"] for s in ("bias", "automl", "xai")] == ["done"] * 3
    for s in ("bias", "automl", "xai"):
        assert steps[s]["started_at"] <= steps[s]["finished_at"]
    bias_id = steps["bias"]["outputs"]["bias_report_id"]
    model_id = steps["automl"]["outputs"]["model_id"]
    reports = steps["xai"]["outputs"]["reports"]
    assert set(reports) == {
        "model_explanation/beginner",
        "model_explanation/expert",
        "data_explanation/beginner",
        "data_explanation/expert",
    }
    wh = world.wh
    with session_scope(wh.sessions) as session:
        bias = session.scalars(select(Report).where(Report.report_id == bias_id)).one()
        model = get_asset(session, AssetKind.MODEL, world.user_id, model_id)
        (version,) = model.versions
        files = {f.path for f in version.files}
        attrs = dict(version.attributes)
        xai = session.scalars(select(Report).where(Report.report_id.in_(reports.values()))).all()
        keys = [r.storage_key for r in xai]
    # Bias: a real profile and fairness per group of the sensitive column.
    quality = bias.content["quality"]
    assert quality["rows"] == 442 and quality["duplicate_rows"] == 0
    assert set(bias.content["fairness"]["attributes"]["sex"]["groups"]) == {"1", "2"}
    assert b"Selection rate by sex" in wh.storage.read_bytes(bias.storage_key)
    # AutoML: a safe package, a leaderboard, held-out scores, within the budget.
    assert files >= {"model.skops", "encoder.json", "leaderboard.json", "metrics.json"}
    assert not version.has_unsafe_files
    assert attrs["training_dataset"] == dataset_id and attrs["training_dataset_version"] == 1
    assert (
        len(
            json.loads(
                wh.storage.read_bytes(
                    next(f.storage_key for f in version.files if f.path == "leaderboard.json")
                )
            )
        )
        >= 2
    )
    assert 0.5 < attrs["test_scores"]["accuracy"] <= 1
    assert attrs["train_and_upload_s"] <= BUDGET * 1.1
    sex_model = attrs["model_fairness"]["attributes"]["sex"]
    assert sex_model["vs_reference"]  # the other group against the (assumed) reference
    assert "equal_opportunity_difference" in next(iter(sex_model["vs_reference"].values()))
    # MLflow: registered, with the champion alias on this run.
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(wh.settings.resolved_mlflow_uri)
    champion = MlflowClient().get_model_version_by_alias(
        registered_name(world.user_id, model_id), CHAMPION
    )
    assert champion.tags.get("dataset_id") == dataset_id or champion.run_id
    # XAI: four real HTML reports with embedded charts.
    pages = [wh.storage.read_bytes(k) for k in keys]
    assert all(p.startswith(b"<!doctype html>") for p in pages)
    assert sum(b"data:image/png;base64" in p for p in pages) >= 2
    # Which explainer depends on the model AutoML picks (trees, linear, an ensemble).
    kinds = (b"TreeExplainer", b"LinearExplainer", b"PermutationExplainer")
    assert any(kind in p for p in pages for kind in kinds)
    assert any(
        b"Fairness of the model&#x27;s predictions" in p
        or b"Fairness of the model's predictions" in p
        for p in pages
    )


def test_redelivering_every_event_changes_nothing(world: World) -> None:
    """Replay the whole log to every agent under fresh groups (no processed marks): the
    handlers' own idempotency must hold - as after a crash between work and commit."""
    dataset_id, journey = _complete(world)
    before = _counts(world, dataset_id)
    world.run_agents(groups_suffix="-replay", rounds=2)
    after_journey = world.journey(dataset_id)
    assert _counts(world, dataset_id) == before
    assert after_journey.state == "completed"
    assert after_journey.completed_at == journey.completed_at


def _counts(world: World, dataset_id: str) -> dict[str, int]:
    with session_scope(world.wh.sessions) as session:
        reports = (
            session.execute(
                select(Report.kind, func.count())
                .where(Report.owner_id == world.user_id, Report.dataset_id == dataset_id)
                .group_by(Report.kind)
            )
            .tuples()
            .all()
        )
        model = get_asset(session, AssetKind.MODEL, world.user_id, f"{dataset_id}-automl")
        events = (
            session.execute(
                select(OutboxEvent.topic, func.count())
                .where(OutboxEvent.key.contains(dataset_id))
                .group_by(OutboxEvent.topic)
            )
            .tuples()
            .all()
        )
        return {
            **{f"report:{k}": n for k, n in reports},
            "model_versions": len(model.versions),
            **{f"events:{t}": n for t, n in events},
        }


def test_fairness_numbers_match_fairlearn(world: World) -> None:
    frame = diabetes_frame()
    dataset_id = world.upload(
        frame,
        target_column="high_risk",
        task_type="classification",
        sensitive_columns=["sex", "age"],
    )
    world.run_agents(rounds=2, only=("core", "bias"))  # started, then the bias report
    journey = world.journey(dataset_id)
    bias_id = journey.steps["bias"]["outputs"]["bias_report_id"]
    with session_scope(world.wh.sessions) as session:
        report = session.scalars(select(Report).where(Report.report_id == bias_id)).one()
    sex = report.content["fairness"]["attributes"]["sex"]
    y = frame["high_risk"]
    groups = frame["sex"].astype(int).astype(str)
    worst = sex["worst_case"]
    assert worst["disparate_impact_min_over_max"] == pytest.approx(
        demographic_parity_ratio(y, y, sensitive_features=groups), abs=1e-9
    )
    assert worst["statistical_parity_max_minus_min"] == pytest.approx(
        demographic_parity_difference(y, y, sensitive_features=groups), abs=1e-9
    )
    for g, stats in sex["groups"].items():
        assert stats["selection_rate"] == pytest.approx(y[groups == g].mean(), abs=1e-9)
    age = report.content["fairness"]["attributes"]["age"]
    assert len(age["groups"]) == 4  # a continuous attribute is cut into quartiles
