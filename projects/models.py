from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class ProjectRole(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# The roles that change a project's tasks (viewers only read).
WRITE_ROLES = (ProjectRole.ADMIN, ProjectRole.MEMBER)


class Project(models.Model):
    """Where tasks live: its members (Membership) see and, by role, change them."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    # Set on a user's one personal project only: it takes no other member and is
    # never deleted (but with its user).
    personal_owner = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="personal_project",
    )
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        permissions = [
            ("view_any_project", "Can view every project"),
            ("change_any_project", "Can change every project"),
            ("delete_any_project", "Can delete every project"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(version__gte=1), name="projects_project_version_positive"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="projects_project_name_not_empty"),
        ]
        indexes = [
            # The archived ones, left out of task lists (a small set, read per list).
            models.Index(fields=["id"], condition=Q(is_archived=True), name="projects_archived"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_personal(self) -> bool:
        return self.personal_owner_id is not None


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=ProjectRole.choices)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Also the index of a project's member list and of "is X a member of P".
            models.UniqueConstraint(fields=["project", "user"], name="projects_membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=ProjectRole.values), name="projects_membership_role_known"
            ),
        ]
        indexes = [
            # "The projects I belong to": every visibility check starts here.
            models.Index(fields=["user", "project"], name="projects_membership_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.get_role_display()})"


class Label(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=50)
    color = models.CharField(max_length=7)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Also the index of a project's labels.
            models.UniqueConstraint("project", Lower("name"), name="projects_label_name_ci_unique"),
            models.CheckConstraint(condition=~Q(name=""), name="projects_label_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name
