"""The HTML forms that check a password (the admin's and the browsable API's login,
the admin's "change password"), throttled as the API's doors are: a guess through a
form counts in the same windows as one through the API."""

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.forms import AdminPasswordChangeForm as DjangoAdminOwnPasswordForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts import services
from accounts.models import User
from accounts.throttles import password_attempt_wait

THROTTLED_MESSAGE = "Too many login attempts. Try again in %(wait)s seconds."


class LoginForm(AuthenticationForm):
    """Counts every attempt before the password is checked; once over the login
    rate, the form is invalid without a check (right password or not), and
    `throttled_for` says for how many seconds (the view answers 429)."""

    throttled_for: int | None = None

    def clean(self) -> dict[str, Any]:
        # The username as the field cleaned it (NFKC, stripped) is what
        # `authenticate` gets: counting it names the account that would be checked.
        # Without a request (a form built by hand, no client) there is nothing to count.
        if self.request is not None:
            wait = password_attempt_wait(self.request, self.cleaned_data.get("username"))
            if wait is not None:
                self.throttled_for = wait
                raise ValidationError(THROTTLED_MESSAGE, code="throttled", params={"wait": wait})
        return super().clean()


class AdminLoginForm(LoginForm, AdminAuthenticationForm):
    """The admin's login form (staff only), throttled."""


class AdminOwnPasswordChangeForm(DjangoAdminOwnPasswordForm):
    """The admin's "change password" (a signed-in operator's own, checking the old
    one): the check counts as the profile's current-password check does, and the
    change goes through `user_update_profile`, so that the API's sessions end too."""

    throttled_for: int | None = None

    def __init__(self, user: User, *args: Any, request: HttpRequest | None = None, **kwargs: Any):
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self) -> str:
        if self.request is not None:
            wait = password_attempt_wait(
                self.request, self.user.get_username(), user_id=self.user.pk
            )
            if wait is not None:
                self.throttled_for = wait
                raise ValidationError(THROTTLED_MESSAGE, code="throttled", params={"wait": wait})
        return str(super().clean_old_password())

    def save(self, commit: bool = True) -> User:
        # The view then keeps this browser's admin session (update_session_auth_hash).
        self.user = services.user_update_profile(
            user=self.user, current_session_id=None, password=self.cleaned_data["new_password1"]
        )
        return self.user
