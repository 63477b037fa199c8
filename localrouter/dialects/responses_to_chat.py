"""A Responses API request → an OpenAI chat body, for every provider that does not serve the
Responses API natively (the gateway's internal shape is OpenAI chat).

    instructions                     → a first system message
    input (a string)                 → one user message
    message items                    → messages (developer → system; text parts joined with a
                                       newline, or kept as parts when there is an image:
                                       input_image → image_url {url, detail}); assistant
                                       output_text and refusal parts → its text
    function_call items              → the assistant message's tool_calls (joined to the
                                       assistant text just before them, as chat has it)
    function_call_output items       → tool messages (output parts' text joined)
    tools (function) / tool_choice   → chat tools / tool_choice; parallel_tool_calls kept
    namespace tools                  → their functions, named NAMESPACE__NAME (a call of one
                                       comes back as a function_call with that namespace)
    custom (freeform) tools          → functions of one string, ``input`` (a grammar told in
                                       the description); a call comes back as a
                                       custom_tool_call; custom_tool_call items → tool calls,
                                       custom_tool_call_output items → tool messages
    max_output_tokens                → max_tokens; temperature, top_p, user, metadata kept
    text.format                      → response_format (json_schema {name, schema, strict,
                                       description} · json_object)
    reasoning.effort                 → reasoning_effort (the adapters map it where the provider
                                       has an equivalent; the payload records it as dropped
                                       where not)
    tags                             → tags (LocalRouter's routing input)

``previous_response_id`` is resolved before this (its items come as ``history``), and ``store``
is LocalRouter's business: neither reaches a chat provider. Dropped, by name (the generation
record's ``translation.dropped``): ``reasoning items``, ``include``, ``top_logprobs``,
``truncation``, ``max_tool_calls``, ``prompt_cache_key``, ``service_tier``, ``text.verbosity``.

What only a provider serving the Responses API can do — built-in tools (web search, file search,
code interpreter, computer use, MCP, tool search, …), a ``tool_choice`` naming one, other item types
(``item_reference``, a built-in tool's call), ``input_file`` parts, images by ``file_id``, a
hosted ``prompt`` — is named in :attr:`Translated.refused`: such a request is not sent to a
chat provider at all (the payload moves on to the next candidate, and when none serves it the
client gets a 400 that names it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from localrouter.dialects.responses_answer import NO_NAMES, CallNames

Json = dict[str, Any]
TEXT_JOIN = "\n"
NAMESPACE_JOIN = "__"  # a namespaced function's chat name: NAMESPACE__NAME

_DROPPED_FIELDS = ("include", "top_logprobs", "max_tool_calls", "prompt_cache_key", "service_tier")
_ROLES = {"developer": "system", "system": "system", "user": "user", "assistant": "assistant"}


@dataclass(frozen=True, slots=True)
class Translated:
    body: Json  # the chat body
    dropped: tuple[str, ...]  # what it could not carry, by name
    refused: tuple[str, ...]  # what only a native provider can serve (empty: translatable)
    names: CallNames = NO_NAMES  # how the tools were named, to name their calls back


def items_of(value: Any) -> list[Json]:
    """``input`` as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return list(value) if isinstance(value, list) else []


class _Builder:
    __slots__ = ("dropped", "messages", "refused")

    def __init__(self) -> None:
        self.messages: list[Json] = []
        self.dropped: list[str] = []
        self.refused: list[str] = []

    def drop(self, what: str) -> None:
        if what not in self.dropped:
            self.dropped.append(what)

    def refuse(self, what: str) -> None:
        if what not in self.refused:
            self.refused.append(what)

    def content(self, value: Any, role: str) -> Any:
        """A message's content for chat: a string, or parts when there is an image."""
        if isinstance(value, str):
            return value
        texts: list[str] = []
        parts: list[Json] = []
        image = False
        for part in value if isinstance(value, list) else ():
            kind = part.get("type")
            if kind in ("input_text", "output_text", "text", "summary_text"):
                texts.append(part["text"])
                parts.append({"type": "text", "text": part["text"]})
            elif kind == "refusal":
                texts.append(part["refusal"])
                parts.append({"type": "text", "text": part["refusal"]})
            elif kind == "input_image" and isinstance(part.get("image_url"), str):
                image = True
                url: Json = {"url": part["image_url"]}
                if isinstance(part.get("detail"), str):
                    url["detail"] = part["detail"]
                parts.append({"type": "image_url", "image_url": url})
            elif kind == "input_image":
                self.refuse("images given by file_id")
            else:
                self.refuse(f"{kind} content")
        if image and role == "user":
            return parts
        return TEXT_JOIN.join(texts)

    def call(self, call: Json) -> None:
        """A tool call: joined to the assistant message just before it, as chat has it."""
        last = self.messages[-1] if self.messages else None
        if last is not None and last["role"] == "assistant" and "tool_call_id" not in last:
            last.setdefault("tool_calls", []).append(call)
            if not last.get("content"):
                last["content"] = None
        else:
            self.messages.append({"role": "assistant", "content": None, "tool_calls": [call]})

    def item(self, item: Json) -> None:
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            role = _ROLES[item["role"]]
            self.messages.append({"role": role, "content": self.content(item["content"], role)})
        elif kind == "function_call":
            name = item["name"]
            namespace = item.get("namespace")
            if isinstance(namespace, str) and namespace:
                name = flat_name(namespace, name)
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": name, "arguments": item["arguments"]},
            }
            self.call(call)
        elif kind == "custom_tool_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {
                    "name": item["name"],
                    "arguments": orjson.dumps({"input": item["input"]}).decode(),
                },
            }
            self.call(call)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            output = item["output"]
            text = output if isinstance(output, str) else self.content(output, "tool")
            if not isinstance(text, str):  # an image in a tool's output: chat cannot
                self.refuse("images in a function_call_output")
                text = ""
            self.messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": text})
        elif kind == "reasoning":
            self.drop("reasoning items")
        else:
            self.refuse(f"{kind} items")


def flat_name(namespace: str, name: str) -> str:
    """A namespaced function's name in a chat body (chat has no namespaces)."""
    return f"{namespace}{NAMESPACE_JOIN}{name}"


def _function(tool: Json, name: str) -> Json:
    function: Json = {"name": name}
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    return {"type": "function", "function": function}


def _custom(tool: Json) -> Json:
    """A freeform tool as a function of one string, ``input`` (its grammar, when it has one,
    told in the description)."""
    given = tool.get("description")
    about = given if isinstance(given, str) else ""
    fmt = tool.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar":
        syntax, definition = fmt.get("syntax"), fmt.get("definition")
        about += f"\n\nThe input follows this {syntax} grammar:\n{definition}"
    parameters = {
        "type": "object",
        "properties": {"input": {"type": "string", "description": "the tool's input, verbatim"}},
        "required": ["input"],
        "additionalProperties": False,
    }
    function: Json = {"name": tool["name"], "parameters": parameters}
    if about:
        function["description"] = about.strip()
    return {"type": "function", "function": function}


def _tools(
    tools: Any, out: _Builder, namespaced: dict[str, tuple[str, str]], custom: set[str]
) -> list[Json]:
    chat: list[Json] = []
    for tool in tools if isinstance(tools, list) else ():
        kind = tool.get("type")
        if kind == "function":
            chat.append(_function(tool, tool["name"]))
        elif kind == "custom" and isinstance(tool.get("name"), str):
            custom.add(tool["name"])
            chat.append(_custom(tool))
        elif kind == "namespace" and isinstance(tool.get("tools"), list):
            namespace = tool.get("name")
            for inner in tool["tools"]:
                if inner.get("type") != "function":
                    out.refuse(f"the {inner.get('type')} tool")
                    continue
                flat = flat_name(str(namespace), inner["name"])
                namespaced[flat] = (str(namespace), inner["name"])
                chat.append(_function(inner, flat))
        else:
            out.refuse(f"the {kind} tool")
    return chat


def _tool_choice(choice: Any, out: _Builder) -> Any:
    if isinstance(choice, str):
        return choice
    if choice.get("type") in ("function", "custom") and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    out.refuse(f"tool_choice {choice.get('type')}")
    return None


def _response_format(fmt: Json) -> Json | None:
    kind = fmt.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        return None
    schema: Json = {"name": fmt["name"], "schema": fmt["schema"]}
    for key in ("strict", "description"):
        if fmt.get(key) is not None:
            schema[key] = fmt[key]
    return {"type": "json_schema", "json_schema": schema}


def to_chat(body: Json, history: Iterable[Json] = (), *, stream: bool = False) -> Translated:
    """The chat body for ``body`` (a checked Responses request) after ``history`` (the items of
    the conversation it continues)."""
    out = _Builder()
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        out.messages.append({"role": "system", "content": instructions})
    for item in history:
        out.item(item)
    for item in items_of(body.get("input")):
        out.item(item)
    chat: Json = {"model": body["model"], "messages": out.messages}
    namespaced: dict[str, tuple[str, str]] = {}
    custom: set[str] = set()
    if body.get("tools"):
        chat["tools"] = _tools(body["tools"], out, namespaced, custom)
        if not chat["tools"]:
            del chat["tools"]
    if "tool_choice" in body:
        choice = _tool_choice(body["tool_choice"], out)
        if choice is not None and "tools" in chat:
            chat["tool_choice"] = choice
    if "parallel_tool_calls" in body and "tools" in chat:
        chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    if "max_output_tokens" in body:
        chat["max_tokens"] = body["max_output_tokens"]
    for key in ("temperature", "top_p", "user", "metadata", "tags"):
        if key in body:
            chat[key] = body[key]
    text = body.get("text")
    if isinstance(text, dict):
        fmt = text.get("format")
        if isinstance(fmt, dict):
            response_format = _response_format(fmt)
            if response_format is not None:
                chat["response_format"] = response_format
        if text.get("verbosity") is not None:
            out.drop("text.verbosity")
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str):
        chat["reasoning_effort"] = reasoning["effort"]
    for key in _DROPPED_FIELDS:
        if key in body:
            out.drop(key)
    if body.get("truncation") == "auto":
        out.drop("truncation")
    if body.get("prompt") is not None:
        out.refuse("a hosted prompt")
    if stream:
        chat["stream"] = True
    names = CallNames(namespaced, frozenset(custom)) if namespaced or custom else NO_NAMES
    return Translated(chat, tuple(out.dropped), tuple(out.refused), names)
