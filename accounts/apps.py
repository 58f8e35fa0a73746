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
