from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        from django.db.models import CharField
        from django.db.models.functions import Lower

        # `username__lower=lowered(name)` compiles to LOWER("username") = LOWER(%s), which
        # the functional unique indexes serve; `__iexact` uses UPPER(...) LIKE on
        # PostgreSQL and would scan.
        CharField.register_lookup(Lower)

        from accounts import (
            schema,  # noqa: F401  (registers the OpenAPI auth scheme)
            signals,
        )

        signals.connect()

        from django.core import checks

        from accounts.checks import token_scopes_check

        checks.register(token_scopes_check)

        from accounts.auth_cache import user_vanished
        from accounts.authentication import SESSION_ENDED
        from accounts.services import tokens_cleanup_counted
        from taskmanager import cleanups, exceptions

        cleanups.register(tokens_cleanup_counted)
        exceptions.on_vanished_users(exceptions.VanishedUsers(user_vanished, SESSION_ENDED))
