"""The ORDER keys: how a strategy ranks its candidates.

Keys combine left to right (the first decides, the next breaks ties) and the sort is stable, so
the listed order is the last tie-breaker. Static keys (prices, parameters, quality, kind) are
applied once at compile time; keys that need observed latency are applied again per request with
the runtime's latency view.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from localrouter.compiler.table import ModelInfo

INF = float("inf")

Latency = Mapping[str, float]  # model id → observed p50 latency in ms
KeyFn = Callable[[ModelInfo, Latency], float]


def _cost(m: ModelInfo, _lat: Latency) -> float:
    price = m.price_per_mtok
    return INF if price is None else price


def _params(m: ModelInfo, _lat: Latency) -> float:
    return -m.params_b if m.params_b is not None else INF


def _latency(m: ModelInfo, lat: Latency) -> float:
    return lat.get(m.id, INF)


def _quality(m: ModelInfo, _lat: Latency) -> float:
    return -m.quality if m.quality is not None else INF


def _kind_first(kind: str, negate: bool = False) -> KeyFn:
    def key(m: ModelInfo, _lat: Latency) -> float:
        return float((m.kind == kind) == negate)

    return key


KEYS: Mapping[str, tuple[KeyFn, ...]] = {
    "lowest_cost": (_cost,),
    "highest_performance": (_params, _latency),
    "lowest_latency": (_latency,),
    "highest_quality": (_quality,),
    "local_first": (_kind_first("local"),),
    "remote_first": (_kind_first("local", negate=True),),
    "subscription_first": (_kind_first("subscription"),),
    "api_first": (_kind_first("api"),),
}

RUNTIME_KEYS = frozenset({"highest_performance", "lowest_latency"})


def needs_runtime(order: Sequence[str]) -> bool:
    return any(k in RUNTIME_KEYS for k in order)


def sort_candidates(
    models: Sequence[ModelInfo], order: Sequence[str], latency: Latency | None = None
) -> list[ModelInfo]:
    """``models`` ranked by ``order``; with no latency view, latency keys tie (stable)."""
    if not order:
        return list(models)
    lat: Latency = latency or {}
    fns = [fn for name in order for fn in KEYS[name]]
    return sorted(models, key=lambda m: tuple(fn(m, lat) for fn in fns))
