"""HTTP plumbing shared by adapters: map transport failures and error statuses to our errors, and
the direct aiohttp path of the request's POST (:class:`UpstreamClient`, :func:`post_json`,
:func:`stream_post`).

    async with upstream_errors(provider):
        response = await client.post(...)
        await raise_for_status(response, provider, target.redactor)

Messages carry the provider's status and its own error text (trimmed), never request headers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from email.utils import parsedate_to_datetime
from time import time
from typing import Any

import aiohttp
import httpx
import orjson
from httpx_aiohttp import AiohttpTransport

# the transport's own aiohttp → httpx exception map: the direct path fails exactly like httpx's
from httpx_aiohttp.transport import map_aiohttp_exceptions

from localrouter.compiler.table import Provider
from localrouter.errors import (
    UpstreamConnectError,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnsupported,
)
from localrouter.providers.inflate import ContentEncodingError, InflatedStream, inflated
from localrouter.redaction import SHAPES_ONLY, Redactor

MAX_ERROR_TEXT = 300
# an error answer's body is read up to this much (its message is cut far shorter anyway); the
# rest is never read: the connection is closed
MAX_ERROR_BODY = 64 * 1024


def redact(text: str) -> str:
    """Remove anything shaped like an API key (no known values: see :func:`error_text`)."""
    return SHAPES_ONLY.redact(text)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``."""
    ms = response.headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time())
        except (TypeError, ValueError):
            return None


def error_text(body: bytes, redactor: Redactor) -> str:
    """The provider's own error message, from the common JSON shapes or the raw text: the one
    place an upstream's words enter our errors. Redacted whole (every resolved secret by value,
    key shapes) and only then cut to :data:`MAX_ERROR_TEXT` characters."""
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return redactor.excerpt(text, MAX_ERROR_TEXT)
    if isinstance(doc, list) and doc:
        doc = doc[0]
    if isinstance(doc, dict):
        err = doc.get("error", doc)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return redactor.excerpt(err["message"], MAX_ERROR_TEXT)
        if isinstance(err, str):
            return redactor.excerpt(err, MAX_ERROR_TEXT)
    return redactor.excerpt(text, MAX_ERROR_TEXT)


async def raise_for_status(response: httpx.Response, provider: str, redactor: Redactor) -> None:
    if response.status_code < 400:
        return
    body = await response.aread()
    raise UpstreamHTTPError(
        f"{provider} answered {response.status_code}: {error_text(body, redactor)}",
        provider=provider,
        status=response.status_code,
        retry_after=retry_after(response),
    )


@contextlib.asynccontextmanager
async def upstream_errors(provider: str) -> AsyncIterator[None]:
    """Translate httpx's transport errors into ``Upstream*`` errors."""
    try:
        yield
    except httpx.ConnectTimeout as exc:
        # httpx-aiohttp reports every broken connection as ConnectTimeout (refused, reset or
        # closed before the answer): only a cause that is a timeout is one
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, TimeoutError):
            raise UpstreamConnectError(
                f"{provider} connection failed ({type(cause).__name__})", provider=provider
            ) from None
        raise UpstreamTimeout(f"{provider} timed out (ConnectTimeout)", provider=provider) from None
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(
            f"{provider} timed out ({type(exc).__name__})", provider=provider
        ) from None
    except (
        httpx.ConnectError,
        httpx.RemoteProtocolError,
        httpx.ReadError,
        httpx.WriteError,
    ) as exc:
        raise UpstreamConnectError(
            f"{provider} connection failed ({type(exc).__name__})", provider=provider
        ) from None
    except ContentEncodingError as exc:  # our own words, naming the encoding (cut short)
        raise UpstreamProtocolError(f"{provider} {redact(str(exc))}", provider=provider) from None
    except (json.JSONDecodeError, httpx.DecodingError) as exc:
        raise UpstreamProtocolError(
            f"{provider} sent a malformed answer ({type(exc).__name__})", provider=provider
        ) from None


def json_body(response_bytes: bytes, provider: str, what: str = "a body") -> dict[str, object]:
    """One JSON object from an upstream (``what``: a body, a stream line, …), or the protocol
    error that names what was wrong with it."""
    try:
        doc = orjson.loads(response_bytes)
    except ValueError:
        raise UpstreamProtocolError(
            f"{provider} sent {what} that is not JSON", provider=provider
        ) from None
    if not isinstance(doc, dict):
        raise UpstreamProtocolError(
            f"{provider} sent {what} that is not a JSON object", provider=provider
        )
    return doc


def unsupported(target_provider: str, detail: str) -> UpstreamUnsupported:
    """The error for a request this provider cannot express (raised before any network call):
    the dispatcher moves on to the next candidate."""
    return UpstreamUnsupported(f"{target_provider}: {detail}", provider=target_provider)


class UpstreamClient(httpx.AsyncClient):
    """httpx's client for one provider endpoint, on the httpx-aiohttp transport, that also lends
    its aiohttp session to the call on every request's path (the request's POST, plain or
    streamed: :func:`post_json`, :func:`stream_post`), where httpx's own request and response
    layers cost ~150 µs of CPU a call (docs/performance.md). Everything else — model lists,
    health checks — goes through httpx; both share one session and connection pool."""

    def __init__(self, *, transport: AiohttpTransport, **kwargs: object) -> None:
        super().__init__(transport=transport, **kwargs)  # type: ignore[arg-type]
        self.aiohttp_transport = transport

    def session(self) -> aiohttp.ClientSession:
        transport = self.aiohttp_transport
        if not isinstance(transport.client, aiohttp.ClientSession):
            transport.client = transport.get_client()  # what its first request would do
        return transport.client


def _direct_post(
    client: UpstreamClient, url: httpx.URL, body: bytes, headers: dict[str, str]
) -> Any:
    """The aiohttp POST (await it, or use it as an async context manager), with the client's
    timeouts as httpx-aiohttp would pass them."""
    timeout = client.timeout
    return client.session().post(
        str(url),
        data=body,
        headers=headers,
        allow_redirects=False,
        timeout=aiohttp.ClientTimeout(
            sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool
        ),
    )


def too_large(provider: Provider, *, event: bool = False) -> UpstreamTooLarge:
    """The error for a whole answer, or one stream event (``event``), over its cap."""
    if event:
        what, key = "a stream event", "max_event_kb"
        cap = f"{provider.max_event_bytes / 2**10:g} KiB"
    else:
        what, key = "an answer", "max_response_mb"
        cap = f"{provider.max_response_bytes / 2**20:g} MiB"
    return UpstreamTooLarge(
        f"{provider.name} sent {what} larger than its cap of {cap} (the connection was "
        f"closed; raise providers.{provider.name}.{key} if such answers are expected)",
        provider=provider.name,
    )


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
    """The first ``cap`` bytes of the body from ``chunks`` (an error answer's: its message);
    the rest is not read."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size >= cap:
            break
    return b"".join(parts)[:cap]


def _without_encoding(headers: Any) -> list[tuple[Any, Any]]:
    """Headers for a ``httpx.Response`` built from a body that is decompressed already."""
    return [
        (k, v) for k, v in headers if k.lower() not in (b"content-encoding", "content-encoding")
    ]


async def _error_answer(response: httpx.Response) -> httpx.Response:
    """An httpx streamed error answer with the first ``MAX_ERROR_BODY`` bytes of its body (none
    when it comes in an encoding not accepted: its status still counts)."""
    try:
        content = await read_prefix(inflated(response), MAX_ERROR_BODY)
    except ContentEncodingError:
        content = b""
    kept = _without_encoding(response.headers.raw)
    return httpx.Response(response.status_code, headers=kept, content=content)


async def _httpx_answer(response: httpx.Response, provider: Provider) -> httpx.Response:
    """An httpx streamed answer, read within the caps (inflated in bounded steps: a compressed
    answer holds about its cap), as a response whose body is in memory."""
    if response.status_code >= 400:
        return await _error_answer(response)
    body = await read_capped(inflated(response), provider.max_response_bytes)
    if body is None:
        raise too_large(provider)
    kept = _without_encoding(response.headers.raw)
    return httpx.Response(response.status_code, headers=kept, content=body)


async def get(
    client: httpx.AsyncClient,
    url: str | httpx.URL,
    provider: Provider,
    *,
    headers: dict[str, str],
    params: dict[str, str | int] | None = None,
) -> httpx.Response:
    """GET ``url`` through httpx (model lists): the answer with its body read within
    ``provider``'s ``max_response_bytes`` (``UpstreamTooLarge`` past it; an error answer's
    body is cut at ``MAX_ERROR_BODY``)."""
    async with client.stream("GET", url, params=params, headers=headers) as response:
        return await _httpx_answer(response, provider)


async def post_json(
    client: httpx.AsyncClient,
    url: httpx.URL,
    body: bytes,
    headers: dict[str, str],
    provider: Provider,
) -> tuple[bytes, httpx.Response | None]:
    """POST ``body`` and read the whole answer: ``(content, None)`` for a success, ``(b"",
    response)`` for an error status, to be read by the adapter's own status check.

    The answer is read within ``provider.max_response_bytes``: past it the connection is closed
    and :class:`UpstreamTooLarge` raised (an error answer's body is cut at ``MAX_ERROR_BODY``).
    On an :class:`UpstreamClient` the call goes straight through its aiohttp session (the
    error's ``httpx.Response`` is built from the answer, decompressed already); on any other
    client through httpx. Transport errors surface as httpx's, exactly as httpx-aiohttp maps
    them, so :func:`upstream_errors` reads both paths the same."""
    if not isinstance(client, UpstreamClient):
        async with client.stream("POST", url, content=body, headers=headers) as streamed:
            response = await _httpx_answer(streamed, provider)
        return (response.content, None) if response.status_code < 400 else (b"", response)
    with map_aiohttp_exceptions():
        async with _direct_post(client, url, body, headers) as answer:
            kept = _without_encoding(answer.raw_headers)
            if answer.status >= 400:
                content = await read_prefix(answer.content.iter_any(), MAX_ERROR_BODY)
                return b"", httpx.Response(answer.status, headers=kept, content=content)
            cap, length = provider.max_response_bytes, answer.content_length
            read = None
            if length is None or length <= cap:  # a declared length over the cap: not read
                read = await read_capped(answer.content.iter_any(), cap)
            if read is None:
                answer.close()  # the rest is never read: the connection goes
                raise too_large(provider)
            return read, None


class _AnswerStream(httpx.AsyncByteStream):
    """An aiohttp answer's body as httpx reads a stream (chunks as they arrive)."""

    def __init__(self, answer: aiohttp.ClientResponse) -> None:
        self._answer = answer

    async def __aiter__(self) -> AsyncGenerator[bytes, None]:
        with map_aiohttp_exceptions():
            async for chunk in self._answer.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._answer.release()  # an unfinished answer closes its connection


def body_chunks(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """A streamed answer's body, decoded, in the chunks it arrives in: straight from aiohttp
    when :func:`stream_post` took the direct path (aiohttp has decompressed it already), else
    inflated in bounded steps (:func:`~localrouter.providers.inflate.inflated`)."""
    stream = response.stream
    if isinstance(stream, (_AnswerStream, InflatedStream)):
        return stream.__aiter__()
    return inflated(response)


async def read_body(response: httpx.Response, provider: Provider) -> bytes:
    """The whole body of a :func:`stream_post` answer (one that did not stream after all), read
    within ``provider.max_response_bytes``: past it :class:`UpstreamTooLarge` (the caller's
    ``stream_post`` then closes the connection)."""
    body = await read_capped(body_chunks(response), provider.max_response_bytes)
    if body is None:
        raise too_large(provider)
    return body


@contextlib.asynccontextmanager
async def stream_post(
    client: httpx.AsyncClient, url: httpx.URL, body: bytes, headers: dict[str, str]
) -> AsyncIterator[httpx.Response]:
    """POST ``body`` and yield the answer as an ``httpx.Response`` whose body streams: through
    an :class:`UpstreamClient`'s aiohttp session when it has one (httpx's client layers cost
    ~150 µs a call), else through httpx (its body inflated in bounded steps, and no longer
    marked as compressed). Either way the caller reads it with :func:`body_chunks`; transport
    errors surface as httpx's."""
    if not isinstance(client, UpstreamClient):
        async with client.stream("POST", url, content=body, headers=headers) as streamed:
            if streamed.status_code >= 400:  # its body: only the first MAX_ERROR_BODY bytes
                yield await _error_answer(streamed)
            else:  # its body inflated in bounded steps (body_chunks)
                kept = _without_encoding(streamed.headers.raw)
                stream = InflatedStream(streamed)
                yield httpx.Response(streamed.status_code, headers=kept, stream=stream)
        return
    with map_aiohttp_exceptions():
        answer = await _direct_post(client, url, body, headers)
    try:
        kept = _without_encoding(answer.raw_headers)
        if answer.status >= 400:  # its body: only the first MAX_ERROR_BODY bytes
            with map_aiohttp_exceptions():
                content = await read_prefix(answer.content.iter_any(), MAX_ERROR_BODY)
            response = httpx.Response(answer.status, headers=kept, content=content)
        else:
            response = httpx.Response(answer.status, headers=kept, stream=_AnswerStream(answer))
        yield response
    except BaseException:
        answer.close()  # a failed or abandoned answer: its connection is not reused
        raise
    finally:
        answer.release()
