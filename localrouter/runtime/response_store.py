"""Stored responses: what ``POST /v1/responses`` keeps with ``store`` (the default), so that
``previous_response_id`` can continue a conversation and ``GET``/``DELETE /v1/responses/{id}``
can find it again.

One SQLite database (WAL) at ``state_dir/responses/responses.sqlite3`` (the directory 0700, the
file and its ``-wal``/``-shm`` 0600: :mod:`localrouter.statefiles`), a row a response: its id
(``resp_`` and 48 lowercase hex characters, :func:`new_response_id`; anything else is never looked
up, :func:`valid_id`), its owner (the client's name), ``created_at``, its size and the record
(:func:`encode`: the response as answered and the whole conversation's input items). A client
asking for another client's id gets the same ``None`` as for a missing one.

:meth:`ResponseStore.put` is synchronous and never touches the disk: the record is visible to
:meth:`~ResponseStore.get` at once, from memory, until the writer task has written it — with the
others that came in the last :data:`LINGER_S` — in one transaction in a worker thread
(``synchronous=NORMAL``: a crash of LocalRouter loses nothing committed, a crash of the machine
may lose the last moments' responses). At most :data:`MAX_PENDING` records wait to be written;
when the disk falls that far behind, a new one is not stored (a warning), so memory stays
bounded. Reads, deletes and sweeps run in worker threads too: the event loop never waits on the
disk. A row a response costs ~16 µs of CPU to write (a file a response cost 0.2–0.4 ms:
docs/performance.md).

Bounds:

- retention (``server.responses.retention``, 30 days): an older record is never returned, even
  before the hourly sweep (and :meth:`~ResponseStore.open`) deletes it;
- total size (``server.responses.max_mb``, 512 MiB): the sum of the records' sizes; past it the
  oldest records are deleted first;
- one record: at most ``max_bytes / 8``, and never more than 16 MiB (:attr:`max_record_bytes`).
  A larger one is not stored (a warning is logged; the client's request still succeeds).

A row that does not decode to a record of its id is skipped with a warning (``get`` answers
``None``); it goes when it expires. A database SQLite cannot use raises
:class:`~localrouter.errors.ResponseStateError` at :meth:`~ResponseStore.open` (``serve``
refuses to start, naming the file and how to recover). :meth:`~ResponseStore.configure` takes a
reload's new settings; :meth:`~ResponseStore.close` writes what is pending and stops the sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson

from localrouter.errors import ResponseStateError
from localrouter.runtime.response_record import (
    StoredResponse,
    decode,
    encode,
    new_response_id,
    valid_id,
)
from localrouter.statefiles import make_private, private_sqlite

__all__ = [
    "FILE_NAME",
    "ResponseStore",
    "StoredResponse",
    "decode",
    "encode",
    "new_response_id",
    "valid_id",
]

log = logging.getLogger("localrouter.responses")

FILE_NAME = "responses.sqlite3"
MIB = 1024 * 1024
RECORD_CAP = 16 * MIB
SWEEP_S = 3600.0
LINGER_S = 0.05  # records put within this long go to disk together
MAX_PENDING = 4096  # records held in memory, not yet written: past it a new one is not stored
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY, owner TEXT NOT NULL, "
    "created_at REAL NOT NULL, size INTEGER NOT NULL, record BLOB NOT NULL)"
)


class ResponseStore:
    """The stored responses under ``root`` (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        *,
        retention_s: float,
        max_bytes: int,
        clock: Callable[[], float] = time.time,
        sweep_s: float = SWEEP_S,
    ) -> None:
        self.root = root
        self.path = root / FILE_NAME
        self.retention_s = retention_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._sweep_s = sweep_s
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one statement at a time on the one connection
        self._total = 0  # the sum of the stored records' sizes
        self._pending: dict[str, StoredResponse] = {}
        self._dropped = 0  # records not stored because too many waited to be written
        self._writing: set[str] = set()  # the ids of the transaction under way
        self._undo: set[str] = set()  # of those, the ones deleted meanwhile
        self._wake = asyncio.Event()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def max_record_bytes(self) -> int:
        """The largest record stored: an eighth of ``max_bytes``, at most 16 MiB."""
        return min(self.max_bytes // 8, RECORD_CAP)

    @property
    def total_bytes(self) -> int:
        """The sum of the written records' sizes."""
        return self._total

    def configure(self, *, retention_s: float, max_bytes: int) -> None:
        """A reload's settings: a shorter retention hides older records at once, a smaller
        ``max_bytes`` deletes the oldest at the writer's next turn."""
        self.retention_s = retention_s
        self.max_bytes = max_bytes
        self._wake.set()

    async def open(self) -> None:
        """Open (or create) the database unless :meth:`connect` did, delete what expired or is
        over the bound, then start the writer and the hourly sweep. Raises
        :class:`ResponseStateError` when the file cannot be used."""
        if self._db is None:
            await asyncio.to_thread(self.connect)
        await self.sweep()
        await self._evict()
        self._writer = asyncio.create_task(self._write_loop(), name="response-store-writer")
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="response-store-sweep")

    async def close(self) -> None:
        """Write every pending record, then stop the writer and the sweep."""
        self._closing = True
        self._wake.set()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._writer is not None:
            await self._writer
        self._writer = self._sweeper = None
        if self._db is not None:
            with self._lock:
                self._db.close()
            self._db = None

    def put(self, record: StoredResponse) -> None:
        """Keep ``record``: visible to :meth:`get` now, written soon by the writer task."""
        if not valid_id(record.id):
            raise ValueError("a stored response's id must come from new_response_id()")
        if self._closing:
            log.warning("response %s not stored: the store is closed", record.id)
            return
        if len(self._pending) >= MAX_PENDING:  # the disk cannot keep up: memory stays bounded
            self._dropped += 1
            if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                log.warning(
                    "response %s not stored: %d responses wait to be written (%d not stored)",
                    record.id,
                    len(self._pending),
                    self._dropped,
                )
            return
        self._pending[record.id] = record
        self._wake.set()

    async def get(self, response_id: str, owner: str) -> StoredResponse | None:
        """The record, None if it is missing, expired, another owner's or unreadable."""
        if not valid_id(response_id):
            return None
        cutoff = self._clock() - self.retention_s
        pending = self._pending.get(response_id)
        if pending is not None:
            return pending if pending.owner == owner and pending.created_at >= cutoff else None
        record = await asyncio.to_thread(self._read, response_id, owner, cutoff)
        if record is None or record.owner != owner or record.created_at < cutoff:
            return None
        return record

    async def delete(self, response_id: str, owner: str) -> bool:
        """Remove the caller's own record; False if there was none to remove."""
        if not valid_id(response_id):
            return False
        cutoff = self._clock() - self.retention_s
        pending = self._pending.get(response_id)
        if pending is not None:
            if pending.owner != owner or pending.created_at < cutoff:
                return False
            del self._pending[response_id]
            if response_id in self._writing:  # its write is under way: deleted once it ends
                self._undo.add(response_id)
            return True
        if await asyncio.to_thread(self._read, response_id, owner, cutoff) is None:
            return False
        self._total -= await asyncio.to_thread(self._delete_ids, [response_id])
        return True

    async def sweep(self) -> int:
        """Delete the expired records; how many were deleted."""
        cutoff = self._clock() - self.retention_s
        rows = await asyncio.to_thread(self._expired, cutoff)
        self._total -= sum(size for _, size in rows)
        return len(rows)

    # -- on the loop ---------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._closing:  # the others of the moment go in the same transaction
                await asyncio.sleep(LINGER_S)
            while self._pending:
                batch = list(self._pending.items())
                self._writing = {rid for rid, _ in batch}
                written = await asyncio.to_thread(
                    self._write, [r for _, r in batch], self.max_record_bytes
                )
                self._total += written
                for rid, record in batch:
                    if self._pending.get(rid) is record:
                        del self._pending[rid]
                undo, self._undo = self._undo, set()
                if undo:  # deleted while their write was under way
                    self._total -= await asyncio.to_thread(self._delete_ids, undo)
                self._writing = set()  # the transaction and its undoing are over
            await self._evict()
            if self._closing and not self._pending:
                return

    async def _evict(self) -> None:
        if self._total <= self.max_bytes:
            return
        removed, freed = await asyncio.to_thread(self._oldest_over, self._total - self.max_bytes)
        self._total -= freed
        if removed:
            log.info("removed %d stored responses over the size bound", removed)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_s)
            await self.sweep()

    # -- in worker threads ---------------------------------------------------------------------

    def connect(self) -> None:
        """Open (or create) the database now (blocking: at start-up, or in a worker thread);
        :class:`ResponseStateError` when it cannot be used."""
        try:
            private_sqlite(self.path)  # 0600 before SQLite makes its -wal/-shm beside it
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise ResponseStateError(self.path, f"it cannot be opened ({exc})") from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            db.execute("CREATE INDEX IF NOT EXISTS responses_created ON responses(created_at)")
            self._total = db.execute("SELECT COALESCE(SUM(size), 0) FROM responses").fetchone()[0]
            make_private(self.path)
        except (sqlite3.Error, OSError) as exc:
            db.close()
            raise ResponseStateError(self.path, f"it is not a usable database ({exc})") from exc
        self._db = db

    def _delete_ids(self, ids: Iterable[str]) -> int:
        """Delete these records; the size they freed."""
        if self._db is None:
            return 0
        freed = 0
        with self._lock:
            for rid in ids:
                row = self._db.execute("SELECT size FROM responses WHERE id = ?", (rid,)).fetchone()
                if row is not None:
                    self._db.execute("DELETE FROM responses WHERE id = ?", (rid,))
                    freed += int(row[0])
        return freed

    def _write(self, records: Iterable[StoredResponse], limit: int) -> int:
        """Insert ``records`` in one transaction; the size they add."""
        rows: list[tuple[str, str, float, int, bytes]] = []
        for record in records:
            try:
                data = encode(record)
            except orjson.JSONEncodeError as e:
                log.warning("response %s not stored: %s", record.id, e)
                continue
            if len(data) > limit:
                log.warning(
                    "response %s not stored: %d bytes, over the %d bytes a stored response "
                    "may take",
                    record.id,
                    len(data),
                    limit,
                )
                continue
            rows.append((record.id, record.owner, record.created_at, len(data), data))
        if self._db is None or not rows:
            return 0
        try:
            with self._lock:
                self._db.execute("BEGIN")
                try:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)", rows
                    )
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        except sqlite3.Error as e:
            log.warning("%d responses not stored: %s", len(rows), e)
            return 0
        return sum(row[3] for row in rows)

    def _read(self, rid: str, owner: str, cutoff: float) -> StoredResponse | None:
        if self._db is None:
            return None
        try:
            with self._lock:
                row = self._db.execute(
                    "SELECT record FROM responses WHERE id = ? AND owner = ? AND created_at >= ?",
                    (rid, owner, cutoff),
                ).fetchone()
        except sqlite3.Error as e:
            log.warning("stored response %s unreadable: %s", rid, e)
            return None
        if row is None:
            return None
        record = decode(row[0], rid)
        if record is None:
            log.warning("stored response %s skipped: not a readable record", rid)
        return record

    def _expired(self, cutoff: float) -> list[tuple[str, int]]:
        if self._db is None:
            return []
        with self._lock:
            rows = self._db.execute(
                "SELECT id, size FROM responses WHERE created_at < ?", (cutoff,)
            ).fetchall()
            if rows:
                self._db.execute("DELETE FROM responses WHERE created_at < ?", (cutoff,))
        return [(str(r[0]), int(r[1])) for r in rows]

    def _oldest_over(self, excess: int) -> tuple[int, int]:
        """Delete the oldest records until ``excess`` bytes are freed: (how many, bytes)."""
        if self._db is None:
            return 0, 0
        victims: list[str] = []
        freed = 0
        with self._lock:
            for rid, size in self._db.execute(
                "SELECT id, size FROM responses ORDER BY created_at, id"
            ):
                if freed >= excess:
                    break
                victims.append(rid)
                freed += size
            self._db.executemany("DELETE FROM responses WHERE id = ?", [(v,) for v in victims])
        return len(victims), freed
