"""The gateway served for real and called by the official OpenAI SDK, answering through `mock`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.gateway import Gateway, running_gateway
from tests.openapi import validate

CONFIG = """
version: 2
providers:
  mock:
    type: mock
    models:
      small: {input_per_mtok: 1.0, output_per_mtok: 2.0, context_window: 8192, params_b: 3}
      large: {input_per_mtok: 5.0, output_per_mtok: 10.0, context_window: 65536, params_b: 70,
              capabilities: [chat, tools, embeddings, completions]}
strategies:
  cheap:
    models: ["mock/*"]
    order: [lowest_cost]
  tools:
    routes:
      - name: tools
        when: request.has_tools
        models: [mock/large]
    models: [mock/small]
clients:
  app:
    key_prefix: {key_prefix:app}
    key_hash: {key_hash:app}
    strategy: cheap
  other:
    key_prefix: {key_prefix:other}
    key_hash: {key_hash:other}
    strategy: tools
  off:
    key_prefix: {key_prefix:off}
    key_hash: {key_hash:off}
    strategy: cheap
    enabled: false
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with running_gateway(CONFIG, tmp_path_factory.mktemp("gw")) as gateway:
        yield gateway


def sdk(gw: Gateway, client: str = "app") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key=gw.keys[client], max_retries=0)


def test_chat_non_streaming(gw: Gateway) -> None:
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Hello gateway"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "[small] You said: Hello gateway"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
    assert raw.headers["x-localrouter-provider"] == "mock"
    assert raw.headers["x-localrouter-model"] == "small"
    assert raw.headers["x-request-id"].startswith("req-")
    assert raw.headers["x-localrouter-generation-id"].startswith("gen-")


def test_chat_streaming_with_usage_validates_every_chunk(gw: Gateway) -> None:
    with httpx.stream(
        "POST",
        f"{gw.v1}/chat/completions",
        headers={"authorization": f"Bearer {gw.keys['app']}"},
        json={
            "model": "auto",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "one two three"}],
        },
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    import json

    chunks = [json.loads(e) for e in events[:-1]]
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "[small] You said: one two three"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_streaming_without_include_usage_sends_no_usage_chunk(gw: Gateway) -> None:
    stream = sdk(gw).chat.completions.create(
        model="auto", stream=True, messages=[{"role": "user", "content": "hi"}]
    )
    chunks = list(stream)
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


async def test_async_client_streaming(gw: Gateway) -> None:
    client = openai.AsyncOpenAI(base_url=gw.v1, api_key=gw.keys["app"], max_retries=0)
    stream = await client.chat.completions.create(
        model="auto",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "async hello"}],
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        usage = chunk.usage or usage
    assert text == "[small] You said: async hello"
    assert usage is not None and usage.completion_tokens > 0
    await client.close()


def test_tool_calls_route_and_round_trip(gw: Gateway) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    completion = sdk(gw, "other").chat.completions.create(
        model="auto",
        tools=tools,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": 'call get_weather {"city": "Paris"}'}],
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert completion.model == "large"  # the `tools` route
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert call.function.arguments == '{"city": "Paris"}'  # type: ignore[union-attr]


def test_legacy_completions_and_embeddings(gw: Gateway) -> None:
    client = sdk(gw)
    completion = client.completions.create(model="auto", prompt="Say this")
    validate("CreateCompletionResponse", completion.model_dump(exclude_unset=True))
    assert "Say this" in completion.choices[0].text
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(model="auto", prompt="Say this", stream=True)
    )
    assert streamed == completion.choices[0].text
    emb = client.embeddings.create(model="auto", input=["a", "b", "a"])
    validate("CreateEmbeddingResponse", emb.model_dump(exclude_unset=True))
    assert emb.data[0].embedding == emb.data[2].embedding != emb.data[1].embedding


def test_models_only_what_the_client_may_use(gw: Gateway) -> None:
    models = sdk(gw, "other").models.list()
    ids = [m.id for m in models.data]
    assert ids == ["localrouter/auto", "localrouter/tools", "mock/small", "mock/large"]
    body = httpx.get(
        f"{gw.v1}/models", headers={"authorization": f"Bearer {gw.keys['other']}"}
    ).json()
    validate("ListModelsResponse", body)
    large = sdk(gw, "other").models.retrieve("mock/large")
    validate("Model", large.model_dump(exclude_unset=True))
    assert large.context_window == 65536  # type: ignore[attr-defined]


def test_model_resolution(gw: Gateway) -> None:
    client = sdk(gw, "other")
    msg = [{"role": "user", "content": "x"}]
    assert client.chat.completions.create(model="mock/large", messages=msg).model == "large"  # type: ignore[arg-type]
    assert client.chat.completions.create(model="small", messages=msg).model == "small"  # type: ignore[arg-type]
    assert client.chat.completions.create(model="localrouter/tools", messages=msg).model == "small"  # type: ignore[arg-type]
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="localrouter/cheap", messages=msg)  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="mock/nope", messages=msg)  # type: ignore[arg-type]


def test_generation_is_the_callers_own(gw: Gateway) -> None:
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "cost me"}]
    )
    gen_id = raw.headers["x-localrouter-generation-id"]
    own = httpx.get(
        f"{gw.v1}/generation",
        params={"id": gen_id},
        headers={"authorization": f"Bearer {gw.keys['app']}"},
    )
    assert own.status_code == 200
    record = own.json()
    usage = raw.parse().usage
    assert usage is not None
    assert record["tokens"] == {
        "prompt": usage.prompt_tokens,
        "completion": usage.completion_tokens,
        "total": usage.total_tokens,
        "estimated": False,
    }
    assert record["cost_usd"]["total"] == pytest.approx(
        usage.prompt_tokens * 1.0 / 1e6 + usage.completion_tokens * 2.0 / 1e6
    )
    assert record["provider"] == "mock" and record["model"] == "small"
    assert record["config_sha"] == gw.table.sha256
    assert record["attempts"][0]["outcome"] == "ok"
    assert record["latency_ms"] > 0
    other = httpx.get(
        f"{gw.v1}/generation",
        params={"id": gen_id},
        headers={"authorization": f"Bearer {gw.keys['other']}"},
    )
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "generation_not_found"


def test_health_needs_no_key(gw: Gateway) -> None:
    body = httpx.get(f"{gw.url}/health").json()
    assert body["status"] == "ok"
    assert body["config"]["sha"] == gw.table.sha256
    assert body["providers"]["mock"]["status"] == "ok"


def test_embeddings_base64_encoding(gw: Gateway) -> None:
    import base64
    import struct

    floats = httpx.post(
        f"{gw.v1}/embeddings",
        headers={"authorization": f"Bearer {gw.keys['app']}"},
        json={"model": "auto", "input": "vector"},
    ).json()
    encoded = httpx.post(
        f"{gw.v1}/embeddings",
        headers={"authorization": f"Bearer {gw.keys['app']}"},
        json={"model": "auto", "input": "vector", "encoding_format": "base64"},
    ).json()
    # OpenAI's schema describes only the float form; the base64 form is a string, as OpenAI sends
    validate("CreateEmbeddingResponse", floats)
    raw = base64.b64decode(encoded["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert decoded == pytest.approx(floats["data"][0]["embedding"], rel=1e-6)


def test_legacy_completion_stream_chunks_validate(gw: Gateway) -> None:
    """OpenAI streams legacy completions as `text_completion` objects whose `finish_reason` is
    null until the last; its published schema has no stream variant and no null there, so
    mid-stream chunks are validated with that one field set, and the last as it is."""
    with httpx.stream(
        "POST",
        f"{gw.v1}/completions",
        headers={"authorization": f"Bearer {gw.keys['app']}"},
        json={"model": "auto", "prompt": "stream me", "stream": True},
    ) as r:
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    import json

    chunks = [json.loads(e) for e in events[:-1]]
    for chunk in chunks[:-1]:
        assert chunk["choices"][0]["finish_reason"] is None
        patched = {**chunk, "choices": [{**chunk["choices"][0], "finish_reason": "stop"}]}
        validate("CreateCompletionResponse", patched)
    validate("CreateCompletionResponse", chunks[-1])
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
