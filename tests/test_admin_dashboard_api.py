"""The admin API calls the dashboard's pages are built on, against a real gateway (watcher on, as
``serve`` runs): the clients list and a client's strategy changed, the strategies view and a
strategy edit previewed (nothing written) then applied through ``PUT /admin/api/config`` with
comments kept, explain on a strategy and on edited files, a provider checked now, the MCP view,
the reload history, and the page's own files with their security headers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway import Gateway, running_gateway

pytestmark = pytest.mark.usefixtures("fast_bcrypt")

CONFIG = """
version: 2
# a comment above everything, kept by every edit
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
    limits:
      - {requests: 1000, per: 1m}
  best:
    models:
      - mock/large
      - mock/small
    routes:
      - name: tools
        when: 'request.has_tools'
        models: [mock/large]
clients:
  ops: {key_prefix: "{key_prefix:ops}", key_hash: "{key_hash:ops}", strategy: cheap, admin: true}
  app:
    key_prefix: "{key_prefix:app}"
    key_hash: "{key_hash:app}"
    strategy: cheap   # the app's strategy
    tags: [web]
# the end of the file
"""

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture()
def gw(tmp_path: Path) -> Iterator[Gateway]:
    with running_gateway(CONFIG, tmp_path, watch=True) as gw:
        yield gw


def _call(
    gw: Gateway, method: str, path: str, body: Any = None, who: str = "ops"
) -> httpx.Response:
    headers = {"authorization": f"Bearer {gw.keys[who]}"}
    return httpx.request(method, gw.url + path, json=body, headers=headers, timeout=30)


def _chat(gw: Gateway, who: str = "app", **extra: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {gw.keys[who]}"}
    return httpx.post(gw.v1 + "/chat/completions", json={**CHAT, **extra}, headers=headers)


def test_the_clients_list_shows_each_client_with_its_use(gw: Gateway) -> None:
    before = time.time()
    assert _chat(gw).status_code == 200
    assert _chat(gw).status_code == 200
    r = _call(gw, "GET", "/admin/api/clients")
    assert r.status_code == 200
    doc = r.json()
    by_name = {c["name"]: c for c in doc["clients"]}
    app = by_name["app"]
    assert app["strategy"] == "cheap" and app["model"] is None
    assert app["tags"] == ["web"] and app["enabled"] is True and app["admin"] is False
    assert app["key_prefix"] == gw.keys["app"][:11]
    assert app["today"]["requests"] == 2 and app["today"]["cost_usd"] > 0
    assert app["last_used"] is not None and app["last_used"] >= before - 1
    assert by_name["ops"]["admin"] is True and by_name["ops"]["last_used"] is None
    assert doc["strategies"] == ["best", "cheap"]
    assert "mock/large" in doc["models"]
    assert _call(gw, "GET", "/admin/api/clients", who="app").status_code == 403


def test_a_clients_strategy_becomes_a_model_and_back_in_place(gw: Gateway) -> None:
    r = _call(gw, "PATCH", "/admin/api/clients/app", {"model": "mock/large"})
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "app", "strategy": None, "model": "mock/large"}
    text = gw.config.read_text()
    assert "    model: mock/large   # the app's strategy\n" in text
    assert "# the end of the file" in text and "# a comment above everything" in text
    assert _chat(gw).json()["model"] == "large"
    r = _call(gw, "PATCH", "/admin/api/clients/app", {"strategy": "best"})
    assert r.status_code == 200, r.text
    assert "    strategy: best   # the app's strategy\n" in gw.config.read_text()
    # a one-line flow mapping is edited in place too
    r = _call(gw, "PATCH", "/admin/api/clients/ops", {"strategy": "best"})
    assert r.status_code == 200, r.text
    assert "strategy: best, admin: true}" in gw.config.read_text()


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"strategy": "cheap", "model": "mock/small"}, 400, "strategy"),
        ({}, 400, "strategy"),
        ({"strategy": "cheap", "tags": []}, 400, "tags"),
        ({"strategy": "nowhere"}, 422, None),
        ({"model": "mock/none"}, 422, None),
    ],
)
def test_a_wrong_change_of_strategy_writes_nothing(
    gw: Gateway, body: dict[str, Any], status: int, param: str | None
) -> None:
    before = gw.config.read_text()
    r = _call(gw, "PATCH", "/admin/api/clients/app", body)
    assert r.status_code == status, r.text
    if param:
        assert r.json()["error"]["param"] == param
    else:
        assert r.json()["diagnostics"], r.text
    assert gw.config.read_text() == before
    assert _call(gw, "PATCH", "/admin/api/clients/nobody", {"strategy": "best"}).status_code == 404


def test_the_strategies_view_shows_what_is_written_and_what_was_compiled(gw: Gateway) -> None:
    doc = _call(gw, "GET", "/admin/api/strategies").json()
    assert "lowest_cost" in doc["order_keys"] and "requests" in doc["limit_metrics"]
    by_name = {s["name"]: s for s in doc["strategies"]}
    assert set(by_name) == {"cheap", "best"}
    cheap, best = by_name["cheap"], by_name["best"]
    assert cheap["models"] == ["mock/small", "mock/large"]
    assert cheap["order"] == ["lowest_cost"]
    assert cheap["limits"] == [{"metric": "requests", "amount": 1000, "per": "1m"}]
    assert cheap["clients"] == ["app", "ops"]
    assert cheap["candidates"] == ["mock/small", "mock/large"]
    lines = gw.config.read_text().split("\n")
    assert cheap["file"] == "routers.yaml" and lines[cheap["line"] - 1] == "  cheap:"
    assert best["routes"] == [
        {"name": "tools", "when": "request.has_tools", "models": ["mock/large"], "order": []}
    ]
    assert best["fallback"]["attempts"] >= 1 and best["clients"] == []


def test_a_strategy_edit_is_previewed_then_applied_with_the_comments_kept(gw: Gateway) -> None:
    before = gw.config.read_text()
    old_sha = _call(gw, "GET", "/admin/api/config").json()["sha"]
    edit = {
        "order": ["highest_quality"],
        "limits": [{"metric": "requests", "amount": 5, "per": "1m"}],
    }
    r = _call(gw, "POST", "/admin/api/strategies/cheap/edit", edit)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["ok"] is True and doc["base_sha"] == old_sha and doc["sha"] != old_sha
    assert gw.config.read_text() == before  # a preview writes nothing
    [diff] = doc["diff"]["files"]
    assert "-    order: [lowest_cost]\n+    order: [highest_quality]\n" in diff["diff"]
    assert "+      - {requests: 5, per: 1m}\n" in diff["diff"]
    assert any("re-ordered" in change for change in doc["diff"]["table"]), doc["diff"]["table"]
    # the preview of the candidates on the edited config, before it is applied
    ask = {"strategy": "cheap", "request": CHAT}
    live = _call(gw, "POST", "/admin/api/explain", ask).json()
    edited = _call(gw, "POST", "/admin/api/explain", {**ask, "files": doc["files"]}).json()
    assert live["candidates"][:1] == ["mock/small"], live
    assert edited["candidates"][:1] == ["mock/large"], edited
    # applied through the one write path
    put = _call(
        gw, "PUT", "/admin/api/config", {"files": doc["files"], "base_sha": doc["base_sha"]}
    )
    assert put.status_code == 200, put.text
    assert put.json()["sha"] == doc["sha"]
    after = gw.config.read_text()
    assert "    order: [highest_quality]\n" in after
    assert "    models: [mock/small, mock/large]   # the small one first\n" in after
    assert "# a comment above everything" in after and "# the end of the file" in after
    assert httpx.get(gw.url + "/health").json()["config"]["sha"] == doc["sha"]
    assert _chat(gw).json()["model"] == "large"
    history = _call(gw, "GET", "/admin/api/config").json()["history"]
    assert history[0]["status"] == "swapped" and history[0]["reason"] == "admin API"
    assert history[0]["new_sha"] == doc["sha"] and history[0]["time"] > 0


def test_an_invalid_strategy_edit_shows_its_diagnostic_with_its_line(gw: Gateway) -> None:
    before = gw.config.read_text()
    r = _call(gw, "POST", "/admin/api/strategies/best/edit", {"models": ["mock/nothing"]})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["ok"] is False and doc["sha"] is None
    [diag] = [d for d in doc["diagnostics"] if d["severity"] == "error"]
    lines = doc["files"][0]["text"].split("\n")
    assert diag["file"] == "routers.yaml" and "mock/nothing" in lines[diag["line"] - 1], diag
    assert "no model 'nothing'" in diag["message"]
    put = _call(
        gw, "PUT", "/admin/api/config", {"files": doc["files"], "base_sha": doc["base_sha"]}
    )
    assert put.status_code == 422
    assert gw.config.read_text() == before


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"models": []}, "models"),
        ({"models": "mock/small"}, "models"),
        ({"order": [1]}, "order.0"),
        ({"limits": [{"metric": "beans", "amount": 1, "per": "1m"}]}, "limits.0.metric"),
        ({"limits": [{"metric": "requests", "amount": -1, "per": "1m"}]}, "limits.0.amount"),
        ({"limits": [{"metric": "requests", "amount": 1, "per": "soon"}]}, "limits.0.per"),
        ({"privacy": "local_only"}, "privacy"),
    ],
)
def test_a_malformed_strategy_edit_is_a_400_naming_the_field(
    gw: Gateway, body: dict[str, Any], param: str
) -> None:
    r = _call(gw, "POST", "/admin/api/strategies/cheap/edit", body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_an_unknown_strategy_and_a_non_admin_are_refused(gw: Gateway) -> None:
    assert _call(gw, "POST", "/admin/api/strategies/none/edit", {"order": []}).status_code == 404
    assert _call(gw, "GET", "/admin/api/strategies", who="app").status_code == 403
    r = _call(gw, "POST", "/admin/api/explain", {"strategy": "none", "request": {}})
    assert r.status_code == 404


def test_a_provider_is_checked_now(gw: Gateway) -> None:
    r = _call(gw, "POST", "/admin/api/providers/mock/check")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["name"] == "mock" and doc["latency_ms"] >= 0
    assert {m["id"] for m in doc["provider"]["models"]} == {"mock/small", "mock/large"}
    assert _call(gw, "POST", "/admin/api/providers/nope/check").status_code == 404


def test_the_mcp_view_is_empty_without_servers(gw: Gateway) -> None:
    doc = _call(gw, "GET", "/admin/api/mcp").json()
    assert doc["servers"] == [] and doc["skills"] == []


def test_the_page_is_served_with_a_strict_policy(gw: Gateway) -> None:
    r = httpx.get(gw.url + "/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="/dashboard/app.js">' in r.text
    js = httpx.get(gw.url + "/dashboard/app.js", headers={"accept-encoding": "gzip"})
    assert js.status_code == 200 and js.headers["content-encoding"] == "gzip"
    assert js.headers["content-type"].startswith("text/javascript")
    again = httpx.get(gw.url + "/dashboard/app.js", headers={"if-none-match": js.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert httpx.get(gw.url + "/dashboard/vendor/uplot/uPlot.esm.js").status_code == 200
    for bad in ("/dashboard/../server/web.py", "/dashboard/nothing.js", "/dashboard/%2e%2e/x"):
        assert httpx.get(gw.url + bad).status_code == 404, bad


def test_the_page_is_off_with_the_dashboard(tmp_path: Path) -> None:
    text = CONFIG.replace("version: 2\n", "version: 2\nserver: {dashboard: false}\n", 1)
    with running_gateway(text, tmp_path) as gw:
        r = httpx.get(gw.url + "/")
        assert r.status_code == 404 and r.json()["error"]["code"] == "dashboard_off"
        assert httpx.get(gw.url + "/dashboard/app.js").status_code == 404


def test_a_comment_written_by_hand_after_the_preview_is_never_overwritten(gw: Gateway) -> None:
    doc = _call(gw, "POST", "/admin/api/strategies/cheap/edit", {"order": []}).json()
    assert doc["ok"] is True
    assert doc["base_files_sha"] == _call(gw, "GET", "/admin/api/config").json()["files_sha"]
    by_hand = gw.config.read_text() + "# a note written by hand meanwhile\n"
    gw.config.write_text(by_hand)  # the table's sha is the same: only the bytes tell
    apply = {k: doc[k] for k in ("files", "base_sha", "base_files_sha")}
    put = _call(gw, "PUT", "/admin/api/config", apply)
    assert put.status_code == 409, put.text
    assert gw.config.read_text() == by_hand
    again = _call(gw, "POST", "/admin/api/strategies/cheap/edit", {"order": []}).json()
    apply = {k: again[k] for k in ("files", "base_sha", "base_files_sha")}
    assert _call(gw, "PUT", "/admin/api/config", apply).status_code == 200
    after = gw.config.read_text()
    assert "# a note written by hand meanwhile" in after and "order:" not in after.split("best")[0]


SECRET = "sk-test-Zq81VvXa0123456789abcdef"
WITH_SECRET = CONFIG.replace(
    "strategies:\n",
    f"  far:\n    type: openai\n    base_url: http://127.0.0.1:9/v1\n    api_key: {SECRET}\n"
    "    discover: false\n    models: {m: {}}\nstrategies:\n",
    1,
)


def test_a_literal_secret_is_never_shown_and_never_overwritten_by_its_stars(
    tmp_path: Path,
) -> None:
    with running_gateway(WITH_SECRET, tmp_path, watch=True) as gw:
        doc = _call(gw, "GET", "/admin/api/config").json()
        text = doc["files"][0]["text"]
        assert SECRET not in text and "    api_key: " + "*" * len(SECRET) in text
        edited = text.replace("# the end of the file", "# the end, edited")
        preview = _call(gw, "POST", "/admin/api/config/preview", {"files": [
            {"path": "routers.yaml", "text": edited}]}).json()  # fmt: skip
        assert preview["ok"] is True, preview
        assert SECRET not in str(preview) and "api_key" not in preview["diff"]["files"][0]["diff"]
        put = _call(gw, "PUT", "/admin/api/config", {
            "files": [{"path": "routers.yaml", "text": edited}], "base_sha": doc["sha"],
            "base_files_sha": doc["files_sha"]})  # fmt: skip
        assert put.status_code == 200, put.text
        on_disk = gw.config.read_text()
        assert f"    api_key: {SECRET}\n" in on_disk and "# the end, edited" in on_disk
        r = _call(gw, "POST", "/admin/api/strategies/cheap/edit", {"order": []})
        assert SECRET not in str(r.json()["diff"]) and SECRET not in str(r.json()["diagnostics"])


def test_the_mcp_view_shows_each_server_its_tools_and_who_sees_them(tmp_path: Path) -> None:
    import json

    from tests.mcp_servers.run import time_argv

    text = CONFIG.replace(
        "clients:\n",
        "  agents:\n    models: [mock/small]\n"
        "    mcp: {servers: [time, skills], deny: ['time__convert*']}\n"
        f"mcp_servers:\n  time: {{transport: stdio, command: {json.dumps(time_argv())}}}\n"
        "skills:\n  now:\n    description: The time now\n    steps:\n"
        "      - {id: t, call: time__get_current_time, args: {timezone: '\"UTC\"'}}\n"
        'clients:\n  agent: {key_prefix: "{key_prefix:agent}", key_hash: "{key_hash:agent}",'
        " strategy: agents}\n",
        1,
    )
    with running_gateway(text, tmp_path) as gw:
        deadline = time.monotonic() + 20
        while True:
            doc = _call(gw, "GET", "/admin/api/mcp").json()
            [server] = doc["servers"]
            if server["state"] == "ready" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert server["name"] == "time" and server["transport"] == "stdio", server
        assert server["state"] == "ready" and server["circuit"] == "closed"
        assert server["clients"] == ["agent"] and server["tools_source"] == "live"
        tools = {t["name"]: t for t in server["tools"]}
        assert set(tools) == {"time__get_current_time", "time__convert_time"}
        assert tools["time__get_current_time"]["clients"] == ["agent"]
        assert tools["time__convert_time"]["clients"] == []  # denied by the strategy's glob
        assert doc["skills"] == [
            {"name": "skills__now", "description": "The time now", "clients": ["agent"]}
        ]


DISCOVERING = """
version: 2
providers:
  ollama: {{type: ollama, base_url: "{upstream}"}}   # its models are discovered
strategies:
  local: {{models: ["ollama/*"], order: [lowest_cost]}}
clients:
  ops:
    {{key_prefix: "{{key_prefix:ops}}", key_hash: "{{key_hash:ops}}", strategy: local, admin: true}}
"""


def test_edits_compile_with_the_models_discovery_found(tmp_path: Path) -> None:
    from tests.fakes.ollama_fake import FakeState, create_app
    from tests.fakes.serve import serve_app

    with (
        serve_app(create_app(FakeState())) as upstream,
        running_gateway(DISCOVERING.format(upstream=upstream), tmp_path, watch=True) as gw,
    ):
        deadline = time.monotonic() + 10
        while (
            "ollama/qwen2.5-coder:7b" not in _call(gw, "GET", "/admin/api/clients").json()["models"]
        ):
            assert time.monotonic() < deadline, "discovery did not list the fake's models"
            time.sleep(0.05)
        served = _call(gw, "GET", "/admin/api/config").json()
        # a strategy naming a discovered model compiles, from the served sha
        edit = _call(gw, "POST", "/admin/api/strategies/local/edit",
                     {"models": ["ollama/qwen2.5-coder:7b"]}).json()  # fmt: skip
        assert edit.get("ok") is True, edit
        assert edit["base_sha"] == served["sha"]
        assert not any("removed" in c for c in edit["diff"]["table"]), edit["diff"]["table"]
        apply = {k: edit[k] for k in ("files", "base_sha", "base_files_sha")}
        assert _call(gw, "PUT", "/admin/api/config", apply).status_code == 200
        # a client with a discovered model as its fixed model
        r = _call(gw, "POST", "/admin/api/clients", {"name": "coder", "model": "ollama/llava:7b"})
        assert r.status_code == 201, r.text
