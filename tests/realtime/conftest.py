"""Generous throttles for the socket tests, which make many task writes through the
API. Users, clients and tasks come from tests/conftest.py; socket helpers from
tests/realtime/sockets.py."""

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _generous_throttle_rates(settings: Any) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "10000/min", "write": "10000/min"}
