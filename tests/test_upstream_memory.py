"""The in-memory transport (``providers/transport_memory.py``): adapters run against it with no
socket, and it keeps the network transport's promises — bodies within their cap, error answers
cut to their first bytes, only gzip/deflate decoded (in steps), a handler's failure mapped by the
one mapper, a stream's producer stopped when the stream is left. An ASGI fake provider serves
through it too."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
from collections.abc import AsyncIterator
from types import MappingProxyType
from typing import Any

import aiohttp
import pytest

from localrouter.compiler.table import Provider
from localrouter.errors import (
    BodyTooLarge,
    UpstreamConnectError,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamTooLarge,
)
from localrouter.providers.base import Target
from localrouter.providers.openai import OpenAIAdapter
from localrouter.providers.transport import MAX_ERROR_BODY
from localrouter.providers.transport_memory import MemoryTransport, Reply, Request, asgi_handler
from localrouter.providers.upstream_errors import failures
from localrouter.redaction import REDACTED
from tests.fakes.openai_fake import FakeState, create_app

KEY = "sk-proj-this-key-must-never-leak-0123456789"
P = Provider(
    "mem", "openai", "openai", "http://mem.invalid/v1", None, "api", 2.0, 5.0,
    MappingProxyType({}), (), True, 1024, 256,
)  # fmt: skip
ADAPTER = OpenAIAdapter()
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hello"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


def sse(*docs: dict[str, Any]) -> list[bytes]:
    return [b"data: " + json.dumps(d).encode() + b"\n\n" for d in docs] + [b"data: [DONE]\n\n"]


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip


async def parts(items: list[bytes], seen: list[str] | None = None) -> AsyncIterator[bytes]:
    try:
        for item in items:
            yield item
            await asyncio.sleep(0)
    finally:
        if seen is not None:
            seen.append("closed")


async def test_an_adapter_runs_on_it_with_no_socket() -> None:
    async def handler(request: Request) -> Reply:
        body = json.loads(request.body)
        if body.get("stream"):
            stream = sse(chunk({"role": "assistant", "content": "he"}), chunk({"content": "llo"}),
                         chunk({}, "stop"))  # fmt: skip
            return Reply(200, {"content-type": "text/event-stream"}, parts(stream))
        return Reply(200, {"content-type": "application/json"}, json.dumps(ANSWER).encode())

    memory = MemoryTransport(handler)
    target = Target(P, "m", api_key="k")
    out = await ADAPTER.chat(memory, target, {"messages": [{"role": "user", "content": "hi"}]})
    assert out["choices"][0]["message"]["content"] == "hello"
    asked = memory.requests[0]
    assert asked.method == "POST" and asked.url == "http://mem.invalid/v1/chat/completions"
    assert asked.headers["authorization"] == "Bearer k"
    assert asked.headers["accept-encoding"] == "gzip, deflate"
    got = [c async for c in ADAPTER.chat_stream(memory, target, {"messages": []})]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in got if c["choices"]) == (
        "hello"
    )
    assert memory.open == 0


async def test_caps_decoding_and_error_prefixes_as_on_the_network() -> None:
    replies: dict[str, Reply] = {
        "/big": Reply(200, {}, b"x" * 1025),
        "/gz": Reply(200, {"content-encoding": "gzip"}, gzip.compress(b"y" * 1000)),
        "/gzbomb": Reply(200, {"content-encoding": "gzip"}, gzip.compress(b"z" * 10**7)),
        "/br": Reply(200, {"content-encoding": "br"}, b"\x1b"),
        "/fail": Reply(500, {"retry-after": "3"}, b"e" * (3 * MAX_ERROR_BODY)),
    }

    async def handler(request: Request) -> Reply:
        return replies[request.url.removeprefix("http://m").partition("?")[0]]

    memory = MemoryTransport(handler)
    with pytest.raises(BodyTooLarge):
        await memory.post("http://m/big", {}, b"", limit=1024)
    gz = await memory.post("http://m/gz", {}, b"", limit=1024)
    assert gz.body == b"y" * 1000 and "content-encoding" not in gz.headers
    with pytest.raises(UpstreamTooLarge), failures(P):  # 10 MB inflated: stopped at the cap
        await memory.get("http://m/gzbomb", {}, limit=P.max_response_bytes)
    with pytest.raises(UpstreamProtocolError, match="content-encoding 'br'"), failures(P):
        await memory.post("http://m/br", {}, b"", limit=1024)
    failed = await memory.post("http://m/fail", {}, b"", limit=10)
    assert failed.status == 500 and len(failed.body) == MAX_ERROR_BODY
    assert failed.headers["retry-after"] == "3"
    await memory.get("http://m/gz", {}, limit=2000, params={"a": 1, "b": "c d"})
    assert memory.requests[-1].url == "http://m/gz?a=1&b=c+d"


async def test_a_handler_failure_is_mapped_like_the_network_one() -> None:
    async def handler(request: Request) -> Reply:
        raise aiohttp.ServerDisconnectedError()

    with pytest.raises(UpstreamConnectError, match=r"mem connection failed \(Server"):
        await ADAPTER.chat(MemoryTransport(handler), Target(P, "m"), {"messages": []})


async def test_an_error_answer_echoing_the_key_is_redacted() -> None:
    async def handler(request: Request) -> Reply:
        said = {"error": {"message": f"bad key {request.headers['authorization']}", "code": 401}}
        return Reply(401, {"content-type": "application/json"}, json.dumps(said).encode())

    with pytest.raises(UpstreamHTTPError) as caught:
        await ADAPTER.chat(MemoryTransport(handler), Target(P, "m", api_key=KEY), {"messages": []})
    assert KEY not in str(caught.value) and KEY[:8] not in str(caught.value)
    assert REDACTED in caught.value.message and caught.value.status == 401


async def test_leaving_a_stream_stops_its_producer() -> None:
    seen: list[str] = []
    stream = sse(*[chunk({"content": "w"}) for _ in range(50)])

    async def handler(request: Request) -> Reply:
        return Reply(200, {"content-type": "text/event-stream"}, parts(stream, seen))

    memory = MemoryTransport(handler)
    chunks = ADAPTER.chat_stream(memory, Target(P, "m"), {"messages": []})
    assert isinstance(chunks, AsyncIterator)
    await anext(chunks)
    assert memory.in_use() == 1
    await chunks.aclose()  # type: ignore[attr-defined]
    assert seen == ["closed"] and memory.in_use() == 0


async def test_an_asgi_fake_provider_serves_through_it() -> None:
    state = FakeState()
    state.api_key = "test-key"
    memory = MemoryTransport(asgi_handler(create_app(state)))
    p = dataclasses.replace(P, max_response_bytes=2**20, max_event_bytes=2**16)
    target = Target(p, "gpt-4o-mini", api_key="test-key")
    ask = {"messages": [{"role": "user", "content": "a b c"}]}
    out = await ADAPTER.chat(memory, target, ask)
    assert out["object"] == "chat.completion" and out["choices"][0]["message"]["content"]
    got = [c async for c in ADAPTER.chat_stream(memory, target, ask)]
    assert got[-1]["usage"]["total_tokens"] > 0
    models = await ADAPTER.list_models(memory, p, "test-key")
    assert models
    with pytest.raises(UpstreamHTTPError) as caught:
        await ADAPTER.chat(memory, Target(p, "gpt-4o-mini", api_key="wrong"), ask)
    assert caught.value.status == 401
