"""Fixtures of the webhook tests (test_api, test_delivery, test_worker): a local
receiver the webhooks may reach, and a shared project.

Who is who (member, other_member, manager and admin come from tests/conftest.py):
    member ("mia")          the admin of `project` ("Garden"), which she created
    other_member ("otto")   a `member` of `project`; the admin of `other_project`
    outsider ("oscar")      in no project but his personal one
    admin ("ada")           a site admin: manages every webhook, and global ones
"""

from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from accounts.models import User
from projects.models import Project
from tests.factories import UserFactory
from tests.helpers import TokenClient
from tests.projects.helpers import new_project
from tests.webhooks.receiver import Receiver


@pytest.fixture
def local_endpoints(settings: Any) -> None:
    """Webhooks may be sent over http to 127.0.0.1 (the receiver), and the tests'
    requests are not throttled."""
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "10000/min", "write": "10000/min"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


@pytest.fixture
def outsider(db: None) -> User:
    return cast(User, UserFactory(username="oscar", email="oscar@example.com"))


@pytest.fixture
def outsider_client(outsider: User, client_for: Callable[..., TokenClient]) -> TokenClient:
    return client_for(outsider)


@pytest.fixture
def project(member: User, other_member: User) -> Project:
    """ "Garden": Mia its admin, Otto a member."""
    return new_project(member, "Garden", (other_member, "member"))


@pytest.fixture
def other_project(other_member: User) -> Project:
    """ "Workshop": Otto its admin; Mia is not in it."""
    return new_project(other_member, "Workshop")
