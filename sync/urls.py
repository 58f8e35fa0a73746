from django.urls import URLPattern, URLResolver, path

from sync import views

app_name = "sync"

urlpatterns: list[URLPattern | URLResolver] = [
    path("sync/", views.SyncView.as_view(), name="sync"),
]
