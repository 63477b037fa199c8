"""Version-1 (the seed's legacy layout) → version-2 migration: localrouter.config.migrate."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any
from unittest import mock

import bcrypt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from localrouter.config import migrate_rules as migrate
from localrouter.config.migrate import MigrationResult, looks_like_v1, migrate_v1, render_v2

EXAMPLE = Path(__file__).resolve().parent.parent / "configs" / "legacy-v1"
KEYS = {
    "cursor": "lr-sIPOpWOFMUphSEgKyb4hgvbdZNWjZhDNzfLAAsXaNHw",
    "nightly-ci": "lr-o76lzjDEJuDGb66hqAZ7mvDxXnfms3cWOFXzljKYem4",
    "my-app-1": "lr-orYYmFIMav8Ee5ua-yz5tjHNukiLSwEaYf4o2Eo1z4M",
}
BCRYPT = re.compile(r"^\$2b\$12\$[./A-Za-z0-9]{53}$")
A_HASH = bcrypt.hashpw(b"lr-hashed-only-key-0000000000000000000000000", bcrypt.gensalt(4)).decode()


def fast_hash(key: str) -> str:
    """Stands in for the cost-12 hash where many keys are hashed (same errors, ~1 ms)."""
    return bcrypt.hashpw(key.encode(), b"$2b$04$" + b"." * 22).decode()


def load_example() -> dict[str, Any]:
    """The example directory merged section by section, as the loader does."""
    merged: dict[str, Any] = {}
    for path in sorted(EXAMPLE.glob("*.yaml")):
        merged.update(YAML(typ="safe").load(path.read_text()))
    return merged


def parse(text: str) -> Any:
    return YAML().load(text)


def v1(**sections: Any) -> dict[str, Any]:
    return {"version": 1, **sections}


def one_router(**router: Any) -> MigrationResult:
    providers = [
        {"name": "Ollama", "provider_type": "ollama"},
        {"name": "OpenAI", "provider_type": "openai"},
        {"name": "Old", "provider_type": "openai", "enabled": False},
    ]
    return migrate_v1(v1(providers=providers, routers=[{"name": "r", **router}]))


def limit_of(entry: dict[str, Any]) -> tuple[list[Any], list[Any], tuple[str, ...]]:
    result = one_router(model_selection={"type": "automatic"}, rate_limiters=[entry])
    strategy = result.data["strategies"]["r"]
    return strategy.get("limits", []), strategy.get("rate_limiters", []), result.notes


@pytest.fixture(scope="module")
def example() -> MigrationResult:
    return migrate_v1(load_example())


# -- the example ----------------------------------------------------------------------------------


def test_example_is_v1() -> None:
    assert looks_like_v1(load_example())


def test_example_version_first(example: MigrationResult) -> None:
    assert next(iter(example.data)) == "version"
    assert example.data["version"] == 2


def test_example_server_and_logging(example: MigrationResult) -> None:
    assert example.data["server"] == {"host": "127.0.0.1", "port": 3625}
    assert example.data["logging"] == {"level": "warning", "access_log": True, "retention_days": 14}


def test_example_providers(example: MigrationResult) -> None:
    assert example.data["providers"] == {
        "ollama": {
            "type": "ollama",
            "base_url": "http://localhost:11434",
            "timeout": {"read_s": 120},
        },
        "openai": {"type": "openai", "api_key": "${keyring:openai}"},
        "anthropic": {"type": "anthropic", "api_key": "${keyring:anthropic}"},
        "groq": {
            "type": "openai-compatible",
            "base_url": "https://api.groq.com/openai/v1",
            "api_key": "${keyring:groq}",
            "limits": [{"requests": 30, "per": "1m"}],
        },
    }
    assert any("openrouter" in n and "disabled" in n for n in example.notes)


def test_example_strategies(example: MigrationResult) -> None:
    assert example.data["strategies"] == {
        "minimum-cost": {"models": ["*"], "order": ["local_first", "lowest_cost"]},
        "maximum-performance": {
            "models": ["*"],
            "params_b": {"min": 7.0},
            "order": ["highest_performance"],
            "limits": [{"cost_usd": 5.0, "per": "1d"}],
        },
        "coding": {
            "models": [
                "ollama/qwen2.5-coder:7b",
                "anthropic/claude-sonnet-4-5",
                "openai/gpt-4o",
            ],
            "limits": [{"requests": 600, "per": "1h"}, {"cost_usd": 20, "per": "30d"}],
        },
        "cheap-cloud": {
            "models": ["groq/*", "openai/gpt-4o-mini", "openai/gpt-4.1-mini"],
            "exclude": ["groq/llama-guard-3-8b"],
            "order": ["lowest_cost", "api_first"],
            "fallback": {"attempts": 1},
            "limits": [{"total_tokens": 2000000, "per": "1d"}],
        },
    }


def test_example_clients(example: MigrationResult) -> None:
    clients = example.data["clients"]
    assert {
        name: {k: v for k, v in c.items() if k != "key_hash"} for name, c in clients.items()
    } == {
        "cursor": {
            "key_prefix": "lr-sIPOpWOF",
            "strategy": "coding",
            "enabled": True,
            "limits": [{"requests": 60, "per": "1m"}],
        },
        "nightly-ci": {
            "key_prefix": "lr-o76lzjDE",
            "model": "openai/gpt-4o-mini",
            "enabled": False,
        },
        "my-app-1": {
            "key_prefix": "lr-orYYmFIM",
            "strategy": "minimum-cost",
            "enabled": True,
            "limits": [{"input_tokens": 500000, "per": "1d"}],
        },
    }
    for name, key in KEYS.items():
        assert BCRYPT.match(clients[name]["key_hash"])
        assert bcrypt.checkpw(key.encode(), clients[name]["key_hash"].encode())


def test_example_matches_the_schema(example: MigrationResult) -> None:
    spec = pytest.importorskip("localrouter.config.spec")
    spec.ConfigSpec.model_validate(example.data)
    for section in ("providers", "strategies", "clients"):
        assert all(re.match(spec.NAME_PATTERN, name) for name in example.data[section])


def test_example_directory_loads_as_v1() -> None:
    source = pytest.importorskip("localrouter.config.source")
    if not hasattr(source, "load"):
        pytest.skip("the loader has no load() yet")
    doc, diagnostics = source.load(EXAMPLE)
    assert doc is not None and not diagnostics
    assert looks_like_v1(doc.data)


def test_example_compiles_to_the_same_table_as_its_migration(tmp_path: Path) -> None:
    build = pytest.importorskip("localrouter.compiler.build")
    legacy = build.build(EXAMPLE)
    (tmp_path / "routers.yaml").write_text(render_v2(migrate_v1(load_example()), source="x"))
    migrated = build.build(tmp_path / "routers.yaml")
    assert legacy.ok and migrated.ok, [
        d.message for d in (*legacy.diagnostics, *migrated.diagnostics)
    ]
    assert legacy.legacy and not migrated.legacy
    assert legacy.table.sha256 == migrated.table.sha256


def test_example_renders_and_parses_back(example: MigrationResult) -> None:
    text = render_v2(example, source="configs/legacy-v1")
    assert parse(text) == example.data
    assert text.startswith("# Migrated from version 1 by `localrouter migrate` (configs/legacy-v1)")
    assert "\n\nproviders:\n" in text and "\n\nclients:\n" in text
    for note in example.notes:
        assert f"#   - {note}\n" in text


def test_example_is_deterministic(example: MigrationResult) -> None:
    again = migrate_v1(load_example())
    assert again == example
    assert render_v2(again, source="x") == render_v2(example, source="x")


def test_example_never_writes_a_plaintext_key(example: MigrationResult) -> None:
    text = render_v2(example, source="configs/legacy-v1")
    for key in KEYS.values():
        assert key not in text
        assert key[11:] not in text


def test_example_origins(example: MigrationResult) -> None:
    origins = example.origins
    assert origins[("providers", "groq")] == ("providers", 3)
    assert origins[("strategies", "coding")] == ("routers", 2)
    assert origins[("strategies", "coding", "limits", 1)] == ("routers", 2, "rate_limiters", 1)
    assert origins[("clients", "my-app-1")] == ("api_keys", 2)
    assert origins[("clients", "cursor", "limits", 0)] == ("rate_limiters", 0)
    assert origins[("providers", "groq", "limits", 0)] == ("rate_limiters", 2)
    for section in ("providers", "strategies", "clients"):
        for name, body in example.data[section].items():
            assert (section, name) in origins
            for i in range(len(body.get("limits", []))):
                assert (section, name, "limits", i) in origins


# -- detection ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"version": 1}, True),
        ({"version": "1"}, True),
        ({"version": 2, "routers": []}, False),
        ({"version": True, "routers": []}, False),
        ({"routers": []}, True),
        ({"api_keys": []}, True),
        ({"settings": {}}, True),
        ({"rate_limiters": []}, True),
        ({"providers": [{"name": "x"}]}, True),
        ({"providers": {"x": {"type": "mock"}}}, False),
        ({}, False),
        ([], False),
    ],
)
def test_looks_like_v1(doc: Any, expected: bool) -> None:
    assert looks_like_v1(doc) is expected


# -- routers → strategies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "order"),
    [
        (["lowest_cost", "local_first"], ["lowest_cost", "local_first"]),
        (["cost", "performance", "local"], ["lowest_cost", "highest_performance", "local_first"]),
        (["LowestCost", "ApiFirst"], ["lowest_cost", "api_first"]),
        ("latency", ["lowest_latency"]),
        (
            ["quality", "remote", "subscription"],
            ["highest_quality", "remote_first", "subscription_first"],
        ),
    ],
)
def test_automatic_order(rules: Any, order: list[str]) -> None:
    result = one_router(model_selection={"type": "automatic", "providers": []}, strategies=rules)
    assert result.data["strategies"]["r"] == {"models": ["*"], "order": order}


def test_automatic_criteria_and_unknown_rules() -> None:
    result = one_router(model_selection={"type": "automatic"}, criteria=["cost", "vibes"])
    assert result.data["strategies"]["r"]["order"] == ["lowest_cost"]
    assert any("unknown routing strategies" in n for n in result.notes)


def test_automatic_provider_filters_and_parameters() -> None:
    sel = {
        "type": "automatic",
        "providers": [
            {"provider_name": "OpenAI", "include_models": ["gpt-4o"], "exclude_models": []},
            {"provider_name": "ollama", "exclude_models": ["llama2"]},
            "Old",
        ],
        "min_parameters": 7_000_000_000,
        "max_parameters": 70,
    }
    result = one_router(model_selection=sel)
    assert result.data["strategies"]["r"] == {
        "models": ["openai/gpt-4o", "ollama/*"],
        "exclude": ["ollama/llama2"],
        "params_b": {"min": 7.0, "max": 70},
    }
    assert any("no enabled provider" in n for n in result.notes)


def test_automatic_without_rules_has_no_order() -> None:
    result = one_router(model_selection={"type": "automatic"})
    assert result.data["strategies"]["r"] == {"models": ["*"]}


def test_manual_keeps_listed_order_without_order_key() -> None:
    models = [["OpenAI", "gpt-4o"], "Ollama/llama3", {"provider": "openai", "model": "o1"}]
    result = one_router(model_selection={"type": "manual", "models": models}, strategies=["cost"])
    assert result.data["strategies"]["r"] == {
        "models": ["openai/gpt-4o", "ollama/llama3", "openai/o1"],
    }
    assert any("manual selection keeps its listed order" in n for n in result.notes)


def test_manual_drops_models_of_disabled_or_malformed_entries() -> None:
    models = [["Old", "gpt-4"], ["Ollama"], 42, ["Ollama", "qwen"]]
    result = one_router(model_selection={"type": "manual", "models": models})
    assert result.data["strategies"]["r"]["models"] == ["ollama/qwen"]
    assert any("were left out" in n for n in result.notes)


def test_unknown_selection_is_carried_over() -> None:
    result = one_router(model_selection={"type": "telepathic"})
    assert result.data["strategies"]["r"] == {"model_selection": {"type": "telepathic"}}
    assert result.origins[("strategies", "r")] == ("routers", 0)
    assert any("not automatic or manual" in n for n in result.notes)


def test_fallback_disabled() -> None:
    result = one_router(model_selection={"type": "automatic"}, fallback_enabled=False)
    assert result.data["strategies"]["r"]["fallback"] == {"attempts": 1}


def test_top_level_strategies_list_reads_like_routers() -> None:
    result = migrate_v1({"strategies": [{"name": "S", "model_selection": {"type": "automatic"}}]})
    assert result.data["strategies"] == {"s": {"models": ["*"]}}
    assert result.origins[("strategies", "s")] == ("strategies", 0)


# -- limits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit_type", "value", "expected"),
    [
        ("requests", 60, {"requests": 60}),
        ("input_tokens", 1000, {"input_tokens": 1000}),
        ("output_tokens", 2000.0, {"output_tokens": 2000}),
        ("total_tokens", 3000, {"total_tokens": 3000}),
        ("cost", 2.5, {"cost_usd": 2.5}),
        ("cost_usd", 3, {"cost_usd": 3}),
        ("TotalTokens", 5, {"total_tokens": 5}),
        ("Requests", 1, {"requests": 1}),
        ("Cost", 0, {"cost_usd": 0}),
    ],
)
def test_limit_types(limit_type: str, value: float, expected: dict[str, Any]) -> None:
    limits, kept, _ = limit_of(
        {"limit_type": limit_type, "value": value, "time_window_seconds": 60}
    )
    assert limits == [{**expected, "per": "1m"}] and kept == []


@pytest.mark.parametrize(
    ("window", "per"),
    [
        ({"time_window_seconds": 1}, "1s"),
        ({"time_window_seconds": 90}, "90s"),
        ({"time_window_seconds": 60}, "1m"),
        ({"time_window_seconds": 3600}, "1h"),
        ({"time_window_seconds": 5400}, "90m"),
        ({"time_window_seconds": 86400}, "1d"),
        ({"time_window_seconds": 2592000}, "30d"),
        ({"time_window_seconds": 366 * 86400}, "366d"),
        ({"time_window_secs": 7200}, "2h"),
        ({"time_window": "minute"}, "1m"),
        ({"time_window": "hour"}, "1h"),
        ({"time_window": "day"}, "1d"),
        ({"time_window": "week"}, "7d"),
        ({"time_window": 120}, "2m"),
        ({"time_window": "30m"}, "30m"),
        ({"time_window": "2 hours"}, "2h"),
        ({"time_window": {"secs": 60, "nanos": 0}}, "1m"),
        ({"per": "1d"}, "1d"),
    ],
)
def test_time_windows(window: dict[str, Any], per: str) -> None:
    limits, _, _ = limit_of({"limit_type": "requests", "value": 5, **window})
    assert limits == [{"requests": 5, "per": per}]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"limit_type": "vibes", "value": 1, "time_window": "day"}, "unknown limit_type 'vibes'"),
        ({"value": 1, "time_window": "day"}, "no limit_type"),
        ({"limit_type": "requests", "value": -1, "time_window": "day"}, "no usable value"),
        ({"limit_type": "requests", "value": "ten", "time_window": "day"}, "no usable value"),
        ({"limit_type": "requests", "value": True, "time_window": "day"}, "no usable value"),
        ({"limit_type": "requests", "value": float("inf"), "time_window": "day"}, "no usable"),
        ({"limit_type": "requests", "value": 1}, "time window is missing"),
        ({"limit_type": "requests", "value": 1, "time_window_seconds": 0}, "time window"),
        ({"limit_type": "requests", "value": 1, "time_window": 366 * 86400 + 1}, "time window"),
        ({"limit_type": "requests", "value": 1, "time_window": "fortnight"}, "time window"),
        ({"limit_type": "requests", "value": 1, "time_window": 1.5}, "time window"),
        ({"limit_type": "requests", "value": 1, "time_window": "1ms"}, "time window"),
    ],
)
def test_unreadable_limits_are_carried_over(entry: dict[str, Any], message: str) -> None:
    limits, kept, notes = limit_of(entry)
    assert limits == [] and kept == [entry]
    assert any(message in n for n in notes)


def test_unreadable_limit_keeps_its_origin() -> None:
    result = one_router(model_selection={"type": "automatic"}, rate_limiters=[{"x": 1}])
    assert result.origins[("strategies", "r", "rate_limiters", 0)] == (
        "routers",
        0,
        "rate_limiters",
        0,
    )


def test_fractional_counts_round_down() -> None:
    limits, _, notes = limit_of({"limit_type": "requests", "value": 10.7, "time_window": "hour"})
    assert limits == [{"requests": 10, "per": "1h"}]
    assert any("rounded down" in n for n in notes)


def test_top_level_rate_limiters_find_their_scope() -> None:
    doc = v1(
        providers=[
            {"name": "P", "provider_type": "ollama"},
            {"name": "Off", "provider_type": "ollama", "enabled": False},
        ],
        routers=[{"name": "R", "model_selection": {"type": "automatic"}}],
        api_keys=[
            {"id": "k-1", "name": "K", "key": "lr-aaaaaaaaaaaaaaaa", "router_name": "R"},
            {"name": "Gone", "router_name": "R"},
        ],
        rate_limiters=[
            {"router_name": "r", "limit_type": "requests", "value": 1, "time_window": "day"},
            {"api_key_id": "k-1", "limit_type": "cost", "value": 1, "time_window": "day"},
            {"provider": "P", "limit_type": "requests", "value": 2, "time_window": "1h"},
            {"provider": "Off", "limit_type": "requests", "value": 2, "time_window": "1h"},
            {"api_key": "Gone", "limit_type": "requests", "value": 2, "time_window": "1h"},
            {"api_key": "nobody", "limit_type": "requests", "value": 3, "time_window": "1h"},
            {"limit_type": "requests", "value": 4, "time_window": "1h"},
        ],
    )
    with mock.patch.object(migrate, "_hash_key", fast_hash):
        result = migrate_v1(doc)
    data = result.data
    assert data["strategies"]["r"]["limits"] == [{"requests": 1, "per": "1d"}]
    assert data["clients"]["k"]["limits"] == [{"cost_usd": 1, "per": "1d"}]
    assert data["providers"]["p"]["limits"] == [{"requests": 2, "per": "1h"}]
    assert data["rate_limiters"] == [doc["rate_limiters"][5], doc["rate_limiters"][6]]
    assert result.origins[("rate_limiters", 1)] == ("rate_limiters", 6)
    assert sum("which was left out; dropped" in n for n in result.notes) == 2


# -- api keys → clients ---------------------------------------------------------------------------


def clients_of(*keys: dict[str, Any]) -> MigrationResult:
    routers = [{"name": "Main", "model_selection": {"type": "automatic"}}]
    providers = [{"name": "OpenAI", "provider_type": "openai"}]
    with mock.patch.object(migrate, "_hash_key", fast_hash):
        return migrate_v1(v1(providers=providers, routers=routers, api_keys=list(keys)))


def test_plaintext_key_is_hashed_deterministically() -> None:
    key = "lr-" + "A" * 43
    first = migrate_v1(v1(api_keys=[{"name": "a", "key": key, "router_name": "x"}]))
    second = migrate_v1(v1(api_keys=[{"name": "a", "key": key, "router_name": "x"}]))
    hashed = first.data["clients"]["a"]["key_hash"]
    assert hashed == second.data["clients"]["a"]["key_hash"]
    assert BCRYPT.match(hashed) and bcrypt.checkpw(key.encode(), hashed.encode())
    assert first.data["clients"]["a"]["key_prefix"] == "lr-AAAAAAAA"


def test_a_stored_hash_wins_over_rehashing_the_plaintext() -> None:
    result = clients_of({"name": "both", "key": "lr-hashed-only-key", "key_hash": A_HASH})
    assert result.data["clients"]["both"]["key_hash"] == A_HASH
    assert result.data["clients"]["both"]["key_prefix"] == "lr-hashed-o"


def test_different_keys_get_different_salts() -> None:
    a, b = migrate._hash_key("lr-one"), migrate._hash_key("lr-two")
    assert a[:29] != b[:29]


def test_disabled_and_default_enabled() -> None:
    result = clients_of(
        {"name": "on", "key": "lr-1111111111", "router_name": "Main"},
        {"name": "off", "key": "lr-2222222222", "router_name": "Main", "enabled": False},
    )
    assert result.data["clients"]["on"]["enabled"] is True
    assert result.data["clients"]["off"]["enabled"] is False
    assert result.data["clients"]["off"]["strategy"] == "main"


def test_direct_model_and_plain_model() -> None:
    result = clients_of(
        {
            "name": "a",
            "key": "lr-1111111111",
            "model_selection": {"type": "direct_model", "provider": "OpenAI", "model": "gpt-4o"},
        },
        {"name": "b", "key": "lr-2222222222", "model": "openai/o1"},
        {"name": "c", "key": "lr-3333333333", "strategy": "main"},
    )
    assert result.data["clients"]["a"]["model"] == "openai/gpt-4o"
    assert result.data["clients"]["b"]["model"] == "openai/o1"
    assert result.data["clients"]["c"]["strategy"] == "main"


def test_stored_hash_is_kept() -> None:
    result = clients_of(
        {"name": "h", "key_hash": A_HASH, "router_name": "Main"},
        {"name": "p", "key_hash": A_HASH, "key_prefix": "lr-hashedon", "router_name": "Main"},
        {"name": "k", "key": A_HASH, "router_name": "Main"},
    )
    clients = result.data["clients"]
    assert clients["h"] == {"key_hash": A_HASH, "strategy": "main", "enabled": True}
    assert clients["p"]["key_prefix"] == "lr-hashedon" and clients["p"]["key_hash"] == A_HASH
    assert clients["k"]["key_hash"] == A_HASH
    assert list(clients["p"]) == ["key_prefix", "key_hash", "strategy", "enabled"]
    assert any("only a hash was stored" in n and "'h'" in n for n in result.notes)


def test_keys_without_material_are_left_out_with_a_recreate_hint() -> None:
    result = clients_of(
        {"name": "nokey", "router_name": "Main"},
        {"name": "sha", "key_hash": "deadbeef" * 8, "router_name": "Main"},
    )
    assert "clients" not in result.data
    assert any("`localrouter keys create nokey --strategy main`" in n for n in result.notes)
    assert any("not a bcrypt hash" in n for n in result.notes)
    assert "deadbeef" not in render_v2(result, source="x")


def test_unhashable_key_is_never_written() -> None:
    long_key = "lr-" + "x" * 80
    result = migrate_v1(v1(api_keys=[{"name": "long", "key": long_key, "router_name": "r"}]))
    assert "clients" not in result.data
    assert any("72 bytes" in n for n in result.notes)
    assert long_key[:20] not in render_v2(result, source="x")


@pytest.mark.parametrize("key", ["sk-test-123456", "lr-short", "lr-has space in it"])
def test_keys_version_2_cannot_look_up_are_left_out(key: str) -> None:
    result = clients_of({"name": "old", "key": key, "router_name": "Main"})
    assert "clients" not in result.data
    assert any("only accepts `lr-` keys" in n for n in result.notes)
    assert any("`localrouter keys create old --strategy main`" in n for n in result.notes)
    assert key not in render_v2(result, source="x")


def test_malformed_api_keys_are_never_copied() -> None:
    result = migrate_v1(v1(api_keys={"ci": {"key": "lr-secret-value-here"}}))
    assert result.data["api_keys"] == []
    assert "lr-secret" not in render_v2(result, source="x")
    result = migrate_v1(v1(api_keys=["lr-secret-value-here", {"name": "x"}]))
    assert "lr-secret" not in render_v2(result, source="x")
    assert any("not mappings were skipped" in n for n in result.notes)


def test_unknown_client_fields_are_dropped_with_a_note() -> None:
    result = clients_of(
        {"name": "c", "key": "lr-1111111111", "router_name": "Main", "colour": "red"}
    )
    assert "colour" not in result.data["clients"]["c"]
    assert any("colour not migrated" in n for n in result.notes)


# -- providers, names, settings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("v1_type", "v2"),
    [
        ("ollama", {"type": "ollama"}),
        ("open_a_i", {"type": "openai", "api_key": "${keyring:p}"}),
        ("OpenAI", {"type": "openai", "api_key": "${keyring:p}"}),
        ("open_router", {"type": "openrouter", "api_key": "${keyring:p}"}),
        ("anthropic", {"type": "anthropic", "api_key": "${keyring:p}"}),
        ("gemini", {"type": "gemini", "api_key": "${keyring:p}"}),
        ("lm_studio", {"type": "lmstudio"}),
        ("mock", {"type": "mock"}),
        ("openai-compatible", {"type": "openai-compatible"}),
        (
            "together_a_i",
            {
                "type": "openai-compatible",
                "base_url": "https://api.together.xyz/v1",
                "api_key": "${keyring:p}",
            },
        ),
        (
            "x_a_i",
            {
                "type": "openai-compatible",
                "base_url": "https://api.x.ai/v1",
                "api_key": "${keyring:p}",
            },
        ),
    ],
)
def test_provider_types(v1_type: str, v2: dict[str, Any]) -> None:
    result = migrate_v1(v1(providers=[{"name": "p", "provider_type": v1_type}]))
    assert result.data["providers"]["p"] == v2


def test_custom_provider_and_unknown_type() -> None:
    providers = [
        {"name": "vllm", "provider_type": "custom", "endpoint": "http://127.0.0.1:8000/v1"},
        {"name": "bed", "provider_type": "bedrock", "organization": "org-1"},
    ]
    result = migrate_v1(v1(providers=providers))
    assert result.data["providers"]["vllm"] == {
        "type": "openai-compatible",
        "base_url": "http://127.0.0.1:8000/v1",
    }
    assert result.data["providers"]["bed"] == {"type": "bedrock"}
    assert any("unknown provider_type 'bedrock'" in n for n in result.notes)
    assert any("organization not migrated" in n for n in result.notes)


def test_provider_secrets() -> None:
    providers = [
        {
            "name": "a",
            "provider_type": "openai",
            "provider_config": {"api_key": "${env:OPENAI_KEY}"},
        },
        {"name": "b", "provider_type": "anthropic", "api_key": "sk-ant-literal-secret"},
    ]
    result = migrate_v1(v1(providers=providers))
    assert result.data["providers"]["a"]["api_key"] == "${env:OPENAI_KEY}"
    assert result.data["providers"]["b"]["api_key"] == "${keyring:b}"
    assert "sk-ant-literal-secret" not in render_v2(result, source="x")
    assert any("secrets set NAME` for b" in n for n in result.notes)


def test_provider_config_fields() -> None:
    conf = {"base_url": "http://gpu:11434", "timeout_seconds": 30, "extra_headers": {"X-A": "1"}}
    result = migrate_v1(
        v1(providers=[{"name": "o", "provider_type": "ollama", "provider_config": conf}])
    )
    assert result.data["providers"]["o"] == {
        "type": "ollama",
        "base_url": "http://gpu:11434",
        "timeout": {"read_s": 30},
        "headers": {"X-A": "1"},
    }


def test_names_are_slugged_unique_and_resolved() -> None:
    providers = [
        {"name": "My GPU!", "provider_type": "ollama"},
        {"name": "my-gpu", "provider_type": "ollama"},
    ]
    routers = [
        {"name": "Fast One", "model_selection": {"type": "manual", "models": [["my gpu!", "m"]]}},
        {"name": "fast one", "model_selection": {"type": "automatic"}},
        {"model_selection": {"type": "automatic"}},
    ]
    result = migrate_v1(v1(providers=providers, routers=routers))
    assert list(result.data["providers"]) == ["my-gpu", "my-gpu-2"]
    assert list(result.data["strategies"]) == ["fast-one", "fast-one-2", "router-2"]
    assert result.data["strategies"]["fast-one"]["models"] == ["my-gpu/m"]
    assert any("'My GPU!' → 'my-gpu'" in n for n in result.notes)


def test_settings_container_and_cors() -> None:
    settings = {
        "server": {"host": "0.0.0.0", "port": 3000, "enable_cors": False},
        "logging": {"level": "trace", "log_dir": "/var/log/lr"},
        "theme": "dark",
    }
    result = migrate_v1({"settings": settings, "routers": []})
    assert result.data["server"] == {"host": "0.0.0.0", "port": 3000, "cors_origins": []}
    assert result.data["logging"] == {"level": "debug"}
    assert result.origins[("server",)] == ("settings", "server")
    assert any("log_dir not migrated" in n for n in result.notes)
    assert any("settings: theme not migrated" in n for n in result.notes)


def test_other_sections() -> None:
    doc = v1(
        routers=[],
        mcp_servers={"time": {"transport": "stdio", "command": ["t"]}},
        oauth_clients=[{"name": "x"}],
        tests=[],
    )
    result = migrate_v1(doc)
    assert result.data["mcp_servers"] == doc["mcp_servers"]
    assert result.data["oauth_clients"] == [{"name": "x"}]
    assert result.origins[("oauth_clients",)] == ("oauth_clients",)
    notes = " ".join(result.notes)
    assert "`oauth_clients` is not part of version 1" in notes and "mcp_servers" not in notes


@pytest.mark.parametrize(
    "doc",
    [
        {"providers": "ollama"},
        {"routers": 5, "api_keys": None},
        {"version": 1, "settings": ["x"], "server": "here", "logging": 3},
        {
            "routers": [
                {"name": 3, "model_selection": [1], "strategies": {"a": 1}, "rate_limiters": "x"}
            ]
        },
        {
            "providers": [
                {"name": None, "provider_type": ["x"], "provider_config": 5, "enabled": "no"}
            ]
        },
        {"api_keys": [{"name": {}, "key": 5, "key_hash": 7, "model_selection": "router"}]},
        {"rate_limiters": [{"api_key": ["x"], "value": {}}]},
        {
            "routers": [
                {
                    "model_selection": {
                        "type": "automatic",
                        "providers": {"provider_name": 1},
                        "min_parameters": "big",
                    }
                }
            ]
        },
    ],
)
def test_malformed_input_gives_notes_not_exceptions(doc: dict[str, Any]) -> None:
    result = migrate_v1(doc)
    assert result.data["version"] == 2 and result.notes
    json.dumps(result.data)
    assert parse(render_v2(result, source="bad.yaml")) == result.data


def test_huge_and_odd_numbers() -> None:
    huge = 10**400
    limits = [
        {"limit_type": "requests", "value": huge, "time_window_seconds": huge},
        {"limit_type": "requests", "value": 1e308 * 10, "time_window": float("nan")},
        {"limit_type": "requests", "value": huge, "time_window": 60},
    ]
    sel = {"type": "automatic", "min_parameters": huge, "max_parameters": float("inf")}
    result = one_router(model_selection=sel, rate_limiters=limits)
    strategy = result.data["strategies"]["r"]
    assert "params_b" not in strategy
    assert strategy["limits"] == [{"requests": huge, "per": "1m"}]
    assert len(strategy["rate_limiters"]) == 2


def test_not_a_mapping() -> None:
    result = migrate_v1(["routers"])  # type: ignore[arg-type]
    assert result.data == {"version": 2} and result.notes


# -- render ---------------------------------------------------------------------------------------


def test_render_keeps_hashes_on_one_line_and_sanitises_the_source() -> None:
    result = MigrationResult(
        {"version": 2, "x": {"h": "$2b$12$" + "a" * 53 + "x" * 100}}, ("a\nb",), {}
    )
    text = render_v2(result, source="two\nlines.yaml")
    assert (
        text.splitlines()[0]
        == "# Migrated from version 1 by `localrouter migrate` (two lines.yaml)"
    )
    assert "#   - a b\n" in text
    assert any(len(line) > 150 for line in text.splitlines())
    assert parse(text) == result.data


# -- properties -----------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_like = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
V1_WORDS = [
    "version", "settings", "server", "logging", "providers", "routers", "api_keys", "rate_limiters",
    "strategies", "name", "id", "provider_type", "enabled", "provider_config", "model_selection",
    "type", "automatic", "manual", "models", "providers", "provider_name", "include_models",
    "limit_type", "value", "time_window", "time_window_seconds", "requests", "cost", "key",
    "key_hash", "router_name", "api_key", "router", "provider", "min_parameters",
    "fallback_enabled",
]  # fmt: skip
v1_scalars = (
    st.sampled_from(V1_WORDS) | st.integers() | st.floats(allow_nan=False)
    | st.booleans() | st.none()
    | st.sampled_from(["lr-abcdefghijk", "1m", "day", "ollama", "openai", "x/y", A_HASH])
)  # fmt: skip
v1_like = st.recursive(
    v1_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(V1_WORDS), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_like, max_size=6))
def test_arbitrary_json_never_raises(doc: dict[str, Any]) -> None:
    looks_like_v1(doc)
    result = migrate_v1(doc)
    assert result.data["version"] == 2


@mock.patch.object(migrate, "_hash_key", fast_hash)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(V1_WORDS), v1_like, max_size=8))
def test_v1_shaped_documents_never_raise_and_round_trip(doc: dict[str, Any]) -> None:
    result = migrate_v1(doc)
    assert next(iter(result.data)) == "version"
    text = render_v2(result, source="fuzz")
    loaded = YAML().load(io.StringIO(text))
    assert json.loads(json.dumps(loaded)) == json.loads(json.dumps(result.data))


def test_migration_notes_reach_every_output_format() -> None:
    """A v1 config's notes (what the migration changed) are in json, concise and github too."""
    from tests.conftest import CONFIGS, run_cli

    config = str(CONFIGS / "legacy-v1")
    text = run_cli("validate", config).out
    notes = [line.removeprefix("note: ") for line in text.splitlines() if line.startswith("note: ")]
    assert notes  # the text format has always shown them
    doc = json.loads(run_cli("validate", config, "--format", "json").out)
    assert [n for d in doc["diagnostics"] for n in d["notes"]] == notes
    concise = run_cli("validate", config, "--format", "concise").out
    assert all(f"  note: {note}" in concise.splitlines() for note in notes)
    github = run_cli("validate", config, "--format", "github").out
    assert all(f"%0Anote: {note}" in github for note in notes)
