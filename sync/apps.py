from django.apps import AppConfig


class SyncConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sync"

    def ready(self) -> None:
        from activity import services as activity
        from sync import services
        from taskmanager import cleanups

        # A project's deletion names its members then: they read it after the
        # memberships are gone (sync.models.DeletedProjectMember).
        activity.on_record(
            services.deletion_readers_record, concerns=services.names_deletion_readers
        )
        cleanups.register(services.events_prune_counted)
