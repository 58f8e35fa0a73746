"""The production socket process: uvicorn through realtime.socket_server, serving
taskmanager.asgi:socket_application (docs/decisions/socket-server.md).

Real server processes on free ports, real sockets: a socket authenticates (by header,
by its first message, by ?token= without the token reaching the log) and receives
an event caused through gunicorn; with two worker processes on one port, every
socket on either gets every event. What daphne's realtime.server guaranteed too (no
message past 16 KiB read, HTTP bodies past HTTP_MAX_BODY_BYTES refused unread, no API
route served) is tested under both servers in tests/e2e/test_socket_process_http.py.
"""

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from realtime import server as daphne_server
from realtime.socket_server import (
    PING_INTERVAL,
    PING_TIMEOUT,
    WEBSOCKET_MAX_MESSAGE_BYTES,
    metrics_directory,
    uvicorn_settings,
)
from tests.e2e.servers import (
    DATABASE_URL,
    REDIS_URL,
    Server,
    migrate,
    postgres_database,
    production_env,
    register_and_login,
    serve,
)

pytestmark = pytest.mark.e2e


# --- the settings ---------------------------------------------------------------------


def test_the_socket_process_keeps_daphnes_limits():
    settings = uvicorn_settings("127.0.0.1", 8001, 2, "127.0.0.1")

    assert WEBSOCKET_MAX_MESSAGE_BYTES == daphne_server.WEBSOCKET_MAX_MESSAGE_BYTES == 16 * 1024
    assert settings["ws_max_size"] == WEBSOCKET_MAX_MESSAGE_BYTES
    assert (settings["ws_ping_interval"], settings["ws_ping_timeout"]) == (20, 30)
    assert (PING_INTERVAL, PING_TIMEOUT) == (20, 30)
    assert settings["proxy_headers"] is True
    assert settings["access_log"] is False
    assert settings["ws"] == "realtime.socket_protocol:FramedEventsProtocol"
    assert settings["ws_per_message_deflate"] is False
    assert settings["workers"] == 2


def test_several_workers_get_a_fresh_metrics_directory_and_one_gets_none():
    directory = metrics_directory(2)

    assert directory is not None
    assert list(Path(directory).iterdir()) == []
    assert metrics_directory(1) is None
    Path(directory).rmdir()


# --- real processes -------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Production settings on a database of this module's own and the shared Redis:
    the events go from gunicorn to the socket processes through it."""
    if not (DATABASE_URL.startswith("postgres") and REDIS_URL):
        pytest.skip("needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    tmp_path = tmp_path_factory.mktemp("socket-server")
    with postgres_database(DATABASE_URL) as database_url:
        env = production_env(
            tmp_path,
            DATABASE_URL=database_url,
            REDIS_URL=REDIS_URL,
            LOG_LEVEL="INFO",
        )
        migrate(env)
        yield env


@pytest.fixture(scope="module")
def http_server(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    with serve("gunicorn", env, tmp_path_factory.mktemp("logs")) as server:
        yield server


@pytest.fixture(scope="module")
def ws_server(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    with serve("uvicorn-socket", env, tmp_path_factory.mktemp("logs"), workers=1) as server:
        yield server


def open_socket(server: Server, access: str | None = None, query: str = "") -> ClientConnection:
    headers = {"Authorization": f"Bearer {access}"} if access else None
    return connect(f"{server.ws_url}/ws/tasks/{query}", additional_headers=headers, open_timeout=10)


def next_message(socket_: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    return dict(json.loads(socket_.recv(timeout=timeout)))


def create_task(server: Server, access: str, title: str) -> dict[str, Any]:
    response = requests.post(
        f"{server.base_url}/api/v1/tasks/",
        json={"title": title},
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_socket_authenticates_by_header_and_receives_an_event(http_server, ws_server):
    owner = register_and_login(http_server)
    with open_socket(ws_server, owner["access"]) as socket_:
        assert next_message(socket_) == {"type": "ready", "user": owner["id"]}
        created = create_task(http_server, owner["access"], "Through uvicorn")

        message = next_message(socket_)

    assert message["type"] == "task.created"
    assert message["task"] == created


def test_a_bulk_changes_events_arrive_in_order_written_together(http_server, ws_server):
    """A bulk change's events travel in one layer message and leave for each socket in
    one write (realtime.fanout, realtime.socket_protocol): a real client reads each."""
    owner = register_and_login(http_server)
    created = [create_task(http_server, owner["access"], f"Bulk {n}") for n in range(3)]
    with open_socket(ws_server, owner["access"]) as socket_:
        assert next_message(socket_)["type"] == "ready"
        response = requests.post(
            f"{http_server.base_url}/api/v1/tasks/bulk/",
            json={"ids": [task["id"] for task in created], "set": {"status": "in_progress"}},
            headers={"Authorization": f"Bearer {owner['access']}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text

        messages = [next_message(socket_) for _ in created]

    assert [(m["type"], m["task"]["id"]) for m in messages] == [
        ("task.updated", task["id"]) for task in created
    ]
    assert all(m["task"]["status"] == "in_progress" for m in messages)
    assert [m["event"] for m in messages] == sorted(m["event"] for m in messages)


def test_a_socket_authenticates_by_its_first_message_and_pings(http_server, ws_server):
    owner = register_and_login(http_server)
    with open_socket(ws_server) as socket_:
        socket_.send(json.dumps({"type": "auth", "token": owner["access"]}))
        assert next_message(socket_)["type"] == "ready"
        socket_.send(json.dumps({"type": "ping"}))

        assert next_message(socket_) == {"type": "pong"}


def test_a_wrong_token_is_refused_with_4401(ws_server):
    with open_socket(ws_server) as socket_:
        socket_.send(json.dumps({"type": "auth", "token": "not-a-token"}))
        error = next_message(socket_)
        with pytest.raises(ConnectionClosed) as closed:
            socket_.recv(timeout=10)

    assert error["type"] == "error"
    assert error["error"]["code"] == "authentication_failed"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_a_token_in_the_query_string_never_reaches_the_log(http_server, ws_server):
    owner = register_and_login(http_server)
    with open_socket(ws_server, query=f"?token={owner['access']}") as socket_:
        assert next_message(socket_)["type"] == "ready"
    time.sleep(0.5)

    log = ws_server.log()
    assert "websocket authenticated" in log  # the application's own line is written
    assert owner["access"] not in log
    assert owner["access"].split(".")[-1] not in log


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:"):
            inodes.add(target)
    return inodes


def worker_pids(server: Server) -> list[int]:
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    pids = [int(pid) for pid in children.read_text().split()]
    # uvicorn's workers, not multiprocessing's resource tracker.
    return [
        pid for pid in pids if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def test_two_processes_on_one_port_each_send_every_event(
    env: dict[str, str], http_server, tmp_path_factory: pytest.TempPathFactory
):
    """Sockets spread over both workers (the kernel gives each accepted connection to
    one of them); every socket on either gets every event."""
    owner = register_and_login(http_server)
    with (
        serve("uvicorn-socket", env, tmp_path_factory.mktemp("logs"), workers=2) as server,
        ExitStack() as stack,
    ):
        workers = worker_pids(server)
        assert len(workers) == 2
        before = {pid: socket_inodes(pid) for pid in workers}
        sockets: list[ClientConnection] = []
        # Until each worker holds some of them (or a hundred sockets).
        while len(sockets) < 100:
            socket_ = stack.enter_context(open_socket(server, owner["access"]))
            assert next_message(socket_)["type"] == "ready"
            sockets.append(socket_)
            held = {pid: len(socket_inodes(pid) - before[pid]) for pid in workers}
            if len(sockets) >= 8 and all(held.values()):
                break
        assert all(held.values()), held
        created = [create_task(http_server, owner["access"], f"Both {n}") for n in range(3)]

        received = [[next_message(socket_) for _ in created] for socket_ in sockets]

    # Events from separate requests may come in either order; each comes once.
    for messages in received:
        assert sorted(message["task"]["id"] for message in messages) == sorted(
            task["id"] for task in created
        )


# --- a client that stops reading ------------------------------------------------------


async def test_a_socket_whose_send_waits_holds_back_no_other_socket():
    """uvicorn's send waits while a socket's write buffer is full (its client stopped
    reading): the fan-out goes on to the next socket, and the waiting socket's frames
    leave in order once its client reads again."""
    from realtime.consumers import TaskEventConsumer

    client_reads = asyncio.Event()
    sent: dict[str, list[str]] = {"slow": [], "other": []}

    def consumer(name: str, waits: bool) -> TaskEventConsumer:
        async def server_send(message: dict[str, Any]) -> None:
            if waits:
                await client_reads.wait()
            sent[name].append(message["text"])

        socket_ = TaskEventConsumer()
        socket_.base_send = server_send
        socket_.held = None
        return socket_

    slow, other = consumer("slow", waits=True), consumer("other", waits=False)
    for event_id in (1, 2):
        for socket_ in (slow, other):
            await asyncio.wait_for(socket_.deliver(event_id, f"event {event_id}"), 1)
    await slow.send_json({"type": "pong"})

    assert sent == {"slow": [], "other": ["event 1", "event 2"]}
    client_reads.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert sent["slow"] == ["event 1", "event 2", '{"type": "pong"}']
    assert slow.backlog is None


async def test_a_socket_closing_while_its_send_waits_drops_what_waits():
    from realtime.consumers import TaskEventConsumer

    never = asyncio.Event()

    async def server_send(message: dict[str, Any]) -> None:
        await never.wait()

    socket_ = TaskEventConsumer()
    socket_.base_send = server_send
    socket_.held = None
    await socket_.deliver(1, "event 1")
    assert socket_.backlog == [] and len(socket_.background) == 1
    await asyncio.sleep(0)

    for task in socket_.background:
        task.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    assert socket_.backlog is None and not socket_.background
