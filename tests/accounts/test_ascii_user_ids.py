"""A user's id in a URL is ASCII digits: another script's digits name no user."""

import pytest

from accounts.models import User, UserSession
from tests.helpers import assert_error, claims

pytestmark = pytest.mark.django_db

USERS_URL = "/api/v1/users/"


@pytest.mark.parametrize("zero", ["\u0660", "\uff10"], ids=["arabic-indic", "fullwidth"])
def test_a_user_id_in_other_scripts_digits_is_404_not_an_alias(admin_client, member, zero):
    # int() reads every script's digits, so U+0662 answered user 2 at a second URL.
    alias = "".join(chr(ord(zero) + int(digit)) for digit in str(member.pk))
    assert admin_client.get(f"{USERS_URL}{member.pk}/").status_code == 200

    assert_error(admin_client.get(f"{USERS_URL}{alias}/"), 404, "not_found")
    response = admin_client.patch(f"{USERS_URL}{alias}/", {"is_active": False}, format="json")

    assert_error(response, 404, "not_found")
    assert User.objects.get(pk=member.pk).is_active


def test_a_session_id_in_other_scripts_digits_is_404_not_an_alias(member, client_for):
    # UUID() reads every script's digits too: the session ended through the alias.
    ending, other = client_for(member), client_for(member)
    sid = claims(other.tokens["access"])["sid"]
    alias = "".join(chr(0x0660 + int(c)) if c.isdigit() else c for c in str(sid))
    assert alias != str(sid)

    response = ending.delete(f"/api/v1/auth/sessions/{alias}/")

    assert_error(response, 404, "not_found")
    assert UserSession.objects.get(pk=sid).ended_at is None
