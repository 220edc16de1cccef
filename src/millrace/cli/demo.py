"""``millrace demo``: the main job on the embedded defaults, from nothing.

It starts the API in this process, makes a demo user, uploads a real public dataset that
ships with scikit-learn (the diabetes study: 442 patients, with ``sex`` as a sensitive
attribute) through the HTTP API like any client, and shows what the warehouse recorded -
the version, the schema it read, the checksum and the outbox event that starts a journey.
The bias, AutoML and XAI agents that consume that event are built in the next milestones.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table
from sqlalchemy import select

from millrace.client import Client
from millrace.settings import Settings
from millrace.warehouse.api import create_app
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import OutboxEvent, User
from millrace.warehouse.users import create_token, create_user

__all__ = ["run_demo"]

DEMO_USER = "demo"


def _demo_token(wh: Warehouse) -> str:
    with session_scope(wh.sessions) as session:
        user = session.get(User, DEMO_USER)
        if user is None:
            return create_user(session, user_id=DEMO_USER, is_admin=True)[1]
        return create_token(session, user=user, name=f"demo-{int(time.time())}")


def _diabetes_csv(folder: Path) -> Path:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    path = folder / "diabetes.csv"
    frame.to_csv(path, index=False)
    return path


def _serve(wh: Warehouse, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(warehouse=wh), host=wh.settings.api_host, port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name="millrace-api", daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server


def run_demo(settings: Settings, *, port: int, exit_when_done: bool, console: Console) -> None:
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True
    ) as progress:
        step = progress.add_task("Migrating the metadata database", total=None)
        wh = Warehouse.open(settings)
        token = _demo_token(wh)
        progress.update(step, description="Starting the API")
        server = _serve(wh, port)
        url = f"http://{settings.api_host}:{port}"
        progress.update(step, description="Uploading the diabetes dataset")
        with tempfile.TemporaryDirectory() as tmp, Client(url, token) as client:
            started = time.perf_counter()
            body = client.upload_dataset(
                _diabetes_csv(Path(tmp)),
                user_id=DEMO_USER,
                dataset_id="diabetes",
                name="Diabetes (sklearn)",
                target_column="target",
                task_type="regression",
                sensitive_columns=["sex"],
                time_budget_s=30,
            )
            upload_s = time.perf_counter() - started
            health = client.health()
    version = body["version"]
    file = version["files"][0]
    with session_scope(wh.sessions) as session:
        event = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.topic == "dataset-events")
            .order_by(OutboxEvent.offset.desc())
            .limit(1)
        ).one()
    table = Table(title="Millrace demo: warehouse", show_header=False)
    table.add_row("dataset", f"{body['id']} v{version['version']} ({body['name']})")
    table.add_row(
        "file",
        f"{file['path']}: {file['table_schema']['row_count']} rows, "
        f"{len(file['table_schema']['columns'])} columns, {file['size_bytes']} bytes",
    )
    table.add_row("sha256", file["sha256"])
    table.add_row("upload time", f"{upload_s * 1000:.0f} ms")
    table.add_row("event", f"{event.topic} {event.payload['event_type']} key={event.key}")
    table.add_row("health", ", ".join(f"{k}={v['status']}" for k, v in health["checks"].items()))
    table.add_row("data dir", str(settings.home.resolve()))
    console.print(table)
    console.print(f"API docs: {url}/docs")
    console.print(
        f"Try it:  curl -H 'Authorization: Bearer {token}' {url}/api/v1/datasets/diabetes",
        soft_wrap=True,
    )
    if exit_when_done:
        server.should_exit = True
        wh.close()
        return
    console.print("Serving until Ctrl-C.")
    try:
        while not server.should_exit:
            time.sleep(0.5)
    except KeyboardInterrupt:
        server.should_exit = True
    wh.close()
