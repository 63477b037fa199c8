"""Counter state for limits and budgets: the store interface and the embedded store.

The :class:`~localrouter.runtime.limits.Limiter` keeps no counters itself: it asks a
:class:`CounterStore` (a small Protocol) keyed by ``LimitPolicy.key`` =
``(scope, owner, metric, window_s)``. The limit's *amount* is not part of the key, so a reload that
changes an amount applies the new amount to the usage already in the window; a changed window is a
new counter. A shared store (Redis, for replicas sharing limits) implements the same calls (each
one atomic, e.g. a Lua script) and the Limiter does not change.

Two read paths
--------------
``reserve``, ``adjust``, ``readings`` and ``free_at`` are ``async``: a shared store does I/O in
each. The request path awaits them (admit, top up, settle, release; a rejection's readings and
retry time). :class:`MemoryStore` implements them without ever suspending: awaiting one costs
only the coroutine call, and a check stays atomic on the event loop.

``local_readings`` is the one sync call, for readers that must not wait: the router's caps skip
(:mod:`localrouter.runtime.caps`, inside the pure, synchronous ``route``), ``Limiter.remaining``
and ``would_exceed``, ``explain`` and ``models``. It reads the store's *local view*, never doing
I/O. For :class:`MemoryStore` the local view is the store itself (exact). A shared store answers
from what it last saw of each counter in this process (what its calls returned, plus this
process's own changes since), so it may miss what other replicas added meanwhile: harmless where
it is read — a skip is advice (the awaited ``reserve`` before each call is the check that holds),
and nothing is admitted from the local view.

Persistence and housekeeping (``export``/``load``/``snapshot``/``restore``, ``prune``, ``keys``)
are :class:`MemoryStore`'s own, sync, not part of the interface: the server's in-band state saving
(``server/state.py``, ``server/lifespan.py``) and ``explain``'s offline copy call them.

Time is integer milliseconds (``now_ms``; the Limiter rounds its clock's seconds to the nearest
millisecond, so a window edge is placed within 0.5 ms of the real clock). A store never lets time go
backwards: it remembers the latest instant it has seen and uses ``max(now_ms, latest)``, so a clock
stepped back (NTP, a restore on a machine whose clock is behind) can only make limits stricter.

The sliding window of each counter is a :class:`~localrouter.runtime.window.Ring` (its
guarantees are in that module's doc).

Amounts are floats (``cost_usd``); comparisons allow ``1e-9 × max(1, limit)`` of rounding, which
integer metrics (requests, tokens) can never reach. A charge of 0 always fits (it consumes nothing).

Persistence (:class:`MemoryStore`)
----------------------------------
``snapshot()`` writes every non-empty counter to an SQLite file (WAL, mode 0600) in one transaction;
``restore()`` loads it on start, so a budget spent before a restart is still spent after it (the
server saves counters, breakers and health together: ``export()``/``load()`` hand the counters to
:mod:`localrouter.runtime.persist`, the file's codec, which validates every row). A file
that cannot be read or fails validation raises :class:`LimitStateError` (fail closed) — never a
silent reset to zero. Counters of policies no longer in the table are kept until their usage has
left the window (a removed-then-restored limit does not forget spending); :meth:`MemoryStore.prune`
then drops them, and empty counters are never written. Reservations of requests still in flight
are saved as they stand: after a crash they stay counted at the worst case they held
(conservative). Marks are not saved: a restored bucket's mark is the earlier of its last
millisecond and the saved latest instant (conservative, and never in the future).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

from localrouter.runtime.persist import (
    MAX_BUCKETS,
    SavedCounter,
    SavedState,
    read_state,
    write_state,
)
from localrouter.runtime.window import NEVER, TOLERANCE, Reading, Ring, fits

Key = tuple[str, str, str, int]  # LimitPolicy.key: (scope, owner, metric, window_s)
Charge = tuple[Key, float, float, float]  # (key, amount that must fit, limit, amount held)
DEFAULT_BUCKETS = 120
_NEVER = NEVER
_MAX_BUCKETS = MAX_BUCKETS


class Reserved(NamedTuple):
    at_ms: int  # the instant the charges were recorded at (settle/release refer to it)
    readings: tuple[Reading, ...]  # one per charge, after the charge


class CounterStore(Protocol):
    """Counter state keyed by ``LimitPolicy.key``; each call is atomic. The async calls may do
    I/O; ``local_readings`` never does (see the module doc: the two read paths)."""

    async def reserve(self, charges: Sequence[Charge], now_ms: int) -> Reserved | int:
        """All or nothing: if each charge's amount that must fit fits its limit, add every
        charge's amount held (which may be larger, and may take a counter past its limit); else
        add none and return the index of the first one that does not fit. A charge that holds
        something fits only a counter not past its limit, even when its amount to fit is 0."""
        ...

    async def adjust(self, deltas: Sequence[tuple[Key, float]], at_ms: int, now_ms: int) -> None:
        """Add ``delta`` (may be negative) to the usage recorded at ``at_ms``. When that instant
        has left a window, a positive delta is charged now and a negative one is dropped."""
        ...

    async def readings(self, keys: Sequence[Key], now_ms: int) -> tuple[Reading, ...]:
        """Each counter's usage now (zero for a key never charged); reserves nothing."""
        ...

    async def free_at(self, key: Key, need: float, limit: float, now_ms: int) -> int | None:
        """The first instant ``need`` fits (``now_ms`` if it fits now); None if it never can."""
        ...

    def local_readings(self, keys: Sequence[Key], now_ms: int) -> tuple[Reading, ...]:
        """Like :meth:`readings`, from the local view: sync, no I/O, possibly behind what other
        processes sharing the store have added (exact for :class:`MemoryStore`)."""
        ...


class MemoryStore:
    """The embedded :class:`CounterStore`: counters in memory, snapshots in SQLite.

    Its async calls never suspend (no I/O; the hot path is the coroutine call); its local view
    (``local_readings``) is the counters themselves. Thread-safe (one lock, never held across an
    ``await``), so ``snapshot()`` may run in a worker thread while the event loop keeps checking
    limits.
    """

    def __init__(self, path: Path | str | None = None, *, buckets: int = DEFAULT_BUCKETS) -> None:
        if not 1 <= buckets <= _MAX_BUCKETS:
            raise ValueError(f"buckets must be 1..{_MAX_BUCKETS}, not {buckets}")
        self.path = Path(path) if path is not None else None
        self.buckets = buckets
        self._rings: dict[Key, Ring] = {}
        self._latest = _NEVER
        self._lock = threading.Lock()

    # -- CounterStore -----------------------------------------------------------------------
    def _ring(self, key: Key) -> Ring:
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = Ring(key[3] * 1000, self.buckets)
        return ring

    def _now(self, now_ms: int) -> int:
        if now_ms > self._latest:
            self._latest = now_ms
        return self._latest

    async def reserve(self, charges: Sequence[Charge], now_ms: int) -> Reserved | int:
        # the hot path: Ring.advance, fits() and Ring.add inlined
        with self._lock:
            t = self._now(now_ms)
            rings = []
            for i, (key, need, limit, held) in enumerate(charges):
                ring = self._rings.get(key) or self._ring(key)
                ring.advance(t)
                # a charge that holds something needs room, even when nothing must fit: a
                # counter past its limit takes no more (so it is past by one hold at most)
                if (need > 0.0 or held > 0.0) and (
                    ring.total + need > limit + TOLERANCE * max(1.0, abs(limit))
                ):
                    return i
                rings.append(ring)
            out = []
            for ring, (_, _, _, held) in zip(rings, charges, strict=True):
                if held > 0.0:
                    slot = ring.head % (ring.n + 1)
                    ring.slots[slot] += held
                    ring.marks[slot] = t  # t never goes back: the latest instant in the bucket
                    ring.total += held
                    out.append(Reading(ring.total, t + ring.window_ms))
                else:
                    out.append(ring.reading(t))
            return Reserved(t, tuple(out))

    async def adjust(self, deltas: Sequence[tuple[Key, float]], at_ms: int, now_ms: int) -> None:
        with self._lock:
            t = self._now(now_ms)
            for key, delta in deltas:
                if not delta:
                    continue
                ring = self._ring(key)
                ring.advance(t)
                if ring.holds(at_ms, t):
                    ring.add(ring.index(at_ms), delta, at_ms)
                elif delta > 0.0:  # its instant has left: the unreserved excess counts from now
                    ring.add(ring.head, delta, t)

    async def readings(self, keys: Sequence[Key], now_ms: int) -> tuple[Reading, ...]:
        return self.local_readings(keys, now_ms)

    def local_readings(self, keys: Sequence[Key], now_ms: int) -> tuple[Reading, ...]:
        with self._lock:
            t = self._now(now_ms)
            rings = self._rings
            return tuple(rings[k].reading(t) if k in rings else Reading(0.0, t) for k in keys)

    async def free_at(self, key: Key, need: float, limit: float, now_ms: int) -> int | None:
        with self._lock:
            t = self._now(now_ms)
            ring = self._rings.get(key)
            if ring is None:
                return t if fits(0.0, need, limit) else None
            return ring.free_at(need, limit, t)

    # -- housekeeping: MemoryStore's own, sync, not part of CounterStore --------------------
    def keys(self) -> list[Key]:
        with self._lock:
            return list(self._rings)

    def ring(self, key: Key) -> Ring | None:
        """The counter behind ``key`` (for inspection and tests)."""
        return self._rings.get(key)

    def prune(self, live: Collection[Key], now_ms: int) -> int:
        """Drop counters of policies not in ``live`` whose usage has left the window."""
        with self._lock:
            t = self._now(now_ms)
            gone = []
            for key, ring in self._rings.items():
                if key not in live:
                    ring.advance(t)
                    if not any(ring.slots):
                        gone.append(key)
            for key in gone:
                del self._rings[key]
            return len(gone)

    # -- persistence: MemoryStore's own, sync, not part of CounterStore ---------------------
    def export(self) -> tuple[int, tuple[SavedCounter, ...]]:
        """The latest instant seen and every non-empty counter, as saved records."""
        with self._lock:
            latest = self._latest
            rows = []
            for key, ring in self._rings.items():
                ring.advance(latest)
                if any(ring.slots):
                    rows.append(SavedCounter(key, ring.n, ring.head, ring.pack()))
        return latest, tuple(rows)

    def load(self, latest_ms: int, counters: Sequence[SavedCounter]) -> int:
        """Add saved counters (validated by :mod:`~localrouter.runtime.persist`); their count."""
        rings: dict[Key, Ring] = {}
        latest = latest_ms
        for c in counters:
            ring = Ring(c.key[3] * 1000, c.buckets, c.head, c.slots, latest_ms)
            rings[c.key] = ring
            latest = max(latest, ring.start(ring.head))
        with self._lock:
            self._rings.update(rings)
            self._latest = max(self._latest, latest)
        return len(rings)

    def snapshot(self) -> int:
        """Write every non-empty counter to ``path`` in one transaction; returns the count. The
        file's other sections (breakers, health) are left as they are."""
        if self.path is None:
            return 0
        latest, rows = self.export()
        write_state(self.path, SavedState(latest, counters=rows))
        return len(rows)

    def restore(self) -> int:
        """Load the counters saved at ``path`` (none when the file does not exist yet).

        Raises :class:`LimitStateError` when the file exists but is unreadable, corrupt or not
        ours. Returns the number of counters loaded.
        """
        saved = read_state(self.path) if self.path is not None else None
        if saved is None or saved.counters is None:
            return 0
        return self.load(saved.latest_ms, saved.counters)
