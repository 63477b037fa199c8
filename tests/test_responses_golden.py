"""Golden cases of the Responses API dialect (localrouter/dialects/responses_*.py).

tests/golden/responses/ holds, each a JSON file with its inputs and ``expect``:

* ``requests/``: a Responses request (and the ``history`` a ``previous_response_id`` brought) →
  the chat body, what was dropped, what only a native provider can serve; every body is also
  validated against OpenAI's ``CreateChatCompletionRequest``.
* ``answers/``: a chat completion → the ``response`` object, validated against ``Response``.
* ``streams/``: chat chunks → the Responses events (``expect``: the events' data, and the framed
  bytes in the ``.sse`` file beside it), each validated against its event schema.

After an intended change, ``UPDATE_GOLDEN=1 pytest tests/test_responses_golden.py`` rewrites
``expect``; review the diff. The Codex CLI's captured requests are translated here too.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from localrouter.dialects import responses_answer as answer
from localrouter.dialects.responses_check import check
from localrouter.dialects.responses_events import StreamEncoder
from localrouter.dialects.responses_to_chat import to_chat
from localrouter.errors import StreamShapeError
from tests.openapi import check_event, check_response, validate

Json = dict[str, Any]
GOLDEN = Path(__file__).resolve().parent / "golden" / "responses"
REQUESTS = sorted((GOLDEN / "requests").glob("*.json"))
ANSWERS = sorted((GOLDEN / "answers").glob("*.json"))
STREAMS = sorted((GOLDEN / "streams").glob("*.json"))
CODEX = sorted(GOLDEN.glob("codex_request*.json"))
RESPONSE_ID = "resp_" + "ab" * 24
UPDATE = bool(os.environ.get("UPDATE_GOLDEN"))


def _compare(case: Path, data: Json, got: Any) -> None:
    if UPDATE:
        data["expect"] = got
        case.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert got == data["expect"]


def _base(request: Json) -> Json:
    return answer.base(request, response_id=RESPONSE_ID, model="m", created_at=1, previous=None)


def _names(data: Json) -> answer.CallNames:
    namespaced = {k: (v[0], v[1]) for k, v in data["names"].items()}
    return answer.CallNames(namespaced, frozenset(data.get("custom", ())))


@pytest.mark.parametrize("case", REQUESTS, ids=[c.stem for c in REQUESTS])
def test_request_translation(case: Path) -> None:
    data = json.loads(case.read_text(encoding="utf-8"))
    request = data["request"]
    assert check(request) is None
    before = copy.deepcopy(request)
    translated = to_chat(request, data["history"], stream=data["stream"])
    assert request == before  # the client's body is not changed
    got = {
        "body": translated.body,
        "dropped": list(translated.dropped),
        "refused": list(translated.refused),
        "names": {k: list(v) for k, v in translated.names.namespaced.items()},
        "custom": sorted(translated.names.custom),
    }
    _compare(case, data, got)
    sent = {k: v for k, v in translated.body.items() if k not in ("tags", "metadata")}
    validate("CreateChatCompletionRequest", sent)


def test_the_request_cases_cover_every_dropped_and_refused_name() -> None:
    dropped: set[str] = set()
    refused: set[str] = set()
    for case in REQUESTS:
        expect = json.loads(case.read_text(encoding="utf-8"))["expect"]
        dropped.update(expect["dropped"])
        refused.update(expect["refused"])
    assert dropped == {
        "include", "max_tool_calls", "prompt_cache_key", "reasoning items", "service_tier",
        "text.verbosity", "top_logprobs", "truncation",
    }  # fmt: skip
    assert refused == {
        "input_file content", "item_reference items", "the file_search tool",
        "the web_search tool", "tool_choice web_search_preview",
    }  # fmt: skip


@pytest.mark.parametrize("case", CODEX, ids=[c.stem for c in CODEX])
def test_codex_requests_translate(case: Path) -> None:
    """What the Codex CLI sends: accepted, and translated but for the tools only a provider
    with the Responses API serves (web search; and, for a model name Codex knows,
    ``tool_search``): docs/codex.md says how to avoid them. Its freeform ``apply_patch`` is a
    function of one string."""
    data = json.loads(case.read_text(encoding="utf-8"))
    request = data.get("body", data)
    assert check(request) is None
    translated = to_chat(request, stream=True)
    kinds = {t.get("type") for t in request.get("tools", [])}
    assert set(translated.refused) == {f"the {k} tool" for k in kinds} - {
        "the function tool", "the namespace tool", "the custom tool",
    }  # fmt: skip
    assert translated.names.custom == {
        t["name"] for t in request.get("tools", []) if t["type"] == "custom"
    }
    names = [t["function"]["name"] for t in translated.body.get("tools", [])]
    assert len(names) == len(set(names))
    assert all(n.startswith("multi_agent_v1__") for n in translated.names.namespaced)
    validate("CreateChatCompletionRequest", translated.body)


@pytest.mark.parametrize("case", ANSWERS, ids=[c.stem for c in ANSWERS])
def test_answer(case: Path) -> None:
    data = json.loads(case.read_text(encoding="utf-8"))
    completion = data["completion"]
    usage = completion.get("usage") or {}
    counts = answer.usage_from_chat(
        usage, usage.get("prompt_tokens", 7), usage.get("completion_tokens", 3)
    )
    got = answer.from_chat(completion, _base(data["request"]), counts, 2, _names(data))
    check_response(got)
    _compare(case, data, got)


def _events(raw: bytes) -> list[Json]:
    out = []
    for block in raw.decode().split("\n\n"):
        if block:
            head, body = block.split("\n")
            event = orjson.loads(body.removeprefix("data: "))
            assert head == "event: " + event["type"]
            check_event(event)
            out.append(event)
    return out


@pytest.mark.parametrize("case", STREAMS, ids=[c.stem for c in STREAMS])
def test_stream(case: Path) -> None:
    data = json.loads(case.read_text(encoding="utf-8"))
    encoder = StreamEncoder(_base(data["request"]), _names(data))
    raw = b"".join(encoder.feed(copy.deepcopy(c)) for c in data["chunks"])
    if "error" in data:
        raw += encoder.error(data["error"], "stream_error")
    else:
        raw += encoder.finish(*data["usage"])
    events = _events(raw)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1].get("response")
    if final is not None:
        check_response(final)
    for e in events:  # the clock's values differ from run to run
        if isinstance(e.get("response"), dict) and e["response"].get("completed_at"):
            e["response"]["completed_at"] = 2
    sse = case.with_suffix(".sse")
    if UPDATE:
        sse.write_bytes(b"".join(
            b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n"
            for e in events
        ))  # fmt: skip
    _compare(case, data, events)
    assert sse.read_bytes().count(b"\n\n") == len(events)


def test_a_tool_call_that_resumes_after_another_item_cannot_be_told() -> None:
    encoder = StreamEncoder(_base({"model": "m", "input": "x"}))
    call = {"index": 0, "id": "c1", "function": {"name": "a", "arguments": "{"}}
    encoder.feed({"choices": [{"delta": {"tool_calls": [call]}}]})
    encoder.feed({"choices": [{"delta": {"content": "text"}}]})
    with pytest.raises(StreamShapeError):
        encoder.feed({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {}}]}}]})


def test_nothing_follows_an_error() -> None:
    encoder = StreamEncoder(_base({"model": "m", "input": "x"}))
    encoder.feed({"choices": [{"delta": {"content": "a"}}]})
    assert encoder.error("gone")
    assert encoder.finish(1, 1) == b"" and encoder.feed({"choices": []}) == b""
