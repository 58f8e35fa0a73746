"""Entries of the authentication cache that are not what auth_cache writes.

tests/security/test_api10_unsafe_consumption.py checks that such a request is not a
500 and that a revoked session stays revoked; these check that the entry is replaced
by the database's state and that a well-formed entry of another user is not used.
"""

from datetime import datetime

import pytest
from django.core.cache import cache

from accounts import auth_cache
from accounts.roles import Role
from tests.helpers import ME_URL, claims

pytestmark = pytest.mark.django_db


def test_a_corrupt_session_entry_is_replaced_by_the_database_state(member_client, member):
    key = auth_cache.session_key(claims(member_client.tokens["access"])["sid"])
    cache.set(key, {"ended": False}, 60)

    assert member_client.get(ME_URL).status_code == 200

    entry = cache.get(key)
    assert entry["ended"] is False
    assert entry["user_id"] == member.pk
    assert isinstance(entry["expires_at"], datetime)


def test_a_corrupt_user_entry_is_replaced_by_the_database_snapshot(member_client, member):
    cache.set(auth_cache.user_key(member.pk), {"is_active": True}, 60)

    assert member_client.get(ME_URL).status_code == 200

    assert cache.get(auth_cache.user_key(member.pk)) == auth_cache.load_user_snapshot(member.pk)


def test_another_users_snapshot_under_the_key_is_not_used(member_client, member, admin):
    # Well-formed, but an admin's: trusting it would hand the member the admin's role
    # and permissions.
    cache.set(auth_cache.user_key(member.pk), auth_cache.load_user_snapshot(admin.pk), 60)

    response = member_client.get(ME_URL)

    assert response.status_code == 200
    assert response.json()["id"] == member.pk
    assert response.json()["role"] == Role.MEMBER
    assert member_client.get("/api/v1/users/").status_code == 403


def test_a_corrupt_user_entry_of_a_deactivated_user_still_refuses_them(member_client, member):
    member.is_active = False
    member.save(update_fields=["is_active"])
    cache.set(auth_cache.user_key(member.pk), "garbage", 60)

    assert member_client.get(ME_URL).status_code == 401
