import pytest

from accounts.models import User, UserSession
from accounts.services import user_set_active
from tests.factories import PASSWORD, UserFactory
from tests.helpers import LOGIN_URL, ME_URL, assert_error, assert_field_error, bearer_client, claims

pytestmark = pytest.mark.django_db

TOKENS_SHAPE = {"access", "refresh", "token_type", "expires_in"}


def post_login(api_client, **payload):
    return api_client.post(LOGIN_URL, payload, format="json")


def assert_tokens(response, settings):
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == TOKENS_SHAPE
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.ACCESS_TOKEN_MINUTES * 60
    assert "no-store" in response["Cache-Control"]
    return body


def test_login_by_username_answers_tokens_that_are_not_cached(api_client, member, settings):
    response = post_login(api_client, username="mia", password=PASSWORD)

    tokens = assert_tokens(response, settings)
    me = bearer_client(tokens["access"]).get(ME_URL)
    assert me.status_code == 200, me.content
    assert me.json()["id"] == member.pk


def test_login_username_is_case_insensitive(api_client, member, settings):
    response = post_login(api_client, username="MIA", password=PASSWORD)

    tokens = assert_tokens(response, settings)
    assert str(claims(tokens["access"])["user_id"]) == str(member.pk)


def test_login_by_email_is_case_insensitive(api_client, member, settings):
    response = post_login(api_client, email="Mia@EXAMPLE.com", password=PASSWORD)

    tokens = assert_tokens(response, settings)
    assert str(claims(tokens["access"])["user_id"]) == str(member.pk)


def test_login_with_an_email_in_the_username_field_is_tried_as_an_email(
    api_client, member, settings
):
    response = post_login(api_client, username="mia@example.com", password=PASSWORD)

    tokens = assert_tokens(response, settings)
    assert str(claims(tokens["access"])["user_id"]) == str(member.pk)


def test_a_username_containing_an_at_sign_logs_in_as_that_username(api_client, settings):
    # "bo@home.org" is a username here; the email of another user is that same text
    # (as a database from before usernames and emails were one namespace may hold).
    by_username = UserFactory(username="bo@home.org", email="bo@example.com")
    other = UserFactory(username="other", email="other@example.com")
    User.objects.filter(pk=other.pk).update(email="bo@home.org")

    response = post_login(api_client, username="bo@home.org", password=PASSWORD)

    tokens = assert_tokens(response, settings)
    assert str(claims(tokens["access"])["user_id"]) == str(by_username.pk)


def test_login_with_a_wrong_password_is_401(api_client, member):
    response = post_login(api_client, username="mia", password="Not-The-Password-1")

    error = assert_error(response, 401, "authentication_failed")
    assert error["fields"] == {}


def test_wrong_password_unknown_user_and_inactive_user_get_the_same_401(api_client, member):
    inactive = UserFactory(username="ivan", email="ivan@example.com")
    user_set_active(user=inactive, is_active=False)

    wrong_password = post_login(api_client, username="mia", password="Not-The-Password-1")
    unknown_user = post_login(api_client, username="nobody", password=PASSWORD)
    inactive_user = post_login(api_client, username="ivan", password=PASSWORD)

    messages = {
        assert_error(response, 401, "authentication_failed")["message"]
        for response in (wrong_password, unknown_user, inactive_user)
    }
    assert len(messages) == 1


def test_login_with_an_unknown_email_is_401(api_client, member):
    response = post_login(api_client, email="nobody@example.com", password=PASSWORD)

    assert_error(response, 401, "authentication_failed")


def test_login_without_a_password_is_400_naming_password(api_client, member):
    response = post_login(api_client, username="mia")

    assert_field_error(response, "password")
    assert not UserSession.objects.exists()


NOT_BOTH = ["Give a username or an email, not both."]


@pytest.mark.parametrize(
    "email",
    ["otto@example.com", "mia@example.com", "MIA@example.com", "nobody@example.com"],
    ids=["another-account", "the-same-account", "the-same-account-any-case", "no-account"],
)
def test_login_naming_both_a_username_and_an_email_is_400_naming_both(
    api_client, member, other_member, monkeypatch, email
):
    # One answer whoever the two names belong to: a 401 for a matching pair and a
    # 400 for another would tell, without the password, whose email an email is.
    checked = []
    monkeypatch.setattr(
        "accounts.backends.UsernameOrEmailBackend.authenticate",
        lambda *args, **kwargs: checked.append(kwargs),
    )

    response = post_login(api_client, username="mia", email=email, password=PASSWORD)

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"username": NOT_BOTH, "email": NOT_BOTH}
    assert checked == [], "the password is never checked"
    assert not UserSession.objects.exists()


def test_login_with_both_names_counts_in_the_login_throttle(api_client, member, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login": "2/min"}
    for _ in range(2):
        body = {"username": "mia", "email": "mia@example.com", "password": PASSWORD}
        assert_error(post_login(api_client, **body), 400, "validation_error")

    assert_error(post_login(api_client, username="mia", password=PASSWORD), 429, "throttled")


def test_failed_login_creates_no_session(api_client, member):
    post_login(api_client, username="mia", password="Not-The-Password-1")

    assert not UserSession.objects.exists()


def test_login_creates_a_session_named_by_the_sid_claim(api_client, member):
    response = api_client.post(
        LOGIN_URL,
        {"username": "mia", "password": PASSWORD},
        format="json",
        REMOTE_ADDR="203.0.113.9",
        HTTP_USER_AGENT="pytest-browser/1.0",
    )

    assert response.status_code == 200, response.content
    access, refresh = claims(response.json()["access"]), claims(response.json()["refresh"])
    session = UserSession.objects.get()
    assert session.user == member
    assert session.ip == "203.0.113.9"
    assert session.user_agent == "pytest-browser/1.0"
    assert session.ended_at is None
    assert session.expires_at > session.created_at
    assert access["sid"] == refresh["sid"] == str(session.id)
    assert access["token_type"] == "access"
    assert refresh["token_type"] == "refresh"
    assert str(access["user_id"]) == str(refresh["user_id"]) == str(member.pk)
    assert access["jti"]
    assert refresh["jti"]
    assert access["jti"] != refresh["jti"]
    assert session.refresh_jti == refresh["jti"]


def test_session_ip_is_remote_addr_not_a_forwarded_for_header(api_client, member):
    response = api_client.post(
        LOGIN_URL,
        {"username": "mia", "password": PASSWORD},
        format="json",
        REMOTE_ADDR="192.0.2.10",
        HTTP_X_FORWARDED_FOR="203.0.113.66",
    )

    assert response.status_code == 200, response.content
    assert UserSession.objects.get().ip == "192.0.2.10"


def test_each_login_is_a_separate_session(api_client, member, login):
    first, second = login(member), login(member)

    assert claims(first["access"])["sid"] != claims(second["access"])["sid"]
    assert UserSession.objects.filter(user=member, ended_at__isnull=True).count() == 2


@pytest.mark.parametrize(
    "name",
    ['"username": "\\ud800"', '"email": "\\ud800@example.com"', '"username": "a\\ud800@x.com"'],
    ids=["username", "email", "username-as-email"],
)
def test_a_login_name_with_a_lone_surrogate_is_400(api_client, member, name):
    # JSON may escape a lone surrogate; Python decodes it to a str that encodes to
    # nothing. The parser refuses the body (taskmanager.parsers).
    body = "{" + name + ', "password": "' + PASSWORD + '"}'

    response = api_client.post(LOGIN_URL, body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "parse_error"
