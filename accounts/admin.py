from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from accounts import auth_cache, services
from accounts.models import User, UserSession


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "role", "is_active", "is_staff", "date_joined"]
    list_filter = ["is_active", "is_staff", "is_superuser", "groups"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="role")
    def role(self, user: User) -> str:
        return user.role

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # The same consequences as through the API: a deactivated user's sessions end.
        if change and "is_active" in form.changed_data and not obj.is_active:
            services.sessions_end_all(user=obj, reason=UserSession.EndReason.ADMIN)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # Groups, permissions or status changed here reach every process's cache.
        auth_cache.user_changed(form.instance.pk)


@admin.register(UserSession)
class UserSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "created_at", "last_used_at", "ip", "ended_at", "end_reason"]
    list_filter = ["end_reason"]
    list_select_related = ["user"]
    search_fields = ["user__username", "ip"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
