"""``millrace models`` (the registry: which version is live) and ``millrace predict``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from millrace.cli.remote import (
    JsonOpt,
    ServeUrlOpt,
    TokenOpt,
    UrlOpt,
    connect,
    emit_json,
    out,
    print_table,
    when,
)
from millrace.exceptions import InvalidInputError

__all__ = ["models_app", "predict"]

models_app = typer.Typer(help="Champions, versions, promote and roll back (MILLRACE_URL).")
ModelArg = Annotated[str, typer.Argument(help="The model id, e.g. credit-automl")]


def _print_champion(c: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(c)
    else:
        out.print(f"{c['model_id']}: champion is now v{c['champion_version']}")


@models_app.command("list")
def list_models(as_json: JsonOpt = False, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """List your registered models with their live (champion) version.

    Example: millrace models list --json
    """
    with connect(url, token) as client:
        items = client.registry_models()
    if as_json:
        emit_json(items)
        return
    table = Table("model", "kind", "champion")
    table.add_column("since", no_wrap=True)
    for c in items:
        since = when(c["history"][-1].get("at")) if c["history"] else ""
        table.add_row(c["model_id"], c["kind"], f"v{c['champion_version']}", since)
    print_table(table)


@models_app.command("show")
def show(
    model_id: ModelArg, as_json: JsonOpt = False, url: UrlOpt = None, token: TokenOpt = None
) -> None:
    """Show every version of a model with its metrics; * marks the champion.

    Example: millrace models show credit-automl
    """
    with connect(url, token) as client:
        model = client.registry_model(model_id)
    if as_json:
        emit_json(model)
        return
    versions = model["versions"]
    names = sorted({k for v in versions for k in v["metrics"] if k.startswith("test_")})
    names = names or sorted({k for v in versions for k in v["metrics"]})
    out.print(f"{model['registered_name']} (test scores; * is the champion)")
    print_table(_versions_table(versions, names), narrow=_metrics_table(versions, names))
    champion = model["champion"]
    for entry in (champion or {}).get("history", [])[-5:]:
        # No actor: the agent promoted it (as the web UI says).
        out.print(
            f"  v{entry.get('version')} {entry.get('reason', '')} by "
            f"{entry.get('actor') or 'system'} at {when(entry.get('at'))}"
        )


def _score(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else str(value)


def _versions_table(versions: list[dict[str, Any]], names: list[str]) -> Table:
    """One row per version, one column per metric."""
    table = Table("", "version")
    table.add_column("created", no_wrap=True)
    for name in names:
        table.add_column(name.removeprefix("test_"), justify="right")
    for v in versions:
        metrics = [_score(v["metrics"][k]) if k in v["metrics"] else "" for k in names]
        table.add_row("*" if v["champion"] else "", v["version"], when(v["created_at"]), *metrics)
    return table


def _metrics_table(versions: list[dict[str, Any]], names: list[str]) -> Table:
    """The same scores turned on their side, for a terminal too narrow for every metric."""
    table = Table("metric")
    for v in versions:
        table.add_column(f"v{v['version']}{' *' if v['champion'] else ''}", justify="right")
    for name in names:
        table.add_row(
            name.removeprefix("test_"),
            *(_score(v["metrics"][name]) if name in v["metrics"] else "" for v in versions),
        )
    return table


@models_app.command("promote")
def promote(
    model_id: ModelArg,
    version: Annotated[str, typer.Argument(help="The version to make live")],
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Make a version the champion; the inference server swaps it in within a second.

    Example: millrace models promote credit-automl 2
    """
    with connect(url, token) as client:
        champion = client.promote(model_id, version.removeprefix("v"))
    _print_champion(champion, as_json)


@models_app.command("rollback")
def rollback(
    model_id: ModelArg, as_json: JsonOpt = False, url: UrlOpt = None, token: TokenOpt = None
) -> None:
    """Make the previous champion live again (twice goes back two champions).

    Example: millrace models rollback credit-automl
    """
    with connect(url, token) as client:
        champion = client.rollback(model_id)
    _print_champion(champion, as_json)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows from a JSON list (or ``{"records": [...]}``) or a CSV read with pandas' types."""
    if path.suffix.lower() == ".csv":
        import pandas as pd

        try:
            frame = pd.read_csv(path)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"cannot read {path}: {exc}") from None
        return json.loads(frame.to_json(orient="records"))  # type: ignore[no-any-return]
    try:
        body = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path} is not JSON: {exc}") from None
    rows = body.get("records") if isinstance(body, dict) else body
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InvalidInputError(f"{path}: expected a list of objects, or {{'records': [...]}}")
    return rows


def predict(
    model: Annotated[str, typer.Argument(help="The model id, e.g. credit-automl")],
    input_path: Annotated[
        Path,
        typer.Option("--input", "-i", help="rows.json or rows.csv", exists=True, dir_okay=False),
    ],
    proba: Annotated[bool, typer.Option("--proba", help="Also class probabilities")] = False,
    as_json: JsonOpt = False,
    serve_url: ServeUrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Predict with a model's live champion on the inference server.

    Example: millrace predict credit-automl --input rows.csv --json
    """
    with connect(None, token, serve_url) as client:
        rows = read_rows(input_path)  # a bad file is one line too: connect() catches it
        result = client.predict(model, rows, proba=proba)
    if as_json:
        emit_json(result)
        return
    table = Table("row", "prediction", title=f"{result['model']} v{result['version']}")
    if "probabilities" in result:
        for cls in result["classes"]:
            table.add_column(f"p({cls})", justify="right")
    probabilities = result.get("probabilities") or [[] for _ in result["predictions"]]
    for i, (value, probs) in enumerate(zip(result["predictions"], probabilities, strict=True)):
        table.add_row(str(i), str(value), *(f"{p:.3f}" for p in probs))
    print_table(table)
