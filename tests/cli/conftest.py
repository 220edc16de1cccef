"""A running Millrace for the client and the client-side CLI: ``millrace up`` (API, every
agent and the inference server) on free ports in a fresh home, and the CLI as a subprocess.

Journeys here are small (scikit-learn's diabetes study, a 4-second AutoML budget), so a
whole journey takes a few seconds.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from millrace.client import Client
from tests.agents.world import diabetes_frame
from tests.conftest import millrace_cli, millrace_up
from tests.support import free_port

BUDGET = 4


@dataclass
class Stack:
    url: str
    serve_url: str
    user_id: str
    token: str
    home: Path
    data: Path

    def client(self, token: str | None = None) -> Client:
        return Client(self.url, token or self.token, timeout=60, serve_url=self.serve_url)

    @property
    def env(self) -> dict[str, str]:
        """How a user points the CLI at this stack: the client settings' variables."""
        return {
            "MILLRACE_HOME": str(self.home / "cli"),  # the CLI's own; it opens nothing there
            "MILLRACE_URL": self.url,
            "MILLRACE_TOKEN": self.token,
            "MILLRACE_SERVE_URL": self.serve_url,
        }

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return millrace_cli({**self.env, **env}, *args)

    def cli_json(self, *args: str) -> Any:
        done = self.cli(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def logs(self) -> str:
        return (self.home / "up.log").read_text()[-4000:]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("cli-home")
    data = home / "diabetes.csv"
    diabetes_frame().to_csv(data, index=False)
    serve_port = free_port()
    with millrace_up(home, "ada", serve_port) as (url, token):
        yield Stack(url, f"http://127.0.0.1:{serve_port}", "ada", token, home, data)
