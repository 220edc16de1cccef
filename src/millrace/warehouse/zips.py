"""Reading uploaded zip archives without trusting them.

Every entry is checked before anything is extracted: no absolute paths, no ``..``, no
symlinks, no encrypted entries, a bounded number of files, a bounded total size and a
bounded compression ratio. Sizes in the archive's headers can lie; the standard library's
reader stops at the declared size and verifies the CRC, so a lie ends in a clear error.

The ratio is bounded twice: per entry, and for the whole archive (everything it expands to
over the archive's own size), since many entries each just under the per-entry floor add
up to a bomb (150 entries of 1 MiB of zeros fit in 150 KB). Both apply past 1 MiB of
output only, so a small zip of text is never refused for compressing well. The total is
checked on the headers before extracting and again on the bytes actually written.
"""

from __future__ import annotations

import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from millrace.exceptions import InvalidInputError, PayloadTooLargeError
from millrace.warehouse.ids import check_file_path

__all__ = ["ZipLimits", "safe_entries"]

_CHUNK = 1024 * 1024
# Output below this is never a bomb, however well it compresses.
_RATIO_FLOOR = 1024 * 1024


@dataclass(frozen=True)
class ZipLimits:
    max_files: int
    max_total_bytes: int
    max_ratio: float


def _clean_name(info: zipfile.ZipInfo) -> str:
    raw = info.filename
    if "\\" in raw or "\x00" in raw:
        raise InvalidInputError(f"zip entry {raw!r} has a backslash or NUL in its name")
    path = PurePosixPath(raw)
    if path.is_absolute() or (len(raw) > 1 and raw[1] == ":"):
        raise InvalidInputError(f"zip entry {raw!r} has an absolute path")
    if any(part == ".." for part in path.parts):
        raise InvalidInputError(f"zip entry {raw!r} points outside the archive ('..')")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise InvalidInputError(f"zip entry {raw!r} is a symbolic link; links are not accepted")
    if info.flag_bits & 0x1:
        raise InvalidInputError(f"zip entry {raw!r} is encrypted")
    parts = [p for p in path.parts if p not in {"", "."}]
    if not parts:
        raise InvalidInputError(f"zip entry {raw!r} has no file name")
    return check_file_path("/".join(parts))


class _Expansion:
    """Bytes out of an archive so far, refused past ``max_ratio`` times its size."""

    def __init__(self, archive_bytes: int, limits: ZipLimits) -> None:
        self.archive_bytes, self.limits, self.total = max(archive_bytes, 1), limits, 0

    def add(self, n: int) -> None:
        self.check(self.total + n)
        self.total += n

    def check(self, total: int) -> None:
        ratio = total / self.archive_bytes
        if total > _RATIO_FLOOR and ratio > self.limits.max_ratio:
            raise PayloadTooLargeError(
                f"the zip archive expands {ratio:.0f}x in total (its {self.archive_bytes} "
                f"bytes to at least {total}); the limit is {self.limits.max_ratio:.0f}x "
                "(zip bomb?)"
            )


def _plan(
    zf: zipfile.ZipFile, limits: ZipLimits, preserve: bool, expansion: _Expansion
) -> list[tuple[zipfile.ZipInfo, str]]:
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if not infos:
        raise InvalidInputError("the zip archive contains no files")
    if len(infos) > limits.max_files:
        raise PayloadTooLargeError(
            f"the zip archive has {len(infos)} files; the limit is {limits.max_files}"
        )
    total = sum(i.file_size for i in infos)
    if total > limits.max_total_bytes:
        raise PayloadTooLargeError(
            f"the zip archive expands to {total} bytes; the limit is {limits.max_total_bytes}"
        )
    plan: list[tuple[zipfile.ZipInfo, str]] = []
    seen: set[str] = set()
    for info in infos:
        name = _clean_name(info)
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _CHUNK and ratio > limits.max_ratio:
            raise PayloadTooLargeError(
                f"zip entry {info.filename!r} expands {ratio:.0f}x; the limit is "
                f"{limits.max_ratio:.0f}x (zip bomb?)"
            )
        if not preserve:
            name = PurePosixPath(name).name
        if name in seen:
            advice = "" if preserve else "; upload with preserve_structure=true"
            raise InvalidInputError(f"two zip entries map to {name!r}{advice}")
        seen.add(name)
        plan.append((info, name))
    expansion.check(total)  # after the entries, so a single big one is named
    return plan


def _extract(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, out: IO[bytes], expansion: _Expansion
) -> None:
    # ZipExtFile stops at the declared size and checks the CRC, so a lying header ends in
    # BadZipFile ("Bad CRC-32") rather than in more bytes than were vetted. The running
    # total is counted anyway: the vetting must not rest on the reader alone.
    with zf.open(info) as src:
        while chunk := src.read(_CHUNK):
            expansion.add(len(chunk))
            out.write(chunk)


@contextmanager
def safe_entries(
    archive: BinaryIO, limits: ZipLimits, *, preserve_structure: bool = True
) -> Iterator[Iterator[tuple[str, BinaryIO]]]:
    """Yield ``(relative_path, stream)`` per entry, each extracted to a temp file in turn."""
    archive.seek(0, 2)
    expansion = _Expansion(archive.tell(), limits)
    archive.seek(0)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise InvalidInputError("the upload is not a valid zip archive") from None
    with zf, tempfile.TemporaryDirectory(prefix="millrace-zip-") as tmp:
        try:
            plan = _plan(zf, limits, preserve_structure, expansion)
        except (zipfile.BadZipFile, NotImplementedError, ValueError) as exc:
            raise InvalidInputError(f"the zip archive is damaged: {exc}") from None

        def entries() -> Iterator[tuple[str, BinaryIO]]:
            target = Path(tmp) / "entry"
            for info, name in plan:
                with target.open("w+b") as out:
                    try:
                        _extract(zf, info, out, expansion)
                    except (zipfile.BadZipFile, NotImplementedError, EOFError, zlib.error) as exc:
                        raise InvalidInputError(
                            f"zip entry {info.filename!r} cannot be read: {exc}"
                        ) from None
                    out.seek(0)
                    yield name, out

        yield entries()
