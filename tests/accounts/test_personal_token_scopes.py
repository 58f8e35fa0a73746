"""What a personal API token reaches: its scopes, endpoint by endpoint (accounts.scopes).

A request outside them is a 403 `insufficient_scope` naming the scope needed, with
RFC 6750's challenge; accounts endpoints (tokens, sessions, the password, the email,
users) are closed to every token; requests without a personal token are not concerned.
"""

from typing import Any

import pytest
from django.urls import path
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import scopes
from accounts.checks import token_scopes_errors
from accounts.scopes import NOT_FOR_PATS, needed_scopes
from tests.accounts.personal_token_helpers import (
    EVERY_SCOPE,
    TOKENS_URL,
    create_token,
    pat_client,
    token_of,
    token_url,
)
from tests.factories import PASSWORD
from tests.files.samples import sample
from tests.helpers import (
    FILES_URL,
    ME_URL,
    TASKS_URL,
    assert_error,
    download_url,
    page,
    post_file,
    task_url,
    upload,
)
from tests.projects.helpers import PROJECTS_URL, labels_url, project_url

pytestmark = pytest.mark.django_db

PROBE_URLS = "tests.accounts.personal_token_urls"


@pytest.fixture(autouse=True)
def _generous_throttle_rates(settings: Any) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "10000/min", "write": "10000/min"}


@pytest.fixture
def token_with(member: Any, client_for: Any) -> Any:
    """`token_with(*scopes)`: a client sending a personal token of Mia's with them."""
    session = client_for(member)

    def make(*granted: str) -> Any:
        return pat_client(create_token(session, list(granted)))

    return make


def assert_insufficient(response: Any, *needed: str, missing: tuple[str, ...] = ()) -> str:
    """403 `insufficient_scope`: the challenge names the scopes `needed`, the message
    those `missing` (all of them unless said); none for an endpoint no token may
    use. The message."""
    error = assert_error(response, 403, "insufficient_scope")
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="api", error="insufficient_scope"')
    if needed:
        assert challenge.endswith(f'scope="{" ".join(needed)}"')
        for scope in missing or needed:
            assert scope in error["message"]
    else:
        assert challenge == 'Bearer realm="api", error="insufficient_scope"'
        assert error["message"] == NOT_FOR_PATS
    return str(error["message"])


def test_a_refusal_for_scope_is_logged_with_the_user_and_the_token(member, client_for, caplog):
    body = token_of(client_for, member, ["tasks:read"])

    with caplog.at_level("INFO", logger="accounts.authentication"):
        assert_insufficient(
            pat_client(body).post(TASKS_URL, {"title": "x"}, format="json"), "tasks:write"
        )

    [record] = [r for r in caplog.records if r.getMessage() == "personal token outside its scopes"]
    assert (record.user_id, record.token_id, record.path) == (member.pk, body["id"], TASKS_URL)


# --- tasks, comments, notifications: tasks:read / tasks:write -------------------------


def test_a_read_token_reads_tasks_and_writes_none(token_with, task):
    reader = token_with("tasks:read")

    assert [item["id"] for item in page(reader.get(TASKS_URL))["results"]] == [task.pk]
    assert reader.get(task_url(task)).status_code == 200
    assert reader.head(TASKS_URL).status_code == 200
    assert reader.options(TASKS_URL).status_code == 200
    assert reader.get(f"{TASKS_URL}statistics/").status_code == 200

    message = assert_insufficient(
        reader.post(TASKS_URL, {"title": "x"}, format="json"), "tasks:write"
    )
    assert message == (
        "This token lacks the scope tasks:write this request needs: create a token with it"
        " (/api/v1/auth/tokens/)."
    )
    assert_insufficient(reader.patch(task_url(task), {"title": "y"}, format="json"), "tasks:write")
    assert_insufficient(reader.delete(task_url(task)), "tasks:write")
    task.refresh_from_db()
    assert task.title == "Mia's task"


def test_a_write_token_writes_tasks_and_reads_none(token_with, task, member):
    writer = token_with("tasks:write")

    created = writer.post(TASKS_URL, {"title": "From a script"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["owner"] == member.pk
    assert writer.patch(task_url(task), {"title": "Renamed"}, format="json").status_code == 200

    assert_insufficient(writer.get(TASKS_URL), "tasks:read")
    assert_insufficient(writer.get(task_url(task)), "tasks:read")


def test_a_token_of_another_scope_reaches_no_task(token_with, task):
    other = token_with(
        "projects:read", "projects:write", "files:read", "files:write", "webhooks:manage"
    )

    assert_insufficient(other.get(TASKS_URL), "tasks:read")
    assert_insufficient(other.post(TASKS_URL, {"title": "x"}, format="json"), "tasks:write")


def test_comments_need_the_tasks_scopes(token_with, task):
    comments_url = f"{task_url(task)}comments/"
    reader, writer = token_with("tasks:read"), token_with("tasks:write")

    assert page(reader.get(comments_url))["results"] == []
    assert_insufficient(reader.post(comments_url, {"body": "Hi"}, format="json"), "tasks:write")
    assert writer.post(comments_url, {"body": "Hi"}, format="json").status_code == 201
    assert_insufficient(token_with("projects:read").get(comments_url), "tasks:read")


def test_notifications_need_the_tasks_scopes(token_with):
    assert token_with("tasks:read").get("/api/v1/notifications/").status_code == 200
    assert_insufficient(token_with("files:read").get("/api/v1/notifications/"), "tasks:read")


# --- projects: projects:read / projects:write ----------------------------------------


def test_projects_need_the_projects_scopes(token_with):
    reader, writer = token_with("projects:read"), token_with("projects:write")

    assert page(reader.get(PROJECTS_URL))["count"] >= 1
    assert_insufficient(
        reader.post(PROJECTS_URL, {"name": "Garden"}, format="json"), "projects:write"
    )
    created = writer.post(PROJECTS_URL, {"name": "Garden"}, format="json")
    assert created.status_code == 201, created.content
    assert_insufficient(writer.get(project_url(created.json())), "projects:read")
    assert_insufficient(token_with("tasks:read", "tasks:write").get(PROJECTS_URL), "projects:read")


def test_labels_need_the_projects_scopes(token_with):
    reader = token_with("projects:read")
    project = page(reader.get(PROJECTS_URL))["results"][0]

    assert reader.get(labels_url(project)).status_code == 200
    assert_insufficient(
        reader.post(labels_url(project), {"name": "urgent"}, format="json"), "projects:write"
    )
    assert_insufficient(token_with("tasks:read").get(labels_url(project)), "projects:read")


# --- files: files:read / files:write -------------------------------------------------


@pytest.fixture
def _uploads(media_root: Any) -> None:
    """Uploads go to a fresh folder."""


@pytest.mark.usefixtures("_uploads")
def test_files_need_the_files_scopes(token_with, member_client):
    reader, writer = token_with("files:read"), token_with("files:write")

    uploaded = upload(writer)
    assert_insufficient(post_file(reader, "a.png", sample("png")), "files:write")
    assert [item["id"] for item in page(reader.get(FILES_URL))["results"]] == [uploaded["id"]]
    download = reader.get(download_url(uploaded))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == sample("png")
    assert_insufficient(writer.get(FILES_URL), "files:read")
    assert_insufficient(writer.get(download_url(uploaded)), "files:read")
    assert_insufficient(token_with("tasks:read").get(FILES_URL), "files:read")
    assert writer.delete(f"{FILES_URL}{uploaded['id']}/").status_code == 204


# --- apps without endpoints yet: webhooks, exports, sync (probe views) ---------------


@pytest.fixture
def probes(settings: Any) -> None:
    settings.ROOT_URLCONF = PROBE_URLS


@pytest.mark.usefixtures("probes")
def test_webhooks_need_webhooks_manage_for_every_method(token_with, member):
    manager = token_with("webhooks:manage")

    for method in ("get", "post", "delete"):
        response = getattr(manager, method)("/probe/webhooks/")
        assert response.status_code == 200, response.content
        assert response.json() == {"user": member.pk}
    other = token_with(*[scope for scope in EVERY_SCOPE if scope != "webhooks:manage"])
    for method in ("get", "post", "delete"):
        assert_insufficient(getattr(other, method)("/probe/webhooks/"), "webhooks:manage")


@pytest.mark.usefixtures("probes")
def test_exports_need_tasks_read_whatever_the_method(token_with):
    reader = token_with("tasks:read")

    assert reader.get("/probe/exports/").status_code == 200
    assert reader.post("/probe/exports/").status_code == 200
    assert_insufficient(token_with("tasks:write").get("/probe/exports/"), "tasks:read")


@pytest.mark.usefixtures("probes")
def test_sync_needs_both_tasks_read_and_projects_read(token_with):
    assert token_with("tasks:read", "projects:read").get("/probe/sync/").status_code == 200

    message = assert_insufficient(
        token_with("tasks:read").get("/probe/sync/"),
        "tasks:read",
        "projects:read",
        missing=("projects:read",),
    )
    assert "lacks the scope projects:read " in message
    message = assert_insufficient(
        token_with("files:read").get("/probe/sync/"), "tasks:read", "projects:read"
    )
    assert "lacks the scopes tasks:read and projects:read " in message


@pytest.mark.usefixtures("probes")
def test_an_app_no_rule_names_is_closed_to_tokens(token_with, member_client):
    assert_insufficient(token_with(*EVERY_SCOPE).get("/probe/undeclared/"))
    # Other credentials are not concerned.
    assert member_client.get("/probe/undeclared/").status_code == 200


@pytest.mark.usefixtures("probes")
def test_a_views_own_rule_wins_over_its_apps(token_with):
    assert token_with("files:read").get("/probe/declared/").status_code == 200
    assert_insufficient(token_with("tasks:read").get("/probe/declared/"), "files:read")
    both = token_with("projects:write", "files:write")
    assert both.post("/probe/declared/").status_code == 200
    message = assert_insufficient(
        token_with("projects:write").post("/probe/declared/"),
        "projects:write",
        "files:write",
        missing=("files:write",),
    )
    assert "projects:write" not in message
    # No rule for the other writes: no token.
    assert_insufficient(token_with(*EVERY_SCOPE).delete("/probe/declared/"))


# --- accounts: never with a token -----------------------------------------------------


@pytest.fixture
def every_scope(member: Any, client_for: Any) -> Any:
    return pat_client(token_of(client_for, member, EVERY_SCOPE))


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("get", TOKENS_URL, None),
        ("post", TOKENS_URL, {"name": "from a token", "scopes": ["tasks:read"]}),
        ("delete", f"{TOKENS_URL}1/", None),
        ("get", "/api/v1/auth/sessions/", None),
        ("delete", "/api/v1/auth/sessions/00000000-0000-0000-0000-000000000000/", None),
        ("post", "/api/v1/auth/logout/", None),
        ("post", "/api/v1/auth/logout-all/", None),
        ("patch", ME_URL, {"email": "new@example.com"}),
        ("patch", ME_URL, {"password": "Another-Copper-Lantern-43", "current_password": PASSWORD}),
        ("get", "/api/v1/users/", None),
        ("get", "/api/v1/users/1/", None),
        ("patch", "/api/v1/users/1/", {"role": "admin"}),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_no_token_manages_the_account(every_scope, member, method, url, body):
    email, password = member.email, member.password

    assert_insufficient(getattr(every_scope, method)(url, body, format="json"))

    member.refresh_from_db()
    assert (member.email, member.password) == (email, password)


def test_an_admins_token_manages_no_user_either(admin, client_for, member):
    token = pat_client(token_of(client_for, admin, EVERY_SCOPE))

    assert_insufficient(token.get("/api/v1/users/"))
    assert_insufficient(
        token.patch(f"/api/v1/users/{member.pk}/", {"is_active": False}, format="json")
    )
    member.refresh_from_db()
    assert member.is_active


def test_a_token_cannot_delete_a_token_not_even_itself(member, client_for):
    body = token_of(client_for, member, EVERY_SCOPE)

    assert_insufficient(pat_client(body).delete(token_url(body)))
    assert pat_client(body).get(TASKS_URL).status_code == 200


@pytest.mark.parametrize("scope", EVERY_SCOPE)
def test_any_token_reads_whose_it_is(token_with, member, scope):
    response = token_with(scope).get(ME_URL)

    assert response.status_code == 200
    assert response.json()["id"] == member.pk


def test_the_public_documents_answer_any_token(token_with):
    token = token_with("files:read")

    assert token.get("/api/v1/").status_code == 200
    assert token.get("/api/schema/").status_code == 200


# --- other credentials are not concerned ------------------------------------------------


def test_a_login_session_still_does_everything_its_role_allows(member_client, task):
    assert member_client.get(TASKS_URL).status_code == 200
    assert member_client.post(TASKS_URL, {"title": "x"}, format="json").status_code == 201
    assert member_client.get(TOKENS_URL).status_code == 200
    assert member_client.get("/api/v1/auth/sessions/").status_code == 200


def test_the_browsable_apis_session_cookie_is_not_concerned(member):
    from django.test import Client

    client = Client()
    client.force_login(member)

    assert client.get(TOKENS_URL, HTTP_ACCEPT="application/json").status_code == 200


# --- the rules themselves ---------------------------------------------------------------


def _view_of(module: str, **attributes: Any) -> APIView:
    return type("View", (APIView,), {"__module__": module, **attributes})()


@pytest.mark.parametrize(
    ("module", "read", "write"),
    [
        ("tasks.views", ("tasks:read",), ("tasks:write",)),
        ("comments.views", ("tasks:read",), ("tasks:write",)),
        ("notifications.views", ("tasks:read",), ("tasks:write",)),
        ("projects.views", ("projects:read",), ("projects:write",)),
        ("files.views", ("files:read",), ("files:write",)),
        ("webhooks.views", ("webhooks:manage",), ("webhooks:manage",)),
        ("exports.views", ("tasks:read",), ("tasks:read",)),
        ("sync.views", ("tasks:read", "projects:read"), ("tasks:read", "projects:read")),
        ("accounts.views", None, None),
        ("activity.views", None, None),
        ("taskmanager.views", None, None),
    ],
)
def test_each_app_needs_its_scopes(module, read, write):
    view = _view_of(module, permission_classes=[IsAuthenticated])

    for method in ("GET", "HEAD", "OPTIONS"):
        assert needed_scopes(view, method) == read
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert needed_scopes(view, method) == write


def test_a_public_view_of_no_app_takes_any_token():
    assert needed_scopes(_view_of("taskmanager.views", permission_classes=[AllowAny]), "GET") == ()


def test_a_view_rule_with_an_unknown_scope_is_refused():
    with pytest.raises(ValueError, match="tasks:admin"):
        needed_scopes(_view_of("tasks.views", token_scopes={"read": "tasks:admin"}), "GET")


class _Typo(APIView):
    token_scopes = {"read": "task:read", "UPDATE": "tasks:write"}

    def get(self, request: Request) -> Response:
        return Response({})


class _Fine(APIView):
    token_scopes = {"read": (), "POST": ("tasks:write", "files:write")}

    def get(self, request: Request) -> Response:
        return Response({})


def test_the_system_check_names_a_view_rule_with_a_typo():
    errors = token_scopes_errors([path("typo/", _Typo.as_view()), path("fine/", _Fine.as_view())])

    assert sorted(error.id for error in errors) == ["accounts.E002", "accounts.E003"]
    assert all("_Typo" in error.msg for error in errors)


def test_the_projects_views_pass_the_system_check():
    from django.urls import get_resolver

    assert token_scopes_errors(get_resolver().url_patterns) == []


def test_every_scope_is_offered():
    assert list(scopes.ALL_SCOPES) == EVERY_SCOPE


# --- the OpenAPI document ---------------------------------------------------------------


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return dict(SchemaGenerator().get_schema(request=None, public=True))


def test_the_schema_describes_the_personal_token_scheme(schema):
    scheme = schema["components"]["securitySchemes"]["personalToken"]

    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    for scope in EVERY_SCOPE:
        assert scope in scheme["description"]


def test_the_schema_offers_the_token_only_where_some_token_may_go(schema):
    paths = schema["paths"]

    def offers(route: str, method: str) -> bool:
        return {"personalToken": []} in paths[route][method]["security"]

    assert offers("/api/v1/tasks/", "get")
    assert offers("/api/v1/tasks/", "post")
    assert offers("/api/v1/projects/", "get")
    assert offers("/api/v1/files/", "post")
    assert offers("/api/v1/users/me/", "get")
    assert not offers("/api/v1/users/me/", "patch")
    assert not offers("/api/v1/auth/tokens/", "get")
    assert not offers("/api/v1/auth/tokens/", "post")
    assert not offers("/api/v1/auth/tokens/{id}/", "delete")
    assert not offers("/api/v1/auth/sessions/", "get")
    assert not offers("/api/v1/users/", "get")
    # Still the other ways in.
    assert {"jwtAuth": []} in paths["/api/v1/auth/tokens/"]["get"]["security"]


def test_the_schema_shows_the_token_only_in_the_create_answer(schema):
    paths, components = schema["paths"], schema["components"]["schemas"]
    created = paths["/api/v1/auth/tokens/"]["post"]["responses"]["201"]["content"]
    listed = paths["/api/v1/auth/tokens/"]["get"]["responses"]["200"]["content"]
    created_ref = created["application/json"]["schema"]["$ref"].rpartition("/")[2]
    page_ref = listed["application/json"]["schema"]["$ref"].rpartition("/")[2]
    item_ref = components[page_ref]["properties"]["results"]["items"]["$ref"].rpartition("/")[2]

    shape = {"id", "name", "scopes", "prefix", "created_at", "expires_at", "last_used_at"}
    assert set(components[item_ref]["properties"]) == shape
    assert set(components[created_ref]["properties"]) == shape | {"token"}
    assert set(components[created_ref]["required"]) == shape | {"token"}
    assert components[created_ref]["properties"]["token"]["pattern"] == "^tm_pat_[A-Za-z0-9_-]{43}$"
    for name in ("expires_at", "last_used_at"):
        assert components[item_ref]["properties"][name]["nullable"] is True


def test_the_schema_declares_the_create_body_exactly(schema):
    body = schema["paths"]["/api/v1/auth/tokens/"]["post"]["requestBody"]["content"]
    ref = body["application/json"]["schema"]["$ref"].rpartition("/")[2]
    component = schema["components"]["schemas"][ref]

    assert component["additionalProperties"] is False
    assert set(component["properties"]) == {"name", "scopes", "expires_at"}
    assert set(component["required"]) == {"name", "scopes"}
    assert component["properties"]["name"]["maxLength"] == 100
    scopes_schema = component["properties"]["scopes"]
    assert (scopes_schema["minItems"], scopes_schema["maxItems"]) == (1, 7)
    assert scopes_schema["uniqueItems"] is True
    assert component["properties"]["expires_at"]["nullable"] is True
    responses = schema["paths"]["/api/v1/auth/tokens/"]["post"]["responses"]
    assert {"201", "400", "401", "403", "409", "429"} <= set(responses)
