"""``millrace datasets`` and ``millrace journeys``: upload data and follow its journey."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from millrace.cli.remote import (
    JsonOpt,
    TokenOpt,
    UrlOpt,
    connect,
    emit_json,
    finish,
    follow,
    hints,
    journey_view,
    out,
    print_table,
    when,
)

__all__ = ["datasets_app", "journeys_app"]

datasets_app = typer.Typer(help="Upload and list datasets (talks to MILLRACE_URL).")
journeys_app = typer.Typer(help="Follow, answer and retry journeys (talks to MILLRACE_URL).")

TargetOpt = Annotated[str | None, typer.Option("--target", help="The target column")]
TaskOpt = Annotated[
    str | None, typer.Option("--task", help="classification, regression or forecasting")
]
SensitiveOpt = Annotated[
    str | None, typer.Option("--sensitive", help="Sensitive columns, comma-separated")
]
BudgetOpt = Annotated[float | None, typer.Option("--budget", help="AutoML time budget, seconds")]
FavourableOpt = Annotated[
    str | None,
    typer.Option("--favorable-label", help="The target value that is the good outcome"),
]
PrivilegedOpt = Annotated[
    str | None,
    typer.Option(
        "--privileged", help="Reference group per sensitive column, e.g. sex=Male,race=White"
    ),
]
MetricOpt = Annotated[
    str | None, typer.Option("--metric", help="AutoML metric, e.g. roc_auc, log_loss, r2")
]


def _groups(value: str | None) -> dict[str, str] | None:
    """``sex=Male,race=White`` as a map; the API checks the groups against the data."""
    if not value:
        return None
    pairs = [p.partition("=") for p in value.split(",") if p.strip()]
    if any(not k.strip() or not sep or not v.strip() for k, sep, v in pairs):
        raise typer.BadParameter("use column=group pairs, e.g. sex=Male,race=White")
    return {k.strip(): v.strip() for k, _sep, v in pairs}


WaitOpt = Annotated[bool, typer.Option("--wait", help="Follow the journey until it stops")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds --wait waits at most")]


@datasets_app.command("upload")
def upload(
    path: Annotated[
        Path, typer.Argument(help="A CSV, Parquet or XLSX file", exists=True, dir_okay=False)
    ],
    user: Annotated[
        str | None, typer.Option("--user", help="Owner (default: the token's user)")
    ] = None,
    dataset_id: Annotated[
        str | None, typer.Option("--dataset", help="Dataset id (default: from the file name)")
    ] = None,
    target: TargetOpt = None,
    task: TaskOpt = None,
    sensitive: SensitiveOpt = None,
    budget: BudgetOpt = None,
    favorable_label: FavourableOpt = None,
    privileged: PrivilegedOpt = None,
    metric: MetricOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 900,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Upload a file as a new dataset version; its journey starts when it has a target.

    With --wait, follow the journey: exit code 1 if it failed, 3 if it waits in needs_input.

    Example: millrace datasets upload credit.csv --target default --sensitive sex --wait
    """
    with connect(url, token) as client:
        owner = user or client.me()["user_id"]
        body = client.upload_dataset(
            path,
            user_id=owner,
            dataset_id=dataset_id,
            target_column=target,
            task_type=task,
            sensitive_columns=hints(sensitive),
            time_budget_s=budget,
            favorable_label=favorable_label,
            privileged_groups=_groups(privileged),
            metric=metric,
        )
        version = body["version"]
        if not wait:
            if as_json:
                emit_json(body)
                return
            out.print(f"uploaded [bold]{body['id']}[/] v{version['version']} ({_shape(body)})")
            out.print(f"its journey: millrace journeys list --dataset {body['id']}")
            return
        journey_id = client.wait_for_journey_id(body["id"], version["version"])
        journey = follow(client, journey_id, timeout, quiet=as_json)
        finish(client, journey, as_json, extra={"dataset": body})


def _shape(body: dict[str, Any]) -> str:
    version = body["version"]
    schema = next((f["table_schema"] for f in version["files"] if f.get("table_schema")), None)
    if not schema:
        return f"{version['file_count']} files, {version['size_bytes']} bytes"
    return f"{schema.get('row_count', '?')} rows, {len(schema.get('columns', []))} columns"


@datasets_app.command("list")
def list_datasets(
    query: Annotated[str | None, typer.Option("--query", "-q", help="Search ids and names")] = None,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """List your datasets with their latest version.

    Example: millrace datasets list --json
    """
    with connect(url, token) as client:
        items = client.datasets(query)
    if as_json:
        emit_json(items)
        return
    table = Table("dataset", "latest", "versions", "updated")
    for d in items:
        table.add_row(
            d["id"], f"v{d['latest_version']}", str(len(d["versions"])), when(d["updated_at"])
        )
    print_table(table)


@journeys_app.command("list")
def list_journeys(
    dataset: Annotated[str | None, typer.Option("--dataset", help="Only this dataset's")] = None,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """List your latest journeys, newest first.

    Example: millrace journeys list --dataset credit
    """
    with connect(url, token) as client:
        items = client.journeys(dataset)
    if as_json:
        emit_json(items)
        return
    table = Table("dataset", "state", "target")  # newest first; --json has the times
    table.add_column("journey", no_wrap=True)  # whole: it is what people copy
    for j in items:
        state = j["state"] + (f" at {j['failed_step']}" if j.get("failed_step") else "")
        table.add_row(
            f"{j['dataset_id']} v{j['dataset_version']}",
            state,
            j["target_column"] or "-",
            j["id"],
        )
    print_table(table)


@journeys_app.command("show")
def show(
    journey_id: Annotated[str, typer.Argument(help="The journey id")],
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 900,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Show a journey's steps with their durations, outputs and links.

    With --wait, follow it: exit code 1 if it failed, 3 if it waits in needs_input.

    Example: millrace journeys show 3f2a9c0d5e6b4a1f8c7d2e3b4a5f6c7d --wait
    """
    with connect(url, token) as client:
        if wait:
            finish(client, follow(client, journey_id, timeout, quiet=as_json), as_json)
            return
        journey = client.journey(journey_id)
        if as_json:
            emit_json(journey)
        else:
            journey_view(client, journey)


@journeys_app.command("answer")
def answer(
    journey_id: Annotated[str, typer.Argument(help="A journey waiting in needs_input")],
    target: TargetOpt = None,
    task: TaskOpt = None,
    sensitive: SensitiveOpt = None,
    budget: BudgetOpt = None,
    favorable_label: FavourableOpt = None,
    privileged: PrivilegedOpt = None,
    metric: MetricOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 900,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Give a journey waiting in needs_input what it asked for; it starts at once.

    Exit code 3 if it still needs input (the reason says what is missing).

    Example: millrace journeys answer 3f2a9c0d5e6b4a1f8c7d2e3b4a5f6c7d --target default
    """
    with connect(url, token) as client:
        journey = client.answer_journey(
            journey_id,
            target_column=target,
            task_type=task,
            sensitive_columns=hints(sensitive),
            time_budget_s=budget,
            favorable_label=favorable_label,
            privileged_groups=_groups(privileged),
            metric=metric,
        )
        if wait and journey["state"] != "needs_input":
            journey = follow(client, journey_id, timeout, quiet=as_json)
        finish(client, journey, as_json)  # still needs_input (the answer did not do): exit 3


@journeys_app.command("retry")
def retry(
    journey_id: Annotated[str, typer.Argument(help="A failed journey")],
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 900,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Resume a failed journey at the step that failed.

    With --wait, exit code 1 if it fails again.

    Example: millrace journeys retry 3f2a9c0d5e6b4a1f8c7d2e3b4a5f6c7d --wait
    """
    with connect(url, token) as client:
        journey = client.retry_journey(journey_id)
        if wait:
            journey = follow(client, journey_id, timeout, quiet=as_json)
        finish(client, journey, as_json)
