"""Retries: what to do after a failed provider call, and a global budget against retry storms.

:meth:`RetryPolicy.decide` turns one failure into one of three verdicts:

* :class:`Retry` — call the same candidate again after ``delay_s``;
* :class:`NextCandidate` — stop with this candidate, try the next one now;
* :class:`GiveUp` — stop trying anything: time is up (or the error is not a provider's: a bug).

Classification (:func:`classify`): a connect error, a timeout, a malformed answer, 408, 425, 429
and 5xx (but 501/505) are *retryable*. 400, 413 and 422 (:data:`CONTENT_STATUSES`: the request's
content was refused — an image to a model without vision, a prompt over its context, a schema it
cannot follow) go to the *next candidate* without a retry: the same call would be refused again,
but another model may accept it; when every candidate refuses it the dispatcher answers 400 with
each provider's message. Like :class:`~localrouter.errors.UpstreamUnsupported` (this provider
cannot express the request), they never count against the provider's breaker or health: one
client's odd request must not make a provider unavailable to every other client.
401, 403 and 404 (and every other status) go to the *next candidate*
without a retry: this provider's key or model is wrong, repeating the call cannot fix that. So does
:class:`~localrouter.errors.UpstreamTooLarge` (an answer past the provider's size cap: the same call
would send it again); it says nothing about the provider's health.

A retryable failure is retried while ``attempt < attempts`` (``attempts`` bounds the calls to ONE
candidate, 1 = no retry), after a delay drawn with *full jitter* (AWS architecture blog,
"Exponential Backoff and Jitter"): ``uniform(0, min(max, min·2^(attempt-1)))`` — ``backoff_min_ms``
is the first ceiling, doubling up to ``backoff_max_ms``. A provider's ``Retry-After`` is honoured:
the delay is ``max(retry_after, backoff)``, and a ``Retry-After`` longer than ``backoff_max_ms``
means "go to the next candidate". Every delay is within ``[0, backoff_max_ms]``. ``deadline_s``
bounds the whole request (all candidates): a retry whose delay would end past it becomes
:class:`NextCandidate`, and once ``elapsed >= deadline_s`` every verdict is :class:`GiveUp`; so
the total time slept plus the time of calls started before the deadline is at most
``deadline_s`` plus one call. Calls are bounded by ``attempts × candidates``.

:class:`RetryBudget` bounds retries across ALL requests (Finagle's ``RetryBudget``, gRPC's retry
throttling): each request deposits ``ratio`` tokens, a retry withdraws one, and a reserve refilled
at ``min_per_s`` (capacity ``max(1, min_per_s)``) lets a quiet gateway still retry. Deposits decay
with time constant ``ttl_s`` (10 s), so a calm hour cannot bank a storm. Guarantee: over any run of
length ``T`` with ``n`` requests, retries ≤ ``ratio·n + min_per_s·T + max(1, min_per_s)`` — with
the defaults, when a provider goes down the extra load is at most 20 % of the requests plus one a
second, however many attempts each request may make. A candidate switch is not a retry (it costs
nothing at the failing provider) and is not budgeted. Costs on this machine: ``decide`` ~3.5 µs,
``try_spend`` and ``record_request`` ~0.3 µs. Not thread-safe: used from the event loop.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from localrouter.compiler.table import Fallback
from localrouter.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnsupported,
)

Kind = Literal["retry", "next", "give_up"]
CONTENT_STATUSES = frozenset({400, 413, 422})  # the request's content refused: not a fault
RETRY_STATUSES = frozenset({408, 425, 429})
NOT_RETRIED_5XX = frozenset({501, 505})
DEFAULT_DEADLINE_S = 60.0
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Retry:
    delay_s: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class NextCandidate:
    reason: str


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str


Verdict = Retry | NextCandidate | GiveUp


def classify(error: BaseException) -> Kind:
    """Whether ``error`` is worth a retry, a switch to the next candidate, or ends the request."""
    if isinstance(error, UpstreamUnsupported | UpstreamTooLarge):
        return "next"
    if isinstance(error, UpstreamConnectError | UpstreamTimeout | UpstreamProtocolError):
        return "retry"
    if isinstance(error, UpstreamError):
        status = error.status
        if status is None:
            return "retry"  # no answer at all: like a broken connection
        if status in CONTENT_STATUSES:
            return "next"  # the request's content was refused: another model may accept it
        if status in RETRY_STATUSES or (status >= 500 and status not in NOT_RETRIED_5XX):
            return "retry"
        return "next"
    if isinstance(error, TimeoutError | ConnectionError):
        return "retry"
    return "give_up"  # not a provider failure: a bug, never hidden behind retries


def provider_fault(error: BaseException) -> bool | None:
    """How a failed call counts for the provider's circuit breaker and health: True (a failure:
    no connection, timeout, malformed answer, 5xx, 408), None (says nothing about the provider's
    health: 429, any other 4xx) — the dispatcher then releases a probe permit."""
    if isinstance(error, UpstreamUnsupported | UpstreamTooLarge):
        return None
    if isinstance(error, UpstreamConnectError | UpstreamTimeout | UpstreamProtocolError):
        return True
    if isinstance(error, UpstreamError):
        return True if error.status is None or error.status >= 500 or error.status == 408 else None
    return True if isinstance(error, TimeoutError | ConnectionError) else None


def _retry_after(error: BaseException) -> float | None:
    value = getattr(error, "retry_after", None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        v = float(value)
        if math.isnan(v) or v < 0:
            return None
        return v
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with full-jitter exponential backoff and a total deadline (module doc)."""

    attempts: int = 3
    backoff_min_ms: float = 100.0
    backoff_max_ms: float = 2000.0
    deadline_s: float = DEFAULT_DEADLINE_S
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")
        lo, hi = self.backoff_min_ms, self.backoff_max_ms
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi):
            raise ValueError("backoff must satisfy 0 <= backoff_min_ms <= backoff_max_ms")
        if not (self.deadline_s > 0 and math.isfinite(self.deadline_s)):
            raise ValueError("deadline_s must be a finite number > 0")

    @classmethod
    def from_fallback(
        cls,
        fallback: Fallback,
        *,
        deadline_s: float = DEFAULT_DEADLINE_S,
        rng: random.Random | None = None,
    ) -> RetryPolicy:
        """The policy of a strategy's ``fallback: {attempts, backoff_ms: [min, max]}``."""
        return cls(
            fallback.attempts,
            fallback.backoff_min_ms,
            fallback.backoff_max_ms,
            deadline_s,
            rng if rng is not None else random.Random(),
        )

    @property
    def backoff_max_s(self) -> float:
        return self.backoff_max_ms / 1000.0

    def ceiling_s(self, attempt: int) -> float:
        """The jitter ceiling after the ``attempt``-th call: min(max, min·2^(attempt-1))."""
        doubled = self.backoff_min_ms * 2.0 ** min(max(attempt - 1, 0), 64)
        return min(self.backoff_max_ms, doubled) / 1000.0

    def backoff(self, attempt: int) -> float:
        """A full-jitter delay in seconds, within ``[0, ceiling_s(attempt)]``."""
        return min(self.rng.uniform(0.0, self.ceiling_s(attempt)), self.backoff_max_s)

    def decide(
        self,
        error: BaseException,
        attempt: int,
        elapsed: float,
        budget: RetryBudget | None = None,
    ) -> Verdict:
        """The verdict after the ``attempt``-th call (1-based) to the current candidate failed
        with ``error``, ``elapsed`` seconds after the request's first call started. With a
        ``budget``, a retry it refuses becomes :class:`NextCandidate`."""
        if elapsed >= self.deadline_s:
            return GiveUp(f"deadline of {self.deadline_s:g} s reached")
        kind = classify(error)
        if kind == "give_up":
            return GiveUp("the request was refused as invalid")
        if kind == "next":
            status = getattr(error, "status", None)
            if status in CONTENT_STATUSES:
                return NextCandidate("the request's content was refused")
            return NextCandidate("not retryable at this provider")
        if attempt >= self.attempts:
            n = self.attempts
            return NextCandidate(f"{n} attempt{'s' if n != 1 else ''} failed")
        wait = _retry_after(error)
        if wait is not None and wait > self.backoff_max_s:
            return NextCandidate(f"Retry-After {wait:g} s is longer than the backoff maximum")
        delay = self.backoff(attempt)
        if wait is not None:
            delay = max(delay, wait)
        if elapsed + delay > self.deadline_s:
            return NextCandidate("no time left to retry before the deadline")
        if budget is not None and not budget.try_spend():
            return NextCandidate("retry budget exhausted")
        return Retry(delay, "Retry-After" if wait is not None and delay == wait else "backoff")


class RetryBudget:
    """Retries across all requests, as a token bucket credited by requests (module doc)."""

    def __init__(
        self,
        clock: Callable[[], float],
        ratio: float = 0.2,
        min_per_s: float = 1.0,
        *,
        ttl_s: float = 10.0,
    ) -> None:
        if not (ratio >= 0 and min_per_s >= 0 and ttl_s > 0):
            raise ValueError("ratio and min_per_s must be >= 0, ttl_s > 0")
        self.clock = clock
        self.ratio = float(ratio)
        self.min_per_s = float(min_per_s)
        self.ttl_s = float(ttl_s)
        self.reserve_cap = max(1.0, self.min_per_s) if self.min_per_s > 0 else 0.0
        self._earned = 0.0  # deposits, decaying
        self._reserve = self.reserve_cap  # the floor's bucket, starts full
        self._t = clock()
        self.requests = 0
        self.spent = 0
        self.refused = 0

    def _advance(self) -> None:
        now = self.clock()
        dt = now - self._t
        if dt > 0:
            self._t = now
            if self._earned:
                self._earned *= math.exp(-dt / self.ttl_s)
            self._reserve = min(self.reserve_cap, self._reserve + dt * self.min_per_s)

    def record_request(self) -> None:
        """One request arrived (call once per request, not per attempt)."""
        self._advance()
        self._earned += self.ratio
        self.requests += 1

    def try_spend(self) -> bool:
        """Take one retry token if there is one; False (nothing taken) otherwise."""
        self._advance()
        if self._earned + self._reserve < 1.0 - _EPS:  # 10 × 0.2 sums to 1.9999999999999998
            self.refused += 1
            return False
        take = min(1.0, self._earned)
        self._earned -= take
        self._reserve -= 1.0 - take
        self.spent += 1
        return True

    @property
    def available(self) -> float:
        """Retries that could be spent right now."""
        self._advance()
        return self._earned + self._reserve
