from django.apps import AppConfig


class FilesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "files"

    def ready(self) -> None:
        from files.services import files_delete_for_tasks
        from tasks.services import on_task_delete

        # A task's attachments go with it (tasks knows nothing of files).
        on_task_delete(files_delete_for_tasks)
