from django.db import models


class BaselineTask(models.Model):
    """The application's task table, read as it is: the baseline creates nothing."""

    title = models.CharField(max_length=200)
    description = models.TextField()
    priority = models.CharField(max_length=16)
    status = models.CharField(max_length=16)
    due_date = models.DateTimeField(null=True)
    owner_id = models.BigIntegerField()
    assignee_id = models.BigIntegerField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True)
    version = models.PositiveIntegerField()

    class Meta:
        managed = False
        db_table = "tasks_task"

    def __str__(self) -> str:
        return self.title
