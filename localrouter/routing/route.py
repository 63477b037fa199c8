"""route(table, client, facts, now, runtime) → Decision. Pure and synchronous: no I/O, no clock.

Resolution of the request's ``model`` (SPEC §3): first the strategy's ``aliases`` (the first
pattern that matches the name reads it as its target; not for ``auto``, an absent model or
``localrouter/…``, and a target is never aliased again); then ``auto``, absent or
``localrouter/auto`` → the client's strategy; ``localrouter/NAME`` → strategy NAME if it is the
client's; ``provider/model`` → that model if the client's strategy allows it; a bare id → the
first allowed model of that name.
Then the first route whose ``when`` is true (else the strategy's own list), the ``filter`` per
candidate, the runtime ORDER keys, and runtime exclusions (circuit open, unhealthy, capped).

A candidate the catalog knows to lack a capability the request needs (``RequestFacts.needs``:
images -> vision, tools -> tools, /v1/embeddings -> embeddings, a json_schema response_format ->
json) is left out first, with the reason ``lacks vision`` etc.; a model whose capabilities are
unknown is not. When every candidate is left out for that reason the request itself asks for what
no allowed model has: 400 ``model_lacks_capability``, not 503.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from localrouter.compiler.cel import Predicate
from localrouter.compiler.table import Alias, Client, ModelInfo, Route, RoutingTable, Strategy
from localrouter.routing.facts import NowFacts, RequestFacts
from localrouter.routing.order import needs_runtime, sort_candidates

AUTO = frozenset({"", "auto", "localrouter/auto"})


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
    # candidates not judged yet (the caller asked for fewer), in order; `more()` judges them
    pending: tuple[ModelInfo, ...] = ()
    alias: Alias | None = None  # the strategy's alias that read the request's model, if one did
    _judge: _Judge | None = field(default=None, repr=False, compare=False)

    @property
    def first(self) -> ModelInfo | None:
        return self.candidates[0] if self.candidates else None

    def more(self, want: int = 1) -> Decision:
        """This decision with up to ``want`` more candidates judged from :attr:`pending`."""
        if not self.pending or self._judge is None:
            return self
        return self._judge.run(self.pending, list(self.candidates), list(self.left_out), want)

    def walk(self) -> Walk:
        """Iterate every eligible candidate, judging pending ones only when reached."""
        return Walk(self)


class Walk:
    """The candidates of a decision, judged lazily: the next pending candidate is judged only
    when the caller moves past the last eligible one. :attr:`decision` is the latest state
    (its ``left_out`` grows as candidates are judged), for the generation record."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision

    def __iter__(self) -> Iterator[ModelInfo]:
        i = 0
        while True:
            d = self.decision
            if i < len(d.candidates):
                yield d.candidates[i]
                i += 1
            elif d.pending:
                self.decision = d.more()
            else:
                return


def _fail(
    status: int,
    client: str,
    message: str,
    code: str,
    strategy: str | None = None,
    left_out: tuple[tuple[str, str], ...] = (),
) -> Decision:
    return Decision(status, client, strategy, None, (), left_out, message, code)


def find_alias(strategy: Strategy, model: str) -> Alias | None:
    """The first of ``strategy``'s aliases whose pattern matches ``model``; never one for
    ``auto``, an absent model or ``localrouter/…`` (the gateway's own names)."""
    if model in AUTO or model.startswith("localrouter/"):
        return None
    for alias in strategy.aliases:
        if alias.regex.fullmatch(model) is not None:
            return alias
    return None


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
    alias = find_alias(strategy, model) if strategy.aliases else None
    if alias is None:
        resolved = _resolve_name(table, client, strategy, model)
    else:
        resolved = _aliased(table, client, strategy, alias, model)
    if isinstance(resolved, Decision):
        return resolved
    if resolved is None:
        return _route_strategy(table, client, strategy, facts, now, runtime, judge_all, want, alias)
    return _route_named(table, client, strategy, resolved, facts, now, runtime, judge_all, alias)


def resolve_model(
    table: RoutingTable, client: Client, model: str
) -> Decision | tuple[ModelInfo, ...] | None:
    """What a request's ``model`` names for ``client`` (SPEC §3): ``None`` for the client's
    strategy (``auto``, absent, ``localrouter/auto``, ``localrouter/<its strategy>``), the
    allowed models it names (``provider/model``, or a bare id: the first allowed model of that
    name), or the failed :class:`Decision` (403 not allowed, 404 unknown). A name one of the
    strategy's aliases matches is read as the alias's target first. ``route`` and
    ``GET /v1/models/{id}`` both read ``model`` this way."""
    strategy = table.strategies[client.strategy]
    alias = find_alias(strategy, model) if strategy.aliases else None
    if alias is None:
        return _resolve_name(table, client, strategy, model)
    return _aliased(table, client, strategy, alias, model)


def _aliased(
    table: RoutingTable, client: Client, strategy: Strategy, alias: Alias, sent: str
) -> Decision | tuple[ModelInfo, ...] | None:
    """``alias.target`` resolved (never aliased again); a failure names the alias and the
    model name ``sent`` that it read."""
    failed = _resolve_name(table, client, strategy, alias.target)
    if isinstance(failed, Decision):
        why = f" (model '{sent}' is read as '{alias.target}' by alias '{alias.pattern}')"
        return Decision(
            failed.status,
            failed.client,
            strategy.name,
            error=(failed.error or "") + why,
            error_code=failed.error_code,
            alias=alias,
        )
    return failed


def _resolve_name(
    table: RoutingTable, client: Client, strategy: Strategy, model: str
) -> Decision | tuple[ModelInfo, ...] | None:
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
        return None
    if model in AUTO:
        return None
    by_id = "/" in model and model.split("/", 1)[0] in table.providers
    # the first candidate of that id (or name): the default list first, then the routes
    for r in (strategy.default, *strategy.routes):
        for m in r.candidates:
            if (m.id if by_id else m.name) == model:
                return (m,)
    names = (m.name for m in table.models.values())
    exists = model in table.models if by_id else model in names
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


def activation(
    client: Client, facts: RequestFacts, now: NowFacts, predicates: Iterable[Predicate | None] = ()
) -> dict[str, Any]:
    """The CEL variables for ``predicates`` as plain data (every field when none are given).

    Only the ``request`` fields some predicate reads are built: the copies of ``headers`` and
    ``metadata`` cost nothing for a strategy whose expressions ignore them.
    """
    fields: set[str] | None = set()
    for p in predicates:
        if p is None or fields is None:
            continue
        if "request" in p.reads:
            wanted = p.reads["request"]
            fields = None if wanted is None else fields | wanted
    return {
        "request": facts.as_cel_dict(None if fields is None else frozenset(fields)),
        "client": {"name": client.name, "tags": list(client.tags)},
        "now": now.as_cel_dict(),
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
    alias: Alias | None = None,
) -> Decision:
    predicates = (*(r.when for r in strategy.routes), strategy.filter)
    act = activation(client, facts, now, predicates) if (strategy.routes or strategy.filter) else {}
    chosen: Route = strategy.default
    for r in strategy.routes:
        if r.when is not None and r.when.evaluate(act):
            chosen = r
            break
    judge = _Judge(
        client, strategy, chosen, act, runtime, judge_all, table.cel_models, facts.needs, alias
    )
    candidates = chosen.candidates
    if needs_runtime(chosen.order):
        candidates = tuple(sort_candidates(list(candidates), chosen.order, runtime.latency_ms))
    return judge.run(candidates, [], list(chosen.left_out), want)


@dataclass(frozen=True)
class _Judge:
    """Judges candidates of one decision: the runtime view's skip, then the strategy's filter."""

    client: Client
    strategy: Strategy
    chosen: Route
    act: dict[str, Any]
    runtime: RuntimeView
    judge_all: bool
    cel_models: Mapping[str, Any]
    needs: frozenset[str] = frozenset()  # capabilities the request needs
    alias: Alias | None = None  # carried into every decision it makes

    def run(
        self,
        candidates: Sequence[ModelInfo],
        passed: list[ModelInfo],
        left_out: list[tuple[str, str]],
        want: int,
    ) -> Decision:
        """Judge ``candidates`` in order until ``want`` more passed (0 or judge_all: every one)."""
        runtime, check = self.runtime, self.strategy.filter
        healthy = check is not None and check.needs("model", "healthy")
        latency = check is not None and check.needs("model", "latency_ms")
        judge = check.bind(self.act, "model") if check is not None else None
        goal = len(passed) + want if want and not self.judge_all else 0
        judged = lacked = 0
        needs = self.needs
        for m in candidates:
            if goal and len(passed) >= goal:
                break
            judged += 1
            reason = m.lacks(needs) if needs else None
            if reason is not None:
                lacked += 1
                left_out.append((m.id, reason))
                continue
            reason = runtime.skip(m)
            if reason is None and judge is not None:
                model_act: Mapping[str, Any] = self.cel_models.get(m.id) or m.cel_fields()
                if healthy or latency:
                    model_act = dict(model_act)
                    if healthy:
                        model_act["healthy"] = runtime.healthy(m)
                    lat = runtime.latency_ms.get(m.id) if latency else None
                    if lat is not None:
                        model_act["latency_ms"] = float(lat)
                ok, err = judge(model_act)
                if not ok:
                    reason = f"filter error: {err}" if err else "filter false"
            if reason is None:
                passed.append(m)
            else:
                left_out.append((m.id, reason))
        pending = tuple(candidates[judged:])
        name = self.chosen.name
        if not passed and not pending and lacked and lacked == judged:
            return Decision(
                400,
                self.client.name,
                self.strategy.name,
                name,
                (),
                tuple(left_out),
                "no allowed model has the capabilities this request needs",
                "model_lacks_capability",
                alias=self.alias,
            )
        if not passed and not pending:
            return Decision(
                503,
                self.client.name,
                self.strategy.name,
                name,
                (),
                tuple(left_out),
                "no eligible model for this request"
                + (f" (route '{name}')" if name != "default" else ""),
                "no_candidates",
                alias=self.alias,
            )
        return Decision(
            200,
            self.client.name,
            self.strategy.name,
            name,
            tuple(passed),
            tuple(left_out),
            pending=pending,
            alias=self.alias,
            _judge=self if pending else None,
        )


def _route_named(
    table: RoutingTable,
    client: Client,
    strategy: Strategy,
    match: tuple[ModelInfo, ...],
    facts: RequestFacts,
    now: NowFacts,
    runtime: RuntimeView,
    judge_all: bool,
    alias: Alias | None = None,
) -> Decision:
    act = activation(client, facts, now, (strategy.filter,)) if strategy.filter else {}
    named = Route("named", None, match, (), ())
    judge = _Judge(
        client, strategy, named, act, runtime, judge_all, table.cel_models, facts.needs, alias
    )
    return judge.run(match, [], [], 0)
