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
from tasks.filters import PARENT_PATTERN
from webhooks.serializers import URL_PATTERN

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
        ("TaskInputRequest", {"due_date", "assignee", "parent"}),
        ("PatchedTaskInputRequest", {"due_date", "assignee", "parent"}),
        ("TaskOutput", {"due_date", "assignee", "completed_at", "parent"}),
        ("SubtasksOutput", set()),
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
        ("MoveInputRequest", set()),
        ("RelationInputRequest", set()),
        ("RelationOutput", {"created_by"}),
        ("BulkUpdateInputRequest", set()),
        ("BulkSetInputRequest", {"due_date", "assignee"}),
        ("BulkDeleteInputRequest", set()),
        ("CommentInputRequest", set()),
        ("CommentOutput", {"author"}),
        ("NotificationOutput", {"comment", "actor", "read_at"}),
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
OWN_PATTERN_SAMPLES = {
    EMAIL: "te@xt.example",
    COLOR_PATTERN: "#a0b1c2",
    URL_PATTERN: "https://hooks.example.com/in?x=1",
}


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
                for field in (
                    "position",
                    "created_at",
                    "updated_at",
                    "due_date",
                    "title",
                    "priority",
                )
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
@pytest.mark.parametrize("name", ["project", "label"])
def test_the_id_filters_are_lists_of_ids_described_for_their_users(schema, path, name):
    found = parameter(schema["paths"][path]["get"], name)

    assert found["schema"] == IDS
    assert f"?{name}=1&{name}=2" in found["description"]


def test_every_enumerated_query_parameter_has_an_enum(schema):
    # Every query parameter of every list is free text, a number, a date or an enum.
    free = {"search": "string", "assignee": "integer", "task": "integer", "after": "integer"}
    free |= {"cursor": "string"}  # /sync/'s opaque cursor
    free |= {"limit": "integer", "offset": "integer"}
    ids = {"project", "label"}
    dates = {"due_before", "due_after"}
    patterned = {"parent": PARENT_PATTERN}
    for path, method, operation in operations(schema):
        for p in operation.get("parameters", []):
            if p["in"] != "query":
                continue
            label = f"{method.upper()} {path} ?{p['name']}"
            if p["name"] in dates:
                assert p["schema"]["format"] == "date-time", label
            elif p["name"] in ids:
                assert p["schema"] == IDS, label
            elif p["name"] in patterned:
                assert p["schema"]["type"] == "string", label
                assert p["schema"]["pattern"] == patterned[p["name"]], label
            elif p["name"] in free:
                assert p["schema"]["type"] == free[p["name"]], label
            else:
                assert enum_of(p), label


IMPLEMENTATION_WORDS = re.compile(
    # `webhook.test` is the name of a message type, not of a test.
    r"serializ|to_representation|(?<!webhook\.)\btests?\b|\.py\b|mixin|docstring|queryset|"
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


def with_nulls(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` as JSON Schema says it (Draft 4 ignores it)."""
    if isinstance(node, list):
        return [with_nulls(item) for item in node]
    if not isinstance(node, dict):
        return node
    found = {key: with_nulls(value) for key, value in node.items()}
    if found.pop("nullable", False):
        return {"anyOf": [found, {"type": "null"}]}
    return found


def body_validator(schema: dict[str, Any], name: str) -> Draft4Validator:
    """A validator of the component `name`, its references resolved in the document."""
    return Draft4Validator(
        with_nulls({**component(schema, name), "components": schema["components"]})
    )


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


# Collaboration on tasks (issue #24).


def operation_at(schema: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return dict(schema["paths"][path][method])


def body_component(operation: dict[str, Any]) -> str:
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return str(ref.rsplit("/", 1)[1])


def success_schema(operation: dict[str, Any], status: str) -> dict[str, Any]:
    return dict(operation["responses"][status]["content"]["application/json"]["schema"])


NEW_OPERATIONS = [
    ("/api/v1/tasks/{id}/move/", "post"),
    ("/api/v1/tasks/{id}/relations/", "get"),
    ("/api/v1/tasks/{id}/relations/", "post"),
    ("/api/v1/tasks/{id}/relations/{relation_id}/", "delete"),
    ("/api/v1/tasks/bulk/", "post"),
    ("/api/v1/tasks/bulk-delete/", "post"),
    ("/api/v1/tasks/{task_id}/comments/", "get"),
    ("/api/v1/tasks/{task_id}/comments/", "post"),
    ("/api/v1/comments/{id}/", "get"),
    ("/api/v1/comments/{id}/", "patch"),
    ("/api/v1/comments/{id}/", "delete"),
    ("/api/v1/notifications/", "get"),
    ("/api/v1/notifications/{id}/read/", "post"),
    ("/api/v1/notifications/read-all/", "post"),
]


def test_every_new_operation_is_in_the_schema_with_a_summary_and_its_errors(schema):
    documented = {(path, method) for path, method, _ in operations(schema)}

    assert set(NEW_OPERATIONS) <= documented
    for path, method in NEW_OPERATIONS:
        operation = operation_at(schema, path, method)
        assert operation["summary"], (path, method)
        assert {"401", "429"} <= set(operation["responses"]), (path, method)
        if method != "get":
            assert "403" in operation["responses"], (path, method)
        if "{" in path:
            assert "404" in operation["responses"], (path, method)
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= set(operation["responses"]), (path, method)


def test_a_task_shows_its_labels_parent_position_subtasks_and_blocked(schema):
    task = component(schema, "TaskOutput")
    properties = task["properties"]

    assert {"labels", "parent", "position", "subtasks", "blocked"} <= set(task["required"])
    assert properties["labels"]["type"] == "array"
    assert properties["labels"]["items"]["type"] == "integer"
    assert properties["parent"]["type"] == "integer"
    assert properties["position"]["type"] == "string"
    assert properties["blocked"]["type"] == "boolean"
    assert properties["subtasks"]["allOf"] == [{"$ref": "#/components/schemas/SubtasksOutput"}]
    subtasks = component(schema, "SubtasksOutput")
    assert set(subtasks["required"]) == {"total", "completed"}
    assert {p["type"] for p in subtasks["properties"].values()} == {"integer"}


@pytest.mark.parametrize("name", ["TaskInputRequest", "PatchedTaskInputRequest"])
def test_a_tasks_labels_and_parent_declare_their_limits(schema, name):
    properties = component(schema, name)["properties"]
    labels, parent = properties["labels"], properties["parent"]
    an_id = {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID}
    task = body_validator(schema, name)

    assert labels["type"] == "array"
    assert labels["maxItems"] == 50
    assert {key: labels["items"].get(key) for key in an_id} == an_id
    assert {key: parent.get(key) for key in an_id} == an_id
    assert parent["nullable"] is True
    base = {"title": "Weed"}
    assert task.is_valid({**base, "labels": [1, 2], "parent": None})
    assert not task.is_valid({**base, "labels": [0]})
    assert not task.is_valid({**base, "labels": list(range(1, 52))})
    assert not task.is_valid({**base, "parent": 0})


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"before": 7}, True),
        ({"after": 7}, True),
        ({"before": 7, "after": 8}, False),
        ({}, False),
        ({"before": 0}, False),
        ({"before": 7, "position": "a"}, False),
    ],
    ids=["before", "after", "both", "neither", "zero", "unknown"],
)
def test_a_move_names_exactly_one_neighbour(schema, body, valid):
    operation = operation_at(schema, "/api/v1/tasks/{id}/move/", "post")
    name = body_component(operation)
    move = body_validator(schema, name)

    assert name == "MoveInputRequest"
    # No body at all is refused as `{}` is: a generated client must always send one.
    assert operation["requestBody"]["required"] is True
    assert move.is_valid(body) is valid
    # One component (the rule in `allOf`): a generated client gets a model, not a union.
    assert component(schema, name)["type"] == "object"
    assert not {"oneOf", "anyOf"} & set(component(schema, name))


def test_a_move_answers_the_task_with_its_etag_and_takes_if_match(schema):
    operation = operation_at(schema, "/api/v1/tasks/{id}/move/", "post")
    ok = operation["responses"]["200"]

    assert success_schema(operation, "200") == {"$ref": "#/components/schemas/TaskOutput"}
    assert "ETag" in ok["headers"]
    assert parameter(operation, "If-Match")["in"] == "header"
    assert "412" in operation["responses"]


def test_a_relation_names_its_kind_and_direction_with_named_enums(schema):
    create = operation_at(schema, "/api/v1/tasks/{id}/relations/", "post")
    relation_input = component(schema, body_component(create))
    output = component(schema, "RelationOutput")
    kind = {"$ref": "#/components/schemas/RelationKindEnum"}

    # Named for what it is: drf-spectacular's fallback on a name clash (`Kind5feEnum`)
    # becomes a generated client's class name.
    assert relation_input["properties"]["kind"] == kind
    assert output["properties"]["kind"] == kind
    assert component(schema, "RelationKindEnum")["enum"] == ["blocks", "relates_to", "duplicates"]
    assert set(relation_input["required"]) == {"kind", "task"}
    assert relation_input["properties"]["task"]["minimum"] == 1
    assert output["properties"]["direction"] == {"$ref": "#/components/schemas/DirectionEnum"}
    assert component(schema, "DirectionEnum")["enum"] == ["outgoing", "incoming"]
    assert set(output["required"]) == {
        "id",
        "kind",
        "task",
        "other_task",
        "direction",
        "created_by",
        "created_at",
    }
    assert success_schema(create, "201") == {"$ref": "#/components/schemas/RelationOutput"}
    listing = operation_at(schema, "/api/v1/tasks/{id}/relations/", "get")
    assert success_schema(listing, "200") == {
        "$ref": "#/components/schemas/PaginatedRelationOutputList"
    }


def test_no_enum_component_is_named_by_a_hash(schema):
    # drf-spectacular names clashing enums `<field><3 hex digits>Enum` (with a warning
    # that fails `spectacular --fail-on-warn`).
    hashed = [
        name
        for name, found in schema["components"]["schemas"].items()
        if "enum" in found and re.search(r"[0-9][0-9a-f]{2}Enum$|[0-9a-f][0-9][0-9a-f]Enum$", name)
    ]

    assert hashed == []


def test_a_relation_conflict_is_documented_with_its_code(schema):
    conflict = operation_at(schema, "/api/v1/tasks/{id}/relations/", "post")["responses"]["409"]

    assert conflict["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert "`relation_exists`" in conflict["description"]


def test_a_relation_is_removed_by_its_id_under_the_tasks(schema):
    operation = operation_at(schema, "/api/v1/tasks/{id}/relations/{relation_id}/", "delete")

    assert parameter(operation, "relation_id")["schema"] == {
        "type": "integer",
        "format": "int64",
        "minimum": 1,
    }
    assert set(operation["responses"]["204"]) == {"description"}  # no body


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"ids": [1]}, True),
        ({"ids": list(range(1, 101)), "set": {"status": "completed"}}, True),
        ({"ids": [1], "set": {"due_date": None, "assignee": None}, "add_labels": [2]}, True),
        ({"ids": []}, False),
        ({"ids": list(range(1, 102))}, False),
        ({"ids": [0]}, False),
        ({"ids": [1], "set": {"title": "x"}}, False),
        ({"ids": [1], "set": {"project": None}}, False),
        ({"set": {"status": "completed"}}, False),
    ],
    ids=["one", "hundred", "nulls", "none", "101", "zero", "title", "null-project", "no-ids"],
)
def test_a_bulk_change_takes_1_to_100_ids_and_the_fields_each_task_takes(schema, body, valid):
    operation = operation_at(schema, "/api/v1/tasks/bulk/", "post")

    assert body_validator(schema, body_component(operation)).is_valid(body) is valid


def test_a_bulk_change_answers_the_list_of_tasks_not_a_page(schema):
    operation = operation_at(schema, "/api/v1/tasks/bulk/", "post")

    assert success_schema(operation, "200") == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/TaskOutput"},
    }
    # Not a list endpoint: no page parameters.
    assert [p["name"] for p in operation.get("parameters", [])] == []


@pytest.mark.parametrize(
    ("body", "valid"),
    [({"ids": [1, 2]}, True), ({"ids": []}, False), ({"ids": [1], "set": {}}, False)],
    ids=["two", "none", "set"],
)
def test_a_bulk_delete_takes_ids_only(schema, body, valid):
    operation = operation_at(schema, "/api/v1/tasks/bulk-delete/", "post")

    assert body_validator(schema, body_component(operation)).is_valid(body) is valid
    assert set(operation["responses"]["204"]) == {"description"}
    assert [p["name"] for p in operation.get("parameters", [])] == []


def test_the_errors_fields_take_a_failing_ids_messages(schema):
    # A bulk change names each failing task by its id under `fields`.
    error = body_validator(schema, "Error")
    bulk_error = {
        "error": {
            "code": "validation_error",
            "message": "Some tasks cannot be changed.",
            "fields": {
                "12": ["No task with this id that you can see."],
                "13": ["labels: No label 5 in the task's project."],
            },
        }
    }

    assert error.is_valid(bulk_error)
    assert component(schema, "ErrorDetail")["properties"]["fields"]["type"] == "object"


def test_the_statistics_take_every_filter_of_the_list(schema):
    def filters(path: str) -> dict[str, Any]:
        return {
            p["name"]: p["schema"]
            for p in operation_at(schema, path, "get")["parameters"]
            if p["in"] == "query" and p["name"] not in ("limit", "offset")
        }

    listed = filters("/api/v1/tasks/")

    assert {"label", "parent", "blocked", "status", "priority", "project", "search"} <= set(listed)
    assert filters("/api/v1/tasks/statistics/") == listed


@pytest.mark.parametrize("name", ["label", "parent", "blocked"])
def test_the_new_task_filters_are_described_for_their_users(schema, name):
    found = parameter(operation_at(schema, "/api/v1/tasks/", "get"), name)

    assert found.get("description"), name


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("none", True),
        ("7", True),
        ("9" * 18, True),
        ("9" * 19, False),
        ("", False),
        (" 7", False),
        ("None", False),
        ("-1", False),
        ("\u0661", False),  # ARABIC-INDIC DIGIT ONE
    ],
)
def test_the_parent_filter_is_an_id_or_none(schema, value, valid):
    parent = parameter(operation_at(schema, "/api/v1/tasks/", "get"), "parent")

    assert bool(re.search(parent["schema"]["pattern"], value, re.ASCII)) is valid


def test_the_blocked_filter_is_true_or_false(schema):
    blocked = parameter(operation_at(schema, "/api/v1/tasks/", "get"), "blocked")

    assert set(blocked["schema"]["enum"]) == {"true", "false"}


def test_a_comment_body_declares_its_limits(schema):
    create = operation_at(schema, "/api/v1/tasks/{task_id}/comments/", "post")
    change = operation_at(schema, "/api/v1/comments/{id}/", "patch")
    name = body_component(create)
    body = component(schema, name)["properties"]["body"]
    comment = body_validator(schema, name)

    assert body_component(change) == name  # the text is the one field, required on PATCH too
    assert component(schema, name)["required"] == ["body"]
    assert {key: body[key] for key in ("minLength", "maxLength", "pattern")} == {
        "minLength": 1,
        "maxLength": 10000,
        "pattern": NOT_BLANK,
    }
    assert comment.is_valid({"body": "Looks good, @mia"})
    assert not comment.is_valid({"body": "   "})
    assert not comment.is_valid({"body": "x" * 10001})
    assert success_schema(create, "201") == {"$ref": "#/components/schemas/CommentOutput"}
    assert success_schema(change, "200") == {"$ref": "#/components/schemas/CommentOutput"}


def test_a_comment_and_a_notification_show_the_documented_shape(schema):
    comment = component(schema, "CommentOutput")
    notification = component(schema, "NotificationOutput")
    user = {"allOf": [{"$ref": "#/components/schemas/UserRef"}]}

    assert set(comment["required"]) == {
        "id",
        "task",
        "author",
        "body",
        "mentions",
        "created_at",
        "updated_at",
        "edited",
    }
    assert {k: v for k, v in comment["properties"]["author"].items() if k == "allOf"} == user
    assert set(notification["required"]) == {
        "id",
        "kind",
        "task",
        "comment",
        "actor",
        "created_at",
        "read_at",
    }
    assert {k: v for k, v in notification["properties"]["actor"].items() if k == "allOf"} == user
    assert component(schema, "NotificationKindEnum")["enum"] == [
        "assigned",
        "mentioned",
        "commented",
    ]
    assert set(component(schema, "UserRef")["required"]) == {"id", "username"}


def test_notifications_are_listed_by_unread_and_marked_read(schema):
    listing = operation_at(schema, "/api/v1/notifications/", "get")
    read = operation_at(schema, "/api/v1/notifications/{id}/read/", "post")
    read_all = operation_at(schema, "/api/v1/notifications/read-all/", "post")

    assert set(parameter(listing, "unread")["schema"]["enum"]) == {"true", "false"}
    assert success_schema(listing, "200") == {
        "$ref": "#/components/schemas/PaginatedNotificationOutputList"
    }
    assert success_schema(read, "200") == {"$ref": "#/components/schemas/NotificationOutput"}
    assert "requestBody" not in read and "requestBody" not in read_all
    updated = component(schema, "ReadAllOutput")
    assert updated["required"] == ["updated"]
    assert updated["properties"]["updated"]["minimum"] == 0
