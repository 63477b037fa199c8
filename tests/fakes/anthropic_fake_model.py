"""The fake Anthropic model behind :mod:`tests.fakes.anthropic_fake`: what it says.

``answer`` builds the deterministic ``message``, ``events`` the SSE events that deliver it, in the
documented order, ``prompt_usage`` counts a prompt's tokens and what its cache markers read from
or write to the fake's prompt cache; thinking blocks are signed (``sign``) and the signatures in
a request's history checked (``check_signatures``) with the state's own key. What it accepts is
:mod:`tests.fakes.anthropic_fake_checks`; the rules are listed in ``anthropic_fake``'s docstring.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from typing import Any

from tests.fakes.anthropic_fake_checks import Invalid, as_blocks, thinking_on

Json = dict[str, Any]
IMAGE_TOKENS = 100
# Anthropic's documented test prompt: with thinking on, the answer has a redacted_thinking block
REDACT_TRIGGER = (
    "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7"
    "398A98432ECCCE4C1253D5E2D82641AC0E52CC2876CB"
)


def default_models() -> list[Json]:
    def model(id: str, name: str, created: str, window: int, out: int, life: str) -> Json:
        yes, no = {"supported": True}, {"supported": False}
        return {
            "type": "model",
            "id": id,
            "display_name": name,
            "created_at": created,
            "max_input_tokens": window,
            "max_tokens": out,
            "lifecycle": life,
            "capabilities": {"image_input": yes, "structured_outputs": yes if out > 8192 else no},
        }

    table = [  # newest first, as the API lists them
        ("claude-sonnet-5-5", "Claude Sonnet 5.5", "2026-09-15", 128000, "active"),
        ("claude-sonnet-4-6", "Claude Sonnet 4.6", "2026-02-17", 64000, "active"),
        ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01", 64000, "active"),
        ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29", 64000, "deprecated"),
        ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22", 8192, "retired"),
    ]
    return [model(i, n, f"{d}T00:00:00Z", 200000, out, life) for i, n, d, out, life in table]


# ---------------------------------------------------------------- signatures


def sign(key: bytes, text: str) -> str:
    """The signature of a thinking block's text (or a redacted block's ``data``), base64 like
    the API's opaque signatures; only the holder of ``key`` can make or check it."""
    mac = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return base64.b64encode(b"\x12\x08fake" + mac).decode()


def redacted_data(key: bytes) -> str:
    """An opaque ``redacted_thinking`` payload: a random body and its signature."""
    body = base64.b64encode(secrets.token_bytes(24)).decode()
    return f"{body}.{sign(key, body)}"


def _signed(key: bytes, block: Json, where: str) -> None:
    if block["type"] == "thinking":
        if not isinstance(block.get("thinking"), str):
            raise Invalid(f"{where}.thinking.thinking: Field required")
        if not isinstance(block.get("signature"), str):
            raise Invalid(f"{where}.thinking.signature: Field required")
        wanted = sign(key, block["thinking"]).encode()
        if not hmac.compare_digest(block["signature"].encode(), wanted):
            raise Invalid(f"{where}: Invalid `signature` in `thinking` block")
        return
    data = block.get("data")
    if not isinstance(data, str):
        raise Invalid(f"{where}.redacted_thinking.data: Field required")
    body, _, mac = data.partition(".")
    if not hmac.compare_digest(mac.encode(), sign(key, body).encode()):
        raise Invalid(f"{where}: Invalid `data` in `redacted_thinking` block")


def check_signatures(body: Json, key: bytes) -> None:
    """Every thinking and redacted thinking block in the history must be one this fake (this
    ``key``) sent, unchanged: the API checks them even when ``thinking`` is off."""
    for i, msg in enumerate(body["messages"]):
        for j, block in enumerate(as_blocks(msg.get("content"))):
            if block.get("type") in ("thinking", "redacted_thinking"):
                _signed(key, block, f"messages.{i}.content.{j}")


# ---------------------------------------------------------------- tokens and the prompt cache


def _words(text: str) -> int:
    return len(text.split())


def _tokens(block: Json) -> int:
    kind = block.get("type")
    if kind == "text":
        return _words(block["text"])
    if kind in ("image", "document"):
        return IMAGE_TOKENS
    if kind == "tool_use":
        return 1 + _words(json.dumps(block["input"]))
    if kind == "tool_result":
        return sum(_words(b.get("text", "")) for b in as_blocks(block.get("content") or ""))
    if kind is None or kind == "custom" or "input_schema" in block:  # a tool
        return _words(json.dumps({k: v for k, v in block.items() if k != "cache_control"}))
    return 0  # thinking from earlier turns is not part of the prompt


def _prompt(body: Json) -> list[Json]:
    """The prompt's blocks in the order the cache reads them: tools, system, messages."""
    system = body.get("system")
    out = [*(body.get("tools") or []), *as_blocks(system)]
    for msg in body["messages"]:
        out += as_blocks(msg["content"])
    return out


def input_tokens(body: Json) -> int:
    return max(sum(_tokens(b) for b in _prompt(body)), 1)


def prompt_usage(body: Json, cache: set[str]) -> Json:
    """The prompt's part of ``usage``. With cache markers, the prefix up to the last marker is
    read from ``cache`` from its longest prefix ending at a marker the cache holds (reported as
    ``cache_read_input_tokens``) and the rest of it written (``cache_creation_input_tokens``,
    split by each marker's ttl); only the tokens after the last marker are ``input_tokens``."""
    parts = _prompt(body)
    total, read, written = 0, 0, {"5m": 0, "1h": 0}
    ends: list[tuple[int, str, str]] = []  # (tokens so far, prefix key, ttl) at each marker
    digest = hashlib.sha256(body["model"].encode())
    for n, block in enumerate(parts, 1):
        total += _tokens(block)
        plain = {k: v for k, v in block.items() if k != "cache_control"}
        digest.update(json.dumps(plain, sort_keys=True).encode())
        marker = block.get("cache_control")
        if n == len(parts) and marker is None:  # a top-level marker: on the last block
            marker = body.get("cache_control")
        if isinstance(marker, dict):
            ends.append((total, digest.hexdigest(), str(marker.get("ttl", "5m"))))
    done = 0
    for upto, key, _ttl in ends:
        if key in cache:
            read = done = upto
    for upto, key, ttl in ends:
        if upto > done:
            written[ttl] += upto - done
            done = upto
        cache.add(key)
    return {
        "input_tokens": max(total - read - sum(written.values()), 0 if ends else 1),
        "cache_creation_input_tokens": sum(written.values()),
        "cache_read_input_tokens": read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": written["5m"],
            "ephemeral_1h_input_tokens": written["1h"],
        },
    }


# ---------------------------------------------------------------- answers


def _last_user_text(body: Json) -> str:
    last = [m for m in body["messages"] if m["role"] != "system"][-1]
    blocks = as_blocks(last["content"])
    if last["role"] == "assistant":
        return "continued"
    texts = [b["text"] for b in blocks if b.get("type") == "text"]
    if texts:
        return " ".join(texts)
    said = [
        b.get("text", "")
        for r in blocks
        if r.get("type") == "tool_result"
        for b in as_blocks(r.get("content") or "")
    ]
    return "tool said: " + " ".join(said)


def _tool_calls(body: Json, text: str) -> list[Json]:
    tools = [t["name"] for t in body.get("tools") or []]
    choice = body.get("tool_choice") or {"type": "auto"}
    if not tools or choice["type"] == "none":
        return []
    calls = []
    for line in text.splitlines():
        if line.startswith("call "):
            name, _, raw = line[5:].strip().partition(" ")
            calls.append({"name": name, "input": json.loads(raw) if raw.strip() else {}})
    if not calls and choice["type"] in ("any", "tool"):
        calls.append({"name": choice.get("name") or tools[0], "input": {}})
    if choice.get("disable_parallel_tool_use"):
        calls = calls[:1]
    return [
        {"type": "tool_use", "id": f"toolu_01{secrets.token_hex(10)}", **call} for call in calls
    ]


def answer(body: Json, prompt: Json, key: bytes) -> Json:
    """The ``message`` object the real API would send for this (valid) request: ``prompt`` is
    the prompt's part of its usage (:func:`prompt_usage`), ``key`` signs its thinking."""
    text = _last_user_text(body)
    content: list[Json] = []
    if thinking_on(body):
        if REDACT_TRIGGER in text:
            content.append({"type": "redacted_thinking", "data": redacted_data(key)})
        thought = f"Thinking about: {text}"
        content.append({"type": "thinking", "thinking": thought, "signature": sign(key, thought)})
    stop_reason, stop_sequence = "end_turn", None
    calls = _tool_calls(body, text)
    if text.startswith("refuse"):
        stop_reason = "refusal"
    elif calls:
        names = ", ".join(c["name"] for c in calls)
        content += [{"type": "text", "text": f"Calling {names}."}, *calls]
        stop_reason = "tool_use"
    else:
        for stop in body.get("stop_sequences") or []:
            if stop in text:
                text, stop_reason, stop_sequence = text[: text.index(stop)], "stop_sequence", stop
                break
        words = text.split(" ")
        if len(text.split()) > body["max_tokens"]:
            text, stop_reason = " ".join(words[: body["max_tokens"]]), "max_tokens"
        content.append({"type": "text", "text": text or "(empty)"})
    output = sum(
        _words(b.get("text", "") + b.get("thinking", ""))
        + (1 + _words(json.dumps(b["input"])) if b["type"] == "tool_use" else 0)
        for b in content
    )
    return {
        "id": f"msg_01{secrets.token_hex(11)}",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": {
            **prompt,
            "output_tokens": max(output, 1),
            "service_tier": "standard",
        },
    }


def events(message: Json) -> list[tuple[str, Json]]:
    """The stream events that deliver ``message``, in the documented order."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    out: list[tuple[str, Json]] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message["content"]):
        kind = block["type"]
        opening = {
            "text": {"type": "text", "text": ""},
            "thinking": {"type": "thinking", "thinking": "", "signature": ""},
            "redacted_thinking": block,  # whole, with no deltas
        }.get(kind, {**block, "input": {}})
        out.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opening},
            )
        )
        if index == 0:
            out.append(("ping", {"type": "ping"}))
        if kind == "text":
            deltas = [
                {"type": "text_delta", "text": w} for w in re.findall(r"\S+\s*|\s+", block["text"])
            ]
        elif kind == "thinking":
            deltas = [
                {"type": "thinking_delta", "thinking": w}
                for w in re.findall(r"\S+\s*", block["thinking"])
            ]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "redacted_thinking":
            deltas = []
        else:
            raw = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
            deltas += [
                {"type": "input_json_delta", "partial_json": raw[i : i + 8]}
                for i in range(0, len(raw), 8)
            ]
        for delta in deltas:
            out.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        out.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    final = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    out.append(
        ("message_delta", {"type": "message_delta", "delta": final, "usage": message["usage"]})
    )
    out.append(("message_stop", {"type": "message_stop"}))
    return out


def encode(event: str, data: Json | str, crlf: bool) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    text = f"event: {event}\ndata: {payload}\n\n"
    return (text.replace("\n", "\r\n") if crlf else text).encode()
