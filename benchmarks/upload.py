"""Upload throughput of the warehouse API against plain ``cp``, and the server's memory.

Usage: .venv/bin/python benchmarks/upload.py [--size-mb 1024] [--dir /some/disk]

Everything lives in one temporary folder (on the disk of ``--dir``, default the system's
temp dir): the source file, the ``cp`` copy, the server's data dir (``MILLRACE_HOME``,
embedded SQLite + local folder) and the server's upload spool (``TMPDIR``), so ``cp`` and
the API write to the same disk. The server is a real ``python -m millrace api`` process on
a free loopback port; its memory is read from ``/proc/<pid>/status``. The folder is removed
at the end. The last line printed is one JSON object with the results.

Sizes are in MiB (2**20 bytes), printed as "MB".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from millrace.testing import RssSampler, free_port, reset_peak, status_bytes, stop_pid, wait_http

MiB = 1024 * 1024
FILE_NAME = "data.bin"
DATASET_ID = "bench"
USER_ID = "bench"

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@dataclass(frozen=True)
class Result:
    size_mb: float
    cp_seconds: float
    cp_mb_per_s: float
    api_seconds: float
    api_mb_per_s: float
    slowdown_vs_cp: float
    server_rss_before_mb: float
    server_sampled_peak_rss_mb: float
    server_peak_rss_mb: float
    server_rss_growth_mb: float
    hwm_reset: bool


def make_file(path: Path, size_mb: int) -> str:
    """Random (incompressible) bytes, written and hashed 1 MiB at a time."""
    digest = hashlib.sha256()
    with path.open("wb") as f:
        for _ in range(size_mb):
            chunk = os.urandom(MiB)
            f.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def server_env(home: Path, spool: Path) -> dict[str, str]:
    """Embedded defaults: no MILLRACE_* from the caller's environment leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLRACE_")}
    env.update({"MILLRACE_HOME": str(home), "TMPDIR": str(spool)})
    return env


def create_user(env: dict[str, str]) -> str:
    made = subprocess.run(
        [sys.executable, "-m", "millrace", "users", "create", USER_ID, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if made.returncode != 0:
        raise RuntimeError(f"millrace users create failed: {made.stderr.strip()}")
    return str(json.loads(made.stdout)["token"])


def time_cp(src: Path, dst: Path) -> float:
    os.sync()  # earlier writes (the source file) must not be flushed during the timing
    start = time.perf_counter()
    # A real copy of the data, never a reflink clone (XFS, btrfs): that would copy nothing.
    subprocess.run(["cp", "--reflink=never", str(src), str(dst)], check=True)
    return time.perf_counter() - start


def time_upload(
    url: str, token: str, pid: int, src: Path, sha256: str
) -> tuple[float, int, int, int, bool]:
    """Seconds, RSS before, sampled peak RSS, VmHWM after, whether VmHWM was reset."""
    os.sync()
    hwm_reset = reset_peak(pid)
    headers = {"Authorization": f"Bearer {token}"}
    timeout = httpx.Timeout(600, connect=10)
    with (
        httpx.Client(base_url=url, headers=headers, timeout=timeout) as http,
        src.open("rb") as f,
        RssSampler(pid) as sampler,
    ):
        start = time.perf_counter()
        r = http.post(
            f"/api/v1/datasets/upload/{USER_ID}",
            files={"file": (FILE_NAME, f, "application/octet-stream")},
            data={"dataset_id": DATASET_ID},
        )
        seconds = time.perf_counter() - start
    peak = status_bytes(pid, "VmHWM")
    if r.status_code != 201:
        raise RuntimeError(f"upload answered {r.status_code}: {r.text[:500]}")
    (stored,) = r.json()["version"]["files"]
    if stored["sha256"] != sha256 or stored["size_bytes"] != src.stat().st_size:
        raise RuntimeError(f"the stored file differs from the source: {stored}")
    return seconds, sampler.start, sampler.peak, peak, hwm_reset


def run(workdir: Path, size_mb: int) -> Result:
    src = workdir / FILE_NAME
    home = workdir / "home"
    spool = workdir / "spool"
    spool.mkdir()
    err.print(f"writing a {size_mb} MB file in {workdir} ...")
    sha256 = make_file(src, size_mb)

    err.print("timing cp ...")
    copy = workdir / "copy.bin"
    cp_seconds = time_cp(src, copy)
    copy.unlink()

    env = server_env(home, spool)
    token = create_user(env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (workdir / "api.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "millrace", "api", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(f"{url}/health", proc)
            err.print(f"timing the upload through the API (pid {proc.pid}) ...")
            api_seconds, rss_before, sampled, peak, hwm_reset = time_upload(
                url, token, proc.pid, src, sha256
            )
        finally:
            stop_pid(proc.pid)

    size = float(size_mb)
    return Result(
        size_mb=size,
        cp_seconds=round(cp_seconds, 3),
        cp_mb_per_s=round(size / cp_seconds, 1),
        api_seconds=round(api_seconds, 3),
        api_mb_per_s=round(size / api_seconds, 1),
        slowdown_vs_cp=round(api_seconds / cp_seconds, 2),
        server_rss_before_mb=round(rss_before / MiB, 1),
        server_sampled_peak_rss_mb=round(sampled / MiB, 1),
        server_peak_rss_mb=round(peak / MiB, 1),
        server_rss_growth_mb=round((max(peak, sampled) - rss_before) / MiB, 1),
        hwm_reset=hwm_reset,
    )


def render(result: Result) -> None:
    table = Table(title="Upload: API vs cp (embedded backend)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("file size", f"{result.size_mb:.0f} MB")
    table.add_row("cp", f"{result.cp_seconds:.2f} s  ({result.cp_mb_per_s:.0f} MB/s)")
    table.add_row("API upload", f"{result.api_seconds:.2f} s  ({result.api_mb_per_s:.0f} MB/s)")
    table.add_row("API / cp time", f"{result.slowdown_vs_cp:.2f}x")
    table.add_row("server RSS before upload", f"{result.server_rss_before_mb:.1f} MB")
    table.add_row("server peak RSS (VmHWM)", f"{result.server_peak_rss_mb:.1f} MB")
    table.add_row("server peak RSS (sampled)", f"{result.server_sampled_peak_rss_mb:.1f} MB")
    table.add_row("server RSS growth", f"{result.server_rss_growth_mb:.1f} MB")
    out.print(table)
    reset = "reset just before the upload" if result.hwm_reset else "since the server started"
    out.print(
        "Notes: MB = 2**20 bytes. Neither timing includes an fsync: cp and the API both "
        "return once the bytes are in the page cache (os.sync() runs before each timed "
        "step, outside the timing, and the source file is warm in the page cache for "
        "both). The API writes the bytes twice: the multipart parser spools the file to "
        "TMPDIR, then storage copies it into the data dir; both are on the same disk as "
        f"cp's copy here. VmHWM is {reset}."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="file size in MiB")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to make the temp folder (default: TMPDIR)"
    )
    args = parser.parse_args(argv)
    if args.size_mb < 1:
        parser.error("--size-mb must be at least 1")
    workdir = Path(tempfile.mkdtemp(prefix="millrace-bench-", dir=args.dir))
    try:
        # The source, cp's copy (removed before the upload), the spool and the stored object.
        needed = 3 * args.size_mb * MiB + 256 * MiB
        free = shutil.disk_usage(workdir).free
        if free < needed:
            err.print(f"error: {workdir} has {free // MiB} MB free; {needed // MiB} MB needed")
            return 1
        result = run(workdir, args.size_mb)
    except (RuntimeError, TimeoutError, OSError, subprocess.CalledProcessError) as exc:
        err.print(f"error: {exc}")
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    render(result)
    print(json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
