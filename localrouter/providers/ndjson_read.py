"""Newline-delimited JSON in (Ollama's streams): a provider's streamed answer, line by line, read
straight off the connection's chunks, each line bounded.

httpx's ``aiter_lines`` keeps a line that never ends in memory for as long as it grows; here a
line (or the part of one still arriving) longer than the provider's ``max_event_bytes`` raises
:class:`~localrouter.errors.UpstreamTooLarge`, and the transport's ``stream`` closes the
connection.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from localrouter.compiler.table import Provider
from localrouter.providers.transport import Streamed
from localrouter.providers.upstream_errors import too_large


async def ndjson_lines(response: Streamed, provider: Provider) -> AsyncGenerator[bytes, None]:
    """The lines of ``response`` (``\\n``-separated, a trailing ``\\r`` left on: JSON ignores
    it), each as soon as it is complete; the last one even without a final newline."""
    cap = provider.max_event_bytes
    pending: list[bytes] = []  # the line still arriving, in the pieces it came in
    size = 0
    async for chunk in response.chunks:
        lines = chunk.split(b"\n")
        if len(lines) > 1:
            if pending:
                pending.append(lines[0])
                lines[0] = b"".join(pending)
                pending, size = [], 0
            for line in lines[:-1]:
                if len(line) > cap:
                    raise too_large(provider, event=True)
                yield line
        rest = lines[-1]
        if rest:
            pending.append(rest)
            size += len(rest)
            if size > cap:
                raise too_large(provider, event=True)
    if pending:
        yield b"".join(pending)
