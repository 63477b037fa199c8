"""Provider caps as the router sees them: which candidates a request would push past their
provider's own limits (an account's caps), so the router skips them instead of answering 429.

Used on every request (the server's runtime view) and by ``explain`` (over saved state). Sync,
no I/O, as routing is: it reads the counter store's local view (``Limiter.would_exceed``; for a
shared store the last values this process saw), so it is advice — the dispatcher's reservation
of the caps before each call is what holds."""

from __future__ import annotations

from collections.abc import Callable

from localrouter.compiler.table import ModelInfo, RoutingTable
from localrouter.runtime.limits import Limiter, describe, estimate_for

Skip = Callable[[ModelInfo], str | None]


def caps_skip(
    limiter: Limiter, table: RoutingTable, estimated_tokens: int, output_tokens: int
) -> Skip | None:
    """A ``skip`` for candidates whose provider's own caps this request would exceed:
    ``rate-limited (provider 'X' limit of N metric per W)``; None when no provider of the table
    has caps (nothing to ask per candidate). Reserves nothing."""
    if not table.capped_providers:
        return None
    seen: dict[str, str | None] = {}  # per provider, when its caps do not depend on the model

    def capped(m: ModelInfo) -> str | None:
        caps = table.providers[m.provider].limits
        if not caps:
            return None
        if m.provider in seen:
            return seen[m.provider]
        hit = limiter.would_exceed(caps, estimate_for(m, estimated_tokens, output_tokens))
        reason = f"rate-limited ({describe(hit)})" if hit is not None else None
        if all(p.metric != "cost_usd" for p in caps):  # requests and tokens: same for every model
            seen[m.provider] = reason
        return reason

    return capped
