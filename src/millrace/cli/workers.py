"""``millrace worker NAME`` runs one agent; ``millrace up`` runs everything in one process."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from millrace.cli.events import relay, stop_on_signals
from millrace.events.liveness import LivenessBoard

if TYPE_CHECKING:
    from millrace.warehouse.context import Warehouse

__all__ = ["start_agents", "up", "worker"]

log = logging.getLogger("millrace.worker")


def _run_agent(name: str, stop: threading.Event, board: LivenessBoard | None = None) -> None:
    from millrace.agents import subscription
    from millrace.cli.main import open_warehouse
    from millrace.events.factory import open_bus
    from millrace.events.runner import ConsumerRunner

    try:
        wh = open_warehouse()
    except Exception as exc:  # the loop never started: say so where /health looks
        (board or LivenessBoard()).register(subscription(name).group).die(exc)
        raise
    sweeping = threading.Event()  # the core's partner-step clock stops with the core
    try:
        if name == "automl":
            from millrace.ml.tracking import warm_up

            warm_up(wh.settings)
        if name == "core":
            from millrace.agents.partner_steps import run_partner_sweeper

            threading.Thread(
                target=run_partner_sweeper, args=(wh, sweeping), name="partner-steps", daemon=True
            ).start()
        ConsumerRunner(wh, open_bus(wh), subscription(name), board=board).run(stop)
    finally:
        sweeping.set()
        wh.close()


def worker(
    name: Annotated[str, typer.Argument(help="core, bias, automl, xai or relay")],
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port")
    ] = None,
    metrics_host: Annotated[
        str,
        typer.Option(help="Bind address for the metrics (0.0.0.0 where Prometheus scrapes it)"),
    ] = "127.0.0.1",
) -> None:
    """Run one agent until SIGTERM (it finishes the event in hand first).

    Example: millrace worker bias --metrics-port 9101 --metrics-host 0.0.0.0
    """
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host)
    from millrace.agents import AGENTS
    from millrace.exceptions import InvalidInputError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if name == "relay":
        relay()
        return
    if name not in AGENTS:
        raise InvalidInputError(
            f"unknown worker {name!r}: choose one of {', '.join([*AGENTS, 'relay'])}"
        )
    _run_agent(name, stop_on_signals())


def start_agents(wh: Warehouse, stop: threading.Event) -> list[threading.Thread]:
    """Every agent MILLRACE_AGENTS names (and the relay, on Kafka) in a daemon thread of
    this process; the steps of the others wait for partner agents."""
    from millrace.agents import AGENTS
    from millrace.events.relay import OutboxRelay
    from millrace.ml.tracking import warm_up
    from millrace.warehouse.retention import run_gc_loop

    # MLflow once, here: threads importing it side by side can see it half-initialised.
    warm_up(wh.settings)
    threads = [
        threading.Thread(
            target=_run_agent, args=(n, stop, wh.liveness), name=f"agent-{n}", daemon=True
        )
        for n in AGENTS
        if n in wh.settings.local_agents
    ]
    # Retention (outbox, processed marks, idempotency rows, old kfp runs): now and every 6 h.
    threads.append(threading.Thread(target=run_gc_loop, args=(wh, stop), name="gc", daemon=True))
    if wh.settings.kafka_bootstrap:
        relay_ = OutboxRelay(wh, wh.settings.kafka_bootstrap)
        threads.append(
            threading.Thread(
                target=relay_.run,
                kwargs={"stop": stop, "board": wh.liveness},
                name="relay",
                daemon=True,
            )
        )
    for t in threads:
        t.start()
    return threads


def up(
    host: Annotated[
        str | None,
        typer.Option(
            help="Bind address of the API and the inference server (MILLRACE_API_HOST); "
            "0.0.0.0 in a container"
        ),
    ] = None,
    port: Annotated[int | None, typer.Option(help="API port (MILLRACE_API_PORT)")] = None,
    serve_port: Annotated[
        int, typer.Option(help="Inference server port (millrace serve); 0 to leave it off")
    ] = 8080,
) -> None:
    """Run the API and every agent in one process (embedded defaults need no servers).

    Example: millrace up --host 0.0.0.0 --port 8000
    """
    import uvicorn

    from millrace.cli.main import load_settings, open_warehouse
    from millrace.warehouse.api import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_settings()
    wh = open_warehouse()
    stop = threading.Event()
    threads = start_agents(wh, stop)
    from millrace.cli.serve import serve_in_thread

    bind = host or settings.api_host
    stop_serving = serve_in_thread(wh, bind, serve_port) if serve_port else None
    try:
        uvicorn.run(
            create_app(warehouse=wh),
            host=bind,
            port=port or settings.api_port,
            log_level="info",
        )
    finally:
        if stop_serving is not None:
            stop_serving()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        wh.close()
