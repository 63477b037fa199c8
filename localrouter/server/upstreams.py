"""Upstream connections: one pooled HTTP client per (provider, base_url), and resolved keys.

Clients are keyed by identity, not by table, so a reload that keeps a provider keeps its warm
connections; a provider whose settings change (timeout, base URL, headers, key) gets a new pool
from its next request on, and the pools of removed or changed providers are closed once the
requests using them are done (:mod:`localrouter.server.pools`). Secrets are resolved for each table
the server swaps in; a reference that cannot be resolved makes only that provider unusable (its
candidates are skipped with the reason) while the others keep working. Every value resolved goes
into one :class:`~localrouter.redaction.Redactor` (:attr:`Upstreams.redactor`), handed to each
call: an upstream that echoes any provider's key in its error text has it redacted.

Transport: httpx's API on aiohttp's connection pool (``httpx-aiohttp``) when installed — plain
httpx pooling was measured at 3–5 ms of CPU per request at concurrency 64 (the design notes'
"traps"); docs/performance.md has the gateway's own numbers.
"""

from __future__ import annotations

import http.cookiejar
import logging
import ssl
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from localrouter.compiler.table import Provider, RoutingTable, SecretValue
from localrouter.errors import SecretError
from localrouter.providers.http import UpstreamClient
from localrouter.providers.inflate import ACCEPT_ENCODING
from localrouter.redaction import SHAPES_ONLY, Redactor, secret_name
from localrouter.secrets import resolve
from localrouter.server.pools import ClientPool

log = logging.getLogger("localrouter.upstreams")

MAX_CONNECTIONS = 512
MAX_KEEPALIVE = 128
KEEPALIVE_S = 5.0  # an idle upstream connection is closed after this long (httpx's default)


def _session(ssl_context: ssl.SSLContext) -> aiohttp.ClientSession:
    """The aiohttp session under one provider's client (made on its first call, in the loop):
    its pool, httpx's TLS context (certifi's CAs, as before), no cookie jar (see
    :class:`_NoCookies`), no proxy settings from the environment."""
    connector = aiohttp.TCPConnector(
        limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S, ssl=ssl_context
    )
    return aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
    )


def _transport() -> AiohttpTransport:
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE)
    transport = AiohttpTransport(limits=limits, trust_env=False)
    context = transport.ssl_context  # the one its own session would have used
    transport.client = lambda: _session(context)
    return transport


class _NoCookies(http.cookiejar.CookieJar):
    """A cookie jar that keeps nothing. One client serves every user of a provider: a cookie
    one answer sets must not ride along on anyone's next request (and parsing them cost ~10 µs
    a call)."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def add_cookie_header(self, request: Any) -> None:
        return None


class Upstreams:
    def __init__(self, *, use_aiohttp: bool = True) -> None:
        self.pool = ClientPool(self._build)
        self._keys: dict[str, str | None] = {}
        self._headers: dict[str, dict[str, str]] = {}
        self._key_errors: dict[str, str] = {}
        self.redactor = SHAPES_ONLY  # every secret resolved for the current table, by value
        self._use_aiohttp = use_aiohttp

    def reconcile(self, table: RoutingTable) -> None:
        """Resolve the secrets of ``table``'s providers (called before it is swapped in) and
        retire the clients of providers it removed or changed."""
        self.pool.reconcile(table.providers.values())
        keys: dict[str, str | None] = {}
        headers: dict[str, dict[str, str]] = {}
        errors: dict[str, str] = {}
        state_dir = table.settings.get("state_dir")
        for name, p in table.providers.items():
            try:
                keys[name] = (
                    resolve(p.api_key, state_dir=state_dir) if p.api_key is not None else None
                )
                headers[name] = {
                    h: resolve(v, state_dir=state_dir)
                    for h, v in p.headers.items()
                    if isinstance(v, SecretValue)
                }
            except SecretError as exc:
                errors[name] = str(exc)
                log.warning("provider %s unusable: %s", name, exc)
        self._keys, self._headers, self._key_errors = keys, headers, errors
        literal = [  # configured in clear under a name that says it is a secret
            v
            for p in table.providers.values()
            for h, v in p.headers.items()
            if isinstance(v, str) and secret_name(h)
        ]
        resolved = [*keys.values(), *(v for h in headers.values() for v in h.values())]
        self.redactor = Redactor([*resolved, *literal])

    def unusable(self, provider: str) -> str | None:
        """Why a provider cannot be called now (a missing secret), or None."""
        return self._key_errors.get(provider)

    def key(self, provider: str) -> str | None:
        return self._keys.get(provider)

    def secret_headers(self, provider: str) -> dict[str, str]:
        return self._headers.get(provider, {})

    def client(self, provider: Provider) -> httpx.AsyncClient:
        return self.pool.get(provider)

    def _build(self, provider: Provider) -> httpx.AsyncClient:
        timeout = httpx.Timeout(
            connect=provider.connect_s, read=provider.read_s, write=60.0, pool=30.0
        )
        transport = _transport() if self._use_aiohttp else None
        limits = httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE
        )
        options: dict[str, Any] = {
            "timeout": timeout,
            "limits": limits,
            "trust_env": False,
            "cookies": _NoCookies(),
            # only what the httpx path inflates in bounded steps (docs/providers.md, size caps)
            "headers": {"accept-encoding": ACCEPT_ENCODING},
        }
        if transport is not None:
            return UpstreamClient(transport=transport, **options)
        return httpx.AsyncClient(**options)

    async def aclose(self) -> None:
        await self.pool.aclose()
