"""``/mcp`` when upstream MCP servers misbehave: the client gets a clear MCP error, quickly, and
the gateway and the other servers keep working.

One gateway for the module, ``health: {failure_threshold: 2, recovery_s: 60}``, in front of
servers that each misbehave in one way (a breaker and a state persist within a gateway, so no
two tests share a misbehaving server): the fixture over stdio that crashes mid-call
(``crashy``, ``crowded``) or whose ``call_timeout_s`` is shorter than its start-up
(``quick_calls``), over Streamable HTTP that is slow (``slowpoke``, ``tripper``); the broken
stdio servers (garbage, a hang at start, an exit at once) and a command that does not exist; the
broken Streamable HTTP servers (garbage, 500, a hang); secrets that are missing or that a server
echoes back in its errors (``leaky_*``), and errors answered with the code -32000
(``code32000``). ``ok`` is the healthy fixture that must keep answering throughout.

An HTTP server that crashes and comes back on the same port gets a gateway of its own per test.

A second gateway holds only ``first_use`` servers, each the only server of its own client, so
each test sees its own server wake on its first call, listing or read.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import re
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from tests.fakes.serve import free_port
from tests.gateway import Gateway, running_gateway
from tests.mcp_client import names, session, text
from tests.mcp_servers.run import (
    PATHS,
    broken_argv,
    fixture_argv,
    serve,
    serve_broken_http,
    serve_fixture,
    stdio_argv,
)

pytestmark = pytest.mark.timeout(60)

LEAK = "hunter2-correct-horse-battery"  # not shaped like a key: only its value can redact it
MISSING = "LR_MCP_TEST_SURELY_UNSET"
NO_COMMAND = "/nonexistent/no-such-mcp-server"

# A stdio "server" that answers its first request (initialize) with an error quoting the
# secret it was given in its environment, as a careless server does.
ECHO_ENV_SECRET = """
import json, os, sys
line = sys.stdin.readline()
ident = json.loads(line).get("id", 0)
error = {"code": -32600, "message": "refused credentials " + os.environ["LEAKED"]}
sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": ident, "error": error}) + "\\n")
sys.stdout.flush()
sys.stdin.read()
"""

CONFIG = """
version: 2
providers:
  mock: {{type: mock}}
health: {{interval_s: 3600, failure_threshold: 2, recovery_s: 60}}
strategies:
  agents:
    models: [mock/echo]
    mcp:
      servers: [{servers}]
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: agents}}
mcp_servers:
  ok: {{transport: stdio, command: {ok}}}
  crashy: {{transport: stdio, command: {crashy}, call_timeout_s: 10}}
  crowded: {{transport: stdio, command: {crowded}, call_timeout_s: 10}}
  slowpoke: {{transport: streamable_http, url: {slowpoke}, call_timeout_s: 1}}
  tripper: {{transport: streamable_http, url: {tripper}, call_timeout_s: 0.5}}
  quick_calls:
    transport: stdio
    command: {quick_calls}
    connect_timeout_s: 20
    call_timeout_s: 0.5
  garbage: {{transport: stdio, command: {garbage}, connect_timeout_s: 1, call_timeout_s: 5}}
  hang: {{transport: stdio, command: {hang}, connect_timeout_s: 1, call_timeout_s: 5}}
  exits: {{transport: stdio, command: {exits}, connect_timeout_s: 2}}
  missing: {{transport: stdio, command: [{no_command}]}}
  h_garbage: {{transport: streamable_http, url: {h_garbage}, connect_timeout_s: 1}}
  h_500: {{transport: streamable_http, url: {h_500}, connect_timeout_s: 1}}
  h_hang:
    transport: streamable_http
    url: {h_hang}
    connect_timeout_s: 1
    call_timeout_s: 5
  unset_secret:
    transport: streamable_http
    url: {h_500}
    headers: {{Authorization: "${{env:{missing}}}"}}
  leaky_http:
    transport: streamable_http
    url: {leaky_http}/refuse
    connect_timeout_s: 2
    headers: {{X-Upstream-Token: "${{env:LR_MCP_TEST_LEAK}}"}}
  leaky_ready:
    transport: streamable_http
    url: {leaky_http}/ready
    headers: {{X-Upstream-Token: "${{env:LR_MCP_TEST_LEAK}}"}}
  code32000:
    transport: streamable_http
    url: {leaky_http}/ready-32000/ping
    call_timeout_s: 5
  code32000_noping:
    transport: streamable_http
    url: {leaky_http}/ready-32000
    call_timeout_s: 5
  leaky_stdio:
    transport: stdio
    command: {leaky_stdio}
    connect_timeout_s: 2
    env: {{LEAKED: "${{env:LR_MCP_TEST_LEAK}}"}}
"""
SERVERS = (
    *("ok", "crashy", "crowded", "slowpoke", "tripper", "quick_calls", "garbage", "hang", "exits"),
    *("missing", "h_garbage", "h_500", "h_hang", "unset_secret", "leaky_http", "leaky_stdio"),
    *("leaky_ready", "code32000", "code32000_noping"),
)
AT_START_GOOD = (
    *("ok", "crashy", "crowded", "slowpoke", "tripper"),
    *("leaky_ready", "code32000", "code32000_noping"),
)


class _EchoHeader(http.server.BaseHTTPRequestHandler):
    """A Streamable HTTP "server" (JSON answers, no session) that quotes the token header it
    was sent in a JSON-RPC error: to every request (``/refuse``), or once initialised, to every
    request but the listings (``/ready``: a server with one tool, one prompt and no
    resources, whose tool, prompt and resource reads all fail that way; ``/ready-32000``: the
    same with the error code -32000 instead of -32603). ``ping`` is answered (``{}``) on
    ``…/ping`` paths, else refused as an unknown method (-32601), as a minimal server does."""

    def do_POST(self) -> None:
        size = int(self.headers.get("content-length") or 0)
        try:
            message = json.loads(self.rfile.read(size))
        except ValueError:
            message = {}
        if "id" not in message:  # a notification (notifications/initialized)
            self._answer(202, b"")
            return
        token = self.headers.get("x-upstream-token", "")
        answer: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
        result = self._result(message) if self.path.startswith("/ready") else None
        if message.get("method") == "ping":
            result = {} if self.path.endswith("/ping") else None
            answer["error"] = {"code": -32601, "message": "Method not found"}
        if result is None:
            if "error" not in answer:
                # -32000 (JSON-RPC's first implementation-defined server error) on /ready-32000
                code = -32000 if "-32000" in self.path else -32603
                answer["error"] = {"code": code, "message": f"refused credentials {token}"}
        else:
            answer.pop("error", None)
            answer["result"] = result
        self._answer(200, json.dumps(answer).encode())

    @staticmethod
    def _result(message: dict[str, Any]) -> dict[str, Any] | None:
        method = message.get("method")
        if method == "initialize":
            return {
                "protocolVersion": message["params"]["protocolVersion"],
                "capabilities": {"tools": {}, "prompts": {}, "resources": {}},
                "serverInfo": {"name": "leaky", "version": "1.0.0"},
            }
        listings: dict[str, dict[str, Any]] = {
            "tools/list": {"tools": [{"name": "whoami", "inputSchema": {"type": "object"}}]},
            "prompts/list": {"prompts": [{"name": "greet"}]},
            "resources/list": {"resources": []},
            "resources/templates/list": {"resourceTemplates": []},
        }
        return listings.get(str(method))

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(405, b"")

    do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def echo_header_server() -> Iterator[str]:
    """The base URL of an :class:`_EchoHeader` server (add ``/refuse`` or ``/ready``)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHeader)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _argv(argv: list[str]) -> str:
    return json.dumps(argv)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    directory = tmp_path_factory.mktemp("mcp-failures")
    with contextlib.ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("LR_MCP_TEST_LEAK", LEAK)
        mp.delenv(MISSING, raising=False)
        h_garbage = stack.enter_context(serve_broken_http("garbage"))
        h_500 = stack.enter_context(serve_broken_http("http500"))
        h_hang = stack.enter_context(serve_broken_http("hang"))
        leaky_http = stack.enter_context(echo_header_server())
        slowpoke = stack.enter_context(serve_fixture("streamable_http", name="slowpoke"))
        tripper = stack.enter_context(serve_fixture("streamable_http", name="tripper"))
        config = CONFIG.format(
            servers=", ".join(SERVERS),
            ok=_argv(stdio_argv("ok")),
            crashy=_argv(stdio_argv("crashy")),
            crowded=_argv(stdio_argv("crowded")),
            slowpoke=slowpoke.url,
            tripper=tripper.url,
            quick_calls=_argv(stdio_argv("quick_calls")),
            garbage=_argv(broken_argv("garbage")),
            hang=_argv(broken_argv("hang")),
            exits=_argv(broken_argv("exit")),
            no_command=json.dumps(NO_COMMAND),
            h_garbage=h_garbage.url,
            h_500=h_500.url,
            h_hang=h_hang.url,
            missing=MISSING,
            leaky_http=leaky_http,
            leaky_stdio=_argv([sys.executable, "-c", ECHO_ENV_SECRET]),
        )
        gw = stack.enter_context(running_gateway(config, directory))
        wait_for(gw, lambda s: all(s[n]["state"] == "ready" for n in AT_START_GOOD))
        yield gw


def health(gw: Gateway) -> dict[str, Any]:
    with urllib.request.urlopen(gw.url + "/health", timeout=5) as r:
        return json.loads(r.read())["mcp_servers"]  # type: ignore[no-any-return]


def wait_for(gw: Gateway, done: Any, timeout: float = 20.0) -> dict[str, Any]:
    """Poll ``/health`` until ``done(servers)`` holds; the last states on failure."""
    deadline = time.monotonic() + timeout
    while True:
        states = health(gw)
        if done(states):
            return states
        assert time.monotonic() < deadline, json.dumps(states, indent=1)
        time.sleep(0.05)


def failed_with(gw: Gateway, server: str) -> str:
    """The server's ``last_error`` once it has failed (at least once)."""
    states = wait_for(gw, lambda s: s[server]["last_error"] is not None)
    assert states[server]["state"] in ("failed", "starting")  # between two retries
    assert states[server]["tools"] == 0
    return str(states[server]["last_error"])


async def assert_ok_answers(s: Any) -> None:
    echoed = await s.call_tool("ok__echo", {"text": "still here"})
    assert text(echoed) == "still here" and not echoed.is_error


async def test_a_crash_mid_call_is_a_clear_error_and_the_server_comes_back(gw: Gateway) -> None:
    before = health(gw)["crashy"]["restarts"]
    async with session(gw.url, gw.keys["app"]) as s:
        started = time.monotonic()
        with pytest.raises(MCPError) as crashed:
            await s.call_tool("crashy__crash", {})
        assert time.monotonic() - started < 3  # not the 10 s call timeout
        assert "MCP server 'crashy' closed the connection" in str(crashed.value)
        await assert_ok_answers(s)  # the same session, another server
        states = wait_for(
            gw, lambda st: st["crashy"]["restarts"] > before and st["crashy"]["state"] == "ready"
        )
        assert states["crashy"]["tools"] > 0
        assert states["crashy"]["last_error"] is None
        echoed = await s.call_tool("crashy__echo", {"text": "back"})
        assert text(echoed) == "back"
        assert "crashy__echo" in names(await s.list_tools())


async def test_every_call_in_flight_at_a_crash_fails_at_once(gw: Gateway) -> None:
    """Calls of two sessions wait on ``crowded`` when one of them crashes it: each ends at once
    with the same clear error, none waits for its 10 s call timeout."""
    lost: list[tuple[str, float]] = []

    async def slow_call(client: Any) -> None:
        started = time.monotonic()
        with pytest.raises(MCPError) as failed:
            await client.call_tool("crowded__slow", {"seconds": 8})
        lost.append((str(failed.value), time.monotonic() - started))

    async with (
        session(gw.url, gw.keys["app"]) as one,
        session(gw.url, gw.keys["app"]) as two,
    ):
        async with anyio.create_task_group() as tg:
            for client in (one, two, two):
                tg.start_soon(slow_call, client)
            await anyio.sleep(0.3)
            with pytest.raises(MCPError) as crashed:
                await one.call_tool("crowded__crash", {})
        assert "MCP server 'crowded' closed the connection" in str(crashed.value)
        assert len(lost) == 3
        for message, took in lost:
            assert "MCP server 'crowded' closed the connection during the call" in message
            assert took < 3, took
        await assert_ok_answers(one)
        await assert_ok_answers(two)


async def test_a_call_past_call_timeout_s_fails_in_time(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        started = time.monotonic()
        with pytest.raises(MCPError) as late:
            await s.call_tool("slowpoke__slow", {"seconds": 30})
        took = time.monotonic() - started
        assert 0.9 < took < 4, took
        assert "MCP server 'slowpoke' did not answer within 1 s" in str(late.value)
        await assert_ok_answers(s)
        # the server itself is fine: a quick call goes through
        quick = await s.call_tool("slowpoke__slow", {"seconds": 0})
        assert text(quick) == "slept 0.0"
    assert health(gw)["slowpoke"]["circuit"] == "closed"  # one failure is under the threshold


@pytest.mark.parametrize(
    ("server", "why"),
    [
        ("garbage", r"timed out starting the session"),  # its lines are ignored
        ("hang", r"timed out starting the session"),
        (
            "exits",
            r"Connection closed; its last words on stderr: broken MCP server: exiting at start",
        ),
    ],
)
async def test_a_broken_stdio_server_fails_with_a_reason(
    gw: Gateway, server: str, why: str
) -> None:
    last_error = failed_with(gw, server)
    assert re.search(why, last_error, re.IGNORECASE), last_error
    async with session(gw.url, gw.keys["app"]) as s:
        listed = names(await s.list_tools())
        assert not [n for n in listed if n.startswith(f"{server}__")]
        with pytest.raises(MCPError) as refused:
            await s.call_tool(f"{server}__echo", {"text": "x"})
        message = str(refused.value)  # says why: the server's last error
        assert f"unknown tool '{server}__echo': server '{server}' is not ready (" in message
        assert re.search(why, message, re.IGNORECASE), message
        await assert_ok_answers(s)


def test_a_command_that_does_not_exist(gw: Gateway) -> None:
    last_error = failed_with(gw, "missing")
    assert last_error.startswith("cannot start the command"), last_error
    assert NO_COMMAND in last_error


@pytest.mark.parametrize(
    ("server", "why"),
    [
        ("h_garbage", r"Failed to parse JSON response.*Invalid JSON"),
        ("h_500", r"Server returned an error response"),
        ("h_hang", r"timed out starting the session"),
    ],
)
async def test_a_broken_http_server_fails_with_a_reason(gw: Gateway, server: str, why: str) -> None:
    last_error = failed_with(gw, server)
    assert re.search(why, last_error, re.IGNORECASE), last_error
    async with session(gw.url, gw.keys["app"]) as s:
        with pytest.raises(MCPError) as refused:
            await s.call_tool(f"{server}__echo", {"text": "x"})
        message = str(refused.value)
        assert f"server '{server}' is not ready (" in message and re.search(why, message)
        await assert_ok_answers(s)


async def test_repeated_timeouts_open_the_circuit(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        for _ in range(2):
            with pytest.raises(MCPError) as late:
                await s.call_tool("tripper__slow", {"seconds": 30})
            assert "did not answer within 0.5 s" in str(late.value)
        assert health(gw)["tripper"]["circuit"] == "open"
        started = time.monotonic()
        with pytest.raises(MCPError) as refused:
            await s.call_tool("tripper__echo", {"text": "x"})
        assert time.monotonic() - started < 0.5  # refused at once, no upstream call
        assert "MCP server 'tripper': circuit open" in str(refused.value)
        await assert_ok_answers(s)
    states = health(gw)
    assert states["ok"]["circuit"] == "closed" and states["slowpoke"]["circuit"] == "closed"
    assert states["tripper"]["state"] == "ready"  # the server is up; its circuit is what is open


def test_a_missing_secret_is_named_by_its_reference(gw: Gateway) -> None:
    last_error = failed_with(gw, "unset_secret")
    assert f"${{env:{MISSING}}}" in last_error, last_error
    assert "not set" in last_error


@pytest.mark.parametrize("server", ["leaky_http", "leaky_stdio"])
def test_a_secret_echoed_by_a_server_never_reaches_health(gw: Gateway, server: str) -> None:
    last_error = failed_with(gw, server)
    assert "refused credentials" in last_error, last_error  # the server's error is shown
    assert "[redacted]" in last_error
    body = json.dumps(health(gw))
    assert LEAK not in body and LEAK[:8] not in body


def test_a_short_call_timeout_does_not_cut_the_start_short(gw: Gateway) -> None:
    """``quick_calls`` (the fixture over stdio, ~2 s to import and start) has
    ``connect_timeout_s: 20`` and ``call_timeout_s: 0.5``: starting is bounded by the former."""
    states = wait_for(
        gw, lambda s: s["quick_calls"]["state"] == "ready" or s["quick_calls"]["last_error"]
    )
    assert states["quick_calls"]["last_error"] is None, states["quick_calls"]
    assert states["quick_calls"]["state"] == "ready"


def test_an_http_error_status_is_named_in_last_error(gw: Gateway) -> None:
    assert "HTTP 500" in failed_with(gw, "h_500")


LAZY_CONFIG = """
version: 2
providers:
  mock: {{type: mock}}
strategies:
  lazy_call: {{models: [mock/echo], mcp: {{servers: [lazy_call]}}}}
  lazy_list: {{models: [mock/echo], mcp: {{servers: [lazy_list]}}}}
  lazy_read: {{models: [mock/echo], mcp: {{servers: [lazy_read]}}}}
clients:
  lazy_call:
    key_prefix: "{{key_prefix:lazy_call}}"
    key_hash: "{{key_hash:lazy_call}}"
    strategy: lazy_call
  lazy_list:
    key_prefix: "{{key_prefix:lazy_list}}"
    key_hash: "{{key_hash:lazy_list}}"
    strategy: lazy_list
  lazy_read:
    key_prefix: "{{key_prefix:lazy_read}}"
    key_hash: "{{key_hash:lazy_read}}"
    strategy: lazy_read
mcp_servers:
  lazy_call: {{transport: stdio, command: {lazy_call}, start: first_use}}
  lazy_list: {{transport: stdio, command: {lazy_list}, start: first_use}}
  lazy_read: {{transport: stdio, command: {lazy_read}, start: first_use}}
"""
LAZY = ("lazy_call", "lazy_list", "lazy_read")


@pytest.fixture(scope="module")
def lazy_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Only ``first_use`` servers, each the only server of its own client: nothing to wait for
    at start, and each test wakes its own."""
    config = LAZY_CONFIG.format(**{n: _argv(stdio_argv(n)) for n in LAZY})
    with running_gateway(config, tmp_path_factory.mktemp("mcp-lazy")) as gw:
        time.sleep(0.5)  # time enough for an at_start server to have begun
        yield gw


def only_woken(gw: Gateway, server: str) -> None:
    states = health(gw)
    assert states[server]["state"] == "ready" and states[server]["tools"] > 0
    assert states[server]["restarts"] == 0
    for other in LAZY:
        if other != server:
            assert states[other]["state"] in ("idle", "ready")  # another test's may be up


async def test_the_first_call_starts_a_first_use_server(lazy_gw: Gateway) -> None:
    assert health(lazy_gw)["lazy_call"]["state"] == "idle"
    async with session(lazy_gw.url, lazy_gw.keys["lazy_call"]) as s:
        assert health(lazy_gw)["lazy_call"]["state"] == "idle"  # a session starts nothing
        echoed = await s.call_tool("lazy_call__echo", {"text": "woken"})  # no listing first
        assert text(echoed) == "woken"
    only_woken(lazy_gw, "lazy_call")


async def test_the_first_listing_starts_a_first_use_server(lazy_gw: Gateway) -> None:
    assert health(lazy_gw)["lazy_list"]["state"] == "idle"
    async with session(lazy_gw.url, lazy_gw.keys["lazy_list"]) as s:
        assert "lazy_list__echo" in names(await s.list_tools())
        assert text(await s.call_tool("lazy_list__echo", {"text": "listed"})) == "listed"
    only_woken(lazy_gw, "lazy_list")


async def test_the_first_read_starts_a_first_use_server(lazy_gw: Gateway) -> None:
    assert health(lazy_gw)["lazy_read"]["state"] == "idle"
    async with session(lazy_gw.url, lazy_gw.keys["lazy_read"]) as s:
        read = await s.read_resource("localrouter://lazy_read/fixture://readme")
        assert "fixture MCP server" in read.contents[0].text  # type: ignore[union-attr]
    only_woken(lazy_gw, "lazy_read")


BACK_CONFIG = """
version: 2
providers:
  mock: {{type: mock}}
health: {{interval_s: 3600, failure_threshold: 1000}}
strategies:
  agents:
    models: [mock/echo]
    mcp: {{servers: [back]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: agents}}
mcp_servers:
  back: {{transport: {transport}, url: {url}, connect_timeout_s: 2, call_timeout_s: 5}}
"""


@pytest.mark.parametrize(
    "transport",
    [
        "streamable_http",
        "sse",
    ],
)
async def test_an_http_server_that_restarts_is_reconnected(
    tmp_path: Path, transport: Literal["sse", "streamable_http"]
) -> None:
    """The fixture over HTTP crashes mid-call and comes back on the same port: the crashed call
    fails clearly, and the gateway is soon talking to the new process."""
    port = free_port()
    argv = fixture_argv(transport, name="back", port=port)
    path = PATHS[transport]
    config = BACK_CONFIG.format(transport=transport, url=f"http://127.0.0.1:{port}{path}")
    with serve(argv, path=path) as first, running_gateway(config, tmp_path) as gw:
        wait_for(gw, lambda s: s["back"]["state"] == "ready")
        async with session(gw.url, gw.keys["app"]) as s:
            with pytest.raises(MCPError) as crashed:
                await s.call_tool("back__crash", {})
            assert "MCP server 'back' closed the connection" in str(crashed.value)
            first.proc.wait(5)
            with serve(argv, path=path):  # the same server again, on the same port
                deadline = time.monotonic() + 8
                while True:
                    try:
                        echoed = await s.call_tool("back__echo", {"text": "back again"})
                        break
                    except MCPError as exc:  # unavailable while it reconnects, with backoff
                        assert time.monotonic() < deadline, str(exc)
                        await anyio.sleep(0.2)
                assert text(echoed) == "back again"
                state = health(gw)["back"]
                assert state["state"] == "ready" and state["restarts"] >= 1


async def test_a_secret_echoed_in_a_call_error_never_reaches_the_client(gw: Gateway) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        assert "leaky_ready__whoami" in names(await s.list_tools())
        errors = []
        for request in (
            s.call_tool("leaky_ready__whoami", {}),
            s.get_prompt("leaky_ready__greet", {}),
            s.read_resource("localrouter://leaky_ready/leaky://anything"),
        ):
            with pytest.raises(MCPError) as refused:
                await request
            errors.append(str(refused.value))
    for message in errors:
        assert "MCP server 'leaky_ready'" in message and "refused credentials" in message
        assert LEAK not in message and LEAK[:8] not in message, message


@pytest.mark.parametrize(
    "server",
    [
        "code32000",
        "code32000_noping",  # a live server without ping is still alive
    ],
)
async def test_an_error_answer_with_code_32000_is_not_a_lost_connection(
    gw: Gateway, server: str
) -> None:
    async with session(gw.url, gw.keys["app"]) as s:
        for _ in range(3):  # the threshold is 2: an answer is not a failure
            with pytest.raises(MCPError) as refused:
                await s.call_tool(f"{server}__whoami", {})
            assert f"MCP server '{server}': refused credentials" in str(refused.value)
    state = health(gw)[server]
    assert state["circuit"] == "closed"
    assert state["state"] == "ready" and state["restarts"] == 0


def test_garbage_on_stdout_does_not_flood_the_log(
    gw: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """Every stdout line of ``garbage`` is not JSON-RPC; the SDK would log a traceback for each:
    the gateway logs one line per connection instead."""
    with caplog.at_level(logging.DEBUG):
        time.sleep(3.0)  # the server is started again (backoff) and garbles meanwhile
    tracebacks = [r for r in caplog.records if "Failed to parse JSONRPC" in r.getMessage()]
    ours = [r for r in caplog.records if "sent what is not JSON-RPC" in r.getMessage()]
    assert tracebacks == []
    assert all("garbage" in r.getMessage() for r in ours)
