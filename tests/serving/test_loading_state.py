"""While the server loads its champions, a request for one is "retry shortly", not 404."""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn

from millrace.ml.registry import Champion
from millrace.serving import ServeOptions, create_serving_app
from millrace.serving.loading import load_champion
from millrace.serving.models import ServedModel
from tests.serving.conftest import ServedWorld, patients
from tests.support import free_port


def test_requests_during_the_first_load_are_503_with_retry_after(served: ServedWorld) -> None:
    release = threading.Event()
    started = threading.Event()

    def held_loader(uri: str, champion: Champion) -> ServedModel:
        """The real loader, held at the gate: loading champions takes seconds for real."""
        started.set()
        release.wait(60)
        return load_champion(uri, champion)

    app = create_serving_app(
        served.settings,
        warehouse=served.wh,
        options=ServeOptions(poll_interval_s=0.2, log_dir=served.log_dir / "loading"),
    )
    app.state.watcher.loader = held_loader
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    rows = patients().drop(columns=["high_risk"]).head(3).to_dict(orient="records")
    headers = {"Authorization": f"Bearer {served.tokens['alice']}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as c:
            assert started.wait(30), "the watcher never began loading"
            ready = c.get("/v2/health/ready")
            assert ready.status_code == 503 and ready.json()["ready"] is False
            assert ready.headers["Retry-After"] == "2"
            for path, body in (
                ("/api/v1/models/credit/predict", {"records": rows}),  # the fast path
                ("/v2/models/credit", None),  # FastAPI's routes
            ):
                r = c.post(path, json=body) if body else c.get(path)
                assert r.status_code == 503, r.text
                assert r.headers["Retry-After"] == "2"
                problem = r.json()
                assert problem["title"] == "Not ready"
                assert "still loading champions" in problem["detail"]
                assert problem["retry_after_s"] == 2
            release.set()
            deadline = time.monotonic() + 60
            while c.get("/v2/health/ready").status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            r = c.post("/api/v1/models/credit/predict", json={"records": rows})
            assert r.status_code == 200, r.text
            assert r.json()["predictions"] == served.credit.expected(patients().head(3))
            # Once loaded, a model that does not exist is a plain 404 again.
            assert c.get("/v2/models/no-such-model").status_code == 404
    finally:
        release.set()
        server.should_exit = True
        thread.join(30)
