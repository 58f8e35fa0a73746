from django.urls import path

from tasks.views import live_page

urlpatterns = [
    path("live/", live_page, name="live"),
]
