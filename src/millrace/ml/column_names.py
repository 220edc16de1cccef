"""Naming a table's columns back to a person who named one that is not there.

A wide table's column list is cut short with "... and N more", so the reader knows the
list is not the whole table; a name that differs only in case or by a typo gets a
"did you mean" with the real one, which the user otherwise has to spot in the list.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = ["MAX_LISTED", "did_you_mean", "listed", "not_found"]

MAX_LISTED = 30


def listed(columns: Sequence[str], limit: int = MAX_LISTED) -> str:
    """``a, b, c, ... and 12 more`` (the whole list when it is short)."""
    shown = ", ".join(columns[:limit])
    rest = len(columns) - limit
    return f"{shown}, ... and {rest} more" if rest > 0 else shown


def did_you_mean(name: str, columns: Sequence[str]) -> str | None:
    """The column ``name`` most likely meant: the same name in another case first, then
    the closest spelling; None when nothing is close."""
    folded = [c for c in columns if c.casefold() == name.casefold()]
    if folded:
        return folded[0]
    close = difflib.get_close_matches(name, list(columns), n=1, cutoff=0.8)
    return close[0] if close else None


def not_found(what: str, names: Sequence[str], columns: Sequence[str]) -> str:
    """``target column 'Diagnosis' is not in the dataset; did you mean 'diagnosis'?
    (columns: ...)``; several names are listed together, each with its own guess."""
    guesses = {n: g for n in names if (g := did_you_mean(n, columns)) is not None}
    if len(names) == 1:
        name = names[0]
        hint = f"; did you mean {guesses[name]!r}?" if name in guesses else ""
        said = f"{what} {name!r} is"
    else:
        hint = "; did you mean " + ", ".join(f"{g!r} for {n!r}" for n, g in guesses.items())
        hint = hint + "?" if guesses else ""
        said = f"{what}s {', '.join(repr(n) for n in names)} are"
    return f"{said} not in the dataset{hint} (columns: {listed(columns)})"
