"""Native forwarding of Anthropic Messages requests (``providers/anthropic_native.py``) against the
fake Anthropic API served for real, on both client paths (httpx, and the aiohttp session the
gateway uses): the body arrives as the client sent it with only ``model`` changed, thinking
signatures survive a round trip, the stream's frames are the fake's own bytes, and every failure
is the translated adapter's error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from types import MappingProxyType
from typing import Any

import orjson
import pytest
from quart import Quart, Response

from localrouter.compiler.table import Provider
from localrouter.errors import (
    UpstreamConnectError,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnsupported,
)
from localrouter.providers.anthropic_native import (
    NativeEvent,
    NativeUsage,
    UsageTally,
    count_tokens,
    event_error,
    messages,
    messages_stream,
    usage_of,
)
from localrouter.providers.base import Target
from localrouter.providers.transport import Transport
from tests.fakes.anthropic_fake import FakeState, create_app
from tests.fakes.serve import serve_app, wait_for_streams_closed
from tests.transports import http_transport, transport_for

Json = dict[str, Any]
MODEL = "claude-sonnet-4-6"
SECRET = "sk-ant-api03-this-key-must-never-leak-0123456789"
WEATHER: Json = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
THINK: Json = {"type": "enabled", "budget_tokens": 1024}
V = {"anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeState]]:
    state = FakeState()
    with serve_app(create_app(state)) as url:
        yield url, state


@pytest.fixture
def fake(server: tuple[str, FakeState]) -> FakeState:
    state = server[1]
    state.requests.clear()
    state.script.clear()
    state.prompt_cache.clear()
    state.chunk_delay, state.crlf, state.split_writes = 0.0, False, False
    wait_for_streams_closed(state)
    state.disconnects = state.streams_started = state.streams_finished = 0
    state.client_gone.clear()
    return state


@pytest.fixture
def url(server: tuple[str, FakeState]) -> str:
    return server[0]


@pytest.fixture(params=["http", "memory"])
async def client(
    request: pytest.FixtureRequest, server: tuple[str, FakeState]
) -> AsyncIterator[Transport]:
    async with transport_for(request.param, create_app(server[1]), 5.0) as c:
        yield c


def target(url: str, key: str = "test-key", model: str = MODEL, **config: Any) -> Target:
    headers = config.pop("headers", {})
    provider = Provider(
        "claude", "anthropic", "anthropic", url, None, "api", 2.0, 5.0,
        MappingProxyType(headers), (), True, **config,
    )  # fmt: skip
    return Target(provider, model, api_key=key)


def ask(text: str, **fields: Any) -> Json:
    """A client's body: its own model name (an alias the gateway resolved), keys in its order."""
    return {"max_tokens": 2048, "model": "localrouter/auto", **fields, "messages": user(text)}


def user(text: str) -> list[Json]:
    return [{"role": "user", "content": text}]


async def events_of(
    client: Transport, t: Target, body: Json, headers: dict[str, str] = V
) -> list[NativeEvent]:
    async with aclosing(messages_stream(client, t, body, headers)) as stream:
        return [event async for event in stream]


def rebuilt(events: list[NativeEvent]) -> list[Json]:
    """The content blocks a stream delivered, put together as a client SDK does."""
    blocks: list[Json] = []
    for e in events:
        if e.name == "content_block_start":
            blocks.append(dict(e.data["content_block"]))
        elif e.name == "content_block_delta":
            delta, block = e.data["delta"], blocks[e.data["index"]]
            key = {"text_delta": "text", "thinking_delta": "thinking"}.get(delta["type"])
            if key:
                block[key] += delta[key]
            elif delta["type"] == "signature_delta":
                block["signature"] += delta["signature"]
            elif delta["type"] == "input_json_delta":
                block["partial"] = block.get("partial", "") + delta["partial_json"]
    for block in blocks:
        if "partial" in block:
            block["input"] = json.loads(block.pop("partial"))
    return blocks


# ---------------------------------------------------------------- what is sent


async def test_the_body_arrives_as_sent_with_only_the_model_changed(
    url: str, fake: FakeState, client: Transport
) -> None:
    cached = {"type": "ephemeral", "ttl": "1h"}
    body = {
        "system": [{"type": "text", "text": "you are terse " * 20, "cache_control": cached}],
        "model": "localrouter/auto",
        "tools": [{**WEATHER, "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": cached}]}
        ],
        "metadata": {"user_id": "u-1"},
        "max_tokens": 64,
        "temperature": 0.25,
        "service_tier": "auto",  # a field LocalRouter knows nothing about
    }
    answer = await messages(client, target(url), body, V)
    sent = fake.last
    assert sent.path == "/v1/messages"
    assert sent.body == {**body, "model": MODEL}
    assert list(sent.body) == list(body)  # the key order too
    assert sent.raw == orjson.dumps({**body, "model": MODEL})
    assert answer["type"] == "message" and answer["model"] == MODEL
    assert usage_of(answer) == NativeUsage(
        input_tokens=0,  # every prompt token is before the last marker
        output_tokens=1,
        cache_creation_input_tokens=answer["usage"]["cache_creation_input_tokens"],
        cache_read_input_tokens=0,
    )
    assert answer["usage"]["cache_creation"]["ephemeral_1h_input_tokens"] > 0
    again = await messages(client, target(url), body, V)
    assert usage_of(again).cache_read_input_tokens == usage_of(answer).cache_creation_input_tokens
    assert usage_of(again).prompt_tokens == usage_of(answer).prompt_tokens


async def test_headers_are_ours_plus_the_clients_version_and_betas(
    url: str, fake: FakeState, client: Transport
) -> None:
    configured = {"anthropic-beta": "context-1m-2025-08-07", "x-team": "a"}
    t = target(url, headers=configured)
    theirs = {
        "Anthropic-Version": "2026-10-21",
        "anthropic-beta": "interleaved-thinking-2025-05-14, context-1m-2025-08-07",
        "x-api-key": "the-clients-own-key",
        "authorization": "Bearer lr-client-key",
        "user-agent": "client-sdk/1.0",
        "x-stainless-lang": "python",
    }
    await messages(client, t, ask("hi"), theirs)
    sent = fake.last.headers
    assert sent["x-api-key"] == "test-key" and "authorization" not in sent
    assert sent["anthropic-version"] == "2026-10-21"
    assert sent["anthropic-beta"] == "context-1m-2025-08-07,interleaved-thinking-2025-05-14"
    assert sent["x-team"] == "a"
    assert "x-stainless-lang" not in sent and sent.get("user-agent") != "client-sdk/1.0"
    await messages(client, target(url), ask("hi"), {})
    assert fake.last.headers["anthropic-version"] == "2023-06-01"
    assert "anthropic-beta" not in fake.last.headers


async def test_stream_is_set_to_match_the_call(
    url: str, fake: FakeState, client: Transport
) -> None:
    await messages(client, target(url), ask("hi", stream=True), V)
    assert fake.last.body["stream"] is False
    await events_of(client, target(url), ask("hi"))
    assert fake.last.body["stream"] is True and list(fake.last.body)[-1] == "stream"


async def test_a_body_or_header_that_cannot_be_sent_is_refused_unsent(
    url: str, fake: FakeState, client: Transport
) -> None:
    with pytest.raises(UpstreamUnsupported):
        await messages(client, target(url), ask("hi", metadata={"n": 2**70}), V)
    for bad in ("2023-06-01\r\nx-api-key: other", "b" * 5000, "béta"):
        with pytest.raises(UpstreamUnsupported, match="anthropic-beta header is not valid"):
            await events_of(client, target(url), ask("hi"), {"anthropic-beta": bad})
    assert fake.requests == []


# ---------------------------------------------------------------- thinking signatures


async def test_signatures_survive_a_tool_loop(url: str, fake: FakeState, client: Transport) -> None:
    first = ask('call get_weather {"city": "Oslo"}', thinking=THINK, tools=[WEATHER])
    answer = await messages(client, target(url), first, V)
    assert [b["type"] for b in answer["content"]] == ["thinking", "text", "tool_use"]
    use = answer["content"][2]
    result = {"type": "tool_result", "tool_use_id": use["id"], "content": "sunny"}
    turns = [
        *first["messages"],
        {"role": "assistant", "content": answer["content"]},
        {"role": "user", "content": [result]},
    ]
    follow = await messages(client, target(url), {**first, "messages": turns}, V)
    assert follow["content"][-1]["text"] == "tool said: sunny"
    assert fake.last.body["messages"][1]["content"][0] == answer["content"][0]
    # a gateway that rewrote the block would be refused, as Anthropic refuses it
    edited = {**answer["content"][0], "thinking": answer["content"][0]["thinking"] + " "}
    turns[1] = {"role": "assistant", "content": [edited, *answer["content"][1:]]}
    with pytest.raises(UpstreamHTTPError) as err:
        await messages(client, target(url), {**first, "messages": turns}, V)
    assert err.value.status == 400 and not err.value.retryable
    assert "messages.1.content.0: Invalid `signature` in `thinking` block" in err.value.message


async def test_streamed_thinking_and_redacted_thinking_go_back_intact(
    url: str, fake: FakeState, client: Transport
) -> None:
    trigger = (
        "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7"
        "398A98432ECCCE4C1253D5E2D82641AC0E52CC2876CB"
    )
    first = ask(trigger, thinking=THINK)
    events = await events_of(client, target(url), first)
    deltas = [e.data["delta"]["type"] for e in events if e.name == "content_block_delta"]
    assert "thinking_delta" in deltas and "signature_delta" in deltas
    blocks = rebuilt(events)
    assert [b["type"] for b in blocks] == ["redacted_thinking", "thinking", "text"]
    assert blocks[1]["signature"]
    turns = [*first["messages"], {"role": "assistant", "content": blocks}, *user("and now?")]
    follow = await events_of(client, target(url), {**first, "messages": turns})
    assert follow[-1].name == "message_stop"
    assert fake.last.body["messages"][1]["content"] == blocks


# ---------------------------------------------------------------- streams


@pytest.mark.parametrize("crlf", [False, True])
async def test_frames_are_the_providers_own_bytes(
    url: str, fake: FakeState, client: Transport, crlf: bool
) -> None:
    fake.crlf = crlf
    fake.split_writes = True
    body = ask('call get_weather {"city": "Rome"}', tools=[WEATHER], thinking=THINK)
    events = await events_of(client, target(url), body)
    sent = [raw.replace(b"\r\n", b"\n") for raw in fake.streamed]
    assert [e.frame for e in events] == sent
    assert [e.data for e in events] == [json.loads(raw.split(b"data: ", 1)[1]) for raw in sent]
    names = [e.name for e in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert rebuilt(events)[-1]["input"] == {"city": "Rome"}


async def test_usage_from_the_events(url: str, fake: FakeState, client: Transport) -> None:
    fake.cache_read_tokens, fake.cache_creation_tokens = 40, 7
    try:
        events = await events_of(client, target(url), ask("count these four words"))
    finally:
        fake.cache_read_tokens = fake.cache_creation_tokens = 0
    final = events[-2].data["usage"]
    want = NativeUsage(final["input_tokens"], 4, 7, 40)
    assert usage_of(events) == want and want.prompt_tokens == final["input_tokens"] + 47
    tally = UsageTally()
    tally.feed(events[0])
    assert tally.usage.output_tokens == 1 and tally.usage.cache_read_input_tokens == 40
    for event in events[1:]:
        tally.feed(event)
    assert tally.usage == want and tally.stop_reason == "end_turn" and tally.finished
    assert want.openai() == {
        "prompt_tokens": want.prompt_tokens,
        "completion_tokens": 4,
        "total_tokens": want.prompt_tokens + 4,
        "prompt_tokens_details": {"cached_tokens": 40},
    }


async def test_a_stream_is_not_buffered(url: str, fake: FakeState, client: Transport) -> None:
    fake.chunk_delay = 0.3
    async with aclosing(messages_stream(client, target(url), ask("a b c d"), V)) as stream:
        async for event in stream:
            if event.name == "content_block_delta":
                break
    assert fake.streams_finished == 0  # the first text came long before the stream's end


async def test_closing_the_stream_closes_the_upstream(
    url: str, fake: FakeState, client: Transport
) -> None:
    fake.chunk_delay = 0.2
    stream = messages_stream(client, target(url), ask("a b c d e f"), V)
    assert (await stream.__anext__()).name == "message_start"
    await stream.aclose()
    assert await asyncio.to_thread(fake.client_gone.wait, 3.0)
    assert fake.disconnects == 1 and fake.streams_finished == 0


async def test_cancelling_the_consumer_closes_the_upstream(
    url: str, fake: FakeState, client: Transport
) -> None:
    fake.chunk_delay = 0.2
    got: list[NativeEvent] = []

    async def consume() -> None:
        async with aclosing(messages_stream(client, target(url), ask("a b c"), V)) as stream:
            async for event in stream:
                got.append(event)

    task = asyncio.create_task(consume())
    while not got:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(fake.client_gone.wait, 3.0)


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "invalid_request_error"), (401, "authentication_error"), (429, "rate_limit_error"),
     (500, "api_error"), (529, "overloaded_error")],
)  # fmt: skip
@pytest.mark.parametrize("call", ["messages", "stream", "count_tokens"])
async def test_error_statuses_are_the_adapters_errors(
    url: str, fake: FakeState, client: Transport, status: int, kind: str, call: str
) -> None:
    fake.fail(status)
    t = target(url, key=SECRET)
    with pytest.raises(UpstreamHTTPError) as err:
        if call == "messages":
            await messages(client, t, ask("hi"), V)
        elif call == "stream":
            await events_of(client, t, ask("hi"))
        else:
            await count_tokens(client, t, {"model": "x", "messages": user("hi")}, V)
    assert err.value.status == status and err.value.provider == "claude"
    assert err.value.message == f"claude answered {status}: {kind}: scripted failure {status}"
    assert err.value.retry_after == (1.0 if status == 429 else None)
    assert SECRET not in str(err.value) and SECRET not in repr(err.value)


async def test_an_error_body_echoing_the_key_is_redacted(
    url: str, fake: FakeState, client: Transport
) -> None:
    error = {"type": "authentication_error", "message": "bad key plainkey"}
    fake.fail(401, body={"type": "error", "error": error})
    with pytest.raises(UpstreamHTTPError) as err:
        await messages(client, target(url, key="plainkey"), ask("hi"), V)
    assert "plainkey" not in err.value.message and "[redacted]" in err.value.message


async def test_an_error_event_first_raises_so_the_caller_can_fall_back(
    url: str, fake: FakeState, client: Transport
) -> None:
    fake.break_stream_after(0, mode="error")
    got: list[NativeEvent] = []
    with pytest.raises(UpstreamHTTPError) as err:
        async for event in messages_stream(client, target(url), ask("a b"), V):
            got.append(event)
    assert got == [] and err.value.status == 529 and err.value.retryable
    assert err.value.message == "claude answered 529: overloaded_error: Overloaded"


async def test_an_error_event_later_is_forwarded_and_ends_the_stream(
    url: str, fake: FakeState, client: Transport
) -> None:
    fake.break_stream_after(4, mode="error")
    events = await events_of(client, target(url), ask("a b c d e"))
    assert [e.name for e in events][-2:] == ["content_block_delta", "error"]
    assert len(events) == 5 and events[-1].frame == fake.streamed[-1]
    error = event_error(events[-1], target(url))
    assert error is not None and error.status == 529 and event_error(events[0], target(url)) is None
    tally = UsageTally()
    for event in events:
        tally.feed(event)
    assert tally.error == {"type": "overloaded_error", "message": "Overloaded"}
    assert not tally.finished and tally.usage.input_tokens == 5


@pytest.mark.parametrize(
    ("mode", "error"), [("cut", UpstreamConnectError), ("end", UpstreamProtocolError)]
)
async def test_a_stream_cut_short_is_an_error_after_its_events(
    url: str, fake: FakeState, client: Transport, mode: str, error: type[Exception]
) -> None:
    fake.break_stream_after(4, mode=mode)
    got: list[str] = []
    with pytest.raises(error):
        async for event in messages_stream(client, target(url), ask("a b c d e"), V):
            got.append(event.name)
    assert len(got) == 4


async def test_malformed_answers(url: str, fake: FakeState, client: Transport) -> None:
    fake.malformed()
    with pytest.raises(UpstreamProtocolError):
        await messages(client, target(url), ask("hi"), V)
    fake.malformed()
    with pytest.raises(UpstreamProtocolError, match="a stream event that is not JSON"):
        await events_of(client, target(url), ask("hi"))
    fake.fail(200, body={"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    with pytest.raises(UpstreamHTTPError) as err:
        await messages(client, target(url), ask("hi"), V)
    assert err.value.status == 529
    fake.fail(200, body={"id": "x"})
    with pytest.raises(UpstreamProtocolError, match="not a message"):
        await messages(client, target(url), ask("hi"), V)


async def test_hang_is_a_timeout(url: str, fake: FakeState) -> None:
    async with http_transport(0.3) as slow:
        fake.hang(1.0)
        with pytest.raises(UpstreamTimeout):
            await messages(slow, target(url), ask("hi"), V)
        fake.hang(1.0)
        with pytest.raises(UpstreamTimeout):
            await events_of(slow, target(url), ask("hi"))


async def test_caps_bound_an_answer_and_an_event(
    url: str, fake: FakeState, client: Transport
) -> None:
    word = "w" * 3000  # one text_delta event of ~3.1 KB; the answer ~3.4 KB
    small = target(url, max_response_bytes=2048, max_event_bytes=2048)
    with pytest.raises(UpstreamTooLarge, match=r"providers\.claude\.max_response_mb"):
        await messages(client, small, ask(word), V)
    fake.chunk_delay = 0.05  # the fake is still sending when the cap is hit
    got: list[str] = []
    with pytest.raises(UpstreamTooLarge, match=r"providers\.claude\.max_event_kb"):
        async for event in messages_stream(client, small, ask(f"a {word} b c d e f g"), V):
            got.append(event.name)
    assert got == ["message_start", "content_block_start", "ping", "content_block_delta"]
    assert await asyncio.to_thread(fake.client_gone.wait, 3.0)  # the connection was closed
    assert len(await events_of(client, target(url), ask(word))) > 0  # the default caps pass it


# ---------------------------------------------------------------- count_tokens


async def test_count_tokens(url: str, fake: FakeState, client: Transport) -> None:
    body = {"model": "claude-alias", "system": "be brief", "messages": user("one two three")}
    counted = await count_tokens(client, target(url), body, V)
    assert fake.last.path == "/v1/messages/count_tokens"
    assert fake.last.body == {**body, "model": MODEL} and "stream" not in fake.last.body
    created = await messages(client, target(url), ask("one two three", system="be brief"), V)
    assert counted == {"input_tokens": created["usage"]["input_tokens"]}
    with pytest.raises(UpstreamHTTPError, match="max_tokens: Extra inputs are not permitted"):
        await count_tokens(client, target(url), {**body, "max_tokens": 5}, V)


# ---------------------------------------------------------------- SSE the fake never sends


def odd_stream_app() -> Quart:
    """Valid SSE Anthropic does not send: a data field over two lines, an event without an
    ``event:`` line, comments, an ``id:``; then a clean end."""
    app = Quart("odd")
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 3}}}
    body = (
        b": a comment\n"
        b"event: message_start\ndata: " + json.dumps(start).encode() + b"\n\n"
        b'id: 7\ndata: {"type": "ping"}\n\n'
        b'event: content_block_delta\ndata: {"type": "content_block_delta",\n'
        b'data:  "index": 0, "delta": {"type": "text_delta", "text": "x"}}\n\n'
        b'event: message_delta\ndata:{"type":"message_delta","usage":{"output_tokens":2}}\n\n'
        b'event: message_stop\ndata: {"type": "message_stop"}\n\n'
    )

    @app.post("/v1/messages")
    async def messages_() -> Response:
        return Response(body, content_type="text/event-stream")

    return app


async def test_odd_but_valid_sse_is_forwarded_faithfully(net: Transport) -> None:
    with serve_app(odd_stream_app()) as url:
        events = await events_of(net, target(url), ask("hi"))
    assert [e.name for e in events] == [
        "message_start", "ping", "content_block_delta", "message_delta", "message_stop"
    ]  # fmt: skip
    assert events[1].frame == b'event: ping\ndata: {"type": "ping"}\n\n'
    assert events[2].frame == (
        b'event: content_block_delta\ndata: {"type": "content_block_delta",\n'
        b'data:  "index": 0, "delta": {"type": "text_delta", "text": "x"}}\n\n'
    )
    assert events[2].data["delta"]["text"] == "x"
    assert events[3].frame.startswith(b'event: message_delta\ndata: {"type":"message_delta"')
    assert usage_of(events) == NativeUsage(input_tokens=3, output_tokens=2)
