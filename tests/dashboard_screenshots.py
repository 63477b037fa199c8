"""Screenshots of the dashboard for docs/dashboard.md, taken in the browser the tests drive
(Debian's chromium through Playwright, tests/browser.py) against a real gateway with real traffic.

Run by hand from the repository root (pytest does not collect it):

    .venv/bin/python -m tests.dashboard_screenshots [--out docs/img] [--minutes 0]

It serves the config below (two mock providers, three strategies with routes and limits, four
clients of which one is an admin, an MCP server over stdio), sends a few dozen chat requests
through it with the clients' keys (``--minutes N`` spreads them over N minutes, so the 1-hour
charts have more than one point), then saves 1280x860 shots of every page into
``OUT/dashboard-<page>.png``: home, clients (a new client's key shown once), strategies (an order
change previewed: the candidates with it and served now), strategies-edit (its diff and what
changes in the routing table), providers, config, mcp, settings, plus ``dark`` (Home in the dark
theme) and ``narrow`` (the Clients page 375 px wide).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tests.browser import browser_missing, browsing
from tests.gateway import Gateway, running_gateway
from tests.mcp_servers.run import time_argv

if TYPE_CHECKING:
    from playwright.async_api import Page

CONFIG = """
version: 2
# The config behind the dashboard's screenshots (tests/dashboard_screenshots.py).

providers:
  local:                          # models on this machine: no price
    type: mock
    models:
      small-3b: {context_window: 8192, params_b: 3, quality: 0.4}
      medium-14b: {context_window: 32768, params_b: 14, quality: 0.6, capabilities: [chat, tools]}
  hosted:
    type: mock
    kind: api
    models:
      fast: {input_per_mtok: 0.15, output_per_mtok: 0.60, context_window: 131072, quality: 0.7}
      smart:
        input_per_mtok: 2.50
        output_per_mtok: 10.00
        context_window: 200000
        quality: 0.95
        capabilities: [chat, tools, json, vision]

strategies:
  cheap:                          # the batch jobs: free local models first
    models: ["local/*", hosted/fast]
    order: [lowest_cost]
    limits:
      - {requests: 600, per: 1m}
  smart:
    routes:
      - name: hard                # tools or a long question: the strong models
        when: 'request.has_tools || request.complexity >= 0.5'
        models: [hosted/smart, hosted/fast]
    models: [local/medium-14b, hosted/fast]
    limits:
      - {cost_usd: 5, per: 1d}
    mcp: {servers: [time, skills]}
  private:
    models: ["local/*"]
    order: [highest_quality]
    privacy: local_only

clients:
  ops:                            # the dashboard's admin
    key_prefix: "{key_prefix:ops}"
    key_hash: "{key_hash:ops}"
    strategy: smart
    admin: true
  web-app:
    key_prefix: "{key_prefix:web-app}"
    key_hash: "{key_hash:web-app}"
    strategy: smart
    tags: [web, prod]
    limits:
      - {requests: 120, per: 1m}
  batch:
    key_prefix: "{key_prefix:batch}"
    key_hash: "{key_hash:batch}"
    strategy: cheap
    tags: [jobs]
  notes:
    key_prefix: "{key_prefix:notes}"
    key_hash: "{key_hash:notes}"
    strategy: private

mcp_servers:
  time: {transport: stdio, command: TIME_ARGV}

skills:
  utc-now:
    description: The time now in UTC
    steps:
      - {id: now, call: time__get_current_time, args: {timezone: '"UTC"'}}
    result: 'steps.now.data'
"""

WIDTH, HEIGHT = 1280, 860
TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a word up",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}},
    },
}
QUESTIONS = (
    "What is the capital of France?",
    "Summarise this paragraph in one line, please.",
    "Write a haiku about routers.",
    "Explain, step by step and with the trade-offs of each, how a B-tree keeps itself "
    "balanced on insertion and deletion, and compare it with an LSM tree for a write-heavy "
    "workload on SSDs, including compaction and read amplification.",
)


def traffic(gw: Gateway, minutes: float) -> int:
    """A few dozen chat requests from the clients, interleaved (some with tools, two refused);
    over ``minutes`` when > 0. Returns how many were sent."""
    web: list[dict[str, object]] = []
    for i in range(18):
        body: dict[str, object] = {"messages": [{"role": "user", "content": QUESTIONS[i % 4]}]}
        if i % 5 == 0:
            body["tools"] = [TOOL]
        web.append(body)
    batch = [{"messages": [{"role": "user", "content": QUESTIONS[i % 3] * 3}]} for i in range(12)]
    notes = [{"messages": [{"role": "user", "content": QUESTIONS[i % 2]}]} for i in range(6)]
    plan: list[tuple[str, dict[str, object]]] = []
    for i in range(18):  # every third request of web-app's, a batch one, every third a note
        plan.append(("web-app", web[i]))
        if i < len(batch):
            plan.append(("batch", batch[i]))
        if i % 3 == 1:
            plan.append(("notes", notes[i // 3]))
    short = [{"role": "user", "content": "?"}]
    plan.insert(9, ("web-app", {"model": "hosted/missing", "messages": short}))  # 404
    plan.insert(25, ("batch", {"model": "hosted/smart", "messages": short}))  # not its strategy's
    pause = minutes * 60 / len(plan) if minutes > 0 else 0
    with httpx.Client(timeout=30) as http:
        for name, body in plan:
            http.post(
                gw.v1 + "/chat/completions",
                json={"model": "auto", **body},
                headers={"authorization": f"Bearer {gw.keys[name]}"},
            )
            if pause:
                time.sleep(pause)
    return len(plan)


async def shot(page: Page, out: Path, name: str) -> Path:
    await page.wait_for_timeout(400)  # charts sized, fonts settled
    path = out / f"dashboard-{name}.png"
    await page.screenshot(path=str(path))
    print(f"{path}  {path.stat().st_size // 1024} KB")
    return path


async def open_page(page: Page, gw: Gateway, name: str, ready: str) -> None:
    await page.goto(f"{gw.url}/#/{name}")
    await page.locator(ready).first.wait_for()
    await page.evaluate("window.scrollTo(0, 0)")


async def take(gw: Gateway, out: Path) -> None:
    async with browsing() as b:
        page = b.page
        await page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
        await page.goto(gw.url + "/")
        await page.locator("#admin-key").fill(gw.keys["ops"])
        await page.get_by_role("button", name="Sign in").click()
        await page.locator("#chart-requests[data-points]").wait_for()
        await page.locator("#usage-by").select_option("client")
        await page.locator("#usage-by-table").wait_for()
        await shot(page, out, "home")

        await open_page(page, gw, "clients", '[data-testid="client-row-web-app"]')
        form = page.locator("#client-create")
        await form.locator('input[name="name"]').fill("reports")
        await form.locator('select[name="strategy"]').select_option("cheap")
        await form.get_by_role("button", name="Create").click()
        await page.get_by_test_id("new-key").wait_for()
        await page.evaluate("window.scrollTo(0, 0)")
        await shot(page, out, "clients")

        await open_page(page, gw, "strategies", '[data-testid="preview-candidates"] li')
        card = page.get_by_test_id("strategy-cheap")
        await card.get_by_text("Edit models, order and limits").click()
        await card.get_by_role("checkbox", name="lowest_cost").uncheck()
        await card.get_by_role("checkbox", name="highest_quality").check()
        await card.get_by_role("button", name="Preview changes").click()
        await card.get_by_test_id("edit-diff").locator(".diff").first.wait_for()
        await card.get_by_test_id("preview-candidates-served").wait_for()
        await card.evaluate("el => el.scrollIntoView({block: 'start'})")
        await page.evaluate("window.scrollBy(0, -70)")  # below the sticky header
        await shot(page, out, "strategies")
        # the edit panel: the status, the diagnostics and the diff under the form's buttons
        buttons = card.get_by_role("button", name="Preview changes")
        await buttons.evaluate("el => el.scrollIntoView({block: 'start'})")
        await page.evaluate("window.scrollBy(0, -80)")
        await shot(page, out, "strategies-edit")

        await open_page(page, gw, "providers", '[data-testid="provider-hosted"]')
        await shot(page, out, "providers")
        await open_page(page, gw, "config", ".yaml-file[data-file]")
        await shot(page, out, "config")
        await open_page(page, gw, "mcp", '[data-testid="mcp-server-time"]')
        for summary in await page.locator("#mcp details > summary").all():
            await summary.click()
        await shot(page, out, "mcp")
        await open_page(page, gw, "settings", "#version")
        await shot(page, out, "settings")

        await page.get_by_label("Dark").check()
        await open_page(page, gw, "home", "#chart-requests[data-points]")
        await shot(page, out, "dark")
        await page.goto(f"{gw.url}/#/settings")
        await page.get_by_label("As the system").check()

        await page.set_viewport_size({"width": 375, "height": 740})
        await open_page(page, gw, "clients", '[data-testid="client-row-web-app"]')
        await shot(page, out, "narrow")

        others = [r for r in b.requests if not r.startswith(gw.url + "/")]
        if others or b.errors:
            print(
                "requests elsewhere:", others, "\nconsole errors:", json.dumps(b.errors, indent=1)
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--minutes", type=float, default=0.0)
    args = parser.parse_args()
    why = browser_missing()
    if why is not None:
        print(f"no browser: {why}", file=sys.stderr)
        return 2
    os.environ.setdefault("LOCALROUTER_BCRYPT_COST", "4")
    args.out.mkdir(parents=True, exist_ok=True)
    config = CONFIG.replace("TIME_ARGV", json.dumps(time_argv()))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "localrouter"
        folder.mkdir()
        with running_gateway(config, folder, watch=True) as gw:
            sent = traffic(gw, args.minutes)
            print(f"gateway {gw.url}: {sent} requests sent")
            asyncio.run(take(gw, args.out.resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
