"""A user deleted outside the API.

Through the ORM (`manage.py shell`, a queryset's `delete()`): a signal tells the
authentication cache inside the deletion's transaction, so their tokens are refused
from the next request on. By raw SQL, which no code sees: their cached entries may
let reads through until they expire (auth_cache.SNAPSHOT_TTL), but a write that
hits the missing user's foreign key, or a lookup of their row, is a 401 (session
ended, from then on in every process), never a 500.
"""

import time
import uuid
from typing import Any

import pytest
from django.core.cache import cache, caches
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from accounts import auth_cache, services
from accounts.models import User
from tests.factories import shared_project
from tests.helpers import ME_URL, TokenClient, assert_error, claims

TASKS_URL = "/api/v1/tasks/"


def live(client: TokenClient) -> bool:
    return bool(client.get(ME_URL).status_code == 200)


def assert_session_ended(response: Any) -> None:
    assert_error(response, 401, "authentication_failed")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# Through the ORM.


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["instance", "queryset"])
def test_a_user_deleted_through_the_orm_is_refused_at_once(how, member, client_for, committed):
    holder = client_for(member)
    assert live(holder)  # cached as live

    with committed():
        if how == "instance":
            User.objects.get(pk=member.pk).delete()
        else:
            User.objects.filter(pk=member.pk).delete()

    assert_session_ended(holder.get(ME_URL))


@pytest.mark.django_db
def test_a_user_deleted_through_the_orm_is_refused_before_the_deletion_commits_too(
    member, client_for
):
    # Between the deletion and its commit the cache holds "ask the database".
    holder = client_for(member)
    assert live(holder)

    User.objects.filter(pk=member.pk).delete()

    assert cache.get(auth_cache.user_key(member.pk)) == auth_cache.UNSETTLED
    assert_session_ended(holder.get(ME_URL))


# By raw SQL: real commits, so the foreign keys are checked as in production.


def delete_by_sql(user_id: int) -> None:
    """What an operator's SQL must do to delete a fresh user: their rows in the tables
    that refer to them (their memberships, and their personal project, empty), their
    name off the events they made (registration records one), then theirs. No code
    runs."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM token_blacklist_blacklistedtoken WHERE token_id IN "
            "(SELECT id FROM token_blacklist_outstandingtoken WHERE user_id = %s)",
            [user_id],
        )
        for table in (
            "token_blacklist_outstandingtoken",
            "accounts_usersession",
            "accounts_user_groups",
            "accounts_user_user_permissions",
            "projects_membership",
        ):
            cursor.execute(f"DELETE FROM {table} WHERE user_id = %s", [user_id])  # noqa: S608
        cursor.execute("DELETE FROM projects_project WHERE personal_owner_id = %s", [user_id])
        cursor.execute("UPDATE activity_event SET actor_id = NULL WHERE actor_id = %s", [user_id])
        cursor.execute("DELETE FROM accounts_user WHERE id = %s", [user_id])


def upload() -> dict[str, Any]:
    return {"file": SimpleUploadedFile("note.txt", b"hello\n", content_type="text/plain")}


WRITES = {
    "create-task": lambda client: client.post(TASKS_URL, {"title": "as a ghost"}, format="json"),
    "idempotent-create": lambda client: client.post(
        TASKS_URL,
        {"title": "as a ghost"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    ),
    "profile-change": lambda client: client.patch(
        ME_URL, {"email": "ghost@example.com"}, format="json"
    ),
    "upload": lambda client: client.post("/api/v1/files/", upload(), format="multipart"),
}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("write", list(WRITES))
def test_a_write_by_a_user_deleted_by_sql_is_401_and_ends_the_session_everywhere(
    write, member, client_for, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    holder = client_for(member)
    assert live(holder)  # cached as live: authentication alone cannot notice
    delete_by_sql(member.pk)

    response = WRITES[write](holder)

    assert_session_ended(response)
    # From then on every process refuses the token, reads included.
    assert cache.get(auth_cache.user_key(member.pk)) == {}
    assert_session_ended(holder.get(ME_URL))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_reads_of_a_user_deleted_by_sql_stop_when_their_entries_expire(member, client_for):
    holder = client_for(member)
    assert live(holder)
    delete_by_sql(member.pk)
    keys = auth_cache.entry_keys(member.pk, claims(holder.tokens["access"])["sid"])

    # The guarantee for reads: at most SNAPSHOT_TTL from when the entries were cached.
    assert all(0 < seconds_left(key) <= auth_cache.SNAPSHOT_TTL for key in keys)
    cache.delete_many(keys)  # what expiry does

    assert_session_ended(holder.get(ME_URL))


def seconds_left(key: str) -> float:
    backend = caches["default"]
    if hasattr(backend, "ttl"):  # django-redis
        return float(backend.ttl(key))
    expires_at = backend._expire_info[backend.make_and_validate_key(key)]  # local memory
    return float(expires_at - time.time())


# Siblings: another row deleted between a request's checks and its write.


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_task_assigned_to_a_user_deleted_after_the_checks_is_409_not_500(
    member, other_member, client_for, monkeypatch
):
    import tasks.services

    project = shared_project(member, other_member)
    creator = client_for(member)
    check = tasks.services._check_assignee

    def deleted_meanwhile(*args: Any) -> None:
        check(*args)
        delete_by_sql(other_member.pk)  # after the service found the assignee a member

    monkeypatch.setattr(tasks.services, "_check_assignee", deleted_meanwhile)

    response = creator.post(
        TASKS_URL,
        {"title": "for a ghost", "assignee": other_member.pk, "project": project.pk},
        format="json",
    )

    assert_error(response, 409, "conflict")
    assert live(creator)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_task_assigned_to_a_user_deleted_before_the_service_is_400_naming_assignee(
    member, other_member, client_for, monkeypatch
):
    import tasks.views

    project = shared_project(member, other_member)
    creator = client_for(member)
    create = tasks.views.services.task_create

    def deleted_meanwhile(**kwargs: Any) -> Any:
        delete_by_sql(other_member.pk)  # after the serializer found the assignee
        return create(**kwargs)

    monkeypatch.setattr(tasks.views.services, "task_create", deleted_meanwhile)

    response = creator.post(
        TASKS_URL,
        {"title": "for a ghost", "assignee": other_member.pk, "project": project.pk},
        format="json",
    )

    # No longer a member of the project: the service's own check says so.
    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["assignee"]
    assert live(creator)


@pytest.mark.django_db
def test_an_admin_change_of_a_user_deleted_meanwhile_is_404_not_500(
    admin_client, member, monkeypatch
):
    update = services.user_admin_update

    def deleted_meanwhile(**kwargs: Any) -> Any:
        User.objects.filter(pk=member.pk).delete()  # after the view found the user
        return update(**kwargs)

    monkeypatch.setattr("accounts.views.services.user_admin_update", deleted_meanwhile)

    response = admin_client.patch(f"/api/v1/users/{member.pk}/", {"role": "manager"})

    assert_error(response, 404, "not_found")
