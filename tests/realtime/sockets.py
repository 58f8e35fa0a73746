"""Helpers for the `/ws/tasks/` consumer tests: open a socket through the project's
whole ASGI stack (origin check, authentication middleware, routing) and read it."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from activity.kinds import permission_key
from realtime import fanout
from realtime.channel_layers import CountingRedisChannelLayer
from taskmanager.asgi import application

WS_PATH = "/ws/tasks/"
UNAUTHORIZED = 4401
# Long enough for a busy CI machine, short enough that a missing message fails fast.
TIMEOUT = 3.0
# How long to wait before concluding that nothing arrives.
QUIET = 0.3
# The audience key of every manager's socket (tasks.view_any_task).
ALL_TASKS = permission_key("tasks.view_any_task")


def socket(
    *,
    token: str | None = None,
    query_token: str | None = None,
    cookie: str | None = None,
    origin: str | None = None,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> WebsocketCommunicator:
    """A communicator for /ws/tasks/ with the given credentials (none by default)."""
    all_headers = list(headers)
    if token is not None:
        all_headers.append((b"authorization", f"Bearer {token}".encode()))
    if cookie is not None:
        all_headers.append((b"cookie", f"sessionid={cookie}".encode()))
    if origin is not None:
        all_headers.append((b"origin", origin.encode()))
    path = WS_PATH if query_token is None else f"{WS_PATH}?token={query_token}"
    return WebsocketCommunicator(application, path, headers=all_headers)


async def receive(communicator: WebsocketCommunicator, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next JSON message; fails if the socket closes or nothing comes in time."""
    output = await communicator.receive_output(timeout)
    assert output["type"] == "websocket.send", output
    return json.loads(output["text"])


async def send(communicator: WebsocketCommunicator, message: Any) -> None:
    await communicator.send_to(text_data=json.dumps(message))


async def connected(communicator: WebsocketCommunicator) -> dict[str, Any]:
    """Connect and read the `ready` message of an authenticated socket."""
    accepted, _ = await communicator.connect(TIMEOUT)
    assert accepted
    ready = await receive(communicator)
    assert ready["type"] == "ready", ready
    return ready


def error_code(message: dict[str, Any]) -> str:
    """The code of an `error` message, checked to have the API's error shape."""
    assert message["type"] == "error", message
    assert set(message) == {"type", "error"}, message
    error = message["error"]
    assert set(error) == {"code", "message", "fields"}, message
    assert isinstance(error["message"], str) and error["message"], message
    assert isinstance(error["fields"], dict), message
    return str(error["code"])


async def assert_closed_unauthorized(
    communicator: WebsocketCommunicator,
    timeout: float = TIMEOUT,
    code: str = "authentication_failed",
) -> dict[str, Any]:
    """An error with the HTTP API's 401 code (`authentication_failed`: credentials
    refused; `not_authenticated`: none given), then the close with 4401. The error."""
    error = await receive(communicator, timeout)
    assert error_code(error) == code, error
    closing = await communicator.receive_output(timeout)
    assert closing == {"type": "websocket.close", "code": UNAUTHORIZED}, closing
    return dict(error["error"])


async def assert_silent(communicator: WebsocketCommunicator, wait: float = QUIET) -> None:
    """Nothing arrives (an event not meant for this socket)."""
    await asyncio.sleep(wait)
    assert await communicator.receive_nothing(timeout=0.05), "unexpected message"


async def next_of_type(
    communicator: WebsocketCommunicator, kind: str, timeout: float = TIMEOUT
) -> dict[str, Any]:
    message = await receive(communicator, timeout)
    assert message["type"] == kind, message
    return message


@asynccontextmanager
async def open_sockets(*tokens: dict[str, Any]) -> AsyncIterator[list[WebsocketCommunicator]]:
    """Connected, ready sockets authenticated with each tokens dict (`client.tokens`),
    disconnected on the way out whatever happens."""
    communicators: list[WebsocketCommunicator] = []
    try:
        for each in tokens:
            communicator = socket(token=each["access"])
            communicators.append(communicator)
            await connected(communicator)
        yield communicators
    finally:
        for communicator in communicators:
            await communicator.disconnect()


async def assert_all_silent(*communicators: WebsocketCommunicator, wait: float = QUIET) -> None:
    """Nothing arrives on any of them (one wait for all)."""
    await asyncio.sleep(wait)
    for communicator in communicators:
        assert await communicator.receive_nothing(timeout=0.01), "unexpected message"


def layer_message(event_id: int, **numbering: Any) -> dict[str, Any]:
    """An event for every manager's socket, as realtime.sending sends it."""
    return {
        "type": fanout.EVENT_MESSAGE_TYPE,
        "groups": [ALL_TASKS],
        "message": {
            "type": "task.updated",
            "event": event_id,
            "task": {"id": 1, "title": f"Version {event_id}"},
            "changes": {},
            "actor": 1,
            "at": "2026-11-21T12:00:00Z",
        },
        **numbering,
    }


def batch_message(*event_ids: int, **numbering: Any) -> dict[str, Any]:
    """Events of one batch (a bulk change) in one layer message, as realtime.sending
    sends them."""
    return {
        "type": fanout.EVENT_MESSAGE_TYPE,
        "events": [
            {"groups": one["groups"], "message": one["message"]}
            for one in map(layer_message, event_ids)
        ],
        **numbering,
    }


def on_layer_sends(
    monkeypatch: pytest.MonkeyPatch, hook: Callable[[str, dict[str, Any]], bool]
) -> None:
    """Calls `hook(group, message)` before each send realtime.sending makes through
    the layer in use (the script's arguments on channels-redis, `group_send` in
    memory); the send goes ahead when it returns True, else it is lost (on Redis: sent
    to a group no one is in)."""
    layer = get_channel_layer()
    if isinstance(layer, CountingRedisChannelLayer):
        arguments = layer._group_send_arguments

        def hooked(group: str, message: dict[str, Any]) -> tuple[list[str], list[Any]]:
            keys, args = arguments(group, message)
            return (keys, args) if hook(group, message) else ([f"{keys[0]}:lost"], args)

        monkeypatch.setattr(layer, "_group_send_arguments", hooked)
        return
    group_send = layer.group_send

    async def send(group: str, message: dict[str, Any]) -> None:
        if hook(group, message):
            await group_send(group, message)

    monkeypatch.setattr(layer, "group_send", send)


@contextmanager
def loop_turns() -> Iterator[Callable[[], int]]:
    """How many turns the running event loop has taken since the block began: a
    callback that queues itself again on every turn counts them."""
    loop = asyncio.get_running_loop()
    turns, counting = 0, True

    def count() -> None:
        nonlocal turns
        turns += 1
        if counting:
            loop.call_soon(count)

    loop.call_soon(count)
    try:
        yield lambda: turns
    finally:
        counting = False
