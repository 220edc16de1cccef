"""``millrace events`` and ``millrace worker relay``: look at and move the event stream."""

from __future__ import annotations

import json
import signal
import threading
import uuid
from typing import Annotated

import typer
from rich.console import Console

__all__ = ["events_app", "relay", "stop_on_signals"]

events_app = typer.Typer(help="Inspect the event stream.", no_args_is_help=True)
out = Console()


def stop_on_signals() -> threading.Event:
    """SIGTERM or Ctrl-C sets the event; loops finish what they hold, then stop."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@events_app.command("tail")
def tail(
    topic: Annotated[str, typer.Argument(help="e.g. dataset-events, or automl-events.dlq")],
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Replay the whole topic")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Print events on TOPIC as they arrive (Ctrl-C to stop).

    Example: millrace events tail dataset-events --from-start
    """
    from millrace.cli.main import open_warehouse
    from millrace.events.factory import open_bus

    wh = open_warehouse()
    stop = stop_on_signals()
    # A throwaway group: tailing never moves a real consumer's offsets.
    with open_bus(wh).consumer(f"tail-{uuid.uuid4().hex[:8]}", [topic]) as consumer:
        if not from_start:
            while consumer.poll(0.5):  # skip what is already there
                pass
        while not stop.is_set():
            for m in consumer.poll(1.0):
                if as_json:
                    typer.echo(
                        json.dumps(
                            {
                                "topic": m.topic,
                                "key": m.key,
                                "offset": m.offset,
                                "attributes": m.attributes,
                                "payload": m.payload,
                            }
                        )
                    )
                else:
                    kind = m.payload.get("event_type", m.attributes.get("type", "?"))
                    out.print(
                        f"[dim]{m.topic}@{m.offset}[/] [bold]{kind}[/] key={m.key} "
                        f"{json.dumps(m.payload, default=str)}",
                        highlight=False,
                    )
    wh.close()


def relay() -> None:
    """Forward outbox rows to Kafka until SIGTERM (needs MILLRACE_EVENT_BUS=kafka://...)."""
    from millrace.cli.main import open_warehouse
    from millrace.events.relay import OutboxRelay
    from millrace.exceptions import ConfigError

    wh = open_warehouse()
    if not wh.settings.kafka_bootstrap:
        raise ConfigError("the relay needs MILLRACE_EVENT_BUS=kafka://host:port")
    OutboxRelay(wh, wh.settings.kafka_bootstrap).run(stop_on_signals())
    wh.close()
