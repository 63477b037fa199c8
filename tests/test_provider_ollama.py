"""The Ollama adapter against a fake Ollama over real HTTP, and the fake against the official SDK.

The SDK tests (``ollama.Client`` / ``AsyncClient``) prove the fake speaks Ollama's wire format;
the adapter tests then prove every translation rule, stream behaviour and failure mapping
against that fake, through the gateway's own transport (``HttpTransport``) and through the
in-memory one (``MemoryTransport``) answered by the same fake with no socket.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from types import MappingProxyType
from typing import Any, cast

import httpx
import ollama
import pytest

from localrouter.compiler.table import Provider
from localrouter.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from localrouter.providers.base import Json, Target
from localrouter.providers.ollama import OllamaAdapter, _params_b
from localrouter.providers.registry import adapter_for
from localrouter.providers.transport import Transport
from tests.fakes.ollama_fake import STREAM_ERROR, FakeState, create_app
from tests.fakes.serve import free_port, serve_app, wait_for_streams_closed
from tests.openapi import validate, validator
from tests.transports import http_transport, transport_for

ADAPTER = OllamaAdapter()
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image bytes").decode()
WEATHER: Json = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    },
}
SECRET = "key-SECRETSECRET123456"


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[str, FakeState]]:
    state = FakeState()
    with serve_app(create_app(state)) as url:
        yield url, state


@pytest.fixture
def state(fake: tuple[str, FakeState]) -> FakeState:
    wait_for_streams_closed(fake[1])
    fake[1].reset()
    return fake[1]


@pytest.fixture
def url(fake: tuple[str, FakeState], state: FakeState) -> str:
    return fake[0]


@pytest.fixture(params=["http", "memory"])
async def client(
    request: pytest.FixtureRequest, fake: tuple[str, FakeState]
) -> AsyncIterator[Transport]:
    async with transport_for(request.param, create_app(fake[1]), 5.0) as c:
        yield c


def provider(url: str, headers: dict[str, str] | None = None) -> Provider:
    return Provider(
        name="ollama",
        type="ollama",
        wire="ollama",
        base_url=url,
        api_key=None,
        kind="local",
        connect_s=2.0,
        read_s=5.0,
        headers=MappingProxyType(headers or {}),
        limits=(),
        discover=True,
    )


def target(
    url: str, model: str = "llama3.2", key: str | None = "test-key", **headers: str
) -> Target:
    return Target(provider(url, headers), model, api_key=key)


def user(text: str) -> Json:
    return {"messages": [{"role": "user", "content": text}]}


async def collect(chunks: AsyncIterator[Json]) -> list[Json]:
    out = []
    async for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
        out.append(chunk)
    return out


def text_of(chunks: list[Json]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


# ------------------------------------------------------------- the fake, through the SDK


@pytest.fixture
def sdk(url: str, monkeypatch: pytest.MonkeyPatch) -> ollama.Client:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    return ollama.Client(host=url)


def test_sdk_chat_and_usage(sdk: ollama.Client, state: FakeState) -> None:
    r = sdk.chat(model="llama3.2", messages=[{"role": "user", "content": "hi there"}])
    assert r.message.role == "assistant" and r.message.content == "You said: hi there"
    assert r.done and r.done_reason == "stop"
    assert r.prompt_eval_count == 6 and r.eval_count == 4 and r.total_duration
    assert state.last.body["stream"] is False


def test_sdk_stream_reads_split_ndjson(sdk: ollama.Client, state: FakeState) -> None:
    state.split_every = 2
    parts = list(
        sdk.chat(model="llama3.2", messages=[{"role": "user", "content": "a b c d"}], stream=True)
    )
    assert "".join(p.message.content or "" for p in parts) == "You said: a b c d"
    assert [p.done for p in parts] == [False] * 6 + [True]
    assert parts[-1].done_reason == "stop" and parts[-1].eval_count == 6
    assert state.split_writes >= 3


def test_sdk_tool_call_arguments_are_objects(sdk: ollama.Client) -> None:
    r = sdk.chat(
        model="llama3.2",
        tools=[WEATHER],
        messages=[{"role": "user", "content": 'call get_weather {"city": "Paris"}'}],
    )
    (call,) = r.message.tool_calls or []
    assert call.function.name == "get_weather"
    assert call.function.arguments == {"city": "Paris"}
    follow = sdk.chat(
        model="llama3.2",
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "content": "18C", "tool_name": "get_weather"},
        ],
    )
    assert follow.message.content == "Tool get_weather returned: 18C"


def test_sdk_generate_embed_and_list(sdk: ollama.Client) -> None:
    assert sdk.generate(model="llama3.2", prompt="Once upon").response == "You said: Once upon"
    streamed = "".join(
        p.response or "" for p in sdk.generate(model="llama3.2", prompt="x y", stream=True)
    )
    assert streamed == "You said: x y"
    e = sdk.embed(model="nomic-embed-text", input=["a", "b"])
    assert len(e.embeddings) == 2 and len(e.embeddings[0]) == 16 and e.prompt_eval_count == 2
    models = sdk.list().models
    assert models[0].model == "llama3.2:latest"
    assert models[0].details is not None and models[0].details.parameter_size == "3.2B"


def test_sdk_sees_the_fakes_errors(sdk: ollama.Client, state: FakeState) -> None:
    with pytest.raises(ollama.ResponseError) as err:
        sdk.chat(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert (err.value.status_code, err.value.error) == (404, "model 'nope' not found")
    with pytest.raises(ollama.ResponseError) as err:
        sdk.chat(model="smollm:135m", tools=[WEATHER], messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code == 400 and "does not support tools" in err.value.error
    state.fail(429, {"error": "too many requests"}, {"Retry-After": "3"})
    with pytest.raises(ollama.ResponseError) as err:
        sdk.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}])
    assert (err.value.status_code, err.value.error) == (429, "too many requests")
    state.fail(503)
    with pytest.raises(ollama.ResponseError) as err:
        list(sdk.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert err.value.status_code == 503


def test_sdk_auth_like_ollama_com(
    url: str, state: FakeState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    state.api_key = "test-key"
    with pytest.raises(ollama.ResponseError) as err:
        ollama.Client(host=url).list()
    assert (err.value.status_code, err.value.error) == (401, "unauthorized")
    keyed = ollama.Client(host=url, headers={"Authorization": "Bearer test-key"})
    assert keyed.list().models


def test_sdk_raises_on_mid_stream_error_line(sdk: ollama.Client, state: FakeState) -> None:
    state.break_stream_after(2)
    seen = []
    with pytest.raises(ollama.ResponseError) as err:
        for part in sdk.chat(
            model="llama3.2", messages=[{"role": "user", "content": "a b c"}], stream=True
        ):
            seen.append(part.message.content)
    assert seen == ["You", " said:"] and err.value.error == STREAM_ERROR


async def test_async_sdk_streams(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    stream = await ollama.AsyncClient(host=url).chat(
        model="llama3.2", messages=[{"role": "user", "content": "async hi"}], stream=True
    )
    parts = [p async for p in stream]
    assert "".join(p.message.content or "" for p in parts) == "You said: async hi"


# --------------------------------------------------------------------- chat, non-stream


async def test_chat_basic(client: Transport, url: str, state: FakeState) -> None:
    out = await ADAPTER.chat(client, target(url), user("hello world"))
    validate("CreateChatCompletionResponse", out)
    assert out["object"] == "chat.completion" and out["model"] == "llama3.2"
    choice = out["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "You said: hello world",
        "refusal": None,
    }
    assert choice["finish_reason"] == "stop"
    assert out["usage"] == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
    assert abs(out["created"] - time.time()) < 60
    sent = state.last
    assert (sent.method, sent.path) == ("POST", "/api/chat")
    assert sent.body == {
        "model": "llama3.2",
        "stream": False,
        "messages": [{"role": "user", "content": "hello world"}],
    }


async def test_request_translation(client: Transport, url: str, state: FakeState) -> None:
    body: Json = {
        "model": "ignored",
        "messages": [
            {"role": "developer", "content": "be brief"},
            {
                "role": "system",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
            {"role": "user", "content": [{"type": "text", "text": "hello"}]},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 7,
        "stop": "zzz",
        "frequency_penalty": 0.5,
        "presence_penalty": 0.25,
        "max_tokens": 50,
        "max_completion_tokens": 40,
        "response_format": {"type": "json_object"},
        "reasoning_effort": "minimal",
        "user": "u1",
        "stream_options": {"include_usage": True},
    }
    validator("CreateChatCompletionRequest").validate(body)
    state.models[0]["capabilities"].append("thinking")
    out = await ADAPTER.chat(client, target(url), body)
    assert json.loads(out["choices"][0]["message"]["content"]) == {"echo": "hello"}
    assert state.last.body == {
        "model": "llama3.2",
        "stream": False,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "system", "content": "a\nb"},
            {"role": "user", "content": "hello"},
        ],
        "options": {
            "temperature": 0.2,
            "top_p": 0.9,
            "seed": 7,
            "frequency_penalty": 0.5,
            "presence_penalty": 0.25,
            "num_predict": 40,
            "stop": ["zzz"],
        },
        "format": "json",
        "think": "low",
    }


async def test_json_schema_and_tool_choice_none(
    client: Transport, url: str, state: FakeState
) -> None:
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}}
    body = {
        **user("x"),
        "tools": [WEATHER],
        "tool_choice": "none",
        "response_format": {"type": "json_schema", "json_schema": {"name": "e", "schema": schema}},
    }
    await ADAPTER.chat(client, target(url), body)
    assert state.last.body["format"] == schema and "tools" not in state.last.body
    await ADAPTER.chat(
        client,
        target(url),
        {**user("x"), "reasoning_effort": "none", "response_format": {"type": "text"}},
    )
    assert state.last.body["think"] is False and "format" not in state.last.body


async def test_length_and_stop(client: Transport, url: str) -> None:
    out = await ADAPTER.chat(client, target(url), {**user("one two three"), "max_tokens": 2})
    assert out["choices"][0]["message"]["content"] == "You said:"
    assert out["choices"][0]["finish_reason"] == "length"
    out = await ADAPTER.chat(client, target(url), {**user("one two"), "stop": ["two"]})
    assert out["choices"][0]["message"]["content"] == "You said: one "
    assert out["choices"][0]["finish_reason"] == "stop"


async def test_images_become_base64_list(client: Transport, url: str, state: FakeState) -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/jpeg;base64,{PNG}", "detail": "low"},
                    },
                ],
            }
        ]
    }
    validator("CreateChatCompletionRequest").validate({**body, "model": "llava"})
    out = await ADAPTER.chat(client, target(url, "llava:7b"), body)
    validate("CreateChatCompletionResponse", out)
    assert out["choices"][0]["message"]["content"] == "You said: what is this? [2 image(s)]"
    assert state.last.body["messages"] == [
        {"role": "user", "content": "what is this?", "images": [PNG, PNG]}
    ]


@pytest.mark.parametrize(
    "url_, words",
    [
        ("https://example.com/cat.png", "not supported by Ollama"),
        ("data:image/png,rawbytes", "must be base64"),
        ("ftp://x/y.png", "data: URL"),
    ],
)
async def test_unsendable_images_are_refused_before_sending(
    client: Transport, url: str, state: FakeState, url_: str, words: str
) -> None:
    body = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url_}}]}
        ]
    }
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.chat(client, target(url, "llava:7b"), body)
    assert err.value.status == 400 and words in err.value.message
    assert not err.value.retryable and state.requests == []


@pytest.mark.parametrize(
    "body, words",
    [
        ({**user("x"), "n": 2}, "n must be 1"),
        ({"messages": []}, "non-empty"),
        ({"messages": [{"role": "critic", "content": "x"}]}, "role 'critic'"),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {"url": "data:image/png;base64,AA=="},
                            }
                        ],
                    }
                ]
            },
            "not supported in assistant",
        ),
        ({**user("x"), "tools": [{"type": "custom", "custom": {"name": "x"}}]}, "function tools"),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "f", "arguments": "[1]"},
                            }
                        ],
                    }
                ]
            },
            "JSON object",
        ),
        ({**user("x"), "response_format": {"type": "xml"}}, "'xml'"),
    ],
)
async def test_untranslatable_requests(
    client: Transport, url: str, state: FakeState, body: Json, words: str
) -> None:
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.chat(client, target(url), body)
    assert err.value.status == 400 and words in err.value.message and state.requests == []


async def test_tool_call_round_trip(client: Transport, url: str, state: FakeState) -> None:
    ask = {**user('call get_weather {"city": "Paris"}'), "tools": [WEATHER]}
    out = await ADAPTER.chat(client, target(url), ask)
    validate("CreateChatCompletionResponse", out)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert state.last.body["tools"] == [
        {
            "type": "function",
            "function": {k: WEATHER["function"][k] for k in ("name", "description", "parameters")},
        }
    ]

    history = {
        "tools": [WEATHER],
        "messages": [
            *ask["messages"],
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "18C and sunny"},
        ],
    }
    validator("CreateChatCompletionRequest").validate({**history, "model": "m"})
    out = await ADAPTER.chat(client, target(url), history)
    assert out["choices"][0]["message"]["content"] == "Tool get_weather returned: 18C and sunny"
    sent = state.last.body["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": call["id"],
                "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}},
            }
        ],
    }
    assert sent[2] == {
        "role": "tool",
        "content": "18C and sunny",
        "tool_call_id": call["id"],
        "tool_name": "get_weather",
    }


async def test_deprecated_function_role_becomes_tool(
    client: Transport, url: str, state: FakeState
) -> None:
    body = {
        "messages": [
            {"role": "user", "content": "x"},
            {"role": "function", "name": "lookup", "content": "42"},
        ]
    }
    out = await ADAPTER.chat(client, target(url), body)
    assert out["choices"][0]["message"]["content"] == "Tool lookup returned: 42"


# ------------------------------------------------------------------------- chat streams


async def test_stream_order_usage_and_no_buffering(
    client: Transport, url: str, state: FakeState
) -> None:
    state.chunk_delay = 0.05
    words = "one two three four five six"
    stamps: list[float] = []
    chunks: list[Json] = []
    async for chunk in ADAPTER.chat_stream(client, target(url), user(words)):
        if not chunks:
            assert state.streams_open == 1 and not state.stream_done.is_set()
        validate("CreateChatCompletionStreamResponse", chunk)
        stamps.append(time.monotonic())
        chunks.append(chunk)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text_of(chunks) == f"You said: {words}"
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * 9 + ["stop"]
    assert chunks[-2]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 11, "completion_tokens": 8, "total_tokens": 19}
    assert all("usage" not in c for c in chunks[:-1])
    assert len({c["id"] for c in chunks}) == 1
    assert stamps[-1] - stamps[1] > 0.25  # the deltas arrived spread out, as sent
    assert state.last.body["stream"] is True


async def test_stream_tool_calls(client: Transport, url: str) -> None:
    body = {**user('call get_weather {"city": "Oslo", "days": 2}'), "tools": [WEATHER]}
    chunks = await collect(ADAPTER.chat_stream(client, target(url), body))
    calls = [
        c["choices"][0]["delta"]["tool_calls"]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert len(calls) == 1
    (call,) = calls[0]
    assert call["index"] == 0 and call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Oslo", "days": 2}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] > 0


async def test_stream_length(client: Transport, url: str) -> None:
    chunks = await collect(
        ADAPTER.chat_stream(client, target(url), {**user("a b c"), "max_completion_tokens": 3})
    )
    assert text_of(chunks) == "You said: a"
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"


async def test_stream_tolerates_split_and_blank_lines(
    client: Transport, url: str, state: FakeState
) -> None:
    state.split_every, state.blank_lines = 1, True
    chunks = await collect(ADAPTER.chat_stream(client, target(url), user("split me please")))
    assert text_of(chunks) == "You said: split me please"
    assert state.split_writes == 6 and chunks[-1]["usage"]["completion_tokens"] == 5


def _thinking_app() -> Any:
    from quart import Quart, Response

    app = Quart("thinking")

    @app.post("/api/chat")
    async def chat() -> Response:
        lines = [
            {"message": {"role": "assistant", "content": "", "thinking": "hmm"}, "done": False},
            {
                "message": {
                    "role": "assistant",
                    "content": "Hi",
                    "tool_calls": [{"function": {"name": "f", "arguments": {}}}],
                },
                "done": False,
            },
            {
                "message": {"role": "assistant", "content": "!"},
                "done": True,
                "created_at": "2024-07-22T20:33:28.123648123Z",
                "done_reason": "stop",
                "prompt_eval_count": 3,
                "eval_count": 2,
            },
        ]
        if (await app_json())["stream"] is False:
            doc = {
                **lines[2],
                "message": {"role": "assistant", "content": "Hi!", "thinking": "hmm"},
            }
            return Response(json.dumps(doc), content_type="application/json")
        return Response("\n".join(json.dumps(x) for x in lines) + "\n")

    async def app_json() -> Json:
        from quart import request

        doc: Json = await request.get_json()
        return doc

    return app


async def test_thinking_final_content_and_missing_call_ids(net: Transport) -> None:
    with serve_app(_thinking_app()) as url:
        chunks = await collect(ADAPTER.chat_stream(net, target(url), user("x")))
        out = await ADAPTER.chat(net, target(url), user("x"))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[1] == {"reasoning_content": "hmm"}
    assert text_of(chunks) == "Hi!"  # the done line's own content is kept
    assert deltas[3]["tool_calls"][0]["id"].startswith("call_")
    assert deltas[3]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["total_tokens"] == 5
    validate("CreateChatCompletionResponse", out)
    assert out["created"] == 1721680408
    assert out["choices"][0]["message"]["reasoning_content"] == "hmm"


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    "status, body, headers, retry_after, retryable",
    [
        (400, {"error": "invalid options"}, {}, None, False),
        (404, {"error": "model 'x' not found"}, {}, None, False),
        (429, {"error": "too many requests"}, {"Retry-After": "7"}, 7.0, True),
        (500, None, {}, None, True),
        (503, None, {"Retry-After": "2"}, 2.0, True),
    ],
)
@pytest.mark.parametrize("mode", ["chat", "stream", "completion", "embeddings"])
async def test_error_statuses(
    client: Transport,
    url: str,
    state: FakeState,
    mode: str,
    status: int,
    body: Json | None,
    headers: dict[str, str],
    retry_after: float | None,
    retryable: bool,
) -> None:
    state.fail(status, body, headers)
    with pytest.raises(UpstreamHTTPError) as err:
        if mode == "chat":
            await ADAPTER.chat(client, target(url), user("x"))
        elif mode == "stream":
            await collect(ADAPTER.chat_stream(client, target(url), user("x")))
        elif mode == "completion":
            await ADAPTER.completion(client, target(url), {"prompt": "x"})
        else:
            await ADAPTER.embeddings(client, target(url, "nomic-embed-text"), {"input": "x"})
    e = err.value
    assert (e.status, e.retry_after, e.retryable, e.provider) == (
        status,
        retry_after,
        retryable,
        "ollama",
    )
    assert f"ollama answered {status}: " in e.message
    if body is not None:
        assert e.message.endswith(body["error"])


async def test_real_unknown_model_and_capability_errors(client: Transport, url: str) -> None:
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.chat(client, target(url, "nope"), user("x"))
    assert err.value.status == 404 and "model 'nope' not found" in err.value.message
    with pytest.raises(UpstreamHTTPError) as err:
        await collect(
            ADAPTER.chat_stream(
                client, target(url, "smollm:135m"), {**user("x"), "tools": [WEATHER]}
            )
        )
    assert err.value.status == 400 and "does not support tools" in err.value.message
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.embeddings(client, target(url), {"input": "x"})
    assert err.value.status == 400 and "does not support embeddings" in err.value.message


async def test_malformed_answers(client: Transport, url: str, state: FakeState) -> None:
    for call in (
        lambda: ADAPTER.chat(client, target(url), user("x")),
        lambda: collect(ADAPTER.chat_stream(client, target(url), user("x"))),
        lambda: ADAPTER.list_models(client, provider(url), None),
        lambda: ADAPTER.completion(client, target(url), {"prompt": "x"}),
    ):
        state.malformed()
        with pytest.raises(UpstreamProtocolError):
            await call()


async def test_mid_stream_error_line(client: Transport, url: str, state: FakeState) -> None:
    state.break_stream_after(3)
    got: list[Json] = []
    with pytest.raises(UpstreamHTTPError) as err:
        async for chunk in ADAPTER.chat_stream(client, target(url), user("a b c d")):
            got.append(chunk)
    assert text_of(got) == "You said: a" and got[0]["choices"][0]["delta"]["role"] == "assistant"
    assert err.value.status == 500 and STREAM_ERROR in err.value.message
    state.break_stream_after(0)  # before the first chunk: nothing yielded, retryable
    gen = ADAPTER.chat_stream(client, target(url), user("a"))
    with pytest.raises(UpstreamHTTPError) as err:
        await gen.__anext__()
    assert err.value.retryable
    state.break_stream_after(1)  # the non-streaming path answers 500, as Ollama does
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.chat(client, target(url), user("a"))
    assert err.value.status == 500 and STREAM_ERROR in err.value.message


async def test_cut_and_truncated_streams(client: Transport, url: str, state: FakeState) -> None:
    state.break_stream_after(2, mode="cut")
    got: list[Json] = []
    with pytest.raises(UpstreamConnectError):
        async for chunk in ADAPTER.chat_stream(client, target(url), user("a b c d")):
            got.append(chunk)
    assert text_of(got) == "You said:"
    state.break_stream_after(2, mode="eof")
    with pytest.raises(UpstreamProtocolError, match="before its final"):
        await collect(ADAPTER.chat_stream(client, target(url), user("a b c d")))
    state.break_stream_after(2, mode="eof")
    with pytest.raises(UpstreamProtocolError, match="before its final"):
        async for _ in ADAPTER.completion_stream(client, target(url), {"prompt": "a b c"}):
            pass


@pytest.mark.parametrize("stream", [False, True])
async def test_timeout(url: str, state: FakeState, stream: bool) -> None:
    state.hang(0.6)
    async with http_transport(0.15, connect_s=5.0) as slow:
        with pytest.raises(UpstreamTimeout):
            if stream:
                await collect(ADAPTER.chat_stream(slow, target(url), user("x")))
            else:
                await ADAPTER.chat(slow, target(url), user("x"))


async def test_connection_refused() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    expected = UpstreamConnectError  # aiohttp's ClientConnectorError, not a timeout
    async with http_transport(5.0) as client:
        with pytest.raises(expected):
            await ADAPTER.chat(client, target(dead), user("x"))
        with pytest.raises(expected):
            await collect(ADAPTER.chat_stream(client, target(dead), user("x")))


async def test_cancel_closes_upstream(client: Transport, url: str, state: FakeState) -> None:
    state.chunk_delay = 0.1
    stream = ADAPTER.chat_stream(client, target(url), user(" ".join(["word"] * 40)))
    gen = cast(AsyncGenerator[Json, None], stream)  # every adapter stream is a generator
    assert (await gen.__anext__())["choices"][0]["delta"]["role"] == "assistant"
    await gen.__anext__()
    await gen.aclose()
    assert await asyncio.to_thread(state.client_gone.wait, 3.0)
    assert state.disconnects == 1 and state.streams_finished == 0 and state.streams_open == 0


async def test_cancelled_task_closes_upstream(
    client: Transport, url: str, state: FakeState
) -> None:
    state.chunk_delay = 0.1
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in ADAPTER.chat_stream(client, target(url), user(" ".join(["w"] * 40))):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(state.client_gone.wait, 3.0)


# ----------------------------------------------------------------- auth, headers, secrets


async def test_headers_and_auth(client: Transport, url: str, state: FakeState) -> None:
    await ADAPTER.chat(client, target(url, key=None, **{"X-Team": "blue"}), user("x"))
    assert state.last.headers["x-team"] == "blue" and "authorization" not in state.last.headers
    state.api_key = "test-key"  # like ollama.com
    await ADAPTER.chat(client, target(url), user("x"))
    assert state.last.headers["authorization"] == "Bearer test-key"
    configured = target(url, key="other", Authorization="Bearer test-key")
    await ADAPTER.chat(client, configured, user("x"))
    assert state.last.headers["authorization"] == "Bearer test-key"
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.chat(client, target(url, key=None), user("x"))
    assert err.value.status == 401 and err.value.message.endswith("unauthorized")


async def test_no_key_in_errors(net: Transport, url: str, state: FakeState) -> None:
    state.api_key = "test-key"
    errors: list[UpstreamError] = []
    for call in (
        lambda: ADAPTER.chat(net, target(url, key=SECRET), user("x")),
        lambda: collect(ADAPTER.chat_stream(net, target(url, key=SECRET), user("x"))),
        lambda: ADAPTER.list_models(net, provider(url), SECRET),
    ):
        with pytest.raises(UpstreamError) as err:
            await call()
        errors.append(err.value)
    state.api_key = None
    state.fail(400, {"error": f"invalid api key {SECRET}"})
    with pytest.raises(UpstreamError) as err:
        await ADAPTER.chat(net, target(url, key=SECRET), user("x"))
    errors.append(err.value)
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UpstreamError) as err:
        await ADAPTER.chat(net, target(dead, key=SECRET), user("x"))
    errors.append(err.value)
    for e in errors:
        assert SECRET not in str(e) and SECRET not in repr(e) and SECRET not in e.message
    assert SECRET not in repr(target(url, key=SECRET))


# ------------------------------------------------------------------ legacy completions


async def test_completion(client: Transport, url: str, state: FakeState) -> None:
    body = {
        "model": "m",
        "prompt": "Once upon",
        "suffix": "the end",
        "max_tokens": 20,
        "temperature": 0,
        "stop": ["\n\n"],
    }
    validator("CreateCompletionRequest").validate(body)
    out = await ADAPTER.completion(client, target(url), body)
    validate("CreateCompletionResponse", out)
    assert out["object"] == "text_completion"
    assert out["choices"][0]["text"] == "You said: Once upon (before 'the end')"
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"] == {"prompt_tokens": 7, "completion_tokens": 7, "total_tokens": 14}
    assert (state.last.path, state.last.body) == (
        "/api/generate",
        {
            "model": "llama3.2",
            "stream": False,
            "prompt": "Once upon",
            "suffix": "the end",
            "options": {"temperature": 0, "num_predict": 20, "stop": ["\n\n"]},
        },
    )
    echoed = await ADAPTER.completion(
        client, target(url), {"prompt": ["Hi"], "echo": True, "max_tokens": 2}
    )
    assert echoed["choices"][0]["text"] == "HiYou said:"
    assert echoed["choices"][0]["finish_reason"] == "length"


async def test_completion_stream(client: Transport, url: str, state: FakeState) -> None:
    state.split_every = 1
    chunks = [
        c
        async for c in ADAPTER.completion_stream(
            client, target(url), {"prompt": "a b", "echo": True}
        )
    ]
    for c in chunks:  # OpenAI's schema has no null finish_reason, which streams carry
        reason = c["choices"][0]["finish_reason"] or "stop"
        validate(
            "CreateCompletionResponse",
            {**c, "choices": [{**c["choices"][0], "finish_reason": reason}]},
        )
    validate("CreateCompletionResponse", chunks[-1])
    assert "".join(c["choices"][0]["text"] for c in chunks) == "a bYou said: a b"
    assert [c["choices"][0]["finish_reason"] for c in chunks][-2:] == [None, "stop"]
    assert chunks[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    assert all("usage" not in c for c in chunks[:-1]) and state.last.body["stream"] is True


@pytest.mark.parametrize("prompt", [["a", "b"], [1, 2, 3], [[1, 2]], None])
async def test_completion_prompts_ollama_cannot_take(
    client: Transport, url: str, state: FakeState, prompt: Any
) -> None:
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.completion(client, target(url), {"prompt": prompt})
    assert err.value.status == 400 and state.requests == []


# --------------------------------------------------------------------------- embeddings


async def test_embeddings(client: Transport, url: str, state: FakeState) -> None:
    t = target(url, "nomic-embed-text")
    one = await ADAPTER.embeddings(client, t, {"model": "x", "input": "hello"})
    validate("CreateEmbeddingResponse", one)
    assert len(one["data"]) == 1 and len(one["data"][0]["embedding"]) == 16
    assert one["model"] == "nomic-embed-text" and one["usage"]["prompt_tokens"] == 2
    two = await ADAPTER.embeddings(client, t, {"input": ["hello", "world!"], "dimensions": 8})
    validate("CreateEmbeddingResponse", two)
    assert [d["index"] for d in two["data"]] == [0, 1]
    assert [len(d["embedding"]) for d in two["data"]] == [8, 8]
    assert two["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    assert state.last.body == {
        "model": "nomic-embed-text",
        "input": ["hello", "world!"],
        "dimensions": 8,
    }
    again = await ADAPTER.embeddings(client, t, {"input": "hello"})
    assert again["data"][0]["embedding"] == one["data"][0]["embedding"]


@pytest.mark.parametrize("value", [[1, 2], [[1, 2]], [], None, ["a", 1]])
async def test_embedding_inputs_ollama_cannot_take(
    client: Transport, url: str, state: FakeState, value: Any
) -> None:
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.embeddings(client, target(url, "nomic-embed-text"), {"input": value})
    assert err.value.status == 400 and state.requests == []


# ------------------------------------------------------------------------- model listing


async def test_list_models(client: Transport, url: str, state: FakeState) -> None:
    state.models.append({"name": "custom:latest", "details": {"parameter_size": "unknown"}})
    state.models.append({"model": "tiny:1m", "details": {"parameter_size": "500M"}})
    found = {m.name: m for m in await ADAPTER.list_models(client, provider(url + "/"), None)}
    assert state.last.path == "/api/tags" and state.last.method == "GET"
    assert found["qwen2.5-coder:7b"].params_b == 7.6
    assert found["nomic-embed-text:latest"].params_b == 0.137
    assert found["nomic-embed-text:latest"].capabilities == ("embeddings",)
    assert found["llava:7b"].capabilities == ("chat", "completions", "json", "vision")
    assert found["llama3.2:latest"].capabilities == ("chat", "completions", "json", "tools")
    assert found["custom:latest"].params_b is None and found["custom:latest"].capabilities is None
    assert found["tiny:1m"].params_b == 0.5
    assert found["llama3.2:latest"].context_window is None


async def test_list_models_auth_and_api_suffix(
    client: Transport, url: str, state: FakeState
) -> None:
    state.api_key = "test-key"
    with pytest.raises(UpstreamHTTPError) as err:
        await ADAPTER.list_models(client, provider(url), None)
    assert err.value.status == 401
    assert await ADAPTER.list_models(client, provider(url + "/api"), "test-key")
    assert state.last.path == "/api/tags"


@pytest.mark.parametrize(
    "size, params",
    [
        ("7.6B", 7.6),
        ("500M", 0.5),
        ("137M", 0.137),
        ("134.52M", 0.13452),
        ("70b", 70.0),
        ("1.2T", 1200.0),
        ("", None),
        (None, None),
        ("8x7B", None),
        ("big", None),
    ],
)
def test_params_b(size: Any, params: float | None) -> None:
    assert _params_b(size) == params


def test_registry_finds_the_adapter() -> None:
    assert isinstance(adapter_for("ollama"), OllamaAdapter)
    assert OllamaAdapter.wire == "ollama"


@pytest.mark.parametrize(
    "path, raw, status, words",
    [
        ("/api/chat", b"", 400, "missing request body"),
        ("/api/chat", b"{nope", 400, "invalid character '{'"),
        ("/api/chat", b'{"messages": []}', 400, "model is required"),
        ("/api/chat", b'{"model": "x", "messages": []}', 404, "model 'x' not found"),
        ("/api/chat", b'{"model": "nomic-embed-text", "messages": []}', 400, "support chat"),
        (
            "/api/chat",
            b'{"model": "llama3.2", "messages": [{"role": "user", "content": [{"type": "text"}]}]}',
            400,
            "Message.messages.content of type string",
        ),
        (
            "/api/chat",
            b'{"model": "llama3.2", "messages": [{"role": "assistant", "content": "", '
            b'"tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}]}',
            400,
            "function.arguments of type map",
        ),
        (
            "/api/chat",
            b'{"model": "llava:7b", "messages": [{"role": "user", "content": "", '
            b'"images": ["not base64!"]}]}',
            400,
            "illegal base64",
        ),
        (
            "/api/chat",
            b'{"model": "llama3.2", "messages": [{"role": "user", "content": "x"}], '
            b'"options": {"stop": "x"}}',
            500,
            'option "stop" must be of type array',
        ),
        ("/api/chat", b'{"model": "llama3.2", "format": "xml", "messages": []}', 400, "format"),
        ("/api/generate", b'{"model": "llama3.2", "prompt": ["a"]}', 400, "prompt of type"),
        ("/api/embed", b'{"model": "nomic-embed-text", "input": [1]}', 400, "invalid input"),
    ],
)
def test_fake_validates_requests_like_ollama(
    url: str, path: str, raw: bytes, status: int, words: str
) -> None:
    r = httpx.post(url + path, content=raw)
    assert r.status_code == status and r.headers["content-type"].startswith("application/json")
    assert words in r.json()["error"]


def test_fake_defaults_to_streaming_and_loads_on_empty_messages(url: str) -> None:
    r = httpx.post(url + "/api/chat", json={"model": "llama3.2", "messages": []})
    assert r.json()["done_reason"] == "load"
    r = httpx.post(
        url + "/api/chat",
        json={"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [x["done"] for x in lines] == [False, False, False, True]
    assert httpx.get(url + "/").text == "Ollama is running"
