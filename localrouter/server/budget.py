"""LocalRouter's own limits on the request path: reserve before forwarding, settle after.

A request reserves its estimate on every client and strategy limit at once (all or nothing: a
rejected request consumes nothing) and is answered 429 with ``Retry-After`` and the
``x-ratelimit-*`` headers when any limit is reached. The estimate is the request's input tokens
(local estimate) plus ``max_tokens`` (or :data:`DEFAULT_OUTPUT_ESTIMATE` when absent), priced at
the most expensive candidate that may be tried. After the answer the reservation is replaced by
the actual usage; when no candidate answered it is released. Provider limits (an account's own
caps) never answer 429: a capped candidate is skipped (see ``dispatch``).
"""

from __future__ import annotations

from localrouter.compiler.table import Client, ModelInfo, Strategy
from localrouter.routing.facts import RequestFacts
from localrouter.runtime.limits import Admission, Limiter, Rejection, estimate_for, usage
from localrouter.server.accounting import Usage, cost

DEFAULT_OUTPUT_ESTIMATE = 512


def output_estimate(facts: RequestFacts) -> int:
    return facts.max_tokens or DEFAULT_OUTPUT_ESTIMATE


def reserve(
    limiter: Limiter,
    client: Client,
    strategy: Strategy,
    facts: RequestFacts,
    candidates: tuple[ModelInfo, ...],
) -> Admission | Rejection:
    policies = (*client.limits, *strategy.limits)
    out = output_estimate(facts)
    tried = candidates[: max(1, strategy.fallback.attempts)]

    def priced(m: ModelInfo) -> float:
        return float(estimate_for(m, facts.estimated_tokens, out).get("cost_usd", 0.0))

    dearest = max(tried, key=priced)
    return limiter.check(policies, estimate_for(dearest, facts.estimated_tokens, out))


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
