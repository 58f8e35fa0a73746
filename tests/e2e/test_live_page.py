"""The live page in a real browser (Debian's Chromium, driven by Playwright): a user
signs in with the session login, watches a task change over the API, and still sees
changes made while the server was down once it comes back."""

from pathlib import Path

import pytest
import requests

from tests.e2e.servers import (
    PASSWORD,
    Server,
    free_port,
    register_and_login,
    serve,
)
from tests.e2e.test_realtime import create_task

sync_api = pytest.importorskip("playwright.sync_api")


def patch_task(server: Server, access: str, task_id: int, changes: dict[str, str]) -> None:
    response = requests.patch(
        f"{server.base_url}/api/v1/tasks/{task_id}/",
        json=changes,
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_the_live_page_follows_changes_and_catches_up_after_a_dropped_connection(
    browser_env: dict[str, str], tmp_path: Path, browser_page
):
    expect = sync_api.expect
    page = browser_page
    port = free_port()
    with serve("daphne", browser_env, tmp_path, port=port) as server:
        user = register_and_login(server)
        access = user["access"]
        old_task = create_task(server, access, "Written before the page opened")

        page.goto(f"{server.base_url}/live/")
        # Not signed in: the session login form, then back to the page.
        page.fill('input[name="username"]', user_name(server, access))
        page.fill('input[name="password"]', PASSWORD)
        page.locator('form [type="submit"]').first.click()
        page.wait_for_url("**/live/")
        status = page.locator("#status")
        expect(status).to_have_attribute("data-state", "live")
        expect(row(page, old_task["id"])).to_contain_text("Written before the page opened")

        task = create_task(server, access, "Appears by itself")
        expect(row(page, task["id"])).to_contain_text("Appears by itself")
        patch_task(server, access, task["id"], {"status": "in_progress"})
        expect(row(page, task["id"])).to_contain_text("in_progress")

    # The server is gone: the page notices, and keeps trying.
    expect(status).to_have_attribute("data-state", "reconnecting")
    with serve("gunicorn", browser_env, tmp_path) as other:
        # Changed while no socket server runs: only the outbox has these events.
        patch_task(other, access, task["id"], {"status": "completed"})
        patch_task(other, access, old_task["id"], {"title": "Renamed while offline"})
    with serve("daphne", browser_env, tmp_path, port=port):
        expect(status).to_have_attribute("data-state", "live")
        expect(row(page, task["id"])).to_contain_text("completed")
        expect(row(page, old_task["id"])).to_contain_text("Renamed while offline")
        expect(page.locator("#tasks tr")).to_have_count(2)


def row(page: "sync_api.Page", task_id: int) -> "sync_api.Locator":
    return page.locator(f'#tasks tr[data-task-id="{task_id}"]')


def user_name(server: Server, access: str) -> str:
    me = requests.get(
        f"{server.base_url}/api/v1/users/me/",
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    )
    assert me.status_code == 200, me.text
    return str(me.json()["username"])
