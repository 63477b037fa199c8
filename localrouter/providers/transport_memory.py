"""A :class:`~localrouter.providers.transport.Transport` answered in the same process, for tests
that need no sockets: :class:`MemoryTransport` asks a handler (an async function of a
:class:`Request`), or an ASGI app through :func:`asgi_handler` (the fake providers in tests/fakes
are ASGI apps).

It keeps the network transport's promises — a success's body within ``limit``
(:class:`~localrouter.errors.BodyTooLarge` past it), an error answer cut to its
first bytes, bodies decoded here in bounded steps and only gzip or deflate accepted — so an
adapter reads it exactly as it reads :class:`~localrouter.providers.transport.HttpTransport`. A
handler that raises (``aiohttp.ServerDisconnectedError``, ``TimeoutError``, ``ConnectionResetError``
…) fails the call as the network would, and the one mapper
(:func:`~localrouter.providers.upstream_errors.failures`) maps it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from localrouter.errors import BodyTooLarge
from localrouter.providers.inflate import ACCEPT_ENCODING, decoded
from localrouter.providers.transport import (
    Answer,
    Headers,
    Streamed,
    error_prefix,
    nothing,
    read_capped,
    with_params,
    without_encoding,
)


@dataclass(frozen=True, slots=True)
class Request:
    """What a handler is asked (headers as sent, with the transport's ``accept-encoding``)."""

    method: str
    url: str
    headers: Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """What a handler answers: ``body`` whole, or the chunks a stream arrives in; a
    ``content-encoding`` among ``headers`` is decoded as the network transport would."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | AsyncIterator[bytes] = b""


Handler = Callable[[Request], Awaitable[Reply]]


class MemoryTransport:
    """Answers every call from ``handler``; ``requests`` keeps what was asked, ``open`` counts
    streams not yet closed."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[Request] = []
        self.open = 0
        self.closed = False

    async def _ask(self, method: str, url: str, headers: Headers, body: bytes) -> Reply:
        sent = CIMultiDictProxy(CIMultiDict({"accept-encoding": ACCEPT_ENCODING, **headers}))
        request = Request(method, url, sent, body)
        self.requests.append(request)
        return await self._handler(request)

    async def _whole(self, reply: Reply, limit: int) -> Answer:
        encoding, kept = _reply_headers(reply)
        raw = _chunks(reply.body)
        try:
            if reply.status >= 400:
                return Answer(reply.status, kept, await error_prefix(encoding, raw))
            got = await read_capped(decoded(encoding, raw), limit)
        finally:
            await _close(reply.body)
        if got is None:
            raise BodyTooLarge
        return Answer(reply.status, kept, got)

    async def post(self, url: str, headers: Headers, body: bytes, *, limit: int) -> Answer:
        return await self._whole(await self._ask("POST", url, headers, body), limit)

    async def get(
        self,
        url: str,
        headers: Headers,
        *,
        limit: int,
        params: Mapping[str, str | int] | None = None,
    ) -> Answer:
        reply = await self._ask("GET", with_params(url, params), headers, b"")
        return await self._whole(reply, limit)

    @contextlib.asynccontextmanager
    async def stream(self, url: str, headers: Headers, body: bytes) -> AsyncIterator[Streamed]:
        reply = await self._ask("POST", url, headers, body)
        self.open += 1
        try:
            encoding, kept = _reply_headers(reply)
            raw = _chunks(reply.body)
            if reply.status >= 400:
                yield Streamed(reply.status, kept, nothing(), await error_prefix(encoding, raw))
            else:
                yield Streamed(reply.status, kept, decoded(encoding, raw))
        finally:
            self.open -= 1
            await _close(reply.body)  # an abandoned stream: its producer is stopped

    def in_use(self) -> int | None:
        return self.open

    async def aclose(self) -> None:
        self.closed = True


def _reply_headers(reply: Reply) -> tuple[str | None, CIMultiDictProxy[str]]:
    headers = CIMultiDict(reply.headers)
    encoding = ", ".join(headers.getall("content-encoding", [])) or None
    return encoding, without_encoding(headers.items())


async def _chunks(body: bytes | AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if isinstance(body, bytes):
        if body:
            yield body
        return
    async for chunk in body:
        yield chunk


async def _close(body: object) -> None:
    closing = getattr(body, "aclose", None)
    if closing is not None:
        await closing()


# ---------------------------------------------------------------- an ASGI app as the handler

CLOSE_WAIT_S = 1.0  # how long an app told of the disconnect may take to end, before it is cancelled
Message = dict[str, Any]
App = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Any
]


def asgi_handler(app: App) -> Handler:
    """A handler that serves each request with ``app`` (one ASGI ``http`` call in a task of the
    caller's loop): the reply's body streams as the app sends it, one message at a time (the app
    waits for its reader, as on a socket); closing it early tells the app the client went away
    (``http.disconnect``), and an app still running after :data:`CLOSE_WAIT_S` is cancelled. No
    lifespan is run."""

    async def handle(request: Request) -> Reply:
        split = urlsplit(request.url)
        scope: Message = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": split.scheme or "http",
            "path": unquote(split.path) or "/",
            "raw_path": (split.path or "/").encode(),
            "query_string": split.query.encode(),
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in request.headers.items()],
            "client": ("127.0.0.1", 0),
            "server": (split.hostname or "memory", split.port or 80),
        }
        asked = False
        gone = asyncio.Event()
        sent: asyncio.Queue[Message] = asyncio.Queue(maxsize=1)  # the app waits for its reader

        async def receive() -> Message:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if not gone.is_set():  # once the reader left, what the app sends goes nowhere
                await sent.put(message)

        task = asyncio.ensure_future(app(scope, receive, send))
        start = await _next(sent, task)
        if start is None or start.get("type") != "http.response.start":
            raise ConnectionResetError("the app ended without answering")
        headers = CIMultiDict(
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]
        )

        async def body() -> AsyncIterator[bytes]:
            try:
                while True:
                    message = await _next(sent, task)
                    if message is None:
                        return
                    if message.get("type") == "http.response.body":
                        if message.get("body"):
                            yield message["body"]
                        if not message.get("more_body"):
                            return
            finally:  # the reader left (or read it all): the app is told, as a server would
                gone.set()
                while not sent.empty():  # a send waiting for room goes on, and sends no more
                    sent.get_nowait()
                await asyncio.wait({task}, timeout=CLOSE_WAIT_S)
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

        return Reply(start["status"], headers, body())

    return handle


async def _next(sent: asyncio.Queue[Message], task: asyncio.Future[Any]) -> Message | None:
    """The app's next message; None once it has returned with nothing more (its error, if it
    raised)."""
    if sent.empty() and not task.done():
        getter = asyncio.ensure_future(sent.get())
        await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
    if not sent.empty():
        return sent.get_nowait()
    task.result()
    return None
