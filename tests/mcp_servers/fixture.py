"""The fixture MCP server: one server, written with the official SDK's ``MCPServer``, whose every
tool, resource and prompt is there to prove one thing the gateway must do with a real upstream.

``python -m tests.mcp_servers.fixture --transport stdio|sse|streamable_http [--port N]
[--name NAME] [--stateless]`` from the repository root, or ``python tests/mcp_servers/fixture.py
...`` from anywhere (it imports nothing from the repository). ``--name`` is the ``serverInfo``
name; ``--stateless`` serves Streamable HTTP without sessions. Over stdio nothing but the
protocol is written on stdout (logs go to stderr). Over HTTP it listens on 127.0.0.1
(``--port 0``: a free port, chosen by the kernel when the socket is bound, so two tests never race
for one) and writes ``READY <port>`` on stderr once uvicorn accepts connections; SSE is served at
``/sse``, Streamable HTTP at ``/mcp``.

Tools:

- ``echo(text)``: the text (annotated ``readOnlyHint``);
- ``add(a, b)``: the sum, with an output schema and structured content (``{"result": n}``), the
  only tool with an output schema;
- ``slow(seconds)``: sleeps, for timeouts and cancellation;
- ``fail(message)``: an ``isError`` result carrying the message;
- ``crash()``: the process exits at once (status 3) in the middle of the call;
- ``env(name)``: the value of an environment variable or "" (proves a stdio server's ``env:``);
- ``whoami()``: the ``Authorization`` header of the HTTP request that carried the call, or ""
  (proves that configured headers, secrets included, reach the upstream);
- ``weird tool!``: a name outside MCP's tool-name alphabet (the SDK warns and accepts it), for
  the gateway's sanitising;
- ``add_tool_later()``: registers the tool ``late`` and announces ``tools/list_changed``: as a
  notification on a handshake-era session, and on the ``subscriptions/listen`` bus for
  2026-07-28 clients (the SDK drops a bare list_changed at that revision).

Resources: ``fixture://readme`` (text) and the template ``fixture://items/{id}``. Prompt:
``greet(name)``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
from typing import Annotated, Any

import uvicorn
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.models import InitializationOptions
from mcp_types import ToolAnnotations
from pydantic import Field

README = "The LocalRouter fixture MCP server: tools, resources and prompts for the gateway's tests."
CRASH_STATUS = 3


def advertise_tools_list_changed(server: MCPServer) -> None:
    """Say ``tools.listChanged: true`` on handshake-era sessions too. ``MCPServer`` has no option
    for it (its transports call the low-level ``create_initialization_options()`` with no
    ``NotificationOptions``, so the flag is false though the notification is sent), hence the
    default given here; on 2026-07-28 the SDK derives the flag from ``subscriptions/listen``."""
    lowlevel = server._lowlevel_server  # no public handle
    options = lowlevel.create_initialization_options

    def with_list_changed(
        notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any
    ) -> InitializationOptions:
        chosen = notification_options or NotificationOptions(tools_changed=True)
        return options(chosen, *args, **kwargs)

    lowlevel.create_initialization_options = with_list_changed  # type: ignore[method-assign]


def build(name: str = "fixture") -> MCPServer:
    """A fresh fixture server (one per process: ``add_tool_later`` changes it)."""
    server: MCPServer = MCPServer(name, instructions=README, version="1.0.0", log_level="WARNING")
    advertise_tools_list_changed(server)

    @server.tool(
        annotations=ToolAnnotations(read_only_hint=True, title="Echo"), structured_output=False
    )
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @server.tool(structured_output=True)
    def add(a: int, b: int) -> int:
        """Add two integers (structured output: {"result": a + b})."""
        return a + b

    @server.tool(structured_output=False)
    async def slow(seconds: Annotated[float, Field(ge=0, le=600)]) -> str:
        """Sleep for the given number of seconds, then answer."""
        await asyncio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool(structured_output=False)
    def fail(message: str) -> str:
        """Answer with an error result (isError) carrying the message."""
        raise ToolError(message)

    @server.tool(structured_output=False)
    def crash() -> str:
        """Exit the whole process at once, in the middle of this call."""
        os._exit(CRASH_STATUS)

    @server.tool(annotations=ToolAnnotations(read_only_hint=True), structured_output=False)
    def env(name: str) -> str:
        """The value of the environment variable, or "" when it is not set."""
        return os.environ.get(name, "")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True), structured_output=False)
    def whoami(ctx: Context) -> str:
        """The Authorization header of the HTTP request carrying this call ("" on stdio)."""
        headers = ctx.headers
        return "" if headers is None else headers.get("authorization", "")

    def weird() -> str:
        """A tool whose name needs sanitising."""
        return "weird"

    server.add_tool(weird, name="weird tool!", structured_output=False)

    @server.tool(structured_output=False)
    async def add_tool_later(ctx: Context) -> str:
        """Register the tool `late` and announce that the tool list changed."""
        if server._tool_manager.get_tool("late") is None:  # no public lookup

            def late() -> str:
                """Added after start by add_tool_later."""
                return "late"

            server.add_tool(late, structured_output=False)
        await ctx.session.send_tool_list_changed()
        await ctx.notify_tools_changed()
        return "added late"

    @server.resource("fixture://readme", name="readme", mime_type="text/plain")
    def readme() -> str:
        """What this server is."""
        return README

    @server.resource("fixture://items/{id}", name="item", mime_type="text/plain")
    def item(id: str) -> str:  # the template names it id
        """One item, by id."""
        return f"item {id}"

    @server.prompt()
    def greet(name: str) -> str:
        """Greet someone."""
        return f"Hello, {name}!"

    return server


async def serve_http(server: MCPServer, transport: str, port: int, stateless: bool) -> None:
    """Serve over HTTP on 127.0.0.1:``port`` and say ``READY <port>`` on stderr once listening."""
    if transport == "sse":
        app = server.sse_app()
    else:
        app = server.streamable_http_app(stateless_http=stateless)
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose protocol says TCP, and
    # without it a kept-alive answer waits ~40 ms for the client's delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    http = uvicorn.Server(config)
    task = asyncio.create_task(http.serve(sockets=[sock]))
    while not http.started:
        if task.done():
            await task  # a failed start: its error
            return
        await asyncio.sleep(0.005)
    print(f"READY {sock.getsockname()[1]}", file=sys.stderr, flush=True)
    await task


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.mcp_servers.fixture")
    parser.add_argument("--transport", choices=["stdio", "sse", "streamable_http"], default="stdio")
    parser.add_argument("--port", type=int, default=0, help="HTTP port (0: a free one)")
    parser.add_argument("--name", default="fixture", help="the server's name (serverInfo)")
    parser.add_argument("--stateless", action="store_true", help="Streamable HTTP without sessions")
    parser.add_argument(
        "--serve-after",
        type=float,
        default=0.0,
        help="a Unix time: read nothing before it (broken.py's slow_start)",
    )
    args = parser.parse_args(argv)
    # The SDK logs six warning lines for "weird tool!" at every start: deliberate here.
    logging.getLogger("mcp.shared.tool_name_validation").setLevel(logging.ERROR)
    server = build(args.name)
    time.sleep(max(0.0, min(args.serve_after - time.time(), 600.0)))
    if args.transport == "stdio":
        asyncio.run(server.run_stdio_async())
    else:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_http(server, args.transport, args.port, args.stateless))


if __name__ == "__main__":
    main()
