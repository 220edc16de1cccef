"""The champion/challenger gate: a new version goes live only if it beats the champion.

Every AutoML run and forecasting pipeline registers a new version; before this gate each
one became the champion, so a worse model (a noisier upload, a shorter budget) could
silently replace a better one. The rule, stated once here and quoted in every verdict:

1. No champion yet, or the gate off (``MILLRACE_CHAMPION_GATE=false``): promoted.
2. The score compared is the new version's own selection metric (what AutoML optimised)
   when the champion has it too, else the first metric both have from ``PREFERRED``;
   forecasters compare MASE. With no metric in common the versions cannot be compared,
   and the new one is promoted (it is the only evidence there is), saying so.
3. Same held-out data where possible: when both versions were scored on the very same
   test rows (the fingerprint of the test split matches: the same data, split the same
   way; for a forecaster, the same series and preprocessing config) the comparison is
   exact. Otherwise each version's own test score is compared:
   different test rows, so the verdict is only as good as the test sets are alike, and
   the reason says so.
4. Promoted only if strictly better; a tie or a worse score registers the new version as
   the ``challenger`` (MLflow alias), with the reason. A user's promote still makes any
   version the champion.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LOWER_IS_BETTER",
    "METRIC_TAG",
    "PREFERRED",
    "TEST_SET_TAG",
    "Scores",
    "Verdict",
    "held_out_fingerprint",
    "judge",
]

LOWER_IS_BETTER = frozenset(
    {"log_loss", "rmse", "mae", "mse", "mape", "smape", "mase", "rmsse", "wape", "weighted"}
)
# The comparison metric when the new version's own one is missing on the champion.
PREFERRED = ("roc_auc", "roc_auc_ovr", "accuracy", "log_loss", "r2", "rmse", "mase", "smape")
METRIC_TAG = "millrace.metric"  # on a run: the metric the version was chosen on
TEST_SET_TAG = "millrace.test_set"  # on a run: the fingerprint of its test rows


@dataclass(frozen=True)
class Scores:
    """One version's test scores (without the ``test_`` prefix), the metric it was chosen
    on, and the fingerprint of its test rows."""

    version: str
    test: dict[str, float] = field(default_factory=dict)
    metric: str | None = None
    test_set: str | None = None

    @classmethod
    def from_run(cls, version: str, metrics: dict[str, float], tags: dict[str, str]) -> Scores:
        """From an MLflow run: ``test_*`` metrics and the gate's tags."""
        return cls(
            version=version,
            test={k.removeprefix("test_"): v for k, v in metrics.items() if k.startswith("test_")},
            metric=tags.get(METRIC_TAG) or None,
            test_set=tags.get(TEST_SET_TAG) or None,
        )


@dataclass(frozen=True)
class Verdict:
    """Whether the new version goes live, and the sentence that says why."""

    promoted: bool
    reason: str
    metric: str | None = None
    challenger_score: float | None = None
    champion_score: float | None = None
    champion_version: str | None = None
    basis: str = ""  # "same held-out data", "own test scores", or why nothing was compared

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _metric(new: Scores, live: Scores) -> str | None:
    usable = {k for k in new.test.keys() & live.test.keys() if _finite(new.test[k], live.test[k])}
    if new.metric in usable:
        return new.metric
    return next((m for m in PREFERRED if m in usable), None)


def _finite(*values: float) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)


def judge(new: Scores, live: Scores | None, *, enabled: bool = True) -> Verdict:
    """The verdict on ``new`` against the live champion ``live`` (None: there is none)."""
    if live is None:
        return Verdict(True, f"v{new.version} is the first champion", basis="no champion")
    if not enabled:
        return Verdict(
            True,
            f"v{new.version} promoted without comparison: the champion/challenger gate is off "
            "(MILLRACE_CHAMPION_GATE=false)",
            champion_version=live.version,
            basis="gate off",
        )
    metric = _metric(new, live)
    if metric is None:
        return Verdict(
            True,
            f"v{new.version} promoted: it shares no test score with champion v{live.version}, "
            "so they cannot be compared",
            champion_version=live.version,
            basis="not comparable",
        )
    mine, theirs = new.test[metric], live.test[metric]
    lower = metric in LOWER_IS_BETTER
    better = mine < theirs if lower else mine > theirs
    same = new.test_set is not None and new.test_set == live.test_set
    basis = "same held-out data" if same else "own test scores"
    if same:
        where = "on the same held-out rows"
    elif new.test_set and live.test_set:
        where = "each on its own test rows (the data or split differ)"
    else:
        where = "each on its own test rows (not known to be the same rows)"
    direction = "lower" if lower else "higher"
    compared = (
        f"test {metric} {mine:.4g} vs champion v{live.version}'s {theirs:.4g}, "
        f"{where}; {direction} is better"
    )
    if better:
        reason = f"v{new.version} promoted: it beats the champion ({compared})"
    else:
        reason = (
            f"v{new.version} not promoted, kept as challenger: it does not beat the champion "
            f"({compared})"
        )
    return Verdict(
        better,
        reason,
        metric=metric,
        challenger_score=mine,
        champion_score=theirs,
        champion_version=live.version,
        basis=basis,
    )


def held_out_fingerprint(rows: pd.DataFrame) -> str:
    """What identifies a test split: its rows' values, in order, and its column names.
    Two versions with the same fingerprint were scored on the very same held-out data."""
    import pandas as pd

    digest = hashlib.sha256("\x1f".join(map(str, rows.columns)).encode())
    digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:32]
