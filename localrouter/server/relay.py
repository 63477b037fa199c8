"""A streamed outcome, relayed: the upstream's items to the client in its dialect's framing,
then the record.

:class:`Streamed` is what the pipeline returns for a stream: the call that answered, the
request's ledger and ticket, and the exit stack that gives the ticket back. A dialect encodes it
with :meth:`Streamed.body` and an :class:`Encoder` (its SSE framing); what was used is read by a
:class:`Meter` chosen by the items' form (OpenAI chunks, or Anthropic events forwarded as the
provider sent them).

The first item leaves at once (time to first byte); after it, the items the upstream generator can
make without waiting — the events of one network read — are joined into one write
(:mod:`localrouter.server.ready`), and the relay flushes only when the next item would wait.
Usage comes from the provider's report when it sends one, else from the length of the text
streamed (an estimate: only a running count of characters is kept, never the text, so a stream
of any length is relayed in constant memory). A failure after the first byte becomes one in-band
error event (the encoder's); a client that goes away is recorded as 499. Either way the request
is recorded and its ticket settled with the usage streamed so far.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from localrouter.errors import UpstreamError
from localrouter.server.accounting import Usage, completion_text, usage_from
from localrouter.server.ready import End, Pending, ready
from localrouter.server.reply import Reply

if TYPE_CHECKING:
    from localrouter.server.dispatch import Served
    from localrouter.server.ledger import Ledger
    from localrouter.server.ticket import Ticket


class Encoder(Protocol):
    def chunk(self, item: Any) -> bytes | None:
        """The bytes of one item (None: nothing to send for it)."""
        ...

    def end(self, usage: Usage) -> bytes:
        """What closes a stream that ended well."""
        ...

    def error(self, exc: UpstreamError) -> bytes:
        """The one in-band error event of a stream that failed after its first byte."""
        ...


class Meter(Protocol):
    def observe(self, item: Any) -> None: ...

    def usage(self, prompt_estimate: int) -> Usage: ...


class ChunkMeter:
    """Usage of a stream of OpenAI chunks: the last report, else the characters streamed."""

    __slots__ = ("chars", "report")

    def __init__(self) -> None:
        self.report: Any = None
        self.chars = 0

    def observe(self, item: Any) -> None:
        if item.get("usage"):
            self.report = item["usage"]
        self.chars += len(completion_text(item))

    def usage(self, prompt_estimate: int) -> Usage:
        return usage_from(self.report, prompt_estimate=prompt_estimate, completion_chars=self.chars)


class Streamed:
    """A stream the pipeline started: relay it with :meth:`body`."""

    def __init__(
        self,
        served: Served,
        ledger: Ledger,
        ticket: Ticket,
        stack: contextlib.AsyncExitStack,
        headers: Mapping[str, str],
    ) -> None:
        assert served.rest is not None
        self.served = served
        self.ledger = ledger
        self.ticket = ticket
        self.stack = stack  # exits the ticket
        self.headers = headers
        self.started = False

    def reply(self, encoder: Encoder, meter: Meter) -> Reply:
        """The stream as a reply in ``encoder``'s framing."""
        return Reply.events(self.body(encoder, meter), self.headers, self.abandon)

    async def abandon(self) -> None:
        """End a stream whose body was never sent (the client left first): the upstream is
        closed, the request recorded as 499 and its ticket settled with nothing used."""
        if self.started:
            return
        self.started = True
        rest = self.served.rest
        assert rest is not None
        await rest.aclose()
        used = self._usage(ChunkMeter())
        self.ledger.record(self.served, used, 499, "client disconnected", "client_disconnected")
        self.ticket.settle(self.served.model, used)
        await self.stack.aclose()

    async def body(self, encoder: Encoder, meter: Meter) -> AsyncIterator[bytes]:
        """Forward the items as they arrive — the first at once, then the ones read together in
        one write each; one in-band error event on failure."""
        served = self.served
        rest = served.rest
        assert rest is not None
        self.started = True
        status, error, code = 200, None, None
        out: list[bytes] = []  # events ready together go out in one write
        waiting: Pending[Any] | None = None  # a step held across a flush
        first = True
        try:
            item: Any = served.first
            while True:
                if isinstance(item, Pending):  # the upstream has nothing more yet: flush
                    if out:
                        waiting = item
                        yield b"".join(out)
                        waiting = None
                        out.clear()
                    item = await item
                if isinstance(item, End):
                    break
                meter.observe(item)
                data = encoder.chunk(item)
                if data:
                    out.append(data)
                    if first:  # the first event leaves at once: time to first byte
                        first = False
                        yield out.pop()
                item = ready(rest)
            out.append(encoder.end(self._usage(meter)))
            yield b"".join(out)
        except UpstreamError as exc:
            status, error, code = 502, exc.message, exc.code or "stream_error"
            out.append(encoder.error(exc))
            yield b"".join(out)
        except (asyncio.CancelledError, GeneratorExit):
            # usage so far is still recorded below
            status, error, code = 499, "client disconnected", "client_disconnected"
            raise
        finally:
            if waiting is not None:  # stopped during a flush: the step must end before aclose
                await waiting.cancel()
            await rest.aclose()
            used = self._usage(meter)
            self.ledger.record(served, used, status, error, code)
            self.ticket.settle(served.model, used)
            await self.stack.aclose()  # the ticket: settled with the usage streamed so far

    def _usage(self, meter: Meter) -> Usage:
        facts = self.ledger.facts
        return meter.usage(facts.estimated_tokens if facts else 0)
