"""The config's own routing tests (``tests:``), run by ``validate`` and ``check``.

Each test names a client and request facts (neutral defaults for the rest, or facts estimated from
a ``prompt``), routes them through the compiled table with no runtime state, and compares the
decision with ``expect``: status, strategy, route, first candidate, the whole candidate list,
models that must be left out; and the MCP tools the client sees or may call
(:mod:`localrouter.routing.mcp_expectations`).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from localrouter.compiler.table import RoutingTable
from localrouter.config.spec import TestNowSpec, TestRequestSpec, TestSpec
from localrouter.errors import RequestDataError
from localrouter.routing.client_data import (
    checked_headers,
    checked_metadata,
    checked_tags,
    token_count,
)
from localrouter.routing.facts import NowFacts, RequestFacts, facts_from_openai, needs_of
from localrouter.routing.mcp_expectations import mcp_problems
from localrouter.routing.route import Decision, route


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False

    index: int
    name: str
    passed: bool
    problems: tuple[str, ...]
    decision: Decision | None


def facts_from_test(req: TestRequestSpec) -> RequestFacts:
    base = RequestFacts()
    if req.prompt is not None:
        base = facts_from_openai(
            {"messages": [{"role": "user", "content": req.prompt}], "tools": req.has_tools}
        )
    given = req.model_dump(exclude_none=True, exclude={"prompt"})
    # the server's bounds on client data: a request over one is answered 400 (431), not routed
    if "tags" in given:
        given["tags"] = checked_tags(given["tags"])
    if "headers" in given:
        checked_headers(given["headers"])
        given["headers"] = MappingProxyType({k.lower(): v for k, v in given["headers"].items()})
    if "metadata" in given:
        checked_metadata(given["metadata"])
        given["metadata"] = MappingProxyType(given["metadata"])
    if "max_tokens" in given:
        given["max_tokens"] = token_count(given["max_tokens"])
    fields = {**base.__dict__, **given}
    # the capabilities the request needs follow from the facts given (as the server derives them)
    fields["needs"] = needs_of(
        {}, embeddings=False, images=bool(fields["has_images"]), tools=bool(fields["has_tools"])
    )
    return RequestFacts(**fields)


def now_from_test(now: TestNowSpec | None) -> NowFacts:
    if now is None:
        return NowFacts()
    return NowFacts(**now.model_dump(exclude_none=True))


def run_test(table: RoutingTable, index: int, test: TestSpec) -> TestOutcome:
    client = table.clients.get(test.client)
    if client is None:
        return TestOutcome(index, test.name, False, (f"unknown client '{test.client}'",), None)
    try:
        facts = facts_from_test(test.request)
    except RequestDataError as exc:  # the server would refuse the request before routing it
        d = Decision(exc.status, client.name, error=exc.message)
    else:
        d = route(table, client, facts, now_from_test(test.now), judge_all=True)
    e = test.expect
    problems: list[str] = []
    status = e.status if e.status is not None else 200
    if d.status != status:
        problems.append(
            f"expected status {status}, got {d.status}" + (f" ({d.error})" if d.error else "")
        )
    if e.strategy is not None and d.strategy != e.strategy:
        problems.append(f"expected strategy '{e.strategy}', got '{d.strategy}'")
    if e.route is not None and d.route != e.route:
        problems.append(f"expected route '{e.route}', got '{d.route}'")
    first = d.first.id if d.first else None
    if e.first is not None and first != e.first:
        problems.append(f"expected first '{e.first}', got '{first}'")
    got = [m.id for m in d.candidates]
    if e.candidates is not None and got != e.candidates:
        problems.append(f"expected candidates {e.candidates}, got {got}")
    for model in e.excluded or ():
        if model in got:
            problems.append(f"expected '{model}' to be left out, but it is a candidate")
    problems += mcp_problems(table, client, test, now_from_test(test.now))
    return TestOutcome(index, test.name, not problems, tuple(problems), d)


def run_tests(table: RoutingTable) -> list[TestOutcome]:
    return [run_test(table, i, t) for i, t in enumerate(table.tests)]
