"""A Redis that hangs (SIGSTOP: connections accepted, nothing answered), end to end:
real gunicorn and daphne processes in front of a Redis of this module's own. Every
Redis call on the request path is bounded by short timeouts, and after one timeout a
process skips Redis for a while (taskmanager.redis_breaker), so requests answer from
the database at about their usual speed instead of waiting out a timeout per call.
The machine's shared Redis is never touched.
"""

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
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

# The run while Redis hangs: this many list, create and PATCH requests in turn.
RUN = 21
# The defaults under test: 0.25 s to connect, 0.5 s to read.
READ_TIMEOUT = 0.5
# A request must not wait on Redis more than a few timeouts even without the breaker
# (an outer bound: the client gives up here).
REQUEST_TIMEOUT = 15
RECOVERY_SECONDS = 15
# Longer than a receive's blocking pop on the channel layer (5 s) and a read.
HANG_SECONDS = 7


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisInstance]:
    with redis_instance(tmp_path_factory.mktemp("redis")) as instance:
        yield instance


@pytest.fixture(scope="module")
def env(redis: RedisInstance, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Production settings on this module's Redis, and a database of its own
    (PostgreSQL when the suite has one, else SQLite); rates too high to throttle."""
    with migrated_env(
        tmp_path_factory.mktemp("hang"),
        REDIS_URL=redis.url,
        THROTTLE_READ_RATE="100000/min",
        THROTTLE_WRITE_RATE="100000/min",
    ) as env:
        yield env


@pytest.fixture(scope="module")
def gunicorn(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("gunicorn", env, tmp_path_factory.mktemp("logs")) as server:
        yield server


@pytest.fixture(scope="module")
def daphne(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("daphne", env, tmp_path_factory.mktemp("logs")) as server:
        yield server


@pytest.fixture
def hung(redis: RedisInstance) -> Iterator[RedisInstance]:
    """The Redis, to be paused by the test; always continued afterwards."""
    try:
        yield redis
    finally:
        redis.resume()


class Client:
    """One user's list, create and PATCH requests, each one timed."""

    def __init__(self, server: Server, user: dict[str, Any]) -> None:
        self.url = f"{server.base_url}/api/v1/tasks/"
        self.headers = {"Authorization": f"Bearer {user['access']}"}
        self.task_id: int | None = None

    def request(self, n: int) -> tuple[str, requests.Response, float]:
        kind = ("list", "create", "patch")[n % 3]
        started = time.monotonic()
        if kind == "list":
            response = requests.get(self.url, headers=self.headers, timeout=REQUEST_TIMEOUT)
        elif kind == "create" or self.task_id is None:
            kind = "create"
            response = requests.post(
                self.url,
                json={"title": f"task {n}"},
                headers=self.headers,
                timeout=REQUEST_TIMEOUT,
            )
            if response.status_code == 201:
                self.task_id = response.json()["id"]
        else:
            response = requests.patch(
                f"{self.url}{self.task_id}/",
                json={"status": "in_progress", "title": f"changed {n}"},
                headers=self.headers,
                timeout=REQUEST_TIMEOUT,
            )
        return kind, response, time.monotonic() - started

    def run(self, count: int, budget: float) -> tuple[list[tuple[str, int, float]], float]:
        """`count` requests, (kind, status, seconds) each, and the total time; stops
        early once `budget` is spent (so a failing run fails fast)."""
        answers = []
        started = time.monotonic()
        for n in range(count):
            kind, response, seconds = self.request(n)
            answers.append((kind, response.status_code, round(seconds, 2)))
            if time.monotonic() - started > budget:
                break
        return answers, time.monotonic() - started


def ready(server: Server) -> bool:
    return requests.get(f"{server.base_url}/monitoring/ready/", timeout=10).status_code == 200


def wait_until(condition: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.2)
    return time.monotonic() - started


def live_event_arrives(daphne: Server, gunicorn: Server, user: dict[str, Any]) -> bool:
    """A socket on daphne receives the event of a task created through gunicorn."""
    headers = {"Authorization": f"Bearer {user['access']}"}
    try:
        with connect(
            f"{daphne.ws_url}/ws/tasks/", additional_headers=headers, open_timeout=5
        ) as socket:
            if json.loads(socket.recv(timeout=5)).get("type") != "ready":
                return False
            title = f"live {uuid.uuid4().hex[:8]}"
            created = requests.post(
                f"{gunicorn.base_url}/api/v1/tasks/",
                json={"title": title},
                headers=headers,
                timeout=REQUEST_TIMEOUT,
            )
            assert created.status_code == 201, created.text
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                message = json.loads(socket.recv(timeout=deadline - time.monotonic()))
                if message.get("type") == "task.created" and message["task"]["title"] == title:
                    return True
    except (OSError, TimeoutError, ValueError):
        return False
    return False


@pytest.mark.parametrize("kind", ["gunicorn", "daphne"])
def test_with_redis_hanging_requests_answer_from_the_database_without_waiting_on_it(
    kind: str, gunicorn: Server, daphne: Server, hung: RedisInstance
):
    server = gunicorn if kind == "gunicorn" else daphne
    client = Client(server, register_and_login(server))
    warm, _ = client.run(3, budget=REQUEST_TIMEOUT)
    assert all(status in (200, 201) for _, status, _ in warm), warm

    hung.pause()
    # Each process may pay one timeout before it stops asking (and one more when it
    # tries Redis again after a few seconds): well under one timeout per request.
    budget = RUN * READ_TIMEOUT
    answers, total = client.run(RUN, budget=budget)
    hung.resume()

    print(f"{kind}, Redis hanging: {total:.2f} s for {len(answers)} requests: {answers}")
    assert len(answers) == RUN and total < budget, (
        f"{len(answers)} requests took {total:.2f} s (budget {budget} s): {answers}"
    )
    assert all(status in (200, 201) for _, status, _ in answers), answers
    assert {kind for kind, _, _ in answers} == {"list", "create", "patch"}


def test_after_redis_hung_everything_is_normal_again(
    gunicorn: Server, daphne: Server, hung: RedisInstance
):
    user = register_and_login(gunicorn)
    client = Client(gunicorn, user)
    headers = {"Authorization": f"Bearer {user['access']}"}
    # A socket open throughout: daphne's fan-out is waiting on Redis when it hangs,
    # longer than its blocking pop, so its receive fails and it retries meanwhile.
    with connect(f"{daphne.ws_url}/ws/tasks/", additional_headers=headers) as socket:
        assert json.loads(socket.recv(timeout=5))["type"] == "ready"
        hung.pause()
        paused_at = time.monotonic()
        during, _ = client.run(6, budget=REQUEST_TIMEOUT)
        time.sleep(max(0.0, HANG_SECONDS - (time.monotonic() - paused_at)))
        hung.resume()
    assert all(status in (200, 201) for _, status, _ in during), during

    wait_until(lambda: ready(gunicorn) and ready(daphne), RECOVERY_SECONDS, "ready again")
    # Redis is used again: the throttles count (their headers are back).
    after = [client.request(n)[1] for n in range(6)]
    assert all(r.status_code in (200, 201) for r in after), [r.text for r in after]
    assert all("X-RateLimit-Limit" in r.headers for r in after)
    # The sockets' fan-out on daphne receives events again.
    wait_until(
        lambda: live_event_arrives(daphne, gunicorn, user),
        RECOVERY_SECONDS,
        "a live event on a socket after Redis hung",
    )
    # The breaker said once per process that Redis is skipped; the calls it skipped
    # are not logged one by one (several a request, with tracebacks).
    for server in (gunicorn, daphne):
        log = server.log()
        assert "skipped for 5 s" in log, log[-3000:]
        assert "RedisSkipped" not in log, log[-3000:]
