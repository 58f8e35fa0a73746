"""Text refuses NUL (U+0000), as the schema says: every text input whose pattern (or
email format) refuses it is refused by the server with a 400 naming it, body field
or query parameter, and every text input the server refuses it in says so."""

import re
from typing import Any
from urllib.parse import urlencode

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from comments.services import comment_create
from projects.services import label_create, project_create
from tests.factories import PASSWORD, TaskFactory
from tests.helpers import assert_error
from webhooks.services import webhook_create

NUL = "te\x00xt"
NULL_CHARACTERS = ["Null characters are not allowed."]
FORM = "application/x-www-form-urlencoded"
NEW_PASSWORD = "Other-Quartz-Meadow-77"
HOOK_URL = "https://hooks.example.com/taskmanager"

# A body in which `field` carries NUL and every other field is valid, per component.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("LoginInputRequest", "username"): {"username": NUL, "password": PASSWORD},
    ("LoginInputRequest", "email"): {"email": NUL, "password": PASSWORD},
    ("LoginInputRequest", "password"): {"username": "member", "password": NUL},
    ("RegisterInputRequest", "email"): {
        "username": "newcomer",
        "email": f"new{NUL}@example.com",
        "password": NEW_PASSWORD,
    },
    ("RegisterInputRequest", "password"): {
        "username": "newcomer",
        "email": "new@example.com",
        "password": f"{NEW_PASSWORD}{NUL}",
    },
    ("RefreshInputRequest", "refresh"): {"refresh": NUL},
    ("TaskInputRequest", "title"): {"title": NUL},
    ("TaskInputRequest", "description"): {"title": "A title", "description": NUL},
    ("PatchedTaskInputRequest", "title"): {"title": NUL},
    ("PatchedTaskInputRequest", "description"): {"description": NUL},
    ("PatchedMeUpdateInputRequest", "email"): {"email": f"me{NUL}@example.com"},
    ("PatchedMeUpdateInputRequest", "password"): {
        "password": NUL,
        "current_password": PASSWORD,
    },
    ("PatchedMeUpdateInputRequest", "current_password"): {
        "password": NEW_PASSWORD,
        "current_password": NUL,
    },
    ("ProjectCreateInputRequest", "name"): {"name": NUL},
    ("ProjectCreateInputRequest", "description"): {"name": "A project", "description": NUL},
    ("PatchedProjectInputRequest", "name"): {"name": NUL},
    ("PatchedProjectInputRequest", "description"): {"description": NUL},
    ("MemberAddInputRequest", "username"): {"username": NUL},
    ("MemberAddInputRequest", "email"): {"email": f"otto{NUL}@example.com"},
    ("LabelInputRequest", "name"): {"name": NUL, "color": "#a0b1c2"},
    ("PatchedLabelInputRequest", "name"): {"name": NUL},
    ("CommentInputRequest", "body"): {"body": NUL},
    ("PersonalTokenInputRequest", "name"): {"name": NUL, "scopes": ["tasks:read"]},
    # Validated before who may register it is asked: no project needed to be refused.
    ("WebhookCreateInputRequest", "description"): {"url": HOOK_URL, "description": NUL},
    ("WebhookCreateInputRequest", "url"): {"url": f"{HOOK_URL}/{NUL}"},
    ("PatchedWebhookUpdateInputRequest", "description"): {"description": NUL},
    ("PatchedWebhookUpdateInputRequest", "url"): {"url": f"{HOOK_URL}/{NUL}"},
    **{
        ("TokenGrantInputRequest", field): {
            "grant_type": "password",
            "username": "member",
            "password": PASSWORD,
            field: NUL,
        }
        for field in ("username", "password", "scope", "client_id", "client_secret")
    },
}


# Fields that refuse NUL in their own words: a webhook's URL refuses every control
# character, NUL among them (webhooks.transport.check_url).
CONTROL_CHARACTERS = "The URL must not contain spaces or control characters."
OWN_MESSAGES = {
    ("WebhookCreateInputRequest", "url"): CONTROL_CHARACTERS,
    ("PatchedWebhookUpdateInputRequest", "url"): CONTROL_CHARACTERS,
}


def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def writes_of_components() -> dict[str, tuple[str, str, str]]:
    """Each request component's operation: path, method and media type."""
    found = {}
    for path, item in schema()["paths"].items():
        for method, operation in item.items():
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                name = content["schema"]["$ref"].rsplit("/", 1)[1]
                found.setdefault(name, (path, method, media))
    return found


def text_inputs_refusing_nul() -> set[tuple[str, str]]:
    components = schema()["components"]["schemas"]
    return {
        (name, field)
        for name in writes_of_components()
        for field, prop in components[name]["properties"].items()
        if prop.get("format") == "email"
        or ("pattern" in prop and not re.search(prop["pattern"], NUL))
    }


# Fields with a pattern of their own: Register's username (letters, digits, @.+-_) and
# a label's color (#rrggbb).
OWN_PATTERNS = {
    ("RegisterInputRequest", "username"),
    ("LabelInputRequest", "color"),
    ("PatchedLabelInputRequest", "color"),
}


def test_every_text_input_of_the_schema_is_tried():
    assert text_inputs_refusing_nul() == set(BODIES) | OWN_PATTERNS


@pytest.fixture
def _generous_throttle_rates(settings: Any) -> None:
    settings.THROTTLE_RATES = {
        **settings.THROTTLE_RATES,
        **dict.fromkeys(("read", "write", "login", "login_ip"), "10000/min"),
    }


@pytest.mark.usefixtures("_generous_throttle_rates")
@pytest.mark.parametrize(
    ("name", "field"), sorted(BODIES), ids=[".".join(k) for k in sorted(BODIES)]
)
def test_nul_in_a_text_field_is_a_400_naming_it(name, field, member, client_for):
    path, method, media = writes_of_components()[name]
    client = client_for(member)
    project = project_create(actor=member, name="Shared")
    task = TaskFactory(owner=member)
    ids = {
        "tasks": task.pk,
        "projects": project.pk,
        "labels": label_create(actor=member, project_id=project.pk, name="Bug", color="#aa0000").pk,
        "comments": comment_create(actor=member, task=task, body="Mine").pk,
        "webhooks": webhook_create(
            actor=member, project_id=project.pk, url=HOOK_URL, event_types=[], description=""
        ).pk,
    }
    url = re.sub(r"/(\w+)/\{id\}", lambda m: f"/{m[1]}/{ids[m[1]]}", path)
    body = BODIES[name, field]

    if media == FORM:
        response = APIClient().post(url, urlencode(body), content_type=FORM)
    else:
        response = getattr(client, method)(url, body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == [field]
    expected = OWN_MESSAGES.get((name, field), NULL_CHARACTERS[0])
    assert expected in error["fields"][field]  # an email's is also invalid


def test_nul_in_the_search_is_a_400_naming_it(member, client_for):
    response = client_for(member).get("/api/v1/tasks/", {"search": NUL})

    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"search": NULL_CHARACTERS}
