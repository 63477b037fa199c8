"""An httpx answer's body, inflated in bounded steps (:func:`inflated`).

httpx's own decoders (``aiter_bytes``) inflate each network chunk whole: gzip and deflate reach
~1000x, so one 64 KiB read of a compression bomb was 64 MiB in memory before any size cap was
checked, and brotli or zstd (when installed) or a chain of encodings reach far more. Here the
body is read raw (``aiter_raw``) and inflated by ``zlib`` at most :data:`STEP` bytes a call, so a
reader that stops at its cap (``max_response_mb``, ``max_event_kb``) holds about the cap.

Only ``gzip`` and ``deflate`` are inflated (what the gateway's clients ask for:
:data:`ACCEPT_ENCODING`); any other ``Content-Encoding`` — ``br``, ``zstd``, a chain of two,
an unknown name — is refused with :class:`ContentEncodingError` (an ``httpx.DecodingError``:
:func:`~localrouter.providers.http.upstream_errors` makes it a protocol error naming it).
The aiohttp path of the request's POST does not come here: aiohttp inflates in bounded steps.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator

import httpx

# what the gateway's httpx clients ask for: only the encodings inflated here in bounded steps
ACCEPT_ENCODING = "gzip, deflate"
# at most this much is inflated at a time (one network chunk may inflate to ~1000x its size)
STEP = 64 * 1024
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


class ContentEncodingError(httpx.DecodingError):
    """An answer in a ``Content-Encoding`` that is not inflated in bounded steps."""


def _encoding(response: httpx.Response) -> str | None:
    """The one encoding to inflate (None: the body is as sent), or ContentEncodingError."""
    codings = [
        c.strip().lower()
        for c in response.headers.get_list("content-encoding", split_commas=True)
        if c.strip() and c.strip().lower() != "identity"
    ]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in _WBITS:
        return codings[0]
    named = ", ".join(codings)
    if len(named) > 40:
        named = named[:40] + "..."
    raise ContentEncodingError(
        f"sent an answer with content-encoding {named!r}, which is not read: only gzip or "
        "deflate (or none) is accepted, inflated in bounded steps"
    )


async def inflated(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The body of a streamed ``response``, decoded, in chunks of at most :data:`STEP` bytes
    when it is compressed (else as they arrive). Malformed data raises ``httpx.DecodingError``
    (as httpx's own decoders do); an encoding not accepted, :class:`ContentEncodingError`."""
    if response.is_stream_consumed:  # read already: an answer built from bytes in memory
        yield response.content
        return
    encoding = _encoding(response)
    if encoding is None:
        async for chunk in response.aiter_raw():
            yield chunk
        return
    inflater = zlib.decompressobj(_WBITS[encoding])
    first = True  # "deflate" is zlib-framed, or raw as some servers send it (httpx takes both)
    async for chunk in response.aiter_raw():
        try:
            out = inflater.decompress(chunk, STEP)
        except zlib.error as exc:
            if not (first and encoding == "deflate"):
                raise httpx.DecodingError(str(exc)) from None
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                out = inflater.decompress(chunk, STEP)
            except zlib.error as exc2:
                raise httpx.DecodingError(str(exc2)) from None
        first = False
        while True:
            if out:
                yield out
            if len(out) < STEP:  # the input ran out (a full step: more may be pending)
                break
            try:
                out = inflater.decompress(inflater.unconsumed_tail, STEP)
            except zlib.error as exc:
                raise httpx.DecodingError(str(exc)) from None
    try:
        rest = inflater.flush()  # empty or nearly: every step above ended short of STEP
    except zlib.error as exc:
        raise httpx.DecodingError(str(exc)) from None
    if rest:
        yield rest


class InflatedStream(httpx.AsyncByteStream):
    """A streamed httpx answer's body as :func:`inflated` reads it, for an ``httpx.Response``
    built without its ``Content-Encoding``; closing it closes the answer."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    def __aiter__(self) -> AsyncGenerator[bytes, None]:
        return inflated(self._response)

    async def aclose(self) -> None:
        await self._response.aclose()
