"""The hold rule under any interleaving: admitted while the estimate fits, the worst case held.

Whatever the order of admissions and settlements, the usage counted in a window never exceeds the
limit by more than one request's ``hold - estimate`` (when each settles at most at its hold).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from localrouter.compiler.table import LimitPolicy
from localrouter.runtime.limits import Admission, Limiter, usage
from localrouter.runtime.store import MemoryStore

T0 = 1_728_000_000.0


class Clock:
    t = T0

    def __call__(self) -> float:
        return self.t


op = st.tuples(
    st.integers(0, 20),  # estimate (output tokens); 0: a top-up that only holds more
    st.integers(0, 200),  # extra worst case over the estimate
    st.integers(0, 220),  # actual, capped at the hold below
    st.booleans(),  # settle now (True) or leave in flight
)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(op, min_size=1, max_size=60), limit=st.integers(20, 500))
async def test_usage_exceeds_a_limit_by_at_most_one_worst_case(
    ops: list[tuple[int, int, int, bool]], limit: int
) -> None:
    lim = Limiter(MemoryStore(), Clock())
    p = LimitPolicy("client", "c", "output_tokens", float(limit), "1d", 86400)
    flying: list[tuple[Admission, int]] = []
    margin = 0
    for est, extra, act, now in ops:
        v = await lim.check([p], usage(output_tokens=est), usage(output_tokens=est + extra))
        if not isinstance(v, Admission):
            continue
        margin = max(margin, extra)
        used = min(act, est + extra)
        if now:
            await lim.settle(v, usage(output_tokens=used))
        else:
            flying.append((v, used))
        held = (await lim.store.readings([p.key], round(T0 * 1000)))[0].used
        assert held <= limit + margin  # held (in flight) plus settled, at every step
    for v, used in flying:
        await lim.settle(v, usage(output_tokens=used))
    counted = (await lim.store.readings([p.key], round(T0 * 1000)))[0].used
    assert counted <= limit + margin


async def test_a_limit_blocked_by_holds_in_flight_says_retry_soon_not_at_the_window_end() -> None:
    clock = Clock()
    lim = Limiter(MemoryStore(), clock)
    day = LimitPolicy("client", "c", "cost_usd", 2.0, "1d", 86400)
    first = await lim.check(
        [day], usage(cost_usd=0.5), usage(cost_usd=1.8)
    )  # in flight, holds $1.8
    assert isinstance(first, Admission)
    r = await lim.check([day], usage(cost_usd=0.5))
    assert not isinstance(r, Admission)
    assert r.headers["Retry-After"] == "1"  # it frees when the first settles, not in a day
    await lim.settle(first, usage(cost_usd=0.4))
    assert isinstance(await lim.check([day], usage(cost_usd=0.5)), Admission)
    # usage that is really spent (settled) still waits for the window
    spent = await lim.check([day], usage(cost_usd=1.0))
    assert isinstance(spent, Admission)
    await lim.settle(spent, usage(cost_usd=1.0))
    late = await lim.check([day], usage(cost_usd=0.5))
    assert not isinstance(late, Admission)
    assert int(late.headers["Retry-After"]) > 80_000
