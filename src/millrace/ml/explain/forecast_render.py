"""The four forecasting XAI reports (model and data, beginner and expert), as HTML.

The same report kinds as the tabular ones, so a journey completes the same way whatever
its task; the contents speak about lags, seasons and the forecast's accuracy instead of
columns and SHAP values.
"""

from __future__ import annotations

from typing import Any

from millrace.ml.explain.forecast import ForecastExplanation
from millrace.ml.html import bar_chart, figure_png, new_figure, page, paragraph, table

__all__ = ["render_forecast_reports"]


def _components_chart(exp: ForecastExplanation) -> list[str]:
    comps = exp.components
    if comps is None or comps.empty:
        return []
    parts = [c for c in ("trend", "yearly", "weekly", "daily") if c in comps.columns]
    fig = new_figure(8, 1.8 * len(parts))
    axes = fig.subplots(len(parts), 1, squeeze=False)
    for ax, name in zip(axes[:, 0], parts, strict=True):
        ax.plot(comps["ds"], comps[name], color="#3b6fb6", linewidth=1)
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return [
        "<h2>Prophet's components over the test window</h2>",
        paragraph(
            "Prophet adds a trend and seasonal curves; each panel is one of them, in the "
            "target's units."
        ),
        figure_png(fig, "Prophet components"),
    ]


def _lag_chart(exp: ForecastExplanation) -> str:
    lags = sorted(exp.lags)
    return bar_chart(
        [f"t-{k}" for k in lags],
        [exp.lags[k] for k in lags],
        "Change of the forecast when one past value is hidden",
        "mean absolute change (target units)",
    )


def render_forecast_reports(
    *, exp: ForecastExplanation, info: dict[str, Any], title: str, target: str
) -> dict[tuple[str, str], str]:
    champion = info.get("champion", exp.model)
    test = info.get("test_scores", {})
    board = info.get("leaderboard", [])
    baseline = next((r for r in board if r.get("model") == "naive"), None)
    top = sorted(exp.lags.items(), key=lambda kv: -kv[1])
    uses_recent = bool(top) and top[0][1] > 0
    beats = (
        f"Its test error (MAE {test.get('mae', float('nan')):.4g}) compares with "
        f"{baseline['test_mae']:.4g} for simply repeating the last value."
        if baseline and "mae" in test
        else ""
    )
    recent = (
        f"The forecast leans most on the value {top[0][0]} step(s) back."
        if uses_recent
        else "The forecast does not depend on the latest values; it follows the calendar."
    )
    lag_chart, components = _lag_chart(exp), _components_chart(exp)  # PNGs: draw once
    model_beginner = page(
        f"{title}: how the forecaster works",
        [
            paragraph(
                f"The best of {len(board)} candidate models was {champion}. It predicts "
                f"{target} {info.get('config', {}).get('horizon', '?')} steps ahead. {beats}"
            ),
            paragraph(recent),
            lag_chart,
            *components,
        ],
    )
    features = sorted(exp.features.items(), key=lambda kv: -kv[1])
    model_expert = page(
        f"{title}: forecaster details",
        [
            "<h2>Leaderboard (chosen on validation, scored on test)</h2>",
            table(board),
            "<h2>Lag attributions (occlusion)</h2>",
            paragraph(
                f"At {exp.origins} origins after the training part, each past value t-k was "
                "replaced by the training mean and the forecast recomputed; the table shows "
                "the mean absolute change of the forecast on the original scale."
            ),
            table([{"lag": f"t-{k}", "mean_abs_change": v} for k, v in top]),
            lag_chart,
            *(
                [
                    "<h2>Input features (occluded over the input window)</h2>",
                    table([{"feature": k, "mean_abs_change": v} for k, v in features]),
                ]
                if features
                else []
            ),
            *components,
        ],
    )
    acf = sorted(exp.autocorrelation.items())
    strongest = max(acf[1:], key=lambda kv: kv[1], default=(0, 0.0))
    data_beginner = page(
        f"{title}: what the series looks like",
        [
            paragraph(
                f"Values of {target} depend strongly on recent ones (autocorrelation at one "
                f"step: {acf[0][1] if acf else float('nan'):.2f}). The strongest repeat after "
                f"the first step is at {strongest[0]} steps ({strongest[1]:.2f})."
            ),
            bar_chart(
                list(exp.profile),
                list(exp.profile.values()),
                f"Average {target} by {exp.profile_by}",
            ),
        ],
    )
    data_expert = page(
        f"{title}: series diagnostics",
        [
            "<h2>Autocorrelation of the training part</h2>",
            table([{"lag": k, "autocorrelation": v} for k, v in acf]),
            f"<h2>Mean by {exp.profile_by}</h2>",
            table([{exp.profile_by: k, "mean": v} for k, v in exp.profile.items()]),
            "<h2>Pipeline configuration</h2>",
            table([{"setting": k, "value": v} for k, v in info.get("config", {}).items()]),
        ],
    )
    return {
        ("model_explanation", "beginner"): model_beginner,
        ("model_explanation", "expert"): model_expert,
        ("data_explanation", "beginner"): data_beginner,
        ("data_explanation", "expert"): data_expert,
    }
