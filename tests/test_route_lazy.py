"""Lazy judging: the server asks for one eligible candidate and judges the next only when it
falls back; the walk yields exactly what judging every candidate would, in the same order."""

from __future__ import annotations

from pathlib import Path

from localrouter.compiler.build import build
from localrouter.compiler.table import ModelInfo, RoutingTable
from localrouter.routing.facts import NowFacts, RequestFacts
from localrouter.routing.route import Decision, RuntimeView, route
from tests.test_order import table_for, write_config

LISTED = ["box/small", "cloud/free", "box/big", "cloud/cheap", "cloud/dear", "plan/pro"]
# context windows: small 8k, free 4k, big 32k, cheap 128k, dear 200k, pro 1M
NEEDS_16K = RequestFacts(estimated_tokens=10_000, max_tokens=6_000)


def table(tmp_path: Path) -> RoutingTable:
    extra = "filter: 'model.context_window >= request.estimated_tokens + request.max_tokens'"
    built = build(write_config(tmp_path, LISTED, None, extra))
    assert built.table is not None, built.diagnostics
    return built.table


def decide(
    t: RoutingTable, want: int = 0, runtime: RuntimeView | None = None, **kw: bool
) -> Decision:
    return route(
        t, t.clients["c"], NEEDS_16K, NowFacts(), runtime or RuntimeView(), want=want, **kw
    )


def ids(models: tuple[ModelInfo, ...] | list[ModelInfo]) -> list[str]:
    return [m.id for m in models]


def test_want_one_stops_at_the_first_eligible(tmp_path: Path) -> None:
    d = decide(table(tmp_path), want=1)
    assert d.status == 200 and ids(d.candidates) == ["box/big"]
    assert [m for m, _ in d.left_out] == ["box/small", "cloud/free"]  # judged and refused
    assert ids(d.pending) == ["cloud/cheap", "cloud/dear", "plan/pro"]  # not judged yet


def test_more_judges_the_next_and_keeps_what_was_judged(tmp_path: Path) -> None:
    d = decide(table(tmp_path), want=1).more()
    assert ids(d.candidates) == ["box/big", "cloud/cheap"] and ids(d.pending) == [
        "cloud/dear",
        "plan/pro",
    ]
    assert d.more(5).pending == () and d.more(5).more() == d.more(5)


def test_walk_equals_judging_everything(tmp_path: Path) -> None:
    t = table(tmp_path)
    everything = decide(t, judge_all=True)
    walk = decide(t, want=1).walk()
    assert (
        ids(list(walk))
        == ids(everything.candidates)
        == ["box/big", "cloud/cheap", "cloud/dear", "plan/pro"]
    )
    assert walk.decision.left_out == everything.left_out and walk.decision.pending == ()


def test_a_walk_stopped_early_judges_no_further(tmp_path: Path) -> None:
    judged: list[str] = []

    def skip(m: ModelInfo) -> str | None:
        judged.append(m.id)
        return None

    walk = decide(table(tmp_path), want=1, runtime=RuntimeView(skip=skip)).walk()
    first = next(iter(walk))  # small and free are too small for the request: big is first
    assert first.id == "box/big" and judged == ["box/small", "cloud/free", "box/big"]


def test_none_eligible_is_503_with_every_reason(tmp_path: Path) -> None:
    t = table_for(tmp_path, ["box/small", "cloud/free"], None)
    d = route(
        t, t.clients["c"], NEEDS_16K, NowFacts(), RuntimeView(skip=lambda m: "circuit open"), want=1
    )
    assert d.status == 503 and d.pending == ()
    assert d.left_out == (("box/small", "circuit open"), ("cloud/free", "circuit open"))
