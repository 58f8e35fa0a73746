from django.apps import AppConfig


class TasksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tasks"

    def ready(self) -> None:
        from activity import kinds
        from taskmanager import cleanups
        from tasks.events import TASK_EVENTS
        from tasks.services import idempotency_keys_cleanup_counted

        kinds.register(TASK_EVENTS)
        cleanups.register(idempotency_keys_cleanup_counted)
