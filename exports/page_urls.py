"""Pages outside /api/v1/ (the calendar feed, read by calendar applications)."""

from django.urls import URLPattern, URLResolver

app_name = "exports_pages"

urlpatterns: list[URLPattern | URLResolver] = []
