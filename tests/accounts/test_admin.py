"""Changes operators make in the Django admin have the API's consequences."""

from datetime import timedelta

import pytest
from django.contrib import messages
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts import admin as accounts_admin
from accounts import services
from accounts.models import User, UserSession
from accounts.roles import Role
from tests.factories import UserFactory
from tests.helpers import ME_URL, REFRESH_URL, TokenClient, claims

pytestmark = pytest.mark.django_db

USERS = "/admin/accounts/user/"
SESSIONS = "/admin/accounts/usersession/"
OUTSTANDING = "/admin/token_blacklist/outstandingtoken/"
BLACKLISTED = "/admin/token_blacklist/blacklistedtoken/"


@pytest.fixture
def operator() -> User:
    return UserFactory(username="root", email="root@example.com", superuser=True)


@pytest.fixture
def operator_client(operator: User) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def act(client: Client, action: str, objects, url: str = USERS):
    return client.post(url, {"action": action, "_selected_action": [o.pk for o in objects]})


def notes(response) -> list[tuple[int, str]]:
    """The (level, text) of the messages the admin queued for the next page."""
    return [(message.level, str(message)) for message in get_messages(response.wsgi_request)]


def refresh(client: TokenClient):
    return APIClient().post(REFRESH_URL, {"refresh": client.tokens["refresh"]}, format="json")


def session_of(client: TokenClient) -> UserSession:
    return UserSession.objects.get(pk=claims(client.tokens["access"])["sid"])


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


# User actions


def test_ending_a_users_sessions_refuses_their_tokens(
    operator_client, member, client_for, other_member_client, committed
):
    phone, laptop = client_for(member), client_for(member)

    with committed():
        response = act(operator_client, "end_sessions", [member])

    assert response.status_code == 302
    assert (messages.SUCCESS, "Ended 2 session(s) of 1 user(s).") in notes(response)
    for client in (phone, laptop):
        assert session_of(client).end_reason == UserSession.EndReason.ADMIN
        assert client.get(ME_URL).status_code == 401
        assert refresh(client).status_code == 401
    assert other_member_client.get(ME_URL).status_code == 200
    assert refresh(other_member_client).status_code == 200


def test_setting_a_role_changes_the_group_and_the_api_shows_it(
    operator_client, member, member_client, committed
):
    assert member_client.get(ME_URL).json()["role"] == "member"

    with committed():
        response = act(operator_client, "set_role_manager", [member])

    assert response.status_code == 302
    assert (messages.SUCCESS, "Role set to manager: 1 user(s).") in notes(response)
    member.refresh_from_db()
    assert [group.name for group in member.groups.all()] == [Role.MANAGER]
    assert member_client.get(ME_URL).json()["role"] == "manager"


def test_setting_the_admin_role_makes_staff_and_back(operator_client, member, committed):
    with committed():
        act(operator_client, "set_role_admin", [member])
    member.refresh_from_db()
    assert (member.role, member.is_staff) == (Role.ADMIN, True)

    with committed():
        act(operator_client, "set_role_member", [member])
    member.refresh_from_db()
    assert (member.role, member.is_staff) == (Role.MEMBER, False)


def test_a_superuser_keeps_the_admin_role_and_the_others_change(
    operator_client, operator, member, other_member, committed
):
    with committed():
        response = act(operator_client, "set_role_member", [operator, member, other_member])

    assert response.status_code == 302
    assert (
        messages.WARNING,
        "Skipped root: A superuser is always an admin.",
    ) in notes(response)
    assert (messages.SUCCESS, "Role set to member: 2 user(s).") in notes(response)
    operator.refresh_from_db()
    assert operator.role == Role.ADMIN


def test_deactivating_users_ends_their_sessions_and_skips_yourself(
    operator_client, operator, member, member_client, manager, manager_client, committed
):
    with committed():
        response = act(operator_client, "deactivate", [operator, member, manager])

    assert response.status_code == 302
    assert (
        messages.WARNING,
        "Skipped root: You cannot deactivate yourself.",
    ) in notes(response)
    assert (messages.SUCCESS, "Deactivated: 2 user(s).") in notes(response)
    for user, client in ((member, member_client), (manager, manager_client)):
        user.refresh_from_db()
        assert not user.is_active
        assert session_of(client).end_reason == UserSession.EndReason.DEACTIVATED
        assert client.get(ME_URL).status_code == 401
        assert refresh(client).status_code == 401
    operator.refresh_from_db()
    assert operator.is_active
    assert operator_client.get(USERS).status_code == 200


def test_user_actions_handle_at_most_the_bulk_limit(
    operator_client, member, other_member, monkeypatch, committed
):
    monkeypatch.setattr(accounts_admin, "BULK_LIMIT", 1)

    with committed():
        response = act(operator_client, "deactivate", [member, other_member])

    assert [level for level, _ in notes(response)] == [messages.WARNING, messages.SUCCESS]
    assert User.objects.filter(pk__in=[member.pk, other_member.pk], is_active=False).count() == 1


# The user list


def test_the_user_list_counts_live_sessions_only(operator_client, member, client_for, committed):
    ending, expired = client_for(member), client_for(member)
    client_for(member)
    with committed():
        act(operator_client, "end_selected", [session_of(ending)], url=SESSIONS)
    UserSession.objects.filter(pk=session_of(expired).pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = operator_client.get(USERS)

    counts = {user.username: user.live_session_count for user in response.context["cl"].result_list}
    assert counts == {"root": 0, "mia": 1}
    assert "column-live_sessions" in response.content.decode()


@pytest.mark.parametrize(
    "params",
    [{}, {"q": "mia"}, {"is_active__exact": "0"}, {"groups__id__exact": "1"}, {"o": "3"}],
)
def test_the_user_changelist_answers_with_any_filter(operator_client, member, manager, params):
    assert operator_client.get(USERS, params).status_code == 200


def test_the_user_change_page_answers(operator_client, member):
    assert operator_client.get(f"{USERS}{member.pk}/change/").status_code == 200


# Sessions and tokens are read-only


def test_ending_selected_sessions_leaves_the_users_other_sessions(
    operator_client, member, client_for, committed
):
    doomed, kept = client_for(member), client_for(member)

    with committed():
        response = act(operator_client, "end_selected", [session_of(doomed)], url=SESSIONS)

    assert (messages.SUCCESS, "Ended 1 session(s).") in notes(response)
    assert session_of(doomed).end_reason == UserSession.EndReason.ADMIN
    assert refresh(doomed).status_code == 401
    assert refresh(kept).status_code == 200


@pytest.mark.parametrize(
    ("url", "model"),
    [
        (SESSIONS, UserSession),
        (OUTSTANDING, OutstandingToken),
        (BLACKLISTED, BlacklistedToken),
    ],
)
def test_sessions_and_tokens_cannot_be_added_changed_or_deleted(
    operator_client, member_client, member, client_for, committed, url, model
):
    with committed():  # a rotation blacklists the first refresh token
        assert refresh(member_client).status_code == 200
    row = model.objects.first()

    assert operator_client.get(url).status_code == 200
    assert operator_client.get(f"{url}{row.pk}/change/").status_code == 200
    assert operator_client.get(f"{url}add/").status_code == 403
    assert operator_client.post(f"{url}{row.pk}/change/", {}).status_code == 403
    assert operator_client.get(f"{url}{row.pk}/delete/").status_code == 403
    assert operator_client.post(f"{url}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    operator_client.post(
        url, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )
    assert model.objects.filter(pk=row.pk).exists()


def test_the_token_pages_never_show_a_refresh_token(operator_client, member_client):
    token = OutstandingToken.objects.get(jti=claims(member_client.tokens["refresh"])["jti"])

    for url in (OUTSTANDING, f"{OUTSTANDING}{token.pk}/change/"):
        html = operator_client.get(url).content.decode()
        assert token.jti in html
        assert member_client.tokens["refresh"] not in html


@pytest.mark.parametrize(
    "params",
    [{}, {"q": "mia"}, {"end_reason__exact": "admin"}, {"created_at__year": "2024"}, {"o": "2"}],
)
def test_the_session_changelist_answers_with_any_filter(operator_client, member_client, params):
    assert operator_client.get(SESSIONS, params).status_code == 200


@pytest.mark.parametrize("url", [OUTSTANDING, BLACKLISTED])
def test_the_token_changelists_answer_a_search(operator_client, member_client, committed, url):
    with committed():
        refresh(member_client)

    assert operator_client.get(url, {"q": "mia"}).status_code == 200


# Lists cost the same whatever their length


def queries_of(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


def add_users(count: int) -> None:
    """Users in several roles, each with a session whose first refresh token was
    rotated (so each has outstanding and blacklisted tokens). Through the services,
    not the login endpoint, which would throttle this many logins."""
    roles = [Role.MEMBER, Role.MANAGER, Role.ADMIN]
    for number in range(count):
        user = UserFactory(role=roles[number % 3])
        issued = services.session_start(user=user, ip="192.0.2.1", user_agent="test")
        services.session_refresh(raw_refresh=issued.refresh)


@pytest.mark.parametrize("url", [USERS, SESSIONS, OUTSTANDING, BLACKLISTED])
def test_the_account_lists_cost_the_same_with_5_or_50_rows(
    operator_client, url, django_assert_max_num_queries
):
    add_users(5)
    operator_client.get(url)  # warms the login session's cache
    with_five = queries_of(operator_client, url)

    add_users(45)
    with django_assert_max_num_queries(with_five):
        response = operator_client.get(url)

    assert len(response.context["cl"].result_list) >= 50


# Operators with the admin role (staff, not superusers) and what the admin forbids.


@pytest.fixture
def admin_role_client(admin: User) -> Client:
    admin.refresh_from_db()
    assert not admin.is_superuser and admin.is_staff
    client = Client()
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    "url",
    [
        USERS,
        SESSIONS,
        OUTSTANDING,
        BLACKLISTED,
        "/admin/tasks/task/",
        "/admin/activity/event/",
        "/admin/files/file/",
        "/admin/auth/group/",
    ],
)
def test_an_admin_role_operator_sees_every_operator_list(admin_role_client, url):
    response = admin_role_client.get(url)

    assert response.status_code == 200


def test_an_admin_role_operator_runs_the_bulk_status_change(admin_role_client, admin, member):
    from activity.models import Event
    from tests.factories import TaskFactory

    task = TaskFactory(owner=member, status="pending")

    response = act(admin_role_client, "mark_completed", [task], url="/admin/tasks/task/")

    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == "completed"
    event = Event.objects.filter(subject_id=task.pk, type__startswith="task.").latest("id")
    assert (event.actor_id, event.changes["status"]) == (admin.pk, ["pending", "completed"])


@pytest.mark.parametrize("role", [Role.MEMBER, Role.MANAGER])
def test_members_and_managers_cannot_enter_the_admin(role):
    client = Client()
    client.force_login(UserFactory(role=role))

    response = client.get("/admin/tasks/task/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_users_are_deactivated_never_deleted_in_the_admin(operator_client, member):
    delete = operator_client.post(f"{USERS}{member.pk}/delete/", {"post": "yes"})
    listing = operator_client.get(USERS)

    assert delete.status_code == 403
    assert User.objects.filter(pk=member.pk).exists()
    assert 'value="delete_selected"' not in listing.content.decode()


def test_an_operator_cannot_deactivate_themselves_in_the_change_form(operator_client, operator):
    response = operator_client.post(
        f"{USERS}{operator.pk}/change/",
        {**_change_form(operator, is_active=""), "is_superuser": "on", "is_staff": "on"},
    )

    assert response.status_code == 302
    operator.refresh_from_db()
    assert operator.is_active


def test_the_assignee_autocomplete_offers_only_active_users(operator_client):
    UserFactory(username="casey-active")
    services.user_set_active(user=UserFactory(username="casey-gone"), is_active=False)

    response = operator_client.get(
        "/admin/autocomplete/",
        {"app_label": "tasks", "model_name": "task", "field_name": "assignee", "term": "casey"},
    )

    assert response.status_code == 200
    assert [item["text"] for item in response.json()["results"]] == ["casey-active"]


# Passwords and privileges.

NEW_PASSWORD = "An0ther-long-passphrase"


@pytest.mark.parametrize("usable", [True, False])
def test_a_password_reset_in_the_admin_ends_every_session_of_the_user(
    admin_role_client, member, member_client, committed, usable
):
    form = {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    if not usable:
        form = {"usable_password": "false", "unset-password": "1"}

    with committed():
        response = admin_role_client.post(f"{USERS}{member.pk}/password/", form)

    assert response.status_code == 302, response.content
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD) is usable
    assert member.has_usable_password() is usable
    assert session_of(member_client).end_reason == UserSession.EndReason.PASSWORD_CHANGE
    assert member_client.get(ME_URL).status_code == 401
    assert refresh(member_client).status_code == 401


def test_an_operator_who_resets_their_own_password_stays_in_the_admin(admin_role_client, admin):
    response = admin_role_client.post(
        f"{USERS}{admin.pk}/password/",
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert admin_role_client.get(USERS).status_code == 200


def test_an_admin_role_operator_cannot_give_privileges_beyond_the_roles(
    admin_role_client, admin, member
):
    from django.contrib.auth.models import Permission

    everything = Permission.objects.get(codename="delete_any_task")
    for user in (admin, member):
        response = admin_role_client.post(
            f"{USERS}{user.pk}/change/",
            {
                **_change_form(user, groups=[]),
                "is_superuser": "on",
                "is_staff": "on",
                "user_permissions": [everything.pk],
            },
        )
        assert response.status_code == 302, response.content

    admin.refresh_from_db()
    member.refresh_from_db()
    assert (admin.is_superuser, admin.is_staff, admin.role) == (False, True, Role.ADMIN)
    assert (member.is_superuser, member.is_staff, member.role) == (False, False, Role.MEMBER)
    assert not member.user_permissions.exists()
    assert not member.has_perm("tasks.delete_any_task")


def test_only_a_superuser_changes_a_superuser(admin_role_client, operator, operator_client):
    change = admin_role_client.post(
        f"{USERS}{operator.pk}/change/", _change_form(operator, is_active="")
    )
    password = admin_role_client.post(
        f"{USERS}{operator.pk}/password/",
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    deactivate = act(admin_role_client, "deactivate", [operator])

    assert (change.status_code, password.status_code) == (403, 403)
    assert deactivate.status_code == 302
    assert any("Only a superuser" in text for _, text in notes(deactivate))
    operator.refresh_from_db()
    assert operator.is_active and operator.is_superuser
    assert not operator.check_password(NEW_PASSWORD)
    assert operator_client.get(f"{USERS}{operator.pk}/change/").status_code == 200
