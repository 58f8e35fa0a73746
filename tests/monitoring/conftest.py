from tests.accounts.conftest import (  # noqa: F401
    _fast_password_hashing,
    client_for,
    login,
    member,
    member_client,
)
