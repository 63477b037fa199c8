"""An evaluation that passes one of the evaluators' bounds is "no match" plus a warning, on every
runner: the C++ evaluator's iteration budget, and the data cel-python's converter refuses (an int
outside int64, nesting deeper than MAX_VALUE_DEPTH). Never an exception, never a long stall."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from localrouter.compiler.cel import MAX_VALUE_DEPTH, Predicate, compile_predicate
from localrouter.compiler.cel_native import AVAILABLE

native_only = pytest.mark.skipif(not AVAILABLE, reason="cel-expr-python is not installed")


def predicate(source: str, scope: str = "route", *, native: bool = True) -> Predicate:
    got = compile_predicate(source, scope, prefer_native=native)  # type: ignore[arg-type]
    assert isinstance(got, Predicate), got
    return got


def request(**fields: Any) -> dict[str, Any]:
    return {"request": {"stream": False, "tags": [], "metadata": {}, **fields}}


def warned(caplog: pytest.LogCaptureFixture, *words: str) -> None:
    lines = [r for r in caplog.records if r.name == "localrouter.cel"]
    assert lines, "no warning logged"
    assert all(r.levelno == logging.WARNING for r in lines)
    text = lines[-1].getMessage()
    for word in words:
        assert word in text, text


@native_only
@pytest.mark.parametrize(
    ("source", "small"),
    [
        ('request.tags.exists(t, t == "z")', False),
        ('request.tags.filter(t, t == "z").size() > 0 || !request.stream', True),
        ('request.tags.all(t, t != "z")', True),
    ],
)
def test_native_iteration_budget_is_no_match_and_a_warning(
    source: str, small: bool, caplog: pytest.LogCaptureFixture
) -> None:
    p = predicate(source)
    assert p.runner == "native"
    act = request(tags=["a"] * 10_001)  # past the C++ evaluator's 10,000 steps
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="localrouter.cel"):
        assert p.evaluate(act) is False  # raised RuntimeError: a 500 in the gateway
        ok, why = p.evaluate_verbose(act)
    assert time.perf_counter() - started < 1.0
    assert not ok and why == "iteration budget exceeded (10,000 steps)"
    warned(caplog, "iteration budget exceeded", "no match", source[:20])
    assert p.evaluate(request(tags=["a"] * 10)) is small  # the same expression, fewer tags


@native_only
def test_a_bound_filter_stops_on_the_budget_per_model(caplog: pytest.LogCaptureFixture) -> None:
    p = predicate("request.tags.exists(t, t == model.name)", "filter")
    assert p.runner == "native"
    base = {**request(tags=["a"] * 10_001), "client": {"name": "c", "tags": []}}
    judge = p.bind(base, "model")
    with caplog.at_level(logging.WARNING, logger="localrouter.cel"):
        assert judge({"name": "z"}) == (False, "iteration budget exceeded (10,000 steps)")
    warned(caplog, "iteration budget exceeded")
    assert p.bind(request(tags=["z"]), "model")({"name": "z"}) == (True, None)


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"team": "ml"}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "metadata",
    [deep(40), {"team": 2**63}, {"team": -(2**63) - 1}],
    ids=["nested-40", "int64-max+1", "int64-min-1"],
)
@pytest.mark.parametrize(
    "source",
    ['request.metadata.team == "ml" || request.stream', "has(request.metadata.team.x)"],
)
def test_data_cel_python_cannot_take_is_no_match_and_a_warning(
    metadata: dict[str, Any], source: str, caplog: pytest.LogCaptureFixture
) -> None:
    p = predicate(source)
    assert p.runner in ("compiled", "interpreted")  # metadata is dyn: cel-python judges it
    for runner in (p, predicate(source, native=False)):
        with caplog.at_level(logging.WARNING, logger="localrouter.cel"):
            assert runner.evaluate(request(metadata=metadata)) is False  # raised ValueError
            ok, why = runner.evaluate_verbose(request(metadata=metadata))
        assert not ok and why is not None
        assert ("deeper than" in why) == (metadata == deep(40))
        warned(caplog, "no match")
    good = {"team": "ml"} if "==" in source else {"team": {"x": 1}}
    assert predicate(source).evaluate(request(metadata=good)) is True


def test_value_depth_bound_is_where_the_docs_say() -> None:
    p = predicate("has(request.metadata.a.a)")
    assert p.runner != "native"
    assert p.evaluate(request(metadata=deep(MAX_VALUE_DEPTH - 2))) is True
    assert p.evaluate(request(metadata=deep(MAX_VALUE_DEPTH + 2))) is False


def test_no_warning_for_ordinary_runtime_errors(caplog: pytest.LogCaptureFixture) -> None:
    """A missing key is an everyday "no match": not worth a warning."""
    p = predicate('request.headers["x-team"] == "ml"')
    with caplog.at_level(logging.WARNING, logger="localrouter.cel"):
        assert p.evaluate(request(headers={})) is False
    assert not [r for r in caplog.records if r.name == "localrouter.cel"]


def test_an_expression_slow_on_the_largest_allowed_request_is_refused_at_load() -> None:
    """32 copies of the tags mapped: 2,048 items, ~90 ms of the C++ evaluator's quadratic map()
    for every request with the most tags a client may send (64). Neutral facts (no tags) cannot
    show it; the trial on the largest client data does."""
    doubled = "request.tags"
    for _ in range(5):
        doubled = f"({doubled} + {doubled})"
    source = doubled + '.map(t, t + "!").size() > 0'
    got = compile_predicate(source, "route")
    assert isinstance(got, tuple), got
    (problem,) = got
    assert problem.code == "LR404"
    assert "on the largest tags, headers and metadata a request may bring" in problem.message
    assert "(the limit is 10 ms)" in problem.message
    for fine in (
        'request.tags.map(t, t + "!").exists(t, t == "vip!")',
        'request.headers.map(k, k + "x").size() > 0',
        'request.metadata.exists(k, k.startsWith("team"))',
        '"vip" in request.tags || request.tags.exists(t, t.startsWith("team:"))',
    ):
        assert isinstance(compile_predicate(fine, "route"), Predicate), fine


def test_cel_pythons_runners_are_held_to_their_own_limit() -> None:
    """cel-python serves only what the native runner cannot, ~50x slower a step: a plain
    comprehension over the largest client data takes ~7 ms there, so its limit leaves a margin
    the machine's load cannot eat (at 10 ms this compile failed under load: LR404 by chance)."""
    from localrouter.compiler import cel

    assert cel.LARGEST_TRIAL_BUDGET_PY_S >= 5 * cel.LARGEST_TRIAL_BUDGET_S
    spent: list[float] = []
    real = cel._trial

    def timed(run: Any, activation: Any, budget: float = cel.TRIAL_BUDGET_S) -> Any:
        got = real(run, activation, budget)
        if budget in (cel.LARGEST_TRIAL_BUDGET_S, cel.LARGEST_TRIAL_BUDGET_PY_S):
            spent.append(got[0] / budget)  # the share of its limit the trial used
        return got

    cel._trial = timed  # type: ignore[assignment]
    try:
        for _ in range(3):
            got = compile_predicate(
                "request.tags.exists(t, t == 'x')", "route", prefer_native=False
            )
            assert not isinstance(got, tuple), got
            assert got.runner != "native"
    finally:
        cel._trial = real  # type: ignore[assignment]
    assert min(spent) < 0.5, spent  # at least twice the margin, even on a busy machine
