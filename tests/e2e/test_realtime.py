"""Real time over the network: real server processes, real sockets (the `websockets`
client, as in docs/realtime.md), PostgreSQL and Redis shared between the processes."""

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.sync.client import ClientConnection, connect

from tests.e2e.servers import (
    DATABASE_URL,
    PASSWORD,
    REDIS_URL,
    Server,
    connections_to,
    migrate,
    needs_postgres_and_redis,
    postgres_database,
    production_env,
    register_and_login,
    serve,
)


@pytest.fixture(scope="module")
def shared_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Production settings on a database of this module's own and the shared Redis."""
    if not (DATABASE_URL.startswith("postgres") and REDIS_URL):
        pytest.skip("needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    tmp_path = tmp_path_factory.mktemp("realtime")
    with postgres_database(DATABASE_URL) as database_url:
        env = production_env(tmp_path, DATABASE_URL=database_url, REDIS_URL=REDIS_URL)
        migrate(env)
        yield env


@pytest.fixture(scope="module")
def http_server(shared_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    with serve("gunicorn", shared_env, tmp_path_factory.mktemp("logs")) as server:
        yield server


@pytest.fixture(scope="module")
def ws_server(shared_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    with serve("daphne", shared_env, tmp_path_factory.mktemp("logs")) as server:
        yield server


@contextmanager
def open_socket(server: Server, access: str) -> Iterator[ClientConnection]:
    """A socket authenticated with the Bearer header, past its `ready` message."""
    with connect(
        f"{server.ws_url}/ws/tasks/",
        additional_headers={"Authorization": f"Bearer {access}"},
        open_timeout=10,
    ) as socket:
        ready = json.loads(socket.recv(timeout=10))
        assert ready["type"] == "ready", ready
        yield socket


def create_task(server: Server, access: str, title: str) -> dict[str, Any]:
    response = requests.post(
        f"{server.base_url}/api/v1/tasks/",
        json={"title": title},
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def next_message(socket: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    return json.loads(socket.recv(timeout=timeout))


@needs_postgres_and_redis
def test_an_event_caused_on_one_process_reaches_a_socket_on_another(http_server, ws_server):
    owner = register_and_login(http_server)
    with open_socket(ws_server, owner["access"]) as socket:
        created = create_task(http_server, owner["access"], "Crosses processes")

        message = next_message(socket)

    assert message["type"] == "task.created"
    assert message["task"] == created
    feed = requests.get(
        f"{http_server.base_url}/api/v1/tasks/events/",
        headers={"Authorization": f"Bearer {owner['access']}"},
        timeout=10,
    ).json()
    assert [event["id"] for event in feed["results"]] == [message["event"]]


@needs_postgres_and_redis
def test_a_socket_resumes_what_it_missed_while_disconnected(http_server, ws_server):
    owner = register_and_login(http_server)
    with open_socket(ws_server, owner["access"]) as socket:
        create_task(http_server, owner["access"], "Seen")
        seen = next_message(socket)
    missed = [create_task(http_server, owner["access"], f"Missed {n}")["id"] for n in range(3)]

    with open_socket(ws_server, owner["access"]) as socket:
        socket.send(json.dumps({"type": "resume", "after": seen["event"]}))
        replayed = [next_message(socket) for _ in range(3)]
        end = next_message(socket)

    assert [message["task"]["id"] for message in replayed] == missed
    assert end == {
        "type": "resumed",
        "after": seen["event"],
        "last": replayed[-1]["event"],
        "count": 3,
        "complete": True,
    }


@needs_postgres_and_redis
@pytest.mark.parametrize("pool", ["true", "false"], ids=["psycopg-pool", "conn-max-age-0"])
def test_the_asgi_process_leaves_no_database_connection_behind(
    pool: str, shared_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory, http_server
):
    """Sockets and HTTP requests through daphne, many times over: connections come
    from psycopg's pool (at most 3 here) or, without it, close after each use."""
    env = {**shared_env, "DATABASE_POOL": pool, "DATABASE_POOL_MAX_SIZE": "3"}
    user = register_and_login(http_server)
    headers = {"Authorization": f"Bearer {user['access']}"}
    create_task(http_server, user["access"], "One")
    database_url = env["DATABASE_URL"]
    baseline = connections_to(database_url)
    with serve("daphne", env, tmp_path_factory.mktemp("logs")) as daphne:
        peaks = []
        for _round in range(3):
            for _ in range(20):
                with open_socket(daphne, user["access"]) as socket:
                    # A resume reads the database from the consumer's thread pool.
                    socket.send(json.dumps({"type": "resume", "after": 0}))
                    while next_message(socket)["type"] != "resumed":
                        pass
                response = requests.get(
                    f"{daphne.base_url}/api/v1/tasks/", headers=headers, timeout=10
                )
                assert response.status_code == 200, response.text
            peaks.append(connections_to(database_url) - baseline)
        log = daphne.log()

    print("connections above baseline after each round:", peaks)
    assert all(peak <= 3 for peak in peaks), peaks
    assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def embedded_daphne(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """daphne alone on SQLite (and, in CI's second pass, Redis): HTTP and WebSocket."""
    tmp_path = tmp_path_factory.mktemp("embedded")
    env = production_env(tmp_path)
    migrate(env)
    with serve("daphne", env, tmp_path) as server:
        yield server


def test_a_token_in_the_query_string_is_not_logged(embedded_daphne: Server):
    user = register_and_login(embedded_daphne)
    with connect(f"{embedded_daphne.ws_url}/ws/tasks/?token={user['access']}") as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "ready"
    bad = "not-a-token-" + uuid.uuid4().hex
    with connect(f"{embedded_daphne.ws_url}/ws/tasks/?token={bad}") as socket:
        assert json.loads(socket.recv(timeout=10))["error"]["code"] == "authentication_failed"
    log = embedded_daphne.log()

    assert '"websocket authenticated"' in log, log
    assert '"websocket refused"' in log, log
    assert user["access"] not in log
    assert bad not in log


def test_the_documented_client_example_prints_task_events(
    embedded_daphne: Server, capsys: pytest.CaptureFixture[str]
):
    section = (Path(__file__).parents[2] / "docs" / "realtime.md").read_text()
    start = section.index("```python\n") + len("```python\n")
    code = section[start : section.index("```\n", start)]
    code = code.replace("http://127.0.0.1:8000", embedded_daphne.base_url).replace(
        "ws://127.0.0.1:8000", embedded_daphne.ws_url
    )
    code, _, last_line = code.rstrip().rpartition("\n")
    assert last_line.startswith("asyncio.run(follow("), last_line
    user = register_and_login(embedded_daphne)
    create_task(embedded_daphne, user["access"], "Printed by the example")
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/realtime.md", "exec"), namespace)  # noqa: S102

    async def follow_briefly() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(namespace["follow"](user["username"], PASSWORD), 3)

    asyncio.run(follow_briefly())

    assert "task.created Printed by the example" in capsys.readouterr().out
