from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "webhooks"

    def ready(self) -> None:
        from activity import publication
        from monitoring import state
        from taskmanager import cleanups
        from webhooks import monitoring, services

        # After each commit with events: a dispatch is queued when a webhook may want
        # them (the outbox does not know of webhooks).
        publication.subscribe(services.on_events)
        cleanups.register(services.prune_log)
        state.register(monitoring.metrics)
