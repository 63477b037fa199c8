"""Upstream connections: one pooled HTTP client per (provider, base_url), and resolved keys.

Clients are keyed by identity, not by table, so a reload that keeps a provider keeps its warm
connections; a provider whose settings change (timeout, base URL, headers, key) gets a new pool
from its next request on, and the pools of removed or changed providers are closed once the
requests using them are done (:mod:`localrouter.server.pools`). Secrets are resolved for each table
the server swaps in; a reference that cannot be resolved makes only that provider unusable (its
candidates are skipped with the reason) while the others keep working. Every value resolved goes
into one :class:`~localrouter.redaction.Redactor` (:attr:`Upstreams.redactor`), handed to each
call: an upstream that echoes any provider's key in its error text has it redacted.

Transport: one :class:`~localrouter.providers.transport.HttpTransport` (aiohttp's pool) per
provider as configured, for every call — plain httpx pooling was measured at 3–5 ms of CPU per
request at concurrency 64 (the design notes' "traps"); docs/performance.md has the gateway's own
numbers.
"""

from __future__ import annotations

import logging

from localrouter.compiler.table import Provider, RoutingTable, SecretValue
from localrouter.errors import SecretError
from localrouter.providers.transport import HttpTransport, Transport
from localrouter.redaction import SHAPES_ONLY, Redactor, secret_name
from localrouter.secrets import resolve
from localrouter.server.pools import ClientPool

log = logging.getLogger("localrouter.upstreams")


class Upstreams:
    def __init__(self) -> None:
        self.pool = ClientPool(self._build)
        self._keys: dict[str, str | None] = {}
        self._headers: dict[str, dict[str, str]] = {}
        self._key_errors: dict[str, str] = {}
        self.redactor = SHAPES_ONLY  # every secret resolved for the current table, by value

    def reconcile(self, table: RoutingTable) -> None:
        """Resolve the secrets of ``table``'s providers (called before it is swapped in) and
        retire the clients of providers it removed or changed."""
        self.pool.reconcile(table.providers.values())
        keys: dict[str, str | None] = {}
        headers: dict[str, dict[str, str]] = {}
        errors: dict[str, str] = {}
        state_dir = table.settings.state_dir
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

    def client(self, provider: Provider) -> Transport:
        """The transport of ``provider`` as configured (pooled: see :mod:`.pools`)."""
        return self.pool.get(provider)

    @staticmethod
    def _build(provider: Provider) -> Transport:
        return HttpTransport(connect_s=provider.connect_s, read_s=provider.read_s)

    async def aclose(self) -> None:
        await self.pool.aclose()
