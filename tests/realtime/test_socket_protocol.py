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
from realtime.frames import FRAME_KEY, send_message, text_frame
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


@contextlib.asynccontextmanager
async def socket_server(
    talk: Callable[[Send], Awaitable[None]], deflate: bool = False
) -> AsyncIterator[tuple[str, list[BaseException]]]:
    """A uvicorn server on the production protocol whose application accepts a socket
    and calls `talk` with its `send`; what `talk` raised is in the list."""
    raised: list[BaseException] = []

    async def application(scope: dict[str, Any], receive: Any, send: Send) -> None:
        assert scope["type"] == "websocket"
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


async def test_with_compression_negotiated_the_text_is_framed_and_compressed():
    """A compressed socket's frame differs from the shared one: uvicorn frames the text."""

    async def talk(send: Send) -> None:
        await send({"type": "websocket.send", "text": "text", FRAME_KEY: text_frame("frame")})

    async with (
        socket_server(talk, deflate=True) as (url, raised),
        connect(url, compression="deflate") as client,
    ):
        assert await asyncio.wait_for(client.recv(), 5) == "text"
    assert raised == []


async def test_after_the_close_a_framed_send_fails_as_uvicorns_own_does():
    async def talk(send: Send) -> None:
        await send({"type": "websocket.close", "code": 4000})
        for message in (
            {"type": "websocket.send", "text": "late", FRAME_KEY: text_frame("late")},
            {"type": "websocket.send", "text": "late"},
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
