"""Generation records: readable at once, persisted in SQLite, the caller's own only, kept 7 days."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from localrouter.generations import RETENTION_S, GenerationStore


def record(gen_id: str, client: str = "app", created: float | None = None) -> dict[str, object]:
    return {"id": gen_id, "client": client, "created": created or time.time(), "tokens": {}}


async def test_pending_then_persisted_and_owned(tmp_path: Path) -> None:
    store = GenerationStore(tmp_path / "g.sqlite3")
    store.open()
    store.add(record("gen-1"))
    assert (await store.get("gen-1", "app")) is not None  # before any flush
    assert await store.get("gen-1", "other") is None  # never another client's
    await store.flush()
    rows = sqlite3.connect(tmp_path / "g.sqlite3").execute("SELECT id FROM generations").fetchall()
    assert rows == [("gen-1",)]
    stored = await store.get("gen-1", "app")
    assert stored is not None and stored["id"] == "gen-1"
    assert (tmp_path / "g.sqlite3").stat().st_mode & 0o777 == 0o600
    store.close()


async def test_records_older_than_retention_are_dropped_on_open(tmp_path: Path) -> None:
    store = GenerationStore(tmp_path / "g.sqlite3")
    store.open()
    store.add(record("old", created=time.time() - RETENTION_S - 60))
    store.add(record("new"))
    store.close()  # final flush
    again = GenerationStore(tmp_path / "g.sqlite3")
    again.open()
    assert await again.get("old", "app") is None
    assert await again.get("new", "app") is not None
    again.close()
