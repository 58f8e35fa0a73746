"""Every write of comments. Each records its event in its transaction (the members of
the task's project receive it; notifications derive from it there too), whichever
door it came through (API, admin). Who may write is the caller's check; the rules of
the task's project (archived: 409) are checked here."""

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from comments import events, mentions
from comments.models import Comment
from comments.state import comment_state
from projects.models import Membership
from taskmanager.exceptions import NotFoundError
from tasks.models import Task
from tasks.services import task_check_writable


def comment_create(*, actor: User, task: Task, body: str) -> Comment:
    """A comment by `actor` on `task`; `@username`s of the project's members in the
    body are its mentions (comments.mentions). The task itself does not change."""
    with transaction.atomic():
        task_check_writable(task)
        now = timezone.now()
        comment = Comment.objects.create(
            task_id=task.pk, author=actor, body=body, created_at=now, updated_at=now
        )
        mentioned = _mentioned(task.project_id, body)
        comment.mentions.set(mentioned)
        events.record(
            type=events.CREATED,
            comment_id=comment.pk,
            project_id=task.project_id,
            actor=actor,
            before=None,
            after=comment_state(comment, mentioned),
        )
        return comment


def comment_update(*, actor: User, comment_id: int, body: str) -> Comment:
    """A new body; mentions are those of the new body (the newly mentioned are
    notified). A body that differs marks the comment `edited`; the same body changes
    nothing."""
    with transaction.atomic():
        comment = _locked(comment_id)
        project_id = _writable_project(comment)
        if comment.body == body:
            return comment
        before_mentions = set(comment.mentions.values_list("pk", flat=True))
        before = comment_state(comment, before_mentions)
        mentioned = _mentioned(project_id, body)
        comment.body = body
        comment.edited = True
        comment.updated_at = timezone.now()
        comment.save(update_fields=["body", "edited", "updated_at"])
        if mentioned != before_mentions:
            comment.mentions.set(mentioned)
        events.record(
            type=events.UPDATED,
            comment_id=comment.pk,
            project_id=project_id,
            actor=actor,
            before=before,
            after=comment_state(comment, mentioned),
        )
        return comment


def comment_delete(*, actor: User, comment_id: int) -> None:
    """Delete a comment; its event keeps its last state."""
    with transaction.atomic():
        comment = _locked(comment_id)
        project_id = _writable_project(comment)
        events.record(
            type=events.DELETED,
            comment_id=comment.pk,
            project_id=project_id,
            actor=actor,
            before=comment_state(comment, comment.mentions.values_list("pk", flat=True)),
            after=None,
        )
        comment.delete()


def _mentioned(project_id: int, body: str) -> set[int]:
    """The members of the project the body mentions (any role). Their usernames are
    read only when the body has an `@name` at all."""
    names = mentions.mentioned_names(body)
    if not names:
        return set()
    members = Membership.objects.filter(project_id=project_id).values_list(
        "user_id", "user__username"
    )
    return mentions.members_named(names, members)


def _locked(comment_id: int) -> Comment:
    """The comment with its author and task, its row locked until the transaction
    ends."""
    try:
        return (
            Comment.objects.select_for_update(of=("self",))
            .select_related("author", "task__project")
            .get(pk=comment_id)
        )
    except Comment.DoesNotExist as exc:  # deleted by a concurrent request
        raise NotFoundError() from exc


def _writable_project(comment: Comment) -> int:
    """The comment's project, refused while archived (ProjectArchivedError)."""
    task_check_writable(comment.task)
    return comment.task.project_id
