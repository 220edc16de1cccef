"""The groups of a sensitive attribute, and the reference (privileged) group of each.

Metrics with a sign (AIF360's disparate impact, statistical parity, equal opportunity and
average odds differences) compare each group with one reference group; the user names it
(``privileged_groups``), or the report takes the largest group and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from millrace.exceptions import InvalidInputError
from millrace.ml.fairness.outcome import as_text

__all__ = ["MAX_GROUPS", "Reference", "check_privileged", "group_column", "reference_group"]

MAX_GROUPS = 20


def group_column(s: pd.Series) -> pd.Series:
    """Groups as text; a numeric attribute with many values is cut into quartiles."""
    if pd.api.types.is_numeric_dtype(s) and s.nunique() > 10:
        binned = pd.qcut(s, q=4, duplicates="drop").astype(str)
        return binned.where(s.notna(), "missing")
    out = as_text(s)
    top = out.value_counts().index[: MAX_GROUPS - 1]
    return out.where(out.isin(top), "other")


@dataclass(frozen=True)
class Reference:
    group: str
    assumed: bool
    why: str


def check_privileged(privileged: dict[str, str], sensitive: list[str]) -> None:
    """Every attribute named must be one of the sensitive columns."""
    unknown = sorted(set(privileged) - set(sensitive))
    if unknown:
        raise InvalidInputError(
            f"privileged_groups names {', '.join(map(repr, unknown))}, which "
            f"{'is' if len(unknown) == 1 else 'are'} not among the sensitive columns "
            f"({', '.join(map(repr, sensitive)) or 'none'})",
            field="privileged_groups",
        )


def reference_group(column: str, groups: pd.Series, given: str | None) -> Reference:
    counts = groups.value_counts()
    if given is not None:
        if given not in counts.index:
            shown = ", ".join(repr(g) for g in sorted(counts.index)[:MAX_GROUPS])
            raise InvalidInputError(
                f"privileged group {given!r} is not a group of {column!r} (its groups: {shown})",
                field="privileged_groups",
            )
        return Reference(given, False, "given in privileged_groups")
    # Largest first; ties broken by name, so the choice does not depend on row order.
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    largest, n = ordered[0]
    return Reference(
        str(largest),
        True,
        f"assumed: the largest group ({n} rows); set privileged_groups to choose",
    )
