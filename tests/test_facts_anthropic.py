"""Request facts for Anthropic Messages bodies (localrouter/routing/facts_anthropic.py): equal to
the facts of the OpenAI body the request translates to, so a conversation routes the same in
either dialect; the client-data bounds; and the cost against translating first."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from localrouter.dialects.anthropic_answer import count_tokens_answer, estimate_input_tokens
from localrouter.dialects.anthropic_to_chat import to_chat
from localrouter.errors import RequestDataError, Untranslatable
from localrouter.routing.client_data import MAX_TAGS
from localrouter.routing.facts import RequestFacts, facts_from_openai
from localrouter.routing.facts_anthropic import facts_from_anthropic
from tests.anthropic_bodies import bodies

Json = dict[str, Any]
GOLDEN = Path(__file__).resolve().parent / "golden" / "anthropic" / "requests"
SAME = ("model", "messages_count", "estimated_tokens", "max_tokens", "has_tools", "stream",
        "complexity", "tags", "metadata")  # fmt: skip


def _by_file_id(body: Json) -> bool:
    """Does the body hold an image given by a Files API id (seen natively, not translated)?"""
    return '"file_id"' in json.dumps(body) and '"image"' in json.dumps(body)


def assert_same_facts(body: Json) -> tuple[RequestFacts, RequestFacts] | None:
    try:
        translated = to_chat(body, stream=body.get("stream") is True)
    except Untranslatable:
        return None
    ours = facts_from_anthropic(body, {"X-Client": "t"})
    theirs = facts_from_openai(translated.body, {"X-Client": "t"})
    for name in SAME:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.headers == theirs.headers
    if ours.has_images != theirs.has_images:  # only an image by file id: Anthropic reads it
        assert ours.has_images and _by_file_id(body)
        assert ours.needs == theirs.needs | {"vision"}
    else:
        assert ours.needs == theirs.needs
    assert estimate_input_tokens(body) == ours.estimated_tokens
    return ours, theirs


@pytest.mark.parametrize("case", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden_requests_have_the_facts_of_their_translation(case: Path) -> None:
    body = json.loads(case.read_text(encoding="utf-8"))["request"]
    assert assert_same_facts(body) is not None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_facts_equal_the_translations_facts(body: Json) -> None:
    assert_same_facts(body)


def test_the_conventions() -> None:
    body = {
        "model": "claude-x",
        "max_tokens": 300,
        "system": [{"type": "text", "text": "aaaa"}, {"type": "text", "text": "bbbb"}],
        "messages": [
            {"role": "user", "content": "why"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "t", "name": "f", "input": {"x": "y" * 400}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t", "content": "12345678"},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
            ]},
        ],
        "tools": [{"name": "f", "input_schema": {"type": "object", "description": "z" * 4000}}],
        "output_config": {"format": {"type": "json_schema", "schema": {}}},
        "stream": True,
    }  # fmt: skip
    facts = facts_from_anthropic(body)
    # system, user, assistant (a tool call), tool, user (the image): five messages
    assert facts.messages_count == 5
    text = "aaaa\n\nbbbb" + "\n" + "why" + "\n" + "" + "\n" + "12345678" + "\n" + ""
    assert (
        facts.estimated_tokens == (len(text) + 3) // 4 + 4 * 5
    )  # tool schemas and inputs: not counted
    assert (facts.has_tools, facts.has_images, facts.stream, facts.max_tokens) == (
        True,
        True,
        True,
        300,
    )
    assert facts.needs == {"tools", "vision", "json"}
    assert count_tokens_answer(estimate_input_tokens(body)) == {
        "input_tokens": facts.estimated_tokens
    }


def test_client_data_is_bounded() -> None:
    body: Json = {"max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(RequestDataError):
        facts_from_anthropic({**body, "tags": ["t"] * (MAX_TAGS + 1)})
    with pytest.raises(RequestDataError):
        facts_from_anthropic({**body, "metadata": {"user_id": "u", "deep": [[[[[[[[[1]]]]]]]]]}})
    with pytest.raises(RequestDataError) as caught:
        facts_from_anthropic(body, {f"h{i}": "v" for i in range(101)})
    assert caught.value.status == 431


def test_reading_facts_costs_less_than_translating() -> None:
    body = json.loads((GOLDEN / "claude-code-turn.json").read_text(encoding="utf-8"))["request"]
    body["messages"] = body["messages"] * 40  # a long agent session

    def best(fn: Any) -> float:
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(20):
                fn()
            runs.append((time.perf_counter() - started) / 20)
        return min(runs)

    direct = best(lambda: facts_from_anthropic(body))
    via = best(lambda: facts_from_openai(to_chat(body, stream=True).body))
    assert direct < via
