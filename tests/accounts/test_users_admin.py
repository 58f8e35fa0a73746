"""users/ and users/{id}/: admins manage roles and activation; nobody else may."""

import pytest

from accounts.models import User, UserSession
from tests.factories import PASSWORD, UserFactory
from tests.helpers import LOGIN_URL, ME_URL, REFRESH_URL, assert_error, assert_field_error

pytestmark = pytest.mark.django_db

USERS_URL = "/api/v1/users/"
USER_SHAPE = {"id", "username", "email", "role", "is_active", "date_joined"}


def user_url(user_or_id) -> str:
    pk = user_or_id.pk if isinstance(user_or_id, User) else user_or_id
    return f"{USERS_URL}{pk}/"


def deactivate(admin_client, user: User):
    return admin_client.patch(user_url(user), {"is_active": False}, format="json")


def send(client, method: str, url: str, data: dict):
    if method == "get":
        return client.get(url)
    return getattr(client, method)(url, data, format="json")


def test_admin_lists_every_user_in_pages(admin_client, admin, member, manager):
    response = admin_client.get(USERS_URL)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3
    assert {user["username"] for user in body["results"]} == {"ada", "mia", "manon"}
    for user in body["results"]:
        assert set(user) == USER_SHAPE
    roles = {user["username"]: user["role"] for user in body["results"]}
    assert roles == {"ada": "admin", "mia": "member", "manon": "manager"}


def test_admin_list_pages_with_limit_and_offset(admin_client, admin):
    UserFactory.create_batch(4)

    first = admin_client.get(USERS_URL, {"limit": 2}).json()
    second = admin_client.get(USERS_URL, {"limit": 2, "offset": 2}).json()

    assert first["count"] == 5
    assert len(first["results"]) == 2
    assert first["next"]
    assert first["previous"] is None
    assert len(second["results"]) == 2
    assert {u["id"] for u in first["results"]}.isdisjoint({u["id"] for u in second["results"]})


def test_admin_gets_one_user(admin_client, member):
    response = admin_client.get(user_url(member))

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == USER_SHAPE
    assert body["id"] == member.pk
    assert body["username"] == "mia"
    assert body["email"] == "mia@example.com"
    assert body["role"] == "member"
    assert body["is_active"] is True


@pytest.mark.parametrize("method", ["get", "patch"])
def test_admin_asking_for_an_unknown_user_gets_404(admin_client, method):
    response = send(admin_client, method, user_url(987654), {"role": "member"})

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("role", ["manager", "admin", "member"])
def test_admin_sets_a_role(admin_client, manager, role):
    response = admin_client.patch(user_url(manager), {"role": role}, format="json")

    assert response.status_code == 200, response.content
    assert set(response.json()) == USER_SHAPE
    assert response.json()["role"] == role
    assert User.objects.get(pk=manager.pk).role == role


def test_promoting_a_member_to_manager_grants_the_manager_permissions(admin_client, member):
    assert not member.has_perm("tasks.view_any_task")

    response = admin_client.patch(user_url(member), {"role": "manager"}, format="json")

    assert response.status_code == 200, response.content
    promoted = User.objects.get(pk=member.pk)
    assert promoted.has_perm("tasks.view_any_task")
    assert promoted.has_perm("tasks.change_any_task")
    assert not promoted.has_perm("accounts.manage_users")


def test_a_promotion_to_admin_reaches_the_users_current_session(
    admin_client, member, member_client, committed
):
    assert_error(member_client.get(USERS_URL), 403, "permission_denied")

    with committed():
        response = admin_client.patch(user_url(member), {"role": "admin"}, format="json")
    assert response.status_code == 200, response.content

    response = member_client.get(USERS_URL)

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("role", ["superhero", "", "ADMIN", None])
def test_setting_an_unknown_role_is_400_naming_role(admin_client, member, role):
    response = admin_client.patch(user_url(member), {"role": role}, format="json")

    assert_field_error(response, "role")
    assert User.objects.get(pk=member.pk).role == "member"


def test_deactivating_a_user_fails_their_access_token_at_once(
    api_client, admin_client, member, member_client, committed
):
    assert member_client.get(ME_URL).status_code == 200

    with committed():
        response = deactivate(admin_client, member)

    assert response.status_code == 200, response.content
    assert set(response.json()) == USER_SHAPE
    assert response.json()["is_active"] is False
    assert_error(member_client.get(ME_URL), 401, "authentication_failed")
    refresh = api_client.post(
        REFRESH_URL, {"refresh": member_client.tokens["refresh"]}, format="json"
    )
    assert_error(refresh, 401, "authentication_failed")
    assert not UserSession.objects.filter(user=member, ended_at__isnull=True).exists()
    login = api_client.post(LOGIN_URL, {"username": "mia", "password": PASSWORD}, format="json")
    assert_error(login, 401, "authentication_failed")


def test_deactivating_a_user_ends_every_one_of_their_sessions(
    admin_client, member, client_for, committed
):
    sessions = [client_for(member), client_for(member)]
    for client in sessions:
        assert client.get(ME_URL).status_code == 200

    with committed():
        assert deactivate(admin_client, member).status_code == 200

    for client in sessions:
        assert_error(client.get(ME_URL), 401, "authentication_failed")


def test_deactivating_a_user_leaves_other_users_alone(
    admin_client, member, other_member_client, committed
):
    assert other_member_client.get(ME_URL).status_code == 200

    with committed():
        assert deactivate(admin_client, member).status_code == 200

    assert other_member_client.get(ME_URL).status_code == 200
    assert admin_client.get(ME_URL).status_code == 200


def test_reactivating_a_user_lets_them_log_in_again(api_client, admin_client, member, committed):
    with committed():
        assert deactivate(admin_client, member).status_code == 200

    with committed():
        response = admin_client.patch(user_url(member), {"is_active": True}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["is_active"] is True
    login = api_client.post(LOGIN_URL, {"username": "mia", "password": PASSWORD}, format="json")
    assert login.status_code == 200, login.content


def test_setting_role_and_is_active_together(admin_client, member):
    response = admin_client.patch(
        user_url(member), {"role": "manager", "is_active": False}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["role"] == "manager"
    assert response.json()["is_active"] is False


def test_is_active_that_is_not_a_boolean_is_400_naming_it(admin_client, member):
    response = admin_client.patch(user_url(member), {"is_active": "sometimes"}, format="json")

    assert_field_error(response, "is_active")
    assert User.objects.get(pk=member.pk).is_active is True


def test_admin_cannot_deactivate_themselves(admin_client, admin, committed):
    with committed():
        response = deactivate(admin_client, admin)

    assert_error(response, 400, "validation_error")
    assert User.objects.get(pk=admin.pk).is_active is True
    assert admin_client.get(ME_URL).status_code == 200


@pytest.mark.parametrize("client_fixture", ["member_client", "manager_client"])
@pytest.mark.parametrize(
    ("method", "target"),
    [("get", "list"), ("get", "detail"), ("patch", "detail")],
)
def test_members_and_managers_are_forbidden_the_user_admin_endpoints(
    request, client_fixture, method, target, other_member
):
    client = request.getfixturevalue(client_fixture)
    url = USERS_URL if target == "list" else user_url(other_member)

    response = send(client, method, url, {"role": "admin"})

    assert_error(response, 403, "permission_denied")
    assert User.objects.get(pk=other_member.pk).role == "member"


@pytest.mark.parametrize("client_fixture", ["member_client", "manager_client"])
def test_members_and_managers_cannot_promote_themselves(request, client_fixture):
    client = request.getfixturevalue(client_fixture)
    me = client.get(ME_URL).json()

    response = client.patch(user_url(me["id"]), {"role": "admin"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert User.objects.get(pk=me["id"]).role == me["role"]


@pytest.mark.parametrize(
    ("method", "target"),
    [("get", "list"), ("get", "detail"), ("patch", "detail")],
)
def test_anonymous_user_admin_requests_are_401(api_client, member, method, target):
    url = USERS_URL if target == "list" else user_url(member)

    response = send(api_client, method, url, {"is_active": False})

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert User.objects.get(pk=member.pk).is_active is True


def test_a_superuser_without_the_admin_group_is_an_admin(client_for, member):
    root = UserFactory(username="root", email="root@example.com", superuser=True)

    response = client_for(root).get(user_url(member))

    assert response.status_code == 200, response.content
    assert client_for(root).get(ME_URL).json()["role"] == "admin"


@pytest.mark.parametrize("change", [{"is_active": False}, {"role": "admin"}])
def test_only_a_superuser_changes_a_superuser(admin_client, client_for, change):
    root = UserFactory(username="root", email="root@example.com", superuser=True)

    refused = admin_client.patch(user_url(root), change, format="json")
    by_a_superuser = client_for(
        UserFactory(username="root2", email="root2@example.com", superuser=True)
    ).patch(user_url(root), change, format="json")

    assert_error(refused, 403, "permission_denied")
    assert by_a_superuser.status_code == 200, by_a_superuser.content
