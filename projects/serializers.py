from typing import Any

from rest_framework import serializers

from accounts.models import User
from projects.models import Label, Membership, Project, ProjectRole
from projects.state import PROJECT_FIELDS, label_state, member_state, project_state
from taskmanager.schema import one_of
from taskmanager.serializers import StrictFieldsMixin

COLOR_PATTERN = r"^#[0-9a-fA-F]{6}$"


# Written out rather than through the fields, as tasks.serializers does.
class ProjectOutputSerializer(serializers.ModelSerializer[Project]):
    """A project. `role` is yours in it (null when you see it through a site-wide
    permission without being a member); `version` grows with every change of the
    project or its members, and the `ETag` header names it."""

    is_personal = serializers.BooleanField(read_only=True)
    members_count = serializers.IntegerField(read_only=True, min_value=1)
    role = serializers.ChoiceField(
        choices=ProjectRole.choices, read_only=True, allow_null=True, source="my_role"
    )

    def to_representation(self, instance: Project) -> dict[str, Any]:
        return {
            **project_state(instance, int(getattr(instance, "members_count", 0) or 0)),
            "role": getattr(instance, "my_role", None),
        }

    class Meta:
        model = Project
        fields = [*PROJECT_FIELDS, "role"]
        read_only_fields = fields


class ProjectCreateInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """A new project's fields (it starts unarchived)."""

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(
        max_length=10000, allow_blank=True, required=False, default="", trim_whitespace=False
    )


class ProjectInputSerializer(ProjectCreateInputSerializer):
    """A project's fields you change; only those sent change. `is_archived` makes it
    read-only (and its tasks leave the lists) until set back."""

    is_archived = serializers.BooleanField(required=False)


class UserRefSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ["id", "username"]
        read_only_fields = fields


class MembershipOutputSerializer(serializers.ModelSerializer[Membership]):
    """A member: who, and their role in the project."""

    user = UserRefSerializer(read_only=True)

    def to_representation(self, instance: Membership) -> dict[str, Any]:
        return member_state(instance)

    class Meta:
        model = Membership
        fields = ["user", "role", "added_at"]
        read_only_fields = fields


class MemberAddInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """Who to add, by username or email (either field takes either), and their
    role (default `member`)."""

    # validate()'s rule, for the schema.
    body_rules = (one_of("username", "email"),)

    username = serializers.CharField(max_length=254, required=False)
    email = serializers.CharField(max_length=254, required=False)
    role = serializers.ChoiceField(
        choices=ProjectRole.choices, required=False, default=ProjectRole.MEMBER
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [name for name in ("username", "email") if attrs.get(name)]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"username": ["Give the username or the email of the user to add (one)."]}
            )
        return attrs


class MemberRoleInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """The member's new role."""

    role = serializers.ChoiceField(choices=ProjectRole.choices)

    # Never partial, on PATCH too: the role is the change, and required. The schema
    # generator makes every PATCH body partial (its fields optional) unless the
    # serializer says otherwise here.
    @property
    def partial(self) -> bool:
        return False

    @partial.setter
    def partial(self, value: bool) -> None:
        pass


class LabelOutputSerializer(serializers.ModelSerializer[Label]):
    """A label of a project's tasks."""

    def to_representation(self, instance: Label) -> dict[str, Any]:
        return label_state(instance)

    class Meta:
        model = Label
        fields = ["id", "project", "name", "color"]
        read_only_fields = fields


class LabelInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """`name` is unique in the project whatever its case; `color` is `#rrggbb`."""

    name = serializers.CharField(max_length=50)
    color = serializers.RegexField(COLOR_PATTERN, max_length=7)


class ProjectListQuerySerializer(serializers.Serializer):
    archived = serializers.ChoiceField(
        choices=[("true", "true"), ("false", "false"), ("all", "all")],
        required=False,
        default="false",
        help_text="`true`: only archived projects; `all`: both; default `false`.",
    )
