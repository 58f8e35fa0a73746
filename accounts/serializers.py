from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import personal_tokens, usernames
from accounts.models import PersonalToken, User, UserSession
from accounts.roles import Role
from accounts.scopes import ALL_SCOPES
from taskmanager.datetimes import NEEDS_OFFSET, AwareDateTimeField
from taskmanager.schema import one_of, together
from taskmanager.serializers import StrictFieldsMixin

# Django's rule for usernames (UnicodeUsernameValidator: `^[\w.@+-]+\Z`, letters and
# digits of any script) as an ECMA-262 pattern, which reads \w as ASCII only: a
# character outside ASCII passes the schema, and the server decides (a schema saying
# `^[\w.@+-]+$` would call a registered "ä" invalid).
USERNAME_PATTERN = r"^(?:[\w.@+-]|[^\x00-\x7f])+$"


@extend_schema_field({"type": "string", "maxLength": 150, "pattern": USERNAME_PATTERN})
class UsernameField(serializers.CharField):
    """A username as every door normalizes it (NFKC), before it is validated. Not
    trimmed: spaces around it are refused, as the schema's pattern says. Its
    `max_length` holds for the name as sent (StrictFieldsMixin) and as stored."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("max_length", 150)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        return usernames.normalize_username(super().to_internal_value(data))


class UserOutputSerializer(serializers.ModelSerializer[User]):
    # The model's rules, declared for the schema (read-only fields otherwise lose them).
    username = UsernameField(
        read_only=True, help_text="Up to 150 letters, digits and @ . + - _ characters."
    )
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)
    is_active = serializers.BooleanField(
        read_only=True,
        help_text="False once an admin has deactivated the account: it can no longer log in.",
    )

    class Meta:
        model = User
        fields = ["id", "username", "email", "role", "is_active", "date_joined"]
        read_only_fields = fields


def _validate_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(list(exc.messages)) from exc


def _login_name_is_free(value: str, field: str, *, exclude_pk: int | None = None) -> str:
    errors = usernames.login_name_errors(value, field=field, exclude_pk=exclude_pk)
    if errors:
        raise serializers.ValidationError(errors)
    return value


class LoginEmailField(serializers.EmailField):
    """A new email as every door normalizes it (NFKC, domain lower-cased), before it
    is validated: a fullwidth `root@example.com` is `root@example.com`. Not trimmed:
    spaces around it are refused, as the schema's pattern (taskmanager.schema.EMAIL)
    says."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if value != value.strip():
            self.fail("invalid")
        return usernames.normalize_email(value)


class RegisterInputSerializer(StrictFieldsMixin, serializers.Serializer):
    username = UsernameField(
        validators=[UnicodeUsernameValidator()],
        help_text="Up to 150 letters, digits and @ . + - _ characters.",
    )
    email = LoginEmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)

    def validate_username(self, value: str) -> str:
        return _login_name_is_free(value, "username")

    def validate_email(self, value: str) -> str:
        return _login_name_is_free(value, "email")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        candidate = User(username=attrs["username"], email=attrs["email"])
        try:
            _validate_password(attrs["password"], candidate)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"password": exc.detail}) from exc
        return attrs


class LoginInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """Your username or your email (one of the two, not both) and your password."""

    # validate()'s rule, for the schema.
    body_rules = (one_of("username", "email"),)

    username = serializers.CharField(max_length=254, required=False)
    email = serializers.CharField(max_length=254, required=False)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("username") and not attrs.get("email"):
            raise serializers.ValidationError({"username": ["Give a username or an email."]})
        # Refused whoever the two name, before any lookup: accepting a matching pair
        # and refusing another would tell anyone whose email an email is.
        if attrs.get("username") and attrs.get("email"):
            not_both = ["Give a username or an email, not both."]
            raise serializers.ValidationError({"username": not_both, "email": not_both})
        return attrs


class TokenGrantInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """OAuth2 password grant (RFC 6749, 4.3), as Swagger UI's Authorize sends it."""

    grant_type = serializers.ChoiceField(choices=["password"])
    username = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    scope = serializers.CharField(required=False, allow_blank=True)
    client_id = serializers.CharField(required=False, allow_blank=True)
    client_secret = serializers.CharField(required=False, allow_blank=True)


class RefreshInputSerializer(StrictFieldsMixin, serializers.Serializer):
    refresh = serializers.CharField(max_length=4096)


class TokensOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()


class OAuth2TokensOutputSerializer(TokensOutputSerializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()


class SessionOutputSerializer(serializers.ModelSerializer[UserSession]):
    current = serializers.SerializerMethodField()

    class Meta:
        model = UserSession
        fields = ["id", "created_at", "last_used_at", "ip", "user_agent", "current"]
        read_only_fields = fields

    def get_current(self, session: UserSession) -> bool:
        return str(session.pk) == self.context.get("current_session_id")


class MeUpdateInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """A new email, a new password with the current one, or both."""

    # validate()'s rule, for the schema.
    body_rules = (together("password", "current_password"),)

    email = LoginEmailField(max_length=254, required=False)
    password = serializers.CharField(
        max_length=128, required=False, write_only=True, trim_whitespace=False
    )
    current_password = serializers.CharField(
        max_length=128, required=False, write_only=True, trim_whitespace=False
    )

    def validate_email(self, value: str) -> str:
        return _login_name_is_free(value, "email", exclude_pk=self.context["user"].pk)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user: User = self.context["user"]
        if "password" in attrs:
            current = attrs.get("current_password")
            # Checked only when given: a missing one is no guess (nor counted as one,
            # accounts.throttles), and the new password's faults come with it.
            if current and not user.check_password(current):
                raise serializers.ValidationError(
                    {"current_password": ["The current password is not correct."]}
                )
            errors: dict[str, Any] = {}
            if not current:
                errors["current_password"] = ["This field is required to change the password."]
            candidate = User(username=user.username, email=attrs.get("email", user.email))
            try:
                _validate_password(attrs["password"], candidate)
            except serializers.ValidationError as exc:
                errors["password"] = exc.detail
            if errors:
                raise serializers.ValidationError(errors)
        elif "current_password" in attrs:
            raise serializers.ValidationError(
                {"password": ["Give the new password with the current one."]}
            )
        return attrs


class UserAdminUpdateInputSerializer(StrictFieldsMixin, serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    is_active = serializers.BooleanField(required=False)


# --- personal API tokens ---------------------------------------------------------------

SCOPES_SCHEMA = {
    "type": "array",
    "items": {"type": "string", "enum": list(ALL_SCOPES)},
    "minItems": 1,
    "maxItems": len(ALL_SCOPES),
    "uniqueItems": True,
}
SCOPES_HELP = (
    "What the token may do, at least one: "
    + ", ".join(f"`{scope}`" for scope in ALL_SCOPES)
    + ". Each at most once."
)


@extend_schema_field(SCOPES_SCHEMA)
class ScopesField(serializers.ListField):
    """The scopes of a token: a non-empty list of scope names, each once. Every wrong
    item is named in one message list ("Item 2: ...")."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("child", serializers.CharField())
        kwargs.setdefault("min_length", 1)
        kwargs.setdefault("help_text", SCOPES_HELP)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        if isinstance(data, str) or not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if not data:
            self.fail("min_length", min_length=1)
        errors: list[str] = []
        seen: set[str] = set()
        for index, item in enumerate(data):
            if not isinstance(item, str):
                errors.append(f"Item {index}: a scope is a string.")
            elif item not in ALL_SCOPES:
                errors.append(
                    f'Item {index}: "{item[:50]}" is not a scope; the scopes are'
                    f" {', '.join(ALL_SCOPES)}."
                )
            elif item in seen:
                errors.append(f'Item {index}: "{item}" is given twice.')
            else:
                seen.add(item)
        if errors:
            raise serializers.ValidationError(errors[:10])
        return list(data)


class PersonalTokenInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """A new personal API token: its name, its scopes and, if it is to expire, when."""

    name = serializers.CharField(
        max_length=personal_tokens.NAME_MAX_LENGTH,
        help_text="What the token is for, to recognise it in the list (e.g. `backup script`).",
    )
    scopes = ScopesField()
    expires_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the token stops working: in the future, at most a year (366 days) "
        f"ahead. Omitted or null: it never expires. {NEEDS_OFFSET}",
    )

    def validate_expires_at(self, value: Any) -> Any:
        if value is None:
            return value
        now = timezone.now()
        if value <= now:
            raise serializers.ValidationError("The expiry must be in the future.")
        if value > now + personal_tokens.MAX_LIFETIME:
            raise serializers.ValidationError(
                "The expiry is at most a year (366 days) ahead; create a new token then."
            )
        return value


# What `prefix` and `token` look like (accounts.personal_tokens), for the schema.
_PREFIX_PATTERN = rf"^{personal_tokens.PREFIX}[A-Za-z0-9_-]{{{personal_tokens.SHOWN_CHARS}}}$"
_TOKEN_PATTERN = rf"^{personal_tokens.PREFIX}[A-Za-z0-9_-]{{{personal_tokens.RANDOM_CHARS}}}$"


class PersonalTokenOutputSerializer(serializers.ModelSerializer[PersonalToken]):
    """A personal API token, without the token itself (shown only once, on creation)."""

    scopes = ScopesField(read_only=True)
    prefix = serializers.RegexField(
        _PREFIX_PATTERN,
        read_only=True,
        help_text="The token's first characters, to recognise it.",
    )
    expires_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Null: it never expires."
    )
    last_used_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When a request last used it, to the minute; null: never used.",
    )

    class Meta:
        model = PersonalToken
        fields = ["id", "name", "scopes", "prefix", "created_at", "expires_at", "last_used_at"]
        read_only_fields = fields


class PersonalTokenCreatedOutputSerializer(PersonalTokenOutputSerializer):
    """A personal API token just created, with the token itself: store it now, it is
    never shown again. Send it as `Authorization: Bearer <token>`."""

    token = serializers.SerializerMethodField()

    class Meta(PersonalTokenOutputSerializer.Meta):
        fields = [*PersonalTokenOutputSerializer.Meta.fields, "token"]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "string",
            "pattern": _TOKEN_PATTERN,
            "description": "The token, shown this once: only its hash is kept.",
        }
    )
    def get_token(self, token: PersonalToken) -> str:
        return str(self.context["raw_token"])
