"""Request validation of ``POST /v1/responses`` (localrouter/dialects/responses_check.py): each
wrong shape is named by its ``param``, and the shapes clients send pass."""

from __future__ import annotations

from typing import Any

import pytest

from localrouter.dialects.responses_check import check

OK: list[dict[str, Any]] = [
    {"model": "m", "input": "hi"},
    {"model": "m", "previous_response_id": "resp_x"},
    {"model": "m", "input": [{"role": "user", "content": "hi"}], "background": False},
    {"model": "m", "input": [{"type": "reasoning", "summary": []}], "tools": [{"type": "mcp"}]},
    {"model": "m", "input": "x", "tool_choice": {"type": "custom", "name": "apply_patch"}},
    {"model": "m", "input": "x", "user": None, "store": None},  # nulls: absent
]
BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"input": "hi"}, "model", "`model` is required"),
    ({"model": 3, "input": "hi"}, "model", "must be a string"),
    ({"model": "m"}, "input", "`input` is required"),
    ({"model": "m", "input": 3}, "input", "a string or an array"),
    ({"model": "m", "input": [3]}, "input[0]", "an object"),
    ({"model": "m", "input": [{"content": "x"}]}, "input[0].type", "needs a `type`"),
    ({"model": "m", "input": [{"role": "tool", "content": "x"}]}, "input[0].role", "one of"),
    ({"model": "m", "input": [{"role": "user"}]}, "input[0].content", "is required"),
    (
        {"model": "m", "input": [{"role": "user", "content": [{"type": "input_text"}]}]},
        "input[0].content[0].text",
        "a string",
    ),
    (
        {"model": "m", "input": [{"role": "user", "content": [{"type": "input_image"}]}]},
        "input[0].content[0].image_url",
        "`image_url` or a `file_id`",
    ),
    (
        {"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f"}]},
        "input[0].arguments",
        "a string",
    ),
    (
        {"model": "m", "input": [{"type": "function_call_output", "call_id": "c"}]},
        "input[0].output",
        "is required",
    ),
    (
        {"model": "m", "input": [{"type": "custom_tool_call", "call_id": "c", "name": "p"}]},
        "input[0].input",
        "a string",
    ),
    ({"model": "m", "input": "x", "tools": [{"type": "function"}]}, "tools[0].name", "a string"),
    (
        {
            "model": "m",
            "input": "x",
            "tools": [
                {
                    "type": "namespace",
                    "name": "n",
                    "tools": [{"type": "namespace", "name": "m", "tools": []}],
                }
            ],
        },
        "tools[0].tools[0].type",
        "cannot hold another namespace",
    ),
    ({"model": "m", "input": "x", "tool_choice": "any"}, "tool_choice", "none, auto, required"),
    ({"model": "m", "input": "x", "max_output_tokens": 0}, "max_output_tokens", "at least 1"),
    ({"model": "m", "input": "x", "temperature": 3}, "temperature", ""),
    (
        {"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}},
        "text.format.schema",
        "an object",
    ),
    ({"model": "m", "input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type", ""),
    ({"model": "m", "input": "x", "background": True}, "background", "in the foreground"),
    ({"model": "m", "input": "x", "conversation": "conv_1"}, "conversation", "not served"),
    ({"model": "m", "input": "x", "include": [1]}, "include[0]", ""),
]


@pytest.mark.parametrize("body", OK)
def test_accepted(body: dict[str, Any]) -> None:
    assert check(body) is None
    assert None not in body.values()


@pytest.mark.parametrize(("body", "param", "said"), BAD, ids=[b[1] for b in BAD])
def test_refused(body: dict[str, Any], param: str, said: str) -> None:
    problem = check(body)
    assert problem is not None
    message, where = problem
    assert where == param, message
    assert said in message
