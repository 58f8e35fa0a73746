"""Look-alike login names: every door normalizes usernames and emails with NFKC, and
refuses a name that mixes scripts or whose TR39 skeleton is another account's."""

import threading
from urllib.parse import urlencode

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from accounts import services, usernames
from accounts.models import User
from taskmanager.exceptions import DomainValidationError
from tests.factories import PASSWORD, UserFactory
from tests.helpers import (
    LOGIN_URL,
    ME_URL,
    assert_error,
    assert_field_error,
    waits_for_advisory_lock,
)

pytestmark = pytest.mark.django_db

REGISTER_URL = "/api/v1/auth/register/"
TOKEN_URL = "/api/v1/auth/token/"
ADMIN_USERS = "/admin/accounts/user/"

# Spelled with escapes: a reader (and ruff) must see which letters these are.
FULLWIDTH_ROOT = "\uff52\uff4f\uff4f\uff54"  # "root" in fullwidth letters
CYRILLIC_O_ROOT = "r\u043e\u043et"  # "root" with two Cyrillic o's
CYRILLIC_COPE = "\u0441\u043e\u0440\u0435"  # "cope" spelled in Cyrillic only
CYRILLIC_COPE_UPPER = "\u0421\u041e\u0420\u0415"
FULLWIDTH_AT = "\uff20"


NEW_PASSWORD = "Quiet-Harbour-Fox-17"


def register(client, username, email=None, password=NEW_PASSWORD):
    payload = {"username": username, "email": email or "nora@example.com", "password": password}
    return client.post(REGISTER_URL, payload, format="json")


@pytest.fixture
def root() -> User:
    return UserFactory(username="root", email="root@example.com")


def test_a_fullwidth_root_is_refused_next_to_root(api_client, root):
    response = register(api_client, FULLWIDTH_ROOT)

    error = assert_field_error(response, "username")
    assert "taken" in error["fields"]["username"][0]
    assert User.objects.count() == 1


def test_a_fullwidth_name_is_stored_normalized(api_client):
    response = register(api_client, FULLWIDTH_ROOT)

    assert response.status_code == 201, response.content
    assert response.json()["username"] == "root"
    assert User.objects.get().username == "root"


def test_root_with_cyrillic_o_is_refused_next_to_root(api_client, root):
    response = register(api_client, CYRILLIC_O_ROOT)

    assert_field_error(response, "username")
    assert User.objects.count() == 1


def test_a_name_mixing_scripts_is_refused_even_alone(api_client):
    response = register(api_client, CYRILLIC_O_ROOT)

    error = assert_field_error(response, "username")
    assert "scripts" in error["fields"]["username"][0]
    assert not User.objects.exists()


@pytest.mark.parametrize("name", [CYRILLIC_COPE, CYRILLIC_COPE_UPPER])
def test_a_single_script_name_looking_like_an_existing_one_is_refused(api_client, name):
    UserFactory(username="cope", email="cope@example.com")

    response = register(api_client, name)

    error = assert_field_error(response, "username")
    assert "looks like" in error["fields"]["username"][0]
    assert User.objects.count() == 1


def test_a_look_alike_of_a_name_in_another_case_is_refused(api_client):
    UserFactory(username="Cope", email="cope@example.com")

    assert_field_error(register(api_client, CYRILLIC_COPE), "username")


def test_a_username_looking_like_an_existing_email_is_refused(api_client):
    UserFactory(username="cope", email="mia@example.com")

    # "rn" reads as "m": one namespace for usernames and emails, as for exact names.
    response = register(api_client, "rnia@example.com", email="other@example.com")

    assert_field_error(response, "username")


def test_digits_and_punctuation_do_not_make_a_name_mixed(api_client):
    response = register(api_client, "\u00e9lan_2.0-x@y+z")

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("name", "other_case"),
    [("\u00c9lan", "\u00e9LAN"), ("\u03a3\u0391\u03a3", "\u03c3\u0391\u03c3")],  # Élan, ΣΑΣ
)
def test_single_script_non_ascii_names_register_and_log_in(api_client, name, other_case):
    response = register(api_client, name, password=PASSWORD)
    assert response.status_code == 201, response.content

    # SQLite's LOWER folds ASCII only (accounts.usernames.lowered): other cases there
    # reach the account on PostgreSQL only.
    typed_names = (name, other_case) if connection.vendor == "postgresql" else (name,)
    for typed in typed_names:
        login = api_client.post(LOGIN_URL, {"username": typed, "password": PASSWORD}, format="json")
        assert login.status_code == 200, (typed, login.content)


def test_logging_in_as_fullwidth_root_reaches_roots_account(api_client, root):
    response = api_client.post(
        LOGIN_URL, {"username": FULLWIDTH_ROOT, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.content
    me = Client().get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert me.json()["id"] == root.pk


def test_the_token_endpoint_normalizes_the_username(api_client, root):
    response = api_client.post(
        TOKEN_URL,
        urlencode({"grant_type": "password", "username": FULLWIDTH_ROOT, "password": PASSWORD}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200, response.content


def test_the_html_login_forms_normalize_through_the_backend(root):
    root.is_staff = True
    root.save(update_fields=["is_staff"])
    client = Client()

    response = client.post(
        "/admin/login/?next=/admin/", {"username": FULLWIDTH_ROOT, "password": PASSWORD}
    )

    assert response.status_code == 302, response.content
    assert int(client.session["_auth_user_id"]) == root.pk


def test_a_look_alike_does_not_log_in_as_root(api_client, root):
    response = api_client.post(
        LOGIN_URL, {"username": CYRILLIC_O_ROOT, "password": PASSWORD}, format="json"
    )

    assert_error(response, 401, "authentication_failed")


def test_a_name_stored_before_normalization_still_logs_in(api_client):
    # An account from before: the skeleton columns are derived, the name kept.
    user = UserFactory(username="nora", email="nora@example.com")
    User.objects.filter(pk=user.pk).update(username=FULLWIDTH_ROOT)

    response = api_client.post(
        LOGIN_URL, {"username": FULLWIDTH_ROOT, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.content


def test_fullwidth_and_plain_logins_count_as_one_account(api_client, root):
    # The "login" rate is 5 a minute per account and address, however it is spelled.
    for name in ("root", "root", "root", FULLWIDTH_ROOT, FULLWIDTH_ROOT):
        response = api_client.post(
            LOGIN_URL, {"username": name, "password": "wrong"}, format="json"
        )
        assert_error(response, 401, "authentication_failed")

    response = api_client.post(
        LOGIN_URL, {"username": FULLWIDTH_ROOT, "password": PASSWORD}, format="json"
    )

    assert_error(response, 429, "throttled")


# Emails: login names too (accounts.backends), in one namespace with usernames.


def test_a_fullwidth_email_is_stored_normalized_and_logs_in(api_client):
    email = f"{FULLWIDTH_ROOT}{FULLWIDTH_AT}Example.COM"

    response = register(api_client, "nora", email=email, password=PASSWORD)

    assert response.status_code == 201, response.content
    assert User.objects.get().email == "root@example.com"
    login = api_client.post(LOGIN_URL, {"email": email, "password": PASSWORD}, format="json")
    assert login.status_code == 200, login.content


def test_an_email_looking_like_an_existing_one_is_refused(api_client):
    UserFactory(username="nora", email="mia@example.com")

    response = register(api_client, "other", email="rnia@example.com")

    error = assert_field_error(response, "email")
    assert "looks like" in error["fields"]["email"][0]


def test_an_email_whose_domain_mixes_scripts_is_refused(api_client):
    response = register(api_client, "nora", email="nora@\u0435xample.com")  # a Cyrillic e

    error = assert_field_error(response, "email")
    assert "scripts" in error["fields"]["email"][0]


def test_an_email_at_a_single_script_domain_is_accepted(api_client):
    response = register(api_client, "nora", email="nora@\u043f\u0440\u0438\u043c\u0435\u0440.com")

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "email",
    ["root@exarnple.com", "root@\u0435xample.com", "rOOt@example.com"],  # rn, Cyrillic e
)
def test_changing_your_email_to_a_look_alike_is_refused(root, member, member_client, email):
    response = member_client.patch(ME_URL, {"email": email}, format="json")

    assert_field_error(response, "email")
    member.refresh_from_db()
    assert member.email == "mia@example.com"


def test_changing_your_email_to_its_own_look_alike_is_allowed(member, member_client):
    response = member_client.patch(ME_URL, {"email": "MIA@example.com"}, format="json")

    assert response.status_code == 200, response.content


def test_the_username_cannot_be_changed_through_the_api(member_client, admin_client, member):
    for client, url in ((member_client, ME_URL), (admin_client, f"/api/v1/users/{member.pk}/")):
        response = client.patch(url, {"username": CYRILLIC_O_ROOT}, format="json")
        assert response.status_code == 400, response.content
    member.refresh_from_db()
    assert member.username == "mia"


# The admin and createsuperuser.


@pytest.fixture
def operator_client() -> Client:
    operator = UserFactory(username="op", email="op@example.com", superuser=True)
    client = Client()
    client.force_login(operator)
    return client


def _add_form(**changes: str) -> dict[str, str]:
    data = {
        "username": "nora",
        "email": "nora@example.com",
        "usable_password": "true",
        "password1": "Quiet-Harbour-Fox-17",
        "password2": "Quiet-Harbour-Fox-17",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", CYRILLIC_O_ROOT),
        ("username", CYRILLIC_COPE),
        ("username", FULLWIDTH_ROOT),
        ("email", "rnia@example.com"),
    ],
)
def test_the_admin_add_form_refuses_look_alikes(operator_client, field, value):
    UserFactory(username="root", email="mia@example.com")
    UserFactory(username="cope", email="cope@example.com")

    response = operator_client.post(f"{ADMIN_USERS}add/", _add_form(**{field: value}))

    assert response.status_code == 200  # the form again, with its errors
    assert response.context["adminform"].form.errors[field]
    assert not User.objects.filter(username="nora").exists()


def test_the_admin_add_form_asks_for_the_email_login_name(operator_client):
    # Without it, the second account added without an email broke the unique index (500).
    for name in ("nora", "nina"):
        data = _add_form(username=name)
        del data["email"]

        response = operator_client.post(f"{ADMIN_USERS}add/", data)

        assert response.status_code == 200
        assert response.context["adminform"].form.errors["email"]
    assert not User.objects.filter(username__in=["nora", "nina"]).exists()


def test_the_admin_add_form_creates_a_user_with_a_normalized_name(operator_client):
    response = operator_client.post(
        f"{ADMIN_USERS}add/", _add_form(username=FULLWIDTH_ROOT, email="Root@Example.COM")
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(username="root")
    assert user.email == "Root@example.com"
    assert user.username_skeleton == usernames.skeleton_key("root")


def test_the_admin_change_form_refuses_renaming_to_a_look_alike(operator_client, member, root):
    data = {
        "username": CYRILLIC_O_ROOT,
        "email": member.email,
        "is_active": "on",
        "date_joined_0": member.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": member.date_joined.strftime("%H:%M:%S"),
    }

    response = operator_client.post(f"{ADMIN_USERS}{member.pk}/change/", data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["username"]
    member.refresh_from_db()
    assert member.username == "mia"


def test_the_admin_change_form_keeps_a_users_own_name(operator_client, member):
    data = {
        "username": "Mia",
        "email": member.email,
        "is_active": "on",
        "date_joined_0": member.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": member.date_joined.strftime("%H:%M:%S"),
    }

    response = operator_client.post(f"{ADMIN_USERS}{member.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    member.refresh_from_db()
    assert member.username == "Mia"
    assert member.username_skeleton == usernames.skeleton_key("mia")


@pytest.mark.parametrize("name", [CYRILLIC_O_ROOT, FULLWIDTH_ROOT, "ROOT"])
def test_createsuperuser_refuses_look_alikes(root, name, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)

    with pytest.raises(CommandError):
        call_command(
            "createsuperuser", "--noinput", "--username", name, "--email", "op@example.com"
        )

    assert User.objects.count() == 1


def test_createsuperuser_stores_the_skeletons(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)

    call_command("createsuperuser", "--noinput", "--username", "Op", "--email", "op@example.com")

    user = User.objects.get(username="Op")
    assert user.is_superuser
    assert user.username_skeleton == usernames.skeleton_key("op")
    assert user.email_skeleton == usernames.skeleton_key("op@example.com")


# The skeleton columns.


def test_every_write_keeps_the_skeletons_with_the_names(member):
    assert member.username_skeleton == usernames.skeleton_key("mia")
    member.username = "Other"
    member.save(update_fields=["username"])

    member.refresh_from_db()
    assert member.username_skeleton == usernames.skeleton_key("other")


def test_refresh_name_skeletons_recomputes_stale_ones(member, other_member, capsys):
    # As after an ICU upgrade changed the confusables table.
    User.objects.filter(pk=member.pk).update(username_skeleton="stale", email_skeleton="")

    call_command("refresh_name_skeletons")

    member.refresh_from_db()
    assert member.username_skeleton == usernames.skeleton_key("mia")
    assert member.email_skeleton == usernames.skeleton_key("mia@example.com")
    assert "1 user(s) updated" in capsys.readouterr().out


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite runs one write transaction at a time"
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_of_two_concurrent_look_alike_registrations_only_the_first_gets_in():
    first_inserted, release = threading.Event(), threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():  # "cope" inserted, not yet committed
                services.user_register(username="cope", email="a@example.com", password=PASSWORD)
                first_inserted.set()
                release.wait(30)
        finally:
            connection.close()

    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            services.user_register(username=CYRILLIC_COPE, email="b@example.com", password=PASSWORD)
            outcome["created"] = True
        except DomainValidationError as exc:
            outcome["refused"] = exc.fields
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_inserted.wait(30)
    threads[1].start()
    # Until the second waits for the first's lock (or, without one, is done).
    waits_for_advisory_lock(threads[1])
    release.set()
    for thread in threads:
        thread.join(30)

    assert "username" in outcome.get("refused", {}), outcome
    assert list(User.objects.values_list("username", flat=True)) == ["cope"]


# Migrating rows needs committed transactions; the serialized rollback leaves the
# database as the next serialized test expects it (tests/accounts/test_refresh_race.py).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_migration_computes_skeletons_even_for_look_alike_pairs():
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0004_admin_role_model_permissions")])
    old_user = executor.loader.project_state(
        [("accounts", "0004_admin_role_model_permissions")]
    ).apps.get_model("accounts", "User")
    # A database from before may hold look-alike pairs: the migration must not fail.
    for name in ("cope", CYRILLIC_COPE, FULLWIDTH_ROOT):
        old_user.objects.create(username=name, email=f"{len(name)}{name}@example.com")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    for user in User.objects.all():
        assert user.username_skeleton == usernames.skeleton_key(user.username)
        assert user.email_skeleton == usernames.skeleton_key(user.email)
    assert User.objects.filter(username_skeleton=usernames.skeleton_key("cope")).count() == 2
