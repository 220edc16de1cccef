"""``millrace sample``: write a real dataset that ships inside installed packages as a CSV.

A newcomer's first upload needs a file; these are the demo's two datasets (nothing is
downloaded), plus a rows file to send to ``millrace predict``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from millrace.exceptions import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SAMPLES", "sample", "sample_frame"]


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["high_risk"] = (frame.pop("target") > 140).astype(int)
    return frame


def _air_passengers() -> pd.DataFrame:
    from statsforecast.utils import AirPassengersDF

    return AirPassengersDF.rename(columns={"ds": "month", "y": "passengers"})[
        ["month", "passengers"]
    ]


# name -> (the frame, its target column, what it is)
SAMPLES = {
    "diabetes": (
        _diabetes,
        "high_risk",
        "scikit-learn's diabetes study, 442 patients; high_risk = progression above 140",
    ),
    "air-passengers": (
        _air_passengers,
        "passengers",
        "Box & Jenkins' monthly airline passengers, 1949-1960 (statsforecast)",
    ),
}


def sample_frame(name: str) -> pd.DataFrame:
    if name not in SAMPLES:
        raise InvalidInputError(f"unknown sample {name!r}: choose one of {', '.join(SAMPLES)}")
    return SAMPLES[name][0]()


def sample(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(SAMPLES)}")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The CSV to write (default NAME.csv)")
    ] = None,
    head: Annotated[int | None, typer.Option("--head", help="Only the first N rows", min=1)] = None,
    drop_target: Annotated[
        bool,
        typer.Option("--drop-target", help="Leave the target out: rows for millrace predict"),
    ] = False,
) -> None:
    """Write a packaged public dataset as a CSV, for a first upload or a predict.

    Example: millrace sample diabetes --head 5 --drop-target --output rows.csv
    """
    frame = sample_frame(name)
    target = SAMPLES[name][1]
    if drop_target:
        frame = frame.drop(columns=[target])
    if head is not None:
        frame = frame.head(head)
    path = output or Path(f"{name}.csv")
    frame.to_csv(path, index=False)
    typer.echo(
        f"wrote {path} ({len(frame)} rows, {frame.shape[1]} columns"
        f"{'' if drop_target else f'; target {target}'}): {SAMPLES[name][2]}"
    )
