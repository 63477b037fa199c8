"""route(table, client, facts, now, runtime) → Decision. Pure and synchronous: no I/O, no clock.

Resolution of the request's ``model`` (SPEC §3): ``auto``, absent or ``localrouter/auto`` → the
client's strategy; ``localrouter/NAME`` → strategy NAME if it is the client's; ``provider/model``
→ that model if the client's strategy allows it; a bare id → the first allowed model of that name.
Then the first route whose ``when`` is true (else the strategy's own list), the ``filter`` per
candidate, the runtime ORDER keys, and runtime exclusions (circuit open, unhealthy, capped).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from celpy import celtypes

from localrouter.compiler.cel import to_cel
from localrouter.compiler.table import Client, ModelInfo, Route, RoutingTable, Strategy
from localrouter.routing.facts import NowFacts, RequestFacts
from localrouter.routing.order import needs_runtime, sort_candidates

AUTO = frozenset({"", "auto", "localrouter/auto"})
_HEALTHY = celtypes.StringType("healthy")
_LATENCY = celtypes.StringType("latency_ms")


@dataclass(frozen=True)
class RuntimeView:
    """What routing may know of runtime state; built by the runtime, read here."""

    latency_ms: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    healthy: Callable[[ModelInfo], bool] = field(default=lambda _m: True)
    # a reason to skip a candidate now (circuit open, unhealthy, provider capped), or None
    skip: Callable[[ModelInfo], str | None] = field(default=lambda _m: None)


NO_RUNTIME = RuntimeView()


@dataclass(frozen=True)
class Decision:
    status: int  # 200 when there are candidates to try; else the HTTP status to answer
    client: str
    strategy: str | None = None
    route: str | None = None
    candidates: tuple[ModelInfo, ...] = ()
    left_out: tuple[tuple[str, str], ...] = ()  # (model id, reason)
    error: str | None = None
    error_code: str | None = None

    @property
    def first(self) -> ModelInfo | None:
        return self.candidates[0] if self.candidates else None


def _fail(
    status: int,
    client: str,
    message: str,
    code: str,
    strategy: str | None = None,
    left_out: tuple[tuple[str, str], ...] = (),
) -> Decision:
    return Decision(status, client, strategy, None, (), left_out, message, code)


def route(
    table: RoutingTable,
    client: Client,
    facts: RequestFacts,
    now: NowFacts,
    runtime: RuntimeView = NO_RUNTIME,
    *,
    judge_all: bool = False,
    want: int = 0,
) -> Decision:
    """Decide the ordered candidates for one request.

    ``judge_all`` (``explain``) evaluates every candidate to give each left-out one its reason;
    otherwise judging stops once ``want`` candidates passed (0: all).
    """
    if not client.enabled:
        return _fail(403, client.name, f"client '{client.name}' is disabled", "client_disabled")
    strategy = table.strategies[client.strategy]
    model = facts.model or ""
    if model.startswith("localrouter/") and model not in AUTO:
        wanted = model.split("/", 1)[1]
        if wanted not in table.strategies or table.strategies[wanted].implicit:
            return _fail(404, client.name, f"unknown strategy '{wanted}'", "model_not_found")
        if wanted != client.strategy:
            return _fail(
                403,
                client.name,
                f"strategy '{wanted}' is not allowed for this key",
                "model_not_allowed",
            )
        model = ""
    if model in AUTO:
        return _route_strategy(table, client, strategy, facts, now, runtime, judge_all, want)
    return _route_named(table, client, strategy, model, facts, now, runtime, judge_all)


def activation(client: Client, facts: RequestFacts, now: NowFacts) -> dict[str, Any]:
    return {
        "request": to_cel(facts.as_cel_dict()),
        "client": to_cel({"name": client.name, "tags": list(client.tags)}),
        "now": to_cel(now.as_cel_dict()),
    }


def _route_strategy(
    table: RoutingTable,
    client: Client,
    strategy: Strategy,
    facts: RequestFacts,
    now: NowFacts,
    runtime: RuntimeView,
    judge_all: bool,
    want: int,
) -> Decision:
    act = activation(client, facts, now) if (strategy.routes or strategy.filter) else {}
    chosen: Route = strategy.default
    for r in strategy.routes:
        if r.when is not None and r.when.evaluate(act):
            chosen = r
            break
    return _judge(
        client,
        strategy,
        chosen,
        list(chosen.candidates),
        act,
        runtime,
        judge_all,
        want,
        chosen.left_out,
        table.cel_models,
    )


def _judge(
    client: Client,
    strategy: Strategy,
    chosen: Route,
    candidates: list[ModelInfo],
    act: dict[str, Any],
    runtime: RuntimeView,
    judge_all: bool,
    want: int,
    left: tuple[tuple[str, str], ...],
    cel_models: Mapping[str, Any],
) -> Decision:
    if needs_runtime(chosen.order):
        candidates = sort_candidates(candidates, chosen.order, runtime.latency_ms)
    passed: list[ModelInfo] = []
    left_out = list(left)
    for m in candidates:
        if want and len(passed) >= want and not judge_all:
            break
        reason = runtime.skip(m)
        if reason is None and strategy.filter is not None:
            static = cel_models.get(m.id)
            model_act = celtypes.MapType(static) if static is not None else to_cel(m.cel_fields())
            model_act[_HEALTHY] = celtypes.BoolType(runtime.healthy(m))
            lat = runtime.latency_ms.get(m.id)
            if lat is not None:
                model_act[_LATENCY] = celtypes.DoubleType(float(lat))
            ok, err = strategy.filter.evaluate_verbose({**act, "model": model_act})
            if not ok:
                reason = f"filter error: {err}" if err else "filter false"
        if reason is None:
            passed.append(m)
        else:
            left_out.append((m.id, reason))
    if not passed:
        return Decision(
            503,
            client.name,
            strategy.name,
            chosen.name,
            (),
            tuple(left_out),
            "no eligible model for this request"
            + (f" (route '{chosen.name}')" if chosen.name != "default" else ""),
            "no_candidates",
        )
    return Decision(200, client.name, strategy.name, chosen.name, tuple(passed), tuple(left_out))


def _route_named(
    table: RoutingTable,
    client: Client,
    strategy: Strategy,
    model: str,
    facts: RequestFacts,
    now: NowFacts,
    runtime: RuntimeView,
    judge_all: bool,
) -> Decision:
    allowed = [strategy.default, *strategy.routes]
    ordered: list[ModelInfo] = []
    for r in allowed:
        ordered.extend(m for m in r.candidates if m not in ordered)
    if "/" in model and model.split("/", 1)[0] in table.providers:
        match = [m for m in ordered if m.id == model]
        exists = model in table.models
    else:
        match = [m for m in ordered if m.name == model][:1]
        exists = any(m.name == model for m in table.models.values())
    if not match:
        if exists:
            return _fail(
                403,
                client.name,
                f"model '{model}' is not allowed for this key",
                "model_not_allowed",
                strategy.name,
            )
        return _fail(
            404, client.name, f"model '{model}' does not exist", "model_not_found", strategy.name
        )
    act = activation(client, facts, now) if strategy.filter else {}
    named = Route("named", None, tuple(match), (), ())
    return _judge(client, strategy, named, match, act, runtime, judge_all, 0, (), table.cel_models)
