"""The native CEL runner (Google's C++ CEL): chosen where it agrees with cel-python, the reference;
reads only what an expression selects; binds a request once for many models."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from localrouter.compiler import cel, cel_native
from localrouter.compiler.cel import CelProblem, Predicate, compile_predicate
from localrouter.compiler.cel_check import check
from tests.test_cel import (
    ATOMS,
    CORPUS,
    HAS_CORPUS,
    MODEL,
    activation,
    combinations,
    facts,
    models,
    reference,
)

pytestmark = pytest.mark.skipif(not cel_native.AVAILABLE, reason="cel-expr-python not installed")


def native(source: str, scope: cel.Scope = "filter") -> Predicate:
    got = compile_predicate(source, scope)
    assert isinstance(got, Predicate), got
    return got


def reads_of(source: str, scope: cel.Scope = "filter") -> dict[str, Any]:
    tree = cel._parse(source)
    assert not isinstance(tree, CelProblem)
    names = check(tree, source, scope).names
    got = cel_native.reads(tree, scope, names)
    return {k: (None if v is None else sorted(v)) for k, v in got.items()}


# ---------------------------------------------------------------- which runner


@pytest.mark.parametrize(
    "source",
    [
        "request.has_tools || request.complexity >= 0.7 || 'vip' in request.tags",
        "model.context_window >= request.estimated_tokens + request.max_tokens",
        "has(model.params_b) && model.params_b >= 7.0",
        "has(request.metadata.team)",  # a map(string, dyn) is typed; only its values are dyn
        "request.headers['x-team'] == 'ml' && now.hour < 18 && 'editor' in client.tags",
        "request.tags.exists(t, t.startsWith('u')) && request.model.matches('^gpt')",
    ],
)
def test_typed_expressions_run_native(source: str) -> None:
    assert native(source).runner == "native"


@pytest.mark.parametrize(
    "source",
    [
        "request.metadata.n == null",  # heterogeneous equality: C++ says false, cel-python errs
        "has(request.metadata.team.name)",  # has() over a missing key: error vs false
        "dyn(request.max_tokens) > 3",
        "request.metadata.tier == 'gold'",
    ],
)
def test_dyn_values_stay_on_cel_python(source: str) -> None:
    """Where a value is typed dyn the two engines can disagree: the reference runs it."""
    assert native(source).runner in ("compiled", "interpreted")


def test_prefer_native_false_keeps_cel_python() -> None:
    got = compile_predicate("request.has_tools", "route", prefer_native=False)
    assert isinstance(got, Predicate) and got.runner == "compiled"


def test_without_the_package_every_predicate_runs_on_cel_python() -> None:
    """A platform without a wheel: the import fails and nothing else changes."""
    code = (
        "import sys; sys.modules['cel_expr_python'] = None\n"
        "from localrouter.compiler.cel import compile_predicate\n"
        "p = compile_predicate('request.has_tools || request.complexity >= 0.7', 'route')\n"
        "print(p.runner, p.evaluate({'request': {'has_tools': True, 'complexity': 0.1}}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["compiled", "True"]


# ---------------------------------------------------------------- what is read


def test_reads_are_the_selected_fields() -> None:
    assert reads_of("request.has_tools || 'vip' in request.tags", "route") == {
        "request": ["has_tools", "tags"]
    }
    assert reads_of("model.context_window >= request.estimated_tokens + request.max_tokens") == {
        "model": ["context_window"],
        "request": ["estimated_tokens", "max_tokens"],
    }
    assert reads_of("has(model.params_b) && .now.hour > 3") == {
        "model": ["params_b"],
        "now": ["hour"],
    }


def test_a_variable_used_whole_is_read_whole() -> None:
    assert reads_of("[request].exists(r, r.stream)")["request"] is None
    assert reads_of("request['stream']")["request"] is None
    # a comprehension variable named like a root variable: read the root whole
    assert reads_of("request.tags.exists(request, request == 'x')")["request"] is None
    assert reads_of("client.tags.size() > 0", "route") == {"client": ["tags"]}


def test_only_the_read_fields_reach_the_evaluator() -> None:
    """A field the expression does not read may hold anything, even what CEL cannot take."""
    p = native("request.has_tools", "route")
    act = {"request": {"has_tools": True, "complexity": object()}, "client": {}, "now": {}}
    assert p.evaluate(act) is True


def test_needs() -> None:
    p = native("model.healthy && model.params_b > 1.0")
    assert p.needs("model", "healthy") and not p.needs("model", "latency_ms")
    assert not p.needs("request", "complexity")
    whole = native("request.tags.exists(request, request == 'x')")
    assert whole.needs("request", "complexity")


# ---------------------------------------------------------------- agreement with the reference


def agree(source: str, act: dict[str, Any]) -> None:
    got = native(source)
    (a, why_a), (b, why_b) = reference(source).evaluate_verbose(act), got.evaluate_verbose(act)
    assert (a, why_a is None) == (b, why_b is None), (source, got.runner, why_a, why_b)
    bound = got.bind({k: v for k, v in act.items() if k != "model"}, "model")
    assert bound(act["model"]) == (b, why_b), source


NATIVE_CORPUS = [s for s in CORPUS + HAS_CORPUS if native(s).runner == "native"]


def test_most_of_the_corpus_runs_native() -> None:
    assert len(NATIVE_CORPUS) >= 12


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=facts, model=models)
def test_native_agrees_with_the_reference_on_the_corpus(
    request: dict[str, Any], model: dict[str, Any]
) -> None:
    act = {**activation(request), "model": dict(model)}
    for source in NATIVE_CORPUS:
        agree(source, act)


TYPED_ATOMS = [a for a in ATOMS if native(a).runner == "native"]
# of typed atoms only, so that each expression runs native
expressions = combinations([*TYPED_ATOMS, "has(model.params_b)", "model.context_window > 1000"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=expressions, request=facts, model=models)
def test_native_agrees_with_the_reference_on_generated_expressions(
    source: str, request: dict[str, Any], model: dict[str, Any]
) -> None:
    got = compile_predicate(source, "filter")
    if not isinstance(got, Predicate):
        return  # refused at compile time (too deep): nothing runs
    assert got.runner == "native"
    agree(source, {**activation(request), "model": dict(model)})


def test_errors_read_like_cel_python() -> None:
    p = native("model.params_b >= 7.0")
    assert p.runner == "native"
    act = activation()
    act["model"] = {k: v for k, v in MODEL.items() if k != "params_b"}
    assert p.evaluate_verbose(act) == (False, 'no such member "params_b"')
    div = native("request.max_tokens / (request.messages_count - 3) > 1")
    assert div.evaluate_verbose(activation())[1] == "divide by zero"


def test_bind_for_a_filter_that_ignores_the_model() -> None:
    p = native("request.stream")
    judge = p.bind(activation(), "model")
    assert judge({}) == (True, None) and judge(MODEL) == (True, None)
