"""API10:2023 Unsafe Consumption of APIs.

The service consumes three things it did not receive from the client: messages
from the channel layer (Redis), entries of the cache (Redis) and bytes from file
storage (disk or S3). Each may be malformed, corrupt or missing; none of that may
crash a socket or a request (500), leak, or be passed on as if it were valid.
"""

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core.cache import cache

import taskmanager.throttles
from accounts import auth_cache
from activity.kinds import user_key
from realtime.fanout import EVENT_MESSAGE_TYPE, EVENTS_GROUP
from tasks import caching
from tasks.services import task_update
from tests.helpers import ME_URL, claims, download_url, file_url, upload
from tests.realtime.sockets import QUIET, open_sockets, receive, send

# --- channel layer -------------------------------------------------------------------

VALID_AT = "2026-01-01T00:00:00Z"


def event_of(**fields: Any) -> dict[str, Any]:
    """A task event message as the socket would send it, with `fields` changed."""
    valid = {
        "type": "task.updated",
        "event": 9000,
        "task": {"id": 1},
        "changes": {},
        "actor": 1,
        "at": VALID_AT,
    }
    return {**valid, **fields}


# Layer messages as they reach a process's fan-out (realtime.sending.send sends
# `{"type", "groups", "message"}`); "{group}" is the member's own group.
MALFORMED_LAYER_MESSAGES: dict[str, dict[str, Any]] = {
    "no message": {"groups": ["{group}"]},
    "message is null": {"groups": ["{group}"], "message": None},
    "message is text": {"groups": ["{group}"], "message": "task.updated"},
    "message is a list": {"groups": ["{group}"], "message": [1, 2]},
    "no groups": {"message": event_of()},
    "groups is text": {"groups": "{group}", "message": event_of()},
    "a group is not text": {"groups": ["{group}", 7], "message": event_of()},
    "no event id": {"groups": ["{group}"], "message": event_of(event=None)},
    "event id is a list": {"groups": ["{group}"], "message": event_of(event=[1])},
    "event id is text": {"groups": ["{group}"], "message": event_of(event="7")},
    "event id is negative": {"groups": ["{group}"], "message": event_of(event=-1)},
    "event id is a boolean": {"groups": ["{group}"], "message": event_of(event=True)},
    "unknown event type": {"groups": ["{group}"], "message": event_of(type="session.token")},
    "task is not an object": {"groups": ["{group}"], "message": event_of(task="x")},
    "changes is not an object": {"groups": ["{group}"], "message": event_of(changes=[1])},
    "an unexpected field": {
        "groups": ["{group}"],
        "message": event_of(event=9003, password_hash="md5$leak"),
    },
}


def addressed(message: dict[str, Any], group: str) -> dict[str, Any]:
    groups = message.get("groups")
    if isinstance(groups, list):
        groups = [g.format(group=group) if isinstance(g, str) else g for g in groups]
    elif isinstance(groups, str):
        groups = groups.format(group=group)
    return {**message, "groups": groups} if "groups" in message else dict(message)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("name", sorted(MALFORMED_LAYER_MESSAGES))
async def test_a_malformed_channel_layer_message_is_dropped_and_the_socket_lives_on(
    name, member, member_client, task
):
    layer = get_channel_layer()
    layer_message = addressed(MALFORMED_LAYER_MESSAGES[name], user_key(member.pk))
    async with open_sockets(member_client.tokens) as (socket,):
        await layer.group_send(EVENTS_GROUP, {"type": EVENT_MESSAGE_TYPE, **layer_message})
        # The socket still answers.
        await send(socket, {"type": "ping"})
        assert await receive(socket) == {"type": "pong"}
        # The next thing it is sent is a genuine event: the malformed one never came.
        await database_sync_to_async(task_update)(
            actor=member, task_id=task.pk, data={"title": "New"}
        )
        message = await receive(socket)
        assert message["type"] == "task.updated", message
        assert isinstance(message["task"], dict), message
        assert message["task"].get("id") == task.pk, message
        assert await socket.receive_nothing(timeout=QUIET)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_a_well_formed_layer_message_does_reach_the_socket(member, member_client, task):
    # The control for the test above: the injection path reaches the socket.
    layer = get_channel_layer()
    message = event_of(event=9100, task={"id": task.pk})
    async with open_sockets(member_client.tokens) as (socket,):
        await layer.group_send(
            EVENTS_GROUP,
            {
                "type": EVENT_MESSAGE_TYPE,
                "groups": [user_key(member.pk)],
                "message": message,
            },
        )

        assert await receive(socket) == message


# --- cache ---------------------------------------------------------------------------

# What another release, another application sharing the Redis, or a partial write may
# leave under a key: text, a number, an object of another shape.
GARBAGE = ["garbage", 42, {"unexpected": True}]


def _session_key_of(client: Any) -> str:
    return auth_cache.session_key(claims(client.tokens["access"])["sid"])


@pytest.mark.parametrize(
    "value", [*GARBAGE, {"ended": False}, {"ended": False, "expires_at": "2999-01-01"}]
)
def test_a_corrupt_session_entry_is_ignored(value, member_client):
    cache.set(_session_key_of(member_client), value, 60)

    response = member_client.get(ME_URL)

    # The database, the source of truth, says the session is live.
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("value", [*GARBAGE, {"is_active": True}])
def test_a_corrupt_user_entry_is_ignored(value, member_client, member):
    cache.set(auth_cache.user_key(member.pk), value, 60)

    response = member_client.get(ME_URL)

    assert response.status_code == 200, response.content
    assert response.json()["id"] == member.pk


def test_a_corrupt_ended_session_entry_never_lets_a_revoked_token_back_in(member_client, committed):
    with committed():
        assert member_client.post("/api/v1/auth/logout/").status_code == 204
    cache.set(_session_key_of(member_client), "garbage", 60)

    response = member_client.get(ME_URL)

    assert response.status_code == 401


def _list_key(member: Any, url: str) -> str:
    return caching.entry_key(member.pk, "list", url)


@pytest.mark.parametrize("value", GARBAGE)
def test_a_corrupt_cached_task_list_is_recomputed(value, member_client, member, task):
    cache.set(_list_key(member, "http://testserver/api/v1/tasks/"), value, 60)

    response = member_client.get("/api/v1/tasks/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert isinstance(body, dict), f"the cached garbage was served: {body!r}"
    assert [item["id"] for item in body["results"]] == [task.pk]


@pytest.mark.parametrize("value", GARBAGE)
def test_corrupt_cached_statistics_are_recomputed(value, member_client, member, task):
    cache.set(caching.entry_key(member.pk, "statistics", ""), value, 60)

    response = member_client.get("/api/v1/tasks/statistics/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert isinstance(body, dict), f"the cached garbage was served: {body!r}"
    assert body["total"] == 1


@pytest.mark.parametrize("value", ["garbage", [1], 1.5])
def test_a_corrupt_version_counter_does_not_freeze_a_users_list(
    value, member_client, member, task, committed
):
    cache.set(caching._version_key(f"user:{member.pk}"), value, None)
    assert member_client.get("/api/v1/tasks/").status_code == 200  # cached under it

    with committed():
        created = member_client.post("/api/v1/tasks/", {"title": "Fresh"}, format="json")
    assert created.status_code == 201
    listed = member_client.get("/api/v1/tasks/")

    assert listed.status_code == 200
    assert created.json()["id"] in [item["id"] for item in listed.json()["results"]]


@pytest.mark.parametrize("value", ["garbage", [1], {"count": 1}])
def test_a_corrupt_throttle_counter_does_not_fail_the_request(value, member_client, member):
    window_start = int(taskmanager.throttles.time.time() // 60) * 60  # the throttles' clock
    cache.set(f"throttle:read:user:{member.pk}:{window_start}", value, 120)

    response = member_client.get("/api/v1/tasks/")

    assert response.status_code == 200, response.content


# --- file storage --------------------------------------------------------------------


def _stored(media_root: Any, file_id: int) -> Any:
    from files.models import File

    return media_root / File.objects.get(pk=file_id).storage_name


def test_a_file_whose_bytes_are_gone_is_404_or_410_not_an_error(member_client, media_root):
    body = upload(member_client, "png")
    _stored(media_root, body["id"]).unlink()

    response = member_client.get(download_url(body))

    assert response.status_code in (404, 410), response.content
    assert set(response.json()) == {"error"}
    assert response.json()["error"]["code"] in ("not_found", "gone")


def test_a_file_whose_bytes_are_gone_can_still_be_deleted(member_client, media_root, committed):
    body = upload(member_client, "png")
    _stored(media_root, body["id"]).unlink()

    with committed():
        response = member_client.delete(file_url(body))

    assert response.status_code == 204
    assert member_client.get(file_url(body)).status_code == 404


@pytest.mark.parametrize("change", ["longer", "shorter"])
def test_a_download_never_sends_more_or_fewer_bytes_than_it_announces(
    change, member_client, media_root
):
    body = upload(member_client, "png")
    path = _stored(media_root, body["id"])
    content = path.read_bytes()
    path.write_bytes(content + b"X" * 4096 if change == "longer" else content[:10])

    response = member_client.get(download_url(body))

    if response.status_code == 200:
        sent = b"".join(response.streaming_content)
        assert len(sent) == int(response["Content-Length"])
    else:
        assert 400 <= response.status_code < 600 and response.status_code != 500
