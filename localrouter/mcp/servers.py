"""The running upstream MCP servers, by name: they follow each table the gateway swaps in.

:meth:`McpServers.reconcile` compares the new table's ``mcp_servers`` with the running ones by
name and :attr:`~localrouter.compiler.mcp_table.McpServer.fingerprint`: an unchanged server keeps
its session (and its process); a changed one is closed and a new one started; a removed one is
closed (a stdio server's process ends). Closing happens in the background, so a reload never
waits for a slow server to stop.

Each server has a circuit breaker of its own (:attr:`McpServers.breakers`, the providers' kind,
with the ``health`` settings' threshold and recovery): a call that fails for the server's sake
(no session, a timeout, the connection lost) counts as a failure; an error the server answers
with (a JSON-RPC error, a tool's ``isError`` result) shows it is up.

This module does not import the MCP SDK: :mod:`localrouter.mcp.upstream` (which does) is imported
when a table first names a server, so a gateway without MCP servers never loads it.

The tools each server offers are written to ``STATE_DIR/mcp/tools.json`` whenever a server is
(re)connected or says its tools changed, so ``localrouter mcp tools`` can show them without
connecting (``{"SERVER": {"fingerprint", "at", "tools": [{"name", "description"}]}}``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localrouter.compiler.mcp_table import McpServer
from localrouter.compiler.table import RoutingTable, SecretValue
from localrouter.fsutil import atomic_write
from localrouter.runtime.breakers import BreakerKey, Breakers
from localrouter.secrets import resolve

if TYPE_CHECKING:
    from localrouter.mcp.upstream import Upstream

log = logging.getLogger("localrouter.mcp")

Listener = Callable[[str, str], None]  # (server, "tools" | "resources" | "prompts")
CACHE_NAME = "tools.json"


def breaker_key(server: McpServer) -> BreakerKey:
    return (f"mcp:{server.name}", server.fingerprint)


class McpServers:
    """See the module doc. ``serving``: start ``at_start`` servers as soon as they appear
    (set by :meth:`start`, once the event loop runs)."""

    def __init__(self) -> None:
        self._ups: dict[str, Upstream] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._listeners: list[Listener] = []
        self._state_dir: str | None = None
        self.serving = False
        self.breakers = Breakers(time.monotonic)

    # -- following the table ------------------------------------------------------------------
    def reconcile(self, table: RoutingTable) -> None:
        """Follow ``table`` (on the serving loop, or before serving starts)."""
        self._state_dir = table.settings.state_dir
        health = table.settings.health
        self.breakers.configure(health.failure_threshold, health.recovery_s)
        state_dir = self._state_dir

        def resolver(secret: SecretValue) -> str:
            return resolve(secret, state_dir=state_dir)

        wanted = table.mcp_servers
        if wanted:  # the MCP SDK is imported only by a gateway that has MCP servers
            from localrouter.mcp.upstream import Upstream
        for name in [n for n in self._ups if n not in wanted]:
            log.info("MCP server %s removed: closing it", name)
            self._retire(self._ups.pop(name))
        changed = False
        for name, spec in wanted.items():
            up = self._ups.get(name)
            if up is not None and up.server.fingerprint == spec.fingerprint:
                continue
            if up is not None:
                log.info("MCP server %s changed: restarting it", name)
                self._retire(up)
            up = self._ups[name] = Upstream(spec, resolver, self._changed)
            changed = True
            if self.serving and spec.start == "at_start":
                up.start()
        if changed or len(wanted) != len(self._ups):
            self._notify("*", "tools")

    def start(self) -> None:
        """Serving starts: connect every ``at_start`` server."""
        self.serving = True
        for up in self._ups.values():
            if up.server.start == "at_start":
                up.start()

    def _retire(self, up: Upstream) -> None:
        if not self.serving:
            return
        task = asyncio.ensure_future(up.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Shutdown: close every server, and wait for those a reload was closing."""
        self.serving = False
        ups, self._ups = list(self._ups.values()), {}
        await asyncio.gather(*(u.aclose() for u in ups), *self._closing, return_exceptions=True)

    # -- reading ------------------------------------------------------------------------------
    def get(self, name: str) -> Upstream | None:
        return self._ups.get(name)

    def __iter__(self) -> Any:
        return iter(list(self._ups.values()))

    def health(self) -> dict[str, dict[str, Any]]:
        """Each server's state for ``/health``: never a secret (errors are redacted)."""
        out: dict[str, dict[str, Any]] = {}
        for name, up in sorted(self._ups.items()):
            circuit = self.breakers.peek(breaker_key(up.server))
            out[name] = {
                "transport": up.server.transport,
                "state": up.state,
                "tools": len(up.listing.index) if up.state == "ready" else 0,  # as listed
                "last_error": up.last_error,
                "restarts": up.restarts,
                "circuit": "open" if circuit else "closed",
                "collisions": list(up.listing.collisions),  # tools left out: a name taken
            }
        return out

    # -- changes ------------------------------------------------------------------------------
    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _changed(self, up: Upstream, kind: str) -> None:
        if self._ups.get(up.name) is not up:  # a retired server's late news
            return
        if up.state == "ready":  # (re)connected: the failures that brought it down are past
            self.breakers.record_success(breaker_key(up.server))
        self._notify(up.name, kind)

    def _notify(self, server: str, kind: str) -> None:
        for listener in self._listeners:
            listener(server, kind)
        if kind == "tools" and self.serving:
            self.save_cache()

    def save_cache(self) -> None:
        """Write the tools of every ready server to ``STATE_DIR/mcp/tools.json``."""
        if self._state_dir is None:
            return
        data = {
            name: {
                "fingerprint": up.server.fingerprint,
                "at": round(up.listing.at, 3),
                "tools": [
                    {"name": t.name, "description": (t.description or "")[:500]}
                    for t in up.listing.tools
                ],
            }
            for name, up in sorted(self._ups.items())
            if up.state == "ready"
        }
        path = Path(self._state_dir) / "mcp" / CACHE_NAME
        body = json.dumps(data, indent=1, sort_keys=True).encode()
        with contextlib.suppress(OSError):  # a cache: the CLI says when it has none
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write(path, body, backup=False)
