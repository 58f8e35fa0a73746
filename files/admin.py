from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from files import services
from files.models import File


@admin.register(File)
class FileAdmin(admin.ModelAdmin):
    """Uploads are read here and deleted through the service (bytes go too); they
    are added only through the API, which checks them."""

    list_display = ["name", "owner", "task", "size", "content_type", "created_at"]
    list_select_related = ["owner", "task"]
    list_filter = ["content_type"]
    search_fields = ["name", "sha256", "owner__username"]
    date_hierarchy = "created_at"
    raw_id_fields = ["owner", "task"]
    readonly_fields = [
        "owner",
        "task",
        "name",
        "storage_name",
        "size",
        "content_type",
        "sha256",
        "created_at",
    ]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: File) -> None:
        services.file_delete(file=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[File]) -> None:
        for file in queryset:
            services.file_delete(file=file)
