from __future__ import annotations

import pytest

from millrace.warehouse.context import Warehouse
from tests.agents.world import World, new_world


@pytest.fixture
def world(warehouse: Warehouse) -> World:
    return new_world(warehouse)
