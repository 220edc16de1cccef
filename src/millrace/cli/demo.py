"""``millrace demo``: the main job on the embedded defaults, from nothing.

It starts the API and every agent in this process, makes a demo user, and uploads two real
public datasets that ship inside installed packages, through the HTTP API like any client:

- scikit-learn's diabetes study (442 patients). The target ``high_risk`` marks patients
  whose disease progression one year later is above 140 (the study's scale); ``sex`` is
  the sensitive attribute. Its journey is tabular: bias report, AutoML, XAI reports.
- statsforecast's AirPassengers (Box & Jenkins' monthly airline passengers, 1949-1960).
  Its journey is forecasting: bias/quality report, the forecasting pipeline (statistical
  baselines, Prophet, GRU, LSTM), XAI reports on the champion.

The demo shows each step as it happens and ends with a summary and links.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from millrace.cli.remote import STEPS, steps_table
from millrace.cli.workers import start_agents
from millrace.client import Client
from millrace.exceptions import MillraceError
from millrace.settings import Settings
from millrace.warehouse.api import create_app
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import User
from millrace.warehouse.users import create_token, create_user

__all__ = ["run_demo"]

DEMO_USER = "demo"
BUDGET_S = 20


def _demo_token(wh: Warehouse) -> str:
    with session_scope(wh.sessions) as session:
        user = session.get(User, DEMO_USER)
        if user is None:
            return create_user(session, user_id=DEMO_USER, is_admin=True)[1]
        return create_token(session, user=user, name=f"demo-{int(time.time())}")


def _diabetes_csv(folder: Path) -> Path:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["high_risk"] = (frame.pop("target") > 140).astype(int)
    path = folder / "diabetes.csv"
    frame.to_csv(path, index=False)
    return path


def _air_passengers_csv(folder: Path) -> Path:
    from statsforecast.utils import AirPassengersDF

    path = folder / "air_passengers.csv"
    AirPassengersDF.rename(columns={"ds": "month", "y": "passengers"})[
        ["month", "passengers"]
    ].to_csv(path, index=False)
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


def _follow(
    client: Client, journey_ids: dict[str, str], console: Console, timeout: float = 900
) -> dict[str, dict[str, Any]]:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        tasks = {
            (label, s): progress.add_task(f"{label} {s}: waiting", total=1)
            for label in journey_ids
            for s in STEPS
        }
        deadline = time.monotonic() + timeout
        done: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            for label, journey_id in journey_ids.items():
                if label in done:
                    continue
                journey = client.journey(journey_id)
                for step in STEPS:
                    state = journey["steps"][step]["state"]
                    progress.update(
                        tasks[label, step],
                        description=f"{label} {step}: {state}",
                        completed=1 if state == "done" else 0,
                    )
                if journey["state"] in {"completed", "failed", "needs_input"}:
                    done[label] = journey
            if len(done) == len(journey_ids):
                return done
            time.sleep(0.3)
    raise MillraceError(f"the demo journeys did not finish within {timeout:.0f}s")


def _summary(journey: dict[str, Any], model: dict[str, Any], url: str) -> Table:
    table = steps_table(journey)
    table.title = f"Journey {journey['id'][:8]}: {journey['state']}"
    table.caption = "seconds: from the step's trigger to done, waiting for a busy agent included"
    attrs = model["version"]["attributes"]
    table.add_row(
        "champion",
        model["id"],
        "",
        f"{attrs['algorithm']}: test "
        + ", ".join(f"{k}={v:.3g}" for k, v in attrs["test_scores"].items() if v is not None),
    )
    if "train_and_upload_s" in attrs:  # the agent's own work, apart from any queueing
        table.add_row(
            "training",
            "",
            f"{attrs['train_and_upload_s']:.1f}",
            f"of a {attrs['budget_s']:.0f} s budget (training and upload)",
        )
    return table


def run_demo(settings: Settings, *, port: int, exit_when_done: bool, console: Console) -> None:
    console.print(
        f"[bold]Millrace demo[/] on the embedded defaults (data in {settings.home.resolve()})"
    )
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    wh = Warehouse.open(settings)
    token = _demo_token(wh)
    stop = threading.Event()
    start_agents(wh, stop)
    server = _serve(wh, port)
    url = f"http://{settings.api_host}:{port}"
    try:
        with tempfile.TemporaryDirectory() as tmp, Client(url, token) as client:
            body = client.upload_dataset(
                _diabetes_csv(Path(tmp)),
                user_id=DEMO_USER,
                dataset_id="diabetes",
                name="Diabetes study (scikit-learn)",
                target_column="high_risk",
                sensitive_columns=["sex"],
                time_budget_s=BUDGET_S,
            )
            versions = {"diabetes": body["version"]["version"]}
            body = client.upload_dataset(
                _air_passengers_csv(Path(tmp)),
                user_id=DEMO_USER,
                dataset_id="air-passengers",
                name="Airline passengers 1949-1960 (Box & Jenkins, via statsforecast)",
                target_column="passengers",
                task_type="forecasting",
                time_budget_s=BUDGET_S,
            )
            versions["air-passengers"] = body["version"]["version"]
            console.print(
                "Uploaded diabetes.csv (classification) and air_passengers.csv "
                "(forecasting); both journeys start."
            )
            journeys = _follow(
                client,
                {name: client.wait_for_journey_id(name, v) for name, v in versions.items()},
                console,
            )
            for journey in journeys.values():
                if journey["state"] != "completed":
                    raise MillraceError(
                        f"the journey for {journey['dataset_id']} stopped at "
                        f"{journey['state']}: {journey['reason']}"
                    )
            models = {
                name: client.model(j["steps"]["automl"]["outputs"]["model_id"])
                for name, j in journeys.items()
            }
        for name, journey in journeys.items():
            console.print(_summary(journey, models[name], url))
            for link_name, link in journey["links"].items():
                console.print(f"  {link_name:<34} {url}{link}", soft_wrap=True, highlight=False)
        console.print(f"Web UI: {url}/  (log in with the token below)")
        console.print(f"API docs: {url}/docs")
        console.print(f"Your token: {token}", soft_wrap=True)
        if exit_when_done:
            return
        console.print("Serving until Ctrl-C.")
        while not server.should_exit:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        stop.set()
        wh.close()
