import copy
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

import taskmanager.throttles

DAY = 24 * 60 * 60


@pytest.fixture(scope="session", autouse=True)
def _static_files_without_collectstatic() -> Iterator[None]:
    # The manifest storage needs `collectstatic`; tests render templates from the
    # app folders instead (tests/e2e checks the collected, production setup).
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        yield


@pytest.fixture(autouse=True)
def _isolated_cache() -> Iterator[None]:
    """Each test gets its own cache key space, also on a Redis shared by xdist workers."""
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    with override_settings(CACHES=caches):
        yield
        if hasattr(cache, "delete_pattern"):
            cache.delete_pattern("*")
        else:
            cache.clear()


@pytest.fixture(autouse=True)
def _throttle_windows_start_with_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Throttles count per fixed window (minute, hour, day). Their clock is moved so
    each test starts on a day boundary and runs in one window of every size; with the
    real clock a test that counts to a limit across a minute boundary saw its count
    start again and failed by chance."""
    started = time.time()
    shift = (started // DAY + 1) * DAY - started
    monkeypatch.setattr(
        taskmanager.throttles, "time", SimpleNamespace(time=lambda: time.time() + shift)
    )


@pytest.fixture(autouse=True)
def _isolated_channel_layer() -> Iterator[None]:
    """Each test gets a fresh channel layer; on Redis, its own key prefix, so groups
    such as "tasks.all" are not shared between xdist workers."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    if "prefix" in layers["default"].get("CONFIG", {}):
        layers["default"]["CONFIG"]["prefix"] = f"test-{uuid.uuid4().hex}"
    # Channels drops its layer instances whenever CHANNEL_LAYERS changes.
    with override_settings(CHANNEL_LAYERS=layers):
        yield


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()
