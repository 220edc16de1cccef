"""The four XAI reports: model and data explanations, for beginners and for experts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from millrace.ml.explain.explain import Explanation
from millrace.ml.fairness.report import fairness_sections
from millrace.ml.html import bar_chart, figure_png, new_figure, page, paragraph, table

__all__ = ["render_reports"]


def _plain(value: Any) -> str:
    """A score as people read it (0.6517, not 0.651685393258427)."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _ranked(values: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(values.items(), key=lambda kv: -kv[1])


def _beeswarm(exp: Explanation, top: list[str]) -> str:
    fig = new_figure(7, 0.4 * len(top) + 1)
    ax = fig.subplots()
    for row, feature in enumerate(reversed(top)):
        j = exp.features.index(feature)
        vals = exp.shap_values[:, j]
        colour = exp.sample[feature].rank(pct=True).fillna(0.5).to_numpy()
        jitter = np.random.default_rng(row).normal(0, 0.08, len(vals))
        ax.scatter(vals, row + jitter, c=colour, cmap="coolwarm", s=6, alpha=0.7)
    ax.set_yticks(range(len(top)), list(reversed(top)))
    ax.axvline(0, color="#888", linewidth=0.8)
    ax.set_xlabel("SHAP value (impact on the prediction); colour = feature value low→high")
    return figure_png(fig)


def _model_fairness(report: dict[str, Any] | None) -> list[str]:
    """The model's fairness on the held-out split, if sensitive columns were given."""
    if report and "error" in report:
        return [paragraph(f"No fairness figures for the model: {report['error']}", "muted")]
    if not report or "min_group_size" not in report:  # none, or from before issue 17
        return []
    return [
        "<h2>Fairness of the model's predictions (held-out split)</h2>",
        *fairness_sections(report),
    ]


def render_reports(
    *,
    exp: Explanation,
    frame: pd.DataFrame,
    target: str,
    task: str,
    model_info: dict[str, Any],
    title: str,
) -> dict[tuple[str, str], str]:
    ranked = _ranked(exp.mean_abs_shap)
    top = [f for f, _ in ranked[:10]]
    top3 = ", ".join(top[:3])
    perm = sorted(exp.permutation.items(), key=lambda kv: -kv[1]["mean"])
    score = model_info.get("test_scores", {})
    headline = next(iter(score.items()), ("score", None))
    model_beginner = page(
        f"{title}: how the model decides",
        [
            paragraph(
                f"This model predicts '{target}'. On data it never saw during training it "
                f"scored {headline[0]} = {_plain(headline[1])}."
            ),
            paragraph(
                f"The columns that move its predictions most are: {top3}. The longer the "
                "bar below, the more that column matters to the model on average."
            ),
            bar_chart(
                top,
                [exp.mean_abs_shap[f] for f in top],
                "What the model relies on",
                "average impact on the prediction",
            ),
            paragraph(
                "Importance is not causation: a column can matter to the model because it "
                "travels with the real cause.",
                "muted",
            ),
        ],
    )
    model_expert = page(
        f"{title}: model explanation (expert)",
        [
            table(
                [
                    {"key": k, "value": v}
                    for k, v in model_info.items()
                    if k not in {"leaderboard", "test_scores", "model_fairness"}
                ]
            ),
            "<h2>Held-out test scores</h2>",
            table([{"metric": k, "value": v} for k, v in score.items()]),
            f"<h2>SHAP ({exp.explainer}, {len(exp.sample)} rows)</h2>",
            _beeswarm(exp, top),
            table([{"feature": f, "mean_abs_shap": v} for f, v in ranked]),
            f"<h2>Permutation importance ({exp.scoring}, 5 repeats)</h2>",
            table([{"feature": f, "mean": v["mean"], "std": v["std"]} for f, v in perm]),
            *_model_fairness(model_info.get("model_fairness")),
            "<h2>AutoML leaderboard</h2>",
            table(
                [
                    {k: r[k] for k in r if k != "config"}
                    for r in model_info.get("leaderboard", [])[:25]
                ]
            ),
        ],
    )
    y = frame[target]
    missing = frame.isna().mean().sort_values(ascending=False)
    data_beginner = page(
        f"{title}: what is in the data",
        [
            paragraph(
                f"The data has {len(frame)} rows and {frame.shape[1]} columns. The model "
                f"learns to predict '{target}' from the other columns."
            ),
            paragraph(
                f"Most missing: {missing.index[0]} ({missing.iloc[0]:.0%} empty)."
                if missing.iloc[0] > 0
                else "No values are missing."
            ),
            bar_chart(
                [str(k) for k in y.value_counts().index[:10]],
                [float(v) for v in y.value_counts().to_numpy()[:10]],
                f"Most common values of {target}",
                "rows",
            )
            if task == "classification"
            else paragraph(
                f"'{target}' ranges from {y.min():g} to {y.max():g} (median {y.median():g})."
            ),
        ],
    )
    numeric = frame.select_dtypes(include=[np.number])
    corr = (
        numeric.corrwith(numeric[target]).drop(target).dropna()
        if target in numeric.columns
        else pd.Series(dtype=float)
    )
    data_expert = page(
        f"{title}: data explanation (expert)",
        [
            "<h2>Columns</h2>",
            table(
                [
                    {
                        "column": str(c),
                        "dtype": str(frame[c].dtype),
                        "missing": round(float(frame[c].isna().mean()), 4),
                        "unique": int(frame[c].nunique()),
                        "mean_abs_shap": exp.mean_abs_shap.get(str(c)),
                    }
                    for c in frame.columns
                ]
            ),
            "<h2>Correlation with the target</h2>",
            table(
                [
                    {"feature": str(k), "pearson_r": round(float(v), 4)}
                    for k, v in corr.sort_values(key=abs, ascending=False).items()
                ]
            ),
            "<h2>Feature statistics</h2>",
            table(
                [
                    {"column": str(c), **{k: round(float(v), 4) for k, v in s.items()}}
                    for c, s in numeric.describe().T.iterrows()
                ]
            ),
        ],
    )
    return {
        ("model_explanation", "beginner"): model_beginner,
        ("model_explanation", "expert"): model_expert,
        ("data_explanation", "beginner"): data_beginner,
        ("data_explanation", "expert"): data_expert,
    }
