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

    def as_cel_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages_count": self.messages_count,
            "estimated_tokens": self.estimated_tokens,
            "max_tokens": self.max_tokens,
            "has_tools": self.has_tools,
            "has_images": self.has_images,
            "stream": self.stream,
            "complexity": float(self.complexity),
            "tags": list(self.tags),
            "headers": dict(self.headers),
            "metadata": dict(self.metadata),
        }


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


_CODE = re.compile(r"```|\bdef |\bclass |\bfunction\b|=>|;\s*$|\{\s*$|#include|\bimport ", re.M)
_REASON = re.compile(
    r"\b(why|prove|derive|step by step|reason|analy[sz]e|compare|trade-?offs?|design|architect"
    r"|optimi[sz]e|debug|refactor|explain how)\b",
    re.I,
)
_MATH = re.compile(
    r"\b(integral|equation|theorem|lemma|matrix|probability|derivative)\b|[∑∫√≤≥]", re.I
)

Classifier = Callable[[str, int, bool], float]


def complexity_score(text: str, messages_count: int, has_tools: bool) -> float:
    """0..1 from: length (up to 0.35), code (0.2), reasoning cues (up to 0.25), math (0.1),
    conversation depth (up to 0.1), tools (0.1). Deterministic; see docs/routing.md."""
    score = min(len(text) / 8000, 1.0) * 0.35
    if _CODE.search(text):
        score += 0.2
    score += min(len(_REASON.findall(text)), 3) / 3 * 0.25
    if _MATH.search(text):
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


def facts_from_openai(
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    *,
    classifier: Classifier = complexity_score,
) -> RequestFacts:
    """Facts from an OpenAI-style chat or completions body."""
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
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    meta = body.get("metadata")
    tags = body.get("tags")
    model = body.get("model")
    return RequestFacts(
        model=model if isinstance(model, str) else "",
        messages_count=count,
        estimated_tokens=estimate_tokens(text) + 4 * count,
        max_tokens=max_tokens if isinstance(max_tokens, int) else 0,
        has_tools=has_tools,
        has_images=images,
        stream=body.get("stream") is True,
        complexity=classifier(text, count, has_tools),
        tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
        headers=MappingProxyType({k.lower(): v for k, v in (headers or {}).items()}),
        metadata=MappingProxyType(dict(meta)) if isinstance(meta, Mapping) else _EMPTY,
    )
