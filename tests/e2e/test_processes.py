"""Several server processes sharing one PostgreSQL database and one Redis behave as
one service: one throttle count, each other's cache invalidations, session
revocations and WebSocket events, at once.

Three processes, as production runs them: gunicorn (one worker, `wsgi.py`) and two
daphnes (`asgi.py`, HTTP and WebSocket). Nothing passes between them but PostgreSQL
and Redis. (tests/e2e/test_realtime.py covers resume and connection use.)
"""

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.e2e.servers import (
    DATABASE_URL,
    PASSWORD,
    REDIS_URL,
    Server,
    migrate,
    needs_postgres_and_redis,
    postgres_database,
    production_env,
    register_and_login,
    serve,
    shared_project,
)

pytestmark = needs_postgres_and_redis

# Reads per user per day: small enough to exhaust, in a window (a day) that will not
# roll over during the test. Every test here uses users of its own.
READ_LIMIT = 10
TIMEOUT = 10


@pytest.fixture(scope="module")
def shared_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Production settings on a database of this module's own and the shared Redis."""
    tmp_path = tmp_path_factory.mktemp("processes")
    with postgres_database(DATABASE_URL) as database_url:
        env = production_env(
            tmp_path,
            DATABASE_URL=database_url,
            REDIS_URL=REDIS_URL,
            THROTTLE_READ_RATE=f"{READ_LIMIT}/day",
            # Every test registers and logs in users from 127.0.0.1.
            THROTTLE_LOGIN_RATE="1000/min",
            THROTTLE_LOGIN_IP_RATE="1000/min",
            WEBSOCKET_RECHECK_SECONDS="1",
        )
        migrate(env)
        yield env


@pytest.fixture(scope="module")
def web(shared_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("gunicorn", shared_env, tmp_path_factory.mktemp("web"), workers=1) as server:
        yield server


@pytest.fixture(scope="module")
def ws_a(shared_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("daphne", shared_env, tmp_path_factory.mktemp("ws_a")) as server:
        yield server


@pytest.fixture(scope="module")
def ws_b(shared_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("daphne", shared_env, tmp_path_factory.mktemp("ws_b")) as server:
        yield server


def call(server: Server, method: str, path: str, access: str, **kwargs: Any) -> Any:
    return requests.request(
        method,
        f"{server.base_url}{path}",
        headers={"Authorization": f"Bearer {access}", **kwargs.pop("headers", {})},
        timeout=TIMEOUT,
        **kwargs,
    )


def login(server: Server, username: str) -> dict[str, Any]:
    response = requests.post(
        f"{server.base_url}/api/v1/auth/login/",
        json={"username": username, "password": PASSWORD},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body


def cache_lookups(server: Server, result: str) -> float:
    """This process's count of task-list cache lookups with `result` (hit or miss)."""
    text = requests.get(f"{server.base_url}/monitoring/metrics/", timeout=TIMEOUT).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "taskmanager_task_cache_total"
        and sample.labels == {"kind": "list", "result": result}
    )


@contextmanager
def open_socket(server: Server, access: str) -> Iterator[ClientConnection]:
    """A socket authenticated with the Bearer header, past its `ready` message."""
    with connect(
        f"{server.ws_url}/ws/tasks/",
        additional_headers={"Authorization": f"Bearer {access}"},
        open_timeout=TIMEOUT,
    ) as socket:
        ready = json.loads(socket.recv(timeout=TIMEOUT))
        assert ready["type"] == "ready", ready
        yield socket


def next_message(socket: ClientConnection) -> dict[str, Any]:
    return dict(json.loads(socket.recv(timeout=TIMEOUT)))


# (a) Throttles


def test_the_read_throttle_is_one_count_across_processes(web, ws_a, ws_b):
    user = register_and_login(web)
    servers = [web, ws_a, ws_b]

    remaining = []
    for n in range(READ_LIMIT):
        response = call(servers[n % 3], "GET", "/api/v1/tasks/", user["access"])
        assert response.status_code == 200, response.text
        assert response.headers["X-RateLimit-Limit"] == str(READ_LIMIT)
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))

    # One counter: each request, whichever process served it, counted against the same
    # budget (three separate counts would each report 9, 8, ...).
    assert remaining == list(range(READ_LIMIT - 1, -1, -1))
    for server in servers:
        response = call(server, "GET", "/api/v1/tasks/", user["access"])
        assert_error(response, 429, "throttled")
        assert int(response.headers["Retry-After"]) > 0
    # Another user's budget is untouched, on every process.
    other = register_and_login(ws_b)
    for server in servers:
        assert call(server, "GET", "/api/v1/tasks/", other["access"]).status_code == 200


# (b) Cache invalidation


@pytest.mark.parametrize(("writer", "reader"), [("web", "ws_a"), ("ws_a", "web")])
def test_a_write_on_one_process_invalidates_the_list_cached_by_another(
    writer: str, reader: str, request: pytest.FixtureRequest
):
    writing: Server = request.getfixturevalue(writer)
    reading: Server = request.getfixturevalue(reader)
    user = register_and_login(writing)
    created = call(writing, "POST", "/api/v1/tasks/", user["access"], json={"title": "Before"})
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]

    hits = cache_lookups(reading, "hit")
    first = call(reading, "GET", "/api/v1/tasks/", user["access"]).json()
    again = call(reading, "GET", "/api/v1/tasks/", user["access"]).json()
    # The reader really serves the list from the cache: what follows tests invalidation.
    assert cache_lookups(reading, "hit") == hits + 1
    assert first == again
    assert [task["title"] for task in first["results"]] == ["Before"]

    added = call(writing, "POST", "/api/v1/tasks/", user["access"], json={"title": "Added"})
    assert added.status_code == 201, added.text
    renamed = call(
        writing, "PATCH", f"/api/v1/tasks/{task_id}/", user["access"], json={"title": "Renamed"}
    )
    assert renamed.status_code == 200, renamed.text

    after = call(reading, "GET", "/api/v1/tasks/", user["access"]).json()
    assert [task["title"] for task in after["results"]] == ["Added", "Renamed"]
    assert after["count"] == 2


# (c) Session revocation


def test_logout_on_one_process_is_refused_on_the_others_at_once(web, ws_a, ws_b):
    user = register_and_login(web)
    other_session = login(ws_a, user["username"])
    # Both sessions are known (and cached as live) on the other processes first.
    for server in (ws_a, ws_b):
        for tokens in (user, other_session):
            assert call(server, "GET", "/api/v1/users/me/", tokens["access"]).status_code == 200

    with open_socket(ws_b, user["access"]) as socket:
        logout = call(web, "POST", "/api/v1/auth/logout/", user["access"])
        assert logout.status_code == 204, logout.text

        for server in (ws_a, ws_b):
            response = call(server, "GET", "/api/v1/users/me/", user["access"])
            assert_error(response, 401, "authentication_failed")
            # Only the session that was ended.
            assert call(server, "GET", "/api/v1/users/me/", other_session["access"]).ok
        # A socket on another process is closed at its next check (every second here).
        assert next_message(socket)["error"]["code"] == "authentication_failed"
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


def test_logout_all_on_one_process_is_refused_on_the_others_at_once(web, ws_a):
    user = register_and_login(ws_a)
    sessions = [user, login(web, user["username"]), login(ws_a, user["username"])]
    for tokens in sessions:
        assert call(web, "GET", "/api/v1/users/me/", tokens["access"]).status_code == 200

    assert call(ws_a, "POST", "/api/v1/auth/logout-all/", user["access"]).status_code == 204

    for tokens in sessions:
        assert_error(
            call(web, "GET", "/api/v1/users/me/", tokens["access"]), 401, "authentication_failed"
        )
        refreshed = requests.post(
            f"{web.base_url}/api/v1/auth/refresh/",
            json={"refresh": tokens["refresh"]},
            timeout=TIMEOUT,
        )
        assert_error(refreshed, 401, "authentication_failed")


# (d) WebSocket events


def test_events_reach_sockets_on_other_processes_in_both_directions(web, ws_a, ws_b):
    owner = register_and_login(web)
    with open_socket(ws_a, owner["access"]) as on_a, open_socket(ws_b, owner["access"]) as on_b:
        # From gunicorn to both daphnes.
        created = call(web, "POST", "/api/v1/tasks/", owner["access"], json={"title": "Hop"})
        assert created.status_code == 201, created.text
        task_url = f"/api/v1/tasks/{created.json()['id']}/"
        from_web = [next_message(on_a), next_message(on_b)]
        # From daphne A (an HTTP write there) to the socket on daphne B ...
        updated = call(ws_a, "PATCH", task_url, owner["access"], json={"title": "Hopped"})
        assert updated.status_code == 200, updated.text
        from_a = [next_message(on_a), next_message(on_b)]
        # ... and from daphne B to the socket on daphne A.
        deleted = call(ws_b, "DELETE", task_url, owner["access"])
        assert deleted.status_code == 204, deleted.text
        from_b = [next_message(on_a), next_message(on_b)]

    for messages, kind in [(from_web, "created"), (from_a, "updated"), (from_b, "deleted")]:
        assert [m["type"] for m in messages] == [f"task.{kind}"] * 2, messages
        assert messages[0] == messages[1]
    assert from_web[0]["task"] == created.json()
    assert from_a[0]["task"] == updated.json()
    assert from_a[0]["changes"] == {"title": ["Hop", "Hopped"]}
    assert from_b[0]["task"]["id"] == created.json()["id"]
    assert from_web[0]["event"] < from_a[0]["event"] < from_b[0]["event"]


def test_an_event_for_another_user_crosses_processes_to_their_socket_only(web, ws_a, ws_b):
    owner = register_and_login(ws_a)
    assignee = register_and_login(ws_b, f"assignee{uuid.uuid4().hex[:8]}")
    bystander = register_and_login(web)
    project = shared_project(web, owner, assignee)
    with (
        open_socket(ws_b, assignee["access"]) as assignee_socket,
        open_socket(ws_b, bystander["access"]) as bystander_socket,
    ):
        created = call(
            ws_a,
            "POST",
            "/api/v1/tasks/",
            owner["access"],
            json={"title": "For you", "assignee": assignee["id"], "project": project},
        )
        assert created.status_code == 201, created.text

        message = next_message(assignee_socket)
        assert message["type"] == "task.created"
        assert message["task"] == created.json()
        # The bystander got nothing: the first message on their socket is the event
        # of their own task, created after the other one had been sent.
        own = call(web, "POST", "/api/v1/tasks/", bystander["access"], json={"title": "Mine"})
        assert own.status_code == 201, own.text
        first = next_message(bystander_socket)
        assert (first["type"], first["task"]["id"]) == ("task.created", own.json()["id"])
