"""TableHolder: the one place the serving table lives, swapped in one assignment.

Requests read ``holder.current`` ONCE and keep that table for their whole life, so a request in
flight finishes on the table it started with. A failed reload leaves the current table serving
and records the failure for ``/health``.

The server never calls :meth:`TableHolder.swap` directly: :meth:`Runtime.swap
<localrouter.server.state.Runtime.swap>` does, between resolving the new table's secrets and
reconciling runtime state (health checks, breakers, discovery) with it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from localrouter.compiler.table import RoutingTable
from localrouter.diagnostics import Diagnostic


@dataclass(frozen=True)
class ReloadStatus:
    ok: bool
    sha256: str  # the sha of the config that was tried
    at: float  # unix time
    errors: tuple[Diagnostic, ...] = ()


class TableHolder:
    def __init__(self, table: RoutingTable) -> None:
        self._table = table
        self.generation = 1
        self.loaded_at = time.time()
        self.last_reload = ReloadStatus(True, table.sha256, self.loaded_at)
        self.failing_since: float | None = None  # the first failed reload of the current run

    @property
    def current(self) -> RoutingTable:
        return self._table

    def swap(self, table: RoutingTable) -> bool:
        """Serve ``table`` from the next request on. An identical table (same sha) is a no-op."""
        self.last_reload = ReloadStatus(True, table.sha256, time.time())
        self.failing_since = None
        if table.sha256 == self._table.sha256:
            return False
        self._table = table
        self.generation += 1
        self.loaded_at = self.last_reload.at
        return True

    def failed(self, sha256: str, errors: tuple[Diagnostic, ...]) -> None:
        """A reload failed: keep serving the current table, remember why."""
        self.last_reload = ReloadStatus(False, sha256, time.time(), errors)
        if self.failing_since is None:
            self.failing_since = self.last_reload.at
