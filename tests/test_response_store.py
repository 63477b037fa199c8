"""The stored responses (runtime/response_store.py), in a real SQLite file in tmp_path (read back
with SQLite itself): round trips, owners, expiry, the size bounds, hostile ids and rows, a file
that is not a database, permissions, and the writes a close owes."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from localrouter.errors import ResponseStateError
from localrouter.runtime import response_store
from localrouter.runtime.response_store import (
    FILE_NAME,
    ResponseStore,
    StoredResponse,
    encode,
    new_response_id,
    valid_id,
)

DAY = 86400.0
MIB = 1024 * 1024


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(owner: str = "alice", at: float = 1_800_000_000.0, **kw: Any) -> StoredResponse:
    rid = kw.pop("id", None) or new_response_id()
    response = kw.pop("response", {"id": rid, "object": "response", "output": []})
    items = kw.pop("input_items", [{"role": "user", "content": "hello"}])
    return StoredResponse(rid, owner, at, response, items)


def store_at(
    root: Path, clock: Clock, *, days: float = 30, max_bytes: int = 64 * MIB
) -> ResponseStore:
    return ResponseStore(root, retention_s=days * DAY, max_bytes=max_bytes, clock=clock)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> AsyncIterator[ResponseStore]:
    s = store_at(tmp_path / "responses", clock)
    await s.open()
    yield s
    await s.close()


async def written(s: ResponseStore) -> None:
    """Until the writer has nothing pending and no transaction under way (the store's own
    bookkeeping, read, not mocked)."""
    for _ in range(1000):
        if not s._pending and not s._writing:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("pending writes never finished")


def stored(root: Path) -> list[str]:
    """The ids of the rows in the store's database, read with SQLite itself."""
    db = sqlite3.connect(root / FILE_NAME)
    try:
        return sorted(r[0] for r in db.execute("SELECT id FROM responses"))
    finally:
        db.close()


def size(r: StoredResponse) -> int:
    return len(encode(r))


def test_ids() -> None:
    rid = new_response_id()
    assert valid_id(rid) and len(rid) == 5 + 48 and rid != new_response_id()
    for bad in [
        "../x",
        "resp_../../etc",
        "resp_" + "A" * 48,
        "resp_" + "0" * 47,
        rid + "\n",
        "resp_" + "0" * 49,
        "",
        "msg_" + "0" * 48,
        "resp_" + "0" * 46 + "/x",
    ]:
        assert not valid_id(bad), bad


async def test_round_trip_and_visible_before_written(store: ResponseStore, tmp_path: Path) -> None:
    rec = record(
        input_items=[{"role": "user", "content": "é 🙂"}, {"type": "function_call_output"}]
    )
    store.put(rec)
    assert await store.get(rec.id, "alice") == rec  # from memory, before any await of the writer
    await written(store)
    assert stored(tmp_path / "responses") == [rec.id]
    store._pending.clear()
    assert await store.get(rec.id, "alice") == rec  # now from the database


async def test_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    first = store_at(tmp_path / "r", clock)
    await first.open()
    recs = [record(at=clock.now + i) for i in range(5)]
    for r in recs:
        first.put(r)
    await first.close()
    again = store_at(tmp_path / "r", clock)
    await again.open()
    try:
        assert [await again.get(r.id, "alice") for r in recs] == recs
        assert again.total_bytes == sum(size(r) for r in recs)
    finally:
        await again.close()


async def test_owner_isolation_and_delete(store: ResponseStore) -> None:
    rec = record(owner="alice")
    store.put(rec)
    assert await store.get(rec.id, "bob") is None
    assert not await store.delete(rec.id, "bob")  # pending: bob cannot remove it
    await written(store)
    assert await store.get(rec.id, "bob") is None
    assert not await store.delete(rec.id, "bob")
    assert await store.get(rec.id, "alice") == rec
    assert await store.delete(rec.id, "alice")
    assert await store.get(rec.id, "alice") is None
    assert not await store.delete(rec.id, "alice")  # already gone
    assert stored(store.root) == []
    assert not await store.delete(new_response_id(), "alice")


async def test_delete_while_pending_leaves_no_row(store: ResponseStore) -> None:
    recs = [record() for _ in range(20)]
    for r in recs:
        store.put(r)
    await asyncio.sleep(response_store.LINGER_S + 0.001)  # the writer has taken them
    for r in recs:
        assert await store.delete(r.id, "alice")
    await written(store)  # the transaction under way, and its undoing
    assert stored(store.root) == []
    assert store.total_bytes == 0
    assert all([await store.get(r.id, "alice") is None for r in recs])


async def test_expiry_before_and_by_the_sweep(tmp_path: Path, clock: Clock) -> None:
    s = store_at(tmp_path / "r", clock, days=30)
    await s.open()
    old, new = record(at=clock.now), record(at=clock.now + 10 * DAY)
    s.put(old)
    s.put(new)
    clock.now += 30 * DAY + 1
    assert await s.get(old.id, "alice") is None  # pending and expired
    await written(s)
    assert await s.get(old.id, "alice") is None  # written and expired, file still there
    assert len(stored(s.root)) == 2
    assert not await s.delete(old.id, "alice")
    assert await s.sweep() == 1
    assert stored(s.root) == [new.id]
    await s.close()
    clock.now += 10 * DAY  # the other expires while the server is down
    again = store_at(tmp_path / "r", clock, days=30)
    await again.open()
    assert stored(again.root) == []
    await again.close()


async def test_a_reload_changes_retention(store: ResponseStore, clock: Clock) -> None:
    rec = record(at=clock.now)
    store.put(rec)
    await written(store)
    clock.now += 2 * DAY
    assert await store.get(rec.id, "alice") == rec
    store.configure(retention_s=1 * DAY, max_bytes=store.max_bytes)
    assert await store.get(rec.id, "alice") is None


async def test_eviction_by_size_oldest_first(tmp_path: Path, clock: Clock) -> None:
    recs = [record(at=clock.now + i) for i in range(14)]
    one = size(recs[0])
    assert all(size(r) == one for r in recs)
    s = store_at(tmp_path / "r", clock, max_bytes=10 * one)
    await s.open()
    for r in recs:
        s.put(r)
        await written(s)
    assert s.total_bytes == 10 * one
    assert stored(s.root) == sorted(r.id for r in recs[4:])
    assert await s.get(recs[0].id, "alice") is None and await s.get(recs[-1].id, "alice")
    s.configure(retention_s=30 * DAY, max_bytes=3 * one)  # a reload shrinks the bound
    for _ in range(100):
        if len(stored(s.root)) == 3:
            break
        await asyncio.sleep(0.01)
    assert stored(s.root) == sorted(r.id for r in recs[-3:])
    await s.close()


async def test_a_record_over_the_bound_is_not_stored(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    s = store_at(tmp_path / "r", clock, max_bytes=8 * 100_000)  # one record: 100 000 bytes
    assert s.max_record_bytes == 100_000
    assert store_at(tmp_path / "x", clock, max_bytes=1024 * MIB).max_record_bytes == 16 * MIB
    await s.open()
    big = record(input_items=[{"role": "user", "content": "x" * 100_000}])
    small = record(input_items=[{"role": "user", "content": "x" * 90_000}])
    with caplog.at_level(logging.WARNING, "localrouter.responses"):
        s.put(big)
        s.put(small)
        await written(s)
    assert stored(s.root) == [small.id]
    assert await s.get(big.id, "alice") is None
    assert any("not stored" in r.message and big.id in r.message for r in caplog.records)
    await s.close()


async def test_invalid_ids_are_never_looked_up(store: ResponseStore, tmp_path: Path) -> None:
    secret = tmp_path / "etc.json"
    secret.write_text('{"format": "localrouter-response/1"}')
    for bad in ["../etc", "../x", "resp_../../etc", "resp_../etc", "x", str(secret), "' OR 1=1"]:
        assert await store.get(bad, "alice") is None
        assert not await store.delete(bad, "alice")
    assert secret.exists()
    with pytest.raises(ValueError):
        store.put(record(id="resp_../../etc"))


async def test_corrupt_rows_are_skipped(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    s = store_at(tmp_path / "r", clock)
    await s.open()
    await s.close()
    ids = [new_response_id() for _ in range(3)]
    renamed = new_response_id()  # a well-formed record under another id
    blobs = [b"{not json", b'{"format": "localrouter-response/1", "id": "x"}', b"[1, 2]"]
    rows = [(i, "alice", clock.now, len(b), b) for i, b in zip(ids, blobs, strict=True)]
    rows.append((renamed, "alice", clock.now, 10, encode(record(id=new_response_id()))))
    db = sqlite3.connect(s.path)
    db.executemany("INSERT INTO responses VALUES (?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    again = store_at(tmp_path / "r", clock)
    await again.open()
    with caplog.at_level(logging.WARNING, "localrouter.responses"):
        assert [await again.get(i, "alice") for i in [*ids, renamed]] == [None] * 4
    assert any("skipped" in r.message for r in caplog.records)
    good = record()
    again.put(good)
    await written(again)
    assert await again.get(good.id, "alice") == good
    await again.close()


async def test_a_file_that_is_not_a_database_refuses_to_open(tmp_path: Path, clock: Clock) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / FILE_NAME).write_bytes(b"this is not a database, and it is long enough" * 100)
    s = store_at(root, clock)
    with pytest.raises(ResponseStateError) as info:
        await s.open()
    assert str(root / FILE_NAME) in str(info.value) and "move it" in str(info.value)
    assert (root / FILE_NAME).read_bytes().startswith(b"this is not")  # never overwritten


async def test_permissions(tmp_path: Path, clock: Clock) -> None:
    old = os.umask(0)
    try:
        s = store_at(tmp_path / "state" / "responses", clock)
        await s.open()
        s.put(rec := record())
        await s.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(s.root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
    assert stored(s.root) == [rec.id]
    for name in os.listdir(s.root):  # the database and its -wal/-shm
        assert stat.S_IMODE(os.stat(s.root / name).st_mode) == 0o600, name


async def test_close_writes_everything_pending(tmp_path: Path, clock: Clock) -> None:
    s = store_at(tmp_path / "r", clock)
    await s.open()
    recs = [record(owner=f"c{i % 3}", at=clock.now + i) for i in range(200)]
    for r in recs:
        s.put(r)  # many puts in one turn of the loop, then close at once
    await s.close()
    assert len(stored(s.root)) == 200
    again = store_at(tmp_path / "r", clock)
    await again.open()
    got = await asyncio.gather(*(again.get(r.id, r.owner) for r in recs))
    assert list(got) == recs
    await again.close()


async def test_concurrent_gets_puts_and_deletes(store: ResponseStore) -> None:
    recs = [record(owner=f"c{i % 4}") for i in range(100)]

    async def one(r: StoredResponse) -> bool:
        store.put(r)
        await asyncio.sleep(0)
        assert await store.get(r.id, r.owner) == r
        return await store.delete(r.id, r.owner) if int(r.id[-1], 16) % 2 else False

    deleted = await asyncio.gather(*(one(r) for r in recs))
    await written(store)
    await asyncio.sleep(0.05)
    kept = {r.id for r, d in zip(recs, deleted, strict=True) if not d}
    assert set(stored(store.root)) == kept
    assert store.total_bytes == sum(size(r) for r in recs if r.id in kept)


async def test_memory_stays_bounded_when_the_disk_falls_behind(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(response_store, "MAX_PENDING", 3)
    s = store_at(tmp_path / "responses", clock)  # not opened: nothing is written yet
    kept = [record() for _ in range(3)]
    for r in kept:
        s.put(r)
    extra = record()
    with caplog.at_level(logging.WARNING, "localrouter.responses"):
        s.put(extra)
    assert await s.get(extra.id, "alice") is None
    assert "wait to be written" in caplog.text
    await s.open()
    await s.close()
    fresh = store_at(tmp_path / "responses", clock)
    await fresh.open()
    assert [await fresh.get(r.id, "alice") for r in kept] == kept
    await fresh.close()


async def test_many_records_are_written_together(store: ResponseStore, tmp_path: Path) -> None:
    many = [record() for _ in range(150)]  # more than one worker-thread hop
    for r in many:
        store.put(r)
    await written(store)
    assert stored(tmp_path / "responses") == sorted(r.id for r in many)
