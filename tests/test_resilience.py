"""Resilience: circuit breakers, retries and the retry budget, health checks and latency.

Everything runs on an injected clock (and, for the background checks, an injected sleep that
advances it), so breaker transitions, backoff and schedules are exact and nothing sleeps for real
more than a few milliseconds. Properties are checked with hypothesis: the breaker never lets two
probes out nor a call through while open; retry delays stay in ``[0, max]`` and within the
deadline with bounded attempts; the retry budget bounds retries by ``ratio·requests + floor``;
the latency sketch is within its 2 % relative error and merges exactly.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localrouter.compiler.build import build
from localrouter.compiler.settings import HealthSettings
from localrouter.compiler.table import Fallback, ModelInfo, Provider, RoutingTable
from localrouter.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnsupported,
)
from localrouter.routing.facts import NowFacts, RequestFacts
from localrouter.routing.route import route
from localrouter.runtime.breakers import (
    CIRCUIT_OPEN,
    Breakers,
    State,
    breaker_key,
)
from localrouter.runtime.health import HealthMonitor, LatencySketch
from localrouter.runtime.retry import (
    GiveUp,
    NextCandidate,
    Retry,
    RetryBudget,
    RetryPolicy,
    classify,
    provider_fault,
)

KEY = ("groq", "https://api.groq.com/openai/v1")


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def provider(name: str, base_url: str | None = None) -> Provider:
    return Provider(name, "mock", "mock", base_url, None, "local", 5.0, 60.0, {}, (), False)


def model(provider_name: str, name: str = "m") -> ModelInfo:
    return ModelInfo(provider_name, name, "local")


def http(status: int, retry_after: float | None = None) -> UpstreamHTTPError:
    return UpstreamHTTPError(f"HTTP {status}", provider="p", status=status, retry_after=retry_after)


# ============================================================================ breakers


def test_breaker_opens_after_consecutive_failures_and_success_resets() -> None:
    clock = Clock()
    b = Breakers(clock, failure_threshold=3, recovery_s=30)
    b.record_failure(KEY)
    b.record_failure(KEY)
    b.record_success(KEY)  # the count is of CONSECUTIVE failures
    b.record_failure(KEY)
    b.record_failure(KEY)
    assert b.state(KEY) is State.CLOSED and b.allow(KEY)
    b.record_failure(KEY)
    assert b.state(KEY) is State.OPEN
    permit = b.allow(KEY)
    assert not permit and permit.reason == CIRCUIT_OPEN == "circuit open"
    assert b.peek(KEY) == CIRCUIT_OPEN
    [info] = b.info()
    assert (info.provider, info.state, info.trips, info.retry_in_s) == ("groq", "open", 1, 30.0)
    assert b.allow(("other", "")) and b.peek(("other", "")) is None  # one breaker per key


def test_half_open_after_recovery_lets_exactly_one_probe() -> None:
    clock = Clock()
    b = Breakers(clock, failure_threshold=1, recovery_s=30)
    b.record_failure(KEY)
    clock.advance(29.999)
    assert not b.allow(KEY) and b.state(KEY) is State.OPEN
    clock.advance(0.001)
    assert b.state(KEY) is State.HALF_OPEN
    assert b.peek(KEY) is None  # a candidate the router keeps: the probe is available
    probe = b.allow(KEY)
    assert probe and probe.probe
    assert b.peek(KEY) == CIRCUIT_OPEN  # the probe is out: others are refused
    assert [bool(b.allow(KEY)) for _ in range(5)] == [False] * 5
    b.record_success(KEY)
    assert b.state(KEY) is State.CLOSED and b.info() == []  # back to the initial state
    assert all(b.allow(KEY) for _ in range(5))


def test_failed_probe_reopens_with_the_timer_restarted() -> None:
    clock = Clock()
    b = Breakers(clock, failure_threshold=2, recovery_s=10)
    b.record_failure(KEY)
    b.record_failure(KEY)
    clock.advance(15)  # recovery passed 5 s ago: the timer restarts at the probe's failure
    assert b.allow(KEY).probe
    clock.advance(3)
    b.record_failure(KEY)
    assert b.state(KEY) is State.OPEN
    clock.advance(9.999)
    assert not b.allow(KEY)
    clock.advance(0.001)
    assert b.allow(KEY).probe
    assert b.info()[0].trips == 2


def test_failures_while_open_do_not_extend_it_and_late_successes_do_not_close_it() -> None:
    clock = Clock()
    b = Breakers(clock, failure_threshold=1, recovery_s=10)
    b.record_failure(KEY)
    for _ in range(3):
        clock.advance(3)
        b.record_failure(KEY)  # requests that started before it opened
        b.record_success(KEY)
    assert b.state(KEY) is State.OPEN
    clock.advance(1)  # 10 s after opening
    assert b.state(KEY) is State.HALF_OPEN


def test_health_check_outcome_acts_as_the_probe_once_recovered() -> None:
    clock = Clock()
    b = Breakers(clock, failure_threshold=1, recovery_s=10)
    b.record_failure(KEY)
    clock.advance(10)
    b.record_failure(KEY)  # a failed check after recovery: open again, timer restarted
    clock.advance(9)
    assert b.state(KEY) is State.OPEN
    clock.advance(1)
    b.record_success(KEY)  # a successful check: closed without waiting for traffic
    assert b.state(KEY) is State.CLOSED


def test_released_probe_lets_the_next_caller_probe() -> None:
    clock = Clock()
    b = Breakers(clock, failure_threshold=1, recovery_s=5)
    b.record_failure(KEY)
    clock.advance(5)
    assert b.allow(KEY).probe
    assert not b.allow(KEY)
    b.release(KEY)  # e.g. the probe got a 429: it says nothing about the provider
    assert b.state(KEY) is State.HALF_OPEN
    assert b.allow(KEY).probe


def test_a_lost_probe_expires_after_the_probe_ttl() -> None:
    clock = Clock()
    b = Breakers(clock, failure_threshold=1, recovery_s=5, probe_ttl_s=2)
    b.record_failure(KEY)
    clock.advance(5)
    assert b.allow(KEY).probe  # ... and its task is cancelled: no outcome ever comes
    clock.advance(1.999)
    assert not b.allow(KEY)
    clock.advance(0.001)
    assert b.allow(KEY).probe


def test_configure_keeps_state_and_applies_new_settings() -> None:
    clock = Clock()
    b = Breakers(clock, failure_threshold=5, recovery_s=60)
    for _ in range(3):
        b.record_failure(KEY)
    b.configure(failure_threshold=4)
    b.record_failure(KEY)  # the 4th consecutive failure, counted across the reload
    assert b.state(KEY) is State.OPEN
    clock.advance(20)
    b.configure(recovery_s=20)  # recovery is measured from when it opened
    assert b.state(KEY) is State.HALF_OPEN
    assert b.settings.failure_threshold == 4 and b.settings.recovery_s == 20
    with pytest.raises(ValueError):
        b.configure(failure_threshold=0)


def test_transitions_are_reported_in_order_and_retain_forgets_gone_endpoints() -> None:
    clock = Clock()
    seen: list[tuple[str, str, str]] = []
    b = Breakers(
        clock, 1, 10, on_transition=lambda k, old, new: seen.append((k[0], old.value, new.value))
    )
    b.record_failure(KEY)
    clock.advance(10)
    b.record_failure(KEY)  # lazily half-open, then open again
    clock.advance(10)
    assert b.allow(KEY).probe
    b.record_success(KEY)
    assert seen == [
        ("groq", "closed", "open"),
        ("groq", "open", "half_open"),
        ("groq", "half_open", "open"),
        ("groq", "open", "half_open"),
        ("groq", "half_open", "closed"),
    ]
    b.record_failure(("gone", ""))
    b.record_failure(KEY)
    assert b.retain({KEY}) == 1
    assert [i.provider for i in b.info()] == ["groq"]


async def test_single_probe_under_concurrent_tasks() -> None:
    """Fifty requests arrive together at a half-open breaker: one probe goes out; while it is
    in flight (the tasks yield to each other) every other caller is refused; its failure opens
    the breaker again; after recovery a successful probe closes it for everyone."""
    clock = Clock()
    b = Breakers(clock, failure_threshold=3, recovery_s=30)
    for _ in range(3):
        b.record_failure(KEY)
    clock.advance(30)
    calls: list[int] = []
    refused: list[int] = []

    async def request(i: int, succeed: bool) -> None:
        await asyncio.sleep(0)
        permit = b.allow(KEY)
        if not permit:
            refused.append(i)
            return
        calls.append(i)
        for _ in range(3):  # the upstream call: the others run meanwhile
            await asyncio.sleep(0)
        if succeed:
            b.record_success(KEY)
        else:
            b.record_failure(KEY)

    await asyncio.gather(*(request(i, succeed=False) for i in range(50)))
    assert len(calls) == 1 and len(refused) == 49
    assert b.state(KEY) is State.OPEN
    calls.clear()
    refused.clear()
    await asyncio.gather(*(request(i, succeed=True) for i in range(50)))
    assert b.state(KEY) is State.OPEN and calls == []  # still recovering: nobody got through
    clock.advance(30)
    await asyncio.gather(*(request(i, succeed=True) for i in range(50)))
    assert len(calls) == 1 and b.state(KEY) is State.CLOSED
    calls.clear()
    await asyncio.gather(*(request(i, succeed=True) for i in range(50)))
    assert len(calls) == 50


breaker_ops = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.floats(0, 12, allow_nan=False)),
        st.tuples(st.sampled_from(["allow", "success", "failure", "release"]), st.just(0.0)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(ops=breaker_ops, threshold=st.integers(1, 4), recovery=st.sampled_from([0.5, 5.0, 10.0]))
def test_breaker_invariants(ops: list[tuple[str, float]], threshold: int, recovery: float) -> None:
    """Never a call through while open, never two probes out, open exactly at the threshold,
    always allowed while closed — for any interleaving of outcomes and time."""
    clock = Clock()
    ttl = 7.0
    b = Breakers(clock, threshold, recovery, probe_ttl_s=ttl)
    opened_at: float | None = None  # when it last opened (None: closed)
    probe_at: float | None = None  # an outstanding probe
    consecutive = 0
    for op, dt in ops:
        if op == "advance":
            clock.advance(dt)
            continue
        before = b.state(KEY)
        if op == "allow":
            permit = b.allow(KEY)
            if before is State.CLOSED:
                assert permit and not permit.probe
            elif permit:
                assert permit.probe
                assert opened_at is not None and clock.t - opened_at >= recovery
                assert probe_at is None or clock.t - probe_at >= ttl  # never two probes out
                probe_at = clock.t
            else:
                assert permit.reason == CIRCUIT_OPEN
        elif op == "failure":
            b.record_failure(KEY)
            if before is State.CLOSED:
                consecutive += 1
                assert (b.state(KEY) is State.OPEN) == (consecutive >= threshold)
                if consecutive >= threshold:
                    opened_at, probe_at, consecutive = clock.t, None, 0
            elif before is State.HALF_OPEN:
                assert b.state(KEY) is State.OPEN
                opened_at, probe_at = clock.t, None
            else:
                assert b.state(KEY) is State.OPEN
        elif op == "success":
            b.record_success(KEY)
            consecutive = 0
            if before is State.HALF_OPEN:
                assert b.state(KEY) is State.CLOSED
                opened_at = probe_at = None
            else:
                assert b.state(KEY) is before
        else:
            b.release(KEY)
            probe_at = None
        if opened_at is not None and clock.t - opened_at < recovery:
            assert b.state(KEY) is State.OPEN and b.peek(KEY) == CIRCUIT_OPEN


# ============================================================================ retries


@pytest.mark.parametrize(
    ("error", "kind", "fault"),
    [
        (UpstreamConnectError("refused"), "retry", True),
        (UpstreamTimeout("slow"), "retry", True),
        (UpstreamProtocolError("bad json"), "retry", True),
        (http(429), "retry", None),
        (http(500), "retry", True),
        (http(503), "retry", True),
        (http(408), "retry", True),
        (http(501), "next", True),
        (http(400), "next", None),  # the content refused: another model may take it
        (http(422), "next", None),
        (http(413), "next", None),
        (http(401), "next", None),
        (http(403), "next", None),
        (http(404), "next", None),
        (UpstreamUnsupported("no embeddings here"), "next", None),
        (UpstreamError("no status"), "retry", True),
        (TimeoutError(), "retry", True),
        (ValueError("a bug"), "give_up", None),
    ],
)
def test_classification(error: BaseException, kind: str, fault: bool | None) -> None:
    assert classify(error) == kind
    assert provider_fault(error) is fault


def policy(seed: int = 1, **kw: float) -> RetryPolicy:
    args: dict[str, float] = {
        "attempts": 3,
        "backoff_min_ms": 100,
        "backoff_max_ms": 2000,
        "deadline_s": 30,
    }
    args.update(kw)
    return RetryPolicy(
        int(args["attempts"]),
        args["backoff_min_ms"],
        args["backoff_max_ms"],
        args["deadline_s"],
        random.Random(seed),
    )


def test_decide_verdicts() -> None:
    p = policy()
    assert p.decide(http(400), 1, 0.0) == NextCandidate("the request's content was refused")
    assert p.decide(http(422), 1, 0.0) == NextCandidate("the request's content was refused")
    assert isinstance(p.decide(http(401), 1, 0.0), NextCandidate)
    assert isinstance(p.decide(http(404), 1, 0.0), NextCandidate)
    assert isinstance(p.decide(UpstreamUnsupported("x"), 1, 0.0), NextCandidate)
    assert isinstance(p.decide(http(503), 1, 0.0), Retry)
    assert isinstance(p.decide(http(503), 2, 0.0), Retry)
    assert p.decide(http(503), 3, 0.0) == NextCandidate("3 attempts failed")
    assert isinstance(p.decide(http(503), 1, 30.0), GiveUp)  # the deadline has passed
    # Retry-After: honoured when short, "next candidate" when longer than the backoff max
    r = p.decide(http(429, retry_after=1.5), 1, 0.0)
    assert isinstance(r, Retry) and r.delay_s == 1.5 and r.reason == "Retry-After"
    assert isinstance(p.decide(http(429, retry_after=2.5), 1, 0.0), NextCandidate)
    # ... and when it would end past the deadline
    assert isinstance(p.decide(http(429, retry_after=1.5), 1, 29.0), NextCandidate)
    assert isinstance(policy(attempts=1).decide(http(503), 1, 0.0), NextCandidate)


def test_backoff_is_full_jitter_exponential_and_seeded() -> None:
    p, q = policy(seed=7), policy(seed=7)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.6), (6, 2.0), (40, 2.0)]:
        assert p.ceiling_s(attempt) == pytest.approx(ceiling)
        d = p.backoff(attempt)
        assert d == q.backoff(attempt) == pytest.approx(rng.uniform(0, ceiling))
        assert 0 <= d <= ceiling
    # a short Retry-After never shortens the backoff: the delay is max(retry_after, backoff)
    r = policy(seed=3, backoff_min_ms=2000).decide(http(429, retry_after=0.01), 1, 0.0)
    assert isinstance(r, Retry) and r.delay_s == pytest.approx(random.Random(3).uniform(0, 2.0))


def test_policy_from_fallback_and_validation() -> None:
    p = RetryPolicy.from_fallback(Fallback(4, 50, 500), deadline_s=10, rng=random.Random(0))
    assert (p.attempts, p.backoff_min_ms, p.backoff_max_ms, p.deadline_s) == (4, 50, 500, 10)
    for bad in ({"attempts": 0}, {"backoff_min_ms": 300, "backoff_max_ms": 200}, {"deadline_s": 0}):
        with pytest.raises(ValueError):
            policy(**bad)


def test_budget_refusal_turns_a_retry_into_next_candidate() -> None:
    clock = Clock()
    budget = RetryBudget(clock, ratio=0.2, min_per_s=1.0)
    p = policy()
    assert isinstance(p.decide(http(503), 1, 0.0, budget), Retry)  # the reserve's one token
    assert p.decide(http(503), 1, 0.0, budget) == NextCandidate("retry budget exhausted")
    assert isinstance(p.decide(http(400), 1, 0.0, budget), NextCandidate)  # spends nothing
    assert budget.spent == 1 and budget.refused == 1


def test_retry_budget_is_credited_by_requests_and_decays() -> None:
    clock = Clock()
    budget = RetryBudget(clock, ratio=0.2, min_per_s=1.0, ttl_s=10)
    assert budget.try_spend() and not budget.try_spend()  # the reserve holds one
    for _ in range(10):
        budget.record_request()
    assert budget.try_spend() and budget.try_spend()  # 10 requests × 20 % = 2 retries
    assert not budget.try_spend()
    clock.advance(0.5)
    assert not budget.try_spend()  # half a reserve token
    clock.advance(0.5)
    assert budget.try_spend()
    for _ in range(1000):  # a busy calm period...
        budget.record_request()
    clock.advance(100)  # ... long ago: its deposits have decayed (e^-10)
    assert budget.available == pytest.approx(1.0 + 200 * math.exp(-10), rel=1e-6)
    with pytest.raises(ValueError):
        RetryBudget(clock, ratio=-1)


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.sampled_from(["request", "retry"]), st.floats(0, 3, allow_nan=False)),
        max_size=300,
    ),
    ratio=st.sampled_from([0.0, 0.1, 0.2, 0.5]),
    floor=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
)
def test_retry_budget_bounds_retries(
    events: list[tuple[str, float]], ratio: float, floor: float
) -> None:
    clock = Clock()
    budget = RetryBudget(clock, ratio=ratio, min_per_s=floor)
    start = clock.t
    for op, dt in events:
        clock.advance(dt)
        if op == "request":
            budget.record_request()
        else:
            budget.try_spend()
        bound = ratio * budget.requests + floor * (clock.t - start) + budget.reserve_cap
        assert budget.spent <= bound + 1e-6


errors = st.sampled_from(
    [
        http(500),
        http(503),
        http(429),
        http(429, retry_after=0.05),
        http(429, retry_after=1.0),
        http(429, retry_after=60.0),
        UpstreamTimeout("t"),
        UpstreamConnectError("c"),
        http(401),
        http(404),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    attempts=st.integers(1, 6),
    lo=st.integers(0, 500),
    span=st.integers(0, 3000),
    deadline=st.floats(0.1, 20),
    candidates=st.integers(1, 4),
    outcomes=st.lists(st.tuples(errors, st.floats(0, 2, allow_nan=False)), min_size=1),
)
def test_retry_loop_is_bounded(
    seed: int,
    attempts: int,
    lo: int,
    span: int,
    deadline: float,
    candidates: int,
    outcomes: list[tuple[UpstreamError, float]],
) -> None:
    """A dispatcher loop driven by decide(): every delay in [0, max]; never asleep past the
    deadline; at most ``attempts`` calls per candidate; it always ends."""
    p = RetryPolicy(attempts, lo, lo + span, deadline, random.Random(seed))
    elapsed, calls, i = 0.0, 0, 0
    for _ in range(candidates):
        attempt = 0
        while True:
            error, call_s = outcomes[i % len(outcomes)]
            i += 1
            attempt += 1
            calls += 1
            assert attempt <= attempts
            elapsed += call_s
            verdict = p.decide(error, attempt, elapsed)
            if isinstance(verdict, Retry):
                assert 0 <= verdict.delay_s <= p.backoff_max_s
                elapsed += verdict.delay_s
                assert elapsed <= deadline
                continue
            break
        if isinstance(verdict, GiveUp):
            break
    assert calls <= attempts * candidates


# ============================================================================ latency sketch

latencies = st.floats(0.05, 600_000, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(latencies, min_size=1, max_size=300), q=st.sampled_from([0.5, 0.9, 0.1]))
def test_sketch_quantile_within_two_percent(values: list[float], q: float) -> None:
    sketch = LatencySketch(max_bins=1000)
    for v in values:
        sketch.add(v, 0.0)
    exact = sorted(values)[max(0, math.ceil(q * len(values)) - 1)]
    got = sketch.quantile(q)
    assert got is not None
    assert abs(got - exact) <= LatencySketch.ALPHA * exact * (1 + 1e-9)


@settings(max_examples=200, deadline=None)
@given(
    a=st.lists(st.tuples(latencies, st.floats(0, 3000)), max_size=60),
    b=st.lists(st.tuples(latencies, st.floats(0, 3000)), max_size=60),
)
def test_sketch_merge_equals_one_sketch_of_both(
    a: list[tuple[float, float]], b: list[tuple[float, float]]
) -> None:
    sa, sb, both = LatencySketch(60), LatencySketch(60), LatencySketch(60)
    for v, t in a:
        sa.add(v, t)
    for v, t in b:
        sb.add(v, t)
    for v, t in sorted(a + b, key=lambda x: x[1]):
        both.add(v, t)
    sa.merge(sb)
    for q in (0.1, 0.5, 0.9):
        got, want = sa.quantile(q), both.quantile(q)
        assert (got is None) == (want is None)
        if got is not None and want is not None:  # equal up to float rounding at a bucket edge
            assert abs(math.log(got / want)) <= LatencySketch.LOG_GAMMA + 1e-9


def test_sketch_follows_recent_latency_and_stays_bounded() -> None:
    s = LatencySketch(half_life_s=60)
    for i in range(1000):
        s.add(100.0, i * 0.1)
    assert s.quantile(0.5) == pytest.approx(100.0, rel=0.02)
    for i in range(100):  # ten minutes later the provider got slow: a tenth as many calls
        s.add(1000.0, 700 + i)
    assert s.quantile(0.5) == pytest.approx(1000.0, rel=0.02)  # old weights: 2^-11 each
    s.add(5000.0, 1e6)  # much later: renormalised, the ancient buckets dropped
    assert len(s) == 1 and s.quantile(0.5) == pytest.approx(5000.0, rel=0.02)
    wide = LatencySketch(max_bins=16)
    for v in range(1, 100_000, 7):
        wide.add(float(v), 0.0)
    assert len(wide) <= 16
    assert wide.quantile(0.99) == pytest.approx(99_000, rel=0.03)  # high quantiles intact
    assert LatencySketch().quantile(0.5) is None


# ============================================================================ health monitor


class VirtualTime:
    """asyncio.sleep on the fake clock: sleepers wait for the clock; ``run_until`` moves it to
    the earliest wake-up whenever every task is waiting."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.wakeups: list[float] = []

    async def sleep(self, seconds: float) -> None:
        target = self.clock.t + seconds
        self.wakeups.append(target)
        try:
            while self.clock.t < target:
                await asyncio.sleep(0)
        finally:
            self.wakeups.remove(target)

    async def run_until(self, pred: Callable[[], bool]) -> None:
        for _ in range(5_000):
            for _ in range(4):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if pred():
                return
            if self.wakeups:
                self.clock.t = max(self.clock.t, min(self.wakeups))
        raise AssertionError("condition never met")


class FakeProbe:
    """A provider that answers (after ``latency_s`` of fake time) or fails, on a script."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.failing: set[str] = set()
        self.hang: set[str] = set()
        self.latency_s = 0.05
        self.calls: list[tuple[str, float]] = []
        self.sleep: Callable[[float], Awaitable[None]] | None = None  # virtual time, when set

    async def __call__(self, p: Provider) -> None:
        self.calls.append((p.name, self.clock.t))
        if p.name in self.hang:
            await asyncio.sleep(10)
        if self.sleep is not None:
            await self.sleep(self.latency_s)
        else:
            self.clock.advance(self.latency_s)
        if p.name in self.failing:
            raise UpstreamConnectError(f"{p.name}: connection refused", provider=p.name)


def monitor(clock: Clock, probe: FakeProbe, **kw: float) -> HealthMonitor:
    args: dict[str, float] = {
        "interval_s": 30,
        "timeout_s": 5,
        "failure_threshold": 3,
        "recovery_s": 60,
    }
    args.update(kw)
    return HealthMonitor(
        clock,
        args["interval_s"],
        args["timeout_s"],
        int(args["failure_threshold"]),
        args["recovery_s"],
        Breakers(clock),
        probe=probe,
    )


async def test_checks_mark_unhealthy_open_the_breaker_and_recover() -> None:
    clock = Clock()
    probe = FakeProbe(clock)
    mon = monitor(clock, probe)
    a, b = provider("a", "http://a"), provider("b", "http://b")
    mon.reconcile({"a": a, "b": b})
    ma = model("a")
    probe.failing.add("a")
    for _ in range(2):
        assert await mon.check("a")  # still healthy: 1 and 2 failures
    assert mon.skip(ma) is None
    assert not await mon.check("a")
    assert not mon.healthy(ma)
    assert mon.skip(ma) == CIRCUIT_OPEN  # the breaker opened on the same third failure
    assert mon.breakers.state(breaker_key(a)) is State.OPEN
    assert mon.skip(model("b")) is None
    st_a = mon.status()["a"]
    assert (st_a.healthy, st_a.circuit, st_a.failures) == (False, "open", 3)
    assert st_a.last_error == "a: connection refused"
    # recovery: the circuit turns half-open; a live probe succeeds; health waits for a check
    clock.advance(60)
    assert mon.skip(ma) == "unhealthy"
    assert mon.breakers.allow(breaker_key(a)).probe
    mon.observe(a, ma.id, 120.0, ok=True)
    assert mon.breakers.state(breaker_key(a)) is State.CLOSED
    assert mon.skip(ma) == "unhealthy"
    probe.failing.clear()
    assert await mon.check("a")
    assert mon.skip(ma) is None and mon.status()["a"].check_p50_ms == pytest.approx(50, rel=0.02)
    with pytest.raises(KeyError):
        await mon.check("nope")


async def test_a_hanging_check_times_out() -> None:
    clock = Clock()
    probe = FakeProbe(clock)
    probe.hang.add("a")
    mon = monitor(clock, probe, timeout_s=0.01, failure_threshold=1)
    mon.reconcile({"a": provider("a")})
    assert not await mon.check("a")
    assert mon.status()["a"].last_error == "no answer within 0.01 s"


async def test_probe_errors_are_described_without_their_text() -> None:
    clock = Clock()

    async def leaky(p: Provider) -> None:
        raise RuntimeError("GET https://user:sk-secret@host/models failed")

    mon = HealthMonitor(clock, 30, 5, 1, 60, probe=leaky)
    mon.reconcile({"a": provider("a")})
    await mon.check("a")
    assert mon.status()["a"].last_error == "check failed: RuntimeError"


async def test_observe_feeds_latency_view_and_breaker() -> None:
    clock = Clock()
    mon = monitor(clock, FakeProbe(clock), failure_threshold=2)
    a = provider("a", "http://a")
    mon.reconcile({"a": a})
    for ms in (100, 200, 300, 400, 500):
        mon.observe(a, "a/m", ms, ok=True)
    view = mon.view()
    assert view.latency_ms["a/m"] == pytest.approx(100, rel=0.02)  # refreshed once a second
    clock.advance(1.0)
    mon.observe(a, "a/m", 300, ok=True)
    assert view.latency_ms["a/m"] == pytest.approx(300, rel=0.02)  # a live mapping
    with pytest.raises(TypeError):
        view.latency_ms["a/m"] = 1.0  # type: ignore[index]
    mon.observe(a, "a/m", 0, ok=False)
    mon.observe(a, "a/m", 0, ok=False)
    assert view.skip(model("a")) == CIRCUIT_OPEN and view.healthy(model("a"))
    clock.advance(60)
    assert mon.breakers.allow(breaker_key(a)).probe
    mon.observe(a, "a/m", 5, ok=None)  # a 429: the probe permit is given back
    assert mon.breakers.allow(breaker_key(a)).probe
    mon.observe(provider("unknown"), "unknown/m", 5, ok=False)  # not reconciled: ignored
    assert mon.breakers.state(("unknown", "")) is State.CLOSED
    capped = mon.view(also=lambda m: "rate-limited" if m.provider == "c" else None)
    assert capped.skip(model("c")) == "rate-limited"
    assert capped.skip(model("a")) == CIRCUIT_OPEN  # half-open, the probe is out
    mon.observe(a, "a/m", 5, ok=None)
    assert capped.skip(model("a")) is None  # half-open, the probe is free again


async def test_background_checks_follow_the_interval_and_reconcile() -> None:
    clock = Clock()
    vt = VirtualTime(clock)
    probe = FakeProbe(clock)
    probe.latency_s, probe.sleep = 2.0, vt.sleep
    mon = HealthMonitor(
        clock, 30, 5, 3, 60, Breakers(clock), probe=probe, sleep=vt.sleep,
        should_check=lambda p: p.name != "skipme",
    )  # fmt: skip
    a, b = provider("a", "http://a"), provider("b", "http://b")
    mon.start({"a": a, "b": b, "skipme": provider("skipme")})
    until = vt.run_until
    await until(lambda: sum(n == "a" for n, _ in probe.calls) >= 4)
    starts = [t for n, t in probe.calls if n == "a"][:4]
    assert [round(y - x, 6) for x, y in itertools.pairwise(starts)] == [30.0, 30.0, 30.0]
    assert all(n != "skipme" for n, _ in probe.calls)
    # a failing provider becomes unhealthy in the background
    probe.failing.add("b")
    await until(lambda: not mon.healthy(model("b")))
    mon.observe(a, "a/m", 10, ok=True)
    mon.observe(b, "b/m", 10, ok=True)
    # reload: b's base URL changed (a new endpoint: fresh state), a removed, c added
    b2 = provider("b", "http://b2")
    c = provider("c", "http://c")
    mon.reconcile({"b": b2, "c": c})
    assert mon.healthy(model("b")) and "b/m" not in mon.latency_ms
    assert "a/m" not in mon.latency_ms and "a" not in mon.status()
    assert mon.breakers.info() == []  # b's old breaker forgotten with its endpoint
    probe.calls.clear()
    await until(lambda: {"b", "c"} <= {n for n, _ in probe.calls})
    assert all(n != "a" for n, _ in probe.calls)
    await mon.aclose()
    n = len(probe.calls)
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(probe.calls) == n


async def test_reconcile_keeps_state_by_key_and_configure_applies_live() -> None:
    clock = Clock()
    probe = FakeProbe(clock)
    probe.failing.add("a")
    mon = monitor(clock, probe, failure_threshold=2)
    a = provider("a", "http://a")
    mon.reconcile({"a": a})
    await mon.check("a")
    await mon.check("a")
    assert not mon.healthy(model("a"))
    a_again = provider("a", "http://a")  # same endpoint from a new table
    mon.reconcile({"a": a_again})
    assert not mon.healthy(model("a")) and mon.skip(model("a")) == CIRCUIT_OPEN
    mon.configure_from(HealthSettings(10, 1, failure_threshold=5, recovery_s=5))
    assert (mon.interval_s, mon.timeout_s) == (10, 1)
    assert mon.breakers.settings.recovery_s == 5
    clock.advance(5)
    assert mon.skip(model("a")) == "unhealthy"  # the breaker's new recovery applies at once


# ============================================================================ with the router


def table_of(tmp_path: Path) -> RoutingTable:
    path = tmp_path / "routers.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 2
            providers:
              fast: {type: mock, models: {m: {}}}
              slow: {type: mock, models: {m: {}}}
              down: {type: mock, models: {m: {}}}
            strategies:
              quick:
                models: [down/m, slow/m, fast/m]
                order: [lowest_latency]
            clients:
              c:
                key_prefix: lr-AAAAAAAA
                key_hash: $2b$04$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
                strategy: quick
            """
        ),
        encoding="utf-8",
    )
    result = build(path)
    assert result.table is not None, result.diagnostics
    return result.table


async def test_route_reads_the_monitor_view(tmp_path: Path) -> None:
    table = table_of(tmp_path)
    clock = Clock()
    mon = monitor(clock, FakeProbe(clock), failure_threshold=1)
    mon.reconcile(table.providers)
    fast, slow, down = (table.providers[n] for n in ("fast", "slow", "down"))
    mon.observe(fast, "fast/m", 80, ok=True)
    mon.observe(slow, "slow/m", 900, ok=True)
    mon.observe(down, "down/m", 0, ok=False)
    decision = route(table, table.clients["c"], RequestFacts(), NowFacts(), mon.view())
    assert [m.id for m in decision.candidates] == ["fast/m", "slow/m"]
    assert decision.left_out == (("down/m", "circuit open"),)


def test_hot_path_costs(capsys: pytest.CaptureFixture[str]) -> None:
    """Not a benchmark (bench/ is): a guard that the per-request calls stay in microseconds."""
    import timeit

    clock = Clock()
    b = Breakers(clock)
    mon = HealthMonitor(clock, 30, 5, 3, 60, b, probe=FakeProbe(clock))
    p = provider("a", "http://a")
    mon.reconcile({"a": p})
    m = model("a")
    pol = policy()
    budget = RetryBudget(clock)
    err = http(503)
    n = 20_000
    costs = {
        "allow": timeit.timeit(lambda: b.allow(KEY), number=n) / n * 1e6,
        "skip": timeit.timeit(lambda: mon.skip(m), number=n) / n * 1e6,
        "observe": timeit.timeit(lambda: mon.observe(p, "a/m", 123.0, True), number=n) / n * 1e6,
        "decide": timeit.timeit(lambda: pol.decide(err, 1, 0.0), number=n) / n * 1e6,
        "try_spend": timeit.timeit(budget.try_spend, number=n) / n * 1e6,
    }
    with capsys.disabled():
        print("\nµs per call:", {k: round(v, 2) for k, v in costs.items()})
    assert all(v < 50 for v in costs.values())
