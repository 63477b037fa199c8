"""``/mcp`` with real upstream servers and the official SDK as the client.

One gateway for the module, in front of: ``mcp-server-time`` (PyPI) over stdio, the fixture
server over stdio (with an ``env:`` secret), over Streamable HTTP (with a secret header) and over
SSE, and the skills. Clients: ``app`` (sees all of them, minus what its globs deny), ``narrow``
(only ``time``), ``off`` (disabled).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from tests.gateway import Gateway, running_gateway
from tests.mcp_client import names, session, stateless, text
from tests.mcp_servers.run import fixture_argv, serve, stdio_argv, time_argv

TOKEN = "Bearer fx-token-5f1c2a9e7b"  # a secret the gateway reads from the environment
FLAG = "MCP_TEST_FLAG"


def _argv(argv: list[str]) -> str:
    return json.dumps(argv)


CONFIG = """
version: 2
providers:
  mock: {{type: mock}}
strategies:
  agents:
    models: [mock/echo]
    mcp:
      servers: [time, fx, fxh, fxs, skills]
      deny: ["fx__crash", "time__convert*"]
      rules:
        - {{when: 'tool.name == "fx__echo" && tool.args.text == "forbidden"', action: deny}}
  narrow:
    models: [mock/echo]
    mcp: {{servers: [time]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: agents}}
  narrow: {{key_prefix: "{{key_prefix:narrow}}", key_hash: "{{key_hash:narrow}}", strategy: narrow}}
  off:
    key_prefix: "{{key_prefix:off}}"
    key_hash: "{{key_hash:off}}"
    strategy: agents
    enabled: false
mcp_servers:
  time: {{transport: stdio, command: {time}, env: {{TZ: UTC}}}}
  fx: {{transport: stdio, command: {fx}, env: {{{flag}: "${{env:MCP_TEST_FLAG_VALUE}}"}}}}
  fxh:
    transport: streamable_http
    url: {fxh}
    headers: {{Authorization: "${{env:MCP_TEST_TOKEN}}"}}
  fxs: {{transport: sse, url: {fxs}}}
skills:
  utc-now:
    description: The time in UTC, and an echo of the caller's word
    input: {{type: object, properties: {{word: {{type: string}}}}, required: [word]}}
    steps:
      - {{id: now, call: time__get_current_time, args: {{timezone: '"UTC"'}}}}
      - id: said
        call: fx__echo
        args: {{text: 'input.word + " at " + steps.now.data.timezone'}}
    result: '{{"said": steps.said.text, "tz": steps.now.data.timezone}}'
  broken:
    description: Its second step is refused by the strategy
    steps:
      - {{id: first, call: fx__echo, args: {{text: '"one"'}}}}
      - {{id: second, call: fx__crash}}
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    directory = tmp_path_factory.mktemp("mcp")
    with contextlib.ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("MCP_TEST_TOKEN", TOKEN)
        mp.setenv("MCP_TEST_FLAG_VALUE", "flag-value-ok")
        fxh = stack.enter_context(serve(fixture_argv("streamable_http", name="fxh")))
        fxs = stack.enter_context(serve(fixture_argv("sse", name="fxs"), path="/sse"))
        text = CONFIG.format(
            time=_argv(time_argv()),
            fx=_argv(stdio_argv("fx")),
            flag=FLAG,
            fxh=fxh.url,
            fxs=fxs.url,
        )
        gw = stack.enter_context(running_gateway(text, directory))
        _wait_ready(gw, ("time", "fx", "fxh", "fxs"))
        yield gw


def _health(gw: Gateway) -> dict[str, Any]:
    with urllib.request.urlopen(gw.url + "/health", timeout=5) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def _wait_ready(gw: Gateway, servers: tuple[str, ...], timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        states = _health(gw)["mcp_servers"]
        if all(states.get(s, {}).get("state") == "ready" for s in servers):
            return states  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, states
        time.sleep(0.05)


async def test_tools_are_merged_and_named_server__tool(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        tools = await s.list_tools()
    got = names(tools)
    assert "time__get_current_time" in got
    assert "time__convert_time" not in got  # deny glob
    for server in ("fx", "fxh", "fxs"):
        assert f"{server}__echo" in got and f"{server}__add" in got
    assert "fx__crash" not in got and "fxh__crash" in got
    assert "fx__weird_tool_" in got  # "weird tool!" sanitised to MCP's tool-name alphabet
    assert "skills__utc-now" in got
    by_name = {t.name: t for t in tools.tools}
    assert by_name["fx__echo"].annotations is not None
    assert by_name["fx__echo"].annotations.read_only_hint is True
    assert by_name["fx__add"].output_schema is not None  # schemas pass through
    assert by_name["fx__add"].input_schema["properties"].keys() == {"a", "b"}
    skill = by_name["skills__utc-now"]
    assert skill.input_schema["required"] == ["word"]


async def test_a_narrow_strategy_sees_only_its_servers(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["narrow"]) as s:
        got = names(await s.list_tools())
        assert got == ["time__get_current_time", "time__convert_time"]
        with pytest.raises(MCPError) as refused:
            await s.call_tool("fx__echo", {"text": "hi"})
    assert "unknown tool 'fx__echo'" in str(refused.value)


async def test_calls_reach_each_transport(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        now = await s.call_tool("time__get_current_time", {"timezone": "UTC"})
        assert json.loads(text(now))["timezone"] == "UTC"
        for server in ("fx", "fxh", "fxs"):
            echoed = await s.call_tool(f"{server}__echo", {"text": f"via {server}"})
            assert text(echoed) == f"via {server}" and not echoed.is_error
            added = await s.call_tool(f"{server}__add", {"a": 2, "b": 40})
            assert added.structured_content == {"result": 42}
        # the secrets reach the upstream: an env: value to the stdio child, a header over HTTP
        assert text(await s.call_tool("fx__env", {"name": FLAG})) == "flag-value-ok"
        assert text(await s.call_tool("fxh__whoami", {})) == TOKEN
        # a tool's own error result is passed on as it is
        failed = await s.call_tool("fx__fail", {"message": "bad input"})
        assert failed.is_error and "bad input" in text(failed)


async def test_refusals_say_why(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        with pytest.raises(MCPError) as denied:
            await s.call_tool("fx__crash", {})
        assert "not allowed for client 'app'" in str(denied.value)
        assert "denied by pattern 'fx__crash'" in str(denied.value)
        with pytest.raises(MCPError) as ruled:
            await s.call_tool("fx__echo", {"text": "forbidden"})
        assert "denied by rule 1" in str(ruled.value)
        assert text(await s.call_tool("fx__echo", {"text": "allowed"})) == "allowed"
        with pytest.raises(MCPError) as unknown:
            await s.call_tool("nowhere__tool", {})
        assert "unknown tool 'nowhere__tool'" in str(unknown.value)


async def test_the_stateless_revision_is_served_too(gw: Gateway) -> None:
    async with stateless(gw.url, gw.keys["app"]) as c:
        got = names(await c.list_tools())
        assert "fxh__echo" in got and "skills__utc-now" in got
        echoed = await c.call_tool("fxh__echo", {"text": "modern"})
        assert text(echoed) == "modern"
        with pytest.raises(MCPError) as denied:
            await c.call_tool("fx__crash", {})
        assert "denied by pattern" in str(denied.value)


async def test_resources_and_prompts_are_namespaced(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        resources = (await s.list_resources()).resources
        uris = {str(r.uri) for r in resources}
        assert "localrouter://fx/fixture://readme" in uris
        assert "localrouter://fxh/fixture://readme" in uris
        read = await s.read_resource("localrouter://fxh/fixture://readme")
        assert "fixture MCP server" in read.contents[0].text  # type: ignore[union-attr]
        assert str(read.contents[0].uri) == "localrouter://fxh/fixture://readme"
        templates = (await s.list_resource_templates()).resource_templates
        assert "localrouter://fx/fixture://items/{id}" in {t.uri_template for t in templates}
        item = await s.read_resource("localrouter://fx/fixture://items/7")
        assert item.contents[0].text == "item 7"  # type: ignore[union-attr]
        prompts = {p.name for p in (await s.list_prompts()).prompts}
        assert {"fx__greet", "fxh__greet", "fxs__greet"} <= prompts
        got = await s.get_prompt("fxs__greet", {"name": "Ada"})
        assert "Hello, Ada!" in got.messages[0].content.text  # type: ignore[union-attr]
        with pytest.raises(MCPError):
            await s.read_resource("localrouter://nowhere/fixture://readme")
    async with session(gw.url, gw.keys["narrow"]) as s:  # time offers none: nothing listed
        assert (await s.list_resources()).resources == []
        with pytest.raises(MCPError):
            await s.read_resource("localrouter://fx/fixture://readme")


async def test_a_skill_runs_its_steps(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        done = await s.call_tool("skills__utc-now", {"word": "hello"})
        assert not done.is_error, text(done)
        assert done.structured_content == {"said": "hello at UTC", "tz": "UTC"}
        bad = await s.call_tool("skills__broken", {})
        assert bad.is_error
        assert "step 'second' (fx__crash) failed" in text(bad)
        assert "denied by pattern 'fx__crash'" in text(bad)
        with pytest.raises(MCPError) as invalid:
            await s.call_tool("skills__utc-now", {"word": 3})
        assert "input of skill 'utc-now'" in str(invalid.value)


def test_a_wrong_key_is_refused_401_and_a_disabled_client_403(gw: Gateway) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"accept": "application/json, text/event-stream"}
    no_key = httpx.post(gw.url + "/mcp", json=body, headers=headers)
    assert no_key.status_code == 401
    assert no_key.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.post(
        gw.url + "/mcp", json=body, headers={**headers, "authorization": "Bearer lr-nope"}
    )
    assert wrong.status_code == 401 and "invalid API key" in wrong.text
    off = httpx.post(
        gw.url + "/mcp",
        json=body,
        headers={**headers, "authorization": f"Bearer {gw.keys['off']}"},
    )
    assert off.status_code == 403 and "disabled" in off.text


def test_a_session_belongs_to_its_client(gw: Gateway) -> None:
    headers = {"accept": "application/json, text/event-stream"}
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    opened = httpx.post(
        gw.url + "/mcp",
        json=init,
        headers={**headers, "authorization": f"Bearer {gw.keys['app']}"},
    )
    assert opened.status_code == 200, opened.text
    sid = opened.headers["mcp-session-id"]
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    other = httpx.post(
        gw.url + "/mcp",
        json=listing,
        headers={
            **headers,
            "authorization": f"Bearer {gw.keys['narrow']}",
            "mcp-session-id": sid,
            "mcp-protocol-version": "2025-11-25",
        },
    )
    assert other.status_code == 404  # another client's session does not exist for it


def test_health_shows_each_server(gw: Gateway) -> None:
    states = _health(gw)["mcp_servers"]
    assert set(states) == {"time", "fx", "fxh", "fxs"}
    assert states["time"]["transport"] == "stdio" and states["time"]["tools"] == 2
    assert states["fxh"]["transport"] == "streamable_http"
    assert all(s["state"] == "ready" and s["circuit"] == "closed" for s in states.values())
    assert TOKEN not in json.dumps(states)


def test_the_cli_shows_the_tools_the_gateway_cached(gw: Gateway) -> None:
    cache = json.loads((gw.config.parent / "mcp" / "tools.json").read_text())
    assert {t["name"] for t in cache["time"]["tools"]} == {"get_current_time", "convert_time"}
    assert TOKEN not in json.dumps(cache)
    run = subprocess.run(
        [sys.executable, "-m", "localrouter", "mcp", "tools", "--config", str(gw.config),
         "--client", "app", "--format", "json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    shown = json.dumps(json.loads(run.stdout))
    assert "time__get_current_time" in shown and "fxh__echo" in shown
