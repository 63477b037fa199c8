"""The Codex CLI, the real one from npm, through the real gateway: ``codex exec --json PROMPT``
with a custom model provider at the gateway speaking the Responses wire API (``POST
/v1/responses``, streamed), a LocalRouter key in the provider's ``env_key``, as docs/codex.md sets
it up; answered by (a) the mock provider (a plain answer, and a whole tool round trip: the mock
calls ``exec_command``, Codex runs it and sends the output back), (b) a fake OpenAI upstream that
has only chat completions (``openai-compatible``: the gateway translates).

Codex sends the model name of its config: here ``auto`` and ``gpt-4o-mini`` (a name the
strategy's ``"gpt-*"`` alias reads as ``auto``), both unknown to Codex (it warns and uses fallback
metadata: function tools, one ``namespace`` of them, ``web_search``, which the docs' config turns
off). What it sends is in tests/golden/responses/codex_request*.json.

Skipped when node/npm are missing (the CLI is installed by ``make test``).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.clients import HERE, Listener, logged
from tests.clients.codex import ENV_KEY, CodexRun, codex_missing, codex_path, config_toml, run_codex
from tests.fakes import openai_fake
from tests.fakes.openai_fake_model import text_of
from tests.gateway import Gateway
from tests.responses_upstreams import gateway_with_three_upstreams


@dataclass
class World:
    gw: Gateway
    openai: openai_fake.FakeState


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    why = codex_missing()
    if why is not None:
        pytest.skip(why)
    with gateway_with_three_upstreams(tmp_path_factory.mktemp("gw")) as (gw, fake):
        yield World(gw, fake)


def codex(world: World, client: str, prompt: str, root: Path, model: str = "auto") -> CodexRun:
    """``codex exec`` with docs/codex.md's config.toml, the client's key in ``env_key``, and a
    proxy that sees any request that is not for the gateway (loopback, exempt)."""
    proxy = Listener()
    try:
        env = {ENV_KEY: world.gw.keys[client]}
        env |= {"HTTPS_PROXY": proxy.url, "HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"}
        run = run_codex(prompt, root, config_toml(world.gw.v1, model), env)
    finally:
        proxy.close()
    # with the documented set-up, nothing but the model calls left the CLI
    assert proxy.seen == [], proxy.seen
    return run


def served(lines: list[dict[str, Any]], provider: str, model: str) -> list[dict[str, Any]]:
    """The access-log lines of the run: every one on the Responses endpoint, answered, streamed
    (Codex always streams), by ``provider``/``model``."""
    assert lines, "the gateway logged no request"
    for line in lines:
        assert line["endpoint"] == "responses", json.dumps(line)
        assert line["status"] == "ok", json.dumps(line)
        assert (line["provider"], line["model"]) == (provider, model)
        assert line["stream"] is True
        assert line["output_tokens"] > 0
    return lines


@pytest.mark.parametrize("model", ["auto", "gpt-4o-mini"])  # a strategy; an alias ("gpt-*")
def test_codex_through_the_gateway_to_the_mock(world: World, tmp_path: Path, model: str) -> None:
    before = len(logged(world.gw, "via-mock", timeout=0))
    run = codex(world, "via-mock", "ping from codex", tmp_path, model)
    assert run.code == 0, run.explain()
    assert run.answer == "[small] You said: ping from codex", run.explain()  # the mock's answer
    assert run.usage["output_tokens"] > 0, run.explain()
    lines = logged(world.gw, "via-mock", at_least=before + 1)[before:]
    assert len(served(lines, "mock", "small")) == 1


def test_codex_runs_a_tool_the_mock_calls(world: World, tmp_path: Path) -> None:
    """A whole agent turn: the mock answers ``call NAME {json}`` with a function call, Codex runs
    the command (its sandbox, read-only) and sends the output back; the mock's answer to a tool
    result is text, and the turn ends."""
    before = len(logged(world.gw, "via-mock", timeout=0))
    run = codex(world, "via-mock", 'call exec_command {"cmd": "echo codex-was-here"}', tmp_path)
    assert run.code == 0, run.explain()
    commands = run.items("command_execution")
    assert len(commands) == 1, run.explain()
    assert commands[0]["exit_code"] == 0, run.explain()
    assert commands[0]["aggregated_output"].strip() == "codex-was-here"
    assert run.answer.startswith("[small] exec_command returned "), run.explain()
    assert "codex-was-here" in run.answer
    lines = logged(world.gw, "via-mock", at_least=before + 2)[before:]
    assert len(served(lines, "mock", "small")) == 2  # the call, then the answer to its result


def test_codex_through_the_gateway_to_a_chat_upstream(world: World, tmp_path: Path) -> None:
    """To a provider that has only chat completions the gateway translates: Codex's developer
    messages and input items become chat messages, its tools chat functions (the namespaced
    ones ``NAMESPACE__NAME``), and the chat stream comes back as Responses events."""
    world.openai.requests.clear()
    run = codex(world, "via-chat", "relay me to a chat upstream", tmp_path)
    assert run.code == 0, run.explain()
    served(logged(world.gw, "via-chat"), "chat", "gpt-4o-mini")
    assert not [r for r in world.openai.requests if r.path == "/v1/responses"]
    chats = [r for r in world.openai.requests if r.path == "/v1/chat/completions"]
    assert len(chats) == 1, [r.path for r in world.openai.requests]
    sent = chats[0]
    # the prompt is Codex's last input item; the fake echoes the last message: the answer
    messages = sent.body["messages"]
    assert messages[-1]["role"] == "user"
    assert text_of(messages[-1]["content"])[0] == "relay me to a chat upstream"
    assert run.answer == "relay me to a chat upstream", run.explain()
    # the provider's key went upstream, never the client's LocalRouter key
    assert sent.headers["authorization"] == f"Bearer {openai_fake.API_KEY}"
    assert not any(world.gw.keys["via-chat"] in v for v in sent.headers.values())
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.body["stream"] is True
    # Codex's instructions (developer messages) lead, as system messages
    assert messages[0]["role"] == "system"
    assert "Codex" in text_of(messages[0]["content"])[0]
    tools = sent.body["tools"]
    assert tools and all(t["type"] == "function" for t in tools)
    names = {t["function"]["name"] for t in tools}
    assert "exec_command" in names
    assert any(n.startswith("multi_agent_v1__") for n in names)  # a namespace, flattened


def test_the_cli_is_the_pinned_one() -> None:
    """What ``make test`` installed is the version package.json pins, and its native binary
    (the optional dependency of this platform) runs: ``--version`` reads nothing from the
    network."""
    why = codex_missing()
    if why is not None:
        pytest.skip(why)
    pinned = json.loads((HERE / "package.json").read_text())["dependencies"]["@openai/codex"]
    out = subprocess.run(
        [str(codex_path()), "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent"},
        check=True,
    ).stdout
    assert out.split() == ["codex-cli", pinned]


@pytest.mark.parametrize("model", ["auto", "gpt-5.5"])  # unknown to Codex; one of its own
def test_codex_through_the_gateway_to_openai(world: World, tmp_path: Path, model: str) -> None:
    """To an ``openai`` provider (it serves the Responses API) the body goes up as Codex sent
    it — built-in tools and all — with the provider's key and model, less Codex's
    ``client_metadata`` (its installation and session ids), and the upstream's events come
    back."""
    world.openai.requests.clear()
    run = codex(world, "via-openai", "relay me to openai", tmp_path, model)
    assert run.code == 0, run.explain()
    served(logged(world.gw, "via-openai"), "openai", "gpt-4o-mini")
    sent = [r for r in world.openai.requests if r.path == "/v1/responses"]
    assert len(sent) == 1, [r.path for r in world.openai.requests]
    body = sent[0].body
    assert sent[0].headers["authorization"] == f"Bearer {openai_fake.API_KEY}"
    assert body["model"] == "gpt-4o-mini"
    assert body["stream"] is True and body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content"]
    assert "client_metadata" not in body
    assert "relay me to openai" in run.answer, run.explain()
