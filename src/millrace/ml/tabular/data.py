"""Reading a dataset version's table into pandas, and the checks a journey needs first."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd

from millrace.exceptions import InvalidInputError
from millrace.ml.column_names import listed, not_found
from millrace.warehouse.assets import get_asset, get_version
from millrace.warehouse.context import Warehouse
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import AssetKind

__all__ = ["MIN_ROWS", "SpecProblem", "check_spec", "infer_task", "load_frame"]

MIN_ROWS = 20
MAX_TABLE_BYTES = 2 * 1024**3
_MAX_CLASSES = 50


def load_frame(wh: Warehouse, owner_id: str, dataset_id: str, version: int) -> pd.DataFrame:
    """The first tabular file of the version (CSV, Parquet or XLSX) as a DataFrame."""
    with session_scope(wh.sessions) as session:
        asset = get_asset(session, AssetKind.DATASET, owner_id, dataset_id)
        found = get_version(session, asset, version)
        encoding = found.attributes.get("encoding", "utf-8")
        table = next((f for f in found.files if f.table_schema), None)
        if table is None:
            raise InvalidInputError(
                f"dataset {dataset_id} v{version} has no CSV, Parquet or XLSX file to learn from"
            )
        key, fmt, size = table.storage_key, table.table_schema["format"], table.size_bytes
        name = table.path
    if size > MAX_TABLE_BYTES:
        raise InvalidInputError(f"{name} is {size} bytes; journeys read at most {MAX_TABLE_BYTES}")
    raw = io.BytesIO(wh.storage.read_bytes(key))
    if fmt == "csv":
        sep = "\t" if name.lower().endswith(".tsv") else ","
        return pd.read_csv(raw, sep=sep, encoding=encoding)
    if fmt == "parquet":
        return pd.read_parquet(raw)
    return pd.read_excel(raw)


@dataclass(frozen=True)
class SpecProblem:
    """Why a journey cannot go on: ``needs_input`` (the user can fix the spec) or not."""

    message: str
    needs_input: bool


def infer_task(target: pd.Series) -> str | None:
    """classification or regression from the target's values; None if it is unclear."""
    values = target.dropna()
    if values.empty:
        return None
    if (
        values.dtype == object
        or isinstance(values.dtype, pd.CategoricalDtype)
        or (values.dtype == bool)
    ):
        return "classification"
    if pd.api.types.is_integer_dtype(values) or (values % 1 == 0).all():
        return "classification" if values.nunique() <= 20 else "regression"
    if pd.api.types.is_numeric_dtype(values):
        return "regression"
    return None


def check_spec(
    frame: pd.DataFrame, target: str | None, task: str | None, sensitive: list[str]
) -> SpecProblem | None:
    """The first reason the journey cannot start, or None. Never guesses the target."""
    columns = [str(c) for c in frame.columns]
    if not target:
        return SpecProblem(f"choose a target column (one of: {listed(columns)})", True)
    if target not in columns:
        return SpecProblem(not_found("target column", [target], columns), True)
    missing = [c for c in sensitive if c not in columns]
    if missing:
        return SpecProblem(not_found("sensitive column", missing, columns), True)
    if task is None:
        return SpecProblem(
            "confirm the task type (classification, regression or forecasting)", True
        )
    if len(frame) < MIN_ROWS:
        return SpecProblem(
            f"the dataset has {len(frame)} rows; at least {MIN_ROWS} are needed", False
        )
    y = frame[target]
    if y.isna().all():
        return SpecProblem(f"target column {target!r} is empty (all values missing)", False)
    if task == "classification":
        classes = y.dropna().nunique()
        if classes < 2:
            return SpecProblem(
                f"target column {target!r} has a single class ({y.dropna().iloc[0]!r}): "
                "there is nothing to learn",
                False,
            )
        if classes > _MAX_CLASSES:
            return SpecProblem(
                f"target {target!r} has {classes} classes; is this regression?", True
            )
    if task == "regression" and not pd.api.types.is_numeric_dtype(y.dropna()):
        return SpecProblem(
            f"regression needs a numeric target; {target!r} holds text "
            f"(e.g. {y.dropna().iloc[0]!r})",
            False,
        )
    if task == "forecasting":
        from millrace.ml.forecasting.spec import forecasting_problem

        problem = forecasting_problem(frame, target)
        return SpecProblem(problem, False) if problem else None
    if len([c for c in columns if c != target]) == 0:
        return SpecProblem("the dataset has no feature columns besides the target", False)
    return None
