"""The OpenAPI validation harness itself: it accepts a valid object and rejects broken ones."""

import jsonschema
import pytest

from tests.openapi import validate

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hi", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}

CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "delta": {"content": "h"}, "finish_reason": None}],
}


def test_valid_objects_pass() -> None:
    validate("CreateChatCompletionResponse", COMPLETION)
    validate("CreateChatCompletionStreamResponse", CHUNK)


@pytest.mark.parametrize(
    ("name", "broken"),
    [
        ("CreateChatCompletionResponse", {**COMPLETION, "object": "completion"}),
        ("CreateChatCompletionResponse", {k: v for k, v in COMPLETION.items() if k != "choices"}),
        ("CreateChatCompletionStreamResponse", {**CHUNK, "created": "yesterday"}),
    ],
)
def test_invalid_objects_fail(name: str, broken: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate(name, broken)
