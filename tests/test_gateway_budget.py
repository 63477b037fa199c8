"""Limits while the gateway falls back and retries, through the running gateway.

The client's reservation is priced at the first candidate and topped up, all or nothing, before a
dearer candidate is called: a fallback that would break a ``cost_usd`` limit is left out with
``budget (…)`` instead of overshooting it, and a dear candidate further down the list no longer
makes a request that its first candidate can serve 429. A model without prices costs $0. Every
upstream call, each retry included, counts against the provider's own caps: a retry over a cap
is not made (``rate-limited (…)``) and the next candidate is tried.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from localrouter.routing.facts import facts_from_openai
from tests.fakes.openai_fake import FakeState, create_app
from tests.fakes.serve import serve_app, wait_for_requests
from tests.gateway import Gateway, running_gateway

CONFIG = """
version: 2
health: {{interval_s: 3600, failure_threshold: 1000}}
providers:
  cheap:
    type: openai-compatible
    base_url: {cheap}/v1
    api_key: ${{env:LR_TEST_BUDGET_KEY}}
    discover: false
    models: {{gpt-4o-mini: {{input_per_mtok: 1, output_per_mtok: 1}}}}
  capped:
    type: openai-compatible
    base_url: {capped}/v1
    api_key: ${{env:LR_TEST_BUDGET_KEY}}
    discover: false
    limits: [{{requests: 1, per: 1m}}]
    models: {{gpt-4o-mini: {{}}}}
  counted:
    type: openai-compatible
    base_url: {counted}/v1
    api_key: ${{env:LR_TEST_BUDGET_KEY}}
    discover: false
    limits: [{{requests: 2, per: 1m}}]
    models: {{gpt-4o-mini: {{}}}}
  dear: {{type: mock, models: {{gold: {{input_per_mtok: 1000, output_per_mtok: 1000}}}}}}
  free: {{type: mock, models: {{plain: {{}}}}}}
strategies:
  to-dear:
    models: [cheap/gpt-4o-mini, dear/gold]
    fallback: {{attempts: 1, backoff_ms: [0, 0]}}
  to-free:
    models: [cheap/gpt-4o-mini, free/plain]
    fallback: {{attempts: 1, backoff_ms: [0, 0]}}
  dear-later:
    models: [cheap/gpt-4o-mini, dear/gold]
    fallback: {{attempts: 3, backoff_ms: [0, 0]}}
  retry-capped:
    models: [capped/gpt-4o-mini, free/plain]
    fallback: {{attempts: 2, backoff_ms: [0, 0]}}
  retry-counted:
    models: [counted/gpt-4o-mini, free/plain]
    fallback: {{attempts: 2, backoff_ms: [0, 0]}}
clients:
  spender:
    key_prefix: "{{key_prefix:spender}}"
    key_hash: "{{key_hash:spender}}"
    strategy: to-dear
    limits: [{{cost_usd: 0.01, per: 1d}}]
  roomy:
    key_prefix: "{{key_prefix:roomy}}"
    key_hash: "{{key_hash:roomy}}"
    strategy: to-dear
    limits: [{{cost_usd: 1, per: 1d}}]
  thrifty:
    key_prefix: "{{key_prefix:thrifty}}"
    key_hash: "{{key_hash:thrifty}}"
    strategy: to-free
    limits: [{{cost_usd: 0.01, per: 1d}}]
  saver:
    key_prefix: "{{key_prefix:saver}}"
    key_hash: "{{key_hash:saver}}"
    strategy: dear-later
    limits: [{{cost_usd: 0.01, per: 1d}}]
  c1: {{key_prefix: "{{key_prefix:c1}}", key_hash: "{{key_hash:c1}}", strategy: retry-capped}}
  c2: {{key_prefix: "{{key_prefix:c2}}", key_hash: "{{key_hash:c2}}", strategy: retry-counted}}
"""
MAX_TOKENS = 100
BODY: dict[str, Any] = {
    "model": "auto",
    "max_tokens": MAX_TOKENS,
    "messages": [{"role": "user", "content": "hi"}],
}
# the estimate: the request's local token estimate plus max_tokens, at the model's prices
TOKENS = facts_from_openai(BODY, {}).estimated_tokens + MAX_TOKENS
CHEAP_USD = TOKENS * 1 / 1e6  # gpt-4o-mini at $1/Mtok: fits a $0.01 budget
DEAR_USD = TOKENS * 1000 / 1e6  # gold at $1000/Mtok: does not
assert CHEAP_USD < 0.01 < DEAR_USD < 1


@dataclass
class World:
    gw: Gateway
    fakes: dict[str, FakeState]

    def post(self, client: str) -> httpx.Response:
        return httpx.post(
            f"{self.gw.v1}/chat/completions", json=BODY, headers=self.auth(client), timeout=20
        )

    def auth(self, client: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.gw.keys[client]}"}

    def record(self, client: str, r: httpx.Response) -> dict[str, Any]:
        got = httpx.get(
            f"{self.gw.v1}/generation",
            params={"id": r.headers["x-localrouter-generation-id"]},
            headers=self.auth(client),
        )
        doc: dict[str, Any] = got.json()
        return doc

    def calls(self, provider: str) -> int:
        return sum(1 for q in self.fakes[provider].requests if q.path == "/v1/chat/completions")


@pytest.fixture
def w(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("LR_TEST_BUDGET_KEY", "test-key")
    fakes = {name: FakeState() for name in ("cheap", "capped", "counted")}
    with ExitStack() as stack:
        urls = {n: stack.enter_context(serve_app(create_app(s))) for n, s in fakes.items()}
        gw = stack.enter_context(running_gateway(CONFIG.format(**urls), tmp_path))
        wait_for_requests(*fakes.values())  # the health checks at start: not scripted
        yield World(gw, fakes)


def attempts(rec: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(a["provider"], a["outcome"], a["error"]) for a in rec["attempts"]]


# ---------------------------------------------------------------- cost budgets and fallbacks


def test_a_dearer_fallback_that_would_break_the_budget_is_left_out(w: World) -> None:
    w.fakes["cheap"].fail(500)
    r = w.post("spender")
    assert r.status_code == 502, r.text
    reason = "budget (client 'spender' limit of 0.01 cost_usd per 1d)"
    assert f"dear/gold: {reason}" in r.json()["error"]["message"]
    assert attempts(w.record("spender", r))[1] == ("dear", "skipped", reason)
    # nothing was spent: the next request, whose first candidate answers, is served and charged
    ok = w.post("spender")
    assert ok.status_code == 200 and ok.headers["x-localrouter-provider"] == "cheap"
    assert float(ok.headers["x-ratelimit-remaining-cost_usd"]) == pytest.approx(
        0.01 - CHEAP_USD, abs=1e-6
    )


def test_a_dearer_fallback_tops_the_reservation_up_when_the_budget_has_room(w: World) -> None:
    w.fakes["cheap"].fail(500)
    r = w.post("roomy")
    assert r.status_code == 200, r.text
    assert r.headers["x-localrouter-provider"] == "dear"
    assert [a[:2] for a in attempts(w.record("roomy", r))] == [("cheap", "error"), ("dear", "ok")]
    # the reservation covered the dear model's estimate before it was called
    assert float(r.headers["x-ratelimit-remaining-cost_usd"]) == pytest.approx(
        1 - DEAR_USD, abs=1e-6
    )


def test_an_unpriced_fallback_costs_nothing(w: World) -> None:
    w.fakes["cheap"].fail(500)
    r = w.post("thrifty")
    assert r.status_code == 200, r.text
    assert r.headers["x-localrouter-provider"] == "free"
    assert float(r.headers["x-ratelimit-remaining-cost_usd"]) == pytest.approx(
        0.01 - CHEAP_USD, abs=1e-6
    )


def test_a_dear_candidate_further_down_does_not_refuse_what_the_first_can_serve(
    w: World,
) -> None:
    r = w.post("saver")  # three calls per candidate, and `dear` is second: still admitted
    assert r.status_code == 200, r.text
    assert r.headers["x-localrouter-provider"] == "cheap"


# ---------------------------------------------------------------- provider caps and retries


def test_a_retry_over_the_providers_cap_is_not_made(w: World) -> None:
    w.fakes["capped"].fail(500)
    r = w.post("c1")
    assert r.status_code == 200, r.text
    assert r.headers["x-localrouter-provider"] == "free"
    assert w.calls("capped") == 1
    tried = attempts(w.record("c1", r))
    assert tried[0] == ("capped", "error", "capped answered 500 (server_error): " + _SERVER_ERROR)
    assert tried[1][:2] == ("capped", "skipped")
    assert tried[1][2].startswith("rate-limited (provider 'capped' limit of 1 requests per 1m")
    assert tried[2] == ("free", "ok", None)


def test_every_call_counts_against_the_providers_cap_retries_too(w: World) -> None:
    w.fakes["counted"].fail(500)
    first = w.post("c2")  # a failed call and its retry, which answers: two calls
    assert first.headers["x-localrouter-provider"] == "counted"
    assert w.calls("counted") == 2
    second = w.post("c2")
    assert second.headers["x-localrouter-provider"] == "free"
    assert w.calls("counted") == 2
    assert w.record("c2", second)["left_out"] == [
        {
            "model": "counted/gpt-4o-mini",
            "reason": "rate-limited (provider 'counted' limit of 2 requests per 1m)",
        }
    ]


_SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
