"""HTTP plumbing shared by adapters: map transport failures and error statuses to our errors, and
the direct aiohttp path of the request's POST (:class:`UpstreamClient`, :func:`post_json`,
:func:`stream_post`).

    async with upstream_errors(provider):
        response = await client.post(...)
        await raise_for_status(response, provider)

Messages carry the provider's status and its own error text (trimmed), never request headers.
"""

from __future__ import annotations

import contextlib
import json
import re
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

from localrouter.errors import (
    UpstreamConnectError,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnsupported,
)

_SECRETISH = re.compile(r"(sk|lr|AIza|key)[-_][A-Za-z0-9_\-]{8,}")
MAX_ERROR_TEXT = 300


def redact(text: str) -> str:
    """Remove anything that looks like an API key from provider-supplied text."""
    return _SECRETISH.sub("[redacted]", text)


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


def error_text(body: bytes) -> str:
    """The provider's own error message, from the common JSON shapes or the raw text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return redact(text[:MAX_ERROR_TEXT])
    if isinstance(doc, list) and doc:
        doc = doc[0]
    if isinstance(doc, dict):
        err = doc.get("error", doc)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return redact(err["message"][:MAX_ERROR_TEXT])
        if isinstance(err, str):
            return redact(err[:MAX_ERROR_TEXT])
    return redact(text[:MAX_ERROR_TEXT])


async def raise_for_status(response: httpx.Response, provider: str) -> None:
    if response.status_code < 400:
        return
    body = await response.aread()
    raise UpstreamHTTPError(
        f"{provider} answered {response.status_code}: {error_text(body)}",
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
    except (json.JSONDecodeError, httpx.DecodingError) as exc:
        raise UpstreamProtocolError(
            f"{provider} sent a malformed answer ({type(exc).__name__})", provider=provider
        ) from None


def json_body(response_bytes: bytes, provider: str) -> dict[str, object]:
    try:
        doc = orjson.loads(response_bytes)
    except ValueError:
        raise UpstreamProtocolError(
            f"{provider} sent a body that is not JSON", provider=provider
        ) from None
    if not isinstance(doc, dict):
        raise UpstreamProtocolError(
            f"{provider} sent JSON that is not an object", provider=provider
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


async def post_json(
    client: httpx.AsyncClient,
    url: httpx.URL,
    body: bytes,
    headers: dict[str, str],
) -> tuple[bytes, httpx.Response | None]:
    """POST ``body`` and read the whole answer: ``(content, None)`` for a success, ``(b"",
    response)`` for an error status, to be read by the adapter's own status check.

    On an :class:`UpstreamClient` the call goes straight through its aiohttp session (the
    error's ``httpx.Response`` is built from the answer, decompressed already); on any other
    client through httpx. Transport errors surface as httpx's, exactly as httpx-aiohttp maps
    them, so :func:`upstream_errors` reads both paths the same."""
    if not isinstance(client, UpstreamClient):
        response = await client.post(url, content=body, headers=headers)
        return (response.content, None) if response.status_code < 400 else (b"", response)
    with map_aiohttp_exceptions():
        async with _direct_post(client, url, body, headers) as answer:
            content = await answer.read()
            if answer.status < 400:
                return content, None
            kept = [(k, v) for k, v in answer.raw_headers if k.lower() != b"content-encoding"]
            return b"", httpx.Response(answer.status, headers=kept, content=content)


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
    through httpx's ``aiter_bytes``."""
    stream = response.stream
    if isinstance(stream, _AnswerStream):
        return stream.__aiter__()
    return response.aiter_bytes()  # type: ignore[return-value]  # an async generator


@contextlib.asynccontextmanager
async def stream_post(
    client: httpx.AsyncClient, url: httpx.URL, body: bytes, headers: dict[str, str]
) -> AsyncIterator[httpx.Response]:
    """POST ``body`` and yield the answer as an ``httpx.Response`` whose body streams: through
    an :class:`UpstreamClient`'s aiohttp session when it has one (httpx's client layers cost
    ~150 µs a call), else through httpx. Either way the caller reads it with httpx's API (and
    httpx-sse); transport errors surface as httpx's."""
    if not isinstance(client, UpstreamClient):
        async with client.stream("POST", url, content=body, headers=headers) as response:
            yield response
        return
    with map_aiohttp_exceptions():
        answer = await _direct_post(client, url, body, headers)
    kept = [(k, v) for k, v in answer.raw_headers if k.lower() != b"content-encoding"]
    response = httpx.Response(answer.status, headers=kept, stream=_AnswerStream(answer))
    try:
        yield response
    finally:
        answer.release()
