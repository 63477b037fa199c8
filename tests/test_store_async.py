"""The counter store's async interface over the embedded store (runtime/store.py).

``MemoryStore``'s async calls never suspend, so awaiting one costs only the coroutine call and a
check stays atomic on the event loop; its sync local view (``local_readings``, what the router's
caps skip reads) is the store itself, equal to the awaited readings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from localrouter.compiler.table import LimitPolicy
from localrouter.runtime.limits import Admission, Limiter, Rejection, usage
from localrouter.runtime.store import Key, MemoryStore, Reserved
from localrouter.runtime.window import Reading

T = TypeVar("T")
KEY: Key = ("client", "c", "requests", 60)
T0_MS = 1_728_000_000_000


def at_once(coro: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that finishes on its first step; fails if it suspends."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("the store suspended")


def test_memory_store_calls_finish_without_suspending() -> None:
    store = MemoryStore()
    got = at_once(store.reserve([(KEY, 1.0, 2.0, 1.0)], T0_MS))
    assert isinstance(got, Reserved) and got.readings == (Reading(1.0, T0_MS + 60_000),)
    at_once(store.adjust([(KEY, 0.5)], got.at_ms, T0_MS + 1))
    now = T0_MS + 2
    assert at_once(store.readings([KEY], now)) == store.local_readings([KEY], now)
    assert store.local_readings([KEY], now) == (Reading(1.5, T0_MS + 60_000),)
    assert at_once(store.reserve([(KEY, 1.0, 2.0, 1.0)], now)) == 0  # does not fit: nothing added
    assert at_once(store.free_at(KEY, 1.0, 2.0, now)) == T0_MS + 60_000
    assert at_once(store.free_at(KEY, 3.0, 2.0, now)) is None


async def test_concurrent_checks_admit_exactly_the_limit() -> None:
    lim = Limiter(MemoryStore(), time.time)
    p = LimitPolicy("client", "c", "requests", 10.0, "1m", 60)
    verdicts = await asyncio.gather(*(lim.check([p], usage()) for _ in range(50)))
    assert sum(isinstance(v, Admission) for v in verdicts) == 10
    assert all(isinstance(v, Rejection) for v in verdicts[10:])
    assert lim.remaining([p]) == {p.key: 0} and lim.would_exceed([p], usage()) == p
