"""Every write of projects, their members and labels. Each records its event and tells
the apps that keep something per project or per member (registered hooks: tasks
clears a removed member's assignments, deletes a project's tasks and drops cached
lists), whichever door it came through."""

from collections.abc import Mapping
from typing import Any, Protocol

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from accounts.usernames import lowered
from projects import events
from projects.errors import (
    LabelNameTakenError,
    LastAdminError,
    PersonalProjectError,
    ProjectArchivedError,
)
from projects.models import Label, Membership, Project, ProjectRole
from projects.selectors import members_count
from projects.state import label_state, member_state, project_state
from taskmanager.exceptions import (
    ConflictError,
    DomainValidationError,
    NotFoundError,
    PreconditionFailedError,
)
from taskmanager.registry import Registry

PERSONAL_NAME = "Personal"
NO_SUCH_USER = "No active user has this username or email, or they cannot be added."


class ProjectHook(Protocol):
    def __call__(self, *, project: Project, actor: User | None) -> None: ...


class MemberHook(Protocol):
    def __call__(self, *, project: Project, user_id: int, actor: User | None) -> None: ...


class LabelHook(Protocol):
    def __call__(self, *, label: Label, actor: User | None) -> None: ...


# Registered by the apps that depend on projects (AppConfig.ready), run in the
# transaction of the change.
_deleting: Registry[ProjectHook] = Registry()
_changed: Registry[ProjectHook] = Registry()
_member_removed: Registry[MemberHook] = Registry()
_memberships_changed_hooks: Registry[MemberHook] = Registry()
_label_deleting: Registry[LabelHook] = Registry()

# `hook(project=, actor=)` before a project's row goes (its tasks, their files).
on_project_delete = _deleting.register
# `hook(project=, actor=)` when what a project's task lists show changes (archive).
on_project_change = _changed.register
# `hook(project=, user_id=, actor=)` as a member is removed or made a viewer (their
# assignments).
on_member_removed = _member_removed.register
# `hook(project=, user_id=, actor=)` when a user joins or leaves a project.
on_memberships_change = _memberships_changed_hooks.register
# `hook(label=, actor=)` before a label's row goes (tasks take it off, each with its event).
on_label_delete = _label_deleting.register


def personal_project_create(*, user: User) -> Project:
    """The user's personal project (created once: the account's creation calls this,
    and so may anything that needs it)."""
    existing = Project.objects.filter(personal_owner_id=user.pk).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return _create(actor=user, name=PERSONAL_NAME, description="", personal=True)
    except IntegrityError:  # created meanwhile by a concurrent request
        return Project.objects.get(personal_owner_id=user.pk)


def project_create(*, actor: User, name: str, description: str = "") -> Project:
    """A shared project; its creator is its admin."""
    with transaction.atomic():
        return _create(actor=actor, name=name, description=description, personal=False)


def _create(*, actor: User, name: str, description: str, personal: bool) -> Project:
    project = Project.objects.create(
        name=name, description=description, personal_owner=actor if personal else None
    )
    membership = Membership.objects.create(project=project, user=actor, role=ProjectRole.ADMIN)
    membership.user = actor
    _memberships_changed(project, actor.pk, actor)  # before the event
    events.record(
        type=events.CREATED,
        project=project,
        actor=actor,
        before=None,
        after=project_state(project, 1),
    )
    return project


def project_update(
    *, actor: User, project_id: int, data: Mapping[str, Any], if_match: int | None = None
) -> Project:
    """Change `name`, `description`, `is_archived`; the version moves by one when
    something changed. An archived project changes nothing but `is_archived`."""
    with transaction.atomic():
        project = _locked(project_id)
        if if_match is not None and project.version != if_match:
            raise PreconditionFailedError()
        changed = {k: v for k, v in data.items() if getattr(project, k) != v}
        if project.is_archived and set(changed) - {"is_archived"}:
            raise ProjectArchivedError()
        if not changed:
            return project
        count = members_count(project.pk)
        before = project_state(project, count)
        for name, value in changed.items():
            setattr(project, name, value)
        project.updated_at = timezone.now()
        project.version += 1
        project.save(update_fields=[*changed, "updated_at", "version"])
        if "is_archived" in changed:  # before the event
            for hook in _changed:
                hook(project=project, actor=actor)
        events.record(
            type=events.UPDATED,
            project=project,
            actor=actor,
            before=before,
            after=project_state(project, count),
        )
        return project


def project_delete(*, actor: User, project_id: int, if_match: int | None = None) -> None:
    """Delete a shared project with its tasks and labels (their events stay)."""
    with transaction.atomic():
        project = _locked(project_id)
        if if_match is not None and project.version != if_match:
            raise PreconditionFailedError()
        if project.is_personal:
            raise PersonalProjectError()
        member_ids = list(project.memberships.values_list("user_id", flat=True))
        for user_id in member_ids:  # before the event
            _memberships_changed(project, user_id, actor)
        events.record(
            type=events.DELETED,
            project=project,
            actor=actor,
            before=project_state(project, members_count(project.pk)),
            after=None,
        )
        for hook in _deleting:
            hook(project=project, actor=actor)
        project.delete()


def member_add(
    *, actor: User, project_id: int, identifier: str, role: str, field: str = "username"
) -> Membership:
    """Add the active user of this username or email; the same 400 (naming `field`,
    where the caller took `identifier` from) whether there is none or they may not
    be added, so that the answer tells nothing about accounts."""
    name = lowered(identifier.strip())
    user = (
        User.objects.filter(Q(username__lower=name) | Q(email__lower=name), is_active=True)
        .order_by("id")
        .first()
    )
    if user is None:
        raise DomainValidationError(fields={field: [NO_SUCH_USER]})
    with transaction.atomic():
        project = _writable(project_id)
        if project.is_personal:
            raise PersonalProjectError()
        if Membership.objects.filter(project=project, user=user).exists():
            raise ConflictError("This user is already a member of the project.")
        membership = Membership.objects.create(project=project, user=user, role=role)
        _touch(project)
        # Before the event: the caches move first after the commit (docs/architecture.md).
        _memberships_changed(project, user.pk, actor)
        events.record_member(
            type=events.MEMBER_ADDED,
            project=project_state(project, members_count(project.pk)),
            member=member_state(membership),
            actor=actor,
            old_role=None,
            new_role=role,
        )
        return membership


def member_set_role(*, actor: User, project_id: int, user_id: int, role: str) -> Membership:
    with transaction.atomic():
        project = _writable(project_id)
        membership = _membership(project, user_id)
        old_role = membership.role
        if old_role == role:
            return membership
        if old_role == ProjectRole.ADMIN:
            _keep_an_admin(project, user_id)
        membership.role = role
        membership.save(update_fields=["role"])
        _touch(project)
        events.record_member(
            type=events.MEMBER_ROLE_CHANGED,
            project=project_state(project, members_count(project.pk)),
            member=member_state(membership),
            actor=actor,
            old_role=old_role,
            new_role=role,
        )
        if role == ProjectRole.VIEWER:
            # A viewer cannot be an assignee: as if they had left, for their tasks.
            for hook in _member_removed:
                hook(project=project, user_id=user_id, actor=actor)
        return membership


def member_remove(*, actor: User, project_id: int, user_id: int) -> None:
    """Remove a member (or let one leave); their assignments in the project are
    cleared, each with its event."""
    with transaction.atomic():
        project = _writable(project_id)
        membership = _membership(project, user_id)
        if membership.role == ProjectRole.ADMIN:
            _keep_an_admin(project, user_id)
        for hook in _member_removed:
            hook(project=project, user_id=user_id, actor=actor)
        member = member_state(membership)
        membership.delete()
        _touch(project)
        _memberships_changed(project, user_id, actor)  # before the event
        events.record_member(
            type=events.MEMBER_REMOVED,
            project=project_state(project, members_count(project.pk)),
            member=member,
            actor=actor,
            old_role=member["role"],
            new_role=None,
        )


def label_create(*, actor: User, project_id: int, name: str, color: str) -> Label:
    with transaction.atomic():
        project = _writable(project_id)
        _name_free(project.pk, name)
        label = Label.objects.create(project=project, name=name, color=color.lower())
        events.record_label(
            type=events.LABEL_CREATED,
            label_id=label.pk,
            project_id=project.pk,
            actor=actor,
            before=None,
            after=label_state(label),
        )
        return label


def label_update(*, actor: User, label_id: int, data: Mapping[str, Any]) -> Label:
    with transaction.atomic():
        label = _locked_label(label_id)
        _writable(label.project_id)
        values = {k: (v.lower() if k == "color" else v) for k, v in data.items()}
        changed = {k: v for k, v in values.items() if getattr(label, k) != v}
        if not changed:
            return label
        if "name" in changed:
            _name_free(label.project_id, changed["name"], exclude=label.pk)
        before = label_state(label)
        for k, v in changed.items():
            setattr(label, k, v)
        label.save(update_fields=list(changed))
        events.record_label(
            type=events.LABEL_UPDATED,
            label_id=label.pk,
            project_id=label.project_id,
            actor=actor,
            before=before,
            after=label_state(label),
        )
        return label


def label_delete(*, actor: User, label_id: int) -> None:
    with transaction.atomic():
        label = _locked_label(label_id)
        _writable(label.project_id)
        events.record_label(
            type=events.LABEL_DELETED,
            label_id=label.pk,
            project_id=label.project_id,
            actor=actor,
            before=label_state(label),
            after=None,
        )
        for hook in _label_deleting:
            hook(label=label, actor=actor)
        label.delete()


def _name_free(project_id: int, name: str, exclude: int | None = None) -> None:
    taken = Label.objects.filter(project_id=project_id, name__lower=lowered(name))
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise LabelNameTakenError()


def _locked(project_id: int) -> Project:
    try:
        return Project.objects.select_for_update().get(pk=project_id)
    except Project.DoesNotExist as exc:  # deleted by a concurrent request
        raise NotFoundError() from exc


def _writable(project_id: int) -> Project:
    """The project, locked (member changes of one project are serialised: the last
    admin check holds), refused when archived."""
    project = _locked(project_id)
    if project.is_archived:
        raise ProjectArchivedError()
    return project


def _locked_label(label_id: int) -> Label:
    try:
        return Label.objects.select_for_update().get(pk=label_id)
    except Label.DoesNotExist as exc:
        raise NotFoundError() from exc


def _membership(project: Project, user_id: int) -> Membership:
    membership = (
        Membership.objects.select_related("user").filter(project=project, user_id=user_id).first()
    )
    if membership is None:
        raise NotFoundError()
    return membership


def _keep_an_admin(project: Project, leaving_id: int) -> None:
    others = Membership.objects.filter(project=project, role=ProjectRole.ADMIN).exclude(
        user_id=leaving_id
    )
    if not others.exists():
        raise LastAdminError()


def _touch(project: Project) -> None:
    """A membership change is a change of the project (members_count, its ETag)."""
    project.updated_at = timezone.now()
    project.version += 1
    project.save(update_fields=["updated_at", "version"])


def _memberships_changed(project: Project, user_id: int, actor: User | None) -> None:
    for hook in _memberships_changed_hooks:
        hook(project=project, user_id=user_id, actor=actor)
