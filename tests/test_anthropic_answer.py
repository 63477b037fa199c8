"""``chat.completion`` → Anthropic ``message`` (localrouter/dialects/anthropic_answer.py) and the
Anthropic error envelope (anthropic_errors.py), each validated with the official ``anthropic``
SDK's own types.

Golden cases: tests/golden/anthropic/answers/*.json (``chat`` and ``stop_sequences`` in,
``expect`` out); ``UPDATE_GOLDEN=1`` rewrites ``expect``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from anthropic.types import Message
from anthropic.types.shared import ErrorResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from localrouter.dialects.anthropic_answer import message_from_chat, stop_reason, tool_input
from localrouter.dialects.anthropic_errors import error_body, error_type

Json = dict[str, Any]
GOLDEN = Path(__file__).resolve().parent / "golden" / "anthropic" / "answers"
CASES = sorted(GOLDEN.glob("*.json"))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden_answers(case: Path) -> None:
    data = json.loads(case.read_text(encoding="utf-8"))
    got = message_from_chat(
        data["chat"],
        model="claude-sonnet-4-5",
        message_id="msg_01",
        stop_sequences=data.get("stop_sequences"),
    )
    if os.environ.get("UPDATE_GOLDEN"):
        data["expect"] = got
        case.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert got == data["expect"]
    parsed = Message.model_validate(got)  # Anthropic's own schema
    assert parsed.model_dump(exclude_unset=True) == got  # nothing unknown to it


@pytest.mark.parametrize(
    ("finish", "tools", "reason"),
    [
        ("stop", False, "end_turn"),
        ("stop", True, "tool_use"),  # Ollama and Gemini say stop with tool calls
        ("length", False, "max_tokens"),
        ("length", True, "max_tokens"),
        ("tool_calls", True, "tool_use"),
        ("function_call", True, "tool_use"),
        ("content_filter", False, "refusal"),
        (None, False, "end_turn"),
        ("something_new", False, "end_turn"),
    ],
)
def test_stop_reasons(finish: str | None, tools: bool, reason: str) -> None:
    assert stop_reason(finish, tool_calls=tools) == reason


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("", {}),
        (None, {}),
        ("{broken", {}),
        ("[1]", {}),
        ('"text"', {}),
        ({"a": 2}, {"a": 2}),
    ],
)
def test_tool_input_is_always_an_object(arguments: Any, expected: Json) -> None:
    assert tool_input(arguments) == expected


CHATTY = st.fixed_dictionaries(
    {},
    optional={
        "content": st.one_of(st.none(), st.text(max_size=20)),
        "reasoning_content": st.one_of(st.none(), st.text(max_size=20)),
        "refusal": st.one_of(st.none(), st.text(max_size=20)),
        "tool_calls": st.lists(
            st.fixed_dictionaries(
                {
                    "function": st.fixed_dictionaries(
                        {"name": st.text(min_size=1, max_size=8)},
                        optional={
                            "arguments": st.one_of(st.text(max_size=20), st.just('{"x": [1]}'))
                        },
                    )
                },
                optional={"id": st.text(max_size=8), "type": st.just("function")},
            ),
            max_size=3,
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    CHATTY,
    st.sampled_from([None, "stop", "length", "tool_calls", "content_filter", "weird"]),
    st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {"prompt_tokens": st.integers(0, 10**6), "completion_tokens": st.integers(0, 10**6)},
            optional={
                "prompt_tokens_details": st.fixed_dictionaries(
                    {"cached_tokens": st.integers(0, 10**6)}
                )
            },
        ),
    ),
)
def test_any_chat_answer_makes_a_valid_message(
    message: Json, finish: str | None, usage: Json | None
) -> None:
    result: Json = {"choices": [{"index": 0, "message": message, "finish_reason": finish}]}
    if usage is not None:
        result["usage"] = usage
    got = message_from_chat(result, model="m", message_id="msg_x")
    parsed = Message.model_validate(got)
    assert parsed.usage.input_tokens >= 0
    ids = [b.id for b in parsed.content if b.type == "tool_use"]
    assert len(ids) == len(set(ids)) or any(c.get("id") for c in message.get("tool_calls", []))


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"), (401, "authentication_error"), (402, "billing_error"),
        (403, "permission_error"), (404, "not_found_error"), (408, "invalid_request_error"),
        (409, "invalid_request_error"), (413, "request_too_large"), (421, "invalid_request_error"),
        (422, "invalid_request_error"), (429, "rate_limit_error"), (431, "invalid_request_error"),
        (500, "api_error"), (501, "api_error"), (502, "api_error"), (503, "overloaded_error"),
        (504, "timeout_error"), (529, "overloaded_error"),
    ],
)  # fmt: skip
def test_error_types(status: int, kind: str) -> None:
    assert error_type(status) == kind
    body = error_body(status, "went wrong", request_id="req_1")
    assert body == {
        "type": "error",
        "error": {"type": kind, "message": "went wrong"},
        "request_id": "req_1",
    }
    if kind != "request_too_large":  # in Anthropic's error table, not in its SDK's union
        ErrorResponse.model_validate(body)  # raises unless Anthropic's SDK knows the type


def test_error_types_by_name() -> None:
    assert error_body("overloaded_error", "busy")["error"]["type"] == "overloaded_error"
    assert error_body("upstream_error", "x")["error"]["type"] == "api_error"
    assert "request_id" not in error_body(400, "x")
