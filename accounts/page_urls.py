"""People's pages (HTML, a session cookie), for the live page, the browsable API and
the landing page: included under the `people` namespace, and the login and logout
again under `rest_framework` (session_urls), the names the browsable API links to."""

from django.urls import path

from accounts import pages
from accounts.session_urls import urlpatterns as sessions

urlpatterns = [
    *sessions,
    path("logged-out/", pages.logged_out_page, name="logged-out"),
    path("register/", pages.register_page, name="register"),
]
