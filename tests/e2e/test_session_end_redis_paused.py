"""A logout while Redis refuses writes but serves reads (`CLIENT PAUSE ... WRITE`,
what a Redis failover does), end to end: real gunicorn workers and a daphne process
in front of a Redis of this module's own. The machine's shared Redis is never
touched.

Each process trusts a session's "live" entry in Redis for up to a minute. Logout
either answers 503 (nothing ended: the session is still live everywhere, and the
client retries) or, if it answers 2xx, the token is refused at once by every worker
and by the socket server.
"""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis as redis_py
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.instances import RedisInstance, redis_instance, redis_server_binary
from tests.e2e.servers import (
    Server,
    migrated_env,
    register_and_login,
    serve,
)

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None, reason="needs redis-server for a throw-away Redis"
)

WORKERS = 3
# Enough requests that each gunicorn worker very likely answers some.
PROBES = 4 * WORKERS
REQUEST_TIMEOUT = 15
UNAUTHORIZED = 4401


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisInstance]:
    with redis_instance(tmp_path_factory.mktemp("redis")) as instance:
        yield instance


@pytest.fixture(scope="module")
def env(redis: RedisInstance, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with migrated_env(
        tmp_path_factory.mktemp("paused"),
        REDIS_URL=redis.url,
        THROTTLE_READ_RATE="100000/min",
        THROTTLE_WRITE_RATE="100000/min",
    ) as env:
        yield env


@pytest.fixture(scope="module")
def gunicorn(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("gunicorn", env, tmp_path_factory.mktemp("logs"), workers=WORKERS) as server:
        yield server


@pytest.fixture(scope="module")
def daphne(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("daphne", env, tmp_path_factory.mktemp("logs")) as server:
        yield server


@contextmanager
def writes_paused(redis: RedisInstance, seconds: float) -> Iterator[None]:
    """Redis refuses writes (they wait) and serves reads, for `seconds` at most."""
    client = redis_py.Redis.from_url(redis.url)
    client.execute_command("CLIENT", "PAUSE", int(seconds * 1000), "WRITE")
    try:
        yield
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
        client.close()


def me(server: Server, access: str) -> requests.Response:
    return requests.get(
        f"{server.base_url}/api/v1/users/me/",
        headers={"Authorization": f"Bearer {access}"},
        timeout=REQUEST_TIMEOUT,
    )


def logout(server: Server, access: str) -> requests.Response:
    return requests.post(
        f"{server.base_url}/api/v1/auth/logout/",
        headers={"Authorization": f"Bearer {access}"},
        timeout=REQUEST_TIMEOUT,
    )


def logout_retried(server: Server, access: str, within: float = 30) -> requests.Response:
    """Logout, again after each 503's Retry-After, as a client does."""
    deadline = time.monotonic() + within
    while True:
        answer = logout(server, access)
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        time.sleep(min(float(answer.headers.get("Retry-After", "1")), 1.0))


def statuses(server: Server, access: str) -> list[int]:
    return [me(server, access).status_code for _ in range(PROBES)]


def socket_answer(server: Server, access: str) -> str:
    """`ready`, or `closed <code>` for a socket opened with the token."""
    with connect(
        f"{server.ws_url}/ws/tasks/",
        additional_headers={"Authorization": f"Bearer {access}"},
        open_timeout=REQUEST_TIMEOUT,
    ) as socket:
        try:
            while True:
                message = json.loads(socket.recv(timeout=REQUEST_TIMEOUT))
                if message.get("type") == "ready":
                    return "ready"
        except ConnectionClosed:  # the server's close code is the answer
            return f"closed {socket.close_code}"


def is_error_shape(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and set(body) == {"error"}
        and {"code", "message", "fields"} <= set(body["error"])
    )


def warmed(gunicorn: Server, daphne: Server) -> dict[str, Any]:
    """A user whose session every process has cached as live."""
    user = register_and_login(gunicorn)
    assert statuses(gunicorn, user["access"]) == [200] * PROBES
    assert socket_answer(daphne, user["access"]) == "ready"
    # The socket server leaves the closed socket's groups in the background: let it
    # finish, or that write, paused, would send daphne to the database by itself.
    time.sleep(1)
    return user


@pytest.mark.parametrize("pause", [30.0, 0.2], ids=["longer-than-timeouts", "brief"])
def test_a_logout_while_redis_refuses_writes_is_503_or_holds_everywhere(
    pause, gunicorn: Server, daphne: Server, redis: RedisInstance
):
    user = warmed(gunicorn, daphne)

    with writes_paused(redis, pause):
        started = time.monotonic()
        answer = logout(gunicorn, user["access"])
        if answer.status_code == 204:
            # While Redis still refuses writes, as at once as a client can ask.
            after_http = statuses(gunicorn, user["access"])
            after_socket = socket_answer(daphne, user["access"])
        took = time.monotonic() - started

    print(f"pause {pause} s: logout {answer.status_code} after {took:.2f} s")
    if answer.status_code == 204:
        assert after_http == [401] * PROBES, after_http
        assert after_socket == f"closed {UNAUTHORIZED}", after_socket
        return
    assert answer.status_code == 503, answer.text
    assert is_error_shape(answer.json()), answer.text
    assert answer.json()["error"]["code"] == "service_unavailable"
    assert answer.headers["Retry-After"].isdigit()
    # Nothing half-written: the session is live, and logging out again works and holds
    # (once the worker tries Redis again: taskmanager.redis_breaker).
    assert statuses(gunicorn, user["access"]) == [200] * PROBES
    retried = logout_retried(gunicorn, user["access"])
    assert retried.status_code == 204, retried.text
    assert statuses(gunicorn, user["access"]) == [401] * PROBES
    assert socket_answer(daphne, user["access"]) == f"closed {UNAUTHORIZED}"
