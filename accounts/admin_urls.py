"""Ahead of the admin's own "login/" and "password_change/" (the same URLs, which
`admin:login` and `admin:password_change` name): their throttled attempts answer 429
rather than 200, and a password change ends the API's sessions."""

from django.contrib import admin
from django.urls import path

from accounts.views import admin_password_change, password_form_view

urlpatterns = [
    path("login/", password_form_view(admin.site.login)),
    path("password_change/", admin.site.admin_view(admin_password_change, cacheable=True)),
]
