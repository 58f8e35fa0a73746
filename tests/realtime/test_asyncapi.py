"""docs/asyncapi.yaml describes /ws/tasks/ as it is: served at /api/asyncapi/, well
formed, and every message the consumer really sends matches its schema."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import OperationalError
from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT7

from accounts.services import personal_token_create
from comments import services as comments
from projects import services as projects
from realtime import authentication, consumers
from taskmanager.asgi import application
from taskmanager.settings import BASE_DIR
from tasks import services
from tests.realtime.sockets import socket

DOCUMENT_PATH = Path(BASE_DIR) / "docs" / "asyncapi.yaml"
URL = "/api/asyncapi/"


def document() -> dict[str, Any]:
    return yaml.safe_load(DOCUMENT_PATH.read_text())


def validator(schema_name: str) -> Draft7Validator:
    registry = Registry().with_resource("urn:asyncapi", DRAFT7.create_resource(document()))
    return Draft7Validator(
        {"$ref": f"urn:asyncapi#/components/schemas/{schema_name}"},
        registry=registry,
        format_checker=FormatChecker(),
    )


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in refs(item)]
    return []


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        assert part in node, ref
        node = node[part]
    return node


def message_schemas(action: str) -> dict[str, str]:
    """Message name (its `type`) -> payload schema name, for messages of operations
    with `action` (send: client to server; receive and replies: server to client)."""
    doc = document()
    found = {}
    for operation in doc["operations"].values():
        groups = []
        if operation["action"] == action:
            groups.append(operation["messages"])
        if action == "receive" and "reply" in operation:
            groups.append(operation["reply"]["messages"])
        for group in groups:
            for ref in group:
                message = resolve(doc, resolve(doc, ref["$ref"])["$ref"])
                found[message["name"]] = message["payload"]["$ref"].rsplit("/", 1)[1]
    return found


def test_the_document_is_served_as_yaml_and_as_json(api_client):
    as_yaml = api_client.get(URL)
    as_json = api_client.get(URL, {"format": "json"})

    assert as_yaml.status_code == 200
    assert as_yaml["Content-Type"] == "application/yaml; charset=utf-8"
    assert yaml.safe_load(as_yaml.content) == document()
    assert as_json.status_code == 200
    assert json.loads(as_json.content) == document()


def test_the_document_is_asyncapi_3_with_every_reference_resolving():
    doc = document()

    assert doc["asyncapi"] == "3.0.0"
    assert doc["channels"]["taskEvents"]["address"] == "/ws/tasks/"
    for ref in refs(doc):
        resolve(doc, ref)
    for operation in doc["operations"].values():
        assert operation["action"] in {"send", "receive"}
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), message
    for schema in doc["components"]["schemas"].values():
        Draft7Validator.check_schema(schema)


def test_every_close_code_of_the_consumer_is_documented_and_one_daphne_sends():
    documented = {
        int(code): text
        for code, text in document()["channels"]["taskEvents"]["x-close-codes"].items()
    }
    used = {
        consumers.UNAUTHORIZED,
        authentication.CLOSE_FORBIDDEN,
        authentication.CLOSE_NOT_FOUND,
        consumers.MESSAGE_TOO_BIG,
        consumers.FLOODING,
        consumers.RESUME_NEEDED,
    }

    assert used == {4401, 4403, 4404, 4413, 4429, 4503}
    assert used <= set(documented)
    # daphne's WebSocket library (autobahn) refuses any other code from an application.
    assert all(code == 1000 or 3000 <= code <= 4999 for code in used)
    description = document()["info"]["description"]
    for code in used:
        assert str(code) in description, code


def test_every_message_type_is_documented_once_per_direction():
    received = message_schemas("receive")
    sent = message_schemas("send")

    assert set(sent) == {"auth", "ping", "resume"}
    assert set(received) == {
        "ready",
        "pong",
        "task.created",
        "task.updated",
        "task.deleted",
        "project.created",
        "project.updated",
        "project.deleted",
        "project.member_added",
        "project.member_removed",
        "project.member_role_changed",
        "label.created",
        "label.updated",
        "label.deleted",
        "relation.created",
        "relation.deleted",
        "comment.created",
        "comment.updated",
        "comment.deleted",
        "notification.created",
        "resumed",
        "error",
    }


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_every_message_the_consumer_sends_matches_the_document(
    member, other_member, login, settings, monkeypatch
):
    settings.WEBSOCKET_RECHECK_SECONDS = 60
    # The budget barely refills, however slowly a busy machine handles the flood below.
    monkeypatch.setattr(consumers, "MESSAGE_RATE", 0.01)
    received_schemas, sent_schemas = message_schemas("receive"), message_schemas("send")
    seen: dict[str, list[dict[str, Any]]] = {}
    tokens = await database_sync_to_async(login)(member)

    async def say(communicator: Any, message: Any) -> None:
        if isinstance(message, dict):
            errors = list(validator(sent_schemas[message["type"]]).iter_errors(message))
            assert not errors, (message, errors)
        text = message if isinstance(message, str) else json.dumps(message)
        await communicator.send_to(text_data=text)

    async def hear(communicator: Any) -> dict[str, Any]:
        output = await communicator.receive_output(3)
        assert output["type"] == "websocket.send", output
        message = json.loads(output["text"])
        errors = list(validator(received_schemas[message["type"]]).iter_errors(message))
        assert not errors, (message, [error.message for error in errors])
        seen.setdefault(message["type"], []).append(message)
        return message

    async def hear_types(communicator: Any, count: int) -> list[str]:
        """The types of the next `count` messages, sorted: one write's events."""
        return sorted([(await hear(communicator))["type"] for _ in range(count)])

    # Before the socket: its `project.created` comes with the resume below.
    project = await database_sync_to_async(projects.project_create)(actor=member, name="Documented")
    communicator = socket()
    await communicator.connect()
    try:
        await say(communicator, {"type": "auth", "token": tokens["access"]})
        assert (await hear(communicator))["type"] == "ready"
        await say(communicator, {"type": "ping"})
        await hear(communicator)
        await database_sync_to_async(projects.member_add)(
            actor=member, project_id=project.pk, identifier=other_member.username, role="member"
        )
        assert (await hear(communicator))["type"] == "project.member_added"
        task = await database_sync_to_async(services.task_create)(
            actor=member, title="Documented", description="in AsyncAPI", project=project
        )
        assert (await hear(communicator))["task"]["project"] == project.pk
        # Collaboration: a subtask that blocks its parent, a comment of the other member
        # mentioning this socket's user (their notification), each removed again.
        blocker = await database_sync_to_async(services.task_create)(
            actor=member, title="Blocker", project=project, parent=task.pk
        )
        assert await hear_types(communicator, 2) == ["task.created", "task.updated"]
        relation = await database_sync_to_async(services.relation_create)(
            actor=member, task=blocker, kind="blocks", other_id=task.pk
        )
        assert await hear_types(communicator, 2) == ["relation.created", "task.updated"]
        comment = await database_sync_to_async(comments.comment_create)(
            actor=other_member, task=task, body=f"Is @{member.username} on it?"
        )
        assert await hear_types(communicator, 2) == ["comment.created", "notification.created"]
        await database_sync_to_async(comments.comment_update)(
            actor=other_member, comment_id=comment.pk, body="Never mind."
        )
        assert (await hear(communicator))["type"] == "comment.updated"
        await database_sync_to_async(comments.comment_delete)(
            actor=other_member, comment_id=comment.pk
        )
        assert (await hear(communicator))["type"] == "comment.deleted"
        await database_sync_to_async(services.relation_delete)(
            actor=member, task=task, relation_id=relation.pk
        )
        assert await hear_types(communicator, 2) == ["relation.deleted", "task.updated"]
        await database_sync_to_async(services.task_delete)(actor=member, task_id=blocker.pk)
        assert await hear_types(communicator, 2) == ["task.deleted", "task.updated"]
        task = await database_sync_to_async(services.task_update)(
            actor=member, task_id=task.pk, data={"status": "completed", "assignee": other_member}
        )
        await hear(communicator)
        await database_sync_to_async(services.task_delete)(actor=member, task_id=task.pk)
        await hear(communicator)
        await database_sync_to_async(projects.project_update)(
            actor=member, project_id=project.pk, data={"name": "Renamed", "is_archived": False}
        )
        assert (await hear(communicator))["type"] == "project.updated"
        label = await database_sync_to_async(projects.label_create)(
            actor=member, project_id=project.pk, name="Bug", color="#AA0000"
        )
        await hear(communicator)
        await database_sync_to_async(projects.label_update)(
            actor=member, label_id=label.pk, data={"color": "#00aa00"}
        )
        await hear(communicator)
        await database_sync_to_async(projects.label_delete)(actor=member, label_id=label.pk)
        assert (await hear(communicator))["type"] == "label.deleted"
        for role in ("admin", "viewer"):
            await database_sync_to_async(projects.member_set_role)(
                actor=member, project_id=project.pk, user_id=other_member.pk, role=role
            )
            assert (await hear(communicator))["type"] == "project.member_role_changed"
        await database_sync_to_async(projects.member_remove)(
            actor=member, project_id=project.pk, user_id=other_member.pk
        )
        assert (await hear(communicator))["type"] == "project.member_removed"
        # Everything it has not sent yet (the projects' creation), then `resumed`.
        await say(communicator, {"type": "resume", "after": 0})
        resumed = [await hear(communicator)]
        while resumed[-1]["type"] != "resumed":
            resumed.append(await hear(communicator))
        assert [m["type"] for m in resumed] == ["project.created"] * 2 + ["resumed"]
        await database_sync_to_async(projects.project_delete)(actor=member, project_id=project.pk)
        assert (await hear(communicator))["type"] == "project.deleted"
        for bad in ("{not json", "[1]", '{"type": "teleport"}', '{"type": "resume"}'):
            await say(communicator, bad)
            await hear(communicator)
        # Past the message budget: pongs, then `throttled` errors (sent as fast as
        # possible: `say` validates, which is slow enough for the budget to refill).
        flood = consumers.MESSAGE_BURST + 10
        for _ in range(flood):
            await communicator.send_to(text_data='{"type": "ping"}')
        for _ in range(flood):
            await hear(communicator)
        await say(communicator, "x" * 5000)
        await hear(communicator)
        assert (await communicator.receive_output(3))["code"] == consumers.MESSAGE_TOO_BIG
    finally:
        await communicator.disconnect()

    # A resume that fails: the database down, then a bug.
    for failure in (OperationalError("connection refused"), RuntimeError("a bug")):

        def fail(*args: Any, failure: Exception = failure) -> None:
            raise failure

        monkeypatch.setattr(consumers, "missed_events", fail)
        failing = socket(token=tokens["access"])
        await failing.connect()
        try:
            await hear(failing)
            await say(failing, {"type": "resume", "after": 0})
            await hear(failing)
        finally:
            await failing.disconnect()

    # Refused: bad credentials, none, a personal token without the socket's scopes,
    # a foreign page, a path that is no socket.
    narrow = await database_sync_to_async(personal_token_create)(
        user=member, name="narrow", scopes=["tasks:read"], expires_at=None
    )
    for refused in (
        socket(token="not-a-token"),
        socket(token=narrow.raw),
        socket(origin="https://evil.example"),
        WebsocketCommunicator(application, "/ws/nothing-here/"),
    ):
        await refused.connect()
        try:
            await hear(refused)
        finally:
            await refused.disconnect()
    silent = socket()
    await silent.connect()
    try:
        await say(silent, {"type": "ping"})
        await hear(silent)
    finally:
        await silent.disconnect()

    assert set(seen) == set(received_schemas), set(received_schemas) - set(seen)
    error_schema = document()["components"]["schemas"]["Error"]["properties"]["error"]
    assert {error["error"]["code"] for error in seen["error"]} == set(
        error_schema["properties"]["code"]["enum"]
    )
