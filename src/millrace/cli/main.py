"""``millrace``: one CLI for every role.

Errors Millrace raises on purpose are printed as one line (exit 2 for bad settings, 1
otherwise); tracebacks are for bugs.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from millrace import __version__
from millrace.cli.errors import exit_code, fail, one_line
from millrace.exceptions import ConfigError, MillraceError
from millrace.settings import Settings

if TYPE_CHECKING:
    from millrace.warehouse.context import Warehouse

__all__ = ["app"]

app = typer.Typer(
    name="millrace",
    help="Millrace: self-hosted MLOps for tabular and time-series data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="Manage users and API tokens.", no_args_is_help=True)
app.add_typer(users_app, name="users")


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = str(first.get("msg", exc)).removeprefix("Value error, ")
        raise ConfigError(f"invalid settings: {msg}") from None


def open_warehouse() -> Warehouse:
    from millrace.warehouse.context import Warehouse

    return Warehouse.open(load_settings())


@app.command()
def version() -> None:
    """Print Millrace's version.

    Example: millrace version
    """
    typer.echo(__version__)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (MILLRACE_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (MILLRACE_API_PORT)")] = None,
) -> None:
    """Serve the warehouse API (OpenAPI docs at /docs).

    Example: millrace api --port 8000
    """
    import uvicorn

    from millrace.warehouse.api import create_app

    try:
        settings = load_settings()
        application = create_app(settings)
    except MillraceError as exc:
        fail(exc)
        return
    uvicorn.run(
        application,
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_level="info",
        timeout_graceful_shutdown=10,
    )


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="The user id, e.g. user123")],
    admin: Annotated[bool, typer.Option("--admin", help="May act for every user")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Create a user and print its API token (shown once).

    Example: millrace users create alice --admin
    """
    from millrace.warehouse.context import Warehouse
    from millrace.warehouse.db import session_scope
    from millrace.warehouse.users import create_user

    try:
        wh = Warehouse.open(load_settings())
        try:
            with session_scope(wh.sessions) as session:
                user, token = create_user(session, user_id=name, is_admin=admin)
        finally:
            wh.close()
    except MillraceError as exc:
        fail(exc)
        return
    if as_json:
        typer.echo(json.dumps({"user_id": user.id, "is_admin": user.is_admin, "token": token}))
    else:
        typer.echo(token)


def main() -> None:
    """Console entry: Millrace's own errors become one line, not a traceback."""
    try:
        app()
    except MillraceError as exc:
        typer.echo(one_line(exc), err=True)
        sys.exit(exit_code(exc))


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port for the API")] = 8000,
    serve_port: Annotated[
        int, typer.Option(help="Inference server port (as in millrace up); 0 to leave it off")
    ] = 8080,
    exit_when_done: Annotated[bool, typer.Option("--exit", help="Stop when done")] = False,
) -> None:
    """Run Millrace's main job on the embedded defaults (no servers needed).

    Example: millrace demo --exit
    """
    from millrace.cli.demo import run_demo

    try:
        run_demo(
            load_settings(),
            port=port,
            serve_port=serve_port,
            exit_when_done=exit_when_done,
            console=Console(),
        )
    except MillraceError as exc:
        fail(exc)


def _register_event_commands() -> None:
    from millrace.cli.events import events_app
    from millrace.cli.workers import up, worker

    app.add_typer(events_app, name="events")
    from millrace.cli.pipeline import pipeline_app

    app.add_typer(pipeline_app, name="pipeline")
    app.command("worker")(worker)
    app.command("up")(up)
    from millrace.cli.serve import serve

    app.command("serve")(serve)
    from millrace.cli.gc import gc

    app.command("gc")(gc)
    from millrace.cli.samples import sample

    app.command("sample")(sample)
    # The client side: commands that talk to a running Millrace over HTTP.
    from millrace.cli.remote_data import datasets_app, journeys_app
    from millrace.cli.remote_models import models_app, predict

    app.add_typer(datasets_app, name="datasets", no_args_is_help=True)
    app.add_typer(journeys_app, name="journeys", no_args_is_help=True)
    app.add_typer(models_app, name="models", no_args_is_help=True)
    app.command("predict")(predict)


_register_event_commands()
