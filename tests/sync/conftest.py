"""Users in shared projects, and generous throttles (a sync runs many pages).

Who is who (the users come from tests/conftest.py, but Oscar):
    member ("mia")          the admin of `garden`, which she created
    other_member ("otto")   a `member` of `garden`
    outsider ("oscar")      in no project but his personal one
    manager ("manon")       site manager: sees every project and task

Helpers are in tests/sync/helpers.py.
"""

from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import User
from projects.models import Project
from tests.factories import UserFactory
from tests.helpers import TokenClient
from tests.projects.helpers import new_project


@pytest.fixture(autouse=True)
def _generous_throttle_rates(settings: Any) -> None:
    settings.THROTTLE_RATES = {
        **settings.THROTTLE_RATES,
        "read": "100000/min",
        "write": "100000/min",
    }


@pytest.fixture
def outsider(db: None) -> User:
    return UserFactory(username="oscar", email="oscar@example.com")


@pytest.fixture
def outsider_client(outsider: User, client_for: Callable[..., TokenClient]) -> TokenClient:
    return client_for(outsider)


@pytest.fixture
def garden(member: User, other_member: User) -> Project:
    """ "Garden": Mia its admin, Otto a member."""
    return new_project(member, "Garden", (other_member, "member"))


@pytest.fixture
def bulk_rates(settings: Any) -> None:
    """Room for bulk changes of hundreds of tasks in one test."""
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "bulk_tasks": "100000/min"}
