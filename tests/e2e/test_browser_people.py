"""A person in a real browser (headless Chromium through Playwright): from the live
page to registration, back to the live page signed in, out onto our own "You are
logged out" page, and in again through its link."""

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.servers import PASSWORD, serve

sync_api = pytest.importorskip("playwright.sync_api")


def test_a_person_registers_follows_the_live_page_logs_out_and_logs_in_again(
    browser_env: dict[str, str], tmp_path: Path, browser_page: Any
):
    expect = sync_api.expect
    page = browser_page
    username = f"nora{uuid.uuid4().hex[:8]}"
    # daphne: the live page's socket as well as its HTTP.
    with serve("daphne", browser_env, tmp_path) as server:
        page.goto(f"{server.base_url}/live/")
        page.wait_for_url("**/login/?next=/live/")
        expect(page).to_have_title("Log in · Taskmanager")

        page.get_by_role("link", name="Register", exact=True).last.click()
        page.wait_for_url("**/register/?next=/live/")
        page.fill('input[name="username"]', username)
        page.fill('input[name="email"]', f"{username}@example.com")
        page.fill('input[name="password"]', PASSWORD)
        page.fill('input[name="password_again"]', PASSWORD)
        page.get_by_role("button", name="Create the account").click()

        page.wait_for_url(f"{server.base_url}/live/")
        expect(page.locator("header")).to_contain_text(f"Signed in as {username}")
        expect(page.locator("#status")).to_have_attribute("data-state", "live")

        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(f"{server.base_url}/logged-out/")
        expect(page.locator("h1")).to_have_text("You are logged out")

        page.get_by_role("link", name="Log in again").click()
        page.wait_for_url(f"{server.base_url}/login/")
        page.fill('input[name="username"]', username)
        page.fill('input[name="password"]', PASSWORD)
        page.get_by_role("button", name="Log in").click()

        page.wait_for_url(f"{server.base_url}/live/")
        expect(page.locator("#status")).to_have_attribute("data-state", "live")
