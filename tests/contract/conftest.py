"""Role fixtures for the contract tests, from the accounts suite."""

from tests.accounts.conftest import (  # noqa: F401
    _fast_password_hashing,
    admin,
    admin_client,
    client_for,
    login,
    member,
)
