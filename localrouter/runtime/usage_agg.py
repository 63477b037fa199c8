"""Aggregates of access-log lines: the one arithmetic behind metrics, ``/v1/usage`` and ``stats``.

:class:`Agg` sums requests, errors, tokens and cost, and keeps latency in a :class:`Latency`
histogram. Both merge by addition, so a total over many buckets is exact for counts and cost and
the same for percentiles whichever way the lines were grouped: the in-memory metrics (fed live)
and ``stats`` (fed from the log files) agree to the last digit when they see the same lines.

Cost is summed as integers of 10⁻¹⁰ USD (lines carry ``cost_usd`` rounded to 10 decimals), so
the order of addition never changes a total. Latency buckets are logarithmic (each ≈ 2 % wide,
:data:`GAMMA`); a percentile is reported as its bucket's midpoint, within ±1 % of the exact value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

COST_SCALE = 10**10  # cost_usd has 10 decimals: integers of 1e-10 USD add exactly
GAMMA = 1.02
_LOG_GAMMA = math.log(GAMMA)
_MIN_MS = 0.01  # anything faster counts as 0.01 ms
QUANTILES = (0.5, 0.95, 0.99)


def cost_units(cost_usd: float | None) -> int:
    return 0 if cost_usd is None else round(cost_usd * COST_SCALE)


def bin_of(ms: float) -> int:
    """The logarithmic bucket of ``ms``."""
    return math.ceil(math.log(ms if ms > _MIN_MS else _MIN_MS) / _LOG_GAMMA)


# one line reduced to what an aggregate adds: (error 0/1, input, output, cost units, latency bin)
Sample = tuple[int, int, int, int, int]


def sample(line: Mapping[str, Any]) -> Sample:
    """What :meth:`Agg.add_sample` adds for ``line``: computed once, added to many aggregates."""
    return (
        0 if line["status"] == "ok" else 1,
        line["input_tokens"],
        line["output_tokens"],
        cost_units(line["cost_usd"]),
        bin_of(line["latency_ms"]),
    )


class Latency:
    """A mergeable histogram of milliseconds in logarithmic buckets (sparse: only buckets hit)."""

    __slots__ = ("counts", "n")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.n = 0

    def add(self, ms: float) -> None:
        self.add_bin(bin_of(ms))

    def add_bin(self, i: int) -> None:
        counts = self.counts
        counts[i] = counts.get(i, 0) + 1
        self.n += 1

    def merge(self, other: Latency) -> None:
        counts = self.counts
        for i, c in other.counts.items():
            counts[i] = counts.get(i, 0) + c
        self.n += other.n

    def subtract(self, other: Latency) -> None:
        """Take away ``other``, which was merged in earlier (a window sliding past it)."""
        counts = self.counts
        for i, c in other.counts.items():
            left = counts[i] - c
            if left:
                counts[i] = left
            else:
                del counts[i]
        self.n -= other.n

    def quantiles(self, qs: tuple[float, ...] = QUANTILES) -> list[float | None]:
        """The nearest-rank quantiles ``qs`` (ascending; each its bucket's midpoint, 2
        decimals), in one pass; None when empty."""
        if not self.n:
            return [None] * len(qs)
        out: list[float | None] = []
        ranks = [max(1, math.ceil(q * self.n)) for q in qs]
        seen, k = 0, 0
        for i in sorted(self.counts):
            seen += self.counts[i]
            while k < len(ranks) and seen >= ranks[k]:
                out.append(round(2 * GAMMA**i / (GAMMA + 1), 2))
                k += 1
            if k == len(ranks):
                break
        return out

    def quantile(self, q: float) -> float | None:
        return self.quantiles((q,))[0]


class Agg:
    """Requests, errors, tokens, cost and latency of a set of access-log lines."""

    __slots__ = ("cost", "errors", "input_tokens", "latency", "output_tokens", "requests", "view")

    def __init__(self) -> None:
        self.view: dict[str, Any] | None = None  # as_dict(), until the next change
        self.requests = 0
        self.errors = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost = 0  # in 1e-10 USD
        self.latency = Latency()

    def add(self, line: Mapping[str, Any]) -> None:
        self.add_sample(sample(line))

    def add_sample(self, s: Sample) -> None:
        self.view = None
        self.requests += 1
        self.errors += s[0]
        self.input_tokens += s[1]
        self.output_tokens += s[2]
        self.cost += s[3]
        self.latency.add_bin(s[4])

    def merge(self, other: Agg) -> None:
        self.view = None
        self.requests += other.requests
        self.errors += other.errors
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost += other.cost
        self.latency.merge(other.latency)

    def subtract(self, other: Agg) -> None:
        self.view = None
        self.requests -= other.requests
        self.errors -= other.errors
        self.input_tokens -= other.input_tokens
        self.output_tokens -= other.output_tokens
        self.cost -= other.cost
        self.latency.subtract(other.latency)

    @property
    def cost_usd(self) -> float:
        return self.cost / COST_SCALE

    def as_dict(self) -> dict[str, Any]:
        """The aggregate as JSON-ready data (kept until the aggregate changes: do not mutate)."""
        if self.view is None:
            p50, p95, p99 = self.latency.quantiles()
            self.view = {
                "requests": self.requests,
                "errors": self.errors,
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "total_tokens": self.input_tokens + self.output_tokens,
                "cost_usd": self.cost_usd,
                "p50_ms": p50,
                "p95_ms": p95,
                "p99_ms": p99,
            }
        return self.view


def merged(aggs: list[Agg]) -> Agg:
    out = Agg()
    for a in aggs:
        out.merge(a)
    return out


DIMENSIONS = ("client", "provider", "model")
NONE = "-"  # the name of "nobody": an unauthenticated request's client, an unserved provider


def name_in(line: Mapping[str, Any], by: str) -> str:
    """The line's name in dimension ``by``: a model is named ``provider/model``."""
    if by == "model":
        provider, model = line.get("provider"), line.get("model")
        return f"{provider}/{model}" if provider and model else NONE
    value = line.get(by)
    return value if isinstance(value, str) and value else NONE
