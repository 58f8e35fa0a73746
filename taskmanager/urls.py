from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from accounts import pages
from accounts.views import admin_password_change, password_form_view
from taskmanager.docs import AsyncApiView, SchemaView
from taskmanager.views import ApiRootView, home
from tasks.views import live_page

api_v1 = [
    path("", ApiRootView.as_view(), name="root"),
    path("", include("accounts.urls")),
    path("", include("tasks.urls")),
    path("", include("files.urls")),
]

# People's login, logout and registration (HTML, a session cookie), for the live page,
# the browsable API and the landing page; the admin keeps its own.
sessions = [
    path("login/", pages.login_page, name="login"),
    path("logout/", pages.logout_page, name="logout"),
]
people = [
    *sessions,
    path("logged-out/", pages.logged_out_page, name="logged-out"),
    path("register/", pages.register_page, name="register"),
]

urlpatterns = [
    path("", home, name="home"),
    path("", include((people, "people"))),
    # The same login and logout under the names the browsable API links to.
    path("", include((sessions, "rest_framework"))),
    path("api/v1/", include((api_v1, "v1"))),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # The WebSocket's messages (docs/asyncapi.yaml).
    path("api/asyncapi/", AsyncApiView.as_view(), name="asyncapi"),
    path("live/", live_page, name="live"),
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
