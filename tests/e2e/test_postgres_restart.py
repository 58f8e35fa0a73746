"""PostgreSQL restarted under running servers, end to end: real gunicorn and daphne
processes on a PostgreSQL of this module's own (tests/e2e/instances.py), which the
tests stop and start. The machine's shared PostgreSQL is never touched.

A restart kills every connection that psycopg's pools hold idle, and nothing tells a
pool until one is used: without a check as a connection leaves its pool, each
request that drew a dead one answered 503 (minutes later still), and a WebSocket
handshake HTTP 500. Processes that keep one connection from one run to the next (the
`cleanup_tokens --every` scheduler) died with the first query after the restart.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from psycopg import sql
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from taskmanager.settings import BASE_DIR
from tests.e2e.instances import PostgresCluster, postgres_cluster, postgres_unavailable_reason
from tests.e2e.servers import (
    Server,
    connections_to,
    migrate,
    production_env,
    register_and_login,
    serve,
)

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
_PG_MISSING = postgres_unavailable_reason()

pytestmark = [
    # As tests/e2e/test_faults.py: gunicorn and daphne share events through Redis.
    pytest.mark.skipif(
        not (DATABASE_URL.startswith("postgres") and REDIS_URL),
        reason="fault tests run with the PostgreSQL + Redis suite (DATABASE_URL, REDIS_URL)",
    ),
    pytest.mark.skipif(_PG_MISSING is not None, reason=_PG_MISSING or ""),
]

# The promise: this long after PostgreSQL is back, everything works again.
RECOVERY_SECONDS = 10
# A request may wait for psycopg's pool (DATABASE_POOL_TIMEOUT, 10 s) and more.
REQUEST_TIMEOUT = 15
# The close code of a socket the server cannot serve now (docs/asyncapi.yaml).
TRY_AGAIN = 4503


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with postgres_cluster() as instance:
        yield instance


@pytest.fixture(autouse=True)
def _postgres_running(cluster: PostgresCluster) -> Iterator[None]:
    """A test that failed half way must not leave the next one without PostgreSQL."""
    yield
    if not cluster.is_running():
        cluster.start()


@pytest.fixture(scope="module")
def env(cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Production settings on the throw-away PostgreSQL (pool at its defaults) and the
    shared Redis (under keys and groups of their own), migrated."""
    tmp_path = tmp_path_factory.mktemp("pg-restart")
    name = "taskmanager"
    with psycopg.connect(cluster.url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    env = production_env(
        tmp_path,
        DATABASE_URL=cluster.url.rsplit("/", 1)[0] + "/" + name,
        REDIS_URL=REDIS_URL,
        THROTTLE_READ_RATE="100000/min",
        THROTTLE_WRITE_RATE="100000/min",
        THROTTLE_LOGIN_RATE="1000/min",
        THROTTLE_LOGIN_IP_RATE="1000/min",
    )
    migrate(env)
    return env


@pytest.fixture(scope="module")
def gunicorn(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("gunicorn", env, tmp_path_factory.mktemp("logs"), workers=2) as server:
        yield server


@pytest.fixture(scope="module")
def daphne(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("daphne", env, tmp_path_factory.mktemp("logs")) as server:
        yield server


@pytest.fixture
def daphne_short_pool_wait(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A socket waits at most 2 s (not 10) for a pooled connection while PostgreSQL is
    down, so each refusal comes within the client's handshake timeout."""
    with serve(
        "daphne", {**env, "DATABASE_POOL_TIMEOUT": "2"}, tmp_path_factory.mktemp("logs")
    ) as server:
        yield server


def bearer(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['access']}"}


def api(server: Server, method: str, user: dict[str, Any], path: str = "", **kwargs: Any):
    # No session: a new TCP connection each time, so any gunicorn worker may take it.
    return requests.request(
        method,
        f"{server.base_url}/api/v1/tasks/{path}",
        headers=bearer(user),
        timeout=REQUEST_TIMEOUT,
        **kwargs,
    )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.1)


def warm_up(gunicorn: Server, daphne: Server, env: dict[str, str], user: dict[str, Any]) -> None:
    """Until every process holds a pooled connection: both gunicorn workers (requests
    side by side reach both) and daphne (a socket that authenticates and resumes)."""

    def round_of_requests() -> bool:
        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(lambda _: api(gunicorn, "GET", user).status_code, range(8)))
        assert statuses == [200] * 8, statuses
        return connections_to(env["DATABASE_URL"]) >= 3

    with open_socket(daphne, user) as socket:
        resume(socket, 0)
    wait_until(round_of_requests, 30, "every process holds a database connection")


@contextmanager
def open_socket(server: Server, user: dict[str, Any]) -> Iterator[ClientConnection]:
    """A socket past its `ready` message; an HTTP answer to the handshake fails the test."""
    try:
        with connect(
            f"{server.ws_url}/ws/tasks/",
            additional_headers=bearer(user),
            open_timeout=REQUEST_TIMEOUT,
        ) as socket:
            ready = json.loads(socket.recv(timeout=REQUEST_TIMEOUT))
            if ready.get("type") != "ready":
                pytest.fail(f"the socket was not made ready: {ready}")
            yield socket
    except InvalidStatus as exc:
        pytest.fail(f"the handshake was answered HTTP {exc.response.status_code}")


def resume(socket: ClientConnection, after: int) -> dict[str, Any]:
    """A resume (it reads the outbox): its `resumed` answer."""
    socket.send(json.dumps({"type": "resume", "after": after}))
    while True:
        message = json.loads(socket.recv(timeout=REQUEST_TIMEOUT))
        if message["type"] in ("resumed", "error"):
            return message


def test_after_a_postgres_restart_every_request_and_socket_works_at_once(
    gunicorn: Server, daphne: Server, env: dict[str, str], cluster: PostgresCluster
):
    http_user = register_and_login(gunicorn)
    # Logged in but never used: its socket's handshake must read the database.
    socket_user = register_and_login(gunicorn)
    warm_up(gunicorn, daphne, env, http_user)

    cluster.stop("fast")
    cluster.start()
    back_at = time.monotonic()

    answers = []
    for n in range(40):
        if n % 2:
            response = api(gunicorn, "POST", http_user, json={"title": f"after restart {n}"})
        else:
            response = api(gunicorn, "GET", http_user)
        answers.append((response.status_code, response.text[:200]))
    failed = [answer for answer in answers if answer[0] not in (200, 201)]
    assert not failed, f"{len(failed)} of 40 requests failed after the restart: {failed[:3]}"
    with open_socket(daphne, socket_user) as socket:
        resumed = resume(socket, 0)
        created = api(gunicorn, "POST", socket_user, json={"title": "seen live"})
        assert created.status_code == 201, created.text
        message = json.loads(socket.recv(timeout=REQUEST_TIMEOUT))
    took = time.monotonic() - back_at

    print(f"40 requests, a handshake, a resume and an event {took:.2f} s after PostgreSQL")
    assert resumed["type"] == "resumed", resumed
    assert message["type"] == "task.created", message
    assert message["task"]["id"] == created.json()["id"]
    assert "Exception inside application" not in daphne.log()


def refusal(socket: ClientConnection) -> tuple[list[dict[str, Any]], int | None]:
    """The messages a socket got until the server closed it, and the close code."""
    messages = []
    try:
        while True:
            messages.append(json.loads(socket.recv(timeout=REQUEST_TIMEOUT)))
    except ConnectionClosed as closed:
        return messages, closed.rcvd.code if closed.rcvd else None


def handshake_with_header(
    server: Server, user: dict[str, Any]
) -> tuple[int, tuple[list[dict[str, Any]], int | None]]:
    """The handshake's HTTP status, and what the socket got until it was closed."""
    try:
        with connect(
            f"{server.ws_url}/ws/tasks/",
            additional_headers=bearer(user),
            open_timeout=REQUEST_TIMEOUT,
        ) as socket:
            return 101, refusal(socket)
    except InvalidStatus as exc:
        return exc.response.status_code, ([], None)


def test_while_postgres_is_down_sockets_are_refused_with_a_code_to_try_again_never_a_500(
    gunicorn: Server, daphne_short_pool_wait: Server, cluster: PostgresCluster
):
    daphne = daphne_short_pool_wait
    # A token no process has looked at yet (its session is not in the cache), and a
    # socket opened before the outage, whose resume reads the outbox.
    fresh = register_and_login(gunicorn)
    earlier = register_and_login(gunicorn)
    with open_socket(daphne, earlier) as socket_before:
        cluster.stop("fast")
        handshake_status, by_header = handshake_with_header(daphne, fresh)
        with connect(f"{daphne.ws_url}/ws/tasks/", open_timeout=REQUEST_TIMEOUT) as socket:
            socket.send(json.dumps({"type": "auth", "token": fresh["access"]}))
            by_message = refusal(socket)
        socket_before.send(json.dumps({"type": "resume", "after": 0}))
        on_resume = refusal(socket_before)
    cluster.start()

    assert handshake_status == 101, f"the handshake was answered HTTP {handshake_status}"
    for what, (messages, code) in {
        "the handshake": by_header,
        "the auth message": by_message,
        "a resume": on_resume,
    }.items():
        assert code == TRY_AGAIN, f"{what}: closed with {code}, after {messages}"
        assert messages, f"{what}: closed without a word"
        last = messages[-1]
        assert last["type"] == "error", (what, messages)
        assert last["error"]["code"] == "service_unavailable", (what, messages)
    log = daphne.log()
    assert "Exception inside application" not in log
    assert "Traceback" not in log


@pytest.mark.parametrize("pool", ["true", "false"], ids=["pooled", "unpooled"])
def test_the_token_cleanup_scheduler_survives_a_postgres_restart(
    env: dict[str, str], cluster: PostgresCluster, tmp_path: Path, pool: str
):
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    heartbeat = tmp_path / "heartbeat"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "cleanup_tokens",
                "--every",
                "1",
                "--heartbeat",
                str(heartbeat),
            ],
            cwd=BASE_DIR,
            env={**env, "DATABASE_POOL": pool},
            stdout=stdout,
            stderr=stderr,
        )
    try:

        def runs() -> int:
            return out.read_text().count("Removed ")

        wait_until(lambda: runs() >= 2, 30, "two runs before the restart")
        cluster.stop("fast")
        cluster.start()
        before = runs()
        back_at = time.time()
        wait_until(
            lambda: runs() >= before + 2 or process.poll() is not None,
            RECOVERY_SECONDS,
            "two runs after the restart",
        )
        alive = process.poll() is None
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert alive, f"the scheduler exited ({process.returncode}):\n{err.read_text()[-2000:]}"
    assert heartbeat.stat().st_mtime >= back_at
    assert "Traceback" not in err.read_text()
