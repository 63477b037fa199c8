"""The official ``anthropic`` SDK against the running gateway's Anthropic ingress
(``POST /v1/messages``, ``POST /v1/messages/count_tokens``), as users call it: sync and async
``messages.create``, ``messages.stream()``, a tool round trip and ``count_tokens``, each answered
by the mock provider, a fake Anthropic upstream (forwarded) and a fake OpenAI upstream
(translated); then the SDK's error classes for LocalRouter's own refusals, and one client's
``requests`` limit shared by ``/v1/chat/completions`` and ``/v1/messages``.

The SDK sends the model names of Anthropic's API: every strategy reads ``claude-*`` as ``auto``
(``aliases``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes import anthropic_fake, openai_fake
from tests.fakes.serve import serve_app
from tests.gateway import Gateway, running_gateway

MODEL = "claude-sonnet-4-6"  # a name the SDK's users send; `claude-*` is `auto` here
CONFIG = """
version: 2
providers:
  mock: {type: mock, models: {small: {}}}
  claude:
    type: anthropic
    base_url: {anthropic}
    api_key: ${env:LR_TEST_ANTHROPIC_SDK_KEY}
    discover: false
    models: {claude-sonnet-4-6: {}}
  gpt:
    type: openai
    base_url: {openai}/v1
    api_key: ${env:LR_TEST_ANTHROPIC_SDK_KEY}
    discover: false
    models: {gpt-4o-mini: {}}
  down-a:
    type: anthropic
    base_url: {down_anthropic}
    api_key: ${env:LR_TEST_ANTHROPIC_SDK_KEY}
    discover: false
    models: {claude-sonnet-4-6: {}}
  down-o:
    type: openai
    base_url: {down_openai}/v1
    api_key: ${env:LR_TEST_ANTHROPIC_SDK_KEY}
    discover: false
    models: {gpt-4o-mini: {}}
strategies:
  to-mock: {models: [mock/small], aliases: {"claude-*": auto}}
  to-anthropic: {models: [claude/claude-sonnet-4-6], aliases: {"claude-*": auto}}
  to-openai: {models: [gpt/gpt-4o-mini], aliases: {"claude-*": auto}}
  all-down:
    models: [down-a/claude-sonnet-4-6, down-o/gpt-4o-mini]
    aliases: {"claude-*": auto}
clients:
  mock: {key_prefix: "{key_prefix:mock}", key_hash: "{key_hash:mock}", strategy: to-mock}
  anthropic:
    key_prefix: "{key_prefix:anthropic}"
    key_hash: "{key_hash:anthropic}"
    strategy: to-anthropic
  openai: {key_prefix: "{key_prefix:openai}", key_hash: "{key_hash:openai}", strategy: to-openai}
  off:
    key_prefix: "{key_prefix:off}"
    key_hash: "{key_hash:off}"
    strategy: to-mock
    enabled: false
  once:
    key_prefix: "{key_prefix:once}"
    key_hash: "{key_hash:once}"
    strategy: to-mock
    limits: [{requests: 1, per: 1m}]
  twice:
    key_prefix: "{key_prefix:twice}"
    key_hash: "{key_hash:twice}"
    strategy: to-mock
    limits: [{requests: 2, per: 1m}]
  doomed: {key_prefix: "{key_prefix:doomed}", key_hash: "{key_hash:doomed}", strategy: all-down}
"""
PROVIDERS = ["mock", "anthropic", "openai"]  # the client named for each serves through it
SERVED_BY = {
    "mock": ("mock", "small"),
    "anthropic": ("claude", MODEL),
    "openai": ("gpt", "gpt-4o-mini"),
}
WEATHER: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
PARIS = 'call get_weather {"city": "Paris"}'  # every upstream answers this with the tool call


@dataclass
class World:
    gw: Gateway
    anthropic: anthropic_fake.FakeState
    openai: openai_fake.FakeState


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    claude, gpt = anthropic_fake.FakeState(), openai_fake.FakeState()
    down_a, down_o = anthropic_fake.FakeState(), openai_fake.FakeState()
    down_a.fail(500, times=10_000)  # every request, health checks included
    down_o.fail(500, times=10_000)
    with ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("LR_TEST_ANTHROPIC_SDK_KEY", anthropic_fake.API_KEY)
        urls = {
            "{anthropic}": stack.enter_context(serve_app(anthropic_fake.create_app(claude))),
            "{openai}": stack.enter_context(serve_app(openai_fake.create_app(gpt))),
            "{down_anthropic}": stack.enter_context(serve_app(anthropic_fake.create_app(down_a))),
            "{down_openai}": stack.enter_context(serve_app(openai_fake.create_app(down_o))),
        }
        text = CONFIG
        for name, url in urls.items():
            text = text.replace(name, url)
        gw = stack.enter_context(running_gateway(text, tmp_path_factory.mktemp("gw")))
        yield World(gw, claude, gpt)


def sdk(gw: Gateway, client: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=gw.keys[client], max_retries=0)


@pytest.fixture
async def async_sdk(world: World) -> AsyncIterator[dict[str, anthropic.AsyncAnthropic]]:
    clients = {
        name: anthropic.AsyncAnthropic(
            base_url=world.gw.url, api_key=world.gw.keys[name], max_retries=0
        )
        for name in PROVIDERS
    }
    yield clients
    for client in clients.values():
        await client.close()


def text_of(message: anthropic.types.Message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


def assert_served(headers: httpx.Headers, client: str) -> None:
    provider, model = SERVED_BY[client]
    assert headers["x-localrouter-provider"] == provider
    assert headers["x-localrouter-model"] == model
    assert headers["x-request-id"]


def assert_upstream_saw(world: World, client: str, path: str) -> None:
    """The fake behind the client's strategy recorded the request (the mock has no wire)."""
    if client == "anthropic":
        assert any(r.path == path for r in world.anthropic.requests), path
    elif client == "openai":
        assert any(r.path == "/v1/chat/completions" for r in world.openai.requests)


# ---------------------------------------------------------------- answers


@pytest.mark.parametrize("client", PROVIDERS)
def test_create(world: World, client: str) -> None:
    raw = sdk(world.gw, client).messages.with_raw_response.create(
        model=MODEL,
        max_tokens=256,
        system="be brief",
        messages=[{"role": "user", "content": "hello gateway"}],
    )
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant" and msg.id
    assert "hello gateway" in text_of(msg)
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert_served(raw.headers, client)
    assert_upstream_saw(world, client, "/v1/messages")


@pytest.mark.parametrize("client", PROVIDERS)
async def test_async_create_and_stream(
    world: World, async_sdk: dict[str, anthropic.AsyncAnthropic], client: str
) -> None:
    api = async_sdk[client]
    msg = await api.messages.create(
        model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "async hello"}]
    )
    assert "async hello" in text_of(msg)
    pieces: list[str] = []
    async with api.messages.stream(
        model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "async stream"}]
    ) as stream:
        async for text in stream.text_stream:
            pieces.append(text)
        final = await stream.get_final_message()
    assert "".join(pieces) == text_of(final)
    assert "async stream" in text_of(final)


@pytest.mark.parametrize("client", PROVIDERS)
def test_stream_text_and_final_message(world: World, client: str) -> None:
    with sdk(world.gw, client).messages.stream(
        model=MODEL,
        max_tokens=256,
        messages=[{"role": "user", "content": "stream me please"}],
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1  # word by word, not one block at the end
    assert "".join(pieces) == text_of(final)
    assert "stream me please" in text_of(final)
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("client", PROVIDERS)
def test_tool_round_trip(world: World, client: str) -> None:
    api = sdk(world.gw, client)
    first: Any = [{"role": "user", "content": PARIS}]
    with api.messages.stream(model=MODEL, max_tokens=256, tools=[WEATHER], messages=first) as s:
        streamed = s.get_final_message()  # the tool call's input arrives as JSON deltas
    created = api.messages.create(model=MODEL, max_tokens=256, tools=[WEATHER], messages=first)
    for msg in (streamed, created):
        assert msg.stop_reason == "tool_use"
        use = next(b for b in msg.content if b.type == "tool_use")
        assert use.name == "get_weather" and use.input == {"city": "Paris"}
        assert use.id
    use = next(b for b in created.content if b.type == "tool_use")
    turns: Any = [
        *first,
        {"role": "assistant", "content": created.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}],
        },
    ]
    follow = api.messages.create(model=MODEL, max_tokens=256, tools=[WEATHER], messages=turns)
    assert follow.stop_reason == "end_turn"
    assert "sunny" in text_of(follow)


@pytest.mark.parametrize("client", PROVIDERS)
def test_count_tokens(world: World, client: str) -> None:
    api = sdk(world.gw, client)
    short = api.messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "count these words"}]
    )
    longer = api.messages.count_tokens(
        model=MODEL,
        system="a system prompt of several words",
        tools=[WEATHER],
        messages=[{"role": "user", "content": "count these words and a good many more of them"}],
    )
    assert isinstance(short.input_tokens, int) and short.input_tokens > 0
    assert longer.input_tokens > short.input_tokens
    if client == "anthropic":  # forwarded: the upstream counted
        assert any(r.path == "/v1/messages/count_tokens" for r in world.anthropic.requests)


# ---------------------------------------------------------------- errors


def envelope(exc: anthropic.APIStatusError, kind: str) -> str:
    """Anthropic's error envelope, of type ``kind``; its message."""
    body: Any = exc.body
    assert body["type"] == "error" and body["error"]["type"] == kind, body
    message: str = body["error"]["message"]
    return message


def test_wrong_key_is_authentication_error(world: World) -> None:
    api = anthropic.Anthropic(base_url=world.gw.url, api_key="lr-" + "x" * 43, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        api.messages.create(
            model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 401
    envelope(caught.value, "authentication_error")


def test_disabled_client_is_permission_denied(world: World) -> None:
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        sdk(world.gw, "off").messages.create(
            model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 403
    envelope(caught.value, "permission_error")


def test_unknown_model_is_not_found(world: World) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        sdk(world.gw, "mock").messages.create(
            model="no-such-model", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 404
    assert "no-such-model" in envelope(caught.value, "not_found_error")


def test_client_limit_is_rate_limit_error_with_retry_after(world: World) -> None:
    api = sdk(world.gw, "once")
    hi: Any = [{"role": "user", "content": "hi"}]
    api.messages.create(model=MODEL, max_tokens=16, messages=hi)
    with pytest.raises(anthropic.RateLimitError) as caught:
        api.messages.create(model=MODEL, max_tokens=16, messages=hi)
    assert caught.value.status_code == 429
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60
    envelope(caught.value, "rate_limit_error")


def test_missing_max_tokens_is_bad_request(world: World) -> None:
    # the SDK's typed create() will not send a body without max_tokens: its raw post() does
    with pytest.raises(anthropic.BadRequestError) as caught:
        sdk(world.gw, "mock").post(
            "/v1/messages",
            body={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
            cast_to=httpx.Response,
        )
    assert caught.value.status_code == 400
    assert "max_tokens" in envelope(caught.value, "invalid_request_error")


def test_every_upstream_failing_is_a_server_error(world: World) -> None:
    with pytest.raises(anthropic.InternalServerError) as caught:
        sdk(world.gw, "doomed").messages.create(
            model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    assert isinstance(caught.value, anthropic.APIStatusError)
    assert 500 <= caught.value.status_code < 600
    # 502 after every candidate was tried (503 only if health checks had given up on both)
    kind = "overloaded_error" if caught.value.status_code == 503 else "api_error"
    message = envelope(caught.value, kind)
    if caught.value.status_code == 502:  # the message lists each attempt
        assert "down-a/claude-sonnet-4-6" in message and "down-o/gpt-4o-mini" in message
    assert anthropic_fake.API_KEY not in message  # never a provider's secret


# ---------------------------------------------------------------- one ledger for both dialects


def test_chat_and_messages_share_one_clients_requests_limit(world: World) -> None:
    """``twice`` may make 2 requests a minute, whichever endpoint they go to: after one chat
    completion (openai SDK) and one message (anthropic SDK), a third of either kind is 429."""
    key = world.gw.keys["twice"]
    chat = openai.OpenAI(base_url=world.gw.v1, api_key=key, max_retries=0)
    messages = anthropic.Anthropic(base_url=world.gw.url, api_key=key, max_retries=0)
    hi: Any = [{"role": "user", "content": "hi"}]
    chat.chat.completions.create(model="auto", messages=hi)
    messages.messages.create(model=MODEL, max_tokens=16, messages=hi)
    with pytest.raises(anthropic.RateLimitError) as refused:
        messages.messages.create(model=MODEL, max_tokens=16, messages=hi)
    assert refused.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError) as refused_chat:
        chat.chat.completions.create(model="auto", messages=hi)
    assert refused_chat.value.status_code == 429
    assert int(refused_chat.value.response.headers["retry-after"]) >= 1
