"""A hostile provider for the size caps: it speaks each wire format (OpenAI, Anthropic, Gemini,
Ollama) just well enough to start an answer, then sends more than any cap allows.

    state = OversizeState(mode="endless_body")
    with serve_app(create_app(state)) as url: ...

Modes (``state.mode``, read at each request):

* ``endless_body`` — a non-stream answer: ``200 application/json`` whose body never ends;
* ``declared_length`` — a non-stream answer as above that says its length: ``Content-Length``
  is ``limit_mb`` MiB (and that much follows);
* ``gzip_bomb`` — a non-stream answer of ``limit_mb`` MiB, gzip-compressed (~1/1000 the size);
* ``endless_first_event`` — a stream whose very first line never ends;
* ``endless_event`` — a stream: one well-formed first event in the wire's framing (SSE, or
  NDJSON for Ollama), then a line that never ends;
* ``big_stream`` — an OpenAI stream of ``stream_mb`` MiB of well-formed chunks (each carrying
  ``event_kb`` KiB of text), then its finish and ``[DONE]`` (no usage: the gateway estimates
  it from the text streamed).

It is a bare ASGI app (no framework) sending one pre-built block again and again, so hundreds of
megabytes cost the test little. Model lists (any ``GET``) answer empty. ``state.closed`` counts
requests whose connection the gateway closed before the answer ended (the cap's promise: the
rest is never read); ``state.sent`` the bytes each request got out.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

BLOCK = b"a" * 65536
ANSWER_START = b'{"id": "x", "choices": [{"text": "'
MODELS = {
    "/v1/models": {"object": "list", "data": []},
    "/v1beta/models": {"models": []},
    "/api/tags": {"models": []},
}


@dataclass
class OversizeState:
    mode: str = "endless_body"
    stream_mb: int = 200
    event_kb: int = 64
    limit_mb: int = 512  # "endless" ends here: a gateway without caps must not eat the machine
    requests: list[str] = field(default_factory=list)  # POST paths, in order
    closed: int = 0  # answers the gateway stopped reading (connection closed)
    sent: list[int] = field(default_factory=list)  # bytes sent, one entry per finished POST
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_closed(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Whether ``count`` answers have been cut by the gateway within ``timeout`` s."""
        end = time.monotonic() + timeout
        while self.closed < count and time.monotonic() < end:
            time.sleep(0.02)
        return self.closed >= count


def _sse(data: object, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _first_event(path: str) -> tuple[bytes, bytes, str]:
    """(the first event, what an endless line starts with, content type) for ``path``'s wire."""
    if path.startswith("/api/"):  # Ollama: NDJSON
        line = {
            "model": "m",
            "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": "hello"},
            "done": False,
        }
        return json.dumps(line).encode() + b"\n", b'{"x": "', "application/x-ndjson"
    if path.endswith("/messages"):  # Anthropic
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "m",
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": 3, "output_tokens": 0},
            },
        }
        block = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "hello"},
        }
        first = (
            _sse(start, "message_start")
            + _sse(block, "content_block_start")
            + _sse(delta, "content_block_delta")
        )
        return first, b'event: content_block_delta\ndata: {"x": "', "text/event-stream"
    if ":" in path.rsplit("/", 1)[-1]:  # Gemini
        doc = {"candidates": [{"content": {"role": "model", "parts": [{"text": "hello"}]}}]}
        return _sse(doc), b'data: {"x": "', "text/event-stream"
    chunk = _openai_chunk("hello")
    return _sse(chunk), b'data: {"x": "', "text/event-stream"


def _openai_chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": finish}
        ],
    }


def create_app(state: OversizeState) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path: str = scope["path"]
        if scope["method"] == "GET":
            body = json.dumps(MODELS.get(path, {"object": "list", "data": []})).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        request = b""
        while True:  # the request body, whole
            message = await receive()
            request += message.get("body", b"")
            if not message.get("more_body"):
                break
        with state.lock:
            state.requests.append(path)
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.ensure_future(watch())
        sent = 0
        try:
            if state.mode == "big_stream":
                blocks = _big_stream(state)
                content_type = "text/event-stream"
            elif state.mode == "gzip_bomb":
                blocks, content_type = _gzip_bomb(state.limit_mb), "application/json"
            else:
                blocks, content_type = _endless(state.mode, path, state.limit_mb)
            headers = [(b"content-type", content_type.encode())]
            if state.mode == "gzip_bomb":
                headers.append((b"content-encoding", b"gzip"))
            if state.mode == "declared_length":
                length = len(ANSWER_START) + state.limit_mb * 16 * len(BLOCK)
                headers.append((b"content-length", str(length).encode()))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            for block in blocks:
                if gone.is_set():
                    with state.lock:
                        state.closed += 1
                    return
                await send({"type": "http.response.body", "body": block, "more_body": True})
                sent += len(block)
                await asyncio.sleep(0)  # let the disconnect be noticed
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
            with state.lock:
                state.sent.append(sent)

    return app


def _endless(mode: str, path: str, limit_mb: int) -> tuple[Any, str]:
    def forever(first: bytes) -> Any:
        yield first
        for _ in range(limit_mb * 16):  # 64 KiB blocks
            yield BLOCK

    if mode in ("endless_body", "declared_length"):
        return forever(ANSWER_START), "application/json"
    first, line_start, content_type = _first_event(path)
    if mode == "endless_first_event":
        return forever(line_start), content_type
    return forever(first + line_start), content_type


def _gzip_bomb(limit_mb: int) -> Any:
    pack = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip framing
    yield pack.compress(ANSWER_START)
    for _ in range(limit_mb * 16):
        out = pack.compress(BLOCK)
        if out:
            yield out
    yield pack.flush()


def _big_stream(state: OversizeState) -> Any:
    event = _sse(_openai_chunk("a" * (state.event_kb * 1024)))
    per_block = max(1, 65536 // len(event))
    block = event * per_block
    total = state.stream_mb * 1024 * 1024
    yield _sse(_openai_chunk("hello"))
    sent = 0
    while sent < total:
        yield block
        sent += len(block)
    yield _sse(_openai_chunk("", "stop")) + b"data: [DONE]\n\n"  # no usage: it is estimated
