"""A 200 MB upload and its downloads stream through the server in flat memory.

The server's memory is read from ``/proc/<pid>/status``. ``VmHWM`` is a high-water mark
since the process started, so it is compared before and after the upload; where the kernel
allows it, the mark is reset first (``clear_refs``), and ``VmRSS`` is also sampled through
the upload, so a server that buffered the body shows either way.

The upload goes to a server process started for this module, on the same backend as the
session's ``live_api``: RSS only grows when a process needs memory it has not touched
before, so on the shared server the result would depend on what earlier tests left in its
heap. The downloads go through the shared ``live_api``, a second process reading the same
database and storage.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from millrace.testing import RssSampler, reset_peak, status_bytes
from tests.conftest import Backend, LiveApi
from tests.support import free_port, stop_pid, wait_http

pytestmark = pytest.mark.slow

MB = 1_000_000
FILE_BYTES = 200 * MB
MAX_GROWTH = 100 * MB
FILE_NAME = "data.bin"


@dataclass(frozen=True)
class BigFile:
    path: Path
    size: int
    sha256: str
    crc32: int


@dataclass(frozen=True)
class Uploaded:
    file: BigFile
    backend: str
    dataset_id: str
    token: str
    status_code: int
    body: Any
    hwm_reset: bool
    hwm_growth: int
    sampled_growth: int


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigFile]:
    """200 MB of incompressible, non-repeating bytes, written and hashed chunk by chunk."""
    path = tmp_path_factory.mktemp("streaming") / FILE_NAME
    rng = random.Random(20240611)
    digest = hashlib.sha256()
    crc = 0
    with path.open("wb") as out:
        for _ in range(FILE_BYTES // MB):
            chunk = rng.randbytes(MB)
            out.write(chunk)
            digest.update(chunk)
            crc = zlib.crc32(chunk, crc)
    yield BigFile(path, FILE_BYTES, digest.hexdigest(), crc)
    path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def fresh_api(live_api: LiveApi, backend: Backend) -> Iterator[LiveApi]:
    """A second ``millrace api`` on the same backend, whose memory no other test touched."""
    port = free_port()
    log_path = backend.home / f"api-streaming-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "millrace", "api", "--port", str(port)],
            env={**os.environ, **backend.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{url}/health", proc)
            yield LiveApi(url, proc.pid, backend, live_api.admin_token)
        finally:
            stop_pid(proc.pid)


@pytest.fixture(scope="module")
def uploaded(fresh_api: LiveApi, big_file: BigFile) -> Iterator[Uploaded]:
    """Upload the file once per backend, watching the server's memory while it streams."""
    user_id, token = fresh_api.new_user("big")
    dataset_id = f"big-{uuid.uuid4().hex[:8]}"
    pid = fresh_api.pid
    hwm_reset = reset_peak(pid)
    hwm_before = status_bytes(pid, "VmHWM")
    with (
        fresh_api.client(token) as http,
        big_file.path.open("rb") as f,
        RssSampler(pid) as sampler,
    ):
        r = http.post(
            f"/api/v1/datasets/upload/{user_id}",
            files={"file": (FILE_NAME, f, "application/octet-stream")},
            data={"dataset_id": dataset_id},
        )
    hwm_after = status_bytes(pid, "VmHWM")
    body = r.json() if r.headers.get("content-type", "").endswith("json") else r.text
    yield Uploaded(
        file=big_file,
        backend=fresh_api.backend.name,
        dataset_id=dataset_id,
        token=token,
        status_code=r.status_code,
        body=body,
        hwm_reset=hwm_reset,
        hwm_growth=hwm_after - hwm_before,
        sampled_growth=sampler.peak - sampler.start,
    )
    # Free the 200 MB in the backend (moto keeps its objects in memory).
    with fresh_api.client(token) as http:
        http.delete(f"/api/v1/datasets/{dataset_id}")


def test_upload_is_stored_whole_with_its_size_and_sha256(uploaded: Uploaded) -> None:
    assert uploaded.status_code == 201, uploaded.body
    version = uploaded.body["version"]
    (stored,) = version["files"]
    assert stored["path"] == FILE_NAME
    assert stored["size_bytes"] == uploaded.file.size
    assert stored["sha256"] == uploaded.file.sha256
    assert stored["table_schema"] is None
    assert version["size_bytes"] == uploaded.file.size
    assert version["file_count"] == 1
    assert version["version"] == 1


def test_upload_keeps_server_memory_flat(uploaded: Uploaded) -> None:
    assert uploaded.status_code == 201, uploaded.body
    size = f"a {uploaded.file.size / MB:.0f} MB upload"
    print(
        f"{uploaded.backend}: VmHWM +{uploaded.hwm_growth / MB:.1f} MB, sampled VmRSS "
        f"+{uploaded.sampled_growth / MB:.1f} MB for {size} (reset: {uploaded.hwm_reset})"
    )
    assert uploaded.hwm_growth < MAX_GROWTH, (
        f"server VmHWM grew by {uploaded.hwm_growth / MB:.1f} MB for {size} "
        f"(VmHWM reset first: {uploaded.hwm_reset})"
    )
    assert uploaded.sampled_growth < MAX_GROWTH, (
        f"server VmRSS grew by {uploaded.sampled_growth / MB:.1f} MB for {size}"
    )


def test_file_download_streams_back_identical_bytes(live_api: LiveApi, uploaded: Uploaded) -> None:
    assert uploaded.status_code == 201, uploaded.body
    digest = hashlib.sha256()
    size = 0
    url = f"/api/v1/datasets/{uploaded.dataset_id}/versions/1/files/{FILE_NAME}"
    with live_api.client(uploaded.token) as http, http.stream("GET", url) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-length"] == str(uploaded.file.size)
        assert r.headers["x-checksum-sha256"] == uploaded.file.sha256
        for chunk in r.iter_bytes():
            digest.update(chunk)
            size += len(chunk)
    assert size == uploaded.file.size
    assert digest.hexdigest() == uploaded.file.sha256


def test_zip_download_holds_the_file_with_its_crc_and_size(
    live_api: LiveApi, uploaded: Uploaded, tmp_path: Path
) -> None:
    assert uploaded.status_code == 201, uploaded.body
    archive = tmp_path / "version.zip"
    url = f"/api/v1/datasets/{uploaded.dataset_id}/versions/1/download"
    try:
        with (
            live_api.client(uploaded.token) as http,
            http.stream("GET", url) as r,
            archive.open("wb") as out,
        ):
            assert r.status_code == 200, r.read()
            assert r.headers["content-type"] == "application/zip"
            for chunk in r.iter_bytes():
                out.write(chunk)

        with zipfile.ZipFile(archive) as zf:
            (info,) = zf.infolist()
            assert info.filename == FILE_NAME
            assert info.file_size == uploaded.file.size
            stored_crc = info.CRC
            assert stored_crc == uploaded.file.crc32
            digest = hashlib.sha256()
            with zf.open(info) as entry:  # checks the CRC again as it reads
                while chunk := entry.read(MB):
                    digest.update(chunk)
            assert digest.hexdigest() == uploaded.file.sha256
    finally:
        archive.unlink(missing_ok=True)
