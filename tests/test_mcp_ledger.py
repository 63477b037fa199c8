"""Tool calls in the gateway's books: one access-log line each (never the arguments or the
result), counted in ``/metrics`` and ``/v1/usage``, and held to the ``tool_calls`` limits of the
client and of its strategy."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from tests.clients import logged
from tests.gateway import Gateway, running_gateway
from tests.mcp_client import session, text
from tests.mcp_servers.run import stdio_argv

SECRET_ARG = "do-not-log-this-argument-7c1d"

CONFIG = """
version: 2
providers:
  mock: {{type: mock}}
strategies:
  agents:
    models: [mock/echo]
    mcp: {{servers: [fx], deny: ["fx__crash"]}}
  shared:
    models: [mock/echo]
    mcp: {{servers: [fx]}}
    limits: [{{tool_calls: 4, per: 1h}}]
clients:
  app:
    key_prefix: "{{key_prefix:app}}"
    key_hash: "{{key_hash:app}}"
    strategy: agents
    limits: [{{tool_calls: 3, per: 1h}}]
  one: {{key_prefix: "{{key_prefix:one}}", key_hash: "{{key_hash:one}}", strategy: shared}}
  two: {{key_prefix: "{{key_prefix:two}}", key_hash: "{{key_hash:two}}", strategy: shared}}
mcp_servers:
  fx: {{transport: stdio, command: {fx}}}
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    text_ = CONFIG.format(fx=json.dumps(stdio_argv("fx-ledger")))
    with running_gateway(text_, tmp_path_factory.mktemp("ledger")) as gw:
        deadline = time.monotonic() + 20
        while httpx.get(gw.url + "/health").json()["mcp_servers"]["fx"]["state"] != "ready":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield gw


async def test_each_call_is_one_line_without_arguments(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        assert text(await s.call_tool("fx__echo", {"text": SECRET_ARG})) == SECRET_ARG
        with pytest.raises(MCPError):
            await s.call_tool("fx__crash", {})
    lines = logged(gw, "app", at_least=2)
    assert [(x["model"], x["status_code"]) for x in lines] == [
        ("fx__echo", 200),
        ("fx__crash", 403),
    ]
    ok, refused = lines
    assert ok["endpoint"] == "mcp" and ok["provider"] == "mcp:fx"
    assert ok["strategy"] == "agents" and ok["status"] == "ok" and ok["latency_ms"] > 0
    assert refused["error_code"] == "tool_not_allowed" and refused["status"] == "error"
    logs = "".join(p.read_text() for p in (gw.config.parent / "logs").glob("*.jsonl"))
    assert SECRET_ARG not in logs  # neither arguments nor results are logged
    # a refused call is not counted: two more, and the client's 3 calls an hour are spent
    async with session(gw.url, gw.keys["app"]) as s:
        await s.call_tool("fx__add", {"a": 1, "b": 2})
        await s.call_tool("fx__add", {"a": 1, "b": 2})
        with pytest.raises(MCPError) as limited:
            await s.call_tool("fx__add", {"a": 1, "b": 2})
    assert "rate limited" in str(limited.value) and "tool_calls" in str(limited.value)
    last = logged(gw, "app", at_least=5)[-1]
    assert (last["status_code"], last["error_code"]) == (429, "rate_limited")


async def test_a_strategy_limit_is_shared_by_its_clients(gw: Gateway) -> None:
    async def calls(client: str, n: int) -> list[bool]:
        out = []
        async with session(gw.url, gw.keys[client]) as s:
            for _ in range(n):
                try:
                    await s.call_tool("fx__echo", {"text": "x"})
                    out.append(True)
                except MCPError:
                    out.append(False)
        return out

    assert await calls("one", 3) == [True, True, True]
    assert await calls("two", 2) == [True, False]  # 4 per hour between them


def test_tool_calls_are_counted_in_metrics_and_usage(gw: Gateway) -> None:
    logged(gw, "app", at_least=4)  # the first test's calls
    metrics = httpx.get(gw.url + "/metrics").text
    assert 'provider="mcp:fx"' in metrics
    usage: dict[str, Any] = httpx.get(
        gw.url + "/v1/usage",
        params={"range": "1h", "by": "model"},
        headers={"authorization": f"Bearer {gw.keys['app']}"},
    ).json()
    series = {s["name"]: s for s in usage["series"]}
    assert "mcp:fx/fx__echo" in series, list(series)
