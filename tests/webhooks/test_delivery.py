"""From the outbox to the receiver: which events a webhook gets, what a delivery looks
like (Standard Webhooks headers and signature, the event as sockets get it), what
counts as delivered, the retry schedule, disabling, and the claims and leases that
keep each delivery sent once. The worker's loop runs here in the test's thread
(helpers.deliver); tests/webhooks/test_worker.py runs the real worker process."""

import email.utils
import random
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import User
from activity.models import Event
from activity.selectors import event_message
from projects.models import Project
from taskmanager.datetimes import datetime_out
from tasks.services import task_create
from tests.webhooks.helpers import TASKS_URL, deliver, new_webhook, verified
from tests.webhooks.receiver import Receiver, Reply
from webhooks import sending, services
from webhooks.models import Attempt, Delivery, Webhook, WorkerHeartbeat

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_endpoints")]

DISPATCH_TASK = "webhooks.tasks.dispatch"


@pytest.fixture
def hook(member: User, project: Project, receiver: Receiver) -> Webhook:
    """Garden's webhook, to the receiver's /hook, every event type."""
    return new_webhook(member, receiver.url(), project)


def create_task(client: Any, project: Project, title: str = "Prune the roses") -> dict[str, Any]:
    response = client.post(TASKS_URL, {"title": title, "project": project.pk}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def delivery_of(webhook: Webhook) -> Delivery:
    return Delivery.objects.get(webhook=webhook)


def make_due(*deliveries: Delivery) -> None:
    """As if the time of their next attempt had come."""
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        next_attempt_at=timezone.now()
    )


def seconds_until_next_attempt(delivery: Delivery) -> float:
    delivery.refresh_from_db()
    return (delivery.next_attempt_at - timezone.now()).total_seconds()


# --- what is sent ---------------------------------------------------------------------------


def test_an_api_write_reaches_the_receiver_signed_with_the_event_as_sockets_get_it(
    member_client, project, hook, receiver: Receiver, committed
):
    with committed():
        task = create_task(member_client, project)

    # After commit, the outbox's subscriber queued a dispatch for the worker.
    assert DBTaskResult.objects.filter(task_path=DISPATCH_TASK).count() == 1
    assert deliver() == 1
    [request] = receiver.wait_for(1)
    event = Event.objects.get(type="task.created", subject_id=task["id"])
    assert request.method == "POST"
    assert request.path == "/hook"
    assert request.headers["webhook-id"] == str(event.pk)
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 10
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["content-type"] == "application/json"
    body = verified(hook.secret, request)
    assert set(body) == {"type", "timestamp", "data"}
    assert body["type"] == "task.created"
    assert body["timestamp"] == datetime_out(event.created_at)
    assert body["data"] == event_message(event)
    assert body["data"]["task"]["id"] == task["id"]
    assert body["data"]["task"]["title"] == "Prune the roses"
    delivery = delivery_of(hook)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        Delivery.Status.SUCCEEDED,
        1,
        200,
    )
    assert delivery.message_id == str(event.pk)
    hook.refresh_from_db()
    assert hook.last_delivery_at is not None


def test_every_change_of_the_project_is_sent_once(member_client, project, hook, receiver: Receiver):
    task = create_task(member_client, project)
    response = member_client.patch(
        f"{TASKS_URL}{task['id']}/", {"status": "completed"}, format="json"
    )
    assert response.status_code == 200, response.content

    assert deliver() == 2
    assert deliver() == 0

    requests = receiver.wait_for(2)
    assert [verified(hook.secret, r)["type"] for r in requests] == ["task.created", "task.updated"]
    assert len({r.headers["webhook-id"] for r in requests}) == 2


def test_a_rolled_back_write_sends_nothing(
    member, project, hook, receiver: Receiver, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        task_create(actor=member, title="Never", project=project)
        raise RuntimeError("the request failed after the write")

    assert not DBTaskResult.objects.filter(task_path=DISPATCH_TASK).exists()
    assert deliver() == 0
    assert not Delivery.objects.exists()

    # The next write that commits is sent, and only it.
    with django_capture_on_commit_callbacks(execute=True):
        kept = task_create(actor=member, title="Kept", project=project)
    assert DBTaskResult.objects.filter(task_path=DISPATCH_TASK).count() == 1
    assert deliver() == 1
    [request] = receiver.wait_for(1)
    assert verified(hook.secret, request)["data"]["task"]["id"] == kept.pk
    assert receiver.requests() == [request]


def test_a_webhook_gets_only_the_event_types_it_asked_for(
    member_client, member, project, receiver: Receiver
):
    hook = new_webhook(member, receiver.url(), project, event_types=["task.updated"])
    task = create_task(member_client, project)
    member_client.patch(f"{TASKS_URL}{task['id']}/", {"title": "Renamed"}, format="json")

    assert deliver() == 1

    [request] = receiver.wait_for(1)
    assert verified(hook.secret, request)["type"] == "task.updated"
    assert list(Delivery.objects.values_list("event_type", flat=True)) == ["task.updated"]


def test_a_project_webhook_does_not_get_another_projects_events(
    other_member_client, admin, project, other_project, hook, receiver: Receiver
):
    everything = new_webhook(admin, receiver.url("/all"))

    task = create_task(other_member_client, other_project)
    deliver()

    assert receiver.requests("/hook") == []
    [request] = receiver.wait_for(1, path="/all")
    assert verified(everything.secret, request)["data"]["task"]["id"] == task["id"]


def test_a_task_leaving_the_project_is_sent_to_the_project_it_left(
    other_member_client, project, other_project, hook, receiver: Receiver
):
    task = create_task(other_member_client, project)
    moved = other_member_client.patch(
        f"{TASKS_URL}{task['id']}/", {"project": other_project.pk}, format="json"
    )
    assert moved.status_code == 200, moved.content

    deliver()

    _created, updated = receiver.wait_for(2)
    body = verified(hook.secret, updated)
    assert body["type"] == "task.updated"
    assert body["data"]["changes"]["project"] == [project.pk, other_project.pk]


def test_a_webhook_registered_after_an_event_does_not_get_it(
    member_client, member, project, hook, receiver: Receiver
):
    first = create_task(member_client, project, "Before")
    late = new_webhook(member, receiver.url("/late"), project)
    second = create_task(member_client, project, "After")

    deliver()

    ids = [verified(hook.secret, r)["data"]["task"]["id"] for r in receiver.wait_for(2, "/hook")]
    assert ids == [first["id"], second["id"]]
    [request] = receiver.wait_for(1, "/late")
    assert verified(late.secret, request)["data"]["task"]["id"] == second["id"]
    assert len(receiver.requests("/late")) == 1


def test_an_inactive_webhook_is_given_no_delivery(
    member_client, member, project, hook, receiver: Receiver
):
    services.webhook_update(webhook=hook, data={"is_active": False})

    create_task(member_client, project)

    assert deliver() == 0
    assert not Delivery.objects.exists()
    assert receiver.requests() == []


# --- what counts as delivered ---------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_a_success(member, project, hook, receiver: Receiver, status):
    receiver.script("/hook", Reply(status, body=b""))
    services.webhook_test(webhook=hook, actor=member)

    deliver()

    delivery = delivery_of(hook)
    assert (delivery.status, delivery.last_status_code) == (Delivery.Status.SUCCEEDED, status)
    assert delivery.finished_at is not None


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308, 304, 400, 401, 404, 429, 500, 503])
def test_anything_else_is_a_failure_and_redirects_are_not_followed(
    member, project, hook, receiver: Receiver, status
):
    receiver.script("/hook", Reply(status, headers={"Location": receiver.url("/elsewhere")}))
    services.webhook_test(webhook=hook, actor=member)

    deliver()

    delivery = delivery_of(hook)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        Delivery.Status.PENDING,
        1,
        status,
    )
    assert delivery.finished_at is None
    assert [a.status_code for a in delivery.attempt_log.all()] == [status]
    time.sleep(0.2)  # a followed redirect would have arrived by now
    assert [r.path for r in receiver.requests()] == ["/hook"]
    hook.refresh_from_db()
    assert hook.consecutive_failures == 1


def test_a_failure_then_a_success_is_retried_with_each_attempt_logged(
    member_client, project, hook, receiver: Receiver
):
    receiver.script("/hook", Reply(500, body=b"x" * 5000), Reply(200, body=b"thanks"))
    create_task(member_client, project)

    deliver()
    delivery = delivery_of(hook)
    assert (delivery.status, delivery.attempts) == (Delivery.Status.PENDING, 1)
    assert 4 <= seconds_until_next_attempt(delivery) <= 5.5
    assert deliver() == 0  # not due yet
    make_due(delivery)
    assert deliver() == 1

    first, second = receiver.wait_for(2)
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert second.body == first.body
    verified(hook.secret, second)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.SUCCEEDED, 2)
    attempts = list(delivery.attempt_log.all())
    assert [(a.number, a.status_code) for a in attempts] == [(1, 500), (2, 200)]
    assert attempts[0].response_body == "x" * 1024  # the first 1 KB only
    assert attempts[1].response_body == "thanks"


def test_an_endpoint_that_does_not_answer_is_a_failure_with_the_reason_logged(
    member, project, receiver: Receiver, settings
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    closed = Receiver()
    dead_url = closed.url()
    closed.close()
    dead = new_webhook(member, dead_url, project)
    slow = new_webhook(member, receiver.url("/slow"), project)
    receiver.script("/slow", Reply(delay=1.0))
    services.webhook_test(webhook=dead, actor=member)
    services.webhook_test(webhook=slow, actor=member)

    deliver()

    for webhook, reason in ((dead, "connection refused"), (slow, "timed out")):
        delivery = delivery_of(webhook)
        assert (delivery.status, delivery.last_status_code) == (Delivery.Status.PENDING, None)
        [attempt] = delivery.attempt_log.all()
        assert (attempt.status_code, attempt.error) == (None, reason)
        assert attempt.duration_ms < 1000


# --- the retry schedule ---------------------------------------------------------------------


def test_the_schedule_is_the_specs_with_jitter_of_ten_percent():
    assert services.RETRY_DELAYS == [
        5,
        5 * 60,
        30 * 60,
        2 * 3600,
        5 * 3600,
        10 * 3600,
        14 * 3600,
        20 * 3600,
        24 * 3600,
    ]
    assert services.MAX_ATTEMPTS == 10
    random.seed(25)
    for attempts, scheduled in enumerate(services.RETRY_DELAYS, start=1):
        delays = [services.retry_delay(attempts, None) for _ in range(300)]
        assert all(scheduled * 0.9 <= d <= scheduled * 1.1 for d in delays), attempts
        # Jittered: spread over the range, not one value.
        assert min(delays) < scheduled * 0.95
        assert max(delays) > scheduled * 1.05


def test_a_longer_retry_after_is_honoured_and_a_shorter_one_is_not():
    assert services.retry_delay(1, 120.0) == 120.0
    assert 4.5 <= services.retry_delay(1, 1.0) <= 5.5
    assert 270 <= services.retry_delay(2, 60.0) <= 330
    assert services.retry_delay(8, 23 * 3600) == 23 * 3600
    # Longer than the schedule's last delay is not waited for.
    assert services.retry_delay(1, 10 * 24 * 3600.0) == services.MAX_RETRY_AFTER


def test_each_failed_attempt_is_retried_on_the_schedule_until_the_last(member, project, hook):
    services.webhook_test(webhook=hook, actor=member)
    for attempts, scheduled in enumerate(services.RETRY_DELAYS, start=1):
        [delivery] = services.claim(limit=10)
        assert delivery.attempts == attempts

        outcome = services.record_attempt(
            delivery=delivery, at=timezone.now(), duration=0.01, status_code=503
        )

        assert outcome.result == "retry"
        left = seconds_until_next_attempt(delivery)
        assert scheduled * 0.9 - 1 <= left <= scheduled * 1.1, attempts
        assert outcome.retry_at == delivery.next_attempt_at
        assert services.claim(limit=10) == []  # not due before its time
        make_due(delivery)

    [delivery] = services.claim(limit=10)
    outcome = services.record_attempt(
        delivery=delivery, at=timezone.now(), duration=0.01, status_code=503
    )

    assert outcome.result == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, services.MAX_ATTEMPTS)
    assert delivery.attempt_log.count() == services.MAX_ATTEMPTS
    hook.refresh_from_db()
    assert hook.is_active is False
    assert hook.consecutive_failures == services.MAX_ATTEMPTS


@pytest.mark.parametrize(
    ("header", "low", "high"),
    [
        ("120", 119, 120.5),
        ("3", 4.5, 5.5),  # shorter than the schedule's 5 s: the schedule's
        ("soon", 4.5, 5.5),  # unreadable: the schedule's
        (None, 3598, 3600.5),  # an HTTP date (whole seconds) an hour ahead
        ("864000", 24 * 3600 - 1, 24 * 3600 + 0.5),  # ten days: no longer than 24 h
    ],
)
def test_the_retry_after_of_the_answer_is_honoured_when_longer(
    member, project, hook, receiver: Receiver, header, low, high
):
    if header is None:
        header = email.utils.format_datetime(timezone.now() + timedelta(hours=1), usegmt=True)
    receiver.script("/hook", Reply(503, headers={"Retry-After": header}))
    services.webhook_test(webhook=hook, actor=member)

    deliver()

    assert low <= seconds_until_next_attempt(delivery_of(hook)) <= high


def test_the_last_attempt_failing_fails_the_delivery_and_disables_the_webhook(
    member, project, hook, receiver: Receiver
):
    receiver.script("/hook", Reply(500))
    services.webhook_test(webhook=hook, actor=member)
    Delivery.objects.update(attempts=services.MAX_ATTEMPTS - 1)

    deliver()

    delivery = delivery_of(hook)
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, services.MAX_ATTEMPTS)
    assert delivery.finished_at is not None
    hook.refresh_from_db()
    assert hook.is_active is False
    assert "failed 10 times" in hook.disabled_reason
    assert "HTTP 500" in hook.disabled_reason
    # Nothing more is sent to it: its deliveries wait until it is turned on again.
    waiting = services.webhook_test(webhook=hook, actor=member)
    assert services.claim(limit=10) == []
    services.webhook_update(webhook=hook, data={"is_active": True})
    assert [d.pk for d in services.claim(limit=10)] == [waiting.pk]


def test_a_410_disables_the_webhook_at_once(member_client, project, hook, receiver: Receiver):
    receiver.script("/hook", Reply(410))
    create_task(member_client, project)

    deliver()

    delivery = delivery_of(hook)
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 1)
    hook.refresh_from_db()
    assert hook.is_active is False
    assert "410" in hook.disabled_reason
    # Later events are not even turned into deliveries for it.
    create_task(member_client, project, "Later")
    assert deliver() == 0
    assert Delivery.objects.count() == 1
    assert len(receiver.requests()) == 1


def test_a_disabled_webhooks_deliveries_are_not_claimed(member, project, hook, receiver):
    services.webhook_test(webhook=hook, actor=member)
    Webhook.objects.filter(pk=hook.pk).update(is_active=False)

    assert services.claim(limit=10) == []
    assert deliver() == 0
    assert delivery_of(hook).status == Delivery.Status.PENDING
    assert receiver.requests() == []


def test_consecutive_failures_are_counted_and_reset_by_a_success(
    member, project, hook, receiver: Receiver
):
    receiver.script("/hook", Reply(500), Reply(502), Reply(200))
    services.webhook_test(webhook=hook, actor=member)

    counts = []
    for _ in range(3):
        make_due(*Delivery.objects.all())
        deliver()
        hook.refresh_from_db()
        counts.append(hook.consecutive_failures)

    assert counts == [1, 2, 0]
    assert hook.is_active is True
    assert hook.last_delivery_at is not None


# --- claims and leases ----------------------------------------------------------------------


def test_a_webhook_has_at_most_its_cap_of_deliveries_in_flight(member, project, receiver):
    busy = new_webhook(member, receiver.url("/busy"), project)
    quiet = new_webhook(member, receiver.url("/quiet"), project)
    for _ in range(services.IN_FLIGHT_PER_WEBHOOK + 2):
        services.webhook_test(webhook=busy, actor=member)
    for _ in range(2):
        services.webhook_test(webhook=quiet, actor=member)

    claimed = services.claim(limit=100)

    per_webhook = {w.pk: sum(d.webhook_id == w.pk for d in claimed) for w in (busy, quiet)}
    assert per_webhook == {busy.pk: services.IN_FLIGHT_PER_WEBHOOK, quiet.pk: 2}
    assert all(d.status == Delivery.Status.DELIVERING and d.attempts == 1 for d in claimed)
    assert services.claim(limit=100) == []
    # One answered: one more of that webhook may go.
    first = next(d for d in claimed if d.webhook_id == busy.pk)
    services.record_attempt(delivery=first, at=timezone.now(), duration=0.1, status_code=200)
    [more] = services.claim(limit=100)
    assert more.webhook_id == busy.pk
    assert more.pk not in {d.pk for d in claimed}


def test_a_claimed_delivery_is_not_claimed_again_while_its_lease_lasts(member, project, hook):
    services.webhook_test(webhook=hook, actor=member)
    before = timezone.now()

    [delivery] = services.claim(limit=10)

    assert services.claim(limit=10) == []
    stored = Delivery.objects.get(pk=delivery.pk)
    assert stored.status == Delivery.Status.DELIVERING
    assert stored.lease_until is not None
    lease = (stored.lease_until - before).total_seconds()
    assert services.lease_seconds() <= lease < services.lease_seconds() + 5


def test_a_lease_that_ran_out_makes_the_delivery_due_again_and_the_late_answer_stale(
    member, project, hook
):
    services.webhook_test(webhook=hook, actor=member)
    [first] = services.claim(limit=10)
    # Its worker died: nobody recorded an answer before the lease ran out.
    Delivery.objects.filter(pk=first.pk).update(lease_until=timezone.now() - timedelta(seconds=1))

    [again] = services.claim(limit=10)

    assert again.pk == first.pk
    assert again.attempts == 2  # the lost attempt counts
    late = services.record_attempt(
        delivery=first, at=timezone.now(), duration=40.0, status_code=200
    )
    assert late.result == "stale"
    assert not Attempt.objects.exists()
    assert Delivery.objects.get(pk=first.pk).status == Delivery.Status.DELIVERING
    answer = services.record_attempt(
        delivery=again, at=timezone.now(), duration=0.1, status_code=200
    )
    assert answer.result == "delivered"
    assert list(Attempt.objects.values_list("number", "status_code")) == [(2, 200)]


def test_retrying_a_delivery_on_its_way_leaves_it_as_it_is(member, project, hook):
    services.webhook_test(webhook=hook, actor=member)
    [claimed] = services.claim(limit=10)

    services.delivery_retry(delivery=claimed)

    stored = Delivery.objects.get(pk=claimed.pk)
    assert (stored.status, stored.attempts) == (Delivery.Status.DELIVERING, 1)
    outcome = services.record_attempt(
        delivery=claimed, at=timezone.now(), duration=0.1, status_code=204
    )
    assert outcome.result == "delivered"


def test_send_due_sends_each_due_delivery_once(member, project, receiver: Receiver):
    hooks = [new_webhook(member, receiver.url(f"/h{i}"), project) for i in range(3)]
    for webhook in hooks:
        for _ in range(3):
            services.webhook_test(webhook=webhook, actor=member)

    assert sending.send_due() == 9

    requests = receiver.wait_for(9)
    assert len({r.headers["webhook-id"] for r in requests}) == 9
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}


# --- the log's retention --------------------------------------------------------------------


def test_prune_log_removes_old_finished_deliveries_only(member, project, hook):
    now = timezone.now()
    deliveries = {}
    for name in ("old", "recent", "old_pending"):
        delivery = services.webhook_test(webhook=hook, actor=member)
        Attempt.objects.create(delivery=delivery, number=1, at=now, duration_ms=1, status_code=500)
        deliveries[name] = delivery.pk
    Delivery.objects.filter(pk=deliveries["old"]).update(
        status=Delivery.Status.SUCCEEDED, finished_at=now - timedelta(days=31)
    )
    Delivery.objects.filter(pk=deliveries["recent"]).update(
        status=Delivery.Status.FAILED, finished_at=now - timedelta(days=29)
    )
    Delivery.objects.filter(pk=deliveries["old_pending"]).update(
        created_at=now - timedelta(days=60)
    )
    WorkerHeartbeat.objects.create(
        worker_id="gone", started_at=now - timedelta(days=3), seen_at=now - timedelta(days=2)
    )
    WorkerHeartbeat.objects.create(worker_id="alive", started_at=now, seen_at=now)

    assert services.prune_log(dry_run=True, batch_size=1) == [
        (1, "webhook deliveries"),
        (1, "worker heartbeats"),
    ]
    assert Delivery.objects.count() == 3

    assert services.prune_log(dry_run=False, batch_size=1) == [
        (1, "webhook deliveries"),
        (1, "worker heartbeats"),
    ]

    assert set(Delivery.objects.values_list("pk", flat=True)) == {
        deliveries["recent"],
        deliveries["old_pending"],
    }
    assert not Attempt.objects.filter(delivery_id=deliveries["old"]).exists()
    assert Attempt.objects.count() == 2
    assert list(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == ["alive"]
