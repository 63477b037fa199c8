"""Anthropic Messages requests → OpenAI chat bodies (localrouter/dialects/anthropic_to_chat.py).

Golden cases live in tests/golden/anthropic/requests/*.json: ``request`` and ``stream`` in,
``expect`` ({body, dropped}) out. After an intended change, ``UPDATE_GOLDEN=1 pytest
tests/test_anthropic_to_chat.py`` rewrites ``expect``; review the diff. Every translated body is
also validated against OpenAI's published ``CreateChatCompletionRequest``.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from localrouter.dialects.anthropic_check import check
from localrouter.dialects.anthropic_to_chat import (
    Translated,
    to_chat,
    untranslatable,
)
from localrouter.errors import Untranslatable
from tests.anthropic_bodies import SECRET_MARK, bodies
from tests.openapi import validate

Json = dict[str, Any]
GOLDEN = Path(__file__).resolve().parent / "golden" / "anthropic" / "requests"
CASES = sorted(GOLDEN.glob("*.json"))


def openai_valid(translated: Translated) -> None:
    """The body an adapter would send, against OpenAI's request schema (LocalRouter's own
    ``tags`` and the ``metadata`` kept for routing are what the adapters leave out)."""
    sent = {k: v for k, v in translated.body.items() if k not in ("tags", "metadata")}
    sent.setdefault("model", "gpt-4o")
    validate("CreateChatCompletionRequest", sent)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden_translation(case: Path) -> None:
    data = json.loads(case.read_text(encoding="utf-8"))
    request = data["request"]
    assert check(request) is None
    before = copy.deepcopy(request)
    translated = to_chat(request, stream=data["stream"])
    assert request == before  # the client's body is not changed
    got = {"body": translated.body, "dropped": list(translated.dropped)}
    if os.environ.get("UPDATE_GOLDEN"):
        data["expect"] = got
        case.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert got == data["expect"]
    openai_valid(translated)


def test_the_golden_cases_cover_every_dropped_name() -> None:
    seen: set[str] = set()
    for case in CASES:
        seen.update(json.loads(case.read_text(encoding="utf-8"))["expect"]["dropped"])
    assert {
        "cache_control", "citations", "container", "context_management", "document",
        "document context", "effort", "image file_id", "inference_geo",
        "redacted_thinking blocks", "server_tool_use blocks", "service_tier", "thinking",
        "thinking blocks", "tool fields", "tool_choice", "tool_result is_error", "top_k",
        "web_search_tool_result blocks",
    } <= seen  # fmt: skip


def test_a_claude_code_turn_keeps_tool_pairs_in_order() -> None:
    data = json.loads((GOLDEN / "claude-code-turn.json").read_text(encoding="utf-8"))
    messages = to_chat(data["request"], stream=True).body["messages"]
    roles = [(m["role"], m.get("tool_call_id")) for m in messages]
    assert roles == [
        ("system", None), ("user", None), ("assistant", None), ("tool", "toolu_01A"),
        ("assistant", None), ("tool", "toolu_01B"), ("tool", "toolu_01C"), ("user", None),
    ]  # fmt: skip
    calls = [c["id"] for m in messages for c in m.get("tool_calls", ())]
    assert calls == ["toolu_01A", "toolu_01B", "toolu_01C"]


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [
        ("tools", [{"type": "web_search_20250305", "name": "web_search"}], "tools.0"),
        (
            "tools",
            [{"name": "f", "input_schema": {}}, {"type": "bash_20250124", "name": "bash"}],
            "tools.1",
        ),
        (
            "mcp_servers",
            [{"type": "url", "url": "https://mcp.example", "name": "m"}],
            "mcp_servers",
        ),
    ],
)
def test_what_only_anthropic_runs_is_refused(field: str, value: Any, param: str) -> None:
    request = {"max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], field: value}
    assert check(request) is None
    refusal = untranslatable(request)
    assert refusal is not None and refusal.param == param
    with pytest.raises(Untranslatable) as caught:
        to_chat(request, stream=False)
    assert caught.value.param == param


def test_a_conversation_of_only_thinking_is_refused() -> None:
    thinking = {"type": "thinking", "thinking": "x", "signature": "s"}
    request = {"max_tokens": 10, "messages": [{"role": "assistant", "content": [thinking]}]}
    with pytest.raises(Untranslatable):
        to_chat(request, stream=False)


def test_custom_tools_with_a_type_are_translated() -> None:
    request = {
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "custom", "name": "f", "input_schema": {"type": "object"}}],
    }
    assert to_chat(request, stream=False).body["tools"][0]["function"]["name"] == "f"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_signatures_never_leave_anthropic(request_body: Json) -> None:
    """Thinking blocks and redacted thinking are stripped, always, and named."""
    try:
        translated = to_chat(request_body, stream=bool(request_body.get("stream")))
    except Untranslatable:
        return
    assert SECRET_MARK.encode() not in orjson.dumps(translated.body)
    history = [
        b["type"]
        for m in request_body["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
    ]
    assert ("thinking" in history) == ("thinking blocks" in translated.dropped)
    assert ("redacted_thinking" in history) == ("redacted_thinking blocks" in translated.dropped)
    assert list(translated.dropped) == sorted(set(translated.dropped))
    openai_valid(translated)
