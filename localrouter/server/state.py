"""What the running server holds: the table holder and the runtime state around it.

One :class:`Runtime` per app, created in ``create_app`` and opened/closed by the app's lifespan.
Runtime state is keyed by stable names (provider, client), never by table, so it survives swaps.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from localrouter.compiler.table import Provider, RoutingTable
from localrouter.errors import UpstreamError
from localrouter.generations import GenerationStore
from localrouter.providers.registry import adapter_for
from localrouter.routing.facts import NowFacts
from localrouter.runtime.breakers import Breakers
from localrouter.runtime.catalog import Discovery
from localrouter.runtime.health import HealthMonitor
from localrouter.runtime.limits import Limiter
from localrouter.runtime.retry import RetryBudget
from localrouter.runtime.store import MemoryStore
from localrouter.server.auth import Authenticator
from localrouter.server.holder import TableHolder
from localrouter.server.upstreams import Upstreams


@dataclass
class Runtime:
    holder: TableHolder
    upstreams: Upstreams
    generations: GenerationStore
    limit_store: MemoryStore
    limiter: Limiter
    health: HealthMonitor | None = None  # set by for_table; None only in hand-built runtimes
    retry_budget: RetryBudget = field(default_factory=lambda: RetryBudget(time.monotonic))
    rng: random.Random = field(default_factory=random.Random)
    auth: Authenticator = field(default_factory=Authenticator)
    discovery: Discovery | None = None
    started: float = field(default_factory=time.time)

    @classmethod
    def for_table(cls, table: RoutingTable, *, use_aiohttp: bool = True) -> Runtime:
        state_dir = table.settings.get("state_dir")
        store = GenerationStore(Path(state_dir) / "generations.sqlite3" if state_dir else None)
        upstreams = Upstreams(use_aiohttp=use_aiohttp)
        upstreams.reconcile(table)
        limit_store = MemoryStore(Path(state_dir) / "limits.sqlite3" if state_dir else None)
        limit_store.restore()  # LimitStateError: a corrupt state file fails closed
        rt = cls(TableHolder(table), upstreams, store, limit_store, Limiter(limit_store, time.time))
        h = table.settings["health"]

        async def probe(p: Provider) -> None:
            why = upstreams.unusable(p.name)
            if why is not None:
                raise UpstreamError(why, provider=p.name)
            await adapter_for(p.wire).list_models(upstreams.client(p), p, upstreams.key(p.name))

        rt.health = HealthMonitor(
            time.monotonic,
            h["interval_s"],
            h["timeout_s"],
            h["failure_threshold"],
            h["recovery_s"],
            Breakers(time.monotonic),
            probe=probe,
            should_check=lambda p: p.type != "mock",
        )
        return rt

    def live_limit_keys(self) -> set[tuple[str, str, str, int]]:
        t = self.holder.current
        keys = {p.key for c in t.clients.values() for p in c.limits}
        keys |= {p.key for s in t.strategies.values() for p in s.limits}
        keys |= {p.key for pr in t.providers.values() for p in pr.limits}
        return keys


def now_facts() -> NowFacts:
    t = time.time()
    lt = time.localtime(t)
    return NowFacts(hour=lt.tm_hour, weekday=lt.tm_wday, unix=int(t))
