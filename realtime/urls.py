from django.urls import path

from realtime.views import AsyncApiView

urlpatterns = [
    # The WebSocket's messages (docs/asyncapi.yaml).
    path("api/asyncapi/", AsyncApiView.as_view(), name="asyncapi"),
]
