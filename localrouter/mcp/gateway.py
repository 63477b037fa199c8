"""``/mcp``: MCP Streamable HTTP for clients, served by the official SDK behind LocalRouter's keys.

    request ─▶ key (401/403 as for the model endpoints, logged) ─▶ the SDK's session manager
      ─▶ our handlers: what the client's strategy lets it see and call (mcp/catalog.py,
         mcp/calls.py), read from the table current at each request

The SDK (``mcp`` 2.x) serves both protocol eras on one path: the session-based revisions
(2024-11-05 … 2025-11-25: ``initialize``, an ``Mcp-Session-Id``, a ``GET`` stream for
notifications, ``DELETE`` to end) and the stateless 2026-07-28 revision (each request carries
its own envelope). A session belongs to the client that opened it: the SDK compares the
principal we hand it (the client's name) on every request and answers another client 404.

Each handler finds its client again in the HTTP request the SDK passes along (``ctx.request``),
so a session outlives reloads: a client that a reload removes or disables is refused on its next
request, one whose strategy changes sees the new tools from its next list. When the tools a
client may see change (an upstream's ``list_changed``, a server that comes or goes, a reload),
every open session is sent ``notifications/tools/list_changed`` (and the resources' and
prompts' when those changed), on its ``GET`` stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp import ClientSession
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError

from localrouter import __version__
from localrouter.errors import McpError
from localrouter.mcp import catalog
from localrouter.mcp.calls import INVALID_PARAMS, Caller, call_tool, relayed
from localrouter.mcp.servers import McpServers
from localrouter.mcp.skills import make_runner
from localrouter.server.auth import presented_key
from localrouter.server.incoming import request_id
from localrouter.server.ledger import auth_code, refused

if TYPE_CHECKING:
    from localrouter.mcp.upstream import Upstream
    from localrouter.server.state import Runtime

log = logging.getLogger("localrouter.mcp")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
SESSION_HEADER = MCP_SESSION_ID_HEADER.lower()
CALLER = "localrouter.mcp.client"  # the ASGI scope key our handlers read the client from
MAX_SESSIONS = 1000
IDLE_S = 30 * 60.0
INSTRUCTIONS = (
    "LocalRouter: the tools of the MCP servers this client may use, named SERVER__TOOL, and "
    "skills (multi-step workflows) named skills__NAME."
)


class _Server(Server[Any]):
    """The SDK's low-level server, announcing that our lists change."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        changes = NotificationOptions(
            prompts_changed=True, resources_changed=True, tools_changed=True
        )
        return super().create_initialization_options(
            notification_options or changes, experimental_capabilities, extensions
        )


class McpGateway:
    """The ``/mcp`` endpoint (an ASGI app) and its session manager (run in the lifespan)."""

    def __init__(self, rt: Runtime, servers: McpServers) -> None:
        self.rt = rt
        self.servers = servers
        # the open sessions by Mcp-Session-Id: the last request's ServerSession of each (its
        # notifications go out on the connection's GET stream), at most MAX_SESSIONS
        self._sessions: OrderedDict[str, ServerSession] = OrderedDict()
        self._notifying: set[asyncio.Task[None]] = set()
        self._run_skill = make_runner(servers)
        self.server = _Server(
            "localrouter",
            version=__version__,
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_templates,
            on_read_resource=self._read_resource,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
        )
        max_body = rt.holder.current.settings.server.max_body_bytes
        self.manager = StreamableHTTPSessionManager(
            self.server,
            # a POST's answer is one JSON body, not an SSE stream: ~1.3 ms less CPU a call
            # (docs/performance.md). Nothing but the answer is sent during a call (the gateway
            # relays no progress or server requests); list_changed goes on the GET stream.
            json_response=True,
            # the Edge checks Host (allowed_hosts) before any request gets here
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            session_idle_timeout=IDLE_S,
            max_request_body_size=max_body,
            max_sessions=MAX_SESSIONS,
        )
        servers.listen(self._changed)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self.manager.run():
            yield

    # -- HTTP ---------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        table = self.rt.holder.current
        if scope["method"] == "OPTIONS":
            await _json(send, 200, b"", {"allow": "GET, POST, DELETE, OPTIONS"})
            return
        auth = await self.rt.auth.authenticate(table, presented_key(headers))
        if auth.client is None:
            rid = refused(
                self.rt, table, "mcp", started, auth.status, headers.get("x-request-id", "")
            )
            body = types.JSONRPCError(
                jsonrpc="2.0",
                id=None,
                error=types.ErrorData(code=types.INVALID_REQUEST, message=auth.message),
            )
            extra = {"x-request-id": rid, "www-authenticate": 'Bearer realm="localrouter"'}
            data = body.model_dump_json(by_alias=True, exclude_none=True).encode()
            extra["x-localrouter-error"] = auth_code(auth.status)
            await _json(send, auth.status, data, extra)
            return
        if scope["method"] == "DELETE":  # the client ends its session
            self._sessions.pop(headers.get(SESSION_HEADER, ""), None)
        name = auth.client.name
        token = AccessToken(token="-", client_id=name, scopes=[])  # no key: the name identifies
        scope = {**scope, "user": AuthenticatedUser(token), CALLER: name}
        await self.manager.handle_request(scope, receive, send)

    # -- who is asking ------------------------------------------------------------------------
    def _caller(self, ctx: ServerRequestContext[Any, Any]) -> Caller:
        request = ctx.request
        sid = request.headers.get(SESSION_HEADER) if request is not None else None
        if sid and ctx.session is not None:
            self._sessions[sid] = ctx.session
            self._sessions.move_to_end(sid)
            if len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        name = request.scope.get(CALLER) if request is not None else None
        table = self.rt.holder.current
        client = table.clients.get(name) if isinstance(name, str) else None
        if client is None or not client.enabled:
            raise MCPError(INVALID_PARAMS, f"client '{name}' is no longer allowed to call")
        rid = ""
        if request is not None:
            rid = request_id(request.headers.get("x-request-id", ""))
        return Caller(table, client, table.strategy_of(client), rid)

    # -- handlers -----------------------------------------------------------------------------
    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        c = self._caller(ctx)
        await catalog.wake(c.policy, self.servers)
        tools = catalog.tools(c.policy, c.strategy.name, self.servers, c.table.skills)
        return types.ListToolsResult(tools=tools)

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        c = self._caller(ctx)
        args = dict(params.arguments or {})
        try:
            return await call_tool(self.rt, self.servers, c, params.name, args, self._run_skill)
        except McpError as exc:
            raise MCPError(exc.code, exc.reason) from None

    async def _list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        c = self._caller(ctx)
        await catalog.wake(c.policy, self.servers)
        return types.ListResourcesResult(resources=catalog.resources(c.policy, self.servers))

    async def _list_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        c = self._caller(ctx)
        await catalog.wake(c.policy, self.servers)
        found = catalog.templates(c.policy, self.servers)
        return types.ListResourceTemplatesResult(resource_templates=found)

    async def _read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        c = self._caller(ctx)
        where = catalog.split_uri(c.policy, str(params.uri))
        if where is None:
            raise MCPError(INVALID_PARAMS, f"unknown resource '{params.uri}' for this client")
        server, own = where
        up, session = await self._session(server)
        try:
            result = await session.read_resource(own)
        except MCPError as exc:
            raise MCPError(exc.code, relayed(up, exc)) from None
        contents = [
            item.model_copy(update={"uri": catalog.public_uri(server, str(item.uri))})
            for item in result.contents
        ]
        return result.model_copy(update={"contents": contents})

    async def _list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        c = self._caller(ctx)
        await catalog.wake(c.policy, self.servers)
        return types.ListPromptsResult(prompts=catalog.prompts(c.policy, self.servers))

    async def _get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        c = self._caller(ctx)
        found = catalog.find_prompt(c.policy, self.servers, params.name)
        if found is None:
            raise MCPError(INVALID_PARAMS, f"unknown prompt '{params.name}' for this client")
        server, own = found
        up, session = await self._session(server)
        try:
            got = await session.get_prompt(own, dict(params.arguments or {}))
        except MCPError as exc:
            raise MCPError(exc.code, relayed(up, exc)) from None
        return catalog.namespaced_prompt(server, got)

    async def _session(self, server: str) -> tuple[Upstream, ClientSession]:
        up = self.servers.get(server)
        if up is None:
            raise MCPError(types.INTERNAL_ERROR, f"MCP server '{server}' is not configured")
        try:
            return up, await up.session()
        except McpError as exc:
            raise MCPError(exc.code, exc.reason) from None

    # -- list_changed -------------------------------------------------------------------------
    def _changed(self, server: str, kind: str) -> None:
        """An upstream's list changed (or a server came, went, or a reload happened): tell
        every open session. Sent from tasks of their own; a session that is gone is skipped."""
        for sid, session in list(self._sessions.items()):
            task = asyncio.ensure_future(self._notify(sid, session, kind))
            self._notifying.add(task)
            task.add_done_callback(self._notifying.discard)

    async def _notify(self, sid: str, session: ServerSession, kind: str) -> None:
        send = {
            "tools": session.send_tool_list_changed,
            "resources": session.send_resource_list_changed,
            "prompts": session.send_prompt_list_changed,
        }[kind]
        try:
            await send()
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
            self._sessions.pop(sid, None)  # the session ended: forget it


async def _json(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    if body:
        raw.append((b"content-type", b"application/json"))
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
