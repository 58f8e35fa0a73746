"""The two entry points: `/`, a landing page for people (where the admin's "View site"
leads), and `/api/v1/`, the API root for clients: every top-level endpoint as an
absolute URL, in the schema like any operation, open to anyone and throttled."""

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import resolve
from rest_framework.test import APIClient

from taskmanager.views import API_ROOT
from tests.accounts.personal_token_helpers import pat_client, token_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROOT = "/api/v1/"


def links(response: Any) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', response.content.decode()))


def test_the_landing_page_says_what_this_is_and_links_to_everything(client):
    response = client.get("/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "<h1>Taskmanager</h1>" in response.content.decode()
    assert {
        "/api/docs/",
        "/api/redoc/",
        "/api/schema/",
        "/api/asyncapi/",
        ROOT,
        "/admin/",
        "/live/",
        "/login/",
        "/register/",
        "/monitoring/health/",
    } <= links(response)


def test_the_landing_page_greets_a_signed_in_person_and_offers_to_log_out(client):
    client.force_login(UserFactory(username="mia"))

    page = client.get("/").content.decode()

    assert "Signed in as <strong>mia</strong>" in page
    assert '<form method="post" action="/logout/">' in page


def test_the_landing_page_only_reads(client):
    assert client.post("/").status_code == 405


def test_the_admins_view_site_link_leads_to_the_landing_page():
    client = Client()
    client.force_login(UserFactory(superuser=True))

    admin = client.get("/admin/")

    assert admin.status_code == 200
    assert re.search(r'<a href="/">View site</a>', admin.content.decode())
    assert client.get("/").status_code == 200


def test_the_api_root_lists_every_top_level_endpoint_with_absolute_urls(api_client):
    response = api_client.get(ROOT)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == list(API_ROOT)
    assert body["tasks"] == "http://testserver/api/v1/tasks/"
    assert body["logout_all"] == "http://testserver/api/v1/auth/logout-all/"
    assert body["tokens"] == "http://testserver/api/v1/auth/tokens/"
    assert body["webhooks"] == "http://testserver/api/v1/webhooks/"
    assert body["sync"] == "http://testserver/api/v1/sync/"
    for field, url in body.items():
        assert url.startswith("http://testserver/api/v1/"), field
        assert resolve(url.removeprefix("http://testserver")).view_name == API_ROOT[field]


def test_the_api_root_names_the_host_and_scheme_the_client_used(api_client):
    body = api_client.get(ROOT, HTTP_HOST="localhost", secure=True).json()

    assert body["files"] == "https://localhost/api/v1/files/"


def test_the_api_root_is_the_same_for_a_signed_in_client(api_client):
    api_client.force_authenticate(UserFactory())

    assert api_client.get(ROOT).json() == APIClient().get(ROOT).json()


def test_the_api_root_lists_each_list_endpoint_of_the_schema(api_client):
    # Every GET of the schema without an id is linked from the root (a new endpoint
    # too), but the CSV export: the task list in another format.
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    collections = {
        path
        for path, item in schema["paths"].items()
        if "{" not in path and "get" in item and path != ROOT
    }
    listed = {url.removeprefix("http://testserver") for url in api_client.get(ROOT).json().values()}

    assert collections - listed == {"/api/v1/tasks/export.csv"}


@pytest.mark.parametrize("scopes", [["files:read"], ["webhooks:manage"]])
def test_any_personal_token_reads_the_api_root(member, client_for, scopes):
    # Public (accounts.scopes): no scope is needed, so a token never gets a 403 here.
    token = pat_client(token_of(client_for, member, scopes))

    response = token.get(ROOT)

    assert response.status_code == 200, response.content
    assert response.json() == APIClient().get(ROOT).json()


@pytest.mark.parametrize(
    ("params", "headers"),
    [({"format": "api"}, {}), ({}, {"HTTP_ACCEPT": "text/html,application/xhtml+xml"})],
    ids=["?format=api", "a browser's Accept"],
)
def test_the_api_root_is_browsable(client, params, headers):
    response = client.get(ROOT, params, **headers)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Taskmanager API" in page
    assert "http://testserver/api/v1/tasks/" in page


def test_the_api_root_answers_only_reads(api_client):
    response = api_client.post(ROOT, {}, format="json")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_the_api_root_is_throttled_as_every_read(api_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "2/min"}
    for _ in range(2):
        assert api_client.get(ROOT).status_code == 200

    response = api_client.get(ROOT)

    assert response.status_code == 429
    assert response["Retry-After"].isdigit()
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}
    assert error["code"] == "throttled"


def test_the_schema_declares_the_api_root_with_an_exact_component(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    operation = schema["paths"][ROOT]["get"]
    assert set(schema["paths"][ROOT]) == {"get"}
    assert operation["summary"]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/ApiRootOutput"}
    assert {"400", "401", "429"} <= set(operation["responses"])
    # Any personal token may read it: there is no scope to lack, hence no 403.
    assert "403" not in operation["responses"]
    component = schema["components"]["schemas"]["ApiRootOutput"]
    assert set(component["properties"]) == set(API_ROOT)
    assert set(component["required"]) == set(API_ROOT)
    for field, declared in component["properties"].items():
        assert (declared["type"], declared["format"]) == ("string", "uri"), field
        assert declared["description"], field
