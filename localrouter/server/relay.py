"""A streamed answer, relayed: the upstream's chunks to the client as SSE, then the record.

The first chunk leaves at once (time to first byte); after it, the chunks the upstream generator
can make without waiting — the events of one network read — are joined into one write
(:mod:`localrouter.server.ready`), and the relay flushes only when the next chunk would wait.
Usage comes from the last chunk when the provider reports it, else from the length of the text
streamed (an estimate: only a running count of characters is kept, never the text, so a stream
of any length is relayed in constant memory). A failure after the first byte becomes one in-band
error event and no ``[DONE]``; a client that goes away is recorded as 499. Either way the request
is recorded and its limits are settled with the usage streamed so far.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from localrouter.errors import UpstreamError
from localrouter.server import budget, sse
from localrouter.server.accounting import completion_text, usage_from
from localrouter.server.dispatch import Served
from localrouter.server.ready import End, Pending, ready

if TYPE_CHECKING:
    from localrouter.server.openai_api import ModelRequest


async def relay(ctx: ModelRequest, served: Served, include_usage: bool) -> AsyncIterator[bytes]:
    """Forward the chunks as they arrive — the first at once, then the ones read together in
    one write each; one in-band error event (and no [DONE]) on failure."""
    assert served.first is not None and served.rest is not None
    facts = ctx.facts
    chars = 0  # characters of text streamed, for the usage estimate
    report: Any = None
    status, error, code = 200, None, None
    out: list[bytes] = []  # events ready together go out in one write
    waiting: Pending[dict[str, Any]] | None = None  # a step held across a flush
    first = True
    try:
        chunk: dict[str, Any] | End | Pending[dict[str, Any]] = served.first
        while True:
            if isinstance(chunk, Pending):  # the upstream has nothing more yet: flush
                if out:
                    waiting = chunk
                    yield b"".join(out)
                    waiting = None
                    out.clear()
                chunk = await chunk
            if isinstance(chunk, End):
                break
            if chunk.get("usage"):
                report = chunk["usage"]
            chars += len(completion_text(chunk))
            usage_only = not chunk.get("choices")
            if include_usage or not usage_only:
                if not include_usage:
                    chunk.pop("usage", None)
                out.append(sse.event(chunk))
                if first:  # the first event leaves at once: time to first byte
                    first = False
                    yield out.pop()
            chunk = ready(served.rest)
        out.append(sse.DONE)
        yield b"".join(out)
    except UpstreamError as exc:
        status, error, code = 502, exc.message, exc.code or "stream_error"
        out.append(sse.error_event(exc.message, code=exc.code))
        yield b"".join(out)
    except (asyncio.CancelledError, GeneratorExit):
        # usage so far is still recorded below
        status, error, code = 499, "client disconnected", "client_disconnected"
        raise
    finally:
        if waiting is not None:  # stopped during a flush: the step must end before aclose
            await waiting.cancel()
        await served.rest.aclose()
        usage = usage_from(
            report,
            prompt_estimate=facts.estimated_tokens if facts else 0,
            completion_chars=chars,
        )
        attempts = [a.as_dict() for a in served.attempts]
        ctx.record(served, usage, status, attempts, error, code)
        if ctx.admission is not None:  # settle with the usage streamed so far
            ctx.admission.settle(served.model, usage)
        if served.provider_admission is not None:
            budget.settle(ctx.rt.limiter, served.provider_admission, served.model, usage)
