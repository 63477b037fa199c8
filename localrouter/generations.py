"""Generation records: what each request cost and how it was served, for ``/v1/generation``.

Kept in SQLite (WAL) at ``state_dir/generations.sqlite3`` for :data:`RETENTION_S` (7 days). The
request path only appends to an in-memory list; a background task writes batches in a worker
thread, and a final flush runs on shutdown. A record is readable the moment it is added.

The file and its ``-wal``/``-shm`` are 0600 in a 0700 directory (:mod:`localrouter.statefiles`).
:meth:`GenerationStore.open` runs when the app is created; a file SQLite cannot use raises
:class:`GenerationStateError`, which ``serve`` prints as one line naming the file and how to
recover (the same path as a corrupt ``limits.sqlite3``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from localrouter.errors import GenerationStateError
from localrouter.statefiles import make_private, private_sqlite

RETENTION_S = 7 * 86400
FLUSH_INTERVAL_S = 0.5


class GenerationStore:
    def __init__(self, path: Path | None, retention_s: float = RETENTION_S) -> None:
        self.path = path
        self.retention_s = retention_s
        self._pending: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def open(self) -> None:
        """Open (or create) the file; a second call does nothing. Raises
        :class:`GenerationStateError` when the file cannot be used."""
        if self.path is None or self._db is not None:
            return
        try:
            private_sqlite(self.path)  # 0600 before SQLite makes its -wal/-shm beside it
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise GenerationStateError(
                self.path, f"it cannot be opened ({exc})", kept_days=RETENTION_S // 86400
            ) from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes
            db.execute(
                "CREATE TABLE IF NOT EXISTS generations "
                "(id TEXT PRIMARY KEY, client TEXT NOT NULL, created REAL NOT NULL, record TEXT)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS generations_created ON generations(created)")
            db.execute(
                "DELETE FROM generations WHERE created < ?", (time.time() - self.retention_s,)
            )
            make_private(self.path)
        except (sqlite3.Error, OSError) as exc:
            db.close()
            raise GenerationStateError(
                self.path,
                f"it is not a usable database ({exc})",
                kept_days=RETENTION_S // 86400,
            ) from exc
        self._db = db

    def add(self, record: dict[str, Any]) -> None:
        self._pending[record["id"]] = record

    def _write(self, batch: list[dict[str, Any]]) -> None:
        if self._db is None or not batch:
            return
        rows = [(r["id"], r["client"], r["created"], orjson.dumps(r)) for r in batch]
        with self._lock:  # one transaction (one fsync at most) per batch, not one per record
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR REPLACE INTO generations VALUES (?, ?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    async def flush(self) -> None:
        if not self._pending:
            return
        batch = list(self._pending.values())
        await asyncio.to_thread(self._write, batch)
        for r in batch:
            self._pending.pop(r["id"], None)

    def flush_sync(self) -> None:
        batch = list(self._pending.values())
        self._write(batch)
        self._pending.clear()

    async def run_flusher(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            await self.flush()

    def _read(self, gen_id: str) -> dict[str, Any] | None:
        if self._db is None:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM generations WHERE id = ?", (gen_id,)
            ).fetchone()
        return orjson.loads(row[0]) if row else None

    async def get(self, gen_id: str, client: str) -> dict[str, Any] | None:
        """The record ``gen_id`` if it belongs to ``client`` (the caller's own only)."""
        record = self._pending.get(gen_id) or await asyncio.to_thread(self._read, gen_id)
        if record is None or record.get("client") != client:
            return None
        return record

    def close(self) -> None:
        self.flush_sync()
        if self._db is not None:
            self._db.close()
            self._db = None
