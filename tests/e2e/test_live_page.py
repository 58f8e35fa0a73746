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
        expect(status_of(page, task["id"])).to_have_value("in_progress")

    # The server is gone: the page notices, and keeps trying.
    expect(status).to_have_attribute("data-state", "reconnecting")
    with serve("gunicorn", browser_env, tmp_path) as other:
        # Changed while no socket server runs: only the outbox has these events.
        patch_task(other, access, task["id"], {"status": "completed"})
        patch_task(other, access, old_task["id"], {"title": "Renamed while offline"})
    with serve("daphne", browser_env, tmp_path, port=port):
        # The page retries at most 5 s apart (live.js): its next try may be that far off.
        expect(status).to_have_attribute("data-state", "live", timeout=15_000)
        expect(status_of(page, task["id"])).to_have_value("completed")
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


def status_of(page: "sync_api.Page", task_id: int) -> "sync_api.Locator":
    """The task's status control (a select: its options' texts are all in the row)."""
    return row(page, task_id).locator("select")


def user_name(server: Server, access: str) -> str:
    me = requests.get(
        f"{server.base_url}/api/v1/users/me/",
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    )
    assert me.status_code == 200, me.text
    return str(me.json()["username"])


# Issue 24: labels, subtasks, blocked, usernames and the status control.

OWNER, ASSIGNEE, LABELS, SUBTASKS, VERSION = 5, 6, 7, 8, 10


def sign_in_as(page: "sync_api.Page", server: Server, username: str) -> None:
    page.goto(f"{server.base_url}/live/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.locator('form [type="submit"]').first.click()
    page.wait_for_url("**/live/")
    sync_api.expect(page.locator("#status")).to_have_attribute("data-state", "live")


def test_the_live_page_shows_labels_subtasks_blocked_and_names_and_changes_a_status(
    browser_env: dict[str, str], tmp_path: Path, browser_page
):
    expect = sync_api.expect
    page = browser_page
    # The owner sets up more than the default 10 writes a minute.
    env = {**browser_env, "THROTTLE_WRITE_RATE": "1000/min"}
    # The socket's messages pass through here: held back on demand, so that the page
    # shows a version the server has moved past (the 412 path).
    holding: dict[str, Any] = {"on": False, "held": [], "sockets": []}

    def through(ws: Any) -> None:
        server_side = ws.connect_to_server()
        holding["sockets"].append(ws)

        def from_server(message: str | bytes) -> None:
            if holding["on"]:
                holding["held"].append((ws, message))
            else:
                ws.send(message)

        server_side.on_message(from_server)

    page.route_web_socket(re.compile(r".*/ws/tasks/.*"), through)
    with serve("daphne", env, tmp_path) as server:
        owner, member, viewer = (register_and_login(server) for _ in range(3))
        access = owner["access"]

        def call(method: str, path: str, body: dict[str, Any]) -> Any:
            return api(server, access, method, path, body)

        project = call("POST", "projects/", {"name": "Launch"})["id"]
        call("POST", f"projects/{project}/members/", {"username": member["username"]})
        call(
            "POST",
            f"projects/{project}/members/",
            {"username": viewer["username"], "role": "viewer"},
        )
        urgent = call("POST", f"projects/{project}/labels/", {"name": "Urgent", "color": "#ff0000"})
        docs = call("POST", f"projects/{project}/labels/", {"name": "Docs", "color": "#1f77b4"})
        ship = call(
            "POST",
            "tasks/",
            {
                "title": "Ship it",
                "project": project,
                "labels": [urgent["id"], docs["id"]],
                "assignee": member["id"],
            },
        )
        call("POST", "tasks/", {"title": "Write", "project": project, "parent": ship["id"]})
        call(
            "POST",
            "tasks/",
            {"title": "Test", "project": project, "parent": ship["id"], "status": "completed"},
        )
        blocker = call("POST", "tasks/", {"title": "Blocker", "project": project})
        call("POST", f"tasks/{blocker['id']}/relations/", {"kind": "blocks", "task": ship["id"]})

        sign_in_as(page, server, member["username"])
        shipped = row(page, ship["id"])
        cells = shipped.locator("td")
        expect(shipped.locator(".blocked")).to_have_text("blocked")
        expect(row(page, blocker["id"]).locator(".blocked")).to_have_count(0)
        expect(cells.nth(LABELS).locator(".label")).to_have_text(["Urgent", "Docs"])
        swatch = cells.nth(LABELS).locator(".label .swatch").first
        expect(swatch).to_have_css("background-color", "rgb(255, 0, 0)")
        expect(cells.nth(SUBTASKS)).to_have_text("1/2")
        expect(row(page, blocker["id"]).locator("td").nth(SUBTASKS)).to_have_text("—")
        expect(cells.nth(OWNER)).to_have_text(owner["username"])
        expect(cells.nth(ASSIGNEE)).to_have_text(member["username"])

        # Changes reach the row: the blocker completed, a label renamed, a member
        # added (named by its event) and given a task.
        call("PATCH", f"tasks/{blocker['id']}/", {"status": "completed"})
        expect(shipped.locator(".blocked")).to_have_count(0)
        call("PATCH", f"labels/{urgent['id']}/", {"name": "Now"})
        expect(cells.nth(LABELS).locator(".label")).to_have_text(["Now", "Docs"])
        newcomer = register_and_login(server)
        call("POST", f"projects/{project}/members/", {"username": newcomer["username"]})
        handed = call(
            "POST", "tasks/", {"title": "Handed", "project": project, "assignee": newcomer["id"]}
        )
        expect(row(page, handed["id"]).locator("td").nth(ASSIGNEE)).to_have_text(
            newcomer["username"]
        )

        # The member changes the status through the control.
        version = int(shipped.get_attribute("data-version") or 0)
        status_of(page, ship["id"]).select_option("in_progress")
        expect(shipped).to_have_attribute("data-status", "in_progress")
        expect(shipped).to_have_attribute("data-version", str(version + 1))
        assert get(server, access, f"tasks/{ship['id']}/")["status"] == "in_progress"

        # Changed by someone else while the page did not hear of it: a 412, and the
        # page shows the task as it is now; nothing was written.
        holding["on"] = True
        call("PATCH", f"tasks/{ship['id']}/", {"title": "Ship it now"})
        status_of(page, ship["id"]).select_option("completed")
        expect(page.locator("#notice")).to_contain_text("changed meanwhile")
        expect(cells.nth(1)).to_contain_text("Ship it now")
        expect(status_of(page, ship["id"])).to_have_value("in_progress")
        expect(shipped).to_have_attribute("data-version", str(version + 2))
        assert get(server, access, f"tasks/{ship['id']}/")["status"] == "in_progress"
        holding["on"] = False
        for ws, message in holding["held"]:
            ws.send(message)
        # A late event of an older version changes nothing.
        expect(cells.nth(1)).to_contain_text("Ship it now")
        expect(cells.nth(VERSION)).to_have_text(str(version + 2))

        # A viewer sees the same rows with no control enabled.
        context = page.context.browser.new_context()
        try:
            viewer_page = context.new_page()
            viewer_page.set_default_timeout(10_000)
            sign_in_as(viewer_page, server, viewer["username"])
            expect(viewer_page.locator("#tasks tr")).to_have_count(5)
            expect(viewer_page.locator("#tasks select")).to_have_count(5)
            expect(viewer_page.locator("#tasks select:enabled")).to_have_count(0)
            expect(status_of(viewer_page, ship["id"])).to_be_disabled()
            expect(status_of(viewer_page, ship["id"])).to_have_value("in_progress")
            expect(row(viewer_page, ship["id"]).locator("td").nth(OWNER)).to_have_text(
                owner["username"]
            )
        finally:
            context.close()


def get(server: Server, access: str, path: str) -> Any:
    response = requests.get(
        f"{server.base_url}/api/v1/{path}",
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()
