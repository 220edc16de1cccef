"""Wall time of a whole journey: upload -> bias -> AutoML -> XAI reports, with each step.

The dataset is real: the LTE base-station traffic of seed 000 (../shared/data/lte), all
three stations and their test continuations stacked (~33.7k rows). The task is regression
of downlink traffic (``down``) from the other radio measurements, ``station`` is the group
column for the fairness metrics, and AutoML gets a 30 s budget. It runs as users run it:
``millrace up`` in its own process, driven over HTTP.

    .venv/bin/python benchmarks/journey.py [--budget 30] [--data ../shared/data/lte]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd
from rich.console import Console
from rich.table import Table

from millrace.client import Client, step_seconds
from millrace.events.testing import free_port, stop_pid

REPO = Path(__file__).resolve().parents[1]


def lte_table(folder: Path) -> pd.DataFrame:
    frames = []
    for station in ("ElBorn", "LesCorts", "PobleSec"):
        for suffix in ("", "_test"):
            frame = pd.read_csv(folder / f"{station}{suffix}.csv")
            frames.append(frame.assign(station=station))
    return pd.concat(frames, ignore_index=True).drop(columns=["time"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=30)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lte")
    args = parser.parse_args()
    frame = lte_table(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "MILLRACE_HOME": str(home)}
        made = subprocess.run(
            [sys.executable, "-m", "millrace", "users", "create", "bench", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        token = json.loads(made.stdout)["token"]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = (Path(tmp) / "up.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "millrace", "up", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("millrace up did not start")
                time.sleep(0.2)
            time.sleep(3)  # let the automl agent warm MLflow up, as a running system has
            csv = Path(tmp) / "lte.csv"
            frame.to_csv(csv, index=False)
            with Client(url, token) as client:
                started = time.perf_counter()
                body = client.upload_dataset(
                    csv,
                    user_id="bench",
                    dataset_id="lte",
                    target_column="down",
                    task_type="regression",
                    sensitive_columns=["station"],
                    time_budget_s=args.budget,
                )
                uploaded = time.perf_counter() - started
                journey_id = client.wait_for_journey_id("lte", body["version"]["version"])
                while (j := client.journey(journey_id))["state"] not in {"completed", "failed"}:
                    time.sleep(0.2)
                total = time.perf_counter() - started
                model = (
                    client.model(j["steps"]["automl"]["outputs"]["model_id"])
                    if j["state"] == "completed"
                    else None
                )
        finally:
            stop_pid(proc.pid)
            log.close()
    if j["state"] != "completed":
        raise SystemExit(f"journey failed: {j['reason']}")

    steps = {s: step_seconds(j["steps"][s]) or 0.0 for s in ("bias", "automl", "xai")}
    attrs = model["version"]["attributes"] if model else {}
    table = Table(
        title=f"Journey on LTE traffic: {len(frame)} rows, AutoML budget {args.budget:.0f}s"
    )
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    table.add_row("upload (HTTP, schema, checksum)", f"{uploaded:.2f}")
    for step, value in steps.items():
        table.add_row(step, f"{value:.2f}")
    table.add_row("automl: train + upload (budgeted part)", f"{attrs.get('train_and_upload_s')}")
    table.add_row(
        "orchestration and queues (rest)", f"{total - uploaded - sum(steps.values()):.2f}"
    )
    table.add_row("total, upload to last XAI report", f"{total:.2f}")
    Console().print(table)
    scores = attrs.get("test_scores", {})
    print(f"champion: {attrs.get('algorithm')} test {scores}")
    print(
        json.dumps(
            {
                "rows": len(frame),
                "budget_s": args.budget,
                "upload_s": round(uploaded, 2),
                "bias_s": round(steps["bias"], 2),
                "automl_s": round(steps["automl"], 2),
                "automl_train_and_upload_s": attrs.get("train_and_upload_s"),
                "xai_s": round(steps["xai"], 2),
                "total_s": round(total, 2),
                "test_r2": scores.get("r2"),
            }
        )
    )


if __name__ == "__main__":
    main()
