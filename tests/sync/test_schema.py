"""The OpenAPI document describes /sync/ exactly: the page, the change with its enums
and its nullable object (one of the four outputs), the cursor parameter and every
error the operation answers."""

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from sync import cursors


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def components(schema: dict[str, Any]) -> dict[str, Any]:
    return dict(schema["components"]["schemas"])


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def test_the_page_holds_changes_a_cursor_and_has_more(schema):
    operation = schema["paths"]["/api/v1/sync/"]["get"]
    page = components(schema)["SyncPageOutput"]

    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == ref(
        "SyncPageOutput"
    )
    assert page["properties"] == {
        "changes": {"type": "array", "items": ref("SyncChangeOutput")},
        "cursor": {"type": "string"},
        "has_more": {"type": "boolean"},
    }
    assert set(page["required"]) == {"changes", "cursor", "has_more"}


def test_a_change_names_its_type_and_op_and_holds_one_of_the_four_objects_or_null(schema):
    found = components(schema)
    change = found["SyncChangeOutput"]
    properties = change["properties"]

    assert set(change["required"]) == {"type", "id", "op", "data"}
    assert found[properties["type"]["$ref"].rsplit("/", 1)[1]]["enum"] == [
        "project",
        "label",
        "task",
        "comment",
    ]
    assert found[properties["op"]["$ref"].rsplit("/", 1)[1]]["enum"] == ["upsert", "delete"]
    assert properties["id"] == {"type": "integer", "minimum": 1}
    assert properties["data"] == {"allOf": [ref("SyncObject")], "nullable": True}
    assert found["SyncObject"] == {
        "oneOf": [
            ref("ProjectOutput"),
            ref("LabelOutput"),
            ref("TaskOutput"),
            ref("CommentOutput"),
        ]
    }


def test_the_cursor_is_an_optional_query_parameter_of_the_servers_characters(schema):
    operation = schema["paths"]["/api/v1/sync/"]["get"]
    (cursor,) = [p for p in operation["parameters"] if p["name"] == "cursor"]

    assert cursor["in"] == "query"
    assert not cursor.get("required", False)
    assert cursor["schema"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": cursors.MAX_LENGTH,
        "pattern": cursors.PATTERN,
    }
    assert cursor["description"]


def test_every_error_of_sync_is_documented_in_the_error_shape(schema):
    operation = schema["paths"]["/api/v1/sync/"]["get"]
    responses = operation["responses"]

    assert operation["summary"]
    # 403: a personal API token without tasks:read and projects:read.
    assert {"200", "304", "400", "401", "403", "410", "429"} == set(responses)
    for status in ("400", "401", "403", "410", "429"):
        assert responses[status]["content"]["application/json"]["schema"] == ref("Error")
    assert "`invalid_cursor`" in responses["400"]["description"]
    assert "`insufficient_scope`" in responses["403"]["description"]
    assert "`cursor_expired`" in responses["410"]["description"]
