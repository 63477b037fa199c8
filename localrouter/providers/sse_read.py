"""Server-sent events in: a provider's streamed answer, event by event, read straight off the
connection's chunks.

httpx-sse's own decoders do the parsing — the line splitting of the SSE spec (``\\r\\n``,
``\\r`` or ``\\n``, across chunk boundaries) and the field rules (``data``, ``event``, ``id``,
``retry``, comments) — this module only feeds them. Going through ``EventSource`` instead would
put httpx's response layers (raw → bytes → text → lines) between the socket and the decoder:
four more generator hops on every network read, about half the parsing cost of a stream
(docs/performance.md). httpx-sse's decoders are not in its public ``__all__``; pyproject pins the
minor version and the provider tests parse every stream through them.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncGenerator
from contextlib import aclosing

import httpx
from httpx_sse import ServerSentEvent
from httpx_sse._decoders import SSEDecoder, SSELineDecoder

from localrouter.errors import UpstreamProtocolError
from localrouter.providers.http import body_chunks


def not_sse(provider: str) -> UpstreamProtocolError:
    return UpstreamProtocolError(
        f"{provider} sent a stream that is not server-sent events", provider=provider
    )


async def sse_events(
    response: httpx.Response, provider: str
) -> AsyncGenerator[ServerSentEvent, None]:
    """The events of ``response`` as each is complete; ``UpstreamProtocolError`` when the
    answer is not ``text/event-stream``. Text is UTF-8 (the SSE spec's only encoding)."""
    content_type = response.headers.get("content-type", "").partition(";")[0]
    if "text/event-stream" not in content_type:
        raise not_sse(provider)
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines, decoder = SSELineDecoder(), SSEDecoder()
    async with aclosing(body_chunks(response)) as chunks:
        async for chunk in chunks:
            for line in lines.decode(text.decode(chunk)):
                event = decoder.decode(line)
                if event is not None:
                    yield event
    for line in [*lines.decode(text.decode(b"", final=True)), *lines.flush()]:
        event = decoder.decode(line)
        if event is not None:
            yield event
