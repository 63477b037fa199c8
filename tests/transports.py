"""Transports for tests that call adapters directly: the gateway's own (aiohttp) pointed at a fake
provider, opened and closed around a block."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from localrouter.providers.transport import HttpTransport, Transport
from localrouter.providers.transport_memory import MemoryTransport, asgi_handler


@asynccontextmanager
async def http_transport(
    read_s: float = 5.0, connect_s: float | None = None
) -> AsyncIterator[HttpTransport]:
    transport = HttpTransport(connect_s=read_s if connect_s is None else connect_s, read_s=read_s)
    try:
        yield transport
    finally:
        await transport.aclose()


@asynccontextmanager
async def transport_for(
    kind: str, app: Any, read_s: float = 5.0, connect_s: float | None = None
) -> AsyncIterator[Transport]:
    """The gateway's transport over the network (``http``), or the in-memory one (``memory``)
    answered by ``app`` — a fake provider's app on the same state, run in the test's loop: no
    socket. Provider suites run their tests over both (a fixture with ``params``)."""
    if kind == "memory":
        yield MemoryTransport(asgi_handler(app))
        return
    async with http_transport(read_s, connect_s) as transport:
        yield transport
