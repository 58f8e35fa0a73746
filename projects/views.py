from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from accounts.models import User
from accounts.permissions import request_user
from projects import selectors, services
from projects.models import Label, Project
from projects.permissions import may_administer, may_write
from projects.serializers import (
    LabelInputSerializer,
    LabelOutputSerializer,
    MemberAddInputSerializer,
    MemberRoleInputSerializer,
    MembershipOutputSerializer,
    ProjectCreateInputSerializer,
    ProjectInputSerializer,
    ProjectListQuerySerializer,
    ProjectOutputSerializer,
)
from taskmanager.exceptions import NotFoundError
from taskmanager.filters import MAX_ID
from taskmanager.preconditions import (
    IF_MATCH,
    IF_NONE_MATCH_WRITE,
    check_preconditions,
    etag,
)
from taskmanager.query_parameters import StrictQueryParametersMixin
from taskmanager.schema import (
    AUTHENTICATED,
    AUTHENTICATED_WRITE,
    CONDITIONAL_GET,
    IF_NONE_MATCH,
    NOT_MODIFIED,
    PATH_ID,
    WITH_BODY,
    BodyRulesSchema,
    ErrorSerializer,
    errors,
    etag_header,
)
from taskmanager.throttles import RateLimitHeadersMixin, ReadWriteThrottle

PROJECT_ETAG_IS = 'The project\'s version: `"<id>-<version>"`'
PROJECT_ETAG = etag_header(200, PROJECT_ETAG_IS)
# A change of one project: not allowed (or a cookie without CSRF) 403, not visible
# 404, a rule of projects 409, a stale `If-Match` 412, a malformed one 400.
PROJECT_WRITE = (*AUTHENTICATED_WRITE, 400, 404, 409, 412, 429)
MEMBER_WRITE = (*AUTHENTICATED_WRITE, 400, 404, 409, 429)
USER_ID = OpenApiParameter(
    "user_id", PATH_ID, OpenApiParameter.PATH, description="The member's user id."
)

# The 409s of projects (projects.errors), each operation's own.
_CONFLICTS = {
    "project_archived": "`project_archived`: the project is archived, and read-only until "
    "an admin unarchives it",
    "personal_project": "`personal_project`: a personal project takes no other members and "
    "is never deleted",
    "last_admin": "`last_admin`: the project would be left without an admin",
    "label_exists": "`label_exists`: the project has a label of this name (whatever its case)",
    "conflict": "`conflict`: the user is a member already",
}


def conflicts(*codes: str) -> dict[int, OpenApiResponse]:
    """The 409 of an operation, naming the codes it may answer with."""
    lines = "".join(f"\n- {_CONFLICTS[code]}" for code in codes)
    return {
        409: OpenApiResponse(
            ErrorSerializer, description=f"Conflicts with the project's state:{lines}"
        )
    }


def _id(value: str | None) -> int:
    """A URL's id (ASCII digits: the route's pattern), 404 past the column's range."""
    if value is None or len(value) > len(str(MAX_ID)) or int(value) > MAX_ID:
        raise NotFoundError()
    return int(value)


class _ProjectScoped(StrictQueryParametersMixin, RateLimitHeadersMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated]
    throttle_classes = [ReadWriteThrottle]
    lookup_value_regex = r"[0-9]+"

    def _project(self) -> Project:
        """The project of the URL, as the caller sees it (404 outside), with `my_role`."""
        user = request_user(self.request)
        project = selectors.project_visible_to(user).filter(pk=_id(self.kwargs.get("pk"))).first()
        if project is None:
            raise NotFoundError()
        return project

    def _administer(self, project: Project, permission: str) -> None:
        user = request_user(self.request)
        if not may_administer(user.has_perm(permission), getattr(project, "my_role", None)):
            raise PermissionDenied("Only the project's admins may do this.")


@extend_schema_view(
    list=extend_schema(
        summary="The projects you belong to",
        description="Site managers and admins see every project (`role` null where they "
        "are no member). Your personal project comes first, then the oldest first.",
        parameters=[ProjectListQuerySerializer, *CONDITIONAL_GET],
        responses={
            200: ProjectOutputSerializer(many=True),
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400),
        },
    ),
    create=extend_schema(
        summary="Create a project (you are its admin)",
        request=ProjectCreateInputSerializer,
        responses={201: ProjectOutputSerializer, **errors(AUTHENTICATED_WRITE, WITH_BODY, 429)},
        parameters=[etag_header(201, PROJECT_ETAG_IS)],
    ),
    retrieve=extend_schema(
        summary="Get a project",
        description="`ETag` names its version; `If-None-Match` with it answers 304, "
        "an `If-Match` without it 412.",
        responses={
            200: ProjectOutputSerializer,
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400, 404, 412),
        },
        parameters=[IF_NONE_MATCH, IF_MATCH, PROJECT_ETAG],
    ),
    partial_update=extend_schema(
        summary="Rename, describe, archive or unarchive a project (its admins)",
        description="Only the fields sent change. An archived project answers 409 "
        "`project_archived` to every other change, of it or of its tasks, members and "
        "labels. With `If-Match`, a version that moved on answers 412.",
        request=ProjectInputSerializer,
        responses={
            200: ProjectOutputSerializer,
            **errors(PROJECT_WRITE, WITH_BODY),
            **conflicts("project_archived"),
        },
        parameters=[IF_MATCH, IF_NONE_MATCH_WRITE, PROJECT_ETAG],
    ),
    destroy=extend_schema(
        summary="Delete a project with its tasks and labels (its admins)",
        description="Their events stay. A personal project is never deleted (409 "
        "`personal_project`). With `If-Match`, a version that moved on answers 412.",
        responses={204: None, **errors(PROJECT_WRITE), **conflicts("personal_project")},
        parameters=[IF_MATCH, IF_NONE_MATCH_WRITE],
    ),
)
@extend_schema(tags=["projects"])
class ProjectViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    _ProjectScoped,
):
    serializer_class = ProjectOutputSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    schema = BodyRulesSchema()

    def get_queryset(self) -> QuerySet[Project]:
        user = request_user(self.request)
        projects = selectors.project_visible_to(user)
        if self.action != "list":
            return projects
        # The list is of the caller's projects, also for those who may see every one.
        projects = projects.filter(pk__in=selectors.project_ids_of(user))
        query = ProjectListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        archived = query.validated_data["archived"]
        if archived == "all":
            return projects
        return projects.filter(is_archived=archived == "true")

    def query_parameter_errors(self, request: Request) -> dict[str, Any]:
        """`archived`, checked with unknown parameters (taskmanager.query_parameters)."""
        if self.action != "list":
            return {}
        query = ProjectListQuerySerializer(data=request.query_params)
        return {} if query.is_valid() else dict(query.errors)

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.request is not None and self.request.method == "POST":
            return ProjectCreateInputSerializer
        if self.request is not None and self.request.method == "PATCH":
            return ProjectInputSerializer
        return ProjectOutputSerializer

    def _represent(self, project_id: int, code: int = status.HTTP_200_OK) -> Response:
        project = selectors.project_visible_to(request_user(self.request)).get(pk=project_id)
        return Response(
            ProjectOutputSerializer(project).data, status=code, headers={"ETag": etag(project)}
        )

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = self._project()
        check_preconditions(request, project)
        return Response(ProjectOutputSerializer(project).data, headers={"ETag": etag(project)})

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = ProjectCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        project = services.project_create(
            actor=request_user(request), name=data["name"], description=data["description"]
        )
        return self._represent(project.pk, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = self._project()
        self._administer(project, "projects.change_any_project")
        if_match = check_preconditions(request, project)
        payload = ProjectInputSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        services.project_update(
            actor=request_user(request),
            project_id=project.pk,
            data=payload.validated_data,
            if_match=if_match,
        )
        return self._represent(project.pk)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = self._project()
        self._administer(project, "projects.delete_any_project")
        services.project_delete(
            actor=request_user(request),
            project_id=project.pk,
            if_match=check_preconditions(request, project),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["GET"],
        operation_id="v1_projects_members_list",
        summary="The members of a project",
        description="Oldest member first.",
        parameters=CONDITIONAL_GET,
        responses={
            200: MembershipOutputSerializer(many=True),
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400, 404),
        },
    )
    @extend_schema(
        methods=["POST"],
        operation_id="v1_projects_members_create",
        summary="Add a member by username or email (the project's admins)",
        description="No such active user, and a user who may not be added, answer the "
        "same 400; a member already there 409. A personal project takes no members (409 "
        "`personal_project`).",
        request=MemberAddInputSerializer,
        responses={
            201: MembershipOutputSerializer,
            **errors(MEMBER_WRITE, WITH_BODY),
            **conflicts("conflict", "personal_project", "project_archived"),
        },
    )
    @action(detail=True, methods=["get", "post"], url_path="members")
    def members(self, request: Request, pk: str | None = None) -> Response:
        project = self._project()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.members_of(project.pk))
            return self.get_paginated_response(MembershipOutputSerializer(page, many=True).data)
        self._administer(project, "projects.change_any_project")
        payload = MemberAddInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        membership = services.member_add(
            actor=request_user(request),
            project_id=project.pk,
            identifier=data.get("username") or data["email"],
            role=data["role"],
            field="username" if data.get("username") else "email",
        )
        return Response(MembershipOutputSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["PATCH"],
        operation_id="v1_projects_members_update",
        summary="Change a member's role (the project's admins)",
        description="The last admin cannot be demoted (409 `last_admin`).",
        request=MemberRoleInputSerializer,
        parameters=[USER_ID],
        responses={
            200: MembershipOutputSerializer,
            **errors(MEMBER_WRITE, WITH_BODY),
            **conflicts("last_admin", "project_archived"),
        },
    )
    @extend_schema(
        methods=["DELETE"],
        operation_id="v1_projects_members_destroy",
        summary="Remove a member, or leave (yourself)",
        description="Their assignments in the project are cleared. The last admin cannot "
        "leave (409 `last_admin`).",
        parameters=[USER_ID],
        responses={
            204: None,
            **errors(MEMBER_WRITE),
            **conflicts("last_admin", "project_archived"),
        },
    )
    @action(
        detail=True,
        methods=["patch", "delete"],
        url_path=r"members/(?P<user_id>[0-9]+)",
        url_name="member",
    )
    def member(
        self, request: Request, pk: str | None = None, user_id: str | None = None
    ) -> Response:
        project = self._project()
        actor = request_user(request)
        member_id = _id(user_id)
        if not (request.method == "DELETE" and member_id == actor.pk):
            self._administer(project, "projects.change_any_project")
        if request.method == "DELETE":
            services.member_remove(actor=actor, project_id=project.pk, user_id=member_id)
            return Response(status=status.HTTP_204_NO_CONTENT)
        payload = MemberRoleInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        membership = services.member_set_role(
            actor=actor,
            project_id=project.pk,
            user_id=member_id,
            role=payload.validated_data["role"],
        )
        return Response(MembershipOutputSerializer(membership).data)

    @extend_schema(
        methods=["GET"],
        operation_id="v1_projects_labels_list",
        summary="The labels of a project",
        description="By name.",
        parameters=CONDITIONAL_GET,
        responses={
            200: LabelOutputSerializer(many=True),
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400, 404),
        },
    )
    @extend_schema(
        methods=["POST"],
        operation_id="v1_projects_labels_create",
        summary="Create a label (the project's admins and members)",
        description="A name the project has already, whatever its case, is a 409.",
        request=LabelInputSerializer,
        responses={
            201: LabelOutputSerializer,
            **errors(MEMBER_WRITE, WITH_BODY),
            **conflicts("label_exists", "project_archived"),
        },
    )
    @action(detail=True, methods=["get", "post"], url_path="labels")
    def labels(self, request: Request, pk: str | None = None) -> Response:
        project = self._project()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.labels_of(project.pk))
            return self.get_paginated_response(LabelOutputSerializer(page, many=True).data)
        _require_write(request_user(request), getattr(project, "my_role", None))
        payload = LabelInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        label = services.label_create(
            actor=request_user(request), project_id=project.pk, **payload.validated_data
        )
        return Response(LabelOutputSerializer(label).data, status=status.HTTP_201_CREATED)


def _require_write(user: User, role: str | None) -> None:
    if not (may_write(role) or user.has_perm("projects.change_any_project")):
        raise PermissionDenied("Only the project's admins and members may do this.")


@extend_schema_view(
    retrieve=extend_schema(
        summary="Get a label",
        parameters=CONDITIONAL_GET,
        responses={
            200: LabelOutputSerializer,
            **NOT_MODIFIED,
            **errors(AUTHENTICATED, 400, 404),
        },
    ),
    partial_update=extend_schema(
        summary="Rename or recolour a label (the project's admins and members)",
        description="Only the fields sent change. A name the project has already, "
        "whatever its case, is a 409.",
        request=LabelInputSerializer,
        responses={
            200: LabelOutputSerializer,
            **errors(MEMBER_WRITE, WITH_BODY),
            **conflicts("label_exists", "project_archived"),
        },
    ),
    destroy=extend_schema(
        summary="Delete a label (the project's admins and members)",
        responses={204: None, **errors(MEMBER_WRITE), **conflicts("project_archived")},
    ),
)
@extend_schema(tags=["projects"])
class LabelViewSet(
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    StrictQueryParametersMixin,
    RateLimitHeadersMixin,
    viewsets.GenericViewSet,
):
    serializer_class = LabelOutputSerializer
    permission_classes = [IsAuthenticated]
    throttle_classes = [ReadWriteThrottle]
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Label]:
        user = request_user(self.request)
        return selectors.label_visible_to(user).annotate(my_role=selectors.my_role(user.pk))

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.request is not None and self.request.method == "PATCH":
            return LabelInputSerializer
        return LabelOutputSerializer

    def _writable(self) -> Label:
        label = self.get_object()
        _require_write(request_user(self.request), getattr(label, "my_role", None))
        return label

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        label = self._writable()
        payload = LabelInputSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        label = services.label_update(
            actor=request_user(request), label_id=label.pk, data=payload.validated_data
        )
        return Response(LabelOutputSerializer(label).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        label = self._writable()
        services.label_delete(actor=request_user(request), label_id=label.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
