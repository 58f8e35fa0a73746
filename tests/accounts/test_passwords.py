"""Argon2 hashes new passwords; bcrypt and PBKDF2 hashes verify and are upgraded."""

import pytest
from django.contrib.auth.hashers import make_password

from accounts.models import User
from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.real_password_hashers]


def test_registration_hashes_the_password_with_argon2(api_client):
    response = api_client.post(
        "/api/v1/auth/register/",
        {"username": "hana", "email": "hana@example.com", "password": PASSWORD},
        format="json",
    )

    assert response.status_code == 201
    assert User.objects.get(username="hana").password.startswith("argon2")


@pytest.mark.parametrize("hasher", ["bcrypt_sha256", "pbkdf2_sha256"])
def test_an_older_hash_logs_in_and_is_upgraded_to_argon2(api_client, member, hasher):
    User.objects.filter(pk=member.pk).update(password=make_password(PASSWORD, hasher=hasher))

    response = api_client.post(
        "/api/v1/auth/login/", {"username": "mia", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    member.refresh_from_db()
    assert member.password.startswith("argon2")
    assert member.check_password(PASSWORD)


def test_a_wrong_password_does_not_upgrade_the_hash(api_client, member):
    old = make_password(PASSWORD, hasher="bcrypt_sha256")
    User.objects.filter(pk=member.pk).update(password=old)

    response = api_client.post(
        "/api/v1/auth/login/", {"username": "mia", "password": "not-it-at-all"}, format="json"
    )

    assert response.status_code == 401
    member.refresh_from_db()
    assert member.password == old
