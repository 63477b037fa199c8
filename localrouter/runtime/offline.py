"""Runtime state without a server: what ``explain`` judges candidates with.

:func:`load_saved` reads the state a server saved in ``state_dir`` (read-only: nothing is ever
written or created) into the same objects the server uses — :class:`Breakers` and
:class:`HealthMonitor` (which never runs a check here) and a :class:`Limiter` over an in-memory
copy of the counters — so :meth:`SavedRuntime.view` gives the router the reasons and latencies
the server would: ``circuit open``, ``unhealthy``, ``rate-limited (…)`` (:func:`caps_skip`, the
wording the router uses for a capped provider) and the observed p50 the latency ORDER keys read.
A limit checked here reserves only in that copy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from localrouter.compiler.table import Provider, RoutingTable
from localrouter.routing.route import RuntimeView
from localrouter.runtime.breakers import breaker_key
from localrouter.runtime.caps import caps_skip
from localrouter.runtime.health import HealthMonitor
from localrouter.runtime.limits import Limiter
from localrouter.runtime.persist import read_state
from localrouter.runtime.store import MemoryStore

STATE_FILE = "limits.sqlite3"


def state_path(table: RoutingTable) -> Path | None:
    """Where the runtime state of ``table``'s config lives (None: nowhere, memory only)."""
    state_dir = table.settings.state_dir
    return Path(state_dir) / STATE_FILE if state_dir else None


async def _no_checks(p: Provider) -> str | None:
    raise RuntimeError("health checks never run offline")


@dataclass(frozen=True)
class SavedRuntime:
    """The saved state of one config, loaded for judging (see the module doc)."""

    path: Path
    saved_at: float | None  # wall clock of the snapshot; None for a file of counters only
    health: HealthMonitor
    limiter: Limiter

    def view(self, table: RoutingTable, estimated_tokens: int, output_tokens: int) -> RuntimeView:
        return self.health.view(
            also=caps_skip(self.limiter, table, estimated_tokens, output_tokens)
        )


def load_saved(table: RoutingTable, path: Path) -> SavedRuntime | None:
    """The state saved at ``path`` for ``table``'s providers and limits; None when there is no
    file. Raises :class:`~localrouter.errors.LimitStateError` when it cannot be used."""
    saved = read_state(path, read_only=True)
    if saved is None:
        return None
    store = MemoryStore()  # no path: never written
    store.load(saved.latest_ms, saved.counters or ())
    health = HealthMonitor.from_settings(
        table.settings.health,
        time.monotonic,
        probe=_no_checks,
        should_check=lambda p: p.type != "mock" and p.wire != "mock",
    )
    health.reconcile(table.providers)
    keys = [breaker_key(p) for p in table.providers.values()]
    health.breakers.restore(saved.breakers or (), keys)
    health.restore(saved.endpoints or (), saved.latencies or ())
    return SavedRuntime(path, saved.saved_at, health, Limiter(store, time.time))
