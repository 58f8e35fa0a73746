from django.urls import path

from realtime.consumers import TaskEventConsumer

websocket_urlpatterns = [
    path("ws/tasks/", TaskEventConsumer.as_asgi(), name="task-events"),
]
