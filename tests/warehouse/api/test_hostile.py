"""Hostile uploads through the live API: each is refused with a problem document that says
what is wrong, and nothing stays behind (no version, no stored object, no escaped file)."""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest

from millrace.exceptions import PayloadTooLargeError
from millrace.warehouse.zips import ZipLimits, safe_entries
from tests.conftest import BUCKET, Backend, LiveApi, UserClient, millrace_cli
from tests.support import free_port, stop_pid, wait_http

PROBLEM = "application/problem+json"
MiB = 1024 * 1024
GOOD_CSV = b"a,b\n1,2\n3,4\n"


def new_id(prefix: str = "ds") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def assert_problem(r: httpx.Response, status: int, *phrases: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].split(";")[0] == PROBLEM
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["title"]
    for phrase in phrases:
        assert phrase in body["detail"], body["detail"]
    return body


def stored_under(backend: Backend, needle: str) -> list[str]:
    """Every stored object (or local temp file) whose key mentions ``needle``."""
    if backend.storage_root is not None:
        root = backend.storage_root
        found = [str(p) for p in (root / ".tmp").iterdir()]  # in-flight writes must be gone
        found += [
            str(p)
            for p in root.rglob("*")
            if p.is_file() and needle in p.relative_to(root).as_posix()
        ]
        return found
    creds = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    s3 = boto3.client("s3", endpoint_url=backend.s3_endpoint, region_name="us-east-1", **creds)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return [o["Key"] for page in pages for o in page.get("Contents", []) if needle in o["Key"]]


def assert_nothing_left(
    user: UserClient, dataset_id: str, evil: str | None = None, *extra_dirs: Path
) -> None:
    backend = user.api.backend
    safe_id = re.fullmatch(r"[A-Za-z0-9._-]+", dataset_id) and ".." not in dataset_id
    if safe_id:
        assert_problem(user.http.get(f"/api/v1/datasets/{dataset_id}"), 404, dataset_id)
        assert stored_under(backend, dataset_id) == []
    listing = user.http.get("/api/v1/datasets")
    assert listing.status_code == 200
    assert listing.json()["items"] == []
    assert stored_under(backend, user.user_id) == []
    if evil is not None:  # a zip-slip target must not exist anywhere a server could write it
        for base in (backend.home.parent, *extra_dirs):
            assert list(base.rglob(evil)) == [], f"{evil} escaped under {base}"
        for near in (Path(tempfile.gettempdir()), Path.cwd(), Path.cwd().parent, Path("/")):
            assert not (near / evil).exists()


def make_zip(*entries: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def post_zip(
    user: UserClient, data: bytes, dataset_id: str, *, preserve: bool = True
) -> httpx.Response:
    return user.http.post(
        f"/api/v1/datasets/upload/folder/{user.user_id}",
        files={"zip_file": ("data.zip", data, "application/zip")},
        data={"dataset_id": dataset_id, "preserve_structure": str(preserve).lower()},
    )


def post_file(
    user: UserClient, name: str, data: bytes, ds: str, *, to: str = "", **form: str
) -> httpx.Response:
    return user.http.post(
        f"/api/v1/datasets/upload/{to or user.user_id}",
        files={"file": (name, data, "application/octet-stream")},
        data={"dataset_id": ds, **form},
    )


# --- zip archives -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "phrase"),
    [
        ("../{evil}", "points outside the archive"),
        ("/tmp/{evil}", "has an absolute path"),
        ("a/../../{evil}", "points outside the archive"),
        ("symlink:{evil}", "is a symbolic link; links are not accepted"),
    ],
    ids=["zip-slip", "absolute-path", "nested-dotdot", "symlink"],
)
def test_zip_with_escaping_entry_is_refused(
    user: UserClient, tmp_path: Path, entry: str, phrase: str
) -> None:
    evil = f"evil-{uuid.uuid4().hex[:12]}.txt"
    name = entry.format(evil=evil)
    target: str | zipfile.ZipInfo = name
    payload = b"pwned\n"
    if name.startswith("symlink:"):
        target, payload = zipfile.ZipInfo(name.removeprefix("symlink:")), b"/etc/passwd"
        target.external_attr = (stat.S_IFLNK | 0o777) << 16
    ds = new_id()
    r = post_zip(user, make_zip(("good.csv", GOOD_CSV), (target, payload)), ds)
    body = assert_problem(r, 422, phrase, name.removeprefix("symlink:"))
    assert body["title"] == "Invalid input"
    assert_nothing_left(user, ds, evil, tmp_path)


def test_zip_bomb_by_ratio_is_refused(user: UserClient) -> None:
    bomb = make_zip(("good.csv", GOOD_CSV), ("zeros.bin", bytes(50 * 1000 * 1000)))
    assert len(bomb) < 50e6 / 200  # the archive really is a >200x bomb
    ds = new_id()
    body = assert_problem(post_zip(user, bomb, ds), 413, "'zeros.bin'", "the limit is 200x")
    assert "zip bomb" in body["detail"]
    assert_nothing_left(user, ds)


def test_zip_entries_that_flatten_to_one_name_are_refused(user: UserClient) -> None:
    data = make_zip(("x/data.csv", GOOD_CSV), ("y/data.csv", GOOD_CSV))
    ds = new_id()
    r = post_zip(user, data, ds, preserve=False)
    assert_problem(r, 422, "two zip entries map to 'data.csv'", "preserve_structure=true")
    assert_nothing_left(user, ds)


def test_zip_with_a_broken_csv_after_a_stored_file_leaves_no_partial_version(
    user: UserClient,
) -> None:
    data = make_zip(("good.csv", GOOD_CSV), ("bad.csv", b'a,b\n1,"open\n'))
    ds = new_id()  # good.csv is stored before bad.csv is inspected: it must be removed
    assert_problem(post_zip(user, data, ds), 422, "bad.csv is not a well-formed CSV")
    assert_nothing_left(user, ds)


def test_non_zip_named_zip_is_refused(user: UserClient) -> None:
    ds = new_id()
    r = post_zip(user, b"this is,not a zip\n" * 100, ds)
    assert_problem(r, 422, "not a valid zip archive")
    assert_nothing_left(user, ds)


DEEP = "/".join(["d" * 200] * 25) + "/x.csv"


@pytest.mark.parametrize(
    ("route", "name"),
    [("zip", DEEP), ("zip", "L" * 300 + ".csv"), ("zip", "bell\x07.csv"), ("file", "L" * 300)],
    ids=["zip-path-5000-chars", "zip-segment-300", "zip-control-char", "file-name-300"],
)
def test_names_storage_cannot_hold_are_refused_clearly(
    user: UserClient, route: str, name: str
) -> None:
    ds = new_id()
    if route == "zip":
        r = post_zip(user, make_zip(("good.csv", GOOD_CSV), (name, GOOD_CSV)), ds)
    else:
        r = post_file(user, name, GOOD_CSV, ds)
    body = assert_problem(r, 422, name[:4])
    assert "storage key" not in body["detail"]  # the user never chose a storage key
    assert_nothing_left(user, ds)


def test_duplicate_entries_with_structure_preserved_get_accurate_advice(user: UserClient) -> None:
    ds = new_id()
    r = post_zip(user, make_zip(("a/x.csv", GOOD_CSV), ("a/./x.csv", b"a,b\n9,9\n")), ds)
    body = assert_problem(r, 422, "'a/x.csv'")
    assert "preserve_structure=true" not in body["detail"]
    assert_nothing_left(user, ds)


def extract_all(data: bytes, limits: ZipLimits) -> None:
    with safe_entries(io.BytesIO(data), limits) as extracted:
        for _name, stream in extracted:
            stream.read()


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([(f"f{i}.csv", GOOD_CSV) for i in range(4)], "has 4 files; the limit is 3"),
        (
            [("a.txt", b"a" * 600), ("b.txt", b"b" * 600)],
            "expands to 1200 bytes; the limit is 1000",
        ),
    ],
    ids=["file-count", "total-size"],
)
def test_safe_entries_refuses_archives_over_the_limits(
    entries: list[tuple[str, bytes]], message: str
) -> None:
    limits = ZipLimits(max_files=3, max_total_bytes=1000, max_ratio=200)
    with pytest.raises(PayloadTooLargeError, match=message) as err:
        extract_all(make_zip(*entries), limits)
    assert err.value.status_code == 413


# --- single files -------------------------------------------------------------------------


def test_empty_file_is_refused(user: UserClient) -> None:
    ds = new_id()
    assert_problem(post_file(user, "empty.csv", b"", ds), 422, "empty.csv is empty")
    assert_nothing_left(user, ds)


def test_csv_with_broken_quote_is_refused(user: UserClient) -> None:
    ds = new_id()
    r = post_file(user, "broken.csv", b'a,b\n1,"unterminated\n2,3\n', ds)
    body = assert_problem(r, 422, "broken.csv is not a well-formed CSV", "EOF inside string")
    assert body["file"] == "broken.csv"
    assert_nothing_left(user, ds)


LATIN1 = "name,café\nJosé,1\nRenée,2\n".encode("latin-1")


def test_latin1_csv_without_encoding_is_refused_with_the_way_forward(user: UserClient) -> None:
    ds = new_id()
    r = post_file(user, "people.csv", LATIN1, ds)
    assert_problem(r, 422, "people.csv is not valid utf-8", "byte 0xe9", "'encoding' field")
    assert_nothing_left(user, ds)


def test_latin1_csv_with_encoding_field_is_accepted(user: UserClient) -> None:
    ds = new_id()
    r = post_file(user, "people.csv", LATIN1, ds, encoding="latin-1")
    assert r.status_code == 201, r.text
    schema = r.json()["version"]["files"][0]["table_schema"]
    assert schema["columns"] == ["name", "café"]
    assert schema["encoding"] == "latin-1"
    assert schema["row_count"] == 2
    got = user.http.get(f"/api/v1/datasets/{ds}/versions/1/files/people.csv")
    assert got.status_code == 200
    assert got.content == LATIN1
    assert stored_under(user.api.backend, user.user_id) != []  # the helper sees real objects


@pytest.mark.parametrize("dataset_id", ["../x", "a/b"])
def test_path_like_dataset_id_is_refused(user: UserClient, dataset_id: str) -> None:
    r = post_file(user, "data.csv", GOOD_CSV, dataset_id)
    assert_problem(r, 422, f"dataset_id {dataset_id!r} is not valid")
    assert_nothing_left(user, dataset_id)


# --- size limits --------------------------------------------------------------------------


def _multipart_head(boundary: str, dataset_id: str, filename: str) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="dataset_id"\r\n\r\n'
        f"{dataset_id}\r\n--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()


def test_declared_content_length_over_the_limit_is_refused_unread(user: UserClient) -> None:
    ds, boundary = new_id(), "hostile-boundary"
    url = urlsplit(user.api.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        conn.putrequest("POST", f"/api/v1/datasets/upload/{user.user_id}")
        conn.putheader("Authorization", f"Bearer {user.token}")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(6 * 1024 * MiB))  # 6 GiB over a 5 GiB limit
        conn.endheaders(_multipart_head(boundary, ds, "huge.csv"))
        raw = conn.getresponse()
        r = httpx.Response(raw.status, headers=raw.getheaders(), content=raw.read())
    finally:
        conn.close()
    body = assert_problem(r, 413, "upload limit of 5368709120 bytes", "MILLRACE_MAX_UPLOAD_BYTES")
    assert body["title"] == "Payload too large"
    assert body["limit_bytes"] == 5 * 1024 * MiB
    assert_nothing_left(user, ds)


@pytest.fixture(scope="module")
def small_api(live_api: LiveApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """A second ``millrace api`` on the same backend, with a 1 MiB upload limit."""
    base = live_api.backend
    home = tmp_path_factory.mktemp(f"home-small-{base.name}")
    env = {**base.env, "MILLRACE_HOME": str(home), "MILLRACE_MAX_UPLOAD_BYTES": str(MiB)}
    root = home / "objects" if base.storage_root is not None else None
    small = Backend("small", env, home, storage_root=root, s3_endpoint=base.s3_endpoint)
    made = millrace_cli(env, "users", "create", new_id("admin"), "--admin", "--json")
    assert made.returncode == 0, made.stderr
    port = free_port()
    with (home / "api.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "millrace", "api", "--port", str(port)],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/health", proc)
            yield LiveApi(
                f"http://127.0.0.1:{port}", proc.pid, small, json.loads(made.stdout)["token"]
            )
        finally:
            stop_pid(proc.pid)


@pytest.fixture
def small_user(small_api: LiveApi) -> Iterator[UserClient]:
    user_id, token = small_api.new_user()
    with small_api.client(token) as http_client:
        yield UserClient(user_id, token, http_client, small_api)


def test_chunked_body_over_the_limit_is_cut_off(small_user: UserClient) -> None:
    ds, boundary = new_id(), "hostile-boundary"

    def chunks() -> Iterator[bytes]:  # a generator: sent chunked, with no Content-Length
        yield _multipart_head(boundary, ds, "big.csv")
        yield b"a,b\n"
        for _ in range(3 * 1000):
            yield b"1,2\n" * 250
        yield f"\r\n--{boundary}--\r\n".encode()

    r = small_user.http.post(
        f"/api/v1/datasets/upload/{small_user.user_id}",
        content=chunks(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.request.headers["transfer-encoding"] == "chunked"
    body = assert_problem(r, 413, "upload limit of 1048576 bytes", "MILLRACE_MAX_UPLOAD_BYTES")
    assert body["limit_bytes"] == MiB
    assert_nothing_left(small_user, ds)


def test_file_over_the_limit_within_the_form_slack_is_refused(small_user: UserClient) -> None:
    ds = new_id()
    data = b"a,b\n" + b"1,2\n" * (MiB // 4 + 100_000)  # ~1.4 MB: under the body cap
    r = post_file(small_user, "big.csv", data, ds)
    body = assert_problem(r, 413, "larger than the limit of 1048576 bytes")
    assert body["limit_bytes"] == MiB
    assert_nothing_left(small_user, ds)


# --- who is asking ------------------------------------------------------------------------


def test_user_id_that_is_not_the_tokens_is_forbidden(user: UserClient) -> None:
    other, _ = user.api.new_user("other")
    ds = new_id()
    r = post_file(user, "data.csv", GOOD_CSV, ds, to=other)
    assert_problem(r, 403, f"user_id {other!r} does not match the token's user")
    assert stored_under(user.api.backend, other) == []
    assert_nothing_left(user, ds)


@pytest.mark.parametrize(
    ("token", "phrase"),
    [(None, "missing bearer token"), ("mr_not-a-real-token", "the bearer token is not valid")],
    ids=["missing", "wrong"],
)
def test_missing_or_wrong_token_is_unauthorized(
    user: UserClient, token: str | None, phrase: str
) -> None:
    ds = new_id()
    with user.api.client(token) as anon:
        r = post_file(UserClient(user.user_id, "", anon, user.api), "data.csv", GOOD_CSV, ds)
    assert_problem(r, 401, phrase)
    assert r.headers["www-authenticate"] == "Bearer"
    assert_nothing_left(user, ds)
