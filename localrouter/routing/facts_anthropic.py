"""Request facts for an Anthropic Messages body, read directly (no translation is built).

The facts equal what :func:`~localrouter.routing.facts.facts_from_openai` gives for the OpenAI
chat body the request translates to (``localrouter/dialects/anthropic_to_chat.py``), so a
conversation routes the same whichever API the client speaks (a property test holds the two
together). That fixes the conventions:

- ``messages_count`` counts the messages of the translation: the system prompt (when it has
  text) is one, every ``tool_result`` block is one (a tool message), the rest of a user turn is
  one, an assistant turn is one unless it has neither text nor a tool call.
- ``estimated_tokens`` is :func:`~localrouter.routing.facts.estimate_tokens` of those messages'
  text — system text, user text (text blocks, text documents, search results), tool results'
  text, assistant text — plus four a message; tool definitions, tool inputs and images are not
  counted, as on the OpenAI side.
- ``has_images``: an image block in a user turn, a tool result or a content document (one given
  by a Files API id too: an Anthropic provider sees it, so a model without vision must not).
- ``has_tools``: ``tools`` is not empty (server tools count: they need a model with tools).
- ``needs``: vision, tools, and json for ``output_config.format`` of type ``json_schema``.
- ``metadata`` is the request's ``metadata`` object and ``tags`` LocalRouter's own ``tags``
  field, both bounded by :mod:`localrouter.routing.client_data`, as are the headers.

The body should have passed ``anthropic_check.check``; anything of another shape is skipped,
never raised on (except the client-data bounds).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from localrouter.routing.client_data import (
    MAX_TOKENS_FACT,
    token_count,
)
from localrouter.routing.facts import (
    Classifier,
    RequestFacts,
    built,
    complexity_score,
    estimate_tokens,
)

_SYSTEM_JOIN = "\n\n"  # as anthropic_to_chat.SYSTEM_JOIN
_TEXT_JOIN = "\n"  # as anthropic_to_chat.TEXT_JOIN; also facts_from_openai's join of parts
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _joined(*texts: object) -> str:
    return _SYSTEM_JOIN.join(t for t in texts if isinstance(t, str) and t)


class _Reader:
    """The translation's message texts, counted as facts_from_openai would count them."""

    __slots__ = ("count", "images", "texts")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.count = 0
        self.images = False

    def add(self, text: str) -> None:
        self.texts.append(text)
        self.count += 1

    def system(self, content: Any) -> None:
        if isinstance(content, list):
            content = _SYSTEM_JOIN.join(
                b["text"] for b in content if isinstance(b, dict) and b.get("type") == "text"
            )
        if isinstance(content, str) and content:
            self.add(content)

    def document(self, block: dict[str, Any], texts: list[str]) -> int:
        source = block.get("source")
        if not isinstance(source, dict):
            return 0
        kind = source.get("type")
        if kind == "base64":
            return 1  # a file part
        title, context = block.get("title"), block.get("context")
        if kind == "text":
            texts.append(_joined(title, context, source.get("data")))
        elif kind == "content":
            inner = source.get("content")
            head = _joined(title, context)
            if isinstance(inner, str):
                texts.append(_joined(head, inner))
            elif isinstance(inner, list):
                if head:
                    texts.append(head)
                return self.parts(inner, texts)
        return 0

    def parts(self, blocks: list[Any], texts: list[str]) -> int:
        """Append the text parts that user-side blocks (not tool results) become to ``texts``;
        returns how many other parts (images, PDFs) they become."""
        others = 0
        for block in blocks:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                text = block.get("text")
                texts.append(text if isinstance(text, str) else "")
            elif kind == "image":
                self.images = True
                source = block.get("source")
                if isinstance(source, dict) and source.get("type") in ("base64", "url"):
                    others += 1
            elif kind == "document":
                others += self.document(block, texts)
            elif kind == "search_result":
                content = block.get("content")
                items = content if isinstance(content, list) else []
                inner = [b.get("text") for b in items if isinstance(b, dict)]
                texts.append(_joined(block.get("title"), block.get("source"), *inner))
        return others

    def user(self, content: list[Any]) -> None:
        texts: list[str] = []
        others = 0
        results = False
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                results = True
                inner = block.get("content")
                if isinstance(inner, list):
                    own: list[str] = []
                    others += self.parts(inner, own)  # its images and PDFs: the user's parts
                    self.add(_TEXT_JOIN.join(own))
                else:
                    self.add(inner if isinstance(inner, str) else "")
            else:
                others += self.parts([block], texts)
        if texts or others or not results:
            self.add(_TEXT_JOIN.join(texts))

    def assistant(self, content: list[Any]) -> None:
        texts: list[str] = []
        calls = False
        for block in content:
            if isinstance(block, dict):
                kind = block.get("type")
                if kind == "text" and isinstance(block.get("text"), str):
                    texts.append(block["text"])
                elif kind == "tool_use":
                    calls = True
        text = _TEXT_JOIN.join(texts)
        if calls or text:
            self.add(text)

    def read(self, body: Mapping[str, Any]) -> None:
        if body.get("system") is not None:
            self.system(body["system"])
        messages = body.get("messages")
        for message in messages if isinstance(messages, list) else ():
            if not isinstance(message, dict):
                continue
            role, content = message.get("role"), message.get("content")
            if role == "system":
                self.system(content)
            elif isinstance(content, str):
                if role == "user" or content:
                    self.add(content)
            elif isinstance(content, list):
                if role == "user":
                    self.user(content)
                else:
                    self.assistant(content)


def read_texts(body: Mapping[str, Any]) -> tuple[str, int, bool]:
    """(the text, the message count, has images) of a Messages body, as the facts read them."""
    reader = _Reader()
    reader.read(body)
    return _TEXT_JOIN.join(reader.texts), reader.count, reader.images


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """The ``estimated_tokens`` fact of a Messages body (also ``count_tokens``' answer)."""
    text, count, _images = read_texts(body)
    return estimate_tokens(text) + 4 * count


def facts_from_anthropic(
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    *,
    classifier: Classifier = complexity_score,
) -> RequestFacts:
    """Facts from an Anthropic Messages body (see the module docstring).

    Raises :class:`~localrouter.errors.RequestDataError` when ``tags``, ``metadata`` or the
    headers are over the bounds of :mod:`localrouter.routing.client_data`."""
    text, count, images = read_texts(body)
    tools = body.get("tools")
    has_tools = isinstance(tools, list) and bool(tools)
    max_tokens = body.get("max_tokens")
    if type(max_tokens) is not int or not 0 <= max_tokens <= MAX_TOKENS_FACT:
        max_tokens = token_count(max_tokens)
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    json = isinstance(fmt, dict) and fmt.get("type") == "json_schema"
    needs = frozenset(
        n for n, on in (("vision", images), ("tools", has_tools), ("json", json)) if on
    )
    return built(body, headers, text, count, max_tokens, has_tools, images, needs, classifier)
