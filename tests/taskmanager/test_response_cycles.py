"""A response served as a WSGI server serves it is freed when the server drops it,
without the garbage collector (taskmanager.middleware.ReleaseResponseCycles): its
data does not wait in reference cycles for a full collection."""

import gc
import weakref
from collections.abc import Iterator

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory

from tests.factories import TaskFactory
from tests.helpers import TASKS_URL, TokenClient, task_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def served(environ: dict[str, object]) -> "weakref.ReferenceType[object]":
    """Serve `environ` as gunicorn does (the body read, the response closed and
    dropped); a weak reference to the response object."""
    statuses: list[str] = []
    # As Django's test client does: the test's transaction keeps its connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = WSGIHandler()(
            environ, lambda status, headers, exc_info=None: statuses.append(status)
        )
        b"".join(response)
        response.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    assert statuses[0].startswith("200"), statuses
    return weakref.ref(response)


@pytest.mark.parametrize("path", ["list", "detail", "sync"])
def test_a_served_response_goes_with_its_last_reference(
    member, member_client: TokenClient, no_collector: None, path: str
) -> None:
    task = TaskFactory(owner=member, project=member.personal_project)
    url = {"list": TASKS_URL, "detail": task_url(task.pk), "sync": "/api/v1/sync/"}[path]
    environ = (
        RequestFactory()
        .get(url, HTTP_AUTHORIZATION=f"Bearer {member_client.tokens['access']}")
        .environ
    )

    assert served(environ)() is None
