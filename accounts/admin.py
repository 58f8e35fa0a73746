"""Users, sessions, refresh tokens and personal API tokens in the Django admin.

Operators' changes go through `accounts.services`, so they have the API's
consequences (sessions ended, tokens blacklisted, every process's auth cache told).
Sessions and refresh tokens are read-only: revoking is ending a session, never
editing or deleting a row (deleting a blacklist row would make a revoked token valid
again). A personal token is revoked by deleting it, through the service.
"""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import ShowFacets
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import (
    AdminPasswordChangeForm,
    AdminUserCreationForm,
    UsernameField,
)
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, Now
from django.forms import ModelForm
from django.http import HttpRequest
from rest_framework_simplejwt.token_blacklist import admin as _token_blacklist_admin  # noqa: F401
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts import auth_cache, lifecycle, services, usernames
from accounts.forms import AdminLoginForm
from accounts.models import PersonalToken, User, UserSession
from accounts.roles import Role
from taskmanager.admin_base import ReadOnlyAdmin
from taskmanager.exceptions import DomainError

# The admin's login counts its attempts with the API's logins (accounts.admin_urls
# answers 429 for it once they are over the rate).
admin.site.login_form = AdminLoginForm

# Each user of an action costs a few short transactions; this bounds one request.
BULK_LIMIT = 1000

# Privileges beyond the roles, for superusers to give. Other operators change roles
# through the actions (`user_set_role` keeps `is_staff` with the role); with these
# fields they could make themselves superusers or grant any permission.
SUPERUSER_FIELDS = ["is_superuser", "is_staff", "groups", "user_permissions"]


class PasswordResetForm(AdminPasswordChangeForm):
    """The admin's password form, through `user_reset_password`: the user's sessions
    end (Django's form would only change the hash, and every token kept working)."""

    def save(self, commit: bool = True) -> User:
        data = self.cleaned_data
        password = data["password1"] if data["set_usable_password"] else None
        self.user = services.user_reset_password(user=self.user, password=password)
        return cast(User, self.user)


class LoginEmailFormField(forms.EmailField):
    """An email normalized as every door stores it (NFKC, domain lower-cased)."""

    def to_python(self, value: Any) -> str:
        return usernames.normalize_email(super().to_python(value) or "")


class LoginNamesForm(ModelForm):
    """Usernames and emails refused as on registration: taken in any case, mixing
    scripts, or looking like another account's (accounts.usernames)."""

    def clean_username(self) -> str:
        username = str(self.cleaned_data["username"])
        usernames.validate_login_name(username, field="username", exclude_pk=self.instance.pk)
        return username

    def clean_email(self) -> str:
        email = str(self.cleaned_data["email"])
        usernames.validate_login_name(email, field="email", exclude_pk=self.instance.pk)
        return email


# django-stubs does not declare the Meta of Django's user forms.
class UserAddForm(LoginNamesForm, AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):  # type: ignore[name-defined]
        fields = ("username", "email")
        field_classes = {"username": UsernameField, "email": LoginEmailFormField}


class UserChangeForm(LoginNamesForm, DjangoUserChangeForm):
    class Meta(DjangoUserChangeForm.Meta):  # type: ignore[name-defined]
        field_classes = {"username": UsernameField, "email": LoginEmailFormField}


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    add_form = UserAddForm
    form = UserChangeForm
    # With the email: every account has one (a login name, unique: a second account
    # without one would break the unique index).
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "usable_password", "password1", "password2"),
            },
        ),
    )
    change_password_form = PasswordResetForm
    list_display = [
        "username",
        "email",
        "role",
        "is_active",
        "live_sessions",
        "is_staff",
        "date_joined",
    ]
    list_filter = ["is_active", "is_staff", "is_superuser", "groups"]
    show_full_result_count = False
    show_facets = ShowFacets.NEVER
    actions = [
        "end_sessions",
        "set_role_member",
        "set_role_manager",
        "set_role_admin",
        "deactivate",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        # A correlated subquery, not Count over a join: it runs for the page's rows
        # only (through the session's (user, ended_at) index), and the paginator's
        # COUNT(*) leaves it out, where a GROUP BY would aggregate every session.
        live = (
            UserSession.objects.filter(
                user_id=OuterRef("pk"), ended_at__isnull=True, expires_at__gt=Now()
            )
            .order_by()
            .values("user_id")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return (
            super()
            .get_queryset(request)
            .prefetch_related("groups")
            .annotate(live_session_count=Coalesce(Subquery(live, output_field=IntegerField()), 0))
        )

    @admin.display(description="role")
    def role(self, user: User) -> str:
        return user.role

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting a user would cascade to their tasks without events or cache
        # invalidation; deactivating keeps the history and ends every session.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Only a superuser changes a superuser (their password included), as in the API.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += SUPERUSER_FIELDS
        if obj is not None and obj.pk == request.user.pk:
            # Unticking your own "active" would lock you out (the API refuses it too).
            fields.append("is_active")
        return fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[User], search_term: str
    ) -> tuple[QuerySet[User], bool]:
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # The task form's assignee autocomplete offers only users a task may get.
        if request.path.endswith("/autocomplete/") and request.GET.get("field_name") == "assignee":
            queryset = queryset.filter(is_active=True)
        return queryset, may_have_duplicates

    @admin.display(description="live sessions")
    def live_sessions(self, user: User) -> int:
        return int(getattr(user, "live_session_count", 0))

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            lifecycle.user_created(obj)
        # The same consequences as through the API: a deactivated user's sessions and
        # personal tokens end.
        if change and "is_active" in form.changed_data and not obj.is_active:
            services.sessions_end_all(user=obj, reason=UserSession.EndReason.ADMIN)
            services.personal_tokens_revoke_all(user=obj)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # Groups, permissions or status changed here reach every process's cache.
        auth_cache.user_changed(form.instance.pk)

    # Actions: the API's user management (`accounts.manage_users`), user by user.

    def has_manage_users_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.manage_users")

    @admin.action(description="End all sessions", permissions=["manage_users"])
    def end_sessions(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = self._selected(request, queryset)
        ended = sum(
            services.sessions_end_all(user=user, reason=UserSession.EndReason.ADMIN)
            for user in users
        )
        self.message_user(
            request, f"Ended {ended} session(s) of {len(users)} user(s).", messages.SUCCESS
        )

    @admin.action(description="Set role: member", permissions=["manage_users"])
    def set_role_member(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._update(request, queryset, f"Role set to {Role.MEMBER}", role=Role.MEMBER)

    @admin.action(description="Set role: manager", permissions=["manage_users"])
    def set_role_manager(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._update(request, queryset, f"Role set to {Role.MANAGER}", role=Role.MANAGER)

    @admin.action(description="Set role: admin", permissions=["manage_users"])
    def set_role_admin(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._update(request, queryset, f"Role set to {Role.ADMIN}", role=Role.ADMIN)

    @admin.action(description="Deactivate (ends their sessions)", permissions=["manage_users"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._update(request, queryset, "Deactivated", is_active=False)

    def _update(
        self, request: HttpRequest, queryset: QuerySet[User], done: str, **changes: Any
    ) -> None:
        actor = cast(User, request.user)  # the admin lets only staff users this far
        updated = 0
        for user in self._selected(request, queryset):
            try:
                services.user_admin_update(actor=actor, user=user, **changes)
            except DomainError as exc:
                # One refusal (yourself, a superuser's role) does not stop the others.
                self.message_user(
                    request, f"Skipped {user.username}: {exc.summary()}", messages.WARNING
                )
                continue
            updated += 1
        if updated:
            self.message_user(request, f"{done}: {updated} user(s).", messages.SUCCESS)

    def _selected(self, request: HttpRequest, queryset: QuerySet[User]) -> list[User]:
        users = list(queryset.order_by("pk")[: BULK_LIMIT + 1])
        if len(users) > BULK_LIMIT:
            self.message_user(
                request,
                f"Only the first {BULK_LIMIT} selected users were handled; "
                "run the action again for the others.",
                messages.WARNING,
            )
        return users[:BULK_LIMIT]


@admin.register(UserSession)
class UserSessionAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "created_at", "last_used_at", "ip", "ended_at", "end_reason"]
    list_filter = ["end_reason"]
    list_select_related = ["user"]
    search_fields = ["user__username", "ip"]
    date_hierarchy = "created_at"
    actions = ["end_selected"]

    def has_manage_users_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.manage_users")

    @admin.action(description="End the selected sessions", permissions=["manage_users"])
    def end_selected(self, request: HttpRequest, queryset: QuerySet[UserSession]) -> None:
        live = queryset.filter(ended_at__isnull=True).select_related("user")[:BULK_LIMIT]
        ended = sum(
            services.session_end(
                user=session.user, session_id=session.pk, reason=UserSession.EndReason.ADMIN
            )
            for session in live
        )
        self.message_user(request, f"Ended {ended} session(s).", messages.SUCCESS)


@admin.register(PersonalToken)
class PersonalTokenAdmin(ReadOnlyAdmin):
    """Personal API tokens: who holds which, what they may do, when last used; never
    the hash. Deleting one revokes it (every process refuses it at once)."""

    list_display = [
        "prefix",
        "name",
        "user",
        "scope_list",
        "created_at",
        "expires_at",
        "last_used_at",
    ]
    list_select_related = ["user"]
    search_fields = ["=prefix", "name", "user__username"]
    ordering = ["-id"]
    date_hierarchy = "created_at"
    readonly_fields = (
        "id",
        "user",
        "name",
        "prefix",
        "scope_list",
        "created_at",
        "expires_at",
        "last_used_at",
    )
    fields = readonly_fields

    @admin.display(description="scopes")
    def scope_list(self, token: PersonalToken) -> str:
        return ", ".join(token.scopes)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("accounts.delete_personaltoken")

    def delete_model(self, request: HttpRequest, obj: PersonalToken) -> None:
        services.personal_token_delete(token=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PersonalToken]) -> None:
        services.personal_tokens_delete(tokens=queryset)


# SimpleJWT's own admins (registered by the import above, so replaceable here) let
# operators add, edit and delete blacklist rows, order by user (a sort of the whole
# table) and show the refresh tokens themselves.
admin.site.unregister(OutstandingToken)
admin.site.unregister(BlacklistedToken)


@admin.register(OutstandingToken)
class OutstandingTokenAdmin(ReadOnlyAdmin):
    """Refresh tokens issued; ending the session is how one is revoked."""

    list_display = ["jti", "user", "created_at", "expires_at"]
    list_select_related = ["user"]
    search_fields = ["=jti", "user__username"]
    ordering = ["-id"]
    # Without `token`: whoever reads a refresh token could use it.
    readonly_fields = ("id", "jti", "user", "created_at", "expires_at")
    fields = readonly_fields


@admin.register(BlacklistedToken)
class BlacklistedTokenAdmin(ReadOnlyAdmin):
    list_display = ["token_jti", "token_user", "token_expires_at", "blacklisted_at"]
    list_select_related = ["token__user"]
    search_fields = ["=token__jti", "token__user__username"]
    ordering = ["-id"]
    readonly_fields = (
        "id",
        "token_jti",
        "token_user",
        "token_created_at",
        "token_expires_at",
        "blacklisted_at",
    )
    fields = readonly_fields

    @admin.display(description="jti")
    def token_jti(self, blacklisted: BlacklistedToken) -> str:
        return blacklisted.token.jti

    @admin.display(description="user")
    def token_user(self, blacklisted: BlacklistedToken) -> User | None:
        return blacklisted.token.user

    @admin.display(description="created at")
    def token_created_at(self, blacklisted: BlacklistedToken) -> Any:
        return blacklisted.token.created_at

    @admin.display(description="expires at")
    def token_expires_at(self, blacklisted: BlacklistedToken) -> Any:
        return blacklisted.token.expires_at
