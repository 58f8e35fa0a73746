"""The fan-out frames an event once and hands every socket that frame beside the text;
the socket server's protocol writes the frame as it is, and leaves every other message
to uvicorn (realtime.frames, realtime.fanout, realtime.socket_protocol).

The protocol's tests run a real uvicorn server in the test's loop, on a free port, with
a small ASGI application that sends what each test asks; a real `websockets` client
reads it.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.protocol import State
from websockets.server import ServerProtocol

from realtime import consumers, fanout
from realtime.frames import (
    FRAME_KEY,
    FRAMES_EXTENSION,
    TEXTS_KEY,
    frames_message,
    send_message,
    text_frame,
)
from realtime.socket_server import WS_PROTOCOLS
from tests.realtime.sockets import ALL_TASKS, layer_message

Send = Callable[[dict[str, Any]], Awaitable[None]]


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 100_000])
def test_a_text_frame_is_the_frame_websockets_makes_for_the_text(size):
    """Each of the three lengths RFC 6455 encodes (7 bits, 16, 64) and their edges."""
    text = ("é" * size)[: size // 2] + "x" * (size - size // 2)
    server = ServerProtocol()
    server.state = State.OPEN
    server.send_text(text.encode())

    assert text_frame(text) == b"".join(server.data_to_send())


def test_the_message_carries_the_frame_only_when_there_is_one():
    assert send_message("a", None) == {"type": "websocket.send", "text": "a"}
    assert send_message("a", b"f") == {"type": "websocket.send", "text": "a", FRAME_KEY: b"f"}


async def test_an_event_is_framed_once_and_every_socket_gets_that_frame_with_its_text():
    """The socket server writes the frame as it is (realtime.socket_protocol): it must
    be the frame of the very text every socket is handed."""
    handed: list[tuple[str, bytes | None]] = []

    class Socket:
        async def deliver(self, event_id: int, text: str, frame: bytes | None = None) -> None:
            handed.append((text, frame))

    receiver = fanout.LocalFanout()
    receiver._members[ALL_TASKS] = {Socket() for _ in range(3)}
    await receiver._dispatch(layer_message(7))

    texts = {text for text, _ in handed}
    assert len(handed) == 3 and len(texts) == 1
    (text,) = texts
    assert json.loads(text)["event"] == 7
    assert {frame for _, frame in handed} == {text_frame(text)}
    # One bytes object for all: framed once, not per socket.
    assert len({id(frame) for _, frame in handed}) == 1


async def test_a_socket_hands_the_frame_to_the_server_beside_the_text():
    sent: list[dict[str, Any]] = []

    async def server_send(message: dict[str, Any]) -> None:
        sent.append(message)

    socket_ = consumers.TaskEventConsumer()
    socket_.base_send = server_send
    socket_.held = None
    await socket_.deliver(1, "event 1", text_frame("event 1"))
    await socket_.deliver(2, "event 2")

    assert sent == [
        {"type": "websocket.send", "text": "event 1", FRAME_KEY: text_frame("event 1")},
        {"type": "websocket.send", "text": "event 2"},
    ]


def test_several_frames_travel_in_one_message_beside_their_texts():
    assert frames_message(["a", "b"], [b"fa", b"fb"]) == {
        "type": "websocket.send",
        TEXTS_KEY: ["a", "b"],
        FRAME_KEY: b"fafb",
    }


def consumer(extensions: dict[str, Any] | None) -> tuple[consumers.TaskEventConsumer, list[Any]]:
    """A socket past its `ready`, on a server whose scope has `extensions`; the list
    fills with what it hands the server."""
    sent: list[dict[str, Any]] = []

    async def server_send(message: dict[str, Any]) -> None:
        sent.append(message)

    socket_ = consumers.TaskEventConsumer()
    socket_.scope = {"type": "websocket", "path": "/ws/tasks/"}
    if extensions is not None:
        socket_.scope["extensions"] = extensions
    socket_.base_send = server_send
    socket_.held = None
    return socket_, sent


def batch(*event_ids: int) -> list[tuple[int, str, bytes | None]]:
    return [
        (event_id, f"event {event_id}", text_frame(f"event {event_id}")) for event_id in event_ids
    ]


async def test_a_socket_hands_a_batch_to_a_server_that_takes_it_in_one_message():
    socket_, sent = consumer({FRAMES_EXTENSION: {}})
    await socket_.deliver(1, "event 1", text_frame("event 1"))
    await socket_.deliver_many(batch(1, 2, 3))  # 1 was sent already

    assert sent == [
        send_message("event 1", text_frame("event 1")),
        frames_message(["event 2", "event 3"], [text_frame("event 2"), text_frame("event 3")]),
    ]


@pytest.mark.parametrize("extensions", [None, {}, {"websocket.http.response": {}}])
async def test_another_server_gets_a_message_per_event(extensions):
    socket_, sent = consumer(extensions)
    await socket_.deliver_many(batch(1, 2))

    assert sent == [
        send_message("event 1", text_frame("event 1")),
        send_message("event 2", text_frame("event 2")),
    ]


async def test_a_batch_of_one_new_event_or_one_without_frames_is_sent_event_by_event():
    socket_, sent = consumer({FRAMES_EXTENSION: {}})
    await socket_.deliver(1, "event 1")
    await socket_.deliver_many(batch(1, 2))
    await socket_.deliver_many([(3, "event 3", text_frame("event 3")), (4, "event 4", None)])

    assert sent == [
        send_message("event 1", None),
        send_message("event 2", text_frame("event 2")),
        send_message("event 3", text_frame("event 3")),
        send_message("event 4", None),
    ]


async def test_a_batch_is_held_while_the_socket_is_not_ready_and_sent_after():
    socket_, sent = consumer({FRAMES_EXTENSION: {}})
    socket_.held = []
    socket_.sent.add(2)
    await socket_.deliver_many(batch(1, 2, 3))
    assert sent == []

    await socket_.release_held()

    assert [message["text"] for message in sent] == ["event 1", "event 3"]


async def test_a_closing_socket_takes_no_batch():
    socket_, sent = consumer({FRAMES_EXTENSION: {}})
    socket_.closing = True
    await socket_.deliver_many(batch(1, 2))
    assert sent == []


@contextlib.asynccontextmanager
async def socket_server(
    talk: Callable[[Send], Awaitable[None]], deflate: bool = False
) -> AsyncIterator[tuple[str, list[BaseException]]]:
    """A uvicorn server on the production protocol whose application accepts a socket
    and calls `talk` with its `send`; what `talk` raised is in the list."""
    raised: list[BaseException] = []

    async def application(scope: dict[str, Any], receive: Any, send: Send) -> None:
        assert scope["type"] == "websocket"
        assert FRAMES_EXTENSION in scope["extensions"]
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        try:
            await talk(send)
        except Exception as exc:
            raised.append(exc)
        while (await receive())["type"] != "websocket.disconnect":
            pass

    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=0,
        ws=WS_PROTOCOLS["framed"],
        ws_per_message_deflate=deflate,
        lifespan="off",
        log_level="warning",
        loop="asyncio",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/", raised
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


async def test_the_frame_is_written_as_the_fan_out_framed_it():
    """The client reads the frame's text, not the message's `text`: the frame was
    written, not framed again. A message without a frame is framed from its text."""

    async def talk(send: Send) -> None:
        await send({"type": "websocket.send", "text": "text", FRAME_KEY: text_frame("frame")})
        await send({"type": "websocket.send", "text": "only text"})

    async with socket_server(talk) as (url, raised), connect(url) as client:
        assert await asyncio.wait_for(client.recv(), 5) == "frame"
        assert await asyncio.wait_for(client.recv(), 5) == "only text"
    assert raised == []


async def test_frames_in_one_message_are_written_as_they_are_in_order():
    """The frames' texts arrive, not the texts beside them: the bytes were written as
    given, one frame after the other."""
    texts = ["text 1", "text 2", "text 3"]
    frames = [text_frame(f"frame {n}") for n in (1, 2, 3)]

    async def talk(send: Send) -> None:
        await send(frames_message(texts, frames))
        await send({"type": "websocket.send", "text": "after"})

    async with socket_server(talk) as (url, raised), connect(url) as client:
        received = [await asyncio.wait_for(client.recv(), 5) for _ in range(4)]
    assert received == ["frame 1", "frame 2", "frame 3", "after"]
    assert raised == []


async def test_with_compression_negotiated_the_text_is_framed_and_compressed():
    """A compressed socket's frame differs from the shared one: uvicorn frames the text."""

    async def talk(send: Send) -> None:
        await send({"type": "websocket.send", "text": "text", FRAME_KEY: text_frame("frame")})
        await send(frames_message(["text 1", "text 2"], [text_frame("f1"), text_frame("f2")]))

    async with (
        socket_server(talk, deflate=True) as (url, raised),
        connect(url, compression="deflate") as client,
    ):
        received = [await asyncio.wait_for(client.recv(), 5) for _ in range(3)]
    assert received == ["text", "text 1", "text 2"]
    assert raised == []


async def test_after_the_close_a_framed_send_fails_as_uvicorns_own_does():
    async def talk(send: Send) -> None:
        await send({"type": "websocket.close", "code": 4000})
        for message in (
            {"type": "websocket.send", "text": "late", FRAME_KEY: text_frame("late")},
            {"type": "websocket.send", "text": "late"},
            frames_message(["late 1", "late 2"], [text_frame("late 1"), text_frame("late 2")]),
        ):
            with pytest.raises(RuntimeError, match=r"after sending 'websocket\.close'"):
                await send(message)

    async with socket_server(talk) as (url, raised), connect(url) as client:
        await asyncio.wait_for(client.wait_closed(), 5)
        assert client.close_code == 4000
    assert raised == []


async def test_a_client_that_reads_late_gets_every_frame_in_order():
    """Frames past the socket's write buffer wait for the client to read (uvicorn's
    flow control), then leave in the order they were sent."""
    count, payload = 300, "x" * 65_000
    sent = asyncio.Event()

    async def talk(send: Send) -> None:
        for number in range(count):
            text = f"{number:03d}{payload}"
            await send({"type": "websocket.send", "text": text, FRAME_KEY: text_frame(text)})
        sent.set()

    async with socket_server(talk) as (url, raised), connect(url, max_size=None) as client:
        await asyncio.sleep(0.5)
        # 19.5 MB is past what the kernel and uvicorn buffer for an idle client.
        assert not sent.is_set()
        received = [await asyncio.wait_for(client.recv(), 5) for _ in range(count)]
        await asyncio.wait_for(sent.wait(), 5)
    assert [text[:3] for text in received] == [f"{number:03d}" for number in range(count)]
    assert all(text[3:] == payload for text in received)
    assert raised == []
