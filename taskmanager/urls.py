from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from taskmanager.docs import AsyncApiView, SchemaView
from tasks.views import live_page

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("tasks.urls")),
    path("", include("files.urls")),
]

urlpatterns = [
    path("api/v1/", include((api_v1, "v1"))),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # The WebSocket's messages (docs/asyncapi.yaml).
    path("api/asyncapi/", AsyncApiView.as_view(), name="asyncapi"),
    path("live/", live_page, name="live"),
    # Session login and logout links for the browsable API.
    path("api-auth/", include("rest_framework.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "taskmanager.exceptions.bad_request"
handler403 = "taskmanager.exceptions.permission_denied"
handler404 = "taskmanager.exceptions.page_not_found"
handler500 = "taskmanager.exceptions.server_error"
