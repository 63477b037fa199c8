"""Claude Code, the real CLI from npm, through the real gateway: a one-shot prompt
(``claude -p … --output-format json``) with ``ANTHROPIC_BASE_URL`` at the gateway and a
LocalRouter key, as docs/claude-code.md sets it up, answered by (a) the mock provider, (b) a fake
Anthropic upstream, (c) a fake OpenAI upstream.

Claude Code sends its own model names (``claude-opus-…`` by default): the strategies read every
``claude-*`` name as ``auto`` (``aliases``). What it sends is in docs/claude-code.md: a streamed
``POST /v1/messages?beta=true`` with ``anthropic-beta`` flags, system blocks with
``cache_control``, some 25 tools, ``thinking``, ``context_management``, ``output_config`` and
``metadata.user_id``. When an upstream refuses a feature (400), the CLI sends the request again
without it, so the gateway must hand an upstream's 400 back as a 400.

Skipped when node/npm are missing (the CLI is installed by ``make test``).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.clients import (
    HERE,
    QUIET,
    Listener,
    claude_path,
    logged,
    node_missing,
    run_claude,
)
from tests.fakes import anthropic_fake, openai_fake
from tests.fakes.openai_fake_model import text_of
from tests.fakes.serve import serve_app
from tests.gateway import Gateway, running_gateway

ENV_KEY = "LR_TEST_CLAUDE_CODE_KEY"  # the fakes' key, read by the config (${env:…})
CONFIG = """
version: 2
providers:
  mock: {type: mock, models: {small: {}}}
  claude:
    type: anthropic
    base_url: {anthropic}
    api_key: ${env:LR_TEST_CLAUDE_CODE_KEY}
    discover: false
    models: {claude-sonnet-4-6: {}}
  gpt:
    type: openai
    base_url: {openai}/v1
    api_key: ${env:LR_TEST_CLAUDE_CODE_KEY}
    discover: false
    models: {gpt-4o-mini: {}}
strategies:
  to-mock:
    models: [mock/small]
    aliases: {"claude-*": auto}  # the CLI sends its own names: claude-opus-5-5, …
  to-anthropic:
    models: [claude/claude-sonnet-4-6]
    aliases: {"claude-*": auto}
  to-openai:
    models: [gpt/gpt-4o-mini]
    aliases: {"claude-*": auto}
clients:
  via-mock:
    key_prefix: "{key_prefix:via-mock}"
    key_hash: "{key_hash:via-mock}"
    strategy: to-mock
  via-anthropic:
    key_prefix: "{key_prefix:via-anthropic}"
    key_hash: "{key_hash:via-anthropic}"
    strategy: to-anthropic
  via-openai:
    key_prefix: "{key_prefix:via-openai}"
    key_hash: "{key_hash:via-openai}"
    strategy: to-openai
"""


@dataclass
class World:
    gw: Gateway
    anthropic: anthropic_fake.FakeState
    openai: openai_fake.FakeState


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    why = node_missing()
    if why is not None:
        pytest.skip(why)
    claude, gpt = anthropic_fake.FakeState(), openai_fake.FakeState()
    with ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv(ENV_KEY, anthropic_fake.API_KEY)
        a_url = stack.enter_context(serve_app(anthropic_fake.create_app(claude)))
        o_url = stack.enter_context(serve_app(openai_fake.create_app(gpt)))
        text = CONFIG.replace("{anthropic}", a_url).replace("{openai}", o_url)
        gw = stack.enter_context(running_gateway(text, tmp_path_factory.mktemp("gw")))
        yield World(gw, claude, gpt)


def claude_env(gw: Gateway, client: str, header: str = "ANTHROPIC_AUTH_TOKEN") -> dict[str, str]:
    """The set-up docs/claude-code.md gives: the gateway's URL and the client's LocalRouter key,
    sent as ``Authorization: Bearer`` (ANTHROPIC_AUTH_TOKEN) or ``x-api-key``
    (ANTHROPIC_API_KEY), and nonessential traffic off."""
    env = {"ANTHROPIC_BASE_URL": gw.url, header: gw.keys[client], **QUIET}
    # a failure is reported at once, not retried for minutes (it never retries a 400: it
    # sends the request again without the feature refused, whatever this says)
    return env | {"CLAUDE_CODE_MAX_RETRIES": "0"}


def served(lines: list[dict[str, Any]], provider: str, model: str) -> dict[str, Any]:
    ok = [x for x in lines if x["status"] == "ok"]
    assert ok, f"no request was answered: {json.dumps(lines)[:2000]}"
    last = ok[-1]
    assert (last["provider"], last["model"]) == (provider, model)
    assert last["stream"] is True  # the CLI streams
    assert last["output_tokens"] > 0
    return last


def test_claude_code_through_the_gateway_to_the_mock(world: World, tmp_path: Path) -> None:
    proxy = Listener()
    try:
        env = claude_env(world.gw, "via-mock", "ANTHROPIC_API_KEY")
        env |= {"HTTPS_PROXY": proxy.url, "HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"}
        run = run_claude("ping from claude code", tmp_path / "home", env)
    finally:
        proxy.close()
    assert run.code == 0 and run.result["is_error"] is False, run.result
    assert run.text.startswith("[small] You said: "), run.text[:300]  # the mock's answer
    served(logged(world.gw, "via-mock"), "mock", "small")
    # with the documented set-up, nothing but the model calls left the CLI
    assert proxy.seen == []


def test_claude_code_through_the_gateway_to_anthropic(world: World, tmp_path: Path) -> None:
    world.anthropic.requests.clear()
    run = run_claude(
        "relay me to anthropic", tmp_path / "home", claude_env(world.gw, "via-anthropic")
    )
    assert run.code == 0 and run.result["is_error"] is False, run.result
    assert "relay me to anthropic" in run.text  # the fake echoes the last user turn
    served(logged(world.gw, "via-anthropic"), "claude", "claude-sonnet-4-6")
    answered = [r for r in world.anthropic.requests if r.path == "/v1/messages" and r.body]
    assert answered, "the fake Anthropic upstream saw no /v1/messages request"
    sent = answered[-1]
    # the provider's key went upstream, never the client's LocalRouter key
    assert sent.headers.get("x-api-key") == anthropic_fake.API_KEY
    assert not any(world.gw.keys["via-anthropic"] in v for v in sent.headers.values())
    # Claude Code's beta flags and body reach Anthropic as it sent them (model: the alias's)
    assert "claude-code-20250219" in sent.headers.get("anthropic-beta", "")
    assert sent.body["model"] == "claude-sonnet-4-6"
    assert sent.body["stream"] is True
    assert any(b.get("cache_control") for b in sent.body["system"])
    assert "user_id" in sent.body["metadata"]
    assert len(sent.body["tools"]) > 5


def test_claude_code_through_the_gateway_to_openai(world: World, tmp_path: Path) -> None:
    world.openai.requests.clear()
    run = run_claude("relay me to openai", tmp_path / "home", claude_env(world.gw, "via-openai"))
    assert run.code == 0 and run.result["is_error"] is False, run.result
    served(logged(world.gw, "via-openai"), "gpt", "gpt-4o-mini")
    chats = [r for r in world.openai.requests if r.path == "/v1/chat/completions"]
    assert chats, "the fake OpenAI upstream saw no chat completion"
    sent = chats[-1]
    # the prompt went up as the last user message; the fake echoes the last message of all (a
    # system turn, when Claude Code sends one after the prompt), and the CLI printed that echo
    users = [m for m in sent.body["messages"] if m["role"] == "user"]
    assert "relay me to openai" in text_of(users[-1]["content"])[0]
    assert run.text == text_of(sent.body["messages"][-1]["content"])[0]
    assert sent.headers["authorization"] == f"Bearer {openai_fake.API_KEY}"
    assert sent.body["model"] == "gpt-4o-mini"
    assert all(t["type"] == "function" for t in sent.body["tools"])  # translated
    assert sent.body["messages"][0]["role"] == "system"  # the system blocks, as one message


def test_the_cli_is_the_pinned_one() -> None:
    """What ``make test`` installed is the version package.json pins (and its native binary
    runs here, offline: ``--version`` reads nothing from the network)."""
    why = node_missing()
    if why is not None:
        pytest.skip(why)
    pinned = json.loads((HERE / "package.json").read_text())["dependencies"]
    version = pinned["@anthropic-ai/claude-code"]
    out = subprocess.run(
        [str(claude_path()), "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent"},
        check=True,
    ).stdout
    assert out.split()[0] == version
