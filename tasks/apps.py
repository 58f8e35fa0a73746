from django.apps import AppConfig


class TasksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tasks"

    def ready(self) -> None:
        from activity import kinds
        from projects import services as projects
        from taskmanager import cleanups
        from tasks import services
        from tasks.events import RELATION_EVENTS, TASK_EVENTS

        kinds.register(TASK_EVENTS)
        kinds.register(RELATION_EVENTS)
        cleanups.register(services.idempotency_keys_cleanup_counted)
        # What a project's changes mean for its tasks (projects knows nothing of them).
        projects.on_project_delete(services.tasks_delete_for_project)
        projects.on_project_change(services.project_lists_changed)
        projects.on_member_removed(services.assignments_clear)
        projects.on_memberships_change(services.memberships_changed)
        projects.on_label_delete(services.labels_remove)
