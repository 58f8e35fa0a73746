"""Changes operators make in the Django admin have the API's consequences."""

import pytest
from django.test import Client

from accounts.models import User, UserSession
from tests.accounts.conftest import ME_URL, claims
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client() -> Client:
    operator = UserFactory(username="root", email="root@example.com", superuser=True)
    client = Client()
    client.force_login(operator)
    return client


def _change_form(user: User, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "username": user.username,
        "email": user.email,
        "is_active": "on" if user.is_active else "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "groups": [group.pk for group in user.groups.all()],
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_deactivating_a_user_in_the_admin_ends_their_sessions(
    operator_client, member, member_client, committed
):
    assert member_client.get(ME_URL).status_code == 200

    with committed():
        response = operator_client.post(
            f"/admin/accounts/user/{member.pk}/change/", _change_form(member, is_active="")
        )

    assert response.status_code == 302, response.content
    session = UserSession.objects.get(pk=claims(member_client.tokens["access"])["sid"])
    assert session.end_reason == UserSession.EndReason.ADMIN
    assert member_client.get(ME_URL).status_code == 401


def test_the_admin_lists_users_with_their_role(operator_client, manager):
    response = operator_client.get("/admin/accounts/user/")

    assert response.status_code == 200
    assert "manon" in response.content.decode()
    assert "manager" in response.content.decode()


def test_sessions_are_read_only_in_the_admin(operator_client, member_client):
    response = operator_client.get("/admin/accounts/usersession/")

    assert response.status_code == 200
    assert operator_client.get("/admin/accounts/usersession/add/").status_code == 403
