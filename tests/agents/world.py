"""Driving journeys in-process: real agents and the embedded bus, no broker, no mocks."""

from __future__ import annotations

import io
import threading
import time
import uuid
from dataclasses import dataclass

import pandas as pd
from sklearn.datasets import load_diabetes
from sqlalchemy import select

from millrace.agents import AGENTS, subscription
from millrace.events.embedded import EmbeddedBus
from millrace.events.runner import ConsumerRunner
from millrace.warehouse.assets import AssetMeta
from millrace.warehouse.context import Warehouse
from millrace.warehouse.datasets import JourneyHints, upload_dataset
from millrace.warehouse.db import session_scope
from millrace.warehouse.models import Journey
from millrace.warehouse.users import create_user

TERMINAL = {"completed", "failed", "needs_input"}


def diabetes_frame() -> pd.DataFrame:
    """scikit-learn's bundled diabetes study; ``sex`` is the sensitive attribute."""
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["high_risk"] = (frame.pop("target") > 140).astype(int)
    return frame


@dataclass
class World:
    wh: Warehouse
    user_id: str

    def upload(self, frame: pd.DataFrame, dataset_id: str | None = None, **hints: object) -> str:
        dataset_id = dataset_id or f"ds-{uuid.uuid4().hex[:8]}"
        data = io.BytesIO(frame.to_csv(index=False).encode())
        upload_dataset(
            self.wh,
            owner_id=self.user_id,
            actor_id=self.user_id,
            dataset_id=dataset_id,
            files=[(f"{dataset_id}.csv", data)],
            meta=AssetMeta(),
            hints=JourneyHints(**hints),
        )  # type: ignore[arg-type]
        return dataset_id

    def run_agents(
        self, groups_suffix: str = "", rounds: int = 1, only: tuple[str, ...] = tuple(AGENTS)
    ) -> int:
        handled = 0
        for _ in range(rounds):
            for name in only:
                sub = subscription(name)
                sub.group += groups_suffix
                sub.backoff_base = 0.01
                handled += ConsumerRunner(self.wh, EmbeddedBus(self.wh), sub).run(
                    threading.Event(), burst=True, poll_timeout=0.05
                )
        return handled

    def journey(self, dataset_id: str) -> Journey:
        with session_scope(self.wh.sessions) as session:
            return session.scalars(
                select(Journey).where(
                    Journey.owner_id == self.user_id, Journey.dataset_id == dataset_id
                )
            ).one()

    def drive(self, dataset_id: str, timeout: float = 180) -> Journey:
        """Run every agent until the journey stops moving or ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            moved = self.run_agents()
            journey = self.journey(dataset_id)
            if journey.state in TERMINAL and not moved:
                return journey
        raise TimeoutError(f"journey for {dataset_id} hung in {self.journey(dataset_id).state}")


def new_world(wh: Warehouse) -> World:
    user_id = f"u{uuid.uuid4().hex[:8]}"
    with session_scope(wh.sessions) as session:
        create_user(session, user_id=user_id)
    return World(wh, user_id)
