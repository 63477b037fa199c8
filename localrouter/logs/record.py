"""One request's record: the access-log line (docs/observability.md), built once when it ends.

The line is the single source the metrics, ``/v1/usage``, ``/metrics`` and ``stats`` read; the
generation record (``/v1/generation``) is built from the same numbers. It never holds a prompt, a
completion or a key: ``facts`` carries only what routing reads, headers only when the table's
expressions read them and never one whose name suggests a credential.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping
from typing import Any

from localrouter.compiler.table import RoutingTable
from localrouter.routing.facts import NowFacts, RequestFacts

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "invalid_request_error",  # the request body did not arrive in time
    413: "invalid_request_error",
    409: "invalid_request_error",  # an admin edit that conflicts with the config on disk
    421: "invalid_request_error",  # Host not in server.allowed_hosts
    422: "invalid_request_error",  # an admin edit that would not compile
    431: "invalid_request_error",  # too many header fields for routing
    429: "rate_limit_error",
    499: "cancelled",
    500: "server_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout_error",
}
_CREDENTIAL = re.compile(r"auth|key|token|secret|cookie|session|signature|password", re.I)


@functools.lru_cache(maxsize=1024)
def _credential(header: str) -> bool:
    """Does a header's name suggest a credential (never recorded)? Names repeat: cached."""
    return _CREDENTIAL.search(header) is not None


def error_type(status: int) -> str:
    """OpenAI's error ``type`` for an HTTP status (the envelope's, and the log's)."""
    return ERROR_TYPES.get(status, "server_error")


def table_reads(table: RoutingTable) -> tuple[bool, bool]:
    """Does any expression of ``table`` read ``request.headers`` / ``request.metadata``?"""
    headers = metadata = False
    for s in table.strategies.values():
        predicates = [r.when for r in s.routes] + [s.filter]
        for p in predicates:
            if p is not None:
                headers = headers or p.needs("request", "headers")
                metadata = metadata or p.needs("request", "metadata")
    return headers, metadata


def facts_obj(
    facts: RequestFacts, now: NowFacts, reads: tuple[bool, bool] = (False, False)
) -> dict[str, Any]:
    """The ``facts`` of a line: what routing read, enough to replay the decision."""
    request: dict[str, Any] = {
        "model": facts.model,
        "messages_count": facts.messages_count,
        "estimated_tokens": facts.estimated_tokens,
        "max_tokens": facts.max_tokens,
        "has_tools": facts.has_tools,
        "has_images": facts.has_images,
        "stream": facts.stream,
        "complexity": facts.complexity,
        "tags": list(facts.tags),
        "needs": sorted(facts.needs),  # capabilities routing required (not a CEL field)
        "headers": {},
        "metadata": {},
    }
    if reads[0]:
        request["headers"] = {k: v for k, v in facts.headers.items() if not _credential(k)}
    if reads[1]:
        request["metadata"] = dict(facts.metadata)
    return {"request": request, "now": now.as_cel_dict()}


@functools.lru_cache(maxsize=4)
def _second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def iso(ts: float) -> str:
    """``ts`` as ISO 8601 UTC with milliseconds: ``2026-12-05T13:20:00.123Z`` (the formatted
    second is kept: requests of the same second format it once)."""
    whole = round(ts * 1000)
    return f"{_second(whole // 1000)}.{whole % 1000:03d}Z"


def access_line(
    generation: Mapping[str, Any],
    *,
    endpoint: str,
    error_code: str | None,
    facts: dict[str, Any] | None,
) -> dict[str, Any]:
    """The access-log line of a request whose generation record is ``generation``."""
    ts = generation["created"]
    status = generation["status_code"]
    tokens = generation["tokens"]
    cost = generation["cost_usd"]
    ok = status < 400
    return {
        "ts": ts,
        "time": iso(ts),
        "request_id": generation["request_id"],
        "generation_id": generation["id"],
        "endpoint": endpoint,
        "client": generation["client"],
        "strategy": generation["strategy"],
        "route": generation["route"],
        "provider": generation["provider"],
        "model": generation["model"],
        "status": "ok" if ok else "error",
        "status_code": status,
        "error_type": None if ok else error_type(status),
        "error_code": None if ok else error_code,
        "input_tokens": tokens["prompt"],
        "output_tokens": tokens["completion"],
        "total_tokens": tokens["total"],
        "tokens_estimated": tokens["estimated"],
        "cost_usd": cost["total"] if cost else None,
        "latency_ms": generation["latency_ms"],
        "ttfb_ms": generation["ttfb_ms"],
        "attempts": generation["attempts"],
        "stream": generation["stream"],
        "config_sha": generation["config_sha"],
        "facts": facts,
    }


def unauthenticated_line(
    *,
    request_id: str,
    endpoint: str,
    status: int,
    error_code: str | None,
    latency_ms: float,
    config_sha: str,
    client: str | None = None,
) -> dict[str, Any]:
    """The line of a request refused before it had a client (401) or of a disabled one (403)."""
    ts = round(time.time(), 3)
    return {
        "ts": ts,
        "time": iso(ts),
        "request_id": request_id,
        "generation_id": None,
        "endpoint": endpoint,
        "client": client,
        "strategy": None,
        "route": None,
        "provider": None,
        "model": None,
        "status": "error",
        "status_code": status,
        "error_type": error_type(status),
        "error_code": error_code,
        "input_tokens": 0,
        "output_tokens": 0,
        "total_tokens": 0,
        "tokens_estimated": False,
        "cost_usd": None,
        "latency_ms": round(latency_ms, 2),
        "ttfb_ms": None,
        "attempts": [],
        "stream": False,
        "config_sha": config_sha,
        "facts": None,
    }


def tool_call_line(
    *,
    request_id: str,
    client: str,
    strategy: str,
    server: str,
    tool: str,
    status: int,
    error_code: str | None,
    latency_ms: float,
    config_sha: str,
) -> dict[str, Any]:
    """The line of one MCP tool call (endpoint ``mcp``): the server as provider ``mcp:SERVER``,
    the public tool name as model. Never its arguments or its result."""
    line = unauthenticated_line(
        request_id=request_id,
        endpoint="mcp",
        status=status,
        error_code=error_code,
        latency_ms=latency_ms,
        config_sha=config_sha,
        client=client,
    )
    ok = status < 400
    line.update(
        strategy=strategy,
        provider=f"mcp:{server}",
        model=tool,
        status="ok" if ok else "error",
        error_type=None if ok else error_type(status),
        error_code=None if ok else error_code,
    )
    return line
