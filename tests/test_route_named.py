"""A request naming a model (SPEC §3): ``provider/model`` or a bare id is served only if the
client's strategy may pick it — the default list first, then the routes — else 403 (it exists)
or 404 (it does not)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from localrouter.compiler.build import build
from localrouter.compiler.table import RoutingTable
from localrouter.routing.facts import NowFacts, RequestFacts
from localrouter.routing.route import Decision, route

HASH = "$2b$04$" + "a" * 53
CONFIG = f"""
version: 2
providers:
  a: {{type: mock, models: {{m: {{}}, only-a: {{}}}}}}
  b: {{type: mock, models: {{m: {{}}, tools: {{}}, unused: {{}}}}}}
strategies:
  s:
    routes:
      - name: tools
        when: request.has_tools
        models: [b/tools, a/m]
    models: [b/m, a/m]
clients:
  c: {{key_prefix: lr-aaaaaaaa, key_hash: {HASH}, strategy: s}}
"""


def table(tmp_path: Path) -> RoutingTable:
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(CONFIG).lstrip("\n"), encoding="utf-8")
    built = build(path)
    assert built.table is not None, built.diagnostics
    return built.table


def named(t: RoutingTable, model: str) -> Decision:
    return route(t, t.clients["c"], RequestFacts(model=model), NowFacts(), judge_all=True)


def test_provider_model_and_bare_ids(tmp_path: Path) -> None:
    t = table(tmp_path)
    for model, first in (
        ("a/m", "a/m"),
        ("m", "b/m"),
        ("b/tools", "b/tools"),
        ("tools", "b/tools"),
    ):
        d = named(t, model)
        assert (d.status, d.route, [m.id for m in d.candidates]) == (200, "named", [first]), model
    for model, status in (
        ("b/unused", 403),
        ("unused", 403),
        ("only-a", 403),
        ("a/x", 404),
        ("x", 404),
    ):
        d = named(t, model)
        assert d.status == status and d.strategy == "s", (model, d)
