"""Transports for tests that call adapters directly: the gateway's own (aiohttp) pointed at a fake
provider, opened and closed around a block."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from localrouter.providers.transport import HttpTransport


@asynccontextmanager
async def http_transport(
    read_s: float = 5.0, connect_s: float | None = None
) -> AsyncIterator[HttpTransport]:
    transport = HttpTransport(connect_s=read_s if connect_s is None else connect_s, read_s=read_s)
    try:
        yield transport
    finally:
        await transport.aclose()
