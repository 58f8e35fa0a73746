from django.urls import include, path
from rest_framework.routers import SimpleRouter

from accounts import views

app_name = "accounts"

router = SimpleRouter()
router.register("auth/sessions", views.SessionViewSet, basename="session")
router.register("auth/tokens", views.PersonalTokenViewSet, basename="personal-token")
router.register("users", views.UserViewSet, basename="user")

urlpatterns = [
    path("auth/register/", views.RegisterView.as_view(), name="register"),
    path("auth/login/", views.LoginView.as_view(), name="login"),
    path("auth/token/", views.TokenView.as_view(), name="token"),
    path("auth/refresh/", views.RefreshView.as_view(), name="refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="logout"),
    path("auth/logout-all/", views.LogoutAllView.as_view(), name="logout-all"),
    # Before the router, so "me" is not taken for a user id.
    path("users/me/", views.MeView.as_view(), name="me"),
    path("", include(router.urls)),
]
