"""Personal API tokens: creating, listing and deleting them, using them over HTTP, and
every way one ends (docs/personal-tokens.md). Scopes: test_personal_token_scopes.py;
sockets: tests/realtime/test_socket_personal_tokens.py."""

import hashlib
import re
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

import accounts.auth_cache
import accounts.authentication
from accounts import auth_cache, personal_tokens, services
from accounts.authentication import PAT_ENDED, PAT_EXPIRED, PAT_INVALID
from accounts.models import PersonalToken, User
from tests.accounts.personal_token_helpers import (
    EVERY_SCOPE,
    TOKEN_SHAPE,
    TOKENS_URL,
    create_token,
    pat_client,
    token_of,
    token_url,
)
from tests.factories import PASSWORD, UserFactory
from tests.helpers import ME_URL, TASKS_URL, assert_error, assert_field_error, page, parse_dt

pytestmark = pytest.mark.django_db

TOKEN_FORMAT = re.compile(r"tm_pat_[A-Za-z0-9_-]{43}")
NEW_PASSWORD = "Another-Copper-Lantern-43"


def assert_refused(response: Any, message: str) -> None:
    error = assert_error(response, 401, "authentication_failed")
    assert error["message"] == message
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def update_queries(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("UPDATE") and "accounts_personaltoken" in q["sql"]
    ]


# --- creating: the token is shown once, only its hash is kept -----------------------


def test_a_new_token_is_answered_once_with_its_shape(member_client):
    response = member_client.post(
        TOKENS_URL, {"name": "  backup script ", "scopes": ["tasks:read"]}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == TOKEN_SHAPE | {"token"}
    assert TOKEN_FORMAT.fullmatch(body["token"])
    assert body["prefix"] == body["token"][:13]
    assert body["name"] == "backup script"
    assert body["scopes"] == ["tasks:read"]
    assert body["expires_at"] is None
    assert body["last_used_at"] is None
    assert parse_dt(body["created_at"]) <= timezone.now()
    # Not for a cache or a proxy to keep.
    assert response["Cache-Control"] == "no-store"


def test_only_the_hash_of_the_token_is_stored(member_client, member):
    body = create_token(member_client)

    row = PersonalToken.objects.get(pk=body["id"])
    assert row.user_id == member.pk
    assert row.key_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    secret = body["token"].removeprefix(body["prefix"])
    stored = [
        str(value) for value in PersonalToken.objects.filter(pk=row.pk).values().get().values()
    ]
    assert not any(secret in value for value in stored), stored


def test_listing_never_shows_the_token_again(member_client):
    body = create_token(member_client)

    response = member_client.get(TOKENS_URL)

    listed = page(response)["results"]
    assert [set(item) for item in listed] == [TOKEN_SHAPE]
    assert listed[0]["prefix"] == body["prefix"]
    assert body["token"].removeprefix(body["prefix"]) not in response.content.decode()


def test_two_tokens_are_different_and_listed_newest_first(member_client):
    first = create_token(member_client, name="first")
    second = create_token(member_client, name="second")

    assert first["token"] != second["token"]
    listed = page(member_client.get(TOKENS_URL))["results"]
    assert [item["id"] for item in listed] == [second["id"], first["id"]]


def test_scopes_are_kept_in_one_order_whatever_order_they_came_in(member_client):
    body = create_token(member_client, ["webhooks:manage", "files:read", "tasks:write"])

    assert body["scopes"] == ["tasks:write", "files:read", "webhooks:manage"]


def test_an_expiry_a_year_ahead_is_kept_as_given(member_client):
    expires_at = (timezone.now() + timedelta(days=365)).replace(microsecond=0)

    body = create_token(member_client, expires_at=expires_at.isoformat())

    assert parse_dt(body["expires_at"]) == expires_at
    assert PersonalToken.objects.get(pk=body["id"]).expires_at == expires_at


def test_an_explicit_null_expiry_means_none(member_client):
    assert create_token(member_client, expires_at=None)["expires_at"] is None


# --- bad input: a 400 naming the field -----------------------------------------------


def _in(**delta: float) -> str:
    return (timezone.now() + timedelta(**delta)).isoformat()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": ["tasks:read"]}, "name"),
        ({"name": "   ", "scopes": ["tasks:read"]}, "name"),
        ({"name": "x" * 101, "scopes": ["tasks:read"]}, "name"),
        ({"name": 7, "scopes": ["tasks:read"]}, "name"),
        ({"name": "n"}, "scopes"),
        ({"name": "n", "scopes": []}, "scopes"),
        ({"name": "n", "scopes": "tasks:read"}, "scopes"),
        ({"name": "n", "scopes": ["tasks:admin"]}, "scopes"),
        ({"name": "n", "scopes": ["tasks:read", "tasks:read"]}, "scopes"),
        ({"name": "n", "scopes": ["TASKS:READ"]}, "scopes"),
        ({"name": "n", "scopes": [1]}, "scopes"),
        ({"name": "n", "scopes": [None]}, "scopes"),
        ({"name": "n", "scopes": None}, "scopes"),
        ({"name": "n", "scopes": ["tasks:read"], "expires_at": _in(seconds=-1)}, "expires_at"),
        ({"name": "n", "scopes": ["tasks:read"], "expires_at": _in(days=367)}, "expires_at"),
        (
            {"name": "n", "scopes": ["tasks:read"], "expires_at": "2030-01-01T00:00:00"},
            "expires_at",
        ),
        ({"name": "n", "scopes": ["tasks:read"], "expires_at": "2030-01-01"}, "expires_at"),
        ({"name": "n", "scopes": ["tasks:read"], "expires_at": "soon"}, "expires_at"),
        ({"name": "n", "scopes": ["tasks:read"], "expires_at": 1893456000}, "expires_at"),
        ({"name": "n", "scopes": ["tasks:read"], "token": "tm_pat_x"}, "token"),
        ({"name": "n", "scopes": ["tasks:read"], "user": 1}, "user"),
    ],
    ids=[
        "name-missing",
        "name-blank",
        "name-too-long",
        "name-not-text",
        "scopes-missing",
        "scopes-empty",
        "scopes-not-a-list",
        "scope-unknown",
        "scope-twice",
        "scope-wrong-case",
        "scope-not-text",
        "scope-null",
        "scopes-null",
        "expiry-past",
        "expiry-over-a-year",
        "expiry-without-offset",
        "expiry-a-date",
        "expiry-garbage",
        "expiry-a-number",
        "unknown-field-token",
        "unknown-field-user",
    ],
)
def test_bad_input_is_a_400_naming_the_field(member_client, body, field):
    assert_field_error(member_client.post(TOKENS_URL, body, format="json"), field)

    assert not PersonalToken.objects.exists()


def test_every_bad_field_is_named_in_one_answer(member_client):
    response = member_client.post(
        TOKENS_URL,
        {"name": "", "scopes": ["nope", "tasks:read", "tasks:read"], "expires_at": _in(days=-1)},
        format="json",
    )

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"name", "scopes", "expires_at"}
    assert len(error["fields"]["scopes"]) == 2  # the unknown one and the repeated one


def test_an_unknown_scope_is_named_with_the_scopes_there_are(member_client):
    error = assert_field_error(
        member_client.post(TOKENS_URL, {"name": "n", "scopes": ["admin"]}, format="json"),
        "scopes",
    )

    assert error["fields"]["scopes"] == [
        'Item 0: "admin" is not a scope; the scopes are ' + ", ".join(EVERY_SCOPE) + "."
    ]


def test_a_body_that_is_not_an_object_is_a_400(member_client):
    response = member_client.post(TOKENS_URL, ["tasks:read"], format="json")

    assert_error(response, 400, "validation_error")


def test_an_account_holds_at_most_fifty_tokens_expired_ones_included(member, member_client):
    for n in range(personal_tokens.MAX_PER_USER - 1):
        services.personal_token_create(
            user=member, name=f"t{n}", scopes=["tasks:read"], expires_at=None
        )
    PersonalToken.objects.filter(name="t0").update(expires_at=timezone.now() - timedelta(days=1))
    last = create_token(member_client)

    response = member_client.post(
        TOKENS_URL, {"name": "one more", "scopes": ["tasks:read"]}, format="json"
    )

    assert_error(response, 409, "conflict")
    assert PersonalToken.objects.filter(user=member).count() == personal_tokens.MAX_PER_USER
    assert member_client.delete(token_url(last)).status_code == 204
    create_token(member_client)


def test_the_limit_is_per_account(member, other_member_client):
    for n in range(personal_tokens.MAX_PER_USER):
        services.personal_token_create(
            user=member, name=f"t{n}", scopes=["tasks:read"], expires_at=None
        )

    create_token(other_member_client)


# --- listing and deleting: your own tokens only --------------------------------------


def test_a_user_lists_only_their_own_tokens(member_client, other_member_client):
    mine = create_token(member_client)
    create_token(other_member_client)

    assert [item["id"] for item in page(member_client.get(TOKENS_URL))["results"]] == [mine["id"]]


def test_deleting_your_token_revokes_it_at_once(member_client, committed):
    body = create_token(member_client)
    script = pat_client(body)
    assert script.get(TASKS_URL).status_code == 200

    with committed():
        response = member_client.delete(token_url(body))

    assert response.status_code == 204, response.content
    assert not PersonalToken.objects.filter(pk=body["id"]).exists()
    assert page(member_client.get(TOKENS_URL))["results"] == []
    assert_refused(script.get(TASKS_URL), PAT_INVALID)


def test_a_deleted_token_is_refused_even_before_the_deletion_is_published(member_client):
    # Inside the deleting transaction the cache says "ask the database"; the
    # after-commit entry is not there yet (this test never commits).
    body = create_token(member_client)
    script = pat_client(body)
    assert script.get(TASKS_URL).status_code == 200

    assert member_client.delete(token_url(body)).status_code == 204

    assert_refused(script.get(TASKS_URL), PAT_INVALID)


def test_a_deletion_the_cache_cannot_be_told_of_is_refused_whole(member_client, monkeypatch):
    # Reported done, the token would still be served from the cache for a minute.
    body = create_token(member_client)
    script = pat_client(body)
    assert script.get(TASKS_URL).status_code == 200

    def refuse(keys: list[str]) -> None:
        raise auth_cache.SessionStoreUnavailable()

    monkeypatch.setattr(auth_cache, "publish_unsettled", refuse)
    response = member_client.delete(token_url(body))

    assert_error(response, 503, "service_unavailable")
    assert PersonalToken.objects.filter(pk=body["id"]).exists()
    assert script.get(TASKS_URL).status_code == 200


def test_another_users_token_is_not_found_and_keeps_working(member_client, other_member_client):
    theirs = create_token(other_member_client)

    assert_error(member_client.delete(token_url(theirs)), 404, "not_found")
    assert PersonalToken.objects.filter(pk=theirs["id"]).exists()
    assert pat_client(theirs).get(TASKS_URL).status_code == 200


@pytest.mark.parametrize("pk", ["999999", "0", "abc", "\uff11"], ids=repr)
def test_deleting_a_token_that_does_not_exist_is_a_404(member_client, pk):
    assert_error(member_client.delete(f"{TOKENS_URL}{pk}/"), 404, "not_found")


def test_the_token_endpoints_need_authentication(api_client, member_client):
    body = create_token(member_client)

    assert_error(api_client.get(TOKENS_URL), 401, "not_authenticated")
    assert_error(
        api_client.post(TOKENS_URL, {"name": "n", "scopes": ["tasks:read"]}, format="json"),
        401,
        "not_authenticated",
    )
    assert_error(api_client.delete(token_url(body)), 401, "not_authenticated")


def test_a_token_cannot_be_read_or_changed_one_by_one(member_client):
    body = create_token(member_client)

    assert member_client.get(token_url(body)).status_code == 405
    assert member_client.patch(token_url(body), {"name": "x"}, format="json").status_code == 405


# --- using a token over HTTP ----------------------------------------------------------


def test_a_token_authenticates_as_its_user(member_client, member, task):
    script = pat_client(create_token(member_client))

    response = script.get(TASKS_URL)

    assert [item["id"] for item in page(response)["results"]] == [task.pk]
    assert script.get(ME_URL).json()["id"] == member.pk


def test_the_bearer_scheme_may_be_written_in_any_case(member_client, member):
    raw = create_token(member_client)["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"bearer {raw}")

    assert client.get(ME_URL).json()["id"] == member.pk


def test_access_tokens_still_work_next_to_personal_tokens(member_client, member):
    create_token(member_client)

    assert member_client.get(ME_URL).json()["id"] == member.pk


@pytest.mark.parametrize(
    "raw",
    [
        "tm_pat_" + "A" * 43,  # well formed, unknown
        "tm_pat_short",
        "tm_pat_" + "A" * 44,
        "tm_pat_" + "A" * 42 + "!",
        "tm_pat_" + "é" * 43,
    ],
    ids=["unknown", "short", "long", "bad-character", "not-ascii"],
)
def test_a_token_that_is_not_one_is_refused_as_such(raw):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert_refused(client.get(TASKS_URL), PAT_INVALID)


def test_an_unknown_token_is_not_cached(member_client):
    raw = "tm_pat_" + "B" * 43
    pat_client(raw).get(TASKS_URL)

    assert cache.get(auth_cache.personal_token_key(personal_tokens.hash_of(raw))) is None


def test_a_cached_token_costs_no_query_to_authenticate(member_client):
    script = pat_client(create_token(member_client))
    assert script.get(ME_URL).status_code == 200

    with CaptureQueriesContext(connection) as queries:
        assert script.get(ME_URL).status_code == 200

    assert queries.captured_queries == []


def test_a_corrupt_cache_entry_is_replaced_by_the_database_state(member_client):
    body = create_token(member_client)
    key = auth_cache.personal_token_key(personal_tokens.hash_of(body["token"]))
    cache.set(key, {"id": body["id"], "user_id": 1}, 60)

    assert pat_client(body).get(ME_URL).status_code == 200

    assert cache.get(key)["key_hash"] == personal_tokens.hash_of(body["token"])


def test_another_tokens_entry_under_the_key_is_not_trusted(member_client, admin, client_for):
    # A well-formed entry of an admin's token copied under the member's key: trusting
    # it would make the member's token the admin's.
    mine = create_token(member_client)
    theirs = token_of(client_for, admin)
    their_key = auth_cache.personal_token_key(personal_tokens.hash_of(theirs["token"]))
    assert pat_client(theirs).get(ME_URL).status_code == 200
    my_key = auth_cache.personal_token_key(personal_tokens.hash_of(mine["token"]))
    cache.set(my_key, cache.get(their_key), 60)

    assert pat_client(mine).get(ME_URL).json()["username"] == "mia"


# --- every way a token ends, effective from the next request -------------------------


def test_expiry_ends_a_token_even_while_it_is_cached(member_client, monkeypatch):
    script = pat_client(create_token(member_client, expires_at=_in(hours=1)))
    assert script.get(TASKS_URL).status_code == 200
    later = timezone.now() + timedelta(hours=1, seconds=1)
    monkeypatch.setattr(accounts.authentication.timezone, "now", lambda: later)

    assert_refused(script.get(TASKS_URL), PAT_EXPIRED)


def test_an_expired_token_is_still_listed_until_deleted(member_client):
    body = create_token(member_client)
    PersonalToken.objects.filter(pk=body["id"]).update(
        expires_at=timezone.now() - timedelta(days=1)
    )

    assert [item["id"] for item in page(member_client.get(TOKENS_URL))["results"]] == [body["id"]]
    assert_refused(pat_client(body).get(TASKS_URL), PAT_EXPIRED)


def test_deactivating_the_user_ends_their_tokens(member, client_for, committed):
    script = pat_client(token_of(client_for, member))
    assert script.get(TASKS_URL).status_code == 200

    with committed():
        services.user_set_active(user=member, is_active=False)

    assert_refused(script.get(TASKS_URL), PAT_INVALID)
    assert not PersonalToken.objects.filter(user=member).exists()


def test_an_admin_deactivating_the_user_through_the_api_ends_their_tokens(
    member, client_for, admin_client, committed
):
    script = pat_client(token_of(client_for, member))
    assert script.get(TASKS_URL).status_code == 200

    with committed():
        response = admin_client.patch(
            f"/api/v1/users/{member.pk}/", {"is_active": False}, format="json"
        )
    assert response.status_code == 200, response.content

    assert_refused(script.get(TASKS_URL), PAT_INVALID)


def test_reactivating_the_user_brings_no_token_back(member, client_for, committed):
    script = pat_client(token_of(client_for, member))
    with committed():
        services.user_set_active(user=member, is_active=False)
    with committed():
        services.user_set_active(user=member, is_active=True)

    assert_refused(script.get(TASKS_URL), PAT_INVALID)


def test_an_inactive_user_is_refused_even_if_their_tokens_rows_remain(member, client_for):
    # A deactivation that no service saw (a raw UPDATE): the user's entry decides.
    script = pat_client(token_of(client_for, member))
    assert script.get(TASKS_URL).status_code == 200
    User.objects.filter(pk=member.pk).update(is_active=False)
    cache.delete(auth_cache.user_key(member.pk))  # its entry expired

    assert_refused(script.get(TASKS_URL), PAT_ENDED)


def test_changing_the_password_ends_every_token_of_the_user(member, client_for, committed):
    session = client_for(member)
    scripts = [pat_client(create_token(session)) for _ in range(2)]

    with committed():
        response = session.patch(
            ME_URL, {"password": NEW_PASSWORD, "current_password": PASSWORD}, format="json"
        )
    assert response.status_code == 200, response.content

    for script in scripts:
        assert_refused(script.get(TASKS_URL), PAT_INVALID)
    assert page(session.get(TOKENS_URL))["results"] == []


def test_an_operators_password_reset_ends_the_users_tokens(member, client_for, committed):
    script = pat_client(token_of(client_for, member))

    with committed():
        services.user_reset_password(user=member, password=None)

    assert_refused(script.get(TASKS_URL), PAT_INVALID)


def test_a_password_changed_outside_the_services_ends_older_tokens(member, client_for):
    # As `manage.py changepassword` does: set_password and save, nothing else. The
    # token row stays; its age against the user's password change refuses it once
    # the user's entry is read again (at once here; within a minute in production).
    old = token_of(client_for, member)
    assert pat_client(old).get(TASKS_URL).status_code == 200
    user = User.objects.get(pk=member.pk)
    user.set_password(NEW_PASSWORD)
    user.save()
    cache.delete(auth_cache.user_key(member.pk))

    assert PersonalToken.objects.filter(pk=old["id"]).exists()
    assert_refused(pat_client(old).get(TASKS_URL), PAT_ENDED)
    new = create_token(client_for(member, password=NEW_PASSWORD))
    assert pat_client(new).get(TASKS_URL).status_code == 200


def test_a_password_hash_upgrade_at_login_is_no_password_change(member, client_for):
    # Django re-hashes a password with the preferred hasher when it checks one made by
    # another: the password is the same, and the tokens must live on.
    body = token_of(client_for, member)
    User.objects.filter(pk=member.pk).update(
        password=make_password(PASSWORD, hasher="pbkdf2_sha256")
    )
    before = User.objects.get(pk=member.pk).password_changed_at

    client_for(member)  # logs in: the hash is upgraded

    user = User.objects.get(pk=member.pk)
    assert not user.password.startswith("pbkdf2_sha256$")
    assert user.password_changed_at == before
    cache.delete(auth_cache.user_key(member.pk))
    assert pat_client(body).get(TASKS_URL).status_code == 200


def test_deleting_the_user_ends_their_tokens(member, client_for, committed):
    script = pat_client(token_of(client_for, member))

    with committed():
        User.objects.filter(pk=member.pk).delete()

    assert_error(script.get(TASKS_URL), 401, "authentication_failed")


# --- last_used_at: at most one write a minute -----------------------------------------


def test_twenty_requests_in_a_row_write_last_used_at_once(member_client):
    body = create_token(member_client)
    script = pat_client(body)

    with CaptureQueriesContext(connection) as queries:
        for _ in range(20):
            assert script.get(ME_URL).status_code == 200

    assert len(update_queries(queries)) == 1
    used = parse_dt(page(member_client.get(TOKENS_URL))["results"][0]["last_used_at"])
    assert used is not None
    assert timezone.now() - used < timedelta(seconds=30)


def test_last_used_at_is_written_again_a_minute_later(member_client, monkeypatch):
    script = pat_client(create_token(member_client))
    assert script.get(ME_URL).status_code == 200
    real_time, real_now = accounts.auth_cache.time.time, timezone.now
    monkeypatch.setattr(accounts.auth_cache, "time", SimpleNamespace(time=lambda: real_time() + 61))
    monkeypatch.setattr(
        accounts.auth_cache.timezone, "now", lambda: real_now() + timedelta(seconds=61)
    )

    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert script.get(ME_URL).status_code == 200

    assert len(update_queries(queries)) == 1


def test_another_process_that_sees_a_recent_use_writes_nothing(member_client):
    # A process that has not seen the token yet (its memory empty) reads when the
    # token was last used from the row, and leaves a recent one alone.
    body = create_token(member_client)
    script = pat_client(body)
    assert script.get(ME_URL).status_code == 200
    accounts.auth_cache._touched.clear()
    cache.delete(auth_cache.personal_token_key(personal_tokens.hash_of(body["token"])))

    with CaptureQueriesContext(connection) as queries:
        assert script.get(ME_URL).status_code == 200

    assert update_queries(queries) == []


# --- throttled as its user --------------------------------------------------------------


def test_token_requests_count_in_their_users_read_rate(member_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "4/min"}
    script = pat_client(create_token(member_client))

    assert member_client.get(TASKS_URL).status_code == 200
    assert script.get(TASKS_URL).status_code == 200
    assert member_client.get(TASKS_URL).status_code == 200
    assert script.get(TASKS_URL).status_code == 200

    assert_error(script.get(TASKS_URL), 429, "throttled")
    assert_error(member_client.get(TASKS_URL), 429, "throttled")


def test_token_writes_count_in_their_users_write_rate(member_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "write": "2/min"}
    script = pat_client(create_token(member_client, ["tasks:write"]))  # a write itself

    assert script.post(TASKS_URL, {"title": "From a script"}, format="json").status_code == 201

    assert_error(script.post(TASKS_URL, {"title": "Again"}, format="json"), 429, "throttled")


def test_a_refused_token_does_not_spend_its_users_allowance(
    member, member_client, settings, committed
):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "2/min"}
    body = create_token(member_client)
    with committed():
        assert member_client.delete(token_url(body)).status_code == 204

    for _ in range(3):
        assert_refused(pat_client(body).get(TASKS_URL), PAT_INVALID)

    assert member_client.get(TASKS_URL).status_code == 200


# --- the Django admin ---------------------------------------------------------------------

ADMIN_TOKENS = "/admin/accounts/personaltoken/"


@pytest.fixture
def operator_client(admin: User) -> Client:
    """An operator of the admin role (staff, not a superuser)."""
    client = Client()
    client.force_login(admin)
    return client


def test_the_admin_lists_tokens_without_their_secret(operator_client, member, client_for):
    body = token_of(client_for, member, ["tasks:read", "files:write"], name="nightly backup")
    row = PersonalToken.objects.get(pk=body["id"])

    listing = operator_client.get(ADMIN_TOKENS)
    detail = operator_client.get(f"{ADMIN_TOKENS}{row.pk}/change/")

    assert listing.status_code == 200
    assert detail.status_code == 200
    for response in (listing, detail):
        html = response.content.decode()
        assert body["prefix"] in html
        assert "nightly backup" in html
        assert "tasks:read, files:write" in html
        assert "mia" in html
        assert row.key_hash not in html
        assert body["token"].removeprefix(body["prefix"]) not in html
        assert "key_hash" not in html


def test_tokens_cannot_be_added_or_changed_in_the_admin(operator_client, member, client_for):
    body = token_of(client_for, member)

    assert operator_client.get(f"{ADMIN_TOKENS}add/").status_code == 403
    response = operator_client.post(f"{ADMIN_TOKENS}{body['id']}/change/", {"name": "renamed"})
    assert response.status_code == 403
    assert PersonalToken.objects.get(pk=body["id"]).name == "script"


def test_deleting_a_token_in_the_admin_revokes_it(operator_client, member, client_for, committed):
    body = token_of(client_for, member)
    script = pat_client(body)
    assert script.get(TASKS_URL).status_code == 200

    with committed():
        response = operator_client.post(f"{ADMIN_TOKENS}{body['id']}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not PersonalToken.objects.filter(pk=body["id"]).exists()
    assert_refused(script.get(TASKS_URL), PAT_INVALID)


def test_deleting_tokens_in_bulk_in_the_admin_revokes_them(
    operator_client, member, client_for, committed
):
    bodies = [token_of(client_for, member, name=f"t{n}") for n in range(2)]
    for body in bodies:
        assert pat_client(body).get(TASKS_URL).status_code == 200

    with committed():
        response = operator_client.post(
            ADMIN_TOKENS,
            {
                "action": "delete_selected",
                "_selected_action": [b["id"] for b in bodies],
                "post": "yes",
            },
        )

    assert response.status_code == 302
    for body in bodies:
        assert_refused(pat_client(body).get(TASKS_URL), PAT_INVALID)


def test_deactivating_a_user_in_the_admins_form_ends_their_tokens(member, client_for, committed):
    operator = UserFactory(username="root", email="root@example.com", superuser=True)
    client = Client()
    client.force_login(operator)
    script = pat_client(token_of(client_for, member))
    assert script.get(TASKS_URL).status_code == 200
    form = {
        "username": member.username,
        "email": member.email,
        "date_joined_0": member.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": member.date_joined.strftime("%H:%M:%S"),
        "groups": [group.pk for group in member.groups.all()],
    }

    with committed():
        response = client.post(f"/admin/accounts/user/{member.pk}/change/", form)

    assert response.status_code == 302, response.content
    assert_refused(script.get(TASKS_URL), PAT_INVALID)


def test_a_personal_token_does_not_sign_into_the_admin(admin, client_for):
    raw = token_of(client_for, admin, EVERY_SCOPE)["token"]

    response = Client().get("/admin/", HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert response.status_code == 302
    assert "/login/" in response["Location"]
