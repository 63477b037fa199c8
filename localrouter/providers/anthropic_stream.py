"""Anthropic answers → OpenAI objects: messages, SSE streams, errors and the model list.

Answer mapping (Anthropic → OpenAI):

    content[text]                 → message.content (text blocks joined)
    content[tool_use]             → message.tool_calls {id, function {name, arguments: the input
                                    as a JSON string}}
    content[thinking]             → message.reasoning_content (redacted thinking and server-tool
                                    blocks are dropped)
    stop_reason end_turn, stop_sequence, pause_turn → finish_reason stop; max_tokens,
                                    model_context_window_exceeded → length; tool_use → tool_calls;
                                    refusal → content_filter
    usage input_tokens + cache_creation_input_tokens + cache_read_input_tokens → prompt_tokens
                                    (cache reads also in prompt_tokens_details.cached_tokens);
                                    output_tokens → completion_tokens

Stream mapping (one OpenAI chunk per Anthropic event, yielded as soon as the event is parsed):

    message_start                 → the first chunk: delta {role: assistant, content: ""}; its
                                    usage gives the prompt tokens
    content_block_start tool_use  → delta.tool_calls[{index (the tool call's own count), id, type,
                                    function {name, arguments: ""}}]
    content_block_delta text_delta / input_json_delta / thinking_delta → delta.content /
                                    tool_calls[{index, function.arguments}] / reasoning_content
    content_block_stop            → nothing (``{}`` as arguments if a tool call streamed none)
    message_delta                 → remembered: stop_reason and the cumulative usage
    message_stop                  → a chunk with finish_reason, then the usage-only chunk
    ping, unknown events          → nothing
    error                         → UpstreamHTTPError with the status of its error type (529 for
                                    overloaded_error); a stream ending before message_stop →
                                    UpstreamProtocolError

Error answers ``{"type": "error", "error": {"type", "message"}}`` become ``UpstreamHTTPError``
with the HTTP status, Anthropic's error type and message, and ``retry_after`` from its header.
"""

from __future__ import annotations

import json
from typing import Any

from localrouter.compiler.catalog import DiscoveredModel
from localrouter.errors import UpstreamHTTPError, UpstreamProtocolError
from localrouter.providers import shapes
from localrouter.providers.transport import Headers
from localrouter.providers.upstream_errors import ErrorParts, http_error, message
from localrouter.redaction import SHAPES_ONLY, Redactor

Json = dict[str, Any]

FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def finish_reason(stop_reason: object) -> str:
    return FINISH.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage(raw: object) -> Json:
    """Anthropic ``usage`` → OpenAI usage; cache reads and writes count as prompt tokens."""
    u = raw if isinstance(raw, dict) else {}
    cache_read = _int(u.get("cache_read_input_tokens"))
    cache_write = _int(u.get("cache_creation_input_tokens"))
    prompt = _int(u.get("input_tokens")) + cache_read + cache_write
    out = shapes.usage(prompt, _int(u.get("output_tokens")))
    if "cache_read_input_tokens" in u or "cache_creation_input_tokens" in u:
        out["prompt_tokens_details"] = {"cached_tokens": cache_read}
    return out


# ---------------------------------------------------------------- whole answers


def _reply(doc: Json, provider: str) -> tuple[str, list[Json], str]:
    """(text, tool calls, thinking) of a ``message`` object."""
    content = doc.get("content")
    if doc.get("type") != "message" or not isinstance(content, list):
        raise UpstreamProtocolError(
            f"{provider} sent an answer that is not a message", provider=provider
        )
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[Json] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thoughts.append(block["thinking"])
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise UpstreamProtocolError(
                    f"{provider} sent a tool_use without id or name", provider=provider
                )
            arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
            calls.append(shapes.tool_call(block["id"], block["name"], arguments))
    return "".join(texts), calls, "".join(thoughts)


def chat_completion(doc: Json, model: str, provider: str) -> Json:
    text, calls, thinking = _reply(doc, provider)
    message = shapes.message(text if text or not calls else None, calls or None)
    if thinking:
        message["reasoning_content"] = thinking
    return shapes.chat_completion(
        id=str(doc.get("id") or shapes.new_id()),
        model=str(doc.get("model") or model),
        created=shapes.now(),
        message=message,
        finish_reason=finish_reason(doc.get("stop_reason")),
        usage=usage(doc.get("usage")),
    )


def text_completion(doc: Json, model: str, provider: str) -> Json:
    text, _calls, _thinking = _reply(doc, provider)
    finish = finish_reason(doc.get("stop_reason"))
    return shapes.text_completion(
        id=str(doc.get("id") or shapes.new_id("cmpl")),
        model=str(doc.get("model") or model),
        created=shapes.now(),
        text=text,
        finish_reason="stop" if finish == "tool_calls" else finish,
        usage=usage(doc.get("usage")),
    )


# ---------------------------------------------------------------- streams


class ChatStream:
    """Anthropic stream events in, ``chat.completion.chunk`` objects out (one event at a time)."""

    def __init__(self, model: str, provider: str, redactor: Redactor = SHAPES_ONLY) -> None:
        self.id = shapes.new_id()
        self.model = model
        self.provider = provider
        self.redactor = redactor
        self.created = shapes.now()
        self.started = False
        self.done = False
        self.stop_reason: object = None
        self.usage: Json = {}
        self.tools: dict[int, list[Any]] = {}  # block index → [tool call index, args sent?]

    def _chunk(
        self, delta: Json | None, finish: str | None = None, use: Json | None = None
    ) -> Json:
        return shapes.chat_chunk(
            id=self.id,
            model=self.model,
            created=self.created,
            delta=delta,
            finish_reason=finish,
            usage=use,
        )

    def _start(self, message: object) -> list[Json]:
        if self.started:
            return []
        self.started = True
        if isinstance(message, dict):
            self.id = str(message.get("id") or self.id)
            self.model = str(message.get("model") or self.model)
            if isinstance(message.get("usage"), dict):
                self.usage.update(message["usage"])
        return [self._chunk({"role": "assistant", "content": ""})]

    def _tool_delta(self, index: int, fields: Json) -> Json:
        return self._chunk({"tool_calls": [{"index": index, **fields}]})

    def feed(self, event: str, data: Json) -> list[Json]:
        """The chunks one SSE event yields (often none)."""
        kind = data.get("type") or event
        if self.done or kind == "ping":
            return []
        if kind == "error":
            err = data.get("error")
            raise stream_error(err if isinstance(err, dict) else {}, self.provider, self.redactor)
        if kind == "message_start":
            return self._start(data.get("message"))
        out = self._start(None)
        index = data.get("index")
        if kind == "content_block_start" and isinstance(index, int):
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                self.tools[index] = [len(self.tools), False]
                fn = {"name": block.get("name"), "arguments": ""}
                out.append(
                    self._tool_delta(
                        self.tools[index][0],
                        {"id": block.get("id"), "type": "function", "function": fn},
                    )
                )
            elif block.get("type") == "text" and block.get("text"):
                out.append(self._chunk({"content": block["text"]}))
        elif kind == "content_block_delta" and isinstance(index, int):
            delta = data.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta" and delta.get("text"):
                out.append(self._chunk({"content": delta["text"]}))
            elif dtype == "thinking_delta" and delta.get("thinking"):
                out.append(self._chunk({"reasoning_content": delta["thinking"]}))
            elif dtype == "input_json_delta" and delta.get("partial_json") and index in self.tools:
                self.tools[index][1] = True
                out.append(
                    self._tool_delta(
                        self.tools[index][0], {"function": {"arguments": delta["partial_json"]}}
                    )
                )
        elif kind == "content_block_stop" and index in self.tools and not self.tools[index][1]:
            out.append(self._tool_delta(self.tools[index][0], {"function": {"arguments": "{}"}}))
        elif kind == "message_delta":
            delta = data.get("delta") or {}
            if delta.get("stop_reason"):
                self.stop_reason = delta["stop_reason"]
            if isinstance(data.get("usage"), dict):
                self.usage.update({k: v for k, v in data["usage"].items() if v is not None})
        elif kind == "message_stop":
            self.done = True
            out.append(self._chunk({}, finish_reason(self.stop_reason)))
            out.append(self._chunk(None, use=usage(self.usage)))
        return out

    def end(self) -> None:
        """Called when the upstream stream ended: it must have ended with ``message_stop``."""
        if not self.done:
            raise UpstreamProtocolError(
                f"{self.provider} stream ended before message_stop", provider=self.provider
            )


def completion_chunk(chunk: Json) -> Json | None:
    """A chat chunk → a legacy ``text_completion`` chunk (None when it carries no text)."""
    out: Json = {
        "id": chunk["id"].replace("chatcmpl-", "cmpl-", 1),
        "object": "text_completion",
        "created": chunk["created"],
        "model": chunk["model"],
        "choices": [],
    }
    if "usage" in chunk:
        out["usage"] = chunk["usage"]
    for choice in chunk["choices"]:
        text = choice["delta"].get("content") or ""
        finish = choice["finish_reason"]
        if not text and finish is None:
            return None
        finish = "stop" if finish == "tool_calls" else finish
        out["choices"].append({"index": 0, "text": text, "logprobs": None, "finish_reason": finish})
    return out


# ---------------------------------------------------------------- errors


def error_parts(body: bytes) -> ErrorParts:
    """Anthropic's error body (``{"type": "error", "error": {"type", "message"}}``): its message
    (or the raw text) and the error's type as the label."""
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return ErrorParts(text)
    kind = (
        doc["error"].get("type")
        if isinstance(doc, dict) and isinstance(doc.get("error"), dict)
        else None
    )
    return ErrorParts(message(doc) or text, kind if isinstance(kind, str) else None)


def stream_error(err: Json, provider: str, redactor: Redactor) -> UpstreamHTTPError:
    """An in-stream ``error`` event (or a 200 whose body is an error) → the error its type
    would have had as an HTTP status."""
    kind = err.get("type")
    status = ERROR_STATUS.get(kind, 500) if isinstance(kind, str) else 500
    parts = ErrorParts(str(err.get("message") or ""), kind if isinstance(kind, str) else None)
    return http_error(provider, status, parts, redactor, label_style="prefix")


def check_status(
    status: int, headers: Headers, body: bytes, provider: str, redactor: Redactor
) -> None:
    """Raise for an error status, before anything of the body is used."""
    if status >= 400:
        parts = error_parts(body)
        raise http_error(provider, status, parts, redactor, headers=headers, label_style="prefix")


# ---------------------------------------------------------------- model list


def _supported(caps: object, name: str) -> bool:
    entry = caps.get(name) if isinstance(caps, dict) else None
    return isinstance(entry, dict) and entry.get("supported") is True


def discovered(entry: Json) -> DiscoveredModel | None:
    """One ``ModelInfo`` of ``GET /v1/models`` → a catalog entry (None for retired models).

    ``max_input_tokens`` → ``context_window``; capabilities: chat, completions and tools always,
    vision when ``capabilities.image_input`` is supported (or when the answer has no
    ``capabilities``, as older API answers do: every current Claude model reads images), json
    when ``structured_outputs`` is supported."""
    name = entry.get("id")
    if not isinstance(name, str) or not name or entry.get("lifecycle") == "retired":
        return None
    caps_raw = entry.get("capabilities")
    caps = ["chat", "completions", "tools"]
    if not isinstance(caps_raw, dict) or _supported(caps_raw, "image_input"):
        caps.append("vision")
    if _supported(caps_raw, "structured_outputs"):
        caps.append("json")
    window = entry.get("max_input_tokens")
    return DiscoveredModel(
        name=name,
        context_window=window if isinstance(window, int) and window > 0 else None,
        capabilities=tuple(caps),
    )
