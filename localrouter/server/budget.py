"""LocalRouter's own limits on the request path: reserve before forwarding, settle after.

A request reserves its estimate on every client and strategy limit at once (all or nothing: a
rejected request consumes nothing) and is answered 429 with ``Retry-After`` and the
``x-ratelimit-*`` headers when any limit is reached. The estimate is the request's input tokens
(local estimate) plus ``max_tokens`` (or :data:`DEFAULT_OUTPUT_ESTIMATE` when absent), priced at
the FIRST candidate, the one the router chose.

The dispatcher may move on to other candidates. Before it calls one whose estimate costs more
than what is reserved, :meth:`Reservation.cover` tops the reservation up by the difference, all
or nothing across the ``cost_usd`` limits: when the top-up does not fit, that candidate is left
out (``budget (client 'x' limit of 5 cost_usd per 1d)``) and the next one is tried; nothing was
reserved for it. A cheaper candidate needs no top-up. So what is reserved always covers the
first candidate and the dearest one called so far, and a dearer fallback can never overshoot a
``cost_usd`` limit by more than its real usage exceeds its estimate. A model without prices
costs $0 (:func:`~localrouter.runtime.limits.price`).

After the answer the whole reservation (first hold and top-ups) is replaced by the actual usage
of the candidate that served; when no candidate answered it is released. Provider limits (an
account's own caps) never answer 429: a capped candidate is skipped (see ``dispatch``).
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
    price,
    usage,
)
from localrouter.server.accounting import Usage, cost

DEFAULT_OUTPUT_ESTIMATE = 512


def output_estimate(facts: RequestFacts) -> int:
    return facts.max_tokens or DEFAULT_OUTPUT_ESTIMATE


class Reservation:
    """One request's hold on its client's and strategy's limits: the first admission and the
    cost top-ups made for dearer candidates. Settled or released once."""

    def __init__(
        self,
        limiter: Limiter,
        policies: tuple[LimitPolicy, ...],
        admission: Admission,
        tokens: tuple[int, int],
        cost_usd: float,
    ) -> None:
        self._limiter = limiter
        self._policies = policies
        self._held = [admission]
        self._tokens = tokens
        self.cost_usd = cost_usd  # the estimate's cost reserved so far: the dearest covered

    @property
    def headers(self) -> Mapping[str, str]:
        """``x-ratelimit-*`` as of the latest reservation (the first, or its last top-up)."""
        return self._held[-1].headers

    def estimated_cost(self, model: ModelInfo) -> float:
        return price(model, *self._tokens)

    def cover(self, model: ModelInfo) -> str | None:
        """Make the reservation cover a call to ``model``: None when it does (topped up if
        ``model`` is dearer than what is reserved), else why not (nothing is reserved then)."""
        extra = self.estimated_cost(model) - self.cost_usd
        if extra <= 0 or not any(p.metric == "cost_usd" for p in self._policies):
            return None
        verdict = self._limiter.check(self._policies, usage(requests=0, cost_usd=extra))
        if isinstance(verdict, Rejection):
            return f"budget ({describe(verdict.policy)})"
        self._held.append(verdict)
        self.cost_usd += extra
        return None

    def settle(self, model: ModelInfo, used: Usage) -> None:
        """Replace everything reserved by what ``model`` really used."""
        first, *topups = self._held
        self._limiter.settle(first, actual(model, used))
        for held in topups:
            self._limiter.release(held)

    def release(self) -> None:
        """Return everything reserved (no candidate answered)."""
        for held in self._held:
            self._limiter.release(held)


def reserve(
    limiter: Limiter,
    client: Client,
    strategy: Strategy,
    facts: RequestFacts,
    first: ModelInfo,
) -> Reservation | Rejection:
    """Admit a request whose first candidate is ``first``: its estimate at ``first``'s prices is
    reserved on every client and strategy limit, or nothing is (the :class:`Rejection`)."""
    policies = (*client.limits, *strategy.limits)
    tokens = (facts.estimated_tokens, output_estimate(facts))
    estimate = estimate_for(first, *tokens)
    verdict = limiter.check(policies, estimate)
    if isinstance(verdict, Rejection):
        return verdict
    return Reservation(limiter, policies, verdict, tokens, estimate["cost_usd"])


def actual(model: ModelInfo, used: Usage) -> dict[str, float]:
    total = cost(model, used)["total"]
    return dict(
        usage(
            input_tokens=used.prompt_tokens,
            output_tokens=used.completion_tokens,
            cost_usd=total or 0.0,
        )
    )


def settle(limiter: Limiter, admission: Admission, model: ModelInfo, used: Usage) -> None:
    limiter.settle(admission, actual(model, used))
