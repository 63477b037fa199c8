"""The OpenAI adapter and its fake, over real HTTP.

First the fake is proved faithful: the official ``openai`` SDK (sync and async) talks to it —
chat, streams with ``stream_options``, tool calls, embeddings, legacy completions, the model
list — and gets its own typed errors; every answer and chunk validates against OpenAI's
published schemas, and an invalid request is a 400. Then the adapter runs against it, through
the gateway's own transport (``HttpTransport``) and the in-memory one (the same fake, no
socket): what it sends (the fake validates every body
against the request schemas and refuses unknown fields, so a wrong pass-through is a 400 there),
what it returns (validated), streaming, failures and cancellation.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from types import MappingProxyType
from typing import Any

import httpx
import openai
import pytest

from localrouter.compiler.table import Provider
from localrouter.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from localrouter.providers import openai_answers as answers
from localrouter.providers.base import Target
from localrouter.providers.openai import OpenAIAdapter, request_body
from localrouter.providers.registry import adapter_for
from localrouter.providers.transport import Transport
from tests.fakes.openai_fake import FakeState, create_app, default_models, openrouter_models
from tests.fakes.serve import free_port, serve_app, wait_for_streams_closed
from tests.openapi import validate
from tests.transports import http_transport, transport_for

Json = dict[str, Any]
MODEL = "gpt-4o-mini"
SECRET = "sk-proj-this-key-must-never-leak-0123456789"
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
ADAPTER = OpenAIAdapter()


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
    state.api_key = "test-key"
    state.chunk_delay = 0.0
    state.compat = state.openrouter = state.crlf = state.split_writes = False
    state.models = default_models()
    wait_for_streams_closed(state)
    state.disconnects = state.streams_started = state.streams_finished = 0
    state.client_gone.clear()
    return state


@pytest.fixture
def url(server: tuple[str, FakeState]) -> str:
    return server[0] + "/v1"


@pytest.fixture(params=["http", "memory"])
async def client(
    request: pytest.FixtureRequest, server: tuple[str, FakeState]
) -> AsyncIterator[Transport]:
    async with transport_for(request.param, create_app(server[1]), 5.0) as c:
        yield c


def target(url: str, key: str | None = "test-key", model: str = MODEL, **headers: str) -> Target:
    provider = Provider(
        "oai", "openai", "openai", url, None, "api", 2.0, 5.0, MappingProxyType(headers), (), True
    )
    return Target(provider, model, api_key=key)


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


async def collect(stream: AsyncIterator[Json]) -> list[Json]:
    return [chunk async for chunk in stream]


def validate_chunks(chunks: list[Json]) -> None:
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)


def validate_completion_chunk(chunk: Json) -> None:
    # OpenAI's schema marks finish_reason non-null although its API streams null mid-way.
    choices = [{**c, "finish_reason": c["finish_reason"] or "stop"} for c in chunk["choices"]]
    validate("CreateCompletionResponse", {**chunk, "choices": choices})


def streamed_text(chunks: list[Json], key: str = "content") -> str:
    return "".join(c["choices"][0]["delta"].get(key) or "" for c in chunks if c["choices"])


def streamed_calls(chunks: list[Json]) -> dict[int, Json]:
    calls: dict[int, Json] = {}
    for chunk in chunks:
        for part in chunk["choices"][0]["delta"].get("tool_calls", []) if chunk["choices"] else []:
            call = calls.setdefault(part["index"], {"id": None, "name": None, "arguments": ""})
            if "id" in part:
                assert call["id"] is None, "the id comes once, on the first fragment of a call"
                call["id"], call["name"] = part["id"], part["function"]["name"]
            call["arguments"] += part["function"].get("arguments", "")
    return calls


# ---------------------------------------------------------------- the official SDK vs the fake


def sdk(url: str, key: str = "test-key") -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0)


def test_sdk_chat_and_stream(url: str, fake: FakeState) -> None:
    client = sdk(url)
    messages: list[Any] = [{"role": "system", "content": "Be brief."}, *user("Hello there, fake")]
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages)
    validate("CreateChatCompletionResponse", json.loads(raw.text))
    assert raw.headers["x-request-id"].startswith("req_")
    done = raw.parse()
    assert done.choices[0].message.content == "Hello there, fake"
    assert done.choices[0].finish_reason == "stop" and done.model == "gpt-4o-mini-2024-07-18"
    assert done.usage is not None and done.usage.prompt_tokens == 3 + (3 + 2) + (3 + 3)
    assert fake.last.headers["authorization"] == "Bearer test-key"
    stream = client.chat.completions.create(
        model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Hello there, fake"
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3
    plain = list(client.chat.completions.create(model=MODEL, messages=messages, stream=True))
    assert plain[-1].choices[0].finish_reason == "stop" and plain[-1].usage is None


def test_sdk_tool_calls(url: str, fake: FakeState) -> None:
    client = sdk(url)
    ask = user('call get_weather {"city": "Paris"}\ncall get_weather {"city": "Rome"}')
    done = client.chat.completions.create(model=MODEL, messages=ask, tools=[WEATHER])
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = [c for c in choice.message.tool_calls or [] if c.type == "function"]
    assert [json.loads(c.function.arguments) for c in calls] == [
        {"city": "Paris"},
        {"city": "Rome"},
    ]
    with client.chat.completions.stream(model=MODEL, messages=ask, tools=[WEATHER]) as stream:
        final = stream.get_final_completion()
    streamed = [c for c in final.choices[0].message.tool_calls or [] if c.type == "function"]
    assert [c.function.arguments for c in streamed] == [c.function.arguments for c in calls]
    follow = [
        *ask,
        choice.message.model_dump(exclude_unset=True),
        *[{"role": "tool", "tool_call_id": c.id, "content": "21 C"} for c in calls],
    ]
    answer = client.chat.completions.create(model=MODEL, messages=follow, tools=[WEATHER])
    assert answer.choices[0].message.content == "tool said: 21 C"
    with pytest.raises(openai.BadRequestError, match="tool_call_ids did not have response"):
        client.chat.completions.create(model=MODEL, messages=follow[:-1], tools=[WEATHER])


async def test_sdk_async_client(url: str, fake: FakeState) -> None:
    client = openai.AsyncOpenAI(base_url=url, api_key="test-key", max_retries=0)
    done = await client.chat.completions.create(model=MODEL, messages=user("async hi"))
    assert done.choices[0].message.content == "async hi"
    stream = await client.chat.completions.create(
        model=MODEL, messages=user("a b c"), stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "a b c"
    with pytest.raises(openai.RateLimitError) as caught:
        fake.fail(429)
        await client.chat.completions.create(model=MODEL, messages=user("x"))
    assert caught.value.code == "rate_limit_exceeded"
    await client.close()


def test_sdk_embeddings_completions_models(url: str, fake: FakeState) -> None:
    client = sdk(url)
    emb = client.embeddings.create(model="text-embedding-3-small", input=["one", "two words"])
    assert fake.last.body["encoding_format"] == "base64"  # the SDK's default; it decodes
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 16
    assert emb.usage.prompt_tokens == 3
    raw = client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="x", encoding_format="float", dimensions=4
    )
    validate("CreateEmbeddingResponse", json.loads(raw.text))
    assert len(raw.parse().data[0].embedding) == 4
    text = client.completions.with_raw_response.create(
        model="gpt-3.5-turbo-instruct", prompt="say this", max_tokens=1
    )
    validate("CreateCompletionResponse", json.loads(text.text))
    assert (
        text.parse().choices[0].text == "say" and text.parse().choices[0].finish_reason == "length"
    )
    chunks = list(
        client.completions.create(
            model="gpt-3.5-turbo-instruct",
            prompt="one two",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "one two"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 4
    listed = client.models.with_raw_response.list()
    validate("ListModelsResponse", json.loads(listed.text))
    assert "gpt-4o-mini" in [m.id for m in listed.parse()]
    assert client.models.retrieve("gpt-4o").owned_by == "system"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-9")


def test_sdk_typed_errors(url: str, fake: FakeState) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        sdk(url, key=SECRET).chat.completions.create(model=MODEL, messages=user("x"))
    assert caught.value.code == "invalid_api_key" and SECRET not in str(caught.value)
    client = sdk(url)
    cases: list[tuple[Json, type[openai.APIStatusError], str]] = [
        ({"extra_body": {"tags": ["a"]}}, openai.BadRequestError, "Unrecognized request argument"),
        ({"metadata": {"a": "b"}}, openai.BadRequestError, "only allowed when 'store'"),
        (
            {"stream_options": {"include_usage": True}},
            openai.BadRequestError,
            "'stream' is enabled",
        ),
        ({"temperature": 7}, openai.BadRequestError, "Invalid value for 'temperature'"),
        ({"n": 2}, openai.BadRequestError, "n=1 only"),
        ({"model": "gpt-9"}, openai.NotFoundError, "does not exist"),
    ]
    for extra, error, text in cases:
        kwargs = {"model": MODEL, "messages": user("x"), **extra}
        with pytest.raises(error, match=text):
            client.chat.completions.create(**kwargs)
    with pytest.raises(openai.BadRequestError, match="Missing required parameter: 'messages'"):
        client.post("/chat/completions", body={"model": MODEL}, cast_to=object)
    fake.fail(500)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=user("x"))
    fake.break_stream_after(2, mode="error")
    with pytest.raises(openai.APIError, match="had an error while processing"):
        list(client.chat.completions.create(model=MODEL, messages=user("a b c"), stream=True))


def test_fake_answers_validate_raw(url: str, fake: FakeState) -> None:
    """The fake's own bytes (not the SDK's parse of them) follow OpenAI's schemas."""
    auth = {"authorization": "Bearer test-key"}

    def events(path: str, body: Json) -> list[str]:
        with httpx.stream("POST", f"{url}{path}", json=body, headers=auth) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            text = response.read().decode()
        assert text.endswith("data: [DONE]\n\n")
        return [e.removeprefix("data: ") for e in text.split("\n\n") if e][:-1]

    asks = [
        {"messages": user("plain words here"), "logprobs": True},
        {"messages": user('call get_weather {"city": "Oslo"}'), "tools": [WEATHER]},
        {"messages": user("refuse please")},
    ]
    for ask in asks:
        body = {"model": MODEL, **ask}
        done = httpx.post(f"{url}/chat/completions", json=body, headers=auth).json()
        validate("CreateChatCompletionResponse", done)
        streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
        chunks = [json.loads(e) for e in events("/chat/completions", streamed)]
        validate_chunks(chunks)
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
        assert all("obfuscation" in c for c in chunks)
    legacy = {"model": "gpt-3.5-turbo-instruct", "prompt": "a b"}
    done = httpx.post(f"{url}/completions", json=legacy, headers=auth).json()
    validate("CreateCompletionResponse", done)
    for event in events("/completions", {**legacy, "stream": True}):
        validate_completion_chunk(json.loads(event))
    emb = {"model": "text-embedding-3-small", "input": "x"}
    validate(
        "CreateEmbeddingResponse",
        httpx.post(f"{url}/embeddings", json=emb, headers=auth).json(),
    )
    validate("ListModelsResponse", httpx.get(f"{url}/models", headers=auth).json())
    for status in (400, 401, 404, 429, 500, 503):
        fake.fail(status)
        failed = httpx.get(f"{url}/models", headers=auth)
        assert failed.status_code == status
        validate("ErrorResponse", failed.json())
    invalid = httpx.post(f"{url}/chat/completions", json={"model": MODEL}, headers=auth)
    validate("ErrorResponse", invalid.json())
    assert invalid.json()["error"]["code"] == "missing_required_parameter"
    assert httpx.get(f"{url}/models").status_code == 401


# ---------------------------------------------------------------- requests


async def test_registry_finds_the_adapter() -> None:
    assert isinstance(adapter_for("openai"), OpenAIAdapter)


def test_request_body_rules() -> None:
    body = {
        "model": "auto",
        "messages": user("x"),
        "tags": ["t"],
        "metadata": {"a": 1},
        "stream": True,
        "stream_options": {"include_obfuscation": False},
        "seed": 3,
    }
    assert request_body(body, "m", kind="chat") == {"model": "m", "messages": user("x"), "seed": 3}
    streamed = request_body(body, "m", kind="chat", stream=True)
    assert streamed["stream"] is True and "metadata" not in streamed
    assert streamed["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert body["stream_options"] == {"include_obfuscation": False}  # the caller's is untouched
    stored = request_body({**body, "store": True, "metadata": {"a": "b"}}, "m", kind="chat")
    assert stored["metadata"] == {"a": "b"}
    legacy = request_body({**body, "store": True, "metadata": {"a": "b"}}, "m", kind="completion")
    assert "metadata" not in legacy
    emb = request_body(
        {"input": "x", "encoding_format": "base64", "tags": []}, "e", kind="embeddings"
    )
    assert emb == {"input": "x", "model": "e", "encoding_format": "float"}


async def test_chat_passes_through(client: Transport, url: str, fake: FakeState) -> None:
    body = {
        "model": "auto",
        "messages": [{"role": "developer", "content": "Be brief."}, *user("Hello gateway")],
        "tags": ["x"],
        "metadata": {"team": "a"},
        "temperature": 0.2,
        "max_completion_tokens": 50,
        "user": "u1",
    }
    tgt = target(url, **{"HTTP-Referer": "https://localrouter.dev", "X-Title": "LocalRouter"})
    out = await ADAPTER.chat(client, tgt, body)
    validate("CreateChatCompletionResponse", out)
    assert out["choices"][0]["message"]["content"] == "Hello gateway"
    assert out["model"] == "gpt-4o-mini-2024-07-18" and out["usage"]["total_tokens"] > 0
    sent = fake.last
    assert sent.path == "/v1/chat/completions"
    assert sent.body == {
        "model": MODEL,
        "messages": body["messages"],
        "temperature": 0.2,
        "max_completion_tokens": 50,
        "user": "u1",
    }
    assert sent.headers["authorization"] == "Bearer test-key"
    assert sent.headers["http-referer"] == "https://localrouter.dev"
    assert sent.headers["x-title"] == "LocalRouter"
    assert body["model"] == "auto" and "tags" in body  # the caller's body is not changed
    await ADAPTER.chat(client, target(url), {**body, "store": True})
    assert fake.last.body["metadata"] == {"team": "a"} and fake.last.body["store"] is True


async def test_no_key_no_authorization(client: Transport, url: str, fake: FakeState) -> None:
    fake.api_key = None  # LM Studio, vLLM
    out = await ADAPTER.chat(client, target(url, key=None), {"messages": user("local")})
    assert out["choices"][0]["message"]["content"] == "local"
    assert "authorization" not in fake.last.headers
    tgt = target(url, key="test-key", Authorization="Bearer configured")
    await ADAPTER.chat(client, tgt, {"messages": user("x")})
    assert fake.last.headers["authorization"] == "Bearer test-key"  # our key wins


async def test_tools_refusal_logprobs(client: Transport, url: str, fake: FakeState) -> None:
    body = {
        "messages": user('call get_weather {"city": "Oslo"}'),
        "tools": [WEATHER],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
    }
    out = await ADAPTER.chat(client, target(url), body)
    validate("CreateChatCompletionResponse", out)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Oslo"}'}
    refused = await ADAPTER.chat(client, target(url), {"messages": user("refuse this")})
    assert refused["choices"][0]["message"]["refusal"].startswith("I'm sorry")
    probs = await ADAPTER.chat(client, target(url), {"messages": user("a b"), "logprobs": True})
    validate("CreateChatCompletionResponse", probs)
    assert [t["token"] for t in probs["choices"][0]["logprobs"]["content"]] == ["a", " b"]
    jsoned = await ADAPTER.chat(
        client, target(url), {"messages": user("hi"), "response_format": {"type": "json_object"}}
    )
    assert json.loads(jsoned["choices"][0]["message"]["content"]) == {"echo": "hi"}


async def test_compatible_server_omissions_filled(
    client: Transport, url: str, fake: FakeState
) -> None:
    fake.compat = True
    lax = await client.post(
        f"{url}/chat/completions",
        {"authorization": "Bearer test-key", "content-type": "application/json"},
        json.dumps({"model": MODEL, "messages": user("x")}).encode(),
        limit=2**20,
    )
    raw = json.loads(lax.body)
    assert "refusal" not in raw["choices"][0]["message"] and "logprobs" not in raw["choices"][0]
    out = await ADAPTER.chat(client, target(url), {"messages": user("lax server")})
    validate("CreateChatCompletionResponse", out)
    assert out["choices"][0]["message"]["refusal"] is None and out["choices"][0]["logprobs"] is None
    assert "system_fingerprint" not in out and "service_tier" not in out
    assert "prompt_tokens_details" not in out["usage"]
    tools = {"messages": user('call get_weather {"city": "Oslo"}'), "tools": [WEATHER]}
    for body in ({"messages": user("lax stream")}, tools):
        chunks = await collect(ADAPTER.chat_stream(client, target(url), body))
        validate_chunks(chunks)
        assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert json.loads(streamed_calls(chunks)[0]["arguments"]) == {"city": "Oslo"}


# ---------------------------------------------------------------- streams


async def test_chat_stream(client: Transport, url: str, fake: FakeState) -> None:
    body = {
        "model": "auto",
        "messages": user("one two three"),
        "stream": True,
        "tags": ["x"],
        "stream_options": {"include_obfuscation": False},
    }
    chunks = await collect(ADAPTER.chat_stream(client, target(url), body))
    validate_chunks(chunks)
    sent = fake.last.body
    assert sent["stream"] is True and sent["model"] == MODEL and "tags" not in sent
    assert sent["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert streamed_text(chunks) == "one two three"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
    assert all(c.get("usage") is None for c in chunks[:-1])
    assert all("obfuscation" not in c for c in chunks)


async def test_stream_tool_call_deltas(client: Transport, url: str, fake: FakeState) -> None:
    text = 'call get_weather {"city": "Oslo", "unit": "celsius"}\ncall get_weather {"city": "Rome"}'
    chunks = await collect(
        ADAPTER.chat_stream(client, target(url), {"messages": user(text), "tools": [WEATHER]})
    )
    validate_chunks(chunks)
    first = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["function"] == {"name": "get_weather", "arguments": ""} and first["id"]
    fragments = [c for c in chunks if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    assert len(fragments) > 6  # arguments arrive in pieces
    calls = streamed_calls(chunks)
    assert [json.loads(c["arguments"]) for c in calls.values()] == [
        {"city": "Oslo", "unit": "celsius"},
        {"city": "Rome"},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["total_tokens"] > 0


async def test_stream_is_not_buffered(client: Transport, url: str, fake: FakeState) -> None:
    fake.chunk_delay = 0.15
    started = time.perf_counter()
    seen: list[float] = []
    async for _chunk in ADAPTER.chat_stream(client, target(url), {"messages": user("a b c d")}):
        seen.append(time.perf_counter() - started)
    assert len(seen) == 7  # role, 4 words, finish, usage
    assert seen[0] < 0.5 < seen[-1] and seen[-1] - seen[0] > 0.7


@pytest.mark.parametrize("mode", ["crlf", "split", "openrouter"])
async def test_stream_framing(client: Transport, url: str, fake: FakeState, mode: str) -> None:
    fake.crlf, fake.split_writes, fake.openrouter = mode == "crlf", mode == "split", True
    chunks = await collect(ADAPTER.chat_stream(client, target(url), {"messages": user("x y z")}))
    validate_chunks(chunks)
    assert streamed_text(chunks) == "x y z" and chunks[-1]["usage"]["total_tokens"] > 0


async def test_server_ignoring_stream(client: Transport, url: str, fake: FakeState) -> None:
    whole = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "all at once"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 3},
    }
    fake.fail(200, body=whole)
    chunks = await collect(ADAPTER.chat_stream(client, target(url), {"messages": user("x")}))
    validate_chunks(chunks)
    assert streamed_text(chunks) == "all at once" and chunks[-1]["usage"]["total_tokens"] == 6


async def test_completions(client: Transport, url: str, fake: FakeState) -> None:
    tgt = target(url, model="gpt-3.5-turbo-instruct")
    # legacy completions have no metadata: the fake refuses unknown fields
    body = {
        "model": "auto",
        "prompt": "complete me please",
        "max_tokens": 2,
        "tags": ["x"],
        "metadata": {"a": "b"},
    }
    out = await ADAPTER.completion(client, tgt, body)
    validate("CreateCompletionResponse", out)
    assert (
        out["choices"][0]["text"] == "complete me"
        and out["choices"][0]["finish_reason"] == "length"
    )
    assert fake.last.path == "/v1/completions" and "metadata" not in fake.last.body
    chunks = await collect(ADAPTER.completion_stream(client, tgt, {"prompt": "a b c"}))
    for chunk in chunks:
        validate_completion_chunk(chunk)
        assert chunk["object"] == "text_completion"
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "a b c"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 6
    with pytest.raises(UpstreamHTTPError) as caught:  # a chat model on /completions
        await ADAPTER.completion(client, target(url), {"prompt": "x"})
    assert caught.value.status == 404 and "chat model" in caught.value.message


async def test_embeddings(client: Transport, url: str, fake: FakeState) -> None:
    tgt = target(url, model="text-embedding-3-small")
    body = {
        "model": "auto",
        "input": ["one", "two words"],
        "dimensions": 8,
        "tags": ["x"],
        "encoding_format": "base64",
    }
    out = await ADAPTER.embeddings(client, tgt, body)
    validate("CreateEmbeddingResponse", out)
    assert fake.last.body == {
        "model": "text-embedding-3-small",
        "input": ["one", "two words"],
        "dimensions": 8,
        "encoding_format": "float",
    }
    assert [len(d["embedding"]) for d in out["data"]] == [8, 8]
    assert out["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    fake.fail(200, body={"data": [{"embedding": [0.5, 0.25]}]})  # a lax server: no usage
    lax = await ADAPTER.embeddings(client, tgt, {"input": "abcdefgh"})
    validate("CreateEmbeddingResponse", lax)
    assert lax["usage"] == {"prompt_tokens": 2, "total_tokens": 2, "estimated": True}


# ---------------------------------------------------------------- model lists


async def test_list_models(client: Transport, url: str, fake: FakeState) -> None:
    provider = target(url).provider
    found = {m.name: m for m in await ADAPTER.list_models(client, provider, "test-key")}
    assert set(found) == {m["id"] for m in default_models()}
    assert found["gpt-4o"].context_window is None and found["gpt-4o"].capabilities is None
    assert found["text-embedding-3-small"].capabilities == ("embeddings",)
    assert (
        fake.last.path == "/v1/models" and fake.last.headers["authorization"] == "Bearer test-key"
    )
    fake.models = openrouter_models()
    routed = {m.name: m for m in await ADAPTER.list_models(client, provider, "test-key")}
    mini = routed["openai/gpt-4o-mini"]
    assert mini.context_window == 128000 and mini.input_per_mtok == 0.15
    assert mini.output_per_mtok == 0.6
    assert mini.capabilities == ("chat", "completions", "tools", "vision", "json")
    assert routed["meta-llama/llama-3.1-8b-instruct"].capabilities == (
        "chat",
        "completions",
        "tools",
        "json",
    )
    auto = routed["openrouter/auto"]
    assert auto.input_per_mtok is None and auto.capabilities == ("chat", "completions", "vision")


def test_other_model_list_shapes() -> None:
    together = [
        {"id": "meta/llama", "context_length": 8192, "pricing": {"input": 0.18, "output": 0.2}}
    ]
    (entry,) = answers.model_entries(together, "t")
    model = answers.discovered(entry)
    assert model is not None and model.input_per_mtok == 0.18 and model.context_window == 8192
    vllm = answers.discovered({"id": "qwen", "object": "model", "max_model_len": 32768})
    assert vllm is not None and vllm.context_window == 32768
    assert answers.discovered({"object": "model"}) is None
    with pytest.raises(UpstreamProtocolError):
        answers.model_entries({"object": "list"}, "t")


# ---------------------------------------------------------------- failures


async def test_error_statuses(client: Transport, url: str, fake: FakeState) -> None:
    with pytest.raises(UpstreamHTTPError) as caught:
        await ADAPTER.chat(client, target(url, key=SECRET), {"messages": user("x")})
    assert caught.value.status == 401 and "invalid_api_key" in caught.value.message
    assert not caught.value.retryable
    fake.fail(429)
    with pytest.raises(UpstreamHTTPError) as caught:
        await ADAPTER.chat(client, target(url), {"messages": user("x")})
    assert caught.value.status == 429 and caught.value.retry_after == 1.5
    assert caught.value.retryable and "rate_limit_exceeded" in caught.value.message
    limits = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "6m0s",
        "x-ratelimit-remaining-tokens": "900",
        "x-ratelimit-reset-tokens": "20ms",
    }
    fake.fail(429, headers=limits)
    with pytest.raises(UpstreamHTTPError) as caught:
        await ADAPTER.chat(client, target(url), {"messages": user("x")})
    assert caught.value.retry_after == 360.0
    fake.fail(429, headers={"x-ratelimit-reset": str(int(time.time() * 1000) + 30_000)})
    with pytest.raises(UpstreamHTTPError) as caught:
        await ADAPTER.chat(client, target(url), {"messages": user("x")})
    assert caught.value.retry_after is not None and 28 < caught.value.retry_after <= 30
    fake.fail(503)
    with pytest.raises(UpstreamHTTPError) as caught:
        await ADAPTER.chat(client, target(url), {"messages": user("x")})
    assert caught.value.status == 503 and caught.value.retryable
    with pytest.raises(UpstreamHTTPError) as caught:  # the fake validates what we send
        await ADAPTER.chat(client, target(url), {"messages": user("x"), "temperature": 9})
    assert caught.value.status == 400 and "temperature" in caught.value.message
    with pytest.raises(UpstreamHTTPError) as caught:
        await ADAPTER.chat(client, target(url, model="gpt-9"), {"messages": user("x")})
    assert caught.value.status == 404 and "model_not_found" in caught.value.message


async def test_no_secret_in_errors(client: Transport, url: str, fake: FakeState) -> None:
    errors: list[UpstreamError] = []
    leak = {"error": {"message": f"bad key {SECRET} and {SECRET[:12]}", "code": "invalid_api_key"}}
    for attempt in ("json", "stream", "models"):
        fake.fail(401, body=leak)
        with pytest.raises(UpstreamError) as caught:
            if attempt == "json":
                await ADAPTER.chat(client, target(url, key=SECRET), {"messages": user("x")})
            elif attempt == "stream":
                await collect(
                    ADAPTER.chat_stream(client, target(url, key=SECRET), {"messages": user("x")})
                )
            else:
                await ADAPTER.list_models(client, target(url).provider, SECRET)
        errors.append(caught.value)
    fake.break_stream_after(1, mode="error")
    fake.openrouter = True
    with pytest.raises(UpstreamError) as caught:
        await collect(
            ADAPTER.chat_stream(client, target(url, key=SECRET), {"messages": user("x y")})
        )
    errors.append(caught.value)
    for err in errors:
        assert SECRET not in str(err) and SECRET not in repr(err.__dict__)


async def test_malformed_answers(client: Transport, url: str, fake: FakeState) -> None:
    fake.malformed()
    with pytest.raises(UpstreamProtocolError):
        await ADAPTER.chat(client, target(url), {"messages": user("x")})
    fake.malformed()
    with pytest.raises(UpstreamProtocolError):
        await collect(ADAPTER.chat_stream(client, target(url), {"messages": user("x")}))
    fake.fail(200, body={"object": "list", "data": []})
    with pytest.raises(UpstreamProtocolError, match="without a chat completion"):
        await ADAPTER.chat(client, target(url), {"messages": user("x")})
    fake.fail(200, body={"error": {"code": 502, "message": "Provider returned error"}})
    with pytest.raises(UpstreamHTTPError) as caught:  # OpenRouter: a 200 carrying an error
        await ADAPTER.chat(client, target(url), {"messages": user("x")})
    assert caught.value.status == 502 and "Provider returned error" in caught.value.message


async def test_errors_before_the_first_chunk(client: Transport, url: str, fake: FakeState) -> None:
    fake.fail(429)
    stream = ADAPTER.chat_stream(client, target(url), {"messages": user("x")})
    with pytest.raises(UpstreamHTTPError) as caught:
        await anext(stream)
    assert caught.value.status == 429 and caught.value.retry_after == 1.5
    assert fake.streams_started == 0


@pytest.mark.parametrize(
    ("mode", "openrouter", "error", "status"),
    [
        ("cut", False, UpstreamConnectError, None),
        ("error", False, UpstreamHTTPError, 502),
        ("error", True, UpstreamHTTPError, 502),
        ("end", False, UpstreamProtocolError, None),
    ],
)
async def test_broken_streams(
    client: Transport,
    url: str,
    fake: FakeState,
    mode: str,
    openrouter: bool,
    error: type[UpstreamError],
    status: int | None,
) -> None:
    fake.openrouter = openrouter
    fake.break_stream_after(3, mode=mode)
    got: list[Json] = []
    with pytest.raises(error) as caught:
        async for chunk in ADAPTER.chat_stream(
            client, target(url), {"messages": user("a b c d e")}
        ):
            got.append(chunk)
    assert len(got) == 3 and caught.value.status == status
    if openrouter:
        assert "Provider disconnected" in caught.value.message


async def test_stream_ending_after_finish_is_complete(
    client: Transport, url: str, fake: FakeState
) -> None:
    fake.break_stream_after(3, mode="end")  # role, "a", finish — then no usage and no [DONE]
    chunks = await collect(ADAPTER.chat_stream(client, target(url), {"messages": user("a")}))
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_timeouts_and_refused(url: str, fake: FakeState) -> None:
    fake.hang(1.0)
    async with http_transport(0.2, connect_s=5.0) as short:
        with pytest.raises(UpstreamTimeout):
            await ADAPTER.chat(short, target(url), {"messages": user("x")})
        fake.hang(1.0)
        with pytest.raises(UpstreamTimeout):
            await collect(ADAPTER.chat_stream(short, target(url), {"messages": user("x")}))
        nowhere = f"http://127.0.0.1:{free_port()}/v1"
        with pytest.raises(UpstreamConnectError):
            await ADAPTER.chat(short, target(nowhere), {"messages": user("x")})
    async with http_transport(2.0) as aio:
        with pytest.raises(UpstreamConnectError):
            await ADAPTER.chat(aio, target(nowhere), {"messages": user("x")})


async def test_cancellation_closes_the_upstream(
    client: Transport, url: str, fake: FakeState
) -> None:
    fake.chunk_delay = 0.2
    stream = ADAPTER.chat_stream(client, target(url), {"messages": user("a b c d e f g h")})
    assert isinstance(stream, AsyncGenerator)
    first = await anext(stream)
    assert first["choices"][0]["delta"]["role"] == "assistant"
    await stream.aclose()
    assert await asyncio.to_thread(fake.client_gone.wait, 3.0)
    assert fake.disconnects == 1 and fake.streams_finished == 0
