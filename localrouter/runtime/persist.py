"""The runtime state file: limit counters, circuit breakers and health, in one SQLite file.

``state_dir/limits.sqlite3`` (WAL, mode 0600) holds what the server must not forget across a
restart. This module is its codec: frozen records in and out, every row validated on the way in;
``store.py``, ``breakers.py`` and ``health.py`` turn their state into these records and back.

Tables (``meta`` keys: ``format``, ``latest_ms``, ``saved_at``, ``runtime``): ``counters`` (the
limit windows), ``breakers`` (non-initial breakers), ``endpoints`` (health checks: state, last
check, round-trip sketch), ``latency`` (each model's live latency sketch). Endpoints are named by
:func:`endpoint_id`, a hash of the base URL: a URL can carry credentials, so it is never written.
Times (``opened_at``, ``last_checked``, a sketch's decay ``landmark``, ``saved_at``) are wall-clock
unix seconds, so restored state ages by the time the gateway was down; the in-memory state uses a
monotonic clock and converts at this boundary. A write replaces the sections it is given in one
transaction and keeps the others (``MemoryStore.snapshot`` writes only the counters). A file from
before the runtime tables (no ``runtime`` key) reads as having no breakers and no health; once the
key is there, every table must be. Anything unreadable, of an unknown format or failing validation
raises :class:`LimitStateError`: the server then refuses to start (fail closed); ``explain`` warns
and judges without it.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import struct
import sys
import time
import urllib.parse
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from localrouter.errors import LimitStateError
from localrouter.statefiles import make_private, private_sqlite

FORMAT = "localrouter-limits/1"
MAX_BUCKETS = 100_000
MAX_SKETCH_BINS = 4096
_BIN = struct.Struct("<qd")
_MAX_TEXT = 2000
_STATES = frozenset({"closed", "open", "half_open"})

_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters (scope TEXT NOT NULL, owner TEXT NOT NULL, metric TEXT "
    "NOT NULL, window_s INTEGER NOT NULL, buckets INTEGER NOT NULL, head INTEGER NOT NULL, "
    "slots BLOB NOT NULL, PRIMARY KEY (scope, owner, metric, window_s))",
    "CREATE TABLE IF NOT EXISTS breakers (provider TEXT NOT NULL, endpoint TEXT NOT NULL, "
    "state TEXT NOT NULL, failures INTEGER NOT NULL, opened_at REAL NOT NULL, trips INTEGER NOT "
    "NULL, PRIMARY KEY (provider, endpoint))",
    "CREATE TABLE IF NOT EXISTS endpoints (provider TEXT NOT NULL, endpoint TEXT NOT NULL, "
    "healthy INTEGER NOT NULL, failures INTEGER NOT NULL, checks INTEGER NOT NULL, last_checked "
    "REAL, last_error TEXT, last_note TEXT, landmark REAL, bins BLOB NOT NULL, "
    "PRIMARY KEY (provider, endpoint))",
    "CREATE TABLE IF NOT EXISTS latency (model TEXT PRIMARY KEY, provider TEXT NOT NULL, "
    "endpoint TEXT NOT NULL, landmark REAL, bins BLOB NOT NULL)",
)


_COLUMNS = {  # the runtime tables as read back, column by column
    "breakers": "provider, endpoint, state, failures, opened_at, trips",
    "endpoints": "provider, endpoint, healthy, failures, checks, last_checked, last_error, "
    "last_note, landmark, bins",
    "latency": "model, provider, endpoint, landmark, bins",
}


def endpoint_id(base_url: str | None) -> str:
    """How a provider endpoint is named in the file: a hash of its base URL, never the URL."""
    return hashlib.sha256((base_url or "").encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SavedCounter:
    key: tuple[str, str, str, int]  # (scope, owner, metric, window_s)
    buckets: int
    head: int
    slots: bytes  # buckets + 1 little-endian doubles


@dataclass(frozen=True, slots=True)
class SavedBreaker:
    provider: str
    endpoint: str  # endpoint_id(base_url)
    state: str  # closed | open | half_open (a half-open probe is never saved: it is lost)
    failures: int
    opened_at: float  # wall clock; 0 for a closed breaker
    trips: int


@dataclass(frozen=True, slots=True)
class SavedSketch:
    landmark: float | None  # wall clock of the decay landmark; None: empty
    bins: tuple[tuple[int, float], ...]  # (bucket index, weight relative to the landmark)


@dataclass(frozen=True, slots=True)
class SavedEndpoint:
    provider: str
    endpoint: str
    healthy: bool
    failures: int
    checks: int
    last_checked: float | None  # wall clock
    last_error: str | None
    last_note: str | None
    check_latency: SavedSketch


@dataclass(frozen=True, slots=True)
class SavedLatency:
    model: str
    provider: str
    endpoint: str
    sketch: SavedSketch


@dataclass(frozen=True, slots=True)
class SavedState:
    """One snapshot. On write, a section that is None is left as the file has it; on read every
    section is a tuple (empty when the file has none)."""

    latest_ms: int = 0
    counters: tuple[SavedCounter, ...] | None = None
    breakers: tuple[SavedBreaker, ...] | None = None
    endpoints: tuple[SavedEndpoint, ...] | None = None
    latencies: tuple[SavedLatency, ...] | None = None
    saved_at: float | None = None  # wall clock of the write that made it (read back)


# -- writing ---------------------------------------------------------------------------------


def _pack_bins(s: SavedSketch) -> bytes:
    return b"".join(_BIN.pack(i, w) for i, w in s.bins)


def write_state(path: Path, state: SavedState) -> None:
    """Write ``state``'s sections to ``path`` in one transaction (file and its WAL mode 0600)."""
    saved_at = time.time() if state.saved_at is None else state.saved_at
    try:
        private_sqlite(path)  # 0600 in a 0700 directory, and so its -wal/-shm
        con = sqlite3.connect(path, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("BEGIN IMMEDIATE")
            for ddl in _TABLES:
                con.execute(ddl)
            found = con.execute("SELECT v FROM meta WHERE k = 'format'").fetchone()
            if found is not None and found[0] != FORMAT:
                con.execute("ROLLBACK")
                raise LimitStateError(path, f"unknown format {found[0]!r} (not overwritten)")
            _write_sections(con, state)
            meta = [("format", FORMAT), ("runtime", "1"), ("saved_at", repr(saved_at))]
            con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
            latest = "REPLACE" if state.counters is not None else "IGNORE"  # keep the counters'
            con.execute(
                f"INSERT OR {latest} INTO meta VALUES ('latest_ms', ?)", (str(state.latest_ms),)
            )
            con.execute("COMMIT")
        finally:
            con.close()
        make_private(path)
    except (sqlite3.Error, OSError) as exc:
        raise LimitStateError(path, f"cannot write it ({exc})") from exc


def _write_sections(con: sqlite3.Connection, state: SavedState) -> None:
    if state.counters is not None:
        con.execute("DELETE FROM counters")
        con.executemany(
            "INSERT INTO counters VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*c.key, c.buckets, c.head, c.slots) for c in state.counters],
        )
    if state.breakers is not None:
        con.execute("DELETE FROM breakers")
        con.executemany(
            "INSERT INTO breakers VALUES (?, ?, ?, ?, ?, ?)",
            [
                (b.provider, b.endpoint, b.state, b.failures, b.opened_at, b.trips)
                for b in state.breakers
            ],
        )
    if state.endpoints is not None:
        con.execute("DELETE FROM endpoints")
        con.executemany(
            "INSERT INTO endpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    e.provider,
                    e.endpoint,
                    int(e.healthy),
                    e.failures,
                    e.checks,
                    e.last_checked,
                    e.last_error,
                    e.last_note,
                    e.check_latency.landmark,
                    _pack_bins(e.check_latency),
                )
                for e in state.endpoints
            ],
        )
    if state.latencies is not None:
        con.execute("DELETE FROM latency")
        con.executemany(
            "INSERT INTO latency VALUES (?, ?, ?, ?, ?)",
            [
                (m.model, m.provider, m.endpoint, m.sketch.landmark, _pack_bins(m.sketch))
                for m in state.latencies
            ],
        )


# -- reading ---------------------------------------------------------------------------------


def _uri(path: Path, read_only: bool) -> str:
    """The SQLite URI that opens ``path`` without ever creating it. Read-only: ``mode=ro``, and
    ``immutable=1`` when no WAL file is there (else SQLite would leave -wal and -shm files)."""
    quoted = urllib.parse.quote(str(path.absolute()))
    if not read_only:
        return f"file:{quoted}?mode=rw"
    wal = Path(f"{path}-wal")
    return f"file:{quoted}?mode=ro" + ("" if wal.exists() else "&immutable=1")


def read_state(path: Path, *, read_only: bool = False) -> SavedState | None:
    """The state saved at ``path``; None when there is no file. ``read_only`` (``explain``)
    never writes anything; otherwise the file's mode is made 0600 again.

    Raises :class:`LimitStateError` when the file is unreadable, corrupt or not ours.
    """
    try:
        if not (path.exists() or path.is_symlink()):
            return None
        con = sqlite3.connect(_uri(path, read_only), uri=True, isolation_level=None)
        try:
            check = con.execute("PRAGMA quick_check").fetchall()
            if check != [("ok",)]:
                raise LimitStateError(path, f"SQLite integrity check failed: {check[:3]}")
            meta = dict(con.execute("SELECT k, v FROM meta").fetchall())
            counters = con.execute(
                "SELECT scope, owner, metric, window_s, buckets, head, slots FROM counters"
            ).fetchall()
            runtime = meta.get("runtime") == "1"
            rows = {
                table: con.execute(f"SELECT {columns} FROM {table}").fetchall() if runtime else []
                for table, columns in _COLUMNS.items()
            }
        finally:
            con.close()
        if not read_only:
            make_private(path)
    except sqlite3.Error as exc:
        raise LimitStateError(path, f"it is not a readable state database ({exc})") from exc
    except OSError as exc:
        raise LimitStateError(path, f"it cannot be opened ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise LimitStateError(path, f"unknown format {meta.get('format')!r}")
    v = _Validator(path)
    saved_at = meta.get("saved_at")
    return SavedState(
        latest_ms=v.integer(meta.get("latest_ms"), "latest_ms"),
        counters=tuple(v.counter(r) for r in counters),
        breakers=tuple(v.breaker(r) for r in rows["breakers"]),
        endpoints=tuple(v.endpoint(r) for r in rows["endpoints"]),
        latencies=tuple(v.latency(r) for r in rows["latency"]),
        saved_at=None if saved_at is None else v.number(_float_text(saved_at), "saved_at"),
    )


def _float_text(text: object) -> object:
    try:
        return float(text) if isinstance(text, str) else text
    except ValueError:
        return text


class _Validator:
    """Row checks: each failure names the row and raises :class:`LimitStateError`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, reason: str) -> LimitStateError:
        return LimitStateError(self.path, reason)

    def integer(self, value: object, what: str, *, low: int | None = None) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool):
            if low is not None and value < low:
                raise self.fail(f"bad {what}: {value!r}")
            return value
        raise self.fail(f"bad {what}: {value!r}")

    def number(self, value: object, what: str) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise self.fail(f"bad {what}: {value!r}")

    def text(self, value: object, what: str, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if isinstance(value, str) and (optional or value) and len(value) <= _MAX_TEXT:
            return value
        raise self.fail(f"bad {what}")

    def name(self, value: object, what: str) -> str:
        out = self.text(value, what)
        assert out is not None
        return out

    def counter(self, row: Sequence[object]) -> SavedCounter:
        scope, owner, metric, window_s, n, head, slots = row
        where = f"counter {scope}/{owner}/{metric}/{window_s}"
        if not (isinstance(scope, str) and isinstance(owner, str) and isinstance(metric, str)):
            raise self.fail(f"{where}: bad key")
        w, nb, hd = (self.integer(x, f"{where} field") for x in (window_s, n, head))
        if w <= 0 or not 1 <= nb <= MAX_BUCKETS:
            raise self.fail(f"{where}: bad window or bucket count")
        if not isinstance(slots, bytes) or len(slots) != 8 * (nb + 1):
            raise self.fail(f"{where}: bucket data has the wrong size")
        values = array("d", slots)
        if sys.byteorder == "big":
            values.byteswap()
        if not all(math.isfinite(x) and x >= 0.0 for x in values):
            raise self.fail(f"{where}: bucket data is not finite and non-negative")
        return SavedCounter((scope, owner, metric, w), nb, hd, slots)

    def breaker(self, row: Sequence[object]) -> SavedBreaker:
        provider, endpoint, state, failures, opened_at, trips = row
        where = f"breaker of {provider!r}"
        if state not in _STATES:
            raise self.fail(f"{where}: unknown state {state!r}")
        return SavedBreaker(
            self.name(provider, "breaker provider"),
            self.name(endpoint, f"{where}: endpoint"),
            str(state),
            self.integer(failures, f"{where}: failures", low=0),
            self.number(opened_at, f"{where}: opened_at"),
            self.integer(trips, f"{where}: trips", low=0),
        )

    def endpoint(self, row: Sequence[object]) -> SavedEndpoint:
        provider, endpoint, healthy, failures, checks, last_checked, error, note, mark, bins = row
        where = f"health of {provider!r}"
        if healthy not in (0, 1) or isinstance(healthy, float):
            raise self.fail(f"{where}: bad healthy flag {healthy!r}")
        return SavedEndpoint(
            self.name(provider, "health provider"),
            self.name(endpoint, f"{where}: endpoint"),
            healthy == 1,
            self.integer(failures, f"{where}: failures", low=0),
            self.integer(checks, f"{where}: checks", low=0),
            None if last_checked is None else self.number(last_checked, f"{where}: last_checked"),
            self.text(error, f"{where}: last_error", optional=True),
            self.text(note, f"{where}: last_note", optional=True),
            self.sketch(mark, bins, where),
        )

    def latency(self, row: Sequence[object]) -> SavedLatency:
        model, provider, endpoint, mark, bins = row
        where = f"latency of {model!r}"
        return SavedLatency(
            self.name(model, "latency model"),
            self.name(provider, f"{where}: provider"),
            self.name(endpoint, f"{where}: endpoint"),
            self.sketch(mark, bins, where),
        )

    def sketch(self, landmark: object, bins: object, where: str) -> SavedSketch:
        if not isinstance(bins, bytes) or len(bins) % _BIN.size:
            raise self.fail(f"{where}: sketch data has the wrong size")
        if len(bins) > MAX_SKETCH_BINS * _BIN.size:
            raise self.fail(f"{where}: sketch has too many buckets")
        pairs = tuple(_BIN.iter_unpack(bins))
        if not all(math.isfinite(w) and w > 0.0 and abs(i) <= 1_000_000 for i, w in pairs):
            raise self.fail(f"{where}: sketch weights are not finite and positive")
        if pairs and landmark is None:
            raise self.fail(f"{where}: sketch has buckets but no landmark")
        mark = None if landmark is None else self.number(landmark, f"{where}: landmark")
        return SavedSketch(mark, pairs)
