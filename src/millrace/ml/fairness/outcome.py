"""Which target value is the favourable outcome, given by the user or assumed (and why).

Every verdict of a bias report depends on it: German credit coded with 'bad' as the
favourable label flips the four-fifths rule, and COMPAS with recidivism as favourable
inverts it. So the user can name it (``favorable_label``), and without it the report says
what it assumed and why, for the reader to check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from millrace.exceptions import InvalidInputError

__all__ = ["Outcome", "as_text", "favourable_outcome"]


@dataclass(frozen=True)
class Outcome:
    rule: Callable[[pd.Series], pd.Series]  # values of the target -> 1 favourable, 0 not
    meaning: str  # e.g. "credit == 'good'"
    label: str | None  # the favourable value as text (None for a regression target)
    assumed: bool
    why: str


def as_text(s: pd.Series) -> pd.Series:
    """Values as the text users type: codes stored as floats (1.0, 2.0) read as 1, 2."""
    if pd.api.types.is_float_dtype(s) and (s.dropna() % 1 == 0).all():
        s = s.astype("Int64")
    return s.astype(str).where(s.notna(), "missing")


def _matches(label: str) -> Callable[[pd.Series], pd.Series]:
    return lambda s: (as_text(pd.Series(s)) == label).astype(int)


def favourable_outcome(y: pd.Series, task: str, favorable_label: str | None = None) -> Outcome:
    """Read ``y`` (or predictions of it) as 1 = favourable; decided from the true labels."""
    values = y.dropna()
    name = y.name
    if task == "regression":
        if favorable_label is not None:
            raise InvalidInputError(
                "favorable_label applies to a classification target; a regression target "
                "is read as favourable above its median",
                field="favorable_label",
            )
        cut = float(values.median())
        return Outcome(
            rule=lambda s: (pd.Series(s) > cut).astype(int),
            meaning=f"{name} above its median ({cut:g})",
            label=None,
            assumed=True,
            why="a regression target has no labels: above the median counts as favourable",
        )
    labels = as_text(values)
    present = sorted(labels.unique().tolist())
    if favorable_label is not None:
        if favorable_label not in present:
            shown = ", ".join(repr(v) for v in present[:20])
            raise InvalidInputError(
                f"favorable_label {favorable_label!r} is not a value of {name!r} "
                f"(its values: {shown})",
                field="favorable_label",
            )
        return Outcome(
            _matches(favorable_label),
            f"{name} == {favorable_label!r}",
            favorable_label,
            False,
            "given as favorable_label",
        )
    if set(present) <= {"0", "1"} or set(present) <= {"False", "True"}:
        one = "True" if "True" in present else "1"
        return Outcome(
            _matches(one),
            f"{name} == {one}",
            one,
            True,
            f"assumed: the labels are binary and {one} usually codes the event; check it is "
            "the favourable one (in COMPAS 1 is recidivism) and set favorable_label if not",
        )
    minority = str(labels.value_counts().sort_index().idxmin())
    return Outcome(
        _matches(minority),
        f"{name} == {minority!r}",
        minority,
        True,
        f"assumed: {minority!r} is the rarest class; set favorable_label to choose",
    )
