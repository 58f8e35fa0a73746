import pytest
from rest_framework.test import APIClient

from accounts.models import User, UserSession
from tests.factories import PASSWORD, UserFactory
from tests.helpers import LOGIN_URL, ME_URL, REFRESH_URL, assert_error, assert_field_error, claims

pytestmark = pytest.mark.django_db

USER_SHAPE = {"id", "username", "email", "role", "is_active", "date_joined"}
NEW_PASSWORD = "Silver-Meadow-Otter-88"


def login_status(username: str, password: str) -> int:
    response = APIClient().post(
        LOGIN_URL, {"username": username, "password": password}, format="json"
    )
    return response.status_code


def test_me_answers_the_user_shape(member, member_client):
    response = member_client.get(ME_URL)

    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": member.pk,
        "username": "mia",
        "email": "mia@example.com",
        "role": "member",
        "is_active": True,
        "date_joined": response.json()["date_joined"],
    }
    assert response.json()["date_joined"]


@pytest.mark.parametrize(
    ("client_fixture", "role"),
    [("member_client", "member"), ("manager_client", "manager"), ("admin_client", "admin")],
)
def test_me_shows_the_role_of_the_user(request, client_fixture, role):
    response = request.getfixturevalue(client_fixture).get(ME_URL)

    assert response.status_code == 200, response.content
    assert set(response.json()) == USER_SHAPE
    assert response.json()["role"] == role


@pytest.mark.parametrize("method", ["get", "patch"])
def test_me_anonymously_is_401_with_a_bearer_challenge(api_client, method):
    response = getattr(api_client, method)(ME_URL)

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_patching_my_email_updates_it(member, member_client, committed):
    with committed():
        response = member_client.patch(ME_URL, {"email": "mia.new@example.com"}, format="json")

    assert response.status_code == 200, response.content
    assert set(response.json()) == USER_SHAPE
    assert response.json()["email"] == "mia.new@example.com"
    member.refresh_from_db()
    assert member.email == "mia.new@example.com"
    assert member_client.get(ME_URL).json()["email"] == "mia.new@example.com"


def test_patching_my_email_to_one_taken_in_another_case_is_400_naming_email(
    member, other_member, member_client
):
    response = member_client.patch(ME_URL, {"email": "OTTO@example.COM"}, format="json")

    assert_field_error(response, "email")
    member.refresh_from_db()
    assert member.email == "mia@example.com"


def test_patching_my_email_to_an_invalid_one_is_400_naming_email(member, member_client):
    response = member_client.patch(ME_URL, {"email": "not-an-email"}, format="json")

    assert_field_error(response, "email")


@pytest.mark.parametrize(
    "email",
    ["mia.new@b.c", " mia.new@example.com", "mia.new@example.com\n", "x" * 242 + "@example.com "],
    ids=["one-letter-tld", "leading-space", "trailing-newline", "255-as-sent"],
)
def test_patching_my_email_to_one_the_schema_refuses_is_400_naming_email(
    member, member_client, email
):
    # As the schema's pattern and maxLength say: a top-level domain of two letters or
    # more, no spaces around (not trimmed), 254 characters as sent.
    response = member_client.patch(ME_URL, {"email": email}, format="json")

    assert_field_error(response, "email")
    member.refresh_from_db()
    assert member.email == "mia@example.com"


def test_patching_my_email_to_its_own_value_in_another_case_is_allowed(member, member_client):
    response = member_client.patch(ME_URL, {"email": "MIA@example.com"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["email"].lower() == "mia@example.com"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("role", "admin"),
        ("is_active", False),
        ("username", "someone"),
        ("id", 999),
        ("is_staff", True),
        ("date_joined", "2020-01-01T00:00:00Z"),
        ("nickname", "m"),
    ],
)
def test_patching_a_read_only_or_unknown_field_of_me_is_400_naming_it(
    member, member_client, field, value
):
    response = member_client.patch(ME_URL, {field: value}, format="json")

    assert_field_error(response, field)
    member.refresh_from_db()
    assert member.role == "member"
    assert member.is_active is True
    assert member.is_staff is False
    assert member.username == "mia"


def test_changing_my_password_lets_the_new_one_log_in_and_not_the_old(member, member_client):
    response = member_client.patch(
        ME_URL, {"password": NEW_PASSWORD, "current_password": PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.content
    assert set(response.json()) == USER_SHAPE
    assert NEW_PASSWORD not in response.content.decode()
    assert login_status("mia", NEW_PASSWORD) == 200
    assert login_status("mia", PASSWORD) == 401


def test_changing_my_password_ends_my_other_sessions_but_not_this_one(
    api_client, member, client_for, committed
):
    current, other = client_for(member), client_for(member)
    assert other.get(ME_URL).status_code == 200

    with committed():
        response = current.patch(
            ME_URL, {"password": NEW_PASSWORD, "current_password": PASSWORD}, format="json"
        )

    assert response.status_code == 200, response.content
    assert current.get(ME_URL).status_code == 200
    assert_error(other.get(ME_URL), 401, "authentication_failed")
    refresh_other = api_client.post(
        REFRESH_URL, {"refresh": other.tokens["refresh"]}, format="json"
    )
    assert_error(refresh_other, 401, "authentication_failed")
    refresh_current = api_client.post(
        REFRESH_URL, {"refresh": current.tokens["refresh"]}, format="json"
    )
    assert refresh_current.status_code == 200, refresh_current.content
    live = UserSession.objects.filter(user=member, ended_at__isnull=True)
    assert [str(session.id) for session in live] == [claims(current.tokens["access"])["sid"]]


def test_changing_my_password_leaves_other_users_sessions_alone(
    member_client, other_member_client, committed
):
    assert other_member_client.get(ME_URL).status_code == 200

    with committed():
        response = member_client.patch(
            ME_URL, {"password": NEW_PASSWORD, "current_password": PASSWORD}, format="json"
        )

    assert response.status_code == 200, response.content
    assert other_member_client.get(ME_URL).status_code == 200


def test_changing_my_password_without_the_current_one_says_it_is_required(member, member_client):
    response = member_client.patch(ME_URL, {"password": NEW_PASSWORD}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {
        "current_password": ["This field is required to change the password."]
    }
    assert User.objects.get(pk=member.pk).check_password(PASSWORD)


def test_a_weak_new_password_without_the_current_one_names_both(member, member_client):
    response = member_client.patch(ME_URL, {"password": "short1!"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"current_password", "password"}
    assert error["fields"]["current_password"] == ["This field is required to change the password."]


def test_a_wrong_current_password_says_it_is_not_correct(member, member_client):
    body = {"password": NEW_PASSWORD, "current_password": "Not-The-Password-1"}

    response = member_client.patch(ME_URL, body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"current_password": ["The current password is not correct."]}


def test_password_changes_without_the_current_one_are_not_counted_as_guesses(
    member, client_for, settings
):
    # Nothing is guessed: the password is never checked.
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "2/min"}
    client = client_for(member, REMOTE_ADDR="198.51.100.1")
    for _ in range(3):
        response = client.patch(ME_URL, {"password": NEW_PASSWORD}, format="json")
        assert_error(response, 400, "validation_error")

    body = {"password": NEW_PASSWORD, "current_password": PASSWORD}
    response = client.patch(ME_URL, body, format="json")

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "payload",
    [
        {"password": NEW_PASSWORD, "current_password": "Not-The-Password-1"},
        {"password": NEW_PASSWORD},
        {"password": NEW_PASSWORD, "current_password": ""},
    ],
    ids=["wrong", "missing", "blank"],
)
def test_changing_my_password_without_the_right_current_one_is_400_naming_it(
    member, client_for, payload
):
    current, other = client_for(member), client_for(member)

    response = current.patch(ME_URL, payload, format="json")

    assert_field_error(response, "current_password")
    assert login_status("mia", PASSWORD) == 200
    assert other.get(ME_URL).status_code == 200


@pytest.mark.parametrize(
    "new_password",
    ["short1!", "password123", "8371629405", "mia@example.com"],
    ids=["too-short", "too-common", "numeric", "like-the-email"],
)
def test_changing_my_password_to_a_weak_one_is_400_naming_password(
    member, member_client, new_password
):
    response = member_client.patch(
        ME_URL, {"password": new_password, "current_password": PASSWORD}, format="json"
    )

    assert_field_error(response, "password")
    assert User.objects.get(pk=member.pk).check_password(PASSWORD)


def test_changing_my_password_to_one_like_my_username_is_400_naming_password(client_for):
    user = UserFactory(username="marigoldfields", email="mf@example.com")
    client = client_for(user)

    response = client.patch(
        ME_URL, {"password": "marigoldfields1", "current_password": PASSWORD}, format="json"
    )

    assert_field_error(response, "password")
