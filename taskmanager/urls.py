from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from taskmanager.docs import SchemaView
from taskmanager.views import ApiRootView, home
from webhooks.monitoring import worker_ready

api_v1: list[URLPattern | URLResolver] = [
    path("", ApiRootView.as_view(), name="root"),
    # Before tasks: /tasks/export.csv is not a task.
    path("", include("exports.urls")),
    # The most requested first: Django tries the patterns in turn, and those of
    # projects and accounts before them were half of resolving a task's URL.
    path("", include("tasks.urls")),
    path("", include("projects.urls")),
    path("", include("accounts.urls")),
    path("", include("comments.urls")),
    path("", include("notifications.urls")),
    path("", include("files.urls")),
    path("", include("webhooks.urls")),
    path("", include("sync.urls")),
]

urlpatterns = [
    # First: nearly every request is the API's, and no pattern below matches its paths.
    path("api/v1/", include((api_v1, "v1"))),
    path("", home, name="home"),
    path("", include(("accounts.page_urls", "people"))),
    # The same login and logout under the names the browsable API links to.
    path("", include(("accounts.session_urls", "rest_framework"))),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("", include("realtime.urls")),
    path("", include("tasks.page_urls")),
    path("", include("exports.page_urls")),
    path("monitoring/ready/worker/", worker_ready, name="worker-ready"),
    path("monitoring/", include("monitoring.urls")),
    # Before the admin: its login and password change, throttled and ending sessions.
    path("admin/", include("accounts.admin_urls")),
    path("admin/", admin.site.urls),
]

handler400 = "taskmanager.exceptions.bad_request"
handler403 = "taskmanager.exceptions.permission_denied"
handler404 = "taskmanager.exceptions.page_not_found"
handler500 = "taskmanager.exceptions.server_error"
