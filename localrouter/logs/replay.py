"""Replay an access log through two routing tables and count the decisions that differ.

Each line's recorded ``facts`` (docs/observability.md) are routed for its ``client`` through the
old and the new table, as the server would route them with every candidate healthy: no limits,
breakers, health or latency (the runtime state of the day is not in the log). Two decisions are
the same when their status, route and ordered candidate ids are. A client missing from a table
is a 401, a disabled one a 403, as the server's authentication answers. A line without a client
(401 before authentication) or without usable facts is skipped, never an error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from localrouter.compiler.table import RoutingTable
from localrouter.routing.facts import NowFacts, RequestFacts
from localrouter.routing.route import route

MAX_EXAMPLES = 20

_INTS = ("messages_count", "estimated_tokens", "max_tokens")
_BOOLS = ("has_tools", "has_images", "stream")
_NOW = ("hour", "weekday", "unix")


@dataclass(frozen=True)
class ReplayChange:
    """One request whose decision differs; ``old`` and ``new`` are short human strings."""

    request_id: str
    client: str
    old: str
    new: str


@dataclass(frozen=True)
class ReplayReport:
    total: int  # lines read, parsed or not
    replayed: int
    skipped: int  # no client, no facts, malformed facts, or not JSON
    changed: int
    examples: tuple[ReplayChange, ...]  # the first MAX_EXAMPLES changes
    by_client: Mapping[str, int]  # changed decisions per client, most first

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "replayed": self.replayed,
            "skipped": self.skipped,
            "changed": self.changed,
            "by_client": dict(self.by_client),
            "examples": [
                {"request_id": c.request_id, "client": c.client, "old": c.old, "new": c.new}
                for c in self.examples
            ],
        }


@dataclass(frozen=True)
class _Outcome:
    status: int
    route: str | None
    candidates: tuple[str, ...]
    reason: str | None  # for a non-200 status

    @property
    def key(self) -> tuple[int, str | None, tuple[str, ...]]:
        return self.status, self.route, self.candidates

    def __str__(self) -> str:
        if self.status == 200:
            return f"route {self.route} → {', '.join(self.candidates)}"
        where = f" (route {self.route})" if self.route else ""
        return f"{self.status} {self.reason or 'error'}{where}"


def _int(section: Mapping[str, Any], name: str, where: str) -> int | None:
    value = section.get(name)
    if value is None:
        return None
    if type(value) is not int:
        raise ValueError(f"{where}.{name}: expected an integer, got {value!r}")
    return value


def _str_map(value: Any, where: str, *, strings: bool) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{where}: expected an object, got {value!r}")
    if strings and not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"{where}: expected string values")
    return MappingProxyType(dict(value))


def facts_from_log(facts: Mapping[str, Any]) -> tuple[RequestFacts, NowFacts]:
    """The request and time facts of one access-log line's ``facts`` object.

    ``request`` is required; a missing or null field (and a missing ``now``) takes the
    dataclass default; unknown fields are ignored. A field of the wrong type raises ValueError.
    """
    if not isinstance(facts, Mapping):
        raise ValueError(f"facts: expected an object, got {facts!r}")
    req = facts.get("request")
    if not isinstance(req, Mapping):
        raise ValueError("facts.request: missing or not an object")
    kw: dict[str, Any] = {}
    for name in _INTS:
        if (number := _int(req, name, "facts.request")) is not None:
            kw[name] = number
    for name in _BOOLS:
        value = req.get(name)
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"facts.request.{name}: expected true or false, got {value!r}")
        if value is not None:
            kw[name] = value
    model, complexity, tags = req.get("model"), req.get("complexity"), req.get("tags")
    if model is not None:
        if not isinstance(model, str):
            raise ValueError(f"facts.request.model: expected a string, got {model!r}")
        kw["model"] = model
    if complexity is not None:
        if isinstance(complexity, bool) or not isinstance(complexity, int | float):
            raise ValueError(f"facts.request.complexity: expected a number, got {complexity!r}")
        kw["complexity"] = float(complexity)
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValueError(f"facts.request.tags: expected a list of strings, got {tags!r}")
        kw["tags"] = tuple(tags)
    needs = req.get("needs")
    if needs is not None:
        if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
            raise ValueError(f"facts.request.needs: expected a list of strings, got {needs!r}")
        kw["needs"] = frozenset(needs)
    if req.get("headers") is not None:
        kw["headers"] = _str_map(req["headers"], "facts.request.headers", strings=True)
    if req.get("metadata") is not None:
        kw["metadata"] = _str_map(req["metadata"], "facts.request.metadata", strings=False)
    now = facts.get("now")
    if now is None:
        return RequestFacts(**kw), NowFacts()
    if not isinstance(now, Mapping):
        raise ValueError(f"facts.now: expected an object, got {now!r}")
    at = {name: n for name in _NOW if (n := _int(now, name, "facts.now")) is not None}
    return RequestFacts(**kw), NowFacts(**at)


def _decide(table: RoutingTable, name: str, facts: RequestFacts, now: NowFacts) -> _Outcome:
    client = table.clients.get(name)
    if client is None:
        return _Outcome(401, None, (), "unknown client")
    # a disabled client: route() answers 403 first, as authentication does
    d = route(table, client, facts, now, judge_all=False)
    ids = tuple(m.id for m in d.candidates)
    return _Outcome(d.status, d.route, ids, None if d.status == 200 else d.error_code)


def replay(
    old: RoutingTable, new: RoutingTable, lines: Iterable[Mapping[str, Any] | None]
) -> ReplayReport:
    """Route every line's facts through both tables; ``None`` (an unparsed line) is skipped."""
    total = replayed = changed = 0
    examples: list[ReplayChange] = []
    per_client: Counter[str] = Counter()
    for line in lines:
        total += 1
        client = line.get("client") if line is not None else None
        if line is None or not isinstance(client, str) or line.get("facts") is None:
            continue
        try:
            facts, now = facts_from_log(line["facts"])
        except ValueError:
            continue
        replayed += 1
        a, b = _decide(old, client, facts, now), _decide(new, client, facts, now)
        if a.key == b.key:
            continue
        changed += 1
        per_client[client] += 1
        if len(examples) < MAX_EXAMPLES:
            rid = line.get("request_id")
            examples.append(ReplayChange(str(rid) if rid else "-", client, str(a), str(b)))
    ordered = dict(sorted(per_client.items(), key=lambda kv: (-kv[1], kv[0])))
    return ReplayReport(
        total, replayed, total - replayed, changed, tuple(examples), MappingProxyType(ordered)
    )
