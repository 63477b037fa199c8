"""Request facts: what routing may know about a request, built once per request.

``estimated_tokens`` is a local estimate (about four characters a token, plus a small overhead per
message; no tokenizer download). ``complexity`` in 0..1 comes from :func:`complexity_score`, a
documented, deterministic classifier; any callable with the same signature can replace it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from localrouter.routing.client_data import (
    MAX_HEADERS,
    MAX_TOKENS_FACT,
    checked_headers,
    checked_metadata,
    checked_tags,
    token_count,
)

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class RequestFacts:
    model: str = ""
    messages_count: int = 0
    estimated_tokens: int = 0
    max_tokens: int = 0
    has_tools: bool = False
    has_images: bool = False
    stream: bool = False
    complexity: float = 0.0
    tags: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    # capabilities a model must have to serve the request (not a CEL field): images -> vision,
    # tools -> tools, /v1/embeddings -> embeddings, a json_schema response_format -> json
    needs: frozenset[str] = frozenset()

    def as_cel_dict(self, fields: frozenset[str] | None = None) -> dict[str, Any]:
        """CEL's ``request`` as plain data: every field, or just ``fields``."""
        if fields is None:
            fields = _REQUEST_FIELDS
        out: dict[str, Any] = {}
        for name in fields:
            value = getattr(self, name)
            if name == "tags":
                value = list(value)
            elif name in ("headers", "metadata"):
                value = dict(value)
            elif name == "complexity":
                value = float(value)
            out[name] = value
        return out


_REQUEST_FIELDS = frozenset(
    {"model", "messages_count", "estimated_tokens", "max_tokens", "has_tools", "has_images",
     "stream", "complexity", "tags", "headers", "metadata"}
)  # fmt: skip


@dataclass(frozen=True)
class NowFacts:
    hour: int = 12
    weekday: int = 0
    unix: int = 0

    def as_cel_dict(self) -> dict[str, Any]:
        return {"hour": self.hour, "weekday": self.weekday, "unix": self.unix}


def estimate_tokens(text: str) -> int:
    """About four characters a token (English text and code alike), rounded up."""
    return (len(text) + 3) // 4


CUE_WINDOW = 4000  # cues are looked for in the last this many characters of the prompt
# fmt: off
_REASONING = ("why", "prove", "derive", "step by step", "reason", "analyze", "analyse", "compare",
              "trade-off", "tradeoff", "design", "architect", "optimize", "optimise", "debug",
              "refactor", "explain how")
_MATH_WORDS = ("integral", "equation", "theorem", "lemma", "matrix", "probability", "derivative")
_MATH_SIGNS = ("∑", "∫", "√", "≤", "≥")
_CODE_SIGNS = ("```", "=>", "#include")
_CODE_WORDS = ("def", "class", "function", "import")
# fmt: on
_WHOLE = {  # a cue as a whole word: no letter on either side ("trade-offs" allows a plural s)
    cue: re.compile(
        r"(?<![a-z])" + re.escape(cue) + (r"s?" if cue.startswith("trade") else "") + r"(?![a-z])"
    )
    for cue in (*_REASONING, *_MATH_WORDS, *_CODE_WORDS)
}  # fmt: skip
_LINE_END = re.compile(r"[;{][ \t]*$", re.M)

Classifier = Callable[[str, int, bool], float]


def _has_word(text: str, cue: str) -> bool:
    """``cue`` in ``text`` as a whole word: a fast substring test first, the regex only on a hit."""
    return cue in text and _WHOLE[cue].search(text) is not None


def complexity_score(text: str, messages_count: int, has_tools: bool) -> float:
    """0..1 from: length (up to 0.35), code (0.2), distinct reasoning cues (up to 0.25), math
    (0.1), conversation depth (up to 0.1), tools (0.1). Deterministic; see docs/routing.md.

    Cues are looked for in the last :data:`CUE_WINDOW` characters (the most recent turns), so
    the cost stays bounded (~5 µs for a short prompt, < 50 µs at the cap) whatever the length.
    """
    score = min(len(text) / 8000, 1.0) * 0.35
    recent = text[-CUE_WINDOW:]
    low = recent.lower()
    code = any(sign in recent for sign in _CODE_SIGNS) or any(
        _has_word(low, w) for w in _CODE_WORDS
    )
    if code or ((";" in recent or "{" in recent) and _LINE_END.search(recent)):
        score += 0.2
    cues = sum(1 for cue in _REASONING if _has_word(low, cue))
    score += min(cues, 3) / 3 * 0.25
    math = any(_has_word(low, w) for w in _MATH_WORDS)
    if math or (not recent.isascii() and any(sign in recent for sign in _MATH_SIGNS)):
        score += 0.1
    score += min(max(messages_count - 1, 0), 10) / 10 * 0.1
    if has_tools:
        score += 0.1
    return round(min(score, 1.0), 4)


def _text_of(content: Any) -> tuple[str, bool]:
    if isinstance(content, str):
        return content, False
    parts, images = [], False
    if isinstance(content, list):
        for part in content:
            if isinstance(part, Mapping):
                kind = part.get("type")
                if kind == "text" and isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif kind in ("image_url", "image", "input_image"):
                    images = True
    return "\n".join(parts), images


def needs_of(
    body: Mapping[str, Any], *, embeddings: bool, images: bool, tools: bool
) -> frozenset[str]:
    """The capabilities a request needs (see :attr:`RequestFacts.needs`)."""
    if embeddings:
        return _NEEDS_EMBEDDINGS
    fmt = body.get("response_format")
    json = isinstance(fmt, Mapping) and fmt.get("type") == "json_schema"
    if not (images or tools or json):
        return _NO_NEEDS
    return frozenset(n for n, on in (("vision", images), ("tools", tools), ("json", json)) if on)


_NO_NEEDS: frozenset[str] = frozenset()
_NEEDS_EMBEDDINGS = frozenset({"embeddings"})


def facts_from_openai(
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    *,
    classifier: Classifier = complexity_score,
    embeddings: bool = False,
) -> RequestFacts:
    """Facts from an OpenAI-style chat or completions body.

    Raises :class:`~localrouter.errors.RequestDataError` when ``tags``, ``metadata`` or the
    headers are over the bounds of :mod:`localrouter.routing.client_data` (answered 400/431).
    """
    texts: list[str] = []
    images = False
    messages = body.get("messages")
    count = 0
    if isinstance(messages, list):
        count = len(messages)
        for msg in messages:
            if isinstance(msg, Mapping):
                text, img = _text_of(msg.get("content"))
                texts.append(text)
                images = images or img
    for field_name in ("prompt", "input"):  # legacy completions; embeddings
        value = body.get(field_name)
        values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        strings = [v for v in values if isinstance(v, str)]
        texts.extend(strings)
        count = count or (1 if strings else 0)
    text = "\n".join(texts)
    has_tools = bool(body.get("tools") or body.get("functions"))
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if type(max_tokens) is not int or not 0 <= max_tokens <= MAX_TOKENS_FACT:
        max_tokens = token_count(max_tokens)  # absent, a float, a string, out of range
    needs = needs_of(body, embeddings=embeddings, images=images, tools=has_tools)
    return built(body, headers, text, count, max_tokens, has_tools, images, needs, classifier)


def built(
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None,
    text: str,
    count: int,
    max_tokens: int,
    has_tools: bool,
    images: bool,
    needs: frozenset[str],
    classifier: Classifier,
) -> RequestFacts:
    """The facts of a request whose dialect has read its ``text``, message ``count`` and the
    rest: the client data CEL reads is bounded here, for every dialect (raises
    :class:`~localrouter.errors.RequestDataError`)."""
    meta = body.get("metadata")
    if meta is not None:
        checked_metadata(meta)
    if headers and len(headers) > MAX_HEADERS:
        checked_headers(headers)  # raises
    tags = body.get("tags")
    model = body.get("model")
    return RequestFacts(
        model=model if isinstance(model, str) else "",
        messages_count=count,
        estimated_tokens=estimate_tokens(text) + 4 * count,
        max_tokens=max_tokens,
        has_tools=has_tools,
        has_images=images,
        stream=body.get("stream") is True,
        complexity=classifier(text, count, has_tools),
        tags=() if tags is None else checked_tags(tags),
        headers=MappingProxyType({k.lower(): v for k, v in (headers or {}).items()}),
        metadata=MappingProxyType(dict(meta)) if isinstance(meta, Mapping) else _EMPTY,
        needs=needs,
    )
