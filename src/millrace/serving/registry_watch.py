"""Which version of each model is live, and the thread that keeps it current.

``ModelStore`` is copy-on-write: a new version is loaded completely first, then one
assignment publishes a new index. A request reads the index once and keeps the model it
found, so requests in flight finish on the version they started with while new ones get
the new version; nothing is dropped or half-loaded.

``RegistryWatcher`` polls the registry's ``champion`` aliases (about once a second). The
registry is the source of truth for every kind of promotion (AutoML, the forecasting
pipeline, a rollback, the API), so polling it catches them all without a second channel.
A version that fails to load is logged, counted and retried later; the previous version
stays live meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from millrace.ml.registry import Champion, list_champions
from millrace.serving.loading import load_champion
from millrace.serving.metrics import ServingMetrics
from millrace.serving.models import ServedModel

__all__ = ["LoadFailure", "ModelStore", "RegistryWatcher"]

log = logging.getLogger("millrace.serving")
RETRY_FAILED_S = 30.0

Loader = Callable[[str, Champion], ServedModel]


@dataclass(frozen=True)
class LoadFailure:
    version: str
    error: str
    at: float
    owner: str = ""
    model_id: str = ""


def _no_store_yet(tracking_uri: str) -> bool:
    """An embedded (SQLite) tracking store that does not exist yet. Reading it would
    create it, racing the first trainer's own creation of the same tables."""
    prefix = "sqlite:///"
    return tracking_uri.startswith(prefix) and not Path(tracking_uri[len(prefix) :]).exists()


class ModelStore:
    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], ServedModel] = {}
        self.failures: dict[str, LoadFailure] = {}
        # Until the first pass over the registry is done, any model may be on its way;
        # after it, ``loading`` holds the (owner, model id) pairs whose champion is being
        # loaded for the first time. Both make a request a 503 "retry shortly", not a 404.
        self.first_pass_done = False
        self.loading: frozenset[tuple[str, str]] = frozenset()

    def is_loading(self, owner: str, model_id: str) -> bool:
        return not self.first_pass_done or (owner, model_id) in self.loading

    def get(self, owner: str, model_id: str) -> ServedModel | None:
        return self._by_key.get((owner, model_id))

    def failure_of(self, owner: str, model_id: str) -> LoadFailure | None:
        """Why ``owner``'s model is not served, matched by owner tag (names are ambiguous)."""
        return next(
            (f for f in self.failures.values() if (f.owner, f.model_id) == (owner, model_id)),
            None,
        )

    def owned_by(self, owner: str | None) -> list[ServedModel]:
        return [m for (o, _), m in sorted(self._by_key.items()) if owner is None or o == owner]

    def live_versions(self) -> dict[str, str]:
        return {m.name: m.version for m in self._by_key.values()}

    def publish(self, model: ServedModel) -> ServedModel | None:
        key = (model.champion.owner, model.champion.model_id)
        previous = self._by_key.get(key)
        self._by_key = {**self._by_key, key: model}
        self.failures.pop(model.name, None)
        return previous

    def retire(self, name: str) -> ServedModel | None:
        gone = next((m for m in self._by_key.values() if m.name == name), None)
        if gone is not None:
            key = (gone.champion.owner, gone.champion.model_id)
            self._by_key = {k: v for k, v in self._by_key.items() if k != key}
        return gone


class RegistryWatcher:
    def __init__(
        self,
        tracking_uri: str,
        store: ModelStore,
        metrics: ServingMetrics,
        *,
        interval_s: float = 1.0,
        loader: Loader = load_champion,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.store = store
        self.metrics = metrics
        self.interval_s = interval_s
        self.loader = loader
        self.synced = threading.Event()  # the first full pass is done
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sync(self) -> None:
        """One pass: load every champion whose live version differs, retire the rest."""
        if _no_store_yet(self.tracking_uri):
            return  # nothing trained yet; creating the store is the trainers' job
        try:
            champions = list_champions(self.tracking_uri)
        except Exception as exc:  # the registry is down: keep serving what is loaded
            self.metrics.registry_polls.labels("error").inc()
            if self.last_error != str(exc):
                log.warning("cannot read the model registry: %s", exc)
            self.last_error = str(exc)
            return
        self.metrics.registry_polls.labels("ok").inc()
        self.last_error = None
        live = self.store.live_versions()
        due = [c for c in champions if live.get(c.name) != c.version]
        self.store.loading = frozenset(  # new models only: a swap keeps serving the old
            (c.owner, c.model_id) for c in due if c.name not in live
        )
        try:
            for champion in due:
                self._load(champion)
                self.store.loading -= {(champion.owner, champion.model_id)}
        finally:
            self.store.loading = frozenset()
        wanted = {c.name for c in champions}
        for name in set(live) - wanted:
            gone = self.store.retire(name)
            if gone is not None:
                self.metrics.gone(gone.name, gone.version, gone.kind)
                log.info("%s has no champion any more; stopped serving v%s", name, gone.version)

    def _load(self, champion: Champion) -> None:
        failed = self.store.failures.get(champion.name)
        if (
            failed is not None
            and failed.version == champion.version
            and time.monotonic() - failed.at < RETRY_FAILED_S
        ):
            return
        started = time.monotonic()
        try:
            model = self.loader(self.tracking_uri, champion)
        except Exception as exc:
            self.metrics.load_failures.labels(champion.name).inc()
            self.store.failures[champion.name] = LoadFailure(
                champion.version,
                f"{type(exc).__name__}: {exc}",
                time.monotonic(),
                owner=champion.owner,
                model_id=champion.model_id,
            )
            log.exception("cannot load %s v%s", champion.name, champion.version)
            return
        self.metrics.load_seconds.labels(champion.name, model.kind).observe(
            time.monotonic() - started
        )
        previous = self.store.publish(model)
        self.metrics.live(
            model.name, model.version, model.kind, previous.version if previous else None
        )
        log.info(
            "%s v%s is live (was %s)",
            model.name,
            model.version,
            f"v{previous.version}" if previous else "not served",
        )

    def run(self) -> None:
        while not self._stop.is_set():
            self.sync()
            self.store.first_pass_done = True
            self.synced.set()
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="registry-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
