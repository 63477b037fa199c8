"""The dashboard in a real browser (Debian's chromium, tests/browser.py) against a real gateway
with real traffic through it (watcher on, as ``serve`` runs): sign-in (a plain client's key and a
wrong key refused, the admin key let in), the Home charts equal to ``/v1/usage``, a client
created, disabled, enabled, rotated and deleted from the page with the YAML's comments kept, a
strategy's order changed with the preview following before Apply, an invalid edit's diagnostic
with its line, a hand edit of the file followed by the page, and the page at phone width and by
keyboard alone. Every test ends with the network log holding nothing but the gateway's origin and
no console error (a CSP violation is one) but those its refusals cause on purpose.

Each test runs one gateway and one browser (about 1-2 s to launch); the file takes ~30 s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import openai
import pytest

from tests.browser import Browsing, browsing
from tests.gateway import Gateway, running_gateway

if TYPE_CHECKING:  # Playwright itself is imported by each test, after browsing() found it
    from playwright.async_api import Page

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("fast_bcrypt")]

CONFIG = """
version: 2
# the dashboard's browser tests: every edit keeps this comment
providers:
  mock:
    type: mock
    models:
      small: {input_per_mtok: 0.1, output_per_mtok: 0.2, quality: 0.3}
      large: {input_per_mtok: 2.0, output_per_mtok: 8.0, quality: 0.9}
strategies:
  cheap:
    models: [mock/small, mock/large]   # the small one first
    order: [lowest_cost]
  best:
    models:
      - mock/large
      - mock/small
clients:
  ops: {key_prefix: "{key_prefix:ops}", key_hash: "{key_hash:ops}", strategy: cheap, admin: true}
  app:
    key_prefix: "{key_prefix:app}"
    key_hash: "{key_hash:app}"
    strategy: cheap   # the app's strategy
    tags: [web]
# the end of the file
"""
COMMENTS = (
    "# the dashboard's browser tests: every edit keeps this comment\n",
    "    models: [mock/small, mock/large]   # the small one first\n",
    "    strategy: cheap   # the app's strategy\n",
    "# the end of the file\n",
)
PAGES = ("home", "clients", "strategies", "providers", "config", "mcp", "settings")
# what shows that each page has drawn what it reads from the gateway
DRAWN = {
    "home": "#chart-requests[data-points]",
    "clients": '[data-testid="client-row-app"]',
    "strategies": '[data-testid="strategy-cheap"] [data-testid="preview-candidates"] li',
    "providers": '[data-testid="provider-mock"]',
    "config": ".yaml-file[data-file]",
    "mcp": '[data-testid="mcp-empty"]',
    "settings": "#version",
}
REFUSED = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


@pytest.fixture()
def gw(tmp_path: Path) -> Iterator[Gateway]:
    with running_gateway(CONFIG, tmp_path, watch=True) as gw:
        yield gw


# -- helpers ---------------------------------------------------------------------------------------


def chat(gw: Gateway, key: str, model: str = "auto", text: str = "hi") -> int:
    """One chat request with ``key`` (the openai SDK); its HTTP status."""
    client = openai.OpenAI(base_url=gw.v1, api_key=key, max_retries=0)
    try:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])
    except openai.APIStatusError as e:
        return e.status_code
    return 200


def admin(gw: Gateway, path: str) -> Any:
    r = httpx.get(gw.url + path, headers={"authorization": f"Bearer {gw.keys['ops']}"})
    assert r.status_code == 200, r.text
    return r.json()


def served_sha(gw: Gateway) -> str:
    sha = httpx.get(gw.url + "/health").json()["config"]["sha"]
    assert isinstance(sha, str)
    return sha


def assert_comments_kept(gw: Gateway) -> None:
    text = gw.config.read_text(encoding="utf-8")
    for line in COMMENTS:
        assert line in text, f"lost {line!r}:\n{text}"


def assert_clean(b: Browsing, gw: Gateway, refused: tuple[int, ...] = ()) -> None:
    """Only the gateway's origin in the network log, and no console error but the browser's
    note of an answer ``refused`` on purpose (chromium logs every 4xx a fetch gets)."""
    b.assert_only_origin(gw.url)
    unexpected = []
    for error in b.errors:
        m = REFUSED.search(error)
        if not (
            m and int(m.group(1)) in refused and error.endswith(f" at {gw.url}/admin/api/config")
        ):
            unexpected.append(error)
    assert not unexpected, unexpected


async def sign_in(page: Page, gw: Gateway, name: str = "ops", hash_: str = "") -> None:
    """Open the page (at ``#/hash_``) and sign in with ``name``'s key; the nav is shown."""
    await page.goto(f"{gw.url}/#/{hash_}" if hash_ else gw.url + "/")
    await page.locator("#admin-key").fill(gw.keys[name])
    await page.get_by_role("button", name="Sign in").click()
    await page.locator("#nav a").first.wait_for()


async def attr(page: Page, selector: str, name: str) -> str:
    value = await page.locator(selector).get_attribute(name)
    assert value is not None, f"{selector} has no {name}"
    return value


async def wait_for(page: Page, js: str, arg: Any = None) -> None:
    await page.wait_for_function(js, arg=arg)


# -- sign-in ---------------------------------------------------------------------------------------


async def test_only_an_admin_key_signs_in(gw: Gateway) -> None:
    from playwright.async_api import expect

    async with browsing() as b:
        page = b.page
        await page.goto(gw.url + "/")
        key, error = page.locator("#admin-key"), page.locator("#login-error")
        submit = page.get_by_role("button", name="Sign in")
        # a plain client's key: known, but not an admin
        await key.fill(gw.keys["app"])
        await submit.click()
        await expect(error).to_contain_text("not an admin")
        await expect(page.locator("#nav a")).to_have_count(0)
        # a key nobody has
        await page.locator("#admin-key").fill("lr-" + "x" * 43)
        await page.get_by_role("button", name="Sign in").click()
        error = page.locator("#login-error")
        await expect(error).to_contain_text(re.compile(r"not known to this gateway"))
        await expect(page.locator("#nav a")).to_have_count(0)
        assert await page.evaluate("sessionStorage.length") == 0  # nothing kept of either
        # the admin's key: in, the nav, the header's sha and the Home page
        await page.locator("#admin-key").fill(gw.keys["ops"])
        await page.get_by_role("button", name="Sign in").click()
        nav = page.get_by_role("navigation", name="Pages")
        await expect(nav.get_by_role("link")).to_have_text(
            ["Home", "Clients", "Strategies", "Providers", "Config", "MCP", "Settings"]
        )
        await expect(page.locator("#served-sha")).to_have_attribute("title", served_sha(gw))
        await expect(page.locator("#page-home h1")).to_have_text("Home")
        await expect(page.locator("#login")).to_have_count(0)
        # signing out forgets the key
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.locator("#admin-key")).to_be_visible()
        assert await page.evaluate("sessionStorage.length") == 0
        assert_clean(b, gw, refused=(401, 403))


# -- Home ------------------------------------------------------------------------------------------


async def chart_numbers(page: Page, chart: str) -> tuple[float, dict[str, float], int]:
    box = f"#chart-{chart}"
    total = float(await attr(page, box, "data-series-total"))
    totals = json.loads(await attr(page, box, "data-series-totals"))
    points = int(await attr(page, box, "data-points"))
    return total, totals, points


async def test_the_home_charts_draw_what_usage_answers(gw: Gateway) -> None:
    from playwright.async_api import expect

    for i in range(5):
        assert chat(gw, gw.keys["app"], text=f"hello {i}" * (i + 1)) == 200
    for _ in range(2):
        assert chat(gw, gw.keys["ops"], model="mock/large") == 200
    assert chat(gw, gw.keys["app"], model="mock/nothing") == 404  # an error, counted too
    async with browsing() as b:
        page = b.page
        await sign_in(page, gw)
        await page.locator("#chart-requests[data-points]").wait_for()
        usage = admin(gw, "/v1/usage?range=1h")
        t = usage["totals"]
        assert t["requests"] == 8 and t["errors"] == 1 and t["total_tokens"] > 0
        [series] = usage["series"]
        total, totals, points = await chart_numbers(page, "requests")
        assert (total, totals, points) == (8, {"all": 8}, len(series["points"]))
        total, _, _ = await chart_numbers(page, "tokens")
        assert total == t["total_tokens"]
        total, _, _ = await chart_numbers(page, "cost")
        assert total == pytest.approx(t["cost_usd"], rel=1e-6) and total > 0
        # the latency chart draws p50 and p95; the success rate is 7 of 8 in the totals
        _, totals, _ = await chart_numbers(page, "latency")
        assert set(totals) == {"all p50", "all p95"} and totals["all p95"] > 0
        await expect(page.locator("#total-requests")).to_have_attribute("data-value", "8")
        await expect(page.locator("#total-success")).to_have_attribute("data-value", "0.875")
        # split by client: one series a client, each equal to /v1/usage's
        await page.locator("#usage-by").select_option("client")
        by_client = admin(gw, "/v1/usage?range=1h&by=client")
        expected = {s["name"]: s["totals"]["requests"] for s in by_client["series"]}
        assert expected == {"app": 6, "ops": 2}
        await wait_for(
            page,
            "want => document.querySelector('#chart-requests')?.dataset.seriesTotals === want",
            json.dumps(expected, separators=(",", ":")),
        )
        _, tokens, _ = await chart_numbers(page, "tokens")
        assert tokens == {s["name"]: s["totals"]["total_tokens"] for s in by_client["series"]}
        await expect(page.locator("#usage-by-table")).to_contain_text("app")
        # new traffic shows within the page's 5 s refresh
        assert chat(gw, gw.keys["app"]) == 200
        await wait_for(
            page,
            "() => JSON.parse(document.querySelector('#chart-requests').dataset.seriesTotals)"
            ".app === 7",
        )
        # one client's own chart on the Clients page: its 24 hours, as /v1/usage counts them
        await page.get_by_role("link", name="Clients", exact=True).click()
        await page.get_by_test_id("client-row-app").get_by_role("button", name="Usage").click()
        day = admin(gw, "/v1/usage?range=24h&by=client")
        [app] = [s for s in day["series"] if s["name"] == "app"]
        assert app["totals"]["requests"] == 7
        chart = page.locator('#client-usage[data-client="app"] #chart-client-requests')
        await expect(chart).to_have_attribute("data-series-total", "7")
        await expect(chart).to_have_attribute("data-points", str(len(app["points"])))
        cost = page.locator("#chart-client-cost")
        total = float(await cost.get_attribute("data-series-total") or "nan")
        assert total == pytest.approx(app["totals"]["cost_usd"], rel=1e-6)
        assert_clean(b, gw)


# -- Clients ---------------------------------------------------------------------------------------


async def test_a_client_is_created_disabled_rotated_and_deleted_in_the_page(gw: Gateway) -> None:
    from playwright.async_api import expect

    async with browsing() as b:
        page = b.page
        await sign_in(page, gw, hash_="clients")
        form = page.locator("#client-create")
        await form.locator('input[name="name"]').fill("newbie")
        await form.locator('select[name="strategy"]').select_option("best")
        await form.get_by_role("button", name="Create").click()
        shown = page.get_by_test_id("new-key")
        await expect(shown).to_have_text(re.compile(r"^lr-\S{20,}$"))
        key = (await shown.text_content() or "").strip()
        row = page.get_by_test_id("client-row-newbie")
        await expect(row).to_contain_text("best")
        assert "  newbie:" in gw.config.read_text() and key not in gw.config.read_text()
        assert_comments_kept(gw)
        assert chat(gw, key) == 200
        # its strategy becomes a fixed model, edited in place in the YAML
        await row.get_by_role("button", name="Change").click()
        await row.get_by_test_id("change-newbie").select_option("model:mock/small")
        await row.get_by_role("button", name="Save").click()
        await expect(row).to_contain_text("model mock/small")
        [entry] = [x for x in gw.config.read_text().split("\n") if x.startswith("  newbie:")]
        assert entry.endswith(", model: mock/small}") and "strategy" not in entry
        assert_comments_kept(gw)
        # the key is shown once: gone from the page once dismissed, and not in any later answer
        await page.get_by_role("button", name="Done").click()
        await expect(page.get_by_test_id("new-key")).to_have_count(0)
        assert key not in json.dumps(admin(gw, "/admin/api/clients"))

        await row.get_by_role("button", name="Disable").click()
        await expect(row).to_contain_text("disabled")
        assert chat(gw, key) == 403
        assert_comments_kept(gw)
        await row.get_by_role("button", name="Enable").click()
        await expect(row.get_by_role("button", name="Disable")).to_be_visible()
        assert chat(gw, key) == 200

        await row.get_by_role("button", name="Rotate").click()
        dialog = page.locator("dialog#confirm")
        await expect(dialog).to_be_visible()
        await dialog.get_by_role("button", name="Rotate").click()
        await expect(shown).to_have_text(re.compile(r"^lr-\S{20,}$"))
        new_key = (await shown.text_content() or "").strip()
        assert new_key != key
        assert chat(gw, key) == 401
        assert chat(gw, new_key) == 200
        assert_comments_kept(gw)

        # delete: the dialog's Cancel keeps the client, its Delete removes it
        await row.get_by_role("button", name="Delete").click()
        await expect(dialog).to_contain_text('Delete the client "newbie"?')
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_be_hidden()
        assert chat(gw, new_key) == 200
        await row.get_by_role("button", name="Delete").click()
        await dialog.get_by_role("button", name="Delete").click()
        await expect(row).to_have_count(0)
        assert chat(gw, new_key) == 401
        assert "newbie" not in gw.config.read_text()
        assert_comments_kept(gw)
        await expect(page.get_by_test_id("client-row-app")).to_be_visible()
        assert_clean(b, gw)


# -- Strategies ------------------------------------------------------------------------------------


async def test_a_strategy_is_reordered_with_its_preview_then_applied(gw: Gateway) -> None:
    from playwright.async_api import expect

    before_text, before_sha = gw.config.read_text(), served_sha(gw)
    async with browsing() as b:
        page = b.page
        await sign_in(page, gw, hash_="strategies")
        card = page.get_by_test_id("strategy-cheap")
        candidates = card.get_by_test_id("preview-candidates").locator("li")
        await expect(candidates).to_have_count(2)
        await expect(candidates.first).to_have_text(re.compile(r"^mock/small"))
        # order by quality instead of cost: the preview follows before anything is written
        await card.get_by_text("Edit models, order and limits").click()
        await card.get_by_role("checkbox", name="lowest_cost").uncheck()
        await card.get_by_role("checkbox", name="highest_quality").check()
        await card.get_by_role("button", name="Preview changes").click()
        diff = card.get_by_test_id("edit-diff")
        await expect(diff).to_contain_text("-    order: [lowest_cost]")
        await expect(diff).to_contain_text("+    order: [highest_quality]")
        await expect(card.get_by_test_id("edit-diagnostics")).to_contain_text("No errors")
        await expect(candidates.first).to_have_text(re.compile(r"^mock/large"))
        served = card.get_by_test_id("preview-candidates-served").locator("li")
        await expect(served.first).to_have_text(re.compile(r"^mock/small"))
        assert gw.config.read_text() == before_text and served_sha(gw) == before_sha
        # applied: the file changed in place (comments kept), the gateway serves it
        await card.get_by_role("button", name="Apply").click()
        await expect(card.locator(".edit-status")).to_contain_text("Applied")
        after = gw.config.read_text()
        assert after == before_text.replace(
            "    order: [lowest_cost]\n", "    order: [highest_quality]\n"
        )
        assert_comments_kept(gw)
        sha = served_sha(gw)
        assert sha != before_sha and sha == admin(gw, "/admin/api/config")["sha"]
        await expect(page.locator("#served-sha")).to_have_attribute("title", sha)
        await expect(candidates).to_have_count(2)
        await expect(candidates.first).to_have_text(re.compile(r"^mock/large"))
        await expect(card.get_by_test_id("preview-candidates-served")).to_have_count(0)

        # an unknown model: the diagnostic with its line, Apply off, the file untouched
        await card.get_by_label("Models").fill("mock/large\nmock/nothing")
        await card.get_by_role("button", name="Preview changes").click()
        diagnostics = card.get_by_test_id("edit-diagnostics")
        await expect(diagnostics).to_contain_text("no model 'nothing'")
        where = await diagnostics.locator(".where").first.text_content() or ""
        m = re.fullmatch(r"routers\.yaml:(\d+):\d+", where)
        assert m, where
        line = int(m.group(1))
        source = diagnostics.locator("pre.source").first
        await expect(source).to_contain_text(f"{line} | ")
        await expect(source).to_contain_text("mock/nothing")
        await expect(card.get_by_role("button", name="Apply")).to_be_disabled()
        assert gw.config.read_text() == after and served_sha(gw) == sha
        assert_clean(b, gw)


# -- a hand edit -----------------------------------------------------------------------------------


async def test_the_page_follows_a_hand_edit_of_the_file(gw: Gateway) -> None:
    from playwright.async_api import expect

    async with browsing() as b:
        page = b.page
        await sign_in(page, gw, hash_="clients")
        await expect(page.get_by_test_id("client-row-app")).to_be_visible()
        old_sha = served_sha(gw)
        await expect(page.locator("#served-sha")).to_have_attribute("title", old_sha)
        text = gw.config.read_text()
        handmade = "  " + gw.render(  # (render strips the indent)
            'handmade: {key_prefix: "{key_prefix:handmade}", '
            'key_hash: "{key_hash:handmade}", model: mock/large}   # by hand\n'
        )
        text = text.replace("# the end of the file\n", handmade + "# the end of the file\n")
        gw.config.write_text(text, encoding="utf-8")
        # within the expectations' 10 s: the watcher's reload, then the page's 2 s poll
        row = page.get_by_test_id("client-row-handmade")
        await expect(row).to_contain_text("mock/large")
        sha = served_sha(gw)
        assert sha != old_sha
        await expect(page.locator("#served-sha")).to_have_attribute("title", sha)
        assert chat(gw, gw.keys["handmade"]) == 200
        # the Config page shows the file as it is now
        await page.get_by_role("link", name="Config", exact=True).click()
        await expect(page.locator("#config-sha")).to_have_text(sha)
        yaml = page.locator('.yaml-file[data-file="routers.yaml"]')
        await expect(yaml).to_contain_text("handmade:")
        # a broken hand edit: the page says so with the line, and the old table is still served
        gw.config.write_text(text.replace("model: mock/large}", "model: mock/none}"), "utf-8")
        await expect(page.locator("#config-status")).to_contain_text("error")
        errors = page.locator("#config-errors")
        await expect(errors).to_contain_text("mock/none")
        await expect(page.locator("#status")).to_contain_text("config error")
        assert served_sha(gw) == sha
        assert_clean(b, gw)


# -- narrow width and the keyboard -----------------------------------------------------------------


async def test_every_page_fits_a_phone_and_the_keyboard_reaches_everything(gw: Gateway) -> None:
    from playwright.async_api import expect

    assert chat(gw, gw.keys["app"]) == 200
    async with browsing() as b:
        page = b.page
        await page.set_viewport_size({"width": 375, "height": 740})
        await page.goto(gw.url + "/")
        key = page.locator("#admin-key")
        # the keyboard alone: Tab to the field, type the key, Enter
        await page.evaluate("document.activeElement && document.activeElement.blur()")
        for _ in range(6):
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement.id") == "admin-key":
                break
        await expect(key).to_be_focused()
        await page.keyboard.type(gw.keys["ops"])
        await page.keyboard.press("Enter")
        await expect(page.locator("#page-home")).to_be_visible()
        # every nav link is reached with Tab, and Enter on one opens its page
        reached: list[str] = []
        await page.evaluate("document.activeElement && document.activeElement.blur()")
        for _ in range(20):
            await page.keyboard.press("Tab")
            href = await page.evaluate("document.activeElement.getAttribute('href')")
            if href and href not in reached:
                reached.append(href)
            if href == "#/settings":
                break
        assert all(f"#/{p}" in reached for p in PAGES), reached
        await page.keyboard.press("Enter")
        await expect(page.locator("#page-settings")).to_be_visible()
        # no page scrolls sideways at 375 px
        wide = {}
        for name in PAGES:
            await page.goto(f"{gw.url}/#/{name}")
            await page.locator(DRAWN[name]).first.wait_for()
            sizes = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if sizes[0] > sizes[1] + 1:
                wide[name] = sizes
        assert not wide, f"pages wider than the screen [scrollWidth, innerWidth]: {wide}"
        assert_clean(b, gw)
