"""The one transport seam between adapters and providers: :class:`Transport`.

An adapter never sees an HTTP client. It asks a transport for one of three things:

    answer = await transport.post(url, headers, body, limit=provider.max_response_bytes)
    async with transport.stream(url, headers, body) as streamed:   # chunks as they arrive
        ...
    answer = await transport.get(url, headers, limit=provider.max_response_bytes)

and reads a status, the headers and bounded bytes. What every implementation guarantees:

- a success's whole body (``post``, ``get``) is at most ``limit`` bytes: past it (or when the
  declared length already is) the connection is closed and :class:`BodyTooLarge` raised;
- an error answer (status >= 400) carries only the first :data:`MAX_ERROR_BODY` bytes of its
  body (none when it comes in an encoding not accepted: its status still counts), the rest unread;
- bodies are inflated here, in bounded steps (:mod:`~localrouter.providers.inflate`): only gzip
  and deflate are asked for and accepted, a streamed body's chunks come decoded;
- failures surface as the transport's own exceptions (aiohttp's, ``OSError``, ``TimeoutError``,
  :class:`BodyTooLarge`, the inflater's); :func:`localrouter.providers.upstream_errors.failures`
  is the one place that maps them to the ``Upstream*`` exceptions.

:class:`HttpTransport` is the one implementation on the request path (aiohttp's pool, one per
provider as configured: :mod:`localrouter.server.upstreams`);
:class:`~localrouter.providers.transport_memory.MemoryTransport` answers from a handler in the
same process, for tests that need no sockets.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from localrouter.errors import BodyTooLarge, ContentEncodingError
from localrouter.providers.inflate import ACCEPT_ENCODING, decoded

# an error answer's body is read up to this much (its message is cut far shorter anyway); the
# rest is never read: the connection is closed
MAX_ERROR_BODY = 64 * 1024
MAX_CONNECTIONS = 512
KEEPALIVE_S = 5.0  # an idle upstream connection is closed after this long
POOL_WAIT_S = 30.0  # waiting for a free connection of the pool, and connecting, at most

Headers = Mapping[str, str]  # case-insensitive in every answer


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole answer: for a success its body (within the limit), for an error status the
    first :data:`MAX_ERROR_BODY` bytes of it."""

    status: int
    headers: Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class Streamed:
    """A streamed answer: for a success its decoded body as ``chunks`` arrive (``body`` empty),
    for an error status the first :data:`MAX_ERROR_BODY` bytes in ``body`` (``chunks`` empty)."""

    status: int
    headers: Headers
    chunks: AsyncIterator[bytes]
    body: bytes = b""


class Transport(Protocol):
    """What adapters depend on (module docstring). ``params`` are added to a GET's URL."""

    async def post(self, url: str, headers: Headers, body: bytes, *, limit: int) -> Answer: ...

    def stream(
        self, url: str, headers: Headers, body: bytes
    ) -> AbstractAsyncContextManager[Streamed]: ...

    async def get(
        self,
        url: str,
        headers: Headers,
        *,
        limit: int,
        params: Mapping[str, str | int] | None = None,
    ) -> Answer: ...

    def in_use(self) -> int | None:
        """Connections serving a request now (None: cannot be told)."""
        ...

    async def aclose(self) -> None: ...


async def read_capped(chunks: AsyncIterator[bytes], cap: int) -> bytes | None:
    """The body from ``chunks``, or None when it is longer than ``cap`` bytes: reading stops at
    the first chunk past it, so at most ``cap`` plus one chunk is ever held."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > cap:
            return None
        parts.append(chunk)
    return b"".join(parts)


async def read_prefix(chunks: AsyncIterator[bytes], cap: int) -> bytes:
    """The first ``cap`` bytes of the body from ``chunks``; the rest is not read."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size >= cap:
            break
    return b"".join(parts)[:cap]


async def error_prefix(encoding: str | None, raw: AsyncIterator[bytes]) -> bytes:
    """An error answer's body: its first :data:`MAX_ERROR_BODY` bytes, decoded (none when it is
    in an encoding not accepted)."""
    try:
        return await read_prefix(decoded(encoding, raw), MAX_ERROR_BODY)
    except ContentEncodingError:
        return b""


def with_params(url: str, params: Mapping[str, str | int] | None) -> str:
    if not params:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def encoding_of(headers: CIMultiDictProxy[str]) -> str | None:
    """An answer's ``Content-Encoding`` (every such header, as one list), None when absent."""
    if "content-encoding" not in headers:
        return None
    return ", ".join(headers.getall("content-encoding"))


def without_encoding(headers: Iterable[tuple[str, str]]) -> CIMultiDictProxy[str]:
    """An answer's headers once its body is decoded here (no ``Content-Encoding`` any more)."""
    kept = CIMultiDict((k, v) for k, v in headers if k.lower() != "content-encoding")
    return CIMultiDictProxy(kept)


# ---------------------------------------------------------------- aiohttp: the request path


class HttpTransport:
    """One provider's connection pool on aiohttp, for every call (POST, stream, GET).

    Made without a loop; its session is made on the first call, in the serving loop. The pool
    holds up to :data:`MAX_CONNECTIONS`; no cookie jar (one pool serves every user of a provider:
    a cookie one answer sets must not ride on anyone's next request), no proxy settings from the
    environment, certifi's CAs as httpx would use them; bodies are not decompressed by aiohttp
    but here, in bounded steps, and only gzip and deflate are asked for."""

    def __init__(self, *, connect_s: float, read_s: float) -> None:
        self.connect_s, self.read_s = connect_s, read_s
        self.closed = False
        self._timeout = aiohttp.ClientTimeout(
            sock_connect=connect_s, sock_read=read_s, connect=POOL_WAIT_S
        )
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S, ssl=_tls()
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            auto_decompress=False,
            headers={"accept-encoding": ACCEPT_ENCODING},
            timeout=self._timeout,
        )
        return self._session

    def _request(self, method: str, url: str, headers: Headers, body: bytes | None) -> Any:
        session = self._session or self._open()
        return session.request(method, url, data=body, headers=headers, allow_redirects=False)

    async def _whole(
        self, method: str, url: str, headers: Headers, body: bytes | None, limit: int
    ) -> Answer:
        async with self._request(method, url, headers, body) as answer:
            encoding = encoding_of(answer.headers)
            kept = without_encoding(answer.headers.items()) if encoding else answer.headers
            raw = answer.content.iter_any()
            if answer.status >= 400:
                prefix = await error_prefix(encoding, raw)
                if not answer.content.at_eof():
                    answer.close()  # the rest is never read: the connection goes
                return Answer(answer.status, kept, prefix)
            length = answer.content_length
            got = None
            if length is None or length <= limit:  # a declared length over the cap: not read
                got = await read_capped(decoded(encoding, raw), limit)
            if got is None:
                answer.close()
                raise BodyTooLarge
            return Answer(answer.status, kept, got)

    async def post(self, url: str, headers: Headers, body: bytes, *, limit: int) -> Answer:
        return await self._whole("POST", url, headers, body, limit)

    async def get(
        self,
        url: str,
        headers: Headers,
        *,
        limit: int,
        params: Mapping[str, str | int] | None = None,
    ) -> Answer:
        return await self._whole("GET", with_params(url, params), headers, None, limit)

    @contextlib.asynccontextmanager
    async def stream(self, url: str, headers: Headers, body: bytes) -> AsyncIterator[Streamed]:
        answer = await self._request("POST", url, headers, body)
        try:
            encoding = encoding_of(answer.headers)
            kept = without_encoding(answer.headers.items()) if encoding else answer.headers
            raw = answer.content.iter_any()
            if answer.status >= 400:
                prefix = await error_prefix(encoding, raw)
                if not answer.content.at_eof():
                    answer.close()  # the rest is never read: the connection goes
                yield Streamed(answer.status, kept, nothing(), prefix)
            else:
                yield Streamed(answer.status, kept, decoded(encoding, raw))
        except BaseException:
            answer.close()  # a failed or abandoned answer: its connection is not reused
            raise
        finally:
            answer.release()

    def in_use(self) -> int | None:
        if self._session is None:
            return 0  # never used
        acquired = getattr(self._session.connector, "_acquired", None)  # aiohttp's, in use
        return len(acquired) if acquired is not None else None

    async def aclose(self) -> None:
        self.closed = True
        if self._session is not None:
            await self._session.close()


def _tls() -> ssl.SSLContext:
    import httpx  # its context: certifi's CAs and the same defaults as before (made once a pool)

    return httpx.create_ssl_context(trust_env=False)


async def nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover
