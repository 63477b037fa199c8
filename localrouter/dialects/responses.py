"""OpenAI's Responses API (``POST /v1/responses``) as a dialect of the serving core.

The body is checked (:mod:`~localrouter.dialects.responses_check`); ``previous_response_id`` is
resolved from the caller's own stored responses (:mod:`localrouter.runtime.response_store`)
into the conversation's items; the request is translated once to an OpenAI chat body
(:mod:`~localrouter.dialects.responses_to_chat`), whose facts route it like chat. Each call goes
to its provider the way :class:`~localrouter.server.payloads.ResponsesPayload` says: as sent to a
provider that serves the Responses API (its answer and events come back as the provider sent
them, with LocalRouter's response id), or as the chat translation to any other, whose answer and
chunks are told back here (:mod:`~localrouter.dialects.responses_answer`,
:mod:`~localrouter.dialects.responses_events`). Errors use OpenAI's envelope.

With ``store`` (the default, as OpenAI's), the finished response and its conversation's input
are stored, owned by the calling client: ``GET``/``DELETE /v1/responses/{id}``
(:mod:`localrouter.server.responses_api`) and a later ``previous_response_id`` find them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from localrouter.dialects import responses_answer as answer
from localrouter.dialects.base import Caller, OpenAIEnvelope
from localrouter.dialects.responses_check import check
from localrouter.dialects.responses_events import StreamEncoder
from localrouter.dialects.responses_to_chat import Translated, items_of, to_chat
from localrouter.errors import (
    RequestDataError,
    StreamShapeError,
    UpstreamError,
    UpstreamProtocolError,
)
from localrouter.providers.openai_responses import ResponsesEvent
from localrouter.routing.facts import RequestFacts, facts_from_openai
from localrouter.runtime.response_record import StoredResponse, new_response_id
from localrouter.runtime.response_store import ResponseStore
from localrouter.server.accounting import Usage, completion_text, usage_from
from localrouter.server.dispatch import Served
from localrouter.server.payloads import ResponsesPayload
from localrouter.server.pipeline import Answer, Failure, Finished, Outcome
from localrouter.server.relay import ChunkMeter
from localrouter.server.reply import Reply

Json = dict[str, Any]


def native_usage(doc: Any) -> Usage | None:
    """Usage of a native response object (None when it reports none)."""
    usage = doc.get("usage") if isinstance(doc, dict) else None
    if not isinstance(usage, dict):
        return None
    prompt, output = usage.get("input_tokens"), usage.get("output_tokens")
    if type(prompt) is not int or type(output) is not int:
        return None
    return Usage(prompt, output)


class Keeper:
    """What a response becomes once answered: its id, its place in the conversation, and the
    store that keeps it (when the request asked to be stored)."""

    __slots__ = ("conversation", "created_at", "owner", "previous", "response_id", "store")

    def __init__(
        self,
        store: ResponseStore | None,
        owner: str,
        previous: str | None,
        conversation: list[Json],
    ) -> None:
        self.store = store
        self.owner = owner
        self.previous = previous
        self.conversation = conversation  # the whole input: inherited items, then this request's
        self.response_id = new_response_id()
        self.created_at = int(time.time())

    def own(self, response: Json, asked_store: bool) -> Json:
        """A provider's response, as LocalRouter's (its id, the conversation, ``store``)."""
        response["id"] = self.response_id
        response["previous_response_id"] = self.previous
        response["store"] = asked_store
        return response

    def keep(self, response: Json) -> None:
        if self.store is not None and response.get("status") in ("completed", "incomplete"):
            self.store.put(
                StoredResponse(
                    self.response_id, self.owner, time.time(), response, self.conversation
                )
            )


class ChatEventEncoder:
    """A translated stream: chat chunks as the Responses events."""

    __slots__ = ("events", "keeper")

    def __init__(self, events: StreamEncoder, keeper: Keeper | None) -> None:
        self.events = events
        self.keeper = keeper

    def chunk(self, item: Json) -> bytes | None:
        try:
            return self.events.feed(item) or None
        except StreamShapeError as exc:
            raise UpstreamProtocolError(f"the stream could not be translated: {exc}") from None

    def end(self, usage: Usage) -> bytes:
        out = self.events.finish(usage.prompt_tokens, usage.completion_tokens)
        if self.keeper is not None:
            self.keeper.keep(self.events.response)
        return out

    def error(self, exc: UpstreamError) -> bytes:
        return self.events.error(exc.message, exc.code or "upstream_failed")


class NativeEncoder:
    """A native stream: each event as the provider framed it, but those that carry the
    response, which carry LocalRouter's id. A failure ends it with ``error`` and
    ``response.failed`` (the response as last seen)."""

    __slots__ = ("asked_store", "final", "keeper", "seq", "snapshot")

    def __init__(self, keeper: Keeper, asked_store: bool) -> None:
        self.keeper = keeper
        self.asked_store = asked_store
        self.final: Json | None = None
        self.snapshot: Json | None = None  # the response as the last event that carried it
        self.seq = 0

    def chunk(self, item: ResponsesEvent) -> bytes:
        seq = item.data.get("sequence_number")
        if type(seq) is int:
            self.seq = seq + 1
        response = item.data.get("response")
        if not isinstance(response, dict):
            return item.frame
        owned = self.keeper.own({**response}, self.asked_store)
        self.snapshot = owned
        if item.name in ("response.completed", "response.incomplete"):
            self.final = owned
        data = {**item.data, "response": owned}
        return b"event: " + item.name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def end(self, usage: Usage) -> bytes:
        if self.final is not None and self.asked_store:
            self.keeper.keep(self.final)
        return b""

    def _event(self, data: Json) -> bytes:
        data["sequence_number"] = self.seq
        self.seq += 1
        kind: bytes = data["type"].encode()
        return b"event: " + kind + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def error(self, exc: UpstreamError) -> bytes:
        code = exc.code or "upstream_failed"
        out = self._event({"type": "error", "code": code, "message": exc.message, "param": None})
        if self.snapshot is None:
            return out
        failed = {
            **self.snapshot,
            "status": "failed",
            "error": {"code": "server_error", "message": exc.message},
        }
        return out + self._event({"type": "response.failed", "response": failed})


class NativeMeter:
    """Usage of a native stream, from the response its last event carries."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used: Usage | None = None

    def observe(self, item: ResponsesEvent) -> None:
        if item.name in ("response.completed", "response.incomplete", "response.failed"):
            self.used = native_usage(item.data.get("response"))

    def usage(self, prompt_estimate: int) -> Usage:
        return self.used or Usage(prompt_estimate, 0, estimated=True)


class ResponsesRequest:
    __slots__ = ("body", "facts", "keeper", "payload", "stream")

    def __init__(
        self, body: Json, facts: RequestFacts, payload: ResponsesPayload, keeper: Keeper
    ) -> None:
        self.body = body
        self.facts = facts
        self.payload = payload
        self.keeper = keeper
        self.stream = body.get("stream") is True

    @property
    def asked_store(self) -> bool:
        return self.body.get("store", True) is not False

    def finish(self, served: Served, result: Json) -> Finished:
        if served.form == "responses":
            used = native_usage(result)
            return Finished(used or Usage(self.facts.estimated_tokens, 0, estimated=True))
        usage = usage_from(
            result.get("usage"),
            prompt_estimate=self.facts.estimated_tokens,
            completion_text=completion_text(result),
        )
        return Finished(usage)

    def _base(self, served: Served) -> Json:
        k = self.keeper
        return answer.base(
            self.body,
            response_id=k.response_id,
            model=served.model.name,
            created_at=k.created_at,
            previous=k.previous,
        )

    def reply(self, outcome: Outcome) -> Reply:
        if isinstance(outcome, Failure):
            return RESPONSES.failure(outcome)
        keeper = self.keeper
        if isinstance(outcome, Answer):
            result = outcome.result
            if outcome.served.form == "responses":
                response = keeper.own(result, self.asked_store)
            else:
                u = outcome.usage
                usage = answer.usage_from_chat(
                    result.get("usage"), u.prompt_tokens, u.completion_tokens
                )
                response = answer.from_chat(
                    result,
                    self._base(outcome.served),
                    usage,
                    int(time.time()),
                    self.payload.chat.names,
                )
            if self.asked_store:
                keeper.keep(response)
            return Reply.json(response, 200, outcome.headers)
        if outcome.served.form == "responses":
            return outcome.reply(NativeEncoder(keeper, self.asked_store), NativeMeter())
        events = StreamEncoder(self._base(outcome.served), self.payload.chat.names)
        return outcome.reply(
            ChatEventEncoder(events, keeper if self.asked_store else None), ChunkMeter()
        )


def _unsendable(item: Json) -> bool:
    """A reasoning item without its encrypted content: a provider that stores nothing (``store:
    false``) cannot resolve it, and refuses the request; it is left out of the conversation."""
    return item.get("type") == "reasoning" and not item.get("encrypted_content")


def _previous_missing(previous: str) -> Failure:
    return Failure(
        400,
        f"previous response {previous!r} was not found (it is not one of this client's "
        "stored responses, or it has expired)",
        "previous_response_not_found",
        "previous_response_id",
    )


class ResponsesDialect(OpenAIEnvelope):
    name = "responses"

    async def parse(
        self, operation: str, body: Json, headers: Mapping[str, str], caller: Caller
    ) -> ResponsesRequest | Failure:
        problem = check(body)
        if problem is not None:
            return Failure(400, problem[0], None, problem[1])
        history: list[Json] = []
        previous = body.get("previous_response_id")
        if previous is not None:
            stored = await caller.store.get(previous, caller.client) if caller.store else None
            if stored is None:
                return _previous_missing(previous)
            output = stored.response.get("output")
            history = [*stored.input_items, *(output if isinstance(output, list) else ())]
        items = items_of(body.get("input"))
        translated: Translated = to_chat(body, history, stream=body.get("stream") is True)
        try:
            facts = facts_from_openai(translated.body, headers)
        except RequestDataError as exc:  # tags, headers or metadata over a routing bound
            return Failure(exc.status, exc.message, None, exc.param)
        conversation = [*history, *items]
        native = body
        if history:  # the provider stores nothing: it gets the whole conversation
            native = {k: v for k, v in body.items() if k != "previous_response_id"}
            native["input"] = [i for i in conversation if not _unsendable(i)]
        keeper = Keeper(caller.store, caller.client, previous, conversation)
        return ResponsesRequest(body, facts, ResponsesPayload(native, translated), keeper)


RESPONSES = ResponsesDialect()
