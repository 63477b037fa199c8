"""Validation of an Anthropic Messages request (``POST /v1/messages`` and ``count_tokens``).

:func:`check` returns the first problem as ``(message, param)`` — a ``400
invalid_request_error`` in Anthropic's envelope — or None; it never changes the body. It checks
the types and ranges of every field the gateway reads, forwards or translates, as Anthropic's
API reference gives them (the list is in docs/anthropic.md); ``model`` is optional, absent
meaning ``auto`` as on every LocalRouter endpoint. Not checked: Anthropic's rules about meaning
(alternating roles, a ``tool_result`` for every ``tool_use``, non-empty text), which an
Anthropic provider answers itself; a block type not known here passes when its ``type`` looks
like a field name (new block types appear often).

Unknown top-level fields **pass** when their name looks like one of Anthropic's
(``[a-z][a-z0-9_]{0,63}``): Anthropic's API refuses unknown fields ("Extra inputs are not
permitted"), but clients such as Claude Code send new fields before anyone here knows them, and
the forwarding path must carry them to an Anthropic provider. Any other name is refused with
Anthropic's wording. A translation drops unknown fields and names them.

Bounds (the body is untrusted; the OpenAI validation has no list bounds to share, so the numbers
are chosen here): :data:`MAX_MESSAGES` is Anthropic's documented limit, the others far above
what a real client sends. Free-form JSON (tool inputs and schemas, ``metadata``, unknown fields
and blocks) may nest :data:`MAX_DEPTH` levels: one ``orjson.dumps`` of all of it, inside enough
wrapping lists that orjson's own limit (254 levels) falls at that depth, probes it at C speed —
and proves that whatever is forwarded can be serialised again.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from localrouter.dialects.anthropic_check_types import (
    Fail,
    Path,
    Problem,
    an_object,
    array,
    boolean,
    integer,
    number,
    one_of,
    optional_string,
    param_of,
    shown,
    string,
    want,
)

MAX_MESSAGES = 100_000  # Anthropic's documented limit per request
MAX_BLOCKS = 10_000  # content blocks in one message, one tool_result, one system prompt
MAX_TOOLS = 1_000
MAX_STOP_SEQUENCES = 256
MAX_MCP_SERVERS = 64
MAX_FIELDS = 64  # top-level fields
MAX_DEPTH = 64  # levels of free-form JSON inside one value (a tool input, a schema, metadata)
_ORJSON_LIMIT = 254  # orjson.dumps refuses a 255th level of nesting
MIN_THINKING_BUDGET = 1024  # Anthropic's minimum budget_tokens

_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_ROLES = frozenset({"user", "assistant", "system"})
_USER_ONLY = frozenset({"tool_result"})
_ASSISTANT_ONLY = frozenset({"tool_use", "thinking", "redacted_thinking"})
_TOOL_CHOICES = frozenset({"auto", "any", "tool", "none"})
_THINKING = frozenset({"enabled", "disabled", "adaptive"})


class _Walk:
    """One check: the free-form values met on the way, probed for depth at the end."""

    __slots__ = ("free",)

    def __init__(self) -> None:
        self.free: list[tuple[Any, Path]] = []

    # ------------------------------------------------------------ content blocks

    def source(self, block: dict[str, Any], path: Path, allowed: frozenset[str]) -> str:
        source = an_object(block.get("source"), path, "source")
        at = (*path, "source")
        kind = one_of(source.get("type"), allowed, at, "type")
        if kind == "base64":
            string(source.get("media_type"), at, "media_type")
            string(source.get("data"), at, "data")
        elif kind == "url":
            string(source.get("url"), at, "url")
        elif kind == "file":
            string(source.get("file_id"), at, "file_id")
        elif kind == "text":
            string(source.get("data"), at, "data")
        elif kind == "content":
            content = source.get("content")
            if type(content) is not str:
                self.blocks(content, (*at, "content"), _CONTENT_BLOCKS)
        return kind

    def block(self, block: Any, path: Path, allowed: frozenset[str] | None) -> str:
        """Check one block at ``path``; returns its type. ``allowed``: the only known types
        accepted there (None: any)."""
        if type(block) is not dict:
            raise want("a content block object", block, path)
        kind = block.get("type")
        if type(kind) is not str:
            raise want("a string", kind, path, "type")
        if allowed is not None and kind not in allowed and kind in _KNOWN_BLOCKS:
            raise Fail(f"a {kind!r} block is not accepted here", path, "type")
        if kind == "text":
            string(block.get("text"), path, "text")
            if len(block) == 2:
                return kind
            citations = block.get("citations")
            if citations is not None:
                self.free.append((array(citations, MAX_BLOCKS, path, "citations"), path))
        elif kind == "image":
            if self.source(block, path, _IMAGE_SOURCES) == "base64":
                at = (*path, "source")
                one_of(block["source"]["media_type"], IMAGE_TYPES, at, "media_type")
        elif kind == "document":
            self.source(block, path, _DOCUMENT_SOURCES)
            optional_string(block, "title", path)
            optional_string(block, "context", path)
        elif kind == "search_result":
            string(block.get("source"), path, "source")
            string(block.get("title"), path, "title")
            self.blocks(block.get("content"), (*path, "content"), _SYSTEM_BLOCKS)
        elif kind == "tool_use":
            string(block.get("id"), path, "id")
            string(block.get("name"), path, "name")
            self.free.append((an_object(block.get("input"), path, "input"), (*path, "input")))
        elif kind == "tool_result":
            string(block.get("tool_use_id"), path, "tool_use_id")
            content = block.get("content")
            if content is not None and type(content) is not str:
                self.blocks(content, (*path, "content"), _RESULT_BLOCKS)
            boolean(block.get("is_error"), path, "is_error")
        elif kind == "thinking":
            string(block.get("thinking"), path, "thinking")
            string(block.get("signature"), path, "signature")
        elif kind == "redacted_thinking":
            string(block.get("data"), path, "data")
        elif _FIELD_NAME.fullmatch(kind):
            self.free.append((block, path))  # a block type of Anthropic's not known here
            return kind
        else:
            raise Fail(f"unknown content block type {shown(kind)}", path, "type")
        cache = block.get("cache_control")
        if cache is not None:
            self.free.append((an_object(cache, path, "cache_control"), path))
        return kind

    def blocks(self, value: Any, path: Path, allowed: frozenset[str] | None) -> None:
        for j, block in enumerate(array(value, MAX_BLOCKS, path)):
            self.block(block, (*path, j), allowed)

    # ------------------------------------------------------------ messages

    def messages(self, value: Any) -> None:
        messages = array(value, MAX_MESSAGES, ("messages",))
        if not messages:
            raise Fail("at least one message is required", ("messages",))
        for i, message in enumerate(messages):  # the hot loop
            if type(message) is not dict:
                raise want("a message object", message, ("messages", i))
            role = message.get("role")
            if type(role) is not str or role not in _ROLES:
                raise Fail(
                    f"must be user, assistant or system, not {shown(role)}",
                    ("messages", i, "role"),
                )
            content = message.get("content")
            if type(content) is str:
                continue
            if type(content) is not list:
                raise want(
                    "a string or an array of content blocks", content, ("messages", i, "content")
                )
            if len(content) > MAX_BLOCKS:
                raise Fail(f"at most {MAX_BLOCKS} blocks are accepted", ("messages", i, "content"))
            refused = _ASSISTANT_ONLY if role == "user" else _USER_ONLY
            allowed = _SYSTEM_BLOCKS if role == "system" else None
            for j, block in enumerate(content):
                if (  # the common case: a plain text block
                    type(block) is dict
                    and len(block) == 2
                    and block.get("type") == "text"
                    and type(block.get("text")) is str
                ):
                    continue
                path = ("messages", i, "content", j)
                if self.block(block, path, allowed) in refused:
                    kind = block["type"]
                    raise Fail(f"a {kind} block is not accepted in a {role} message", path, "type")

    def system(self, value: Any) -> None:
        if type(value) is not str:
            self.blocks(value, ("system",), _SYSTEM_BLOCKS)
            for j, block in enumerate(value):
                if block["type"] != "text":
                    raise Fail("system blocks must be text", ("system", j), "type")

    # ------------------------------------------------------------ tools and the rest

    def tools(self, value: Any) -> None:
        for i, tool in enumerate(array(value, MAX_TOOLS, ("tools",))):
            path = ("tools", i)
            tool = an_object(tool, path)
            kind = tool.get("type")
            if kind is None or kind == "custom":
                string(tool.get("name"), path, "name")
                optional_string(tool, "description", path)
                schema = an_object(tool.get("input_schema"), path, "input_schema")
                self.free.append((schema, (*path, "input_schema")))
                for key, item in tool.items():
                    if key not in _TOOL_FIELDS:
                        self.free.append((item, (*path, key)))
            elif type(kind) is str and _FIELD_NAME.fullmatch(kind):
                self.free.append((tool, path))  # a server tool: passed on to Anthropic as it is
            else:
                raise want("a tool type name", kind, path, "type")

    def tool_choice(self, value: Any) -> None:
        path = ("tool_choice",)
        choice = an_object(value, path)
        if one_of(choice.get("type"), _TOOL_CHOICES, path, "type") == "tool":
            string(choice.get("name"), path, "name")
        boolean(choice.get("disable_parallel_tool_use"), path, "disable_parallel_tool_use")

    def thinking(self, value: Any) -> None:
        path = ("thinking",)
        config = an_object(value, path)
        if one_of(config.get("type"), _THINKING, path, "type") == "enabled":
            integer(config.get("budget_tokens"), MIN_THINKING_BUDGET, path, "budget_tokens")

    def metadata(self, value: Any) -> None:
        optional_string(an_object(value, ("metadata",)), "user_id", ("metadata",))
        self.free.append((value, ("metadata",)))

    def output_config(self, value: Any) -> None:
        path = ("output_config",)
        config = an_object(value, path)
        fmt = config.get("format")
        if fmt is not None:
            at = (*path, "format")
            fmt = an_object(fmt, at)
            if string(fmt.get("type"), at, "type") == "json_schema":
                an_object(fmt.get("schema"), at, "schema")
        optional_string(config, "effort", path)
        self.free.append((config, path))

    def mcp_servers(self, value: Any) -> None:
        for i, server in enumerate(array(value, MAX_MCP_SERVERS, ("mcp_servers",))):
            path = ("mcp_servers", i)
            server = an_object(server, path)
            for key in ("type", "url", "name"):
                string(server.get(key), path, key)
        self.free.append((value, ("mcp_servers",)))

    def field(self, key: str, value: Any) -> None:
        here: Path = ()
        if key == "messages":
            self.messages(value)
        elif key == "max_tokens":
            integer(value, 1, here, key)
        elif key in ("model", "inference_geo", "speed"):
            string(value, here, key)
        elif key in _METHODS:
            getattr(self, key)(value)
        elif key in ("temperature", "top_p"):
            number(value, 0, 1, here, key)
        elif key == "top_k":
            integer(value, 0, here, key)
        elif key == "stream":
            boolean(value, here, key)
        elif key == "stop_sequences":
            for i, item in enumerate(array(value, MAX_STOP_SEQUENCES, here, key)):
                string(item, (key,), i)
        elif key == "service_tier":
            one_of(value, frozenset({"auto", "standard_only"}), here, key)
        elif key == "container":
            if type(value) is not str:
                self.free.append((an_object(value, here, key), (key,)))
        elif _FIELD_NAME.fullmatch(key):
            self.free.append((value, (key,)))  # unknown: passes (see the module docstring)
        else:
            name = key if key.isprintable() and len(key) <= 64 else shown(key)
            raise Fail("Extra inputs are not permitted", (name,))

    def deep(self) -> Problem | None:
        """The first free-form value nested deeper than :data:`MAX_DEPTH`, if any."""
        if not self.free:
            return None
        wrapped: Any = [value for value, _ in self.free]
        for _ in range(_ORJSON_LIMIT - MAX_DEPTH - 1):
            wrapped = [wrapped]
        try:
            orjson.dumps(wrapped)
            return None
        except orjson.JSONEncodeError:
            pass
        for value, path in self.free:  # only for a refusal: find the value
            wrapped = value
            for _ in range(_ORJSON_LIMIT - MAX_DEPTH):
                wrapped = [wrapped]
            try:
                orjson.dumps(wrapped)
            except orjson.JSONEncodeError:
                param = param_of(path)
                return f"{param}: nested deeper than {MAX_DEPTH} levels, or not JSON data", param
        return None  # unreachable: the values together failed, so one of them fails


_KNOWN_BLOCKS = frozenset(
    {"text", "image", "document", "search_result", "tool_use", "tool_result", "thinking",
     "redacted_thinking"}
)  # fmt: skip
_SYSTEM_BLOCKS = frozenset({"text"})
_CONTENT_BLOCKS = frozenset({"text", "image"})
_RESULT_BLOCKS = frozenset({"text", "image", "document", "search_result"})
_TOOL_FIELDS = frozenset({"type", "name", "description", "input_schema"})
_IMAGE_SOURCES = frozenset({"base64", "url", "file"})
_DOCUMENT_SOURCES = frozenset({"base64", "text", "url", "content", "file"})
_METHODS = frozenset(
    {"system", "tools", "tool_choice", "thinking", "metadata", "output_config", "mcp_servers"}
)


def check(body: dict[str, Any]) -> Problem | None:
    """The first problem with a Messages request ``body``, as ``(message, param)``, or None.

    A top-level ``null`` is read as "absent" (``max_tokens: null`` is "Field required")."""
    if len(body) > MAX_FIELDS:
        return f"the request has {len(body)} fields; at most {MAX_FIELDS} are accepted", None
    for required in ("max_tokens", "messages"):
        if body.get(required) is None:
            return f"{required}: Field required", required
    walk = _Walk()
    try:
        for key, value in body.items():
            if value is not None:
                walk.field(key, value)
    except Fail as fail:
        return fail.problem
    return walk.deep()
