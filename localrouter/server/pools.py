"""The upstream transports (:class:`~localrouter.providers.transport.Transport`), one per provider
*as configured*, and the closing of old ones.

A transport (a "client" below) is built from a provider's connection settings (its timeouts, base
URL; the headers and key it sends are per request), so it is keyed by everything about the
provider that reaches the wire (:func:`client_key`): a reload that keeps a provider as it was keeps
its warm connections, and one that changes anything of it (``timeout``, ``base_url``, ``headers``,
``api_key``, ``type``) gets a new client from its next request on.

A client the new table no longer uses (its provider removed or changed) is *retired*, not closed
at once: a request that began on the old table may still be using it, and may still ask for it
(a retry, the next candidate). :meth:`ClientPool.close_retired` closes each retired client once
no connection of its pool is in use and none was handed out for :data:`QUIET_S`, or after
:data:`GRACE_S` whatever it is doing.

Thread safety: :meth:`ClientPool.reconcile` may run in a worker thread (a table compiled off the
event loop is swapped from there); :meth:`ClientPool.get` and the closing run on the loop. The
per-request path is one dict lookup by the provider object's identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from localrouter.compiler.table import Provider
from localrouter.providers.transport import Transport

log = logging.getLogger("localrouter.upstreams")

GRACE_S = 600.0  # a retired client is closed after this long even if a stream still uses it
QUIET_S = 2.0  # ... or once idle and not handed out for this long
CHECK_S = 0.25  # how often retired clients are looked at

ClientKey = tuple[Any, ...]


def client_key(p: Provider) -> ClientKey:
    """Everything of a provider that reaches its connections or requests' wire."""
    headers = tuple(sorted(p.headers.items(), key=lambda kv: kv[0]))
    return (p.name, p.type, p.wire, p.base_url, p.connect_s, p.read_s, p.api_key, headers)


@dataclass
class _Retired:
    client: Transport
    since: float  # monotonic: when it left the table
    handed_out: float  # monotonic: the last time a request asked for it


class ClientPool:
    def __init__(self, build: Callable[[Provider], Transport]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._keys: frozenset[ClientKey] = frozenset()  # those of the table being served
        self._live: dict[ClientKey, Transport] = {}
        self._retired: dict[ClientKey, _Retired] = {}
        # id(provider) → (provider, client) for the served table's providers: the request path
        self._fast: dict[int, tuple[Provider, Transport]] = {}
        self.closed = 0  # retired clients closed so far (for tests and /health)
        self._drainer: asyncio.Task[None] | None = None

    def get(self, p: Provider) -> Transport:
        hit = self._fast.get(id(p))
        if hit is not None and hit[0] is p:
            return hit[1]
        key = client_key(p)
        with self._lock:
            client = self._live.get(key)
            if client is None and key in self._keys:
                client = self._live[key] = self._build(p)
            if client is not None:
                self._fast[id(p)] = (p, client)
                return client
            # a request begun on an older table: the client retired with it (or a new one
            # that retires at once, when that one is closed already)
            old = self._retired.get(key)
            now = time.monotonic()
            if old is None:
                old = self._retired[key] = _Retired(self._build(p), now, now)
            old.handed_out = now
            return old.client

    def reconcile(self, providers: Iterable[Provider]) -> int:
        """Follow a new table's ``providers``: clients of providers it no longer has as they were
        are retired, and a retired one whose settings came back is live again. The number
        retired."""
        keys = frozenset(client_key(p) for p in providers)
        now = time.monotonic()
        with self._lock:
            gone = [k for k in self._live if k not in keys]
            for k in gone:
                self._retired[k] = _Retired(self._live.pop(k), now, now)
            for k in [k for k in self._retired if k in keys]:
                self._live[k] = self._retired.pop(k).client
            self._keys = keys
            self._fast = {}
        if gone:
            log.info("%d upstream client(s) retired: provider removed or changed", len(gone))
        return len(gone)

    @property
    def retired(self) -> int:
        return len(self._retired)

    async def close_retired(self, *, grace_s: float | None = None) -> int:
        """Close the retired clients that are done (idle and quiet) or past their grace; the
        number closed."""
        grace = GRACE_S if grace_s is None else grace_s
        now = time.monotonic()
        done: list[Transport] = []
        with self._lock:
            for key, r in list(self._retired.items()):
                busy = r.client.in_use()
                quiet = now - r.handed_out >= QUIET_S and busy == 0
                if quiet or now - r.since >= grace:
                    done.append(self._retired.pop(key).client)
        for client in done:
            await client.aclose()
        self.closed += len(done)
        return len(done)

    def start_draining(self) -> None:
        """On the serving loop: close retired clients as they finish (a task that ends when
        none is left). Without a running loop (start-up, a worker thread) nothing happens."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._retired and (self._drainer is None or self._drainer.done()):
            self._drainer = loop.create_task(self._drain())

    async def _drain(self) -> None:
        while self._retired:
            await asyncio.sleep(CHECK_S)
            await self.close_retired()

    async def aclose(self) -> None:
        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
        with self._lock:
            clients = [*self._live.values(), *(r.client for r in self._retired.values())]
            self._live.clear()
            self._retired.clear()
            self._fast = {}
        for client in clients:
            await client.aclose()
