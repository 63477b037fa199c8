"""Walk a decision's candidates: call each through its adapter until one answers.

The router decided the order; this module only tries it. A candidate whose provider cannot be
used (a missing secret) is skipped; a provider error moves on to the next candidate — a content
error too (400, 413, 422: another model may accept what this one refused; it is never counted
against the provider's breaker), and when every candidate refused the content the answer is the
client's error (400, or 413 when all said 413), never a 5xx. Streams are
committed at their first chunk: until it arrives the next candidate can still be tried, after it
nothing is retried. Every try is recorded as an :class:`Attempt`.

Retries, backoff and breakers come from ``runtime/`` (see :class:`Resilience`). Limits, checked
before every call: the request's :class:`~localrouter.server.budget.Reservation` must cover the
candidate (a dearer one tops it up, or is left out: ``budget (…)``), and every upstream call,
each retry included, takes its share of the provider's caps (``rate-limited (…)``: the candidate
is left out, or its retries stop and the next candidate is tried).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from localrouter.compiler.table import ModelInfo, Provider, RoutingTable
from localrouter.errors import (
    Exhausted,
    UpstreamError,
    UpstreamTimeout,
)
from localrouter.providers.base import Json, Target
from localrouter.runtime.breakers import breaker_key
from localrouter.runtime.health import HealthMonitor
from localrouter.runtime.limits import (
    Admission,
    Limiter,
    Rejection,
    estimate_for,
    usage,
)
from localrouter.runtime.retry import (
    CONTENT_STATUSES,
    GiveUp,
    Retry,
    RetryBudget,
    RetryPolicy,
    classify,
    provider_fault,
)
from localrouter.server.budget import Reservation
from localrouter.server.payloads import (
    CountTokensPayload,
    Form,
    MessagesPayload,
    OpenAIPayload,
    ResponsesPayload,
)
from localrouter.server.upstreams import Upstreams

log = logging.getLogger("localrouter.dispatch")
Payload = OpenAIPayload | MessagesPayload | CountTokensPayload | ResponsesPayload


@dataclass
class Attempt:
    provider: str
    model: str
    outcome: str  # ok | error | skipped
    ms: float = 0.0
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    code: str | None = None  # the error's own code (``upstream_too_large``); not recorded

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "outcome": self.outcome,
            "ms": round(self.ms, 2),
            "status": self.status,
            "error": self.error,
        }


@dataclass
class Served:
    model: ModelInfo
    attempts: list[Attempt]
    result: Json | None = None  # non-streaming answer
    first: Any = None  # the first item of a stream
    rest: AsyncGenerator[Any, None] | None = None  # the rest of the stream
    ttfb_ms: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    provider_admission: Admission | None = None  # the provider's caps, settled by the caller
    form: Form = "openai"  # the shape of the answer or of the stream's items
    dropped: tuple[str, ...] = ()  # what a translation could not carry


def _exhausted(attempts: list[Attempt]) -> Exhausted:
    tried = [a for a in attempts if a.outcome == "error"]
    listing = "; ".join(f"{a.provider}/{a.model}: {a.error}" for a in attempts if a.outcome != "ok")
    if not tried:
        return Exhausted(503, f"no candidate could be called ({listing})", attempts)
    if all(a.status in CONTENT_STATUSES for a in tried):  # every one refused the content
        status = 413 if all(a.status == 413 for a in tried) else 400
        return Exhausted(status, f"no candidate can serve this request ({listing})", attempts)
    codes = {a.code for a in tried}
    if len(codes) == 1 and None not in codes:  # every call failed the same known way
        return Exhausted(502, f"every candidate failed ({listing})", attempts, code=codes.pop())
    if all(a.status == 504 for a in tried):
        return Exhausted(504, f"upstream timed out ({listing})", attempts)
    if all(a.status == 429 for a in tried):  # every provider is rate-limiting us: say when to retry
        waits = [a.retry_after for a in tried if a.retry_after is not None]
        return Exhausted(
            429,
            f"every candidate is rate-limited ({listing})",
            attempts,
            min(waits) if waits else None,
        )
    return Exhausted(502, f"every candidate failed ({listing})", attempts)


@dataclass
class Resilience:
    """What decides retries and skips: the policy of the strategy, the process-wide retry budget,
    and the health monitor (which owns the circuit breakers)."""

    policy: RetryPolicy
    budget: RetryBudget
    health: HealthMonitor
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


def _next_step(decision: object) -> str:
    if isinstance(decision, Retry):
        return f"retrying in {decision.delay_s * 1000:.0f} ms"
    return "giving up" if isinstance(decision, GiveUp) else "next candidate"


def _skip(attempts: list[Attempt], model: ModelInfo, reason: str) -> None:
    attempts.append(Attempt(model.provider, model.name, "skipped", error=reason))
    log.debug("%s skipped: %s", model.id, reason)


class CallHolds:
    """What one candidate's calls hold, taken and given back in one place: the breaker's
    half-open probe (when the call is the one a half-open circuit lets through) and the
    provider's caps (one call's share of the account's own limits).

    An async context manager (``async with CallHolds(...) as holds``): :meth:`permit` asks the
    breaker, ``await`` :meth:`caps` reserves the caps for the next call; :meth:`observed` reports
    a call's outcome (which settles a probe), ``await`` :meth:`spend_caps` counts a failed call
    against the caps, :meth:`keep_caps` hands the caps of the call that answered to the
    request's ticket. Whatever is still held when the block ends — a skip, a retry not made, a
    cancellation, a bug — is given back."""

    __slots__ = ("_caps", "_health", "_key", "_limiter", "_probe", "_provider")

    def __init__(self, health: HealthMonitor, provider: Provider, limiter: Limiter | None) -> None:
        self._health = health
        self._provider = provider
        self._limiter = limiter if provider.limits else None
        self._key = breaker_key(provider)
        self._probe = False  # a half-open probe permit is out
        self._caps: Admission | None = None

    async def __aenter__(self) -> CallHolds:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._probe:
            self._health.breakers.release(self._key)
            self._probe = False
        caps, self._caps = self._caps, None
        if caps is not None and self._limiter is not None:
            await self._limiter.release(caps)

    def permit(self) -> str | None:
        """None when a call may go now (taking the probe of a half-open circuit), else why not
        (``circuit open``)."""
        permit = self._health.breakers.allow(self._key)
        if permit.reason is not None:
            return permit.reason
        self._probe = permit.probe
        return None

    async def caps(self, model: ModelInfo, tokens: tuple[int, int]) -> str | None:
        """Reserve one call on the provider's caps: None when it fits (or there are none),
        else why not (``rate-limited (…)``)."""
        if self._limiter is None:
            return None
        verdict = await self._limiter.check(self._provider.limits, estimate_for(model, *tokens))
        if isinstance(verdict, Rejection):
            return f"rate-limited ({verdict.message})"
        self._caps = verdict
        return None

    def observed(self, model: ModelInfo, ms: float, ok: bool | None) -> None:
        """A call's outcome, for health and the breaker (a probe is settled by it)."""
        self._health.observe(self._provider, model.id, ms, ok)
        self._probe = False

    async def spend_caps(self) -> None:
        """The failed call counts as one request on the caps."""
        caps, self._caps = self._caps, None
        if caps is not None and self._limiter is not None:
            await self._limiter.settle(caps, usage(requests=1))

    def keep_caps(self) -> Admission | None:
        """The answering call's caps: the caller settles them with the usage."""
        caps, self._caps = self._caps, None
        return caps


async def serve(
    table: RoutingTable,
    upstreams: Upstreams,
    candidates: Iterable[ModelInfo],
    payload: Payload,
    *,
    stream: bool,
    resilience: Resilience,
    limiter: Limiter | None = None,
    tokens: tuple[int, int] = (0, 0),
    reservation: Reservation | None = None,
) -> Served:
    """Try ``candidates`` in order (read lazily: a router's walk judges each when reached);
    the first success wins.

    Each candidate may be retried (``fallback.attempts`` calls at most, exponential backoff with
    jitter, ``Retry-After`` honoured, a total deadline, the process-wide retry budget); a circuit
    that is open skips it; a non-retryable error moves on, or ends the request when the request
    itself is at fault. With a ``reservation`` (the client's and strategy's limits), a candidate
    it cannot cover is skipped. With a ``limiter``, every call (``tokens``: estimated input,
    expected output) is counted against its provider's caps: a first call that would exceed them
    skips the candidate, a retry that would stops its retries — never answered 429.
    """
    attempts: list[Attempt] = []
    started = time.perf_counter()
    health, policy = resilience.health, resilience.policy
    resilience.budget.record_request()
    for model in candidates:
        provider = table.providers[model.provider]
        unusable = upstreams.unusable(provider.name)
        if unusable is not None:
            _skip(attempts, model, unusable)
            continue
        async with CallHolds(health, provider, limiter) as holds:
            short = holds.permit() or await holds.caps(model, tokens)
            if short is None and reservation is not None:  # topped up only for a call made
                short = await reservation.cover(model)
            if short is not None:
                _skip(attempts, model, short)
                continue
            target = Target(
                provider,
                model.name,
                upstreams.key(provider.name),
                upstreams.secret_headers(provider.name),
                upstreams.redactor,
                model.capabilities if model.capabilities_known else (),
            )
            attempt = 0
            while True:
                attempt += 1
                t0 = time.perf_counter()
                # asked each attempt: a retry after a reload's swap gets a client not closed
                client = upstreams.client(provider)
                try:
                    called = await payload.call(client, target, stream)
                except UpstreamError as exc:
                    ms = (time.perf_counter() - t0) * 1000
                    holds.observed(model, ms, False if provider_fault(exc) else None)
                    await holds.spend_caps()  # the account counted the call
                    status = 504 if isinstance(exc, UpstreamTimeout) else exc.status
                    attempts.append(
                        Attempt(
                            provider.name,
                            model.name,
                            "error",
                            ms,
                            status,
                            exc.message,
                            exc.retry_after,
                            exc.code,
                        )
                    )
                    # the retry budget is asked last, once the provider's caps have room
                    decision = policy.decide(exc, attempt, time.perf_counter() - started)
                    log.warning(
                        "%s attempt %d failed (%s, %.0f ms): %s; %s",
                        model.id, attempt, status, ms, exc.message, _next_step(decision),
                    )  # fmt: skip
                    if isinstance(decision, Retry):
                        short = await holds.caps(model, tokens)
                        if short is not None:
                            _skip(attempts, model, short)  # no call over the caps: next one
                            break
                        if resilience.budget.try_spend():
                            await resilience.sleep(decision.delay_s)
                            if holds.permit() is None:
                                continue
                        break  # the retry budget is spent, or the circuit opened meanwhile
                    if isinstance(decision, GiveUp):
                        if classify(exc) == "give_up":
                            raise Exhausted(400, exc.message, attempts) from None
                        raise _exhausted(attempts) from None  # the deadline is reached
                    break  # NextCandidate
                ms = (time.perf_counter() - t0) * 1000
                holds.observed(model, ms, True)
                attempts.append(Attempt(provider.name, model.name, "ok", ms, 200))
                return Served(
                    model,
                    attempts,
                    result=called.result,
                    first=called.first,
                    rest=called.rest,
                    ttfb_ms=ms,
                    started=started,
                    provider_admission=holds.keep_caps(),
                    form=called.form,
                    dropped=called.dropped,
                )
    raise _exhausted(attempts)
