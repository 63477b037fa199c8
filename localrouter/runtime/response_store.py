"""Stored responses: what ``POST /v1/responses`` keeps with ``store`` (the default), so that
``previous_response_id`` can continue a conversation and ``GET``/``DELETE /v1/responses/{id}``
can find it again.

One JSON file per response in ``state_dir/responses`` (the directory 0700, each file 0600), named
by its id: ``resp_`` and 48 lowercase hex characters (:func:`new_response_id`). Anything else is
never looked up on disk (:func:`valid_id`), so an id cannot name another path. The file holds the
owner (the client's name), ``created_at``, the response as answered and the whole conversation's
input items; a client asking for another client's id gets the same ``None`` as for a missing one.

:meth:`ResponseStore.put` is synchronous and never touches the disk: the record is visible to
:meth:`~ResponseStore.get` at once, from memory, until one writer task has written it, with up to
63 others, in one worker-thread hop (a temporary file, then a rename: a file is whole or absent,
never half written). Files are not fsynced: a stored response is a convenience, not a config,
and a file a second costs the disk more than it protects — a crash of LocalRouter loses nothing
written, a crash of the machine may lose the last seconds' responses (read as absent). At most
4096 records wait to be written (:data:`MAX_PENDING`); when the disk falls that far behind, a new
one is not stored (a warning), so memory stays bounded. Reads, deletes and sweeps run in worker
threads too: the event loop never waits on the disk.

In memory there is only an index (id → created_at, size) and the records not yet written. At
:meth:`~ResponseStore.open` the index is rebuilt from a listing of the directory, not by reading
the files: each file's modification time is set to its ``created_at`` when written. Bounds:

- retention (``server.responses.retention``, 30 days): an older record is never returned, even
  before the hourly sweep (and :meth:`~ResponseStore.open`) removes its file;
- total size (``server.responses.max_mb``, 512 MiB): each file counts as its size rounded up to
  4 KiB (a file system block), which also bounds the index to ``max_bytes / 4096`` entries; past
  it the oldest records are removed first;
- one record: at most ``max_bytes / 8``, and never more than 16 MiB (:attr:`max_record_bytes`).
  A larger one is not stored (a warning is logged; the client's request still succeeds) and a
  larger file found on disk is never read.

A file that cannot be read or does not decode to a record is skipped with a warning (``get`` then
answers ``None``); it goes when it expires. Temporary files left by a crash are removed at open.
:meth:`~ResponseStore.configure` takes a reload's new settings; :meth:`~ResponseStore.close`
writes what is pending and stops the sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from localrouter.statefiles import DIR_MODE, FILE_MODE, private_dir

__all__ = ["ResponseStore", "StoredResponse", "new_response_id", "valid_id"]

log = logging.getLogger("localrouter.responses")

FORMAT = "localrouter-response/1"
MIB = 1024 * 1024
RECORD_CAP = 16 * MIB
BLOCK = 4096
SWEEP_S = 3600.0
WRITE_BATCH = 64  # records written in one worker-thread hop
MAX_PENDING = 4096  # records held in memory, not yet written: past it a new one is not stored
_ID = re.compile(r"resp_[0-9a-f]{48}", re.ASCII)
_SUFFIX = ".json"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str  # "resp_" + 48 lowercase hex
    owner: str  # the client's name
    created_at: float  # unix seconds
    response: dict[str, Any]  # the response object as answered
    input_items: list[dict[str, Any]]  # the whole conversation's input items, inherited first


def new_response_id() -> str:
    return "resp_" + secrets.token_hex(24)


def valid_id(s: str) -> bool:
    """``s`` has the exact shape of :func:`new_response_id`'s ids."""
    return isinstance(s, str) and _ID.fullmatch(s) is not None


def _charged(size: int) -> int:
    return max(BLOCK, -(-size // BLOCK) * BLOCK)


def encode(record: StoredResponse) -> bytes:
    return orjson.dumps(
        {
            "format": FORMAT,
            "id": record.id,
            "owner": record.owner,
            "created_at": record.created_at,
            "response": record.response,
            "input_items": record.input_items,
        }
    )


def decode(data: bytes, response_id: str) -> StoredResponse | None:
    """The record in ``data``, None unless it is a well-formed record of ``response_id``."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("id") != response_id:
        return None
    owner, created, response, items = (
        doc.get("owner"),
        doc.get("created_at"),
        doc.get("response"),
        doc.get("input_items"),
    )
    if not (
        isinstance(owner, str)
        and isinstance(created, (int, float))
        and not isinstance(created, bool)
        and math.isfinite(created)
        and isinstance(response, dict)
        and isinstance(items, list)
        and all(isinstance(i, dict) for i in items)
    ):
        return None
    return StoredResponse(response_id, owner, float(created), response, items)


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
        self.retention_s = retention_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._sweep_s = sweep_s
        self._index: dict[str, tuple[float, int]] = {}  # id -> (created_at, charged size)
        self._total = 0
        self._pending: dict[str, StoredResponse] = {}
        self._dropped = 0  # records not stored because too many waited to be written
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
        """What the written records count for (each rounded up to 4 KiB)."""
        return self._total

    def configure(self, *, retention_s: float, max_bytes: int) -> None:
        """A reload's settings: a shorter retention hides older records at once, a smaller
        ``max_bytes`` removes the oldest at the writer's next turn."""
        self.retention_s = retention_s
        self.max_bytes = max_bytes
        self._wake.set()

    async def open(self) -> None:
        """Create the directory, index what is in it, remove what expired or is over the bound,
        then start the writer and the hourly sweep."""
        entries = await asyncio.to_thread(self._scan)
        for rid, created, size in sorted(entries, key=lambda e: e[1]):
            self._index[rid] = (created, size)
            self._total += size
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
        entry = self._index.get(response_id)
        if entry is None or entry[0] < cutoff:
            return None
        record = await asyncio.to_thread(self._read, response_id)
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
            del self._pending[response_id]  # a write under way is undone when it ends
            if self._forget(response_id):
                await asyncio.to_thread(self._unlink, [response_id])
            return True
        if (entry := self._index.get(response_id)) is None or entry[0] < cutoff:
            return False
        record = await asyncio.to_thread(self._read, response_id)
        if record is None or record.owner != owner or not self._forget(response_id):
            return False
        await asyncio.to_thread(self._unlink, [response_id])
        return True

    async def sweep(self) -> int:
        """Remove the expired records' files; how many were removed."""
        cutoff = self._clock() - self.retention_s
        expired = [rid for rid, (created, _) in self._index.items() if created < cutoff]
        for rid in expired:
            self._forget(rid)
        if expired:
            await asyncio.to_thread(self._unlink, expired)
        return len(expired)

    # -- on the loop ---------------------------------------------------------------------------

    def _forget(self, rid: str) -> bool:
        entry = self._index.pop(rid, None)
        if entry is None:
            return False
        self._total -= entry[1]
        return True

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = list(self._pending.items())[:WRITE_BATCH]
                records = [record for _, record in batch]
                sizes = await asyncio.to_thread(self._write_all, records, self.max_record_bytes)
                gone: list[str] = []
                for (rid, record), size in zip(batch, sizes, strict=True):
                    if self._pending.get(rid) is record:
                        del self._pending[rid]
                        if size is not None:
                            self._forget(rid)
                            self._index[rid] = (record.created_at, size)
                            self._total += size
                    elif size is not None and rid not in self._pending:  # deleted meanwhile
                        gone.append(rid)
                if gone:
                    await asyncio.to_thread(self._unlink, gone)
            await self._evict()
            if self._closing and not self._pending:
                return

    async def _evict(self) -> None:
        victims: list[str] = []
        while self._total > self.max_bytes and self._index:
            rid = next(iter(self._index))
            self._forget(rid)
            victims.append(rid)
        if victims:
            log.info("removed %d stored responses over the size bound", len(victims))
            await asyncio.to_thread(self._unlink, victims)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_s)
            await self.sweep()

    # -- in worker threads ---------------------------------------------------------------------

    def _path(self, rid: str) -> Path:
        return self.root / (rid + _SUFFIX)

    def _scan(self) -> list[tuple[str, float, int]]:
        private_dir(self.root)
        os.chmod(self.root, DIR_MODE)  # our own directory, whatever made it
        found: list[tuple[str, float, int]] = []
        with os.scandir(self.root) as it:
            for entry in it:
                name = entry.name
                if name.startswith(".") and name.endswith(".tmp"):  # a crash before a rename
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
                    continue
                rid = name.removesuffix(_SUFFIX)
                if rid == name or not valid_id(rid) or not entry.is_file(follow_symlinks=False):
                    continue
                with contextlib.suppress(OSError):
                    st = entry.stat(follow_symlinks=False)
                    found.append((rid, st.st_mtime, _charged(st.st_size)))
        return found

    def _write_all(self, records: list[StoredResponse], limit: int) -> list[int | None]:
        return [self._write(record, limit) for record in records]

    def _write(self, record: StoredResponse, limit: int) -> int | None:
        try:
            data = encode(record)
        except orjson.JSONEncodeError as e:
            log.warning("response %s not stored: %s", record.id, e)
            return None
        if len(data) > limit:
            log.warning(
                "response %s not stored: %d bytes, over the %d bytes a stored response may take",
                record.id,
                len(data),
                limit,
            )
            return None
        path = self._path(record.id)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            try:
                os.fchmod(fd, FILE_MODE)  # whatever the umask
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.utime(tmp, (record.created_at, record.created_at))  # the index's created_at
            os.replace(tmp, path)  # whole or absent: never half a file
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink()
            log.warning("response %s not stored: %s", record.id, e.strerror or e)
            return None
        return _charged(len(data))

    def _read(self, rid: str) -> StoredResponse | None:
        path = self._path(rid)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return None  # removed meanwhile
        except OSError as e:
            log.warning("stored response %s unreadable: %s", rid, e.strerror or e)
            return None
        try:
            with os.fdopen(fd, "rb") as f:
                data = f.read(self.max_record_bytes + 1)
        except OSError as e:
            log.warning("stored response %s unreadable: %s", rid, e.strerror or e)
            return None
        record = decode(data, rid) if len(data) <= self.max_record_bytes else None
        if record is None:
            log.warning("stored response %s skipped: not a readable record", rid)
        return record

    def _unlink(self, rids: Iterable[str]) -> None:
        for rid in rids:
            with contextlib.suppress(FileNotFoundError):
                self._path(rid).unlink()
