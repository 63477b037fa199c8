"""The compiler: golden tables for the example configs, determinism, immutability, robustness."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localrouter.compiler.build import build, build_document
from localrouter.compiler.dump import table_dict
from localrouter.config.source import SourceDocument, SpanIndex
from tests.conftest import CONFIGS, ROOT

GOLDEN_TABLES = ROOT / "tests" / "golden" / "tables"
EXAMPLES = sorted(
    p
    for p in CONFIGS.iterdir()
    # a directory is an example config when it holds YAML (`make run` leaves logs/ beside demo)
    if (p.suffix == ".yaml" or (p.is_dir() and any(p.glob("*.yaml")))) and p.name != "legacy-v1"
)
HASH = "$2b$04$" + "a" * 53  # shape-valid bcrypt; compile never verifies keys


@pytest.mark.parametrize("config", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_table_matches_golden(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = build(config.relative_to(ROOT))
    assert result.table is not None, result.diagnostics
    assert not result.diagnostics, "example configs validate without warnings"
    got = json.dumps(table_dict(result.table), indent=2, sort_keys=True) + "\n"
    golden = GOLDEN_TABLES / f"{config.stem}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(got, encoding="utf-8")
    assert got == golden.read_text(encoding="utf-8")


def test_table_is_immutable() -> None:
    table = build(CONFIGS / "demo.yaml").table
    assert table is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.sha256 = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        table.clients["x"] = table.clients["demo"]  # type: ignore[index]
    strategy = table.strategies["smart"]
    assert isinstance(strategy.default.candidates, tuple)


def test_comments_and_layout_do_not_change_the_sha(tmp_path: Path) -> None:
    text = (CONFIGS / "demo.yaml").read_text(encoding="utf-8")
    a = tmp_path / "a.yaml"
    a.write_text(text, encoding="utf-8")
    b = tmp_path / "b.yaml"
    b.write_text(
        "# another comment\n\n" + text.replace("  port: 3625", "  port:   3625  # same"),
        encoding="utf-8",
    )
    ta, tb = build(a).table, build(b).table
    assert ta is not None and tb is not None
    assert ta.sha256 == tb.sha256
    c = tmp_path / "c.yaml"
    c.write_text(text.replace("port: 3625", "port: 3626"), encoding="utf-8")
    tc = build(c).table
    assert tc is not None and tc.sha256 != ta.sha256


# ------------------------------------------------------------------ generated configs

names = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
price = st.one_of(st.none(), st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 3)))
order_keys = st.lists(
    st.sampled_from(
        [
            "lowest_cost",
            "highest_performance",
            "lowest_latency",
            "highest_quality",
            "local_first",
            "remote_first",
            "subscription_first",
            "api_first",
        ]
    ),
    max_size=3,
    unique=True,
)


@st.composite
def valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    providers = {}
    all_models = []
    for p in draw(st.lists(names, min_size=1, max_size=4, unique=True)):
        models = {}
        for m in draw(st.lists(names, min_size=1, max_size=5, unique=True)):
            models[m] = {
                "input_per_mtok": draw(price),
                "output_per_mtok": draw(price),
                "params_b": draw(st.sampled_from([None, 3, 7, 70])),
            }
            models[m] = {k: v for k, v in models[m].items() if v is not None}
            all_models.append(f"{p}/{m}")
        providers[p] = {
            "type": draw(st.sampled_from(["mock", "ollama"])),
            "models": models,
            "discover": False,
        }
    refs = st.sampled_from([*all_models, "*", *(f"{p}/*" for p in providers)])
    strategies = {}
    for s in draw(st.lists(names, min_size=1, max_size=3, unique=True)):
        strategies[s] = {
            "models": draw(st.lists(refs, min_size=1, max_size=4, unique=True)),
            "order": draw(order_keys),
        }
        if draw(st.booleans()):
            strategies[s]["routes"] = [
                {"when": "request.has_tools || request.complexity > 0.5", "models": [draw(refs)]}
            ]
    clients = {}
    for i, c in enumerate(draw(st.lists(names, max_size=3, unique=True))):
        clients[c] = {
            "key_prefix": f"lr-{i:08d}",
            "key_hash": HASH,
            "strategy": draw(st.sampled_from(sorted(strategies))),
        }
    return {"version": 2, "providers": providers, "strategies": strategies, "clients": clients}


def _doc(data: dict[str, Any]) -> SourceDocument:
    return SourceDocument(json.loads(json.dumps(data)), SpanIndex(), {}, Path("."), Path("."))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_configs())
def test_generated_configs_compile_deterministically(data: dict[str, Any]) -> None:
    first = build_document(_doc(data))
    second = build_document(_doc(data))
    assert first.table is not None, first.diagnostics
    assert second.table is not None
    assert first.table.sha256 == second.table.sha256
    assert table_dict(first.table) == table_dict(second.table)
    for strategy in first.table.strategies.values():
        ids = [m.id for m in strategy.default.candidates]
        assert len(ids) == len(set(ids)), "each candidate once"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**6)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
sections = st.sampled_from(
    [
        "version",
        "server",
        "providers",
        "strategies",
        "clients",
        "tests",
        "health",
        "logging",
        "state_dir",
        "mcp_servers",
        "routers",
        "api_keys",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(sections, json_values, max_size=6), valid_configs())
def test_compile_never_raises_on_arbitrary_input(
    junk: dict[str, Any], base: dict[str, Any]
) -> None:
    for data in (junk, {**base, **junk}):
        result = build_document(_doc(data))  # must return diagnostics, never raise
        assert result.table is not None or any(d.is_error for d in result.diagnostics)


@pytest.mark.parametrize("config", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_schema_and_models_agree_on_the_examples(config: Path) -> None:
    """validate trusts pydantic (strict) for valid configs; the JSON Schema must agree."""
    from localrouter.config.schema_check import _valid_fast, validator
    from localrouter.config.source import load

    doc, _ = load(config)
    assert doc is not None
    assert _valid_fast(doc.data)
    assert not list(validator().iter_errors(doc.data))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(sections, json_values, max_size=6), valid_configs())
def test_fast_validation_never_accepts_what_the_schema_rejects(
    junk: dict[str, Any], base: dict[str, Any]
) -> None:
    from localrouter.config.schema_check import _valid_fast, validator

    for data in (base, {**base, **junk}):
        data = json.loads(json.dumps(data))
        if _valid_fast(data):
            assert not list(validator().iter_errors(data)), data


def test_presets_fill_base_url_and_kind(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 2\nproviders:\n"
        "  groq: {type: openai-compatible, preset: groq, api_key: '${env:GROQ_API_KEY}'}\n"
        "  gpu: {type: openai-compatible, preset: vllm}\n"
        "  own: {type: openai-compatible, preset: groq, base_url: 'https://proxy.example/v1'}\n",
        encoding="utf-8",
    )
    table = build(path).table
    assert table is not None
    assert table.providers["groq"].base_url == "https://api.groq.com/openai/v1"
    assert table.providers["groq"].kind == "api"
    assert table.providers["gpu"].base_url == "http://localhost:8000/v1"
    assert table.providers["gpu"].kind == "local"
    assert table.providers["own"].base_url == "https://proxy.example/v1"
