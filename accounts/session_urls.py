from django.urls import path

from accounts import pages

urlpatterns = [
    path("login/", pages.login_page, name="login"),
    path("logout/", pages.logout_page, name="logout"),
]
