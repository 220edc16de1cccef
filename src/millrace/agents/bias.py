"""The bias agent: a data-quality profile and fairness metrics for a dataset version."""

from __future__ import annotations

import hashlib

from millrace.events.bus import Message
from millrace.events.runner import HandlerContext, Reject
from millrace.events.topics import Topic
from millrace.exceptions import InvalidInputError
from millrace.ml.fairness.report import build_bias_report, render_bias_html
from millrace.ml.tabular.data import load_frame
from millrace.warehouse.ids import parse_version
from millrace.warehouse.models import ReportKind
from millrace.warehouse.reports import create_json_report

__all__ = ["GROUP", "TOPICS", "derived_id", "handle"]

GROUP = "bias"
TOPICS = [Topic.BIAS_TRIGGER.value]


def derived_id(event_id: str, *parts: str) -> str:
    """A stable id for what an event produces: redelivery finds it instead of making more."""
    return hashlib.sha256("/".join((event_id, *parts)).encode()).hexdigest()[:32]


def handle(message: Message, ctx: HandlerContext) -> None:
    p = message.payload
    version = parse_version(p["version"])
    target, task = p.get("target_column_name"), p.get("task_type")
    if not target or not task:
        raise Reject("the bias trigger names no target column or task type")
    try:
        frame = load_frame(ctx.warehouse, p["user_id"], p["dataset_id"], version)
        report = build_bias_report(
            frame,
            target,
            task,
            list(p.get("sensitive_columns") or []),
            favorable_label=p.get("favorable_label"),
            privileged_groups=p.get("privileged_groups"),
            min_group_size=ctx.warehouse.settings.fairness_min_group_size,
        )
    except (InvalidInputError, KeyError, ValueError) as exc:
        raise Reject(f"cannot profile the dataset: {exc}") from exc
    html = render_bias_html(report, f"Bias report: {p['dataset_id']} v{version}")
    create_json_report(
        ctx.warehouse,
        kind=ReportKind.BIAS,
        owner_id=p["user_id"],
        dataset_id=p["dataset_id"],
        dataset_version=version,
        content=report,
        target_column=target,
        task_type=task,
        report_id=derived_id(message.event_id, "bias"),
        html=html.encode(),
        event_extra={"journey_id": p.get("journey_id")},
    )
