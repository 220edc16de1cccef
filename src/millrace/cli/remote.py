"""The client side of the CLI: talk to a running Millrace over HTTP with ``millrace.client``.

Every command takes ``--url`` and ``--token`` (``MILLRACE_URL``, ``MILLRACE_TOKEN``; the
names are declared in ``millrace.settings``), prints tables for people and, with ``--json``,
JSON alone on stdout for scripts. A failure is one ``error: <reason>`` line on stderr and
exit code 1, whether the server said no or could not be reached; a followed journey left
waiting in ``needs_input`` ends with exit code 3 (``NEEDS_INPUT_EXIT``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from millrace.cli.errors import NEEDS_INPUT_EXIT, fail, one_line
from millrace.client import Client, step_seconds
from millrace.exceptions import AuthError, MillraceError

__all__ = [
    "STEPS",
    "JsonOpt",
    "ServeUrlOpt",
    "TokenOpt",
    "UrlOpt",
    "connect",
    "emit_json",
    "fail",
    "finish",
    "follow",
    "hints",
    "journey_view",
    "out",
    "print_table",
    "steps_table",
    "when",
]

out = Console(highlight=False, soft_wrap=True)  # ids and URLs stay whole, to copy

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url", help="The Millrace API (env MILLRACE_URL, default http://127.0.0.1:8000)"
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", help="API token (env MILLRACE_TOKEN, safer than this flag)"),
]
ServeUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--serve-url",
        help="The inference server (env MILLRACE_SERVE_URL, default http://127.0.0.1:8080)",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only (for scripts)")]
STEPS = ("bias", "automl", "xai")


@contextmanager
def connect(url: str | None, token: str | None, serve_url: str | None = None) -> Iterator[Client]:
    """A client from the flags, else the settings; any ``MillraceError`` inside the block
    (the server's refusal, an unreachable URL) ends the command as one line."""
    from millrace.cli.main import load_settings

    try:
        settings = load_settings()
        secret = token or (settings.token.get_secret_value() if settings.token else None)
        if not secret:
            raise AuthError("no API token: set MILLRACE_TOKEN or pass --token")
        with Client(
            url or settings.url, secret, serve_url=serve_url or settings.serve_url
        ) as client:
            yield client
    except MillraceError as exc:
        fail(exc)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def print_table(table: Table, narrow: Table | None = None) -> None:
    """A table whole. Piped, Rich assumes 80 columns and cuts what does not fit to "…", so
    it is printed at its natural width (nothing reads it but a file or a script). In a
    terminal too narrow for it, ``narrow`` (the same data laid out the other way) is shown
    instead, when there is one."""
    natural = Measurement.get(out, out.options.update_width(10_000), table).maximum
    if out.is_terminal:
        out.print(narrow if narrow is not None and natural > out.width else table)
        return
    width = out.width
    out.width = max(width, natural)
    try:
        out.print(table)
    finally:
        out.width = width


def hints(sensitive: str | None) -> list[str] | None:
    """``--sensitive a,b`` as a list (None when not given, so the API keeps what it has)."""
    if sensitive is None:
        return None
    return [c.strip() for c in sensitive.split(",") if c.strip()]


# Journeys, drawn for people


def _bias_name(task: str | None) -> str:
    """A series has no sensitive groups: its bias step profiles the data's quality only."""
    return "data-quality report" if task == "forecasting" else "bias report"


def _output(step: str, outputs: dict[str, Any], task: str | None) -> str:
    if step == "bias" and outputs.get("bias_report_id"):
        return f"{_bias_name(task)} {outputs['bias_report_id']}"
    if step == "automl" and outputs.get("model_id"):
        return f"model {outputs['model_id']} v{outputs.get('model_version')}"
    if step == "xai" and outputs.get("reports"):
        return f"{len(outputs['reports'])} reports"
    return ""


def steps_table(journey: dict[str, Any]) -> Table:
    table = Table()
    for name, justify in (("step", "left"), ("state", "left"), ("seconds", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("output")
    for step in STEPS:
        info = journey["steps"].get(step, {})
        took = step_seconds(info)
        state = info.get("state", "pending")
        table.add_row(
            step,
            state,
            f"{took:.1f}" if took is not None else "",
            _output(step, info.get("outputs", {}), journey.get("task_type")),
        )
    return table


def journey_view(client: Client, journey: dict[str, Any]) -> None:
    """The step table, then why it stopped (if it did) and where its outputs are."""
    out.print(f"journey {journey['id']}: [bold]{journey['state']}[/]")
    out.print(
        f"{journey['dataset_id']} v{journey['dataset_version']}  "
        f"target={journey['target_column'] or '-'}  task={journey['task_type'] or '-'}"
        f"{' (inferred)' if journey.get('task_type_inferred') else ''}  "
        f"budget={journey['time_budget_s']:g}s"
    )
    print_table(steps_table(journey))
    if journey["state"] == "failed":
        step = journey.get("failed_step") or "setup"
        out.print(f"[red]failed at {step}:[/] {journey['reason']}")
        out.print(f"retry with: millrace journeys retry {journey['id']}")
    elif journey["state"] == "needs_input":
        out.print(f"[yellow]needs input:[/] {journey['reason']}")
        out.print(f"answer with: millrace journeys answer {journey['id']} --target COLUMN")
    links = {**journey.get("links", {}), "web UI": f"/#/journeys/{journey['id']}"}
    width = max(len(name) for name in links)
    for name, link in links.items():
        out.print(f"  {name:<{width}}  {client.base_url}{link}")


def follow(client: Client, journey_id: str, timeout: float, quiet: bool) -> dict[str, Any]:
    """Wait for a terminal state; people see each step's state change as it happens."""
    if quiet:
        return client.wait_for_journey(journey_id, timeout)
    err = Console(stderr=True, highlight=False)
    with err.status(f"journey {journey_id}: waiting") as status:

        def show(j: dict[str, Any]) -> None:
            states = "  ".join(f"{s}: {j['steps'].get(s, {}).get('state', '?')}" for s in STEPS)
            status.update(f"journey {journey_id} [bold]{j['state']}[/]  {states}")

        return client.wait_for_journey(journey_id, timeout, on_update=show)


def finish(client: Client, journey: dict[str, Any], as_json: bool, extra: Any = None) -> None:
    """Print a followed journey. A failed one ends the command with exit code 1, one left
    in needs_input with exit code 3: a script that waited must not take either for done."""
    if as_json:
        emit_json(journey if extra is None else {**extra, "journey": journey})
    else:
        journey_view(client, journey)
    if journey["state"] == "failed":
        step = journey.get("failed_step") or "setup"
        fail(MillraceError(f"journey {journey['id']} failed at {step}: {journey['reason']}"))
    if journey["state"] == "needs_input":
        reason = f"journey {journey['id']} needs input: {journey['reason']}"
        typer.echo(one_line(MillraceError(reason)), err=True)
        raise typer.Exit(NEEDS_INPUT_EXIT)


def when(timestamp: str | None) -> str:
    """``2025-01-31T12:34:56.789+00:00`` as ``2025-01-31 12:34`` (UTC), for tables."""
    return (timestamp or "")[:16].replace("T", " ")
