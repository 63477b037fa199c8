"""The wire-neutral pipeline every dialect's request runs through.

    dialect parse ─▶ GatewayRequest ─▶ run(): route ─▶ Ticket (limits held) ─▶ dispatch
                  ─▶ Outcome: Answer | Streamed | Failure ─▶ dialect encode

A dialect (``localrouter/dialects/``) parses its request into one frozen
:class:`GatewayRequest`; :func:`run` asks the router for a decision, takes the request's
:class:`~localrouter.server.ticket.Ticket` on its client's and strategy's limits, lets
:func:`~localrouter.server.dispatch.serve` walk the candidates and returns an outcome, already
recorded when it is final (an answer, a failure). A stream is recorded, and its ticket settled,
when it ends (:class:`~localrouter.server.relay.Streamed`). The dialect then encodes the outcome:
its JSON, its SSE framing, its error envelope.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from localrouter.compiler.table import Client, RoutingTable
from localrouter.errors import Exhausted
from localrouter.providers.base import Json
from localrouter.routing.facts import RequestFacts
from localrouter.routing.route import RuntimeView, route
from localrouter.runtime.caps import caps_skip
from localrouter.runtime.limits import Rejection
from localrouter.runtime.retry import RetryPolicy
from localrouter.server import budget
from localrouter.server.accounting import Usage
from localrouter.server.dispatch import Payload, Resilience, Served, serve
from localrouter.server.ledger import Ledger
from localrouter.server.relay import Streamed
from localrouter.server.state import Runtime
from localrouter.server.ticket import Ticket

EXHAUSTED_CODES = {
    429: "rate_limited",
    502: "upstream_failed",
    503: "no_candidates",
    504: "upstream_timeout",
}


@dataclass(frozen=True, slots=True)
class GatewayRequest:
    """One model request as the pipeline sees it, whatever dialect it arrived in."""

    client: Client
    table: RoutingTable  # read once: the request keeps this table
    payload: Payload  # what each call sends (the operation and its body)
    facts: RequestFacts
    stream: bool
    ledger: Ledger  # ids, timing, the record made when the request ends


@dataclass(frozen=True, slots=True)
class Failure:
    status: int
    message: str
    code: str | None = None
    param: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Answer:
    """A non-streamed answer, recorded and settled; ``result`` in ``served.form``'s shape."""

    served: Served
    result: Json
    usage: Usage
    headers: Mapping[str, str]
    ledger: Ledger


Outcome = Answer | Streamed | Failure


def runtime_view(rt: Runtime, table: RoutingTable, facts: RequestFacts) -> RuntimeView:
    """What the router may know now: latency and health, and provider caps this request would
    exceed (a capped candidate is skipped, never answered 429)."""
    capped = caps_skip(rt.limiter, table, facts.estimated_tokens, budget.output_estimate(facts))
    if rt.health is None:
        return RuntimeView() if capped is None else RuntimeView(skip=capped)
    return rt.health.view(also=capped)


def fail(greq: GatewayRequest, failure: Failure) -> Failure:
    """Record ``failure`` as the request's end."""
    greq.ledger.record(None, None, failure.status, failure.message, failure.code)
    return failure


@dataclass(frozen=True, slots=True)
class Finished:
    """A dialect's reading of a non-streamed answer: its usage, and an error when the answer
    cannot be sent (an upstream's junk: 502)."""

    usage: Usage
    error: str | None = None
    code: str | None = None


Finish = Callable[[Served, Json], Finished]


async def run(rt: Runtime, greq: GatewayRequest, finish: Finish) -> Outcome:
    """Route, hold limits, dispatch; the outcome (see the module doc). ``finish`` reads a
    non-streamed answer (usage: the provider's report, else a local estimate)."""
    ledger, facts = greq.ledger, greq.facts
    ledger.facts = facts
    view = runtime_view(rt, greq.table, facts)
    # judged lazily: until one candidate is eligible; the walk judges more only on fallback
    decision = route(greq.table, greq.client, facts, ledger.now, view, want=1)
    ledger.decision = decision
    if decision.status != 200:
        reasons = "; ".join(f"{m}: {r}" for m, r in decision.left_out)
        message = (decision.error or "no route") + (f" ({reasons})" if reasons else "")
        failure = Failure(decision.status, message, decision.error_code, None, ledger.headers())
        return fail(greq, failure)
    strategy = greq.table.strategies[greq.client.strategy]
    assert rt.health is not None  # Runtime.for_table always builds one
    ticket: Ticket | None = None
    if greq.payload.metered:
        taken = await Ticket.take(rt.limiter, greq.client, strategy, facts, decision.candidates[0])
        if isinstance(taken, Rejection):
            headers = {**ledger.headers(), **taken.headers}
            return fail(greq, Failure(429, taken.message, "rate_limit_exceeded", None, headers))
        ticket = taken
    ledger.walk = decision.walk()
    async with contextlib.AsyncExitStack() as stack:
        if ticket is not None:
            await stack.enter_async_context(ticket)
        try:
            served = await serve(
                greq.table,
                rt.upstreams,
                ledger.walk,
                greq.payload,
                stream=greq.stream,
                resilience=Resilience(
                    RetryPolicy.from_fallback(strategy.fallback, rng=rt.rng),
                    rt.retry_budget,
                    rt.health,
                ),
                limiter=rt.limiter if ticket is not None else None,
                tokens=(facts.estimated_tokens, budget.output_estimate(facts)),
                reservation=ticket.reservation if ticket is not None else None,
            )
        except Exhausted as exc:
            attempts = [a.as_dict() for a in exc.attempts]
            headers = ledger.headers()
            if exc.retry_after is not None:
                headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
            code = exc.code or EXHAUSTED_CODES.get(exc.status)
            ledger.record(None, None, exc.status, exc.message, code, attempts)
            return Failure(exc.status, exc.message, code, None, headers)
        headers = ledger.headers(served)
        if ticket is not None:
            ticket.carry(served.provider_admission)
            headers.update(ticket.reservation.headers)
        if greq.stream:  # the stream owns the ticket from here: settled when it ends
            assert ticket is not None  # every streaming operation is metered
            return Streamed(served, ledger, ticket, stack.pop_all(), headers)
        result = served.result or {}
        done = finish(served, result)
        if ticket is not None:
            ticket.settle(served.model, done.usage)
        ledger.record(served, done.usage, 502 if done.error else 200, done.error, done.code)
        if done.error is not None:
            return Failure(502, done.error, done.code, None, ledger.headers(served))
        return Answer(served, result, done.usage, headers, ledger)
