"""Redis down: task lists and statistics come from the database, with a logged warning."""

import logging

import pytest

pytestmark = pytest.mark.django_db

DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        # Nothing listens on port 9 (discard) here: every cache call fails at once.
        "LOCATION": "redis://127.0.0.1:9/0",
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": 0.2,
            "SOCKET_TIMEOUT": 0.2,
            "IGNORE_EXCEPTIONS": True,
        },
    }
}


def test_lists_and_statistics_answer_from_the_database_when_redis_is_down(member, settings, caplog):
    from rest_framework.test import APIClient

    from accounts.services import session_start
    from tests.factories import TaskFactory

    TaskFactory(owner=member, title="still here")
    tokens = session_start(user=member, ip="127.0.0.1", user_agent="test")
    settings.CACHES = DEAD_REDIS
    settings.DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.access}")

    with caplog.at_level(logging.WARNING):
        listed = client.get("/api/v1/tasks/")
        statistics = client.get("/api/v1/tasks/statistics/")

    assert listed.status_code == 200
    assert [task["title"] for task in listed.json()["results"]] == ["still here"]
    assert statistics.status_code == 200
    assert statistics.json()["total"] == 1
    assert any(record.levelno >= logging.WARNING for record in caplog.records)
