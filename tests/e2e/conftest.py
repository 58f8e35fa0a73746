import re
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskmanager.settings import BASE_DIR
from tests.e2e.servers import manage, migrate, production_env

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine's notes advise for a closed network: no background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# How long a page action or an expect() assertion waits: on two busy cores a page
# of many scripts (ReDoc's render of the whole schema) can take several seconds.
TIMEOUT_MS = 10_000
# Browser tests leave a screenshot of the page here when they fail.
SCREENSHOTS = BASE_DIR / "var" / "screenshots"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # The fixture below reads the outcome of the test's call phase.
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def browser_page(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page in headless Chromium (Debian's, through Playwright); skips without it.
    On failure its screenshot goes to var/screenshots/<test>.png."""
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Chromium: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    # expect() has its own default of 5 s, shorter than the page's.
    sync_api.expect.set_options(timeout=TIMEOUT_MS)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            yield page
            if request.node.stash.get(_CALL_FAILED, False):
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
                try:
                    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
                except sync_api.Error as error:
                    # The test's own failure is the one to read, not a second error.
                    warnings.warn(f"no screenshot of {name}: {error}", stacklevel=1)
        finally:
            browser.close()


@pytest.fixture
def browser_env(tmp_path: Path) -> dict[str, str]:
    """Production settings for a browser on plain HTTP: migrated, static collected."""
    # A Secure session cookie would not come back over http://127.0.0.1.
    env = production_env(tmp_path, SECURE_COOKIES="false")
    migrate(env)
    manage("collectstatic", "--noinput", env=env)
    return env
