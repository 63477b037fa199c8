"""Limits and budgets: the Limiter over the embedded MemoryStore (runtime/limits.py, store.py).

The central property is checked with hypothesis against a brute-force reference: over random
request streams, random (even backwards) clocks and random policies, the usage admitted in ANY
window of a policy's length never exceeds its limit; a rejection happens only when the window
widened by the documented error bound (one bucket) is full; and ``retry_after_s`` is exact.
"""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from localrouter.compiler.table import LimitPolicy, ModelInfo
from localrouter.errors import LimitStateError
from localrouter.runtime.limits import (
    Admission,
    Limiter,
    Rejection,
    estimate_for,
    price,
    usage,
)
from localrouter.runtime.store import MemoryStore
from localrouter.runtime.window import Ring

T0 = 1_728_000_000.0  # 20000 days: a multiple of the bucket width of 1s, 1m, 1h, 1d and 30d
ROOT = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def pol(
    metric: str, amount: float, window_s: int, scope: str = "client", owner: str = "c"
) -> LimitPolicy:
    return LimitPolicy(scope, owner, metric, float(amount), f"{window_s}s", window_s)


def req(tokens: float = 0, cost: float = 0.0) -> dict[str, float]:
    return usage(input_tokens=tokens, cost_usd=cost)


def admitted(v: Admission | Rejection) -> Admission:
    assert isinstance(v, Admission), getattr(v, "message", v)
    return v


def rejected(v: Admission | Rejection) -> Rejection:
    assert isinstance(v, Rejection), v
    return v


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter(clock: Clock) -> Limiter:
    return Limiter(MemoryStore(), clock)


# -- the reference model --------------------------------------------------------------------


@dataclass
class Event:
    t_ms: int
    amounts: dict[str, float]  # metric -> usage held (reservation, or actual once settled)
    live: bool = True


@dataclass
class Reference:
    """Every admitted request, brute force: no buckets, no running totals."""

    events: list[Event] = field(default_factory=list)

    def window_sum(self, metric: str, lo_ms: int, hi_ms: int) -> float:
        """Usage held by requests admitted at lo_ms <= t < hi_ms."""
        return sum(
            e.amounts.get(metric, 0.0) for e in self.events if e.live and lo_ms <= e.t_ms < hi_ms
        )

    def worst_window(self, metric: str, window_ms: int) -> float:
        starts = {e.t_ms for e in self.events if e.live}
        return max((self.window_sum(metric, a, a + window_ms) for a in starts), default=0.0)


METRICS = ["requests", "input_tokens", "output_tokens", "total_tokens", "cost_usd"]

policy_st = st.builds(
    pol,
    metric=st.sampled_from(METRICS),
    amount=st.integers(1, 40),
    window_s=st.sampled_from([1, 2, 3, 7, 60]),
    owner=st.sampled_from(["a", "b"]),
)
op_st = st.tuples(
    st.one_of(  # clock step in seconds: mostly small, sometimes backwards or a long jump
        st.floats(0, 1.5, allow_nan=False),
        st.floats(-2, 0, allow_nan=False),
        st.sampled_from([0.0, 0.001, 0.5, 1.0, 7.0, 60.0, 61.0]),
    ),
    st.integers(0, 12),  # input tokens
    st.integers(0, 12),  # output tokens
    st.sampled_from(["hold", "settle_same", "settle_less", "release"]),
    st.integers(0, 12),  # the actual tokens when settling for less
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policies=st.lists(policy_st, min_size=1, max_size=3),
    buckets=st.integers(1, 8),
    start=st.floats(0, 1000, allow_nan=False),
    ops=st.lists(op_st, min_size=1, max_size=60),
)
async def test_never_over_a_limit_in_any_window(
    policies: list[LimitPolicy],
    buckets: int,
    start: float,
    ops: list[tuple[float, int, int, str, int]],
) -> None:
    clock = Clock(T0 + start)
    lim = Limiter(MemoryStore(buckets=buckets), clock)
    ref = Reference()
    latest = -(10**18)
    # the policies that apply, one per counter key with the smallest amount (as the Limiter does)
    plan: dict[tuple[str, str, str, int], LimitPolicy] = {}
    for p in policies:
        if p.key not in plan or p.amount < plan[p.key].amount:
            plan[p.key] = p
    for step, tin, tout, action, less in ops:
        clock.t += step
        latest = max(latest, round(clock.t * 1000))  # the store never lets time go backwards
        cost = (tin + tout) / 4
        est = usage(input_tokens=tin, output_tokens=tout, cost_usd=cost)
        verdict = await lim.check(policies, est)
        if isinstance(verdict, Rejection):
            # rejected only if the window widened by one bucket (the error bound) is full
            assert any(
                ref.window_sum(
                    p.metric,
                    latest - p.window_s * 1000 - math.ceil(p.window_s * 1000 / buckets),
                    latest + 1,
                )
                + est[p.metric]
                > p.amount
                for p in plan.values()
            ), verdict.message
            continue
        assert verdict.at_ms == latest
        event = Event(latest, dict(est))
        ref.events.append(event)
        for p in plan.values():  # the windows that hold the new request end after it
            held = ref.window_sum(p.metric, latest - p.window_s * 1000 + 1, latest + 1)
            assert held <= p.amount + 1e-9, (p, held)
        if action == "release":
            assert await lim.release(verdict)
            event.live = False
        elif action in ("settle_same", "settle_less"):
            actual = (
                est
                if action == "settle_same"
                else usage(
                    input_tokens=min(less, tin), output_tokens=0, cost_usd=min(less, tin) / 4
                )
            )
            assert await lim.settle(verdict, actual)
            event.amounts = dict(actual)
    for p in plan.values():  # and, brute force, every window of every policy at the end
        worst = ref.worst_window(p.metric, p.window_s * 1000)
        assert worst <= p.amount + 1e-9, (p, worst)


@settings(max_examples=300, deadline=None)
@given(
    policies=st.lists(policy_st, min_size=1, max_size=3),
    buckets=st.integers(1, 8),
    steps=st.lists(st.one_of(st.floats(0, 0.2), st.sampled_from([0.0, 0.001, 2.0])), max_size=40),
    sizes=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), min_size=41, max_size=41),
    release=st.sets(st.integers(0, 40)),
)
@example(  # the window drains exactly IN_FLIGHT_RETRY_S after now (once taken for a settling wait)
    policies=[pol("requests", 1, 1, owner="a")],
    buckets=1,
    steps=[0.0625],
    sizes=[(0, 0)] * 41,
    release=set(),
)
async def test_retry_after_is_exact(
    policies: list[LimitPolicy],
    buckets: int,
    steps: list[float],
    sizes: list[tuple[int, int]],
    release: set[int],
) -> None:
    clock = Clock(T0 + 0.25)
    lim = Limiter(MemoryStore(buckets=buckets), clock)

    def est(i: int) -> dict[str, float]:
        return usage(input_tokens=sizes[i][0], output_tokens=sizes[i][1], cost_usd=sizes[i][0] / 3)

    for i, step in enumerate(steps):
        clock.t += step
        v = await lim.check(policies, est(i))
        if isinstance(v, Admission) and i in release:
            await lim.release(v)
    probe = est(len(steps))
    v = await lim.check(policies, probe)
    if isinstance(v, Admission):
        event("admitted")
        return
    if v.never:
        event("never")
        assert probe[v.policy.metric] > v.policy.amount
        assert "Retry-After" not in v.headers
        return
    blocking = sum(lim.would_exceed([p], probe) is not None for p in policies)
    event(f"rejected by {min(blocking, 2)} policies")
    assert v.retry_after_s > 0
    ceiling = v.policy.window_s  # never more than the window (the wait is at most W + 0.5 ms)
    assert v.headers["Retry-After"] == str(max(1, min(math.ceil(v.retry_after_s - 1e-9), ceiling)))
    now = clock.t
    clock.t = now + v.retry_after_s - 0.001  # one millisecond early: still refused
    assert lim.would_exceed(policies, probe) is not None
    clock.t = now + v.retry_after_s  # on time: admitted
    assert isinstance(await lim.check(policies, probe), Admission)


# -- arithmetic -----------------------------------------------------------------------------


async def test_reserve_settle_release_arithmetic(limiter: Limiter) -> None:
    tokens = pol("total_tokens", 100, 60)
    a = admitted(await limiter.check([tokens], req(30)))
    assert limiter.remaining([tokens]) == {tokens.key: 70}
    b = admitted(await limiter.check([tokens], req(50)))
    assert limiter.remaining([tokens]) == {tokens.key: 20}
    assert await limiter.settle(a, req(10))  # used less than reserved
    assert limiter.remaining([tokens]) == {tokens.key: 40}
    assert await limiter.release(b)  # failed before any usage
    assert limiter.remaining([tokens]) == {tokens.key: 90}
    assert (
        not await limiter.settle(a, req(99))
        and not await limiter.release(a)
        and not await limiter.release(b)
    )
    assert limiter.remaining([tokens]) == {tokens.key: 90}
    assert not a.open and not b.open


async def test_settle_for_more_is_charged_and_blocks_what_follows(limiter: Limiter) -> None:
    tokens = pol("total_tokens", 100, 60)
    a = admitted(await limiter.check([tokens], req(10)))
    assert await limiter.settle(a, req(130))  # the provider used more than the estimate
    assert limiter.remaining([tokens]) == {tokens.key: 0}
    r = rejected(await limiter.check([tokens], req(1)))
    assert r.headers["x-ratelimit-remaining-total_tokens"] == "0"
    # a request that consumes none of the metric still passes (a free request spends no budget)
    assert isinstance(await limiter.check([tokens], req(0)), Admission)


async def test_a_request_outliving_its_window_is_charged_its_unreserved_excess(
    clock: Clock, limiter: Limiter
) -> None:
    tokens = pol("total_tokens", 100, 1)
    long, short, failed = [admitted(await limiter.check([tokens], req(10))) for _ in range(3)]
    clock.t += 5  # a long stream: the reservations have left the 1 s window
    assert limiter.remaining([tokens]) == {tokens.key: 100}
    await limiter.settle(short, req(5))  # less than reserved: nothing to give back any more
    await limiter.release(failed)
    assert limiter.remaining([tokens]) == {tokens.key: 100}
    await limiter.settle(long, req(70))  # 60 were never reserved: they count from now
    assert limiter.remaining([tokens]) == {tokens.key: 40}


async def test_metrics_missing_from_actual_keep_their_reservation(limiter: Limiter) -> None:
    reqs, tokens = pol("requests", 5, 60), pol("output_tokens", 100, 60)
    a = admitted(await limiter.check([reqs, tokens], usage(output_tokens=40)))
    await limiter.settle(a, {"output_tokens": 25})
    assert limiter.remaining([reqs, tokens]) == {reqs.key: 4, tokens.key: 75}


async def test_all_or_nothing_across_policies(limiter: Limiter) -> None:
    reqs = pol("requests", 10, 60)
    tokens = pol("total_tokens", 100, 3600, scope="strategy", owner="s")
    cost = pol("cost_usd", 1.0, 86400, scope="strategy", owner="s")
    r = rejected(await limiter.check([reqs, tokens, cost], req(150, cost=0.5)))
    assert r.policy == tokens and r.never
    r = rejected(await limiter.check([reqs, tokens, cost], req(50, cost=2.0)))
    assert r.policy == cost
    assert limiter.remaining([reqs, tokens, cost]) == {reqs.key: 10, tokens.key: 100, cost.key: 1}
    admitted(await limiter.check([reqs, tokens, cost], req(60, cost=0.25)))
    assert limiter.remaining([reqs, tokens, cost]) == {reqs.key: 9, tokens.key: 40, cost.key: 0.75}


async def test_policies_on_one_counter_are_merged_smallest_amount_wins(limiter: Limiter) -> None:
    loose, tight = pol("requests", 10, 60), pol("requests", 2, 60)
    assert loose.key == tight.key
    admitted(await limiter.check([loose, tight], req()))
    admitted(await limiter.check([loose, tight], req()))
    r = rejected(await limiter.check([loose, tight], req()))
    assert r.policy == tight
    assert limiter.remaining([loose]) == {loose.key: 8}  # counted once per request, not twice


async def test_strategy_limit_is_shared_by_its_clients(limiter: Limiter) -> None:
    shared = pol("requests", 3, 60, scope="strategy", owner="coding")
    for client in ("a", "b", "a"):
        admitted(await limiter.check([pol("requests", 10, 60, owner=client), shared], req()))
    r = rejected(await limiter.check([pol("requests", 10, 60, owner="b"), shared], req()))
    assert r.policy == shared
    assert limiter.remaining([pol("requests", 10, 60, owner="b")]) == {
        ("client", "b", "requests", 60): 9
    }


async def test_would_exceed_and_remaining_reserve_nothing(limiter: Limiter) -> None:
    cap = pol("requests", 1, 60, scope="provider", owner="groq")
    assert limiter.would_exceed([cap], req()) is None
    assert limiter.would_exceed([cap], req()) is None
    admitted(await limiter.check([cap], req()))
    assert limiter.would_exceed([cap], req()) == cap
    assert limiter.remaining([cap]) == {cap.key: 0}
    assert limiter.remaining([]) == {} and limiter.would_exceed([], req()) is None


async def test_no_policies_admits_without_reserving(limiter: Limiter) -> None:
    a = admitted(await limiter.check([], req(10**9)))
    assert a.headers == {} and not await limiter.settle(a, req(1)) and not await limiter.release(a)


async def test_a_changed_amount_applies_to_the_existing_window(limiter: Limiter) -> None:
    admitted(await limiter.check([pol("requests", 10, 60)], req()))
    admitted(await limiter.check([pol("requests", 10, 60)], req()))
    rejected(
        await limiter.check([pol("requests", 2, 60)], req())
    )  # lowered on reload: already spent
    admitted(await limiter.check([pol("requests", 3, 60)], req()))


def test_estimates_from_prices() -> None:
    m = ModelInfo("openai", "gpt-4o", "api", input_per_mtok=2.5, output_per_mtok=10.0)
    est = estimate_for(m, 1000, 500)
    assert est == {
        "requests": 1.0,
        "input_tokens": 1000.0,
        "output_tokens": 500.0,
        "total_tokens": 1500.0,
        "cost_usd": pytest.approx(0.0075),
    }
    assert price(ModelInfo("ollama", "llama3", "local"), 10**6, 10**6) == 0.0


# -- retry_after and headers ----------------------------------------------------------------


async def test_retry_after_exact_with_an_injected_clock(clock: Clock, limiter: Limiter) -> None:
    # 3 requests a minute: each is counted for exactly 60 s (a bucket leaves W after its latest)
    reqs = pol("requests", 3, 60)
    for at in (0.0, 10.0, 20.0):
        clock.t = T0 + at
        admitted(await limiter.check([reqs], req()))
    clock.t = T0 + 30.0
    r = rejected(await limiter.check([reqs], req()))
    assert r.retry_after_s == pytest.approx(30) and r.retry_at == pytest.approx(T0 + 60)
    assert r.headers["Retry-After"] == "30"
    assert r.message == "client 'c' limit of 3 requests per 60s reached; retry in 30 s"
    clock.t = T0 + 59.999
    r = rejected(await limiter.check([reqs], req()))
    assert r.retry_after_s == pytest.approx(0.001, abs=1e-6)
    assert r.headers["Retry-After"] == "1"  # never 0
    clock.t = T0 + 60
    admitted(await limiter.check([reqs], req()))


async def test_retry_after_waits_for_every_blocking_policy(clock: Clock, limiter: Limiter) -> None:
    ten_min, hour = pol("requests", 1, 600), pol("total_tokens", 10, 3600)
    admitted(await limiter.check([ten_min, hour], req(10)))
    clock.t += 1
    r = rejected(await limiter.check([ten_min, hour], req(5)))
    assert r.policy == hour and r.retry_after_s == pytest.approx(3600 - 1)
    clock.t += 100
    r = rejected(
        await limiter.check([ten_min, hour], req(0))
    )  # the hour does not matter for 0 tokens
    assert r.policy == ten_min and r.retry_after_s == pytest.approx(600 - 101)


async def test_headers_report_the_tightest_policy_of_each_metric(
    clock: Clock, limiter: Limiter
) -> None:
    per_s, per_day = pol("requests", 5, 1), pol("requests", 100, 86400)
    cost = pol("cost_usd", 2.5, 86400, scope="strategy", owner="s")
    a = admitted(await limiter.check([per_day, per_s, cost], req(cost=0.123456789)))
    assert a.headers == {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "4",
        "x-ratelimit-reset-requests": "1",  # exactly the window, never more
        "x-ratelimit-limit-cost_usd": "2.5",
        "x-ratelimit-remaining-cost_usd": "2.376543",
        "x-ratelimit-reset-cost_usd": "86400",
    }
    for _ in range(4):
        admitted(await limiter.check([per_day, per_s, cost], req()))
    clock.t += 0.5
    r = rejected(await limiter.check([per_day, per_s, cost], req()))
    assert r.policy == per_s
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    assert r.headers["x-ratelimit-reset-requests"] == "0.5"
    assert r.headers["Retry-After"] == "1"
    clock.t += 1  # the per-second window emptied: the day is now the tightest
    a = admitted(await limiter.check([per_day, per_s, cost], req()))
    assert a.headers["x-ratelimit-limit-requests"] == "5"  # 4 left of 5 beats 94 left of 100
    assert a.headers["x-ratelimit-remaining-requests"] == "4"


async def test_a_request_larger_than_the_limit_can_never_pass(limiter: Limiter) -> None:
    r = rejected(await limiter.check([pol("input_tokens", 1000, 60)], req(1001)))
    assert r.never and math.isinf(r.retry_after_s) and "Retry-After" not in r.headers
    assert "larger than" in r.message


async def test_a_clock_stepped_back_never_admits_more(clock: Clock, limiter: Limiter) -> None:
    reqs = pol("requests", 2, 10)
    admitted(await limiter.check([reqs], req()))
    admitted(await limiter.check([reqs], req()))
    clock.t -= 3600  # NTP steps the clock back an hour
    r = rejected(await limiter.check([reqs], req()))
    assert r.retry_after_s == pytest.approx(3600 + 10, abs=0.002)
    clock.t = T0 + 9.999
    rejected(await limiter.check([reqs], req()))
    clock.t = T0 + 10
    admitted(await limiter.check([reqs], req()))


# -- persistence ----------------------------------------------------------------------------


async def test_spent_budget_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "state" / "limits.sqlite3"
    budget = pol("cost_usd", 20.0, 30 * 86400, scope="strategy", owner="coding")
    reqs = pol("requests", 60, 60)
    store = MemoryStore(path)
    lim = Limiter(store, clock)
    a = admitted(await lim.check([budget, reqs], req(cost=5.0)))
    await lim.settle(a, req(cost=12.5))
    assert store.snapshot() == 2
    assert os.stat(path).st_mode & 0o777 == 0o600
    for extra in ("-wal", "-shm"):
        if Path(f"{path}{extra}").exists():
            assert os.stat(f"{path}{extra}").st_mode & 0o777 == 0o600
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    clock.t += 3600  # "restart" an hour later
    store2 = MemoryStore(path)
    assert store2.restore() == 2
    lim2 = Limiter(store2, clock)
    assert lim2.remaining([budget, reqs]) == {budget.key: 7.5, reqs.key: 60}
    r = rejected(await lim2.check([budget], req(cost=8.0)))
    assert r.retry_after_s == pytest.approx(30 * 86400 - 3600)  # counted from its instant
    store2.snapshot()  # a second snapshot replaces the first
    assert MemoryStore(path).restore() == 1  # the minute counter has drained: not written


def test_restart_of_a_real_process(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "limits.sqlite3"
    code = (
        "import asyncio, sys; from localrouter.compiler.table import LimitPolicy;"
        "from localrouter.runtime.limits import Limiter, usage;"
        "from localrouter.runtime.store import MemoryStore;"
        "s = MemoryStore(sys.argv[1]); s.restore(); lim = Limiter(s, lambda: float(sys.argv[2]));"
        "p = LimitPolicy('client', 'c', 'total_tokens', 1000.0, '1d', 86400);"
        "a = asyncio.run(lim.check([p], usage(input_tokens=300)));"
        "asyncio.run(lim.settle(a, usage(input_tokens=400)));"
        "s.snapshot()"
    )
    for _ in range(2):  # two runs of a process, each spending 400 tokens
        subprocess.run([sys.executable, "-c", code, str(path), str(T0)], check=True, cwd=ROOT)
    store = MemoryStore(path)
    store.restore()
    lim = Limiter(store, clock)
    p = pol("total_tokens", 1000, 86400)
    assert lim.remaining([p]) == {p.key: 200}


def test_a_missing_file_starts_empty_and_no_path_is_memory_only(tmp_path: Path) -> None:
    assert MemoryStore(tmp_path / "nope.sqlite3").restore() == 0
    assert MemoryStore().snapshot() == 0 and MemoryStore().restore() == 0


def _valid_state(path: Path) -> None:
    store = MemoryStore(path)
    asyncio.run(Limiter(store, Clock()).check([pol("requests", 5, 60)], req()))
    store.snapshot()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: p.write_bytes(b"this is not a database\n" * 100), "not a readable"),
        (lambda p: p.write_bytes(p.read_bytes()[:1500]), ""),
        (lambda p: p.write_bytes(b""), "not a readable"),
        (lambda p: _sql(p, "UPDATE meta SET v = 'other/9' WHERE k = 'format'"), "unknown format"),
        (lambda p: _sql(p, "UPDATE counters SET slots = x'00'"), "wrong size"),
        (lambda p: _sql(p, "UPDATE counters SET buckets = 0"), "bad window"),
        (lambda p: _sql(p, "UPDATE meta SET v = 'soon' WHERE k = 'latest_ms'"), "latest_ms"),
        (lambda p: _sql(p, "DROP TABLE counters"), "not a readable"),
    ],
)
def test_a_corrupt_state_file_fails_closed(
    tmp_path: Path, damage: Callable[[Path], object], reason: str
) -> None:
    path = tmp_path / "limits.sqlite3"
    _valid_state(path)
    damage(path)
    store = MemoryStore(path)
    with pytest.raises(LimitStateError) as info:
        store.restore()
    message = str(info.value)
    assert str(path) in message and reason in message and "move it" in message
    assert store.keys() == []  # nothing half-loaded


def test_negative_bucket_data_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "limits.sqlite3"
    _valid_state(path)
    bad = Ring(60_000, 120)
    bad.slots[3] = -1.0
    _sql(path, "UPDATE counters SET slots = ?", (bad.pack(),))
    with pytest.raises(LimitStateError, match="non-negative"):
        MemoryStore(path).restore()


def test_snapshot_never_overwrites_a_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "limits.sqlite3"
    path.write_bytes(b"precious, not ours")
    with pytest.raises(LimitStateError):
        MemoryStore(path).snapshot()
    assert path.read_bytes() == b"precious, not ours"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_state_file_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "limits.sqlite3"
    _valid_state(path)
    path.chmod(0)
    with pytest.raises(LimitStateError, match=r"limits\.sqlite3"):
        MemoryStore(path).restore()


def test_a_state_path_that_cannot_be_opened_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "limits.sqlite3"
    path.mkdir()  # e.g. a mistaken volume mount
    with pytest.raises(LimitStateError, match="not a readable state database"):
        MemoryStore(path).restore()
    with pytest.raises(LimitStateError, match="cannot write it"):
        MemoryStore(path).snapshot()


def _sql(path: Path, statement: str, args: tuple[object, ...] = ()) -> None:
    con = sqlite3.connect(path)
    with con:
        con.execute(statement, args)
    con.close()


async def test_counters_of_removed_policies_are_kept_until_drained(clock: Clock) -> None:
    store = MemoryStore()
    lim = Limiter(store, clock)
    old, new = pol("requests", 5, 60, owner="old"), pol("requests", 5, 60, owner="new")
    admitted(await lim.check([old], req()))
    admitted(await lim.check([new], req()))
    assert store.prune({new.key}, round(clock.t * 1000)) == 0  # old still holds usage
    assert lim.remaining([old]) == {old.key: 4}
    clock.t += 61
    assert store.prune({new.key}, round(clock.t * 1000)) == 1
    assert store.keys() == [new.key]


# -- memory and speed -----------------------------------------------------------------------


async def test_memory_per_counter_is_constant(clock: Clock) -> None:
    store = MemoryStore()
    lim = Limiter(store, clock)
    policies = [pol("requests", 1e9, 60), pol("total_tokens", 1e12, 86400)]
    ring = store.ring(policies[0].key)
    sizes = None
    for i in range(100_000):
        clock.t += (i % 97) / 1000  # 0 to 96 ms apart: every bucket is used, again and again
        a = await lim.check(policies, req(i % 300))
        assert isinstance(a, Admission)
        if i % 3:
            await lim.settle(a, req(i % 200))
        if i == 10:
            ring = store.ring(policies[0].key)
            assert ring is not None
            sizes = (len(ring.slots), sys.getsizeof(ring.slots))
    assert ring is not None and store.ring(policies[0].key) is ring
    assert (len(ring.slots), sys.getsizeof(ring.slots)) == sizes == (121, sys.getsizeof(ring.slots))
    assert len(store.keys()) == 2


async def _per_check_us(lim: Limiter, clock: Clock, policies: list[LimitPolicy], n: int) -> float:
    est = req(100, cost=0.001)
    t0 = time.perf_counter()
    for _ in range(n):
        clock.t += 0.0003
        a = await lim.check(policies, est)
        await lim.settle(a, est)  # type: ignore[arg-type]
    return (time.perf_counter() - t0) / n * 1e6


@pytest.fixture
def three_policies() -> Iterator[list[LimitPolicy]]:
    yield [
        pol("requests", 1e9, 60),
        pol("total_tokens", 1e12, 86400),
        pol("cost_usd", 1e9, 30 * 86400, scope="strategy", owner="s"),
    ]


async def test_speed_of_check_with_three_policies(
    clock: Clock, three_policies: list[LimitPolicy]
) -> None:
    lim = Limiter(MemoryStore(), clock)
    await _per_check_us(lim, clock, three_policies, 2000)  # warm up
    est = req(100, cost=0.001)
    n = 20_000
    t0 = time.perf_counter()
    for _ in range(n):
        clock.t += 0.0003
        await lim.check(three_policies, est)
    check_us = (time.perf_counter() - t0) / n * 1e6
    both_us = await _per_check_us(lim, clock, three_policies, n)
    print(f"\nlimits: check {check_us:.1f} µs, check+settle {both_us:.1f} µs (3 policies)")
    assert check_us < 100  # measured ~6 µs on the dev machine; generous for slow CI
