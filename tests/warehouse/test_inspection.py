"""Pickle detection on model files: every protocol, payloads dressed to slip past, and the
formats real models come in, which must not be flagged.

Every pickle here is made by ``pickle.dumps`` (or by hand, as an attacker would) and never
loaded. The ``os.system`` payload would leave a marker file if anything ran it.
"""

from __future__ import annotations

import bz2
import io
import json
import os
import pickle
import struct
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import xgboost as xgb
from safetensors.numpy import save as safetensors_save
from sklearn.datasets import load_diabetes

from millrace.warehouse.inspection import inspect_file, looks_like_pickle
from millrace.warehouse.models import AssetKind

MARKER = Path("/tmp") / f"millrace-pickle-ran-{os.getpid()}"


class Patient:
    def __init__(self) -> None:
        self.age, self.scores = 61, [0.2, 0.9]


class Payload:
    """Pickles as ``os.system("touch MARKER")``."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {MARKER}",))


def _flagged(data: bytes, name: str = "model.bin") -> bool:
    return looks_like_pickle(name, io.BytesIO(data))


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize(
    "obj",
    [{"age": 61, "sex": "F", "scores": [0.2, 0.9]}, [1, 2.5, "three", None], Patient(), Payload()],
    ids=["dict", "list", "instance", "os.system"],
)
def test_every_protocol_is_flagged(protocol: int, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=protocol)
    assert _flagged(data)
    assert not MARKER.exists()


def test_protocol_0_and_1_really_start_without_a_header() -> None:
    """What the old two-byte check missed: no PROTO opcode before protocol 2."""
    firsts = {pickle.dumps(o, protocol=p)[:1] for o in ({}, [], Patient()) for p in (0, 1)}
    assert firsts == {b"(", b"}", b"]", b"c"}


PAYLOAD = b"cos\nsystem\n(S'touch /tmp/never'\ntR."


@pytest.mark.parametrize(
    "data",
    [
        PAYLOAD,
        PAYLOAD[:-1],  # no STOP: the call runs before pickle notices
        PAYLOAD[:-1] + b"\xffgarbage",  # and an unknown opcode after it
        b"(S'touch /tmp/never'\nios\nsystem\n.",  # INST: import and call in one opcode
        b"Np0\n0Np0\n0" + PAYLOAD,  # a memo key stored twice (pickletools.dis refuses it)
        b"N" + PAYLOAD,  # something left on the stack at STOP
        b"N." + PAYLOAD,  # a harmless pickle first; a pickle.load loop reads the next
        b"V" + b"a" * (2 << 20) + b"\n0" + PAYLOAD,  # a 2 MiB line pushing the call out of reach
        b"B" + struct.pack("<I", 3 << 20) + bytes(3 << 20) + b"0" + PAYLOAD,  # 3 MiB of bytes
        b"(" * 300,  # a long run of opcodes that all make sense
    ],
    ids=[
        "global-reduce",
        "no-stop",
        "garbage-after-call",
        "inst",
        "memo-twice",
        "leftover-stack",
        "second-pickle",
        "long-line-padding",
        "binbytes-padding",
        "300-marks",
    ],
)
def test_hand_made_pickles_are_flagged(data: bytes) -> None:
    assert _flagged(data)


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return out.getvalue()


@cache
def _benign() -> dict[str, bytes]:
    frame = load_diabetes(as_frame=True).frame
    x, y = frame.drop(columns=["target"]), frame["target"]
    booster = lgb.LGBMRegressor(n_estimators=3, verbose=-1).fit(x, y)
    xgb_model = xgb.XGBRegressor(n_estimators=3).fit(x, y)
    parquet = io.BytesIO()
    frame.to_parquet(parquet)
    npy = io.BytesIO()
    np.save(npy, np.arange(100.0))
    return {
        "diabetes.csv": frame.to_csv(index=False).encode(),
        "cities.csv": b"city,population\nLondon,8900000\nParis,2100000\n",
        "config.json": json.dumps({"layers": [64, 32], "dropout": 0.1}).encode(),
        "frame.parquet": parquet.getvalue(),
        "model.skops": sio.dumps(booster),
        "lightgbm.txt": booster.booster_.model_to_string().encode(),
        "xgboost.ubj": bytes(xgb_model.get_booster().save_raw("ubj")),
        "xgboost.json": bytes(xgb_model.get_booster().save_raw("json")),
        "weights.safetensors": safetensors_save({"w": np.ones((4, 4), dtype=np.float32)}),
        "weights.npy": npy.getvalue(),
        "model.onnx": b"\x08\x07\x12\x07pytorch\x1a\x052.1.0:\x8c\x01\n\x1f\n\x05input",
        "bundle.zip": _zip({"a.csv": b"a,b\n1,2\n"}),
        "weights.bz2": bz2.compress(b"0.125 " * 10_000),
        "copyright.txt": b"(c) 2024 Millrace contributors\nAll rights reserved.\n",
        "labels.txt": b"cat\ndog\nbird\n",
        "notes.txt": b"Git v2.31.7 Release Notes\n==========================\n",
        "tuple.txt": b"(a, b)\n(c, d)\n",
        "list.txt": b"]\n",
        "readme.md": b"README\n\nNothing to see.\n",
        "big.csv": b"id,value\n" + b"".join(b"%d,%d.5\n" % (i, i) for i in range(200_000)),
    }


BENIGN = [
    *("diabetes.csv", "cities.csv", "config.json", "frame.parquet", "model.skops"),
    *("lightgbm.txt", "xgboost.ubj", "xgboost.json", "weights.safetensors", "weights.npy"),
    *("model.onnx", "bundle.zip", "weights.bz2", "copyright.txt", "labels.txt"),
    *("notes.txt", "tuple.txt", "list.txt", "readme.md", "big.csv"),
]


def test_the_benign_list_names_every_sample() -> None:
    assert sorted(BENIGN) == sorted(_benign())


@pytest.mark.parametrize("name", BENIGN)
def test_real_model_and_data_files_are_not_flagged(name: str) -> None:
    assert not _flagged(_benign()[name], name="upload.bin")


def test_a_short_pickle_spelled_by_text_counts_only_if_it_ends_the_file() -> None:
    """``Git v2.31.`` is a float and a STOP; with more text after it, it is not a pickle."""
    assert _flagged(b"Git v2.31.")
    assert not _flagged(b"Git v2.31.7 Release Notes\n")


def test_suffixes_are_flagged_whatever_the_bytes() -> None:
    assert _flagged(b"a,b\n1,2\n", name="model.PKL")
    assert _flagged(b"a,b\n1,2\n", name="weights.joblib")


def test_inspect_file_flags_a_protocol_0_model_and_rewinds() -> None:
    source = io.BytesIO(pickle.dumps(Payload(), protocol=0))
    source.seek(5)
    facts = inspect_file(AssetKind.MODEL, "model.bin", source, "utf-8")
    assert facts.unsafe is True
    assert source.tell() == 0
    safe = inspect_file(AssetKind.MODEL, "model.json", io.BytesIO(b'{"a": 1}'), "utf-8")
    assert safe.unsafe is False
    assert not MARKER.exists()


def test_a_dataframe_pickled_by_pandas_is_flagged() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    for protocol in (0, 1):
        assert _flagged(pickle.dumps(frame, protocol=protocol))
