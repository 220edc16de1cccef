"""A bias report: the data-quality profile plus fairness metrics, as JSON and HTML."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from millrace.ml.fairness.metrics import FOUR_FIFTHS, fairness_report
from millrace.ml.fairness.profile import quality_profile
from millrace.ml.html import bar_chart, page, paragraph, table

__all__ = ["build_bias_report", "render_bias_html"]


def build_bias_report(
    frame: pd.DataFrame, target: str, task: str, sensitive: list[str]
) -> dict[str, Any]:
    return {
        "target_column": target,
        "task_type": task,
        "sensitive_columns": sensitive,
        "quality": quality_profile(frame, target, task),
        "fairness": fairness_report(frame, target, task, sensitive) if sensitive else None,
    }


def render_bias_html(report: dict[str, Any], title: str) -> str:
    q = report["quality"]
    sections = [
        paragraph(
            f"{q['rows']} rows, {q['columns']} columns; target "
            f"'{report['target_column']}' ({report['task_type']})."
        ),
        "<h2>Data quality</h2>",
        table(
            [
                {"check": "duplicate rows", "result": q["duplicate_rows"]},
                {"check": "constant columns", "result": ", ".join(q["constant_columns"])},
                {"check": "all-missing columns", "result": ", ".join(q["all_missing_columns"])},
                {
                    "check": "text columns that are mostly numeric",
                    "result": ", ".join(i["column"] for i in q["type_issues"]),
                },
            ]
        ),
        "<h3>Missing values</h3>",
        table([{"column": c, **v} for c, v in q["missing"].items()]),
        "<h3>Label balance</h3>",
        table(
            [{"value": k, "count": v} for k, v in q["label_balance"].get("counts", {}).items()]
            or [{"statistic": k, "value": v} for k, v in q["label_balance"].items()]
        ),
        "<h3>Highly correlated pairs</h3>",
        table(q["high_correlations"]),
    ]
    fairness = report.get("fairness")
    if not fairness:
        sections.append(
            paragraph("No sensitive columns were given, so no fairness metrics.", "muted")
        )
        return page(title, sections)
    sections += [
        "<h2>Fairness</h2>",
        paragraph(f"Favourable outcome: {fairness['favourable_outcome']}."),
    ]
    for column, entry in fairness["attributes"].items():
        groups = entry["groups"]
        sections += [
            f"<h3>{html.escape(column)}</h3>",
            table([{"group": g, **v} for g, v in groups.items()]),
            table(
                [
                    {"metric": "disparate impact ratio", "value": entry["disparate_impact_ratio"]},
                    {
                        "metric": "statistical parity difference",
                        "value": entry["statistical_parity_difference"],
                    },
                ]
            ),
            bar_chart(
                list(groups),
                [v["selection_rate"] or 0 for v in groups.values()],
                f"Selection rate by {column}",
                "selection rate",
            ),
        ]
        if entry["flags"]:
            sections += [paragraph(flag, "flag") for flag in entry["flags"]]
        else:
            sections.append(
                paragraph(
                    f"No thresholds crossed (four-fifths rule at {FOUR_FIFTHS:.0%}).", "muted"
                )
            )
    return page(title, sections)
