"""``millrace demo``: the main job on the embedded defaults, from nothing.

It starts the API and every agent in this process, makes a demo user, and uploads two real
public datasets that ship inside installed packages, through the HTTP API like any client:

- scikit-learn's diabetes study (442 patients). The target ``high_risk`` marks patients
  whose disease progression one year later is above 140 (the study's scale); ``sex`` is
  the sensitive attribute. Its journey is tabular: bias report, AutoML, XAI reports.
- statsforecast's AirPassengers (Box & Jenkins' monthly airline passengers, 1949-1960).
  Its journey is forecasting: bias/quality report, the forecasting pipeline (statistical
  baselines, Prophet, GRU, LSTM), XAI reports on the champion.

The demo shows each step as it happens and ends with a summary, the web UI's pages, and
a ``millrace predict`` line per model for the inference server it runs (as ``millrace up``
does) until Ctrl-C.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from millrace.cli.demo_summary import predict_line, summary_table, ui_links, write_inputs
from millrace.cli.remote import STEPS
from millrace.cli.serve import DEFAULT_PORT as DEFAULT_SERVE_PORT
from millrace.cli.serve import serve_in_thread
from millrace.cli.workers import start_agents
from millrace.client import Client
from millrace.exceptions import AuthError, MillraceError
from millrace.settings import Settings
from millrace.warehouse.api import create_app
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import ApiToken, User
from millrace.warehouse.users import authenticate, create_token, create_user

__all__ = ["run_demo"]

DEMO_USER = "demo"
BUDGET_S = 20
TOKEN_FILE = "demo-token"  # noqa: S105 - a file name, not a secret


def _demo_token(wh: Warehouse) -> str:
    """The demo user's one token: the last run's when it still works, else a new one with
    every older token of the demo user revoked, so reruns do not pile up admin tokens.

    Only the token's hash is in the database, so the token itself is kept in the data dir
    (``demo-token``, readable by its owner only) beside the database it unlocks.
    """
    saved = wh.settings.home / TOKEN_FILE
    with session_scope(wh.sessions) as session:
        user = session.get(User, DEMO_USER)
        if user is None:
            token = create_user(session, user_id=DEMO_USER, is_admin=True)[1]
        else:
            kept = saved.read_text().strip() if saved.is_file() else ""
            if kept and _valid(session, kept):
                return kept
            for row in session.scalars(
                select(ApiToken).where(ApiToken.user_id == DEMO_USER, ApiToken.revoked.is_(False))
            ):
                row.revoked = True
            token = create_token(session, user=user, name="demo")
    saved.touch(mode=0o600)
    saved.chmod(0o600)
    saved.write_text(token + "\n")
    return token


def _valid(session: Any, token: str) -> bool:
    try:
        return authenticate(session, token).id == DEMO_USER
    except AuthError:
        return False


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


def _wait_served(
    serve_url: str, token: str, model_ids: list[str], timeout: float = 120, absent_s: float = 15
) -> bool:
    """Until the inference server answers for every model (it loads champions as they are
    registered); False if it is too slow, or not there at all (its port was taken) after
    ``absent_s``."""
    started = time.monotonic()
    answered = False
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=serve_url, headers=headers, timeout=5) as http:
        while time.monotonic() - started < (timeout if answered else absent_s):
            try:
                codes = [http.get(f"/v2/models/{m}").status_code for m in model_ids]
                answered = True
                if all(code == 200 for code in codes):
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.3)
    return False


def run_demo(
    settings: Settings,
    *,
    port: int,
    exit_when_done: bool,
    console: Console,
    serve_port: int = DEFAULT_SERVE_PORT,
) -> None:
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
    # The inference server, as ``millrace up`` runs it: champions are served as they land.
    stop_serving = serve_in_thread(wh, settings.api_host, serve_port) if serve_port else None
    url = f"http://{settings.api_host}:{port}"
    serve_url = f"http://{settings.api_host}:{serve_port}"
    try:
        with tempfile.TemporaryDirectory() as tmp, Client(url, token) as client:
            diabetes, air = _diabetes_csv(Path(tmp)), _air_passengers_csv(Path(tmp))
            body = client.upload_dataset(
                diabetes,
                user_id=DEMO_USER,
                dataset_id="diabetes",
                name="Diabetes study (scikit-learn)",
                target_column="high_risk",
                sensitive_columns=["sex"],
                time_budget_s=BUDGET_S,
            )
            versions = {"diabetes": body["version"]["version"]}
            body = client.upload_dataset(
                air,
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
            outputs = {name: j["steps"]["automl"]["outputs"] for name, j in journeys.items()}
            models = {
                name: client.model(o["model_id"], version=o["model_version"])
                for name, o in outputs.items()
            }
            inputs = write_inputs(
                {
                    outputs["diabetes"]["model_id"]: (pd.read_csv(diabetes), "high_risk"),
                    outputs["air-passengers"]["model_id"]: (pd.read_csv(air), None),
                },
                settings.home / "demo",
            )
        for name, journey in journeys.items():
            console.print(summary_table(journey, models[name]))
            for link_name, link in ui_links(journey, url).items():
                console.print(f"  {link_name:<34} {link}", soft_wrap=True, highlight=False)
        if exit_when_done:
            console.print(
                "The demo has stopped (--exit); nothing keeps running. `millrace up` in this "
                "folder serves the same data: the web UI, the API and the inference server.",
                highlight=False,
            )
            console.print(f"The demo user's token, for then: {token}", soft_wrap=True)
            return
        served = stop_serving is not None and _wait_served(serve_url, token, list(inputs))
        console.print(f"Web UI: {url}/  (sign in with the token below)", highlight=False)
        console.print(f"API docs: {url}/docs", highlight=False)
        console.print(f"Your token: {token}", soft_wrap=True, highlight=False)
        if served:
            console.print(f"Inference server: {serve_url}; in another shell, predict with:")
            for model_id, path in inputs.items():
                console.print(
                    "  " + predict_line(model_id, path, serve_url, token),
                    soft_wrap=True,
                    highlight=False,
                    markup=False,
                )
        else:
            console.print(
                f"The inference server did not come up on {serve_url} (is the port in use? "
                "choose another with --serve-port), so there is nothing to predict with."
            )
        console.print("Serving until Ctrl-C.")
        while not server.should_exit:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        if stop_serving is not None:
            stop_serving()
        stop.set()
        wh.close()
