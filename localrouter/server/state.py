"""What the running server holds: the table holder and the runtime state around it.

One :class:`Runtime` per app, created in ``create_app`` and opened/closed by the app's lifespan.
Runtime state is keyed by stable names (provider, client), never by table, so it survives swaps.

Every table swap goes through :meth:`Runtime.swap` (discovery's recompiles today, hot reload
tomorrow): it resolves the new table's secrets, swaps it in and calls :meth:`Runtime.reconcile`,
the one place runtime state follows a table — health settings and checks, circuit breakers (of
endpoints no longer configured: forgotten), discovery's provider list.

Runtime state also survives restarts: :meth:`Runtime.saved_state` gathers the limit counters,
breakers and health (on the event loop, where that state changes) and :meth:`Runtime.write_state`
writes them to ``state_dir/limits.sqlite3`` (in a worker thread); :meth:`Runtime.for_table`
reads them back, or raises :class:`~localrouter.errors.LimitStateError` (fail closed).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from localrouter.compiler.table import Provider, RoutingTable
from localrouter.errors import UpstreamError, UpstreamHTTPError, UpstreamProtocolError
from localrouter.generations import GenerationStore
from localrouter.mcp.servers import McpServers
from localrouter.providers.registry import adapter_for
from localrouter.routing.facts import NowFacts
from localrouter.runtime.breakers import breaker_key
from localrouter.runtime.catalog import Discovery
from localrouter.runtime.health import HealthMonitor
from localrouter.runtime.limits import Limiter
from localrouter.runtime.offline import state_path
from localrouter.runtime.persist import SavedState, read_state, write_state
from localrouter.runtime.response_store import ResponseStore
from localrouter.runtime.retry import RetryBudget
from localrouter.runtime.store import MemoryStore
from localrouter.server.auth import Authenticator
from localrouter.server.holder import TableHolder
from localrouter.server.observe import Observer

if TYPE_CHECKING:
    from localrouter.server.reload import ConfigSource
from localrouter.server.upstreams import Upstreams

log = logging.getLogger("localrouter.server")


@dataclass
class Runtime:
    holder: TableHolder
    upstreams: Upstreams
    generations: GenerationStore
    limit_store: MemoryStore
    limiter: Limiter
    observer: Observer
    health: HealthMonitor | None = None  # set by for_table; None only in hand-built runtimes
    retry_budget: RetryBudget = field(default_factory=lambda: RetryBudget(time.monotonic))
    rng: random.Random = field(default_factory=random.Random)
    # request and generation ids: unique, not secret (a generation is read by its own client
    # only); seeded from the OS once, so an id costs no system call
    ids: random.Random = field(default_factory=random.Random)
    auth: Authenticator = field(default_factory=Authenticator)
    discovery: Discovery | None = None
    config: ConfigSource | None = None  # what the table is compiled from (reloads, catalog)
    started: float = field(default_factory=time.time)
    loop: asyncio.AbstractEventLoop | None = None  # the serving loop, set when serving starts
    responses: ResponseStore | None = None  # stored responses (state_dir/responses)
    mcp: McpServers = field(default_factory=McpServers)  # upstream MCP servers, by name

    @classmethod
    def for_table(cls, table: RoutingTable) -> Runtime:
        state_dir = table.settings.state_dir
        store = GenerationStore(Path(state_dir) / "generations.sqlite3" if state_dir else None)
        upstreams = Upstreams()
        upstreams.reconcile(table)
        path = state_path(table)
        saved = read_state(path) if path is not None else None  # LimitStateError: fail closed
        store.open()  # GenerationStateError: refuse to start, as for the limits file
        limit_store = MemoryStore(path)
        if saved is not None and saved.counters is not None:
            limit_store.load(saved.latest_ms, saved.counters)
        limiter = Limiter(limit_store, time.time)
        rt = cls(TableHolder(table), upstreams, store, limit_store, limiter, Observer(table, store))
        if state_dir:
            kept = table.settings.server.responses
            rt.responses = ResponseStore(
                Path(state_dir) / "responses",
                retention_s=kept.retention_s,
                max_bytes=kept.max_bytes,
            )
            rt.responses.connect()  # ResponseStateError: refuse to start, as for the others
        rt.health = HealthMonitor.from_settings(
            table.settings.health, time.monotonic, probe=rt.probe, unchecked=rt.unchecked
        )
        rt.reconcile(table)
        if saved is not None:
            rt.restore(saved)
        return rt

    # -- table swaps -------------------------------------------------------------------------
    def swap(self, table: RoutingTable) -> bool:
        """Serve ``table`` from the next request on: resolve its secrets, swap it in, reconcile
        runtime state. The one path every swap takes. False when it is the table already served
        (state is reconciled all the same). Safe from a worker thread: the reconciliation, which
        starts and stops health-check tasks, is then handed to the serving loop."""
        self.upstreams.reconcile(table)
        swapped = self.holder.swap(table)
        loop = self.loop
        if loop is not None and not loop.is_closed() and _running_loop() is not loop:
            loop.call_soon_threadsafe(self.reconcile, table)
        else:
            self.reconcile(table)
        return swapped

    def reconcile(self, table: RoutingTable) -> None:
        """Make runtime state follow ``table``: health settings and checks (added, stopped,
        a provider whose secret is missing no longer probed), breakers of endpoints no longer
        configured forgotten, discovery's provider list. State of kept endpoints is kept."""
        if self.health is not None:
            self.health.configure_from(table.settings.health)
            self.health.reconcile(table.providers)  # retains the breakers of these endpoints
        if self.discovery is not None:
            self.discovery.reconcile(table.providers)
        self.observer.configure(table)
        self.mcp.reconcile(table)  # unchanged servers keep their sessions
        if self.responses is not None:
            kept = table.settings.server.responses
            self.responses.configure(retention_s=kept.retention_s, max_bytes=kept.max_bytes)
        self.upstreams.pool.start_draining()  # pools of removed or changed providers: closed

    # -- health checks -----------------------------------------------------------------------
    def unchecked(self, p: Provider) -> str | None:
        """Why provider ``p`` gets no health checks, or None: a mock answers locally, and a
        provider whose secret cannot be resolved is not probed (it would only fail)."""
        if p.type == "mock" or p.wire == "mock":
            return "not checked: a mock provider answers locally"
        why = self.upstreams.unusable(p.name)  # names the reference, never a value
        return None if why is None else f"not checked: {why}"

    async def probe(self, p: Provider) -> str | None:
        """One health check: list the provider's models. Only no connection, a timeout or a
        5xx is a failure; any other answer (a 401, a 404 from a server without a model list, a
        body that is not a model list) shows the server is up, and is returned as a note."""
        why = self.upstreams.unusable(p.name)
        if why is not None:  # its secret went missing after the check was scheduled
            raise UpstreamError(why, provider=p.name)
        try:
            await adapter_for(p.wire).list_models(
                self.upstreams.client(p), p, self.upstreams.key(p.name), self.upstreams.redactor
            )
        except UpstreamHTTPError as exc:
            if exc.status is None or exc.status >= 500:
                raise
            return f"answered HTTP {exc.status}"
        except UpstreamProtocolError:
            return "answered, but not with a model list"
        return None

    # -- state across restarts ---------------------------------------------------------------
    def restore(self, saved: SavedState) -> None:
        """Take back saved breakers and health for the endpoints configured now."""
        if self.health is None:
            return
        keys = [breaker_key(p) for p in self.holder.current.providers.values()]
        breakers = self.health.breakers.restore(saved.breakers or (), keys)
        health = self.health.restore(saved.endpoints or (), saved.latencies or ())
        if breakers or health:
            log.info("restored %d circuit breakers and %d health records", breakers, health)

    def saved_state(self) -> SavedState:
        """Everything to save, gathered now (on the event loop, where the state changes)."""
        latest, counters = self.limit_store.export()
        if self.health is None:
            return SavedState(latest, counters)
        endpoints, latencies = self.health.saved()
        breakers = self.health.breakers.saved()
        return SavedState(latest, counters, breakers, endpoints, latencies, time.time())

    def write_state(self, state: SavedState) -> None:
        """Write ``state`` to ``state_dir`` (blocking: run it in a worker thread)."""
        if self.limit_store.path is not None:
            write_state(self.limit_store.path, state)

    def live_limit_keys(self) -> set[tuple[str, str, str, int]]:
        t = self.holder.current
        keys = {p.key for c in t.clients.values() for p in c.limits}
        keys |= {p.key for s in t.strategies.values() for p in s.limits}
        keys |= {p.key for pr in t.providers.values() for p in pr.limits}
        return keys


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a worker thread, or before serving: no loop here
        return None


def now_facts() -> NowFacts:
    """``now`` for CEL: local hour and weekday, Unix seconds (one per second, kept)."""
    return _now_at(int(time.time()))


@functools.lru_cache(maxsize=2)
def _now_at(second: int) -> NowFacts:
    lt = time.localtime(second)
    return NowFacts(hour=lt.tm_hour, weekday=lt.tm_wday, unix=second)
