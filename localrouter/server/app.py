"""create_app: the gateway's ASGI application over one table, and its runtime.

Hypercorn's settings are in ``commands/serve.py``; the application's shape (route table, mount,
lifespan, edge) is in :mod:`localrouter.server.asgi`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from localrouter.compiler.table import RoutingTable
from localrouter.config.source import SourceDocument
from localrouter.diagnostics import Diagnostic
from localrouter.mcp.mount import McpMount
from localrouter.server.asgi import Gateway
from localrouter.server.discovery import start_discovery
from localrouter.server.lifespan import serving
from localrouter.server.reload import ConfigSource
from localrouter.server.state import Runtime
from localrouter.server.web import follow_body_limit, web_app


def create_app(
    table: RoutingTable,
    *,
    source: tuple[SourceDocument, list[Diagnostic]] | None = None,
    config_path: Path | None = None,
    watch: bool = False,
) -> Gateway:
    """The gateway app serving ``table``. With ``source`` (the document the table was compiled
    from), model discovery runs in the background and a changed catalog recompiles the table
    from that same document (never from a half-saved file) and swaps it in. With
    ``config_path`` too, the config can be reloaded (``rt.config.reload()``, SIGHUP in
    ``serve``); ``watch`` reloads it whenever its files change (see ``server/reload.py``)."""
    rt = Runtime.for_table(table)
    web = web_app(rt)

    def install(new: RoutingTable) -> bool:
        """Every swap: the runtime's one path, then the web app's body limit."""
        swapped = rt.swap(new)
        follow_body_limit(web, rt)
        return swapped

    if source is not None:
        rt.config = ConfigSource(
            config_path, *source, lambda: rt.holder.current, install, rt.holder.failed
        )
    discovery = start_discovery(rt, rt.config) if rt.config is not None else None

    mcp = McpMount(rt)  # /mcp: built on its first request

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with serving(rt, discovery, watch):
            try:
                yield
            finally:
                await mcp.aclose()

    return Gateway(rt, web.asgi_app, lifespan, mcp)
