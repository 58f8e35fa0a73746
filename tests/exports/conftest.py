"""People and projects of the export tests: Mia (`member`) is the admin of "Garden",
where Otto (`other_member`) is a member and Vera a viewer; Oscar belongs to none of
it."""

from typing import cast

import pytest

from accounts.models import User
from projects.models import Project
from tests.factories import UserFactory
from tests.projects.helpers import new_project


@pytest.fixture
def viewer(db: None) -> User:
    return cast(User, UserFactory(username="vera", email="vera@example.com"))


@pytest.fixture
def outsider(db: None) -> User:
    return cast(User, UserFactory(username="oscar", email="oscar@example.com"))


@pytest.fixture
def garden(member: User, other_member: User, viewer: User) -> Project:
    return new_project(member, "Garden", (other_member, "member"), (viewer, "viewer"))
