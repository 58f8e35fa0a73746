"""The worker for real: `manage.py db_worker` processes against the test database,
delivering what the API writes with no call from the test, surviving a kill -9 in
the middle of a delivery, keeping a slow endpoint from delaying the others, and
telling /monitoring/ready/worker/ that it lives (PostgreSQL only). Also the sender
threads of a worker (sending.Senders), in this process."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import User
from activity.models import Event
from projects.models import Project
from tests.webhooks.helpers import TASKS_URL, new_webhook, verified
from tests.webhooks.receiver import Receiver, Reply
from webhooks import monitoring, sending, services
from webhooks.models import Attempt, Delivery, Webhook, WorkerHeartbeat

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("local_endpoints"),
]
# The worker process and the test share the test database, which the in-memory SQLite
# of the tests cannot be.
needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the worker process shares the test database: PostgreSQL only",
)

BASE_DIR = Path(settings.BASE_DIR)
READY_URL = "/monitoring/ready/worker/"


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def worker_id(self) -> str:
        return f"{socket.gethostname()}:{self.process.pid}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]

    def kill(self) -> None:
        """kill -9: no chance to finish or record anything."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def database_url() -> str:
    """The test database (pytest-django's), as the worker's DATABASE_URL."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{user}{password}@{host}{port}/{quote(db['NAME'], safe='')}"


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """`start_worker(timeout=1, **env)`: a db_worker process, once its first heartbeat
    is in the database; every one is killed at the end of the test, before the test
    database is emptied."""
    workers: list[Worker] = []

    def start(
        timeout: float = 1.0, lease_margin: float = 1.0, args: Sequence[str] = (), **env: str
    ) -> Worker:
        log = tmp_path / f"worker-{len(workers)}.log"
        environment = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "WEBHOOK_ALLOW_HTTP": "true",
            "WEBHOOK_ALLOW_PRIVATE": "true",
            # Short attempts and leases: a killed worker's delivery is due again soon.
            "WEBHOOK_TIMEOUT_SECONDS": str(timeout),
            "WEBHOOK_LEASE_MARGIN_SECONDS": str(lease_margin),
            **env,
        }
        command = [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--no-reload"]
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*command, "--interval", "0.5", *args],
                cwd=BASE_DIR,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(process, log)
        workers.append(worker)

        def beating() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the worker exited:\n{worker.output()}")
            return WorkerHeartbeat.objects.filter(worker_id=worker.worker_id).exists()

        wait_until(beating, 30, "the worker's first heartbeat")
        return worker

    yield start
    for worker in workers:
        worker.kill()


def create_task(client: Any, project: Project, title: str) -> dict[str, Any]:
    response = client.post(TASKS_URL, {"title": title, "project": project.pk}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def event_id_of(task: dict[str, Any]) -> str:
    return str(Event.objects.get(type="task.created", subject_id=task["id"]).pk)


# --- the worker process -------------------------------------------------------------------


@needs_postgres
def test_a_write_is_delivered_by_the_worker_with_no_call_from_the_test(
    member, member_client, project, receiver: Receiver, start_worker
):
    hook = new_webhook(member, receiver.url(), project)
    worker = start_worker()

    task = create_task(member_client, project, "Prune the roses")

    [request] = receiver.wait_for(1, timeout=10)
    assert request.headers["webhook-id"] == event_id_of(task)
    assert verified(hook.secret, request)["data"]["task"]["id"] == task["id"]
    wait_until(
        lambda: Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 1,
        10,
        f"the delivery recorded as succeeded\n{worker.output()}",
    )


@needs_postgres
def test_a_worker_killed_mid_delivery_loses_nothing(
    member, member_client, project, receiver: Receiver, start_worker
):
    hook = new_webhook(member, receiver.url(), project)
    gate = threading.Event()
    receiver.script("/hook", Reply(hold=gate))  # the first request hangs; the others: 200
    first = start_worker()

    tasks = [create_task(member_client, project, "Held")]
    receiver.wait_for(1, timeout=10)
    tasks += [create_task(member_client, project, f"More {i}") for i in range(2)]
    first.kill()  # while the endpoint holds the first request: no answer recorded
    gate.set()
    held = Delivery.objects.get(message_id=event_id_of(tasks[0]))
    assert (held.status, held.attempts) == (Delivery.Status.DELIVERING, 1)
    assert not Attempt.objects.filter(delivery=held).exists()
    # Written while no worker runs: waits in the outbox.
    tasks.append(create_task(member_client, project, "While no worker runs"))

    second = start_worker()

    expected = {event_id_of(task) for task in tasks}
    wait_until(
        lambda: {r.headers["webhook-id"] for r in receiver.requests()} >= expected,
        15,
        f"every event delivered\n{second.output()}",
    )
    wait_until(
        lambda: (
            set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
        ),
        10,
        f"every delivery recorded as succeeded\n{second.output()}",
    )
    assert set(Delivery.objects.values_list("message_id", flat=True)) == expected
    # The held one was sent again, under the same webhook-id, with the same body.
    again = [r for r in receiver.requests() if r.headers["webhook-id"] == held.message_id]
    assert len(again) >= 2
    assert again[-1].body == again[0].body
    verified(hook.secret, again[-1])
    held.refresh_from_db()
    assert held.attempts == 2  # the killed attempt counts
    assert list(held.attempt_log.values_list("number", "status_code")) == [(2, 200)]


@needs_postgres
def test_a_slow_endpoint_delays_neither_the_api_nor_other_endpoints(
    member, member_client, project, receiver: Receiver, start_worker
):
    slow = new_webhook(member, receiver.url("/slow"), project)
    gate = threading.Event()  # never set: the slow endpoint answers after the test
    receiver.script("/slow", *[Reply(hold=gate)] * 20)
    # A pool smaller than the slow endpoint's senders: a sender waiting for an answer
    # must not hold a database connection that the others need.
    worker = start_worker(timeout=4.0, lease_margin=30.0, DATABASE_POOL_MAX_SIZE="2")
    cap = services.IN_FLIGHT_PER_WEBHOOK
    backlog = [create_task(member_client, project, f"Slow {i}") for i in range(cap + 2)]
    # The first attempts time out; two senders go on with the backlog's last two.
    receiver.wait_for(len(backlog), "/slow", timeout=15)
    fast = new_webhook(member, receiver.url("/fast"), project)

    started = time.monotonic()
    task = create_task(member_client, project, "Fast")
    answered = time.monotonic()

    [request] = receiver.wait_for(1, "/fast", timeout=10)
    assert request.headers["webhook-id"] == event_id_of(task)
    verified(fast.secret, request)
    # It arrived while the slow endpoint's later attempts were still hanging: only
    # the first ones (timed out) are recorded.
    assert Attempt.objects.filter(delivery__webhook=slow).count() == cap, worker.output()
    hanging = Delivery.objects.filter(message_id__in=[event_id_of(t) for t in backlog[cap:]])
    assert {(d.status, d.attempt_log.count()) for d in hanging} == {("delivering", 0)}
    assert not any(r.answered.is_set() for r in receiver.requests("/slow"))
    # The API answered before the delivery even left: it never waits for one.
    assert started < answered < request.arrived
    assert not Delivery.objects.filter(webhook=slow, status=Delivery.Status.SUCCEEDED).exists()


@needs_postgres
def test_the_worker_reports_its_heartbeat_to_the_readiness_check(
    client, start_worker, tmp_path: Path
):
    response = client.get(READY_URL)
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "not_ready"
    heartbeat_file = tmp_path / "worker.heartbeat"

    worker = start_worker(args=["--heartbeat", str(heartbeat_file)])

    beat = WorkerHeartbeat.objects.get(worker_id=worker.worker_id)
    assert timezone.now() - beat.seen_at < timedelta(seconds=10)
    assert beat.started_at <= beat.seen_at
    wait_until(heartbeat_file.exists, 5, "the heartbeat file touched")
    response = client.get(READY_URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert [w["id"] for w in body["workers"]] == [worker.worker_id]
    assert body["queue"] == {"pending": 0, "delivering": 0}

    worker.stop()
    # Heard from last longer ago than a live worker ever is.
    WorkerHeartbeat.objects.update(
        seen_at=timezone.now() - timedelta(seconds=monitoring.ALIVE_SECONDS + 1)
    )
    response = client.get(READY_URL)
    assert response.status_code == 503, response.content
    assert response.json()["error"]["fields"] == {"worker": ["not_seen"]}


# --- the sender threads ---------------------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="sender threads write at once: the tests' in-memory SQLite locks whole tables",
)
def test_senders_claim_no_more_than_they_have_idle_threads(
    member: User, project: Project, receiver: Receiver, monkeypatch
):
    # A delivery claimed while every thread is busy would wait past its lease, be
    # claimed again by the next look and then sent twice.
    monkeypatch.setattr(sending, "THREADS", 2)
    monkeypatch.setattr(sending, "SQLITE_THREADS", 2)
    gate = threading.Event()
    hooks: list[Webhook] = []
    for i in range(4):
        hooks.append(new_webhook(member, receiver.url(f"/h{i}"), project))
        receiver.script(f"/h{i}", Reply(hold=gate))
        services.webhook_test(webhook=hooks[-1], actor=member)
    senders = sending.Senders()

    try:
        assert senders.pump() == 2
        receiver.wait_for(2, timeout=10)
        assert senders.pump() == 0  # both threads busy
        statuses = sorted(Delivery.objects.values_list("status", flat=True))
        assert statuses == ["delivering", "delivering", "pending", "pending"]
    finally:
        gate.set()
    wait_until(lambda: senders.busy() == 0, 10, "the senders done")
    wait_until(lambda: senders.pump() == 0 and senders.busy() == 0, 10, "every delivery sent")
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    assert len(receiver.requests()) == 4
