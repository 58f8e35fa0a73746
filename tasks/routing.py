from django.urls import URLPattern

# The task-events consumer is added by the real-time work (issue 5).
websocket_urlpatterns: list[URLPattern] = []
