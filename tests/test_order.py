"""ORDER keys (SPEC §1): one test per key and for combinations, each pinning the exact order.

Static keys are checked through the real CLI (``localrouter explain --format json``) on small
configs written to ``tmp_path``; the keys that need observed latency are checked through
:func:`localrouter.routing.route.route` with a ``RuntimeView``. In every test the listed order
differs from the expected one, so a key that is ignored, reversed or mis-weighted fails it.

The catalog every test draws from (``kind`` follows the provider):

    provider (kind)       model     params quality price/Mtok (in + out)        context
    box (local: loopback) small     3B     0.5     none: a local model costs 0   8k
                          big       70B    0.7     none: 0                       32k
                          priced    8B     -       0.05 + 0.05 = 0.1             -
    cloud (api)           free      -      0.3     0 + 0 = 0                     4k
                          cheap     -      0.8     0.1 + 0.4 = 0.5               128k
                          mid       30B    0.8     1 + 3 = 4                     -
                          dear      -      0.95    5 + 15 = 20                   200k
                          unpriced  -      -       unknown                       -
    plan (subscription)   pro       -      0.9     3 + 15 = 18                   1M
                          lite      30B    -       unknown                       -
"""

from __future__ import annotations

import itertools
import json
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from localrouter.compiler.build import build
from localrouter.compiler.table import RoutingTable
from localrouter.routing.facts import NowFacts, RequestFacts
from localrouter.routing.route import Decision, RuntimeView, route
from tests.conftest import CONFIGS, ROOT, run_cli

CATALOG = """\
version: 2
providers:
  box:
    type: openai-compatible
    base_url: http://127.0.0.1:8000/v1     # loopback: kind local
    discover: false
    models:
      small: {params_b: 3, quality: 0.5, context_window: 8192}
      big: {params_b: 70, quality: 0.7, context_window: 32768}
      priced: {params_b: 8, input_per_mtok: 0.05, output_per_mtok: 0.05}
  cloud:
    type: openai-compatible
    base_url: https://api.example.com/v1   # kind api
    discover: false
    models:
      free: {input_per_mtok: 0, output_per_mtok: 0, quality: 0.3, context_window: 4096}
      cheap: {input_per_mtok: 0.1, output_per_mtok: 0.4, quality: 0.8, context_window: 128000}
      mid: {input_per_mtok: 1, output_per_mtok: 3, params_b: 30, quality: 0.8}
      dear: {input_per_mtok: 5, output_per_mtok: 15, quality: 0.95, context_window: 200000}
      unpriced: {}
  plan:
    type: openai-compatible
    base_url: https://plan.example.com/v1
    kind: subscription
    discover: false
    models:
      pro: {input_per_mtok: 3, output_per_mtok: 15, quality: 0.9, context_window: 1000000}
      lite: {params_b: 30}
clients:
  c:
    key_prefix: lr-zJzKRdvh
    key_hash: $2b$12$R90MwVKtheh3T6iUIRcodOA4bVjbp8B.Qaj.tRkj9m.Krwy6l1Qim
    strategy: s
"""


def write_config(
    tmp_path: Path,
    models: Sequence[str],
    order: Sequence[str] | None,
    extra: str = "",
) -> Path:
    """The catalog plus one strategy ``s`` listing ``models`` with ``order`` (none: omitted)."""
    lines = ["strategies:", "  s:", f"    models: {json.dumps(list(models))}"]
    if order is not None:
        lines.append(f"    order: {json.dumps(list(order))}")
    if extra:
        lines.append(textwrap.indent(textwrap.dedent(extra).strip("\n"), "    "))
    path = tmp_path / "routers.yaml"
    path.write_text(CATALOG + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def explain(path: Path, *argv: str) -> dict[str, Any]:
    result = run_cli("explain", "--config", str(path), "--client", "c", "--format", "json", *argv)
    assert result.code == 0, result.out + result.err
    doc = json.loads(result.out)
    assert isinstance(doc, dict)
    return doc


def explained_order(
    tmp_path: Path, models: Sequence[str], order: Sequence[str] | None, extra: str = ""
) -> list[str]:
    doc = explain(write_config(tmp_path, models, order, extra))
    assert doc["left_out"] == []
    candidates = doc["candidates"]
    assert isinstance(candidates, list)
    return candidates


def table_for(tmp_path: Path, models: Sequence[str], order: Sequence[str] | None) -> RoutingTable:
    built = build(write_config(tmp_path, models, order))
    assert built.table is not None, built.diagnostics
    return built.table


def routed(table: RoutingTable, latency_ms: Mapping[str, float]) -> list[str]:
    decision: Decision = route(
        table,
        table.clients["c"],
        RequestFacts(),
        NowFacts(),
        RuntimeView(latency_ms=latency_ms),
        judge_all=True,
    )
    assert decision.status == 200, decision.error
    assert decision.left_out == ()
    return [m.id for m in decision.candidates]


# --- one key at a time -------------------------------------------------------------------------


def test_no_order_keeps_the_listed_order(tmp_path: Path) -> None:
    listed = ["cloud/dear", "box/small", "plan/lite", "cloud/free", "box/big"]
    assert explained_order(tmp_path, listed, None) == listed


def test_lowest_cost(tmp_path: Path) -> None:
    listed = [
        "cloud/unpriced",
        "cloud/dear",
        "box/big",
        "plan/lite",
        "cloud/cheap",
        "box/priced",
        "cloud/mid",
        "box/small",
    ]
    assert explained_order(tmp_path, listed, ["lowest_cost"]) == [
        "box/big",  # local, no price: 0 (ties with box/small: listed order)
        "box/small",
        "box/priced",  # 0.1
        "cloud/cheap",  # 0.5
        "cloud/mid",  # 4
        "cloud/dear",  # 20
        "cloud/unpriced",  # unknown prices last, in listed order
        "plan/lite",
    ]


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        (
            ["cloud/cheap", "box/small", "cloud/free"],
            ["box/small", "cloud/free", "cloud/cheap"],
        ),
        (
            ["cloud/cheap", "cloud/free", "box/small"],
            ["cloud/free", "box/small", "cloud/cheap"],
        ),
    ],
)
def test_lowest_cost_local_model_without_prices_costs_zero(
    tmp_path: Path, listed: list[str], expected: list[str]
) -> None:
    # A local model without prices ties exactly with an API model priced 0 + 0: the listed order
    # decides between them, and both come before any priced model.
    assert explained_order(tmp_path, listed, ["lowest_cost"]) == expected


def test_lowest_cost_unknown_price_is_last_even_behind_the_dearest(tmp_path: Path) -> None:
    listed = ["plan/lite", "cloud/unpriced", "cloud/dear", "plan/pro"]
    assert explained_order(tmp_path, listed, ["lowest_cost"]) == [
        "plan/pro",  # 18
        "cloud/dear",  # 20
        "plan/lite",  # a subscription model without prices is unknown, not free
        "cloud/unpriced",
    ]


def test_highest_performance_by_params(tmp_path: Path) -> None:
    # Offline (explain) there is no observed latency: parameters decide, ties keep listed order.
    listed = [
        "cloud/cheap",
        "box/small",
        "plan/lite",
        "cloud/mid",
        "box/priced",
        "box/big",
        "cloud/dear",
    ]
    assert explained_order(tmp_path, listed, ["highest_performance"]) == [
        "box/big",  # 70B
        "plan/lite",  # 30B, listed before cloud/mid
        "cloud/mid",  # 30B
        "box/priced",  # 8B
        "box/small",  # 3B
        "cloud/cheap",  # unknown parameters last, in listed order
        "cloud/dear",
    ]


def test_highest_performance_then_observed_latency(tmp_path: Path) -> None:
    listed = [
        "cloud/mid",
        "cloud/unpriced",
        "plan/lite",
        "box/big",
        "cloud/cheap",
        "cloud/dear",
        "box/small",
    ]
    table = table_for(tmp_path, listed, ["highest_performance"])
    latency = {
        "cloud/mid": 900.0,
        "plan/lite": 300.0,
        "box/big": 2000.0,  # slowest, but the most parameters win
        "cloud/cheap": 50.0,
        "cloud/dear": 20.0,
        "box/small": 10.0,
    }
    assert routed(table, latency) == [
        "box/big",  # 70B
        "plan/lite",  # 30B, 300 ms
        "cloud/mid",  # 30B, 900 ms
        "box/small",  # 3B
        "cloud/dear",  # unknown params: by latency, 20 ms
        "cloud/cheap",  # 50 ms
        "cloud/unpriced",  # unknown params and unknown latency
    ]
    # another request with other observations is re-sorted: the same table, another order
    assert routed(table, {"cloud/mid": 100.0, "plan/lite": 400.0}) == [
        "box/big",
        "cloud/mid",
        "plan/lite",
        "box/small",
        "cloud/unpriced",  # no latency for any of these three: listed order
        "cloud/cheap",
        "cloud/dear",
    ]


def test_lowest_latency(tmp_path: Path) -> None:
    listed = ["box/big", "cloud/dear", "plan/pro", "cloud/unpriced", "box/small", "cloud/cheap"]
    table = table_for(tmp_path, listed, ["lowest_latency"])
    latency = {"cloud/cheap": 120.0, "plan/pro": 800.0, "box/small": 35.5, "cloud/dear": 120.0}
    assert routed(table, latency) == [
        "box/small",  # 35.5 ms
        "cloud/dear",  # 120 ms, listed before cloud/cheap
        "cloud/cheap",  # 120 ms
        "plan/pro",  # 800 ms
        "box/big",  # unknown latency last, in listed order
        "cloud/unpriced",
    ]
    # per request: new observations give a new order from the same compiled table
    assert routed(table, {"box/big": 5.0, "plan/pro": 1.0}) == [
        "plan/pro",
        "box/big",
        "cloud/dear",
        "cloud/unpriced",
        "box/small",
        "cloud/cheap",
    ]


def test_lowest_latency_without_observations_keeps_listed_order(tmp_path: Path) -> None:
    listed = ["cloud/dear", "box/small", "plan/pro", "cloud/free"]
    assert explained_order(tmp_path, listed, ["lowest_latency"]) == listed
    assert routed(table_for(tmp_path, listed, ["lowest_latency"]), {}) == listed


def test_highest_quality(tmp_path: Path) -> None:
    listed = [
        "cloud/unpriced",
        "box/small",
        "cloud/mid",
        "plan/pro",
        "cloud/cheap",
        "box/big",
        "cloud/dear",
        "plan/lite",
    ]
    assert explained_order(tmp_path, listed, ["highest_quality"]) == [
        "cloud/dear",  # 0.95
        "plan/pro",  # 0.9
        "cloud/mid",  # 0.8, listed before cloud/cheap
        "cloud/cheap",  # 0.8
        "box/big",  # 0.7
        "box/small",  # 0.5
        "cloud/unpriced",  # unknown quality last, in listed order
        "plan/lite",
    ]


KIND_CASES = [
    (
        "local_first",
        ["cloud/cheap", "box/big", "plan/pro", "box/small", "cloud/dear", "box/priced"],
        ["box/big", "box/small", "box/priced", "cloud/cheap", "plan/pro", "cloud/dear"],
    ),
    (
        "remote_first",  # api and subscription alike, then local
        ["box/big", "cloud/cheap", "box/small", "plan/pro", "cloud/dear"],
        ["cloud/cheap", "plan/pro", "cloud/dear", "box/big", "box/small"],
    ),
    (
        "subscription_first",
        ["cloud/cheap", "box/big", "plan/pro", "cloud/dear", "plan/lite"],
        ["plan/pro", "plan/lite", "cloud/cheap", "box/big", "cloud/dear"],
    ),
    (
        "api_first",
        ["plan/pro", "box/big", "cloud/dear", "box/small", "cloud/cheap", "plan/lite"],
        ["cloud/dear", "cloud/cheap", "plan/pro", "box/big", "box/small", "plan/lite"],
    ),
]


@pytest.mark.parametrize(("key", "listed", "expected"), KIND_CASES, ids=[c[0] for c in KIND_CASES])
def test_kind_keys(tmp_path: Path, key: str, listed: list[str], expected: list[str]) -> None:
    # the key's kind first, everything else after it; the listed order within each group
    assert explained_order(tmp_path, listed, [key]) == expected


# --- combinations: the first key decides, the next breaks ties, the listed order last ---------


def test_local_first_then_lowest_cost(tmp_path: Path) -> None:
    listed = [
        "cloud/dear",
        "box/priced",
        "cloud/cheap",
        "box/big",
        "cloud/unpriced",
        "box/small",
        "cloud/free",
    ]
    assert explained_order(tmp_path, listed, ["local_first", "lowest_cost"]) == [
        "box/big",  # local, 0 (listed before box/small)
        "box/small",  # local, 0
        "box/priced",  # local, 0.1: still before the free API model
        "cloud/free",  # remote, 0
        "cloud/cheap",
        "cloud/dear",
        "cloud/unpriced",
    ]
    # the same models, the keys swapped: cost decides, kind only breaks the tie at 0
    assert explained_order(tmp_path, listed, ["lowest_cost", "local_first"]) == [
        "box/big",
        "box/small",
        "cloud/free",  # 0, after the local models at 0
        "box/priced",  # 0.1
        "cloud/cheap",
        "cloud/dear",
        "cloud/unpriced",
    ]


def test_lowest_cost_then_local_first_breaks_the_tie_at_zero(tmp_path: Path) -> None:
    listed = ["cloud/cheap", "cloud/free", "box/small"]
    assert explained_order(tmp_path, listed, ["lowest_cost"]) == [
        "cloud/free",
        "box/small",
        "cloud/cheap",
    ]
    assert explained_order(tmp_path, listed, ["lowest_cost", "local_first"]) == [
        "box/small",
        "cloud/free",
        "cloud/cheap",
    ]


def test_highest_quality_then_lowest_cost(tmp_path: Path) -> None:
    listed = ["cloud/mid", "box/small", "cloud/dear", "cloud/cheap"]
    assert explained_order(tmp_path, listed, ["highest_quality", "lowest_cost"]) == [
        "cloud/dear",  # 0.95
        "cloud/cheap",  # 0.8 at 0.5: cheaper than cloud/mid although listed after it
        "cloud/mid",  # 0.8 at 4
        "box/small",  # 0.5
    ]
    assert explained_order(tmp_path, listed, ["highest_quality"]) == [
        "cloud/dear",
        "cloud/mid",
        "cloud/cheap",
        "box/small",
    ]


def test_lowest_cost_then_highest_quality(tmp_path: Path) -> None:
    listed = ["cloud/free", "box/small", "cloud/cheap", "box/big"]
    assert explained_order(tmp_path, listed, ["lowest_cost", "highest_quality"]) == [
        "box/big",  # 0, q0.7
        "box/small",  # 0, q0.5
        "cloud/free",  # 0, q0.3
        "cloud/cheap",  # 0.5 (its q0.8 does not matter: cost decides first)
    ]


def test_subscription_first_then_highest_quality(tmp_path: Path) -> None:
    listed = ["cloud/cheap", "plan/lite", "box/big", "plan/pro", "cloud/dear"]
    assert explained_order(tmp_path, listed, ["subscription_first", "highest_quality"]) == [
        "plan/pro",  # subscription, q0.9
        "plan/lite",  # subscription, unknown quality
        "cloud/dear",  # 0.95
        "cloud/cheap",  # 0.8
        "box/big",  # 0.7
    ]


@pytest.mark.parametrize(
    "listed",
    [
        ["box/big", "box/small", "cloud/free"],
        ["box/small", "box/big", "cloud/free"],
        ["cloud/free", "box/small", "box/big"],
    ],
)
def test_listed_order_breaks_a_tie_on_every_key(tmp_path: Path, listed: list[str]) -> None:
    # box/big and box/small tie on both keys; only the listed order separates them
    locals_in_listed_order = [m for m in listed if m.startswith("box/")]
    expected = [*locals_in_listed_order, "cloud/free"]
    assert explained_order(tmp_path, listed, ["local_first", "lowest_cost"]) == expected
    assert explained_order(tmp_path, listed, ["lowest_cost", "local_first"]) == expected


def test_api_first_then_remote_first_then_highest_performance(tmp_path: Path) -> None:
    listed = ["box/small", "plan/lite", "cloud/cheap", "box/big", "plan/pro", "cloud/mid"]
    order = ["api_first", "remote_first", "highest_performance"]
    assert explained_order(tmp_path, listed, order) == [
        "cloud/mid",  # api, 30B
        "cloud/cheap",  # api, unknown params
        "plan/lite",  # subscription (remote), 30B
        "plan/pro",  # subscription, unknown params
        "box/big",  # local, 70B
        "box/small",  # local, 3B
    ]


def test_local_first_then_lowest_latency_at_runtime(tmp_path: Path) -> None:
    listed = ["cloud/cheap", "box/big", "cloud/dear", "box/small"]
    latency = {"cloud/cheap": 10.0, "cloud/dear": 5.0, "box/big": 500.0, "box/small": 100.0}
    table = table_for(tmp_path, listed, ["local_first", "lowest_latency"])
    assert routed(table, latency) == ["box/small", "box/big", "cloud/dear", "cloud/cheap"]
    only_latency = table_for(tmp_path, listed, ["lowest_latency"])
    assert routed(only_latency, latency) == ["cloud/dear", "cloud/cheap", "box/small", "box/big"]


def test_lowest_latency_then_lowest_cost_at_runtime(tmp_path: Path) -> None:
    listed = ["cloud/dear", "cloud/cheap", "box/small", "box/big"]
    table = table_for(tmp_path, listed, ["lowest_latency", "lowest_cost"])
    latency = {"cloud/dear": 50.0, "cloud/cheap": 50.0, "box/small": 50.0, "box/big": 10.0}
    assert routed(table, latency) == ["box/big", "box/small", "cloud/cheap", "cloud/dear"]


def test_highest_quality_then_lowest_latency_at_runtime(tmp_path: Path) -> None:
    # a static key first, a runtime key second: the per-request re-sort keeps the static decision
    listed = ["box/small", "cloud/cheap", "cloud/mid", "cloud/dear"]
    table = table_for(tmp_path, listed, ["highest_quality", "lowest_latency"])
    latency = {"box/small": 1.0, "cloud/cheap": 400.0, "cloud/mid": 90.0, "cloud/dear": 3000.0}
    assert routed(table, latency) == ["cloud/dear", "cloud/mid", "cloud/cheap", "box/small"]


def test_a_routes_own_order_replaces_the_strategys(tmp_path: Path) -> None:
    listed = ["cloud/mid", "box/small", "cloud/dear", "cloud/cheap"]
    extra = """
    routes:
      - name: long
        when: 'request.estimated_tokens > 1000'
        models: ["cloud/mid", "box/small", "cloud/dear", "cloud/cheap"]
        order: [highest_quality, lowest_cost]
    """
    path = write_config(tmp_path, listed, ["lowest_cost"], extra)
    short = explain(path, "--prompt", "hi")
    assert (short["route"], short["candidates"]) == (
        "default",
        ["box/small", "cloud/cheap", "cloud/mid", "cloud/dear"],
    )
    long = explain(path, "--prompt", "word " * 2000)
    assert (long["route"], long["candidates"]) == (
        "long",
        ["cloud/dear", "cloud/cheap", "cloud/mid", "box/small"],
    )


# --- explain on the example configs ------------------------------------------------------------


def example_configs() -> list[Path]:
    files = sorted(CONFIGS.glob("*.yaml"))
    dirs = sorted(
        p
        for p in CONFIGS.iterdir()
        if p.is_dir() and any(p.glob("*.yaml")) and p.name != "legacy-v1"  # not make run's logs/
    )
    return [*files, *dirs]


def test_the_example_configs_are_all_covered() -> None:
    names = {p.name for p in example_configs()}
    assert {"coding-assistant.yaml", "cost-saver.yaml", "demo.yaml", "gitops"} <= names
    assert "legacy-v1" not in names


TIMES = ("2026-01-05T12:00", "2026-01-05T23:30")  # a Monday noon; late at night


def _requests(tmp_path: Path) -> dict[str, Path]:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    bodies: dict[str, dict[str, object]] = {
        "short": {"messages": [{"role": "user", "content": "What does HTTP 418 mean?"}]},
        "hard": {
            "messages": [
                {
                    "role": "user",
                    "content": "Why is this slow? Explain step by step.\n"
                    + "```\ndef f(x):\n    return [g(y) for y in x]\n```\n" * 40,
                }
            ],
            "tools": tools,
        },
        "medium": {  # about 40k tokens: too long for a 32k local window
            "messages": [{"role": "user", "content": "lorem ipsum " * 13400}],
            "max_tokens": 2000,
        },
        "long": {  # about 180k tokens
            "messages": [{"role": "user", "content": "lorem ipsum " * 60000}],
            "max_tokens": 4000,
        },
        "long-tools": {  # about 150k tokens, with tools
            "messages": [{"role": "user", "content": "lorem ipsum " * 50000}],
            "tools": tools,
        },
    }
    out = {}
    for name, body in bodies.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(body), encoding="utf-8")
        out[name] = path
    return out


@pytest.mark.parametrize("config", example_configs(), ids=lambda p: p.name)
def test_explain_on_example_configs_gives_every_left_out_candidate_a_reason(
    tmp_path: Path, config: Path
) -> None:
    built = build(config)
    assert built.table is not None, built.diagnostics
    table = built.table
    assert table.clients
    requests = _requests(tmp_path)
    for cname, client in table.clients.items():
        text = run_cli("explain", "--config", str(config), "--client", cname, "--prompt", "hi")
        assert text.code in (0, 1), text.err
        assert f"client:     {cname}" in text.out
        for (rname, body), at in itertools.product(requests.items(), TIMES):
            where = f"{config.name} client={cname} request={rname} now={at}"
            result = run_cli(
                "explain",
                "--config",
                str(config),
                "--client",
                cname,
                "--format",
                "json",
                "--request",
                str(body),
                "--now",
                at,
            )
            doc = json.loads(result.out)
            assert result.code == (0 if doc["status"] == 200 else 1), where
            assert doc["client"] == cname
            for entry in doc["left_out"]:
                assert isinstance(entry["reason"], str), where
                assert entry["reason"].strip(), f"{where}: {entry['model']} has no reason"
            if not client.enabled:
                assert doc["status"] == 403, where
                continue
            strategy = table.strategies[client.strategy]
            chosen = next(r for r in (strategy.default, *strategy.routes) if r.name == doc["route"])
            compiled = [m.id for m in chosen.candidates]
            got = doc["candidates"]
            left = [e["model"] for e in doc["left_out"]]
            # explain judges every candidate: each one is either kept or left out with a reason
            assert not set(got) & set(left), where
            assert set(got) | set(left) == set(compiled) | {m for m, _ in chosen.left_out}, where
            assert len(left) == len(set(left)), where
            # and the kept ones stay in the compiled ORDER (no runtime latency offline)
            assert got == [m for m in compiled if m in got], where
            if doc["status"] != 200:
                assert doc["status"] == 503 and doc["error"], where
                assert left, where


# --- the routing profiles written by `localrouter init` ----------------------------------------

PROFILES = ("quality", "balanced", "speed", "budget", "long-context")
TEMPLATE = ROOT / "localrouter" / "templates" / "starter.yaml"
PROFILES_DOC = ROOT / "docs" / "profiles.md"


def init_strategies(tmp_path: Path) -> dict[str, dict[str, object]]:
    """`localrouter init` into tmp_path; the strategies it wrote (after validate --strict)."""
    target = tmp_path / "init" / "routers.yaml"
    assert run_cli("init", str(target)).code == 0
    checked = run_cli("validate", str(target), "--strict")
    assert checked.code == 0, checked.out + checked.err
    assert "warning" not in checked.out + checked.err
    doc = YAML(typ="safe").load(target.read_text(encoding="utf-8"))
    assert doc["clients"]["default"]["strategy"] == "minimum-cost"
    strategies = doc["strategies"]
    assert isinstance(strategies, dict)
    return strategies


def profile_config(tmp_path: Path, strategies: Mapping[str, object], name: str) -> Path:
    """The test catalog with the profiles copied in and the client pointed at ``name``."""
    text = CATALOG.replace("    strategy: s\n", f"    strategy: {name}\n")
    path = tmp_path / f"{name}.yaml"
    path.write_text(text + f"strategies: {json.dumps(dict(strategies))}\n", encoding="utf-8")
    return path


def request_file(tmp_path: Path, body: Mapping[str, object]) -> str:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return str(path)


def test_init_writes_the_seed_strategies_and_the_profiles(tmp_path: Path) -> None:
    strategies = init_strategies(tmp_path)
    assert list(strategies) == ["minimum-cost", "maximum-performance", *PROFILES]
    assert strategies["minimum-cost"]["order"] == ["lowest_cost", "local_first"]
    assert strategies["maximum-performance"]["order"] == ["highest_performance"]
    orders = {name: strategies[name]["order"] for name in PROFILES}
    assert orders == {
        "quality": ["highest_quality", "highest_performance"],
        "balanced": ["lowest_cost", "highest_quality"],
        "speed": ["lowest_latency", "lowest_cost"],
        "budget": ["local_first", "subscription_first", "lowest_cost"],
        "long-context": ["lowest_cost", "highest_quality"],
    }
    for name in PROFILES:
        assert strategies[name]["models"] == ["*"], name


def _template_block(name: str) -> str:
    """A strategy's block in the starter template, as written (its own lines, no comments)."""
    lines = TEMPLATE.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"  {name}:")
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if line.strip() and not line.startswith("   "):
            break
        block.append(line)
    return "\n".join(block).rstrip() + "\n"


@pytest.mark.parametrize("name", PROFILES)
def test_docs_show_each_profile_exactly_as_init_writes_it(name: str) -> None:
    assert _template_block(name) in PROFILES_DOC.read_text(encoding="utf-8")


def test_profile_quality(tmp_path: Path) -> None:
    path = profile_config(tmp_path, init_strategies(tmp_path), "quality")
    doc = explain(path, "--prompt", "hi")
    assert doc["candidates"] == [
        "cloud/dear",  # 0.95
        "plan/pro",  # 0.9
        "cloud/mid",  # 0.8, 30B
        "cloud/cheap",  # 0.8, size unknown
        "box/big",  # 0.7
        "box/small",  # 0.5
        "cloud/free",  # 0.3
        "plan/lite",  # unrated: by size, 30B
        "box/priced",  # 8B
        "cloud/unpriced",  # unrated, size unknown
    ]
    assert doc["left_out"] == []


def test_profile_balanced(tmp_path: Path) -> None:
    path = profile_config(tmp_path, init_strategies(tmp_path), "balanced")
    easy = explain(path, "--prompt", "What does HTTP 418 mean?")
    assert easy["route"] == "default"
    assert easy["candidates"] == [
        "box/big",  # 0, q0.7
        "box/small",  # 0, q0.5
        "cloud/free",  # 0, q0.3
        "box/priced",  # 0.1
        "cloud/cheap",  # 0.5
        "cloud/mid",  # 4
        "plan/pro",  # 18
        "cloud/dear",  # 20
        "cloud/unpriced",  # unknown price
        "plan/lite",
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    body = {"messages": [{"role": "user", "content": "call f"}], "tools": tools}
    hard = explain(path, "--request", request_file(tmp_path, body))
    assert hard["route"] == "hard"
    assert hard["candidates"] == [  # ranked like the quality profile
        "cloud/dear",
        "plan/pro",
        "cloud/mid",
        "cloud/cheap",
        "box/big",
        "box/small",
        "cloud/free",
        "plan/lite",
        "box/priced",
        "cloud/unpriced",
    ]


def test_profile_speed(tmp_path: Path) -> None:
    path = profile_config(tmp_path, init_strategies(tmp_path), "speed")
    cheapest = [
        "box/big",
        "box/small",
        "cloud/free",
        "box/priced",
        "cloud/cheap",
        "cloud/mid",
        "plan/pro",
        "cloud/dear",
        "cloud/unpriced",
        "plan/lite",
    ]
    assert explain(path, "--prompt", "hi")["candidates"] == cheapest  # nothing measured yet
    built = build(path)
    assert built.table is not None
    latency = {"plan/pro": 180.0, "cloud/cheap": 240.0, "box/big": 2500.0, "cloud/dear": 180.0}
    assert routed(built.table, latency) == [
        "plan/pro",  # 180 ms, 18
        "cloud/dear",  # 180 ms, 20
        "cloud/cheap",  # 240 ms
        "box/big",  # 2500 ms
        "box/small",  # not measured: by cost
        "cloud/free",
        "box/priced",
        "cloud/mid",
        "cloud/unpriced",
        "plan/lite",
    ]


def test_profile_budget(tmp_path: Path) -> None:
    path = profile_config(tmp_path, init_strategies(tmp_path), "budget")
    doc = explain(path, "--prompt", "hi")
    assert doc["candidates"] == [
        "box/big",  # local, 0
        "box/small",  # local, 0
        "box/priced",  # local, 0.1
        "plan/pro",  # subscription, 18
        "plan/lite",  # subscription, unknown price
        "cloud/free",  # api, 0
        "cloud/cheap",  # api, 0.5: under the $1/Mtok ceiling
    ]
    assert doc["left_out"] == [
        {"model": "cloud/mid", "reason": "filter false"},  # 4 > 1
        {"model": "cloud/dear", "reason": "filter false"},  # 20 > 1
        {"model": "cloud/unpriced", "reason": "filter false"},  # an API model of unknown price
    ]


def test_profile_long_context(tmp_path: Path) -> None:
    path = profile_config(tmp_path, init_strategies(tmp_path), "long-context")
    body = {"messages": [{"role": "user", "content": "lorem ipsum " * 13400}], "max_tokens": 2000}
    doc = explain(path, "--request", request_file(tmp_path, body))  # about 42k tokens
    assert doc["candidates"] == ["cloud/cheap", "plan/pro", "cloud/dear"]  # 128k, 1M, 200k
    left = {e["model"]: e["reason"] for e in doc["left_out"]}
    assert left == {
        m: "filter false"
        for m in (
            "box/big",  # 32k
            "box/small",  # 8k
            "box/priced",  # no known window
            "cloud/free",  # 4k
            "cloud/mid",  # no known window
            "cloud/unpriced",
            "plan/lite",
        )
    }
    short = explain(path, "--prompt", "hi")
    assert short["candidates"] == [
        "box/big",
        "box/small",
        "cloud/free",
        "cloud/cheap",
        "plan/pro",
        "cloud/dear",
    ]
