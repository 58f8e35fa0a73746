from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"

    def ready(self) -> None:
        from activity import kinds
        from activity import services as activity
        from notifications.events import NOTIFICATION_EVENTS
        from notifications.services import notifications_for_event, notifies

        kinds.register(NOTIFICATION_EVENTS)
        # Derived from the events of tasks and comments, in their transactions
        # (neither app knows of notifications).
        activity.on_record(notifications_for_event, concerns=notifies)
