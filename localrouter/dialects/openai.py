"""OpenAI's chat completions, completions and embeddings, as a dialect of the serving core.

The body is checked (:mod:`localrouter.server.validation`) and passed to the adapters as it is:
the gateway's internal shape is OpenAI's. Answers go back as JSON (usage estimated and marked
when the provider reported none; embeddings as base64 when asked), streams as ``data:`` events
and ``data: [DONE]`` (usage in a last chunk only with ``stream_options.include_usage``), errors
in OpenAI's envelope.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from localrouter.dialects.base import Caller, OpenAIEnvelope
from localrouter.errors import RequestDataError, UpstreamError
from localrouter.providers.shapes import float32_base64
from localrouter.routing.facts import RequestFacts, facts_from_openai
from localrouter.server import sse, validation
from localrouter.server.accounting import Usage, completion_text, usage_from
from localrouter.server.dispatch import Served
from localrouter.server.payloads import OpenAIPayload, Operation
from localrouter.server.pipeline import Answer, Failure, Finished, Outcome
from localrouter.server.relay import ChunkMeter
from localrouter.server.reply import Reply

Json = dict[str, Any]


def _base64_embeddings(result: Json) -> bool:
    """Each embedding of ``result`` as base64 float32 (values beyond float32: ±inf); False when
    a vector holds something that is not a number."""
    try:
        for item in result.get("data") or []:
            vector = item.get("embedding")
            if isinstance(vector, list):
                item["embedding"] = float32_base64(vector)
    except TypeError:
        return False
    return True


class ChunkEncoder:
    """OpenAI's SSE framing of chunks; usage-only chunks only when the client asked."""

    __slots__ = ("include_usage",)

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage

    def chunk(self, item: Json) -> bytes | None:
        if not self.include_usage:
            if not item.get("choices"):
                return None
            item.pop("usage", None)
        return sse.event(item)

    def end(self, usage: Usage) -> bytes:
        return sse.DONE

    def error(self, exc: UpstreamError) -> bytes:
        return sse.error_event(exc.message, code=exc.code)


class OpenAIRequest:
    __slots__ = ("body", "encoding", "facts", "operation", "payload", "stream")

    def __init__(self, operation: Operation, body: Json, facts: RequestFacts) -> None:
        self.operation = operation
        self.body = body
        self.facts = facts
        embeddings = operation == "embeddings"
        self.stream = not embeddings and body.get("stream") is True
        self.encoding = body.pop("encoding_format", None) if embeddings else None
        self.payload = OpenAIPayload(operation, body)

    def finish(self, served: Served, result: Json) -> Finished:
        usage = usage_from(
            result.get("usage"),
            prompt_estimate=self.facts.estimated_tokens,
            completion_text=completion_text(result),
        )
        if usage.estimated and self.operation != "embeddings" and not result.get("usage"):
            result["usage"] = {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
                "estimated": True,  # the provider reported none: a local estimate
            }
        # adapters return float vectors; encoded once, here (the upstream's junk is a 502)
        if self.encoding == "base64" and not _base64_embeddings(result):
            error = f"{served.model.id} sent an embedding value that is not a number"
            return Finished(usage, error, "upstream_failed")
        return Finished(usage)

    def reply(self, outcome: Outcome) -> Reply:
        if isinstance(outcome, Failure):
            return OPENAI.failure(outcome)
        if isinstance(outcome, Answer):
            return Reply.json(outcome.result, 200, outcome.headers)
        include_usage = bool((self.body.get("stream_options") or {}).get("include_usage"))
        return outcome.reply(ChunkEncoder(include_usage), ChunkMeter())


class OpenAIDialect(OpenAIEnvelope):
    name = "openai"

    async def parse(
        self, operation: str, body: Json, headers: Mapping[str, str], caller: Caller
    ) -> OpenAIRequest | Failure:
        problem = validation.check(operation, body)  # also drops top-level nulls: absent
        if problem is not None:
            return Failure(400, problem[0], None, problem[1])
        try:
            facts = facts_from_openai(body, headers, embeddings=operation == "embeddings")
        except RequestDataError as exc:  # tags, headers or metadata over a routing bound
            return Failure(exc.status, exc.message, None, exc.param)
        return OpenAIRequest(operation, body, facts)  # type: ignore[arg-type]


OPENAI = OpenAIDialect()
