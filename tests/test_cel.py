"""CEL predicates: problems with exact positions, bounds, evaluation, runners, thread-safety."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from celpy.evaluation import CELEvalError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localrouter.compiler import cel
from localrouter.compiler.cel import (
    MAX_AST_DEPTH,
    MAX_AST_NODES,
    SCOPES,
    VARIABLES,
    CelProblem,
    Predicate,
    Scope,
    compile_predicate,
    neutral_activation,
    to_cel,
)
from localrouter.compiler.cel_check import check

REQUEST: dict[str, Any] = {
    "model": "auto", "messages_count": 3, "estimated_tokens": 1200, "max_tokens": 1024,
    "has_tools": True, "has_images": False, "stream": True, "complexity": 0.42,
    "tags": ["code", "urgent"], "headers": {"x-team": "ml", "user-agent": "curl/8"},
    "metadata": {"user": "u1", "team": {"name": "search"}, "n": 3, "none": None},
}  # fmt: skip
MODEL: dict[str, Any] = {
    "id": "ollama/qwen", "provider": "ollama", "name": "qwen", "input_per_mtok": 0.0,
    "output_per_mtok": 0.0, "context_window": 32768, "params_b": 7.0, "kind": "local",
    "capabilities": ["chat", "tools"], "quality": 0.5, "healthy": True, "latency_ms": 120.0,
}  # fmt: skip


def activation(request: Mapping[str, Any] = REQUEST, **model: Any) -> dict[str, Any]:
    """Plain data, as the router gives it (every runner takes this)."""
    return {
        "request": dict(request),
        "client": {"name": "cursor", "tags": ["editor"]},
        "now": {"hour": 10, "weekday": 2, "unix": 1_700_000_000},
        "model": {**MODEL, **model},
    }


def ok(source: str, scope: Scope = "filter", *, native: bool = True) -> Predicate:
    got = compile_predicate(source, scope, prefer_native=native)
    assert isinstance(got, Predicate), got
    return got


def compile_route(source: str) -> Predicate | tuple[CelProblem, ...]:
    return compile_predicate(source, "route")


def problems(source: str, scope: Scope = "route") -> tuple[CelProblem, ...]:
    got = compile_predicate(source, scope)
    assert not isinstance(got, Predicate), f"{source!r} compiled"
    return got


def one(source: str, scope: Scope = "route") -> CelProblem:
    got = problems(source, scope)
    assert len(got) == 1, got
    return got[0]


# ---------------------------------------------------------------- problems and positions


@pytest.mark.parametrize(
    ("source", "code", "line", "col", "length"),
    [
        ("request.model ==", "LR401", 1, 17, 1),  # end of input: just after the text
        ("request.model 'x'", "LR401", 1, 15, 3),
        ("request.model == 'x", "LR401", 1, 18, 1),  # unterminated string
        ("request.model == #", "LR401", 1, 18, 1),
        ("request.has_tool", "LR402", 1, 9, 8),
        ("reqest.model == 'x'", "LR402", 1, 1, 6),
        ("request.model.startswith('a')", "LR402", 1, 15, 10),
        ("foo(1) == 1", "LR402", 1, 1, 3),
        ("model.kind == 'local'", "LR402", 1, 1, 5),  # `model` only in filters
        ("request.complexity", "LR403", 1, 1, 18),  # not a boolean: the whole expression
        ("  request.max_tokens + 1", "LR403", 1, 3, 22),
        ("'a' >= 1", "LR403", 1, 1, 8),
        ("7 <= request.complexity", "LR403", 1, 1, 1),  # points at the int literal
        ("request.complexity * 2 > 0.5", "LR403", 1, 22, 1),
        ("request.max_tokens == request.complexity", "LR403", 1, 1, 40),
        ("request.tags.exists(t, t)", "LR403", 1, 24, 1),
        ("request.model.matches('[a-')", "LR403", 1, 23, 5),
        ("request.headers['X-Team'] == 'ml'", "LR402", 1, 17, 8),
    ],
)
def test_problem_code_and_position(
    source: str, code: str, line: int, col: int, length: int
) -> None:
    p = one(source)
    assert (p.code, p.line, p.col, p.length) == (code, line, col, length), p
    assert "\n" not in p.message and p.message


def test_problem_positions_in_a_multi_line_expression() -> None:
    source = "request.has_tools &&\n  // long prompts\n  request.estimated_tokns > 1000 &&\n  foo"
    got = problems(source)
    assert [(p.code, p.line, p.col, p.length) for p in got] == [
        ("LR402", 3, 11, 15),
        ("LR402", 4, 3, 3),
    ]
    assert got[0].help == "did you mean 'request.estimated_tokens'?"
    whole = one("request.max_tokens +\n   1")  # not a boolean: cut at the end of line 1
    assert (whole.line, whole.col, whole.length) == (1, 1, 20)
    syntax = one("request.stream &&\n  (request.has_tools")
    assert (syntax.code, syntax.line, syntax.col) == ("LR401", 2, 21)


def test_every_problem_is_reported_not_just_the_first() -> None:
    got = problems("reqest.model == 'x' || request.has_tool || 'a' > 1")
    assert [p.code for p in got] == ["LR402", "LR402", "LR403"]
    assert [p.col for p in got] == [1, 32, 44]


@pytest.mark.parametrize(
    ("source", "help"),
    [
        ("request.has_tool", "did you mean 'request.has_tools'?"),
        ("request.stream && clinet.name == 'x'", "did you mean 'client'?"),
        ("request.tags.exists(tag, tga == 'x')", "did you mean 'tag'?"),
        ("request.model.endswith('x')", "did you mean 'endsWith'?"),
        ("sise(request.tags) > 0", "did you mean 'size'?"),
        ("model.params_b >= 7", "'model' exists only in a strategy's 'filter'"),
        ("7 <= request.complexity", "write 7.0 to use a double"),
        ("request.max_tokens < request.complexity", "convert the int side with double(...)"),
        ("request.headers['X-Team'] == 'ml'", "write request.headers['x-team']"),
        ("request.model in 'abc'", "use s.contains(x) for a substring"),
    ],
)
def test_help(source: str, help: str) -> None:
    assert one(source).help == help


def test_unknown_field_without_close_match_lists_the_fields() -> None:
    help = one("now.zzzzzz == 1").help
    assert help == "it has: hour, weekday, unix"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("request.complexity", "expression must be a boolean, this one is a double"),
        ("request.max_tokens", "expression must be a boolean, this one is an int"),
        ("request.tags", "expression must be a boolean, this one is a list(string)"),
        ("request", "expression must be a boolean, this one is the object 'request'"),
        ("request.stream ? 'a' : 'b'", "expression must be a boolean, this one is a string"),
    ],
)
def test_result_must_be_boolean(source: str, message: str) -> None:
    assert one(source).message == message


def test_dyn_results_are_accepted_and_false_unless_true() -> None:
    p = ok("request.metadata.n", "route")
    assert p.evaluate_verbose(activation()) == (False, "the expression gave IntType, not a boolean")
    flagged = activation({**REQUEST, "metadata": {"flag": True}})
    assert ok("request.metadata.flag", "route").evaluate(flagged)


@pytest.mark.parametrize(
    "source",
    [
        "7 <= model.params_b",  # int on the left: cel-python has no overload
        "model.params_b == 7",  # == never mixes int and double
        "1 < 0.5",
        "model.params_b * 2 > 10.0",  # arithmetic never mixes
        "model.params_b + 1 > 10.0",
        "request.max_tokens / 2.0 > 1.0",
        "1 in [1.0]",
        "[1, 2.0].size() == 2",
        "request.stream ? 1 : 2.0",
    ],
)
def test_int_double_mixes_cel_python_cannot_evaluate_are_lr403(source: str) -> None:
    assert all(p.code == "LR403" for p in problems(source, "filter"))


@pytest.mark.parametrize(
    ("source", "params_b", "expected"),
    [
        ("model.params_b >= 7", 7.0, True),  # a double compared with an int on its right works
        ("model.params_b >= 7", 6.5, False),
        ("model.params_b > 7", 70.0, True),
        ("request.complexity >= 1", 7.0, False),
        ("7.0 <= model.params_b", 7.0, True),
        ("double(request.max_tokens) > model.params_b", 7.0, True),
        ("int(model.params_b) == 7", 7.9, True),
    ],
)
def test_int_double_mixes_cel_python_can_evaluate(
    source: str, params_b: float, expected: bool
) -> None:
    assert ok(source).evaluate(activation(params_b=params_b)) is expected


def test_checker_is_sound_against_cel_python_for_every_operand_pair() -> None:
    """Whatever the checker accepts, both runners evaluate without a runtime error."""
    literals = ["3", "3u", "2.0", "'a'", "true", "b'a'", "[1]", "{'a': 1}", "null"]
    accepted = 0
    for op in ["<", "<=", ">", ">=", "==", "!=", "+", "-", "*", "/", "%", "in"]:
        for left in literals:
            for right in literals:
                source = f"{left} {op} {right}"
                tree = cel._parse(source)
                assert not isinstance(tree, CelProblem)
                found = check(tree, source, "route").problems
                if [p for p in found if "must be a boolean" not in p.message]:
                    continue
                accepted += 1
                runners = [cel._interpreted(tree), cel._compiled(tree)]
                for run in filter(None, runners):
                    value = run(neutral_activation("route"))
                    assert not isinstance(value, CELEvalError), (source, value)
    assert accepted > 40


# ---------------------------------------------------------------- bounds


def test_nested_map_bomb_is_rejected_fast() -> None:
    big = "[" + ",".join(["0"] * 10) + "]"
    bomb = f"{big}.map(a, {big}.map(b, {big}.map(c, {big}.map(d, {big})))).size() > 0"
    start = time.perf_counter()
    got = problems(bomb)
    assert time.perf_counter() - start < 1.0
    assert {p.code for p in got} == {"LR404"}
    inner = bomb.index(".map(b") + 2  # the first inner `map`, 1-based
    assert (got[0].line, got[0].col, got[0].length) == (1, inner, 3)
    assert "nested inside another comprehension" in got[0].message


@pytest.mark.parametrize(
    "source",
    [
        "(" * 1990 + "true" + ")" * 1990,
        "!" * 3999 + "x",
        "[" * 1999 + "]" * 1999,
        "a." * 1999 + "b",
    ],
)
def test_the_deepest_texts_allowed_are_rejected_fast_without_recursion(source: str) -> None:
    start = time.perf_counter()
    assert {p.code for p in problems(source)} == {"LR404"}
    assert time.perf_counter() - start < 1.0


def test_a_comprehension_in_the_range_of_another_is_allowed() -> None:
    p = ok("request.tags.map(t, t + '!').exists(u, u == 'code!')", "route")
    assert p.evaluate(activation())


def test_too_long_too_deep_too_big() -> None:
    assert one("true || " * 600 + "true").message.startswith("expression is too long")
    deep = one("(" * 30 + "request.stream" + ")" * 30)
    assert deep.code == "LR404" and "nested too deeply" in deep.message
    assert (deep.line, deep.col) == (1, 11)  # where the depth limit is crossed
    chain = one("true || " * 120 + "true")  # `||` chains nest in the parse tree too
    assert "chained operators" in chain.message
    big = one("request.model in [" + ", ".join(["'m'"] * 160) + "]")
    assert big.code == "LR404" and f"the limit is {MAX_AST_NODES}" in big.message
    assert (big.line, big.col) == (1, 1)


def test_trial_evaluation_over_budget_is_lr404(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cel, "TRIAL_BUDGET_S", -1.0)
    p = one("request.tags.exists(t, t == 'x')")
    assert p.code == "LR404" and p.message.startswith("a trial evaluation took")


def test_evaluation_at_the_depth_limit_fits_in_the_default_recursion_limit() -> None:
    """The deepest accepted shapes evaluate with 400 frames of the caller's stack in use."""
    shapes: list[Callable[[int], str]] = [
        lambda n: "(" * n + "request.stream" + ")" * n,
        lambda n: "!" * n + "true",
        lambda n: "int(" * n + "request.max_tokens" + ")" * n + " > 0",
        lambda n: "request.tags.all(t, " + "(" * n + "t != ''" + ")" * n + ")",
    ]
    for shape in shapes:
        fits = [
            n for n in range(1, 120) if isinstance(compile_predicate(shape(n), "route"), Predicate)
        ]
        n = max(fits)
        tree = cel._parse(shape(n))
        assert not isinstance(tree, CelProblem)
        runners = [cel._interpreted(tree), cel._compiled(tree)]
        assert runners[1] is not None

        def nest(depth: int, run: Any = runners) -> list[Any]:
            return nest(depth - 1) if depth else [r(activation()) for r in run]

        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(1000)
        try:
            values = nest(400)
        finally:
            sys.setrecursionlimit(limit)
        assert all(not isinstance(v, CELEvalError) for v in values), (shape(n), values)


# ---------------------------------------------------------------- evaluation


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("request.has_tools || request.complexity >= 0.7", True),
        ("model.context_window >= request.estimated_tokens + request.max_tokens", True),
        ("request.headers['x-team'] == 'ml'", True),
        ("'x-team' in request.headers && !('x-other' in request.headers)", True),
        ("'code' in request.tags && !('x' in request.tags)", True),
        ("request.tags.exists(t, t.startsWith('urg'))", True),
        ("request.tags.all(t, t.size() >= 4)", True),
        ("request.tags.exists_one(t, t.contains('o'))", True),
        ("request.tags.filter(t, t != 'code') == ['urgent']", True),
        ("request.tags.map(t, t.size()) == [4, 6]", True),
        ("request.metadata.team.name == 'search'", True),
        ("request.metadata['user'] == 'u1' && request.metadata.n > 2", True),
        ("has(request.metadata.team) && !has(request.metadata.nope)", True),
        ("has(request.metadata.team.name)", True),
        ("has(request.metadata.none)", True),
        ("request.metadata.none == null", True),
        ("has(model.params_b) && model.params_b >= 7.0", True),
        ("model.capabilities.exists(c, c == 'tools') && model.kind != 'api'", True),
        ("'editor' in client.tags && client.name.matches('^cur')", True),
        ("now.hour >= 9 && now.hour < 18 && now.weekday < 5", True),
        ("string(request.max_tokens) == '1024' && int('12') == 12", True),
        ("size(request.model) == 4 && request.model.endsWith('to')", True),
        ("-request.complexity < 0.0 && request.max_tokens % 5 == 4", True),
        ("request.stream ? request.has_tools : false", True),
        ("{'a': 1}.a == 1 && [1, 2][1] == 2", True),
        (".request.stream", True),
        ("dyn(request.metadata.n) == 3", True),
    ],
)
def test_evaluate_on_real_activations(source: str, expected: bool) -> None:
    p = ok(source)
    assert p.evaluate(activation()) is expected
    assert p.evaluate_verbose(activation()) == (expected, None)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("request.headers['x-missing'] == 'a'", "no such member"),
        ("request.metadata.missing == 'a'", "no such member"),
        ("request.metadata.missing.deeper == 'a'", "no such member"),
        ("request.metadata.user.field == 'a'", ""),  # a string has no fields
        ("request.max_tokens / (request.messages_count - 3) > 1", "divide"),
        ("request.max_tokens % 0 == 1", "divide"),
        ("9223372036854775807 + request.max_tokens > 0", "overflow"),
        ("request.tags[5] == 'x'", ""),
        ("request.metadata.n == 'three'", "overload"),
        ("int(request.model) > 0", ""),
        ("model.params_b >= 7.0", "no such member"),  # an absent field: use has()
        ("has(request.metadata.n.x)", None),  # has() of a field of a non-map is just false
    ],
)
def test_runtime_errors_are_false_never_raised(source: str, error: str | None) -> None:
    act = activation()
    if source.startswith("model.params_b"):
        act["model"] = {k: v for k, v in MODEL.items() if k != "params_b"}
    p = ok(source)
    assert p.evaluate(act) is False
    result, why = p.evaluate_verbose(act)
    assert result is False
    if error is None:
        assert why is None
    else:
        assert why is not None and error in why.lower().replace(
            "modulus or divide", "divide"
        ).replace("modulus by zero", "divide by zero")


def test_a_header_name_with_a_dash_needs_brackets() -> None:
    messages = [p.message for p in problems("request.headers.x-team == 'ml'")]
    assert "unknown variable 'team'" in messages


def test_a_missing_variable_is_a_runtime_error_not_an_exception() -> None:
    for source in ("request.stream", "has(request.metadata.x)"):
        p = ok(source)
        assert p.evaluate({}) is False
        assert p.evaluate_verbose({"client": activation()["client"]})[0] is False


# ---------------------------------------------------------------- runners


def test_runner_choice() -> None:
    assert (
        ok("request.has_tools || request.complexity >= 0.7", "route", native=False).runner
        == "compiled"
    )
    assert (
        ok("has(request.metadata.team)", "route", native=False).runner == "compiled"
    )  # rewritten to `in`
    assert (
        ok("has(request.metadata.team.name)", "route", native=False).runner == "interpreted"
    )  # a dyn base
    assert (
        ok("request.tags.exists(lambda, lambda == 'x')", "route", native=False).runner
        == "interpreted"
    )
    assert (
        ok("request.tags.exists(_vars, _vars == 'x')", "route", native=False).runner
        == "interpreted"
    )
    assert ok("request.tags.exists(get, get == 'x')", "route", native=False).runner == "compiled"
    assert (
        ok("007 == 7", "route", native=False).runner == "interpreted"
    )  # Python refuses the literal
    # a field or a method of a dyn value: transpiled code raises AttributeError past `||`
    assert (
        ok("request.metadata.team.name == 'x' || true", "route", native=False).runner
        == "interpreted"
    )
    assert (
        ok("request.metadata.user.startsWith('u')", "route", native=False).runner == "interpreted"
    )
    assert ok("request.metadata.team == 'x' || true", "route", native=False).runner == "compiled"


CORPUS = [
    "request.has_tools || request.complexity >= 0.7",
    "model.context_window >= request.estimated_tokens + request.max_tokens",
    "request.headers['x-team'] == 'ml' || request.headers.x == 'y'",
    "'code' in request.tags || request.tags.exists(t, t.startsWith('u'))",
    "request.tags.all(t, t != '') && request.tags.map(t, t + '!').size() == 2",
    "request.metadata.team.name == 'search' || request.metadata.n > 1",
    "request.metadata.n == 3 ? request.stream : !request.stream",
    "request.max_tokens / (request.messages_count - 3) > 1 || request.has_images",
    "!(request.metadata.user == 'u1') || model.quality < 0.6",
    "model.capabilities.exists_one(c, c == 'chat') && model.params_b >= 7",
    "request.model.matches('^a') && size(request.model) < 10",
    "[1, 2, 3].filter(x, x > request.messages_count) == [] || request.stream",
    "request.tags.exists(request, request == 'code')",  # shadows the variable
    "request.metadata.user.size() > 1 && request.metadata.team.name.endsWith('ch')",
    "string(request.estimated_tokens).startsWith('1') != request.stream",
    "'user' in request.metadata && request.metadata.n == 3",
    "request.metadata.missing == 1 || request.stream",
    "!(request.metadata.missing == 1) && request.has_tools",
    "request.headers.x == 'y' ? request.stream : request.metadata.n > 2",
    "request.metadata.team == {'name': 'search'} || request.metadata.n / 0 > 1",
]

json_leaf = st.one_of(st.integers(-(2**40), 2**40), st.text(max_size=6), st.booleans(), st.none(),
                      st.floats(allow_nan=False, width=32))  # fmt: skip
facts = st.fixed_dictionaries({
    "model": st.sampled_from(["auto", "gpt-4o", ""]), "messages_count": st.integers(0, 5),
    "estimated_tokens": st.integers(0, 200_000), "max_tokens": st.integers(0, 10**9),
    "has_tools": st.booleans(), "has_images": st.booleans(), "stream": st.booleans(),
    "complexity": st.floats(0, 1), "tags": st.lists(st.sampled_from(["code", "urgent", "u", ""])),
    "headers": st.dictionaries(st.sampled_from(["x-team", "x"]), st.sampled_from(["ml", "y"])),
    "metadata": st.dictionaries(st.sampled_from(["user", "n", "team"]), st.one_of(
        json_leaf, st.fixed_dictionaries({"name": json_leaf}))),
})  # fmt: skip


def runner_pairs() -> list[tuple[Predicate, Predicate]]:
    """Both runners of every corpus expression that compile_predicate gives the compiled one."""
    pairs = []
    for source in CORPUS:
        tree = cel._parse(source)
        assert not isinstance(tree, CelProblem) and not check(tree, source, "filter").problems
        compiled = cel._compiled(tree)
        if ok(source, native=False).runner == "compiled" and compiled is not None:
            pairs.append((Predicate(source, "filter", False, "interpreted", cel._interpreted(tree)),
                          Predicate(source, "filter", False, "compiled", compiled)))  # fmt: skip
    assert len(pairs) >= 10
    return pairs


PAIRS = runner_pairs()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=facts, params_b=st.floats(0, 100), quality=st.floats(0, 1))
def test_compiled_and_interpreted_runners_agree(
    request: dict[str, Any], params_b: float, quality: float
) -> None:
    act = activation(request, params_b=params_b, quality=quality)
    for slow, fast in PAIRS:
        (a, why_a), (b, why_b) = slow.evaluate_verbose(act), fast.evaluate_verbose(act)
        assert (a, why_a is None) == (b, why_b is None), (slow.source, why_a, why_b)


ATOMS = [
    "request.has_tools", "request.stream", "'code' in request.tags", "request.metadata.n > 1",
    "request.headers['x'] == 'y'", "request.headers.x == 'ml'", "request.tags.exists(t, t == 'u')",
    "request.max_tokens / (request.messages_count - 2) > 3", "request.metadata.user == 'u1'",
    "size(request.tags) > 1", "request.model.startsWith('a')", "request.metadata.n == null",
    "request.tags.all(t, t.size() < 4)", "9223372036854775807 + request.messages_count > 0",
    "request.tags[1] == 'urgent'", "request.metadata.team == request.metadata.n",
    "model.params_b >= 7", "model.quality * 2.0 > 1.0", "request.metadata.user.size() > 1",
]  # fmt: skip


def combinations(atoms: list[str]) -> st.SearchStrategy[str]:
    """Boolean expressions of up to five ``atoms`` joined with !, &&, || and ?:."""
    return st.recursive(
        st.sampled_from(atoms),
        lambda inner: st.one_of(
            inner.map(lambda a: f"!({a})"),
            st.tuples(inner, inner).map(lambda ab: f"({ab[0]}) && ({ab[1]})"),
            st.tuples(inner, inner).map(lambda ab: f"({ab[0]}) || ({ab[1]})"),
            st.tuples(inner, inner, inner).map(lambda c: f"({c[0]}) ? ({c[1]}) : ({c[2]})"),
        ),
        max_leaves=5,
    )


boolean_expressions = combinations(ATOMS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=boolean_expressions, request=facts, params_b=st.floats(0, 100))
def test_runners_agree_on_generated_expressions(
    source: str, request: dict[str, Any], params_b: float
) -> None:
    got = compile_predicate(source, "filter")
    if not isinstance(got, Predicate):  # e.g. nested too deeply
        assert {p.code for p in got} == {"LR404"}, got
        return
    tree = cel._parse(source)
    assert not isinstance(tree, CelProblem)
    act = activation(request, params_b=params_b)
    slow = Predicate(source, "filter", False, "interpreted", cel._interpreted(tree))
    celpy = compile_predicate(source, "filter", prefer_native=False)
    assert isinstance(celpy, Predicate)
    (a, why_a) = slow.evaluate_verbose(act)
    for p in (got, celpy):
        b, why_b = p.evaluate_verbose(act)
        assert (a, why_a is None) == (b, why_b is None), (p.runner, why_a, why_b)


def test_transpiled_has_is_why_has_stays_on_the_interpreter() -> None:
    """cel-python's transpiled has() yields a Python bool that `!` rejects: the reason for the
    fallback. If this starts passing, the fallback may be reconsidered."""
    tree = cel._parse("!has(request.metadata.nope)")
    assert not isinstance(tree, CelProblem)
    compiled = cel._compiled(tree)
    assert compiled is not None
    assert isinstance(compiled(activation()), CELEvalError)
    assert ok("!has(request.metadata.nope)", "route").evaluate(activation())


# ---------------------------------------------------------------- has() on the compiled runner

OPTIONAL = ("input_per_mtok", "output_per_mtok", "context_window", "params_b", "quality",
            "latency_ms")  # fmt: skip
models = st.fixed_dictionaries({  # optional fields absent, present or null
    "params_b": st.none() | st.floats(0, 100), "context_window": st.none() | st.integers(0, 10**6),
    "quality": st.floats(0, 1), "input_per_mtok": st.none() | st.floats(0, 20),
}).flatmap(lambda given: st.sets(st.sampled_from(OPTIONAL)).map(
    lambda absent: {k: v for k, v in {**MODEL, **given}.items() if k not in absent}))  # fmt: skip


def facts_activation(request: Mapping[str, Any], model: Mapping[str, Any]) -> dict[str, Any]:
    return {**activation(request), "model": dict(model)}


BIG_ENOUGH = "has(model.params_b) && model.params_b >= 7.0"
FITS = "!has(model.context_window) || model.context_window >= request.estimated_tokens"
HAS_CORPUS = [
    BIG_ENOUGH,
    FITS,
    "has(request.metadata.team)",
    "has(request.headers.x)",
    "!has(request.headers.x) ? request.stream : request.headers.x == 'y'",
    "has(.model.quality) && model.quality > 0.5 || !has(.request.metadata.n)",
    "has(request.metadata.user) == has(request.metadata.n)",
    "request.tags.exists(t, has(request.metadata.team) && t == 'u')",
    "[has(model.latency_ms), has(request.metadata.team)] == [true, false]",
    "has(model.input_per_mtok) ? model.input_per_mtok < 1.0 : model.kind == 'local'",
    "has(request.stream) && has(now.hour) && has(client.tags) && has(model.id)",
    "!has(model.params_b) || model.params_b >= 7 && !has(request.metadata.n)",
]


@pytest.mark.parametrize("source", HAS_CORPUS)
def test_has_on_declared_maps_runs_compiled(source: str) -> None:
    assert ok(source, native=False).runner == "compiled"


@pytest.mark.parametrize(
    "source",
    [
        "has(request.metadata.team.name)",  # a dyn value: has() false where `in` is an error
        "[request.headers].exists(h, has(h.x))",  # a comprehension variable
        "request.tags.exists(request, request == 'x') || has(request.metadata.x)",  # shadowed
        "has((request.metadata).team)",  # an expression, not a declared path
        "has(model.params_b) && has(request.metadata.team.name)",  # one call is enough
    ],
)
def test_has_that_cannot_be_rewritten_stays_on_the_interpreter(source: str) -> None:
    assert ok(source, native=False).runner == "interpreted"


def test_why_has_of_a_dyn_value_is_not_rewritten() -> None:
    """On a value that is not a map (`n` is 3), has() is false but `in` is an error."""
    assert ok("has(request.metadata.n.x)", "route").evaluate_verbose(activation()) == (False, None)
    assert ok("'x' in request.metadata.n", "route").evaluate_verbose(activation())[1] is not None


def reference(source: str) -> Predicate:
    """The interpreter on the original tree: what every runner must agree with."""
    tree = cel._parse(source)
    assert not isinstance(tree, CelProblem)
    return Predicate(source, "filter", False, "interpreted", cel._interpreted(tree))


def both(source: str) -> tuple[Predicate, Predicate]:
    return reference(source), ok(source)


def every_runner(source: str) -> list[Predicate]:
    """The reference, cel-python's compiled runner and the native one, for one expression."""
    return [reference(source), ok(source, native=False), ok(source)]


SMALL = {**MODEL, "params_b": 6.5, "context_window": 1000}
UNKNOWN = {k: v for k, v in MODEL.items() if k not in ("params_b", "context_window")}


@pytest.mark.parametrize(
    ("source", "req", "model", "expected"),
    [
        (BIG_ENOUGH, REQUEST, MODEL, True),
        (BIG_ENOUGH, REQUEST, SMALL, False),
        (BIG_ENOUGH, REQUEST, UNKNOWN, False),
        (FITS, REQUEST, MODEL, True),
        (FITS, REQUEST, SMALL, False),
        (FITS, REQUEST, UNKNOWN, True),
        ("has(request.metadata.team)", REQUEST, MODEL, True),
        ("has(request.metadata.team)", {**REQUEST, "metadata": {"team": None}}, MODEL, True),
        ("has(request.metadata.team)", {**REQUEST, "metadata": {"n": 1}}, MODEL, False),
        ("has(request.headers.x)", REQUEST, MODEL, False),
        ("has(request.headers.x)", {**REQUEST, "headers": {"x": ""}}, MODEL, True),
        ("!has(request.headers.x)", {**REQUEST, "headers": {}}, MODEL, True),
    ],
)
def test_rewritten_has_gives_the_interpreters_answer(
    source: str, req: dict[str, Any], model: dict[str, Any], expected: bool
) -> None:
    runners = every_runner(source)
    assert [p.runner for p in runners] == ["interpreted", "compiled", "native"]
    act = facts_activation(req, model)
    for p in runners:
        assert p.evaluate_verbose(act) == (expected, None), p.runner


HAS_PAIRS = [
    (slow, fast) for slow, *fast_ones in map(every_runner, HAS_CORPUS) for fast in fast_ones
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=facts, model=models)
def test_runners_agree_on_has_with_absent_fields(
    request: dict[str, Any], model: dict[str, Any]
) -> None:
    act = facts_activation(request, model)
    for slow, fast in HAS_PAIRS:
        (a, why_a), (b, why_b) = slow.evaluate_verbose(act), fast.evaluate_verbose(act)
        assert (a, why_a is None) == (b, why_b is None), (slow.source, why_a, why_b)


HAS_ATOMS = [
    "has(model.params_b)", "has(model.context_window)", "has(request.metadata.team)",
    "has(request.metadata.n)", "has(request.headers.x)", "has(.model.quality)",
    "model.context_window >= request.estimated_tokens", "model.quality > 0.5",
    "request.metadata.team == null", "has(request.metadata.team.name)",
]  # fmt: skip
has_expressions = combinations(HAS_ATOMS + ATOMS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=has_expressions, request=facts, model=models)
def test_runners_agree_on_generated_expressions_with_has(
    source: str, request: dict[str, Any], model: dict[str, Any]
) -> None:
    got = compile_predicate(source, "filter")
    if not isinstance(got, Predicate):  # e.g. nested too deeply
        assert {p.code for p in got} == {"LR404"}, got
        return
    act = facts_activation(request, model)
    slow = compile_predicate(source, "filter", prefer_native=False)
    assert isinstance(slow, Predicate)
    (a, why_a) = reference(source).evaluate_verbose(act)
    for p in (got, slow):
        b, why_b = p.evaluate_verbose(act)
        assert (a, why_a is None) == (b, why_b is None), (p.runner, why_a, why_b)


# ---------------------------------------------------------------- robustness


cel_soup = st.lists(st.sampled_from([
    "request", "model", "client", "now", ".", "tags", "headers", "metadata", "x", "exists", "map",
    "has", "size", "(", ")", "[", "]", "{", "}", ",", ":", "?", "!", "-", "+", "*", "/", "%", "==",
    "<", ">=", "&&", "||", "in", "1", "2.5", "3u", "'a'", "b'x'", "true", "null", " ", "\n",
    "params_b", "complexity", "'''m'''", "0x1F", "007", "//c\n", "\\", "\"", "dyn", "int",
]), max_size=40).map("".join)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(source=st.one_of(st.text(max_size=80), cel_soup), scope=st.sampled_from(["route", "filter"]))
def test_compile_predicate_never_raises(source: str, scope: Scope) -> None:
    got = compile_predicate(source, scope)
    if isinstance(got, Predicate):
        got.evaluate(neutral_activation(scope))
        got.evaluate(activation())
        return
    assert got and all(isinstance(p, CelProblem) for p in got)
    for p in got:
        assert p.code in {"LR401", "LR402", "LR403", "LR404"}
        assert p.line >= 1 and p.col >= 1 and p.length >= 1 and "\n" not in p.message


def test_predicate_is_immutable_and_comparable() -> None:
    p = ok("request.stream", "route")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.source = "true"  # type: ignore[misc]
    assert p == ok("request.stream", "route") and hash(p) == hash(ok("request.stream", "route"))
    assert ok("true", "route").is_constant_true and ok("((true))", "route").is_constant_true
    assert not ok("true || false", "route").is_constant_true
    assert not ok("request.stream", "route").is_constant_true


def test_compile_and_evaluate_from_several_threads() -> None:
    shared = ok("request.has_tools && request.tags.exists(t, t == 'code')", "route")
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(30):
                src = f"request.max_tokens > {i * 100 + j} || has(request.metadata.team)"
                assert ok(src, "route").evaluate(activation())
                assert shared.evaluate(activation())
        except BaseException as ex:  # noqa: BLE001 - collected and re-raised in the main thread
            errors.append(ex)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


# ---------------------------------------------------------------- data


def test_to_cel_converts_json_like_data() -> None:
    got = to_cel({"a": [1, 2.5, "x", True, None, {"b": False}], "t": ("y",)})
    assert got == to_cel(got)  # already converted values pass through
    assert type(got["a"][0]).__name__ == "IntType" and type(got["a"][1]).__name__ == "DoubleType"
    assert type(got["t"]).__name__ == "ListType" and type(to_cel(True)).__name__ == "BoolType"
    with pytest.raises(TypeError):
        to_cel({"a": {1, 2}})
    with pytest.raises(ValueError, match="int64"):
        to_cel(2**63)
    deep: Any = "leaf"
    for _ in range(cel.MAX_VALUE_DEPTH + 1):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        to_cel(deep)


def test_declared_variables_and_neutral_facts() -> None:
    assert set(VARIABLES) == {"request", "client", "now", "model", "tool"}
    assert VARIABLES["request"]["headers"] == "map(string, string)"
    assert VARIABLES["model"]["params_b"] == "double"
    assert SCOPES["route"] == ("request", "client", "now") and "model" in SCOPES["filter"]
    neutral = neutral_activation("filter")
    assert set(neutral) == set(SCOPES["filter"])
    assert all(set(neutral[v]) == set(VARIABLES[v]) for v in neutral)
    with pytest.raises(TypeError):
        VARIABLES["request"]["new"] = "int"  # type: ignore[index]
    assert MAX_AST_DEPTH > 20
