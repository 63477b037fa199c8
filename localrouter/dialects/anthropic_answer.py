"""A ``chat.completion`` (what every adapter returns) → an Anthropic ``message`` object, and the
``count_tokens`` answer.

    message.content (text, or text parts)   → a text block (none when empty)
    message.reasoning_content / reasoning   → a thinking block first, with ``signature: ""``
                                              (Anthropic's schema requires the field; only
                                              Anthropic can sign, and an empty signature says
                                              honestly that nobody did)
    message.refusal (no other text)         → a text block, and stop_reason ``refusal``
    message.tool_calls                      → tool_use blocks {id, name, input: the arguments
                                              parsed; not a JSON object → {}}
    finish_reason stop / length / tool_calls / content_filter
                                            → end_turn / max_tokens / tool_use / refusal;
                                              tool_use whenever there are tool calls; a stop on
                                              a stop sequence the provider names (vLLM's
                                              ``stop_reason``, SGLang's ``matched_stop``) →
                                              stop_sequence with ``stop_sequence`` set
    usage prompt_tokens / completion_tokens → input_tokens (without cached tokens) /
                                              output_tokens; prompt_tokens_details.cached_tokens
                                              → cache_read_input_tokens
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from localrouter.routing.facts_anthropic import estimate_input_tokens

__all__ = [
    "count_tokens_answer",
    "estimate_input_tokens",
    "message_from_chat",
    "stop_reason",
    "usage_from_chat",
]

Json = dict[str, Any]

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def _int(value: object) -> int:
    return value if type(value) is int and value >= 0 else 0


def stop_reason(finish_reason: object, *, tool_calls: bool) -> str:
    """Anthropic's ``stop_reason`` for an OpenAI ``finish_reason`` (unknown or absent: end_turn)."""
    reason = (
        STOP_REASONS.get(finish_reason, "end_turn")
        if isinstance(finish_reason, str)
        else "end_turn"
    )
    return "tool_use" if tool_calls and reason == "end_turn" else reason


def matched_stop(choice: Mapping[str, Any], stop_sequences: Sequence[str] | None) -> str | None:
    """The stop sequence a provider says it stopped on, when it says so (and it was asked for)."""
    for key in ("stop_reason", "matched_stop"):
        value = choice.get(key)
        if isinstance(value, str) and value and (stop_sequences is None or value in stop_sequences):
            return value
    return None


def usage_from_chat(usage: object) -> Json:
    """OpenAI ``usage`` → Anthropic's (zeros when unknown)."""
    u = usage if isinstance(usage, dict) else {}
    prompt = _int(u.get("prompt_tokens"))
    details = u.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    out: Json = {"input_tokens": prompt, "output_tokens": _int(u.get("completion_tokens"))}
    if type(cached) is int and cached >= 0:
        out["input_tokens"] = max(prompt - cached, 0)
        out["cache_read_input_tokens"] = cached
    return out


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def tool_input(arguments: object) -> Json:
    """A tool call's arguments as a tool_use ``input``: a JSON object, else ``{}``."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str | bytes) or not arguments:
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _tool_use(call: object, n: int, message_id: str) -> Json | None:
    if not isinstance(call, dict):
        return None
    function = call.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        return None
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        call_id = f"toolu_{message_id.removeprefix('msg_')}_{n}"
    return {
        "type": "tool_use",
        "id": call_id,
        "name": function["name"],
        "input": tool_input(function.get("arguments")),
    }


def message_from_chat(
    result: Json,
    *,
    model: str,
    message_id: str,
    stop_sequences: Sequence[str] | None = None,
) -> Json:
    """An Anthropic ``message`` for a ``chat.completion`` (its first choice)."""
    choices = result.get("choices")
    choice = (
        choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    )
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    content: list[Json] = []
    thinking = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(thinking, str) and thinking:
        content.append({"type": "thinking", "thinking": thinking, "signature": ""})
    text = _text(message.get("content"))
    refusal = message.get("refusal")
    refused = not text and isinstance(refusal, str) and bool(refusal)
    if text or refused:
        content.append({"type": "text", "text": text or str(refusal)})
    calls = message.get("tool_calls")
    for n, call in enumerate(calls if isinstance(calls, list) else ()):
        block = _tool_use(call, n, message_id)
        if block is not None:
            content.append(block)
    has_calls = any(b["type"] == "tool_use" for b in content)
    reason = (
        "refusal" if refused else stop_reason(choice.get("finish_reason"), tool_calls=has_calls)
    )
    sequence = matched_stop(choice, stop_sequences) if reason == "end_turn" else None
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "stop_sequence" if sequence is not None else reason,
        "stop_sequence": sequence,
        "usage": usage_from_chat(result.get("usage")),
    }


def count_tokens_answer(input_tokens: int) -> Json:
    """``POST /v1/messages/count_tokens``' answer."""
    return {"input_tokens": input_tokens}
