"""/monitoring/ready/ checks each dependency for real and names the ones that fail."""

import copy
import threading
import time

import pytest
from django.db import OperationalError, connections

from monitoring import views
from tests.helpers import assert_error

URL = "/monitoring/ready/"
CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"

pytestmark = pytest.mark.django_db


def test_ready_answers_200_with_each_check_and_its_latency(client):
    response = client.get(URL)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "channel_layer"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert 0 <= check["latency_ms"] < views.CHECK_TIMEOUT_SECONDS * 1000


def test_ready_needs_no_authentication_and_is_not_throttled(client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "read": "1/min"}

    statuses = {client.get(URL).status_code for _ in range(3)}

    assert statuses == {200}


def test_a_failing_database_is_503_naming_it(client, monkeypatch):
    def refused(*args: object, **kwargs: object) -> None:
        raise OperationalError("connection refused")

    # On the class: the check runs in a thread of its own, with a connection of its own.
    monkeypatch.setattr(type(connections["default"]), "cursor", refused)

    error = assert_error(client.get(URL), 503, "not_ready")

    assert error["fields"] == {"database": ["OperationalError"]}
    assert "database" in error["message"]


def test_an_unreachable_cache_is_503_naming_it(client, settings):
    # As in production: django-redis swallowing Redis faults, so only a round trip
    # that brings the value back proves the cache.
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": CLOSED_PORT_REDIS,
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.5},
        }
    }

    error = assert_error(client.get(URL), 503, "not_ready")

    assert set(error["fields"]) == {"cache"}
    assert "6379" not in str(error) and "127.0.0.1" not in str(error)


def test_an_unreachable_channel_layer_is_503_naming_it(client, settings):
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"] = {
        "BACKEND": "realtime.channel_layers.CountingRedisChannelLayer",
        "CONFIG": {"hosts": [CLOSED_PORT_REDIS]},
    }
    settings.CHANNEL_LAYERS = layers

    error = assert_error(client.get(URL), 503, "not_ready")

    assert set(error["fields"]) == {"channel_layer"}


def test_ready_refuses_writes_in_the_error_shape(client):
    response = client.post(URL)

    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"


def test_dependencies_that_hang_are_503_within_the_check_timeout(client, monkeypatch, caplog):
    # A blackholed PostgreSQL held the probe for the pool's 10 s, a hung Redis for
    # 5 s more (the cache's socket timeouts, then the channel layer's), one after the
    # other; under daphne that is the one thread every sync view and consumer shares.
    released = threading.Event()

    def hangs() -> None:
        released.wait(5)

    monkeypatch.setattr(views, "CHECK_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(views, "_check_database", hangs)
    monkeypatch.setattr(views, "_check_cache", hangs)
    try:
        started = time.monotonic()
        response = client.get(URL)
        elapsed = time.monotonic() - started
    finally:
        released.set()

    error = assert_error(response, 503, "not_ready")
    assert error["fields"] == {"database": ["TimeoutError"], "cache": ["TimeoutError"]}
    # Both within one timeout: the checks run side by side, not one after the other.
    assert elapsed < 0.5 * 1.8
    assert "did not answer within 0.5 s" in caplog.text
