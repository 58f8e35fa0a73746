"""Faults, end to end: real gunicorn and daphne processes in front of a Redis and a
PostgreSQL of this module's own (tests/e2e/instances.py), which the tests stop and
start under load. The machine's shared services are never touched.

- Redis down: the API answers from the database, readiness names what failed, and
  sockets reconnect and resume without a gap once Redis is back.
- PostgreSQL restarted: requests during the outage answer 503 in the error shape,
  never a 500, and service comes back by itself soon after PostgreSQL does.
- A server killed during uploads: after `cleanup_files`, no row without bytes and
  no bytes without a row.
"""

import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from psycopg import sql
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection, connect

from taskmanager.settings import BASE_DIR
from tests.e2e.instances import (
    PostgresCluster,
    RedisInstance,
    postgres_cluster,
    postgres_unavailable_reason,
    redis_instance,
    redis_server_binary,
)
from tests.e2e.servers import Server, migrate, production_env, register_and_login, serve

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
_PG_MISSING = postgres_unavailable_reason()

pytestmark = [
    # The embedded run (SQLite, local memory) has no Redis or PostgreSQL to fail.
    pytest.mark.skipif(
        not (DATABASE_URL.startswith("postgres") and REDIS_URL),
        reason="fault tests run with the PostgreSQL + Redis suite (DATABASE_URL, REDIS_URL)",
    ),
    pytest.mark.skipif(
        redis_server_binary() is None, reason="needs redis-server for a throw-away Redis"
    ),
    pytest.mark.skipif(_PG_MISSING is not None, reason=_PG_MISSING or ""),
]

# Time allowed for service to come back once the dependency is back.
RECOVERY_SECONDS = 10
# Requests in flight may wait on psycopg's pool (DATABASE_POOL_TIMEOUT) and more.
REQUEST_TIMEOUT = 15


# Instances and servers.


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with postgres_cluster() as instance:
        yield instance


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisInstance]:
    with redis_instance(tmp_path_factory.mktemp("redis")) as instance:
        yield instance


@pytest.fixture(autouse=True)
def _dependencies_running(cluster: PostgresCluster, redis: RedisInstance) -> Iterator[None]:
    """A test that failed half way must not leave the next one without its services."""
    yield
    if redis.process is None:
        redis.start()
    if not cluster.is_running():
        cluster.start()


@pytest.fixture(scope="module")
def env(
    cluster: PostgresCluster, redis: RedisInstance, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Production settings on the throw-away services, migrated; rates high enough
    that the load of these tests is never throttled."""
    tmp_path = tmp_path_factory.mktemp("faults")
    name = "taskmanager"
    with psycopg.connect(cluster.url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    env = production_env(
        tmp_path,
        DATABASE_URL=cluster.url.rsplit("/", 1)[0] + "/" + name,
        REDIS_URL=redis.url,
        MEDIA_ROOT=str(tmp_path / "media"),
        THROTTLE_READ_RATE="100000/min",
        THROTTLE_WRITE_RATE="100000/min",
        THROTTLE_LOGIN_RATE="1000/min",
        THROTTLE_LOGIN_IP_RATE="1000/min",
    )
    migrate(env)
    return env


@pytest.fixture(scope="module")
def gunicorn(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("gunicorn", env, tmp_path_factory.mktemp("logs")) as server:
        yield server


@pytest.fixture(scope="module")
def daphne(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve("daphne", env, tmp_path_factory.mktemp("logs")) as server:
        yield server


# Load: a few threads of list, create and detail requests, every answer recorded.


@dataclass
class Answer:
    at: float
    method: str
    path: str
    status: int | None  # None: no HTTP answer at all (connection refused or reset)
    body: Any
    error: str = ""
    rate_limited: bool = False  # X-RateLimit-* headers: the throttle counted the request


@dataclass
class Load:
    server: Server
    users: list[dict[str, Any]]
    answers: list[Answer] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, user: dict[str, Any]) -> None:
        headers = {"Authorization": f"Bearer {user['access']}"}
        base = f"{self.server.base_url}/api/v1/tasks/"
        last_id: int | None = None
        n = 0
        while not self.stopping.is_set():
            n += 1
            calls = [("GET", base, None), ("POST", base, {"title": f"load {n}"})]
            if last_id is not None:
                calls.append(("GET", f"{base}{last_id}/", None))
            for method, url, body in calls:
                answer = self.send(method, url, body, headers)
                if method == "POST" and answer.status == 201:
                    last_id = answer.body["id"]

    def send(self, method: str, url: str, body: Any, headers: dict[str, str]) -> Answer:
        started = time.monotonic()
        path = url.removeprefix(self.server.base_url)
        try:
            response = requests.request(
                method, url, json=body, headers=headers, timeout=REQUEST_TIMEOUT
            )
        except requests.RequestException as exc:
            answer = Answer(started, method, path, None, None, type(exc).__name__)
            # Nothing listening: do not spin.
            time.sleep(0.05)
        else:
            try:
                parsed: Any = response.json()
            except ValueError:
                parsed = response.text
            answer = Answer(
                started,
                method,
                path,
                response.status_code,
                parsed,
                rate_limited="X-RateLimit-Limit" in response.headers,
            )
        with self.lock:
            self.answers.append(answer)
        return answer

    def since(self, moment: float) -> list[Answer]:
        with self.lock:
            return [answer for answer in self.answers if answer.at >= moment]


@pytest.fixture
def load_on() -> Iterator[Callable[[Server, int], Load]]:
    started: list[tuple[Load, list[threading.Thread]]] = []

    def start(server: Server, threads: int = 3) -> Load:
        load = Load(server, [register_and_login(server) for _ in range(threads)])
        workers = [
            threading.Thread(target=load.run, args=(user,), daemon=True) for user in load.users
        ]
        for worker in workers:
            worker.start()
        started.append((load, workers))
        return load

    yield start
    for load, workers in started:
        load.stopping.set()
        for worker in workers:
            worker.join(timeout=REQUEST_TIMEOUT + 5)


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1
) -> float:
    """Seconds until `condition()` held; fails after `timeout`."""
    started = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(interval)


def eventually(condition: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until `condition()` held, or None if it did not within `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            return None
        time.sleep(0.1)
    return round(time.monotonic() - started, 2)


def is_error_shape(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and set(body) == {"error"}
        and isinstance(body["error"], dict)
        and isinstance(body["error"].get("code"), str)
        and isinstance(body["error"].get("message"), str)
        and isinstance(body["error"].get("fields"), dict)
    )


def ready(server: Server) -> requests.Response:
    return requests.get(f"{server.base_url}/monitoring/ready/", timeout=REQUEST_TIMEOUT)


def summary(answers: list[Answer]) -> str:
    counts: dict[str, int] = {}
    for answer in answers:
        key = f"{answer.method} {answer.status or answer.error}"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{key}: {count}" for key, count in sorted(counts.items()))


# Redis.


def test_with_redis_stopped_under_load_the_api_answers_from_the_database(
    gunicorn: Server, redis: RedisInstance, load_on: Callable[[Server, int], Load]
):
    load = load_on(gunicorn, 3)
    wait_until(lambda: len(load.answers) >= 30, 20, "30 answers before the fault")

    redis.stop()
    stopped_at = time.monotonic()
    not_ready = ready(gunicorn)
    wait_until(
        lambda: sum(a.method == "POST" for a in load.since(stopped_at)) >= 15,
        20,
        "15 creates while Redis is down",
    )
    during = load.since(stopped_at)
    redis.start()
    back_at = time.monotonic()
    recovered_in = wait_until(
        lambda: ready(gunicorn).status_code == 200, RECOVERY_SECONDS, "ready again"
    )
    recovered_at = back_at + recovered_in
    wait_until(lambda: len(load.since(recovered_at)) >= 15, 20, "15 answers after recovery")
    after = load.since(recovered_at)
    log = gunicorn.log()

    print(f"during the outage: {summary(during)}; ready again after {recovered_in:.2f} s")
    assert not_ready.status_code == 503, not_ready.text
    assert is_error_shape(not_ready.json()), not_ready.text
    assert set(not_ready.json()["error"]["fields"]) == {"cache", "channel_layer"}
    assert during and all(a.status in (200, 201) for a in during), summary(during)
    # Throttles let requests through uncounted while Redis is down, and count again after.
    assert not any(a.rate_limited for a in during), summary(during)
    assert all(a.status in (200, 201) and a.rate_limited for a in after), summary(after)
    # The faults are logged, not hidden: the cache's, the throttles' and the unsent events.
    assert {"django_redis.cache", "taskmanager.throttles", "realtime.sending"} <= warned_by(log)


def warned_by(log: str) -> set[str]:
    """The loggers that wrote a warning or an error in a JSON-lines server log."""
    loggers = set()
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("level") in ("WARNING", "ERROR"):
            loggers.add(record.get("logger"))
    return loggers


class FollowingClient:
    """A socket client as docs/realtime.md describes one, in a thread: connect, wait for
    `ready`, resume after the last event seen, read; on any failure, connect again."""

    def __init__(self, server: Server, access: str) -> None:
        self.server, self.access = server, access
        self.events: list[dict[str, Any]] = []
        self.connections = 0
        self.resumed: list[dict[str, Any]] = []
        self.closes: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    @property
    def last(self) -> int:
        return self.events[-1]["event"] if self.events else 0

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.follow()
            except (OSError, WebSocketException, TimeoutError) as exc:
                self.closes.append(f"{type(exc).__name__}: {exc}")
            self.stopping.wait(0.2)

    def follow(self) -> None:
        with connect(
            f"{self.server.ws_url}/ws/tasks/",
            additional_headers={"Authorization": f"Bearer {self.access}"},
            open_timeout=5,
        ) as socket:
            ready = json.loads(socket.recv(timeout=5))
            if ready.get("type") != "ready":
                self.closes.append(f"refused: {ready}")
                return
            self.connections += 1
            socket.send(json.dumps({"type": "resume", "after": self.last}))
            while not self.stopping.is_set():
                try:
                    message = json.loads(socket.recv(timeout=0.5))
                except TimeoutError:
                    continue
                if message["type"].startswith("task."):
                    self.events.append(message)
                elif message["type"] == "resumed":
                    self.resumed.append(message)

    def __enter__(self) -> "FollowingClient":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)


def test_sockets_reconnect_and_resume_without_gaps_once_redis_is_back(
    gunicorn: Server, daphne: Server, redis: RedisInstance
):
    owner = register_and_login(gunicorn)
    headers = {"Authorization": f"Bearer {owner['access']}"}
    tasks_url = f"{gunicorn.base_url}/api/v1/tasks/"

    def create(title: str) -> dict[str, Any]:
        response = requests.post(tasks_url, json={"title": title}, headers=headers, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()

    def feed() -> list[int]:
        response = requests.get(
            f"{tasks_url}events/", params={"limit": 100}, headers=headers, timeout=10
        )
        assert response.status_code == 200, response.text
        return [event["id"] for event in response.json()["results"]]

    with FollowingClient(daphne, owner["access"]) as client:

        def event_ids() -> list[int]:
            return [message["event"] for message in client.events]

        wait_until(lambda: client.connections == 1, 10, "the socket is ready")
        first = create("before the fault")
        wait_until(lambda: len(client.events) == 1, 10, "the first event arrives live")

        redis.stop()
        missed = [create(f"while Redis is down {n}") for n in range(3)]
        changed = requests.patch(
            f"{tasks_url}{first['id']}/", json={"status": "completed"}, headers=headers, timeout=10
        )
        assert changed.status_code == 200, changed.text
        redis.start()

        expected = feed()
        caught_up_in = eventually(lambda: event_ids() == expected, RECOVERY_SECONDS)
        # Live delivery works again too: the socket follows its groups on the new Redis.
        live = create("after the fault")
        live_in = eventually(lambda: live["id"] in [m["task"]["id"] for m in client.events], 10)
        received = event_ids()
        final = feed()

    print(
        f"caught up: {caught_up_in} s after Redis returned; live event: {live_in} s; "
        f"{client.connections} connections; closes: {client.closes}"
    )
    assert len(expected) == 5
    assert caught_up_in is not None, (
        f"events missed during the outage not delivered within {RECOVERY_SECONDS} s of "
        f"Redis' return: received {received}, the feed has {expected}; "
        f"{client.connections} connection(s), resumes answered: {client.resumed}"
    )
    assert live_in is not None, f"no live event after Redis returned: {received} vs {final}"
    # Every event exactly once, in order, no gap.
    assert received == final
    assert [m["task"]["id"] for m in client.events[1:4]] == [task["id"] for task in missed]


def open_sockets(server: Server) -> float:
    response = requests.get(f"{server.base_url}/monitoring/metrics/", timeout=10)
    assert response.status_code == 200, response.text
    for line in response.text.splitlines():
        if line.startswith("taskmanager_websockets_open "):
            return float(line.split()[1])
    raise AssertionError("taskmanager_websockets_open is not exported")


def talk(socket: ClientConnection) -> None:
    """A ping answered, or the socket closed by the server: either is an answer."""
    try:
        socket.send(json.dumps({"type": "ping"}))
        while json.loads(socket.recv(timeout=10))["type"] != "pong":
            pass
    except ConnectionClosed:
        pass


def test_sockets_of_a_redis_outage_are_not_counted_as_open_afterwards(
    gunicorn: Server, daphne: Server, redis: RedisInstance
):
    user = register_and_login(gunicorn)
    headers = {"Authorization": f"Bearer {user['access']}"}
    baseline = open_sockets(daphne)
    with connect(f"{daphne.ws_url}/ws/tasks/", additional_headers=headers) as socket:
        assert json.loads(socket.recv(timeout=5))["type"] == "ready"
        assert open_sockets(daphne) == baseline + 1
        redis.stop()
        # The server either drops the socket or keeps answering it; the client leaves.
        talk(socket)
    # And a socket opened while Redis is down, whatever the server makes of it.
    with connect(f"{daphne.ws_url}/ws/tasks/", additional_headers=headers) as socket:
        talk(socket)
    redis.start()

    wait_until(lambda: open_sockets(daphne) == baseline, 5, "the gauge is back to its baseline")


# PostgreSQL.


def creates(server: Server, user: dict[str, Any]) -> bool:
    """Whether a create (which needs the database) succeeds now."""
    response = requests.post(
        f"{server.base_url}/api/v1/tasks/",
        json={"title": "probe"},
        headers={"Authorization": f"Bearer {user['access']}"},
        timeout=REQUEST_TIMEOUT,
    )
    return response.status_code == 201


@pytest.fixture
def gunicorn_short_pool_wait(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A request waits at most 2 s (not 10) for a pooled connection: the outage then
    answers every waiting request within the test's time."""
    with serve(
        "gunicorn", {**env, "DATABASE_POOL_TIMEOUT": "2"}, tmp_path_factory.mktemp("logs")
    ) as server:
        yield server


def test_postgres_restarted_under_load_answers_503_then_recovers_by_itself(
    gunicorn_short_pool_wait: Server,
    cluster: PostgresCluster,
    load_on: Callable[[Server, int], Load],
):
    server = gunicorn_short_pool_wait
    load = load_on(server, 3)
    probe = register_and_login(server)
    wait_until(lambda: len(load.answers) >= 30, 20, "30 answers before the fault")

    cluster.stop("fast")
    stopped_at = time.monotonic()
    not_ready = ready(server)
    wait_until(
        lambda: sum(a.status != 200 for a in load.since(stopped_at)) >= 6,
        20,
        "6 answers that needed the database while it is down",
    )
    cluster.start()
    back_at = time.monotonic()

    recovered_in = wait_until(
        lambda: creates(server, probe), RECOVERY_SECONDS, "a create succeeds again", 0.2
    )
    recovered_at = back_at + recovered_in
    wait_until(lambda: len(load.since(recovered_at)) >= 15, 20, "15 answers after recovery")
    during = [a for a in load.since(stopped_at) if a.at < back_at]
    after = load.since(recovered_at)
    log = server.log()

    print(
        f"outage: {summary(during)}; recovered {recovered_in:.2f} s after PostgreSQL; "
        f"after: {summary(after)}"
    )
    assert not_ready.status_code == 503, not_ready.text
    assert is_error_shape(not_ready.json()), not_ready.text
    assert set(not_ready.json()["error"]["fields"]) == {"database"}
    assert all(a.status in (200, 201) for a in after), summary(after)
    failed = [a for a in load.since(stopped_at) if a.status not in (200, 201)]
    assert failed, "nothing needed the database during the outage"
    bad = [a for a in failed if a.status != 503 or not is_error_shape(a.body)]
    assert not bad, f"{summary(bad)}: {bad[:3]}"
    assert {a.body["error"]["code"] for a in failed} == {"service_unavailable"}
    assert "Internal Server Error" not in log


# A server killed during uploads.

UPLOAD_BYTES = 3 * 1024 * 1024  # over FILE_UPLOAD_MAX_MEMORY_SIZE: streamed to a temp file


def text_content(label: str, size: int = UPLOAD_BYTES) -> bytes:
    line = f"{label} the quick brown fox jumps over the lazy dog\n".encode()
    return (line * (size // len(line) + 1))[:size]


def multipart(name: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    body += content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def stream_upload(server: Server, access: str, name: str, content: bytes, pause: float) -> None:
    """POST /api/v1/files/ with the body sent in 64 KiB chunks, `pause` s apart; any
    answer, or none (the server died), is fine: the stored state is what counts."""
    body, content_type = multipart(name, content)
    host, port = server.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=REQUEST_TIMEOUT)
    try:
        connection.putrequest("POST", "/api/v1/files/")
        connection.putheader("Authorization", f"Bearer {access}")
        connection.putheader("Content-Type", content_type)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        for start in range(0, len(body), 64 * 1024):
            connection.send(body[start : start + 64 * 1024])
            time.sleep(pause)
        connection.getresponse().read()
    except OSError:
        pass
    finally:
        connection.close()


def live_children(pid: int) -> list[int]:
    """Processes whose parent is `pid`, zombies (killed, not yet reaped) left out."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except OSError:
            continue
        if int(ppid) == pid and state != "Z":
            children.append(int(stat.parent.name))
    return children


def the_worker(server: Server, not_this: int = 0) -> int:
    """The pid of the one gunicorn worker (another than `not_this`, once it was killed)."""
    wait_until(
        lambda: [pid for pid in live_children(server.process.pid) if pid != not_this] != [],
        20,
        "a gunicorn worker",
    )
    (worker,) = (pid for pid in live_children(server.process.pid) if pid != not_this)
    return worker


def stored_names(media_root: Path) -> set[str]:
    uploads = media_root / "uploads"
    if not uploads.exists():
        return set()
    return {
        path.relative_to(media_root).as_posix() for path in uploads.rglob("*") if path.is_file()
    }


def test_a_server_killed_during_uploads_leaves_no_orphan_after_cleanup_files(
    env: dict[str, str], tmp_path: Path
):
    media_root, temp_dir = tmp_path / "media", tmp_path / "tmp"
    temp_dir.mkdir()
    # TMPDIR: where Django spools uploads, so the test sees one being received.
    upload_env = {**env, "MEDIA_ROOT": str(media_root), "TMPDIR": str(temp_dir)}
    database = env["DATABASE_URL"]

    def rows() -> dict[str, str]:
        with psycopg.connect(database) as conn:
            return dict(conn.execute("SELECT storage_name, sha256 FROM files_file").fetchall())

    with serve("gunicorn", upload_env, tmp_path, workers=1) as server:
        user = register_and_login(server)
        headers = {"Authorization": f"Bearer {user['access']}"}
        # Uploads completed before the kill.
        completed = {}
        for n in range(2):
            content = text_content(f"kept {n}", 1024 * 1024 + n)
            response = requests.post(
                f"{server.base_url}/api/v1/files/",
                files={"file": (f"kept-{n}.txt", content, "text/plain")},
                headers=headers,
                timeout=REQUEST_TIMEOUT,
            )
            assert response.status_code == 201, response.text
            completed[response.json()["id"]] = content
        kept = stored_names(media_root)
        assert len(kept) == 2

        # 1. Killed between storing the bytes and writing the row: the table is locked,
        # so the upload stores its bytes and then waits on its INSERT.
        with psycopg.connect(database) as lock:
            lock.execute("LOCK TABLE files_file IN ACCESS EXCLUSIVE MODE")
            blocked = threading.Thread(
                target=stream_upload,
                args=(server, user["access"], "blocked.txt", text_content("blocked"), 0),
                daemon=True,
            )
            blocked.start()
            wait_until(lambda: len(stored_names(media_root)) == 3, 20, "the bytes are stored")
            killed = the_worker(server)
            os.kill(killed, signal.SIGKILL)
            lock.rollback()
        blocked.join(timeout=REQUEST_TIMEOUT)
        orphan = stored_names(media_root) - kept

        # 2. Killed while bodies stream in: three slow uploads, the first one being
        # received (its temporary file exists) when worker and master die.
        worker = the_worker(server, not_this=killed)  # the master started a new one
        slow = [
            threading.Thread(
                target=stream_upload,
                args=(server, user["access"], f"slow-{n}.txt", text_content(f"slow {n}"), 0.05),
                daemon=True,
            )
            for n in range(3)
        ]
        for thread in slow:
            thread.start()
        wait_until(
            lambda: any(path.stat().st_size > 0 for path in temp_dir.iterdir()),
            20,
            "an upload is being received",
        )
        os.kill(worker, signal.SIGKILL)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        for thread in slow:
            thread.join(timeout=REQUEST_TIMEOUT)

    with serve("gunicorn", upload_env, tmp_path, workers=1) as server:
        cleanup = subprocess.run(
            [sys.executable, "manage.py", "cleanup_files", "--older-than", "0"],
            cwd=BASE_DIR,
            env=upload_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        downloads = {
            pk: requests.get(
                f"{server.base_url}/api/v1/files/{pk}/download/", headers=headers, timeout=10
            )
            for pk in completed
        }
        listed = requests.get(f"{server.base_url}/api/v1/files/", headers=headers, timeout=10)

    print(cleanup.stdout)
    assert len(orphan) == 1, "the first kill left stored bytes without a row"
    assert f"orphan {orphan.pop()} " in cleanup.stdout
    assert "orphans: 1 " in cleanup.stdout and "missing: 0" in cleanup.stdout
    # No row without bytes, no bytes without a row; what completed is intact. On a
    # loaded machine a slow upload can finish before the kill: it must then be whole.
    stored, stored_rows = stored_names(media_root), rows()
    assert kept <= stored
    assert set(stored_rows) == stored
    for name, sha256 in stored_rows.items():
        assert hashlib.sha256((media_root / name).read_bytes()).hexdigest() == sha256
    assert listed.status_code == 200 and listed.json()["count"] == len(stored_rows)
    for pk, response in downloads.items():
        assert response.status_code == 200, response.text
        assert response.content == completed[pk]
    assert hashlib.sha256(completed[max(completed)]).hexdigest() in rows().values()
