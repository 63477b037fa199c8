"""OpenAI-compatible answers made to validate against OpenAI's schemas, and model lists read.

OpenAI itself answers in its own schema; the servers that copy it (LM Studio, vLLM, llama.cpp,
Groq, OpenRouter, …) mostly do, with omissions this module fills in place — never inventing
content, only the shape:

=============================  ==========================================================
upstream                       what we return
=============================  ==========================================================
no ``object``                  ``chat.completion`` / ``chat.completion.chunk`` /
                               ``text_completion`` / ``list`` (embeddings)
no ``created``, no ``model``   now / the target's model; a chunk without ``id`` gets the
                               stream's first id (or a new one); every chunk the first
                               ``created``
no ``message.refusal``,        ``null`` (the schema requires both on non-streaming choices)
no ``logprobs``
``finish_reason``              ``stop length tool_calls content_filter function_call`` kept;
                               ``eos end_turn stop_sequence`` → ``stop``, ``max_tokens`` →
                               ``length``, ``tool_call``/``tool_use`` → ``tool_calls``, other
                               values → ``stop``; ``null`` stays ``null`` in chunks and is
                               ``stop`` on a finished answer; legacy completions have no
                               ``tool_calls``/``function_call`` (→ ``stop``)
tool calls                     missing ``type`` → ``function``, missing ``id`` → a new one,
                               stream fragments without ``index`` → their position;
                               ``null`` ids, names, types and ``tool_calls: null`` dropped
``system_fingerprint: null``,  dropped (the schema allows a string or nothing; Groq answers
unknown ``service_tier``       ``on_demand``)
usage                          kept; ``total_tokens`` filled; ``*_details: null`` dropped; a
                               usage without integer ``prompt_tokens`` dropped (``usage:
                               null`` stays on chat chunks, as OpenAI sends it); Groq's
                               ``x_groq.usage`` used when ``usage`` is absent
embeddings without usage       a local estimate (characters / 4), marked ``estimated``
=============================  ==========================================================

Unknown extra fields (``reasoning_content``, ``provider``, ``obfuscation``, …) pass through.

Model lists (``GET /models``): plain OpenAI gives only ids; OpenRouter adds ``context_length``
(also under ``top_provider``) and ``pricing.prompt``/``completion`` in dollars per token as
strings (→ per million; ``-1`` means variable: unknown), ``architecture.input_modalities``
(``image`` → vision) and ``supported_parameters`` (``tools``, ``response_format`` /
``structured_outputs`` → json); vLLM adds ``max_model_len``; Together answers a bare array with
``context_length`` and ``pricing.input``/``output`` already per million. A model whose id says
``embed`` is an embeddings model; otherwise capabilities stay unknown (``None``).
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from localrouter.compiler.catalog import DiscoveredModel
from localrouter.errors import UpstreamProtocolError
from localrouter.providers.shapes import new_id, now

Json = dict[str, Any]

FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "function_call",
    "eos": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_call": "tool_calls",
    "tool_use": "tool_calls",
}
TEXT_FINISH = frozenset({"stop", "length", "content_filter"})
SERVICE_TIERS = frozenset({"auto", "default", "flex", "scale", "priority", "fast"})


def finish_reason(value: object, *, legacy: bool = False) -> str | None:
    if value is None:
        return None
    mapped = FINISH.get(value, "stop") if isinstance(value, str) else "stop"
    return mapped if not legacy or mapped in TEXT_FINISH else "stop"


def usage(raw: object) -> Json | None:
    """OpenAI's usage object, or None when there is nothing trustworthy in ``raw``."""
    if not isinstance(raw, dict) or not isinstance(raw.get("prompt_tokens"), int):
        return None
    out = {k: v for k, v in raw.items() if v is not None}
    completion = out.get("completion_tokens")
    out["completion_tokens"] = completion if isinstance(completion, int) else 0
    if not isinstance(out.get("total_tokens"), int):
        out["total_tokens"] = out["prompt_tokens"] + out["completion_tokens"]
    for key in ("prompt_tokens_details", "completion_tokens_details"):
        if key in out and not isinstance(out[key], dict):
            del out[key]
    return out


def _top(doc: Json, obj: str, model: str) -> None:
    """Fill the fields every OpenAI object carries; drop the nulls the schema refuses."""
    doc["object"] = obj
    if not isinstance(doc.get("created"), int) or isinstance(doc.get("created"), bool):
        doc["created"] = now()
    if not isinstance(doc.get("model"), str):
        doc["model"] = model
    if not isinstance(doc.get("system_fingerprint", ""), str):
        del doc["system_fingerprint"]
    tier = doc.get("service_tier")
    if "service_tier" in doc and tier is not None and tier not in SERVICE_TIERS:
        del doc["service_tier"]
    if "usage" not in doc and isinstance(doc.get("x_groq"), dict):
        found = usage(doc["x_groq"].get("usage"))
        if found is not None:
            doc["usage"] = found


def _choices(doc: Json, provider: str) -> list[Json]:
    choices = doc.get("choices")
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise UpstreamProtocolError(f"{provider} sent choices that are not a list of objects")
    for i, choice in enumerate(choices):
        if not isinstance(choice.get("index"), int):
            choice["index"] = i
    return choices


def _tool_calls(msg: Json, *, fragments: bool) -> None:
    calls = msg.get("tool_calls")
    if not isinstance(calls, list) or (not calls and not fragments):
        msg.pop("tool_calls", None)
        return
    kept = []
    for i, call in enumerate(c for c in calls if isinstance(c, dict)):
        for key in ("id", "type"):
            if call.get(key) is None:
                call.pop(key, None)
        fn = call.get("function")
        if isinstance(fn, dict):
            call["function"] = {k: v for k, v in fn.items() if v is not None}
        if fragments:
            if not isinstance(call.get("index"), int):
                call["index"] = i
        else:
            call.setdefault("type", "function")
            call.setdefault("id", new_id("call"))
            if isinstance(fn, dict):
                call["function"].setdefault("arguments", "")
        kept.append(call)
    msg["tool_calls"] = kept


def chat_completion(doc: Json, model: str, provider: str) -> Json:
    """A ``chat.completion``, checked (``id`` and ``choices`` are required) and filled."""
    if not isinstance(doc.get("id"), str) or not isinstance(doc.get("choices"), list):
        raise UpstreamProtocolError(f"{provider} answered without a chat completion")
    _top(doc, "chat.completion", model)
    for choice in _choices(doc, provider):
        msg = choice.get("message")
        if not isinstance(msg, dict):
            raise UpstreamProtocolError(f"{provider} sent a choice without a message")
        msg["role"] = "assistant"
        msg.setdefault("content", None)
        msg.setdefault("refusal", None)
        if msg.get("function_call") is None:
            msg.pop("function_call", None)
        _tool_calls(msg, fragments=False)
        choice.setdefault("logprobs", None)
        choice["finish_reason"] = finish_reason(choice.get("finish_reason")) or "stop"
    _usage_in_place(doc, keep_null=False)
    return doc


def text_completion(doc: Json, model: str, provider: str) -> Json:
    """A ``text_completion``, checked and filled like a chat completion."""
    if not isinstance(doc.get("choices"), list):
        raise UpstreamProtocolError(f"{provider} answered without a text completion")
    if not isinstance(doc.get("id"), str):
        doc["id"] = new_id("cmpl")
    _top(doc, "text_completion", model)
    for choice in _choices(doc, provider):
        if not isinstance(choice.get("text"), str):
            choice["text"] = ""
        choice.setdefault("logprobs", None)
        choice["finish_reason"] = finish_reason(choice.get("finish_reason"), legacy=True) or "stop"
    _usage_in_place(doc, keep_null=False)
    return doc


def _usage_in_place(doc: Json, *, keep_null: bool) -> None:
    if "usage" not in doc:
        return
    found = usage(doc["usage"])
    if found is not None:
        doc["usage"] = found
    elif keep_null and doc["usage"] is None:
        pass  # OpenAI's own mid-stream chunks carry usage: null when include_usage is on
    else:
        del doc["usage"]


class Chunks:
    """Fills stream chunks: the same ``id`` and ``created`` on every chunk of one stream."""

    def __init__(self, model: str, provider: str, *, legacy: bool = False) -> None:
        self.model = model
        self.provider = provider
        self.legacy = legacy
        self.id: str | None = None
        self.created: int | None = None
        self.finished = False  # some choice carried a finish_reason

    def fix(self, doc: Json) -> Json:
        if isinstance(doc.get("id"), str) and doc["id"]:
            self.id = self.id or doc["id"]
        else:
            self.id = self.id or new_id("cmpl" if self.legacy else "chatcmpl")
            doc["id"] = self.id
        if isinstance(doc.get("created"), int) and not isinstance(doc["created"], bool):
            self.created = self.created or doc["created"]
        else:
            self.created = self.created or now()
            doc["created"] = self.created
        _top(doc, "text_completion" if self.legacy else "chat.completion.chunk", self.model)
        if doc.get("choices") is None:
            doc["choices"] = []
        for choice in _choices(doc, self.provider):
            reason = finish_reason(choice.get("finish_reason"), legacy=self.legacy)
            choice["finish_reason"] = reason
            self.finished = self.finished or reason is not None
            if self.legacy:
                if not isinstance(choice.get("text"), str):
                    choice["text"] = ""
                choice.setdefault("logprobs", None)
                continue
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                delta = choice["delta"] = {}
            for key in ("role", "function_call"):
                if delta.get(key) is None:
                    delta.pop(key, None)
            _tool_calls(delta, fragments=True)
        _usage_in_place(doc, keep_null=not self.legacy)
        return doc


def embedding_list(doc: Json, model: str, provider: str, inputs: object) -> Json:
    """An embedding ``list`` with float vectors (base64 answers decoded)."""
    data = doc.get("data")
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise UpstreamProtocolError(f"{provider} answered without embeddings")
    doc["object"] = "list"
    if not isinstance(doc.get("model"), str):
        doc["model"] = model
    for i, item in enumerate(data):
        item["object"] = "embedding"
        if not isinstance(item.get("index"), int):
            item["index"] = i
        vector = item.get("embedding")
        if isinstance(vector, str):
            try:
                raw = base64.b64decode(vector)
                item["embedding"] = list(struct.unpack(f"<{len(raw) // 4}f", raw))
            except (ValueError, struct.error):
                raise UpstreamProtocolError(f"{provider} sent an undecodable embedding") from None
        elif not isinstance(vector, list):
            raise UpstreamProtocolError(f"{provider} sent an embedding that is not a vector")
    found = doc.get("usage")
    if isinstance(found, dict) and isinstance(found.get("prompt_tokens"), int):
        if not isinstance(found.get("total_tokens"), int):
            found["total_tokens"] = found["prompt_tokens"]
    else:
        tokens = _estimate(inputs)
        doc["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens, "estimated": True}
    return doc


def _estimate(inputs: object) -> int:
    if isinstance(inputs, str):
        return (len(inputs) + 3) // 4
    if isinstance(inputs, list):
        if all(isinstance(i, int) for i in inputs):
            return len(inputs)  # already tokens
        return sum(_estimate(i) for i in inputs)
    return 0


# ---------------------------------------------------------------- model list


def _per_million(value: object, per_token: bool) -> float | None:
    try:
        number = float(value) if isinstance(value, str | int | float) else None
    except ValueError:
        return None
    if number is None or number < 0 or isinstance(value, bool):
        return None
    return round(number * 1_000_000, 6) if per_token else number


def _positive_int(*values: object) -> int | None:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _capabilities(entry: Json, name: str) -> tuple[str, ...] | None:
    if "embed" in name.lower():
        return ("embeddings",)
    arch, params = entry.get("architecture"), entry.get("supported_parameters")
    if not isinstance(arch, dict) and not isinstance(params, list):
        return None
    caps = ["chat", "completions"]
    params = params if isinstance(params, list) else []
    if "tools" in params:
        caps.append("tools")
    modalities = arch.get("input_modalities") if isinstance(arch, dict) else None
    if isinstance(modalities, list) and "image" in modalities:
        caps.append("vision")
    if "response_format" in params or "structured_outputs" in params:
        caps.append("json")
    return tuple(caps)


def discovered(entry: Json) -> DiscoveredModel | None:
    """One entry of ``GET /models`` → a catalog entry (None without an id)."""
    name = entry.get("id")
    if not isinstance(name, str) or not name:
        return None
    top = entry.get("top_provider")
    window = _positive_int(
        entry.get("context_length"),
        top.get("context_length") if isinstance(top, dict) else None,
        entry.get("max_model_len"),
    )
    pricing = entry.get("pricing")
    prices: tuple[float | None, float | None] = (None, None)
    if isinstance(pricing, dict):
        if "prompt" in pricing or "completion" in pricing:  # OpenRouter: dollars per token
            prices = (
                _per_million(pricing.get("prompt"), True),
                _per_million(pricing.get("completion"), True),
            )
        else:  # Together: dollars per million
            prices = (
                _per_million(pricing.get("input"), False),
                _per_million(pricing.get("output"), False),
            )
    return DiscoveredModel(
        name=name,
        context_window=window,
        input_per_mtok=prices[0],
        output_per_mtok=prices[1],
        capabilities=_capabilities(entry, name),
    )


def model_entries(doc: object, provider: str) -> list[Json]:
    """The entries of a model list: ``{"data": [...]}`` or a bare array."""
    entries = doc.get("data") if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise UpstreamProtocolError(f"{provider} sent a model list without data")
    return [e for e in entries if isinstance(e, dict)]
