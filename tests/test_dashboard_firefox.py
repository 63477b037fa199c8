"""The dashboard in Firefox: Debian's firefox-esr driven by puppeteer-core over WebDriver BiDi
(``tests/clients/firefox_dashboard.mjs``, pinned in ``tests/clients/package.json``), against a
real gateway with real traffic. Every page draws what it reads, nothing scrolls sideways at 1280
or 375 pixels, a client created in the page gets a key that works, and the page asks nothing of
any origin but the gateway's. The other browser tests (Chromium, through Playwright) go further:
tests/test_dashboard_browser.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from tests.clients import HERE, INSTALL, node_missing
from tests.gateway import running_gateway
from tests.test_dashboard_browser import CONFIG

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("fast_bcrypt")]
SCRIPT = HERE / "firefox_dashboard.mjs"
PAGES = {"home", "clients", "strategies", "providers", "config", "mcp", "settings"}


def _firefox() -> str:
    found = os.environ.get("LOCALROUTER_FIREFOX") or shutil.which("firefox-esr") or ""
    if not found or not Path(found).is_file():
        pytest.skip("firefox-esr not found: `make test` installs Debian's firefox-esr with apt-get "
                    "when it can (or set LOCALROUTER_FIREFOX)")  # fmt: skip
    if node_missing() is not None:
        pytest.skip("node and npm are not installed: puppeteer-core (npm) cannot drive Firefox")
    if not (HERE / "node_modules" / "puppeteer-core").is_dir():  # installable: not a skip
        pytest.fail(f"puppeteer-core is not installed: run `{INSTALL}` (make test does)")
    return found


def test_every_page_works_in_firefox(tmp_path: Path) -> None:
    firefox = _firefox()
    with running_gateway(CONFIG, tmp_path, watch=True) as gw:
        sdk = openai.OpenAI(base_url=gw.v1, api_key=gw.keys["app"], max_retries=0)
        for _ in range(6):
            sdk.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
        done = subprocess.run(
            ["node", str(SCRIPT), gw.url, gw.keys["ops"], firefox],
            capture_output=True, text=True, timeout=100, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        seen = json.loads(done.stdout)
        assert "failed" not in seen, seen["failed"]
        assert seen["user_agent"].startswith("firefox/"), seen["user_agent"]
        assert len(seen["nav"]) == 7
        assert set(seen["pages"]) == PAGES
        assert all(p["drawn"] and p["fits"] for p in seen["pages"].values()), seen["pages"]
        assert seen["narrow"] == dict.fromkeys(PAGES, True)
        usage = httpx.get(gw.v1 + "/usage?range=1h",
                          headers={"authorization": f"Bearer {gw.keys['ops']}"}).json()  # fmt: skip
        assert seen["home_requests"] == usage["totals"]["requests"] >= 6
        new = openai.OpenAI(base_url=gw.v1, api_key=seen["new_key"], max_retries=0)
        assert new.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}]
        )
        assert "  from-firefox:" in gw.config.read_text()
        origin = urlsplit(gw.url)
        elsewhere = [
            u for u in seen["requests"]
            if not u.startswith("data:") and urlsplit(u)[:2] != origin[:2]
        ]  # fmt: skip
        assert elsewhere == [] and seen["requests"], seen["requests"]
        assert seen["errors"] == []
