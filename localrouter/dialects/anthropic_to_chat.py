"""An Anthropic Messages request → the equivalent OpenAI chat body, for a provider that is not
Anthropic. (A request to an ``anthropic`` provider is forwarded as the client sent it.)

The body must have passed :func:`localrouter.dialects.anthropic_check.check`. The result's
``dropped`` names, sorted and each once, what the translation could not carry; a request that
cannot be expressed at all raises :class:`Untranslatable` (the candidate is passed over, as for
any request an adapter cannot express). docs/anthropic.md has the whole table; in short:

    system (string or text blocks)  → a first system message (blocks joined by a blank line)
    role "system" messages          → system messages where they stand
    user text / image / document    → one user message; text parts, image_url parts (base64 →
                                      a data: URL, url → the URL), a base64 PDF → a file part,
                                      a text or content document → text (title and context
                                      first), search_result → text (title, source, content)
    tool_result blocks              → tool messages, in order, before the user's own message;
                                      content joined as text; its images and PDFs go to the
                                      user message that follows
    assistant text / tool_use       → one assistant message: text joined, tool_calls with the
                                      input as JSON arguments
    thinking, redacted_thinking     → stripped, always (their signatures are Anthropic's)
    tools (custom)                  → function tools (input_schema → parameters; strict kept)
    tool_choice auto/any/tool/none  → auto / required / {function: name} / none;
                                      disable_parallel_tool_use → parallel_tool_calls: false
    stop_sequences, max_tokens      → stop, max_tokens;  temperature, top_p kept
    metadata.user_id                → user (metadata itself is kept for routing: every adapter
                                      leaves it out of what it sends)
    output_config.format            → response_format json_schema (named "output")
    stream                          → stream, with stream_options.include_usage
    tags (LocalRouter's own)        → kept

Dropped, by name: ``thinking`` (the thinking config: ``reasoning_effort`` would make models
without reasoning refuse the request, and the catalog cannot tell which have it), ``thinking
blocks``, ``redacted_thinking blocks``, ``cache_control``, ``citations``, ``top_k``, ``effort``,
``document`` (url and file sources), ``document context`` (of a PDF), ``image file_id``,
``tool_result is_error``, ``tool_choice`` (without tools), ``tool fields`` (tool keys other than
name, description, input_schema, strict), ``<type> blocks`` for other block types (server tool
blocks from an earlier Anthropic answer, new types), and every other top-level field by its name
(``service_tier``, ``container``, …). Refused (:class:`Untranslatable`): server tools (a
``tools`` entry with a ``type``) and ``mcp_servers``, which ask for what only Anthropic runs, and
a conversation with no message left once Anthropic's own blocks are stripped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from localrouter.errors import Untranslatable

Json = dict[str, Any]

SYSTEM_JOIN = "\n\n"  # between system text blocks
TEXT_JOIN = "\n"  # between an assistant's text blocks and a tool result's texts
_TOOL_KEYS = frozenset({"type", "name", "description", "input_schema", "strict", "cache_control",
                        "eager_input_streaming"})  # fmt: skip
_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
_HANDLED = frozenset(
    {"model", "max_tokens", "messages", "system", "tools", "tool_choice", "stop_sequences",
     "temperature", "top_p", "metadata", "output_config", "stream", "mcp_servers", "tags"}
)  # fmt: skip


@dataclass(frozen=True)
class Translated:
    body: Json
    dropped: tuple[str, ...]


def untranslatable(body: Json) -> Untranslatable | None:
    """Why ``body`` cannot go to a provider that is not Anthropic, or None (cheap: a router
    can ask before it builds a candidate list)."""
    tools = body.get("tools")
    if tools:
        for i, tool in enumerate(tools):
            kind = tool.get("type")
            if kind is not None and kind != "custom":
                return Untranslatable(
                    f"tools.{i}: the server tool {kind!r} runs only on Anthropic", f"tools.{i}"
                )
    if body.get("mcp_servers"):
        return Untranslatable(
            "mcp_servers: MCP servers are connected only by Anthropic", "mcp_servers"
        )
    return None


def _data_url(source: Json) -> str:
    return f"data:{source['media_type']};base64,{source['data']}"


def _joined(*texts: object) -> str:
    return SYSTEM_JOIN.join(t for t in texts if isinstance(t, str) and t)


class _Translation:
    __slots__ = ("dropped", "out")

    def __init__(self) -> None:
        self.dropped: set[str] = set()
        self.out: list[Json] = []

    def marks(self, block: Json) -> None:
        if block.get("cache_control") is not None:
            self.dropped.add("cache_control")
        if block.get("citations") is not None:
            self.dropped.add("citations")

    # ------------------------------------------------------------ content parts

    def image(self, block: Json, parts: list[Json]) -> None:
        source = block["source"]
        kind = source["type"]
        if kind == "base64":
            parts.append({"type": "image_url", "image_url": {"url": _data_url(source)}})
        elif kind == "url":
            parts.append({"type": "image_url", "image_url": {"url": source["url"]}})
        else:
            self.dropped.add("image file_id")

    def document(self, block: Json, parts: list[Json]) -> None:
        source = block["source"]
        kind = source["type"]
        title, context = block.get("title"), block.get("context")
        if kind == "text":
            parts.append({"type": "text", "text": _joined(title, context, source["data"])})
        elif kind == "content":
            inner = source["content"]
            head = _joined(title, context)
            if isinstance(inner, str):
                parts.append({"type": "text", "text": _joined(head, inner)})
                return
            if head:
                parts.append({"type": "text", "text": head})
            for item in inner:
                self.marks(item)
                if item["type"] == "text":
                    parts.append({"type": "text", "text": item["text"]})
                elif item["type"] == "image":
                    self.image(item, parts)
                else:
                    self.dropped.add(f"{item['type']} blocks")
        elif kind == "base64":
            name = title if isinstance(title, str) and title else "document.pdf"
            parts.append(
                {"type": "file", "file": {"filename": name, "file_data": _data_url(source)}}
            )
            if isinstance(context, str) and context:
                self.dropped.add("document context")
        else:
            self.dropped.add("document")

    def part(self, block: Json, kind: str, parts: list[Json]) -> None:
        """A user-side block (not a tool_result) as content parts."""
        self.marks(block)
        if kind == "text":
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image":
            self.image(block, parts)
        elif kind == "document":
            self.document(block, parts)
        elif kind == "search_result":
            texts = [item["text"] for item in block["content"]]
            parts.append({"type": "text", "text": _joined(block["title"], block["source"], *texts)})
        else:
            self.dropped.add(f"{kind} blocks")

    # ------------------------------------------------------------ messages

    def tool_result(self, block: Json, parts: list[Json]) -> Json:
        self.marks(block)
        if block.get("is_error") is True:
            self.dropped.add("tool_result is_error")
        content = block.get("content")
        if content is None or isinstance(content, str):
            text = content or ""
        else:
            own: list[Json] = []
            for item in content:
                self.part(item, item["type"], own)
            texts = [p["text"] for p in own if p["type"] == "text"]
            parts.extend(p for p in own if p["type"] != "text")  # images, PDFs: the user's
            text = TEXT_JOIN.join(texts)
        return {"role": "tool", "tool_call_id": block["tool_use_id"], "content": text}

    def user(self, content: list[Json]) -> None:
        parts: list[Json] = []
        for block in content:
            kind = block["type"]
            if kind == "tool_result":
                self.out.append(self.tool_result(block, parts))
            else:
                self.part(block, kind, parts)
        if len(parts) == 1 and parts[0]["type"] == "text":
            self.out.append({"role": "user", "content": parts[0]["text"]})
        elif parts or not any(b["type"] == "tool_result" for b in content):
            self.out.append({"role": "user", "content": parts or ""})

    def assistant(self, content: list[Json]) -> None:
        texts: list[str] = []
        calls: list[Json] = []
        for block in content:
            kind = block["type"]
            self.marks(block)
            if kind == "text":
                texts.append(block["text"])
            elif kind == "tool_use":
                arguments = orjson.dumps(block["input"]).decode()
                function = {"name": block["name"], "arguments": arguments}
                calls.append({"id": block["id"], "type": "function", "function": function})
            else:  # thinking, redacted_thinking (never sent elsewhere), server tool blocks
                self.dropped.add(f"{kind} blocks")
        text = TEXT_JOIN.join(texts)
        if calls:
            self.out.append({"role": "assistant", "content": text or None, "tool_calls": calls})
        elif text:
            self.out.append({"role": "assistant", "content": text})

    def system(self, content: str | list[Json]) -> None:
        if isinstance(content, str):
            text = content
        else:
            for block in content:
                self.marks(block)
            text = SYSTEM_JOIN.join(b["text"] for b in content if b["type"] == "text")
            if any(b["type"] != "text" for b in content):
                self.dropped.update(f"{b['type']} blocks" for b in content if b["type"] != "text")
        if text:
            self.out.append({"role": "system", "content": text})

    def messages(self, body: Json) -> None:
        system = body.get("system")
        if system is not None:
            self.system(system)
        for message in body["messages"]:
            role, content = message["role"], message["content"]
            if role == "system":
                self.system(content)
            elif isinstance(content, str):
                if role == "user":
                    self.out.append({"role": "user", "content": content})
                elif content:
                    self.out.append({"role": "assistant", "content": content})
            elif role == "user":
                self.user(content)
            else:
                self.assistant(content)

    # ------------------------------------------------------------ tools and the rest

    def tools(self, body: Json, out: Json) -> None:
        functions = []
        for tool in body.get("tools") or ():
            function: Json = {"name": tool["name"]}
            if tool.get("description") is not None:
                function["description"] = tool["description"]
            function["parameters"] = tool["input_schema"]
            if tool.get("strict") is True:
                function["strict"] = True
            functions.append({"type": "function", "function": function})
            if tool.get("cache_control") is not None:
                self.dropped.add("cache_control")
            if not _TOOL_KEYS.issuperset(tool):
                self.dropped.add("tool fields")
        choice = body.get("tool_choice")
        if not functions:
            if choice is not None:
                self.dropped.add("tool_choice")
            return
        out["tools"] = functions
        if choice is not None:
            kind = choice["type"]
            out["tool_choice"] = (
                {"type": "function", "function": {"name": choice["name"]}}
                if kind == "tool"
                else _CHOICES[kind]
            )
            if choice.get("disable_parallel_tool_use") is True:
                out["parallel_tool_calls"] = False

    def settings(self, body: Json, out: Json) -> None:
        for key in ("temperature", "top_p"):
            if body.get(key) is not None:
                out[key] = body[key]
        if body.get("stop_sequences"):
            out["stop"] = list(body["stop_sequences"])
        metadata = body.get("metadata")
        if metadata is not None:
            out["metadata"] = metadata
            user = metadata.get("user_id")
            if isinstance(user, str) and user:
                out["user"] = user
        config = body.get("output_config")
        if config is not None:
            fmt = config.get("format")
            if fmt is not None and fmt.get("type") == "json_schema":
                schema = {"name": "output", "schema": fmt["schema"]}
                out["response_format"] = {"type": "json_schema", "json_schema": schema}
            if config.get("effort") is not None:
                self.dropped.add("effort")
            if any(k not in ("format", "effort") and v is not None for k, v in config.items()):
                self.dropped.add("output_config")
        if body.get("tags") is not None:
            out["tags"] = body["tags"]
        thinking = body.get("thinking")
        if thinking is not None and thinking.get("type") != "disabled":
            self.dropped.add("thinking")
        for key, value in body.items():
            if key not in _HANDLED and value is not None and key != "thinking":
                self.dropped.add(key)


def to_chat(body: Json, *, stream: bool) -> Translated:
    """The OpenAI chat body for a checked Messages request ``body``; raises
    :class:`Untranslatable` for server tools and ``mcp_servers``."""
    refusal = untranslatable(body)
    if refusal is not None:
        raise refusal
    t = _Translation()
    t.messages(body)
    if not t.out:  # e.g. only thinking blocks: OpenAI refuses an empty message list
        raise Untranslatable(
            "messages: nothing is left to send without Anthropic's blocks", "messages"
        )
    out: Json = {}
    if isinstance(body.get("model"), str):
        out["model"] = body["model"]
    out["messages"] = t.out
    out["max_tokens"] = body["max_tokens"]
    t.tools(body, out)
    t.settings(body, out)
    out["stream"] = stream
    if stream:
        out["stream_options"] = {"include_usage": True}
    return Translated(out, tuple(sorted(t.dropped)))
