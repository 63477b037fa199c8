"""``/mcp`` as the gateway mounts it: built on the first request, so that a gateway whose clients
never use MCP never imports the MCP SDK (it costs ~1 s of start-up and ~28 MB of memory).

The first request imports :mod:`localrouter.mcp.gateway`, builds the
:class:`~localrouter.mcp.gateway.McpGateway` and runs its session manager in a task of its own
(the SDK's task group is entered and left in that one task) until :meth:`McpMount.aclose`, which
the lifespan calls at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localrouter.mcp.gateway import McpGateway
    from localrouter.server.state import Runtime

Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]


class McpMount:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._gateway: McpGateway | None = None
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        gateway = self._gateway or await self._start()
        await gateway(scope, receive, send)

    async def _start(self) -> McpGateway:
        async with self._lock:
            if self._gateway is not None:
                return self._gateway
            from localrouter.mcp.gateway import McpGateway

            gateway = McpGateway(self.rt, self.rt.mcp)
            running = asyncio.Event()

            async def run() -> None:
                async with gateway.running():
                    running.set()
                    await self._stopping.wait()

            self._task = asyncio.ensure_future(run())
            waiting = asyncio.ensure_future(running.wait())
            await asyncio.wait({self._task, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if not running.is_set():  # the manager failed to start: its error, to the caller
                waiting.cancel()
                await self._task
            self._gateway = gateway
            return gateway

    async def aclose(self) -> None:
        """Shutdown: end the open sessions and the session manager."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
