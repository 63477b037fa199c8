"""OpenAI chunks → Anthropic SSE events (localrouter/dialects/anthropic_events.py).

Golden cases: tests/golden/anthropic/streams/NAME.json (chunks, then ``finish`` arguments or an
``error``) and NAME.sse (the exact bytes); ``UPDATE_GOLDEN=1`` rewrites the .sse files. Every
stream is also checked against Anthropic's event grammar, validated event by event with the
official SDK's types, and read by the SDK's own stream accumulator; a property test holds the
streamed message equal to the non-streamed one for the same answer.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from localrouter.dialects.anthropic_answer import message_from_chat
from localrouter.dialects.anthropic_events import StreamEncoder
from localrouter.errors import StreamShapeError

Json = dict[str, Any]
GOLDEN = Path(__file__).resolve().parent / "golden" / "anthropic" / "streams"
CASES = sorted(GOLDEN.glob("*.json"))
EVENT = TypeAdapter(RawMessageStreamEvent)


def chunk(delta: Json | None = None, finish: str | None = None, usage: Json | None = None) -> Json:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    out: Json = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": choices,
    }
    if usage is not None:
        out["usage"] = usage
    return out


def run(case: Json) -> bytes:
    encoder = StreamEncoder(
        model="claude-sonnet-4-5",
        message_id="msg_01",
        input_tokens=case["input_tokens"],
        stop_sequences=case.get("stop_sequences"),
    )
    out = encoder.start()
    for item in case["chunks"]:
        out += encoder.feed(item)
    if "error" in case:
        status, message = case["error"]
        return out + encoder.error(status, message, request_id="req_1")
    finish = case["finish"]
    usage = finish.get("usage")
    return out + encoder.finish(tuple(usage) if usage else None, finish.get("finish_reason"))


def events(raw: bytes) -> list[tuple[str, Json]]:
    """The (name, data) pairs of SSE bytes, checking the framing on the way."""
    assert raw.endswith(b"\n\n")
    out = []
    for frame in raw[:-2].split(b"\n\n"):
        name, data = frame.split(b"\n")
        assert name.startswith(b"event: ") and data.startswith(b"data: ")
        out.append((name[7:].decode(), json.loads(data[6:])))
    return out


def assert_anthropic_grammar(seq: list[tuple[str, Json]]) -> None:
    """message_start, blocks one at a time (start, deltas, stop; indices 0, 1, …), one ping after
    the first block starts, then message_delta and message_stop — or an error, last."""
    names = [name for name, _ in seq]
    for name, data in seq:
        assert data["type"] == name
        if name == "ping":
            assert data == {"type": "ping"}
        elif name == "error":
            ErrorResponse.model_validate(data)
        else:
            EVENT.validate_python(data)
    assert names[0] == "message_start"
    assert names.count("ping") == (1 if "content_block_start" in names else 0)
    if "ping" in names:
        assert names[names.index("ping") - 1] == "content_block_start"
        assert names.index("ping") == names.index("content_block_start") + 1
    open_index, expected = None, 0
    for name, data in seq[1:]:
        if name == "content_block_start":
            assert open_index is None and data["index"] == expected
            open_index = expected
        elif name == "content_block_delta":
            assert data["index"] == open_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index, expected = None, expected + 1
    if names[-1] == "error":
        assert "message_stop" not in names
        return
    assert open_index is None
    assert names[-2:] == ["message_delta", "message_stop"]
    assert names.count("message_delta") == 1


def sdk_final_message(raw: bytes) -> Message:
    """What the official SDK's streaming helper makes of the bytes."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    client = anthropic.Anthropic(
        api_key="k",
        base_url="http://gateway.test",
        http_client=httpx2.Client(transport=httpx2.MockTransport(answer)),
    )
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return stream.get_final_message()


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden_streams(case: Path) -> None:
    data = json.loads(case.read_text(encoding="utf-8"))
    raw = run(data)
    expected = case.with_suffix(".sse")
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_bytes(raw)
    assert raw == expected.read_bytes()
    seq = events(raw)
    assert_anthropic_grammar(seq)
    if seq[-1][0] != "error":
        final = sdk_final_message(raw)
        assert final.usage.output_tokens == seq[-2][1]["usage"]["output_tokens"]
        assert final.stop_reason == seq[-2][1]["delta"]["stop_reason"]


def test_the_sdk_reads_the_tool_stream() -> None:
    data = json.loads((GOLDEN / "reasoning-text-tools.json").read_text(encoding="utf-8"))
    final = sdk_final_message(run(data))
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert final.content[0].thinking == "The user wants the weather."  # type: ignore[union-attr]
    assert final.content[2].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert (final.stop_reason, final.usage.input_tokens, final.usage.output_tokens) == (
        "tool_use",
        31,
        40,
    )


def test_an_in_band_error_is_what_the_sdk_raises() -> None:
    data = json.loads((GOLDEN / "error-mid-stream.json").read_text(encoding="utf-8"))
    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk_final_message(run(data))
    assert "every candidate failed" in str(caught.value)


def test_a_tool_call_resumed_after_another_block_is_refused() -> None:
    encoder = StreamEncoder(model="m", message_id="msg_1")
    encoder.feed(
        chunk(
            {"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{"}}]}
        )
    )
    encoder.feed(
        chunk(
            {"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}}]}
        )
    )
    with pytest.raises(StreamShapeError):
        encoder.feed(chunk({"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]}))
    with pytest.raises(StreamShapeError):
        StreamEncoder(model="m", message_id="msg_2").feed(
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]})
        )


def test_nothing_follows_the_end() -> None:
    encoder = StreamEncoder(model="m", message_id="msg_1")
    raw = encoder.finish()  # no chunk at all: still a whole, valid stream
    assert [n for n, _ in events(raw)] == ["message_start", "message_delta", "message_stop"]
    assert encoder.feed(chunk({"content": "late"})) == b""
    assert encoder.finish() == b"" and encoder.error(500, "x") == b""


# ---------------------------------------------------------------- streamed = not streamed

ANSWER = st.fixed_dictionaries(
    {
        "reasoning": st.text(max_size=30),
        "text": st.text(max_size=60),
        "calls": st.lists(
            st.tuples(
                st.from_regex(r"[a-z]{1,8}", fullmatch=True),
                st.dictionaries(
                    st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=8)), max_size=3
                ),
            ),
            max_size=3,
        ),
        "finish": st.sampled_from(["stop", "length", "tool_calls", "content_filter"]),
    }
)


def _pieces(draw: Any, text: str) -> list[str]:
    cuts = sorted(draw(st.sets(st.integers(1, max(len(text) - 1, 1)), max_size=4)))
    bounds = [0, *[c for c in cuts if c < len(text)], len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if text[a:b]]


@settings(max_examples=200, deadline=None)
@given(ANSWER, st.data())
def test_a_streamed_answer_is_the_same_message(answer: Json, data: Any) -> None:
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"reasoning_content": p}) for p in _pieces(data.draw, answer["reasoning"])]
    chunks += [chunk({"content": p}) for p in _pieces(data.draw, answer["text"])]
    calls = []
    for i, (name, arguments) in enumerate(answer["calls"]):
        text = json.dumps(arguments)
        calls.append(
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": text}}
        )
        head = {
            "index": i,
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        chunks.append(chunk({"tool_calls": [head]}))
        chunks += [
            chunk({"tool_calls": [{"index": i, "function": {"arguments": p}}]})
            for p in _pieces(data.draw, text)
        ]
    usage = {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33}
    chunks += [chunk({}, answer["finish"]), chunk(None, usage=usage)]

    encoder = StreamEncoder(model="claude", message_id="msg_s", input_tokens=9)
    raw = encoder.start() + b"".join(encoder.feed(c) for c in chunks) + encoder.finish()
    assert_anthropic_grammar(events(raw))
    streamed = sdk_final_message(raw).model_dump(exclude_none=True)

    message = {
        "role": "assistant",
        "content": answer["text"] or None,
        "reasoning_content": answer["reasoning"],
    }
    if calls:
        message["tool_calls"] = calls
    whole = {
        "choices": [{"index": 0, "message": message, "finish_reason": answer["finish"]}],
        "usage": usage,
    }
    expected = Message.model_validate(message_from_chat(whole, model="claude", message_id="msg_s"))
    assert streamed == expected.model_dump(exclude_none=True)


def test_cost_per_text_chunk() -> None:
    """The hot path: one text chunk → one content_block_delta (docs/anthropic.md gives the
    measured number; this bound only catches a regression by an order of magnitude)."""
    encoder = StreamEncoder(model="m", message_id="msg_1")
    encoder.feed(chunk({"content": "start"}))
    items = [chunk({"content": f"token {i} "}) for i in range(2000)]
    best = min(_timed(encoder, items) for _ in range(5))
    assert best < 10e-6, f"{best * 1e6:.2f} µs per chunk"
    assert orjson.loads(encoder.feed(items[0]).split(b"data: ")[1])["delta"]["text"] == "token 0 "


def _timed(encoder: StreamEncoder, items: list[Json]) -> float:
    started = time.perf_counter()
    for item in items:
        encoder.feed(item)
    return (time.perf_counter() - started) / len(items)
