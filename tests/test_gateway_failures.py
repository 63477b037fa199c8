"""Broken connections and malformed answers through the running gateway, from fake OpenAI-
compatible servers that fail on a script.

A connection reset or closed before any answer, and a 200 whose body is not an answer, are that
candidate's failure: retried or fallen back from, listed among the attempts with a reason (never
a secret), and a 502 listing every attempt when no candidate is left. Once the first streamed
byte reached the client nothing is retried: a break after it ends the stream with one in-band
error event and no ``[DONE]``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.fakes.openai_fake import FakeState
from tests.fakes.serve import Breaking
from tests.gateway import Gateway, behind_two_fakes
from tests.openapi import validate

KEY = "test-key"  # the fakes' API key: it must never show in an answer or a record
CONFIG = """
version: 2
health: {{interval_s: 3600, failure_threshold: 1000}}  # failing on purpose: no breaker
providers:
  primary:
    type: openai-compatible
    base_url: {primary}/v1
    api_key: ${{env:LR_TEST_FAILURES_KEY}}
    discover: false
    timeout: {{connect_s: 2, read_s: 5}}
    models: {{gpt-4o-mini: {{}}}}
  backup:
    type: openai-compatible
    base_url: {backup}/v1
    api_key: ${{env:LR_TEST_FAILURES_KEY}}
    discover: false
    timeout: {{connect_s: 2, read_s: 5}}
    models: {{gpt-4o-mini: {{}}}}
strategies:
  once:
    models: [primary/gpt-4o-mini, backup/gpt-4o-mini]
    fallback: {{attempts: 1, backoff_ms: [0, 0]}}
  twice:
    models: [primary/gpt-4o-mini, backup/gpt-4o-mini]
    fallback: {{attempts: 2, backoff_ms: [0, 0]}}
clients:
  once: {{key_prefix: "{{key_prefix:once}}", key_hash: "{{key_hash:once}}", strategy: once}}
  twice: {{key_prefix: "{{key_prefix:twice}}", key_hash: "{{key_hash:twice}}", strategy: twice}}
"""


@dataclass
class World:
    gw: Gateway
    primary: FakeState
    backup: FakeState

    def calls(self, state: FakeState) -> int:
        return sum(1 for q in state.requests if q.path == "/v1/chat/completions")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    where = tmp_path_factory.mktemp("gw")
    with behind_two_fakes(CONFIG, where, "LR_TEST_FAILURES_KEY") as (gw, primary, backup):
        yield World(gw, primary, backup)


@pytest.fixture
def w(world: World) -> Iterator[World]:
    for s in (world.primary, world.backup):
        s.script.clear()
        s.requests.clear()
    yield world
    for s in (world.primary, world.backup):
        s.script.clear()


def body(stream: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"model": "auto", "messages": [{"role": "user", "content": "say hi"}]}
    if stream:
        out |= {"stream": True, "stream_options": {"include_usage": True}}
    return out


def auth(w: World, client: str) -> dict[str, str]:
    return {"authorization": f"Bearer {w.gw.keys[client]}"}


def chat(w: World, client: str, stream: bool = False) -> httpx.Response:
    return httpx.post(
        f"{w.gw.v1}/chat/completions", json=body(stream), headers=auth(w, client), timeout=20
    )


def record(w: World, client: str, r: httpx.Response) -> dict[str, Any]:
    got = httpx.get(
        f"{w.gw.v1}/generation",
        params={"id": r.headers["x-localrouter-generation-id"]},
        headers=auth(w, client),
    )
    assert got.status_code == 200, got.text
    doc: dict[str, Any] = got.json()
    return doc


def data_lines(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


def answered(r: httpx.Response, stream: bool) -> str:
    """The text of a successful answer (the chunks' deltas when streamed)."""
    assert r.status_code == 200, r.text
    if not stream:
        content: str = r.json()["choices"][0]["message"]["content"]
        return content
    events = data_lines(r.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def outcomes(rec: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["provider"], a["outcome"]) for a in rec["attempts"]]


# ---------------------------------------------------------------- broken connections


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("how", ["rst", "fin"])
def test_a_connection_broken_before_the_answer_falls_back(
    w: World, how: Breaking, stream: bool
) -> None:
    w.primary.reset_connection(how=how)
    r = chat(w, "once", stream)
    assert answered(r, stream)
    assert r.headers["x-localrouter-provider"] == "backup"
    assert (w.calls(w.primary), w.calls(w.backup)) == (1, 1)
    rec = record(w, "once", r)
    assert outcomes(rec) == [("primary", "error"), ("backup", "ok")]
    failed = rec["attempts"][0]
    assert failed["status"] is None  # no HTTP answer at all: not a timeout, not a 5xx
    assert failed["error"].startswith("primary connection failed (")
    assert KEY not in json.dumps(rec)


def test_a_reset_before_the_answer_is_retried_on_the_same_candidate(w: World) -> None:
    w.primary.reset_connection()
    r = chat(w, "twice")
    assert answered(r, False)
    assert r.headers["x-localrouter-provider"] == "primary"
    assert (w.calls(w.primary), w.calls(w.backup)) == (2, 0)
    assert outcomes(record(w, "twice", r)) == [("primary", "error"), ("primary", "ok")]


@pytest.mark.parametrize("how", ["rst", "fin"])
def test_a_reset_after_the_first_byte_ends_the_stream_with_an_error_event(
    w: World, how: Breaking
) -> None:
    hold = threading.Event()  # the reset waits until the client has its first chunk
    w.primary.reset_connection(after_events=2, how=how, hold=hold)
    with httpx.stream(
        "POST",
        f"{w.gw.v1}/chat/completions",
        json=body(True),
        headers=auth(w, "twice"),  # two calls allowed per candidate: still none is retried
        timeout=20,
    ) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        hold.set()
        rest = [line[6:] for line in lines if line.startswith("data: ")]
    assert json.loads(first[6:])["object"] == "chat.completion.chunk"
    assert "[DONE]" not in rest
    error = json.loads(rest[-1])["error"]
    assert error["type"] == "upstream_error"
    assert error["message"].startswith("primary connection failed (")
    assert all("error" not in json.loads(e) for e in rest[:-1])
    assert (w.calls(w.primary), w.calls(w.backup)) == (1, 0)
    rec = record(w, "twice", r)
    assert outcomes(rec) == [("primary", "ok")]
    assert rec["status_code"] == 502


# ---------------------------------------------------------------- malformed answers

REASONS = {
    ("json", False): "primary sent a body that is not JSON",
    ("html", False): "primary sent a body that is not JSON",
    ("shape", False): "primary answered without a chat completion",
    ("json", True): "primary sent a body that is not JSON",
    ("html", True): "primary sent a stream that is not server-sent events",
    ("shape", True): "primary sent choices that are not a list of objects",
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("what", ["json", "shape", "html"])
def test_a_malformed_200_is_that_candidates_failure(w: World, what: str, stream: bool) -> None:
    w.primary.malformed(what)
    r = chat(w, "once", stream)
    assert answered(r, stream)
    assert r.headers["x-localrouter-provider"] == "backup"
    rec = record(w, "once", r)
    assert outcomes(rec) == [("primary", "error"), ("backup", "ok")]
    assert rec["attempts"][0]["error"] == REASONS[(what, stream)]
    assert KEY not in json.dumps(rec)


@pytest.mark.parametrize("what", ["json", "shape"])
def test_a_broken_event_after_the_first_byte_ends_the_stream_with_an_error_event(
    w: World, what: str
) -> None:
    w.primary.malformed(what, after_events=2)
    r = httpx.post(
        f"{w.gw.v1}/chat/completions", json=body(True), headers=auth(w, "twice"), timeout=20
    )
    assert r.status_code == 200
    events = data_lines(r.text)
    assert "[DONE]" not in events
    assert [("error" in json.loads(e)) for e in events] == [False, False, True]
    assert json.loads(events[-1])["error"]["message"] == REASONS[(what, True)]
    assert (w.calls(w.primary), w.calls(w.backup)) == (1, 0)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("failure", ["malformed", "reset", "both"])
def test_when_every_candidate_fails_so_the_answer_is_502_listing_each(
    w: World, failure: str, stream: bool
) -> None:
    w.primary.reset_connection() if failure != "malformed" else w.primary.malformed("shape")
    w.backup.reset_connection() if failure == "reset" else w.backup.malformed("json")
    r = chat(w, "once", stream)
    assert r.status_code == 502, r.text
    assert r.headers["content-type"].startswith("application/json")
    validate("ErrorResponse", r.json())
    error = r.json()["error"]
    assert error["code"] == "upstream_failed"
    message = error["message"]
    assert message.startswith("every candidate failed (primary/gpt-4o-mini: primary ")
    primary_reason = (
        "primary connection failed (" if failure != "malformed" else REASONS[("shape", stream)]
    )
    backup_reason = (
        "backup connection failed (" if failure == "reset" else "backup sent a body that is not"
    )
    head, tail = message.split("; backup/gpt-4o-mini: ")
    assert primary_reason in head and tail.startswith(backup_reason)
    assert KEY not in r.text
    rec = record(w, "once", r)
    assert outcomes(rec) == [("primary", "error"), ("backup", "error")]
    assert rec["status_code"] == 502 and KEY not in json.dumps(rec)


def test_every_failed_attempt_is_logged_without_the_key(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    w.primary.fail(503, times=2)
    with caplog.at_level(logging.INFO, logger="localrouter.dispatch"):
        r = chat(w, "twice")
    assert answered(r, False)
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "localrouter.dispatch"]
    assert len(lines) == 2, lines
    assert (
        lines[0].startswith("primary/gpt-4o-mini attempt 1 failed (503") and "retrying" in lines[0]
    )
    assert lines[1].startswith("primary/gpt-4o-mini attempt 2 failed (503")
    assert lines[1].endswith("next candidate")
    assert not any(KEY in line for line in lines)
