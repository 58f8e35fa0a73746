"""A shared project with one member of each project role, a task in it, and generous
throttles.

Who is who (the users come from tests/conftest.py, but Vera and Oscar):
    member ("mia")          the admin of `project` ("Garden"), which she created
    other_member ("otto")   a `member` of `project`
    viewer ("vera")         a `viewer` of `project`
    outsider ("oscar")      in no project but his personal one
    manager ("manon")       site manager: sees every task, changes every task
    admin ("ada")           site admin: also deletes every task (and comment)

`bed` is a task of Garden that Otto created, assigned to nobody.
"""

from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import User
from projects.models import Project
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory
from tests.helpers import TokenClient
from tests.projects.helpers import new_project


@pytest.fixture(autouse=True)
def _generous_throttle_rates(settings: Any) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "10000/min", "write": "10000/min"}


@pytest.fixture
def viewer(db: None) -> User:
    return UserFactory(username="vera", email="vera@example.com")


@pytest.fixture
def outsider(db: None) -> User:
    return UserFactory(username="oscar", email="oscar@example.com")


@pytest.fixture
def viewer_client(viewer: User, client_for: Callable[..., TokenClient]) -> TokenClient:
    return client_for(viewer)


@pytest.fixture
def outsider_client(outsider: User, client_for: Callable[..., TokenClient]) -> TokenClient:
    return client_for(outsider)


@pytest.fixture
def project(member: User, other_member: User, viewer: User) -> Project:
    """ "Garden": Mia its admin, Otto a member, Vera a viewer."""
    return new_project(member, "Garden", (other_member, "member"), (viewer, "viewer"))


@pytest.fixture
def bed(project: Project, other_member: User) -> Task:
    """A task of Garden, by Otto."""
    return TaskFactory(owner=other_member, project=project, title="Dig the bed")
