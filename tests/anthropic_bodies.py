"""Hypothesis strategies for Anthropic Messages requests (``POST /v1/messages`` bodies).

    bodies()            # valid, translatable bodies: every block type the ingress knows
    mutated(body)       # the same with a wrong value (or nothing) at a random path

Signatures and redacted-thinking data are drawn with :data:`SECRET_MARK` inside, so a test can
prove that none of them reaches a translated body.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from hypothesis import strategies as st

Json = dict[str, Any]
SECRET_MARK = "SIGNED-"
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
WORDS = st.sampled_from(
    ["why", "prove it", "def main():", "hello", "compare the trade-offs", "∑ x", "ok", ""]
)
SOME_TEXT = st.one_of(TEXT, WORDS, st.lists(WORDS, max_size=6).map(" ".join))
NAME = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,15}", fullmatch=True)
CACHE = st.just({"type": "ephemeral"})
LEAF = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), TEXT)
JSON_VALUE = st.recursive(
    LEAF,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAME, inner, max_size=3)),
    max_leaves=8,
)
B64 = st.binary(min_size=1, max_size=12).map(lambda b: base64.b64encode(b).decode())


def _block(kind: str, fields: dict[str, Any], optional: dict[str, Any] | None = None) -> Any:
    return st.fixed_dictionaries({"type": st.just(kind), **fields}, optional=optional or {})


TEXT_BLOCK = _block("text", {"text": SOME_TEXT}, {"cache_control": CACHE})
IMAGE_SOURCE = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("base64"),
            "media_type": st.sampled_from(["image/png", "image/jpeg", "image/gif", "image/webp"]),
            "data": B64,
        }
    ),
    st.fixed_dictionaries({"type": st.just("url"), "url": st.just("https://example.com/a.png")}),
    st.fixed_dictionaries({"type": st.just("file"), "file_id": st.just("file_011")}),
)
IMAGE_BLOCK = _block("image", {"source": IMAGE_SOURCE}, {"cache_control": CACHE})
DOCUMENT_SOURCE = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("base64"), "media_type": st.just("application/pdf"), "data": B64}
    ),
    st.fixed_dictionaries(
        {"type": st.just("text"), "media_type": st.just("text/plain"), "data": SOME_TEXT}
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("content"),
            "content": st.one_of(
                SOME_TEXT, st.lists(st.one_of(TEXT_BLOCK, IMAGE_BLOCK), max_size=3)
            ),
        }
    ),
    st.fixed_dictionaries({"type": st.just("url"), "url": st.just("https://example.com/a.pdf")}),
    st.fixed_dictionaries({"type": st.just("file"), "file_id": st.just("file_012")}),
)
DOCUMENT_BLOCK = _block(
    "document",
    {"source": DOCUMENT_SOURCE},
    {"title": SOME_TEXT, "context": SOME_TEXT, "citations": st.just({"enabled": True})},
)
SEARCH_RESULT = _block(
    "search_result",
    {
        "source": st.just("https://example.com"),
        "title": SOME_TEXT,
        "content": st.lists(TEXT_BLOCK, max_size=3),
    },
)
TOOL_RESULT = _block(
    "tool_result",
    {"tool_use_id": NAME},
    {
        "content": st.one_of(
            SOME_TEXT,
            st.lists(st.one_of(TEXT_BLOCK, IMAGE_BLOCK, DOCUMENT_BLOCK, SEARCH_RESULT), max_size=3),
        ),
        "is_error": st.booleans(),
        "cache_control": CACHE,
    },
)
TOOL_USE = _block(
    "tool_use", {"id": NAME, "name": NAME, "input": st.dictionaries(NAME, JSON_VALUE, max_size=3)}
)
THINKING = _block(
    "thinking", {"thinking": SOME_TEXT, "signature": TEXT.map(lambda s: SECRET_MARK + s)}
)
REDACTED = _block("redacted_thinking", {"data": TEXT.map(lambda s: SECRET_MARK + s)})

USER_CONTENT = st.one_of(
    SOME_TEXT,
    st.lists(
        st.one_of(TEXT_BLOCK, IMAGE_BLOCK, DOCUMENT_BLOCK, SEARCH_RESULT, TOOL_RESULT), max_size=4
    ),
)
ASSISTANT_CONTENT = st.one_of(
    SOME_TEXT, st.lists(st.one_of(TEXT_BLOCK, TOOL_USE, THINKING, REDACTED), max_size=4)
)
SYSTEM_CONTENT = st.one_of(SOME_TEXT, st.lists(TEXT_BLOCK, max_size=3))
MESSAGE = st.one_of(
    st.fixed_dictionaries({"role": st.just("user"), "content": USER_CONTENT}),
    st.fixed_dictionaries({"role": st.just("assistant"), "content": ASSISTANT_CONTENT}),
    st.fixed_dictionaries({"role": st.just("system"), "content": SYSTEM_CONTENT}),
)
TOOL = st.fixed_dictionaries(
    {
        "name": NAME,
        "input_schema": st.just({"type": "object", "properties": {"q": {"type": "string"}}}),
    },
    optional={"description": SOME_TEXT, "cache_control": CACHE, "strict": st.booleans()},
)
TOOL_CHOICE = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["auto", "any", "none"])},
        optional={"disable_parallel_tool_use": st.booleans()},
    ),
    st.fixed_dictionaries({"type": st.just("tool"), "name": NAME}),
)
THINKING_CONFIG = st.one_of(
    st.fixed_dictionaries({"type": st.just("enabled"), "budget_tokens": st.integers(1024, 32000)}),
    st.just({"type": "disabled"}),
    st.just({"type": "adaptive"}),
)


def bodies() -> Any:
    """Valid Messages bodies that a provider other than Anthropic can be sent."""
    return st.fixed_dictionaries(
        {
            "max_tokens": st.integers(1, 64000),
            "messages": st.lists(MESSAGE, min_size=1, max_size=6),
        },
        optional={
            "model": st.sampled_from(["claude-sonnet-4-5", "auto", "ollama/qwen3"]),
            "system": SYSTEM_CONTENT,
            "tools": st.lists(TOOL, max_size=3),
            "tool_choice": TOOL_CHOICE,
            "stop_sequences": st.lists(WORDS.filter(bool), max_size=3),
            "temperature": st.floats(0, 1),
            "top_p": st.floats(0, 1),
            "top_k": st.integers(0, 500),
            "metadata": st.fixed_dictionaries({"user_id": NAME}),
            "thinking": THINKING_CONFIG,
            "stream": st.booleans(),
            "service_tier": st.sampled_from(["auto", "standard_only"]),
            "output_config": st.fixed_dictionaries(
                {},
                optional={
                    "format": st.just({"type": "json_schema", "schema": {"type": "object"}}),
                    "effort": st.sampled_from(["low", "high"]),
                },
            ),
            "tags": st.lists(NAME, max_size=3),
        },
    )


WRONG = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), TEXT,
    st.just([]), st.just({}), st.just([1]), st.just({"type": "x"}),
)  # fmt: skip


def _paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here] if here else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*here, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*here, i))
    return out


@st.composite
def mutated(draw: Any, strategy: Any = None) -> Json:
    """A valid body with one value replaced by a wrong one, or removed."""
    body: Json = copy.deepcopy(draw(strategy if strategy is not None else bodies()))
    path = draw(st.sampled_from(_paths(body)))
    parent: Any = body
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(WRONG)
    return body
