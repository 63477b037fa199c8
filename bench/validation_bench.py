"""Request validation: the hand-written check against JSON Schema validators of OpenAI's schemas.

Run by hand, never in the test suite (it reads the vendored OpenAI description from tests/):

    .venv/bin/python bench/validation_bench.py

For each body: ``localrouter.server.validation.check`` (what the gateway runs), ``jsonschema``'s
Draft 2020-12 validator built once over the whole description (``is_valid``), and, when the
``jsonschema-rs`` package is installed (not a dependency), its compiled validator. Median of 7
batches, µs per body. Prints a markdown table for docs/performance.md.
"""

from __future__ import annotations

import copy
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localrouter.server import validation  # noqa: E402
from tests.openapi import document, validator  # noqa: E402

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TURN = [
    {"role": "user", "content": "What is the weather in Paris? " * 4},
    {"role": "assistant", "content": "Let me look that up. " * 4},
]
BODIES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "chat, 1 message": (
        "chat",
        "CreateChatCompletionRequest",
        {"model": "auto", "messages": [{"role": "user", "content": "Hello there"}]},
    ),
    "chat, 40 messages, tools, options": (
        "chat",
        "CreateChatCompletionRequest",
        {
            "model": "auto",
            "messages": [{"role": "system", "content": "Be brief."}, *TURN * 20],
            "tools": [TOOL] * 3,
            "temperature": 0.2,
            "max_tokens": 512,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ),
    "chat, image part": (
        "chat",
        "CreateChatCompletionRequest",
        {
            "model": "auto",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                    ],
                }
            ],
        },
    ),
    "completions": (
        "completion",
        "CreateCompletionRequest",
        {"model": "auto", "prompt": "Once upon a time", "max_tokens": 32},
    ),
    "embeddings, 16 strings": (
        "embeddings",
        "CreateEmbeddingRequest",
        {"model": "auto", "input": ["some text to embed"] * 16},
    ),
}


def per_call_us(fn: Callable[[], object], n: int) -> float:
    runs = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(runs)


def main() -> None:
    try:
        import jsonschema_rs
    except ImportError:
        jsonschema_rs = None
    doc = json.loads(json.dumps(document(), default=str))  # YAML dates as strings
    rows = []
    for label, (kind, schema, body) in BODIES.items():
        copies = [copy.deepcopy(body) for _ in range(2000)]  # check() may normalise in place
        it = iter(copies * 1000)
        ours = per_call_us(lambda k=kind, i=it: validation.check(k, next(i)), 2000)
        slow = validator(schema)
        assert slow.is_valid(body), label
        theirs = per_call_us(lambda v=slow, b=body: v.is_valid(b), 20)
        compiled = "—"
        if jsonschema_rs is not None:
            fast = jsonschema_rs.validator_for(
                {"$ref": f"#/components/schemas/{schema}", "components": doc["components"]}
            )
            compiled = f"{per_call_us(lambda v=fast, b=body: v.is_valid(b), 500):.1f}"
        rows.append(f"| {label} | {ours:.1f} | {theirs:.0f} | {compiled} |")
    print("| body | `validation.check` µs | `jsonschema` µs | `jsonschema-rs` µs |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
