"""``localrouter mcp tools`` and the MCP section of ``explain``, with the real CLI: the dry run
(from the gateway's tool cache in state_dir, or saying the tools are not known yet) and
``--live`` against the real ``mcp-server-time`` over stdio."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from localrouter.compiler.build import build
from localrouter.mcp import upstream
from tests.conftest import ROOT, run_cli

FULL = ROOT / "tests" / "golden" / "mcp" / "full.yaml"


def config(tmp_path: Path, text: str | None = None) -> Path:
    """The full example in ``tmp_path`` (its state_dir), or ``text`` there."""
    path = tmp_path / "routers.yaml"
    path.write_text(text if text is not None else FULL.read_text(encoding="utf-8"), "utf-8")
    return path


def write_cache(path: Path, data: object) -> None:
    table = build(path).table
    assert table is not None and table.settings.state_dir == str(path.parent)
    (path.parent / "mcp").mkdir(exist_ok=True)
    (path.parent / "mcp" / "tools.json").write_text(json.dumps(data), encoding="utf-8")


def fingerprints(path: Path) -> dict[str, str]:
    table = build(path).table
    assert table is not None
    return {n: s.fingerprint for n, s in table.mcp_servers.items()}


DOCS_TOOLS = [
    {"name": "search", "description": "Search the docs"},
    {"name": "search_all", "description": ""},
    {"name": "fetch", "description": "Fetch a page"},
    {"name": "delete_page", "description": "Delete a page"},
    {"name": "update", "description": "Update a page"},
]


def test_without_a_cache_the_tools_are_not_known_yet(tmp_path: Path) -> None:
    path = config(tmp_path)
    result = run_cli("mcp", "tools", "--config", str(path), "--client", "cursor")
    assert result.code == 0, result.err
    out = result.out
    assert out.startswith("client cursor — strategy coding\n")
    assert "  servers: time, docs, skills\n" in out
    assert "  deny:    docs__delete*\n" in out
    assert '  rule 1:  deny when tool.name == "docs__fetch"' in out
    assert "  time: tools not known yet — run `localrouter mcp tools --live`" in out
    assert str(tmp_path / "mcp" / "tools.json") in out
    assert "    skills__city-brief  Current time and the top documentation hits" in out
    assert "client ops" not in out


def test_cached_tools_are_filtered_by_the_strategy(tmp_path: Path) -> None:
    path = config(tmp_path)
    fp = fingerprints(path)
    write_cache(
        path,
        {
            "docs": {"fingerprint": fp["docs"], "at": 1_700_000_000, "tools": DOCS_TOOLS},
            "time": {"fingerprint": "stale", "at": 1, "tools": [{"name": "get_current_time"}]},
            "gone": {"fingerprint": "x", "tools": []},
        },
    )
    result = run_cli("mcp", "tools", "--config", str(path), "--client", "cursor")
    assert result.code == 0
    out = result.out
    assert "  docs (cache, " in out and "): 3 tools\n" in out
    assert "    docs__search  Search the docs\n" in out
    assert "    docs__search_all\n" in out
    assert "    docs__fetch  Fetch a page\n" in out
    assert "    hidden:\n      docs__delete_page: denied by pattern 'docs__delete*'\n" in out
    assert "      docs__update: 'docs__update' matches no allow pattern" in out
    assert "  time: tools cached for another configuration of the server" in out

    doc = json.loads(run_cli("mcp", "tools", "--config", str(path), "--format", "json").out)
    assert doc["source"] == "cache" and doc["notes"] == []
    views = {v["client"]: v for v in doc["clients"]}
    assert set(views) == {"chat", "cursor", "ops"}
    assert views["chat"]["servers"] == [] and views["chat"]["upstream"] == []
    docs = next(s for s in views["ops"]["upstream"] if s["server"] == "docs")
    assert [t["name"] for t in docs["tools"]] == ["docs__search", "docs__search_all", "docs__fetch"]
    assert docs["at"] == 1_700_000_000
    assert [s["name"] for s in views["ops"]["skills"]] == ["skills__city-brief"]


@pytest.mark.parametrize(
    "cache",
    [
        "not json",
        "[1, 2]",
        json.dumps({"docs": {"fingerprint": "x", "tools": [{"description": "no name"}]}}),
        json.dumps({"docs": {"fingerprint": "x", "tools": "all"}}),
    ],
)
def test_a_malformed_cache_is_ignored_with_a_note(tmp_path: Path, cache: str) -> None:
    path = config(tmp_path)
    (tmp_path / "mcp").mkdir()
    (tmp_path / "mcp" / "tools.json").write_text(cache, encoding="utf-8")
    result = run_cli("mcp", "tools", "--config", str(path), "--client", "cursor")
    assert result.code == 0
    assert result.out.startswith("note: ignored ")
    assert "  docs: tools not known yet" in result.out


def test_an_unknown_client_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("mcp", "tools", "--config", str(config(tmp_path)), "--client", "nobody")
    assert result.code == 2
    assert "unknown client 'nobody' (clients: chat, cursor, ops)" in result.err


def test_a_broken_config_fails_as_validate_does(tmp_path: Path) -> None:
    path = config(tmp_path, "version: 2\nstrategies:\n  s: {models: [x/y], mcp: {servers: [n]}}\n")
    result = run_cli("mcp", "tools", "--config", str(path))
    assert result.code == 1 and "error[LR318]" in result.out


def test_explain_shows_the_mcp_section_only_when_there_is_mcp(tmp_path: Path) -> None:
    path = config(tmp_path)
    out = run_cli("explain", "--config", str(path), "--client", "cursor", "--no-state").out
    assert "\nmcp:\n  servers: time, docs, skills\n" in out
    assert "    skills__city-brief" in out
    doc = json.loads(
        run_cli(
            "explain", "--config", str(path), "--client", "ops", "--no-state", "--format", "json"
        ).out
    )
    assert doc["mcp"]["servers"] == ["time", "docs", "skills"]
    plain = ROOT / "configs" / "demo.yaml"
    demo = json.loads(run_cli("explain", "--config", str(plain), "--client", "demo",
                              "--no-state", "--format", "json").out)  # fmt: skip
    assert "mcp" not in demo


TIME_CONFIG = """
version: 2
providers:
  mock: {type: mock}
mcp_servers:
  time: {transport: stdio, command: [COMMAND]}
  down: {transport: streamable_http, url: "http://127.0.0.1:9/mcp", connect_timeout_s: 2}
strategies:
  s:
    models: ["mock/*"]
    mcp: {servers: [time, down], allow: ["time__*"], deny: ["time__convert*"]}
clients:
  c:
    key_prefix: lr-sZ2uI4TN
    key_hash: $2b$12$PmcTqb0wG9pwHVCaxTgxruh7koJgeUH5Y8ySfyUhspI77J2CV/cD6
    strategy: s
"""


def test_live_asks_the_servers(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "mcp-server-time"
    command = (
        json.dumps(str(script)) if script.exists() else f'"{sys.executable}", -m, mcp_server_time'
    )
    path = config(tmp_path, textwrap.dedent(TIME_CONFIG).replace("COMMAND", command))
    result = run_cli("mcp", "tools", "--config", str(path), "--live")
    if not hasattr(upstream, "list_tools_once"):  # the runtime's listing is not there yet
        assert "note: --live is not available" in result.out and result.code == 1
        pytest.skip("localrouter.mcp.upstream.list_tools_once does not exist yet")
    assert result.code == 1, result.out  # the server that is down fails the listing
    assert "  time (live, " in result.out
    assert "    time__get_current_time" in result.out
    assert "      time__convert_time: denied by pattern 'time__convert*'" in result.out
    assert "  down: cannot list its tools: " in result.out


def test_diff_shows_mcp_changes(tmp_path: Path) -> None:
    old = FULL.read_text(encoding="utf-8")
    new = (
        old.replace('"docs__fetch", "time__*"', '"time__*"')
        .replace("connect_timeout_s: 5", "connect_timeout_s: 6")
        .replace("timeout_s: 60\n", "timeout_s: 90\n")
        .replace("  legacy: {transport: sse, url: http://127.0.0.1:8932/sse}\n", "")
    )
    (tmp_path / "old.yaml").write_text(old, encoding="utf-8")
    (tmp_path / "new.yaml").write_text(new, encoding="utf-8")
    result = run_cli("diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml"))
    lines = result.out.splitlines()
    assert "mcp server docs: changed (restarted on reload)" in lines
    assert "mcp server legacy: removed" in lines
    assert "skill city-brief: changed" in lines
    assert any(line.startswith("client cursor: mcp allow [") for line in lines)
    assert "mcp server time" not in result.out  # unchanged: keeps its session


def test_the_table_dump_has_the_mcp_parts() -> None:
    from localrouter.compiler.dump import table_dict

    table = build(FULL).table
    assert table is not None
    doc = table_dict(table)
    assert doc["strategies"]["coding"]["mcp"]["deny"] == ["docs__delete*"]
    assert "mcp" not in doc["strategies"]["plain"]
    assert doc["mcp_servers"]["docs"]["headers"] == {"Authorization": "${env:DOCS_TOKEN}"}
    assert doc["mcp_servers"]["time"]["env"] == {"TZ": "(literal)"}
    assert doc["skills"]["city-brief"]["steps"][0][:2] == ["now", "time__get_current_time"]


def test_resolve_secrets_covers_mcp_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(tmp_path)
    monkeypatch.delenv("DOCS_TOKEN", raising=False)
    result = run_cli("validate", str(path), "--resolve-secrets", "--format", "concise")
    assert result.code == 1
    assert "error[LR505]: MCP server 'docs' header Authorization: secret ${env:DOCS_TOKEN}" in (
        result.out
    )
    monkeypatch.setenv("DOCS_TOKEN", "t0ken-value")
    result = run_cli("validate", str(path), "--resolve-secrets", "--format", "concise")
    assert result.code == 0 and "t0ken-value" not in result.out
