"""Server-sent events in: a provider's streamed answer, event by event, read straight off the
connection's chunks.

httpx-sse's own decoders do the parsing — the line splitting of the SSE spec (``\\r\\n``,
``\\r`` or ``\\n``, across chunk boundaries) and the field rules (``data``, ``event``, ``id``,
``retry``, comments) — this module only feeds them the transport's chunks
(:class:`~localrouter.providers.transport.Streamed`): no response layers between the socket and
the decoder (docs/performance.md). httpx-sse's decoders are not in its public ``__all__``;
pyproject pins the minor version and the provider tests parse every stream through them.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncGenerator

from httpx_sse import ServerSentEvent
from httpx_sse._decoders import SSEDecoder, SSELineDecoder

from localrouter.compiler.table import Provider
from localrouter.errors import UpstreamProtocolError
from localrouter.providers.transport import Streamed
from localrouter.providers.upstream_errors import too_large


def not_sse(provider: str) -> UpstreamProtocolError:
    return UpstreamProtocolError(
        f"{provider} sent a stream that is not server-sent events", provider=provider
    )


async def sse_events(
    response: Streamed, provider: Provider
) -> AsyncGenerator[ServerSentEvent, None]:
    """The events of ``response`` as each is complete; ``UpstreamProtocolError`` when the
    answer is not ``text/event-stream``. Text is UTF-8 (the SSE spec's only encoding).

    One event — its lines up to the blank line that ends it, and a line still arriving — may
    hold at most ``provider.max_event_bytes`` characters (bytes, for the ASCII JSON providers
    send): past it :class:`~localrouter.errors.UpstreamTooLarge` is raised, and the transport's
    ``stream`` closes the connection. Nothing else is kept, so a stream of any length is read in
    constant memory."""
    content_type = response.headers.get("content-type", "").partition(";")[0]
    if "text/event-stream" not in content_type:
        raise not_sse(provider.name)
    cap = provider.max_event_bytes
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines, decoder = SSELineDecoder(), SSEDecoder()
    held = 0  # characters of the event's complete lines so far
    partial = 0  # characters of the line still arriving
    async for chunk in response.chunks:
        part = text.decode(chunk)
        got = lines.decode(part) if part else []
        if got:
            for line in got:
                held = held + len(line) if line else 0  # a blank line ends the event
                if held > cap:
                    raise too_large(provider, event=True)
                event = decoder.decode(line)
                if event is not None:
                    yield event
            partial = len(lines.buffer[0]) if lines.buffer else 0
        else:
            partial += len(part)
        if held + partial > cap:
            raise too_large(provider, event=True)
    for line in [*lines.decode(text.decode(b"", final=True)), *lines.flush()]:
        event = decoder.decode(line)
        if event is not None:
            yield event
