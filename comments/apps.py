from django.apps import AppConfig


class CommentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "comments"

    def ready(self) -> None:
        from activity import kinds
        from comments.events import COMMENT_EVENTS

        kinds.register(COMMENT_EVENTS)
