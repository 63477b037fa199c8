"""The Anthropic adapter against the fake Messages API, over real HTTP (httpx and aiohttp).

Every translation rule is checked twice: on the body the fake received (it validates like the
real API, so a wrong translation is a 400 there) and on the OpenAI object the adapter returned
(validated against OpenAI's published schemas).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator
from types import MappingProxyType
from typing import Any

import pytest

from localrouter.compiler.table import Provider
from localrouter.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from localrouter.providers.anthropic import AnthropicAdapter
from localrouter.providers.base import Target
from localrouter.providers.registry import adapter_for
from localrouter.providers.transport import Transport
from tests.fakes.anthropic_fake import FakeState, create_app, default_models
from tests.fakes.serve import free_port, serve_app, wait_for_streams_closed
from tests.openapi import validate
from tests.transports import http_transport, transport_for

Json = dict[str, Any]
MODEL = "claude-sonnet-4-6"
SECRET = "sk-ant-api03-this-key-must-never-leak-0123456789"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TIME = {"type": "function", "function": {"name": "get_time"}}  # no parameters at all
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
ADAPTER = AnthropicAdapter()


# ---------------------------------------------------------------- fixtures and helpers


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
    state.chunk_delay, state.crlf, state.split_writes = 0.0, False, False
    state.cache_read_tokens = state.cache_creation_tokens = 0
    state.models = default_models()
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


def provider(url: str, **headers: str) -> Provider:
    return Provider(
        "claude", "anthropic", "anthropic", url, None, "api", 2.0, 5.0,
        MappingProxyType(headers), (), True,
    )  # fmt: skip


def target(url: str, key: str = "test-key", **headers: str) -> Target:
    return Target(provider(url, **headers), MODEL, api_key=key)


def user(text: str) -> list[Json]:
    return [{"role": "user", "content": text}]


async def collect(stream: AsyncIterator[Json]) -> list[Json]:
    return [chunk async for chunk in stream]


def validate_chunks(chunks: list[Json]) -> None:
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)


def streamed_text(chunks: list[Json], key: str = "content") -> str:
    return "".join(c["choices"][0]["delta"].get(key) or "" for c in chunks if c["choices"])


def streamed_calls(chunks: list[Json]) -> dict[int, Json]:
    calls: dict[int, Json] = {}
    for chunk in chunks:
        for part in chunk["choices"][0]["delta"].get("tool_calls", []) if chunk["choices"] else []:
            call = calls.setdefault(part["index"], {"id": None, "name": None, "arguments": ""})
            if "id" in part:
                assert call["id"] is None, "id is sent once, on the first chunk of a call"
                call["id"], call["name"] = part["id"], part["function"]["name"]
            call["arguments"] += part["function"].get("arguments", "")
    return calls


def validate_completion_chunk(chunk: Json) -> None:
    # OpenAI's schema marks finish_reason non-null although its API streams null mid-way.
    choices = [{**c, "finish_reason": c["finish_reason"] or "stop"} for c in chunk["choices"]]
    validate("CreateCompletionResponse", {**chunk, "choices": choices})


# ---------------------------------------------------------------- requests


async def test_registry_finds_the_adapter() -> None:
    assert isinstance(adapter_for("anthropic"), AnthropicAdapter)


async def test_plain_chat_is_echoed_with_usage(
    url: str, fake: FakeState, client: Transport
) -> None:
    out = await ADAPTER.chat(client, target(url), {"model": "x", "messages": user("hello there")})
    validate("CreateChatCompletionResponse", out)
    assert out["choices"][0]["message"]["content"] == "hello there"
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["model"] == MODEL
    assert out["usage"]["prompt_tokens"] == 2 and out["usage"]["completion_tokens"] == 2
    assert out["usage"]["total_tokens"] == 4
    sent = fake.last
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "test-key"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert sent.body == {
        "model": MODEL,
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}],
    }


async def test_parameters_are_mapped(url: str, fake: FakeState, client: Transport) -> None:
    body = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "be kind"}]},
            *user("hi"),
        ],
        "max_completion_tokens": 77,
        "max_tokens": 5,
        "temperature": 1.7,
        "top_p": 0.9,
        "stop": "END",
        "user": "user-42",
        "stream_options": {"include_usage": True},
        "presence_penalty": 0.5,
        "n": 1,
    }
    await ADAPTER.chat(client, target(url), body)
    sent = fake.last.body
    assert sent["system"] == [
        {"type": "text", "text": "be brief"},
        {"type": "text", "text": "be kind"},
    ]
    assert sent["max_tokens"] == 77  # max_completion_tokens wins over max_tokens
    assert sent["temperature"] == 1.0  # clamped to Anthropic's range
    assert sent["top_p"] == 0.9
    assert sent["stop_sequences"] == ["END"]
    assert sent["metadata"] == {"user_id": "user-42"}
    await ADAPTER.chat(
        client, target(url), {"messages": user("hi"), "max_tokens": 9, "stop": ["a", "b"]}
    )
    assert fake.last.body["max_tokens"] == 9 and fake.last.body["stop_sequences"] == ["a", "b"]


async def test_api_version_2026_drops_sampling_parameters(
    url: str, fake: FakeState, client: Transport
) -> None:
    t = target(url, **{"Anthropic-Version": "2026-10-21", "anthropic-beta": "some-beta"})
    await ADAPTER.chat(client, t, {"messages": user("hi"), "temperature": 0.2, "top_p": 0.5})
    assert fake.last.headers["anthropic-version"] == "2026-10-21"
    assert fake.last.headers["anthropic-beta"] == "some-beta"
    assert "temperature" not in fake.last.body and "top_p" not in fake.last.body


async def test_conversation_with_tools_images_and_merging(
    url: str, fake: FakeState, client: Transport
) -> None:
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "first"},
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        ]},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
    ]  # fmt: skip
    out = await ADAPTER.chat(client, target(url), {"messages": messages, "tools": [WEATHER, TIME]})
    validate("CreateChatCompletionResponse", out)
    assert out["choices"][0]["message"]["content"] == "tool said: sunny noon"
    sent = fake.last.body
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    first = sent["messages"][0]["content"]
    assert first[:2] == [{"type": "text", "text": "first"}, {"type": "text", "text": "look"}]
    assert first[2]["source"] == {"type": "base64", "media_type": "image/png", "data": PNG}
    assert first[3]["source"] == {"type": "url", "url": "https://example.com/cat.jpg"}
    assert sent["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}},
    ]
    assert sent["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
        {
            "type": "tool_result",
            "tool_use_id": "call_2",
            "content": [{"type": "text", "text": "noon"}],
        },
    ]
    assert sent["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in sent


async def test_tool_results_come_before_a_following_user_text(
    url: str, fake: FakeState, client: Transport
) -> None:
    messages = [
        *user("go"),
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "noon"},
        {"role": "user", "content": "and now?"},
    ]  # fmt: skip
    out = await ADAPTER.chat(client, target(url), {"messages": messages, "tools": [TIME]})
    assert out["choices"][0]["message"]["content"] == "and now?"
    last = fake.last.body["messages"][-1]["content"]
    assert [b["type"] for b in last] == ["tool_result", "text"]


async def test_pdf_file_becomes_a_document(url: str, fake: FakeState, client: Transport) -> None:
    pdf = base64.b64encode(b"%PDF-1.4 fake").decode()
    part = {
        "type": "file",
        "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{pdf}"},
    }
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "read"}, part]}]}
    out = await ADAPTER.chat(client, target(url), body)
    assert out["choices"][0]["message"]["content"] == "read"
    block = fake.last.body["messages"][0]["content"][1]
    assert block == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": pdf},
    }


async def test_prefill_loses_trailing_whitespace(
    url: str, fake: FakeState, client: Transport
) -> None:
    messages = [*user("q"), {"role": "assistant", "content": "The answer is "}]
    await ADAPTER.chat(client, target(url), {"messages": messages})
    assert fake.last.body["messages"][-1]["content"] == [{"type": "text", "text": "The answer is"}]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_time"}},
            None,
            {"type": "tool", "name": "get_time"},
        ),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    ],
)
async def test_tool_choice(
    url: str,
    fake: FakeState,
    client: Transport,
    choice: object,
    parallel: object,
    expected: Json,
) -> None:
    body: Json = {"messages": user("hello"), "tools": [WEATHER, TIME]}
    if choice is not None:
        body["tool_choice"] = choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    out = await ADAPTER.chat(client, target(url), body)
    validate("CreateChatCompletionResponse", out)
    assert fake.last.body["tool_choice"] == expected
    forced = expected["type"] in ("any", "tool")
    assert out["choices"][0]["finish_reason"] == ("tool_calls" if forced else "stop")


async def test_response_format_and_extensions(url: str, fake: FakeState, client: Transport) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = {
        "messages": user("json please"),
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        "top_k": 5,
        "safety_identifier": "hashed-user",
    }
    await ADAPTER.chat(client, target(url), body)
    sent = fake.last.body
    assert sent["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert sent["top_k"] == 5
    assert sent["metadata"] == {"user_id": "hashed-user"}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"messages": user("hi"), "n": 2}, "n > 1"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}
                        ],
                    }
                ]
            },
            "input_audio",
        ),
        (
            {"messages": user("hi"), "tools": [{"type": "custom", "custom": {"name": "x"}}]},
            "tool type",
        ),
        ({"messages": [{"role": "system", "content": "only a system prompt"}]}, "at least one"),
        (
            {
                "messages": [
                    *user("a"),
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}],
                    },
                ]
            },
            "JSON object",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {"url": "data:image/bmp;base64,AAAA"},
                            }
                        ],
                    }
                ]
            },
            "images",
        ),
        ({"messages": "not a list"}, "non-empty list"),
        ({"messages": user("hi"), "functions": [{"name": "f"}]}, "legacy functions"),
    ],
)
async def test_untranslatable_requests_are_400_without_a_call(
    url: str, fake: FakeState, client: Transport, body: Json, words: str
) -> None:
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.chat(client, target(url), body)
    assert err.value.status == 400 and not err.value.retryable
    assert words in err.value.message
    assert fake.requests == []


# ---------------------------------------------------------------- answers


async def test_tool_call_answer(url: str, fake: FakeState, client: Transport) -> None:
    text = 'call get_weather {"city": "Paris"}\ncall get_time'
    out = await ADAPTER.chat(
        client, target(url), {"messages": user(text), "tools": [WEATHER, TIME]}
    )
    validate("CreateChatCompletionResponse", out)
    msg = out["choices"][0]["message"]
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert msg["content"] == "Calling get_weather, get_time."
    assert [c["function"]["name"] for c in msg["tool_calls"]] == ["get_weather", "get_time"]
    assert json.loads(msg["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert json.loads(msg["tool_calls"][1]["function"]["arguments"]) == {}
    assert all(c["id"].startswith("toolu_") and c["type"] == "function" for c in msg["tool_calls"])


@pytest.mark.parametrize(
    ("body", "finish", "content"),
    [
        ({"messages": user("one two three four"), "max_tokens": 2}, "length", "one two"),
        ({"messages": user("say STOP now"), "stop": ["STOP"]}, "stop", "say "),
        ({"messages": user("refuse this")}, "content_filter", ""),
    ],
)
async def test_finish_reasons(
    url: str, fake: FakeState, client: Transport, body: Json, finish: str, content: str
) -> None:
    out = await ADAPTER.chat(client, target(url), body)
    validate("CreateChatCompletionResponse", out)
    assert out["choices"][0]["finish_reason"] == finish
    assert out["choices"][0]["message"]["content"] == content
    chunks = await collect(ADAPTER.chat_stream(client, target(url), body))
    validate_chunks(chunks)
    assert chunks[-2]["choices"][0]["finish_reason"] == finish
    assert streamed_text(chunks) == content


async def test_cache_tokens_count_as_prompt_tokens(
    url: str, fake: FakeState, client: Transport
) -> None:
    fake.cache_read_tokens, fake.cache_creation_tokens = 100, 20
    out = await ADAPTER.chat(client, target(url), {"messages": user("a b c")})
    validate("CreateChatCompletionResponse", out)
    assert out["usage"]["prompt_tokens"] == 3 + 100 + 20
    assert out["usage"]["prompt_tokens_details"] == {"cached_tokens": 100}
    chunks = await collect(ADAPTER.chat_stream(client, target(url), {"messages": user("a b c")}))
    assert chunks[-1]["usage"] == out["usage"]


async def test_thinking_becomes_reasoning_content(
    url: str, fake: FakeState, client: Transport
) -> None:
    body = {"messages": user("why"), "thinking": {"type": "adaptive"}}
    out = await ADAPTER.chat(client, target(url), body)
    validate("CreateChatCompletionResponse", out)
    assert out["choices"][0]["message"]["reasoning_content"] == "Thinking about: why"
    assert out["choices"][0]["message"]["content"] == "why"
    chunks = await collect(ADAPTER.chat_stream(client, target(url), body))
    validate_chunks(chunks)
    assert streamed_text(chunks, "reasoning_content") == "Thinking about: why"
    assert streamed_text(chunks) == "why"


# ---------------------------------------------------------------- streams


@pytest.mark.parametrize("wire", ["plain", "crlf+split"])
async def test_stream_chunks_in_order(
    url: str, fake: FakeState, client: Transport, wire: str
) -> None:
    fake.crlf = fake.split_writes = wire != "plain"
    text = "the quick brown fox"
    chunks = await collect(ADAPTER.chat_stream(client, target(url), {"messages": user(text)}))
    validate_chunks(chunks)
    assert fake.last.body["stream"] is True
    assert fake.last.headers["accept"] == "text/event-stream"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert streamed_text(chunks) == text
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) == 4
    assert chunks[-2]["choices"][0] == {
        "index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"
    }  # fmt: skip
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 8
    assert all("usage" not in c for c in chunks[:-1])
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("msg_")


async def test_stream_tool_calls(url: str, fake: FakeState, client: Transport) -> None:
    text = 'call get_weather {"city": "Paris", "unit": "celsius"}\ncall get_time'
    body = {"messages": user(text), "tools": [WEATHER, TIME]}
    chunks = await collect(ADAPTER.chat_stream(client, target(url), body))
    validate_chunks(chunks)
    calls = streamed_calls(chunks)
    assert [calls[i]["name"] for i in (0, 1)] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris", "unit": "celsius"}
    assert json.loads(calls[1]["arguments"]) == {}
    pieces = [c for c in chunks if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    assert len(pieces) > 4, "arguments arrive as several deltas"
    first = pieces[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    assert first["type"] == "function" and first["id"].startswith("toolu_")
    assert streamed_text(chunks) == "Calling get_weather, get_time."
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


async def test_stream_is_not_buffered(url: str, fake: FakeState, client: Transport) -> None:
    fake.chunk_delay = 0.15
    started = time.monotonic()
    stamps: list[float] = []
    finished_at_first: int | None = None
    async for _chunk in ADAPTER.chat_stream(client, target(url), {"messages": user("a b c d")}):
        stamps.append(time.monotonic() - started)
        if finished_at_first is None:
            finished_at_first = fake.streams_finished
    assert finished_at_first == 0, "the first chunk came before the fake finished its stream"
    assert stamps[-1] >= 0.15 * 9
    assert stamps[0] < 0.15 * 3
    text_stamps = stamps[1:5]
    assert all(b - a > 0.1 for a, b in itertools.pairwise(text_stamps))


async def test_cancelling_the_stream_closes_the_upstream(
    url: str, fake: FakeState, client: Transport
) -> None:
    fake.chunk_delay = 0.2
    stream = ADAPTER.chat_stream(client, target(url), {"messages": user("a b c d e f")})
    first = await stream.__anext__()
    assert first["choices"][0]["delta"]["role"] == "assistant"
    await stream.aclose()  # type: ignore[attr-defined]
    assert await asyncio.to_thread(fake.client_gone.wait, 3.0)
    assert fake.disconnects == 1 and fake.streams_finished == 0


async def test_cancelling_the_consuming_task_closes_the_upstream(
    url: str, fake: FakeState, client: Transport
) -> None:
    fake.chunk_delay = 0.2
    got: list[Json] = []

    async def consume() -> None:
        async for chunk in ADAPTER.chat_stream(client, target(url), {"messages": user("a b c")}):
            got.append(chunk)

    task = asyncio.create_task(consume())
    while not got:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(fake.client_gone.wait, 3.0)


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, "invalid_request_error", False),
        (401, "authentication_error", False),
        (403, "permission_error", False),
        (404, "not_found_error", False),
        (413, "request_too_large", False),
        (429, "rate_limit_error", True),
        (500, "api_error", True),
        (529, "overloaded_error", True),
    ],
)
@pytest.mark.parametrize("streaming", [False, True])
async def test_error_statuses(
    url: str,
    fake: FakeState,
    client: Transport,
    status: int,
    kind: str,
    retryable: bool,
    streaming: bool,
) -> None:
    fake.fail(status)
    body = {"messages": user("hi")}
    got: list[Json] = []
    with pytest.raises(UpstreamHTTPError) as err:
        if streaming:
            async for chunk in ADAPTER.chat_stream(client, target(url, key=SECRET), body):
                got.append(chunk)
        else:
            await ADAPTER.chat(client, target(url, key=SECRET), body)
    assert got == [], "an error status raises before any chunk"
    assert err.value.status == status and err.value.retryable is retryable
    assert err.value.provider == "claude"
    assert f"claude answered {status}: {kind}: scripted failure {status}" == err.value.message
    assert err.value.retry_after == (1.0 if status == 429 else None)
    assert SECRET not in str(err.value) and SECRET not in repr(err.value)


async def test_wrong_key_is_401_without_the_key(
    url: str, fake: FakeState, client: Transport
) -> None:
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.chat(client, target(url, key=SECRET), {"messages": user("hi")})
    assert err.value.status == 401 and "invalid x-api-key" in err.value.message
    assert SECRET not in str(err.value)
    assert fake.last.headers["x-api-key"] == SECRET  # it was sent, only as the header


async def test_an_error_body_echoing_the_key_is_redacted(
    url: str, fake: FakeState, client: Transport
) -> None:
    key = "plainkey"  # nothing the generic key pattern would catch
    fake.fail(
        401,
        body={
            "type": "error",
            "error": {"type": "authentication_error", "message": f"bad key {key}"},
        },
    )
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.chat(client, target(url, key=key), {"messages": user("hi")})
    assert key not in err.value.message and "[redacted]" in err.value.message


async def test_retry_after_header(url: str, fake: FakeState, client: Transport) -> None:
    fake.fail(429, headers={"retry-after": "17"})
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.chat(client, target(url), {"messages": user("hi")})
    assert err.value.retry_after == 17.0


async def test_unknown_model_is_404(url: str, fake: FakeState, client: Transport) -> None:
    t = Target(provider(url), "claude-nonexistent", api_key="test-key")
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.chat(client, t, {"messages": user("hi")})
    assert err.value.status == 404 and "not_found_error" in err.value.message


async def test_malformed_answers(url: str, fake: FakeState, client: Transport) -> None:
    fake.malformed()
    with pytest.raises(UpstreamProtocolError):
        await ADAPTER.chat(client, target(url), {"messages": user("hi")})
    fake.malformed()
    with pytest.raises(UpstreamProtocolError):
        await collect(ADAPTER.chat_stream(client, target(url), {"messages": user("hi")}))


async def test_hang_is_a_timeout(url: str, fake: FakeState) -> None:
    fake.hang(1.0)
    async with http_transport(0.3) as slow:
        with pytest.raises(UpstreamTimeout):
            await ADAPTER.chat(slow, target(url), {"messages": user("hi")})
        fake.hang(1.0)
        with pytest.raises(UpstreamTimeout):
            await collect(ADAPTER.chat_stream(slow, target(url), {"messages": user("hi")}))


async def test_connection_refused(net: Transport) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UpstreamConnectError):
        await ADAPTER.chat(net, target(dead), {"messages": user("hi")})


@pytest.mark.parametrize(
    ("mode", "error", "status"),
    [("cut", UpstreamConnectError, None), ("error", UpstreamHTTPError, 529)],
)
async def test_stream_broken_midway(
    url: str,
    fake: FakeState,
    client: Transport,
    mode: str,
    error: type[UpstreamError],
    status: int | None,
) -> None:
    fake.break_stream_after(5, mode=mode)
    got: list[Json] = []
    with pytest.raises(error) as err:
        async for chunk in ADAPTER.chat_stream(
            client, target(url), {"messages": user("a b c d e")}
        ):
            got.append(chunk)
    assert streamed_text(got) == "a b "  # message_start, block start, ping, two deltas
    assert err.value.status == status
    if mode == "error":
        assert "overloaded_error: Overloaded" in err.value.message and err.value.retryable


async def test_stream_ending_before_message_stop(
    url: str, fake: FakeState, client: Transport
) -> None:
    fake.break_stream_after(6, mode="end")
    got: list[Json] = []
    with pytest.raises(UpstreamProtocolError, match="before message_stop"):
        async for chunk in ADAPTER.chat_stream(client, target(url), {"messages": user("a b c")}):
            got.append(chunk)
    assert streamed_text(got) == "a b c"


# ---------------------------------------------------------------- completions, embeddings, models


async def test_legacy_completion(url: str, fake: FakeState, client: Transport) -> None:
    body = {"model": "x", "prompt": "once upon a time", "max_tokens": 3, "stop": "\n\n"}
    out = await ADAPTER.completion(client, target(url), body)
    validate("CreateCompletionResponse", out)
    assert out["object"] == "text_completion"
    assert out["choices"][0]["text"] == "once upon a"
    assert out["choices"][0]["finish_reason"] == "length"
    assert fake.last.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "once upon a time"}]}
    ]
    assert fake.last.body["max_tokens"] == 3 and fake.last.body["stop_sequences"] == ["\n\n"]
    chunks = await collect(ADAPTER.completion_stream(client, target(url), {"prompt": ["hi you"]}))
    for chunk in chunks:
        validate_completion_chunk(chunk)
        assert chunk["object"] == "text_completion"
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "hi you"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 2
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.completion(client, target(url), {"prompt": "x", "echo": True})
    assert err.value.status == 400


async def test_no_embeddings(url: str, fake: FakeState, client: Transport) -> None:
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.embeddings(client, target(url), {"input": "hi"})
    assert err.value.status == 400 and "no embeddings endpoint" in err.value.message
    assert fake.requests == []


async def test_list_models_pages_and_maps(url: str, fake: FakeState, client: Transport) -> None:
    base = default_models()
    extra = [
        {**base[1], "id": f"claude-test-{i:04d}", "max_input_tokens": 1000 + i} for i in range(2100)
    ]
    fake.models = base + extra
    found = await ADAPTER.list_models(client, provider(url), "test-key")
    pages = [r for r in fake.requests if r.path == "/v1/models"]
    assert len(pages) == 3
    assert "after_id" not in pages[0].query
    assert [p.query["after_id"] for p in pages[1:]] == [
        fake.models[999]["id"],
        fake.models[1999]["id"],
    ]
    assert [p.query["limit"] for p in pages] == ["1000"] * 3
    assert pages[0].headers["x-api-key"] == "test-key"
    names = [m.name for m in found]
    assert len(names) == len(set(names)) == 4 + 2100  # the retired model is left out
    assert "claude-3-5-haiku-20241022" not in names
    sonnet = found[0]
    assert sonnet.name == "claude-sonnet-5-5" and sonnet.context_window == 200000
    assert sonnet.capabilities == ("chat", "completions", "tools", "vision", "json")


async def test_list_models_errors(url: str, fake: FakeState, client: Transport) -> None:
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.list_models(client, provider(url), SECRET)
    assert err.value.status == 401 and SECRET not in err.value.message
    fake.fail(529)
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.list_models(client, provider(url), "test-key")
    assert err.value.status == 529


# ---------------------------------------------------------------- the aiohttp transport


async def test_over_the_aiohttp_transport(url: str, fake: FakeState) -> None:
    async with http_transport(5.0) as aio:
        out = await ADAPTER.chat(aio, target(url), {"messages": user("via aiohttp")})
        validate("CreateChatCompletionResponse", out)
        assert out["choices"][0]["message"]["content"] == "via aiohttp"
        fake.crlf = fake.split_writes = True
        body = {"messages": user('call get_weather {"city": "Oslo"}'), "tools": [WEATHER]}
        chunks = await collect(ADAPTER.chat_stream(aio, target(url), body))
        validate_chunks(chunks)
        assert json.loads(streamed_calls(chunks)[0]["arguments"]) == {"city": "Oslo"}
        assert chunks[-1]["usage"]["total_tokens"] > 0
        fake.fail(429, headers={"retry-after": "3"})
        with pytest.raises(UpstreamHTTPError) as err:
            await collect(ADAPTER.chat_stream(aio, target(url), {"messages": user("x")}))
        assert err.value.status == 429 and err.value.retry_after == 3.0
        fake.break_stream_after(4)
        with pytest.raises(UpstreamError):
            await collect(ADAPTER.chat_stream(aio, target(url), {"messages": user("a b c d")}))
        fake.chunk_delay = 0.2
        stream = ADAPTER.chat_stream(aio, target(url), {"messages": user("a b c d e")})
        await stream.__anext__()
        await stream.aclose()  # type: ignore[attr-defined]
        assert await asyncio.to_thread(fake.client_gone.wait, 3.0)
