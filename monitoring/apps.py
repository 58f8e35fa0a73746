import logging

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "monitoring"

    def ready(self) -> None:
        # Python's warnings go through logging too, so stderr stays JSON lines.
        logging.captureWarnings(True)
        from monitoring import checks  # noqa: F401 - registers the deploy check
