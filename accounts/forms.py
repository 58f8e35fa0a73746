"""The HTML forms that check a password (the admin's and the people's login, the
admin's "change password"), throttled as the API's doors are: a guess through a
form counts in the same windows as one through the API; and the people's
registration form, checked as the API's registration."""

from collections.abc import Mapping
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.forms import AdminPasswordChangeForm as DjangoAdminOwnPasswordForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.forms.widgets import Input
from django.http import HttpRequest

from accounts import services
from accounts.models import User
from accounts.serializers import RegisterInputSerializer
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


REGISTER_THROTTLED_MESSAGE = (
    "Too many registrations from your address. Try again in %(wait)s seconds."
)


def _input(widget: type[Input], autocomplete: str, **attrs: Any) -> Input:
    # Required in the browser; the server's check is the API serializer's.
    return widget(attrs={"autocomplete": autocomplete, "required": True, **attrs})


class RegisterForm(forms.Form):
    """The registration page's form: the fields of `POST /api/v1/auth/register/`,
    checked by its serializer (the same rules and messages), and the password typed
    twice. With `throttled_for` (the attempt is over the API's registration rate) it
    is invalid without a check. Once valid, `registration` holds the arguments of
    `services.user_register`."""

    username = forms.CharField(
        required=False, strip=False, widget=_input(forms.TextInput, "username", autofocus=True)
    )
    email = forms.CharField(required=False, strip=False, widget=_input(forms.EmailInput, "email"))
    password = forms.CharField(
        required=False, strip=False, widget=_input(forms.PasswordInput, "new-password")
    )
    password_again = forms.CharField(
        required=False, strip=False, widget=_input(forms.PasswordInput, "new-password")
    )

    def __init__(self, *args: Any, throttled_for: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.throttled_for = throttled_for
        self.registration: dict[str, str] = {}

    def clean(self) -> dict[str, Any]:
        if self.throttled_for is not None:
            raise ValidationError(
                REGISTER_THROTTLED_MESSAGE, code="throttled", params={"wait": self.throttled_for}
            )
        data = dict(self.cleaned_data)
        payload = RegisterInputSerializer(
            data={name: data.get(name, "") for name in ("username", "email", "password")}
        )
        if payload.is_valid():
            self.registration = dict(payload.validated_data)
        else:
            self.add_field_errors(payload.errors)
        if data.get("password") != data.get("password_again"):
            self.registration = {}
            self.add_error("password_again", "The two passwords differ.")
        return data

    def add_field_errors(self, fields: Mapping[str, Any]) -> None:
        """Errors in the API's shape (a list of messages per field) on this form; those
        of no field of the form above it."""
        for name, messages in fields.items():
            for message in messages if isinstance(messages, list) else [messages]:
                self.add_error(name if name in self.fields else None, str(message))
