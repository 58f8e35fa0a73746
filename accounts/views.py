from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import admin
from django.contrib.auth import authenticate, logout
from django.contrib.auth.views import PasswordChangeView
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import personal_tokens, selectors, services
from accounts.authentication import session_id_of
from accounts.forms import AdminOwnPasswordChangeForm
from accounts.models import PersonalToken, User, UserSession
from accounts.permissions import CanManageUsers, request_user
from accounts.serializers import (
    LoginInputSerializer,
    MeUpdateInputSerializer,
    OAuth2TokensOutputSerializer,
    PersonalTokenCreatedOutputSerializer,
    PersonalTokenInputSerializer,
    PersonalTokenOutputSerializer,
    RefreshInputSerializer,
    RegisterInputSerializer,
    SessionOutputSerializer,
    TokenGrantInputSerializer,
    TokensOutputSerializer,
    UserAdminUpdateInputSerializer,
    UserOutputSerializer,
)
from accounts.throttles import (
    CURRENT_PASSWORD_THROTTLES,
    LOGIN_THROTTLES,
    RefreshThrottle,
    RegisterThrottle,
)
from accounts.tokens import IssuedTokens
from taskmanager.metrics import LOGINS
from taskmanager.net import client_ip
from taskmanager.query_parameters import StrictQueryParametersMixin
from taskmanager.schema import (
    ANY_TOKEN_READ,
    AUTHENTICATED,
    AUTHENTICATED_WRITE,
    WITH_BODY,
    ErrorSerializer,
    errors,
)
from taskmanager.throttles import ReadWriteThrottle

EndReason = UserSession.EndReason

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# The 403 of the endpoints no personal token may use (accounts.scopes).
_NOT_WITH_A_TOKEN = {
    403: OpenApiResponse(
        ErrorSerializer,
        description="A request with a personal API token (`insufficient_scope`): these are "
        "managed from a login session. Or a session-cookie write without its CSRF token.",
    )
}
_TOO_MANY_TOKENS = {
    409: OpenApiResponse(
        ErrorSerializer,
        description=f"You hold {personal_tokens.MAX_PER_USER} tokens already, the most an "
        "account may: delete one first.",
    )
}


class PublicAuthEndpoint(StrictQueryParametersMixin, APIView):
    """Endpoints that take credentials in the body rather than a header.

    No authenticator runs (a stale Bearer header or a session cookie must not get in
    the way, nor CSRF), yet failures stay 401 with a Bearer challenge.
    """

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def _login(request: Request, **credentials: str) -> IssuedTokens:
    user = authenticate(request._request, **credentials)
    LOGINS.labels(outcome="failure" if user is None else "success").inc()
    if user is None:
        raise AuthenticationFailed(
            "The username or email and password do not match an account: check them."
        )
    return services.session_start(
        user=user,
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
    )


class RegisterView(PublicAuthEndpoint):
    throttle_classes = [RegisterThrottle]

    @extend_schema(
        summary="Create an account (a member)",
        request=RegisterInputSerializer,
        responses={201: UserOutputSerializer, **errors(WITH_BODY, 429)},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        payload = RegisterInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = services.user_register(**payload.validated_data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(PublicAuthEndpoint):
    throttle_classes = LOGIN_THROTTLES

    @extend_schema(
        summary="Log in: start a session",
        description="With a username or an email, not both. Throttled per username and "
        "address, and per address.",
        request=LoginInputSerializer,
        responses={200: TokensOutputSerializer, **errors(WITH_BODY, 401, 429)},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        payload = LoginInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        credentials = {"password": data["password"]}
        if data.get("email"):
            credentials["email"] = data["email"]
        else:
            credentials["username"] = data["username"]
        issued = _login(request, **credentials)
        return Response(issued.as_response(), headers=_NO_STORE)


class TokenView(PublicAuthEndpoint):
    """OAuth2 password grant, form-encoded: the tokenUrl of Swagger UI's Authorize."""

    parser_classes = [FormParser]
    throttle_classes = LOGIN_THROTTLES

    @extend_schema(
        summary="Log in with the OAuth2 password grant",
        request={"application/x-www-form-urlencoded": TokenGrantInputSerializer},
        responses={200: OAuth2TokensOutputSerializer, **errors(WITH_BODY, 401, 429)},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        payload = TokenGrantInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        issued = _login(request, username=data["username"], password=data["password"])
        body = {**issued.as_response(), "access_token": issued.access}
        body["refresh_token"] = issued.refresh
        return Response(body, headers=_NO_STORE)


class RefreshView(PublicAuthEndpoint):
    throttle_classes = [RefreshThrottle]

    @extend_schema(
        summary="Rotate a refresh token",
        description="A new access and refresh token for the same session. A refresh "
        "token already rotated is a replay: the whole session ends, and 401.",
        request=RefreshInputSerializer,
        responses={200: TokensOutputSerializer, **errors(WITH_BODY, 401, 429)},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        payload = RefreshInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        issued = services.session_refresh(raw_refresh=payload.validated_data["refresh"])
        return Response(issued.as_response(), headers=_NO_STORE)


class LogoutView(StrictQueryParametersMixin, APIView):
    @extend_schema(
        summary="Log out: end this session",
        request=None,
        responses={204: OpenApiResponse(description="Ended"), **errors(AUTHENTICATED_WRITE)},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        session_id = session_id_of(request)
        if session_id is not None:
            services.session_end(
                user=request_user(request), session_id=session_id, reason=EndReason.LOGOUT
            )
        else:
            logout(request._request)  # a browsable-API session cookie
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(StrictQueryParametersMixin, APIView):
    @extend_schema(
        summary="End every session of yours",
        request=None,
        responses={204: OpenApiResponse(description="Ended"), **errors(AUTHENTICATED_WRITE)},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        services.sessions_end_all(user=request_user(request), reason=EndReason.LOGOUT_ALL)
        if session_id_of(request) is None:
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(
        summary="Your live sessions",
        description="The one making this request has `current: true`.",
        responses={
            200: SessionOutputSerializer(many=True),
            **errors(AUTHENTICATED, 400),
            **_NOT_WITH_A_TOKEN,
        },
    ),
    destroy=extend_schema(
        summary="End one of your sessions",
        responses={204: None, **errors(AUTHENTICATED_WRITE, 404)},
        parameters=[
            OpenApiParameter(
                "id",
                OpenApiTypes.UUID,
                OpenApiParameter.PATH,
                description="A UUID string identifying this user session.",
            )
        ],
    ),
)
@extend_schema(tags=["auth"])
class SessionViewSet(
    StrictQueryParametersMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = SessionOutputSerializer
    # ASCII hex only: UUID() also reads other scripts' digits, which made a second URL
    # for the same session.
    lookup_value_regex = r"[0-9a-fA-F-]+"

    def get_queryset(self) -> Any:
        return selectors.sessions_live_for(request_user(self.request))

    def get_serializer_context(self) -> dict[str, Any]:
        return {
            **super().get_serializer_context(),
            "current_session_id": session_id_of(self.request),
        }

    def perform_destroy(self, instance: UserSession) -> None:
        services.session_end(user=request_user(self.request), session_id=instance.pk)


@extend_schema_view(
    list=extend_schema(
        summary="Your personal API tokens",
        description="Newest first, expired ones included; never the tokens themselves. "
        "Not with a personal token: tokens are managed from a login session.",
        responses={
            200: PersonalTokenOutputSerializer(many=True),
            **errors(AUTHENTICATED, 400),
            **_NOT_WITH_A_TOKEN,
        },
    ),
    create=extend_schema(
        summary="Create a personal API token",
        description="The answer holds the token (`token`) this once: only its hash is kept. "
        f"An account holds at most {personal_tokens.MAX_PER_USER} tokens (409 past that). "
        "Not with a personal token.",
        request=PersonalTokenInputSerializer,
        responses={
            201: PersonalTokenCreatedOutputSerializer,
            **errors(AUTHENTICATED_WRITE, WITH_BODY),
            **_NOT_WITH_A_TOKEN,
            **_TOO_MANY_TOKENS,
        },
    ),
    destroy=extend_schema(
        summary="Delete (revoke) one of your personal API tokens",
        description="Refused from the next request on; a socket opened with it closes. "
        "Not with a personal token.",
        responses={204: None, **errors(AUTHENTICATED_WRITE, 404), **_NOT_WITH_A_TOKEN},
    ),
)
@extend_schema(tags=["auth"])
class PersonalTokenViewSet(
    StrictQueryParametersMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Personal API tokens for scripts and integrations (docs/personal-tokens.md).
    accounts.scopes closes these endpoints to personal tokens themselves."""

    serializer_class = PersonalTokenOutputSerializer
    # ASCII digits only, as UserViewSet.
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> Any:
        return selectors.personal_tokens_of(request_user(self.request))

    def create(self, request: Request) -> Response:
        payload = PersonalTokenInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        created = services.personal_token_create(
            user=request_user(request), **payload.validated_data
        )
        body = PersonalTokenCreatedOutputSerializer(
            created.token, context={"raw_token": created.raw}
        ).data
        return Response(body, status=status.HTTP_201_CREATED, headers=_NO_STORE)

    def perform_destroy(self, instance: PersonalToken) -> None:
        services.personal_token_delete(token=instance)


class MeView(StrictQueryParametersMixin, APIView):
    # The default reads and writes, and a password change's check of the current
    # password, counted as a login attempt on the account (and per user).
    throttle_classes = [ReadWriteThrottle, *CURRENT_PASSWORD_THROTTLES]
    # Any personal token may read whose it is (a script checking its credentials);
    # none may change the email or the password (accounts.scopes).
    token_scopes = {"read": ()}

    @extend_schema(
        summary="Your profile",
        description="Also with a personal API token of any scope: whose the token is.",
        responses={200: UserOutputSerializer, **errors(ANY_TOKEN_READ)},
        tags=["users"],
    )
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request_user(request)).data)

    @extend_schema(
        summary="Change your email or password",
        description="A new password needs the current one, and ends your other sessions "
        "and every personal API token of yours. Not with a personal token.",
        request=MeUpdateInputSerializer,
        responses={200: UserOutputSerializer, **errors(AUTHENTICATED_WRITE, WITH_BODY)},
        tags=["users"],
    )
    def patch(self, request: Request) -> Response:
        # The authenticated user is a cached snapshot without the password hash.
        user = User.objects.get(pk=request_user(request).pk)
        payload = MeUpdateInputSerializer(data=request.data, context={"user": user})
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        user = services.user_update_profile(
            user=user,
            current_session_id=session_id_of(request),
            email=data.get("email"),
            password=data.get("password"),
        )
        return Response(UserOutputSerializer(user).data)


@extend_schema_view(
    list=extend_schema(
        summary="List users (admins)",
        responses={200: UserOutputSerializer(many=True), **errors(AUTHENTICATED, 400, 403)},
    ),
    retrieve=extend_schema(
        summary="Get a user (admins)",
        responses={200: UserOutputSerializer, **errors(AUTHENTICATED, 403, 404)},
    ),
)
@extend_schema(tags=["users"])
class UserViewSet(
    StrictQueryParametersMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [CanManageUsers]
    serializer_class = UserOutputSerializer
    # ASCII digits only, as tasks.views.TaskViewSet: int() reads every script's digits.
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> Any:
        return selectors.user_list()

    @extend_schema(
        summary="Set a user's role or deactivate them (admins)",
        description="Deactivating a user ends all their sessions.",
        request=UserAdminUpdateInputSerializer,
        responses={200: UserOutputSerializer, **errors(AUTHENTICATED_WRITE, WITH_BODY, 404)},
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        user = self.get_object()
        payload = UserAdminUpdateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.user_admin_update(actor=request_user(request), user=user, **payload.validated_data)
        return Response(UserOutputSerializer(selectors.user_list().get(pk=user.pk)).data)


# --- the HTML forms that check a password ------------------------------------------


def password_form_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """A view of a form of `accounts.forms` answering 429 with `Retry-After` when the
    form refused a throttled attempt: the page shows the form and why, with the status
    the API gives, rather than the 200 of a wrong password."""

    @wraps(view)
    def answer(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        context = getattr(response, "context_data", None) or {}
        wait = getattr(context.get("form"), "throttled_for", None)
        if isinstance(wait, int):
            response.status_code = status.HTTP_429_TOO_MANY_REQUESTS
            response["Retry-After"] = str(wait)
        return response

    return answer


class _AdminPasswordChangeView(PasswordChangeView):
    form_class = AdminOwnPasswordChangeForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}


@password_form_view
def admin_password_change(request: HttpRequest) -> HttpResponseBase:
    """`AdminSite.password_change` (which has no hook for its form), with the form
    that throttles the check of the old password and ends the API's sessions."""
    request.current_app = admin.site.name
    return _AdminPasswordChangeView.as_view(
        success_url=reverse("admin:password_change_done", current_app=admin.site.name),
        extra_context=admin.site.each_context(request),
    )(request)
