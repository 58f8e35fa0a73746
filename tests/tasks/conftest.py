"""Generous throttles and points in time for the task tests.

Users, their clients and `task`/`assigned_task`/`others_task` come from
tests/conftest.py; helpers from tests/helpers.py and tests/tasks/helpers.py.
"""

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone


@pytest.fixture(autouse=True)
def _generous_throttle_rates(settings: Any) -> None:
    # Tests send more requests than a minute's default allowance; test_throttling
    # sets its own small rates on top of these.
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "10000/min", "write": "10000/min"}


@pytest.fixture
def now() -> datetime:
    return timezone.now()


@pytest.fixture
def past(now: datetime) -> datetime:
    return now - timedelta(days=2)


@pytest.fixture
def future(now: datetime) -> datetime:
    return now + timedelta(days=2)
