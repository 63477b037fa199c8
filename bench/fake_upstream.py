"""A fast fake OpenAI upstream for the gateway benchmark: raw asyncio HTTP/1.1, no framework.

    python bench/fake_upstream.py --port 9001 [--chunks 20] [--delay-ms 0] [--chunk-delay-ms 0]

Answers ``POST /v1/chat/completions`` (also ``/chat/completions``) with a pre-rendered
``chat.completion`` JSON body, or, when the request body says ``"stream": true``, a pre-rendered
SSE stream of ``--chunks`` ``chat.completion.chunk`` events and ``data: [DONE]`` (chunked transfer
encoding, so connections stay alive). It also answers Ollama's ``POST /api/chat`` the same way
(JSON, or NDJSON lines ending with a ``done: true`` line) so the benchmark can drive LocalRouter
through its Ollama adapter while no OpenAI adapter exists, Anthropic's ``POST /v1/messages``
(also ``/messages``: a ``message``, or a stream with Anthropic's event sequence —
``message_start``, ``content_block_start``, ``ping``, ``--chunks`` ``content_block_delta``
``text_delta`` events, ``content_block_stop``, ``message_delta`` with the usage,
``message_stop``), OpenAI's Responses API ``POST /v1/responses`` (also ``/responses``: a
``response`` object, or a stream in OpenAI's event order — ``response.created``,
``response.in_progress``, ``response.output_item.added``, ``response.content_part.added``,
``--chunks`` ``response.output_text.delta`` events, ``response.output_text.done``,
``response.content_part.done``, ``response.output_item.done``, ``response.completed`` with the
usage, each with its ``sequence_number``), and ``GET /health`` (200).

Every response is rendered once at start-up; a request costs a header scan, a byte search for
``"stream": true`` and one ``transport.write``, so the upstream is never the bottleneck.
``--delay-ms`` waits that long before answering each request (a model's think time);
``--chunk-delay-ms`` spaces a stream's events. Keep-alive is HTTP/1.1's default; a request with
``Connection: close`` is answered and the connection closed. Requests on one connection are
answered in order (pipelined requests wait for the one before). Loopback only by default.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
from typing import cast

from fake_answers import Reply, render  # bench/ is the script's own directory

MAX_HEAD = 64 * 1024
MAX_BODY = 32 * 1024 * 1024

_STREAM_TRUE = re.compile(rb'"stream"\s*:\s*true')
_OPENAI_PATHS = frozenset({b"/v1/chat/completions", b"/chat/completions"})
_OLLAMA_PATHS = frozenset({b"/api/chat"})
_ANTHROPIC_PATHS = frozenset({b"/v1/messages", b"/messages"})
_RESPONSES_PATHS = frozenset({b"/v1/responses", b"/responses"})


class FakeUpstream:
    """The answers and the timing knobs shared by every connection."""

    def __init__(self, chunks: int, delay_ms: float, chunk_delay_ms: float) -> None:
        self.replies = render(chunks)
        self.delay = delay_ms / 1000
        self.chunk_delay = chunk_delay_ms / 1000
        self.requests = 0

    def answer(self, method: bytes, path: bytes, body: bytes) -> Reply:
        self.requests += 1
        path = path.split(b"?", 1)[0]
        if method == b"POST" and path in _OPENAI_PATHS:
            return self.replies["openai_sse" if _STREAM_TRUE.search(body) else "openai_json"]
        if method == b"POST" and path in _ANTHROPIC_PATHS:
            return self.replies["anthropic_sse" if _STREAM_TRUE.search(body) else "anthropic_json"]
        if method == b"POST" and path in _RESPONSES_PATHS:
            return self.replies["responses_sse" if _STREAM_TRUE.search(body) else "responses_json"]
        if method == b"POST" and path in _OLLAMA_PATHS:
            # Ollama streams unless the request says "stream": false (LocalRouter always says)
            streaming = b'"stream":false' not in body.replace(b" ", b"")
            return self.replies["ollama_ndjson" if streaming else "ollama_json"]
        if method == b"GET" and path == b"/health":
            return self.replies["health"]
        return self.replies["not_found"]


def _chunked_body(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """Decode a chunked body starting at ``start``: (body, end offset), or None if incomplete."""
    out = bytearray()
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", pos - 2)
            return (bytes(out), end + 4) if end >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        out += buf[pos : pos + size]
        pos += size + 2


class UpstreamProtocol(asyncio.Protocol):
    """One connection: parse requests from the buffer, answer each in order."""

    def __init__(self, server: FakeUpstream) -> None:
        self.server = server
        self.buf = bytearray()
        self.busy = False
        self.pending: asyncio.Future[None] | None = None  # a delayed answer being written
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._process()

    def _process(self) -> None:
        transport = self.transport
        while transport is not None and not self.busy:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    transport.write(self.server.replies["bad_request"].whole)
                    transport.close()
                return
            lines = bytes(self.buf[:end]).split(b"\r\n")
            try:
                method, path, _version = lines[0].split(b" ", 2)
            except ValueError:
                transport.write(self.server.replies["bad_request"].whole)
                transport.close()
                return
            length, chunked, close = 0, False, False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection":
                    close = value.strip().lower() == b"close"
            if chunked:
                decoded = _chunked_body(self.buf, end + 4)
                if decoded is None:
                    return
                body, consumed = decoded
            else:
                if length > MAX_BODY:
                    transport.write(self.server.replies["bad_request"].whole)
                    transport.close()
                    return
                consumed = end + 4 + length
                if len(self.buf) < consumed:
                    return
                body = bytes(self.buf[end + 4 : consumed])
            del self.buf[:consumed]
            reply = self.server.answer(method, path, body)
            if self.server.delay or (self.server.chunk_delay and len(reply.parts) > 1):
                self.busy = True
                self.pending = asyncio.ensure_future(self._answer_later(reply, close))
                return
            transport.write(reply.whole)
            if close:
                transport.close()
                return

    async def _answer_later(self, reply: Reply, close: bool) -> None:
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        if self.server.chunk_delay and len(reply.parts) > 1:
            for i, part in enumerate(reply.parts):
                if self.transport is None:
                    return
                if i > 1:
                    await asyncio.sleep(self.server.chunk_delay)
                    if self.transport is None:
                        return
                self.transport.write(part)
        elif self.transport is not None:
            self.transport.write(reply.whole)
        self.busy = False
        if self.transport is not None:
            if close:
                self.transport.close()
            else:
                self._process()


async def serve(host: str, port: int, server: FakeUpstream) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    srv = await loop.create_server(lambda: UpstreamProtocol(server), host, port, backlog=1024)
    async with srv:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--chunks", type=int, default=20, help="events in a stream (default 20)")
    ap.add_argument("--delay-ms", type=float, default=0.0, help="wait before each answer")
    ap.add_argument("--chunk-delay-ms", type=float, default=0.0, help="wait between events")
    args = ap.parse_args(argv)
    server = FakeUpstream(max(1, args.chunks), args.delay_ms, args.chunk_delay_ms)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port, server))
    else:
        uvloop.run(serve(args.host, args.port, server))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
