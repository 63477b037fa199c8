"""Anthropic's Messages API (``POST /v1/messages``, ``/v1/messages/count_tokens``) as a dialect
of the serving core.

The body is checked (:mod:`~localrouter.dialects.anthropic_check`) and routed like chat, on
facts read from it directly (:mod:`~localrouter.routing.facts_anthropic`). Each call goes to its
provider the way :class:`~localrouter.server.payloads.MessagesPayload` says: forwarded as sent
to an Anthropic provider — its answer and its stream come back as the provider sent them, read
only for usage — or translated to an OpenAI chat body for any other, whose answer and chunks are
encoded back here (:mod:`~localrouter.dialects.anthropic_answer`,
:mod:`~localrouter.dialects.anthropic_events`). Errors use Anthropic's envelope and error types
(:mod:`~localrouter.dialects.anthropic_errors`), with LocalRouter's status codes.

``count_tokens`` is routed too (its first candidate decides): an Anthropic provider counts the
tokens itself, any other gets LocalRouter's local estimate. It holds no limits (it generates
nothing) and is logged with zero tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from localrouter.dialects.anthropic_answer import message_from_chat
from localrouter.dialects.anthropic_check import check
from localrouter.dialects.anthropic_errors import error_body
from localrouter.dialects.anthropic_events import StreamEncoder
from localrouter.dialects.anthropic_to_chat import Translated, to_chat, untranslatable
from localrouter.dialects.base import Caller, Envelope
from localrouter.errors import (
    RequestDataError,
    StreamShapeError,
    UpstreamError,
    UpstreamProtocolError,
)
from localrouter.providers.anthropic_native import (
    FORWARDED_HEADERS,
    NativeEvent,
    UsageTally,
    usage_of,
)
from localrouter.routing.facts import RequestFacts
from localrouter.routing.facts_anthropic import estimate_input_tokens, facts_from_anthropic
from localrouter.server.accounting import Usage, completion_text, usage_from
from localrouter.server.dispatch import Served
from localrouter.server.payloads import CountTokensPayload, MessagesPayload
from localrouter.server.pipeline import Answer, Failure, Finished, Outcome
from localrouter.server.relay import ChunkMeter
from localrouter.server.reply import Reply

Json = dict[str, Any]


class FrameEncoder:
    """A forwarded stream: each event as the provider framed it."""

    __slots__ = ()

    def chunk(self, item: NativeEvent) -> bytes:
        return item.frame

    def end(self, usage: Usage) -> bytes:
        return b""  # the provider's own message_stop has gone out

    def error(self, exc: UpstreamError) -> bytes:
        body = orjson.dumps(error_body(502, exc.message))
        return b"event: error\ndata: " + body + b"\n\n"


class TallyMeter:
    """Usage of a forwarded stream, from its message_start and message_delta events."""

    __slots__ = ("tally",)

    def __init__(self) -> None:
        self.tally = UsageTally()

    def observe(self, item: NativeEvent) -> None:
        self.tally.feed(item)

    def usage(self, prompt_estimate: int) -> Usage:
        used = self.tally.usage
        if used.prompt_tokens == 0 and used.output_tokens == 0:
            return Usage(prompt_estimate, 0, estimated=True)
        return Usage(used.prompt_tokens, used.output_tokens)


class EventEncoder:
    """A translated stream: OpenAI chunks as Anthropic's event sequence."""

    __slots__ = ("events",)

    def __init__(self, events: StreamEncoder) -> None:
        self.events = events

    def chunk(self, item: Json) -> bytes | None:
        try:
            return self.events.feed(item) or None
        except StreamShapeError as exc:  # the upstream's chunks cannot be told as events
            raise UpstreamProtocolError(f"the stream could not be translated: {exc}") from None

    def end(self, usage: Usage) -> bytes:
        return self.events.finish((usage.prompt_tokens, usage.completion_tokens))

    def error(self, exc: UpstreamError) -> bytes:
        return self.events.error(502, exc.message)


class ToChat:
    """The Messages translation, as the server's payload asks for it."""

    __slots__ = ()

    def refusal(self, body: Json) -> str | None:
        why = untranslatable(body)
        return None if why is None else why.message

    def to_chat(self, body: Json, *, stream: bool) -> Translated:
        return to_chat(body, stream=stream)


TO_CHAT = ToChat()


def native_usage(result: Json) -> Usage:
    used = usage_of(result)
    return Usage(used.prompt_tokens, used.output_tokens)


class MessagesRequest:
    __slots__ = ("body", "facts", "payload", "stream")

    def __init__(self, body: Json, headers: Mapping[str, str], facts: RequestFacts) -> None:
        self.body = body
        self.facts = facts
        self.stream = body.get("stream") is True
        forwarded = {k: headers[k] for k in FORWARDED_HEADERS if k in headers}
        self.payload = MessagesPayload(body, forwarded, TO_CHAT)

    def finish(self, served: Served, result: Json) -> Finished:
        if served.form == "anthropic":
            return Finished(native_usage(result))
        usage = usage_from(
            result.get("usage"),
            prompt_estimate=self.facts.estimated_tokens,
            completion_text=completion_text(result),
        )
        return Finished(usage)

    def _message_id(self, gen_id: str) -> str:
        return "msg_" + gen_id.removeprefix("gen-")

    def reply(self, outcome: Outcome) -> Reply:
        if isinstance(outcome, Failure):
            return ANTHROPIC.failure(outcome)
        stops = self.body.get("stop_sequences")
        stops = stops if isinstance(stops, list) else None
        if isinstance(outcome, Answer):
            result = outcome.result
            if outcome.served.form == "openai":
                u = outcome.usage
                if not result.get("usage"):  # none reported: the local estimate
                    usage = {
                        "prompt_tokens": u.prompt_tokens,
                        "completion_tokens": u.completion_tokens,
                    }
                    result = {**result, "usage": usage}
                result = message_from_chat(
                    result,
                    model=outcome.served.model.name,
                    message_id=self._message_id(outcome.ledger.gen_id),
                    stop_sequences=stops,
                )
            return Reply.json(result, 200, outcome.headers)
        if outcome.served.form == "anthropic":
            return outcome.reply(FrameEncoder(), TallyMeter())
        events = StreamEncoder(
            model=outcome.served.model.name,
            message_id=self._message_id(outcome.ledger.gen_id),
            input_tokens=self.facts.estimated_tokens,
            stop_sequences=stops,
        )
        return outcome.reply(EventEncoder(events), ChunkMeter())


class CountTokensRequest:
    __slots__ = ("facts", "payload", "stream")

    def __init__(self, body: Json, headers: Mapping[str, str], facts: RequestFacts) -> None:
        self.facts = facts
        self.stream = False
        forwarded = {k: headers[k] for k in FORWARDED_HEADERS if k in headers}
        self.payload = CountTokensPayload(body, forwarded, estimate_input_tokens(body))

    def finish(self, served: Served, result: Json) -> Finished:
        return Finished(Usage(0, 0))  # counting generates nothing

    def reply(self, outcome: Outcome) -> Reply:
        if isinstance(outcome, Failure):
            return ANTHROPIC.failure(outcome)
        assert isinstance(outcome, Answer)
        return Reply.json(outcome.result, 200, outcome.headers)


class AnthropicDialect(Envelope):
    name = "anthropic"

    async def parse(
        self, operation: str, body: Json, headers: Mapping[str, str], caller: Caller
    ) -> MessagesRequest | CountTokensRequest | Failure:
        counting = operation == "count_tokens"
        if counting and body.get("max_tokens") is None:  # not asked for when counting
            body = {**body, "max_tokens": 1}
        problem = check(body)
        if problem is not None:
            return Failure(400, problem[0], None, problem[1])
        try:
            facts = facts_from_anthropic(body, headers)
        except RequestDataError as exc:  # tags, headers or metadata over a routing bound
            return Failure(exc.status, exc.message, None, exc.param)
        if counting:
            return CountTokensRequest(body, headers, facts)
        return MessagesRequest(body, headers, facts)

    def error(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        rid = headers.get("x-request-id") if headers else None
        return Reply.json(error_body(status, message, request_id=rid), status, headers)


ANTHROPIC = AnthropicDialect()
