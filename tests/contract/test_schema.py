"""The OpenAPI document promises exactly what the server does, so that a client
generated from it works unedited: JSON bodies, PATCH bodies without defaults, nulls
where null is sent or accepted, bounds and patterns where the server checks them, no
unknown body properties, which fields go together, enums for every enumerated query
parameter, and descriptions written for the API's users."""

import re
import sys
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft4Validator

from projects.serializers import COLOR_PATTERN
from taskmanager.filters import MAX_ID
from taskmanager.pagination import LimitOffsetPagination
from taskmanager.schema import EMAIL, NO_NUL, NOT_BLANK, WHITESPACE

HTTP_METHODS = ("get", "put", "patch", "post", "delete")
# The two bodies that are not JSON: OAuth2's password grant and file uploads.
FORM_BODIES = {
    ("/api/v1/auth/token/", "post"): "application/x-www-form-urlencoded",
    ("/api/v1/files/", "post"): "multipart/form-data",
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, item[method])
        for path, item in sorted(schema["paths"].items())
        for method in HTTP_METHODS
        if method in item
    ]


def component(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(schema["components"]["schemas"][name])


def parameter(operation: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [p for p in operation.get("parameters", []) if p["name"] == name]
    return dict(found)


def request_components(schema: dict[str, Any]) -> set[str]:
    return {
        media["schema"]["$ref"].rsplit("/", 1)[1]
        for _, _, operation in operations(schema)
        for media in operation.get("requestBody", {}).get("content", {}).values()
    }


def keys_anywhere(node: Any, key: str) -> list[Any]:
    if isinstance(node, dict):
        found = [node[key]] if key in node else []
        return found + [v for child in node.values() for v in keys_anywhere(child, key)]
    if isinstance(node, list):
        return [v for child in node for v in keys_anywhere(child, key)]
    return []


def test_every_request_body_is_json_but_the_token_grant_and_uploads(schema):
    bodies = {
        (path, method): list(operation["requestBody"]["content"])
        for path, method, operation in operations(schema)
        if "requestBody" in operation
    }

    assert len(bodies) >= 9
    for key, media_types in bodies.items():
        assert media_types == [FORM_BODIES.get(key, "application/json")], key


def test_patch_bodies_carry_no_defaults(schema):
    patched = [name for name in schema["components"]["schemas"] if name.startswith("Patched")]

    assert {
        "PatchedTaskInputRequest",
        "PatchedMeUpdateInputRequest",
        "PatchedProjectInputRequest",
        "PatchedLabelInputRequest",
    } <= set(patched)
    for name in patched:
        assert keys_anywhere(component(schema, name), "default") == [], name


def test_patch_of_a_task_names_the_enums_directly(schema):
    properties = component(schema, "PatchedTaskInputRequest")["properties"]

    assert properties["priority"] == {"$ref": "#/components/schemas/PriorityEnum"}
    assert properties["status"] == {"$ref": "#/components/schemas/StatusEnum"}


def test_create_keeps_the_defaults_the_server_applies(schema):
    properties = component(schema, "TaskInputRequest")["properties"]

    assert properties["description"]["default"] == ""
    assert properties["priority"]["default"] == "medium"
    assert properties["status"]["default"] == "pending"


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("TaskInputRequest", {"due_date", "assignee"}),
        ("PatchedTaskInputRequest", {"due_date", "assignee"}),
        ("TaskOutput", {"due_date", "assignee", "completed_at"}),
        ("TaskEventOutput", {"actor"}),
        ("FileOutput", {"task"}),
        ("SessionOutput", {"ip"}),
        ("PaginatedTaskOutputList", {"next", "previous"}),
        ("ProjectOutput", {"role"}),
        ("ProjectCreateInputRequest", set()),
        ("PatchedProjectInputRequest", set()),
        ("MembershipOutput", set()),
        ("LabelOutput", set()),
        ("PatchedLabelInputRequest", set()),
    ],
)
def test_fields_that_may_be_null_are_nullable_and_no_others(schema, name, fields):
    properties = component(schema, name)["properties"]

    nullable = {field for field, prop in properties.items() if prop.get("nullable")}
    assert nullable == fields


def test_event_changes_map_each_field_to_old_and_new(schema):
    changes = component(schema, "TaskEventOutput")["properties"]["changes"]

    assert changes["type"] == "object"
    assert changes["additionalProperties"] == {
        "type": "array",
        "items": {},
        "minItems": 2,
        "maxItems": 2,
    }


def test_every_page_declares_all_four_keys_as_present(schema):
    pages = [n for n in schema["components"]["schemas"] if n.startswith("Paginated")]

    assert len(pages) >= 5
    for name in pages:
        assert set(component(schema, name)["required"]) == {"count", "next", "previous", "results"}


def test_limit_and_offset_are_bounded_on_every_list(schema):
    lists = [op for _, _, op in operations(schema) if "limit" in str(op.get("parameters"))]

    assert len(lists) >= 6
    for operation in lists:
        assert parameter(operation, "limit")["schema"] == {
            "type": "integer",
            "minimum": 1,
            "maximum": 100,
            "default": 20,
        }
        assert parameter(operation, "offset")["schema"] == {
            "type": "integer",
            "minimum": 0,
            "maximum": LimitOffsetPagination.max_offset,
            "default": 0,
        }


def test_every_path_id_is_a_positive_64_bit_integer(schema):
    ids = [
        (path, p)
        for path, _, operation in operations(schema)
        for p in operation.get("parameters", [])
        if p["in"] == "path"
    ]

    assert len(ids) >= 10
    for path, p in ids:
        if path.startswith("/api/v1/auth/sessions/"):
            # Sessions are named by UUIDs.
            assert p["schema"] == {"type": "string", "format": "uuid"}, path
        else:
            assert p["schema"] == {"type": "integer", "format": "int64", "minimum": 1}, path


def test_every_request_body_refuses_unknown_properties(schema):
    names = request_components(schema)

    assert {"TaskInputRequest", "PatchedTaskInputRequest", "RegisterInputRequest"} <= names
    for name in names:
        assert component(schema, name)["additionalProperties"] is False, name


def test_the_idempotency_key_declares_what_the_server_accepts(schema):
    key = parameter(schema["paths"]["/api/v1/tasks/"]["post"], "Idempotency-Key")

    assert key["in"] == "header"
    assert key["schema"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": r"^[!-~]([ -~]*[!-~])?$",
    }


@pytest.mark.parametrize("name", ["RegisterInputRequest", "UserOutput"])
def test_usernames_declare_their_length_and_characters(schema, name):
    username = component(schema, name)["properties"]["username"]

    assert username["maxLength"] == 150
    # Django's \w is Unicode, ECMA-262's ASCII: any non-ASCII character passes the
    # schema, and the server decides.
    assert username["pattern"] == r"^(?:[\w.@+-]|[^\x00-\x7f])+$"
    assert re.search(username["pattern"], "mäx_1@x.y", re.ASCII)
    assert not re.search(username["pattern"], "max 1", re.ASCII)


EMAILS = [("RegisterInputRequest", "email"), ("PatchedMeUpdateInputRequest", "email")]


def test_every_email_declares_djangos_address_rules_not_the_email_format(schema):
    # `format: email` takes `zz@b.c`, which the server refuses; schemathesis draws such
    # addresses for it, and reads no pattern next to it.
    named = {
        (name, field)
        for name, found in schema["components"]["schemas"].items()
        for field in found.get("properties", {})
        if field == "email"
    }

    # A login's email is any text: an account is looked up by it, not created; so is
    # the email (or username) of a user added to a project.
    looked_up = {("LoginInputRequest", "email"), ("MemberAddInputRequest", "email")}
    assert named - looked_up - {("UserOutput", "email")} == set(EMAILS)
    assert "email" not in keys_anywhere(schema, "format")
    for name, field in EMAILS:
        email = component(schema, name)["properties"][field]
        assert email["pattern"] == EMAIL, name
        assert email["maxLength"] == 254, name
    # An answer's email may have a domain in Unicode, which the pattern leaves out.
    assert "pattern" not in component(schema, "UserOutput")["properties"]["email"]


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("mia@example.com", True),
        ("mia@b.c", False),
        (" mia@example.com", False),
        ("mia@example.com ", False),
        ("x" * 242 + "@example.com", True),
        ("x" * 243 + "@example.com", False),
    ],
    ids=["plain", "one-letter-tld", "leading-space", "trailing-space", "254-chars", "255-chars"],
)
@pytest.mark.parametrize("name", ["RegisterInputRequest", "PatchedMeUpdateInputRequest"])
def test_an_email_input_is_valid_for_the_schema_as_for_the_server(schema, name, email, valid):
    body = {"email": email}
    if name == "RegisterInputRequest":
        body |= {"username": "mia", "password": "Quiet-Harbour-Fox-17"}

    assert Draft4Validator(component(schema, name)).is_valid(body) is valid


def test_every_password_declares_its_maximum_length(schema):
    passwords = [
        (name, prop)
        for name in request_components(schema)
        for field, prop in component(schema, name)["properties"].items()
        if "password" in field
    ]

    assert len(passwords) >= 5
    for name, prop in passwords:
        assert prop["maxLength"] == 128, name


def test_fields_that_are_trimmed_declare_a_character_that_is_neither_a_space_nor_nul(schema):
    # "  " is trimmed to "" and refused as blank.
    trimmed = [
        component(schema, name)["properties"][field]["pattern"]
        for name, field in [
            ("TaskInputRequest", "title"),
            ("PatchedTaskInputRequest", "title"),
            ("LoginInputRequest", "username"),
            ("LoginInputRequest", "email"),
            ("RefreshInputRequest", "refresh"),
            ("TokenGrantInputRequest", "username"),
        ]
    ]
    description = component(schema, "TaskInputRequest")["properties"]["description"]

    assert trimmed == [NOT_BLANK] * 6
    assert description["pattern"] == NO_NUL  # may be blank
    for text in ("a", " a ", "\u3000a\ufeff", "a\nb"):
        assert re.search(NOT_BLANK, text), repr(text)
    for text in ("", "  ", "\t\n\x1c\x85\u3000", "a\x00", "\x00"):
        assert not re.search(NOT_BLANK, text), repr(text)


def test_the_patterns_whitespace_is_what_the_server_strips():
    # Spelled out rather than `\s`, which is another set in ECMA regexes.
    declared = re.compile(f"[{WHITESPACE}]")
    characters = [chr(code) for code in range(sys.maxunicode + 1)]

    assert [c for c in characters if declared.fullmatch(c)] == [
        c for c in characters if c.isspace()
    ]


# A valid value of each field pattern that is not about text in general.
OWN_PATTERN_SAMPLES = {EMAIL: "te@xt.example", COLOR_PATTERN: "#a0b1c2"}


def text_properties(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (name, field, prop)
        for name in sorted(request_components(schema))
        for field, prop in component(schema, name)["properties"].items()
        if prop.get("type") == "string"
    ]


def test_every_text_input_refuses_nul(schema):
    # DRF's and Django's form CharFields refuse it; PostgreSQL cannot store it. A
    # date-time's format has no NUL already.
    texts = [
        (f"{name}.{field}", prop)
        for name, field, prop in text_properties(schema)
        if prop.get("format") not in ("date-time", "binary") and "enum" not in prop
    ]
    search = parameter(schema["paths"]["/api/v1/tasks/"]["get"], "search")["schema"]
    texts.append(("?search", search))

    assert len(texts) >= 17
    for label, prop in texts:
        text = OWN_PATTERN_SAMPLES.get(prop["pattern"], "text")
        assert re.search(prop["pattern"], text), label
        assert not re.search(prop["pattern"], text[:2] + "\x00" + text[2:]), label


def test_an_uploaded_file_has_no_text_pattern(schema):
    upload = component(schema, "FileUploadInputRequest")["properties"]["file"]

    assert upload["format"] == "binary"
    assert "pattern" not in upload


def test_search_declares_its_maximum_length(schema):
    search = parameter(schema["paths"]["/api/v1/tasks/"]["get"], "search")

    assert search["schema"] == {"type": "string", "maxLength": 200, "pattern": NO_NUL}


def test_ordering_is_a_list_sent_as_repeated_parameters(schema):
    ordering = parameter(schema["paths"]["/api/v1/tasks/"]["get"], "ordering")

    assert ordering["schema"]["type"] == "array"
    assert (ordering["style"], ordering["explode"]) == ("form", True)
    assert "?ordering=-priority&ordering=title" in ordering["description"]


LOGIN = {"password": "secret"}


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({**LOGIN, "username": "mia"}, True),
        ({**LOGIN, "email": "mia@example.com"}, True),
        ({**LOGIN, "username": "mia", "email": "mia@example.com"}, False),
        (LOGIN, False),
    ],
    ids=["username", "email", "both", "neither"],
)
def test_login_takes_a_username_or_an_email_not_both(schema, body, valid):
    login = Draft4Validator(component(schema, "LoginInputRequest"))

    assert login.is_valid(body) is valid


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({}, True),
        ({"email": "mia@example.com"}, True),
        ({"password": "new", "current_password": "old"}, True),
        ({"email": "mia@example.com", "password": "new", "current_password": "old"}, True),
        ({"password": "new"}, False),
        ({"current_password": "old"}, False),
        ({"email": "mia@example.com", "current_password": "old"}, False),
    ],
    ids=["nothing", "email", "passwords", "all", "new-alone", "current-alone", "email-current"],
)
def test_a_new_password_goes_with_the_current_one(schema, body, valid):
    me = Draft4Validator(component(schema, "PatchedMeUpdateInputRequest"))

    assert me.is_valid(body) is valid


@pytest.mark.parametrize("name", ["LoginInputRequest", "PatchedMeUpdateInputRequest"])
def test_rules_between_fields_keep_the_component_a_model(schema, name):
    # openapi-python-client 0.29 makes an untyped union of a component with a
    # top-level oneOf/anyOf: the rules sit in allOf, the properties at the top.
    found = component(schema, name)

    assert found["type"] == "object"
    assert not {"oneOf", "anyOf", "not"} & set(found)
    assert len(found["allOf"]) == 1
    assert set(found["properties"]) >= {"password"}


def enum_of(p: dict[str, Any]) -> set[str]:
    schema = p["schema"]
    return set(schema["items"]["enum"] if schema["type"] == "array" else schema["enum"])


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("status", {"pending", "in_progress", "completed"}),
        ("priority", {"low", "medium", "high"}),
        ("overdue", {"true", "false"}),
        (
            "ordering",
            {
                sign + field
                for sign in ("", "-")
                for field in ("created_at", "updated_at", "due_date", "title", "priority")
            },
        ),
    ],
)
def test_enumerated_task_filters_list_their_values(schema, name, values):
    assert enum_of(parameter(schema["paths"]["/api/v1/tasks/"]["get"], name)) == values


# Ids in a query, repeated or comma-separated: digits within a 64-bit id (0 matches
# nothing, and is no error).
IDS = {
    "type": "array",
    "items": {"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_ID},
}


@pytest.mark.parametrize("path", ["/api/v1/tasks/", "/api/v1/tasks/statistics/"])
def test_the_project_filter_is_a_list_of_ids_described_for_its_users(schema, path):
    project = parameter(schema["paths"][path]["get"], "project")

    assert project["schema"] == IDS
    assert "?project=1&project=2" in project["description"]


def test_every_enumerated_query_parameter_has_an_enum(schema):
    # Every query parameter of every list is free text, a number, a date or an enum.
    free = {"search": "string", "assignee": "integer", "task": "integer", "after": "integer"}
    free |= {"limit": "integer", "offset": "integer"}
    ids = {"project"}
    dates = {"due_before", "due_after"}
    for path, method, operation in operations(schema):
        for p in operation.get("parameters", []):
            if p["in"] != "query":
                continue
            label = f"{method.upper()} {path} ?{p['name']}"
            if p["name"] in dates:
                assert p["schema"]["format"] == "date-time", label
            elif p["name"] in ids:
                assert p["schema"] == IDS, label
            elif p["name"] in free:
                assert p["schema"]["type"] == free[p["name"]], label
            else:
                assert enum_of(p), label


IMPLEMENTATION_WORDS = re.compile(
    r"serializ|to_representation|\btests?\b|\.py\b|mixin|docstring|queryset|"
    r"ignored_fields|drf|django",
    re.IGNORECASE,
)


def test_no_description_speaks_of_the_implementation(schema):
    found = keys_anywhere(schema, "description") + keys_anywhere(schema, "summary")
    texts = [text for text in found if isinstance(text, str)]  # not the task's field

    assert len(texts) > 50
    leaks = [text for text in texts if IMPLEMENTATION_WORDS.search(text)]
    assert leaks == []


def test_a_component_is_described_by_its_own_docstring_only(schema):
    # StrictFieldsMixin's notes described every input component.
    described = {
        name: c.get("description", "")
        for name, c in schema["components"]["schemas"].items()
        if name.endswith("Request")
    }

    assert "Rejects unknown" not in str(described)
    assert described["RegisterInputRequest"] == ""
    assert described["FileUploadInputRequest"].startswith("One file")


# Projects, members and labels (issue #23).


def body_validator(schema: dict[str, Any], name: str) -> Draft4Validator:
    """A validator of the component `name`, its references resolved in the document."""
    return Draft4Validator({**component(schema, name), "components": schema["components"]})


@pytest.mark.parametrize(
    ("name", "field", "limits"),
    [
        (
            "ProjectCreateInputRequest",
            "name",
            {"minLength": 1, "maxLength": 100, "pattern": NOT_BLANK},
        ),
        ("ProjectCreateInputRequest", "description", {"maxLength": 10000, "pattern": NO_NUL}),
        ("PatchedProjectInputRequest", "name", {"maxLength": 100, "pattern": NOT_BLANK}),
        ("LabelInputRequest", "name", {"minLength": 1, "maxLength": 50, "pattern": NOT_BLANK}),
        ("PatchedLabelInputRequest", "name", {"maxLength": 50, "pattern": NOT_BLANK}),
        ("LabelInputRequest", "color", {"maxLength": 7, "pattern": COLOR_PATTERN}),
        ("PatchedLabelInputRequest", "color", {"maxLength": 7, "pattern": COLOR_PATTERN}),
        ("MemberAddInputRequest", "username", {"maxLength": 254, "pattern": NOT_BLANK}),
    ],
)
def test_the_limits_of_projects_and_labels_are_declared(schema, name, field, limits):
    prop = component(schema, name)["properties"][field]

    assert {key: prop.get(key) for key in limits} == limits


@pytest.mark.parametrize(
    ("color", "valid"),
    [
        ("#a0b1c2", True),
        ("#A0B1C2", True),
        ("a0b1c2", False),
        ("#a0b1c", False),
        ("#a0b1cg", False),
    ],
)
def test_a_color_is_valid_for_the_schema_as_for_the_server(schema, color, valid):
    label = Draft4Validator(component(schema, "LabelInputRequest"))

    assert label.is_valid({"name": "Bug", "color": color}) is valid


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"username": "mia"}, True),
        ({"email": "mia@example.com", "role": "viewer"}, True),
        ({"username": "mia", "email": "mia@example.com"}, False),
        ({"role": "admin"}, False),
    ],
    ids=["username", "email", "both", "neither"],
)
def test_a_member_is_added_by_username_or_email_not_both(schema, body, valid):
    member = body_validator(schema, "MemberAddInputRequest")
    operation = schema["paths"]["/api/v1/projects/{id}/members/"]["post"]

    assert member.is_valid(body) is valid
    # No body at all is refused as `{}` is.
    assert operation["requestBody"]["required"] is True


def test_a_role_change_requires_the_role_although_it_is_a_patch(schema):
    operation = schema["paths"]["/api/v1/projects/{id}/members/{user_id}/"]["patch"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = ref.rsplit("/", 1)[1]

    assert operation["requestBody"]["required"] is True
    assert component(schema, name)["required"] == ["role"]
    assert not body_validator(schema, name).is_valid({})
    assert body_validator(schema, name).is_valid({"role": "viewer"})


def test_a_project_says_the_callers_role_or_null(schema):
    role = component(schema, "ProjectOutput")["properties"]["role"]

    assert role["nullable"] is True
    assert {"$ref": "#/components/schemas/ProjectRoleEnum"} in role["oneOf"]


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        ("/api/v1/projects/{id}/", "patch", ["project_archived"]),
        ("/api/v1/projects/{id}/", "delete", ["personal_project"]),
        ("/api/v1/projects/{id}/members/", "post", ["conflict", "personal_project"]),
        ("/api/v1/projects/{id}/members/{user_id}/", "patch", ["last_admin"]),
        ("/api/v1/projects/{id}/members/{user_id}/", "delete", ["last_admin"]),
        ("/api/v1/projects/{id}/labels/", "post", ["label_exists", "project_archived"]),
        ("/api/v1/labels/{id}/", "patch", ["label_exists", "project_archived"]),
        ("/api/v1/labels/{id}/", "delete", ["project_archived"]),
    ],
)
def test_every_conflict_of_projects_is_documented_with_its_code(schema, path, method, codes):
    conflict = schema["paths"][path][method]["responses"]["409"]

    assert conflict["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    for code in codes:
        assert f"`{code}`" in conflict["description"], code
    assert "Idempotency-Key" not in conflict["description"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/",
        "/api/v1/projects/{id}/",
        "/api/v1/projects/{id}/members/",
        "/api/v1/projects/{id}/labels/",
        "/api/v1/labels/{id}/",
    ],
)
def test_the_reads_of_projects_declare_their_conditional_get(schema, path):
    operation = schema["paths"][path]["get"]

    assert "304" in operation["responses"]
    assert parameter(operation, "If-None-Match")["in"] == "header"
