"""CEL value expressions (compiler/cel_expr.py: a skill's args and result), the MCP rule scope of
the predicates, and the tool_calls limit metric beside model requests."""

from __future__ import annotations

import pytest

from localrouter.compiler.cel import Predicate, compile_predicate
from localrouter.compiler.cel_check import MAX_SOURCE_CHARS, CelProblem
from localrouter.compiler.cel_expr import Expression, compile_expression, from_cel
from localrouter.compiler.cel_values import largest_activation, neutral_activation
from localrouter.compiler.table import LimitPolicy
from localrouter.runtime.limits import METRICS, Admission, Limiter, usage
from localrouter.runtime.store import MemoryStore


def expr(source: str, *before: str) -> Expression:
    got = compile_expression(source, "skill", steps_before=before)
    assert isinstance(got, Expression), got
    return got


def problems(source: str, *before: str) -> tuple[CelProblem, ...]:
    got = compile_expression(source, "skill", steps_before=before)
    assert not isinstance(got, Expression), got
    return got


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ('"Europe/" + input.city', "Europe/Paris"),
        ("input.n * 2", 14),
        ("input.x", 1.5),
        ("size(input.items)", 3),
        ("input.items.map(i, i + 1)", [2, 3, 4]),
        ('{"a": [true, null], "b": {"c": 1u}}', {"a": [True, None], "b": {"c": 1}}),
        ('b"hi"', "aGk="),
        ("steps.now.text", "12:00"),
        ('steps["now"].text', "12:00"),
        ("input", {"city": "Paris", "n": 7, "x": 1.5, "items": [1, 2, 3]}),
        ('input.n > 3 ? "big" : "small"', "big"),
        (
            '{"city": input.city, "n": 1, "ok": true, "l": [1, "a"]}',
            {"city": "Paris", "n": 1, "ok": True, "l": [1, "a"]},
        ),
    ],
)
def test_values_come_back_as_plain_data(source: str, value: object) -> None:
    activation = {
        "input": {"city": "Paris", "n": 7, "x": 1.5, "items": [1, 2, 3]},
        "steps": {"now": {"text": "12:00"}},
    }
    ok, got = expr(source, "now").evaluate(activation)
    assert ok, got
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("input.missing", "missing"),
        ("input.n / 0", "divide by zero"),
        ('{"t": steps.now.text}', "now"),  # an error inside a map literal
        ("[input.missing]", "missing"),
    ],
)
def test_a_failure_is_reported_not_raised(source: str, why: str) -> None:
    ok, got = expr(source, "now").evaluate({"input": {"n": 1}, "steps": {}})
    assert not ok and isinstance(got, str) and why in got


def test_steps_must_run_before() -> None:
    (p,) = problems('"x" + steps.hits.text', "now")
    assert p.code == "LR405" and (p.line, p.col, p.length) == (1, 13, 4)
    assert "'steps.hits' is not a step that runs before" in p.message
    (p,) = problems('steps["nwo"]', "now")
    assert p.code == "LR405" and p.col == 7 and p.help == "did you mean 'steps.now'?"
    (p,) = problems("steps.a")
    assert p.help == "this is the first step: only `input` is known here"
    # a comprehension variable named steps is not the skill's steps
    assert isinstance(compile_expression("[1].map(steps, steps)", "skill"), Expression)
    # steps used whole, or with a computed key, cannot be checked statically: allowed
    assert expr("steps", "a").steps_read == ()
    assert expr("steps[input.k]", "a").steps_read == ()
    assert expr("steps.a.x + steps.b.y", "a", "b").steps_read == ("a", "b")


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ("", "LR401"),
        ("input.city +", "LR401"),
        ("request.model", "LR402"),
        ("tool.name", "LR402"),
        ('input.n + ("a" + 1)', "LR403"),
        ("[1].exists(x, [2].exists(y, y == x))", "LR404"),
        ("1" + " + 1" * (MAX_SOURCE_CHARS // 4), "LR404"),
    ],
)
def test_static_problems(source: str, code: str) -> None:
    assert [p.code for p in problems(source, "a")][:1] == [code]


def test_no_boolean_needed_but_types_still_checked() -> None:
    assert isinstance(compile_expression("1 + 2", "skill"), Expression)
    (p,) = problems('1 + "a"')
    assert p.code == "LR403"


def test_from_cel_bounds_depth() -> None:
    deep: list[object] = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        from_cel(deep)


def test_the_skill_scope_has_input_and_steps() -> None:
    assert set(neutral_activation("skill")) == {"input", "steps"}
    assert largest_activation("skill")["input"]  # the trial runs on a large input
    assert largest_activation("mcp_rule")["tool"]["args"]


# ---------------------------------------------------------------- the mcp_rule scope


def rule(source: str, prefer_native: bool = True) -> Predicate:
    got = compile_predicate(source, "mcp_rule", prefer_native=prefer_native)
    assert isinstance(got, Predicate), got
    return got


CALLS = [
    {"name": "docs__fetch", "server": "docs", "args": {"url": "http://x", "n": 3}},
    {"name": "docs__fetch", "server": "docs", "args": {"url": "https://x"}},
    {"name": "time__now", "server": "time", "args": {}},
]
RULES = [
    'tool.name == "docs__fetch" && !tool.args.url.startsWith("https://")',
    'tool.server == "docs" || "ops" in client.tags',
    "now.hour >= 22 && client.name == 'c'",
    "has(tool.args.n) && tool.args.n > 2",
    'tool.name.startsWith("time__")',
]


@pytest.mark.parametrize("source", RULES)
def test_rules_agree_on_every_runner(source: str) -> None:
    fast, reference = rule(source), rule(source, prefer_native=False)
    for call in CALLS:
        for hour in (3, 23):
            act = {
                "tool": call,
                "client": {"name": "c", "tags": ["ops"] if hour == 3 else []},
                "now": {"hour": hour, "weekday": 0, "unix": 0},
            }
            assert fast.evaluate_verbose(act)[0] == reference.evaluate_verbose(act)[0], act


def test_a_rule_without_dyn_runs_natively() -> None:
    from localrouter.compiler.cel_native import AVAILABLE

    if AVAILABLE:
        assert rule('tool.server == "docs"').runner == "native"
    assert rule("tool.args.url == 'x'").runner != "native"  # dyn: cel-python


def test_a_rule_must_be_boolean_and_known() -> None:
    for source, code in (("tool.name", "LR403"), ("tool.nam", "LR402"), ("model.id", "LR402")):
        got = compile_predicate(source, "mcp_rule")
        assert not isinstance(got, Predicate) and got[0].code == code


# ---------------------------------------------------------------- the tool_calls metric


def test_tool_calls_is_a_metric() -> None:
    assert "tool_calls" in METRICS
    assert "tool_calls" not in usage()  # a model request's usage does not count tool calls


async def test_a_tool_calls_limit_never_charges_a_model_request() -> None:
    limiter = Limiter(MemoryStore(), lambda: 1_728_000_000.0)
    calls = LimitPolicy("client", "c", "tool_calls", 2.0, "1m", 60)
    requests = LimitPolicy("client", "c", "requests", 10.0, "1m", 60)
    for _ in range(5):  # model requests: the tool_calls counter stays untouched
        got = await limiter.check([calls, requests], usage(input_tokens=10))
        assert isinstance(got, Admission)
        assert await limiter.settle(got, usage(input_tokens=12, output_tokens=3))
    assert limiter.remaining([calls])[calls.key] == 2
    assert limiter.remaining([requests])[requests.key] == 5
    tool = {"requests": 1.0, "tool_calls": 1.0}
    for _ in range(2):
        got = await limiter.check([calls], tool)
        assert isinstance(got, Admission)
        assert await limiter.settle(got, tool)
    assert not isinstance(await limiter.check([calls], tool), Admission)
    # the tool calls are used up: a model request is still admitted, and settles
    got = await limiter.check([calls, requests], usage(input_tokens=10))
    assert isinstance(got, Admission)
    assert await limiter.settle(got, usage(input_tokens=10))
    assert limiter.remaining([calls])[calls.key] == 0
