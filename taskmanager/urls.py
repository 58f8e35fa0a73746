from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.urls import include, path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from accounts.views import admin_password_change, browsable_api_login, password_form_view
from taskmanager.docs import AsyncApiView, SchemaView
from tasks.views import live_page

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("tasks.urls")),
    path("", include("files.urls")),
]

browsable_api_auth = [
    path("login/", browsable_api_login, name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
]

urlpatterns = [
    path("api/v1/", include((api_v1, "v1"))),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # The WebSocket's messages (docs/asyncapi.yaml).
    path("api/asyncapi/", AsyncApiView.as_view(), name="asyncapi"),
    path("live/", live_page, name="live"),
    # Session login and logout links for the browsable API (rest_framework.urls,
    # with a login form throttled as the API's login).
    path("api-auth/", include((browsable_api_auth, "rest_framework"))),
    path("monitoring/", include("monitoring.urls")),
    # Ahead of the admin's own "login/" and "password_change/" (the same URLs, which
    # `admin:login` and `admin:password_change` name): their throttled attempts answer
    # 429 rather than 200, and a password change ends the API's sessions.
    path("admin/login/", password_form_view(admin.site.login)),
    path(
        "admin/password_change/",
        admin.site.admin_view(admin_password_change, cacheable=True),
    ),
    path("admin/", admin.site.urls),
]

handler400 = "taskmanager.exceptions.bad_request"
handler403 = "taskmanager.exceptions.permission_denied"
handler404 = "taskmanager.exceptions.page_not_found"
handler500 = "taskmanager.exceptions.server_error"
