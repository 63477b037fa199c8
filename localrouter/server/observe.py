"""Where a finished request is recorded: the access log, the metrics and the generation store.

:meth:`Observer.record` runs on the event loop once per request and only appends: the access-log
line goes to a queue its writer thread drains (``logs/writer.py``), the metrics update a few
in-memory buckets, the generation record waits for the store's next batch. At start the metrics
of the last 24 hours are read back from the access log (in a worker thread), so a restart does not
empty ``/v1/usage``; on shutdown everything queued is written before the process exits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from localrouter.compiler.table import RoutingTable
from localrouter.generations import GenerationStore
from localrouter.logs.reader import read_range
from localrouter.logs.record import table_reads
from localrouter.logs.usage import LogUsage
from localrouter.logs.writer import AccessLog
from localrouter.runtime.metrics import Metrics

log = logging.getLogger("localrouter.server")
WARM_S = 86400.0
WARM_SLICE = 1000  # lines added to the metrics between two turns of the event loop


class Observer:
    def __init__(self, table: RoutingTable, generations: GenerationStore) -> None:
        state_dir = table.settings.state_dir
        settings = table.settings.logging
        self.directory = Path(state_dir) / "logs" if state_dir else None
        self.access_log = (
            AccessLog(
                self.directory,
                retention_days=settings.retention_days,
                enabled=settings.access_log,
            )
            if self.directory is not None
            else None
        )
        self.log_usage = LogUsage(self.directory) if self.directory is not None else None
        self.metrics = Metrics()
        self.generations = generations
        self.started = time.time()
        self._reads: dict[str, tuple[bool, bool]] = {}

    def configure(self, table: RoutingTable) -> None:
        """Follow a swapped table's ``logging`` settings (the files' place cannot change):
        ``level`` for LocalRouter's own log lines, the access log's switch and retention."""
        settings = table.settings.logging
        logging.getLogger("localrouter").setLevel(settings.level_no)
        if self.access_log is not None:
            self.access_log.retention_days = settings.retention_days
            self.access_log.enabled = settings.access_log

    def reads(self, table: RoutingTable) -> tuple[bool, bool]:
        """Whether ``table``'s expressions read request headers / metadata (cached per sha)."""
        found = self._reads.get(table.sha256)
        if found is None:
            if len(self._reads) > 16:
                self._reads.clear()
            found = self._reads[table.sha256] = table_reads(table)
        return found

    def record(self, line: dict[str, Any], generation: dict[str, Any] | None = None) -> None:
        """Record one finished request (on the event loop: appends only)."""
        if generation is not None:
            self.generations.add(generation)
        self.metrics.add(line)
        if self.access_log is not None:
            self.access_log.write(line)

    def start(self) -> None:
        """Open the generation store and start the log writer (before serving)."""
        self.generations.open()
        if self.access_log is not None:
            self.access_log.start()

    async def warm(self) -> None:
        """Read the last 24 h of the access log back into the metrics: in a worker thread, then
        added on the loop in slices, so neither start-up nor requests wait for it (a day of
        100,000 lines takes ~1.5 s of CPU). Lines answered since start are already counted."""
        if self.access_log is None:
            return
        access_log, until = self.access_log, self.started

        def read_back() -> list[dict[str, Any]]:
            access_log.flush()  # the writer's start-up maintenance (gzip, retention) is done
            return list(read_range(access_log.directory, until - WARM_S, until))

        try:
            lines = await asyncio.to_thread(read_back)
        except OSError as exc:  # the metrics start empty; serving goes on
            log.error("could not read the access log back into the metrics: %s", exc)
            return
        n = 0
        for i in range(0, len(lines), WARM_SLICE):  # the rings change on the loop only
            n += self.metrics.load(lines[i : i + WARM_SLICE])
            await asyncio.sleep(0)
        if n:
            log.info("metrics: %d requests of the last 24 h read back from the access log", n)

    def close(self) -> None:
        self.generations.close()
        if self.access_log is not None:
            self.access_log.close()
