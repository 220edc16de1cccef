"""Artifacts appear whole or not at all: a writer that dies midway leaves the old file
(or none), never a truncated one, and preprocess never skips on a partial output."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from millrace.atomic import replacing_dir, replacing_file, write_text
from millrace.ml.forecasting.base import model_files, save_model
from millrace.ml.forecasting.data import PreprocessConfig
from millrace.ml.forecasting.models import Naive
from millrace.pipelines import steps


class Boom(RuntimeError):
    pass


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _dies_writing_file(path: Path, data: bytes) -> None:
    with replacing_file(path) as f:
        f.write(data)
        raise Boom


def _dies_writing_folder(folder: Path) -> None:
    with replacing_dir(folder) as tmp:
        (tmp / "c").write_text("2")
        raise Boom


def test_a_file_write_that_fails_midway_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    write_text(path, '{"v": 1}')
    with pytest.raises(Boom):
        _dies_writing_file(path, b'{"v": 2, "half')
    assert path.read_text() == '{"v": 1}'
    assert _entries(tmp_path) == ["record.json"]  # no temporary file left behind


def test_a_file_write_that_fails_midway_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(Boom):
        _dies_writing_file(tmp_path / "new.bin", b"\x00" * 1000)
    assert _entries(tmp_path) == []


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    with replacing_dir(folder) as tmp:
        (tmp / "a").write_text("1")
        (tmp / "b").write_text("1")
    with pytest.raises(Boom):
        _dies_writing_folder(folder)
    assert _entries(folder) == ["a", "b"] and (folder / "a").read_text() == "1"
    with replacing_dir(folder) as tmp:
        (tmp / "c").write_text("2")
    assert _entries(folder) == ["c"]  # nothing of the old version lingers
    assert _entries(tmp_path) == ["model"]


class _BreaksMidway(Mapping[str, bytes]):
    """A model's files whose serialisation fails after the first one."""

    def __getitem__(self, key: str) -> bytes:
        raise KeyError(key)

    def __len__(self) -> int:
        return 2

    def __iter__(self) -> Iterator[str]:
        yield "spec.json"
        raise Boom

    def items(self) -> Any:
        yield "spec.json", b'{"name": "naive"'
        raise Boom


class _Broken(Naive):
    def save(self) -> dict[str, bytes]:
        return _BreaksMidway()  # type: ignore[return-value]


def test_a_model_save_that_fails_midway_keeps_the_saved_model(tmp_path: Path) -> None:
    folder = tmp_path / "naive"
    save_model(Naive(horizon=3), folder)
    saved = model_files(folder)
    with pytest.raises(Boom):
        save_model(_Broken(horizon=3), folder)
    assert model_files(folder) == saved
    assert json.loads(saved["spec.json"])["name"] == "naive"


def test_a_writer_killed_mid_write_leaves_the_old_folder(tmp_path: Path) -> None:
    """A real SIGKILL while the new version is half written."""
    folder = tmp_path / "prepared"
    with replacing_dir(folder) as tmp:
        (tmp / "series.npz").write_bytes(b"old")
        (tmp / "prepared.json").write_text("{}")
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from millrace.atomic import replacing_dir\n"
        f"with replacing_dir(Path({str(folder)!r})) as tmp:\n"
        "    (tmp / 'series.npz').write_bytes(b'new, half')\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (folder / "series.npz").read_bytes() == b"old"
    assert _entries(folder) == ["prepared.json", "series.npz"]


def test_preprocess_killed_midway_is_redone_not_skipped(
    air: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = PreprocessConfig(target="y", horizon=6, input_seq_len=12)
    work = tmp_path / "work"
    real_savez = np.savez

    def savez_dies_midway(file: Any, **arrays: Any) -> None:
        Path(file).write_bytes(b"PK\x03\x04 half an archive")
        raise Boom

    monkeypatch.setattr(np, "savez", savez_dies_midway)
    with pytest.raises(Boom):
        steps.preprocess(air, cfg, work)
    assert list((work / "prepared").iterdir()) == []  # no folder, no leftover
    monkeypatch.setattr(np, "savez", real_savez)
    first = steps.preprocess(air, cfg, work)
    assert not first.skipped
    assert steps.series(first)[0].y.shape == (first.n,)
    assert steps.preprocess(air, cfg, work).skipped


def test_preprocess_does_not_trust_an_unreadable_record(air: Path, tmp_path: Path) -> None:
    """A truncated record (left by a version that wrote in place) is redone, not skipped."""
    cfg = PreprocessConfig(target="y", horizon=6, input_seq_len=12)
    first = steps.preprocess(air, cfg, tmp_path / "work")
    record = Path(first.uri) / "prepared.json"
    record.write_text(record.read_text()[:40])
    again = steps.preprocess(air, cfg, tmp_path / "work")
    assert not again.skipped
    assert again.model_dump() == first.model_dump()
    assert json.loads(record.read_text())["config_hash"] == first.config_hash
