"""The web UI in a real headless Chromium, against ``millrace up`` (API and every agent).

Chromium is the Debian package (``/usr/bin/chromium``, installed by ``.ci/run``); Playwright
only drives it, so nothing downloads a browser. There is deliberately no skip: a CI machine
without Chromium fails here loudly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.conftest import millrace_up
from tests.support import REPO

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = REPO / "test-output" / "ui"


@dataclass
class UiServer:
    url: str
    user_id: str
    token: str
    home: Path

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """``millrace up`` on the embedded defaults in a fresh home, on a free port. The
    inference server stays off: these tests never call it."""
    home = tmp_path_factory.mktemp("ui-home")
    with millrace_up(home, "ada") as (url, token):
        yield UiServer(url, "ada", token, home)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    for old in SHOTS.glob("*.png"):  # the folder shows the last run only
        old.unlink()
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


@dataclass
class Tab:
    """A fresh browser context (its own sessionStorage) and the errors its page raised."""

    page: Page
    server: UiServer
    name: str
    errors: list[str] = field(default_factory=list)
    shots: int = 0

    def goto(self, hash_: str) -> None:
        self.page.goto(f"{self.server.url}/{hash_}")

    def shot(self, label: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        path = SHOTS / f"{self.name}-{self.shots:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def sign_in(self) -> None:
        self.goto("")
        self.page.fill("#token", self.server.token)
        self.page.click("form.login button[type=submit]")
        self.page.wait_for_url("**/#/datasets")


@pytest.fixture
def tab(browser: Browser, ui_server: UiServer, request: pytest.FixtureRequest) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    tab = Tab(page, ui_server, request.node.name.removeprefix("test_"))
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    try:
        yield tab
        if _failed(request.node):
            tab.shot("failure")  # what the browser showed when the test failed
        assert tab.errors == [], f"JavaScript errors on the page: {tab.errors}"
    finally:
        context.close()


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if call.when == "call" and call.excinfo is not None:
        item.stash[_FAILED] = True
    return report


def _failed(node: pytest.Item) -> bool:
    return node.stash.get(_FAILED, False)
