"""The upstream MCP servers of the gateway's tests, proved with the official SDK's client before
the gateway stands between them: the fixture over stdio, SSE and Streamable HTTP (on the
2026-07-28 revision the client's ``auto`` mode negotiates, and on the 2025-11-25 handshake),
``mcp-server-time`` (PyPI), ``@modelcontextprotocol/server-everything`` (npm) when Node is there,
and each way the broken servers break ending in an error or a timeout within a bound.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import anyio
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.subscriptions import ToolsListChanged
from mcp_types import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    PARSE_ERROR,
    REQUEST_TIMEOUT,
    TextContent,
    ToolListChangedNotification,
)

from tests.mcp_servers import fixture
from tests.mcp_servers.run import (
    HttpTransport,
    Served,
    broken_argv,
    everything_argv,
    everything_missing,
    serve_broken_http,
    serve_fixture,
    stdio_argv,
    time_argv,
)

pytestmark = pytest.mark.timeout(30)

SECRET = "Bearer lr-test-upstream-secret"
FIXTURE_TOOLS = {
    "echo",
    "add",
    "slow",
    "fail",
    "crash",
    "env",
    "whoami",
    "weird tool!",
    "add_tool_later",
}
CONNECT_ERRORS = (MCPError, ExceptionGroup, TimeoutError)


def params(
    argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> StdioServerParameters:
    return StdioServerParameters(command=argv[0], args=argv[1:], env=env, cwd=cwd)


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups: the SDK's client raises a failed
    connection as an ExceptionGroup of its task groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def codes(exc: BaseException) -> set[int]:
    return {leaf.code for leaf in leaves(exc) if isinstance(leaf, MCPError)}


def text(result: Any) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


Transport = Any  # what mcp.Client takes: parameters, a URL, a transport context manager


@asynccontextmanager
async def connected(
    transport: Transport, mode: str, notes: list[Any] | None = None
) -> AsyncIterator[Client]:
    async def keep(message: Any) -> None:
        if notes is not None:
            notes.append(message)

    async with Client(
        transport, mode=mode, read_timeout_seconds=10, message_handler=keep
    ) as client:
        yield client


def http_transport(served: Served, transport: str) -> Transport:
    """The SDK client's transport for the fixture at ``served``, sending ``SECRET`` as the
    Authorization header."""
    if transport == "sse":
        return sse_client(served.url, headers={"Authorization": SECRET})
    http = create_mcp_http_client(headers={"Authorization": SECRET})
    return _owned(streamable_http_client(served.url, http_client=http), http)


@asynccontextmanager
async def _owned(transport: Any, http: Any) -> AsyncIterator[Any]:
    async with http, transport as streams:
        yield streams


async def check_fixture(client: Client, *, http: bool) -> None:
    """Everything the fixture offers, as one client sees it."""
    assert client.server_info is not None and client.server_info.name == "fixture"
    capabilities = client.server_capabilities
    assert capabilities.tools is not None and capabilities.tools.list_changed
    assert capabilities.resources is not None and capabilities.prompts is not None
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) >= FIXTURE_TOOLS
    assert tools["echo"].annotations is not None and tools["echo"].annotations.read_only_hint
    assert tools["add"].output_schema is not None
    assert tools["add"].output_schema["properties"]["result"]["type"] == "integer"
    assert tools["echo"].output_schema is None
    assert tools["add"].input_schema["required"] == ["a", "b"]

    assert text(await client.call_tool("echo", {"text": "héllo"})) == "héllo"
    added = await client.call_tool("add", {"a": 2, "b": 40})
    assert added.structured_content == {"result": 42} and not added.is_error
    failed = await client.call_tool("fail", {"message": "on purpose"})
    assert failed.is_error and "on purpose" in text(failed)
    assert text(await client.call_tool("weird tool!", {})) == "weird"
    assert text(await client.call_tool("whoami", {})) == (SECRET if http else "")

    resources = (await client.list_resources()).resources
    assert [r.uri for r in resources] == ["fixture://readme"]
    templates = (await client.list_resource_templates()).resource_templates
    assert [t.uri_template for t in templates] == ["fixture://items/{id}"]
    readme = (await client.read_resource("fixture://readme")).contents[0]
    assert getattr(readme, "text", None) == fixture.README
    item = (await client.read_resource("fixture://items/7")).contents[0]
    assert getattr(item, "text", None) == "item 7"

    prompts = (await client.list_prompts()).prompts
    assert [(p.name, [a.name for a in p.arguments or []]) for p in prompts] == [("greet", ["name"])]
    greeting = await client.get_prompt("greet", {"name": "Ada"})
    assert isinstance(greeting.messages[0].content, TextContent)
    assert greeting.messages[0].content.text == "Hello, Ada!"


async def modern_list_changed(client: Client) -> None:
    """On 2026-07-28 a list change reaches the client on a ``subscriptions/listen`` stream."""
    assert client.protocol_version == "2026-07-28"
    async with client.listen(tools_list_changed=True) as sub:
        assert sub.honored.tools_list_changed
        assert text(await client.call_tool("add_tool_later", {})) == "added late"
        with anyio.fail_after(5):
            event = await sub.__anext__()
        assert isinstance(event, ToolsListChanged)
    assert "late" in {tool.name for tool in (await client.list_tools()).tools}


async def legacy_list_changed(client: Client, notes: list[Any]) -> None:
    """On 2025-11-25 it is a ``notifications/tools/list_changed`` on the session."""
    assert client.protocol_version == "2025-11-25"
    await client.call_tool("add_tool_later", {})
    with anyio.fail_after(5):
        while not any(isinstance(n, ToolListChangedNotification) for n in notes):
            await anyio.sleep(0.01)
    assert text(await client.call_tool("late", {})) == "late"


async def test_fixture_over_stdio(tmp_path: Path) -> None:
    """Started in another directory (the argv names the file, not a module of this repository),
    with an environment of its own, as a gateway starts it."""
    env = {"LR_FIXTURE_VALUE": "from-the-config", "PATH": os.environ.get("PATH", "")}
    async with connected(params(stdio_argv(), env, cwd=tmp_path), "auto") as client:
        await check_fixture(client, http=False)
        env_tool = await client.call_tool("env", {"name": "LR_FIXTURE_VALUE"})
        assert text(env_tool) == "from-the-config"
        assert text(await client.call_tool("env", {"name": "LR_NOT_SET_ANYWHERE"})) == ""
        await modern_list_changed(client)
    notes: list[Any] = []
    async with connected(params(stdio_argv()), "legacy", notes) as client:
        await check_fixture(client, http=False)
        await legacy_list_changed(client, notes)


@pytest.mark.parametrize("transport", ["sse", "streamable_http"])
async def test_fixture_over_http(transport: HttpTransport) -> None:
    with serve_fixture(transport) as served:
        async with connected(http_transport(served, transport), "auto") as client:
            await check_fixture(client, http=True)
            await modern_list_changed(client)
        notes: list[Any] = []
        async with connected(http_transport(served, transport), "legacy", notes) as client:
            await check_fixture(client, http=True)
            await legacy_list_changed(client, notes)


async def test_fixture_stateless_streamable_http() -> None:
    """``--stateless``: no session, every request on its own, on both revisions."""
    with serve_fixture("streamable_http", stateless=True) as served:
        for mode in ("auto", "legacy"):
            async with connected(http_transport(served, "streamable_http"), mode) as client:
                added = await client.call_tool("add", {"a": 1, "b": 2})
                assert added.structured_content == {"result": 3}
                assert text(await client.call_tool("whoami", {})) == SECRET


async def test_fixture_slow_call_times_out() -> None:
    async with connected(params(stdio_argv()), "legacy") as client:
        started = time.monotonic()
        with pytest.raises(MCPError) as info:
            await client.call_tool("slow", {"seconds": 30}, read_timeout_seconds=0.3)
        assert info.value.code == REQUEST_TIMEOUT
        assert time.monotonic() - started < 2
        assert text(await client.call_tool("slow", {"seconds": 0.01})) == "slept 0.01"


async def test_fixture_crash_over_stdio_closes_the_connection() -> None:
    async with connected(params(stdio_argv()), "legacy") as client:
        with anyio.fail_after(5), pytest.raises(MCPError) as info:
            await client.call_tool("crash", {})
        assert info.value.code == CONNECTION_CLOSED


@pytest.fixture
def http_fixture() -> Iterator[Served]:
    with serve_fixture("streamable_http") as served:
        yield served


async def test_fixture_crash_over_streamable_http(http_fixture: Served) -> None:
    """The process exits mid-call (status 3): the SDK's client does not turn the dropped
    connection into an MCP error but raises the transport's error out of its task group."""
    with pytest.raises(CONNECT_ERRORS) as info:
        with anyio.fail_after(5):
            async with connected(http_fixture.url, "auto") as client:
                await client.call_tool("crash", {})
    assert any("disconnected" in str(leaf) for leaf in leaves(info.value)), info.value
    assert http_fixture.proc.wait(5) == fixture.CRASH_STATUS


async def test_mcp_server_time() -> None:
    async with connected(params(time_argv()), "auto") as client:
        assert {"get_current_time", "convert_time"} <= {
            t.name for t in (await client.list_tools()).tools
        }
        result = await client.call_tool("get_current_time", {"timezone": "UTC"})
        assert not result.is_error
        now = json.loads(text(result))
        assert now["timezone"] == "UTC" and now["datetime"].endswith("+00:00")


async def test_server_everything() -> None:
    if (reason := everything_missing()) is not None:
        pytest.skip(reason)
    argv = everything_argv()
    assert argv is not None
    async with connected(params(argv), "auto") as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"echo", "get-sum", "get-structured-content"} <= tools
        assert text(await client.call_tool("echo", {"message": "through"})) == "Echo: through"


async def broken_connect(
    transport: Transport, *, read_timeout: float, bound: float
) -> tuple[BaseException, float]:
    """Connect (the 2025-11-25 handshake: ``auto`` probes ``server/discover`` first with a fixed
    10-second timeout of its own) and call ``echo``: the failure and how long it took."""
    started = time.monotonic()
    with pytest.raises(CONNECT_ERRORS) as info:
        with anyio.fail_after(bound):
            async with Client(
                transport, mode="legacy", read_timeout_seconds=read_timeout
            ) as client:
                await client.call_tool("echo", {"text": "x"})
    return info.value, time.monotonic() - started


async def test_broken_garbage_times_out() -> None:
    error, took = await broken_connect(params(broken_argv("garbage")), read_timeout=0.5, bound=6)
    assert codes(error) == {REQUEST_TIMEOUT} and took < 5


async def test_broken_hang_times_out() -> None:
    # 0.5 s for initialize, then the client's 2 s grace after closing stdin before SIGTERM.
    error, took = await broken_connect(params(broken_argv("hang")), read_timeout=0.5, bound=8)
    assert codes(error) == {REQUEST_TIMEOUT} and took < 6


async def test_broken_exit_closes_the_connection() -> None:
    error, took = await broken_connect(params(broken_argv("exit")), read_timeout=5, bound=5)
    assert codes(error) == {CONNECTION_CLOSED} and took < 3


async def test_broken_slow_start() -> None:
    """Initialize is answered only after the delay: a client that waits less times out, one that
    waits longer gets a working server."""
    error, _took = await broken_connect(
        params(broken_argv("slow_start", delay=1.5)), read_timeout=0.5, bound=8
    )
    assert codes(error) == {REQUEST_TIMEOUT}
    started = time.monotonic()
    async with connected(params(broken_argv("slow_start", delay=1)), "legacy") as client:
        assert time.monotonic() - started >= 1
        assert text(await client.call_tool("echo", {"text": "late"})) == "late"


@pytest.mark.parametrize(
    ("mode", "code"),
    [("garbage", PARSE_ERROR), ("http500", INTERNAL_ERROR), ("hang", REQUEST_TIMEOUT)],
)
async def test_broken_streamable_http(
    mode: Literal["garbage", "http500", "hang"], code: int
) -> None:
    with serve_broken_http(mode) as served:
        error, took = await broken_connect(served.url, read_timeout=1, bound=5)
    assert codes(error) == {code} and took < 4
