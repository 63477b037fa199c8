"""Claude Code, the real CLI from npm, with LocalRouter's ``/mcp`` as its MCP server, set up as
docs/mcp.md says: ``claude mcp add --transport http … --header "Authorization: Bearer lr-…"``
(or the same in an ``--mcp-config`` file). Its model calls go through the gateway too (to the
mock, which calls the tool it is told to): one run is a whole agent loop, model → tool through
``/mcp`` → the upstream ``mcp-server-time`` → model. Skipped when node/npm are missing."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients import QUIET, Listener, claude_path, logged, node_missing, run_claude
from tests.gateway import Gateway, running_gateway
from tests.mcp_servers.run import time_argv

pytestmark = pytest.mark.skipif(node_missing() is not None, reason=str(node_missing()))

CONFIG = """
version: 2
providers:
  mock: {{type: mock, models: {{small: {{}}}}}}
strategies:
  agents:
    models: [mock/small]
    aliases: {{"claude-*": auto}}
    mcp: {{servers: [time], deny: ["time__convert*"]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: agents}}
mcp_servers:
  time: {{transport: stdio, command: {time}, env: {{TZ: UTC}}}}
"""
TOOL = "mcp__localrouter__time__get_current_time"  # Claude Code's name: mcp__SERVER__TOOL


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    text = CONFIG.format(time=json.dumps(time_argv()))
    with running_gateway(text, tmp_path_factory.mktemp("cc-mcp")) as gw:
        yield gw


def _claude(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(claude_path()), *args],
        cwd=home,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_claude_mcp_add_then_list_connects(gw: Gateway, tmp_path: Path) -> None:
    home = tmp_path / "home"
    url = gw.url + "/mcp"
    key = gw.keys["app"]
    added = _claude(
        home, QUIET, "mcp", "add", "--transport", "http", "-s", "user", "localrouter", url,
        "--header", f"Authorization: Bearer {key}",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    wrong = _claude(
        home, QUIET, "mcp", "add", "--transport", "http", "-s", "user", "wrong", url,
        "--header", "Authorization: Bearer lr-not-a-key",
    )  # fmt: skip
    assert wrong.returncode == 0, wrong.stderr
    listed = _claude(home, QUIET, "mcp", "list")
    lines = {ln.split(":", 1)[0]: ln for ln in listed.stdout.splitlines() if ": http" in ln}
    assert "Connected" in lines["localrouter"], listed.stdout
    assert "Connected" not in lines["wrong"] and "401" in lines["wrong"], listed.stdout


def test_claude_code_calls_a_tool_through_the_gateway(gw: Gateway, tmp_path: Path) -> None:
    before = len(logged(gw, "app", timeout=0))
    config = {
        "mcpServers": {
            "localrouter": {
                "type": "http",
                "url": gw.url + "/mcp",
                "headers": {"Authorization": "Bearer ${LOCALROUTER_KEY}"},  # expanded by the CLI
            }
        }
    }
    proxy = Listener()
    env = {
        "ANTHROPIC_BASE_URL": gw.url,
        "ANTHROPIC_AUTH_TOKEN": gw.keys["app"],
        "LOCALROUTER_KEY": gw.keys["app"],
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "HTTPS_PROXY": proxy.url,
        "HTTP_PROXY": proxy.url,
        "NO_PROXY": "127.0.0.1",
        **QUIET,
    }
    try:
        config_file = tmp_path / "mcp.json"
        config_file.write_text(json.dumps(config))
        run = run_claude(
            f'call {TOOL} {{"timezone": "UTC"}}',
            tmp_path / "home",
            env,
            extra=("--mcp-config", str(config_file), "--allowedTools", TOOL),
        )
    finally:
        proxy.close()
    assert run.code == 0 and run.result["is_error"] is False, run.result
    # the mock answers the tool's result: the time server's JSON, read through /mcp
    assert run.text.startswith(f"[small] {TOOL} returned "), run.text[:300]
    answer = json.loads(run.text.split(" returned ", 1)[1])
    assert answer["timezone"] == "UTC"
    lines = logged(gw, "app", at_least=before + 3)[before:]
    assert [(x["endpoint"], x["model"]) for x in lines] == [
        ("messages", "small"),
        ("mcp", "time__get_current_time"),
        ("messages", "small"),
    ]
    assert proxy.seen == [], proxy.seen  # nothing left the CLI but calls to the gateway
