import pytest

from accounts.models import User
from tests.factories import UserFactory
from tests.helpers import ME_URL, assert_field_error, bearer_client

pytestmark = pytest.mark.django_db

REGISTER_URL = "/api/v1/auth/register/"
USER_SHAPE = {"id", "username", "email", "role", "is_active", "date_joined"}
NEW_PASSWORD = "Quiet-Harbour-Fox-17"


def register(api_client, **overrides):
    payload = {"username": "nora", "email": "nora@example.com", "password": NEW_PASSWORD}
    payload.update(overrides)
    return api_client.post(REGISTER_URL, payload, format="json")


def test_register_creates_a_member_and_answers_the_user_shape(api_client):
    response = register(api_client)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == USER_SHAPE
    assert body["username"] == "nora"
    assert body["email"] == "nora@example.com"
    assert body["role"] == "member"
    assert body["is_active"] is True
    assert body["date_joined"]
    user = User.objects.get(pk=body["id"])
    assert user.username == "nora"
    assert user.role == "member"
    assert user.groups.filter(name="member").exists()
    assert user.check_password(NEW_PASSWORD)


def test_register_never_returns_or_stores_the_plain_password(api_client):
    response = register(api_client)

    assert response.status_code == 201, response.content
    assert NEW_PASSWORD not in response.content.decode()
    assert "password" not in response.json()
    assert User.objects.get(username="nora").password != NEW_PASSWORD


def test_registered_user_can_log_in_and_use_the_token(api_client):
    assert register(api_client).status_code == 201

    login = api_client.post(
        "/api/v1/auth/login/", {"username": "nora", "password": NEW_PASSWORD}, format="json"
    )

    assert login.status_code == 200, login.content
    me = bearer_client(login.json()["access"]).get(ME_URL)
    assert me.status_code == 200, me.content
    assert me.json()["username"] == "nora"


@pytest.mark.parametrize("field", ["username", "email", "password"])
def test_register_without_a_field_is_400_naming_it(api_client, field):
    payload = {"username": "nora", "email": "nora@example.com", "password": NEW_PASSWORD}
    del payload[field]

    response = api_client.post(REGISTER_URL, payload, format="json")

    assert_field_error(response, field)
    assert not User.objects.filter(username__iexact="nora").exists()


@pytest.mark.parametrize("field", ["username", "email", "password"])
def test_register_with_a_blank_field_is_400_naming_it(api_client, field):
    response = register(api_client, **{field: ""})

    assert_field_error(response, field)


def test_register_with_a_username_taken_in_another_case_is_400_naming_username(api_client):
    UserFactory(username="alice", email="alice@example.com")

    response = register(api_client, username="Alice", email="someone-else@example.com")

    assert_field_error(response, "username")
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_register_with_an_email_taken_in_another_case_is_400_naming_email(api_client):
    UserFactory(username="alice", email="alice@example.com")

    response = register(api_client, username="bob", email="ALICE@Example.com")

    assert_field_error(response, "email")
    assert not User.objects.filter(username="bob").exists()


def test_register_with_an_invalid_email_is_400_naming_email(api_client):
    response = register(api_client, email="not-an-email")

    assert_field_error(response, "email")


@pytest.mark.parametrize(
    "email",
    ["zz@b.c", "zz@b.c0", "zz@b", "zz@-b.co", "zz@b..co", "z z@b.co", "zz@1.2.3.4"],
    ids=[
        "one-letter-tld",
        "digit-in-tld",
        "no-tld",
        "leading-hyphen",
        "empty-label",
        "space",
        "bare-ip",
    ],
)
def test_register_with_an_email_the_schemas_pattern_refuses_is_400_naming_email(api_client, email):
    # `format: email` took `zz@b.c`; taskmanager.schema.EMAIL is Django's validator.
    response = register(api_client, email=email)

    error = assert_field_error(response, "email")
    assert error["fields"] == {"email": ["Enter a valid email address."]}
    assert not User.objects.filter(username="nora").exists()


@pytest.mark.parametrize(
    "email",
    [
        '"nora..b"@example.com',
        "nora@localhost",
        "nora@[192.0.2.1]",
        "nora@[2001:db8::1]",
        "nora@xn--bcher-kva.de",
        "nora@example.xn--p1ai",
        # Beyond the pattern, which takes the punycode form only: the server takes it too.
        "nora@b\u00fccher.de",
    ],
    ids=[
        "quoted",
        "localhost",
        "ipv4-literal",
        "ipv6-literal",
        "punycode-domain",
        "punycode-tld",
        "unicode-domain",
    ],
)
def test_register_takes_the_rarer_addresses_django_takes(api_client, email):
    response = register(api_client, email=email)

    assert response.status_code == 201, response.content
    assert response.json()["email"] == email


@pytest.mark.parametrize("field", ["username", "email"])
@pytest.mark.parametrize("padding", [" ", "\t", "\u3000"], ids=["space", "tab", "ideographic"])
def test_register_with_spaces_around_a_name_is_400_naming_it(api_client, field, padding):
    # Not trimmed: the schema's patterns refuse the spaces, and so does the server.
    value = {"username": "nora", "email": "nora@example.com"}[field]

    response = register(api_client, **{field: f"{padding}{value}{padding}"})

    assert_field_error(response, field)
    assert not User.objects.exists()


def test_register_with_a_username_longer_than_150_as_sent_is_400_though_nfkc_shortens_it(
    api_client,
):
    # 151 characters as sent (the schema's maxLength counts them), 76 once NFKC
    # composes each e and its accent.
    username = "e\u0301" * 75 + "n"

    response = register(api_client, username=username)

    error = assert_field_error(response, "username")
    assert error["fields"] == {"username": ["Ensure this field has no more than 150 characters."]}
    assert not User.objects.exists()


def test_register_with_a_username_longer_than_150_once_normalized_is_400_naming_it(api_client):
    # 76 characters as sent; NFKC spells each ligature as its two letters: 152 stored.
    response = register(api_client, username="\ufb00" * 76)

    error = assert_field_error(response, "username")
    assert error["fields"] == {"username": ["Ensure this field has no more than 150 characters."]}


def test_register_with_an_email_longer_than_254_as_sent_is_400_though_nfkc_shortens_it(
    api_client,
):
    label = "e\u0301" * 61  # 122 characters as sent, 61 once composed
    email = f"nora@{label}.{label}.info"  # 255 characters as sent, 133 once composed

    response = register(api_client, email=email)

    error = assert_field_error(response, "email")
    assert error["fields"] == {"email": ["Ensure this field has no more than 254 characters."]}
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Ab3$xyz", "shorter than 8 characters"),
        ("password123", "too common"),
        ("8371629405", "entirely numeric"),
    ],
)
def test_register_with_a_weak_password_is_400_naming_password(api_client, password, reason):
    response = register(api_client, password=password)

    assert_field_error(response, "password")
    assert not User.objects.filter(username="nora").exists()


def test_register_with_a_password_like_the_username_is_400_naming_password(api_client):
    response = register(
        api_client,
        username="marigoldfields",
        email="nora@example.com",
        password="marigoldfields1",
    )

    assert_field_error(response, "password")
    assert not User.objects.filter(username="marigoldfields").exists()


def test_register_with_a_password_like_the_email_is_400_naming_password(api_client):
    response = register(
        api_client,
        username="nora",
        email="jonathanquincy@example.com",
        password="jonathanquincy",
    )

    assert_field_error(response, "password")
    assert not User.objects.filter(username="nora").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("is_staff", True), ("role", "admin"), ("is_superuser", True), ("nickname", "n")],
)
def test_register_with_an_unknown_field_is_400_naming_it(api_client, field, value):
    response = register(api_client, **{field: value})

    assert_field_error(response, field)
    assert not User.objects.filter(username="nora").exists()


# Usernames and emails are one namespace: a login's `username` that matches no
# username is tried as an email (accounts.backends).


def test_register_with_a_username_that_is_someones_email_is_400_naming_username(api_client):
    UserFactory(username="mia", email="mia@example.com")

    response = register(api_client, username="MIA@example.com", email="else@example.com")

    assert_field_error(response, "username")
    assert not User.objects.filter(email="else@example.com").exists()


def test_register_with_an_email_that_is_someones_username_is_400_naming_email(api_client):
    UserFactory(username="bo@home.org", email="bo@example.com")

    response = register(api_client, username="nora", email="Bo@Home.org")

    assert_field_error(response, "email")
    assert not User.objects.filter(username="nora").exists()


@pytest.mark.parametrize("username", ["Élan", "ΣΑΣ", "Ωμέγα"])
def test_a_registered_non_ascii_username_logs_in_and_cannot_be_taken_again(api_client, username):
    assert register(api_client, username=username).status_code == 201

    login = api_client.post(
        "/api/v1/auth/login/", {"username": username, "password": NEW_PASSWORD}, format="json"
    )
    again = register(api_client, username=username, email="twin@example.com")

    assert login.status_code == 200, login.content
    assert_field_error(again, "username")
