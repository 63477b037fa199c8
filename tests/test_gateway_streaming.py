"""Streaming and failure behaviour of the running gateway, with a fake Ollama as the upstream.

True streaming (the first chunk reaches the client before the upstream finished), fallback before
the first byte only, one in-band error event (and no [DONE]) after it, client disconnect cancels
the upstream and still records usage, and 429/502/504 when every candidate fails.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.ollama_fake import FakeState, create_app
from tests.fakes.serve import serve_app
from tests.gateway import Gateway, running_gateway
from tests.openapi import validate

CONFIG = """
version: 2
health: {{interval_s: 3600, failure_threshold: 1000}}  # these tests fail on purpose: no breaker
providers:
  ollama:
    type: ollama
    base_url: {upstream}
    discover: false
    timeout: {{connect_s: 2, read_s: 1.5}}
    models: {{"qwen2.5-coder:7b": {{}}}}
  mock:
    type: mock
    models: {{backup: {{}}}}
strategies:
  only-ollama: {{models: ["ollama/qwen2.5-coder:7b"]}}
  with-backup: {{models: ["ollama/qwen2.5-coder:7b", mock/backup]}}
clients:
  solo: {{key_prefix: "{{key_prefix:solo}}", key_hash: "{{key_hash:solo}}", strategy: only-ollama}}
  safe: {{key_prefix: "{{key_prefix:safe}}", key_hash: "{{key_hash:safe}}", strategy: with-backup}}
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, FakeState]]:
    state = FakeState()
    with serve_app(create_app(state)) as url:
        yield url, state


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, upstream: tuple[str, FakeState]
) -> Iterator[Gateway]:
    text = CONFIG.format(upstream=upstream[0])
    with running_gateway(text, tmp_path_factory.mktemp("gw")) as gateway:
        yield gateway


@pytest.fixture
def state(upstream: tuple[str, FakeState]) -> Iterator[FakeState]:
    s = upstream[1]
    s.reset()
    s.chunk_delay = 0.005
    yield s
    s.reset()


def stream_body(text: str = "stream this please now") -> dict[str, object]:
    return {
        "model": "auto",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": text}],
    }


def headers(gw: Gateway, client: str) -> dict[str, str]:
    return {"authorization": f"Bearer {gw.keys[client]}"}


def generation(gw: Gateway, client: str, gen_id: str) -> dict[str, object]:
    for _ in range(50):
        r = httpx.get(f"{gw.v1}/generation", params={"id": gen_id}, headers=headers(gw, client))
        if r.status_code == 200:
            return r.json()  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"generation {gen_id} never recorded")


def test_first_chunk_arrives_before_the_upstream_finishes(gw: Gateway, state: FakeState) -> None:
    state.chunk_delay = 0.25
    with httpx.stream(
        "POST",
        f"{gw.v1}/chat/completions",
        headers=headers(gw, "solo"),
        json=stream_body("a b c d e f"),
    ) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert not state.stream_done.is_set(), "gateway buffered the stream"
        rest = [line for line in lines if line.startswith("data: ")]
    chunks = [json.loads(x[6:]) for x in [first, *rest[:-1]]]
    assert rest[-1] == "data: [DONE]"
    for c in chunks:
        validate("CreateChatCompletionStreamResponse", c)
    assert chunks[-1]["usage"]["prompt_tokens"] > 0


def test_fallback_before_the_first_byte(gw: Gateway, state: FakeState) -> None:
    state.fail(500, times=3)  # the first candidate fails all its retries
    r = httpx.post(
        f"{gw.v1}/chat/completions",
        headers=headers(gw, "safe"),
        json={**stream_body(), "stream": False},
    )
    assert r.status_code == 200
    assert r.headers["x-localrouter-provider"] == "mock"
    record = generation(gw, "safe", r.headers["x-localrouter-generation-id"])
    outcomes = [(a["provider"], a["outcome"], a["status"]) for a in record["attempts"]]  # type: ignore[union-attr]
    # retried while the retry budget allows, then the next candidate
    assert outcomes[-1] == ("mock", "ok", 200)
    assert outcomes[:-1] and set(outcomes[:-1]) == {("ollama", "error", 500)}


def test_an_error_after_the_first_byte_is_one_in_band_event(gw: Gateway, state: FakeState) -> None:
    state.break_stream_after(3, mode="error")
    with httpx.stream(
        "POST",
        f"{gw.v1}/chat/completions",
        headers=headers(gw, "safe"),
        json=stream_body("one two three four five six"),
    ) as r:
        assert r.status_code == 200
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert "[DONE]" not in events
    assert "error" in json.loads(events[-1])
    assert sum("error" in json.loads(e) for e in events) == 1
    assert r.headers["x-localrouter-provider"] == "ollama"  # no fallback after the first byte


def test_client_disconnect_cancels_the_upstream_and_records_usage(
    gw: Gateway, state: FakeState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING")
    state.chunk_delay = 0.3
    with httpx.stream(
        "POST",
        f"{gw.v1}/chat/completions",
        headers=headers(gw, "solo"),
        json=stream_body("w " * 40),
    ) as r:
        gen_id = r.headers["x-localrouter-generation-id"]
        for line in r.iter_lines():
            if line.startswith("data: "):
                break
    started = time.monotonic()
    assert state.client_gone.wait(5), "upstream never saw the client go away"
    assert time.monotonic() - started < 1.0  # "within a second"
    record = generation(gw, "solo", gen_id)
    assert record["tokens"]["estimated"] is True  # type: ignore[index]
    assert record["tokens"]["prompt"] > 0  # type: ignore[index]
    assert record["status_code"] == 499
    # a client going away is not an error of the gateway's
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_502_when_every_candidate_fails_lists_each_attempt(gw: Gateway, state: FakeState) -> None:
    state.fail(503, times=5)
    r = httpx.post(
        f"{gw.v1}/chat/completions",
        headers=headers(gw, "solo"),
        json={**stream_body(), "stream": False},
    )
    assert r.status_code == 502
    error = r.json()["error"]
    validate("ErrorResponse", r.json())
    assert "ollama/qwen2.5-coder:7b" in error["message"]


def test_504_when_the_upstream_times_out(gw: Gateway, state: FakeState) -> None:
    for _ in range(3):  # every retry times out too
        state.hang(5)
    r = httpx.post(
        f"{gw.v1}/chat/completions",
        headers=headers(gw, "solo"),
        json={**stream_body(), "stream": False},
        timeout=30,
    )
    assert r.status_code == 504
    assert r.json()["error"]["type"] == "timeout_error"


def test_429_when_every_candidate_is_rate_limited(gw: Gateway, state: FakeState) -> None:
    state.fail(429, headers={"retry-after": "7"}, times=5)
    r = httpx.post(
        f"{gw.v1}/chat/completions",
        headers=headers(gw, "solo"),
        json={**stream_body(), "stream": False},
    )
    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"
    validate("ErrorResponse", r.json())
