"""The fake Anthropic model behind :mod:`tests.fakes.anthropic_fake`: what it accepts, what it says.

``validate`` checks a Messages API body like the real API (raising :class:`Invalid` with the
API's own messages), ``answer`` builds the deterministic ``message``, ``events`` the SSE events
that deliver it, in the documented order (the rules are listed in ``anthropic_fake``'s docstring).
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

Json = dict[str, Any]
IMAGE_TOKENS = 100
MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
BODY_FIELDS = {
    "model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream",
    "temperature", "top_p", "top_k", "tools", "tool_choice", "thinking", "service_tier",
    "output_config", "container", "mcp_servers", "context_management", "inference_geo",
}  # fmt: skip
SAMPLING = {"temperature", "top_p", "top_k"}  # removed in anthropic-version 2026-10-21
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


# ---------------------------------------------------------------- errors and validation


class Invalid(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def error_body(status: int, message: str, kind: str | None = None) -> Json:
    return {
        "type": "error",
        "error": {"type": kind or ERROR_TYPES.get(status, "api_error"), "message": message},
        "request_id": f"req_{secrets.token_hex(12)}",
    }


def _text_block(block: Json, where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise Invalid(f"{where}.text: Field required")
    if not text:
        raise Invalid("messages: text content blocks must be non-empty")
    return text


def _check_block(block: object, where: str, role: str) -> None:
    if not isinstance(block, dict):
        raise Invalid(f"{where}: Input should be a valid dictionary or object")
    kind = block.get("type")
    if kind == "text":
        _text_block(block, where)
    elif kind == "image" and role == "user":
        source = block.get("source")
        if not isinstance(source, dict):
            raise Invalid(f"{where}.source: Field required")
        if source.get("type") == "base64":
            if source.get("media_type") not in MEDIA_TYPES:
                raise Invalid(f"{where}.source.base64.media_type: Input should be {MEDIA_TYPES}")
            if not isinstance(source.get("data"), str) or not source["data"]:
                raise Invalid(f"{where}.source.base64.data: Field required")
        elif source.get("type") == "url":
            if not str(source.get("url", "")).startswith(("http://", "https://")):
                raise Invalid(f"{where}.source.url.url: Invalid URL")
        else:
            raise Invalid(f"{where}.source: Input tag {source.get('type')!r} is not valid")
    elif kind == "document" and role == "user":
        if not isinstance(block.get("source"), dict):
            raise Invalid(f"{where}.source: Field required")
    elif kind == "tool_use" and role == "assistant":
        if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
            raise Invalid(f"{where}: tool_use blocks need id and name")
        if not isinstance(block.get("input"), dict):
            raise Invalid(f"{where}.input: Input should be a valid dictionary")
    elif kind == "tool_result" and role == "user":
        if not isinstance(block.get("tool_use_id"), str):
            raise Invalid(f"{where}.tool_use_id: Field required")
        content = block.get("content")
        if isinstance(content, list):
            for j, inner in enumerate(content):
                _check_block(inner, f"{where}.content.{j}", "user")
        elif content is not None and not isinstance(content, str):
            raise Invalid(f"{where}.content: Input should be a valid string or list")
    elif kind in ("thinking", "redacted_thinking") and role == "assistant":
        pass
    else:
        raise Invalid(f"{where}: Input tag {kind!r} found using 'type' does not match")


def _blocks(content: object) -> list[Json]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content) if isinstance(content, list) else []


def _check_messages(messages: object, version: str) -> None:
    if not isinstance(messages, list):
        raise Invalid("messages: Input should be a valid list")
    if not messages:
        raise Invalid("messages: at least one message is required")
    previous: Json | None = None
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise Invalid(f"messages.{i}: Input should be a valid dictionary")
        role = msg.get("role")
        if role == "system" and version >= "2026-10-21":  # system turns, in place, since then
            for j, block in enumerate(_blocks(msg.get("content"))):
                if block.get("type") != "text":
                    raise Invalid(f"messages.{i}.content.{j}: system messages take text blocks")
                _text_block(block, f"messages.{i}.content.{j}")
            continue
        if role == "system":
            raise Invalid(
                'messages: Unexpected role "system". The Messages API accepts a top-level '
                '`system` parameter, not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            raise Invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = msg.get("content")
        if isinstance(content, str):
            if not content and not (i == len(messages) - 1 and role == "assistant"):
                raise Invalid("messages: text content blocks must be non-empty")
        elif isinstance(content, list):
            if not content:
                raise Invalid(f"messages.{i}: all messages must have non-empty content")
            for j, block in enumerate(content):
                _check_block(block, f"messages.{i}.content.{j}", role)
        else:
            raise Invalid(f"messages.{i}.content: Field required")
        if previous is not None and previous["role"] == role:
            raise Invalid(
                f'messages: roles must alternate between "user" and "assistant", '
                f'but found multiple "{role}" roles in a row'
            )
        blocks = _blocks(content)
        results = [b["tool_use_id"] for b in blocks if b.get("type") == "tool_result"]
        uses = [
            b["id"]
            for b in _blocks(previous["content"] if previous else [])
            if b.get("type") == "tool_use"
        ]
        for j, used in enumerate(results):
            if used not in uses:
                raise Invalid(
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                    f"blocks: {used}. Each `tool_result` block must have a corresponding "
                    "`tool_use` block in the previous message."
                )
        missing = [u for u in uses if u not in results]
        if missing:
            raise Invalid(
                f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
        first_other = next(
            (k for k, b in enumerate(blocks) if b.get("type") != "tool_result"), None
        )
        if results and first_other is not None and first_other < len(results):
            raise Invalid(f"messages.{i}: tool_result blocks must come first in the content")
        previous = msg
    last = messages[-1]
    if last["role"] == "assistant":
        blocks = _blocks(last["content"])
        if (
            blocks
            and blocks[-1].get("type") == "text"
            and blocks[-1]["text"] != blocks[-1]["text"].rstrip()
        ):
            raise Invalid("messages: final assistant content cannot end with trailing whitespace")


def _check_tools(body: Json) -> None:
    tools = body.get("tools")
    names: list[str] = []
    if tools is not None:
        if not isinstance(tools, list):
            raise Invalid("tools: Input should be a valid list")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                raise Invalid(f"tools.{i}.name: Field required")
            if not _TOOL_NAME.match(tool["name"]):
                raise Invalid(
                    f"tools.{i}.custom.name: String should match pattern '{_TOOL_NAME.pattern}'"
                )
            schema = tool.get("input_schema")
            if not isinstance(schema, dict):
                raise Invalid(f"tools.{i}.custom.input_schema: Field required")
            if schema.get("type") != "object":
                raise Invalid(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
            extra = set(tool) - {
                "name",
                "description",
                "input_schema",
                "strict",
                "cache_control",
                "type",
            }
            if extra:
                raise Invalid(
                    f"tools.{i}.custom.{sorted(extra)[0]}: Extra inputs are not permitted"
                )
            names.append(tool["name"])
    choice = body.get("tool_choice")
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        raise Invalid(
            "tool_choice: Input tag found using 'type' does not match any of the expected tags"
        )
    if not names:
        raise Invalid("tool_choice: tool_choice may only be specified while providing tools.")
    if choice["type"] == "tool" and choice.get("name") not in names:
        raise Invalid(f"tool_choice: Tool '{choice.get('name')}' not found in the provided tools")


def validate(body: object, models: list[Json], version: str = "2023-06-01") -> None:
    """Raise :class:`Invalid` as the API would for this body under this ``anthropic-version``."""
    if not isinstance(body, dict):
        raise Invalid("There was an issue with the JSON body of your request: not an object")
    for name in ("model", "messages", "max_tokens"):
        if name not in body:
            raise Invalid(f"{name}: Field required")
    allowed = BODY_FIELDS - SAMPLING if version >= "2026-10-21" else BODY_FIELDS
    extra = sorted(set(body) - allowed)
    if extra:
        raise Invalid(f"{extra[0]}: Extra inputs are not permitted")
    limit = body["max_tokens"]
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise Invalid("max_tokens: Input should be a valid integer")
    if limit < 1:
        raise Invalid("max_tokens: Input should be greater than or equal to 1")
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int | float) or not 0 <= value <= 1):
            raise Invalid(f"{name}: Input should be less than or equal to 1")
    stops = body.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)
    ):
        raise Invalid("stop_sequences: Input should be a valid list of strings")
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        for j, block in enumerate(system if isinstance(system, list) else [None]):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise Invalid(f"system.{j}: Input should be a text block")
            _text_block(block, f"system.{j}")
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise Invalid("metadata: Input should be a valid dictionary")
        for key in sorted(set(metadata) - {"user_id"}):
            raise Invalid(f"metadata.{key}: Extra inputs are not permitted")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise Invalid("stream: Input should be a valid boolean")
    _check_messages(body["messages"], version)
    if all(m.get("role") == "system" for m in body["messages"]):
        raise Invalid("messages: at least one user or assistant message is required")
    _check_tools(body)
    if not any(m["id"] == body["model"] and m["lifecycle"] != "retired" for m in models):
        raise Invalid(f"model: {body['model']}", status=404)


# ---------------------------------------------------------------- answers


def _words(text: str) -> int:
    return len(text.split())


def input_tokens(body: Json) -> int:
    total = 0
    system = body.get("system")
    for block in _blocks(system):
        total += _words(block.get("text", ""))
    for msg in body["messages"]:
        for block in _blocks(msg["content"]):
            kind = block.get("type")
            if kind == "text":
                total += _words(block["text"])
            elif kind in ("image", "document"):
                total += IMAGE_TOKENS
            elif kind == "tool_use":
                total += 1 + _words(json.dumps(block["input"]))
            elif kind == "tool_result":
                total += sum(_words(b.get("text", "")) for b in _blocks(block.get("content") or ""))
    for tool in body.get("tools") or []:
        total += _words(json.dumps(tool))
    return max(total, 1)


def _last_user_text(body: Json) -> str:
    last = [m for m in body["messages"] if m["role"] != "system"][-1]
    blocks = _blocks(last["content"])
    if last["role"] == "assistant":
        return "continued"
    texts = [b["text"] for b in blocks if b.get("type") == "text"]
    if texts:
        return " ".join(texts)
    said = [
        b.get("text", "")
        for r in blocks
        if r.get("type") == "tool_result"
        for b in _blocks(r.get("content") or "")
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


def answer(body: Json, cache_read: int = 0, cache_creation: int = 0) -> Json:
    """The ``message`` object the real API would send for this (valid) request."""
    text = _last_user_text(body)
    content: list[Json] = []
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        content.append(
            {"type": "thinking", "thinking": f"Thinking about: {text}", "signature": "sig_fake"}
        )
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
            "input_tokens": input_tokens(body),
            "cache_creation_input_tokens": cache_creation,
            "cache_read_input_tokens": cache_read,
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
