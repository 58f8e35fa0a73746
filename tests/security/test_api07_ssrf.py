"""API7:2023 Server Side Request Forgery.

Webhooks are the one place the service sends requests to a URL a client names, and
never from a request: deliveries are POSTs by the worker (webhooks.sending), to
public addresses only. A webhook's URL is checked at registration and on every
change (https, no user name or password, no IP literal inside: loopback, private,
link-local, cloud metadata; a 400 naming `url`), and its host is resolved again at
every delivery and refused, before any connection, when any address is inside; the
connection goes to the address checked (webhooks.transport; tests/webhooks/
test_transport.py goes through every rule).

Otherwise the service fetches nothing a client names: no URL imports, no avatars by
URL, and its file storage is configured by the operator only. This is checked at run
time rather than by reading the code: every outbound connection and name lookup of
the process is watched while a full pass of API requests (personal tokens, webhooks,
sync and exports included) carries URLs (cloud metadata, loopback services,
file://) in every string field, header and query parameter a client controls; the
only destinations allowed are the configured database and Redis.
"""

import socket
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlparse

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.test import Client
from rest_framework.test import APIClient

from comments.services import comment_create
from files.models import File
from projects.services import label_create, project_create
from tests.factories import PASSWORD
from tests.files.samples import sample
from tests.helpers import LOGIN_URL, REFRESH_URL, assert_error, post_file
from tests.security.helpers import operations
from webhooks import sending
from webhooks.models import Attempt, Delivery, Webhook
from webhooks.services import webhook_create, webhook_test

URLS = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://127.0.0.1:22/",
    "http://[::1]:6379/",
    "https://attacker.example/collect",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
]
# The system's resolver, before any test replaces it.
REAL_GETADDRINFO = socket.getaddrinfo
WEBHOOKS_URL = "/api/v1/webhooks/"
# A host name the tests' resolver answers for (the `dns` fixture).
HOOK_HOST = "hooks.example.com"
HOOK_URL = f"https://{HOOK_HOST}/taskmanager"


def allowed_destinations() -> set[tuple[str, int]]:
    """The database and Redis this process is configured with (none on the defaults)."""
    allowed = set()
    db = django_settings.DATABASES["default"]
    if db.get("HOST"):
        allowed.add((db["HOST"], int(db.get("PORT") or 5432)))
    if django_settings.REDIS_URL:
        redis = urlparse(django_settings.REDIS_URL)
        allowed.add((redis.hostname or "localhost", redis.port or 6379))
    return allowed


@dataclass
class Outbound:
    allowed: set[tuple[str, int]]
    attempts: list[Any] = field(default_factory=list)

    def permits(self, host: Any, port: Any) -> bool:
        try:
            return (str(host), int(port)) in self.allowed
        except (TypeError, ValueError):
            return False


@pytest.fixture
def outbound(monkeypatch: pytest.MonkeyPatch) -> Iterator[Outbound]:
    """Records (and blocks) every connection and lookup to anything but DB and Redis."""
    watch = Outbound(allowed_destinations())
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guard(address: Any) -> None:
        if isinstance(address, tuple) and not watch.permits(address[0], address[1]):
            watch.attempts.append(("connect", address))
            raise OSError(f"outbound connection to {address!r} blocked by the test")

    def connect(self: socket.socket, address: Any) -> None:
        guard(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        guard(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if not watch.permits(host, port):
            watch.attempts.append(("lookup", host, port))
            raise socket.gaierror(f"lookup of {host!r} blocked by the test")
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield watch


def test_the_watch_catches_an_outbound_request(outbound):
    # The control: a fetch by any library going through Python's sockets is seen.
    with pytest.raises(OSError):
        urllib.request.urlopen(URLS[0], timeout=1)  # noqa: S310

    assert outbound.attempts


def requests_carrying(url: str, ids: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(label, method, callable) for one pass over the API with `url` everywhere."""
    member, anonymous = ids["member"], APIClient()
    task_id, project_id, label_id = ids["task"], ids["project"], ids["label"]
    webhook_id, delivery_id = ids["webhook"], ids["delivery"]
    headers = {
        "HTTP_REFERER": url,
        "HTTP_X_FORWARDED_HOST": urlparse(url).netloc or "attacker.example",
        "HTTP_X_FORWARDED_FOR": "169.254.169.254",
        "HTTP_ORIGIN": url,
        "HTTP_FORWARDED": f"for=169.254.169.254;host={url}",
    }
    query = {"url": url, "callback": url, "webhook": url, "next": url, "redirect": url}
    return [
        (
            "register",
            "post",
            lambda: anonymous.post(
                "/api/v1/auth/register/",
                {"username": "eve", "email": "eve@example.com", "password": url + "-Lantern-42"},
                format="json",
                **headers,
            ),
        ),
        (
            "login",
            "post",
            lambda: anonymous.post(
                LOGIN_URL, {"username": url, "password": url}, format="json", **headers
            ),
        ),
        (
            "token",
            "post",
            lambda: anonymous.post(
                "/api/v1/auth/token/",
                urlencode(
                    {
                        "grant_type": "password",
                        "username": url,
                        "password": url,
                        "scope": url,
                        "client_id": url,
                    }
                ),
                content_type="application/x-www-form-urlencoded",
                **headers,
            ),
        ),
        (
            "refresh",
            "post",
            lambda: anonymous.post(REFRESH_URL, {"refresh": url}, format="json", **headers),
        ),
        (
            "create",
            "post",
            lambda: member.post(
                "/api/v1/tasks/?" + urlencode(query),
                {"title": url, "description": f"see {url}"},
                format="json",
                HTTP_IDEMPOTENCY_KEY=url,
                **headers,
            ),
        ),
        (
            "update",
            "patch",
            lambda: member.patch(
                f"/api/v1/tasks/{task_id}/", {"description": url}, format="json", **headers
            ),
        ),
        (
            "conditional",
            "patch",
            lambda: member.patch(
                f"/api/v1/tasks/{task_id}/",
                {"description": url},
                format="json",
                HTTP_IF_MATCH=url,
                **headers,
            ),
        ),
        (
            "replace",
            "put",
            lambda: member.put(
                f"/api/v1/tasks/{task_id}/", {"title": url}, format="json", **headers
            ),
        ),
        ("list", "get", lambda: member.get("/api/v1/tasks/", {"search": url, **query}, **headers)),
        ("ordered", "get", lambda: member.get("/api/v1/tasks/", {"ordering": url}, **headers)),
        ("feed", "get", lambda: member.get("/api/v1/tasks/events/", query, **headers)),
        (
            "upload",
            "post",
            lambda: post_file(member, "link.txt", url.encode(), "text/uri-list", **headers),
        ),
        ("upload-named", "post", lambda: post_file(member, f"{url}x.png", sample("png"))),
        ("files", "get", lambda: member.get("/api/v1/files/", query, **headers)),
        (
            "profile",
            "patch",
            lambda: member.patch(
                "/api/v1/users/me/", {"email": "mia@169.254.169.254"}, format="json", **headers
            ),
        ),
        ("sessions", "get", lambda: member.get("/api/v1/auth/sessions/", query, **headers)),
        (
            "project",
            "post",
            lambda: member.post(
                "/api/v1/projects/",
                {"name": url[:100], "description": f"see {url}"},
                format="json",
                **headers,
            ),
        ),
        (
            "project-update",
            "patch",
            lambda: member.patch(
                f"/api/v1/projects/{project_id}/",
                {"name": url[:100], "description": url},
                format="json",
                **headers,
            ),
        ),
        ("projects", "get", lambda: member.get("/api/v1/projects/", query, **headers)),
        (
            "member-add",
            "post",
            lambda: member.post(
                f"/api/v1/projects/{project_id}/members/",
                {"email": url[:254]},
                format="json",
                **headers,
            ),
        ),
        (
            "member-add-by-name",
            "post",
            lambda: member.post(
                f"/api/v1/projects/{project_id}/members/",
                {"username": url[:254]},
                format="json",
                **headers,
            ),
        ),
        (
            "label",
            "post",
            lambda: member.post(
                f"/api/v1/projects/{project_id}/labels/",
                {"name": url[:50], "color": "#336699"},
                format="json",
                **headers,
            ),
        ),
        (
            "label-update",
            "patch",
            lambda: member.patch(
                f"/api/v1/labels/{label_id}/", {"name": url[-50:]}, format="json", **headers
            ),
        ),
        (
            "comment",
            "post",
            lambda: member.post(
                f"/api/v1/tasks/{task_id}/comments/",
                {"body": f"see {url} @{url}"},
                format="json",
                **headers,
            ),
        ),
        (
            "comment-update",
            "patch",
            lambda: member.patch(
                f"/api/v1/comments/{ids['comment']}/", {"body": url}, format="json", **headers
            ),
        ),
        (
            "notifications",
            "get",
            lambda: member.get("/api/v1/notifications/", query, **headers),
        ),
        (
            "move",
            "post",
            lambda: member.post(
                f"/api/v1/tasks/{task_id}/move/?" + urlencode(query),
                {"before": url},
                format="json",
                HTTP_IF_MATCH=url,
                **headers,
            ),
        ),
        (
            "relate",
            "post",
            lambda: member.post(
                f"/api/v1/tasks/{task_id}/relations/?" + urlencode(query),
                {"kind": url, "task": url},
                format="json",
                **headers,
            ),
        ),
        (
            "relations",
            "get",
            lambda: member.get(f"/api/v1/tasks/{task_id}/relations/", query, **headers),
        ),
        (
            "bulk",
            "post",
            lambda: member.post(
                "/api/v1/tasks/bulk/",
                {
                    "ids": [task_id],
                    "set": {"status": url, "priority": url, "due_date": url, "assignee": url},
                    "add_labels": [url],
                },
                format="json",
                **headers,
            ),
        ),
        (
            "bulk-valid",
            "post",
            lambda: member.post(
                "/api/v1/tasks/bulk/?" + urlencode(query),
                {"ids": [task_id], "set": {"priority": "high"}},
                format="json",
                **headers,
            ),
        ),
        (
            "bulk-delete",
            "post",
            lambda: member.post(
                "/api/v1/tasks/bulk-delete/", {"ids": [url]}, format="json", **headers
            ),
        ),
        (
            "filtered",
            "get",
            lambda: member.get(
                "/api/v1/tasks/", {"label": url, "parent": url, "blocked": url}, **headers
            ),
        ),
        (
            "token",
            "post",
            lambda: member.post(
                "/api/v1/auth/tokens/",
                {"name": url[:100], "scopes": ["tasks:read"]},
                format="json",
                **headers,
            ),
        ),
        (
            "token-invalid",
            "post",
            lambda: member.post(
                "/api/v1/auth/tokens/?" + urlencode(query),
                {"name": url[:100], "scopes": [url], "expires_at": url},
                format="json",
                **headers,
            ),
        ),
        ("tokens", "get", lambda: member.get("/api/v1/auth/tokens/", query, **headers)),
        (
            "webhook",
            "post",
            lambda: member.post(
                WEBHOOKS_URL,
                {"url": url, "project": project_id, "description": f"see {url}"},
                format="json",
                **headers,
            ),
        ),
        (
            "webhook-global",
            "post",
            lambda: member.post(WEBHOOKS_URL, {"url": url}, format="json", **headers),
        ),
        (
            "webhook-types",
            "post",
            lambda: member.post(
                WEBHOOKS_URL + "?" + urlencode(query),
                {"url": url, "project": project_id, "event_types": [url]},
                format="json",
                **headers,
            ),
        ),
        (
            "webhook-update",
            "patch",
            lambda: member.patch(
                f"{WEBHOOKS_URL}{webhook_id}/",
                {"url": url, "description": url[:500]},
                format="json",
                **headers,
            ),
        ),
        ("webhooks", "get", lambda: member.get(WEBHOOKS_URL, query, **headers)),
        (
            "webhook-test",
            "post",
            lambda: member.post(f"{WEBHOOKS_URL}{webhook_id}/test/", **headers),
        ),
        (
            "webhook-rotate",
            "post",
            lambda: member.post(
                f"{WEBHOOKS_URL}{webhook_id}/rotate-secret/?" + urlencode(query), **headers
            ),
        ),
        (
            "deliveries",
            "get",
            lambda: member.get(
                f"{WEBHOOKS_URL}{webhook_id}/deliveries/", {"status": url, **query}, **headers
            ),
        ),
        (
            "retry",
            "post",
            lambda: member.post(
                f"{WEBHOOKS_URL}{webhook_id}/deliveries/{delivery_id}/retry/", **headers
            ),
        ),
        ("sync", "get", lambda: member.get("/api/v1/sync/", {"cursor": url, **query}, **headers)),
        (
            "export",
            "get",
            lambda: read_whole(member.get("/api/v1/tasks/export.csv", {"search": url}, **headers)),
        ),
        (
            "calendar-feed",
            "post",
            lambda: member.post("/api/v1/users/me/calendar-feed/", **headers),
        ),
        ("schema", "get", lambda: anonymous.get("/api/schema/", query, **headers)),
        ("ready", "get", lambda: anonymous.get("/monitoring/ready/", query, **headers)),
    ]


def read_whole(response: Any) -> Any:
    """A streamed answer read to its end (the export's rows are read as it streams)."""
    if response.streaming:
        b"".join(response.streaming_content)
    return response


def test_the_pass_covers_every_write_of_the_schema():
    # Each write operation of the schema has a request above carrying URLs.
    writes = {(path, method) for path, method, _ in operations() if method != "get"}
    covered_paths = {
        "/api/v1/auth/register/",
        "/api/v1/auth/login/",
        "/api/v1/auth/token/",
        "/api/v1/auth/refresh/",
        "/api/v1/tasks/",
        "/api/v1/tasks/{id}/",
        "/api/v1/files/",
        "/api/v1/users/me/",
        "/api/v1/projects/",
        "/api/v1/projects/{id}/",
        "/api/v1/projects/{id}/members/",
        "/api/v1/projects/{id}/labels/",
        "/api/v1/labels/{id}/",
        "/api/v1/tasks/{task_id}/comments/",
        "/api/v1/comments/{id}/",
        "/api/v1/tasks/{id}/move/",
        "/api/v1/tasks/{id}/relations/",
        "/api/v1/tasks/bulk/",
        "/api/v1/tasks/bulk-delete/",
        "/api/v1/auth/tokens/",
        "/api/v1/webhooks/",
        "/api/v1/webhooks/{id}/",
        "/api/v1/webhooks/{id}/test/",
        "/api/v1/webhooks/{id}/rotate-secret/",
        "/api/v1/webhooks/{webhook_id}/deliveries/{id}/retry/",
        "/api/v1/users/me/calendar-feed/",
    }
    # Writes without a string a client chooses (logout, deletes, an admin's role and
    # status choices, a member's project role) have nothing to carry a URL.
    no_free_text = {
        "/api/v1/auth/logout/",
        "/api/v1/auth/logout-all/",
        "/api/v1/auth/sessions/{id}/",
        "/api/v1/files/{id}/",
        "/api/v1/users/{id}/",
        "/api/v1/projects/{id}/members/{user_id}/",
        "/api/v1/notifications/{id}/read/",
        "/api/v1/notifications/read-all/",
        "/api/v1/tasks/{id}/relations/{relation_id}/",
        "/api/v1/auth/tokens/{id}/",
    }

    assert {path for path, _ in writes} <= covered_paths | no_free_text


@pytest.mark.parametrize("url", URLS)
def test_no_request_makes_the_server_connect_anywhere_a_client_names(
    url, outbound, member, member_client, task, committed
):
    project = project_create(actor=member, name="Mia's team")
    label = label_create(actor=member, project_id=project.pk, name="Links", color="#336699")
    comment = comment_create(actor=member, task=task, body="Links")
    webhook = webhook_create(
        actor=member, project_id=project.pk, url=HOOK_URL, event_types=[], description=""
    )
    ids = {
        "member": member_client,
        "task": task.pk,
        "project": project.pk,
        "label": label.pk,
        "comment": comment.pk,
        "webhook": webhook.pk,
        "delivery": webhook_test(webhook=webhook, actor=member).pk,
    }

    for label, _, send in requests_carrying(url, ids):
        with committed():
            response = send()
        assert response.status_code < 500, (label, response.status_code, response.content)

    assert outbound.attempts == []
    # Deliveries wait for the worker (test messages, retries, events): no request
    # made an attempt itself.
    assert Delivery.objects.filter(status=Delivery.Status.PENDING).exists()
    assert not Attempt.objects.exists()
    # Only a URL that passes the registration checks was taken.
    assert {hook.url for hook in Webhook.objects.all()} <= {HOOK_URL, URLS[4]}


def test_file_storage_cannot_be_chosen_by_a_request(member_client, media_root):
    storages = dict(django_settings.STORAGES)
    forged = {
        "storage": "s3",
        "endpoint_url": URLS[0],
        "AWS_S3_ENDPOINT_URL": URLS[0],
        "bucket_name": "attacker",
        "location": "/etc",
    }

    in_the_body = post_file(member_client, "a.png", sample("png"), fields=forged)
    in_the_query = post_file(member_client, "a.png", sample("png"), QUERY_STRING=urlencode(forged))
    stored = post_file(member_client, "a.png", sample("png"))

    for refused in (in_the_body, in_the_query):
        assert refused.status_code == 400
        assert set(forged) <= set(refused.json()["error"]["fields"])
    assert stored.status_code == 201, stored.content
    assert File.objects.count() == 1
    row = File.objects.get(pk=stored.json()["id"])
    assert (media_root / row.storage_name).is_file()
    assert default_storage.exists(row.storage_name)
    assert dict(django_settings.STORAGES) == storages


def test_links_the_api_returns_point_at_this_host_whatever_the_headers(member_client):
    forged = {"HTTP_X_FORWARDED_HOST": "169.254.169.254", "HTTP_FORWARDED": "host=169.254.169.254"}

    response = post_file(member_client, "a.png", sample("png"), **forged)
    feed = member_client.post("/api/v1/users/me/calendar-feed/", **forged)

    assert response.status_code == 201
    assert urlparse(response.json()["download_url"]).hostname == "testserver"
    # The calendar feed's address, given to calendar applications that fetch it.
    assert feed.status_code == 200, feed.content
    assert urlparse(feed.json()["url"]).hostname == "testserver"


def test_an_unknown_host_header_is_refused(member_client):
    response = member_client.get("/api/v1/files/", HTTP_HOST="169.254.169.254")

    assert response.status_code == 400


def test_the_login_page_does_not_redirect_off_site(member):
    response = Client().post(
        "/login/?next=" + URLS[4],
        {"username": "mia", "password": PASSWORD, "next": URLS[4]},
    )

    assert response.status_code == 302  # logged in
    assert not urlparse(response["Location"]).netloc


# --- webhooks: the one request to a URL a client names ---------------------------------

# Refused at registration and on every change, with the default settings: not https,
# credentials in the URL, and hosts that are IP literals inside (loopback, private,
# link-local, cloud metadata; in any spelling getaddrinfo would take).
REFUSED_WEBHOOK_URLS = [
    "https://127.0.0.1/hook",
    "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "https://10.0.0.1/hook",
    "https://192.168.1.1/hook",
    "https://[::1]/hook",
    "https://[::ffff:169.254.169.254]/latest/meta-data/",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://2130706433/hook",
    "https://0x7f.1/hook",
    "https://localhost/hook",
    "https://0.0.0.0/hook",
    f"http://{HOOK_HOST}/hook",
    f"https://user:secret@{HOOK_HOST}/hook",
    f"https://token@{HOOK_HOST}/hook",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    f"https://{HOOK_HOST}/hook#fragment",
]


@pytest.fixture
def project_of_mia(member: Any) -> Any:
    """A project Mia administers (she may register its webhooks)."""
    return project_create(actor=member, name="Mia's hooks")


@pytest.mark.parametrize("url", REFUSED_WEBHOOK_URLS)
def test_a_webhook_to_the_inside_is_refused_at_registration(
    url, outbound, member_client, project_of_mia
):
    response = member_client.post(
        WEBHOOKS_URL, {"url": url, "project": project_of_mia.pk}, format="json"
    )

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["url"]
    assert not Webhook.objects.exists()
    assert outbound.attempts == []


@pytest.mark.parametrize("url", REFUSED_WEBHOOK_URLS)
def test_a_webhook_cannot_be_pointed_inside_afterwards(
    url, outbound, member, member_client, project_of_mia
):
    webhook = webhook_create(
        actor=member, project_id=project_of_mia.pk, url=HOOK_URL, event_types=[], description=""
    )

    response = member_client.patch(f"{WEBHOOKS_URL}{webhook.pk}/", {"url": url}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["url"]
    webhook.refresh_from_db()
    assert webhook.url == HOOK_URL
    assert outbound.attempts == []


def test_a_site_admins_global_webhook_follows_the_same_rules(admin_client, outbound):
    response = admin_client.post(
        WEBHOOKS_URL, {"url": "https://169.254.169.254/latest/meta-data/"}, format="json"
    )

    assert list(assert_error(response, 400, "validation_error")["fields"]) == ["url"]
    assert not Webhook.objects.exists()


def test_a_public_https_url_is_registered_without_a_lookup(outbound, member_client, project_of_mia):
    # The control: the address of a name is checked when sending, not here (it may
    # change in between), so registering one asks no DNS.
    response = member_client.post(
        WEBHOOKS_URL, {"url": HOOK_URL, "project": project_of_mia.pk}, format="json"
    )

    assert response.status_code == 201, response.content
    assert outbound.attempts == []


def test_lifting_the_local_testing_settings_never_admits_a_metadata_address(
    settings, member_client, project_of_mia
):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE = True

    loopback = member_client.post(
        WEBHOOKS_URL, {"url": "http://127.0.0.1:8000/hook", "project": project_of_mia.pk}
    )
    metadata = [
        member_client.post(WEBHOOKS_URL, {"url": url, "project": project_of_mia.pk})
        for url in (
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/latest/meta-data/",
            "http://100.100.100.200/latest/meta-data/",
        )
    ]

    assert loopback.status_code == 201, loopback.content
    for refused in metadata:
        assert list(assert_error(refused, 400, "validation_error")["fields"]) == ["url"]
    assert Webhook.objects.count() == 1


@pytest.fixture
def dns(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Under the watch, a resolver a client may control: a name in this dict resolves
    to its addresses (a DNS that answers differently at delivery than at
    registration). Numeric lookups (building a socket address) ask no DNS."""
    answers: dict[str, list[str]] = {}
    watched: Callable[..., Any] = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (address, port, 0, 0) if ":" in address else (address, port),
                )
                for address in answers[host]
            ]
        if kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        return watched(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def send_test_message(client: Any, project_id: int) -> Delivery:
    """Registers a webhook to HOOK_URL through the API, asks for its test message and
    lets the worker send what is due; the delivery."""
    created = client.post(WEBHOOKS_URL, {"url": HOOK_URL, "project": project_id}, format="json")
    assert created.status_code == 201, created.content
    test = client.post(f"{WEBHOOKS_URL}{created.json()['id']}/test/")
    assert test.status_code == 202, test.content
    assert sending.send_due() == 1
    return Delivery.objects.get(pk=test.json()["id"])


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["10.0.0.1"],
        ["::1"],
        ["::ffff:127.0.0.1"],
        ["fd00:ec2::254"],
        ["93.184.216.34", "10.0.0.1"],
    ],
    ids=["loopback", "metadata", "private", "ipv6-loopback", "mapped", "metadata-v6", "any"],
)
def test_a_webhook_whose_host_resolves_inside_is_not_connected_to(
    addresses, dns, outbound, member_client, project_of_mia
):
    # Registered with a public-looking name that the attacker's DNS points inside (or
    # partly inside: which address a connection would use is not the client's to pick).
    dns[HOOK_HOST] = addresses

    delivery = send_test_message(member_client, project_of_mia.pk)

    assert outbound.attempts == []
    [attempt] = delivery.attempt_log.all()
    assert attempt.status_code is None
    assert attempt.error.startswith("refused: the host resolves to")
    # The log is the webhook owner's to read: no internal address in it.
    assert not any(address in attempt.error for address in addresses)
    assert delivery.status == Delivery.Status.PENDING  # retried later, checked again


def test_a_webhook_whose_host_resolves_outside_is_connected_to_the_address_checked(
    dns, outbound, member_client, project_of_mia
):
    # The control: a public address is where the one connection goes (blocked here),
    # not wherever a second lookup would say.
    dns[HOOK_HOST] = ["93.184.216.34"]

    delivery = send_test_message(member_client, project_of_mia.pk)

    assert outbound.attempts == [("connect", ("93.184.216.34", 443))]
    [attempt] = delivery.attempt_log.all()
    assert attempt.status_code is None
    assert attempt.error and not attempt.error.startswith("refused")
