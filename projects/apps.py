from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "projects"

    def ready(self) -> None:
        from accounts import lifecycle
        from activity import kinds
        from projects.events import LABEL_EVENTS, PROJECT_EVENTS
        from projects.selectors import Memberships
        from projects.services import personal_project_create

        kinds.register(PROJECT_EVENTS)
        kinds.register(LABEL_EVENTS)
        kinds.register_memberships(Memberships())
        # Every account gets its personal project when it is created.
        lifecycle.on_user_created(personal_project_create)
