"""API5:2023 Broken Function Level Authorization.

Members and managers are refused every user-management operation of the schema
(403, nothing changes) and the Django admin; what only admins may do to tasks and
files (delete any task, see and delete any file) is refused to managers; a role
taken away is taken away at once; and an admin cannot lock themselves out.
"""

import pytest
from django.test import Client

from accounts.models import User
from accounts.roles import Role
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory
from tests.helpers import assert_error
from tests.security.helpers import fill, openapi_schema, operations

# The user-management operations: the schema's "users" tag, but not one's own profile.
ADMIN_ONLY = [
    (path, method)
    for path, method, op in operations()
    if path.startswith("/api/v1/users/") and not path.startswith("/api/v1/users/me/")
]
ESCALATIONS = [{"role": "admin"}, {"role": "manager"}, {"is_active": False}]


def test_the_user_management_operations_are_all_in_the_list():
    tagged = {
        (path, method)
        for path, item in openapi_schema()["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "users" in op.get("tags", []) and "/me/" not in path
    }

    assert tagged == set(ADMIN_ONLY)
    assert len(ADMIN_ONLY) >= 3


@pytest.mark.parametrize(("path", "method"), ADMIN_ONLY)
@pytest.mark.parametrize("role", ["member", "manager"])
@pytest.mark.parametrize(
    "body", ESCALATIONS, ids=lambda b: "-".join(f"{k}={v}" for k, v in b.items())
)
def test_members_and_managers_are_refused_user_management(
    path, method, role, body, request, member, manager, other_member, committed
):
    client = request.getfixturevalue(f"{role}_client")
    caller = request.getfixturevalue(role)
    for target in (caller, other_member):
        with committed():
            response = getattr(client, method)(fill(path, target.pk), body, format="json")

        assert_error(response, 403, "permission_denied")
        fresh = User.objects.get(pk=target.pk)
        assert fresh.is_active
        assert fresh.role == (Role.MANAGER if target == manager else Role.MEMBER)


@pytest.mark.parametrize(("path", "method"), ADMIN_ONLY)
def test_admins_may_use_user_management(path, method, admin_client, other_member, committed):
    # The positive control.
    # A GET's data would be query parameters, which the reads do not have (400).
    body = None if method == "get" else {"role": "manager"}
    with committed():
        response = getattr(admin_client, method)(fill(path, other_member.pk), body, format="json")

    assert response.status_code == 200, response.content


def test_a_manager_sees_and_changes_any_task_but_deletes_none(manager_client, others_task):
    url = f"/api/v1/tasks/{others_task.pk}/"
    assert manager_client.get(url).status_code == 200
    assert manager_client.patch(url, {"status": "in_progress"}, format="json").status_code == 200

    response = manager_client.delete(url)

    assert_error(response, 403, "permission_denied")
    assert Task.objects.filter(pk=others_task.pk).exists()


def test_an_assignee_may_update_but_not_delete(member_client, member, other_member):
    shared = TaskFactory(owner=other_member, assignee=member)
    url = f"/api/v1/tasks/{shared.pk}/"
    assert member_client.patch(url, {"status": "completed"}, format="json").status_code == 200

    response = member_client.delete(url)

    assert_error(response, 403, "permission_denied")
    assert Task.objects.filter(pk=shared.pk).exists()


def test_only_admins_delete_another_users_task(admin_client, others_task):
    assert admin_client.delete(f"/api/v1/tasks/{others_task.pk}/").status_code == 204


@pytest.mark.parametrize("suffix", ["", "download/"])
def test_only_admins_see_another_users_file(suffix, manager_client, admin_client, others_file):
    url = f"/api/v1/files/{others_file['id']}/{suffix}"

    assert_error(manager_client.get(url), 404, "not_found")
    assert admin_client.get(url).status_code == 200


def test_only_admins_delete_another_users_file(manager_client, admin_client, others_file):
    url = f"/api/v1/files/{others_file['id']}/"
    assert_error(manager_client.delete(url), 404, "not_found")

    assert admin_client.delete(url).status_code == 204


@pytest.mark.parametrize("role", ["member", "manager"])
@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/accounts/user/",
        "/admin/tasks/task/",
        "/admin/tasks/relation/",
        "/admin/comments/comment/",
        "/admin/notifications/notification/",
        "/admin/files/file/",
    ],
)
def test_the_django_admin_is_closed_to_members_and_managers(role, path, request, db):
    user = request.getfixturevalue(role)
    client = Client()
    client.force_login(user)

    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_django_admin_is_open_to_admins(admin):
    client = Client()
    client.force_login(admin)

    assert client.get("/admin/accounts/user/").status_code == 200


def test_a_demoted_admin_loses_user_management_at_once(admin, admin_client, client_for, committed):
    ally = UserFactory(username="ally", email="ally@example.com", role=Role.ADMIN)
    assert admin_client.get("/api/v1/users/").status_code == 200

    with committed():
        response = client_for(ally).patch(
            f"/api/v1/users/{admin.pk}/", {"role": "member"}, format="json"
        )
    assert response.status_code == 200, response.content

    assert_error(admin_client.get("/api/v1/users/"), 403, "permission_denied")
    assert User.objects.get(pk=admin.pk).is_staff is False


def test_an_admin_cannot_deactivate_themselves(admin, admin_client, committed):
    with committed():
        response = admin_client.patch(
            f"/api/v1/users/{admin.pk}/", {"is_active": False}, format="json"
        )

    assert response.status_code in (400, 403, 409), response.content
    assert "error" in response.json()
    assert User.objects.get(pk=admin.pk).is_active
    assert admin_client.get("/api/v1/users/").status_code == 200


@pytest.mark.parametrize("method", ["put", "delete", "post"])
def test_methods_outside_the_schema_are_not_allowed_on_users(method, admin_client, other_member):
    # A ModelViewSet mixin added by mistake would expose deletion or replacement.
    response = getattr(admin_client, method)(f"/api/v1/users/{other_member.pk}/", {}, format="json")

    assert_error(response, 405, "method_not_allowed")
    assert User.objects.filter(pk=other_member.pk).exists()


def test_metrics_ask_for_their_token_when_one_is_set(settings, db):
    settings.METRICS_TOKEN = "scrape-secret-0123456789"
    client = Client()

    assert client.get("/monitoring/metrics/").status_code == 401
    wrong = client.get("/monitoring/metrics/", HTTP_AUTHORIZATION="Bearer wrong")
    assert wrong.status_code == 401
    right = client.get("/monitoring/metrics/", HTTP_AUTHORIZATION="Bearer scrape-secret-0123456789")
    assert right.status_code == 200
