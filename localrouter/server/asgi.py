"""The gateway's ASGI application: a route table for the model endpoints, a mount for the rest,
and one lifespan.

    Edge (Host check, framing, CORS: server/edge.py)
      └─ Gateway ─┬─ model endpoints (ROUTES): server/endpoint.py, straight from ASGI
                  ├─ /mcp: the MCP gateway (mcp/gateway.py, the mcp SDK's session manager)
                  ├─ every other path: the mounted web app (server/web.py, Quart)
                  └─ lifespan: server/lifespan.py (every long-lived resource)

What every model endpoint gets here, once: ``POST`` only (``OPTIONS`` → 200 with ``Allow``, any
other method 405 in the endpoint's dialect), an ``x-request-id`` on every answer, an unexpected
error logged with its traceback and answered 500 in the dialect's envelope, a client that leaves
before its body arrived dropped silently, one that leaves during a stream cancelling it
(:func:`~localrouter.server.reply.send_reply`). A client that disconnects while a non-streamed
answer is being made is not noticed: the answer is made, recorded and dropped.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from localrouter.dialects.anthropic import ANTHROPIC
from localrouter.dialects.openai import OPENAI
from localrouter.dialects.responses import RESPONSES
from localrouter.errors import ClientGone
from localrouter.server.edge import Edge
from localrouter.server.endpoint import ModelEndpoint, handle
from localrouter.server.incoming import Incoming, request_id
from localrouter.server.reply import Reply, send_reply
from localrouter.server.state import Runtime

log = logging.getLogger("localrouter.server")

Scope = Any
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
Lifespan = Callable[[], contextlib.AbstractAsyncContextManager[None]]

ROUTES: Mapping[str, ModelEndpoint] = {
    "/v1/chat/completions": ModelEndpoint(OPENAI, "chat", "chat"),
    "/v1/completions": ModelEndpoint(OPENAI, "completion", "completion"),
    "/v1/embeddings": ModelEndpoint(OPENAI, "embeddings", "embeddings"),
    "/v1/messages": ModelEndpoint(ANTHROPIC, "messages", "messages"),
    "/v1/messages/count_tokens": ModelEndpoint(ANTHROPIC, "count_tokens", "count_tokens"),
    "/v1/responses": ModelEndpoint(RESPONSES, "responses", "responses"),
}


MCP_PATHS = frozenset({"/mcp", "/mcp/"})


def dialect_error_body(path: str, status: int, message: str, code: str, rid: str) -> bytes:
    """An error body in the envelope of the endpoint at ``path`` (OpenAI's off the routes)."""
    ep = ROUTES.get(path)
    dialect = ep.dialect if ep is not None else OPENAI
    return dialect.error(status, message, code=code, headers={"x-request-id": rid}).body


class Gateway:
    """The ASGI app: see the module doc. ``runtime``: the state it serves from."""

    def __init__(
        self, runtime: Runtime, mount: ASGIApp, lifespan: Lifespan, mcp: ASGIApp | None = None
    ) -> None:
        self.runtime = runtime
        self.mount = mount
        self.lifespan = lifespan
        self.mcp = mcp  # /mcp: localrouter/mcp/gateway.py
        self._edge = Edge(self._route, runtime.holder, dialect_error_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._edge(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            ep = ROUTES.get(scope["path"])
            if ep is not None:
                await self._model(ep, scope, receive, send)
                return
            if self.mcp is not None and scope["path"] in MCP_PATHS:
                await self.mcp(scope, receive, send)
                return
        elif kind == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.mount(scope, receive, send)

    async def _model(self, ep: ModelEndpoint, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        if scope["method"] != "POST":
            if scope["method"] == "OPTIONS":
                reply = Reply(200)
            else:
                rid = {"x-request-id": request_id(given)}
                reply = ep.dialect.error(405, "method not allowed on this endpoint", headers=rid)
            reply.headers["allow"] = "OPTIONS, POST"
            await send_reply(reply, given, receive, send)
            return
        length = headers.get("content-length")
        incoming = Incoming(
            headers,
            int(length) if length is not None and length.isdigit() else None,
            started,
            receive,
        )
        try:
            reply = await handle(self.runtime, ep, incoming)
        except ClientGone:
            return
        except Exception:  # a bug: logged with its traceback, answered 500
            log.exception("unexpected error answering %s", scope["path"])
            rid = {"x-request-id": request_id(given)}
            reply = ep.dialect.error(500, "internal error: see the gateway's log", headers=rid)
        await send_reply(reply, given, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """ASGI's lifespan protocol around :attr:`lifespan` (opened at startup, closed at
        shutdown; a failure to open is reported to the server, which then stops)."""
        await receive()  # lifespan.startup
        stack = contextlib.AsyncExitStack()
        try:
            await stack.enter_async_context(self.lifespan())
        except Exception as exc:  # reported to the server, which refuses to start
            log.exception("the gateway could not start")
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        try:
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        finally:  # also when the server stops without saying so (it could not bind)
            await stack.aclose()
        await send({"type": "lifespan.shutdown.complete"})
