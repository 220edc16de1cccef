"""The artifacts steps pass each other: small JSON-able records pointing at folders.

The same records travel as local paths (local runner), KFP artifact paths, or claim-check
messages (Kafka-chained runner), so every step's contract is checked in one place.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["Evaluation", "Prepared", "Promotion", "SeriesSplit", "Trained"]


class SeriesSplit(BaseModel):
    """Where one series of a panel sits in the prepared arrays, and its split."""

    key: str
    n: int
    train_end: int
    val_end: int


class Prepared(BaseModel):
    uri: str
    config_hash: str
    config: dict[str, Any]
    columns: list[str]
    n: int
    train_end: int
    val_end: int
    step_seconds: float
    season: int
    # A panel's series in order (``n``, ``train_end`` and ``val_end`` above are the first
    # one's); empty for a single series.
    series: list[SeriesSplit] = []
    skipped: bool = False


class Trained(BaseModel):
    uri: str
    name: str
    params: dict[str, Any]
    train_seconds: float
    summary: dict[str, Any] = {}


class Evaluation(BaseModel):
    uri: str
    champion: str
    candidates: dict[str, dict[str, Any]]
    windows: dict[str, int]
    ensemble: Trained | None = None  # built by evaluate; in ``candidates`` as "ensemble"
    combinations: list[Trained] = []  # fixed combinations evaluate built (``stats_mean``)
    # What the champion was chosen on ("on") and, with several CV windows, what choosing is
    # worth on windows the choice was not made on (see scoring.honest_selection).
    selection: dict[str, Any] | None = None
    # The champion refitted on every row: what promote registers and serving loads.
    final: Trained | None = None

    @property
    def built(self) -> list[Trained]:
        return [*self.combinations, *([self.ensemble] if self.ensemble else [])]

    def champion_of(self, trained: list[Trained]) -> Trained:
        """The champion's record: a trained candidate, or a model built from them. It
        forecasts the test window (fitted on the rows before it); ``final`` is served."""
        return next(t for t in [*self.built, *trained] if t.name == self.champion)


class Promotion(BaseModel):
    name: str
    champion: str
    model_uri: str
    history: list[dict[str, Any]]
    # The run's model when the champion/challenger gate kept it out (``champion`` and
    # ``history`` then still name the live one): its entry, with ``verdict``.
    challenger: dict[str, Any] | None = None

    @property
    def latest(self) -> dict[str, Any]:
        """This run's entry, whether it went live or not."""
        return self.challenger or self.history[-1]
