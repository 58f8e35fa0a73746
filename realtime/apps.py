from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "realtime"
    verbose_name = "Real time"

    def ready(self) -> None:
        from activity import publication
        from realtime import sending

        publication.subscribe(sending.publish)
