import pytest
from openapi_spec_validator import validate


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi_3(schema):
    validate(schema)  # raises on any violation of the OpenAPI 3 specification

    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Taskmanager API"


def test_schema_is_served_without_authentication(client):
    assert client.get("/api/schema/").status_code == 200


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_documentation_pages_render_without_a_cdn(client, path):
    response = client.get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/schema/" in html
    assert "cdn.jsdelivr.net" not in html  # assets come from drf-spectacular-sidecar


def test_schema_offers_bearer_tokens_and_the_oauth2_password_flow(schema):
    schemes = schema["components"]["securitySchemes"]

    assert schemes["jwtAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    password_flow = schemes["oauth2"]["flows"]["password"]
    assert password_flow["tokenUrl"] == "/api/v1/auth/token/"
    me = schema["paths"]["/api/v1/users/me/"]["get"]
    assert {"jwtAuth": []} in me["security"]
    assert {"oauth2": []} in me["security"]


def test_token_endpoint_is_documented_as_a_form(schema):
    token = schema["paths"]["/api/v1/auth/token/"]["post"]

    assert list(token["requestBody"]["content"]) == ["application/x-www-form-urlencoded"]
