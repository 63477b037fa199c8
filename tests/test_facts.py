"""Request facts and the complexity classifier (docs/routing.md): each signal's points, word
boundaries, the cue window, and the fields built from an OpenAI body."""

from __future__ import annotations

import pytest

from localrouter.routing.facts import (
    CUE_WINDOW,
    RequestFacts,
    complexity_score,
    estimate_tokens,
    facts_from_openai,
)

CUE = 0.25 / 3  # one distinct reasoning cue


def score(text: str, messages: int = 1, tools: bool = False) -> float:
    return complexity_score(text, messages, tools)


def test_plain_chat_scores_length_only() -> None:
    assert score("hello there") == round(11 / 8000 * 0.35, 4)
    assert score("x" * 16000) == 0.35  # length is capped at 8,000 characters


@pytest.mark.parametrize(
    "text",
    [
        "```python\nprint(1)\n```",
        "def main():",
        "class Foo:",
        "const f = (a) => a",
        "#include <stdio.h>",
        "import os",
        "int x = 1;",
        "if (x) {\n",
        "a javascript function here",
    ],
)
def test_code_scores_0_2(text: str) -> None:
    assert score(text) == pytest.approx(0.2 + min(len(text) / 8000, 1) * 0.35, abs=1e-4)


@pytest.mark.parametrize(
    "text", ["undefined behaviour", "classic rock", "subclasses", "importance"]
)
def test_code_words_need_word_boundaries(text: str) -> None:
    assert score(text) < 0.01


def test_reasoning_cues_count_distinct_words_up_to_three() -> None:
    base = min(len("why") / 8000, 1) * 0.35
    assert score("why") == pytest.approx(base + CUE, abs=1e-4)
    assert score("why why why why") < 0.1  # the same cue counts once
    text = "why prove derive compare"
    assert score(text) == pytest.approx(len(text) / 8000 * 0.35 + 0.25, abs=1e-4)
    assert score("Explain how it works, Step by step") == pytest.approx(
        34 / 8000 * 0.35 + 2 * CUE, abs=1e-4
    )
    assert score("the trade-offs") == pytest.approx(14 / 8000 * 0.35 + CUE, abs=1e-4)


@pytest.mark.parametrize("text", ["improve it", "approve it", "designer", "reasoning", "whyever"])
def test_cues_are_whole_words(text: str) -> None:
    assert score(text) < 0.01


def test_math_words_and_signs() -> None:
    assert score("solve the integral") == pytest.approx(18 / 8000 * 0.35 + 0.1, abs=1e-4)
    assert score("a ≤ b") == pytest.approx(5 / 8000 * 0.35 + 0.1, abs=1e-4)
    assert score("integrals are fun") < 0.01  # whole words only


def test_depth_and_tools() -> None:
    assert score("", messages=1) == 0
    assert score("", messages=6) == pytest.approx(0.05)
    assert score("", messages=50) == pytest.approx(0.1)
    assert score("", tools=True) == pytest.approx(0.1)


def test_cues_are_looked_for_in_the_recent_text_only() -> None:
    old = "why " + "." * CUE_WINDOW  # the cue is older than the window
    assert score(old) == pytest.approx(min(len(old) / 8000, 1) * 0.35, abs=1e-4)
    recent = "." * CUE_WINDOW + " why"
    assert score(recent) == pytest.approx(min(len(recent) / 8000, 1) * 0.35 + CUE, abs=1e-4)


def test_score_is_capped_at_one() -> None:
    text = "x" * 9000 + " ```code``` why prove derive integral"
    assert score(text, messages=20, tools=True) == 1.0


def test_facts_from_an_openai_body() -> None:
    body = {
        "model": "auto",
        "max_tokens": 100,
        "max_completion_tokens": 300,
        "stream": True,
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "tags": ["vip", 3],
        "metadata": {"team": "ml"},
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:,"}},
                ],
            },
        ],
    }
    f = facts_from_openai(body, {"X-Team": "ml"})
    assert (f.model, f.messages_count, f.max_tokens) == ("auto", 2, 300)
    assert f.estimated_tokens == estimate_tokens("be brief\nwhat is this?") + 8
    assert f.has_tools and f.has_images and f.stream
    assert f.tags == ("vip",) and dict(f.metadata) == {"team": "ml"}
    assert dict(f.headers) == {"x-team": "ml"}
    assert f.complexity == complexity_score("be brief\nwhat is this?", 2, True)


def test_legacy_prompt_and_embeddings_input() -> None:
    assert facts_from_openai({"prompt": "abcd"}).estimated_tokens == 1 + 4
    assert facts_from_openai({"input": ["abcd", "efgh"]}).messages_count == 1


def test_cel_dict_holds_only_the_fields_asked_for() -> None:
    f = RequestFacts(tags=("a",), complexity=1, headers={"x": "y"})
    assert f.as_cel_dict(frozenset({"tags", "complexity"})) == {"tags": ["a"], "complexity": 1.0}
    full = f.as_cel_dict()
    assert len(full) == 11 and type(full["complexity"]) is float and full["headers"] == {"x": "y"}
