"""LocalRouter's own limits on the request path: admit, hold the worst case, settle to the actual.

A request is checked against every client and strategy limit at once (all or nothing: a rejected
request consumes nothing) and answered 429 with ``Retry-After`` and the ``x-ratelimit-*`` headers
when any limit is reached. Two amounts per request, priced at the FIRST candidate (the one the
router chose):

* the **estimate**, which must fit under each limit: the input tokens (local estimate) plus
  ``max_tokens``, or, when the request sets none, :data:`DEFAULT_OUTPUT_ESTIMATE` (capped at the
  worst case);
* the **worst case**, which is what is held: the input tokens plus ``max_tokens``, or, when the
  request sets none, what the model can write: its ``context_window`` less the input estimate
  (at least 1), or :data:`UNKNOWN_OUTPUT_BOUND` tokens for a model whose context is unknown.

The bound. A counter is only admitted into while the estimate fits, and each admission holds at
most ``worst - estimate`` more than that, so however many requests run at once, what they hold
(and, settled, what they spent) exceeds a ``cost_usd`` or token limit by at most ONE request's
worst case — precisely, its ``worst - estimate``. A request whose worst case alone is larger than
what is left is let through when its estimate fits (it may take the counter past the limit: nothing
else is admitted until it settles); one whose estimate alone is larger than the limit is refused
for good (429 without ``Retry-After``). The bound holds when an upstream reports at most what the
request allowed; one that reports more is counted at its real size (the excess blocks what
follows, it is never lost). Two more ways past the bound: a model with unknown context and a
request without ``max_tokens`` make the worst case a guess (:data:`UNKNOWN_OUTPUT_BOUND`: give
the model a ``context_window`` where a budget must hold), and the input is a local estimate, so a
denser prompt (code, CJK text, images) with ``max_tokens`` set uses more than held (without
``max_tokens`` and with a known context the whole context is held, which covers it). A request
cancelled before any answer returns its hold; a limit blocked only by holds of requests in flight
answers ``Retry-After: 1`` (they free when they settle, not with the window).

The dispatcher may move on to other candidates. Before it calls one whose worst case is larger
than what is held (a dearer model, a longer context), :meth:`Reservation.cover` tops the hold up by
the difference, all or nothing, under the same rule (the difference of the estimates must fit):
when it does not, that candidate is left out (``budget (client 'x' limit of 5 cost_usd per 1d)``)
and the next one is tried; nothing was reserved for it. A cheaper candidate needs no top-up. A
model without prices costs $0 (:func:`~localrouter.runtime.limits.price`).

After the answer the whole reservation (first hold and top-ups) is replaced by the actual usage
of the candidate that served; when no candidate answered it is released. Provider limits (an
account's own caps) never answer 429: a capped candidate is skipped (see ``dispatch``); they count
the estimate.
"""

from __future__ import annotations

from collections.abc import Mapping

from localrouter.compiler.table import Client, LimitPolicy, ModelInfo, Strategy
from localrouter.routing.facts import RequestFacts
from localrouter.runtime.limits import (
    Admission,
    Limiter,
    Rejection,
    describe,
    estimate_for,
    usage,
)
from localrouter.server.accounting import Usage, cost

DEFAULT_OUTPUT_ESTIMATE = 512
UNKNOWN_OUTPUT_BOUND = 32_768  # the worst case of a model whose context_window is unknown


def output_estimate(facts: RequestFacts) -> int:
    """What a request is expected to write: ``max_tokens``, else the default estimate."""
    return facts.max_tokens or DEFAULT_OUTPUT_ESTIMATE


def worst_output(facts: RequestFacts, model: ModelInfo) -> int:
    """The most a request can make ``model`` write: ``max_tokens``, else what its context
    leaves after the input (at least 1), else :data:`UNKNOWN_OUTPUT_BOUND`."""
    if facts.max_tokens:
        return facts.max_tokens
    if model.context_window:
        return max(model.context_window - facts.estimated_tokens, 1)
    return UNKNOWN_OUTPUT_BOUND


def bounds(facts: RequestFacts, model: ModelInfo) -> tuple[dict[str, float], dict[str, float]]:
    """(estimate, worst case) of one request to ``model``, per metric."""
    worst = worst_output(facts, model)
    expected = min(output_estimate(facts), worst)
    return (
        estimate_for(model, facts.estimated_tokens, expected),
        estimate_for(model, facts.estimated_tokens, worst),
    )


class Reservation:
    """One request's hold on its client's and strategy's limits: the first admission and the
    top-ups made for candidates with a larger worst case. Settled or released once."""

    def __init__(
        self,
        limiter: Limiter,
        policies: tuple[LimitPolicy, ...],
        admission: Admission,
        facts: RequestFacts,
        estimate: dict[str, float],
        held: dict[str, float],
    ) -> None:
        self._limiter = limiter
        self._policies = policies
        self._metrics = frozenset(p.metric for p in policies)
        self._held = [admission]
        self._facts = facts
        self.estimate = estimate  # per metric, the largest estimate admitted so far
        self.held = held  # per metric, the largest worst case held so far

    @property
    def cost_usd(self) -> float:
        """The worst case held in USD (the dearest candidate covered so far)."""
        return self.held["cost_usd"]

    @property
    def headers(self) -> Mapping[str, str]:
        """``x-ratelimit-*`` as of the latest reservation (the first, or its last top-up)."""
        return self._held[-1].headers

    async def cover(self, model: ModelInfo) -> str | None:
        """Make the reservation cover a call to ``model``: None when it does (topped up if
        ``model``'s worst case is larger than what is held), else why not (nothing is reserved
        then)."""
        if not self._metrics:
            return None
        estimate, worst = bounds(self._facts, model)
        hold = {m: worst[m] - self.held[m] for m in self._metrics if worst[m] > self.held[m]}
        if not hold:
            return None
        need = {m: max(estimate[m] - self.estimate[m], 0.0) for m in hold}
        verdict = await self._limiter.check(self._policies, need, hold)
        if isinstance(verdict, Rejection):
            return f"budget ({describe(verdict.policy)})"
        self._held.append(verdict)
        for m in hold:
            self.held[m] = worst[m]
            self.estimate[m] = max(self.estimate[m], estimate[m])
        return None

    async def settle(self, model: ModelInfo, used: Usage) -> None:
        """Replace everything reserved by what ``model`` really used."""
        first, *topups = self._held
        await self._limiter.settle(first, actual(model, used))
        for held in topups:
            await self._limiter.release(held)

    async def release(self) -> None:
        """Return everything reserved (no candidate answered)."""
        for held in self._held:
            await self._limiter.release(held)


async def reserve(
    limiter: Limiter,
    client: Client,
    strategy: Strategy,
    facts: RequestFacts,
    first: ModelInfo,
) -> Reservation | Rejection:
    """Admit a request whose first candidate is ``first``: its estimate at ``first``'s prices
    must fit every client and strategy limit; its worst case is held on each, or nothing is
    (the :class:`Rejection`)."""
    policies = (*client.limits, *strategy.limits)
    estimate, worst = bounds(facts, first)
    verdict = await limiter.check(policies, estimate, worst)
    if isinstance(verdict, Rejection):
        return verdict
    return Reservation(limiter, policies, verdict, facts, estimate, worst)


def actual(model: ModelInfo, used: Usage) -> dict[str, float]:
    total = cost(model, used)["total"]
    return dict(
        usage(
            input_tokens=used.prompt_tokens,
            output_tokens=used.completion_tokens,
            cost_usd=total or 0.0,
        )
    )


async def settle(limiter: Limiter, admission: Admission, model: ModelInfo, used: Usage) -> None:
    await limiter.settle(admission, actual(model, used))
