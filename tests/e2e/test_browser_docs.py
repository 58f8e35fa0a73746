"""Swagger UI and ReDoc in a real browser (headless Chromium through Playwright) ask
nothing of another host: every request the pages make, their scripts' included (the
fonts drf-spectacular's ReDoc page linked, the logo ReDoc's sidebar shows), goes to
the server's own origin, and both render every operation of the schema."""

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.servers import Server, serve

sync_api = pytest.importorskip("playwright.sync_api")

METHODS = {"get", "put", "post", "patch", "delete"}
# ReDoc renders every operation in one go in the page's script; on CI's two busy
# cores that took longer than the usual wait once.
RENDER_TIMEOUT_MS = 30_000


@pytest.fixture
def web(browser_env: dict[str, str], tmp_path: Path) -> Any:
    with serve("gunicorn", browser_env, tmp_path, workers=1) as server:
        yield server


def origin(url: str) -> str:
    """Where a request goes: a blob: URL's is the origin it names; data: goes nowhere."""
    parts = urlsplit(url)
    if parts.scheme == "blob":
        return origin(parts.path)
    if parts.scheme == "data":
        return "data:"
    return f"{parts.scheme}://{parts.netloc}"


def operation_count(server: Server) -> int:
    schema = requests.get(
        f"{server.base_url}/api/schema/",
        headers={"Accept": "application/vnd.oai.openapi+json"},
        timeout=10,
    ).json()
    return sum(len(METHODS & set(item)) for item in schema["paths"].values())


def test_swagger_ui_and_redoc_load_everything_from_the_server_and_render_the_operations(
    web: Server, browser_page: Any
):
    expect = sync_api.expect
    page = browser_page
    operations = operation_count(web)
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))

    page.goto(f"{web.base_url}/api/redoc/")
    expect(page.locator("[data-section-id^='operation/']")).to_have_count(
        operations, timeout=RENDER_TIMEOUT_MS
    )
    expect(page.locator("h1")).to_contain_text("Taskmanager API")
    page.wait_for_load_state("networkidle")
    redoc_requests = len(seen)

    page.goto(f"{web.base_url}/api/docs/")
    expect(page.locator(".swagger-ui .opblock")).to_have_count(
        operations, timeout=RENDER_TIMEOUT_MS
    )
    page.wait_for_load_state("networkidle")

    assert redoc_requests > 1 and len(seen) > redoc_requests  # the pages and their assets
    assert [url for url in seen if origin(url) not in (web.base_url, "data:")] == []
