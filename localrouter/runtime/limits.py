"""Limits and budgets: admit a request against every policy that applies, reserve, settle, release.

A :class:`Limiter` holds no counters: it reads and changes them through a
:class:`~localrouter.runtime.store.CounterStore` keyed by ``LimitPolicy.key``, so a client's,
a strategy's (shared by all its clients) and a provider's (the account's own caps) limits are all
the same kind of counter. The store's sliding window and its error bound (usage counted for at
least ``W`` and at most ``W + W/n``; never over a limit in any window of length ``W``) are
described in :mod:`localrouter.runtime.store`.

One request, one life cycle (pure logic over the store's async calls; the clock is injected and
read in milliseconds)::

    verdict = await limiter.check(policies, estimate, hold)  # Admission | Rejection (nothing spent)
    ...                                                      # call the provider
    await limiter.settle(verdict, actual)                    # the real usage replaces what is held
    await limiter.release(verdict)                           # or: undo it (failed before any usage)

:meth:`Limiter.remaining` and :meth:`Limiter.would_exceed` are sync: they read the store's local
view (``CounterStore.local_readings``: exact for the embedded store, the last values seen for a
shared one), for the synchronous router's caps skip and for ``explain``; they reserve nothing.

``estimate`` must fit under every limit; ``hold`` (default: the estimate; never less) is what is
reserved: the most the request can use (its worst case), which may take a counter past its limit.
A counter past its limit admits nothing until usage leaves the window or a request settles below
its hold, so the usage admitted in a window exceeds a limit by at most one request's
``hold - estimate`` (see ``server/budget.py`` for the bound a budget gets from this).
``check`` is all or nothing across the policies: if one does not fit, nothing is reserved
anywhere. Policies sharing a key (the same counter) are merged, keeping the smallest amount. The
estimate maps metric → expected amount (:func:`usage` / :func:`estimate_for` build it: requests 1,
tokens from the local estimate plus ``max_tokens``, cost from the model's prices). Metrics missing
from ``actual`` keep their reservation. ``settle`` and ``release`` act once; later calls return
False. An admission dropped without either keeps its reservation (conservative).

A :class:`Rejection` names the policy that blocks longest and ``retry_after_s``: the time until
enough of EVERY blocking window frees for this request, exact to the clock's millisecond (at
``now + retry_after_s`` the same request is admitted, one millisecond earlier it is not, absent
other traffic) — except when a counter is blocked only by what requests still in flight hold
beyond their estimates (see ``hold``): that frees when they settle, not with the window, so the
wait for it is :data:`IN_FLIGHT_RETRY_S`. A request larger than a limit can never pass:
``retry_after_s`` is ``inf`` and no ``Retry-After`` is sent. Both verdicts carry ``headers``:
``x-ratelimit-limit-<metric>``, ``x-ratelimit-remaining-<metric>`` and
``x-ratelimit-reset-<metric>`` (seconds until the counter is empty) of the tightest policy of
each metric (least remaining; on a rejection, the blocking policy for its metric), plus
``Retry-After`` (whole seconds, at least 1, at most the blocking policy's window: a unit of usage
leaves the window exactly ``W`` after its instant) on a rejection.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from localrouter.compiler.table import LimitPolicy, ModelInfo
from localrouter.runtime.store import CounterStore, Key, Reserved
from localrouter.runtime.window import TOLERANCE, Reading, fits

METRICS = ("requests", "input_tokens", "output_tokens", "total_tokens", "cost_usd", "tool_calls")
IN_FLIGHT_RETRY_S = 1.0  # Retry-After when only holds of requests in flight block (they settle)
_INTEGRAL = frozenset(METRICS) - {"cost_usd"}


def usage(
    *,
    input_tokens: float = 0,
    output_tokens: float = 0,
    cost_usd: float = 0.0,
    requests: float = 1,
) -> dict[str, float]:
    """A usage (or estimate) mapping with every metric; ``total_tokens`` is input + output."""
    return {
        "requests": float(requests),
        "input_tokens": float(input_tokens),
        "output_tokens": float(output_tokens),
        "total_tokens": float(input_tokens) + float(output_tokens),
        "cost_usd": float(cost_usd),
    }


def price(model: ModelInfo, input_tokens: float, output_tokens: float) -> float:
    """USD for this many tokens at the model's prices (an unknown price counts as 0)."""
    return (
        input_tokens * (model.input_per_mtok or 0.0)
        + output_tokens * (model.output_per_mtok or 0.0)
    ) / 1e6


def estimate_for(
    model: ModelInfo, input_tokens: float, max_output_tokens: float
) -> dict[str, float]:
    """The expected usage of one request to ``model``: what ``check`` reserves."""
    return usage(
        input_tokens=input_tokens,
        output_tokens=max_output_tokens,
        cost_usd=price(model, input_tokens, max_output_tokens),
    )


def describe(policy: LimitPolicy) -> str:
    p = policy
    return f"{p.scope} '{p.owner}' limit of {p.amount:g} {p.metric} per {p.per}"


def _ms(t: float) -> int:
    return round(t * 1000.0)


def _amount(metric: str, value: float) -> str:
    if metric in _INTEGRAL:
        return str(math.floor(value + 1e-9))
    return f"{math.floor(value * 1e6 + 1e-6) / 1e6:.6f}".rstrip("0").rstrip(".")


def _seconds(value: float) -> str:
    ms = max(0, round(value * 1000.0))
    return str(ms // 1000) if ms % 1000 == 0 else f"{ms / 1000:.3f}".rstrip("0")


def _headers(
    policies: Sequence[LimitPolicy],
    readings: Sequence[Reading],
    now: float,
    blocker: int | None = None,
) -> dict[str, str]:
    now_ms = _ms(now)
    tightest: dict[str, int] = {}
    for i, (p, r) in enumerate(zip(policies, readings, strict=True)):
        j = tightest.get(p.metric)
        if j is None:
            tightest[p.metric] = i
            continue
        q, s = policies[j], readings[j]
        if (p.amount - r.used, -r.drained_ms) < (q.amount - s.used, -s.drained_ms):
            tightest[p.metric] = i
    if blocker is not None:
        tightest[policies[blocker].metric] = blocker
    out: dict[str, str] = {}
    for metric in sorted(tightest, key=lambda m: (METRICS.index(m) if m in METRICS else 99, m)):
        i = tightest[metric]
        p, r = policies[i], readings[i]
        out[f"x-ratelimit-limit-{metric}"] = _amount(metric, p.amount)
        out[f"x-ratelimit-remaining-{metric}"] = _amount(metric, max(0.0, p.amount - r.used))
        out[f"x-ratelimit-reset-{metric}"] = _seconds((r.drained_ms - now_ms) / 1000.0)
    return out


@dataclass(frozen=True)
class Admission:
    """A request let through: its estimate is reserved on every policy until settled/released."""

    at_ms: int  # the instant the reservation was recorded at
    now: float  # the clock when checked
    policies: tuple[LimitPolicy, ...]  # empty: no policy applied, nothing reserved
    reserved: tuple[float, ...]  # per policy, the amount of its metric reserved
    readings: tuple[Reading, ...]  # per policy, the counter after the reservation
    excess: tuple[float, ...] = ()  # per policy, what is held beyond the estimate (if any)
    # the one mutable bit: [True] until settled or released
    _open: list[bool] = field(default_factory=lambda: [True], repr=False, compare=False)

    @property
    def open(self) -> bool:
        """Neither settled nor released yet."""
        return self._open[0] and bool(self.policies)

    @cached_property
    def headers(self) -> Mapping[str, str]:
        return _headers(self.policies, self.readings, self.now)

    def remaining(self) -> dict[Key, float]:
        pairs = zip(self.policies, self.readings, strict=True)
        return {p.key: max(0.0, p.amount - r.used) for p, r in pairs}

    def _close(self) -> bool:
        was = self.open
        self._open[0] = False
        return was


@dataclass(frozen=True)
class Rejection:
    """A request refused; nothing was reserved."""

    policy: LimitPolicy  # the blocking policy with the longest wait
    retry_after_s: float  # until every blocking window has room; inf: never (request too large)
    requested: float  # this request's amount of ``policy.metric``
    now: float
    policies: tuple[LimitPolicy, ...]
    readings: tuple[Reading, ...]  # per policy, the counter now

    @property
    def never(self) -> bool:
        """The request alone is larger than the limit: retrying cannot help."""
        return math.isinf(self.retry_after_s)

    @property
    def retry_at(self) -> float:
        return self.now + self.retry_after_s

    @property
    def message(self) -> str:
        if self.never:
            return (
                f"this request ({self.requested:g} {self.policy.metric}) is larger than the "
                f"{describe(self.policy)}"
            )
        wait = _retry_after(self.retry_after_s, self.policy.window_s)
        return f"{describe(self.policy)} reached; retry in {wait} s"

    @cached_property
    def headers(self) -> Mapping[str, str]:
        out = _headers(self.policies, self.readings, self.now, self.policies.index(self.policy))
        if not self.never:
            out["Retry-After"] = _retry_after(self.retry_after_s, self.policy.window_s)
        return out


def _retry_after(seconds: float, window_s: int) -> str:
    """Whole seconds, at least 1 and at most the window (the wait is at most the window, plus
    under a millisecond of clock rounding)."""
    return str(max(1, min(math.ceil(seconds - 1e-9), window_s)))


def _plan(policies: Iterable[LimitPolicy]) -> tuple[tuple[LimitPolicy, ...], list[Key]]:
    """The policies, one per counter key (the smallest amount wins), and their keys."""
    ps = tuple(policies)
    keys = [p.key for p in ps]
    if len(set(keys)) == len(keys):
        return ps, keys
    by_key: dict[Key, LimitPolicy] = {}
    for p, k in zip(ps, keys, strict=True):
        q = by_key.get(k)
        if q is None or p.amount < q.amount:
            by_key[k] = p
    return tuple(by_key.values()), list(by_key)


class Limiter:
    """Checks, reserves and settles requests against limit policies. ``check``, ``settle`` and
    ``release`` await the store (which may do I/O); ``remaining`` and ``would_exceed`` are sync
    reads of its local view. Its own logic is pure."""

    def __init__(self, store: CounterStore, clock: Callable[[], float]) -> None:
        self.store = store
        self._clock = clock
        # per counter, what open admissions hold beyond their estimates (in this process)
        self._in_flight: dict[Key, float] = {}

    async def check(
        self,
        policies: Iterable[LimitPolicy],
        estimate: Mapping[str, float],
        hold: Mapping[str, float] | None = None,
    ) -> Admission | Rejection:
        """Admit ``estimate`` and reserve ``hold`` (default: the estimate) on every policy, or
        reject and reserve nothing. ``hold`` is the most the request can use: it may take a
        counter past its limit, which then admits nothing more until usage leaves or settles."""
        now = self._clock()
        now_ms = round(now * 1000.0)
        plan, keys = _plan(policies)
        if not plan:
            return Admission(now_ms, now, (), (), ())
        charges = [
            (k, amount := float(estimate.get(p.metric, 0.0)), p.amount, amount)
            for p, k in zip(plan, keys, strict=True)
        ]
        if hold is not None:  # never hold less than what was admitted
            charges = [(k, n, a, max(n, float(hold.get(k[2], 0.0)))) for k, n, a, _ in charges]
        got = await self.store.reserve(charges, now_ms)
        if isinstance(got, Reserved):
            held = tuple(c[3] for c in charges)
            if hold is None:
                return Admission(got.at_ms, now, plan, held, got.readings)
            excess = tuple(c[3] - c[1] for c in charges)
            for k, e in zip(keys, excess, strict=True):
                if e > 0.0:
                    self._in_flight[k] = self._in_flight.get(k, 0.0) + e
            return Admission(got.at_ms, now, plan, held, got.readings, excess)
        need = tuple(c[1] for c in charges)
        return await self._reject(plan, keys, need, now, now_ms, got)

    async def _reject(
        self,
        plan: tuple[LimitPolicy, ...],
        keys: list[Key],
        need: tuple[float, ...],
        now: float,
        now_ms: int,
        first: int,
    ) -> Rejection:
        readings = await self.store.readings(keys, now_ms)
        free: list[float] = []  # per policy, the first millisecond its window has room
        settling: list[bool] = []  # per policy, free only once requests in flight settle
        soon = now_ms + IN_FLIGHT_RETRY_S * 1000.0
        for p, k, n, r in zip(plan, keys, need, readings, strict=True):
            at = await self.store.free_at(k, n, p.amount, now_ms)
            at_ms = math.inf if at is None else float(at)
            # blocked only by what requests in flight hold beyond their estimates: that frees
            # when they settle, long before the window ends (a 1-day budget must not say 86400)
            held = self._in_flight.get(k, 0.0)
            by_in_flight = (
                bool(held) and soon < at_ms < math.inf and fits(r.used - held, n, p.amount)
            )
            free.append(soon if by_in_flight else at_ms)
            settling.append(by_in_flight)
        worst = max(range(len(plan)), key=lambda i: free[i])
        if free[worst] <= now_ms:  # cannot happen (check is atomic); stay safe
            worst = first
        at_end = max(free[worst] / 1000.0 - now, 0.0005)
        # (not `free[worst] == soon`: a window can drain at that very millisecond by itself)
        wait = IN_FLIGHT_RETRY_S if settling[worst] else at_end
        return Rejection(plan[worst], wait, need[worst], now, plan, readings)

    def _unhold(self, admission: Admission) -> None:
        for p, e in zip(admission.policies, admission.excess, strict=True):
            if e > 0.0:
                left = self._in_flight.get(p.key, 0.0) - e
                if left > TOLERANCE:
                    self._in_flight[p.key] = left
                else:
                    self._in_flight.pop(p.key, None)

    async def settle(self, admission: Admission, actual: Mapping[str, float]) -> bool:
        """Replace the reservation by the real usage (more or less). False if already done."""
        if not admission._close():
            return False
        if admission.excess:
            self._unhold(admission)
        deltas = [
            (p.key, float(actual[p.metric]) - r)
            for p, r in zip(admission.policies, admission.reserved, strict=True)
            if p.metric in actual
        ]
        await self.store.adjust(deltas, admission.at_ms, _ms(self._clock()))
        return True

    async def release(self, admission: Admission) -> bool:
        """Undo the reservation (the request failed before any usage). False if already done."""
        if not admission._close():
            return False
        if admission.excess:
            self._unhold(admission)
        deltas = [(p.key, -r) for p, r in zip(admission.policies, admission.reserved, strict=True)]
        await self.store.adjust(deltas, admission.at_ms, _ms(self._clock()))
        return True

    def remaining(self, policies: Iterable[LimitPolicy]) -> dict[Key, float]:
        """What is left of each policy now (for ``explain`` and the dashboard), from the store's
        local view. Sync."""
        plan, keys = _plan(policies)
        if not plan:
            return {}
        readings = self.store.local_readings(keys, _ms(self._clock()))
        return {p.key: max(0.0, p.amount - r.used) for p, r in zip(plan, readings, strict=True)}

    def would_exceed(
        self, policies: Iterable[LimitPolicy], estimate: Mapping[str, float]
    ) -> LimitPolicy | None:
        """The first policy ``estimate`` would not fit, without reserving anything, from the
        store's local view. Sync: the router's caps skip calls it while routing."""
        plan, keys = _plan(policies)
        if not plan:
            return None
        readings = self.store.local_readings(keys, _ms(self._clock()))
        for p, r in zip(plan, readings, strict=True):
            if not fits(r.used, float(estimate.get(p.metric, 0.0)), p.amount):
                return p
        return None
