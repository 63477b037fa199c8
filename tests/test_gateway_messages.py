"""The Anthropic Messages ingress through the running gateway, at the wire: what a forwarded
request and stream look like on each side, what a fallback to another wire strips and records,
and LocalRouter's own refusals in Anthropic's envelope.

(The SDK's view is in test_anthropic_sdk.py, Claude Code's in test_claude_code.py; the dialect's
pure parts have golden tests of their own.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from localrouter.dialects.anthropic_to_chat import to_chat
from tests.fakes import anthropic_fake, openai_fake
from tests.fakes.anthropic_fake_model import sign
from tests.fakes.serve import serve_app
from tests.gateway import Gateway, running_gateway

KEY_ENV = "LR_TEST_MESSAGES_KEY"
CONFIG = """
version: 2
server: {max_body_mb: 0.05}
providers:
  claude:
    type: anthropic
    base_url: {anthropic}
    api_key: ${env:LR_TEST_MESSAGES_KEY}
    discover: false
    models: {claude-sonnet-4-6: {}}
  broken:
    type: anthropic
    base_url: {broken}
    api_key: ${env:LR_TEST_MESSAGES_KEY}
    discover: false
    models: {claude-sonnet-4-6: {}}
  gpt:
    type: openai
    base_url: {openai}/v1
    api_key: ${env:LR_TEST_MESSAGES_KEY}
    discover: false
    models: {gpt-4o-mini: {}}
strategies:
  native: {models: [claude/claude-sonnet-4-6], aliases: {"claude-*": auto}}
  fallback:
    models: [broken/claude-sonnet-4-6, gpt/gpt-4o-mini]
    order: []
    aliases: {"claude-*": auto}
  limited: {models: [claude/claude-sonnet-4-6], aliases: {"claude-*": auto}}
clients:
  native: {key_prefix: "{key_prefix:native}", key_hash: "{key_hash:native}", strategy: native}
  fallback:
    key_prefix: "{key_prefix:fallback}"
    key_hash: "{key_hash:fallback}"
    strategy: fallback
  limited:
    key_prefix: "{key_prefix:limited}"
    key_hash: "{key_hash:limited}"
    strategy: limited
    limits: [{requests: 1, per: 1h}]
"""
MODEL = "claude-sonnet-4-6"


@dataclass
class World:
    gw: Gateway
    claude: anthropic_fake.FakeState
    broken: anthropic_fake.FakeState
    gpt: openai_fake.FakeState


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    claude, broken, gpt = (
        anthropic_fake.FakeState(),
        anthropic_fake.FakeState(),
        openai_fake.FakeState(),
    )
    broken.fail(500, times=10_000)
    with ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv(KEY_ENV, anthropic_fake.API_KEY)
        text = CONFIG
        for name, state, fake in (
            ("{anthropic}", claude, anthropic_fake),
            ("{broken}", broken, anthropic_fake),
            ("{openai}", gpt, openai_fake),
        ):
            text = text.replace(name, stack.enter_context(serve_app(fake.create_app(state))))
        gw = stack.enter_context(running_gateway(text, tmp_path_factory.mktemp("gw")))
        yield World(gw, claude, broken, gpt)


def post(
    gw: Gateway, client: str, body: Any, path: str = "/v1/messages", **headers: str
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"x-api-key": gw.keys[client], "anthropic-version": "2023-06-01", **headers}
    return httpx.post(gw.url + path, content=raw, headers=sent, timeout=30)


def history(claude: anthropic_fake.FakeState) -> dict[str, Any]:
    """A conversation whose assistant turn carries a thinking block signed by ``claude`` and
    cache_control markers, as Claude Code sends them."""
    thought = "The user greets me; I should greet back."
    signature = sign(claude.signing_key, thought)
    return {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "hello"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": thought, "signature": signature},
                    {"type": "text", "text": "Hi!"},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "and again", "cache_control": {"type": "ephemeral"}}
                ],
            },
        ],
        "metadata": {"user_id": "someone"},
    }  # fmt: skip


def generation(gw: Gateway, client: str, gen_id: str) -> dict[str, Any]:
    answer = httpx.get(
        gw.url + "/v1/generation",
        params={"id": gen_id},
        headers={"authorization": f"Bearer {gw.keys[client]}"},
    )
    assert answer.status_code == 200, answer.text
    record: dict[str, Any] = answer.json()
    return record


# ---------------------------------------------------------------- forwarded as sent


def test_a_forwarded_request_arrives_as_sent_but_for_its_model(world: World) -> None:
    body = history(world.claude)
    answer = post(world.gw, "native", body, **{"anthropic-beta": "interleaved-thinking-2025-05-14"})
    assert answer.status_code == 200, answer.text
    seen = world.claude.requests[-1]
    assert seen.path == "/v1/messages"
    assert seen.body == {**body, "model": MODEL}
    assert list(seen.body) == list(body)  # key order kept too
    assert seen.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert seen.headers["x-api-key"] == anthropic_fake.API_KEY  # ours, never the client's
    got = answer.json()
    assert got["type"] == "message" and got["content"][0]["type"] == "thinking"
    assert got["content"][0]["signature"]  # the provider's signature reaches the client
    assert answer.headers["x-localrouter-provider"] == "claude"
    record = generation(world.gw, "native", answer.headers["x-localrouter-generation-id"])
    assert record["tokens"]["prompt"] == got["usage"]["input_tokens"] + got["usage"].get(
        "cache_creation_input_tokens", 0
    ) + got["usage"].get("cache_read_input_tokens", 0)
    assert record["tokens"]["completion"] == got["usage"]["output_tokens"]
    assert "translation" not in record


def test_a_forwarded_stream_reaches_the_client_as_the_provider_sent_it(world: World) -> None:
    body = {**history(world.claude), "stream": True}
    answer = post(world.gw, "native", body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.content == b"".join(world.claude.streamed)
    events = [line for line in answer.text.splitlines() if line.startswith("event: ")]
    assert events[0] == "event: message_start" and events[-1] == "event: message_stop"
    assert "event: ping" in events
    record = generation(world.gw, "native", answer.headers["x-localrouter-generation-id"])
    assert record["tokens"]["completion"] > 0 and not record["tokens"]["estimated"]


def test_thinking_without_a_signature_is_not_forwarded(world: World) -> None:
    """A thinking block LocalRouter made from another provider's reasoning has no signature:
    Anthropic would refuse it, so it is left out (and recorded)."""
    body = history(world.claude)
    body["messages"][1]["content"][0] = {"type": "thinking", "thinking": "x", "signature": ""}
    body.pop("thinking")
    answer = post(world.gw, "native", body)
    assert answer.status_code == 200, answer.text
    sent = world.claude.requests[-1].body["messages"][1]["content"]
    assert [b["type"] for b in sent] == ["text"]
    assert body["messages"][1]["content"][0]["type"] == "thinking"  # ours, not the client's
    record = generation(world.gw, "native", answer.headers["x-localrouter-generation-id"])
    assert record["translation"] == {"dropped": ["unsigned thinking"]}


# ---------------------------------------------------------------- translated on fallback


@pytest.mark.parametrize("stream", [False, True])
def test_a_fallback_to_another_wire_strips_signed_thinking_and_records_it(
    world: World, stream: bool
) -> None:
    body = {**history(world.claude), "stream": stream}
    before = len(world.gpt.requests)
    answer = post(world.gw, "fallback", body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-localrouter-provider"] == "gpt"
    sent = [r for r in world.gpt.requests[before:] if r.path == "/v1/chat/completions"]
    assert len(sent) == 1
    raw = json.dumps(sent[0].body)
    assert "signature" not in raw and "thinking" not in raw and "cache_control" not in raw
    expected = to_chat(body, stream=stream)
    assert sent[0].body["messages"] == expected.body["messages"]
    record = generation(world.gw, "fallback", answer.headers["x-localrouter-generation-id"])
    assert record["translation"] == {"dropped": list(expected.dropped)}
    assert {"thinking", "cache_control"} <= {d.split(" ")[0] for d in expected.dropped}
    assert [a["provider"] for a in record["attempts"]][-1] == "gpt"
    if stream:
        names = [ln[7:] for ln in answer.text.splitlines() if ln.startswith("event: ")]
        assert names[0] == "message_start" and names[-1] == "message_stop"
    else:
        assert answer.json()["type"] == "message"


# ---------------------------------------------------------------- count_tokens


def test_count_tokens_is_the_anthropic_providers_count(world: World) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "count me please"}]}
    answer = post(world.gw, "native", body, path="/v1/messages/count_tokens")
    assert answer.status_code == 200, answer.text
    assert world.claude.requests[-1].path == "/v1/messages/count_tokens"
    assert world.claude.requests[-1].body["model"] == MODEL
    assert answer.json()["input_tokens"] > 0


def test_count_tokens_holds_no_limit(world: World) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "count"}]}
    for _ in range(3):
        answer = post(world.gw, "limited", body, path="/v1/messages/count_tokens")
        assert answer.status_code == 200, answer.text
    ok = post(world.gw, "limited", {**body, "max_tokens": 10})
    assert ok.status_code == 200, ok.text
    refused = post(world.gw, "limited", {**body, "max_tokens": 10})
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert int(refused.headers["retry-after"]) > 0


# ---------------------------------------------------------------- LocalRouter's own refusals


def envelope(answer: httpx.Response, status: int, kind: str) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["type"] == "error" and body["error"]["type"] == kind, body
    assert body["request_id"] == answer.headers["x-request-id"]
    message: str = body["error"]["message"]
    return message


def test_refusals_before_routing_use_anthropics_envelope(world: World) -> None:
    gw = world.gw
    big = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "x" * 60_000}]}
    assert "bytes" in envelope(post(gw, "native", big), 413, "request_too_large")
    assert "JSON" in envelope(post(gw, "native", b"{not json"), 400, "invalid_request_error")
    missing = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    assert "max_tokens" in envelope(post(gw, "native", missing), 400, "invalid_request_error")
    unknown = {**missing, "max_tokens": 5, "model": "gpt-nothing"}
    envelope(post(gw, "native", unknown), 404, "not_found_error")
    wrong = httpx.post(gw.url + "/v1/messages", json=missing, headers={"x-api-key": "lr-nope"})
    envelope(wrong, 401, "authentication_error")
    got = httpx.get(gw.url + "/v1/messages", headers={"x-api-key": gw.keys["native"]})
    envelope(got, 405, "invalid_request_error")
    assert got.headers["allow"] == "OPTIONS, POST"
    foreign = httpx.post(
        gw.url + "/v1/messages", json=missing, headers={"host": "evil.example", "x-api-key": "x"}
    )
    assert "evil.example" in envelope(foreign, 421, "invalid_request_error")
    other = httpx.post(gw.url + "/v1/chat/completions", json={}, headers={"host": "evil.example"})
    assert other.status_code == 421 and other.json()["error"]["code"] == "host_not_allowed"
