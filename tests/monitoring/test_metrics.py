"""/monitoring/metrics/: Prometheus text, parsed with prometheus_client's own parser,
moving with real requests."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import PASSWORD, TaskFactory
from tests.helpers import LOGIN_URL, assert_error

URL = "/monitoring/metrics/"

pytestmark = pytest.mark.django_db


def scrape(client) -> dict[tuple[str, frozenset], float]:
    response = client.get(URL)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def moved(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_requests_are_counted_by_url_name_method_and_status(client, member_client, member):
    task = TaskFactory(owner=member)
    before = scrape(client)

    member_client.get(f"/api/v1/tasks/{task.pk}/")
    member_client.get(f"/api/v1/tasks/{task.pk}/")
    member_client.get("/api/v1/tasks/999999/")
    client.get("/no/such/page/")
    after = scrape(client)

    detail = {"view": "v1:tasks:task-detail", "method": "GET"}
    assert moved(before, after, "taskmanager_http_requests_total", **detail, status="200") == 2
    assert moved(before, after, "taskmanager_http_requests_total", **detail, status="404") == 1
    assert (
        moved(
            before,
            after,
            "taskmanager_http_requests_total",
            view="unmatched",
            method="GET",
            status="404",
        )
        == 1
    )
    assert moved(before, after, "taskmanager_http_request_duration_seconds_count", **detail) == 3
    # Views are URL names, never paths (which would make a series per object id).
    views = {dict(labels)["view"] for _, labels in after if "view" in dict(labels)}
    assert not any("/" in view for view in views), views


def test_logins_are_counted_by_outcome(client, api_client, member):
    before = scrape(client)

    api_client.post(LOGIN_URL, {"username": member.username, "password": PASSWORD})
    api_client.post(LOGIN_URL, {"username": member.username, "password": "wrong-password"})
    api_client.post(LOGIN_URL, {"username": member.username, "password": "wrong-again"})
    after = scrape(client)

    assert moved(before, after, "taskmanager_logins_total", outcome="success") == 1
    assert moved(before, after, "taskmanager_logins_total", outcome="failure") == 2


def test_throttled_requests_are_counted_by_scope(client, member_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "2/min"}
    before = scrape(client)

    statuses = [member_client.get("/api/v1/tasks/").status_code for _ in range(4)]
    after = scrape(client)

    assert statuses.count(429) == moved(
        before, after, "taskmanager_throttled_requests_total", scope="read"
    )
    assert statuses.count(429) >= 1


def test_task_list_cache_hits_and_misses_are_counted(client, member_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "1000/min"}
    before = scrape(client)

    member_client.get("/api/v1/tasks/")
    member_client.get("/api/v1/tasks/")
    after = scrape(client)

    assert moved(before, after, "taskmanager_task_cache_total", kind="list", result="miss") == 1
    assert moved(before, after, "taskmanager_task_cache_total", kind="list", result="hit") == 1


def test_the_named_series_are_all_exposed(client):
    names = {name for name, _ in scrape(client)} | {
        family.name for family in text_string_to_metric_families(client.get(URL).content.decode())
    }

    for name in (
        "taskmanager_http_requests",
        "taskmanager_http_request_duration_seconds",
        "taskmanager_websockets_open",
        "taskmanager_task_events_sent",
        "taskmanager_throttled_requests",
        "taskmanager_logins",
        "taskmanager_task_cache",
        "taskmanager_channel_layer_dropped",
    ):
        assert name in names, name


def test_a_metrics_token_when_set_is_required(client, settings):
    settings.METRICS_TOKEN = "scrape-me-" + "x" * 20

    missing = client.get(URL)
    wrong = client.get(URL, HTTP_AUTHORIZATION="Bearer nope")
    right = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}")

    assert_error(missing, 401, "not_authenticated")
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert_error(wrong, 401, "not_authenticated")
    assert right.status_code == 200


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "::1", "10.1.2.3", "172.18.0.5", "192.168.1.9", "fd00::5", ""]
)
def test_without_a_token_metrics_answer_the_host_and_its_private_network(client, address):
    response = client.get(URL, REMOTE_ADDR=address)

    assert response.status_code == 200


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2001:4860::8888", "junk"])
def test_without_a_token_metrics_are_not_found_for_a_public_client(client, address):
    response = client.get(URL, REMOTE_ADDR=address)

    assert_error(response, 404, "not_found")


def test_without_a_token_a_public_client_behind_the_proxy_is_refused(client, settings):
    settings.NUM_PROXIES = 1

    through_proxy = client.get(URL, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="93.184.216.34")
    spoofed = client.get(
        URL, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.0.0.1, 93.184.216.34"
    )

    assert_error(through_proxy, 404, "not_found")
    assert_error(spoofed, 404, "not_found")


def test_with_a_token_a_public_client_may_scrape(client, settings):
    settings.METRICS_TOKEN = "scrape-me-" + "x" * 20

    response = client.get(
        URL, REMOTE_ADDR="93.184.216.34", HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}"
    )

    assert response.status_code == 200


# A process that holds one WebSocket open in the shared metrics directory, as a socket
# worker does, until its stdin closes (or at once with "exit").
_SOCKET_WORKER = """
import sys
from prometheus_client import Gauge
Gauge("taskmanager_websockets_open", "", multiprocess_mode="livesum").inc()
print("open", flush=True)
sys.stdin.read() if sys.argv[1] == "wait" else None
"""


def test_a_dead_socket_workers_open_sockets_leave_the_sum(client, tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def worker(mode: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-c", _SOCKET_WORKER, mode],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None and process.stdout.readline() == "open\n"
        return process

    dead = worker("exit")  # killed without anyone marking it dead (uvicorn's supervisor)
    dead.wait(30)
    alive = worker("wait")
    try:
        open_sockets = scrape(client).get(("taskmanager_websockets_open", frozenset()))
    finally:
        alive.communicate("", timeout=30)

    assert open_sockets == 1
    assert not list(tmp_path.glob(f"gauge_live*_{dead.pid}.db"))
