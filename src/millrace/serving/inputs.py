"""Request bodies to columns: records, a column mapping, or Open Inference Protocol tensors.

Every shape problem is an ``InvalidInputError`` (422) naming the row or tensor at fault,
so a client learns what to fix from the answer alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from millrace.exceptions import InvalidInputError

__all__ = ["Columns", "from_columns", "from_records", "from_tensors"]

Columns = dict[str, list[Any]]


def from_records(records: Sequence[Any], wanted: Sequence[str]) -> tuple[Columns, int]:
    """``[{"a": 1, "b": "x"}, ...]`` -> ``{"a": [1, ...], "b": ["x", ...]}`` for ``wanted``."""
    if not records:
        raise InvalidInputError("the batch is empty: send at least one record")
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InvalidInputError(f"record {i} is not an object of column values")
    first = records[0]
    missing = [c for c in wanted if c not in first]
    if missing:
        raise InvalidInputError(_missing(missing, wanted))
    try:
        columns = {c: [r[c] for r in records] for c in wanted}
    except KeyError as exc:
        row = next(i for i, r in enumerate(records) if exc.args[0] not in r)
        raise InvalidInputError(f"record {row} has no column {exc.args[0]!r}") from None
    return columns, len(records)


def from_columns(mapping: Mapping[str, Any], wanted: Sequence[str]) -> tuple[Columns, int]:
    """``{"a": [1, 2], "b": ["x", "y"]}``: every wanted column, all of one length."""
    missing = [c for c in wanted if c not in mapping]
    if missing:
        raise InvalidInputError(_missing(missing, wanted))
    columns: Columns = {}
    for c in wanted:
        values = mapping[c]
        if not isinstance(values, list):
            raise InvalidInputError(f"column {c!r} must be a list of values")
        columns[c] = values
    return columns, _one_length(columns)


def from_tensors(tensors: Sequence[Any], wanted: Sequence[str]) -> tuple[Columns, int]:
    """One OIP input tensor per column, shape ``[n]`` or ``[n, 1]``; nested data is
    flattened in row-major order, as the protocol allows."""
    by_name = {t.name: t for t in tensors}
    missing = [c for c in wanted if c not in by_name]
    if missing:
        raise InvalidInputError(_missing(missing, wanted, what="input tensor"))
    columns: Columns = {}
    for c in wanted:
        t = by_name[c]
        if len(t.shape) not in (1, 2) or (len(t.shape) == 2 and t.shape[1] != 1):
            raise InvalidInputError(f"input {c!r} has shape {t.shape}; expected [n] or [n, 1]")
        data = _flatten(t.data)
        if len(data) != t.shape[0]:
            raise InvalidInputError(
                f"input {c!r} declares shape {t.shape} but holds {len(data)} values"
            )
        if t.datatype == "BYTES":
            data = [v.decode() if isinstance(v, bytes) else v for v in data]
        elif any(isinstance(v, str) for v in data):
            raise InvalidInputError(
                f"input {c!r} is declared {t.datatype} but holds text; declare it BYTES"
            )
        columns[c] = data
    return columns, _one_length(columns)


def _flatten(data: list[Any]) -> list[Any]:
    if data and isinstance(data[0], list):
        return [v for row in data for v in (row if isinstance(row, list) else [row])]
    return data


def _one_length(columns: Columns) -> int:
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        sizes = ", ".join(f"{c}={len(v)}" for c, v in columns.items())
        raise InvalidInputError(f"columns have different lengths ({sizes})")
    n = lengths.pop() if lengths else 0
    if n == 0:
        raise InvalidInputError("the batch is empty: send at least one row")
    return n


def _listed(names: Sequence[str], most: int) -> str:
    """The first ``most`` names, then how many were left out: a cut list must say so."""
    shown = ", ".join(map(repr, list(names)[:most]))
    return f"{shown} and {len(names) - most} more" if len(names) > most else shown


def _missing(missing: list[str], wanted: Sequence[str], what: str = "column") -> str:
    return (
        f"missing {what}(s) {_listed(missing, 10)}; the model expects {len(wanted)}: "
        f"{_listed(wanted, 30)}"
    )
