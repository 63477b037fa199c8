"""The ASGI front: the three OpenAI model endpoints served straight from ASGI; every other path
goes to the Quart app.

``POST /v1/chat/completions``, ``/v1/completions`` and ``/v1/embeddings`` are the gateway's hot
path. Through Quart each one cost ~0.3 ms of CPU for the framework's request machinery alone — two
tasks, a request context, routing, hooks, a request object — about as much as everything
LocalRouter itself does (measured: ``bench/floor_options.py``, docs/performance.md). Here the
request is read from the scope and ``receive`` (:class:`~localrouter.server.incoming.Incoming`),
:func:`~localrouter.server.openai_api.handle` answers with the same Quart ``Response`` objects
as before, and this module sends them. What Quart did for these paths, it does too: every answer
carries an ``x-request-id``; ``OPTIONS`` gets 200 with ``Allow``, other methods 405 and an
unexpected error 500, in OpenAI's error envelope; a client that disconnects during a stream
cancels it (the relay records 499 and closes the upstream). A client that disconnects while a
non-streamed answer is being made is not noticed: the answer is made, recorded and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from quart import Response
from quart.wrappers.response import DataBody

from localrouter.server.dispatch import Kind
from localrouter.server.errors import error_response
from localrouter.server.incoming import ClientGone, Incoming, request_id
from localrouter.server.openai_api import handle
from localrouter.server.state import Runtime

log = logging.getLogger("localrouter.server")

# ASGI's own shapes (Quart's typed ones are unions this module does not need)
Scope = Any
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

KINDS: dict[str, Kind] = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completion",
    "/v1/embeddings": "embeddings",
}


class ModelFront:
    """ASGI callable: the model endpoints here, the rest to ``app`` (Quart's ``asgi_app``)."""

    def __init__(self, app: ASGIApp, rt: Runtime) -> None:
        self.app = app
        self.rt = rt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = KINDS.get(scope.get("path", "")) if scope["type"] == "http" else None
        if kind is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["method"] != "POST":
            if scope["method"] == "OPTIONS":  # as Quart's automatic OPTIONS answered
                answer = Response(b"", status=200)
            else:
                answer = error_response(405, "method not allowed on this endpoint")
            answer.headers["allow"] = "OPTIONS, POST"
            await _send(answer, headers, receive, send)
            return
        length = headers.get("content-length")
        incoming = Incoming(
            headers,
            int(length) if length is not None and length.isdigit() else None,
            started,
            receive,
        )
        try:
            answer = await handle(self.rt, kind, incoming)
        except ClientGone:
            return
        except Exception:  # a bug: logged with its traceback, answered 500 as Quart would
            log.exception("unexpected error answering %s", scope["path"])
            answer = error_response(500, "internal error: see the gateway's log")
        await _send(answer, headers, receive, send)


async def _send(answer: Response, headers: dict[str, str], receive: Receive, send: Send) -> None:
    if "x-request-id" not in answer.headers:
        answer.headers["x-request-id"] = request_id(headers.get("x-request-id", ""))
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()]
    await send({"type": "http.response.start", "status": answer.status_code, "headers": raw})
    if isinstance(answer.response, DataBody):
        await send({"type": "http.response.body", "body": await answer.get_data()})
        return
    await _relay(answer, receive, send)


async def _relay(answer: Response, receive: Receive, send: Send) -> None:
    """Send a streamed body as it is made; a disconnect cancels it (the stream's own clean-up
    records it and closes the upstream)."""
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
        async with answer.response as body:
            async for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except asyncio.CancelledError:
        if not gone.is_set():
            raise
        task.uncancel()  # the client left: nothing more to do, not an error
    finally:
        # not awaited: an await here could swallow or delay a cancellation meant for this task
        watcher.cancel()
