"""The live page in a real browser (Debian's Chromium, driven by Playwright): a user
signs in with the session login, watches a task change over the API, and still sees
changes made while the server was down once it comes back."""

import json
import re
import time
from pathlib import Path
from typing import Any

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


def api(server: Server, access: str, method: str, path: str, body: dict[str, Any]) -> Any:
    response = requests.request(
        method,
        f"{server.base_url}/api/v1/{path}",
        json=body,
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_the_live_page_shows_each_tasks_project_and_follows_the_one_picked(
    browser_env: dict[str, str], tmp_path: Path, browser_page
):
    expect = sync_api.expect
    page = browser_page
    with serve("daphne", browser_env, tmp_path) as server:
        user = register_and_login(server)
        access = user["access"]
        garden = api(server, access, "POST", "projects/", {"name": "Garden"})
        planted = api(server, access, "POST", "tasks/", {"title": "Plant", "project": garden["id"]})
        chore = create_task(server, access, "Chore")  # in the personal project
        personal = chore["project"]

        page.goto(f"{server.base_url}/live/")
        page.fill('input[name="username"]', user_name(server, access))
        page.fill('input[name="password"]', PASSWORD)
        page.locator('form [type="submit"]').first.click()
        page.wait_for_url("**/live/")
        expect(page.locator("#status")).to_have_attribute("data-state", "live")
        expect(row(page, planted["id"]).locator("td").nth(2)).to_have_text("Garden")
        expect(row(page, chore["id"]).locator("td").nth(2)).to_have_text("Personal")

        page.select_option("#project", str(garden["id"]))
        page.wait_for_url(f"**/live/?project={garden['id']}")
        expect(page.locator("#status")).to_have_attribute("data-state", "live")
        expect(page.locator("#project")).to_have_value(str(garden["id"]))
        expect(page.locator("#tasks tr")).to_have_count(1)
        expect(row(page, planted["id"])).to_be_visible()

        # Only the picked project's tasks join (events arrive in order: the second
        # one's row shows that the first one's event was seen and left out).
        elsewhere = create_task(server, access, "Elsewhere")
        sown = api(server, access, "POST", "tasks/", {"title": "Sow", "project": garden["id"]})
        expect(row(page, sown["id"])).to_contain_text("Sow")
        expect(row(page, elsewhere["id"])).to_have_count(0)

        # A rename reaches the column; a task moved out leaves the list.
        api(server, access, "PATCH", f"projects/{garden['id']}/", {"name": "Orchard"})
        expect(row(page, sown["id"]).locator("td").nth(2)).to_have_text("Orchard")
        expect(page.locator(f'#project option[value="{garden["id"]}"]')).to_have_text("Orchard")
        api(server, access, "PATCH", f"tasks/{planted['id']}/", {"project": personal})
        expect(row(page, planted["id"])).to_have_count(0)
        expect(page.locator("#tasks tr")).to_have_count(1)

        page.select_option("#project", "")
        page.wait_for_url("**/live/")
        expect(page.locator("#tasks tr")).to_have_count(4)
        expect(row(page, planted["id"]).locator("td").nth(2)).to_have_text("Personal")


def sign_in(page: "sync_api.Page", server: Server) -> None:
    user = register_and_login(server)
    page.goto(f"{server.base_url}/live/")
    page.fill('input[name="username"]', user_name(server, user["access"]))
    page.fill('input[name="password"]', PASSWORD)
    page.locator('form [type="submit"]').first.click()
    page.wait_for_url("**/live/")


def live_event(event_id: int) -> str:
    task = {"id": 10_000 + event_id, "title": "Live", "status": "pending", "version": 1}
    return json.dumps({"type": "task.created", "event": event_id, "task": task})


def test_a_reconnect_during_a_paged_resume_resumes_where_the_pages_had_got(
    browser_env: dict[str, str], tmp_path: Path, browser_page
):
    """The socket is Playwright's stand-in: a resume answers one page of 1,000 with
    more to come, a live event far ahead arrives, and the connection drops. The
    events between must still be asked for."""
    page = browser_page
    resumes: list[tuple[int, int]] = []  # (connection, after)
    connections: list[Any] = []

    def server_side(ws: Any) -> None:
        connection = len(connections)
        connections.append(ws)

        def on_message(text: str | bytes) -> None:
            message = json.loads(text)
            if message.get("type") != "resume":
                return
            resumes.append((connection, message["after"]))
            if connection == 0 and len(resumes) == 1:
                after = message["after"]
                page_end = {"after": after, "last": after + 1000, "count": 0, "complete": False}
                ws.send(json.dumps({"type": "resumed", **page_end}))
                ws.send(live_event(after + 5000))
                ws.close(code=4000, reason="dropped")

        ws.on_message(on_message)
        ws.send(json.dumps({"type": "ready", "user": 1}))

    page.route_web_socket(re.compile(r".*/ws/tasks/.*"), server_side)
    with serve("daphne", browser_env, tmp_path) as server:
        sign_in(page, server)
        deadline = time.monotonic() + 15
        while not any(connection == 1 for connection, _ in resumes):
            assert time.monotonic() < deadline, f"no resume after the reconnect: {resumes}"
            page.wait_for_timeout(100)

    first_after = resumes[0][1]
    assert resumes[0] == (0, first_after)
    assert (0, first_after + 1000) in resumes  # the next page, asked at once
    assert [after for connection, after in resumes if connection == 1] == [first_after + 1000]


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
