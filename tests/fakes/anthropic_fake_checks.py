"""What the fake Anthropic API accepts (:mod:`tests.fakes.anthropic_fake`): a Messages API body
checked like the real API, raising :class:`Invalid` with the API's own messages.

Beyond the shape of a body (``validate``; the rules are listed in ``anthropic_fake``'s
docstring): ``cache_control`` markers (``{"type": "ephemeral", "ttl"?: "5m" | "1h"}``, at most 4
in a request), ``thinking`` (``enabled`` needs ``budget_tokens`` ≥ 1024 and below ``max_tokens``,
and then ``temperature`` may only be 1; with thinking on, the assistant turn a tool result answers
must start with a thinking block). Whether the history's thinking blocks carry signatures this
fake issued is ``anthropic_fake_model.check_signatures`` (it needs the state's key).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

Json = dict[str, Any]
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
    "cache_control", "diagnostics", "speed", "user_profile_id", "workspace_id",
}  # fmt: skip
# POST /v1/messages/count_tokens takes the prompt only
COUNT_FIELDS = {
    "model", "messages", "system", "tools", "tool_choice", "thinking", "output_config",
    "mcp_servers", "context_management", "cache_control", "speed", "user_profile_id",
    "workspace_id",
}  # fmt: skip
SAMPLING = {"temperature", "top_p", "top_k"}  # removed in anthropic-version 2026-10-21
MAX_CACHE_MARKERS = 4
THINKING_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


# ---------------------------------------------------------------- errors


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


# ---------------------------------------------------------------- blocks and messages


def _cache_control(block: Json, where: str) -> int:
    """1 when ``block`` carries a (valid) cache marker."""
    marker = block.get("cache_control")
    if marker is None:
        return 0
    at = f"{where}.cache_control" if where else "cache_control"
    if not isinstance(marker, dict) or marker.get("type") != "ephemeral":
        raise Invalid(f"{at}.type: Input should be 'ephemeral'")
    extra = sorted(set(marker) - {"type", "ttl"})
    if extra:
        raise Invalid(f"{at}.ephemeral.{extra[0]}: Extra inputs are not permitted")
    if "ttl" in marker and marker["ttl"] not in ("5m", "1h"):
        raise Invalid(f"{at}.ephemeral.ttl: Input should be '5m' or '1h'")
    return 1


def cache_markers(body: Json) -> int:
    """How many cache markers the request carries (each checked; a top-level ``cache_control``
    marks the prompt's last block); at most 4."""
    found = _cache_control(body, "")
    for i, tool in enumerate(body.get("tools") or []):
        found += _cache_control(tool, f"tools.{i}")
    system = body.get("system")
    for j, block in enumerate(system if isinstance(system, list) else []):
        found += _cache_control(block, f"system.{j}")
    for i, msg in enumerate(body["messages"]):
        for j, block in enumerate(as_blocks(msg.get("content"))):
            where = f"messages.{i}.content.{j}"
            found += _cache_control(block, where)
            if block.get("type") == "tool_result":
                for k, inner in enumerate(as_blocks(block.get("content") or "")):
                    found += _cache_control(inner, f"{where}.content.{k}")
    if found > MAX_CACHE_MARKERS:
        raise Invalid(
            f"A maximum of {MAX_CACHE_MARKERS} blocks with cache_control may be provided. "
            f"Found {found}."
        )
    return found


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


def as_blocks(content: object) -> list[Json]:
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
            for j, block in enumerate(as_blocks(msg.get("content"))):
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
        blocks = as_blocks(content)
        results = [b["tool_use_id"] for b in blocks if b.get("type") == "tool_result"]
        uses = [
            b["id"]
            for b in as_blocks(previous["content"] if previous else [])
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
        blocks = as_blocks(last["content"])
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


def thinking_on(body: Json) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _check_thinking(body: Json, count: bool) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in ("enabled", "disabled", "adaptive"):
        raise Invalid(
            "thinking: Input tag found using 'type' does not match any of the expected tags"
        )
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise Invalid("thinking.enabled.budget_tokens: Field required")
        if budget < 1024:
            raise Invalid(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
            )
        if not count and body["max_tokens"] <= budget:
            raise Invalid(
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
                f"documentation at {THINKING_DOCS}#max-tokens-and-context-window-size"
            )
    if kind == "disabled":
        return
    if body.get("temperature") not in (None, 1):
        raise Invalid(
            "`temperature` may only be set to 1 when thinking is enabled. Please consult our "
            f"documentation at {THINKING_DOCS}#feature-compatibility"
        )
    # the assistant turn the last tool results answer must start with its thinking
    turns = [m for m in body["messages"] if m.get("role") != "system"]
    last = as_blocks(turns[-1]["content"]) if turns else []
    if len(turns) < 2 or not any(b.get("type") == "tool_result" for b in last):
        return
    i = body["messages"].index(turns[-2])
    first = (as_blocks(turns[-2]["content"]) or [{}])[0].get("type")
    if first not in ("thinking", "redacted_thinking"):
        raise Invalid(
            f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but "
            f"found `{first}`. When `thinking` is enabled, a final `assistant` message must "
            "start with a thinking block (preceeding the lastmost set of `tool_use` and "
            "`tool_result` blocks). We recommend you include thinking blocks from previous "
            "turns. To avoid this requirement, disable `thinking`. Please consult our "
            f"documentation at {THINKING_DOCS}"
        )


def validate(
    body: object, models: list[Json], version: str = "2023-06-01", *, count: bool = False
) -> None:
    """Raise :class:`Invalid` as the API would for this body under this ``anthropic-version``
    (``count``: a ``POST /v1/messages/count_tokens`` body, which has no ``max_tokens``)."""
    if not isinstance(body, dict):
        raise Invalid("There was an issue with the JSON body of your request: not an object")
    for name in ("model", "messages") if count else ("model", "messages", "max_tokens"):
        if name not in body:
            raise Invalid(f"{name}: Field required")
    allowed = COUNT_FIELDS if count else BODY_FIELDS
    allowed = allowed - SAMPLING if version >= "2026-10-21" else allowed
    extra = sorted(set(body) - allowed)
    if extra:
        raise Invalid(f"{extra[0]}: Extra inputs are not permitted")
    limit = body.get("max_tokens", 1)
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
    cache_markers(body)
    _check_thinking(body, count)
    if not any(m["id"] == body["model"] and m["lifecycle"] != "retired" for m in models):
        raise Invalid(f"model: {body['model']}", status=404)
