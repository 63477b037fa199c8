"""The Gemini adapter against the fake Gemini API over real HTTP, and the fake against Google's SDK.

The fake runs once per module (Hypercorn on a loopback port); every test resets its state.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
from collections.abc import AsyncIterator, Iterator
from types import MappingProxyType
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from hypothesis import given, settings
from hypothesis import strategies as st

from localrouter.compiler.table import Provider
from localrouter.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from localrouter.providers.base import Target
from localrouter.providers.gemini import GeminiAdapter, api_root
from localrouter.providers.gemini_request import SKIP_SIGNATURE, chat_request, clean_schema
from localrouter.providers.gemini_stream import ChatStream
from localrouter.providers.transport import Transport
from tests.fakes.gemini_checks import check_generate
from tests.fakes.gemini_fake import FakeState, create_app
from tests.fakes.serve import free_port, serve_app
from tests.openapi import validate
from tests.transports import http_transport, transport_for

Json = dict[str, Any]
ADAPTER = GeminiAdapter()
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "city": {"type": "string", "format": "uri", "minLength": 1},
                "unit": {"anyOf": [{"$ref": "#/$defs/Unit"}, {"type": "null"}], "default": None},
                "days": {"type": ["integer", "null"], "enum": [1, 3, 7]},
                "kind": {"const": "forecast"},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            },
            "required": ["city", "ghost"],
            "$defs": {"Unit": {"type": "string", "enum": ["C", "F"]}},
        },
        "strict": True,
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeState, str]]:
    state = FakeState()
    with serve_app(create_app(state)) as url:
        yield state, url


@pytest.fixture
def state(fake: tuple[FakeState, str]) -> FakeState:
    fake[0].reset()
    return fake[0]


@pytest.fixture
def url(fake: tuple[FakeState, str], state: FakeState) -> str:
    return fake[1]


@pytest.fixture(params=["http", "memory"])
async def client(
    request: pytest.FixtureRequest, fake: tuple[FakeState, str]
) -> AsyncIterator[Transport]:
    async with transport_for(request.param, create_app(fake[0]), 10.0, connect_s=2.0) as c:
        yield c


@pytest.fixture
async def net() -> AsyncIterator[Transport]:
    """The network transport only: for a test that needs a socket (another server, a refused
    port, a connection cut under the fake)."""
    async with http_transport(10.0, connect_s=2.0) as c:
        yield c


def target(url: str, model: str = "gemini-2.5-flash", key: str | None = "test-key") -> Target:
    provider = Provider(
        "gemini", "gemini", "gemini", url, None, "api", 2.0, 10.0, MappingProxyType({}), (), True
    )
    return Target(provider, model, api_key=key)


def chat(text: str, **extra: Any) -> Json:
    return {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": text}], **extra}


async def collect(agen: AsyncIterator[Json]) -> list[Json]:
    return [chunk async for chunk in agen]


# ---------------------------------------------------------------- chat: request and answer


async def test_chat_maps_messages_and_generation_config(
    state: FakeState, url: str, client: Transport
) -> None:
    body = {
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
            {"role": "user", "content": "hello there"},
            {"role": "assistant", "content": "bonjour"},
            {"role": "user", "content": "how are you"},
        ],
        "temperature": 0.5,
        "top_p": 0.9,
        "max_completion_tokens": 50,
        "stop": "zzz",
        "seed": 7,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
    }
    out = await ADAPTER.chat(client, target(url), body)
    validate("CreateChatCompletionResponse", out)
    assert out["choices"][0]["message"]["content"] == "how are you"
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["model"] == "gemini-2.5-flash"
    sent = state.last
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == "test-key" and "key" not in sent.query
    assert sent.json["systemInstruction"] == {
        "parts": [{"text": "Be brief."}, {"text": "Use French."}]
    }
    assert sent.json["contents"] == [
        {"role": "user", "parts": [{"text": "hello there"}]},
        {"role": "model", "parts": [{"text": "bonjour"}]},
        {"role": "user", "parts": [{"text": "how are you"}]},
    ]
    assert sent.json["generationConfig"] == {
        "temperature": 0.5,
        "topP": 0.9,
        "maxOutputTokens": 50,
        "stopSequences": ["zzz"],
        "seed": 7,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.2,
    }
    meta = state.usages[-1]
    assert out["usage"] == {
        "prompt_tokens": meta["promptTokenCount"],
        "completion_tokens": meta["candidatesTokenCount"],
        "total_tokens": meta["totalTokenCount"],
    }


async def test_user_media_parts(state: FakeState, url: str, client: Transport) -> None:
    png = base64.b64encode(b"\x89PNG fake").decode()
    content = [
        {"type": "text", "text": "describe these"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp?size=2"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/photo"}},
        {"type": "input_audio", "input_audio": {"data": png, "format": "wav"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERg=="}},
        {"type": "image_url", "image_url": {"url": "data:text/plain,hi%20there"}},
        {"type": "file", "file": {"file_data": "UEsDBA==", "filename": "notes.txt"}},
    ]
    out = await ADAPTER.chat(
        client, target(url), chat("") | {"messages": [{"role": "user", "content": content}]}
    )
    assert out["choices"][0]["message"]["content"] == "describe these"
    assert state.last.json["contents"][0]["parts"] == [
        {"text": "describe these"},
        {"inlineData": {"mimeType": "image/png", "data": png}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp?size=2"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/photo"}},
        {"inlineData": {"mimeType": "audio/wav", "data": png}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERg=="}},
        {"inlineData": {"mimeType": "text/plain", "data": base64.b64encode(b"hi there").decode()}},
        {"inlineData": {"mimeType": "text/plain", "data": "UEsDBA=="}},
    ]


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        (None, None),
        ("auto", {"functionCallingConfig": {"mode": "AUTO"}}),
        ("none", {"functionCallingConfig": {"mode": "NONE"}}),
        ("required", {"functionCallingConfig": {"mode": "ANY"}}),
        (
            {"type": "function", "function": {"name": "get_time"}},
            {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}},
        ),
    ],
)
async def test_tools_and_tool_choice(
    state: FakeState, url: str, client: Transport, choice: Any, config: Json | None
) -> None:
    body = chat('call get_weather {"city": "Paris"}', tools=[WEATHER, TIME])
    if choice is not None:
        body["tool_choice"] = choice
    out = await ADAPTER.chat(client, target(url), body)
    validate("CreateChatCompletionResponse", out)
    sent = state.last.json
    assert sent.get("toolConfig") == config
    declarations = sent["tools"][0]["functionDeclarations"]
    assert declarations[1] == {"name": "get_time"}  # an object without properties: no parameters
    assert declarations[0]["parameters"] == {
        "type": "OBJECT",
        "properties": {
            "city": {"type": "STRING", "minLength": 1},
            "unit": {"type": "STRING", "enum": ["C", "F"], "default": None, "nullable": True},
            "days": {
                "type": "INTEGER",
                "description": "Allowed values: [1, 3, 7]",
                "nullable": True,
            },
            "kind": {"type": "STRING", "enum": ["forecast"]},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
        },
        "required": ["city"],
    }
    message, finish = out["choices"][0]["message"], out["choices"][0]["finish_reason"]
    if choice == "none":
        assert finish == "stop" and "tool_calls" not in message
        return
    (call,) = message["tool_calls"]
    assert finish == "tool_calls" and message["content"] is None
    if isinstance(choice, dict):  # forced: the fake calls the allowed function with no arguments
        assert call["function"] == {"name": "get_time", "arguments": "{}"}
        return
    assert call["type"] == "function" and call["id"].startswith("call")
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    signature = base64.b64encode(b"sig:get_weather").decode()
    assert call["extra_content"] == {"google": {"thought_signature": signature}}


async def test_tool_results_round_trip(state: FakeState, url: str, client: Transport) -> None:
    asked = 'call get_weather {"city": "Paris"} && get_time {}'
    first = await ADAPTER.chat(client, target(url), chat(asked, tools=[WEATHER, TIME]))
    calls = first["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert "extra_content" in calls[0] and "extra_content" not in calls[1]
    messages = [
        {"role": "user", "content": asked},
        first["choices"][0]["message"],
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": '{"temp": 21}'},
        {
            "role": "tool",
            "tool_call_id": calls[1]["id"],
            "content": [{"type": "text", "text": "noon"}],
        },
    ]
    out = await ADAPTER.chat(
        client, target(url), chat("") | {"messages": messages, "tools": [WEATHER, TIME]}
    )
    text = out["choices"][0]["message"]["content"]
    assert text == 'result: get_weather={"temp": 21}; get_time={"output": "noon"}'
    model_turn, answers = state.last.json["contents"][1:]
    assert model_turn["role"] == "model"
    assert model_turn["parts"][0]["functionCall"] == {
        "name": "get_weather",
        "args": {"city": "Paris"},
    }
    assert (
        model_turn["parts"][0]["thoughtSignature"] == base64.b64encode(b"sig:get_weather").decode()
    )
    assert "thoughtSignature" not in model_turn["parts"][1]
    assert answers == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
            {"functionResponse": {"name": "get_time", "response": {"output": "noon"}}},
        ],
    }


@pytest.mark.parametrize(
    ("model", "signature"), [("gemini-3-pro-preview", SKIP_SIGNATURE), ("gemini-2.5-pro", None)]
)
async def test_replayed_tool_call_without_signature(
    state: FakeState, url: str, client: Transport, model: str, signature: str | None
) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": ""}}
    messages = [
        {"role": "user", "content": "what time"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "noon"},
    ]
    await ADAPTER.chat(client, target(url, model), {"messages": messages, "tools": [TIME]})
    part = state.last.json["contents"][1]["parts"][0]
    assert part["functionCall"] == {"name": "get_time", "args": {}}
    assert part.get("thoughtSignature") == signature


async def test_untranslatable_requests_are_400_without_a_call(
    state: FakeState, url: str, client: Transport
) -> None:
    bad = [
        {"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]},
        chat("hi", n=2),
        chat("hi", tools=[{"type": "web_search"}]),
        {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f1"}}]}]},
        {"messages": "hello"},
    ]
    for body in bad:
        with pytest.raises(UpstreamHTTPError) as info:
            await ADAPTER.chat(client, target(url), body)
        assert info.value.status == 400 and not info.value.retryable
    assert state.requests == []


JSON_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "x",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"echo": {"type": "string"}},
            "additionalProperties": False,
            "required": ["echo"],
        },
    },
}
GEMINI_SCHEMA = {"type": "OBJECT", "properties": {"echo": {"type": "STRING"}}, "required": ["echo"]}


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ({"type": "json_object"}, {"responseMimeType": "application/json"}),
        (
            JSON_SCHEMA_FORMAT,
            {"responseMimeType": "application/json", "responseSchema": GEMINI_SCHEMA},
        ),
    ],
)
async def test_response_format(
    state: FakeState, url: str, client: Transport, fmt: Json, expected: Json
) -> None:
    out = await ADAPTER.chat(client, target(url), chat("json please", response_format=fmt))
    assert json.loads(out["choices"][0]["message"]["content"]) == {"echo": "json please"}
    assert state.last.json["generationConfig"] == expected


async def test_finish_reasons_and_thoughts(state: FakeState, url: str, client: Transport) -> None:
    out = await ADAPTER.chat(client, target(url), chat("one two three four five", max_tokens=2))
    assert out["choices"][0]["message"]["content"] == "one two"
    assert out["choices"][0]["finish_reason"] == "length"
    for text in ("block this please", "unsafe words"):
        out = await ADAPTER.chat(client, target(url), chat(text))
        validate("CreateChatCompletionResponse", out)
        assert out["choices"][0]["finish_reason"] == "content_filter"
        assert out["choices"][0]["message"]["content"] == ""
    out = await ADAPTER.chat(client, target(url), chat("think about it"))
    assert out["choices"][0]["message"]["content"] == "think about it"  # the thought is left out
    assert out["usage"]["completion_tokens"] == 3 + 3
    assert out["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}
    validate("CreateChatCompletionResponse", out)


@pytest.mark.parametrize(
    ("model", "effort", "thinking"),
    [
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0}),
        ("gemini-2.5-flash", "high", {"thinkingBudget": 24576}),
        ("gemini-3-pro-preview", "low", {"thinkingLevel": "low"}),
    ],
)
async def test_reasoning_effort(
    state: FakeState, url: str, client: Transport, model: str, effort: str, thinking: Json
) -> None:
    await ADAPTER.chat(client, target(url, model), chat("hi", reasoning_effort=effort))
    assert state.last.json["generationConfig"]["thinkingConfig"] == thinking


# ---------------------------------------------------------------- streaming


async def test_stream_chunks_in_order(state: FakeState, url: str, client: Transport) -> None:
    chunks = await collect(ADAPTER.chat_stream(client, target(url), chat("a b c d e")))
    assert state.last.path.endswith(":streamGenerateContent") and state.last.query == {"alt": "sse"}
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks[1:-2]]
    assert deltas == ["a b ", "c d ", "e"]
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert chunks[-1]["choices"] == [] and "usage" not in chunks[-2]
    meta = state.usages[-1]
    assert chunks[-1]["usage"]["prompt_tokens"] == meta["promptTokenCount"] == 5
    assert chunks[-1]["usage"]["completion_tokens"] == meta["candidatesTokenCount"] == 5


async def test_stream_tool_calls(state: FakeState, url: str, client: Transport) -> None:
    body = chat('call get_weather {"city": "Oslo"} && get_time {}', tools=[WEATHER, TIME])
    chunks = await collect(ADAPTER.chat_stream(client, target(url), body))
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert [c["index"] for c in calls] == [0, 0, 1, 1]
    assert calls[0]["function"] == {"name": "get_weather", "arguments": ""} and calls[0]["id"]
    assert calls[1] == {"index": 0, "function": {"arguments": '{"city": "Oslo"}'}}
    assert calls[2]["function"]["name"] == "get_time" and "extra_content" not in calls[2]
    assert "thought_signature" in calls[0]["extra_content"]["google"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] == state.usages[-1]["candidatesTokenCount"]


async def test_stream_is_not_buffered(state: FakeState, url: str, client: Transport) -> None:
    state.chunk_delay = 0.3
    start = time.monotonic()
    stamps = [
        time.monotonic() - start
        async for _ in ADAPTER.chat_stream(client, target(url), chat("a b c d e f g h"))
    ]
    assert stamps[0] < 0.25  # the role chunk and first delta left before the fake had finished
    assert stamps[-1] >= 0.85  # three more delays of 0.3 s


async def test_stream_blocked_prompt(state: FakeState, url: str, client: Transport) -> None:
    chunks = await collect(ADAPTER.chat_stream(client, target(url), chat("block it")))
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, "content_filter"]
    assert chunks[-1]["usage"]["prompt_tokens"] == 2


async def test_stream_error_before_first_chunk(
    state: FakeState, url: str, client: Transport
) -> None:
    state.fail(503)
    agen = ADAPTER.chat_stream(client, target(url), chat("hi"))
    with pytest.raises(UpstreamHTTPError) as info:
        await agen.__anext__()
    assert info.value.status == 503 and info.value.retryable
    assert "overloaded" in info.value.message


@pytest.mark.parametrize(
    ("mode", "error"), [("error", UpstreamHTTPError), ("cut", UpstreamConnectError)]
)
async def test_stream_breaks_midway(
    state: FakeState, url: str, net: Transport, mode: str, error: type[UpstreamError]
) -> None:
    state.break_stream_after(1, mode)
    got: list[Json] = []
    with pytest.raises(error) as info:
        async for chunk in ADAPTER.chat_stream(net, target(url), chat("a b c d e")):
            got.append(chunk)
    assert [c["choices"][0]["delta"].get("content") for c in got] == ["", "a b "]
    if mode == "error":
        assert info.value.status == 500 and "internal error" in info.value.message


async def test_stream_malformed_event(state: FakeState, url: str, client: Transport) -> None:
    state.malformed()
    with pytest.raises(UpstreamProtocolError):
        await collect(ADAPTER.chat_stream(client, target(url), chat("hi")))


def test_stream_without_finish_reason_is_an_error() -> None:
    stream = ChatStream("m", "gemini")
    stream.feed({"candidates": [{"content": {"parts": [{"text": "half"}], "role": "model"}}]})
    with pytest.raises(UpstreamProtocolError):
        stream.end()


async def wait_for(predicate: Any, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_closing_the_stream_closes_upstream(
    state: FakeState, url: str, client: Transport
) -> None:
    state.chunk_delay = 0.5
    agen = ADAPTER.chat_stream(client, target(url), chat("a b c d e f g h i j"))
    await agen.__anext__()
    await agen.__anext__()
    await agen.aclose()  # type: ignore[attr-defined]
    assert await wait_for(lambda: state.streams_cancelled == 1)
    assert state.streams_finished == 0


async def test_cancelling_the_consumer_closes_upstream(
    state: FakeState, url: str, client: Transport
) -> None:
    state.chunk_delay = 0.5

    async def consume() -> None:
        async for _ in ADAPTER.chat_stream(client, target(url), chat("a b c d e f g h i j")):
            pass

    task = asyncio.create_task(consume())
    assert await wait_for(lambda: state.events_sent >= 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_for(lambda: state.streams_cancelled == 1)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [(400, None, None), (401, None, None), (403, None, None), (404, None, None),
     (429, None, 7.0), (429, {"Retry-After": "3"}, 3.0), (500, None, None), (503, None, None)],
)  # fmt: skip
async def test_error_statuses(
    state: FakeState,
    url: str,
    client: Transport,
    status: int,
    headers: Any,
    retry_after: Any,
) -> None:
    state.fail(status, headers=headers)
    with pytest.raises(UpstreamHTTPError) as info:
        await ADAPTER.chat(client, target(url), chat("hi"))
    err = info.value
    assert (err.status, err.retry_after, err.provider) == (status, retry_after, "gemini")
    assert err.retryable == (status == 429 or status >= 500)
    assert err.message.startswith(f"gemini answered {status}: ")


async def test_keys_never_reach_errors(state: FakeState, url: str, client: Transport) -> None:
    wrong = "wrong-secret-value-123"
    with pytest.raises(UpstreamHTTPError) as info:
        await ADAPTER.chat(client, target(url, key=wrong), chat("hi"))
    assert info.value.status == 400 and "API key not valid" in info.value.message
    assert state.last.headers["x-goog-api-key"] == wrong and wrong not in str(info.value)
    with pytest.raises(UpstreamHTTPError) as info:
        await ADAPTER.chat(client, target(url, key=None), chat("hi"))
    assert info.value.status == 403 and "x-goog-api-key" not in state.last.headers
    state.fail(400, body={"error": {"code": 400, "message": "key test-key refused", "status": "X"}})
    with pytest.raises(UpstreamHTTPError) as info:
        await ADAPTER.chat(client, target(url), chat("hi"))
    assert "test-key" not in str(info.value) and "[redacted]" in str(info.value)


async def test_transport_failures(state: FakeState, url: str) -> None:
    state.hang(2.0)
    async with http_transport(0.3) as quick:
        with pytest.raises(UpstreamTimeout):
            await ADAPTER.chat(quick, target(url), chat("hi"))
        state.malformed()
        with pytest.raises(UpstreamProtocolError):
            await ADAPTER.chat(quick, target(url), chat("hi"))
        with pytest.raises(UpstreamConnectError):
            await ADAPTER.chat(quick, target(f"http://127.0.0.1:{free_port()}"), chat("hi"))
    async with http_transport() as plain:
        with pytest.raises(UpstreamHTTPError) as info:
            await ADAPTER.chat(plain, target(url, "gemini-9-ultra"), chat("hi"))
        assert info.value.status == 404 and "not found" in info.value.message


# ---------------------------------------------------------------- completions, embeddings, models


async def test_completions(state: FakeState, url: str, client: Transport) -> None:
    body = {"model": "gemini-2.5-flash", "prompt": "once upon a time", "max_tokens": 3}
    out = await ADAPTER.completion(client, target(url), body)
    validate("CreateCompletionResponse", out)
    assert out["object"] == "text_completion"
    assert (
        out["choices"][0]["text"] == "once upon a"
        and out["choices"][0]["finish_reason"] == "length"
    )
    assert state.last.json["contents"] == [
        {"role": "user", "parts": [{"text": "once upon a time"}]}
    ]
    chunks = await collect(ADAPTER.completion_stream(client, target(url), body | {"max_tokens": 9}))
    for chunk in chunks:  # OpenAI's schema has no stream variant: mid-stream finish_reason is null
        choices = [c | {"finish_reason": c["finish_reason"] or "stop"} for c in chunk["choices"]]
        validate("CreateCompletionResponse", chunk | {"choices": choices})
    assert "".join(c["choices"][0]["text"] for c in chunks[:-1]) == "once upon a time"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4


async def test_embeddings(state: FakeState, url: str, client: Transport) -> None:
    t = target(url, "text-embedding-004")
    out = await ADAPTER.embeddings(
        client, t, {"model": "x", "input": ["alpha beta", "gamma"], "dimensions": 16}
    )
    validate("CreateEmbeddingResponse", out)
    assert [len(d["embedding"]) for d in out["data"]] == [16, 16]
    assert out["usage"] == {"prompt_tokens": 5, "total_tokens": 5, "estimated": True}
    assert state.last.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert state.last.json["requests"][0] == {
        "model": "models/text-embedding-004",
        "content": {"parts": [{"text": "alpha beta"}]},
        "outputDimensionality": 16,
    }
    packed = await ADAPTER.embeddings(
        client, t, {"input": "alpha beta", "dimensions": 16, "encoding_format": "base64"}
    )
    raw = base64.b64decode(packed["data"][0]["embedding"])
    expected = out["data"][0]["embedding"]
    assert list(struct.unpack("<16f", raw)) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(UpstreamHTTPError) as info:
        await ADAPTER.embeddings(client, t, {"input": [[1, 2, 3]]})
    assert info.value.status == 400


async def test_list_models_follows_pages(state: FakeState, url: str, client: Transport) -> None:
    state.page_size_cap = 3
    found = {m.name: m for m in await ADAPTER.list_models(client, target(url).provider, "test-key")}
    pages = [r for r in state.requests if r.path == "/v1beta/models"]
    assert (
        len(pages) == 3 and pages[0].query == {"pageSize": "1000"} and "pageToken" in pages[1].query
    )
    assert "imagen-4.0-generate-001" not in found  # it can neither chat nor embed
    assert found["gemini-2.5-flash"].context_window == 1048576
    assert found["gemini-2.5-flash"].capabilities == (
        "chat",
        "completions",
        "tools",
        "vision",
        "json",
    )
    assert found["gemma-3-27b-it"].capabilities == ("chat", "completions")
    assert found["text-embedding-004"].capabilities == ("embeddings",)
    with pytest.raises(UpstreamHTTPError):
        await ADAPTER.list_models(client, target(url).provider, None)


async def test_aiohttp_transport(state: FakeState, url: str) -> None:
    async with http_transport(10.0) as aio:
        out = await ADAPTER.chat(aio, target(url), chat("over aiohttp"))
        assert out["choices"][0]["message"]["content"] == "over aiohttp"
        chunks = await collect(ADAPTER.chat_stream(aio, target(url), chat("a b c")))
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1]) == "a b c"
        state.fail(429)
        with pytest.raises(UpstreamHTTPError) as info:
            await collect(ADAPTER.chat_stream(aio, target(url), chat("hi")))
        assert info.value.retry_after == 7.0
        state.chunk_delay = 0.5
        agen = ADAPTER.chat_stream(aio, target(url), chat("a b c d e f g h"))
        await agen.__anext__()
        await agen.aclose()  # type: ignore[attr-defined]
        assert await wait_for(lambda: state.streams_cancelled == 1)


def test_api_root() -> None:
    assert api_root("https://generativelanguage.googleapis.com/") == (
        "https://generativelanguage.googleapis.com/v1beta"
    )
    assert api_root("http://proxy:8080/gemini/v1beta") == "http://proxy:8080/gemini/v1beta"
    assert api_root("http://proxy/v1") == "http://proxy/v1"
    assert api_root(None) == "https://generativelanguage.googleapis.com/v1beta"


# ---------------------------------------------------------------- schema cleaning

JSON_SCHEMA_KEYS = st.sampled_from(
    [
        "additionalProperties",
        "$schema",
        "$id",
        "examples",
        "uniqueItems",
        "format",
        "title",
        "minimum",
    ]
)
LEAF = st.fixed_dictionaries(
    {"type": st.sampled_from(["string", "integer", "number", "boolean", ["string", "null"]])},
    optional={
        "format": st.sampled_from(["uri", "date-time", "int64", "email"]),
        "enum": st.lists(st.one_of(st.text(max_size=3), st.integers(), st.none()), max_size=3),
        "additionalProperties": st.booleans(),
        "description": st.text(max_size=5),
    },
)
NAMES = st.from_regex(r"[a-z]{1,5}", fullmatch=True)


def _object(properties: Json, extra: Json) -> Json:
    return {"type": "object", "properties": properties, "required": list(properties)[:1], **extra}


SCHEMAS = st.recursive(
    LEAF | st.just({"type": "null"}),
    lambda inner: st.one_of(
        st.builds(
            _object,
            st.dictionaries(NAMES, inner, min_size=1, max_size=3),
            st.dictionaries(JSON_SCHEMA_KEYS, st.just(True), max_size=2),
        ),
        st.builds(lambda i: {"type": "array", "items": i}, inner),
        st.builds(lambda v: {"anyOf": v}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda v: {"allOf": v}, st.lists(inner, min_size=1, max_size=2)),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(SCHEMAS)
def test_cleaned_schemas_are_accepted_by_the_fake(schema: Json) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": schema}}}}  # fmt: skip
    payload = chat_request({"messages": [{"role": "user", "content": "hi"}], "tools": [tool]}, "m")
    assert check_generate(payload) is None


def test_recursive_refs_terminate() -> None:
    tree = {"$ref": "#/$defs/Node", "$defs": {"Node": {"type": "object", "properties": {
        "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}}}  # fmt: skip
    cleaned = clean_schema(tree)
    assert cleaned["properties"]["children"]["items"] == {}


# ---------------------------------------------------------------- the fake, through Google's SDK


@pytest.fixture
def sdk(url: str) -> genai.Client:
    options = types.HttpOptions(base_url=url, api_version="v1beta")
    return genai.Client(api_key="test-key", http_options=options)


def test_sdk_generate_and_stream(state: FakeState, sdk: genai.Client) -> None:
    reply = sdk.models.generate_content(model="gemini-2.5-flash", contents="hello fake gemini")
    assert reply.text == "hello fake gemini"
    assert reply.candidates and reply.candidates[0].finish_reason == types.FinishReason.STOP
    assert reply.usage_metadata and reply.usage_metadata.prompt_token_count == 3
    assert state.last.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    pieces = list(
        sdk.models.generate_content_stream(model="gemini-2.5-flash", contents="a b c d e")
    )
    assert [p.text for p in pieces] == ["a b ", "c d ", "e"]
    assert (
        pieces[-1].candidates and pieces[-1].candidates[0].finish_reason == types.FinishReason.STOP
    )
    assert pieces[-1].usage_metadata and pieces[-1].usage_metadata.candidates_token_count == 5
    state.break_stream_after(1)
    with pytest.raises(genai_errors.ServerError) as info:
        list(sdk.models.generate_content_stream(model="gemini-2.5-flash", contents="a b c d e"))
    assert info.value.code == 500 and info.value.status == "INTERNAL"


def test_sdk_function_calling_round_trip(state: FakeState, sdk: genai.Client) -> None:
    declaration = types.FunctionDeclaration(
        name="get_weather",
        parameters=types.Schema(
            type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)}
        ),
    )
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[declaration])])
    ask = types.Content(role="user", parts=[types.Part(text='call get_weather {"city": "Rome"}')])
    reply = sdk.models.generate_content(model="gemini-2.5-flash", contents=[ask], config=config)
    assert reply.function_calls and reply.function_calls[0].args == {"city": "Rome"}
    assert reply.candidates and reply.candidates[0].content
    answer = types.Part.from_function_response(name="get_weather", response={"temp": 18})
    history = [ask, reply.candidates[0].content, types.Content(role="user", parts=[answer])]
    final = sdk.models.generate_content(model="gemini-2.5-flash", contents=history, config=config)
    assert final.text == 'result: get_weather={"temp": 18}'
    assert state.last.json["contents"][1]["parts"][0]["thoughtSignature"]


def test_sdk_errors_are_typed(state: FakeState, url: str, sdk: genai.Client) -> None:
    for status in (401, 429, 400):
        state.fail(status)
        with pytest.raises(genai_errors.ClientError) as info:
            sdk.models.generate_content(model="gemini-2.5-flash", contents="hi")
        assert info.value.code == status
    assert info.value.status == "INVALID_ARGUMENT"
    wrong = genai.Client(api_key="nope", http_options=types.HttpOptions(base_url=url))
    with pytest.raises(genai_errors.ClientError) as info:
        wrong.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert (
        info.value.code == 400
        and info.value.message == "API key not valid. Please pass a valid API key."
    )
    state.fail(503)
    with pytest.raises(genai_errors.ServerError):
        sdk.models.generate_content(model="gemini-2.5-flash", contents="hi")


def test_sdk_lists_models_and_embeds(state: FakeState, sdk: genai.Client) -> None:
    names = [m.name for m in sdk.models.list(config={"page_size": 3})]
    assert names[:2] == ["models/gemini-2.0-flash", "models/gemini-2.5-flash"] and len(names) == 8
    assert len([r for r in state.requests if r.path == "/v1beta/models"]) == 3
    result = sdk.models.embed_content(model="text-embedding-004", contents=["one", "two"])
    assert result.embeddings and [len(e.values or []) for e in result.embeddings] == [768, 768]
    assert state.last.path == "/v1beta/models/text-embedding-004:batchEmbedContents"


@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
async def test_sdk_async_client_streams(state: FakeState, sdk: genai.Client) -> None:
    state.chunk_delay = 0.05
    try:
        stream = await sdk.aio.models.generate_content_stream(
            model="gemini-2.5-pro", contents="x y z"
        )
        texts = [chunk.text async for chunk in stream]
    finally:
        await sdk.aio.aclose()
    assert texts == ["x y ", "z"] and state.streams_finished == 1


def test_fake_auth_like_google(state: FakeState, url: str) -> None:
    models = f"{url}/v1beta/models"
    assert httpx.get(models, params={"key": "test-key"}).status_code == 200
    bearer = httpx.get(models, headers={"Authorization": "Bearer expired"})
    assert bearer.status_code == 401 and bearer.json()["error"]["status"] == "UNAUTHENTICATED"
    anonymous = httpx.get(models).json()["error"]
    assert (anonymous["code"], anonymous["status"]) == (403, "PERMISSION_DENIED")
    wrong = httpx.get(models, headers={"x-goog-api-key": "nope"}).json()["error"]
    assert wrong["details"][0]["reason"] == "API_KEY_INVALID" and wrong["code"] == 400


USER = {"role": "user", "parts": [{"text": "hi"}]}
CALL = {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "contents is not specified"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": [{"role": "user", "parts": []}]}, "must not be empty"),
        ({"contents": [{"parts": [{"text": ""}]}]}, "empty text parameter"),
        ({"contents": [USER], "max_tokens": 3}, 'Unknown name "max_tokens"'),
        ({"contents": [USER, CALL, USER]}, "number of function response parts"),
        ({"contents": [CALL]}, "function call turn comes immediately after a user turn"),
        (
            {"contents": [USER], "tools": [{"functionDeclarations": [{"name": "f", "parameters": {
                "type": "object", "properties": {"a": {"type": "string"}},
                "additionalProperties": False}}]}]},
            "Unknown name \"additionalProperties\" at 'tools[0].function_declarations[0].param",
        ),
        (
            {"contents": [USER], "tools": [{"functionDeclarations": [{"name": "f", "parameters": {
                "type": "OBJECT", "properties": {}}}]}]},
            "should be non-empty for OBJECT type",
        ),
        ({"contents": [USER], "generationConfig": {"temperature": 3}}, "temperature"),
        (
            {"contents": [USER], "toolConfig": {"functionCallingConfig": {
                "mode": "AUTO", "allowedFunctionNames": ["f"]}}},
            "only be set when the Mode is ANY",
        ),
    ],
)  # fmt: skip
def test_fake_rejects_what_gemini_rejects(payload: Json, message: str) -> None:
    problem = check_generate(payload)
    assert problem is not None and message in problem
