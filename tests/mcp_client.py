"""The official MCP SDK as a client of the gateway's ``/mcp``, for the tests.

    async with session(gw.url, key) as s:        # the session-based revisions (initialize)
        await s.list_tools()
    async with stateless(gw.url, key) as c:      # the stateless 2026-07-28 revision (mcp.Client)
        await c.call_tool("time__get_current_time", {"timezone": "UTC"})

``notes`` collects the notifications the gateway sends the session (``list_changed``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import mcp_types as types
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client

MODERN = "2026-07-28"


def auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


@contextlib.asynccontextmanager
async def session(
    base: str, key: str | None, notes: list[Any] | None = None, *, timeout: float = 30.0
) -> AsyncIterator[ClientSession]:
    """An initialised session with the gateway's ``/mcp`` (the initialize handshake)."""

    async def on_message(message: Any) -> None:
        if notes is not None and not isinstance(message, Exception):
            notes.append(message)

    async with (
        httpx2.AsyncClient(headers=auth(key), timeout=timeout) as http,
        streamable_http_client(base + "/mcp", http_client=http) as (read, write),
        ClientSession(read, write, read_timeout_seconds=timeout, message_handler=on_message) as s,
    ):
        await s.initialize()
        yield s


@contextlib.asynccontextmanager
async def stateless(base: str, key: str | None) -> AsyncIterator[Client]:
    """``mcp.Client`` on the stateless 2026-07-28 revision (no session, no initialize)."""
    async with (
        httpx2.AsyncClient(headers=auth(key), timeout=30.0) as http,
        Client(streamable_http_client(base + "/mcp", http_client=http), mode=MODERN) as c,
    ):
        yield c


def text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def names(tools: types.ListToolsResult) -> list[str]:
    return [t.name for t in tools.tools]
