"""A budget under concurrency: what is spent never exceeds the budget by more than one request's
worst case, and an upstream that reports more than it was allowed is counted at its real size.

The fake OpenAI upstream echoes the prompt, so each answer is as long as its prompt (well over the
512 tokens a request without ``max_tokens`` was once assumed to write) and reports its usage. The
model's ``context_window`` bounds what a request without ``max_tokens`` can write: its worst case.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from localrouter.compiler.build import build
from localrouter.routing.facts import facts_from_openai
from localrouter.server.app import create_app as create_gateway
from tests.fakes.openai_fake import FakeState, create_app
from tests.fakes.serve import serve_app, wait_for_requests
from tests.gateway import Gateway, running_gateway, write_config

OUT_PRICE = 1000.0  # USD per million output tokens: $0.001 a token
CONTEXT = 2700
CONFIG = """
version: 2
health: {{interval_s: 3600, failure_threshold: 1000}}
providers:
  up:
    type: openai-compatible
    base_url: {url}/v1
    api_key: ${{env:LR_TEST_BOUND_KEY}}
    discover: false
    models: {{gpt-4o-mini: {{input_per_mtok: 0, output_per_mtok: {price}, context_window: {ctx}}}}}
strategies:
  one: {{models: [up/gpt-4o-mini], fallback: {{attempts: 1, backoff_ms: [0, 0]}}}}
clients:
  spender:
    key_prefix: "{{key_prefix:spender}}"
    key_hash: "{{key_hash:spender}}"
    strategy: one
    limits: [{{cost_usd: 2, per: 1d}}]
  writer:
    key_prefix: "{{key_prefix:writer}}"
    key_hash: "{{key_hash:writer}}"
    strategy: one
    limits: [{{output_tokens: 2000, per: 1d}}]
  small:
    key_prefix: "{{key_prefix:small}}"
    key_hash: "{{key_hash:small}}"
    strategy: one
    limits: [{{output_tokens: 1000, per: 1d}}]
"""
WORDS = 1500  # the fake answers as many words (tokens) as the prompt has
PROMPT = " ".join(["ab"] * WORDS)
STREAM: dict[str, Any] = {
    "model": "auto",
    "stream": True,
    "stream_options": {"include_usage": True},
    "messages": [{"role": "user", "content": PROMPT}],
}
INPUT = facts_from_openai(STREAM, {}).estimated_tokens
WORST_OUT = CONTEXT - INPUT  # no max_tokens: the model can write what its context leaves
assert WORDS < WORST_OUT  # the fake writes within the worst case


@pytest.fixture
def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Gateway, FakeState]]:
    monkeypatch.setenv("LR_TEST_BOUND_KEY", "test-key")
    state = FakeState()
    with serve_app(create_app(state)) as url:
        text = CONFIG.format(url=url, price=OUT_PRICE, ctx=CONTEXT)
        with running_gateway(text, tmp_path) as g:
            wait_for_requests(state)  # the start-up health check: not scripted
            yield g, state


async def _stream(client: httpx.AsyncClient, url: str, key: str) -> tuple[int, str | None]:
    headers = {"authorization": f"Bearer {key}"}
    async with client.stream("POST", url, json=STREAM, headers=headers) as r:
        await r.aread()
        return r.status_code, r.headers.get("retry-after")


async def _fifty(gw: Gateway, key: str) -> list[tuple[int, str | None]]:
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=60)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        url = f"{gw.v1}/chat/completions"
        return await asyncio.gather(*(_stream(client, url, key) for _ in range(50)))


def _spent(state: FakeState) -> tuple[int, float]:
    """Output tokens and dollars the upstream reported (the truth a budget is about)."""
    out = sum(int(u.get("completion_tokens") or 0) for u in state.reported)
    return out, out * OUT_PRICE / 1e6


@pytest.mark.parametrize(
    ("client", "budget", "unit"), [("spender", 2.0, "usd"), ("writer", 2000, "tokens")]
)
def test_fifty_concurrent_streams_overshoot_by_at_most_one_worst_case(
    gw: tuple[Gateway, FakeState], client: str, budget: float, unit: str
) -> None:
    g, state = gw
    for _ in range(50):
        state.hang(0.6)  # every admitted stream waits upstream: all fifty are in flight at once
    answers = asyncio.run(_fifty(g, g.keys[client]))
    codes = [status for status, _ in answers]
    assert set(codes) <= {200, 429} and 200 in codes, codes
    # refused only by what the streams in flight hold: that frees when they end, not in a day
    assert {wait for status, wait in answers if status == 429} == {"1"}
    tokens, usd = _spent(state)
    assert tokens == WORDS * codes.count(200)  # every admitted stream reported its usage
    if unit == "usd":
        worst = WORST_OUT * OUT_PRICE / 1e6
        assert usd <= budget + worst, (usd, codes.count(200))
    else:
        assert tokens <= budget + WORST_OUT, (tokens, codes.count(200))


def test_an_upstream_reporting_more_than_max_tokens_is_counted_at_its_real_size(
    gw: tuple[Gateway, FakeState],
) -> None:
    g, state = gw
    auth = {"authorization": f"Bearer {g.keys['small']}"}
    body = {"model": "auto", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "far too long"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 900, "total_tokens": 905},
    }
    state.fail(200, body=answer)  # a 200 that wrote 900 tokens where 10 were allowed
    r = httpx.post(f"{g.v1}/chat/completions", json=body, headers=auth, timeout=20)
    assert r.status_code == 200, r.text
    # the next request sees the 900 tokens counted, not the 10 that were allowed
    nxt = httpx.post(f"{g.v1}/chat/completions", json=body, headers=auth, timeout=20)
    assert nxt.status_code == 200, nxt.text
    assert nxt.headers["x-ratelimit-remaining-output_tokens"] == str(1000 - 900 - 10)
    state.fail(200, body=answer)
    httpx.post(f"{g.v1}/chat/completions", json=body, headers=auth, timeout=20)
    refused = httpx.post(f"{g.v1}/chat/completions", json=body, headers=auth, timeout=20)
    assert refused.status_code == 429  # 900 + 2 + 900 > 1000: spent


def test_a_request_cancelled_before_its_answer_returns_its_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shutdown (or anything that cancels the request) while the upstream has not answered:
    the worst case it held is returned, not kept for the rest of the day."""
    monkeypatch.setenv("LR_TEST_BOUND_KEY", "test-key")
    state = FakeState()
    with serve_app(create_app(state)) as url:
        path, keys = write_config(CONFIG.format(url=url, price=OUT_PRICE, ctx=CONTEXT), tmp_path)
        table = build(path).table
        assert table is not None
        app = create_gateway(table)
        limits = table.clients["writer"].limits
        limiter = app.runtime.limiter
        body = json.dumps(STREAM).encode()
        scope = {
            "type": "http", "method": "POST", "path": "/v1/chat/completions",
            "raw_path": b"/v1/chat/completions", "query_string": b"", "http_version": "1.1",
            "scheme": "http", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
            "root_path": "", "asgi": {"version": "3.0"}, "extensions": {},
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"authorization", f"Bearer {keys['writer']}".encode()),
            ],
        }  # fmt: skip

        unread = [body]

        async def receive() -> dict[str, Any]:
            if unread:
                return {"type": "http.request", "body": unread.pop(), "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            pass

        async def cancelled_while_waiting() -> tuple[float, float]:
            async with app.lifespan():
                await asyncio.to_thread(wait_for_requests, state)
                state.hang(5)  # the upstream has not answered when the request is cancelled
                task = asyncio.ensure_future(app(scope, receive, send))
                await asyncio.sleep(0.5)
                held = next(iter(limiter.remaining(limits).values()))
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return held, next(iter(limiter.remaining(limits).values()))

        held, after = asyncio.run(cancelled_while_waiting())
        assert held == 2000 - (CONTEXT - INPUT)  # the worst case was held while it waited
        assert after == 2000  # and given back when the request was cancelled
