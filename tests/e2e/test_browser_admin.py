"""An operator in a real browser (headless Chromium through Playwright) against
gunicorn with production settings: logs in to the admin, filters the tasks, and
changes their status in bulk, which the API then shows with its events."""

import os
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.servers import PASSWORD, Server, manage, register_and_login, serve

sync_api = pytest.importorskip("playwright.sync_api")


def api(server: Server, access: str, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(
        method,
        f"{server.base_url}/api/v1/{path}",
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
        **kwargs,
    )
    assert response.ok, response.text
    return response.json()


def test_an_operator_filters_tasks_and_completes_them_in_bulk(
    browser_env: dict[str, str], tmp_path: Path, browser_page: Any
):
    expect = sync_api.expect
    page = browser_page
    manage(
        "createsuperuser",
        "--noinput",
        "--username",
        "operator",
        "--email",
        "operator@example.com",
        env={**browser_env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD, "PATH": os.environ["PATH"]},
    )
    # One worker: without Redis (CI's first pass) each process has its own cache.
    with serve("gunicorn", browser_env, tmp_path, workers=1) as web:
        member = register_and_login(web)
        access = member["access"]
        alpha = api(web, access, "POST", "tasks/", json={"title": "Alpha"})
        api(web, access, "POST", "tasks/", json={"title": "Beta"})
        gamma = api(web, access, "POST", "tasks/", json={"title": "Gamma"})
        api(web, access, "PATCH", f"tasks/{gamma['id']}/", json={"status": "in_progress"})
        # The member's list is cached now; the bulk change must invalidate it.
        assert {t["status"] for t in api(web, access, "GET", "tasks/")["results"]} == {
            "pending",
            "in_progress",
        }

        page.goto(f"{web.base_url}/admin/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", PASSWORD)
        page.locator('input[type="submit"]').click()
        page.locator('a[href="/admin/tasks/task/"]').first.click()
        rows = page.locator("#result_list tbody tr")
        expect(rows).to_have_count(3)

        filters = page.locator("#changelist-filter")
        filters.locator('details[data-filter-title="status"]').get_by_role(
            "link", name="Pending"
        ).click()
        expect(rows).to_have_count(2)
        owner_box = filters.locator('input[name="owner_username"]')
        owner_box.fill(member["username"])
        owner_box.press("Enter")
        expect(rows).to_have_count(2)
        expect(page.locator("#result_list")).not_to_contain_text("Gamma")

        page.locator("#action-toggle").check()
        page.locator('select[name="action"]').select_option("mark_completed")
        page.locator('button[name="index"]').click()
        expect(page.locator(".messagelist")).to_contain_text("2 task(s) marked as completed")

        statuses = {t["title"]: t["status"] for t in api(web, access, "GET", "tasks/")["results"]}
        history = api(web, access, "GET", f"tasks/{alpha['id']}/events/")["results"]
        operator = requests.post(
            f"{web.base_url}/api/v1/auth/login/",
            json={"username": "operator", "password": PASSWORD},
            timeout=10,
        ).json()
        operator_id = api(web, operator["access"], "GET", "users/me/")["id"]

    assert statuses == {"Alpha": "completed", "Beta": "completed", "Gamma": "in_progress"}
    (change,) = [event for event in history if event["kind"] == "updated"]
    assert change["changes"]["status"] == ["pending", "completed"]
    assert change["actor"] == operator_id
