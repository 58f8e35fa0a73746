"""Hostile frames on /ws/tasks/ against real daphne: each is answered or closed with a
code the client sees on the wire, and none reaches the log as a traceback (daphne
turns a consumer's exception, or a close code it refuses, into 1011)."""

import contextlib
import json
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.e2e.servers import Server, migrate, production_env, register_and_login, serve

MESSAGE_TOO_BIG = 4413
FLOODING = 4429


@pytest.fixture(scope="module")
def daphne(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp_path = tmp_path_factory.mktemp("socket-frames")
    env = production_env(tmp_path)
    migrate(env)
    with serve("daphne", env, tmp_path) as server:
        yield server


def close_code(socket: ClientConnection) -> int | None:
    """Read until the server closes; the code of its close frame."""
    try:
        while True:
            socket.recv(timeout=10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def test_hostile_frames_close_with_documented_codes_and_no_traceback(daphne: Server):
    user = register_and_login(daphne)
    bearer = {"Authorization": f"Bearer {user['access']}"}

    # Too large before authentication.
    with connect(f"{daphne.ws_url}/ws/tasks/", open_timeout=10) as socket:
        socket.send("x" * 4097)
        too_large = json.loads(socket.recv(timeout=10))
        assert close_code(socket) == MESSAGE_TOO_BIG
    assert too_large["error"]["code"] == "payload_too_large", too_large

    # Nested past the parser's stack, a lone surrogate escape, a number past a double;
    # then text that is not UTF-8.
    with connect(f"{daphne.ws_url}/ws/tasks/", additional_headers=bearer) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "ready"
        for frame in ("[" * 2000 + "]" * 2000, '{"type": "\\ud800"}', '{"type": 1e999}'):
            socket.send(frame)
            error = json.loads(socket.recv(timeout=10))
            assert error["type"] == "error", (frame[:20], error)
            assert error["error"]["code"] == "parse_error", (frame[:20], error)
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv(timeout=10)) == {"type": "pong"}
        # daphne's WebSocket library drops the connection, without a close frame.
        socket.send(b'{"type": "ping\xff"}', text=True)
        assert close_code(socket) is None

    # Past daphne's own limit (16 KiB, realtime.server): refused before the application.
    # The server may drop the connection while the frame is still being sent.
    with connect(f"{daphne.ws_url}/ws/tasks/", additional_headers=bearer) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "ready"
        with contextlib.suppress(ConnectionClosed, OSError):
            socket.send("x" * (2 * 1024 * 1024))
        assert close_code(socket) in (None, 1009)

    # A flood, sent without reading the answers.
    with connect(f"{daphne.ws_url}/ws/tasks/", additional_headers=bearer) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "ready"
        try:
            for _ in range(2000):
                socket.send('{"type": "ping"}')
        except ConnectionClosed:
            pass
        assert close_code(socket) == FLOODING

    log = daphne.log()
    assert "Traceback" not in log, log
    assert '"code": 1011' not in log, log
