from django.urls import URLPattern, URLResolver, path

from exports import views

app_name = "exports"

urlpatterns: list[URLPattern | URLResolver] = [
    path("users/me/calendar-feed/", views.CalendarFeedCreateView.as_view(), name="calendar-feed"),
    # Before tasks.urls (taskmanager/urls.py): not a task id.
    path("tasks/export.csv", views.TaskExportView.as_view(), name="task-export"),
]
