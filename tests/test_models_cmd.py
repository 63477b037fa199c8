"""``localrouter models``: the catalog (price, context, params, capabilities, health) as text and
JSON, ``--client`` keeping what that client may use, the discovered models ``serve`` cached, the
health a server saved in ``state_dir``, and ``--live`` from a running gateway's ``/health``."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

from localrouter.compiler.catalog import DiscoveredModel
from localrouter.runtime.catalog import identity
from localrouter.runtime.catalog_cache import CacheEntry, encode_cache
from tests.conftest import CONFIGS, run_cli
from tests.gateway import running_gateway
from tests.test_explain_state import compiled, save_state


def models(*argv: str) -> tuple[int, str, str]:
    r = run_cli("models", *argv)
    return r.code, r.out, r.err


def as_json(*argv: str) -> dict[str, Any]:
    code, out, err = models(*argv, "--format", "json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def copied(name: str, tmp_path: Path) -> str:
    """An example config in a folder of its own: no state a server left beside the original."""
    target = tmp_path / name
    target.write_text((CONFIGS / name).read_text(encoding="utf-8"), encoding="utf-8")
    return str(target)


def test_text_table_of_the_demo_catalog(tmp_path: Path) -> None:
    code, out, err = models("--config", copied("demo.yaml", tmp_path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "MODEL", "KIND", "IN", "$/M", "OUT", "$/M", "CONTEXT", "PARAMS", "CAPABILITIES", "HEALTH"
    ]  # fmt: skip
    assert lines[1].split() == [
        "mock/echo-large", "local", "2", "8", "128k", "70B", "chat,tools,json", "unknown"
    ]  # fmt: skip
    assert lines[2].split() == [
        "mock/echo-small",
        "local",
        "0.1",
        "0.2",
        "8k",
        "3B",
        "chat",
        "unknown",
    ]
    assert lines[3].startswith("2 models; health: none (no runtime state at ")


def test_json_of_the_cost_saver_catalog_and_client_filter(tmp_path: Path) -> None:
    config = copied("cost-saver.yaml", tmp_path)
    doc = as_json("--config", config)
    by_id = {m["id"]: m for m in doc["models"]}
    assert sorted(by_id) == [
        "gemini/gemini-2.5-flash", "ollama/mistral:7b", "ollama/qwen2.5:7b", "openai/gpt-4o-mini"
    ]  # fmt: skip
    mini = by_id["openai/gpt-4o-mini"]
    assert (mini["input_per_mtok"], mini["output_per_mtok"], mini["context_window"]) == (
        0.15,
        0.6,
        128000,
    )
    assert mini["capabilities"] == ["chat", "tools", "vision", "json"] and mini["kind"] == "api"
    assert by_id["ollama/qwen2.5:7b"]["params_b"] == 7.6
    assert doc["client"] is None and doc["health_source"]["loaded"] is False
    summaries = as_json("--config", config, "--client", "summaries")
    assert [m["id"] for m in summaries["models"]] == ["ollama/qwen2.5:7b"]
    assert summaries["client"] == "summaries"
    code, out, _err = models("--config", config, "--client", "summaries")
    assert code == 0 and "ollama/qwen2.5:7b" in out and "gpt-4o-mini" not in out
    assert "1 model;" in out
    code, out, err = models("--config", config, "--client", "nobody")
    assert code == 2 and out == "" and "unknown client 'nobody'" in err and "laptop" in err


def test_health_and_latency_from_the_saved_state(tmp_path: Path) -> None:
    config, table = compiled(tmp_path)
    save_state(table, tmp_path / "limits.sqlite3")
    before = sorted(p.name for p in tmp_path.iterdir())
    doc = as_json("--config", str(config))
    health = {m["id"]: m["health"] for m in doc["models"]}
    assert health["down/m"] == "circuit open" and health["sick/m"] == "unhealthy"
    assert health["fast/m"] == "not checked"  # a mock answers locally
    assert doc["providers"]["sick"]["last_error"] == "sick: connection refused"
    p50 = {m["id"]: m["p50_ms"] for m in doc["models"]}
    assert p50["fast/m"] is not None and p50["slow/m"] is not None and p50["fast/m"] < p50["slow/m"]
    assert doc["health_source"]["loaded"] is True
    code, out, _err = models("--config", str(config), "--client", "c")
    assert code == 0 and "circuit open" in out and "unhealthy" in out and "p50" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # read-only


def test_discovered_models_cached_by_serve_are_listed(tmp_path: Path) -> None:
    config = tmp_path / "routers.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            version: 2
            providers:
              ol: {type: ollama, base_url: "http://127.0.0.1:9", models: {known: {}}}
            strategies: {s: {models: ["ol/*"]}}
            """
        ),
        encoding="utf-8",
    )
    from localrouter.compiler.build import build

    table = build(config).table
    assert table is not None
    pulled = DiscoveredModel("pulled:3b", context_window=4096)
    entry = CacheEntry(identity(table.providers["ol"]), (pulled,), time.time())
    (tmp_path / "catalog.json").write_bytes(encode_cache({"ol": entry}, time.time()))
    doc = as_json("--config", str(config))
    found = {m["id"]: m for m in doc["models"]}
    assert sorted(found) == ["ol/known", "ol/pulled:3b"]
    assert found["ol/pulled:3b"]["source"] == "discovered"
    assert (
        found["ol/pulled:3b"]["context_window"] == 4096 and found["ol/pulled:3b"]["params_b"] == 3
    )


LIVE = """
version: 2
providers: {mock: {type: mock, models: {small: {}}}}
strategies: {s: {models: [mock/small]}}
clients: {app: {key_prefix: "{key_prefix:app}", key_hash: "{key_hash:app}", strategy: s}}
"""


def test_live_health_from_a_running_gateway(tmp_path: Path) -> None:
    (tmp_path / "gw").mkdir()
    with running_gateway(LIVE, tmp_path / "gw") as gw:
        port = gw.url.rsplit(":", 1)[1]
        text = gw.config.read_text(encoding="utf-8")
        pointed = tmp_path / "pointed.yaml"
        pointed.write_text(text + f"server: {{port: {port}}}\n", encoding="utf-8")
        doc = as_json("--config", str(pointed), "--live")
        assert doc["health_source"]["from"] == "live"
        assert doc["health_source"]["url"] == f"http://127.0.0.1:{port}/health"
        assert doc["models"][0]["health"] == "not checked"
        assert doc["providers"]["mock"]["reason"].startswith("not checked: a mock")
    code, out, err = models("--config", str(pointed), "--live")  # the gateway has stopped
    assert code == 1 and out == "" and f"cannot read http://127.0.0.1:{port}/health" in err
