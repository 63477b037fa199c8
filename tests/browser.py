"""A real browser for the dashboard's tests: Debian's chromium, driven by Playwright (async API).

    async def test_page(tmp_path: Path) -> None:
        with running_gateway(CONFIG, tmp_path) as gw:
            async with browsing() as b:
                await b.page.goto(gw.url + "/")
                ...
                b.assert_only_origin(gw.url)

- The browser is the system's chromium, never one of Playwright's downloads:
  ``$LOCALROUTER_CHROMIUM`` if set, else ``/usr/bin/chromium``, else ``chromium`` on the PATH.
  ``make test`` installs Debian's ``chromium`` package when it is missing and apt-get can be run
  (``make browser``); Playwright's Python package comes from ``requirements-dev.lock``.
- Without either, :func:`browsing` skips the test, saying how to get what is missing.
- Each :func:`browsing` launches its own headless browser with a fresh profile (a new context:
  no cookies, storage or cache from another test) and records the URL of every request any of
  its pages makes, so that a test can check the page fetched nothing but the gateway, and every
  console error and uncaught exception (a CSP violation is a console error).
- Playwright does not report chromium's own fetch of ``/favicon.ico`` (the page's origin) as a
  request; when it fails, it shows up in ``errors`` (a 404 "at <origin>/favicon.ico").
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Request

ENV = "LOCALROUTER_CHROMIUM"
DEFAULT = Path("/usr/bin/chromium")
# headless, no sandbox (tests often run as root, in containers), and nothing the browser would
# fetch on its own (updates, sync, safe-browsing lists, QUIC probes): the only requests are the
# page's. /dev/shm is often small in containers: chromium's shared memory goes to /tmp instead.
ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
)
TIMEOUT_MS = 10_000  # any one wait of a page (navigation, selector, expect): fail, not hang


def chromium_path() -> Path | None:
    """The chromium to drive: ``$LOCALROUTER_CHROMIUM``, ``/usr/bin/chromium``, the PATH's."""
    named = os.environ.get(ENV)
    if named:
        return Path(named)
    if DEFAULT.exists():
        return DEFAULT
    found = shutil.which("chromium")
    return Path(found) if found else None


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    try:
        import playwright.async_api  # noqa: F401  (only whether it is installed)
    except ImportError:
        return (
            "Playwright (Python) is not installed: it is in requirements-dev.lock "
            "(`make test` installs it)"
        )
    path = chromium_path()
    if path is None:
        return (
            "chromium is not installed: `make browser` (run by `make test`) installs Debian's "
            f"`chromium` package where apt-get can be run; or set {ENV} to a chromium binary"
        )
    if not (path.is_file() and os.access(path, os.X_OK)):
        return f"{path} (the chromium to drive) is not an executable file: see {ENV}"
    return None


@dataclass
class Browsing:
    """A headless chromium for one test: ``page`` opened in a fresh context, every request URL
    and every console error or uncaught exception of its pages recorded in order."""

    browser: Browser
    page: Page = field(init=False)
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def new_page(self) -> Page:
        """A page in a context of its own (another profile: no cookies or storage shared),
        whose requests and errors are recorded here too."""
        context = await self.browser.new_context()
        self._watch(context)
        page = await context.new_page()
        return page

    def _watch(self, context: BrowserContext) -> None:
        context.set_default_timeout(TIMEOUT_MS)
        context.on("request", self._on_request)
        context.on("console", self._on_console)
        context.on("weberror", lambda e: self.errors.append(f"uncaught: {e.error}"))

    def _on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url")
            self.errors.append(f"console: {message.text}" + (f" at {where}" if where else ""))

    def origins(self) -> set[str]:
        """The origins (scheme://host:port) the pages made requests to."""
        return {_origin(url) for url in self.requests}

    def assert_only_origin(self, url: str) -> None:
        """Every recorded request went to ``url``'s origin (and there was at least one)."""
        assert self.requests, "the browser made no request at all"
        others = [r for r in self.requests if _origin(r) != _origin(url)]
        assert not others, f"requests outside {_origin(url)}: {others}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@asynccontextmanager
async def browsing() -> AsyncIterator[Browsing]:
    """A fresh headless chromium with one page open (skips the test when there is none)."""
    why = browser_missing()
    if why is not None:
        pytest.skip(why)
    from playwright.async_api import async_playwright

    executable = chromium_path()
    assert executable is not None  # browser_missing() said so
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=executable, headless=True, args=list(ARGS), timeout=30_000
        )
        try:
            b = Browsing(browser)
            b.page = await b.new_page()
            yield b
        finally:
            await browser.close()
