"""Developers in a real browser (headless Chromium through Playwright) against
gunicorn with production settings: the browsable API with its session login and
raw JSON forms, and Swagger UI authorising with the OAuth2 password flow."""

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.servers import PASSWORD, Server, register_and_login, serve

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def web(browser_env: dict[str, str], tmp_path: Path) -> Any:
    # One worker: without Redis (CI's first pass) each process has its own cache.
    with serve("gunicorn", browser_env, tmp_path, workers=1) as server:
        yield server


def my_tasks(server: Server, access: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{server.base_url}/api/v1/tasks/",
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


def test_a_user_logs_in_to_the_browsable_api_and_creates_and_updates_a_task(
    web: Server, browser_page: Any
):
    expect = sync_api.expect
    page = browser_page
    user = register_and_login(web)

    page.goto(f"{web.base_url}/api/v1/tasks/")
    # Anonymous: the API says so, and offers the session login.
    expect(page.locator(".response-info")).to_contain_text("401")
    page.locator('a[href^="/login/"]').first.click()
    page.fill('input[name="username"]', user["username"])
    page.fill('input[name="password"]', PASSWORD)
    page.locator('form [type="submit"]').first.click()
    page.wait_for_url("**/api/v1/tasks/")
    expect(page.locator(".response-info")).to_contain_text("HTTP 200 OK")

    # Bodies are JSON: the list offers the raw data form only, in JSON.
    expect(page.locator("#post-object-form")).to_have_count(0)
    create = page.locator("#post-generic-content-form form")
    expect(create.locator('select[name="_content_type"]')).to_have_value("application/json")
    create.locator('textarea[name="_content"]').fill(
        '{"title": "Made in the browsable API", "priority": "high"}'
    )
    create.get_by_role("button", name="POST").click()
    expect(page.locator(".response-info")).to_contain_text("HTTP 201 Created")

    (task,) = my_tasks(web, user["access"])
    assert (task["title"], task["priority"], task["version"]) == (
        "Made in the browsable API",
        "high",
        1,
    )

    # The raw data form of the detail page, with its PATCH button: one field changes.
    page.goto(f"{web.base_url}/api/v1/tasks/{task['id']}/")
    update = page.locator("#put-generic-content-form form")
    update.locator('textarea[name="_content"]').fill('{"status": "in_progress"}')
    update.get_by_role("button", name="PATCH").click()
    expect(page.locator(".response-info")).to_contain_text("HTTP 200 OK")

    (task,) = my_tasks(web, user["access"])
    assert (task["title"], task["priority"], task["status"], task["version"]) == (
        "Made in the browsable API",
        "high",
        "in_progress",
        2,
    )


def test_swagger_ui_authorises_with_the_password_flow_and_calls_the_task_list(
    web: Server, browser_page: Any
):
    expect = sync_api.expect
    page = browser_page
    user = register_and_login(web)
    requests.post(
        f"{web.base_url}/api/v1/tasks/",
        json={"title": "Seen through Swagger"},
        headers={"Authorization": f"Bearer {user['access']}"},
        timeout=10,
    ).raise_for_status()

    page.goto(f"{web.base_url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Taskmanager API")
    page.locator("button.authorize").first.click()
    oauth = page.locator(".auth-container").filter(has_text="OAuth2, password")
    oauth.locator("#oauth_username").fill(user["username"])
    oauth.locator("#oauth_password").fill(PASSWORD)
    oauth.locator("button.authorize").click()
    # Authorised: the dialog offers to log out instead.
    expect(oauth.locator("button", has_text="Logout")).to_be_visible()
    page.locator(".auth-btn-wrapper button.btn-done").first.click()

    operation = page.locator("#operations-tasks-v1_tasks_list")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()

    response = operation.locator(".live-responses-table .response").first
    expect(response.locator(".response-col_status")).to_contain_text("200")
    expect(response.locator(".response-col_description")).to_contain_text("Seen through Swagger")
    # The call carried the token the dialog obtained.
    expect(operation.locator(".curl-command")).to_contain_text("Authorization: Bearer")
