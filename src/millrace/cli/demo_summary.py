"""What ``millrace demo`` prints at the end: the web UI's pages and a runnable predict.

Links go to the web UI's pages (``/#/journeys/<id>``, ``/#/bias/<id>``, ...), which sign
the browser in once with the token; the API's own report URLs want an ``Authorization``
header a browser does not send, so they answered 401 when clicked. Each model gets a
``millrace predict`` line with an input file written beside the data, so the summary
ends with something a newcomer can paste into another shell and see predictions.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from rich.table import Table

from millrace.cli.remote import steps_table

__all__ = ["millrace_command", "predict_line", "summary_table", "ui_links", "write_inputs"]

ROWS_FOR_PREDICT = 5


def ui_links(journey: dict[str, Any], url: str) -> dict[str, str]:
    """The web UI's page for the journey and for each of its outputs, by name."""
    base = f"{url}/#"
    steps = journey["steps"]
    links = {"journey": f"{base}/journeys/{journey['id']}"}
    bias = steps.get("bias", {}).get("outputs", {})
    if bias.get("bias_report_id"):
        links["bias_report"] = f"{base}/bias/{bias['bias_report_id']}"
    model = steps.get("automl", {}).get("outputs", {})
    if model.get("model_id"):
        links["model"] = f"{base}/models/{model['model_id']}"
        if journey.get("task_type") == "forecasting":
            links["forecasts"] = f"{base}/forecasts/{model['model_id']}/v/{model['model_version']}"
    for kind, report_id in (steps.get("xai", {}).get("outputs", {}).get("reports") or {}).items():
        links[f"xai/{kind}"] = f"{base}/xai/{report_id}"
    return links


def summary_table(journey: dict[str, Any], model: dict[str, Any]) -> Table:
    """The journey's steps, then the model it made: champion (or challenger, and why)."""
    table = steps_table(journey)
    table.title = f"Journey {journey['id'][:8]}: {journey['state']}"
    table.caption = "seconds: from the step's trigger to done, waiting for a busy agent included"
    attrs = model["version"]["attributes"]
    verdict = journey["steps"]["automl"].get("outputs", {}).get("promotion") or {}
    role = "challenger" if verdict.get("promoted") is False else "champion"
    table.add_row(
        role,
        f"{model['id']} v{model['version']['version']}",
        "",
        f"{attrs['algorithm']}: test "
        + ", ".join(f"{k}={v:.3g}" for k, v in attrs["test_scores"].items() if v is not None),
    )
    if verdict.get("reason"):
        table.add_row("gate", "", "", verdict["reason"])
    if "train_and_upload_s" in attrs:  # the agent's own work, apart from any queueing
        table.add_row(
            "training",
            "",
            f"{attrs['train_and_upload_s']:.1f}",
            f"of a {attrs['budget_s']:.0f} s budget (training and upload)",
        )
    return table


def write_inputs(
    frames: dict[str, tuple[pd.DataFrame, str | None]], folder: Path
) -> dict[str, Path]:
    """A predict input per model: a few rows without the target (tabular), or the whole
    history (a forecaster forecasts what comes after the rows it is sent)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for model_id, (frame, target) in frames.items():
        rows = frame.drop(columns=[target]).head(ROWS_FOR_PREDICT) if target else frame
        path = folder / f"{model_id}-input.csv"
        rows.to_csv(path, index=False)
        paths[model_id] = path.resolve()
    return paths


def millrace_command() -> str:
    """``millrace`` when the shell finds this very installation under that name, else the
    full path of the script beside this Python (an unactivated ``.venv``)."""
    beside = Path(sys.executable).parent / "millrace"
    found = shutil.which("millrace")
    if beside.is_file() and (found is None or Path(found).resolve() != beside.resolve()):
        return str(beside)
    return "millrace"


def predict_line(model_id: str, path: Path, serve_url: str, token: str) -> str:
    return " ".join(
        [
            f"MILLRACE_TOKEN={shlex.quote(token)}",
            shlex.quote(millrace_command()),
            "predict",
            shlex.quote(model_id),
            "--input",
            shlex.quote(str(path)),
            "--serve-url",
            serve_url,
        ]
    )
