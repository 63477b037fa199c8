"""The edge: one ASGI layer in front of the whole app (the model front and Quart), so every
endpoint gets the same HTTP hygiene once.

* **Host check** (DNS-rebinding defence). A request whose ``Host`` is not allowed is answered 421
  ``host_not_allowed`` on every path. Allowed: ``server.allowed_hosts`` (ports ignored; ``*``
  allows every host, ``*.example.com`` any subdomain of it), the configured ``server.host`` when
  it is an address or name rather than a wildcard (``0.0.0.0``, ``::``), and the IP address the
  connection arrived on when ``Host`` is that address itself (a page can only send an IP literal
  as ``Host`` when it was loaded from that very address, so this admits a LAN client that types
  the server's IP while a rebinding page, whose ``Host`` is its own domain name, stays out).
* **Request framing.** ``Content-Length`` together with ``Transfer-Encoding`` (RFC 9112 §6.1: a
  smuggling vector) is answered 400 with ``Connection: close``: h11 would read the body as chunked
  and then serve whatever followed it on the connection as a second request.
* **CORS** per ``server.cors_origins``. A preflight (``OPTIONS`` with ``Origin`` and
  ``Access-Control-Request-Method``) from an allowed origin is answered 204 here with the allowed
  methods, the requested headers and a max age; any other answer to an allowed origin — errors
  and SSE streams included — gets ``Access-Control-Allow-Origin``, ``Vary: Origin`` and
  ``Access-Control-Expose-Headers`` (the request id, the ``x-localrouter-*``, ``Retry-After`` and
  ``x-ratelimit-*`` headers). Credentials are never allowed: keys travel in headers, not cookies.
  An origin not allowed gets no CORS header (the browser then withholds the answer).

The settings are read from the table being served and compiled once per table
(:func:`compile_edge`), so a reload applies new values at its next request. A request without
``Origin`` costs one pass over its header list and a dict lookup.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from localrouter.compiler.settings import ServerSettings
from localrouter.compiler.table import RoutingTable
from localrouter.config.spec import LIMIT_METRICS
from localrouter.server.errors import error_body
from localrouter.server.holder import TableHolder
from localrouter.server.incoming import request_id

Scope = Any
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]", "*"})
ALLOW_METHODS = b"GET, POST, PUT, DELETE, OPTIONS"
MAX_AGE_S = b"600"
EXPOSE = ", ".join(
    [
        "x-request-id",
        "x-localrouter-provider",
        "x-localrouter-model",
        "x-localrouter-generation-id",
        "retry-after",
    ]
    + [f"x-ratelimit-{w}-{m}" for m in LIMIT_METRICS for w in ("limit", "remaining", "reset")]
).encode()
# what a browser may ask to send when its preflight names nothing acceptable
DEFAULT_ALLOW_HEADERS = b"authorization, content-type, x-api-key, x-request-id"
_TOKEN_LIST = re.compile(
    rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ \t]*,[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*"
)
MAX_REQUEST_HEADERS = 2048  # bytes of Access-Control-Request-Headers echoed back
_SEEN_MAX = 64  # raw Host values remembered as allowed, per table


def host_name(raw: str) -> str:
    """A ``Host`` value (or a config entry) without its port, lower-cased, IPv6 bracketed:
    ``LocalHost:3625`` → ``localhost``, ``[::1]:80`` → ``[::1]``, ``::1`` → ``[::1]``."""
    v = raw.strip().lower()
    if v.startswith("["):
        end = v.find("]")
        return v[: end + 1] if end > 0 else v
    if v.count(":") > 1:  # a bare IPv6 address (config entries, scope["server"])
        return f"[{v}]"
    return v.partition(":")[0].rstrip(".")


def _origin_pattern(pattern: str) -> re.Pattern[str]:
    """``http://localhost:*`` → any port (or none); ``*`` inside a host → one or more labels."""
    p = pattern.strip().lower()
    port_any = p.endswith(":*")
    if port_any:
        p = p[:-2]
    parts = [re.escape(s) for s in p.split("*")]
    body = r"[a-z0-9-]+(?:\.[a-z0-9-]+)*".join(parts)
    return re.compile(body + (r"(?::[0-9]{1,5})?" if port_any else ""))


@dataclass(frozen=True)
class EdgePolicy:
    """``server.allowed_hosts``, ``server.host`` and ``server.cors_origins``, compiled."""

    any_host: bool
    hosts: frozenset[str]
    host_suffixes: tuple[str, ...]
    any_origin: bool
    origins: frozenset[str]
    origin_patterns: tuple[re.Pattern[str], ...]
    hosts_label: str  # for the 421 message
    seen: set[bytes] = field(default_factory=set, compare=False)  # raw Host values allowed

    def host_allowed(self, raw: bytes, server: Any) -> bool:
        if raw in self.seen:
            return True
        name = host_name(raw.decode("latin-1"))
        if self.any_host or name in self.hosts or any(name.endswith(s) for s in self.host_suffixes):
            if len(self.seen) < _SEEN_MAX:
                self.seen.add(raw)
            return True
        # the address the connection arrived on, named as an IP literal: not remembered, since
        # it depends on the connection
        return bool(server) and name == host_name(str(server[0]))

    def origin_allowed(self, origin: str) -> bool:
        o = origin.lower()
        return (
            self.any_origin
            or o in self.origins
            or any(p.fullmatch(o) for p in self.origin_patterns)
        )


def compile_edge(server: ServerSettings) -> EdgePolicy:
    """The edge policy of a table's ``server`` settings."""
    entries = [host_name(h) for h in server.allowed_hosts]
    bind = server.host.strip()
    if bind.lower() not in WILDCARD_BINDS:
        entries.append(host_name(bind))
    hosts = frozenset(e for e in entries if e != "*" and not e.startswith("*."))
    suffixes = tuple(sorted({e[1:] for e in entries if e.startswith("*.")}))
    origins = [o.strip().lower() for o in server.cors_origins]
    return EdgePolicy(
        any_host="*" in entries,
        hosts=hosts,
        host_suffixes=suffixes,
        any_origin="*" in origins,
        origins=frozenset(o for o in origins if "*" not in o),
        origin_patterns=tuple(_origin_pattern(o) for o in origins if "*" in o and o != "*"),
        hosts_label=", ".join(sorted(hosts) + [f"*{s}" for s in suffixes]) or "none",
    )


def _plain(status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    return [
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        },
        {"type": "http.response.body", "body": body},
    ]


# (path, status, message, code, request id) -> the body, in the envelope of the endpoint asked
ErrorBody = Callable[[str, int, str, str, str], bytes]


def openai_error(path: str, status: int, message: str, code: str, rid: str) -> bytes:
    return orjson.dumps(error_body(status, message, code=code))


def _error(
    errors: ErrorBody, scope: Scope, status: int, message: str, code: str, rid: bytes | None
) -> list[dict[str, Any]]:
    given = request_id(rid.decode("latin-1") if rid is not None else "")
    body = errors(scope.get("path", ""), status, message, code, given)
    headers = [(b"x-request-id", given.encode("latin-1"))]
    if status == 400:
        headers.append((b"connection", b"close"))
    return _plain(status, body, headers)


class Edge:
    """ASGI middleware: the Host check, request framing and CORS for every endpoint."""

    def __init__(self, app: ASGIApp, holder: TableHolder, errors: ErrorBody = openai_error) -> None:
        self.app = app
        self.holder = holder
        self.errors = errors  # the envelope of the endpoint asked
        self._table: RoutingTable | None = None
        self._policy: EdgePolicy | None = None

    def policy(self) -> EdgePolicy:
        table = self.holder.current
        if table is not self._table or self._policy is None:
            self._policy = compile_edge(table.settings.server)
            self._table = table
        return self._policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        policy = self.policy()
        host = origin = rid = None
        length = chunked = False
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
            elif name == b"content-length":
                length = True
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"x-request-id":
                rid = value
        if host is None or not policy.host_allowed(host, scope.get("server")):
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            shown = "" if host is None else host.decode("latin-1")[:100]
            message = (
                f"Host '{shown}' is not served here (allowed: {policy.hosts_label}); "
                "add it to server.allowed_hosts to accept it"
                if host is not None
                else "the request has no Host header"
            )
            for m in _error(self.errors, scope, 421, message, "host_not_allowed", rid):
                await send(m)
            return
        if length and chunked:
            message = (
                "the request has both Content-Length and Transfer-Encoding: send only one "
                "(the connection is closed)"
            )
            for m in _error(self.errors, scope, 400, message, "invalid_framing", rid):
                await send(m)
            return
        if origin is None or kind != "http":
            await self.app(scope, receive, send)
            return
        text = origin.decode("latin-1")
        if not policy.origin_allowed(text):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and await self._preflight(scope, origin, send):
            return
        extra = [
            (b"access-control-allow-origin", origin),
            (b"vary", b"Origin"),
            (b"access-control-expose-headers", EXPOSE),
        ]

        async def send_cors(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_cors)

    async def _preflight(self, scope: Scope, origin: bytes, send: Send) -> bool:
        """Answer a CORS preflight (an OPTIONS naming Access-Control-Request-Method)."""
        method = asked = None
        for name, value in scope["headers"]:
            if name == b"access-control-request-method":
                method = value
            elif name == b"access-control-request-headers":
                asked = value.strip()
        if method is None:
            return False  # a plain OPTIONS: the endpoint answers it (with CORS headers)
        allow = DEFAULT_ALLOW_HEADERS
        if asked and len(asked) <= MAX_REQUEST_HEADERS and _TOKEN_LIST.fullmatch(asked):
            allow = asked
        headers = [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", allow),
            (b"access-control-max-age", MAX_AGE_S),
            (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return True
