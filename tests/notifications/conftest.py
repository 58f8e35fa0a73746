"""A shared project with one member of each project role, a task in it, and generous
throttles.

Who is who (the users come from tests/conftest.py, but Vera, Oscar and Sam):
    member ("mia")          the admin of `project` ("Garden"), which she created
    other_member ("otto")   a `member` of `project`
    sam ("sam")             a `member` of `project`
    viewer ("vera")         a `viewer` of `project`
    outsider ("oscar")      in no project but his personal one
    manager ("manon")       site manager: sees every task; in no project but her own

`bed` is a task of Garden that Otto created, assigned to Mia.
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
def sam(db: None) -> User:
    return UserFactory(username="sam", email="sam@example.com")


@pytest.fixture
def viewer_client(viewer: User, client_for: Callable[..., TokenClient]) -> TokenClient:
    return client_for(viewer)


@pytest.fixture
def outsider_client(outsider: User, client_for: Callable[..., TokenClient]) -> TokenClient:
    return client_for(outsider)


@pytest.fixture
def sam_client(sam: User, client_for: Callable[..., TokenClient]) -> TokenClient:
    return client_for(sam)


@pytest.fixture
def project(member: User, other_member: User, sam: User, viewer: User) -> Project:
    """ "Garden": Mia its admin, Otto and Sam members, Vera a viewer."""
    return new_project(
        member, "Garden", (other_member, "member"), (sam, "member"), (viewer, "viewer")
    )


@pytest.fixture
def bed(project: Project, other_member: User, member: User) -> Task:
    """A task of Garden, by Otto, assigned to Mia."""
    return TaskFactory(owner=other_member, project=project, assignee=member, title="Dig the bed")
