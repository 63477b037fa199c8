"""The sliding window of one counter: a ring of buckets (:class:`Ring`), used by the embedded
counter store (:mod:`localrouter.runtime.store`).

A window of ``W`` ms is cut into ``n`` buckets of width ``W/n`` (``n`` = 120 by default);
bucket ``k`` holds the usage recorded at instants ``t`` with ``t*n // W == k``, and remembers the
latest instant recorded in it (its *mark*). At instant ``t`` the counted usage is the sum of buckets
``index(t)-n .. index(t)`` (``n+1`` buckets, which always include every instant ``s > t - W``),
less the oldest of them once its mark is ``<= t - W`` (then every instant in it is). Consequences:

* **Never over a limit.** A charge is admitted only if counted usage plus the charge fits; every
  charge in any window ``(t-W, t]`` is counted at its newest admission ``t``; so the usage admitted
  in ANY window of length ``W`` never exceeds the limit (settling a request at more than its
  reservation can, by exactly that excess; the excess is then counted and blocks what follows).
* **Error bound (conservative only).** A unit of usage is counted for at least ``W`` and at most
  ``W + W/n`` (the latter only when a later charge landed in its bucket: 1m → ≤ 0.5 s longer,
  1h → 30 s, 1d → 12 min, 30d → 6 h at n = 120). So a request may be refused although an exact
  sliding log would admit it, only if the usage recorded in the extra ``W/n`` slice would have made
  room; it is never admitted when the exact log would refuse it.
* **Exact retry time, never beyond the window.** :meth:`Ring.free_at` returns the first millisecond
  at which enough buckets have left the window for a given charge to fit (one millisecond earlier
  it does not), assuming no other traffic in between. A bucket leaves at its mark ``+ W`` and a
  mark is never in the future, so the wait is at most ``W``: ``Retry-After`` and
  ``x-ratelimit-reset-*`` never exceed the window (a 1 s window announces 1 s, never 2).
* **Bounded memory.** ``n+1`` doubles and ``n+1`` marks per counter (~2 KB at n = 120) plus a few
  fields, whatever the traffic: a check is O(1) amortised (a running total; each bucket is cleared
  once).

Amounts are floats (``cost_usd``); comparisons allow ``1e-9 × max(1, limit)`` of rounding
(:func:`fits`), which integer metrics (requests, tokens) can never reach.
"""

from __future__ import annotations

import math
import sys
from array import array
from typing import NamedTuple

from localrouter.runtime.persist import MAX_BUCKETS

TOLERANCE = 1e-9
NEVER = -(1 << 62)  # the head of a ring that has seen no time yet


def fits(used: float, need: float, limit: float) -> bool:
    """Whether ``need`` more fits under ``limit`` with ``used`` already counted."""
    return need <= 0.0 or used + need <= limit + TOLERANCE * max(1.0, abs(limit))


class Reading(NamedTuple):
    used: float  # usage counted in the window now
    drained_ms: int  # the instant all of it has left the window (now when empty)


class Ring:
    """One sliding-window counter: ``n+1`` buckets over integer milliseconds (see module doc)."""

    __slots__ = ("head", "marks", "n", "slots", "total", "window_ms")

    def __init__(
        self,
        window_ms: int,
        n: int,
        head: int = NEVER,
        slots: bytes = b"",
        latest_ms: int | None = None,
    ) -> None:
        if window_ms <= 0 or not 1 <= n <= MAX_BUCKETS:
            raise ValueError(f"bad ring: window_ms={window_ms} n={n}")
        self.window_ms = window_ms
        self.n = n
        self.head = head  # the newest bucket index in the ring
        self.slots: array[float] = array("d", slots or bytes(8 * (n + 1)))
        if slots and sys.byteorder == "big":
            self.slots.byteswap()
        # per slot, the latest instant recorded in it (meaningful only while the slot is non-zero)
        self.marks: array[int] = array("q", bytes(8 * (n + 1)))
        if slots:  # restored: each bucket's last millisecond, never after the latest instant seen
            n1 = n + 1
            for k in range(head - n, head + 1):
                last = self.start(k + 1) - 1
                self.marks[k % n1] = last if latest_ms is None else min(last, latest_ms)
        self.total = math.fsum(self.slots)

    def index(self, t_ms: int) -> int:
        return t_ms * self.n // self.window_ms

    def start(self, k: int) -> int:
        """The first millisecond of bucket ``k``."""
        return -(-k * self.window_ms // self.n)

    def advance(self, t_ms: int) -> None:
        """Move the ring to ``t_ms``, clearing the buckets that left the window."""
        i = t_ms * self.n // self.window_ms
        h = self.head
        n1 = self.n + 1
        s = self.slots
        if i > h:
            if i - h >= n1:
                self.slots = s = array("d", bytes(8 * n1))
                self.total = 0.0
            else:
                dropped = False
                for j in range(h + 1, i + 1):
                    k = j % n1
                    if s[k]:
                        s[k] = 0.0
                        dropped = True
                if dropped:
                    self.total = math.fsum(s)
            self.head = i
        o = (self.head - self.n) % n1  # the oldest bucket leaves once its latest instant has
        if s[o] and self.marks[o] <= t_ms - self.window_ms:
            s[o] = 0.0
            self.total = math.fsum(s)

    def add(self, k: int, delta: float, at_ms: int) -> None:
        """Add ``delta`` recorded at ``at_ms`` to live bucket ``k`` (never below zero)."""
        slot = k % (self.n + 1)
        old = self.slots[slot]
        new = old + delta
        if new < 0.0:
            new = 0.0
        self.slots[slot] = new
        if delta > 0.0 and (not old or at_ms > self.marks[slot]):
            self.marks[slot] = at_ms
        self.total = max(0.0, self.total + (new - old))

    def holds(self, at_ms: int, t_ms: int) -> bool:
        """Whether usage recorded at ``at_ms`` is still counted at ``t_ms`` (ring advanced)."""
        return at_ms > t_ms - self.window_ms and self.index(at_ms) <= self.head

    def reading(self, t_ms: int) -> Reading:
        self.advance(t_ms)
        s, n1 = self.slots, self.n + 1
        for k in range(self.head, self.head - n1, -1):
            if s[k % n1]:
                return Reading(self.total, self.marks[k % n1] + self.window_ms)
        return Reading(self.total, t_ms)

    def free_at(self, need: float, limit: float, t_ms: int) -> int | None:
        self.advance(t_ms)
        if fits(self.total, need, limit):
            return t_ms
        if not fits(0.0, need, limit):
            return None
        s, n1 = self.slots, self.n + 1
        rest = 0.0  # usage left once every bucket up to d has left the window
        best = self.head
        for d in range(self.head, self.head - n1, -1):
            if not fits(rest, need, limit):
                break
            best = d
            rest += s[d % n1]
        return self.marks[best % n1] + self.window_ms  # bucket `best` leaves W after its mark

    def pack(self) -> bytes:
        if sys.byteorder == "big":
            copy = array("d", self.slots)
            copy.byteswap()
            return copy.tobytes()
        return self.slots.tobytes()
