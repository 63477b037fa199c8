"""An answer's body, inflated in bounded steps (:func:`decoded`).

A decoder that inflates each network chunk whole lets gzip and deflate reach ~1000x: one 64 KiB
read of a compression bomb was 64 MiB in memory before any size cap was checked, and brotli or
zstd or a chain of encodings reach far more. Here the body is read raw (the transport does not
decompress) and inflated by ``zlib`` at most :data:`STEP` bytes a call, so a reader that stops
at its cap (``max_response_mb``, ``max_event_kb``) holds about the cap.

Only ``gzip`` and ``deflate`` are inflated (what the transport asks for: :data:`ACCEPT_ENCODING`);
any other ``Content-Encoding`` — ``br``, ``zstd``, a chain of two, an unknown name — is refused
with :class:`ContentEncodingError`, malformed data with :class:`DecodingError`
(:func:`~localrouter.providers.upstream_errors.failures` makes both protocol errors).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator, AsyncIterator

from localrouter.errors import ContentEncodingError, DecodingError

# what the transport asks for: only the encodings inflated here in bounded steps
ACCEPT_ENCODING = "gzip, deflate"
# at most this much is inflated at a time (one network chunk may inflate to ~1000x its size)
STEP = 64 * 1024
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


def _encoding(header: str) -> str | None:
    """The one encoding to inflate (None: the body is as sent), or ContentEncodingError."""
    codings = [
        c.strip().lower()
        for c in header.split(",")
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


def decoded(content_encoding: str | None, raw: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The body from ``raw`` chunks, decoded: as they arrive when ``content_encoding`` says it is
    not compressed, else inflated in chunks of at most :data:`STEP` bytes. An encoding not
    accepted raises :class:`ContentEncodingError` at once; malformed data :class:`DecodingError`
    when it is read."""
    encoding = _encoding(content_encoding) if content_encoding else None
    return raw if encoding is None else _inflated(encoding, raw)


async def _inflated(encoding: str, raw: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    inflater = zlib.decompressobj(_WBITS[encoding])
    first = True  # "deflate" is zlib-framed, or raw as some servers send it (httpx takes both)
    async for chunk in raw:
        try:
            out = inflater.decompress(chunk, STEP)
        except zlib.error as exc:
            if not (first and encoding == "deflate"):
                raise DecodingError(str(exc)) from None
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                out = inflater.decompress(chunk, STEP)
            except zlib.error as exc2:
                raise DecodingError(str(exc2)) from None
        first = False
        while True:
            if out:
                yield out
            if len(out) < STEP:  # the input ran out (a full step: more may be pending)
                break
            try:
                out = inflater.decompress(inflater.unconsumed_tail, STEP)
            except zlib.error as exc:
                raise DecodingError(str(exc)) from None
    try:
        rest = inflater.flush()  # empty or nearly: every step above ended short of STEP
    except zlib.error as exc:
        raise DecodingError(str(exc)) from None
    if rest:
        yield rest
