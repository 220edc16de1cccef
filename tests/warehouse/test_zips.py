"""The whole-archive ratio: a bomb made of many entries each under the per-entry floor is
refused, on its headers and on the bytes it really expands to; zips of real data pass."""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pandas as pd
import pytest

from millrace.exceptions import InvalidInputError, PayloadTooLargeError
from millrace.warehouse.zips import ZipLimits, _Expansion, safe_entries

MiB = 1024 * 1024
LIMITS = ZipLimits(max_files=10_000, max_total_bytes=20 * 1024 * MiB, max_ratio=200.0)


def make_zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def many_small_bombs(n: int = 150) -> bytes:
    """The one from the issue: ``n`` entries of 1 MiB - 1 zeros, under the per-entry floor."""
    return make_zip([(f"part{i:03d}.bin", bytes(MiB - 1)) for i in range(n)])


def extract(data: bytes, limits: ZipLimits = LIMITS) -> dict[str, int]:
    """Every entry's name and the number of bytes read from it."""
    sizes: dict[str, int] = {}
    with safe_entries(io.BytesIO(data), limits) as entries:
        for name, stream in entries:
            sizes[name] = len(stream.read())
    return sizes


def test_many_entries_just_under_the_per_entry_floor_are_refused() -> None:
    bomb = many_small_bombs()
    assert len(bomb) < 200 * 1024  # ~150 KB expanding to ~157 MB
    read: list[str] = []
    with (
        pytest.raises(PayloadTooLargeError, match=r"expands \d+x in total") as err,
        safe_entries(io.BytesIO(bomb), LIMITS) as entries,
    ):
        read.extend(name for name, _ in entries)
    assert read == []  # refused on the headers, before the first entry was extracted
    assert "the limit is 200x (zip bomb?)" in str(err.value)
    assert err.value.status_code == 413


def _under_declare(data: bytes, size: int) -> bytes:
    """The bomb with every central-directory entry claiming ``size`` bytes, so its headers
    alone pass: what an attacker who knows the total check would send."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at != -1:
        struct.pack_into("<I", out, at + 24, size)  # uncompressed size
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def test_headers_that_under_declare_never_yield_more_than_they_declare() -> None:
    lying = _under_declare(many_small_bombs(), 1000)
    with zipfile.ZipFile(io.BytesIO(lying)) as zf:
        assert sum(i.file_size for i in zf.infolist()) == 150 * 1000  # the headers pass
    with pytest.raises(InvalidInputError, match="cannot be read: Bad CRC-32"):
        extract(lying)


def test_the_running_count_refuses_past_the_ratio_across_entries() -> None:
    """The count kept while extracting. The standard library's reader never hands over
    more than the headers declare (the test above), so it cannot be reached through an
    archive; it is checked here on its own, as the second line it is."""
    count = _Expansion(archive_bytes=12_000, limits=LIMITS)
    for _ in range(4):
        count.add(MiB // 2)  # 2 MiB from 12 KB: 175x
    with pytest.raises(PayloadTooLargeError, match=r"expands 2\d\dx in total"):
        count.add(MiB // 2)
    assert count.total == 2 * MiB  # the refused chunk is not counted as written
    small = _Expansion(archive_bytes=100, limits=LIMITS)
    small.add(MiB)  # 10,000x, but only 1 MiB: never a bomb
    with pytest.raises(PayloadTooLargeError):
        small.add(1)


def test_a_zip_of_three_small_csvs_passes() -> None:
    csv = b"age,income,sex,label\n" + b"".join(b"%d,%d.5,f,%d\n" % (i, i, i % 2) for i in range(50))
    sizes = extract(make_zip([(f"part{i}.csv", csv) for i in range(3)]))
    assert sizes == {f"part{i}.csv": len(csv) for i in range(3)}


def test_small_output_is_never_a_bomb_however_well_it_compresses() -> None:
    data = make_zip([(f"z{i}.txt", bytes(100_000)) for i in range(10)])  # 1 MB, ~1000x
    assert sum(extract(data).values()) == 1_000_000


def test_a_csv_over_the_floor_passes() -> None:
    """200,000 rows of ids, measurements and categories: about 3 MB, compressing about 3x."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": np.arange(200_000),
            "value": rng.normal(size=200_000).round(3),
            "group": rng.choice(["a", "b", "c"], 200_000),
        }
    )
    csv = frame.to_csv(index=False).encode()
    data = make_zip([("measurements.csv", csv), ("notes.txt", b"read me\n")])
    assert len(csv) > 2 * MiB and len(csv) / len(data) < 10
    assert extract(data)["measurements.csv"] == len(csv)


def test_the_limit_is_the_setting() -> None:
    bomb = many_small_bombs(4)  # ~4 MiB of zeros, ~1000x
    with pytest.raises(PayloadTooLargeError, match="the limit is 500x"):
        extract(bomb, ZipLimits(10, 10 * MiB, max_ratio=500.0))
    assert len(extract(bomb, ZipLimits(10, 10 * MiB, max_ratio=5000.0))) == 4
