"""A bias report: the data-quality profile plus fairness metrics, as JSON and HTML.

The JSON keeps every figure at full precision (it is what tools compare with AIF360 or
Fairlearn); the HTML rounds for reading.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from millrace.ml.fairness.metrics import (
    DEFAULT_MIN_GROUP_SIZE,
    FOUR_FIFTHS,
    PARITY_TOLERANCE,
    fairness_report,
)
from millrace.ml.fairness.profile import quality_profile
from millrace.ml.html import bar_chart, page, paragraph, table

__all__ = ["build_bias_report", "fairness_sections", "render_bias_html"]

_GROUP_COLUMNS = {
    "count": "rows",
    "favourable_labels": "favourable labels",
    "favourable_predictions": "favourable predictions",
    "selection_rate": "selection rate",
    "true_positive_rate": "TPR",
    "false_positive_rate": "FPR",
}
_VERSUS_COLUMNS = {
    "disparate_impact": "disparate impact",
    "statistical_parity_difference": "statistical parity difference",
    "equal_opportunity_difference": "equal opportunity difference",
    "average_odds_difference": "average odds difference",
    "average_abs_odds_difference": "average abs odds difference",
}


def build_bias_report(
    frame: pd.DataFrame,
    target: str,
    task: str,
    sensitive: list[str],
    *,
    favorable_label: str | None = None,
    privileged_groups: dict[str, str] | None = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> dict[str, Any]:
    fairness = None
    if sensitive:
        fairness = fairness_report(
            frame,
            target,
            task,
            sensitive,
            favorable_label=favorable_label,
            privileged_groups=privileged_groups,
            min_group_size=min_group_size,
        )
    return {
        "target_column": target,
        "task_type": task,
        "sensitive_columns": sensitive,
        "quality": quality_profile(frame, target, task),
        "fairness": fairness,
    }


def _undefined(entries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"group": g, "metric": metric, "why": why}
        for g, e in entries.items()
        for metric, why in e.get("undefined", {}).items()
    ]


def fairness_sections(fairness: dict[str, Any]) -> list[str]:
    """The fairness half, shared by the bias report and the model's XAI report."""
    sections = [
        paragraph(
            f"Favourable outcome: {fairness['favourable_outcome']} "
            f"({fairness.get('favourable_why', '')})."
        ),
        paragraph(
            f"Each group is compared with its attribute's reference (privileged) group, with "
            f"AIF360's definitions and signs: negative differences and a disparate impact "
            f"below 1 mean the group fares worse. Flagged: disparate impact outside "
            f"[{FOUR_FIFTHS}, {1 / FOUR_FIFTHS:.2f}], differences beyond ±{PARITY_TOLERANCE}; "
            f"groups under {fairness.get('min_group_size')} rows are shown but not flagged.",
            "muted",
        ),
    ]
    for column, entry in fairness["attributes"].items():
        groups = entry["groups"]
        ref = entry["reference_group"]
        sections += [
            f"<h3 data-attribute='{html.escape(column, quote=True)}'>{html.escape(column)}</h3>",
            paragraph(f"Reference group: {ref} ({entry['reference_why']})."),
            table(
                [
                    {
                        "group": g + (" (reference)" if g == ref else ""),
                        **{label: v.get(k) for k, label in _GROUP_COLUMNS.items() if k in v},
                        "small": "yes" if v["small"] else "",
                    }
                    for g, v in groups.items()
                ]
            ),
            table(
                [
                    {
                        f"group vs {ref}": g,
                        **{label: v.get(k) for k, label in _VERSUS_COLUMNS.items() if k in v},
                    }
                    for g, v in entry["vs_reference"].items()
                ]
            ),
            table(
                [
                    {"worst case over groups of enough rows": k.replace("_", " "), "value": v}
                    for k, v in entry["worst_case"].items()
                    if k not in {"groups", "undefined"}
                ]
            ),
            bar_chart(
                list(groups),
                [v["selection_rate"] or 0 for v in groups.values()],
                f"Selection rate by {column}",
                "selection rate",
            ),
        ]
        undefined = _undefined(groups) + _undefined(entry["vs_reference"])
        if undefined:
            sections += ["<h4>Undefined values</h4>", table(undefined)]
        sections += [paragraph(note, "muted") for note in entry["notes"]]
        if entry["flags"]:
            sections += [paragraph(flag, "flag") for flag in entry["flags"]]
        else:
            sections.append(paragraph("No thresholds crossed.", "muted"))
    return sections


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
    sections += ["<h2>Fairness</h2>", *fairness_sections(fairness)]
    return page(title, sections)
