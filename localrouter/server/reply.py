"""What an endpoint answers, framework-free: a :class:`Reply` (status, headers, a body or a
stream of body parts), and :func:`send_reply`, the one place a reply is written to ASGI.

A streamed reply is sent as it is made; a client that disconnects meanwhile cancels it (the
stream's own clean-up records the request and closes the upstream). Every reply leaves with an
``x-request-id`` (the caller's, when it sent a sane one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from localrouter.server.incoming import request_id

Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]

JSON = "application/json"


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # names lower-case
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None  # a streamed body (then ``body`` is unused)
    # what ends a stream that is never sent (the client left before its first byte)
    abandon: Callable[[], Awaitable[None]] | None = None

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        h = {"content-type": JSON}
        if headers:
            h.update(headers)
        return cls(status, h, orjson.dumps(obj))

    @classmethod
    def events(
        cls,
        parts: AsyncIterator[bytes],
        headers: Mapping[str, str],
        abandon: Callable[[], Awaitable[None]] | None = None,
    ) -> Reply:
        """A server-sent event stream (no cache, no timeout: it runs as long as the model)."""
        h = {"content-type": "text/event-stream", "cache-control": "no-cache"}
        h.update(headers)
        return cls(200, h, stream=parts, abandon=abandon)


async def send_reply(reply: Reply, given_id: str, receive: Receive, send: Send) -> None:
    """Write ``reply``; ``given_id``: the request's own ``x-request-id`` ("" when none)."""
    headers = reply.headers
    if "x-request-id" not in headers:
        headers["x-request-id"] = request_id(given_id)
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    if reply.stream is None:
        raw.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": raw})
        await send({"type": "http.response.body", "body": reply.body})
        return
    try:
        await send({"type": "http.response.start", "status": reply.status, "headers": raw})
    except BaseException:  # the client is gone: the stream never starts, its clean-up runs here
        if reply.abandon is not None:
            await reply.abandon()
        raise
    await _relay(reply.stream, receive, send)


async def _relay(parts: AsyncIterator[bytes], receive: Receive, send: Send) -> None:
    """Send a streamed body as it is made; a disconnect cancels it."""
    task = asyncio.current_task()
    assert task is not None
    gone = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()
        task.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        async for chunk in parts:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except asyncio.CancelledError:
        if not gone.is_set():
            raise
        task.uncancel()  # the client left: nothing more to do, not an error
    finally:
        # not awaited: an await here could swallow or delay a cancellation meant for this task
        watcher.cancel()
        close = getattr(parts, "aclose", None)
        if close is not None:  # a generator stopped early still runs its clean-up
            await close()
