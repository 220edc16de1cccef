"""Public names are declared, and every declared name exists."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "millrace",
    "millrace.exceptions",
    "millrace.settings",
    "millrace.events",
    "millrace.events.topics",
    "millrace.warehouse.storage",
    "millrace.warehouse.assets",
    "millrace.warehouse.models",
    "millrace.warehouse.api",
    "millrace.testing",
    "millrace.events.testing",
    "millrace.events.runner",
    "millrace.agents",
    "millrace.agents.forecast",
    "millrace.ml.registry",
    "millrace.ml.forecasting.spec",
    "millrace.ml.explain.forecast",
    "millrace.pipelines.runners",
    "millrace.pipelines.runners.local",
    "millrace.pipelines.runners.kfp_local",
    "millrace.pipelines.runners.kafka",
    "millrace.pipelines.runners.kafka_ops",
    "millrace.client",
    "millrace.cli.errors",
    "millrace.pipelines.promotion",
    "millrace.pipelines.steps",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_declared_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.{attr}"
