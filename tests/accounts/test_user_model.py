"""The database itself keeps usernames and emails unique whatever their case."""

import pytest
from django.db import IntegrityError, transaction

from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            {"username": "Alice", "email": "a1@example.com"},
            {"username": "aLICE", "email": "a2@example.com"},
        ),
        (
            {"username": "bob1", "email": "Bob@Example.com"},
            {"username": "bob2", "email": "bob@example.COM"},
        ),
    ],
)
def test_a_case_variant_is_refused_by_the_database(first, second):
    User.objects.create_user(password="x", **first)

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(password="x", **second)


def test_the_user_model_is_the_projects_auth_user_model(settings):
    assert settings.AUTH_USER_MODEL == "accounts.User"
    assert User._meta.db_table == "accounts_user"
