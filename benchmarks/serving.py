"""Online inference: ``millrace serve`` against ``mlflow models serve``, same model, same load.

Usage: .venv/bin/python benchmarks/serving.py [--concurrency 32] [--seconds 20]

One LightGBM classifier (200 trees, 20 numeric features, trained on scikit-learn's
``make_classification``) is logged the way Millrace's AutoML logs its models (MLflow sklearn
flavour, skops format, plus the feature encoder) into a temporary data dir, and promoted.
Two servers then run on free loopback ports, each with one worker process:

- ``millrace serve`` answers ``POST /api/v1/models/<id>/predict`` (token checked, input
  validated against the encoder, request logged);
- ``mlflow models serve -m models:/<name>@champion --env-manager local`` answers
  ``POST /invocations`` (``dataframe_split``), MLflow's own scoring server.

The load generator is a closed loop of N keep-alive HTTP/1.1 connections written on raw
asyncio streams (each connection sends its next request as soon as the last answer is in),
the same for both servers. It is used instead of Locust because Locust's Python client
costs more CPU per request than the servers here, on a 2-core machine it would measure
itself; ``benchmarks/locustfile.py`` is there for load tests from another machine.
Each request is one row. The servers are timed in alternating rounds (``--rounds``, the
first ``--warmup`` seconds of each not counted), so a load spike from elsewhere on the
machine hits both alike; first at ``--concurrency`` connections (throughput), then at one
(latency). Both are checked to return the model's own predictions before they are timed.

The floor is the model's own ``predict`` in this process: one row, and a batch of 100.
The last line printed is one JSON object with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from millrace.testing import free_port, stop_pid

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
OWNER, MODEL_ID = "bench", "clicks"


@dataclass(frozen=True)
class Load:
    server: str
    concurrency: int
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float


def train_and_log(home: Path) -> tuple[Any, pd.DataFrame, str]:
    """The model, some rows to send, and a bearer token for ``bench``."""
    import lightgbm as lgb
    import skops.io as sio
    from sklearn.datasets import make_classification

    from millrace.ml.tabular.encoding import FeatureEncoder
    from millrace.ml.tabular.persist import trusted_types
    from millrace.ml.tracking import log_tabular_model
    from millrace.settings import Settings
    from millrace.warehouse.context import Warehouse
    from millrace.warehouse.db import session_scope
    from millrace.warehouse.users import create_user

    x, y = make_classification(n_samples=20_000, n_features=20, n_informative=12, random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(20)]).assign(clicked=y)
    encoder = FeatureEncoder.fit(frame, "clicked", "classification")
    estimator = lgb.LGBMClassifier(n_estimators=200, num_leaves=31, verbose=-1, random_state=0)
    estimator.fit(encoder.transform(frame), encoder.encode_target(frame["clicked"]))
    settings = Settings(home=home)
    wh = Warehouse.open(settings)
    with session_scope(wh.sessions) as session:
        token = create_user(session, user_id=OWNER)[1]
    wh.close()
    log_tabular_model(
        settings,
        owner_id=OWNER,
        model_id=MODEL_ID,
        estimator=estimator,
        trusted_types=trusted_types(sio.dumps(estimator)),
        params={},
        metrics={},
        artifacts={"encoder.json": encoder.to_json()},
        tags={},
    )
    return estimator, frame.drop(columns=["clicked"]).iloc[:200], token


def floor(estimator: Any, rows: pd.DataFrame, repeat: int = 300) -> dict[str, float]:
    """Median in-process ``predict`` time in ms: one row and 100 rows, as trained and with
    one thread (how the Millrace server runs it)."""

    def median_ms(fn: Any) -> float:
        fn()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return float(np.median(times) * 1000)

    one, hundred = rows.iloc[:1], rows.iloc[:100]
    result = {
        "raw_predict_1_row_ms": median_ms(lambda: estimator.predict(one)),
        "raw_predict_100_rows_ms": median_ms(lambda: estimator.predict(hundred)),
    }
    threads = estimator.get_params()["n_jobs"]
    estimator.set_params(n_jobs=1)
    result["raw_predict_1_row_1_thread_ms"] = median_ms(lambda: estimator.predict(one))
    result["raw_predict_100_rows_1_thread_ms"] = median_ms(lambda: estimator.predict(hundred))
    estimator.set_params(n_jobs=threads)
    return result


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    body = b""
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


async def _connection(
    port: int, request: bytes, warm_until: float, stop_at: float, lat: list[float]
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    try:
        while (started := time.perf_counter()) < stop_at:
            writer.write(request)
            status, _ = await _read_response(reader)
            if started >= warm_until:
                lat.append(time.perf_counter() - started)
                errors += status != 200
    finally:
        writer.close()
    return errors


def measure(
    port: int, request: bytes, concurrency: int, seconds: float, warmup: float
) -> tuple[list[float], int]:
    """Latencies (s) of the requests after the warm-up, and how many did not answer 200."""

    async def go() -> tuple[list[float], int]:
        lat: list[float] = []
        now = time.perf_counter()
        errors = await asyncio.gather(
            *(
                _connection(port, request, now + warmup, now + warmup + seconds, lat)
                for _ in range(concurrency)
            )
        )
        return lat, sum(errors)

    try:
        import uvloop

        return uvloop.run(go())
    except ImportError:
        return asyncio.run(go())


def load(name: str, concurrency: int, lat: list[float], errors: int, seconds: float) -> Load:
    ms = np.asarray(lat) * 1000
    return Load(
        name,
        concurrency,
        len(lat),
        errors,
        round(len(lat) / seconds, 1),
        round(float(np.percentile(ms, 50)), 3),
        round(float(np.percentile(ms, 99)), 3),
    )


def http_request(path: str, body: dict[str, Any] | list[Any], token: str | None = None) -> bytes:
    payload = json.dumps(body).encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{auth}Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # A session of its own: `mlflow models serve` runs uvicorn as a child process.
    return subprocess.Popen(
        argv,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)  # the group this script started, by its id
    stop_pid(proc.pid)


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} was not ready within {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=2.0, help="per round, not counted")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="millrace-bench-serving-") as tmp:
        home = Path(tmp)
        err.print("training and logging the model ...")
        estimator, rows, token = train_and_log(home)
        floors = floor(estimator, rows)
        row = json.loads(rows.iloc[:1].to_json(orient="records"))
        expected = estimator.predict(rows.iloc[:1]).tolist()
        env = {
            "MILLRACE_HOME": str(home),
            "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            # mlflow runs `uvicorn` by name: the venv's bin must be on PATH.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        servers = {
            "millrace serve": (
                [sys.executable, "-m", "millrace", "serve", "--port", "{port}"],
                "/v2/health/ready",
                http_request(f"/api/v1/models/{MODEL_ID}/predict", row, token),
                lambda r: r["predictions"],
            ),
            "mlflow models serve": (
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "models",
                    "serve",
                    "-m",
                    f"models:/millrace.{OWNER}.{MODEL_ID}@champion",
                    "--env-manager",
                    "local",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    "{port}",
                ],
                "/ping",
                http_request(
                    "/invocations",
                    {
                        "dataframe_split": {
                            "columns": list(rows.columns),
                            "data": [rows.iloc[0].tolist()],
                        }
                    },
                ),
                lambda r: r["predictions"],
            ),
        }
        ports: dict[str, int] = {}
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for name, (argv, ready, request, answer) in servers.items():
                port = ports[name] = free_port()
                log = home / f"{name.split()[0]}.log"
                extra = {"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"} if "mlflow" in name else {}
                procs.append(
                    start([a.replace("{port}", str(port)) for a in argv], env | extra, log)
                )
                err.print(f"starting {name} ...")
                try:
                    wait_for(f"http://127.0.0.1:{port}{ready}", procs[-1])
                except (RuntimeError, TimeoutError):
                    err.print(log.read_text()[-3000:])
                    raise
                check = _send(port, request)
                if answer(check) != expected:
                    raise RuntimeError(f"{name} answered {answer(check)}, the model {expected}")
            results = interleaved(servers, ports, args)
        finally:
            for proc in procs:
                stop(proc)
    report(results, floors, args.concurrency)


def interleaved(
    servers: dict[str, Any], ports: dict[str, int], args: argparse.Namespace
) -> list[Load]:
    """Both servers, in alternating short rounds: a load spike from elsewhere on the
    machine then hits both alike instead of one whole measurement."""
    results: list[Load] = []
    per_round = args.seconds / args.rounds
    for concurrency in (args.concurrency, 1):
        lat: dict[str, list[float]] = {name: [] for name in servers}
        errors = dict.fromkeys(servers, 0)
        for r in range(args.rounds):
            for name, (_, _, request, _) in servers.items():
                err.print(f"{name}: {concurrency} connections, round {r + 1}/{args.rounds}")
                got, failed = measure(ports[name], request, concurrency, per_round, args.warmup)
                lat[name] += got
                errors[name] += failed
        results += [load(n, concurrency, lat[n], errors[n], args.seconds) for n in servers]
    return results


def _send(port: int, request: bytes) -> Any:
    async def once() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        try:
            return await _read_response(reader)
        finally:
            writer.close()

    status, body = asyncio.run(once())
    if status != 200:
        raise RuntimeError(f"port {port} answered {status}: {body[:300]!r}")
    return json.loads(body)


def report(results: list[Load], floors: dict[str, float], concurrency: int) -> None:
    table = Table(title="Online inference, one row per request (1 worker process each)")
    for col in ("server", "connections", "requests", "errors", "req/s", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right" if col != "server" else "left")
    for r in results:
        table.add_row(
            r.server,
            str(r.concurrency),
            str(r.requests),
            str(r.errors),
            f"{r.rps:.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
        )
    out.print(table)
    by = {(r.server.split()[0], r.concurrency): r for r in results}
    mr, ml = by[("millrace", concurrency)], by[("mlflow", concurrency)]
    mr1, ml1 = by[("millrace", 1)], by[("mlflow", 1)]
    floor_table = Table(title="In-process predict (the floor), median")
    floor_table.add_column("call")
    floor_table.add_column("ms", justify="right")
    for key, value in floors.items():
        floor_table.add_row(key.removesuffix("_ms").replace("_", " "), f"{value:.3f}")
    out.print(floor_table)
    overhead = mr1.p50_ms - floors["raw_predict_1_row_1_thread_ms"]
    summary = {
        "concurrency": concurrency,
        "millrace_rps": mr.rps,
        "millrace_p50_ms": mr.p50_ms,
        "millrace_p99_ms": mr.p99_ms,
        "mlflow_rps": ml.rps,
        "mlflow_p50_ms": ml.p50_ms,
        "mlflow_p99_ms": ml.p99_ms,
        "throughput_ratio": round(mr.rps / ml.rps, 2),
        "p99_ratio": round(mr.p99_ms / ml.p99_ms, 3),
        "millrace_single_p50_ms": mr1.p50_ms,
        "mlflow_single_p50_ms": ml1.p50_ms,
        **{k: round(v, 3) for k, v in floors.items()},
        "millrace_overhead_over_raw_ms": round(overhead, 3),
        "errors": sum(r.errors for r in results),
    }
    out.print(
        f"millrace serve: {summary['throughput_ratio']}x mlflow's throughput at "
        f"{concurrency} connections, p99 {mr.p99_ms:.1f} ms vs {ml.p99_ms:.1f} ms; one "
        f"connection: p50 {mr1.p50_ms:.2f} ms, {overhead:+.2f} ms over the model's own "
        f"one-thread predict ({floors['raw_predict_1_row_1_thread_ms']:.2f} ms)"
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
