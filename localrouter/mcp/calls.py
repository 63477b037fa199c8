"""One tool call, whoever makes it (a client through ``/mcp``, or a skill's step): the one path.

    find the tool ─▶ access (rules, then globs) ─▶ limits (``tool_calls``) ─▶ circuit breaker
      ─▶ the server's session: tools/call, bounded by its ``call_timeout_s`` ─▶ one access-log line

Every call that reaches this path is one access-log line (endpoint ``mcp``: client, strategy,
server as ``provider`` ``mcp:SERVER``, the public tool name as ``model``, status, latency; never
arguments or results), counted in ``/metrics`` and ``/v1/usage`` like any request.

Refusals and failures are :class:`~localrouter.errors.McpError`, which the ``/mcp`` server
answers as an MCP (JSON-RPC) error with its ``code`` and a message that says why; a skill stops
at the step that raised it. A tool's own ``isError`` result is not a failure of the gateway: it
is passed on as the server sent it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError

from localrouter.compiler.mcp_table import SKILLS, McpPolicy
from localrouter.compiler.table import Client, RoutingTable, Strategy
from localrouter.errors import McpError, McpUnavailable
from localrouter.logs.record import tool_call_line
from localrouter.mcp import catalog
from localrouter.mcp.access import decide
from localrouter.mcp.servers import McpServers, breaker_key
from localrouter.runtime.limits import Rejection
from localrouter.server.incoming import request_id
from localrouter.server.state import now_facts

if TYPE_CHECKING:
    from localrouter.mcp.upstream import Upstream
    from localrouter.server.state import Runtime

log = logging.getLogger("localrouter.mcp")

# JSON-RPC error codes the /mcp server answers with (MCP's own, and one of the server range)
INVALID_PARAMS = types.INVALID_PARAMS  # an unknown tool, a refused call, bad skill input
INTERNAL_ERROR = types.INTERNAL_ERROR  # the upstream server failed (down, timed out, closed)
RATE_LIMITED = -32029  # a `tool_calls` limit: the message says when to retry
REQUEST_TIMEOUT = types.REQUEST_TIMEOUT


def refusal(server: str, reason: str, code: int, status: int) -> McpError:
    """The refusal or failure the client is told about, as a JSON-RPC error ``code``."""
    return McpError(server, reason, code=code, status=status)


@dataclass(frozen=True)
class Caller:
    """Who calls: the table read once for the request, the client and its strategy."""

    table: RoutingTable
    client: Client
    strategy: Strategy
    request_id: str = ""

    @property
    def policy(self) -> McpPolicy:
        return self.strategy.mcp


SkillRunner = Callable[["Runtime", Caller, str, dict[str, Any]], Awaitable[types.CallToolResult]]


async def call_tool(
    rt: Runtime,
    servers: McpServers,
    caller: Caller,
    public: str,
    args: dict[str, Any],
    run_skill: SkillRunner | None = None,
) -> types.CallToolResult:
    """Call ``public`` for ``caller`` (see the module doc); raises :class:`McpError`."""
    started = time.perf_counter()
    policy = caller.policy
    target = catalog.find_tool(policy, servers, public)
    if target is None and (named := catalog.server_of(policy, public)) is not None:
        up = servers.get(named)
        if up is not None and up.state == "idle":  # a first_use server's first call
            await catalog.wake(McpPolicy(servers=(named,)), servers)
            target = catalog.find_tool(policy, servers, public)
    is_skill = (
        target is None
        and SKILLS in policy.servers
        and any(s.public_name == public for s in caller.table.skills.values())
    )
    server = target.server if target else SKILLS if is_skill else catalog.server_of(policy, public)
    try:
        if target is None and not is_skill:
            why = f"unknown tool '{public}'"
            if server is not None and (up := servers.get(server)) is not None:
                if up.state == "ready":
                    why += f": server '{server}' offers no such tool"
                else:
                    why += f": server '{server}' is not ready ({up.last_error or up.state})"
            else:
                why += " for this client (tools/list shows the ones it may call)"
            raise refusal(server or "-", why, INVALID_PARAMS, 404)
        assert server is not None
        reason = decide(
            policy, server, public, args, caller.client, now_facts(), caller.strategy.name
        )
        if reason is not None:
            msg = f"tool '{public}' is not allowed for client '{caller.client.name}': {reason}"
            raise refusal(server, msg, INVALID_PARAMS, 403)
        await _admit(rt, caller, server)
        if is_skill:
            assert run_skill is not None
            result = await run_skill(rt, caller, public, args)
        else:
            assert target is not None
            result = await _upstream_call(servers, server, target.tool, args)
    except McpError as refused:
        _record(rt, caller, server or "-", public, refused.status, started, refused)
        raise
    _record(rt, caller, server, public, 200, started, None)
    return result


async def _admit(rt: Runtime, caller: Caller, server: str) -> None:
    """Count the call against the client's and the strategy's ``tool_calls`` limits."""
    policies = [
        p for p in (*caller.client.limits, *caller.strategy.limits) if p.metric == "tool_calls"
    ]
    if not policies:
        return
    verdict = await rt.limiter.check(policies, {"tool_calls": 1.0})
    if isinstance(verdict, Rejection):
        raise refusal(server, f"rate limited: {verdict.message}", RATE_LIMITED, 429)
    await rt.limiter.settle(verdict, {"tool_calls": 1.0})


async def _upstream_call(
    servers: McpServers, server: str, tool: str, args: dict[str, Any]
) -> types.CallToolResult:
    up = servers.get(server)
    if up is None:
        raise refusal(server, f"MCP server '{server}' is not configured", INTERNAL_ERROR, 502)
    key = breaker_key(up.server)
    permit = servers.breakers.allow(key)
    if not permit:
        why = f"MCP server '{server}': circuit open after repeated failures; retry later"
        raise refusal(server, why, INTERNAL_ERROR, 503)
    timeout = up.server.call_timeout_s
    try:
        session = await up.session()
        with anyio.fail_after(timeout + 1.0):  # the SDK's own read timeout fires first
            result = await session.call_tool(tool, args, read_timeout_seconds=timeout)
    except McpUnavailable:  # no session: starting, failed, removed
        servers.breakers.record_failure(key)
        raise
    except TimeoutError:
        servers.breakers.record_failure(key)
        why = f"MCP server '{server}' did not answer within {timeout:g} s"
        raise refusal(server, why, REQUEST_TIMEOUT, 504) from None
    except MCPError as exc:
        lost = up.lost or (exc.code == types.CONNECTION_CLOSED and not await up.alive())
        if lost:  # the connection ended under the call: the process died, the session is gone
            servers.breakers.record_failure(key)
            why = f"MCP server '{server}' closed the connection during the call"
            raise refusal(server, why, INTERNAL_ERROR, 502) from None
        if exc.code == types.REQUEST_TIMEOUT:
            servers.breakers.record_failure(key)
            why = f"MCP server '{server}' did not answer within {timeout:g} s"
            raise refusal(server, why, REQUEST_TIMEOUT, 504) from None
        servers.breakers.record_success(key)  # it answered: up, the call was wrong
        raise refusal(server, relayed(up, exc), exc.code, 502) from None
    servers.breakers.record_success(key)
    if not isinstance(result, types.CallToolResult):  # input_required and claims are refused
        why = f"MCP server '{server}' answered with a result LocalRouter does not relay"
        raise refusal(server, why, INTERNAL_ERROR, 502)
    return catalog.namespaced(server, result)


def relayed(up: Upstream, exc: MCPError) -> str:
    """The error a server answered, for the client: its secrets redacted, then cut."""
    message = up.redact(" ".join(str(exc.error.message).split()))
    return f"MCP server '{up.name}': {message[:500]}"


def _record(
    rt: Runtime,
    caller: Caller,
    server: str,
    public: str,
    status: int,
    started: float,
    refusal: McpError | None,
) -> None:
    rt.observer.record(
        tool_call_line(
            request_id=caller.request_id or request_id(""),
            client=caller.client.name,
            strategy=caller.strategy.name,
            server=server,
            tool=public,
            status=status,
            error_code=_ERROR_CODES.get(status) if refusal is not None else None,
            latency_ms=(time.perf_counter() - started) * 1000,
            config_sha=caller.table.sha256,
        )
    )


_ERROR_CODES: Mapping[int, str] = {
    403: "tool_not_allowed",
    404: "unknown_tool",
    429: "rate_limited",
    502: "mcp_server_error",
    503: "mcp_server_unavailable",
    504: "mcp_server_timeout",
}
