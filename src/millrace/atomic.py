"""Files and folders that appear whole or not at all.

Pipeline steps skip work whose output already exists (preprocess is keyed on a config
hash), and the next step reads what the last one wrote, often in another process. A step
killed halfway through a plain ``write_text`` would leave a truncated file that every
later run trusts. Here everything is written under a temporary name in the same
directory, flushed to disk, then renamed into place: a rename within one filesystem is
atomic, so readers see the old content or the new, never a part.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["replacing_dir", "replacing_file", "write_bytes", "write_text"]

_SWAP_TRIES = 5


@contextmanager
def replacing_file(path: Path) -> Iterator[IO[bytes]]:
    """A binary file object whose content replaces ``path`` when the block succeeds.

    For writers that want a file object (``np.savez``, ``DataFrame.to_parquet``); if the
    block raises, ``path`` is left as it was and the temporary file is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    with replacing_file(path) as f:
        f.write(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


@contextmanager
def replacing_dir(path: Path) -> Iterator[Path]:
    """A fresh, empty folder that replaces ``path`` as a whole when the block succeeds.

    A folder of files (a model, a prepared dataset) is only usable complete, so it is
    built aside and renamed in; files left from an earlier version never mix with new
    ones. If the block raises, ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        _fsync_tree(tmp)
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _swap_in(new: Path, path: Path) -> None:
    """Rename ``new`` to ``path``; an existing non-empty ``path`` is moved aside first.

    Between the two renames ``path`` is briefly absent (a reader sees "not there yet",
    never a mix). Two writers racing on one path both finish; the later one wins.
    """
    aside: list[Path] = []
    try:
        for _ in range(_SWAP_TRIES):
            try:
                os.replace(new, path)  # also over an empty folder
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
            old = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.old")
            try:
                os.replace(path, old)
            except FileNotFoundError:
                continue  # another writer moved it first
            aside.append(old)
        raise OSError(errno.EBUSY, f"could not replace {path}: other writers keep replacing it")
    finally:
        for old in aside:
            shutil.rmtree(old, ignore_errors=True)
