"""POST auth/token/: the OAuth2 password grant (form-encoded), e.g. for Swagger UI."""

from urllib.parse import urlencode

import pytest

from accounts.models import UserSession
from tests.factories import PASSWORD
from tests.helpers import ME_URL, assert_error, assert_field_error, bearer_client, claims

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"


def post_form(api_client, data):
    # application/x-www-form-urlencoded, as OAuth2 clients send it.
    return api_client.post(
        TOKEN_URL, urlencode(data), content_type="application/x-www-form-urlencoded"
    )


def test_password_grant_answers_tokens_under_both_names(api_client, member, settings):
    response = post_form(
        api_client, {"grant_type": "password", "username": "mia", "password": PASSWORD}
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {
        "access",
        "refresh",
        "token_type",
        "expires_in",
        "access_token",
        "refresh_token",
    }
    assert body["access_token"] == body["access"]
    assert body["refresh_token"] == body["refresh"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.ACCESS_TOKEN_MINUTES * 60
    assert "no-store" in response["Cache-Control"]


def test_password_grant_token_authenticates_and_names_a_new_session(api_client, member):
    response = post_form(
        api_client,
        {"grant_type": "password", "username": "MIA", "password": PASSWORD},
    )

    assert response.status_code == 200, response.content
    access = response.json()["access_token"]
    session = UserSession.objects.get(user=member)
    assert claims(access)["sid"] == str(session.id)
    me = bearer_client(access).get(ME_URL)
    assert me.status_code == 200, me.content
    assert me.json()["username"] == "mia"


def test_password_grant_without_grant_type_is_400_naming_grant_type(api_client, member):
    response = post_form(api_client, {"username": "mia", "password": PASSWORD})

    assert_field_error(response, "grant_type")
    assert not UserSession.objects.exists()


def test_a_username_longer_than_254_as_sent_in_the_form_is_400_naming_it(api_client, member):
    # The schema's maxLength counts what is sent; trimmed, "mia" would log in.
    response = post_form(
        api_client, {"grant_type": "password", "username": "mia" + " " * 252, "password": PASSWORD}
    )

    error = assert_field_error(response, "username")
    assert error["fields"] == {"username": ["Ensure this field has no more than 254 characters."]}
    assert not UserSession.objects.exists()


@pytest.mark.parametrize("grant_type", ["client_credentials", "refresh_token", ""])
def test_grant_type_other_than_password_is_400_naming_grant_type(api_client, member, grant_type):
    response = post_form(
        api_client, {"grant_type": grant_type, "username": "mia", "password": PASSWORD}
    )

    assert_field_error(response, "grant_type")
    assert not UserSession.objects.exists()


def test_password_grant_with_a_wrong_password_is_401(api_client, member):
    response = post_form(
        api_client,
        {"grant_type": "password", "username": "mia", "password": "Not-The-Password-1"},
    )

    assert_error(response, 401, "authentication_failed")
    assert not UserSession.objects.exists()


def test_password_grant_for_an_unknown_user_is_401(api_client, member):
    response = post_form(
        api_client, {"grant_type": "password", "username": "nobody", "password": PASSWORD}
    )

    assert_error(response, 401, "authentication_failed")
