"""Pages outside /api/v1/ (the calendar feed, read by calendar applications)."""

from django.urls import URLPattern, URLResolver, path

from exports import views

app_name = "exports_pages"

urlpatterns: list[URLPattern | URLResolver] = [
    path("calendar/<str:token>.ics", views.CalendarFeedView.as_view(), name="calendar-feed"),
]
