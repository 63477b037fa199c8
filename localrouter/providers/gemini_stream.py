"""Gemini answers → OpenAI shapes: whole ``GenerateContentResponse`` objects and SSE streams.

One reader (:func:`read_reply`) turns a response — or one streamed partial response, which has
the same shape — into text, tool calls, a finish reason and usage; the builders below wrap that
as a ``chat.completion``, ``text_completion`` or a run of chunks.

    candidates[0].content.parts[].text      → content (parts with ``thought: true`` are left out)
    candidates[0].content.parts[].functionCall {id?, name, args} (+ part.thoughtSignature)
                                            → tool_calls[] {id (Gemini's or generated), function
                                              {name, arguments: JSON text}, extra_content
                                              {google: {thought_signature}}}
    finishReason STOP → stop · MAX_TOKENS → length · SAFETY, RECITATION, BLOCKLIST,
      PROHIBITED_CONTENT, SPII, IMAGE_SAFETY… → content_filter · others → stop;
      any function call → tool_calls
    promptFeedback.blockReason (no candidates) → content "" and finish content_filter
    usageMetadata promptTokenCount (+toolUsePromptTokenCount) → prompt_tokens,
      candidatesTokenCount + thoughtsTokenCount → completion_tokens (thoughts also as
      completion_tokens_details.reasoning_tokens), cachedContentTokenCount →
      prompt_tokens_details.cached_tokens

Streams: Gemini sends no ``[DONE]``; the stream ends after the event carrying ``finishReason``.
Chat chunks go out in this order: a role chunk (with the first event), content deltas, for each
function call a chunk with id and name then one with the whole arguments, a finish chunk as soon
as the finish reason arrives, and — after the upstream stream ended — one usage chunk (no
choices) built from the last ``usageMetadata`` seen. A stream that ends without a finish reason
was cut: :class:`UpstreamProtocolError`.

Also here, because they read Gemini's side of the wire: its error answers (status, message,
``google.rpc.RetryInfo`` → ``retry_after``) and its model list entries → catalog entries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from localrouter.compiler.catalog import DiscoveredModel
from localrouter.errors import UpstreamHTTPError, UpstreamProtocolError
from localrouter.providers import shapes
from localrouter.providers.transport import Headers
from localrouter.providers.upstream_errors import ErrorParts, parse_error, retry_after
from localrouter.providers.upstream_errors import http_error as mapped
from localrouter.redaction import Redactor

Json = dict[str, Any]

_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)


def map_finish(reason: object) -> str | None:
    """Gemini's ``finishReason`` → OpenAI's ``finish_reason``; None when absent."""
    if not isinstance(reason, str) or not reason:
        return None
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "stop"


def _count(meta: Json, key: str) -> int:
    value = meta.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def map_usage(meta: object) -> Json | None:
    """``usageMetadata`` → OpenAI ``usage``; None when the provider reported nothing."""
    if not isinstance(meta, dict) or not any(
        k in meta for k in ("promptTokenCount", "candidatesTokenCount", "totalTokenCount")
    ):
        return None
    thoughts = _count(meta, "thoughtsTokenCount")
    prompt = _count(meta, "promptTokenCount") + _count(meta, "toolUsePromptTokenCount")
    out = shapes.usage(prompt, _count(meta, "candidatesTokenCount") + thoughts)
    if thoughts:
        out["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    cached = _count(meta, "cachedContentTokenCount")
    if cached:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    return out


@dataclass
class Reply:
    """What one response (or one streamed partial response) says."""

    text: str = ""
    calls: list[Json] = field(default_factory=list)  # OpenAI tool calls
    finish: str | None = None  # OpenAI finish reason, None if this event carried none
    usage: Json | None = None
    model: str | None = None  # Gemini's modelVersion
    answered: bool = False  # a candidate or a prompt block was present


def _tool_call(part: Json) -> Json | None:
    call = part.get("functionCall")
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return None
    args = call.get("args")
    out = shapes.tool_call(
        call["id"] if isinstance(call.get("id"), str) and call["id"] else shapes.new_id("call"),
        call["name"],
        json.dumps(args if isinstance(args, dict) else {}, ensure_ascii=False),
    )
    signature = part.get("thoughtSignature")
    if isinstance(signature, str) and signature:
        out["extra_content"] = {"google": {"thought_signature": signature}}
    return out


def read_reply(doc: Json) -> Reply:
    reply = Reply(usage=map_usage(doc.get("usageMetadata")))
    if isinstance(doc.get("modelVersion"), str):
        reply.model = doc["modelVersion"]
    candidates = doc.get("candidates")
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        feedback = doc.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            reply.finish, reply.answered = "content_filter", True
        return reply
    candidate: Json = candidates[0]
    reply.answered = True
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    texts: list[str] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str) and not part.get("thought"):
            texts.append(part["text"])
        call = _tool_call(part)
        if call is not None:
            reply.calls.append(call)
    reply.text = "".join(texts)
    reply.finish = map_finish(candidate.get("finishReason"))
    return reply


def _whole(doc: Json, provider: str) -> Reply:
    reply = read_reply(doc)
    if not reply.answered:
        raise UpstreamProtocolError(f"{provider} answered without candidates", provider=provider)
    if reply.calls:
        reply.finish = "tool_calls"
    return reply


def chat_completion(doc: Json, model: str, provider: str) -> Json:
    reply = _whole(doc, provider)
    content = reply.text if reply.text or not reply.calls else None
    return shapes.chat_completion(
        id=_response_id(doc, "chatcmpl"),
        model=reply.model or model,
        created=shapes.now(),
        message=shapes.message(content, reply.calls or None),
        finish_reason=reply.finish or "stop",
        usage=reply.usage,
    )


def text_completion(doc: Json, model: str, provider: str) -> Json:
    reply = _whole(doc, provider)
    return shapes.text_completion(
        id=_response_id(doc, "cmpl"),
        model=reply.model or model,
        created=shapes.now(),
        text=reply.text,
        finish_reason="stop" if reply.finish in (None, "tool_calls") else reply.finish,
        usage=reply.usage,
    )


def _response_id(doc: Json, prefix: str) -> str:
    rid = doc.get("responseId")
    return f"{prefix}-{rid}" if isinstance(rid, str) and rid else shapes.new_id(prefix)


class _Stream:
    def __init__(self, model: str, provider: str, prefix: str) -> None:
        self.id = shapes.new_id(prefix)
        self.created = shapes.now()
        self.model = model
        self.provider = provider
        self.finish: str | None = None
        self.usage: Json | None = None
        self.events = 0

    def _note(self, doc: Json) -> Reply:
        reply = read_reply(doc)
        if self.events == 0:
            rid = doc.get("responseId")
            if isinstance(rid, str) and rid:
                self.id = f"{self.id.split('-', 1)[0]}-{rid}"
            self.model = reply.model or self.model
        self.events += 1
        if reply.usage is not None:
            self.usage = reply.usage
        return reply

    def _check_end(self) -> None:
        if self.finish is None:
            raise UpstreamProtocolError(
                f"{self.provider} stream ended before a finish reason", provider=self.provider
            )


class ChatStream(_Stream):
    """Feed each streamed response in order; send every returned chunk at once."""

    def __init__(self, model: str, provider: str) -> None:
        super().__init__(model, provider, "chatcmpl")
        self.calls = 0

    def _chunk(
        self, delta: Json | None, finish: str | None = None, usage: Json | None = None
    ) -> Json:
        return shapes.chat_chunk(
            id=self.id,
            model=self.model,
            created=self.created,
            delta=delta,
            finish_reason=finish,
            usage=usage,
        )

    def feed(self, doc: Json) -> list[Json]:
        first = self.events == 0
        reply = self._note(doc)
        out = [self._chunk({"role": "assistant", "content": ""})] if first else []
        if reply.text:
            out.append(self._chunk({"content": reply.text}))
        for call in reply.calls:
            head: Json = {
                "index": self.calls,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            if "extra_content" in call:
                head["extra_content"] = call["extra_content"]
            args = {"index": self.calls, "function": {"arguments": call["function"]["arguments"]}}
            out += [self._chunk({"tool_calls": [head]}), self._chunk({"tool_calls": [args]})]
            self.calls += 1
        if reply.finish is not None and self.finish is None:
            self.finish = "tool_calls" if self.calls else reply.finish
            out.append(self._chunk({}, self.finish))
        return out

    def end(self) -> list[Json]:
        """Call after the upstream stream ended cleanly: the usage chunk, if usage is known."""
        self._check_end()
        return [] if self.usage is None else [self._chunk(None, usage=self.usage)]


class CompletionStream(_Stream):
    """Legacy completions: ``text_completion`` chunks, then a usage chunk without choices."""

    def __init__(self, model: str, provider: str) -> None:
        super().__init__(model, provider, "cmpl")

    def _chunk(self, text: str, finish: str | None) -> Json:
        return shapes.text_completion(
            id=self.id,
            model=self.model,
            created=self.created,
            text=text,
            finish_reason=finish,
            usage=None,
        )

    def feed(self, doc: Json) -> list[Json]:
        reply = self._note(doc)
        out = [self._chunk(reply.text, None)] if reply.text else []
        if reply.finish is not None and self.finish is None:
            self.finish = "stop" if reply.finish == "tool_calls" else reply.finish
            out.append(self._chunk("", self.finish))
        return out

    def end(self) -> list[Json]:
        self._check_end()
        if self.usage is None:
            return []
        last = self._chunk("", None)
        last["choices"] = []
        last["usage"] = self.usage
        return [last]


# ---------------------------------------------------------------- errors


def retry_delay(body: bytes) -> float | None:
    """Seconds from Google's ``google.rpc.RetryInfo`` detail (``"retryDelay": "37s"``)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    doc = doc[0] if isinstance(doc, list) and doc else doc
    err = doc.get("error") if isinstance(doc, dict) else None
    details = err.get("details") if isinstance(err, dict) else None
    for detail in details if isinstance(details, list) else []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None


def http_error(
    body: bytes,
    status: int,
    provider: str,
    redactor: Redactor,
    *,
    headers: Headers | None = None,
) -> UpstreamHTTPError:
    """An error answer (or an in-stream ``{"error": …}`` event) → :class:`UpstreamHTTPError`:
    the common message shapes, and the wait from ``Retry-After`` else Google's ``RetryInfo``."""
    wait = retry_after(headers) if headers is not None else None
    parts = ErrorParts(parse_error(body).text, None, wait or retry_delay(body))
    return mapped(provider, status, parts, redactor)


def check_status(
    status: int, headers: Headers, body: bytes, provider: str, redactor: Redactor
) -> None:
    """Raise for an error status, before anything of the body is used."""
    if status >= 400:
        raise http_error(body, status, provider, redactor, headers=headers)


# ---------------------------------------------------------------- model list


def discovered(entry: Json) -> DiscoveredModel | None:
    """One ``Model`` of ``GET models`` → a catalog entry; None for models we cannot call."""
    name = str(entry.get("name") or "").removeprefix("models/")
    methods = entry.get("supportedGenerationMethods") or []
    caps: list[str] = []
    if "generateContent" in methods:
        caps += ["chat", "completions"]
        if name.startswith("gemini-") and not any(
            w in name for w in ("tts", "image", "audio", "embedding")
        ):
            caps += ["tools", "vision", "json"]
    if "embedContent" in methods or "batchEmbedContents" in methods:
        caps.append("embeddings")
    if not name or not caps:
        return None
    limit = entry.get("inputTokenLimit")
    return DiscoveredModel(
        name=name,
        context_window=limit if isinstance(limit, int) and limit > 0 else None,
        capabilities=tuple(caps),
    )
