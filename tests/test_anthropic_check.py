"""Validation of Anthropic Messages requests (localrouter/dialects/anthropic_check.py): what is
accepted, what is refused with which ``param``, the bounds, and that it never raises."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localrouter.dialects.anthropic_check import (
    MAX_BLOCKS,
    MAX_DEPTH,
    MAX_FIELDS,
    MAX_MESSAGES,
    MAX_TOOLS,
    check,
)
from tests.anthropic_bodies import bodies, mutated

Json = dict[str, Any]
BASE: Json = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}
PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def body(**fields: Any) -> Json:
    out = copy.deepcopy(BASE)
    out.update(fields)
    return out


def user(*blocks: Json) -> list[Json]:
    return [{"role": "user", "content": list(blocks)}]


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


GOLDEN = Path(__file__).resolve().parent / "golden" / "anthropic" / "requests"
CLAUDE_CODE: Json = json.loads((GOLDEN / "claude-code-turn.json").read_text(encoding="utf-8"))[
    "request"
]
CLAUDE_CODE_NATIVE: Json = {  # with what only goes to Anthropic: a server tool, a new field
    **CLAUDE_CODE,
    "tools": [*CLAUDE_CODE["tools"], {"type": "web_search_20250305", "name": "web_search"}],
    "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
}


@pytest.mark.parametrize(
    "request_body",
    [
        BASE,
        body(model=None),  # absent model: the client's strategy
        {"max_tokens": 1, "messages": [{"role": "user", "content": "x"}]},
        CLAUDE_CODE,
        CLAUDE_CODE_NATIVE,
        body(system="be brief", stop_sequences=["\n\nHuman:"], temperature=0.5, top_p=1, top_k=40),
        body(messages=user({"type": "image", "source": PNG}, {"type": "text", "text": "what?"})),
        body(messages=user({"type": "image", "source": {"type": "url", "url": "https://x/y.png"}})),
        body(messages=user({"type": "image", "source": {"type": "file", "file_id": "file_1"}})),
        body(
            messages=user(
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
                    "title": "t",
                },
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "words"},
                },
                {"type": "document", "source": {"type": "url", "url": "https://x/y.pdf"}},
                {
                    "type": "document",
                    "source": {"type": "content", "content": [{"type": "text", "text": "a"}]},
                },
                {
                    "type": "search_result",
                    "source": "https://x",
                    "title": "x",
                    "content": [{"type": "text", "text": "r"}],
                },
            )
        ),
        body(
            messages=user(
                {
                    "type": "tool_result",
                    "tool_use_id": "t",
                    "content": [{"type": "text", "text": "r"}, {"type": "image", "source": PNG}],
                }
            )
        ),
        body(
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
            tools=[{"name": "f", "input_schema": {}}],
        ),
        body(tool_choice={"type": "tool", "name": "f"}),
        body(thinking={"type": "disabled"}),
        body(thinking={"type": "adaptive"}),
        body(
            service_tier="standard_only",
            container="container_1",
            mcp_servers=[{"type": "url", "url": "https://m", "name": "m"}],
        ),
        body(
            output_config={
                "format": {"type": "json_schema", "schema": {"type": "object"}},
                "effort": "low",
            }
        ),
        body(messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "u"}]),
        body(
            messages=user({"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}})
        ),
        body(a_field_from_next_month={"x": [1, 2]}),  # unknown fields pass (forwarding)
        body(temperature=None, system=None),  # a top-level null is "absent"
        body(tools=[{"name": "deep", "input_schema": nested(MAX_DEPTH)}]),
    ],
)
def test_valid_requests_pass(request_body: Json) -> None:
    before = copy.deepcopy(request_body)
    assert check(request_body) is None
    assert request_body == before  # never changed


@pytest.mark.parametrize(
    ("request_body", "param", "words"),
    [
        ({"messages": BASE["messages"]}, "max_tokens", "Field required"),
        (body(max_tokens=None), "max_tokens", "Field required"),
        ({"max_tokens": 5}, "messages", "Field required"),
        (body(max_tokens=0), "max_tokens", "at least 1"),
        (body(max_tokens=1.5), "max_tokens", "an integer"),
        (body(max_tokens=True), "max_tokens", "an integer"),
        (body(model=5), "model", "a string"),
        (body(messages=[]), "messages", "at least one message"),
        (body(messages="hi"), "messages", "an array"),
        (body(messages=[5]), "messages.0", "a message object"),
        (body(messages=[{"role": "tool", "content": "x"}]), "messages.0.role", "user, assistant"),
        (body(messages=[{"role": "user"}]), "messages.0.content", "a string or an array"),
        (body(messages=user({"type": "text"})), "messages.0.content.0.text", "a string"),
        (body(messages=user({"type": "text", "text": 5})), "messages.0.content.0.text", "a string"),
        (body(messages=user({"text": "x"})), "messages.0.content.0.type", "a string"),
        (body(messages=user({"type": "Bad Type"})), "messages.0.content.0.type", "unknown"),
        (
            body(
                messages=user(
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/bmp", "data": "x"},
                    }
                )
            ),
            "messages.0.content.0.source.media_type",
            "image/png",
        ),
        (
            body(messages=user({"type": "image", "source": {"type": "path", "path": "/etc"}})),
            "messages.0.content.0.source.type",
            "base64",
        ),
        (
            body(messages=user({"type": "image", "source": {"type": "url"}})),
            "messages.0.content.0.source.url",
            "a string",
        ),
        (
            body(messages=user({"type": "document", "source": {"type": "text"}})),
            "messages.0.content.0.source.data",
            "a string",
        ),
        (
            body(
                messages=user(
                    {
                        "type": "document",
                        "source": {
                            "type": "content",
                            "content": [{"type": "tool_use", "id": "x", "name": "y", "input": {}}],
                        },
                    }
                )
            ),
            "messages.0.content.0.source.content.0.type",
            "not accepted here",
        ),
        (
            body(messages=user({"type": "tool_use", "id": "t", "name": "f", "input": {}})),
            "messages.0.content.0.type",
            "not accepted in a user message",
        ),
        (
            body(
                messages=[
                    {"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]}
                ]
            ),
            "messages.0.content.0.type",
            "not accepted in a assistant",
        ),
        (
            body(
                messages=[
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "{}"}],
                    }
                ]
            ),
            "messages.0.content.0.input",
            "an object",
        ),
        (
            body(
                messages=[{"role": "assistant", "content": [{"type": "thinking", "thinking": "x"}]}]
            ),
            "messages.0.content.0.signature",
            "a string",
        ),
        (
            body(messages=[{"role": "assistant", "content": [{"type": "redacted_thinking"}]}]),
            "messages.0.content.0.data",
            "a string",
        ),
        (
            body(messages=user({"type": "tool_result", "tool_use_id": "t", "is_error": "yes"})),
            "messages.0.content.0.is_error",
            "a boolean",
        ),
        (
            body(
                messages=user(
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [{"type": "tool_result", "tool_use_id": "u"}],
                    }
                )
            ),
            "messages.0.content.0.content.0.type",
            "not accepted here",
        ),
        (
            body(messages=user({"type": "text", "text": "x", "cache_control": "yes"})),
            "messages.0.content.0.cache_control",
            "an object",
        ),
        (
            body(messages=[{"role": "system", "content": [{"type": "image", "source": PNG}]}]),
            "messages.0.content.0.type",
            "not accepted here",
        ),
        (body(system=5), "system", "an array"),
        (body(system=[{"type": "image", "source": PNG}]), "system.0.type", "not accepted here"),
        (body(tools={"name": "f"}), "tools", "an array"),
        (body(tools=[{"name": "f"}]), "tools.0.input_schema", "an object"),
        (body(tools=[{"input_schema": {}}]), "tools.0.name", "a string"),
        (body(tools=[{"type": 5}]), "tools.0.type", "a tool type name"),
        (body(tool_choice="auto"), "tool_choice", "an object"),
        (body(tool_choice={"type": "required"}), "tool_choice.type", "auto, none, tool"),
        (body(tool_choice={"type": "tool"}), "tool_choice.name", "a string"),
        (
            body(tool_choice={"type": "auto", "disable_parallel_tool_use": 1}),
            "tool_choice.disable_parallel_tool_use",
            "a boolean",
        ),
        (body(stop_sequences="END"), "stop_sequences", "an array"),
        (body(stop_sequences=["a", 1]), "stop_sequences.1", "a string"),
        (body(temperature=1.5), "temperature", "between 0 and 1"),
        (body(top_p="1"), "top_p", "a number"),
        (body(top_k=-1), "top_k", "at least 0"),
        (body(metadata={"user_id": 5}), "metadata.user_id", "a string"),
        (body(metadata=[]), "metadata", "an object"),
        (body(thinking={"type": "enabled"}), "thinking.budget_tokens", "an integer"),
        (
            body(thinking={"type": "enabled", "budget_tokens": 1000}),
            "thinking.budget_tokens",
            "at least 1024",
        ),
        (body(thinking={"type": "on"}), "thinking.type", "adaptive, disabled, enabled"),
        (body(stream="true"), "stream", "a boolean"),
        (body(service_tier="priority"), "service_tier", "auto, standard_only"),
        (body(container=5), "container", "an object"),
        (body(mcp_servers=[{"type": "url", "name": "m"}]), "mcp_servers.0.url", "a string"),
        (
            body(output_config={"format": {"type": "json_schema"}}),
            "output_config.format.schema",
            "an object",
        ),
        (body(**{"Bad-Key": 1}), "Bad-Key", "Extra inputs are not permitted"),
        (
            body(tools=[{"name": "deep", "input_schema": nested(MAX_DEPTH + 1)}]),
            "tools.0.input_schema",
            f"deeper than {MAX_DEPTH}",
        ),
        (
            body(
                messages=[
                    {
                        "role": "assistant",
                        "content": [
                            {
                                "type": "tool_use",
                                "id": "t",
                                "name": "f",
                                "input": nested(MAX_DEPTH + 1),
                            }
                        ],
                    }
                ]
            ),
            "messages.0.content.0.input",
            "deeper",
        ),
        (body(metadata=nested(MAX_DEPTH + 1)), "metadata", "deeper"),
        (body(extra=[nested(MAX_DEPTH)]), "extra", "deeper"),
        (
            body(messages=user({"type": "web_search_tool_result", "content": [nested(MAX_DEPTH)]})),
            "messages.0.content.0",
            "deeper",
        ),
    ],
)
def test_invalid_requests_name_the_field(request_body: Json, param: str, words: str) -> None:
    problem = check(request_body)
    assert problem is not None
    message, where = problem
    assert where == param
    assert words in message
    assert message.startswith(param.split(".")[0][:10]) or "fields" in message


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("messages", [{"role": "user", "content": "x"}] * (MAX_MESSAGES + 1), MAX_MESSAGES),
        ("messages", user(*[{"type": "text", "text": "x"}] * (MAX_BLOCKS + 1)), MAX_BLOCKS),
        ("tools", [{"name": "f", "input_schema": {}}] * (MAX_TOOLS + 1), MAX_TOOLS),
    ],
)
def test_lists_are_bounded(field: str, value: Any, limit: int) -> None:
    problem = check(body(**{field: value}))
    assert problem is not None
    assert str(limit) in problem[0]


def test_top_level_fields_are_bounded() -> None:
    many = body(**{f"f{i}": i for i in range(MAX_FIELDS)})
    assert check(many) == (
        f"the request has {len(many)} fields; at most {MAX_FIELDS} are accepted",
        None,
    )


def test_a_body_at_the_json_parsers_depth_is_refused_quickly() -> None:
    deep = body(extra=nested(1000))
    started = time.perf_counter()
    assert check(deep) is not None
    assert time.perf_counter() - started < 0.05


@settings(max_examples=300, deadline=None)
@given(bodies())
def test_generated_valid_bodies_pass(request_body: Json) -> None:
    assert check(request_body) is None


@settings(max_examples=500, deadline=None)
@given(st.one_of(mutated(), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)))
def test_check_never_raises(request_body: Json) -> None:
    problem = check(request_body)
    assert problem is None or (isinstance(problem[0], str) and problem[0])
