"""The webhooks API: who registers and manages which webhook, what it refuses, the
secret (shown once, rotated with an overlap), test messages, the delivery log and
its retry. Deliveries go to a local receiver (tests/webhooks/receiver.py)."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import WebhookVerificationError

from accounts.models import User
from projects.models import Project
from tests.helpers import assert_error, assert_field_error, page, result_ids
from tests.webhooks.helpers import (
    ATTEMPT_SHAPE,
    DELIVERY_SHAPE,
    WEBHOOK_SHAPE,
    WEBHOOKS_URL,
    deliver,
    deliveries_url,
    new_webhook,
    signatures,
    verified,
    webhook_url,
)
from tests.webhooks.receiver import Receiver, Reply
from webhooks import services, signing
from webhooks.models import Delivery, Webhook

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_endpoints")]


def register(client: Any, **body: Any) -> Any:
    return client.post(WEBHOOKS_URL, body, format="json")


# --- registering ------------------------------------------------------------------------


def test_a_project_admin_registers_a_webhook_and_gets_its_secret_once(
    member_client, project, receiver: Receiver
):
    response = register(
        member_client,
        url=receiver.url(),
        project=project.pk,
        event_types=["task.updated", "task.created", "task.created"],
        description="CI",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == WEBHOOK_SHAPE | {"secret"}
    assert body["url"] == receiver.url()
    assert body["project"] == project.pk
    assert body["event_types"] == ["task.created", "task.updated"]
    assert body["is_active"] is True
    assert body["description"] == "CI"
    assert body["consecutive_failures"] == 0
    assert body["disabled_reason"] == ""
    assert body["last_delivery_at"] is None
    assert body["secret"].startswith("whsec_")
    assert Webhook.objects.get(pk=body["id"]).secret == body["secret"]

    shown = member_client.get(webhook_url(body))
    assert shown.status_code == 200, shown.content
    assert set(shown.json()) == WEBHOOK_SHAPE
    assert shown.json()["id"] == body["id"]
    listed = page(member_client.get(WEBHOOKS_URL))["results"]
    assert [set(item) for item in listed] == [WEBHOOK_SHAPE]
    assert body["secret"] not in shown.content.decode() + str(listed)


def test_a_plain_member_of_the_project_may_not_register_one(other_member_client, project, receiver):
    response = register(other_member_client, url=receiver.url(), project=project.pk)

    assert_error(response, 403, "permission_denied")
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("which", ["not_a_member", "no_such_project"])
def test_a_project_you_cannot_see_is_a_400_naming_project(
    outsider_client, project, receiver, which
):
    project_id = project.pk if which == "not_a_member" else project.pk + 1000

    response = register(outsider_client, url=receiver.url(), project=project_id)

    assert_field_error(response, "project")
    assert not Webhook.objects.exists()


def test_a_site_admin_registers_a_global_webhook(admin_client, receiver):
    response = register(admin_client, url=receiver.url())

    assert response.status_code == 201, response.content
    assert response.json()["project"] is None
    assert Webhook.objects.get(pk=response.json()["id"]).project_id is None


def test_a_site_admin_may_register_one_for_any_project(admin_client, project, receiver):
    response = register(admin_client, url=receiver.url(), project=project.pk)

    assert response.status_code == 201, response.content
    assert response.json()["project"] == project.pk


@pytest.mark.parametrize("who", ["member_client", "manager_client"])
def test_only_site_admins_register_a_global_webhook(request, who, project, receiver):
    client = request.getfixturevalue(who)

    for body in ({"url": receiver.url()}, {"url": receiver.url(), "project": None}):
        assert_error(register(client, **body), 403, "permission_denied")
    assert not Webhook.objects.exists()


def test_anonymous_requests_are_401(api_client, member, project, receiver):
    webhook = new_webhook(member, receiver.url(), project)

    assert_error(api_client.get(WEBHOOKS_URL), 401, "not_authenticated")
    assert_error(register(api_client, url=receiver.url()), 401, "not_authenticated")
    assert_error(api_client.get(webhook_url(webhook)), 401, "not_authenticated")
    assert_error(api_client.get(deliveries_url(webhook)), 401, "not_authenticated")


# --- who sees and manages what --------------------------------------------------------------


@pytest.fixture
def three_webhooks(
    member: User, other_member: User, admin: User, project: Project, other_project: Project
) -> dict[str, Webhook]:
    return {
        "garden": new_webhook(member, "https://example.com/garden", project),
        "workshop": new_webhook(other_member, "https://example.com/workshop", other_project),
        "global": new_webhook(admin, "https://example.com/all"),
    }


def test_the_list_holds_the_webhooks_of_the_projects_you_administer(
    member_client, other_member_client, admin_client, outsider_client, three_webhooks
):
    ids = {name: webhook.pk for name, webhook in three_webhooks.items()}

    assert result_ids(member_client.get(WEBHOOKS_URL)) == [ids["garden"]]
    # Otto is only a member of Garden: he manages Workshop's webhook, not Garden's.
    assert result_ids(other_member_client.get(WEBHOOKS_URL)) == [ids["workshop"]]
    assert result_ids(outsider_client.get(WEBHOOKS_URL)) == []
    assert result_ids(admin_client.get(WEBHOOKS_URL)) == sorted(ids.values())


def test_another_projects_webhook_is_404_for_every_action(member_client, three_webhooks):
    for name in ("workshop", "global"):
        webhook = three_webhooks[name]
        url = webhook_url(webhook)
        assert_error(member_client.get(url), 404, "not_found")
        assert_error(
            member_client.patch(url, {"description": "mine"}, format="json"), 404, "not_found"
        )
        assert_error(member_client.delete(url), 404, "not_found")
        assert_error(member_client.post(f"{url}rotate-secret/"), 404, "not_found")
        assert_error(member_client.post(f"{url}test/"), 404, "not_found")
        assert_error(member_client.get(deliveries_url(webhook)), 404, "not_found")
        webhook.refresh_from_db()
        assert webhook.description == ""
    assert Webhook.objects.count() == 3
    assert not Delivery.objects.exists()


def test_a_project_admin_changes_and_deletes_the_projects_webhook(
    member_client, three_webhooks, receiver
):
    url = webhook_url(three_webhooks["garden"])

    changed = member_client.patch(
        url,
        {"url": receiver.url("/new"), "event_types": ["comment.created"], "description": "new"},
        format="json",
    )

    assert changed.status_code == 200, changed.content
    assert set(changed.json()) == WEBHOOK_SHAPE
    assert changed.json()["url"] == receiver.url("/new")
    assert changed.json()["event_types"] == ["comment.created"]
    assert changed.json()["description"] == "new"
    assert member_client.get(url).json()["description"] == "new"

    deleted = member_client.delete(url)

    assert deleted.status_code == 204
    assert_error(member_client.get(url), 404, "not_found")
    assert not Webhook.objects.filter(pk=three_webhooks["garden"].pk).exists()


def test_a_site_admin_manages_every_webhook(admin_client, three_webhooks):
    url = webhook_url(three_webhooks["workshop"])

    assert admin_client.get(url).status_code == 200
    response = admin_client.patch(url, {"is_active": False}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["is_active"] is False


def test_a_plain_member_sees_no_webhook_of_the_project(other_member_client, three_webhooks):
    assert_error(other_member_client.get(webhook_url(three_webhooks["garden"])), 404, "not_found")


def test_the_project_of_a_webhook_cannot_change(member_client, three_webhooks, other_project):
    url = webhook_url(three_webhooks["garden"])

    response = member_client.patch(url, {"project": other_project.pk}, format="json")

    assert_field_error(response, "project")


# --- what is refused ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "https://user:password@example.com/hook"),
        ("url", "https://10.0.0.7/hook"),
        ("url", "https://127.0.0.1/hook"),
        ("url", "https://169.254.169.254/latest"),
        ("url", "ftp://example.com/hook"),
        ("url", "https://example.com/" + "x" * 2000),
        # Characters a URI may not hold unencoded (the schema's pattern says so too).
        ("url", "https://example.com/a|b"),
        ("url", "https://example.com/?q=a b"),
        ("url", ""),
        ("url", 5),
        ("event_types", ["task.created", "task.exploded"]),
        ("event_types", "task.created"),
        ("event_types", [1]),
        ("description", "x" * 501),
        ("description", 3),
        ("is_active", "yes"),
        ("is_active", 1),
        ("project", "1"),
        ("project", 0),
        ("secret", "whsec_mine"),
        ("colour", "blue"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(admin_client, settings, field, value):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    body = {"url": "https://example.com/hook", field: value}

    response = register(admin_client, **body)

    error = assert_field_error(response, field)
    assert set(error["fields"]) == {field}
    assert not Webhook.objects.exists()


def test_http_is_refused_unless_the_server_allows_it(admin_client, settings):
    settings.WEBHOOK_ALLOW_HTTP = False

    response = register(admin_client, url="http://example.com/hook")

    error = assert_field_error(response, "url")
    assert "https" in error["fields"]["url"][0]
    settings.WEBHOOK_ALLOW_HTTP = True
    assert register(admin_client, url="http://example.com/hook").status_code == 201


def test_every_bad_field_is_named_in_one_answer(admin_client, settings):
    settings.WEBHOOK_ALLOW_HTTP = False

    response = register(
        admin_client,
        url="http://example.com/hook",
        event_types=["nope"],
        description="x" * 501,
        is_active="true",
        extra=1,
    )

    error = assert_field_error(response, "url")
    assert set(error["fields"]) == {"url", "event_types", "description", "is_active", "extra"}


def test_a_bad_change_is_a_400_and_changes_nothing(member_client, member, project, settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    webhook = new_webhook(member, "https://example.com/hook", project)

    response = member_client.patch(
        webhook_url(webhook),
        {"url": "http://example.com/other", "event_types": ["nope"], "description": "fine"},
        format="json",
    )

    error = assert_field_error(response, "url")
    assert set(error["fields"]) == {"url", "event_types"}
    webhook.refresh_from_db()
    assert (webhook.url, webhook.event_types, webhook.description) == (
        "https://example.com/hook",
        [],
        "",
    )


def test_turning_a_disabled_webhook_on_again_clears_why_it_was_off(member_client, member, project):
    webhook = new_webhook(member, "https://example.com/hook", project)
    Webhook.objects.filter(pk=webhook.pk).update(
        is_active=False, disabled_reason="The endpoint answered 410 Gone.", consecutive_failures=7
    )
    shown = member_client.get(webhook_url(webhook)).json()
    assert (shown["is_active"], shown["consecutive_failures"]) == (False, 7)
    assert shown["disabled_reason"] == "The endpoint answered 410 Gone."

    response = member_client.patch(webhook_url(webhook), {"is_active": True}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["is_active"], body["disabled_reason"], body["consecutive_failures"]) == (
        True,
        "",
        0,
    )
    webhook.refresh_from_db()
    assert (webhook.is_active, webhook.disabled_reason, webhook.consecutive_failures) == (
        True,
        "",
        0,
    )


def test_changing_another_field_keeps_why_it_is_off(member_client, member, project):
    webhook = new_webhook(member, "https://example.com/hook", project)
    Webhook.objects.filter(pk=webhook.pk).update(
        is_active=False, disabled_reason="gone", consecutive_failures=2
    )

    response = member_client.patch(webhook_url(webhook), {"description": "x"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["disabled_reason"] == "gone"
    assert response.json()["consecutive_failures"] == 2


# --- secrets --------------------------------------------------------------------------------


def test_rotating_the_secret_signs_with_both_for_24_hours(
    member_client, project, receiver: Receiver
):
    created = register(member_client, url=receiver.url(), project=project.pk).json()
    old = created["secret"]

    rotated = member_client.post(f"{webhook_url(created)}rotate-secret/")

    assert rotated.status_code == 200, rotated.content
    assert set(rotated.json()) == WEBHOOK_SHAPE | {"secret"}
    new = rotated.json()["secret"]
    assert new.startswith("whsec_")
    assert new != old
    assert member_client.post(f"{webhook_url(created)}test/").status_code == 202
    deliver()
    [request] = receiver.wait_for(1)
    assert len(signatures(request)) == 2
    assert verified(old, request)["type"] == "webhook.test"
    assert verified(new, request)["type"] == "webhook.test"
    with pytest.raises(WebhookVerificationError):
        verified(signing.new_secret(), request)

    # 24 hours later only the new secret signs.
    Webhook.objects.filter(pk=created["id"]).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    member_client.post(f"{webhook_url(created)}test/")
    deliver()
    later = receiver.wait_for(2)[1]
    assert len(signatures(later)) == 1
    assert verified(new, later)["type"] == "webhook.test"
    with pytest.raises(WebhookVerificationError):
        verified(old, later)


def test_the_overlap_is_24_hours(member, project):
    webhook = new_webhook(member, "https://example.com/hook", project)
    before = timezone.now()

    rotated = services.webhook_rotate_secret(webhook=webhook)

    assert rotated.previous_secret == webhook.secret
    assert rotated.previous_secret_expires_at is not None
    overlap = rotated.previous_secret_expires_at - before
    assert timedelta(hours=24) <= overlap < timedelta(hours=24, seconds=5)


# --- test messages --------------------------------------------------------------------------


def test_the_test_endpoint_sends_a_webhook_test_message(
    member_client, member, project, receiver: Receiver
):
    created = register(member_client, url=receiver.url(), project=project.pk).json()

    response = member_client.post(f"{webhook_url(created)}test/")

    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == DELIVERY_SHAPE
    assert body["event_type"] == "webhook.test"
    assert body["status"] == "pending"
    assert body["attempts"] == 0
    assert body["event_id"] is None
    assert body["message_id"].startswith("test_")
    assert deliver() == 1
    [request] = receiver.wait_for(1)
    assert request.method == "POST"
    assert request.headers["webhook-id"] == body["message_id"]
    message = verified(created["secret"], request)
    assert message["type"] == "webhook.test"
    assert set(message) == {"type", "timestamp", "data"}
    assert message["data"]["webhook"] == created["id"]
    assert message["data"]["actor"] == member.pk
    assert Delivery.objects.get(pk=body["id"]).status == Delivery.Status.SUCCEEDED


# --- the delivery log -------------------------------------------------------------------------


def test_the_delivery_log_lists_newest_first_with_every_attempt(
    member_client, project, receiver: Receiver
):
    created = register(member_client, url=receiver.url(), project=project.pk).json()
    receiver.script("/hook", Reply(500, body=b"down for maintenance"), Reply(204, body=b""))
    first = member_client.post(f"{webhook_url(created)}test/").json()
    deliver()  # 500: retried later
    Delivery.objects.filter(pk=first["id"]).update(next_attempt_at=timezone.now())
    deliver()  # 204
    second = member_client.post(f"{webhook_url(created)}test/").json()

    log = page(member_client.get(deliveries_url(created)))["results"]

    assert [d["id"] for d in log] == [second["id"], first["id"]]
    assert all(set(d) == DELIVERY_SHAPE for d in log)
    done = log[1]
    assert (done["status"], done["attempts"], done["last_status_code"]) == ("succeeded", 2, 204)
    assert done["finished_at"] is not None
    assert done["next_attempt_at"] is None
    assert [a["number"] for a in done["log"]] == [1, 2]
    assert all(set(a) == ATTEMPT_SHAPE for a in done["log"])
    assert [a["status_code"] for a in done["log"]] == [500, 204]
    assert done["log"][0]["response_body"] == "down for maintenance"
    assert done["log"][0]["error"] == ""
    assert all(a["duration_ms"] >= 0 for a in done["log"])
    waiting = log[0]
    assert (waiting["status"], waiting["attempts"], waiting["log"]) == ("pending", 0, [])
    assert waiting["next_attempt_at"] is not None


def test_the_delivery_log_filters_by_status(member_client, project, receiver: Receiver):
    created = register(member_client, url=receiver.url(), project=project.pk).json()
    done = member_client.post(f"{webhook_url(created)}test/").json()
    deliver()
    waiting = member_client.post(f"{webhook_url(created)}test/").json()

    def ids(status: str) -> list[int]:
        return result_ids(member_client.get(deliveries_url(created), {"status": status}))

    assert ids("succeeded") == [done["id"]]
    assert ids("pending") == [waiting["id"]]
    assert ids("failed") == []


@pytest.mark.parametrize("query", [{"status": "lost"}, {"status": ""}, {"state": "pending"}])
def test_a_bad_delivery_log_query_is_a_400_naming_it(member_client, member, project, query):
    webhook = new_webhook(member, "https://example.com/hook", project)

    response = member_client.get(deliveries_url(webhook), query)

    assert_field_error(response, next(iter(query)))


def test_another_projects_delivery_log_is_404(member_client, other_member, other_project):
    webhook = new_webhook(other_member, "https://example.com/hook", other_project)
    services.webhook_test(webhook=webhook, actor=other_member)

    assert_error(member_client.get(deliveries_url(webhook)), 404, "not_found")
    assert_error(member_client.get(deliveries_url(10**6)), 404, "not_found")


def test_retrying_a_delivery_sends_the_same_message_again(
    member_client, project, receiver: Receiver
):
    created = register(member_client, url=receiver.url(), project=project.pk).json()
    receiver.script("/hook", Reply(400))
    delivery = member_client.post(f"{webhook_url(created)}test/").json()
    deliver()
    Delivery.objects.filter(pk=delivery["id"]).update(
        status=Delivery.Status.FAILED, finished_at=timezone.now()
    )

    response = member_client.post(f"{deliveries_url(created)}{delivery['id']}/retry/")

    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["attempts"], body["finished_at"]) == ("pending", 0, None)
    assert deliver() == 1
    first, again = receiver.wait_for(2)
    assert again.headers["webhook-id"] == first.headers["webhook-id"] == delivery["message_id"]
    assert again.body == first.body
    verified(created["secret"], again)
    stored = Delivery.objects.get(pk=delivery["id"])
    assert (stored.status, stored.attempts) == (Delivery.Status.SUCCEEDED, 1)
    # The log keeps the attempts of before the retry as well.
    assert [a.status_code for a in stored.attempt_log.all()] == [400, 200]


def test_retrying_another_webhooks_delivery_is_404(
    member_client, member, project, other_member, other_project
):
    mine = new_webhook(member, "https://example.com/mine", project)
    theirs = new_webhook(other_member, "https://example.com/theirs", other_project)
    delivery = services.webhook_test(webhook=theirs, actor=other_member)

    response = member_client.post(f"{deliveries_url(mine)}{delivery.pk}/retry/")

    assert_error(response, 404, "not_found")
    assert_error(
        member_client.post(f"{deliveries_url(mine)}99999999999999999999999/retry/"),
        404,
        "not_found",
    )
