"""Schema of tabular files (columns, dtypes, row count) read in bounded memory.

CSV is parsed in chunks by pandas' C parser (its errors name the line, and it rejects a
broken quote instead of swallowing the rest of the file); Parquet answers from its footer;
XLSX is streamed row by row with openpyxl's read-only mode.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from millrace.exceptions import InvalidInputError

__all__ = ["TABULAR_SUFFIXES", "describe_table"]

TABULAR_SUFFIXES = {".csv", ".tsv", ".parquet", ".pq", ".xlsx"}
_CSV_CHUNK_ROWS = 100_000
_DTYPE_SAMPLE_ROWS = 1_000


def describe_table(path: BinaryIO, filename: str, encoding: str = "utf-8") -> dict[str, Any] | None:
    """Return ``{"format", "columns", "dtypes", "row_count"}``, or None if not tabular."""
    suffix = Path(filename).suffix.lower()
    if suffix in {".csv", ".tsv"}:
        return _describe_csv(path, filename, encoding, sep="\t" if suffix == ".tsv" else ",")
    if suffix in {".parquet", ".pq"}:
        return _describe_parquet(path, filename)
    if suffix == ".xlsx":
        return _describe_xlsx(path, filename)
    return None


def _merge_dtype(old: str | None, new: str) -> str:
    if old is None or old == new:
        return new
    numeric = {"int64", "float64"}
    if old in numeric and new in numeric:
        return "float64"
    return "object"


def _describe_csv(path: BinaryIO, filename: str, encoding: str, sep: str) -> dict[str, Any]:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InvalidInputError(f"unknown encoding {encoding!r}", field="encoding") from None
    dtypes: dict[str, str] = {}
    rows = 0
    try:
        reader = pd.read_csv(
            path, sep=sep, encoding=encoding, chunksize=_CSV_CHUNK_ROWS, low_memory=True
        )
        with reader:
            for chunk in reader:
                rows += len(chunk)
                for col, dtype in chunk.dtypes.items():
                    dtypes[str(col)] = _merge_dtype(dtypes.get(str(col)), str(dtype))
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{filename} is not valid {encoding} (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start} of a block); files from Excel or older European systems are often "
            "latin-1 or cp1252: re-upload with the 'encoding' field set (for example "
            "encoding=latin-1) or convert the file to UTF-8",
            file=filename,
        ) from None
    except pd.errors.EmptyDataError:
        raise InvalidInputError(f"{filename} has no columns", file=filename) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise InvalidInputError(
            f"{filename} is not a well-formed CSV: {str(exc).strip()}", file=filename
        ) from None
    return {
        "format": "csv",
        "encoding": encoding,
        "columns": list(dtypes),
        "dtypes": dtypes,
        "row_count": rows,
    }


def _describe_parquet(path: BinaryIO, filename: str) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInputError(f"{filename} is not a readable Parquet file: {exc}") from None
    schema = meta.schema_arrow
    return {
        "format": "parquet",
        "columns": schema.names,
        "dtypes": {f.name: str(f.type) for f in schema},
        "row_count": meta.metadata.num_rows,
    }


def _describe_xlsx(path: BinaryIO, filename: str) -> dict[str, Any]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, KeyError, OSError) as exc:
        raise InvalidInputError(f"{filename} is not a readable XLSX workbook: {exc}") from None
    try:
        sheet = wb.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            return {
                "format": "xlsx",
                "sheet": sheet.title,
                "columns": [],
                "dtypes": {},
                "row_count": 0,
            }
        columns = [str(c) if c is not None else f"column_{i}" for i, c in enumerate(header)]
        sample: list[tuple[Any, ...]] = []
        count = 0
        for row in rows:
            count += 1
            if len(sample) < _DTYPE_SAMPLE_ROWS:
                sample.append(row)
        frame = pd.DataFrame(sample, columns=columns).infer_objects()
        return {
            "format": "xlsx",
            "sheet": sheet.title,
            "sheets": wb.sheetnames,
            "columns": columns,
            "dtypes": {c: str(t) for c, t in frame.dtypes.items()},
            "row_count": count,
        }
    finally:
        wb.close()
